"""NAdam: torch.optim.NAdam (``_single_tensor_nadam``), Dozat (ICLR 2016 workshop); optax 0.2.8's
``nadam`` and ``nadamw``; timm 1.0.31's ``NAdamW`` (``_single_tensor_nadamw``), and each with timm's
cautious mask."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import (
    State, _prepare, _decayed_gradient, _state_array, _lerp_, _ema_square_, _addcdiv_, _cautious_mask, _decay_scale,
)

__all__ = ["nadam"]


def _mu_product(state: State) -> np.ndarray:
    """NAdam's running product of the momentum coefficients as a 0-d array (1.0 before step 1).

    A 0-d float64 array, so that ``inplace=True`` can update it in place; a
    Python float (e.g. torch's state read with ``.item()``) is converted.
    """
    value = state.get("mu_product")
    if not isinstance(value, np.ndarray):
        value = np.array(1.0 if value is None else value, dtype=np.float64)
        state["mu_product"] = value
    return value


def nadam(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 2e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
    eps_root: float = 0.0,
    max_lr: float = 2e-3,
    convention: str = "torch",
    decoupled_weight_decay: bool = False,
    cautious: bool = False,
    corrected_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of NAdam (Adam with Nesterov momentum), as torch.optim.NAdam.

    Weight decay first: ``params *= 1 - lr * weight_decay`` if
    ``decoupled_weight_decay`` (NAdamW), else ``g = grads + weight_decay *
    params``.  Then, with Dozat's momentum schedule::

        mu_t     = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))
        mu_next  = beta1 * (1 - 0.5 * 0.96**((t + 1) * momentum_decay))
        mu_product = mu_product * mu_t                   # prod of mu_1 .. mu_t
        m = beta1 * m + (1 - beta1) * g                  # note: beta1, not mu_t
        v = beta2 * v + (1 - beta2) * g**2
        denom = sqrt(v / (1 - beta2**t)) + eps
        params += (-lr * (1 - mu_t) / (1 - mu_product)) * g / denom
        params += (-lr * mu_next / (1 - mu_product * mu_next)) * m / denom

    as two separate ``addcdiv`` steps in this order, the two scalar factors
    formed in Python double.  ``mu_t`` and ``mu_next`` are both computed from
    the formula (``mu_next`` is not carried over: it is recomputed as the
    next step's ``mu_t``), and ``mu_product * mu_next`` is not stored.
    ``state["exp_avg"]`` and ``state["exp_avg_sq"]`` are zeros before step 1;
    ``state["mu_product"]`` is a 0-d float64 array starting at 1.0 whatever
    the dtype of ``params`` (torch keeps it in its scalar dtype and reads it
    as a Python float).

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate.
        beta1: decay rate of the first-moment estimate and scale of ``mu_t``.
        beta2: decay rate of the second-moment estimate.
        eps: the epsilon term of the denominator (outside the root).
        weight_decay: weight decay coefficient (L2 or decoupled).
        momentum_decay: psi in ``0.96**(t * psi)``.
        decoupled_weight_decay: decay the parameters (NAdamW) instead of
            adding an L2 term to the gradient.
        convention: ``"torch"`` (above), ``"optax"`` (:func:`_optax_nadam`) or
            ``"timm"`` (:func:`_timm_nadamw`).
        eps_root: optax's ``eps_root`` (``convention="optax"`` only).
        cautious: multiply the update by timm's cautious mask of ``update *
            g`` (:func:`symopt.reference._common._cautious_mask`, ``g`` the
            gradient with its L2 term), before the decoupled decay; timm's
            ``NAdamW(caution=True)`` with ``convention="timm"``.
        max_lr, corrected_weight_decay: timm's corrected weight decay (arXiv
            2506.02285), the decoupled decay scaled by ``lr ** 2 / max_lr``,
            ``max_lr`` the learning rate timm's NAdamW was built with (its
            ``max_lr_snapshot``); ``convention="timm"`` only.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = nadam(np.array([1.0]), np.array([2.0]), {}, 1, momentum_decay=0.0, eps=0.0)
        >>> float(s["mu_product"])   # momentum_decay=0: every mu_t is beta1 / 2
        0.45
        >>> p     # v/(1-beta2) = 4, denom 2: 1 - 0.002 * (0.55/0.55 * 2/2 + 0.45/(1 - 0.45**2) * 0.2/2)
        array([0.99788715])

    Reference:
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016
        workshop; torch.optim.NAdam documentation and ``_single_tensor_nadam``.
    """
    if convention == "optax":
        return _optax_nadam(params, grads, state, t, lr=lr, beta1=beta1, beta2=beta2, eps=eps, eps_root=eps_root,
                            weight_decay=weight_decay, decoupled=bool(decoupled_weight_decay),
                            cautious=bool(cautious), inplace=inplace)
    if convention == "timm":
        return _timm_nadamw(params, grads, state, t, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                            weight_decay=weight_decay, decoupled=bool(decoupled_weight_decay),
                            cautious=bool(cautious), inplace=inplace, max_lr=max_lr,
                            corrected=bool(corrected_weight_decay))
    if corrected_weight_decay:
        raise ValueError("corrected weight decay is timm's: convention='timm' only")
    if convention != "torch":
        raise ValueError(f"unknown convention {convention!r}")
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    weight_decay, psi = float(weight_decay), float(momentum_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        mu_product = _mu_product(state)
        g = _decayed_gradient(p, grads, lr, weight_decay, bool(decoupled_weight_decay))

        mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
        np.multiply(mu_product, mu, out=mu_product)
        product = float(mu_product)
        product_next = product * mu_next

        work = np.empty_like(p)
        _lerp_(m, g, 1.0 - beta1, work)
        _ema_square_(v, g, beta2, work)
        # torch: denom = exp_avg_sq.div(bias_correction2).sqrt(); denom.add_(eps)
        denom = np.empty_like(p)
        np.divide(v, 1 - beta2 ** t, out=denom)
        np.sqrt(denom, out=denom)
        np.add(denom, eps, out=denom)
        if cautious:  # the two terms' sum, masked by its agreement with g, then the step
            update = ((1.0 - mu) / (1.0 - product)) * (g / denom) + (mu_next / (1.0 - product_next)) * (m / denom)
            update = update * _cautious_mask(update, g)
            p += (-lr * update).astype(p.dtype, copy=False)
            return p, state
        _addcdiv_(p, (-lr * (1.0 - mu)) / (1.0 - product), g, denom, work)
        _addcdiv_(p, (-lr * mu_next) / (1.0 - product_next), m, denom, work)
    return p, state



def _optax_nadam(params, grads, state, t, *, lr, beta1, beta2, eps, eps_root, weight_decay, decoupled, cautious,
                 inplace):
    """optax 0.2.8's ``nadam`` (``decoupled=False``, its L2 decay written as
    ``optax.add_decayed_weights`` chained first) and ``nadamw``, in optax's order::

        g = g + weight_decay * params                       # nadam with L2 only
        mu = (1 - beta1) * g + beta1 * mu;  nu = (1 - beta2) * g*g + beta2 * nu
        mu_hat = beta1 * (mu / (1 - beta1**(t+1))) + (1 - beta1) * (g / (1 - beta1**t))
        u = mu_hat / (sqrt(nu / (1 - beta2**t) + eps_root) + eps)
        u = u * mask(u * g)                                 # cautious only (timm's mask)
        u = u + weight_decay * params                       # nadamw only
        params = params + (-lr) * u

    No momentum schedule: optax's Nesterov step is Dozat's with μ_t = β₁ at every step. The
    moments are ``state["mu"]`` and ``state["nu"]`` (optax's names)."""
    lr, beta1, beta2, eps, eps_root = float(lr), float(beta1), float(beta2), float(eps), float(eps_root)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        if weight_decay != 0.0 and not decoupled:
            g = g + weight_decay * p
        mu = _state_array(state, "mu", p)
        nu = _state_array(state, "nu", p)
        mu[...] = (1.0 - beta1) * g + beta1 * mu
        nu[...] = (1.0 - beta2) * (g * g) + beta2 * nu
        dtype = p.dtype.type
        mu_hat = beta1 * (mu / dtype(1.0 - beta1 ** (t + 1))) + (1.0 - beta1) * (g / dtype(1.0 - beta1**t))
        update = mu_hat / (np.sqrt(nu / dtype(1.0 - beta2**t) + dtype(eps_root)) + dtype(eps))
        if cautious:
            update = update * _cautious_mask(update, g)
        if weight_decay != 0.0 and decoupled:
            update = update + weight_decay * p
        p += (-lr * update).astype(p.dtype, copy=False)
    return p, state


def _timm_nadamw(params, grads, state, t, *, lr, beta1, beta2, eps, weight_decay, decoupled, cautious, inplace,
                 max_lr=2e-3, corrected=False):
    """timm 1.0.31's ``NAdamW`` (``_single_tensor_nadamw``, its path on CPU tensors without
    ``capturable``; ``clipping_threshold`` and ``maximize`` left at their defaults), in timm's order::

        params *= 1 - lr * weight_decay                     # always decoupled in timm
                                                            # (lr ** 2 / max_lr for lr if corrected)
        m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g*g
        m_ahead = lerp(m, g, 1 - beta1)                     # a new tensor: the state keeps m
        denom = sqrt(v) / sqrt(1 - beta2**t) + eps
        m_ahead *= mask(m_ahead * g)                        # caution=True only
        params += (-lr / (1 - beta1**t)) * m_ahead / denom  # one addcdiv

    ``decoupled=False`` adds ``weight_decay * params`` to the gradient instead, a form timm does not
    have (the rule takes only ``weight_decay = 0`` there). The moments are ``state["exp_avg"]`` and
    ``state["exp_avg_sq"]`` (timm's names); scalars are formed in Python double, as timm forms them."""
    lr, beta1, beta2, eps, weight_decay = float(lr), float(beta1), float(beta2), float(eps), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        # timm: wd_scale = lr if max_lr is None else lr ** 2 / max_lr; param.mul_(1. - wd_scale * weight_decay)
        g = _decayed_gradient(p, np.asarray(grads, dtype=p.dtype), _decay_scale(lr, max_lr, corrected),
                              weight_decay, decoupled)
        work = np.empty_like(p)
        _lerp_(m, g, 1.0 - beta1, work)
        _ema_square_(v, g, beta2, work)
        step_size = lr / (1.0 - beta1**t)
        ahead = m.copy()
        _lerp_(ahead, g, 1.0 - beta1, work)
        denom = np.empty_like(p)
        np.sqrt(v, out=denom)
        np.divide(denom, (1.0 - beta2**t) ** 0.5, out=denom)
        np.add(denom, eps, out=denom)
        if cautious:
            np.multiply(ahead, _cautious_mask(ahead, g), out=ahead)
        _addcdiv_(p, -step_size, ahead, denom, work)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"nadam": nadam}
