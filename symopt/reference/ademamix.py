"""AdEMAMix: Pagliardini, Ablin and Grangier (2024), "The AdEMAMix Optimizer: Better, Faster,
Older", Algorithm 1; pytorch-optimizer 4.1.0 ``AdEMAMix`` (its single-tensor code path,
``foreach=False``), followed operation by operation."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from symopt.reference._common import State, _ema_square_, _lerp_, _prepare, _state_array

__all__ = ["ademamix"]


def _alpha_at(t: int, alpha: float, warmup: float | None) -> float:
    """pytorch-optimizer's ``schedule_alpha``: α, or ``min(tα/T, α)`` while warming up."""
    return alpha if warmup is None else min(t * alpha / warmup, alpha)


def _beta3_at(t: int, beta1: float, beta3: float, warmup: float | None) -> float:
    """pytorch-optimizer's ``schedule_beta3``: β₃, or while warming up the β whose half-life lies
    t/T of the way from β₁'s to β₃'s, ``min(exp(ln β₁ ln β₃/((1 - t/T) ln β₃ + (t/T) ln β₁)), β₃)``."""
    if warmup is None:
        return beta3
    log1, log3 = math.log(beta1), math.log(beta3)
    return min(math.exp(log1 * log3 / ((1.0 - t / warmup) * log3 + (t / warmup) * log1)), beta3)


def ademamix(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    beta3: float = 0.9999,
    alpha: float = 5.0,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    t_alpha_beta3: float = 256.0,
    weight_decouple: bool = False,
    fixed_decay: bool = False,
    warmup: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of AdEMAMix::

        g = g + weight_decay * p                     # L2 (weight_decouple=False)
        p = p * (1 - weight_decay * lr)              # weight_decouple (1 - weight_decay if fixed_decay)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
        m_slow = lerp(m_slow, g, 1 - beta3_t)
        p = p - lr * (m / (1 - beta1**t) + alpha_t * m_slow) / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    with ``alpha_t = alpha`` and ``beta3_t = beta3`` unless ``warmup`` (see
    :func:`_alpha_at`, :func:`_beta3_at`). The state holds ``exp_avg``, ``exp_avg_sq`` and
    ``exp_avg_slow``, zeros before step 1.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr, beta1, beta2, beta3, alpha, eps, weight_decay, t_alpha_beta3: the package's ``lr``,
            ``betas``, ``alpha``, ``eps``, ``weight_decay``, ``t_alpha_beta3`` (used with ``warmup``).
        weight_decouple, fixed_decay: the package's flags of the same names.
        warmup: warm α and β₃ up over ``t_alpha_beta3`` steps (symopt's option); without it, the
            package's ``t_alpha_beta3=None``.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = ademamix(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, alpha=0.0, eps=0.0)
        >>> p                      # with alpha = 0, Adam's first step: lr * sign(g)
        array([0.9])
    """
    lr, beta1, beta2, beta3 = float(lr), float(beta1), float(beta2), float(beta3)
    alpha, eps, weight_decay = float(alpha), float(eps), float(weight_decay)
    warmup = float(t_alpha_beta3) if warmup else None
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        if weight_decay != 0.0:
            if weight_decouple:
                np.multiply(p, 1.0 - weight_decay * (1.0 if fixed_decay else lr), out=p)
            elif weight_decay > 0.0:
                g = g + p * p.dtype.type(weight_decay)
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        slow = _state_array(state, "exp_avg_slow", p)
        work = np.empty_like(p)
        _lerp_(m, g, 1.0 - beta1, work)
        _ema_square_(v, g, beta2, work)
        _lerp_(slow, g, 1.0 - _beta3_at(t, beta1, beta3, warmup), work)
        denominator = np.sqrt(v) / p.dtype.type(math.sqrt(1.0 - beta2**t)) + p.dtype.type(eps)
        update = m / p.dtype.type(1.0 - beta1**t) + slow * p.dtype.type(_alpha_at(t, alpha, warmup))
        p -= (p.dtype.type(lr) * update / denominator).astype(p.dtype, copy=False)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"ademamix": ademamix}
