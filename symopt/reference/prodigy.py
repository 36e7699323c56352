"""Prodigy: Mishchenko and Defazio (2023), "Prodigy: An Expeditiously Adaptive Parameter-Free
Learner", Algorithm 4; prodigyopt 1.1.2 ``Prodigy.step``, followed operation by operation for one
parameter tensor in one group (``slice_p = 1``, no FSDP)."""

from __future__ import annotations

import math
from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _state_array

__all__ = ["prodigy"]


def prodigy(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1.0,
    beta1: float = 0.9,
    beta2: float = 0.999,
    beta3: float = math.sqrt(0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    d0: float = 1e-6,
    d_coef: float = 1.0,
    growth_rate: float = math.inf,
    decouple: bool = True,
    use_bias_correction: bool = False,
    safeguard_warmup: bool = False,
    own_beta3: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Prodigy on one tensor (``k`` counts the steps that moved, from 0)::

        g = g + weight_decay * p                              # unless decouple
        dlr = d * lr * (sqrt(1 - beta2**(k+1)) / (1 - beta1**(k+1)) if use_bias_correction else 1)
        numerator = beta3 * numerator + (d / d0) * dlr * <g, p0 - p>
        m = beta1 * m + d * (1 - beta1) * g;  v = beta2 * v + d * d * (1 - beta2) * g * g
        s = beta3 * s + (d / d0) * (d if safeguard_warmup else dlr) * g
        if sum|s| == 0: return                                # nothing else changes
        d_hat = d_coef * numerator / sum|s|
        d = max(d, d_hat) if d == d0 else d;  d_max = max(d_max, d_hat);  d = min(d_max, d * growth_rate)
        p = p - weight_decay * dlr * p                        # if decouple
        p = p - dlr * m / (sqrt(v) + d * eps)                 # with beta1 = 0: dlr * d * g / (...)

    ``beta3`` is used with ``own_beta3``, otherwise ``sqrt(beta2)`` (the package's None). The scalars
    (d, d_max, the numerator, dlr) are Python floats, as in the package; the state keeps them under
    the package's group keys, with ``p0``, ``s``, ``exp_avg`` and ``exp_avg_sq``.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (the package counts its own k instead).
        lr, beta1, beta2, beta3, eps, weight_decay, d0, d_coef, growth_rate: the package's ``lr``,
            ``betas``, ``beta3``, ``eps``, ``weight_decay``, ``d0``, ``d_coef``, ``growth_rate``.
        decouple, use_bias_correction, safeguard_warmup: the package's flags.
        own_beta3: use ``beta3`` (the package's given); else ``sqrt(beta2)``.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = prodigy(np.array([1.0, 1.0]), np.array([1.0, -1.0]), {}, 1, beta1=0.0, beta2=0.0, eps=0.0)
        >>> p                      # the first step: d0 * lr * sign(g)
        array([0.999999, 1.000001])
    """
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    weight_decay, d0, d_coef, growth_rate = float(weight_decay), float(d0), float(d_coef), float(growth_rate)
    beta3 = float(beta3) if own_beta3 else math.sqrt(beta2)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.array(grads, dtype=p.dtype, copy=True)
        if "d" not in state:
            state.update(d=d0, d_max=d0, d_numerator=0.0, k=0)
        d, d_max, k = float(state["d"]), float(state["d_max"]), int(state["k"])
        correction = math.sqrt(1 - beta2 ** (k + 1)) / (1 - beta1 ** (k + 1)) if use_bias_correction else 1.0
        dlr = d * lr * correction
        numerator = float(state["d_numerator"]) * beta3
        if weight_decay != 0 and not decouple:
            g += p * p.dtype.type(weight_decay)
        s = _state_array(state, "s", p)
        p0 = state.get("p0")
        if p0 is None:
            p0 = state["p0"] = p.copy()
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        numerator += (d / d0) * dlr * float(np.sum(g * (p0 - p), dtype=p.dtype))
        if beta1 > 0:
            m *= p.dtype.type(beta1)
            m += g * p.dtype.type(d * (1 - beta1))
        v *= p.dtype.type(beta2)
        v += (g * p.dtype.type(d * d * (1 - beta2))) * g
        s *= p.dtype.type(beta3)
        s += g * p.dtype.type((d / d0) * (d if safeguard_warmup else dlr))
        denominator = float(np.sum(np.abs(s), dtype=p.dtype))
        if denominator == 0:
            return p, state
        d_hat = d_coef * numerator / denominator
        if d == d0:
            d = max(d, d_hat)
        d_max = max(d_max, d_hat)
        d = min(d_max, d * growth_rate)
        state.update(d=d, d_max=d_max, d_numerator=numerator, k=k + 1)
        scale = np.sqrt(v) + p.dtype.type(d * eps)
        if weight_decay != 0 and decouple:
            p += p * p.dtype.type(-weight_decay * dlr)
        if beta1 > 0:
            p += (m * p.dtype.type(-dlr)) / scale
        else:
            p += (g * p.dtype.type(-dlr * d)) / scale
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"prodigy": prodigy}
