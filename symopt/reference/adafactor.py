"""Adafactor: torch.optim.Adafactor (torch 2.13), timm 1.0.31's Adafactor (fairseq's), Shazeer & Stern
(ICML 2018)."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from symopt.reference._common import State, _lerp_, _prepare, _state_array

__all__ = ["adafactor", "timm_adafactor"]


def adafactor(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    beta2_decay: float = -0.8,
    eps1: float | None = None,
    eps2: float = 1e-3,
    d: float = 1.0,
    weight_decay: float = 0.0,
    convention: str = "torch",
    relative_step: bool = True,
    scale_parameter: bool = True,
    warmup_init: bool = False,
    first_moment: bool = False,
    cautious: bool = False,
    beta1: float = 0.9,
    eps: float = 1e-30,
    eps_scale: float = 1e-3,
    clip_threshold: float = 1.0,
    decay_rate: float = -0.8,
    min_dim_size_to_factor: int = 16,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adafactor, as torch.optim.Adafactor (2.13, ``_single_tensor_adafactor``), or with
    ``convention="timm"`` as timm 1.0.31's ``Adafactor`` (:func:`timm_adafactor`, which takes the
    keywords from ``relative_step`` on; the torch form takes those before).

    ::

        w = t ** beta2_decay                             # the new value's weight, 1 - beta2_t
        rho = min(lr, 1 / sqrt(t));  alpha = max(eps2, RMS(params)) * rho
        params *= 1 - lr * weight_decay
        if params.ndim >= 2:                             # factored over the last two dimensions
            row_var = lerp(row_var, mean(g², axis=-1), w);  col_var = lerp(col_var, mean(g², axis=-2), w)
            V = row_var @ col_var / max(mean(row_var, axis=-2), eps1)
        else:
            variance = lerp(variance, g², w);  V = variance
        U = g / sqrt(max(V, eps1²))
        params -= alpha / max(1, RMS(U) / d) * U

    ``eps1`` defaults to the dtype's machine epsilon, as torch's ``None``.
    The state keys are torch's: ``"row_var"`` (shape ``(..., A, 1)``),
    ``"col_var"`` (``(..., 1, B)``), ``"variance"``.

    Example:
        >>> import numpy as np
        >>> p, s = adafactor(np.ones((2, 3)), np.ones((2, 3)), {}, 1, lr=0.5)
        >>> p                      # alpha = RMS(1) * min(0.5, 1) and U = 1 everywhere
        array([[0.5, 0.5, 0.5],
               [0.5, 0.5, 0.5]])
        >>> s["row_var"].shape, s["col_var"].shape
        ((2, 1), (1, 3))

    Reference:
        N. Shazeer and M. Stern, "Adafactor: Adaptive Learning Rates with
        Sublinear Memory Cost", ICML 2018, Algorithms 4-5; torch.optim.Adafactor.
    """
    if convention == "timm":
        return timm_adafactor(params, grads, state, t, lr=lr if not relative_step else None,
                              scale_parameter=scale_parameter, warmup_init=warmup_init,
                              beta1=beta1 if first_moment else None, caution=cautious, eps=eps, eps_scale=eps_scale,
                              clip_threshold=clip_threshold, decay_rate=decay_rate, weight_decay=weight_decay,
                              min_dim_size_to_factor=min_dim_size_to_factor, inplace=inplace)
    if convention != "torch":
        raise ValueError(f"convention must be 'torch' or 'timm', not {convention!r}")
    if not relative_step or not scale_parameter or warmup_init or first_moment or cautious:
        raise ValueError("relative_step, scale_parameter, warmup_init, first_moment and cautious are timm's")
    lr, beta2_decay, eps2, d = float(lr), float(beta2_decay), float(eps2), float(d)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    eps1 = float(np.finfo(p.dtype).eps) if eps1 is None else float(eps1)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        w = float(t) ** beta2_decay
        rho = min(lr, 1.0 / float(t) ** 0.5)
        numel = max(p.size, 1)
        alpha = max(eps2, float(np.sqrt(np.sum(p * p))) / numel ** 0.5) * rho
        if weight_decay != 0.0:
            p *= 1.0 - lr * weight_decay
        if p.ndim >= 2:
            shape = p.shape
            row_var = state.setdefault("row_var", np.zeros((*shape[:-1], 1), dtype=p.dtype))
            col_var = state.setdefault("col_var", np.zeros((*shape[:-2], 1, shape[-1]), dtype=p.dtype))
            g2 = g * g
            row_mean = g2.sum(axis=-1, keepdims=True) / max(shape[-1], 1)
            col_mean = g2.sum(axis=-2, keepdims=True) / max(shape[-2], 1)
            _lerp_(row_var, row_mean, w, np.empty_like(row_var))  # torch: row_var.lerp_(row_mean, w)
            _lerp_(col_var, col_mean, w, np.empty_like(col_var))
            row_var_mean = row_var.sum(axis=-2, keepdims=True) / max(shape[-2], 1)
            estimate = (row_var @ col_var) / np.maximum(row_var_mean, eps1)
        else:
            variance = _state_array(state, "variance", p)
            _lerp_(variance, g * g, w, np.empty_like(variance))
            estimate = variance.copy()
        update = g / np.sqrt(np.maximum(estimate, eps1 * eps1))
        denom = max(1.0, float(np.sqrt(np.sum(update * update))) / (numel ** 0.5 * d))
        p -= (alpha / denom) * update
    return p, state


