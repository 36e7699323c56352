"""ASGD: torch.optim.ASGD (``_single_tensor_asgd``), Polyak & Juditsky (1992)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _l2_gradient, _state_array, _add_scaled_

__all__ = ["asgd"]


def asgd(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of ASGD, as torch.optim.ASGD.

    With ``g = grads + weight_decay * params``::

        params = params * (1 - lambd * eta) - eta * g
        ax = params                         if mu == 1
        ax = ax + (params - ax) * mu        otherwise
        eta = lr / (1 + lambd * lr * t) ** alpha
        mu = 1 / max(1, t - t0)

    ``state["eta"]`` starts at ``lr`` (the learning rate of the first step) and ``state["mu"]`` at 1,
    0-d float64 arrays as torch keeps them (in its scalar dtype, read as Python floats), both set
    *after* the step for the next one; ``state["ax"]``, the average of the iterates, starts at zeros.
    The model is evaluated at ``ax``.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate (its value at this step sets the next step's ``eta``).
        lambd: decay term, and the decay of the learning rate.
        alpha: power of the learning rate's decay.
        t0: the step after which the average starts to differ from the iterate.
        weight_decay: L2 penalty coefficient added to the gradient.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = asgd(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.5, lambd=0.5, alpha=1.0)
        >>> p, s["ax"], float(s["eta"])   # 1 * (1 - 0.25) - 0.5 * 2; eta = 0.5 / (1 + 0.25)
        (array([-0.25]), array([-0.25]), 0.4)

    Reference:
        Polyak & Juditsky, "Acceleration of stochastic approximation by averaging", 1992;
        torch.optim.ASGD documentation and ``_single_tensor_asgd``.
    """
    lr, lambd, alpha, t0 = float(lr), float(lambd), float(alpha), float(t0)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        if "eta" not in state:
            state["eta"] = np.array(lr, dtype=np.float64)
            state["mu"] = np.array(1.0, dtype=np.float64)
        ax = _state_array(state, "ax", p)
        eta, mu = float(state["eta"]), float(state["mu"])
        g = _l2_gradient(p, grads, weight_decay) if weight_decay != 0 else grads
        work = np.empty_like(p)
        np.multiply(p, 1 - lambd * eta, out=p)
        _add_scaled_(p, -eta, g, work)
        if mu != 1:
            np.subtract(p, ax, out=work)
            np.multiply(work, mu, out=work)
            np.add(ax, work, out=ax)
        else:
            np.copyto(ax, p)
        state["eta"] = np.array(lr / ((1 + lambd * lr * t) ** alpha), dtype=np.float64)
        state["mu"] = np.array(1 / max(1, t - t0), dtype=np.float64)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"asgd": asgd}
