"""LAMB: optax 0.2.8's ``lamb`` (``scale_by_adam``, ``add_decayed_weights``, ``scale_by_trust_ratio``)
and timm 1.0.31's ``Lamb`` (``_single_tensor_lamb``, ``_lamb_trust_ratio``, with ``max_grad_norm=None``);
You et al. (2020), Algorithm 2. Each step takes the whole tensor: its norms are of all of it."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import (State, _add_scaled_, _cautious_mask, _decay_scale, _ema_square_, _lerp_, _prepare,
                                     _state_array)
from symopt.reference._optax import _apply_lr_, _corrected, _moment_
from symopt.reference.layerwise import _norm, _trust_ratio

__all__ = ["lamb"]


def lamb(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    convention: str = "optax",
    decoupled_decay: bool = False,
    cautious: bool = False,
    corrected_weight_decay: bool = False,
    inplace: bool = False,
    **hyper: float,
) -> Tuple[np.ndarray, State]:
    """One step of LAMB: optax's ``lamb`` (:func:`_optax_lamb`) with ``convention="optax"``, timm's
    ``Lamb`` with ``max_grad_norm=None`` (:func:`_timm_lamb`) with ``convention="timm"``, where
    ``decoupled_decay``, ``cautious`` and ``corrected_weight_decay`` are timm's ``decoupled_decay``,
    ``caution`` and ``corrected_weight_decay`` (with ``max_lr``, its ``max_lr_snapshot``).

    Example:
        >>> import numpy as np
        >>> p, s = lamb(np.array([3.0, 4.0]), np.array([2.0, -2.0]), {}, 1, lr=0.1, weight_decay=0.0)
        >>> p.round(4)             # the update (1, -1) has norm √2, the parameters 5: steps of 0.5/√2
        array([2.6464, 4.3536])
        >>> p, s = lamb(np.array([3.0, 4.0]), np.array([2.0, -2.0]), {}, 1, convention="timm", lr=0.1,
        ...             weight_decay=0.0, eps=0.0)
        >>> p                      # timm with λ = 0: no trust ratio, Adam's first step of lr·sign(g)
        array([2.9, 4.1])
    """
    if convention == "timm":
        return _timm_lamb(params, grads, state, t, decoupled_decay=decoupled_decay, cautious=cautious,
                          corrected_weight_decay=corrected_weight_decay, inplace=inplace, **hyper)
    if convention != "optax" or decoupled_decay or cautious or corrected_weight_decay:
        raise ValueError(f"no LAMB with convention={convention!r}, decoupled_decay={decoupled_decay!r}, "
                         f"cautious={cautious!r}")
    return _optax_lamb(params, grads, state, t, inplace=inplace, **hyper)


def _optax_lamb(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of LAMB, as optax's ``lamb``::

        mu = (1 - beta1) * g + beta1 * mu;  nu = (1 - beta2) * g*g + beta2 * nu
        update = (mu / (1 - beta1**t)) / (sqrt(nu / (1 - beta2**t) + eps_root) + eps) + weight_decay * params
        params = params - lr * trust_ratio(params, update) * update

    with ``trust_ratio = ‖params‖/‖update‖`` over the whole tensor, 1 where either is 0.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr, beta1, beta2, eps, eps_root, weight_decay: optax's ``learning_rate``, ``b1``, ``b2``,
            ``eps``, ``eps_root``, ``weight_decay``.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = _optax_lamb(np.array([3.0, 4.0]), np.array([2.0, -2.0]), {}, 1, lr=0.1)
        >>> p.round(4)             # the update (1, -1) has norm √2, the parameters 5: steps of 0.5/√2
        array([2.6464, 4.3536])

    Reference:
        You et al., "Large Batch Optimization for Deep Learning: Training BERT in 76 minutes",
        ICLR 2020, Algorithm 2; optax ``lamb``.
    """
    lr, beta1, beta2, eps, eps_root = float(lr), float(beta1), float(beta2), float(eps), float(eps_root)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        mu = _state_array(state, "mu", p)
        nu = _state_array(state, "nu", p)
        work = np.empty_like(p)
        _moment_(mu, g, beta1, work)
        _moment_(nu, g * g, beta2, work)
        dtype = p.dtype.type
        update = _corrected(mu, beta1, t) / (np.sqrt(_corrected(nu, beta2, t) + dtype(eps_root)) + dtype(eps))
        if weight_decay != 0.0:
            update = update + weight_decay * p
        ratio = _trust_ratio(p, update)
        _apply_lr_(p, lr, (update * dtype(ratio)).astype(p.dtype, copy=False), work)
    return p, state


