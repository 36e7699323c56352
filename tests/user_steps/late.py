"""Step functions that are right early and wrong late or on some shapes: `symopt check` must reach
them (trajectories past step 100; every shape class a rule treats differently, in every run)."""

import numpy as np


def _adamax(params, grads, state, t, lr, beta1, beta2, eps, weight_decay, corrected):
    g = grads + weight_decay * params
    m = beta1 * state.get("m", np.zeros_like(params)) + (1 - beta1) * g
    u = np.maximum(beta2 * state.get("u", np.zeros_like(params)), np.abs(g) + eps)
    step = lr / (1 - beta1**t) if corrected else lr
    return params - step * m / u, {"m": m, "u": u}


def adamax(params, grads, state, t, lr, beta1, beta2, eps, weight_decay):
    """torch.optim.Adamax, as its docs write it (ε inside the max, L2 decay)."""
    return _adamax(params, grads, state, t, lr, beta1, beta2, eps, weight_decay, corrected=True)


def adamax_bias_correction_until_100(params, grads, state, t, lr, beta1, beta2, eps, weight_decay):
    """Drops the bias correction after step 100, where 1 - β₁ᵗ is within 3e-5 of 1 at β₁ = 0.9."""
    return _adamax(params, grads, state, t, lr, beta1, beta2, eps, weight_decay, corrected=t <= 100)


def _lerp(start, end, w):
    """torch.lerp: exact at both ends (w = 1 gives ``end``, which ``start + w(end - start)`` loses)."""
    return start + w * (end - start) if w < 0.5 else end - (end - start) * (1 - w)


def _mean(x, axis):
    return np.sum(x, axis=axis, keepdims=True) / x.shape[axis]  # an empty side: NaN, no warning


def _adafactor(params, grads, state, t, lr, beta2_decay, eps1, eps2, d, weight_decay, factored):
    p = np.array(params, dtype=np.float64)
    g = np.asarray(grads, dtype=np.float64)
    w = float(t) ** beta2_decay
    rho = min(lr, 1.0 / np.sqrt(t))
    n = max(p.size, 1)
    alpha = max(eps2, np.sqrt(np.sum(p * p) / n)) * rho
    p = p * (1 - lr * weight_decay)
    state = dict(state)
    if factored(p):
        rows = state.get("rows", np.zeros((*p.shape[:-1], 1)))
        cols = state.get("cols", np.zeros((*p.shape[:-2], 1, p.shape[-1])))
        with np.errstate(all="ignore"):
            rows = _lerp(rows, _mean(g * g, -1), w)
            cols = _lerp(cols, _mean(g * g, -2), w)
            v = rows @ cols / np.maximum(_mean(rows, -2), eps1)
        state.update(rows=rows, cols=cols)
    else:
        v = _lerp(state.get("v", np.zeros_like(p)), g * g, w)
        state["v"] = v
    update = g / np.sqrt(np.maximum(v, eps1 * eps1))
    rms = np.sqrt(np.sum(update * update) / n)
    return p - alpha / max(1.0, rms / d) * update, state


def adafactor(params, grads, state, t, lr, beta2_decay, eps1, eps2, d, weight_decay):
    """Adafactor as torch.optim.Adafactor: second moments factored over the last two dimensions."""
    return _adafactor(params, grads, state, t, lr, beta2_decay, eps1, eps2, d, weight_decay,
                      factored=lambda p: p.ndim >= 2)


def adafactor_matrices_only(params, grads, state, t, lr, beta2_decay, eps1, eps2, d, weight_decay):
    """Factors matrices but treats a stack of matrices (3-D) elementwise, like a vector."""
    return _adafactor(params, grads, state, t, lr, beta2_decay, eps1, eps2, d, weight_decay,
                      factored=lambda p: p.ndim == 2)
