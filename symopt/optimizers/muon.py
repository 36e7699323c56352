"""Muon: momentum orthogonalised by a Newton–Schulz iteration, for 2-D parameters."""

import math
from typing import Literal

from symopt import symbols as S
from symopt.core import Hyper, Rule, chain, rule
from symopt.hyperparameters import EPS, LR, MOMENTUM, WEIGHT_DECAY
from symopt.transforms import (ADJUST_LR, BUFFER, add_decayed_weights, moving_average, nesterov_look_ahead,
                               orthogonalize, scale_by_learning_rate, scale_by_shape)

# torch.optim.Muon's defaults: the quintic's coefficients (Jordan et al. 2024), 5 steps, ε = 1e-7.
# Generated cases keep the coefficients at their defaults: other ones may make the iteration diverge.
NS_A = Hyper(S.ns_a, "ns_a", 3.4445, -math.inf, math.inf, low_open=True, library=("ns_coefficients", 0),
             doc="Newton-Schulz coefficient of X",
             special=(3.4445,), sample=(3.4445, 3.4445))
NS_B = Hyper(S.ns_b, "ns_b", -4.7750, -math.inf, math.inf, low_open=True, library=("ns_coefficients", 1),
             doc="Newton-Schulz coefficient of X X^T X",
             special=(-4.7750,), sample=(-4.7750, -4.7750))
NS_C = Hyper(S.ns_c, "ns_c", 2.0315, -math.inf, math.inf, low_open=True, library=("ns_coefficients", 2),
             doc="Newton-Schulz coefficient of (X X^T)^2 X",
             special=(2.0315,), sample=(2.0315, 2.0315))
NS_STEPS = Hyper(S.ns_steps, "ns_steps", 5.0, 1.0, 100.0, doc="Newton-Schulz steps (torch: fewer than 100)",
                 special=(5.0, 1.0), sample=(1.0, 8.0), integer=True)
MUON_MOMENTUM = MOMENTUM.restricted(default=0.95, low_open=False, special=(0.95, 0.0))
MUON_EPS = EPS.restricted(default=1e-7, special=(1e-7,))

AdjustLR = Literal["original", "match_rms_adamw"]


def muon(nesterov: bool = True, adjust_lr_fn: AdjustLR = "original") -> Rule:
    """Muon, as torch.optim.Muon (2.13): an EMA of the gradient, orthogonalised, scaled by the shape.

    ``b_t = μ b_{t-1} + (1 - μ) g_t``; ``O_t = NS_k(B̃_t)`` with B̃_t = (1 - μ) g_t + μ b_t
    (Nesterov) or b_t; ``θ_t = θ_{t-1} - η s O_t - η λ θ_{t-1}``, s a number of the shape A×B.
    The weight decay is scaled by the unadjusted η. Parameters must be matrices.

    Args:
        nesterov: look one step ahead (torch's default).
        adjust_lr_fn: ``"original"`` (Jordan: s = √max(1, A/B)) or ``"match_rms_adamw"``
            (Moonshot: s = 0.2·√max(A, B), an update RMS of 0.2 whatever the shape).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("muon").transforms
        ('moving_average', 'nesterov_look_ahead', 'orthogonalize', 'scale_by_shape', 'add_decayed_weights', 'scale_by_learning_rate')

    Reference: K. Jordan et al., "Muon: An optimizer for hidden layers in neural networks" (2024);
    J. Liu et al., "Muon is Scalable for LLM Training" (2025); torch.optim.Muon.
    """
    if not isinstance(nesterov, bool):
        raise ValueError(f"nesterov must be True or False, not {nesterov!r}")
    if adjust_lr_fn not in ADJUST_LR:
        raise ValueError(f"adjust_lr_fn must be one of {', '.join(ADJUST_LR)}, not {adjust_lr_fn!r}")
    momentum = moving_average(BUFFER, MUON_MOMENTUM)
    return rule(
        "muon",
        "momentum orthogonalised by a Newton-Schulz iteration",
        "Jordan et al. (2024), Muon; Liu et al. (2025) for match_rms_adamw; torch.optim.Muon (EMA momentum, "
        "NS in bfloat16)",
        chain(
            "muon",
            momentum,
            *([nesterov_look_ahead(MUON_MOMENTUM)] if nesterov else []),
            orthogonalize(NS_A, NS_B, NS_C, NS_STEPS, MUON_EPS),
            scale_by_shape(adjust_lr_fn),
            add_decayed_weights(WEIGHT_DECAY.with_default(0.1)),
            scale_by_learning_rate(LR),
        ),
        torch="Muon",
        ranks=(2,),
        nesterov=nesterov,
        adjust_lr_fn=adjust_lr_fn,
    )
