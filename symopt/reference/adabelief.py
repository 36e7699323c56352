"""AdaBelief: Zhuang et al. (NeurIPS 2020); optax 0.2.8 ``adabelief`` / ``scale_by_belief``."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _state_array
from symopt.reference._optax import _apply_lr_, _corrected, _moment_

__all__ = ["adabelief"]


def adabelief(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-16,
    eps_root: float = 1e-16,
    nesterov: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of AdaBelief, as optax's ``adabelief``.

    ::

        mu = (1 - beta1) * g + beta1 * mu
        nu = (1 - beta2) * (g - mu)**2 + beta2 * nu + eps_root     # kept in the state
        mu_hat = mu / (1 - beta1**t)        # nesterov: beta1 * mu / (1 - beta1**(t+1))
                                            #           + (1 - beta1) * g / (1 - beta1**t)
        params = params - lr * mu_hat / (sqrt(nu / (1 - beta2**t)) + eps)

    The moments are ``state["mu"]`` and ``state["nu"]`` (optax's names), zeros before step 1.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr, beta1, beta2, eps, eps_root: optax's ``learning_rate``, ``b1``, ``b2``, ``eps``, ``eps_root``.
        nesterov: look one step ahead with the first moment.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = adabelief(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, eps=0.0, eps_root=0.0)
        >>> p                      # g - m = 0.9 g at the first step: a step of lr/0.9
        array([0.88888889])

    Reference:
        Zhuang et al., "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed
        Gradients", NeurIPS 2020, Algorithm 2; optax ``scale_by_belief``.
    """
    lr, beta1, beta2, eps, eps_root = float(lr), float(beta1), float(beta2), float(eps), float(eps_root)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        mu = _state_array(state, "mu", p)
        nu = _state_array(state, "nu", p)
        work = np.empty_like(p)
        _moment_(mu, g, beta1, work)
        error = g - mu  # the prediction error, from the new first moment
        _moment_(nu, error * error, beta2, work)
        np.add(nu, nu.dtype.type(eps_root), out=nu)
        if nesterov:
            mu_hat = beta1 * _corrected(mu, beta1, t + 1) + (1.0 - beta1) * _corrected(g, beta1, t)
        else:
            mu_hat = _corrected(mu, beta1, t)
        nu_hat = _corrected(nu, beta2, t)
        update = mu_hat / (np.sqrt(nu_hat) + p.dtype.type(eps))
        _apply_lr_(p, lr, update.astype(p.dtype, copy=False), work)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"adabelief": adabelief}
