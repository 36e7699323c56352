"""signSGD and Signum: Bernstein et al. (ICML 2018); optax 0.2.8 ``sign_sgd`` and ``signum``."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _state_array
from symopt.reference._optax import _apply_lr_, _moment_

__all__ = ["sign_sgd", "signum"]


def sign_sgd(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of signSGD, as optax's ``sign_sgd``: ``params - lr * sign(g)``; no state.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state (stays empty).
        t: number of the step being taken (unused).
        lr: learning rate.
        inplace: update ``params`` in place instead of a copy.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> sign_sgd(np.array([1.0, 1.0, 1.0]), np.array([3.0, -1e-9, 0.0]), {}, 1, lr=0.5)[0]
        array([0.5, 1.5, 1. ])

    Reference:
        Bernstein et al., "signSGD: Compressed Optimisation for Non-Convex Problems", ICML 2018,
        Algorithm 1; optax ``scale_by_sign``.
    """
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        work = np.empty_like(p)
        _apply_lr_(p, float(lr), np.sign(np.asarray(grads, dtype=p.dtype)), work)
    return p, state


def signum(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta: float = 0.9,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Signum, as optax's ``signum``::

        ema = (1 - beta) * g + beta * ema         # optax ema(debias=False)
        params = params - lr * sign(ema)

    The average is ``state["ema"]``, zeros before step 1.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken (unused).
        lr: learning rate.
        beta: decay of the moving average.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = signum(np.array([1.0, 1.0]), np.array([2.0, -4.0]), {}, 1, lr=0.5)
        >>> p, s["ema"]
        (array([0.5, 1.5]), array([ 0.2, -0.4]))

    Reference:
        Bernstein et al., ICML 2018, Algorithm 3; optax ``signum``.
    """
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        ema = _state_array(state, "ema", p)
        work = np.empty_like(p)
        _moment_(ema, np.asarray(grads, dtype=p.dtype), float(beta), work)
        _apply_lr_(p, float(lr), np.sign(ema), work)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"sign_sgd": sign_sgd, "signum": signum}
