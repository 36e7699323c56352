"""RAdam: torch.optim.RAdam (``_single_tensor_radam``), Liu et al. (ICLR 2020)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import (
    State, _prepare, _decayed_gradient, _state_array, _lerp_, _ema_square_,
)

__all__ = ["radam"]


def radam(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of RAdam (rectified Adam), as torch.optim.RAdam.

    Weight decay first: ``params *= 1 - lr * weight_decay`` if
    ``decoupled_weight_decay``, else ``g = grads + weight_decay * params``.
    Then::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        mhat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        if rho_t > 5:                               # variance is tractable
            r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            params -= mhat * lr * (sqrt(1 - beta2**t) / (sqrt(v) + eps)) * r
        else:                                       # un-adapted: SGD with momentum
            params -= mhat * lr

    eps is added to the uncorrected ``sqrt(v)``, and the bias correction of
    ``v`` multiplies the adaptive factor (torch evaluates
    ``sqrt(1 - beta2**t) / denom`` as ``denom.reciprocal() * sqrt(1 - beta2**t)``,
    which is what is done here); the products are formed left to right as in
    ``_single_tensor_radam``.  ``rho_t`` rises from 1 at ``t = 1`` towards
    ``rho_inf``, so the first steps (about five for any beta2 near 1) take the
    un-adapted branch.  ``state["exp_avg"]`` and ``state["exp_avg_sq"]`` are
    zeros before step 1.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate.
        beta1: decay rate of the first-moment estimate.
        beta2: decay rate of the second-moment estimate.
        eps: added to ``sqrt(v)`` in the adaptive branch.
        weight_decay: weight decay coefficient (L2 or decoupled).
        decoupled_weight_decay: decay the parameters (as AdamW) instead of
            adding an L2 term to the gradient.
        inplace: update ``params`` and the moments in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = radam(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1)
        >>> p                       # rho_1 = 1 <= 5: p - lr * mhat = 1 - 0.1 * 2
        array([0.8])

    Reference:
        Liu et al., "On the Variance of the Adaptive Learning Rate and
        Beyond", ICLR 2020, Algorithm 2; torch.optim.RAdam documentation and
        ``_single_tensor_radam``.
    """
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        g = _decayed_gradient(p, grads, lr, weight_decay, bool(decoupled_weight_decay))
        work = np.empty_like(p)
        _lerp_(m, g, 1.0 - beta1, work)
        _ema_square_(v, g, beta2, work)

        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2 ** t) / bias_correction2

        # work <- bias_corrected_exp_avg * lr
        np.divide(m, bias_correction1, out=work)
        np.multiply(work, lr, out=work)
        if rho_t > 5.0:
            adaptive = np.empty_like(p)
            np.sqrt(v, out=adaptive)
            np.add(adaptive, eps, out=adaptive)
            np.reciprocal(adaptive, out=adaptive)
            np.multiply(adaptive, bias_correction2 ** 0.5, out=adaptive)
            rect = (
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            ) ** 0.5
            np.multiply(work, adaptive, out=work)
            np.multiply(work, rect, out=work)
        # torch: param.add_(update, alpha=-1.0)
        np.subtract(p, work, out=p)
    return p, state



#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"radam": radam}
