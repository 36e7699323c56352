"""Step functions with the bugs `symopt check` should name (each has shipped in real code)."""

import numpy as np


def _moments(state, grads, beta1, beta2, params):
    m = beta1 * state.get("m", np.zeros_like(params)) + (1 - beta1) * grads
    v = beta2 * state.get("v", np.zeros_like(params)) + (1 - beta2) * grads**2
    return m, v


def adamw_decay_not_scaled(params, grads, state, t, lr, beta1, beta2, eps, weight_decay):
    m, v = _moments(state, grads, beta1, beta2, params)
    update = (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return params - lr * update - weight_decay * params, {"m": m, "v": v}


def adamw_decay_as_l2(params, grads, state, t, lr, beta1, beta2, eps, weight_decay):
    grads = grads + weight_decay * params
    m, v = _moments(state, grads, beta1, beta2, params)
    update = (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return params - lr * update, {"m": m, "v": v}


def adam_eps_inside_sqrt(params, grads, state, t, lr, beta1, beta2, eps, weight_decay):
    grads = grads + weight_decay * params
    m, v = _moments(state, grads, beta1, beta2, params)
    update = (m / (1 - beta1**t)) / np.sqrt(v / (1 - beta2**t) + eps)
    return params - lr * update, {"m": m, "v": v}


def adam_eps_before_bias_correction(params, grads, state, t, lr, beta1, beta2, eps, weight_decay):
    """Kingma & Ba's 'efficient' form, with ε where Algorithm 1 has it."""
    grads = grads + weight_decay * params
    m, v = _moments(state, grads, beta1, beta2, params)
    step_size = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    return params - step_size * m / (np.sqrt(v) + eps), {"m": m, "v": v}


def adam_no_bias_correction(params, grads, state, t, lr, beta1, beta2, eps, weight_decay):
    grads = grads + weight_decay * params
    m, v = _moments(state, grads, beta1, beta2, params)
    return params - lr * m / (np.sqrt(v) + eps), {"m": m, "v": v}


def momentum_dampened_first_step(params, grads, state, t, lr, momentum, dampening, weight_decay):
    g = grads + weight_decay * params
    buf = momentum * state.get("buf", np.zeros_like(params)) + (1 - dampening) * g
    return params - lr * buf, {"buf": buf}


def momentum_lr_inside_buffer(params, grads, state, t, lr, momentum, dampening, weight_decay):
    """Sutskever et al.'s form: the same as torch's only while the learning rate is constant."""
    g = grads + weight_decay * params
    if "buf" not in state:
        buf = lr * g
    else:
        buf = momentum * state["buf"] + (1 - dampening) * lr * g
    return params - buf, {"buf": buf}


def sgd_decay_not_scaled(params, grads, state, t, lr, weight_decay):
    return params - lr * grads - weight_decay * params, state


def adamw_decay_sign_flipped(params, grads, state, t, lr, beta1, beta2, eps, weight_decay):
    """A bug not in the list: the decay pushes the parameters away from zero."""
    m, v = _moments(state, grads, beta1, beta2, params)
    update = (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
    return params + lr * weight_decay * params - lr * update, {"m": m, "v": v}


def adamw_crashes(params, grads, state, t, lr, beta1, beta2, eps, weight_decay):
    if t == 3:
        raise RuntimeError("state went missing")
    return params, state


def wrong_signature(params, grads):
    return params, {}
