"""A module that ends the process while it is imported (`symopt check` must say so, and exit 2)."""

import sys

sys.exit(0)


def step(params, grads, state, t, lr, weight_decay):
    return params - lr * grads, state
