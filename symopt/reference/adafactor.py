"""Adafactor: torch.optim.Adafactor (torch 2.13), Shazeer & Stern (ICML 2018)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _state_array, _lerp_

__all__ = ["adafactor"]


def adafactor(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    beta2_decay: float = -0.8,
    eps1: float | None = None,
    eps2: float = 1e-3,
    d: float = 1.0,
    weight_decay: float = 0.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adafactor, as torch.optim.Adafactor (2.13, ``_single_tensor_adafactor``).

    ::

        w = t ** beta2_decay                             # the new value's weight, 1 - beta2_t
        rho = min(lr, 1 / sqrt(t));  alpha = max(eps2, RMS(params)) * rho
        params *= 1 - lr * weight_decay
        if params.ndim >= 2:                             # factored over the last two dimensions
            row_var = lerp(row_var, mean(g², axis=-1), w);  col_var = lerp(col_var, mean(g², axis=-2), w)
            V = row_var @ col_var / max(mean(row_var, axis=-2), eps1)
        else:
            variance = lerp(variance, g², w);  V = variance
        U = g / sqrt(max(V, eps1²))
        params -= alpha / max(1, RMS(U) / d) * U

    ``eps1`` defaults to the dtype's machine epsilon, as torch's ``None``.
    The state keys are torch's: ``"row_var"`` (shape ``(..., A, 1)``),
    ``"col_var"`` (``(..., 1, B)``), ``"variance"``.

    Example:
        >>> import numpy as np
        >>> p, s = adafactor(np.ones((2, 3)), np.ones((2, 3)), {}, 1, lr=0.5)
        >>> p                      # alpha = RMS(1) * min(0.5, 1) and U = 1 everywhere
        array([[0.5, 0.5, 0.5],
               [0.5, 0.5, 0.5]])
        >>> s["row_var"].shape, s["col_var"].shape
        ((2, 1), (1, 3))

    Reference:
        N. Shazeer and M. Stern, "Adafactor: Adaptive Learning Rates with
        Sublinear Memory Cost", ICML 2018, Algorithms 4-5; torch.optim.Adafactor.
    """
    lr, beta2_decay, eps2, d = float(lr), float(beta2_decay), float(eps2), float(d)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    eps1 = float(np.finfo(p.dtype).eps) if eps1 is None else float(eps1)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        w = float(t) ** beta2_decay
        rho = min(lr, 1.0 / float(t) ** 0.5)
        numel = max(p.size, 1)
        alpha = max(eps2, float(np.sqrt(np.sum(p * p))) / numel ** 0.5) * rho
        if weight_decay != 0.0:
            p *= 1.0 - lr * weight_decay
        if p.ndim >= 2:
            shape = p.shape
            row_var = state.setdefault("row_var", np.zeros((*shape[:-1], 1), dtype=p.dtype))
            col_var = state.setdefault("col_var", np.zeros((*shape[:-2], 1, shape[-1]), dtype=p.dtype))
            g2 = g * g
            row_mean = g2.sum(axis=-1, keepdims=True) / max(shape[-1], 1)
            col_mean = g2.sum(axis=-2, keepdims=True) / max(shape[-2], 1)
            _lerp_(row_var, row_mean, w, np.empty_like(row_var))  # torch: row_var.lerp_(row_mean, w)
            _lerp_(col_var, col_mean, w, np.empty_like(col_var))
            row_var_mean = row_var.sum(axis=-2, keepdims=True) / max(shape[-2], 1)
            estimate = (row_var @ col_var) / np.maximum(row_var_mean, eps1)
        else:
            variance = _state_array(state, "variance", p)
            _lerp_(variance, g * g, w, np.empty_like(variance))
            estimate = variance.copy()
        update = g / np.sqrt(np.maximum(estimate, eps1 * eps1))
        denom = max(1.0, float(np.sqrt(np.sum(update * update))) / (numel ** 0.5 * d))
        p -= (alpha / denom) * update
    return p, state



#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"adafactor": adafactor}
