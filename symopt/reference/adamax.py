"""Adamax: torch.optim.Adamax (``_single_tensor_adamax``), Kingma & Ba (ICLR 2015), Section 7.1."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import (
    State, _prepare, _decayed_gradient, _state_array, _lerp_, _addcdiv_,
)

__all__ = ["adamax"]


def adamax(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 2e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of AdaMax (Adam with the infinity norm), as torch.optim.Adamax.

    With ``g = grads + weight_decay * params``::

        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, |g| + eps)            # eps inside the max
        params = params - (lr / (1 - beta1**t)) * m / u

    ``m`` and ``u`` are kept in ``state["exp_avg"]`` and ``state["exp_inf"]``
    (zeros before step 1).  ``u`` needs no bias correction.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate.
        beta1: decay rate of the first-moment estimate.
        beta2: decay rate of the infinity norm.
        eps: added to ``|g|`` inside the maximum.
        weight_decay: L2 penalty coefficient added to the gradient.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = adamax(np.array([1.0, 1.0]), np.array([4.0, -0.5]), {}, 1, lr=0.1, eps=0.0)
        >>> s["exp_inf"], p        # the first step is lr * sign(g)
        (array([4. , 0.5]), array([0.9, 1.1]))

    Reference:
        Kingma & Ba, ICLR 2015, Algorithm 2 (Section 7.1); torch.optim.Adamax
        documentation and ``_single_tensor_adamax``.
    """
    if decoupled_weight_decay:
        return _adamaxw(params, grads, state, t, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                        weight_decay=weight_decay, inplace=inplace)
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        m = _state_array(state, "exp_avg", p)
        u = _state_array(state, "exp_inf", p)
        g = _decayed_gradient(p, grads, lr, weight_decay, False)
        work = np.empty_like(p)
        _lerp_(m, g, 1.0 - beta1, work)
        # torch: torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps), out=exp_inf)
        np.multiply(u, beta2, out=u)
        np.abs(g, out=work)
        np.add(work, eps, out=work)
        np.maximum(u, work, out=u)
        clr = lr / (1 - beta1 ** t)
        _addcdiv_(p, -clr, m, u, work)
    return p, state



def _adamaxw(params, grads, state, t, *, lr, beta1, beta2, eps, weight_decay, inplace):
    """optax 0.2.8's ``adamaxw`` (``scale_by_adamax``, ``add_decayed_weights``, the learning rate),
    in optax's order::

        mu = (1 - beta1) * g + beta1 * mu
        nu = max(|g| + eps, beta2 * nu)
        params = params + (-lr) * (mu / (1 - beta1**t) / nu + weight_decay * params)

    The moments are ``state["mu"]`` and ``state["nu"]`` (optax's names)."""
    lr, beta1, beta2, eps, weight_decay = float(lr), float(beta1), float(beta2), float(eps), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        mu = _state_array(state, "mu", p)
        nu = _state_array(state, "nu", p)
        mu[...] = (1.0 - beta1) * g + beta1 * mu
        nu[...] = np.maximum(np.abs(g) + p.dtype.type(eps), beta2 * nu)
        update = mu / p.dtype.type(1.0 - beta1**t) / nu
        if weight_decay != 0.0:
            update = update + weight_decay * p
        p += (-lr * update).astype(p.dtype, copy=False)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"adamax": adamax}
