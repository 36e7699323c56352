"""What the references share: copying or updating in place, the decay forms of torch.optim, and the
in-place arithmetic every step runs through (few preallocated temporaries)."""

from __future__ import annotations

import copy
from typing import Any, Dict, Tuple

import numpy as np

State = Dict[str, Any]


def _prepare(params: np.ndarray, state: State | None, inplace: bool) -> Tuple[np.ndarray, State]:
    """Return the arrays the in-place code path may mutate.

    With ``inplace=False`` params and every array in state are copied, so the
    caller's objects stay untouched; with ``inplace=True`` they are returned
    as they are.
    """
    if state is None:
        state = {}
    if inplace:
        if not isinstance(params, np.ndarray):
            raise TypeError("inplace=True needs params to be a numpy.ndarray")
        return params, state
    params = np.array(params, copy=True)
    new_state: State = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            new_state[key] = np.array(value, copy=True)
        else:
            new_state[key] = copy.deepcopy(value)
    return params, new_state


def _l2_gradient(p: np.ndarray, g: np.ndarray, weight_decay: float) -> np.ndarray:
    """Return a new array ``g + weight_decay * p`` (torch: ``grad.add(param, alpha=wd)``).

    A new array, because the caller's gradient must never be modified.
    """
    out = np.empty_like(p)
    np.multiply(p, weight_decay, out=out)
    np.add(g, out, out=out)
    return out


def _decayed_gradient(p: np.ndarray, g: np.ndarray, lr: float, weight_decay: float,
                      decoupled: bool) -> np.ndarray:
    """Apply weight decay as torch's Adam family does; return the gradient to use.

    ``decoupled``: ``p *= 1 - lr * weight_decay`` in place (the factor formed
    in Python double) and ``g`` unchanged; otherwise the L2 gradient
    ``g + weight_decay * p`` (a new array).  Nothing happens for a zero decay.
    """
    if weight_decay == 0.0:
        return g
    if decoupled:
        np.multiply(p, 1.0 - lr * weight_decay, out=p)
        return g
    return _l2_gradient(p, g, weight_decay)


def _state_array(state: State, key: str, p: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Return ``state[key]``, first creating it as an array like ``p`` filled with ``fill``."""
    value = state.get(key)
    if value is None:
        value = np.full_like(p, fill)
        state[key] = value
    return value


def _lerp_(m: np.ndarray, g: np.ndarray, w: float, work: np.ndarray) -> None:
    """``m <- lerp(m, g, w)`` in place, written as torch's lerp kernel evaluates it.

    ``m + w*(g - m)`` for ``|w| < 0.5``, else ``g - (g - m)*(1 - w)`` (with
    ``w`` in the array's dtype), which is the more accurate form on each side.
    ``work`` is scratch space.
    """
    np.subtract(g, m, out=work)
    if abs(w) < 0.5:
        np.multiply(work, w, out=work)
        np.add(m, work, out=m)
    else:
        one_minus_w = float(m.dtype.type(1.0) - m.dtype.type(w))
        np.multiply(work, one_minus_w, out=work)
        np.subtract(g, work, out=m)


def _ema_square_(v: np.ndarray, g: np.ndarray, beta: float, work: np.ndarray) -> None:
    """``v <- beta*v + (1 - beta)*g*g`` in place (torch: ``v.mul_(beta).addcmul_(g, g, value=1-beta)``,
    whose scalar kernel evaluates ``v + ((1-beta)*g)*g``; its SIMD kernels fuse the last
    multiply-add).  ``work`` is scratch space."""
    np.multiply(v, beta, out=v)
    np.multiply(g, 1.0 - beta, out=work)
    np.multiply(work, g, out=work)
    np.add(v, work, out=v)


def _addcdiv_(p: np.ndarray, value: float, num: np.ndarray, den: np.ndarray, work: np.ndarray) -> None:
    """``p <- p + (value*num)/den`` in place: torch's ``p.addcdiv_(num, den, value=value)``
    in its kernel's evaluation order.  ``work`` is scratch space, distinct from ``den``."""
    np.multiply(num, value, out=work)
    np.divide(work, den, out=work)
    np.add(p, work, out=p)


def _add_scaled_(p: np.ndarray, alpha: float, x: np.ndarray, work: np.ndarray) -> None:
    """``p <- p + alpha*x`` in place (torch: ``p.add_(x, alpha=alpha)``); ``work`` is scratch."""
    np.multiply(x, alpha, out=work)
    np.add(p, work, out=p)


def _cautious_mask(update: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """timm 1.0.31's cautious mask (Liang et al. 2024, "Cautious Optimizers"): 1 where ``update`` and
    the gradient have the same strict sign, 0 elsewhere, divided by the mask's mean over the whole
    tensor clamped below at 1e-3 (``mask = (exp_avg * grad > 0).to(grad.dtype)``,
    ``mask.div_(mask.mean().clamp_(min=1e-3))``), in the gradient's dtype."""
    mask = (update * grads > 0).astype(grads.dtype)
    mean = mask.mean(dtype=grads.dtype) if mask.size else grads.dtype.type(np.nan)
    return mask / np.maximum(mean, grads.dtype.type(1e-3))


def _decay_scale(lr: float, max_lr: float, corrected: bool) -> float:
    """timm 1.0.31's scale of the decoupled weight decay, its ``wd_scale``: ``lr``, or with
    ``corrected_weight_decay=True`` (arXiv 2506.02285, "Why Gradients Rapidly Increase Near the End of
    Training") ``lr ** 2 / max_lr``, ``max_lr`` the learning rate the optimizer was built with (its
    group's ``max_lr_snapshot``), formed in Python double as timm forms it."""
    return lr ** 2 / float(max_lr) if corrected else lr
