"""Prodigy, as prodigyopt 1.1.2 writes it: Adam whose step is scaled by an estimate d of the distance
to the solution, learnt from the gradients along the way."""

from typing import Annotated

from symopt.core import LibraryKeyword, Rule, chain, rule
from symopt.hyperparameters import (BETA1, BETA2, EPS, PRODIGY_BETA3, PRODIGY_D0, PRODIGY_D_COEF, PRODIGY_GROWTH,
                                    PRODIGY_LR, WEIGHT_DECAY)
from symopt.transforms import add_decayed_weights, scale_by_prodigy

SOURCE = "prodigyopt 1.1.2"
# prodigyopt's beta3 given (each step's value then goes into the group) rather than its None, √β₂
OwnBeta3 = Annotated[bool, LibraryKeyword("beta3", {True: PRODIGY_BETA3.default})]


def prodigy(decouple: bool = True, use_bias_correction: bool = False, safeguard_warmup: bool = False,
            own_beta3: OwnBeta3 = False) -> Rule:
    """Prodigy: ``θ_t = θ_{t-1} - γ_t m_t/(√v_t + d_t ε)`` with ``γ_t = d_{t-1} η``, Adam's moments of
    ``d_{t-1} g_t``, and d the largest estimate ``d̂_t = c_d κ_t/D_t`` so far (growing by at most G a
    step), ``κ_t`` and ``Σ_t`` β₃-weighted sums of ``⟨g_t, x₀ - θ_{t-1}⟩`` and of ``g_t``, each weighted
    by ``(d/d₀)γ_t``, ``D_t`` the sum of ``|Σ_t|``. The estimate sums over the whole tensor: the rule
    is one parameter tensor (prodigyopt shares d across every tensor of every group; with one tensor
    the two agree), with β₁ > 0 (prodigyopt's β₁ = 0, which keeps no m, is not taken), with ``slice_p = 1`` only (every element in the estimate; prodigyopt's larger
    values estimate from every p-th element, an approximation) and without FSDP.

    Args:
        decouple: decay as AdamW does, ``θ(1 - λγ_t)`` (the package's default), instead of adding λθ
            to the gradient.
        use_bias_correction: scale γ_t by Adam's bias correction √(1 - β₂ᴷ⁺¹)/(1 - β₁ᴷ⁺¹), K the steps
            taken so far.
        safeguard_warmup: weight Σ_t's gradients by ``(d/d₀)d`` rather than ``(d/d₀)γ_t`` (the learning
            rate left out of the estimate's denominator).
        own_beta3: β₃ is a hyperparameter of its own (the package's ``beta3`` given); without it the
            package's None, √β₂.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("prodigy").transforms
        ('scale_by_prodigy',)

    Reference: Mishchenko and Defazio (2023), "Prodigy: An Expeditiously Adaptive Parameter-Free
    Learner", Algorithm 4 (Adam); prodigyopt 1.1.2 ``Prodigy``.
    """
    for key, value in (("decouple", decouple), ("use_bias_correction", use_bias_correction),
                       ("safeguard_warmup", safeguard_warmup), ("own_beta3", own_beta3)):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be True or False, not {value!r}")
    # β₁ > 0: at β₁ = 0 prodigyopt keeps no m and steps along the new d's d_t g_t, not the old d's
    # (a branch only a step where d grows tells apart, which generated cases reach too rarely to test)
    direction = scale_by_prodigy(PRODIGY_LR, BETA1.restricted(low_open=True, special=(0.9, 0.999)), BETA2,
                                 PRODIGY_BETA3 if own_beta3 else None, EPS, WEIGHT_DECAY, PRODIGY_D0, PRODIGY_D_COEF,
                                 PRODIGY_GROWTH, decouple=decouple, bias_correction_on=use_bias_correction,
                                 safeguard_warmup=safeguard_warmup)
    transforms = (direction,) if decouple else (add_decayed_weights(WEIGHT_DECAY), direction)
    return rule(
        "prodigy",
        "Prodigy, Adam scaled by an estimate d of the distance to the solution, with "
        + ("decoupled weight decay" if decouple else "L2 weight decay"),
        "Mishchenko and Defazio (2023), Algorithm 4; prodigyopt 1.1.2 Prodigy (one tensor, slice_p = 1)",
        chain("prodigy", *transforms),
        source=SOURCE,
        library=("prodigyopt", "Prodigy"),
        decouple=decouple,
        use_bias_correction=use_bias_correction,
        safeguard_warmup=safeguard_warmup,
        own_beta3=own_beta3,
    )
