"""Adagrad: torch.optim.Adagrad (``_single_tensor_adagrad``), Duchi, Hazan & Singer (JMLR 2011)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _decayed_gradient, _state_array, _addcdiv_

__all__ = ["adagrad"]


def adagrad(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adagrad, as torch.optim.Adagrad (dense gradients).

    With ``g = grads + weight_decay * params``::

        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g**2
        params = params - clr * g / (sqrt(sum) + eps)

    ``state["sum"]`` starts at ``initial_accumulator_value`` everywhere;
    torch creates it in the constructor, this function on the first step
    (when the state has no ``"sum"``).

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (sets the decayed
            learning rate).
        lr: learning rate.
        lr_decay: learning-rate decay per step.
        weight_decay: L2 penalty coefficient added to the gradient.
        initial_accumulator_value: starting value of the sum of squares.
        eps: added to the root of the sum.
        inplace: update ``params`` and the sum in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = adagrad(np.array([1.0]), np.array([3.0]), {}, 1, lr=0.5, eps=0.0,
        ...                initial_accumulator_value=16.0)
        >>> s["sum"], p            # sum = 16 + 9; p = 1 - 0.5 * 3 / 5
        (array([25.]), array([0.7]))

    Reference:
        Duchi, Hazan & Singer, JMLR 2011; torch.optim.Adagrad documentation
        and ``_single_tensor_adagrad``.
    """
    lr, lr_decay, eps = float(lr), float(lr_decay), float(eps)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        total = _state_array(state, "sum", p, float(initial_accumulator_value))
        g = _decayed_gradient(p, grads, lr, weight_decay, False)
        clr = lr / (1 + (t - 1) * lr_decay)
        work = np.empty_like(p)
        std = np.empty_like(p)
        # torch: state_sum.addcmul_(grad, grad, value=1); std = state_sum.sqrt().add_(eps)
        np.multiply(g, g, out=work)
        np.add(total, work, out=total)
        np.sqrt(total, out=std)
        np.add(std, eps, out=std)
        _addcdiv_(p, -clr, g, std, work)
    return p, state



#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"adagrad": adagrad}
