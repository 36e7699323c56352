"""Yogi: Zaheer et al. (NeurIPS 2018); optax 0.2.8 ``yogi`` / ``scale_by_yogi``."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _state_array
from symopt.reference._optax import _apply_lr_, _corrected, _moment_

__all__ = ["yogi"]


def yogi(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-3,
    initial_accumulator_value: float = 1e-6,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Yogi, as optax's ``yogi``.

    ::

        mu = (1 - beta1) * g + beta1 * mu
        nu = nu - (1 - beta2) * sign(nu - g*g) * g*g    # towards g², by (1 - beta2) g² at most
        params = params - lr * (mu / (1 - beta1**t)) / (sqrt(nu / (1 - beta2**t)) + eps)

    Both moments (``state["mu"]``, ``state["nu"]``) start at ``initial_accumulator_value``, as
    optax's do (its ``yogi`` keeps the default, 1e-6).

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr, beta1, beta2, eps: optax's ``learning_rate``, ``b1``, ``b2``, ``eps``.
        initial_accumulator_value: the moments' value before step 1.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = yogi(np.array([1.0]), np.array([0.5]), {}, 1, initial_accumulator_value=0.0)
        >>> s["nu"]                # from 0 towards g² = 0.25 by (1 - beta2) g²
        array([0.00025])

    Reference:
        Zaheer et al., "Adaptive Methods for Nonconvex Optimization", NeurIPS 2018, Algorithm 2;
        optax ``scale_by_yogi``.
    """
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        mu = _state_array(state, "mu", p, float(initial_accumulator_value))
        nu = _state_array(state, "nu", p, float(initial_accumulator_value))
        work = np.empty_like(p)
        _moment_(mu, g, beta1, work)
        square = g * g
        np.multiply(np.sign(nu - square), square, out=work)
        np.multiply(work, 1.0 - beta2, out=work)
        np.subtract(nu, work, out=nu)
        update = _corrected(mu, beta1, t) / (np.sqrt(_corrected(nu, beta2, t)) + p.dtype.type(eps))
        _apply_lr_(p, lr, update.astype(p.dtype, copy=False), work)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"yogi": yogi}
