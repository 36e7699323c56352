"""Adan: Xie et al. (2022, TPAMI 2024); optax 0.2.8 ``adan`` / ``scale_by_adan``."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _state_array
from symopt.reference._optax import _apply_lr_, _corrected, _moment_

__all__ = ["adan"]


def adan(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.98,
    beta2: float = 0.92,
    beta3: float = 0.99,
    eps: float = 1e-8,
    eps_root: float = 1e-8,
    weight_decay: float = 0.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adan, as optax's ``adan``::

        diff = 0 at the first step, else g - g_prev
        m = (1 - beta1) * g + beta1 * m
        v = (1 - beta2) * diff + beta2 * v
        n = (1 - beta3) * (g + (1 - beta2) * diff)**2 + beta3 * n
        u = (m̂ + (1 - beta2) * v̂) / (sqrt(n̂ + eps_root) + eps)      # each bias-corrected
        params = params - lr * (u + weight_decay * params)

    The state holds optax's ``m``, ``v``, ``n`` and the last gradient ``g``, zeros before step 1.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr, beta1, beta2, beta3, eps, eps_root, weight_decay: optax's ``learning_rate``, ``b1``,
            ``b2``, ``b3``, ``eps``, ``eps_root``, ``weight_decay``.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = adan(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, eps=0.0, eps_root=0.0)
        >>> p                      # the first step is lr * sign(g)
        array([0.9])

    Reference:
        Xie et al., "Adan: Adaptive Nesterov Momentum Algorithm for Faster Optimizing Deep
        Models", Algorithm 1; optax ``scale_by_adan``.
    """
    lr, beta1, beta2, beta3 = float(lr), float(beta1), float(beta2), float(beta3)
    eps, eps_root, weight_decay = float(eps), float(eps_root), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        m = _state_array(state, "m", p)
        v = _state_array(state, "v", p)
        n = _state_array(state, "n", p)
        previous = _state_array(state, "g", p)
        work = np.empty_like(p)
        diff = np.zeros_like(p) if t == 1 else g - previous
        _moment_(m, g, beta1, work)
        _moment_(v, diff, beta2, work)
        look_ahead = g + (1.0 - beta2) * diff
        _moment_(n, look_ahead * look_ahead, beta3, work)
        update = _corrected(m, beta1, t) + (1.0 - beta2) * _corrected(v, beta2, t)
        update = update / (np.sqrt(_corrected(n, beta3, t) + p.dtype.type(eps_root)) + p.dtype.type(eps))
        if weight_decay != 0.0:
            update = update + weight_decay * p
        _apply_lr_(p, lr, update.astype(p.dtype, copy=False), work)
        previous[...] = g
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"adan": adan}
