"""LARS, Fromage and NovoGrad: optax 0.2.8's ``lars``, ``fromage``, ``novograd``
(``scale_by_trust_ratio``, ``scale_by_novograd``); You et al. (2017), Bernstein et al.
(2020), Ginsburg et al. (2019) (LAMB is in :mod:`.lamb`). Each step takes the whole tensor: its norms are of all of it."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _state_array
from symopt.reference._optax import _apply_lr_

__all__ = ["lars", "fromage", "novograd"]


def _norm(x: np.ndarray, floor: float = 0.0) -> float:
    """The 2-norm of the flattened tensor, in double, floored at ``floor`` (optax ``safe_norm``:
    ``floor`` wherever the norm is at most ``floor``)."""
    norm = float(np.sqrt(np.sum(np.square(x, dtype=np.float64))))
    return floor if norm <= floor else norm


def _trust_ratio(param: np.ndarray, update: np.ndarray, coefficient: float = 1.0, eps: float = 0.0,
                 floor: float = 0.0) -> float:
    """optax ``scale_by_trust_ratio``: ``coefficient * ‖param‖ / (‖update‖ + eps)``, and 1 where
    either norm is 0."""
    param_norm, update_norm = _norm(param, floor), _norm(update, floor)
    if param_norm == 0.0 or update_norm == 0.0:
        return 1.0
    return coefficient * param_norm / (update_norm + eps)


def lars(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    momentum: float = 0.9,
    eps: float = 0.0,
    weight_decay: float = 0.0,
    trust_coefficient: float = 1e-3,
    nesterov: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of LARS, as optax's ``lars``::

        g = g + weight_decay * params
        u = -lr * trust_coefficient * ‖params‖/(‖g‖ + eps) * g      # the ratio 1 where a norm is 0
        trace = u + momentum * trace
        params = params + (u + momentum * trace if nesterov else trace)

    The momentum (optax's ``trace``, holding the negative step) is ``state["trace"]``.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken (unused).
        lr, momentum, eps, weight_decay, trust_coefficient, nesterov: optax's ``learning_rate``,
            ``momentum``, ``eps``, ``weight_decay``, ``trust_coefficient``, ``nesterov``.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> lars(np.array([3.0, 4.0]), np.array([0.0, 2.0]), {}, 1, lr=1.0, trust_coefficient=0.1)[0]
        array([3. , 3.5])

    Reference:
        You, Gitman and Ginsburg, "Large Batch Training of Convolutional Networks", 2017,
        Algorithm 1; optax ``lars``.
    """
    lr, momentum, weight_decay = float(lr), float(momentum), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        if weight_decay != 0.0:
            g = g + weight_decay * p
        dtype = p.dtype.type
        scaled = g * dtype(_trust_ratio(p, g, float(trust_coefficient), float(eps)))
        update = (scaled * dtype(-lr)).astype(p.dtype, copy=False)
        trace = _state_array(state, "trace", p)
        trace[...] = update + momentum * trace
        step = update + momentum * trace if nesterov else trace
        p += step.astype(p.dtype, copy=False)
    return p, state


def fromage(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    min_norm: float = 1e-6,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Fromage, as optax's ``fromage``::

        mult = 1 / sqrt(1 + lr**2)
        update = -(lr * mult) * (‖params‖/‖g‖) * g + (mult - 1) * params    # norms floored at min_norm
        params = params + update

    that is ``(params - lr * ‖params‖/‖g‖ * g) / sqrt(1 + lr**2)``; no state.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state (stays empty).
        t: number of the step being taken (unused).
        lr: learning rate: the step's size relative to the tensor's norm.
        min_norm: floor of both norms.
        inplace: update ``params`` in place instead of a copy.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, _ = fromage(np.array([3.0, 4.0]), np.array([0.0, 1.0]), {}, 1, lr=0.75)
        >>> p                      # (θ - 0.75·5·g)/1.25
        array([2.4, 0.2])

    Reference:
        Bernstein, Vahdat, Yue and Liu, "On the distance between two neural networks and the
        stability of learning", NeurIPS 2020, Algorithm 1; optax ``fromage``.
    """
    lr = float(lr)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        dtype = p.dtype.type
        mult = 1.0 / (1.0 + lr**2) ** 0.5
        scaled = g * dtype(_trust_ratio(p, g, floor=float(min_norm)))
        update = scaled * dtype(-(lr * mult)) + dtype(mult - 1.0) * p
        p += update.astype(p.dtype, copy=False)
    return p, state


def novograd(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.25,
    eps: float = 1e-6,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of NovoGrad, as optax's ``novograd``::

        nu = ‖g‖**2 at the first step, else (1 - beta2) * ‖g‖**2 + beta2 * nu    # one number
        mu = beta1 * mu + g / (sqrt(nu + eps_root) + eps) + weight_decay * params
        params = params - lr * mu

    ``state["nu"]`` is a 0-d array (optax keeps one number per tensor), ``state["mu"]`` an array.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr, beta1, beta2, eps, eps_root, weight_decay: optax's ``learning_rate``, ``b1``, ``b2``,
            ``eps``, ``eps_root``, ``weight_decay``.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = novograd(np.array([0.0, 0.0]), np.array([3.0, 4.0]), {}, 1, lr=1.0, eps=0.0)
        >>> float(s["nu"]), p      # the gradient divided by its norm
        (25.0, array([-0.6, -0.8]))

    Reference:
        Ginsburg et al., "Stochastic Gradient Methods with Layer-wise Adaptive Moments for
        Training of Deep Networks", 2019, Algorithm 1; optax ``scale_by_novograd``.
    """
    lr, beta1, beta2, weight_decay = float(lr), float(beta1), float(beta2), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        dtype = p.dtype.type
        mu = _state_array(state, "mu", p)
        nu = state.get("nu")
        if nu is None:
            nu = np.zeros((), dtype=p.dtype)
            state["nu"] = nu
        square = dtype(np.sum(np.square(g, dtype=np.float64)))
        if t == 1:
            nu[...] = square
        else:
            nu[...] = dtype(1.0 - beta2) * square + dtype(beta2) * nu
        normalised = g / (np.sqrt(nu + dtype(eps_root)) + dtype(eps))
        if weight_decay != 0.0:
            normalised = normalised + weight_decay * p
        mu[...] = beta1 * mu + normalised
        _apply_lr_(p, lr, mu, np.empty_like(p))
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"lars": lars, "fromage": fromage, "novograd": novograd}
