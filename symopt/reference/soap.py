"""SOAP: pytorch-optimizer 4.1.0's ``SOAP`` (``pytorch_optimizer/optimizer/soap.py``) for a matrix;
N. Vyas et al., "SOAP: Improving and Stabilizing Shampoo using Adam" (2024), Algorithm 3.

Written from the package's source, step by step: ``init_group`` (the first call keeps the moments
at 0, accumulates the Kronecker factors ``GG`` and takes their eigenvectors with ``eigh``),
``step`` (``continue`` at the first step; then Adam with the moments' bias corrections counting
from the second step, the step rotated back, decoupled weight decay after it) and
``update_pre_conditioner`` / ``get_orthogonal_matrix_qr`` (every ``precondition_frequency`` steps:
the estimated eigenvalues sorted, ``exp_avg_sq`` re-indexed, one power-iteration step and a QR
decomposition in float32).
"""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from symopt.reference._common import State, _lerp_, _prepare

__all__ = ["soap"]


def _eigenvectors(gram: np.ndarray) -> np.ndarray:
    """``torch.linalg.eigh(m + 1e-30 * eye)`` and ``torch.flip(q, dims=[1])``: by descending eigenvalue."""
    shifted = gram + gram.dtype.type(1e-30) * np.eye(gram.shape[0], dtype=gram.dtype)
    if not np.all(np.isfinite(shifted)):
        return np.full_like(gram, np.nan)
    _, q = np.linalg.eigh(shifted)
    return np.ascontiguousarray(q[:, ::-1])


def _refresh(state: State, side: int) -> None:
    """``get_orthogonal_matrix_qr`` for one side: sort by ``(o * (m @ o)).sum(0)``, descending;
    re-index ``exp_avg_sq`` along that side; QR of the sorted product in float32."""
    gram, basis = state["GG"][side], state["Q"][side]
    product = gram @ basis
    estimated = (basis * product).sum(axis=0)
    order = np.argsort(-estimated, kind="stable")
    state["exp_avg_sq"] = np.ascontiguousarray(np.take(state["exp_avg_sq"], order, axis=side))
    power = product[:, order].astype(np.float32)
    if not np.all(np.isfinite(power)):
        state["Q"][side] = np.full_like(basis, np.nan)
        return
    q, _ = np.linalg.qr(power)
    state["Q"][side] = q.astype(basis.dtype)


def soap(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 3e-3,
    beta1: float = 0.95,
    beta2: float = 0.95,
    shampoo_beta: float = 0.95,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    precondition_frequency: int = 10,
    correct_bias: bool = True,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of SOAP for a matrix parameter, as pytorch-optimizer 4.1.0's ``SOAP.step``.

    ::

        t = 1:  GG_L = (1 - bs) G G^T, GG_R = (1 - bs) G^T G; Q = eigh of each, flipped; no step
        t > 1:  s = t - 1
                G' = Q_L^T G Q_R
                exp_avg = lerp(exp_avg, G, 1 - beta1); exp_avg_sq = lerp(exp_avg_sq, G'^2, 1 - beta2)
                N = Q_L ((Q_L^T exp_avg Q_R) / (sqrt(exp_avg_sq) + eps)) Q_R^T
                p -= lr * sqrt(1 - beta2^s) / (1 - beta1^s) * N;  p *= 1 - lr * weight_decay
                GG = lerp(GG, outer products, 1 - bs)
                if s % precondition_frequency == 0: re-sort, power iteration, QR (float32)

    The state keeps the package's keys: ``exp_avg``, ``exp_avg_sq``, ``GG`` and ``Q`` (a list of the
    two sides' matrices each).

    Raises:
        ValueError: for parameters that are not a matrix (symopt's rule takes matrices only).

    Example:
        >>> import numpy as np
        >>> p, s = soap(np.eye(2), np.eye(2), {}, 1)
        >>> bool(np.array_equal(p, np.eye(2)))  # the first step only starts the preconditioner
        True
    """
    if np.ndim(params) != 2:
        raise ValueError(f"SOAP's reference takes 2-D parameters, not shape {np.shape(params)}")
    p, state = _prepare(params, state, inplace)
    if not inplace:  # _prepare copies arrays, not the lists of them
        state = {**state, **{key: [np.array(a, copy=True) for a in state[key]] for key in ("GG", "Q") if key in state}}
    lr, beta1, beta2, shampoo_beta = float(lr), float(beta1), float(beta2), float(shampoo_beta)
    eps, weight_decay, frequency = float(eps), float(weight_decay), int(precondition_frequency)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        outer = (g @ g.T, g.T @ g)
        if t == 1 or "GG" not in state:
            state["exp_avg"] = np.zeros_like(p)
            state["exp_avg_sq"] = np.zeros_like(p)
            state["GG"] = [np.zeros((n, n), dtype=p.dtype) for n in p.shape]
            for side in (0, 1):
                _lerp_(state["GG"][side], outer[side], 1.0 - shampoo_beta, np.empty_like(outer[side]))
            state["Q"] = [_eigenvectors(gram) for gram in state["GG"]]
            return p, state
        step = t - 1
        step_size = lr
        if correct_bias:
            step_size *= math.sqrt(1.0 - math.pow(beta2, step)) / (1.0 - math.pow(beta1, step))
        left, right = state["Q"]
        rotated = left.T @ g @ right
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        work = np.empty_like(p)
        _lerp_(exp_avg, g, 1.0 - beta1, work)
        _lerp_(exp_avg_sq, rotated * rotated, 1.0 - beta2, work)
        denominator = np.sqrt(exp_avg_sq) + p.dtype.type(eps)
        direction = left @ ((left.T @ exp_avg @ right) / denominator) @ right.T
        p -= p.dtype.type(step_size) * direction
        if weight_decay != 0.0:
            p *= p.dtype.type(1.0 - weight_decay * lr)
        for side in (0, 1):
            _lerp_(state["GG"][side], outer[side], 1.0 - shampoo_beta, np.empty_like(outer[side]))
        if step % frequency == 0:
            for side in (0, 1):
                _refresh(state, side)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"soap": soap}
