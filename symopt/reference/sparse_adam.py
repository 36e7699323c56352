"""SparseAdam: torch.optim.SparseAdam (``torch.optim._functional.sparse_adam``)."""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _state_array

__all__ = ["sparse_adam"]


def sparse_adam(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    touched: Optional[np.ndarray] = None,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of SparseAdam, as torch.optim.SparseAdam, on the elements a sparse gradient touches.

    ``touched`` is a boolean array like ``params``: the elements whose value the sparse gradient
    holds (a held 0 included); every element if None. On those (``g = grads[touched]``)::

        old = exp_avg;  update = (g - old) * (1 - beta1);  exp_avg = old + update
        old2 = exp_avg_sq;  update2 = (g**2 - old2) * (1 - beta2);  exp_avg_sq = old2 + update2
        step_size = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        params = params + (update + old) / (sqrt(update2 + old2) + eps) * -step_size

    and the others keep their parameters and moments. ``t`` is the parameter's step count, which
    torch advances at every step, touched or not. The state arrays ``exp_avg`` and ``exp_avg_sq``
    start at zeros.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: the gradient's values, same shape (read where ``touched``).
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate.
        beta1, beta2: decays of the moments.
        eps: added to the root of the second moment, before the bias correction.
        touched: the elements the gradient touches (every element if None).
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = sparse_adam(np.array([1.0, 1.0]), np.array([2.0, 5.0]), {}, 1, lr=0.5, beta1=0.5,
        ...                    beta2=0.75, eps=0.0, touched=np.array([True, False]))
        >>> s["exp_avg"], p          # the first element moves by lr * sign(g) at step 1; the second not
        (array([1., 0.]), array([0.5, 1. ]))

    Reference:
        Kingma & Ba, ICLR 2015; torch.optim.SparseAdam documentation and
        ``torch.optim._functional.sparse_adam``.
    """
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        exp_avg = _state_array(state, "exp_avg", p)
        exp_avg_sq = _state_array(state, "exp_avg_sq", p)
        where = np.ones(p.shape, dtype=bool) if touched is None else np.asarray(touched, dtype=bool)
        g = np.asarray(grads)[where]
        if g.size == 0:  # torch skips a gradient that touches nothing
            return p, state
        old, old2 = exp_avg[where], exp_avg_sq[where]
        update = (g - old) * p.dtype.type(1 - beta1)
        exp_avg[where] = old + update
        update2 = (g * g - old2) * p.dtype.type(1 - beta2)
        exp_avg_sq[where] = old2 + update2
        numer = update + old
        denom = np.sqrt(update2 + old2) + p.dtype.type(eps)
        step_size = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
        p[where] = p[where] + (numer / denom) * p.dtype.type(-step_size)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"sparse-adam": sparse_adam}
