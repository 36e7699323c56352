"""AdaBelief in plain NumPy, written from the paper: the witness `symopt verify --against` checks
examples/adabelief.py against, with the references' calling convention."""

import numpy as np


def step(params, grads, state, t, lr, beta1, beta2, eps, weight_decay, decoupled=True):
    if not decoupled:
        grads = grads + weight_decay * params
    m = beta1 * state.get("m", 0.0) + (1 - beta1) * grads
    s = beta2 * state.get("s", 0.0) + (1 - beta2) * (grads - m) ** 2 + eps
    direction = (m / (1 - beta1**t)) / (np.sqrt(s / (1 - beta2**t)) + eps)
    if decoupled:
        direction = direction + weight_decay * params
    return params - lr * direction, {"m": m, "s": s}
