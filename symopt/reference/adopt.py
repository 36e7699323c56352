"""ADOPT: Taniguchi et al. (2024); timm 1.0.31 ``Adopt`` (``_single_tensor_adopt``)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import (State, _add_scaled_, _cautious_mask, _decay_scale, _ema_square_, _l2_gradient,
                                     _lerp_, _prepare, _state_array)

__all__ = ["adopt"]


def adopt(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.9999,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    clip_exp: float = 0.333,
    max_lr: float = 1e-3,
    decoupled: bool = False,
    clip: bool = True,
    cautious: bool = False,
    corrected_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of ADOPT, as timm's ``Adopt`` (``foreach=False``)::

        g = g + weight_decay * params                  # unless decoupled
        t == 1:  exp_avg_sq += g * g; no step          # only initialises v
        params *= 1 - lr * weight_decay                # if decoupled (lr ** 2 / max_lr for lr if corrected)
        n = g / max(sqrt(exp_avg_sq), eps)             # the previous v
        n = clamp(n, -(t - 1)**clip_exp, (t - 1)**clip_exp)   # if clip
        exp_avg = lerp(exp_avg, n, 1 - beta1)
        params -= lr * exp_avg * mask(exp_avg * g)     # mask if cautious (timm's caution=True), else 1
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step (timm's ``exp_avg``, ``exp_avg_sq``).
        t: number of the step being taken, counting from 1.
        lr, beta1, beta2, eps, weight_decay, clip_exp: timm's keywords (``betas`` split).
        decoupled: timm's ``decoupled``; clip: ``False`` is timm's ``clip_exp=None``.
        max_lr, corrected_weight_decay: timm's corrected weight decay (arXiv 2506.02285): the decoupled
            decay scaled by ``lr ** 2 / max_lr``, ``max_lr`` the learning rate timm's optimizer was built
            with (its ``max_lr_snapshot``); timm corrects only the decoupled decay.
        cautious: multiply ``exp_avg`` by timm's cautious mask of ``exp_avg * g`` (g with its L2 decay) for
            the step only (:func:`symopt.reference._common._cautious_mask`), as ``Adopt(caution=True)``.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = adopt(np.array([1.0]), np.array([2.0]), {}, 1)
        >>> p, s["exp_avg_sq"]     # the first step only sets v
        (array([1.]), array([4.]))

    Reference:
        Taniguchi et al., "ADOPT: Modified Adam Can Converge with Any β2 with the Optimal Rate",
        NeurIPS 2024, Algorithm 2; timm ``timm/optim/adopt.py``.
    """
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    weight_decay, clip_exp = float(weight_decay), float(clip_exp)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        work = np.empty_like(p)
        if weight_decay != 0.0 and not decoupled:
            g = _l2_gradient(p, g, weight_decay)
        if t == 1:
            np.multiply(g, g, out=work)
            np.add(v, work, out=v)
            return p, state
        if weight_decay != 0.0 and decoupled:
            # timm: wd_scale = lr ** 2 / max_lr if max_lr is not None else lr
            _add_scaled_(p, -_decay_scale(lr, max_lr, corrected_weight_decay) * weight_decay, p, work)
        denominator = np.maximum(np.sqrt(v), p.dtype.type(eps))
        normalized = np.empty_like(p)
        np.divide(g, denominator, out=normalized)
        if clip:
            bound = float(t - 1) ** clip_exp
            np.clip(normalized, -bound, bound, out=normalized)
        _lerp_(m, normalized, 1.0 - beta1, work)
        _add_scaled_(p, -lr, m * _cautious_mask(m, g) if cautious else m, work)
        _ema_square_(v, g, beta2, work)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"adopt": adopt}
