"""LaProp: Ziyin, Wang and Ueda (2020); timm 1.0.31 ``LaProp`` (``_single_tensor_laprop``)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import (State, _add_scaled_, _cautious_mask, _decay_scale, _ema_square_, _prepare,
                                     _state_array)

__all__ = ["laprop"]


def _scalar(state: State, key: str) -> np.ndarray:
    """A number of the state as a 0-d float64 array (0.0 before step 1), so that ``inplace=True``
    updates it in place; a Python float (timm's ``exp_avg_lr_1``) is converted."""
    value = state.get(key)
    if not isinstance(value, np.ndarray):
        value = np.array(0.0 if value is None else value, dtype=np.float64)
        state[key] = value
    return value


def laprop(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 4e-4,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-15,
    weight_decay: float = 0.0,
    max_lr: float = 4e-4,
    cautious: bool = False,
    corrected_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of LaProp, as timm's ``LaProp`` (``foreach=False``)::

        exp_avg_lr_1 = beta1 * exp_avg_lr_1 + (1 - beta1) * lr      # Python floats
        exp_avg_lr_2 = beta2 * exp_avg_lr_2 + (1 - beta2)
        step_size = lr / exp_avg_lr_1, or 0 where exp_avg_lr_1 is 0
        exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g * g
        exp_avg = beta1 * exp_avg + lr * (1 - beta1) * g / (sqrt(exp_avg_sq / exp_avg_lr_2) + eps)
        d = exp_avg * mask(exp_avg * g)                            # if cautious (timm's caution=True)
        params -= step_size * d                                   # else d = exp_avg
        params -= lr * weight_decay * params                      # the stepped parameters
                                                                  # (lr ** 2 / max_lr for lr if corrected)

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step (timm's ``exp_avg``, ``exp_avg_sq``, and the
            numbers ``exp_avg_lr_1``, ``exp_avg_lr_2`` as 0-d float64 arrays).
        t: number of the step being taken, counting from 1 (the state counts for itself).
        lr, beta1, beta2, eps, weight_decay: timm's keywords (``betas`` split).
        cautious: multiply ``exp_avg`` by timm's cautious mask of ``exp_avg * g`` for the step only
            (:func:`symopt.reference._common._cautious_mask`), as ``LaProp(caution=True)``.
        max_lr, corrected_weight_decay: timm's corrected weight decay (arXiv 2506.02285): the decay
            scaled by ``lr ** 2 / max_lr``, ``max_lr`` the learning rate timm's optimizer was built with
            (its ``max_lr_snapshot``).
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = laprop(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, eps=0.0)
        >>> p                      # the first step is lr * sign(g)
        array([0.9])

    Reference:
        Ziyin, Wang and Ueda, "LaProp: Separating Momentum and Adaptivity in Adam", 2020,
        Algorithm 1; timm ``timm/optim/laprop.py``.
    """
    lr, beta1, beta2, eps, weight_decay = float(lr), float(beta1), float(beta2), float(eps), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        lr_average = float(_scalar(state, "exp_avg_lr_1")) * beta1 + (1.0 - beta1) * lr
        ones_average = float(_scalar(state, "exp_avg_lr_2")) * beta2 + (1.0 - beta2)
        state["exp_avg_lr_1"][...], state["exp_avg_lr_2"][...] = lr_average, ones_average
        step_size = lr / lr_average if lr_average != 0.0 else 0.0
        work = np.empty_like(p)
        _ema_square_(v, g, beta2, work)
        denominator = np.empty_like(p)
        np.divide(v, ones_average, out=denominator)
        np.sqrt(denominator, out=denominator)
        np.add(denominator, p.dtype.type(eps), out=denominator)
        normalized = np.empty_like(p)
        np.divide(g, denominator, out=normalized)
        np.multiply(m, beta1, out=m)
        _add_scaled_(m, lr * (1.0 - beta1), normalized, work)
        _add_scaled_(p, -step_size, m * _cautious_mask(m, g) if cautious else m, work)
        if weight_decay != 0.0:  # timm: wd_scale = lr if max_lr is None else lr ** 2 / max_lr
            _add_scaled_(p, -_decay_scale(lr, max_lr, corrected_weight_decay) * weight_decay, p, work)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"laprop": laprop}
