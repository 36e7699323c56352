"""Optimistic gradient descent: Mokhtari et al. (AISTATS 2020); optax 0.2.8
``optimistic_gradient_descent`` / ``scale_by_optimistic_gradient``."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare
from symopt.reference._optax import _apply_lr_

__all__ = ["optimistic_gradient_descent"]


def optimistic_gradient_descent(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    alpha: float = 1.0,
    beta: float = 1.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of optimistic gradient descent, as optax's::

        previous = g if this is the first step else state["previous_gradient"]
        params = params - lr * ((alpha + beta) * g - beta * previous)
        state["previous_gradient"] = g

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken (the first step is the one with an empty state).
        lr: learning rate.
        alpha: weight of the gradient.
        beta: weight of the change of the gradient.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = optimistic_gradient_descent(np.array([1.0]), np.array([1.0]), {}, 1, lr=0.1)
        >>> p, optimistic_gradient_descent(p, np.array([3.0]), s, 2, lr=0.1)[0]   # 2·3 - 1 = 5
        (array([0.9]), array([0.4]))

    Reference:
        Mokhtari, Ozdaglar and Pattathil, "A Unified Analysis of Extra-gradient and Optimistic
        Gradient Methods for Saddle Point Problems", AISTATS 2020; optax
        ``scale_by_optimistic_gradient`` (google-deepmind/optax#1082 for the first step).
    """
    alpha, beta = float(alpha), float(beta)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        stored = state.get("previous_gradient")
        previous = g if stored is None else stored
        update = (alpha + beta) * g - beta * previous
        _apply_lr_(p, float(lr), update.astype(p.dtype, copy=False), np.empty_like(p))
        if stored is None:
            state["previous_gradient"] = np.array(g, copy=True)
        else:  # the state's own array, written in place (inplace=True mutates the objects it was given)
            stored[...] = g
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"optimistic_gradient_descent": optimistic_gradient_descent}
