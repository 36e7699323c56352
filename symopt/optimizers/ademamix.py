"""AdEMAMix, as pytorch-optimizer 4.1.0 writes it: Adam's step with a slow moving average of the
gradient mixed in."""

from typing import Annotated

from symopt.core import LibraryKeyword, Rule, chain, rule
from symopt.hyperparameters import (
    ADEMAMIX_ALPHA,
    ADEMAMIX_BETA1,
    ADEMAMIX_BETA2,
    ADEMAMIX_BETA3,
    ADEMAMIX_WARMUP,
    EPS,
    LR,
    WEIGHT_DECAY,
)
from symopt.transforms import (
    add_decayed_weights,
    scale_by_ademamix,
    scale_by_learning_rate,
)

SOURCE = "pytorch-optimizer 4.1.0"
# the package warms up where t_alpha_beta3 is given, not None: any number (each step's value of the
# hyperparameter t_alpha_beta3 goes into the param group)
Warmup = Annotated[bool, LibraryKeyword("t_alpha_beta3", {True: ADEMAMIX_WARMUP.default})]


def ademamix(weight_decouple: bool = False, fixed_decay: bool = False, warmup: Warmup = False) -> Rule:
    """AdEMAMix: ``θ_t = θ_{t-1} - η(m̂_t + α mˢˡᵒʷ_t)/(√v̂_t + ε)``, Adam's bias-corrected moments and a
    slow moving average ``mˢˡᵒʷ_t = β₃ mˢˡᵒʷ_{t-1} + (1 - β₃) g_t`` (not bias-corrected), mixed by α.

    Args:
        weight_decouple: decay as AdamW does (``θ(1 - ηλ)``) instead of adding λθ to the gradient (the
            package's default is the L2 form).
        fixed_decay: with ``weight_decouple``, decay by ``θ(1 - λ)``, not scaled by the learning rate.
            Without it the package ignores the flag, and so does the rule (the L2 rule).
        warmup: α and β₃ warm up over ``t_alpha_beta3`` steps (the package's ``t_alpha_beta3`` given
            rather than None): ``α_t = min(tα/T, α)`` and β₃,ₜ from β₁ to β₃ with the slow average's
            half-life growing linearly (β₁ and β₃ must then be positive: the schedule takes their logs).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("ademamix").transforms
        ('add_decayed_weights', 'scale_by_ademamix', 'scale_by_learning_rate')

    Reference: Pagliardini, Ablin and Grangier (2024), "The AdEMAMix Optimizer: Better, Faster,
    Older", Algorithm 1; pytorch-optimizer 4.1.0 ``AdEMAMix``.
    """
    for key, value in (("weight_decouple", weight_decouple), ("fixed_decay", fixed_decay), ("warmup", warmup)):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be True or False, not {value!r}")
    positive = {"low_open": True} if warmup else {}  # ln β₁ and ln β₃
    direction = scale_by_ademamix(ADEMAMIX_BETA1.restricted(**positive), ADEMAMIX_BETA2,
                                  ADEMAMIX_BETA3.restricted(**positive), ADEMAMIX_ALPHA, EPS,
                                  ADEMAMIX_WARMUP if warmup else None)
    decay = add_decayed_weights(WEIGHT_DECAY)
    lr = scale_by_learning_rate(LR)
    if not weight_decouple:
        transforms, kind = (decay, direction, lr), "L2 weight decay"
    elif fixed_decay:
        transforms, kind = (direction, lr, decay), "decoupled weight decay not scaled by the learning rate"
    else:
        transforms, kind = (direction, decay, lr), "decoupled weight decay"
    return rule(
        "ademamix",
        f"AdEMAMix, Adam mixing a fast and a slow moving average of the gradient, with {kind}"
        + (", alpha and beta3 warmed up" if warmup else ""),
        "Pagliardini et al. (2024), Algorithm 1; pytorch-optimizer AdEMAMix (the slow average not bias-corrected)",
        chain("ademamix", *transforms),
        source=SOURCE,
        library=("pytorch_optimizer", "AdEMAMix"),
        weight_decouple=weight_decouple,
        fixed_decay=fixed_decay,
        warmup=warmup,
    )
