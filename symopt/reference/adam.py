"""Adam and AdamW: torch.optim.Adam / AdamW (``_single_tensor_adam``), Kingma & Ba (ICLR 2015),
Loshchilov & Hutter (ICLR 2019), AMSGrad (Reddi et al., ICLR 2018), optax's ``eps_root``; and the
conventions other libraries write Adam in."""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from symopt.reference._common import (
    State, _prepare, _l2_gradient, _decayed_gradient, _state_array, _lerp_, _ema_square_,
    _addcdiv_, _cautious_mask, _decay_scale,
)

__all__ = ["adam", "adamw", "adam_convention", "EPSILON_PLACEMENTS"]

#: The accepted values of the ``epsilon`` keyword of :func:`adam` and :func:`adamw`.
EPSILON_PLACEMENTS = ("outside", "inside", "hat")


def _check_epsilon(epsilon: str) -> None:
    if epsilon not in EPSILON_PLACEMENTS:
        raise ValueError(
            "epsilon must be one of 'outside', 'inside', 'hat'; got %r" % (epsilon,)
        )


def _adam_core(
    p: np.ndarray,
    g: np.ndarray,
    state: State,
    t: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled: bool,
    amsgrad: bool,
    bias_correction: bool,
    epsilon: str,
) -> None:
    """The one in-place Adam/AdamW step, mirroring torch's ``_single_tensor_adam``."""
    m = _state_array(state, "exp_avg", p)
    v = _state_array(state, "exp_avg_sq", p)
    v_max = _state_array(state, "max_exp_avg_sq", p) if amsgrad else None

    grads = g
    g = _decayed_gradient(p, g, lr, weight_decay, decoupled)
    work = np.empty_like(p)
    _lerp_(m, g, 1.0 - beta1, work)
    _ema_square_(v, g, beta2, work)
    if v_max is not None:
        # AMSGrad: the running maximum of the raw (uncorrected) v takes v's
        # place in the denominator; every epsilon placement then applies to it.
        np.maximum(v_max, v, out=v_max)
        v = v_max

    if bias_correction:
        bias_correction1 = 1.0 - beta1 ** t
        bias_correction2 = 1.0 - beta2 ** t
    else:
        bias_correction1 = bias_correction2 = 1.0

    # work <- denominator
    if epsilon == "outside":
        step_size = lr / bias_correction1
        np.sqrt(v, out=work)
        if bias_correction:
            np.divide(work, bias_correction2 ** 0.5, out=work)
        np.add(work, eps, out=work)
    elif epsilon == "inside":
        step_size = lr / bias_correction1
        if bias_correction:
            np.divide(v, bias_correction2, out=work)
            np.add(work, eps, out=work)
        else:
            np.add(v, eps, out=work)
        np.sqrt(work, out=work)
    else:  # "hat": Kingma & Ba's efficient form, eps added to the uncorrected sqrt(v)
        step_size = lr * bias_correction2 ** 0.5 / bias_correction1
        np.sqrt(v, out=work)
        np.add(work, eps, out=work)

    # The L2 gradient is a private array no longer needed: reuse it as scratch.
    scratch = g if g is not grads else np.empty_like(p)
    _addcdiv_(p, -step_size, m, work, scratch)