def _factored_dims(shape: tuple, min_size: int):
    """timm's ``_get_options``: dimensions 0 and 1 of a tensor of more than two where both exceed
    ``min_size``, else its last two where both do, else None (not factored)."""
    ndim = len(shape)
    if ndim > 2 and shape[0] > min_size and shape[1] > min_size:
        return 0, 1
    if ndim >= 2 and shape[-2] > min_size and shape[-1] > min_size:
        return ndim - 2, ndim - 1
    return None


def timm_adafactor(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float | None = None,
    eps: float = 1e-30,
    eps_scale: float = 1e-3,
    clip_threshold: float = 1.0,
    decay_rate: float = -0.8,
    beta1: float | None = None,
    weight_decay: float = 0.0,
    scale_parameter: bool = True,
    warmup_init: bool = False,
    min_dim_size_to_factor: int = 16,
    caution: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of timm 1.0.31's ``Adafactor`` (fairseq's, ``Adafactor.step``), its keywords and defaults.

    ::

        rms = RMS(params)
        if lr is None:                                   # relative_step
            lr_t = min(1e-6 * t if warmup_init else 1e-2, 1 / sqrt(t))
            lr_t *= max(eps_scale, rms) if scale_parameter else 1
        else:
            lr_t = lr
        w = t ** decay_rate                              # 1 - beta2t, the new value's weight
        sq = g² + eps
        if factored (dims (c, r): 0, 1 of an n-D tensor whose both exceed min_dim_size_to_factor, else
                     its last two where both do):
            row = lerp(row, mean(sq, r), w);  col = lerp(col, mean(sq, c), w)
            update = rsqrt(row / mean(row, c)) * rsqrt(col) * g   # broadcast back over r and c
        else:
            v = lerp(v, sq, w);  update = rsqrt(v) * g
        update = update / max(1, RMS(update) / clip_threshold) * lr_t   # torch's clamp: NaN propagates
        if beta1 is not None:
            m = lerp(m, update, 1 - beta1);  update = m
            if caution:  mask = (m * g > 0);  update = m * mask / max(mean(mask), 1e-3)
        params -= weight_decay * lr_t * params           # if weight_decay != 0
        params -= update

    The state keys are timm's: ``"exp_avg_sq_row"`` (the shape without dimension r), ``"exp_avg_sq_col"``
    (without c), ``"exp_avg_sq"``, ``"exp_avg"``.

    Example:
        >>> import numpy as np
        >>> p, s = timm_adafactor(np.ones(3), np.ones(3), {}, 1)
        >>> p                      # lr_t = min(1e-2, 1) * RMS(1), update = g/sqrt(g^2 + 1e-30) = 1
        array([0.99, 0.99, 0.99])
        >>> sorted(s)
        ['exp_avg_sq']

    Reference:
        timm 1.0.31 ``timm/optim/adafactor.py``; N. Shazeer and M. Stern, "Adafactor: Adaptive Learning
        Rates with Sublinear Memory Cost", ICML 2018, Algorithm 4.
    """
    p, state = _prepare(params, state, inplace)
    eps, eps_scale, clip_threshold = float(eps), float(eps_scale), float(clip_threshold)
    decay_rate, weight_decay = float(decay_rate), float(weight_decay)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        dims = _factored_dims(p.shape, int(min_dim_size_to_factor))
        numel = p.size
        rms = np.sqrt(np.sum(p * p, dtype=p.dtype)) / np.asarray(numel ** 0.5, dtype=p.dtype) if numel else np.nan
        if lr is None:
            lr_t = min(1e-6 * t if warmup_init else 1e-2, 1.0 / math.sqrt(t))
            if scale_parameter:
                lr_t = lr_t * max(eps_scale, rms)  # Python's max, as timm's: a NaN RMS gives eps_scale
        else:
            lr_t = float(lr)
        w = float(t) ** decay_rate
        square = g * g + np.asarray(eps, dtype=p.dtype)
        if dims is not None:
            c, r = dims
            row_shape = p.shape[:r] + p.shape[r + 1:]
            col_shape = p.shape[:c] + p.shape[c + 1:]
            row = state.setdefault("exp_avg_sq_row", np.zeros(row_shape, dtype=p.dtype))
            col = state.setdefault("exp_avg_sq_col", np.zeros(col_shape, dtype=p.dtype))
            _lerp_(row, square.mean(axis=r), w, np.empty_like(row))
            _lerp_(col, square.mean(axis=c), w, np.empty_like(col))
            r_factor = np.expand_dims(1.0 / np.sqrt(row / row.mean(axis=c, keepdims=True)), r)
            c_factor = 1.0 / np.sqrt(np.expand_dims(col, c))
            update = r_factor * c_factor * g
        else:
            v = _state_array(state, "exp_avg_sq", p)
            _lerp_(v, square, w, np.empty_like(v))
            update = (1.0 / np.sqrt(v)) * g
        update_rms = np.sqrt(np.sum(update * update)) / numel ** 0.5 if numel else np.nan
        update = update / np.maximum(update_rms / clip_threshold, 1.0)  # torch's clamp_(min=1): NaN stays NaN
        update = (update * lr_t).astype(p.dtype)
        if beta1 is not None:
            m = _state_array(state, "exp_avg", p)
            _lerp_(m, update, 1.0 - float(beta1), np.empty_like(m))
            if caution:
                mask = (m * g > 0).astype(p.dtype)
                mask = mask / max(float(mask.mean()) if mask.size else np.nan, 1e-3)
                update = m * mask
            else:
                update = m.copy()
        if weight_decay != 0.0:
            p += p * (-weight_decay * lr_t)
        p -= update
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"adafactor": adafactor}
