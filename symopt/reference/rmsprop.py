"""RMSprop: torch.optim.RMSprop (``_single_tensor_rmsprop``), Tieleman & Hinton (2012), centered after
Graves (2013); and its other conventions."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import (
    State, _prepare, _l2_gradient, _decayed_gradient, _state_array, _lerp_, _ema_square_,
    _addcdiv_, _add_scaled_,
)

__all__ = ["rmsprop", "rmsprop_convention"]


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



#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"rmsprop": rmsprop}