def _timm_trust_ratio(param_norm: float, update_norm: float) -> float:
    """timm ``_lamb_trust_ratio`` (``trust_clip=False``): ``‖p‖/‖u‖``, and 1 where either norm is 0."""
    if param_norm > 0.0 and update_norm > 0.0:
        return param_norm / update_norm
    return 1.0


def _timm_lamb(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-6,
    weight_decay: float = 0.01,
    max_lr: float = 1e-3,
    decoupled_decay: bool = False,
    cautious: bool = False,
    corrected_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of timm 1.0.31's ``Lamb`` with ``max_grad_norm=None`` (no global clipping) and its other
    options at their defaults (``grad_averaging``, ``bias_correction``, no ``trust_clip``, no
    ``always_adapt``), as ``_single_tensor_lamb`` computes it::

        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g*g
        update = (m / (1 - beta1**t)) / (sqrt(v) / sqrt(1 - beta2**t) + eps)
        update *= mask(update, g)                        # if cautious (timm's caution=True)
        if weight_decay != 0:
            if decoupled_decay: params = params + (-lr * weight_decay) * params   # lr**2/max_lr for lr if corrected
            else:               update = update + weight_decay * params
            update *= trust_ratio(‖params‖, ‖update‖)    # the decayed params' norm where decoupled
        params = params + (-lr) * update

    ``trust_ratio`` is ``‖params‖/‖update‖``, 1 where either is 0: with ``weight_decay = 0`` the step
    is Adam's, unscaled. The moments are kept as timm's ``exp_avg`` and ``exp_avg_sq``.

    Args:
        params, grads, state, t, inplace: as every reference's.
        lr, beta1, beta2, eps, weight_decay: timm's ``lr``, ``betas``, ``eps``, ``weight_decay``.
        decoupled_decay: timm's ``decoupled_decay``.
        max_lr, corrected_weight_decay: timm's corrected weight decay (arXiv 2506.02285), with
            ``decoupled_decay`` only (timm passes ``max_lr`` only then): the decay scaled by
            ``lr ** 2 / max_lr``, ``max_lr`` the learning rate timm's optimizer was built with.
        cautious: timm's ``caution``: the update multiplied by the cautious mask of ``update * grads``
            (:func:`symopt.reference._common._cautious_mask`) before the decay.

    Returns:
        ``(params, state)`` after the step.

    Reference:
        timm 1.0.31 ``timm/optim/lamb.py`` (``Lamb.step``, ``_single_tensor_lamb``,
        ``_lamb_trust_ratio``); You et al. (2020), Algorithm 2.
    """
    lr, beta1, beta2, eps, weight_decay = float(lr), float(beta1), float(beta2), float(eps), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        work = np.empty_like(p)
        _lerp_(m, g, 1.0 - beta1, work)  # beta3 == 1 - beta1: exp_avg.lerp_(grad, beta3)
        _ema_square_(v, g, beta2, work)
        bias_correction1, bias_correction2 = 1.0 - beta1**t, 1.0 - beta2**t
        denom = np.sqrt(v) / p.dtype.type(bias_correction2**0.5) + p.dtype.type(eps)
        update = (m / p.dtype.type(bias_correction1)) / denom
        if cautious:
            update = update * _cautious_mask(update, g)
        if weight_decay != 0.0:
            if decoupled_decay:
                # p.add_(p, alpha=-wd_scale * wd), wd_scale = lr if max_lr is None else lr ** 2 / max_lr
                _add_scaled_(p, -_decay_scale(lr, max_lr, corrected_weight_decay) * weight_decay, p.copy(), work)
            else:
                update = update + p * p.dtype.type(weight_decay)  # update.add_(p, alpha=wd)
            ratio = _timm_trust_ratio(_norm(p), _norm(update))
            update = update * p.dtype.type(ratio)
        _add_scaled_(p, -lr, update.astype(p.dtype, copy=False), work)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"lamb": lamb}
