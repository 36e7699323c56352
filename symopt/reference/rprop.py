"""Rprop: torch.optim.Rprop (``_single_tensor_rprop``), Riedmiller & Braun (1993); and optax 0.2.8's
``rprop`` (``scale_by_rprop`` in ``optax/_src/transform.py``, then ``scale(-1)``)."""

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
    convention: str = "torch",
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
        convention: ``"torch"``, or ``"optax"`` for optax's ``rprop`` (:func:`_optax_rprop`).
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
    if convention == "optax":
        return _optax_rprop(params, grads, state, lr=float(lr), etaminus=etaminus, etaplus=etaplus,
                            step_size_min=step_size_min, step_size_max=step_size_max, inplace=inplace)
    if convention != "torch":
        raise ValueError(f"unknown convention {convention!r}")
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


def _optax_rprop(params, grads, state, *, lr, etaminus, etaplus, step_size_min, step_size_max, inplace):
    """optax 0.2.8's ``rprop``, in optax's order (``scale_by_rprop``, then ``scale(-1)`` and
    ``apply_updates``)::

        s = grads * prev_updates
        step_sizes = step_sizes where s == 0, else clip(step_sizes * (etaplus if s > 0 else etaminus),
                                                        step_size_min, step_size_max)
        new_prev = 0 where s < 0, else step_sizes * sign(grads)
        updates = 0 where s < 0, else prev_updates           # the previous step's update
        params = params + (-1 * updates);  prev_updates = new_prev

    ``state["step_sizes"]`` starts at ``lr`` and ``state["prev_updates"]`` at zeros (optax's
    ``ScaleByRpropState``), so that the first step moves nothing. Unlike torch, the step size is
    neither changed nor clamped where ``s`` is 0 (the first step, and the step after a change of sign).

    Example:
        >>> import numpy as np
        >>> p, s = rprop(np.array([1.0, 1.0]), np.array([2.0, -3.0]), {}, 1, lr=0.5, convention="optax")
        >>> p, s["prev_updates"]                  # nothing moves; the step to take next is kept
        (array([1., 1.]), array([ 0.5, -0.5]))
        >>> p, s = rprop(p, np.array([2.0, 3.0]), s, 2, convention="optax")
        >>> p, s["step_sizes"], s["prev_updates"]  # the kept step where the sign held; 0 where it changed
        (array([0.5, 1. ]), array([0.6 , 0.25]), array([0.6, 0. ]))
    """
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        dtype = p.dtype.type
        grads = np.asarray(grads, dtype=p.dtype)
        sizes = _state_array(state, "step_sizes", p, lr)
        prev = _state_array(state, "prev_updates", p)
        s = grads * prev
        factor = np.where(s > 0, dtype(etaplus), dtype(etaminus))
        clipped = np.minimum(np.maximum(sizes * factor, dtype(step_size_min)), dtype(step_size_max))
        np.copyto(sizes, np.where(s == 0, sizes, clipped))
        updates = np.where(s < 0, dtype(0), prev)
        np.copyto(prev, np.where(s < 0, dtype(0), sizes * np.sign(grads)))
        np.add(p, dtype(-1) * updates, out=p)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"rprop": rprop}
