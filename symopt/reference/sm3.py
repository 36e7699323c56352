"""SM3: Anil et al. (2019), "Memory-Efficient Adaptive Optimization"; optax 0.2.8 ``sm3`` /
``scale_by_sm3``."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare
from symopt.reference._optax import _apply_lr_, _moment_

__all__ = ["sm3"]


def sm3(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    momentum: float = 0.9,
    beta2: float = 1.0,
    eps: float = 1e-8,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of SM3, as optax's ``sm3`` (``scale_by_sm3(b1=momentum)``, then ``scale(-lr)``).

    ::

        mu = [one vector per dimension k, of the size of that side]       # zeros at first
        w = (1 - beta2 if beta2 != 1 else 1, beta2)
        if g.ndim < 2:   accum = w[0] * g*g + w[1] * mu[0]                 # each element its own set
        else:            accum = w[0] * g*g + w[1] * minimum(mu[k] reshaped along axis k, over k)
        up = g * where(accum > 0, 1 / sqrt(accum + eps), 0)
        nu = (1 - momentum) * up + momentum * nu
        mu[k] = max(accum over every axis but k)        (accum itself for g.ndim < 2)
        params = params - lr * nu

    The state holds ``"nu"`` (shaped like the parameters) and ``"mu"``, the vectors of every
    dimension concatenated (length the sum of the sides). optax's ``scale_by_sm3`` raises on a 0-d
    parameter (it has no dimension to keep a vector for) and on an empty one of two dimensions or
    more (a maximum over an empty axis): here a number is a vector of one element, and the maximum
    over an empty slice is -inf.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (SM3 does not read it).
        lr, momentum: optax's ``learning_rate`` and ``momentum`` (scale_by_sm3's ``b1``).
        beta2, eps: scale_by_sm3's ``b2`` and ``eps`` (optax's ``sm3`` keeps 1 and 1e-8).
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = sm3(np.zeros((2, 2)), np.array([[3.0, 0.0], [0.0, 4.0]]), {}, 1, lr=1.0, momentum=0.0)
        >>> s["mu"]                # row maxima of g², then column maxima
        array([ 9., 16.,  9., 16.])
        >>> p2, _ = sm3(p, np.ones((2, 2)), s, 2, lr=1.0, momentum=0.0)
        >>> np.round(1 / (p - p2) ** 2, 6)    # each element's min(row, column) + g² = 1: accum
        array([[10., 10.],
               [10., 17.]])

    Reference:
        R. Anil, V. Gupta, T. Koren and Y. Singer, "Memory-Efficient Adaptive Optimization",
        NeurIPS 2019, Algorithm SM3-II; optax ``scale_by_sm3``.
    """
    lr, momentum, beta2, eps = float(lr), float(momentum), float(beta2), float(eps)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        sides = p.shape if p.ndim else (1,)
        g_view = g.reshape(sides)
        mu = state.get("mu")
        if mu is None:
            mu = state["mu"] = np.zeros(sum(sides), dtype=p.dtype)
        nu = state.get("nu")
        if nu is None:
            nu = state["nu"] = np.zeros_like(p)
        offsets = np.cumsum((0, *sides))
        vectors = [mu[offsets[k]:offsets[k + 1]] for k in range(len(sides))]
        w_new, w_old = (1.0 - beta2 if beta2 != 1.0 else 1.0, beta2)
        if len(sides) < 2:
            old = vectors[0]
        else:
            expanded = [v.reshape([1] * k + [sides[k]] + [1] * (len(sides) - k - 1)) for k, v in enumerate(vectors)]
            old = expanded[0]
            for vector in expanded[1:]:
                old = np.minimum(old, vector)
        accum = w_new * (g_view * g_view) + w_old * old
        inv_sqrt = np.where(accum > 0, 1.0 / np.sqrt(accum + p.dtype.type(eps)), 0.0).astype(p.dtype, copy=False)
        up = (g_view * inv_sqrt).reshape(p.shape)
        _moment_(nu, up, momentum, np.empty_like(p))
        if len(sides) < 2:
            mu[...] = accum
        else:
            for k in range(len(sides)):
                others = tuple(j for j in range(len(sides)) if j != k)
                vectors[k][...] = np.max(accum, axis=others, initial=-np.inf)
        _apply_lr_(p, lr, nu, np.empty_like(p))
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"sm3": sm3}
