"""Step functions as users write them, for `symopt check`: one correct, the others with known bugs.

Plain NumPy, written like code in the wild; none of them imports symopt. Each takes
``step(params, grads, state, t, **hyper)`` and returns ``(params, state)``.
"""
