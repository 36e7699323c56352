"""Muon: torch.optim.Muon (torch 2.13), Keller Jordan's Muon; Newton-Schulz orthogonalisation of the
momentum."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _state_array, _lerp_

__all__ = ["muon"]


def _orthogonalize(x: np.ndarray, a: float, b: float, c: float, steps: int, eps: float) -> np.ndarray:
    """torch's ``_zeropower_via_newtonschulz`` in the array's own dtype (torch runs it in bfloat16).

    The iteration runs on the wide orientation, where ``X @ X.T`` is the smaller Gram matrix, and
    ``X`` starts divided by its Frobenius norm (at least ``eps``), so its singular values are ≤ 1.
    """
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    norm = np.sqrt(np.sum(x * x)) if x.size else x.dtype.type(0.0)
    x = x / max(norm, x.dtype.type(eps))
    for _ in range(steps):
        gram = x @ x.T
        gram_update = b * gram + c * (gram @ gram)  # torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = a * x + gram_update @ x  # torch.addmm(x, gram_update, x, beta=a)
    return x.T if tall else x


def muon(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    momentum: float = 0.95,
    eps: float = 1e-7,
    ns_a: float = 3.4445,
    ns_b: float = -4.7750,
    ns_c: float = 2.0315,
    ns_steps: int = 5,
    nesterov: bool = True,
    adjust_lr_fn: str = "original",
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Muon, as torch.optim.Muon (2.13, ``_single_tensor_muon``), in the params' dtype.

    ::

        buf = lerp(buf, g, 1 - momentum)                 # an EMA, not torch's documented sum
        update = lerp(g, buf, momentum) if nesterov else buf
        O = NS(update)                                   # Newton–Schulz, ns_steps steps
        params = params * (1 - lr * weight_decay) - lr * s(A, B) * O

    with ``s = sqrt(max(1, A/B))`` ("original") or ``0.2 * sqrt(max(A, B))``
    ("match_rms_adamw") for an A×B matrix.  torch computes ``NS`` in bfloat16;
    this reference computes it in the parameters' dtype.  The buffer is
    ``state["momentum_buffer"]``.

    Raises:
        ValueError: for parameters that are not a matrix (torch refuses them too).

    Example:
        >>> import numpy as np
        >>> p, s = muon(np.eye(2), np.eye(2), {}, 1, lr=0.1, weight_decay=0.0)
        >>> bool(np.allclose(p, 0.9 * np.eye(2), atol=0.1))  # singular values near 1, not exactly
        True

    Reference:
        K. Jordan et al., "Muon: An optimizer for hidden layers in neural
        networks", 2024 (``muon.py``); J. Liu et al., "Muon is Scalable for LLM
        Training", 2025 (match_rms_adamw); torch.optim.Muon.
    """
    if np.ndim(params) != 2:
        raise ValueError(f"Muon takes 2-D parameters, not shape {np.shape(params)}")
    if adjust_lr_fn not in ("original", "match_rms_adamw"):
        raise ValueError(f"unknown adjust_lr_fn {adjust_lr_fn!r}")
    lr, weight_decay, momentum = float(lr), float(weight_decay), float(momentum)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        buf = _state_array(state, "momentum_buffer", p)
        work = np.empty_like(p)
        _lerp_(buf, g, 1.0 - momentum, work)  # torch: buf.lerp_(grad, 1 - momentum)
        update = buf
        if nesterov:  # torch: grad.lerp(buf, momentum)
            update = g.copy()
            _lerp_(update, buf, momentum, work)
        o = _orthogonalize(update, float(ns_a), float(ns_b), float(ns_c), int(ns_steps), float(eps))
        rows, cols = p.shape
        if adjust_lr_fn == "original":
            adjusted = lr * float(np.sqrt(max(1.0, rows / cols))) if cols else lr
        else:
            adjusted = lr * 0.2 * float(np.sqrt(max(rows, cols)))
        p *= 1.0 - lr * weight_decay
        p -= adjusted * o
    return p, state



#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"muon": muon}
