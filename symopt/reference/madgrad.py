"""MADGRAD: Defazio and Jelassi (2021); timm 1.0.31 ``MADGRAD`` (Facebook Research's code)."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from symopt.reference._common import State, _l2_gradient, _prepare

__all__ = ["madgrad"]


def madgrad(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    momentum: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    decoupled_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of MADGRAD with momentum in (0, 1), as timm's ``MADGRAD`` (dense gradients)::

        x0 = params at the first step
        lamb = (lr + eps) * sqrt(t)
        params *= 1 - lr * weight_decay               # if decoupled_decay, else
        g = g + weight_decay * params                  # L2
        grad_sum_sq += lamb * g * g
        s += lamb * g
        z = x0 - s / (grad_sum_sq ** (1/3) + eps)
        params = momentum * params + (1 - momentum) * z

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step (timm's ``grad_sum_sq``, ``s``, ``x0``).
        t: number of the step being taken, counting from 1.
        lr, momentum, eps, weight_decay, decoupled_decay: timm's keywords.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = madgrad(np.array([1.0]), np.array([1.0]), {}, 1, lr=1.0, eps=0.0, momentum=0.5)
        >>> p                      # z = 1 - 1/1 = 0, averaged with 1
        array([0.5])

    Reference:
        Defazio and Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive, Dual Averaged
        Gradient Method for Stochastic Optimization", JMLR 2022, Algorithm 1; timm
        ``timm/optim/madgrad.py``.
    """
    lr, momentum, eps, weight_decay = float(lr), float(momentum), float(eps), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        if "x0" not in state:
            state["x0"] = p.copy()
            state["grad_sum_sq"] = np.zeros_like(p)
            state["s"] = np.zeros_like(p)
        x0, grad_sum_sq, s = state["x0"], state["grad_sum_sq"], state["s"]
        lamb = (lr + eps) * math.sqrt(t)
        if weight_decay != 0.0:
            if decoupled_decay:
                np.multiply(p, 1.0 - lr * weight_decay, out=p)
            else:
                g = _l2_gradient(p, g, weight_decay)
        work = np.empty_like(p)
        np.multiply(g, g, out=work)
        np.multiply(work, lamb, out=work)
        np.add(grad_sum_sq, work, out=grad_sum_sq)
        rms = np.empty_like(p)
        np.power(grad_sum_sq, 1.0 / 3.0, out=rms)
        np.add(rms, p.dtype.type(eps), out=rms)
        np.multiply(g, lamb, out=work)
        np.add(s, work, out=s)
        z = np.empty_like(p)
        np.divide(s, rms, out=z)
        np.subtract(x0, z, out=z)
        np.multiply(p, 1.0 - (1.0 - momentum), out=p)
        np.multiply(z, 1.0 - momentum, out=z)
        np.add(p, z, out=p)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"madgrad": madgrad}
