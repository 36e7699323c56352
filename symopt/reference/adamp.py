"""AdamP and SGDP: timm 1.0.31's ``timm.optim.adamp.AdamP``, ``timm.optim.sgdp.SGDP`` and their
``projection`` (from clovaai/AdamP); Heo et al., "AdamP: Slowing Down the Slowdown for Momentum
Optimizers on Scale-invariant Weights", ICLR 2021. The projection takes the whole tensor."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from symopt.reference._common import State, _cautious_mask, _prepare, _state_array

__all__ = ["adamp", "sgdp", "projection"]


def _rows(x: np.ndarray, channels: bool) -> np.ndarray:
    """timm's ``_channel_view`` (first dimension by the rest) or ``_layer_view`` (one row)."""
    return x.reshape(x.shape[0], -1) if channels else x.reshape(1, -1)


def _cosine(a: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """torch's ``cosine_similarity(a, b, dim=1, eps)``: each row divided by its norm floored at
    ``eps``, then the sum of the products."""
    dtype = a.dtype.type
    na = np.maximum(np.sqrt(np.sum(a * a, axis=1, keepdims=True)), dtype(eps))
    nb = np.maximum(np.sqrt(np.sum(b * b, axis=1, keepdims=True)), dtype(eps))
    return np.sum((a / na) * (b / nb), axis=1)


def projection(p: np.ndarray, grad: np.ndarray, perturb: np.ndarray, delta: float, wd_ratio: float,
               eps: float, caution: bool = False) -> Tuple[np.ndarray, float]:
    """timm's ``projection(p, grad, perturb, delta, wd_ratio, eps, caution)``: for the channel view,
    then the layer view, if the largest |cosine| of ``grad`` and ``p`` over the rows is below
    ``delta/sqrt(row length)``, remove from ``perturb`` its component along each row of
    ``p/(‖row‖ + eps)`` and return it with ``wd_ratio``; else ``perturb`` and 1.

    With ``caution`` (timm's "spherical" cautious optimizer) a projected ``perturb`` is multiplied by
    the cautious mask of ``perturb * grad_perp``, ``grad_perp`` the gradient with the same radial
    component removed, and projected again; one not projected by the plain mask of ``perturb * grad``."""
    dtype = p.dtype.type
    for channels in (True, False):
        param_view, grad_view = _rows(p, channels), _rows(grad, channels)
        cosine = np.abs(_cosine(grad_view, param_view, eps))
        length = param_view.shape[1]
        threshold = delta / math.sqrt(length) if length else math.inf
        if cosine.size and np.max(cosine) < dtype(threshold):
            expand = (-1,) + (1,) * (p.ndim - 1)
            p_n = p / (np.sqrt(np.sum(param_view * param_view, axis=1)) + dtype(eps)).reshape(expand)

            def radial(x: np.ndarray) -> np.ndarray:
                return p_n * np.sum(_rows(p_n * x, channels), axis=1).reshape(expand)

            perturb = perturb - radial(perturb)
            if caution:
                perturb = perturb * _cautious_mask(perturb, grad - radial(grad))
                perturb = perturb - radial(perturb)
            return perturb, wd_ratio
    return (perturb * _cautious_mask(perturb, grad) if caution else perturb), 1.0


def adamp(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    delta: float = 0.1,
    wd_ratio: float = 0.1,
    nesterov: bool = False,
    cautious: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of AdamP, as timm's ``AdamP.step``::

        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g * g
        denom = sqrt(v) / sqrt(1 - beta2**t) + eps
        perturb = m / denom    (nesterov: (beta1 * m + (1 - beta1) * g) / denom)
        perturb, r = projection(params, g, perturb, delta, wd_ratio, eps, cautious)   # params of 2+ dims
        perturb = perturb * mask(perturb * g)         # fewer dimensions, if cautious (timm's caution=True)
        params = params * (1 - lr * weight_decay * r)                      # weight_decay > 0
        params = params - lr / (1 - beta1**t) * perturb

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr, beta1, beta2, eps, weight_decay, delta, wd_ratio, nesterov: timm's keywords
            (``betas`` split).
        cautious: timm's ``caution``: the cautious mask in :func:`projection`, or on ``perturb``
            against ``g`` for a parameter of fewer than two dimensions.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = adamp(np.array([[3.0, 4.0]]), np.array([[4.0, -3.0]]), {}, 1, lr=0.1)
        >>> p.round(4)   # g ⟂ θ: the update (0.1, -0.1) loses its part along θ, -0.02·θ/‖θ‖
        array([[2.888, 4.084]])

    Reference:
        Heo et al., ICLR 2021, Algorithm 2; timm 1.0.31 ``timm/optim/adamp.py``.
    """
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    weight_decay, delta, wd_ratio = float(weight_decay), float(delta), float(wd_ratio)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        m[...] = m * beta1 + g * (1.0 - beta1)
        v[...] = v * beta2 + (g * (1.0 - beta2)) * g
        denom = np.sqrt(v) / math.sqrt(1.0 - beta2 ** t) + p.dtype.type(eps)
        step_size = lr / (1.0 - beta1 ** t)
        perturb = (beta1 * m + (1.0 - beta1) * g) / denom if nesterov else m / denom
        ratio = 1.0
        if p.ndim > 1 and p.size:
            perturb, ratio = projection(p, g, perturb, delta, wd_ratio, eps, cautious)
        elif cautious:
            perturb = perturb * _cautious_mask(perturb, g)
        if weight_decay > 0:
            p *= 1.0 - lr * weight_decay * ratio
        p -= (perturb * step_size).astype(p.dtype, copy=False)
    return p, state


def sgdp(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    eps: float = 1e-8,
    delta: float = 0.1,
    wd_ratio: float = 0.1,
    nesterov: bool = False,
    cautious: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of SGDP, as timm's ``SGDP.step``::

        buf = momentum * buf + (1 - dampening) * g      # from zeros, dampened from the first step
        d_p = g + momentum * buf if nesterov else buf
        d_p, r = projection(params, g, d_p, delta, wd_ratio, eps, cautious)   # params of 2+ dimensions
        d_p = d_p * mask(d_p * g)                      # fewer dimensions, if cautious (timm's caution=True)
        params = params * (1 - lr * weight_decay * r / (1 - momentum))   # weight_decay != 0
        params = params - lr * d_p

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (unused: SGDP has no step counter).
        lr, momentum, dampening, weight_decay, eps, delta, wd_ratio, nesterov: timm's keywords.
        cautious: timm's ``caution``: the cautious mask in :func:`projection`, or on ``d_p``
            against ``g`` for a parameter of fewer than two dimensions.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = sgdp(np.array([[3.0, 4.0]]), np.array([[4.0, -3.0]]), {}, 1, lr=0.1)
        >>> p.round(4)   # g ⟂ θ: nothing to remove, the step is -η g
        array([[2.6, 4.3]])

    Reference:
        Heo et al., ICLR 2021, Algorithm 1; timm 1.0.31 ``timm/optim/sgdp.py``.
    """
    lr, momentum, dampening, eps = float(lr), float(momentum), float(dampening), float(eps)
    weight_decay, delta, wd_ratio = float(weight_decay), float(delta), float(wd_ratio)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        buf = _state_array(state, "momentum", p)
        buf[...] = buf * momentum + g * (1.0 - dampening)
        d_p = g + momentum * buf if nesterov else buf.copy()
        ratio = 1.0
        if p.ndim > 1 and p.size:
            d_p, ratio = projection(p, g, d_p, delta, wd_ratio, eps, cautious)
        elif cautious:
            d_p = d_p * _cautious_mask(d_p, g)
        if weight_decay != 0:
            p *= 1.0 - lr * weight_decay * ratio / (1.0 - momentum)
        p -= (d_p * lr).astype(p.dtype, copy=False)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"adamp": adamp, "sgdp": sgdp}
