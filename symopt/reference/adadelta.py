"""Adadelta: torch.optim.Adadelta (``_single_tensor_adadelta``), Zeiler (2012), Algorithm 1."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _l2_gradient, _state_array, _ema_square_, _add_scaled_

__all__ = ["adadelta"]


def adadelta(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1.0,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adadelta, as torch.optim.Adadelta.

    With ``g = grads + weight_decay * params``::

        square_avg = rho * square_avg + (1 - rho) * g**2
        delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
        acc_delta = rho * acc_delta + (1 - rho) * delta**2
        params = params - lr * delta

    ``state["square_avg"]`` and ``state["acc_delta"]`` are zeros before step 1, as in torch;
    the operation order is that of ``_single_tensor_adadelta`` (``delta.div_(std).mul_(grad)``).

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (unused: nothing depends on it).
        lr: learning rate (Zeiler's rule has none: 1).
        rho: decay rate of both moving averages.
        eps: added under both square roots.
        weight_decay: L2 penalty coefficient added to the gradient.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = adadelta(np.array([1.0]), np.array([2.0]), {}, 1, rho=0.75, eps=1.0)
        >>> s["square_avg"], p     # square_avg = 0.25 * 4; delta = sqrt(1) / sqrt(2) * 2
        (array([1.]), array([-0.41421356]))

    Reference:
        Zeiler, "ADADELTA: An adaptive learning rate method", 2012; torch.optim.Adadelta
        documentation and ``_single_tensor_adadelta``.
    """
    lr, rho, eps, weight_decay = float(lr), float(rho), float(eps), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        square_avg = _state_array(state, "square_avg", p)
        acc_delta = _state_array(state, "acc_delta", p)
        g = _l2_gradient(p, grads, weight_decay) if weight_decay != 0 else grads
        work = np.empty_like(p)
        std = np.empty_like(p)
        delta = np.empty_like(p)
        _ema_square_(square_avg, g, rho, work)
        np.add(square_avg, eps, out=std)
        np.sqrt(std, out=std)
        np.add(acc_delta, eps, out=delta)
        np.sqrt(delta, out=delta)
        np.divide(delta, std, out=delta)
        np.multiply(delta, g, out=delta)
        _ema_square_(acc_delta, delta, rho, work)
        _add_scaled_(p, -lr, delta, work)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"adadelta": adadelta}
