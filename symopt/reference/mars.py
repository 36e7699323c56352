"""MARS: Yuan et al. (2024); timm 1.0.31 ``Mars`` (``_mars_single_tensor_step``)."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from symopt.reference._common import State, _add_scaled_, _cautious_mask, _ema_square_, _prepare, _state_array

__all__ = ["mars"]


def _adamw_update(p, m, v, beta1, beta2, eps, weight_decay, t):
    """timm's ``p * wd + (m / bc1) / (sqrt(v) / sqrt(bc2) + eps)``, a new array."""
    denominator = np.sqrt(v) / math.sqrt(1.0 - beta2**t) + p.dtype.type(eps)
    return p * p.dtype.type(weight_decay) + (m / p.dtype.type(1.0 - beta1**t)) / denominator


def mars(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 3e-3,
    beta1: float = 0.9,
    beta2: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    gamma: float = 0.025,
    beta1_1d: float = 0.9,
    beta2_1d: float = 0.99,
    lr_1d_factor: float = 1.0,
    mars_type: str = "adamw",
    optimize_1d: bool = False,
    cautious: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of MARS, as timm's ``Mars``::

        if optimize_1d or params.ndim >= 2:
            c = g if t == 1 else g + gamma * beta1 / (1 - beta1) * (g - last_grad)
            c = c / max(||c||, 1)                                  # the whole tensor's norm
            exp_avg = beta1 * exp_avg + (1 - beta1) * c
            d = exp_avg * mask(exp_avg * g)                        # if cautious, else d = exp_avg
            adamw: exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * c * c
                   update = wd * params + (d / (1 - beta1**t)) / (sqrt(exp_avg_sq) / sqrt(1 - beta2**t) + eps)
            lion:  update = wd * params + sign(d)
            params -= lr * update
        else:                                                      # AdamW on g, betas_1d
            exp_avg, exp_avg_sq = the moving averages of g and g * g
            params -= lr * lr_1d_factor * (wd * params + bias-corrected Adam direction of d)
        last_grad = g

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step (timm's ``exp_avg``, ``exp_avg_sq``,
            ``last_grad``).
        t: number of the step being taken, counting from 1.
        lr, beta1, beta2, eps, weight_decay, gamma, lr_1d_factor: timm's keywords (``betas`` split);
            beta1_1d, beta2_1d: timm's ``betas_1d``.
        mars_type, optimize_1d: timm's keywords.
        cautious: multiply ``exp_avg`` by timm's cautious mask of ``exp_avg * g`` (g the gradient, not c)
            for the step only (:func:`symopt.reference._common._cautious_mask`), as ``Mars(caution=True)``.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = mars(np.zeros((1, 2)), np.array([[3.0, 4.0]]), {}, 1, lr=1.0, mars_type="lion")
        >>> p                      # c = g/5, m = 0.1 c: the step is sign(m)
        array([[-1., -1.]])

    Reference:
        Yuan et al., "MARS: Unleashing the Power of Variance Reduction for Training Large Models",
        2024, Algorithms 1-2; timm ``timm/optim/mars.py``.
    """
    lr, beta1, beta2, eps, weight_decay = float(lr), float(beta1), float(beta2), float(eps), float(weight_decay)
    gamma, beta1_1d, beta2_1d, lr_1d_factor = float(gamma), float(beta1_1d), float(beta2_1d), float(lr_1d_factor)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        last = _state_array(state, "last_grad", p)
        work = np.empty_like(p)
        if optimize_1d or p.ndim >= 2:
            c = g.copy() if t == 1 else (g - last) * p.dtype.type(gamma * (beta1 / (1.0 - beta1))) + g
            norm = np.sqrt(np.sum(np.square(c, dtype=np.float64)))  # torch.norm: the whole tensor's 2-norm
            c = c / p.dtype.type(max(float(norm), 1.0) if not math.isnan(norm) else norm)
            np.multiply(m, beta1, out=m)
            _add_scaled_(m, 1.0 - beta1, c, work)
            d = m * _cautious_mask(m, g) if cautious else m
            if mars_type == "adamw":
                _ema_square_(v, c, beta2, work)
                update = _adamw_update(p, d, v, beta1, beta2, eps, weight_decay, t)
            else:
                update = p * p.dtype.type(weight_decay) + np.sign(d)
            _add_scaled_(p, -lr, np.asarray(update, dtype=p.dtype), work)
        else:
            np.multiply(m, beta1_1d, out=m)
            _add_scaled_(m, 1.0 - beta1_1d, g, work)
            _ema_square_(v, g, beta2_1d, work)
            d = m * _cautious_mask(m, g) if cautious else m
            update = _adamw_update(p, d, v, beta1_1d, beta2_1d, eps, weight_decay, t)
            _add_scaled_(p, -(lr * lr_1d_factor), np.asarray(update, dtype=p.dtype), work)
        last[...] = g
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"mars": mars}
