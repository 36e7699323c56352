"""RMSprop: torch.optim.RMSprop (``_single_tensor_rmsprop``), Tieleman & Hinton (2012), centered after
Graves (2013); its other conventions; and TensorFlow's form as timm 1.0.31's ``RMSpropTF`` writes it
(``_single_tensor_rmsprop_tf``, with its cautious mask)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import (
    State, _prepare, _l2_gradient, _decayed_gradient, _state_array, _lerp_, _ema_square_,
    _addcdiv_, _add_scaled_, _cautious_mask, _decay_scale,
)

__all__ = ["rmsprop", "rmsprop_convention", "rmsproptf"]


def rmsprop(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    epsilon: str = "outside",
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of RMSprop, as torch.optim.RMSprop.

    ``epsilon="inside"`` (TensorFlow, optax) is :func:`rmsprop_convention`.

    With ``g = grads + weight_decay * params``::

        square_avg = alpha * square_avg + (1 - alpha) * g**2
        grad_avg   = alpha * grad_avg + (1 - alpha) * g            # centered only
        avg = sqrt(square_avg - grad_avg**2) + eps                 # centered
        avg = sqrt(square_avg) + eps                               # not centered
        buf = momentum * buf + g / avg;  params = params - lr * buf    # momentum > 0
        params = params - lr * g / avg                                 # momentum == 0

    eps is added outside the square root.  The state arrays
    ``state["square_avg"]``, ``state["grad_avg"]`` (only when ``centered``) and
    ``state["momentum_buffer"]`` (only when ``momentum > 0``) are zeros before
    step 1, as in torch (unlike SGD's buffer, which starts as the gradient).
    ``grad_avg`` is updated with torch's lerp; the operation order is that of
    ``_single_tensor_rmsprop``.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (unused: RMSprop
            corrects no bias).
        lr: learning rate.
        alpha: decay rate of the averages.
        eps: added to the root of the (centered) second moment.
        weight_decay: L2 penalty coefficient added to the gradient.
        momentum: momentum factor; the buffer exists only when it is > 0.
        centered: normalise by an estimate of the variance instead of the
            second moment.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = rmsprop(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, alpha=0.75, eps=0.0)
        >>> s["square_avg"], p      # square_avg = 0.25 * 4 = 1; p = 1 - 0.1 * 2 / 1
        (array([1.]), array([0.8]))

    Reference:
        Tieleman & Hinton, Lecture 6.5, 2012; Graves, 2013 (centered form);
        torch.optim.RMSprop documentation and ``_single_tensor_rmsprop``.
    """
    if epsilon != "outside":
        return rmsprop_convention(params, grads, state, t, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                  momentum=momentum, centered=centered, epsilon=epsilon, inplace=inplace)
    lr, alpha, eps = float(lr), float(alpha), float(eps)
    weight_decay, mu = float(weight_decay), float(momentum)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        square_avg = _state_array(state, "square_avg", p)
        grad_avg = _state_array(state, "grad_avg", p) if centered else None
        buf = _state_array(state, "momentum_buffer", p) if mu > 0.0 else None
        g = _decayed_gradient(p, grads, lr, weight_decay, False)
        work = np.empty_like(p)
        avg = np.empty_like(p)

        _ema_square_(square_avg, g, alpha, work)
        if grad_avg is not None:
            _lerp_(grad_avg, g, 1.0 - alpha, work)
            # torch: square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
            np.multiply(grad_avg, grad_avg, out=avg)
            np.subtract(square_avg, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(square_avg, out=avg)
        np.add(avg, eps, out=avg)

        if buf is not None:
            # torch: buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
            np.multiply(buf, mu, out=buf)
            _addcdiv_(buf, 1.0, g, avg, work)
            _add_scaled_(p, -lr, buf, work)
        else:
            _addcdiv_(p, -lr, g, avg, work)
    return p, state


def rmsprop_convention(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    epsilon: str = "inside",
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of RMSprop with eps under the square root (TensorFlow; optax's
    ``scale_by_rms(eps_in_sqrt=True)``), otherwise as :func:`rmsprop`::

        g = grads + weight_decay * params
        square_avg = alpha * square_avg + (1 - alpha) * g**2
        grad_avg = alpha * grad_avg + (1 - alpha) * g                # centered
        d = g / sqrt(square_avg - grad_avg**2 + eps)                 # centered
        d = g / sqrt(square_avg + eps)                               # not centered
        buf = momentum * buf + d;  params = params - lr * buf        # momentum > 0
        params = params - lr * d                                     # momentum == 0

    Example:
        >>> import numpy as np
        >>> p, s = rmsprop_convention(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, alpha=0.75, eps=3.0)
        >>> p      # square_avg = 1; 1 - 0.1 * 2 / sqrt(1 + 3)
        array([0.9])

    Reference:
        tf.keras.optimizers.RMSprop; optax ``scale_by_rms`` and
        ``scale_by_stddev`` with ``eps_in_sqrt=True``.
    """
    if epsilon == "outside":
        return globals()["rmsprop"](params, grads, state, t, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                    momentum=momentum, centered=centered, inplace=inplace)
    if epsilon != "inside":
        raise ValueError("epsilon must be 'outside' or 'inside'; got %r" % (epsilon,))
    lr, alpha, eps = float(lr), float(alpha), float(eps)
    weight_decay, mu = float(weight_decay), float(momentum)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = _l2_gradient(p, grads, weight_decay) if weight_decay != 0.0 else grads
        square_avg = _state_array(state, "square_avg", p)
        square_avg[...] = alpha * square_avg + (1.0 - alpha) * (g * g)
        second = square_avg
        if centered:
            grad_avg = _state_array(state, "grad_avg", p)
            grad_avg[...] = alpha * grad_avg + (1.0 - alpha) * g
            second = square_avg - grad_avg * grad_avg
        d = g / np.sqrt(second + eps)
        if mu > 0.0:
            buf = _state_array(state, "momentum_buffer", p)
            buf[...] = mu * buf + d
            d = buf
        p -= (lr * d).astype(p.dtype, copy=False)
    return p, state


def rmsproptf(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    momentum: float = 0.9,
    alpha: float = 0.9,
    eps: float = 1e-10,
    weight_decay: float = 0.0,
    max_lr: float = 1e-2,
    centered: bool = False,
    lr_in_momentum: bool = True,
    decoupled_decay: bool = False,
    cautious: bool = False,
    corrected_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of RMSprop as TensorFlow writes it, as timm 1.0.31's ``RMSpropTF``
    (``_single_tensor_rmsprop_tf``, operation by operation)::

        p = p * (1 - lr * weight_decay)                         # decoupled_decay (lr**2/max_lr if corrected)
        g = grads + weight_decay * p                            # otherwise (L2)
        square_avg = square_avg + (1 - alpha) * (g**2 - square_avg)       # from 1, not 0
        grad_avg = grad_avg + (1 - alpha) * (g - grad_avg)                # centered, from 0
        avg = sqrt(square_avg - grad_avg**2 + eps)    # centered; else sqrt(square_avg + eps)
        buf = momentum * buf + lr * g / avg;  p = p - mask(buf)           # lr_in_momentum
        buf = momentum * buf + g / avg;  p = p - lr * mask(buf)           # not lr_in_momentum
        p = p - lr * g / avg                                              # momentum == 0: no buffer

    ``mask(buf)`` is ``buf`` itself, or with ``cautious`` (timm's ``caution=True``) ``buf`` times
    timm's cautious mask of ``buf * g`` (:func:`symopt.reference._common._cautious_mask`); the state
    keeps the unmasked buffer, and without a buffer nothing is masked. ``state["square_avg"]`` starts
    at ones (torch: zeros), ``state["grad_avg"]`` (centered) and ``state["momentum_buffer"]``
    (momentum > 0) at zeros.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (unused: nothing is bias-corrected).
        lr: learning rate.
        momentum: momentum factor; the buffer exists only when it is > 0 (timm's class defaults
            to 0, its training script to 0.9).
        alpha: decay rate of the averages.
        eps: added under the square root.
        weight_decay: L2 penalty coefficient added to the gradient, or with ``decoupled_decay``
            the decay of the parameters, scaled by ``lr``.
        centered: normalise by an estimate of the variance instead of the second moment.
        lr_in_momentum: accumulate ``lr * g / avg`` in the buffer (TensorFlow), else ``g / avg``
            with the step scaled by ``lr`` (torch).
        decoupled_decay: decay the parameters before the step instead of the L2 gradient.
        cautious: mask the buffer's step by its agreement in sign with the gradient.
        max_lr, corrected_weight_decay: timm's corrected weight decay (arXiv 2506.02285): the
            decoupled decay scaled by ``lr ** 2 / max_lr``, ``max_lr`` the learning rate timm's
            optimizer was built with (its ``max_lr_snapshot``); only with ``decoupled_decay``.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = rmsproptf(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, alpha=0.75, eps=0.0, momentum=0.0)
        >>> s["square_avg"], p      # square_avg = 1 + 0.25 * (4 - 1) = 1.75; p = 1 - 0.1 * 2 / sqrt(1.75)
        (array([1.75]), array([0.84881421]))

    Reference:
        timm 1.0.31 ``timm/optim/rmsprop_tf.py``; tf.keras.optimizers.RMSprop; Tieleman & Hinton,
        Lecture 6.5, 2012; Graves, 2013 (centered form); Liang et al., "Cautious Optimizers", 2024.
    """
    lr, alpha, eps = float(lr), float(alpha), float(eps)
    weight_decay, mu = float(weight_decay), float(momentum)
    one_minus_alpha = 1.0 - alpha
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        square_avg = _state_array(state, "square_avg", p, fill=1.0)  # timm: torch.ones_like
        grad_avg = _state_array(state, "grad_avg", p) if centered else None
        buf = _state_array(state, "momentum_buffer", p) if mu > 0.0 else None
        g = np.asarray(grads, dtype=p.dtype)
        if weight_decay != 0.0:
            if decoupled_decay:  # param.mul_(1. - wd_scale * weight_decay), wd_scale lr or lr ** 2 / max_lr
                np.multiply(p, 1.0 - _decay_scale(lr, max_lr, corrected_weight_decay) * weight_decay, out=p)
            else:  # grad = grad.add(param, alpha=weight_decay)
                g = _l2_gradient(p, g, weight_decay)
        work = np.empty_like(p)
        avg = np.empty_like(p)

        # square_avg.add_(grad.pow(2) - square_avg, alpha=one_minus_alpha)
        np.multiply(g, g, out=work)
        np.subtract(work, square_avg, out=work)
        _add_scaled_(square_avg, one_minus_alpha, work, work)
        if grad_avg is not None:
            # grad_avg.add_(grad - grad_avg, alpha=one_minus_alpha)
            np.subtract(g, grad_avg, out=work)
            _add_scaled_(grad_avg, one_minus_alpha, work, work)
            # square_avg.addcmul(grad_avg, grad_avg, value=-1).add(eps).sqrt_()
            np.multiply(grad_avg, grad_avg, out=avg)
            np.subtract(square_avg, avg, out=avg)
        else:
            avg[...] = square_avg
        np.add(avg, eps, out=avg)
        np.sqrt(avg, out=avg)

        if buf is None:  # _addcdiv_scaled_(param, grad, avg, -lr)
            _addcdiv_(p, -lr, g, avg, work)
            return p, state
        np.multiply(buf, mu, out=buf)
        # buf.addcdiv_(grad, avg, value=lr), or buf.addcdiv_(grad, avg)
        _addcdiv_(buf, lr if lr_in_momentum else 1.0, g, avg, work)
        step = buf * _cautious_mask(buf, g) if cautious else buf
        if lr_in_momentum:  # param.add_(-buf)
            np.subtract(p, step, out=p)
        else:  # param.add_(buf, alpha=-lr)
            _add_scaled_(p, -lr, step, work)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"rmsprop": rmsprop, "rmsproptf": rmsproptf}
