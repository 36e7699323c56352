"""Rprop: torch.optim.Rprop (``_single_tensor_rprop``), Riedmiller & Braun (1993)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _state_array

__all__ = ["rprop"]


def rprop(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    etaminus: float = 0.5,
    etaplus: float = 1.2,
    step_size_min: float = 1e-6,
    step_size_max: float = 50.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Rprop, as torch.optim.Rprop (whose ``etas`` is ``(etaminus, etaplus)`` and
    ``step_sizes`` is ``(step_size_min, step_size_max)``)::

        sign = sign(grads * prev)                         # 1, -1 or 0 per element
        factor = etaplus where sign > 0, etaminus where sign < 0, 1 where sign == 0
        step_size = clamp(step_size * factor, step_size_min, step_size_max)
        g = grads, with 0 where sign < 0
        params = params - sign(g) * step_size
        prev = g

    ``state["prev"]`` starts at zeros and ``state["step_size"]`` at ``lr``, created on the first
    step as torch creates them.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (unused).
        lr: the initial step size.
        etaminus, etaplus: the factors after a change of sign and after the same sign.
        step_size_min, step_size_max: the clamp of the step sizes.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = rprop(np.array([1.0, 1.0]), np.array([2.0, -3.0]), {"prev": np.array([1.0, 1.0]),
        ...              "step_size": np.array([0.5, 0.5])}, 2)
        >>> s["step_size"], s["prev"], p      # grown by 1.2; shrunk by 0.5, the gradient kept as 0
        (array([0.6 , 0.25]), array([2., 0.]), array([0.4, 1. ]))

    Reference:
        Riedmiller & Braun, "A direct adaptive method for faster backpropagation learning: the
        RPROP algorithm", 1993; torch.optim.Rprop documentation and ``_single_tensor_rprop``.
    """
    etaminus, etaplus = float(etaminus), float(etaplus)
    step_size_min, step_size_max = float(step_size_min), float(step_size_max)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        prev = _state_array(state, "prev", p)
        step_size = _state_array(state, "step_size", p, float(lr))
        sign = np.sign(grads * prev)
        factor = np.where(sign > 0, p.dtype.type(etaplus), np.where(sign < 0, p.dtype.type(etaminus), p.dtype.type(1)))
        np.multiply(step_size, factor, out=step_size)
        np.maximum(step_size, p.dtype.type(step_size_min), out=step_size)
        np.minimum(step_size, p.dtype.type(step_size_max), out=step_size)
        g = np.where(sign < 0, p.dtype.type(0), grads).astype(p.dtype, copy=False)
        np.subtract(p, np.sign(g) * step_size, out=p)
        np.copyto(prev, g)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"rprop": rprop}
