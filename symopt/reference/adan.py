"""Adan: Xie et al. (2022, TPAMI 2024); optax 0.2.8 ``adan`` / ``scale_by_adan``; timm 1.0.31 ``Adan``
(``_single_tensor_adan``)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _cautious_mask, _prepare, _state_array
from symopt.reference._optax import _apply_lr_, _corrected, _moment_

__all__ = ["adan"]


def adan(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.98,
    beta2: float = 0.92,
    beta3: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 1e-8,
    weight_decay: float = 0.0,
    convention: str = "optax",
    no_prox: bool = False,
    cautious: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adan, as optax's ``adan`` (or, with ``convention="timm"``, as timm's: :func:`timm_adan`)::

        diff = 0 at the first step, else g - g_prev
        m = (1 - beta1) * g + beta1 * m
        v = (1 - beta2) * diff + beta2 * v
        n = (1 - beta3) * (g + (1 - beta2) * diff)**2 + beta3 * n
        u = (m̂ + (1 - beta2) * v̂) / (sqrt(n̂ + eps_root) + eps)      # each bias-corrected
        params = params - lr * (u + weight_decay * params)

    The state holds optax's ``m``, ``v``, ``n`` and the last gradient ``g``, zeros before step 1.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr, beta1, beta2, beta3, eps, eps_root, weight_decay: optax's ``learning_rate``, ``b1``,
            ``b2``, ``b3``, ``eps``, ``eps_root``, ``weight_decay``.
        convention: ``"optax"``, or ``"timm"`` for :func:`timm_adan` (which takes no ``eps_root``).
        no_prox, cautious: timm's options (:func:`timm_adan`), with ``convention="timm"`` only.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = adan(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, eps=0.0, eps_root=0.0)
        >>> p                      # the first step is lr * sign(g)
        array([0.9])

    Reference:
        Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
        Models", Algorithm 1; optax ``scale_by_adan``.
    """
    if convention == "timm":
        return timm_adan(params, grads, state, t, lr=lr, beta1=beta1, beta2=beta2, beta3=beta3, eps=eps,
                         weight_decay=weight_decay, no_prox=no_prox, cautious=cautious, inplace=inplace)
    if convention != "optax" or no_prox or cautious:
        raise ValueError("optax's adan has neither no_prox nor cautious (convention='timm')")
    lr, beta1, beta2, beta3 = float(lr), float(beta1), float(beta2), float(beta3)
    eps, eps_root, weight_decay = float(eps), float(eps_root), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        m = _state_array(state, "m", p)
        v = _state_array(state, "v", p)
        n = _state_array(state, "n", p)
        previous = _state_array(state, "g", p)
        work = np.empty_like(p)
        diff = np.zeros_like(p) if t == 1 else g - previous
        _moment_(m, g, beta1, work)
        _moment_(v, diff, beta2, work)
        look_ahead = g + (1.0 - beta2) * diff
        _moment_(n, look_ahead * look_ahead, beta3, work)
        update = _corrected(m, beta1, t) + (1.0 - beta2) * _corrected(v, beta2, t)
        update = update / (np.sqrt(_corrected(n, beta3, t) + p.dtype.type(eps_root)) + p.dtype.type(eps))
        if weight_decay != 0.0:
            update = update + weight_decay * p
        _apply_lr_(p, lr, update.astype(p.dtype, copy=False), work)
        previous[...] = g
    return p, state


def timm_adan(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.98,
    beta2: float = 0.92,
    beta3: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    no_prox: bool = False,
    cautious: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adan, as timm 1.0.31's ``Adan`` (``_single_tensor_adan``, ``foreach=False``)::

        neg_pre_grad = -g at the first step                  # so diff = 0 there
        diff = g + neg_pre_grad                              # g - g_prev
        m = m + (1 - beta1) * (g - m)                        # exp_avg.lerp_
        d = beta2 * d + (1 - beta2) * diff                   # exp_avg_diff
        n = beta3 * n + (1 - beta3) * (beta2 * diff + g)**2  # exp_avg_sq
        denom = sqrt(n) / sqrt(1 - beta3**t) + eps
        m = m * mask(m * g) if cautious                      # the first moment's term alone
        if no_prox: params *= 1 - lr * weight_decay; then the two steps below
        params -= lr / (1 - beta1**t) * m / denom
        params -= lr * beta2 / (1 - beta2**t) * d / denom
        else (after them): params /= 1 + lr * weight_decay
        neg_pre_grad = -g

    Where optax weighs Δg by ``1 - beta2`` (in the look-ahead and in the direction) timm weighs it by
    ``beta2``; timm has no ``eps_root``; its default decay is the paper's proximal division. The
    state holds timm's ``exp_avg``, ``exp_avg_diff``, ``exp_avg_sq`` and ``neg_pre_grad``, zeros
    (and ``-g``) before step 1; the scalar factors are formed in Python double, as timm does.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr, beta1, beta2, beta3, eps, weight_decay: timm's ``lr``, ``betas``, ``eps``, ``weight_decay``.
        no_prox: timm's ``no_prox``: decay by ``1 - lr * weight_decay`` before the step.
        cautious: timm's ``caution``: mask the first moment by
            :func:`symopt.reference._common._cautious_mask` of ``exp_avg * grads``.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = timm_adan(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, eps=0.0, weight_decay=1.0)
        >>> p                      # (1 - 0.1 * sign(g)) / (1 + 0.1)
        array([0.81818182])

    Reference:
        Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
        Models", Algorithm 1 (the proximal step); timm 1.0.31 ``timm/optim/adan.py``.
    """
    lr, beta1, beta2, beta3 = float(lr), float(beta1), float(beta2), float(beta3)
    eps, weight_decay = float(eps), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        m = _state_array(state, "exp_avg", p)
        d = _state_array(state, "exp_avg_diff", p)
        n = _state_array(state, "exp_avg_sq", p)
        if t == 1 or "neg_pre_grad" not in state:
            state["neg_pre_grad"] = np.array(-g, dtype=p.dtype)  # a 0-d array stays an array
        neg = state["neg_pre_grad"]
        neg += g                                             # diff
        m += p.dtype.type(1.0 - beta1) * (g - m)
        d *= p.dtype.type(beta2)
        d += p.dtype.type(1.0 - beta2) * neg
        neg *= p.dtype.type(beta2)
        neg += g
        n *= p.dtype.type(beta3)
        n += p.dtype.type(1.0 - beta3) * (neg * neg)
        denom = np.sqrt(n) / p.dtype.type(np.sqrt(1.0 - beta3**t)) + p.dtype.type(eps)
        step_size_diff = lr * beta2 / (1.0 - beta2**t)
        step_size = lr / (1.0 - beta1**t)
        first = m * _cautious_mask(m, g) if cautious else m
        if no_prox:
            p *= p.dtype.type(1.0 - lr * weight_decay)
        p -= p.dtype.type(step_size) * (first / denom)
        p -= p.dtype.type(step_size_diff) * (d / denom)
        if not no_prox:
            p /= p.dtype.type(1.0 + lr * weight_decay)
        neg[...] = -g
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"adan": adan}
