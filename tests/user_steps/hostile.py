"""Step functions that test `symopt check` itself: correct ones written torch style (updating their
inputs in place), and hostile ones that return junk, exit, or are not step functions at all.

Importing this module has no side effects. The modules that misbehave while being imported or
looked into are exits_on_import.py and exits_on_lookup.py (kept out of pytest's collection by
conftest.py in this folder).
"""

import sys

import numpy as np


# --- correct, but updating params, grads and state arrays in place (as torch.optim does) --------
def sgd_in_place(params, grads, state, t, lr, weight_decay):
    grads += weight_decay * params
    params -= lr * grads
    return params, state


def momentum_in_place(params, grads, state, t, lr, momentum, dampening, weight_decay):
    """torch.optim.SGD's heavy ball, with the buffer updated in place (the first one is the gradient array)."""
    grads += weight_decay * params
    buf = state.get("buf")
    if buf is None:
        buf = state["buf"] = grads
    else:
        buf *= momentum
        buf += (1 - dampening) * grads
    params -= lr * buf
    return params, state


def adamw_in_place(params, grads, state, t, lr, beta1, beta2, eps, weight_decay):
    if not state:
        state["m"], state["v"] = np.zeros_like(params), np.zeros_like(params)
    m, v = state["m"], state["v"]
    params *= 1 - lr * weight_decay
    m *= beta1
    m += (1 - beta1) * grads
    v *= beta2
    v += (1 - beta2) * grads * grads
    params -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return params, state


# --- junk returned: not (params, state) at all (exit 2) ----------------------------------------------
def returns_string(params, grads, state, t, lr, weight_decay):
    return "abc", state


def returns_dict(params, grads, state, t, lr, weight_decay):
    return {"params": params - lr * grads, "state": state}


def returns_none(params, grads, state, t, lr, weight_decay):
    params = params - lr * grads  # and forgets to return


def returns_params_only(params, grads, state, t, lr, weight_decay):
    return params - lr * grads


def returns_three(params, grads, state, t, lr, weight_decay):
    return params - lr * grads, state, t


def returns_object_array(params, grads, state, t, lr, weight_decay):
    return np.array([None, "x"], dtype=object), state


def returns_booleans(params, grads, state, t, lr, weight_decay):
    return params > 0, state


async def coroutine(params, grads, state, t, lr, weight_decay):
    return params - lr * grads, state


class NotAnArray:
    def __array__(self, *args, **kwargs):
        raise SystemExit(0)


def returns_hostile_object(params, grads, state, t, lr, weight_decay):
    return NotAnArray(), state


# --- runs, but is wrong (exit 1) ---------------------------------------------------------------------
def returns_complex(params, grads, state, t, lr, weight_decay):
    """Right values, as complex numbers with a zero imaginary part."""
    return (params - lr * (grads + weight_decay * params)).astype(complex), state


def returns_wrong_shape(params, grads, state, t, lr, weight_decay):
    return np.append(params - lr * (grads + weight_decay * params), 0.0), state


def exits(params, grads, state, t, lr, weight_decay):
    sys.exit(0)


class Stop(BaseException):
    """Not an Exception: neither `except Exception` nor Hypothesis catches it."""


def raises_base_exception(params, grads, state, t, lr, weight_decay):
    if t == 2:
        raise Stop("not an Exception")
    return params - lr * (grads + weight_decay * params), state


_calls = [0]


def not_repeatable(params, grads, state, t, lr, weight_decay):
    """Right, except on its 7th call ever: a run of the same case gives something else."""
    _calls[0] += 1
    out = params - lr * (grads + weight_decay * params)
    return (out + 1.0 if _calls[0] == 7 else out), state


# --- not a step function at all (exit 2) -------------------------------------------------------------
builtin = max
not_callable = 42
nothing = None


# --- what only a child process can survive (symopt check runs the function in one) -----------------------
def _sgd(params, grads, lr, weight_decay):
    return params - lr * (grads + weight_decay * params)


def starts_a_thread(params, grads, state, t, lr, weight_decay):
    """Right, but leaves a non-daemon thread behind that never ends."""
    import threading
    import time

    threading.Thread(target=time.sleep, args=(3600,), daemon=False).start()
    return _sgd(params, grads, lr, weight_decay), state


def sleeps(params, grads, state, t, lr, weight_decay):
    import time

    time.sleep(3600)
    return _sgd(params, grads, lr, weight_decay), state


def ends_the_process(params, grads, state, t, lr, weight_decay):
    import os

    os._exit(0)


def crashes(params, grads, state, t, lr, weight_decay):
    """A segmentation fault: reads address 0."""
    import ctypes

    return ctypes.string_at(0), state


def closes_its_streams(params, grads, state, t, lr, weight_decay):
    """Right, but closes stdout and stderr (the objects and the descriptors) first."""
    import os

    sys.stdout.close()
    sys.stderr.close()
    for fd in (1, 2):
        try:
            os.close(fd)
        except OSError:
            pass
    return _sgd(params, grads, lr, weight_decay), state


def forges_the_verdict(params, grads, state, t, lr, weight_decay):
    """Wrong (no weight decay), and patches symopt's comparison to say every trajectory agrees."""
    import symopt.verify

    class Agree:
        first = None

    symopt.verify.compare_trajectories = lambda *args, **kwargs: Agree()
    return params - 2 * lr * grads, state
