"""Correct implementations, written from the papers, independently of symopt."""

import numpy as np


def adamw(params, grads, state, t, lr, beta1, beta2, eps, weight_decay):
    """AdamW as in Loshchilov & Hutter, Algorithm 2, with PyTorch's η-scaled decay."""
    m = state.get("m", np.zeros_like(params))
    v = state.get("v", np.zeros_like(params))
    m = beta1 * m + (1 - beta1) * grads
    v = beta2 * v + (1 - beta2) * grads * grads
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    params = params - lr * weight_decay * params - lr * m_hat / (np.sqrt(v_hat) + eps)
    return params, {"m": m, "v": v}


def momentum(params, grads, state, t, lr, momentum, dampening, weight_decay):
    """Heavy ball as torch.optim.SGD: the buffer starts as the first gradient."""
    g = grads + weight_decay * params
    if "buf" not in state:
        buf = g.copy()
    else:
        buf = momentum * state["buf"] + (1 - dampening) * g
    return params - lr * buf, {"buf": buf}
