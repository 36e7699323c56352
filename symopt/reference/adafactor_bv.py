"""big_vision's Adafactor: timm 1.0.31 ``AdafactorBigVision`` (``_single_tensor_adafactor``); Zhai et al.
(CVPR 2022), "Scaling Vision Transformers"."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _cautious_mask, _decay_scale, _lerp_, _prepare

__all__ = ["adafactorbv"]


def _factored_dims(shape: Tuple[int, ...], min_dim_size_to_factor: float):
    """timm's ``_factored_dims``: the second-largest and the largest dimension (ties by position), or
    None where there are fewer than two dimensions or the second largest is below the threshold."""
    if len(shape) < 2:
        return None
    ordered = sorted((size, i) for i, size in enumerate(shape))
    if shape[ordered[-2][1]] < min_dim_size_to_factor:
        return None
    return ordered[-2][1], ordered[-1][1]


def adafactorbv(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1.0,
    momentum: float = 0.9,
    eps: float = 1e-30,
    weight_decay: float = 0.0,
    decay_rate: float = 0.8,
    decay_offset: float = 0.0,
    beta2_cap: float = 0.999,
    min_dim_size_to_factor: float = 16.0,
    clipping_threshold: float = 1.0,
    use_momentum: bool = True,
    clipping: bool = False,
    unscaled_wd: bool = False,
    cautious: bool = False,
    max_lr: float = 1.0,
    corrected_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of timm's ``AdafactorBigVision`` with ``momentum_dtype`` the parameters' dtype::

        beta2_t = min(beta2_cap, 1 - max(t - decay_offset, 1) ** -decay_rate)
        g2 = g * g + eps
        if the second-largest side >= min_dim_size_to_factor:   # dc, dr: second-largest, largest dim
            r = lerp(r, mean(g2, dr), 1 - beta2_t);  c = lerp(c, mean(g2, dc), 1 - beta2_t)
            u = g / sqrt(r / mean(r, dc)) / sqrt(c)
        else:
            v = lerp(v, g2, 1 - beta2_t);  u = g / sqrt(v)
        u /= max(1, RMS(u) / clipping_threshold)          # if clipping
        exp_avg = lerp(exp_avg, u, 1 - momentum);  u = exp_avg      # if use_momentum
        u *= mask(u * g)                                  # if cautious
        params *= 1 - weight_decay (if unscaled_wd) or 1 - lr * weight_decay
                  # corrected_weight_decay: 1 - lr / max_lr * weight_decay or 1 - lr ** 2 / max_lr * weight_decay
        params -= lr * u

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step (timm's ``exp_avg_sq_r`` and ``exp_avg_sq_c``
            where factored, else ``exp_avg_sq``; ``exp_avg`` with the momentum).
        t: number of the step being taken, counting from 1.
        lr, eps, weight_decay, decay_rate, decay_offset, beta2_cap, min_dim_size_to_factor: timm's keywords
            (its ``eps=None`` is 1e-30 for float32 and float64).
        momentum, use_momentum: timm's ``momentum`` if ``use_momentum``, else its ``momentum=None``.
        clipping_threshold, clipping: the update's RMS is clipped to ``clipping_threshold`` if ``clipping``
            (timm's ``clipping_threshold=None`` otherwise).
        cautious: timm's ``caution`` (with the momentum): the momentum masked for the step only
            (:func:`symopt.reference._common._cautious_mask`).
        unscaled_wd: timm's ``unscaled_wd``.
        max_lr, corrected_weight_decay: timm's ``max_lr_snapshot`` (the learning rate the class was built
            with) and ``corrected_weight_decay``: the decay's scale ``lr`` becomes ``lr ** 2 / max_lr``, and
            the unscaled decay is multiplied by ``lr / max_lr``.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = adafactorbv(np.ones((2, 3)), np.full((2, 3), 2.0), {}, 1, lr=0.5, use_momentum=False,
        ...                    min_dim_size_to_factor=2)
        >>> p                      # beta2_1 = 0: u = g/sqrt(g^2) = 1
        array([[0.5, 0.5, 0.5],
               [0.5, 0.5, 0.5]])
        >>> s["exp_avg_sq_r"].shape, s["exp_avg_sq_c"].shape
        ((2, 1), (1, 3))

    Reference:
        X. Zhai, A. Kolesnikov, N. Houlsby and L. Beyer, "Scaling Vision Transformers", CVPR 2022
        (big_vision's Adafactor); timm 1.0.31 ``AdafactorBigVision``.
    """
    p, state = _prepare(params, state, inplace)
    dtype = p.dtype
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=dtype)
        decay_step = max(float(t) - float(decay_offset), 1.0)
        beta2_t = min(float(beta2_cap), 1.0 - decay_step ** (-float(decay_rate)))
        weight = 1.0 - beta2_t
        g2 = g * g + dtype.type(eps)
        dims = _factored_dims(p.shape, min_dim_size_to_factor)
        if dims is not None:
            dc, dr = dims
            r = state.setdefault("exp_avg_sq_r", np.zeros_like(g2.mean(axis=dr, keepdims=True)))
            c = state.setdefault("exp_avg_sq_c", np.zeros_like(g2.mean(axis=dc, keepdims=True)))
            _lerp_(r, g2.mean(axis=dr, keepdims=True, dtype=dtype), weight, np.empty_like(r))
            _lerp_(c, g2.mean(axis=dc, keepdims=True, dtype=dtype), weight, np.empty_like(c))
            row_factor = 1.0 / np.sqrt(r / r.mean(axis=dc, keepdims=True, dtype=dtype))
            update = g * row_factor * (1.0 / np.sqrt(c))
        else:
            v = state.setdefault("exp_avg_sq", np.zeros_like(p))
            _lerp_(v, g2, weight, np.empty_like(v))
            update = g * (1.0 / np.sqrt(v))
        update = update.astype(dtype, copy=False)
        if clipping:
            rms = float(np.sqrt(np.sum(update * update, dtype=np.float64))) / max(update.size, 1) ** 0.5
            update = update / dtype.type(max(rms / float(clipping_threshold), 1.0))
        if use_momentum:
            exp_avg = state.setdefault("exp_avg", np.zeros_like(p))
            _lerp_(exp_avg, update, 1.0 - float(momentum), np.empty_like(exp_avg))
            update = exp_avg.copy()
            if cautious:
                update = update * _cautious_mask(update, g)
        update = update * dtype.type(lr)
        if weight_decay != 0.0:
            if unscaled_wd:  # timm: 1 - weight_decay, or corrected 1 - (lr / max_lr) * weight_decay
                scale = float(lr) / float(max_lr) * float(weight_decay) if corrected_weight_decay else float(weight_decay)
            else:
                scale = _decay_scale(float(lr), max_lr, corrected_weight_decay) * float(weight_decay)
            p *= dtype.type(1.0 - scale)
        p -= update
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"adafactorbv": adafactorbv}