def adam(
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
    amsgrad: bool = False,
    bias_correction: bool = True,
    epsilon: str = "outside",
    eps_root: float = 0.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adam (torch.optim.Adam), L2 weight decay, optionally AMSGrad.

    ``epsilon="both"`` (optax's ``eps`` and ``eps_root``) and
    ``amsgrad="corrected"`` (optax's maximum of the corrected v) are
    computed by :func:`adam_convention`.

    With ``g = grads + weight_decay * params``::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        mhat = m / (1 - beta1**t),  vhat = v / (1 - beta2**t)
        params = params - lr * mhat / (sqrt(vhat) + eps)       # epsilon="outside"
        params = params - lr * mhat / sqrt(vhat + eps)         # epsilon="inside"
        params = params - lr_t * m / (sqrt(v) + eps),          # epsilon="hat"
            lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)

    ``bias_correction=False`` drops both corrections (``mhat = m``,
    ``vhat = v``, ``lr_t = lr``).  ``m`` and ``v`` are kept in
    ``state["exp_avg"]`` and ``state["exp_avg_sq"]`` (zeros before step 1).
    The operation order is torch's single-tensor one:
    ``step_size = lr / bias_correction1``,
    ``denom = sqrt(v) / sqrt(bias_correction2) + eps``,
    ``p += (-step_size * m) / denom``.

    ``amsgrad=True`` (Reddi et al.) keeps ``v_max = max(v_max, v)``, the
    elementwise running maximum of the raw ``v`` (not bias corrected; zeros
    before step 1), in ``state["max_exp_avg_sq"]``, and uses it in place of
    ``v`` in the denominator, as torch does: ``v`` itself, and ``m``, are
    unchanged.  The ``bias_correction`` and ``epsilon`` choices then apply to
    ``v_max`` exactly as they would to ``v`` (e.g. ``epsilon="outside"`` gives
    torch's ``sqrt(v_max) / sqrt(1 - beta2**t) + eps``).

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate.
        beta1: decay rate of the first-moment estimate.
        beta2: decay rate of the second-moment estimate.
        eps: the epsilon term of the denominator.
        weight_decay: L2 penalty coefficient added to the gradient.
        amsgrad: normalise by the running maximum of ``v`` (AMSGrad).
        bias_correction: apply the ``1 - beta**t`` corrections.
        epsilon: where eps goes: ``"outside"`` (torch, Kingma & Ba Algorithm 1),
            ``"inside"`` (under the square root, optax's ``eps_root``) or
            ``"hat"`` (Kingma & Ba's efficient form / TF1 "epsilon hat").
        inplace: update ``params`` and the moments in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Raises:
        ValueError: ``epsilon`` is not one of ``"outside"``, ``"inside"``, ``"hat"``.

    Example:
        >>> import numpy as np
        >>> p, s = adam(np.array([1.0, 1.0]), np.array([0.5, -2.0]), {}, 1, lr=0.1, eps=0.0)
        >>> p          # the first bias-corrected step is lr * sign(g)
        array([0.9, 1.1])
        >>> p, s = adam(np.array([1.0]), np.array([2.0]), {}, 1, amsgrad=True, beta2=0.75)
        >>> p, s = adam(p, np.array([0.0]), s, 2, amsgrad=True, beta2=0.75)
        >>> s["exp_avg_sq"], s["max_exp_avg_sq"]     # v decays, its maximum stays
        (array([0.75]), array([1.]))

    Reference:
        Kingma & Ba, ICLR 2015, Algorithm 1 and Section 2; torch.optim.Adam
        documentation and ``_single_tensor_adam``; optax ``scale_by_adam``;
        Reddi, Kale & Kumar, ICLR 2018 (AMSGrad).
    """
    if epsilon == "both" or amsgrad == "corrected":
        return adam_convention(params, grads, state, t, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                               eps_root=eps_root, weight_decay=weight_decay, amsgrad=amsgrad,
                               bias_correction=bias_correction, epsilon=epsilon, decay="l2",
                               inplace=inplace)
    _check_epsilon(epsilon)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        _adam_core(
            p, grads, state, t,
            float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
            False, bool(amsgrad), bool(bias_correction), epsilon,
        )
    return p, state


def adamw(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    bias_correction: bool = True,
    epsilon: str = "outside",
    eps_root: float = 0.0,
    decay: str = "lr",
    schedule_multiplier: float = 1.0,
    max_lr: float = 1e-3,
    cautious: bool = False,
    corrected_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of AdamW (torch.optim.AdamW), optionally AMSGrad, optionally cautious (timm's
    ``AdamWLegacy(caution=True)``), optionally with timm's corrected weight decay (its
    ``AdamWLegacy(corrected_weight_decay=True)``: the decay scaled by ``lr ** 2 / max_lr``).

    ``decay="paper"`` (Loshchilov & Hutter's Algorithm 2, with
    ``schedule_multiplier`` their η_t) and ``decay="independent"``
    (TF-Addons), ``epsilon="both"`` and ``amsgrad="corrected"`` are computed
    by :func:`adam_convention`.

    Decoupled weight decay: ``params = params * (1 - lr * weight_decay)``
    first, then the :func:`adam` step on the raw gradient (no L2 term).  The
    ``amsgrad``, ``epsilon`` and ``bias_correction`` keywords mean what they
    mean for :func:`adam` (AMSGrad: the running maximum of the raw ``v``,
    ``state["max_exp_avg_sq"]``, replaces ``v`` in the denominator).

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate (also scales the decay, as in torch).
        beta1: decay rate of the first-moment estimate.
        beta2: decay rate of the second-moment estimate.
        eps: the epsilon term of the denominator.
        weight_decay: decoupled weight decay coefficient.
        amsgrad: normalise by the running maximum of ``v`` (AMSGrad).
        bias_correction: apply the ``1 - beta**t`` corrections.
        epsilon: ``"outside"``, ``"inside"`` or ``"hat"``; see :func:`adam`.
        cautious: multiply ``m`` by timm's cautious mask of ``m * grads`` before the step
            (:func:`symopt.reference._common._cautious_mask`), as ``AdamWLegacy(caution=True)`` does.
        max_lr: the learning rate timm's optimizer was built with (its ``max_lr_snapshot``); read
            only with ``corrected_weight_decay``.
        corrected_weight_decay: decay by ``params * (1 - lr ** 2 / max_lr * weight_decay)``, timm's
            ``wd_scale = lr ** 2 / max_lr`` ("Why Gradients Rapidly Increase Near the End of
            Training", arXiv 2506.02285); with ``decay="lr"`` only.
        inplace: update ``params`` and the moments in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Raises:
        ValueError: ``epsilon`` is not one of ``"outside"``, ``"inside"``, ``"hat"``; corrected weight
            decay with another ``decay`` than ``"lr"``.

    Example:
        >>> import numpy as np
        >>> p, s = adamw(np.array([1.0]), np.array([0.0]), {}, 1, lr=0.1, weight_decay=0.5)
        >>> p          # zero gradient: only the decay 1 - 0.1*0.5 acts
        array([0.95])

    Reference:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR
        2019; torch.optim.AdamW documentation and ``_single_tensor_adam`` with
        ``decoupled_weight_decay=True``; Reddi, Kale & Kumar, ICLR 2018.
    """
    if corrected_weight_decay and decay != "lr":
        raise ValueError("corrected weight decay scales the decay by lr ** 2 / max_lr: decay='lr' only")
    if epsilon == "both" or amsgrad == "corrected" or decay != "lr" or cautious or corrected_weight_decay:
        return adam_convention(params, grads, state, t, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                               eps_root=eps_root, weight_decay=weight_decay, amsgrad=amsgrad,
                               bias_correction=bias_correction, epsilon=epsilon, decay=decay,
                               schedule_multiplier=schedule_multiplier, cautious=cautious, inplace=inplace,
                               max_lr=max_lr, corrected_weight_decay=corrected_weight_decay)
    _check_epsilon(epsilon)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        _adam_core(
            p, grads, state, t,
            float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
            True, bool(amsgrad), bool(bias_correction), epsilon,
        )
    return p, state


def adam_convention(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    amsgrad: Any = False,
    bias_correction: bool = True,
    epsilon: str = "outside",
    decay: str = "l2",
    schedule_multiplier: float = 1.0,
    cautious: bool = False,
    inplace: bool = False,
    max_lr: float = 1e-3,
    corrected_weight_decay: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adam in any of the conventions libraries write it in, plainly.

    Written from Kingma & Ba's Algorithm 1, optax's ``scale_by_adam`` and
    ``scale_by_amsgrad``, and Loshchilov & Hutter's Algorithm 2::

        g = grads + weight_decay * params                  # decay="l2" only
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g**2
        v = vmax = max(vmax, v)                            # amsgrad=True (torch)
        mhat = m / (1 - beta1**t);  vhat = v / (1 - beta2**t)   # bias_correction
        vhat = vmax = max(vmax, vhat)                      # amsgrad="corrected" (optax)
        d = mhat / (sqrt(vhat) + eps)                      # epsilon="outside"
            mhat / sqrt(vhat + eps)                        # "inside"
            mhat / (sqrt(vhat) + eps / sqrt(1 - beta2**t)) # "hat" (Keras, TF1)
            mhat / (sqrt(vhat + eps_root) + eps)           # "both" (optax)
        d = d * mask(m * grads)                            # cautious (timm's caution=True)
        params = params - lr * d                           # decay="l2"
        params = params - lr * d - lr * weight_decay * params        # "lr" (torch, optax)
        params = params - lr * d - lr**2 / max_lr * weight_decay * params  # "lr", corrected (timm)
        params = params - schedule_multiplier * (lr * d + weight_decay * params)  # "paper"
        params = params - lr * d - weight_decay * params   # "independent" (TF-Addons)

    Example:
        >>> import numpy as np
        >>> p, s = adam_convention(np.array([1.0]), np.array([0.0]), {}, 1, lr=0.1,
        ...                        weight_decay=0.5, decay="paper", schedule_multiplier=0.5)
        >>> p          # zero gradient: the decay 0.5 * 0.5, not scaled by lr
        array([0.75])

    Reference:
        Kingma & Ba, ICLR 2015, Algorithm 1 and Section 2; optax
        ``scale_by_adam`` (eps, eps_root) and ``scale_by_amsgrad``;
        Loshchilov & Hutter, ICLR 2019, Algorithm 2; tfa.optimizers.AdamW.
    """
    if epsilon not in EPSILON_PLACEMENTS + ("both",):
        raise ValueError("epsilon must be one of 'outside', 'inside', 'hat', 'both'; got %r" % (epsilon,))
    if decay not in ("l2", "lr", "paper", "independent"):
        raise ValueError("decay must be 'l2', 'lr', 'paper' or 'independent'; got %r" % (decay,))
    lr, beta1, beta2, eps, eps_root = float(lr), float(beta1), float(beta2), float(eps), float(eps_root)
    weight_decay, multiplier = float(weight_decay), float(schedule_multiplier)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = _l2_gradient(p, grads, weight_decay) if decay == "l2" and weight_decay != 0.0 else grads
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        m[...] = beta1 * m + (1.0 - beta1) * g
        v[...] = beta2 * v + (1.0 - beta2) * (g * g)
        second = v
        if amsgrad is True:
            v_max = _state_array(state, "max_exp_avg_sq", p)
            np.maximum(v_max, v, out=v_max)
            second = v_max
        c1 = 1.0 - beta1 ** t if bias_correction else 1.0
        c2 = 1.0 - beta2 ** t if bias_correction else 1.0
        mhat, vhat = m / c1, second / c2
        if amsgrad == "corrected":
            v_max = _state_array(state, "max_exp_avg_sq", p)
            np.maximum(v_max, vhat, out=v_max)
            vhat = v_max
        if epsilon == "outside":
            d = mhat / (np.sqrt(vhat) + eps)
        elif epsilon == "inside":
            d = mhat / np.sqrt(vhat + eps)
        elif epsilon == "hat":
            d = mhat / (np.sqrt(vhat) + eps / c2 ** 0.5)
        else:
            d = mhat / (np.sqrt(vhat + eps_root) + eps)
        if cautious:  # timm masks exp_avg by the sign of exp_avg * grad: d has m's sign
            d = d * _cautious_mask(m, g)
        if decay == "l2":
            step = lr * d
        elif decay == "lr":  # timm's corrected weight decay scales it by lr ** 2 / max_lr
            scale = _decay_scale(lr, max_lr, corrected_weight_decay)
            step = lr * d + (scale * weight_decay) * p if weight_decay != 0.0 else lr * d
        elif decay == "paper":
            step = multiplier * (lr * d + weight_decay * p) if weight_decay != 0.0 else multiplier * (lr * d)
        else:
            step = lr * d + weight_decay * p if weight_decay != 0.0 else lr * d
        p -= step.astype(p.dtype, copy=False)
    return p, state



#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"adam": adam, "adamw": adamw}
