"""Schedule-Free SGD and AdamW (Defazio et al. 2024), as the schedulefree package computes them."""

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import BETA2, EPS, INTERPOLATION, LR, LR_POWER, R_POWER, WARMUP, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, scale_by_schedule_free_adam, schedule_free_average


def schedule_free_sgd() -> Rule:
    """Schedule-Free SGD: SGD steps on ``z``, their weighted average ``x``, and the gradient taken at
    ``y = (1 - β) z + β x``, which the parameters hold (the package's train mode).

    No learning-rate schedule is needed: the average does what a decaying schedule would. L2 weight
    decay is added to the gradient at y. ``kernel.eval_params(params, state)`` returns x, what the
    package's ``eval()`` puts in the parameters.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("schedule-free-sgd").transforms
        ('add_decayed_weights', 'schedule_free_average')

    Reference: Defazio et al. (2024), "The Road Less Scheduled"; schedulefree 1.4.1,
    ``SGDScheduleFree``.
    """
    return rule(
        "schedule-free-sgd",
        "Schedule-Free SGD: the gradient at an interpolation of SGD's iterates and their average",
        "Defazio et al. (2024); schedulefree 1.4.1 SGDScheduleFree",
        chain(
            "schedule-free-sgd",
            add_decayed_weights(WEIGHT_DECAY),
            schedule_free_average(LR.restricted(default=1.0), INTERPOLATION, WARMUP, R_POWER, LR_POWER),
        ),
        evaluate="x",
        source="schedulefree 1.4.1",
        library=("schedulefree", "SGDScheduleFree"),
    )


def schedule_free_adamw() -> Rule:
    """Schedule-Free AdamW: the same three sequences, ``z`` moved by Adam's normalised gradient
    ``g_t/(√v̂_t + ε)`` (no first moment: β₁ is the interpolation) plus the decay λ y.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("schedule-free-adamw").transforms
        ('scale_by_schedule_free_adam', 'add_decayed_weights', 'schedule_free_average')

    Reference: Defazio et al. (2024), "The Road Less Scheduled"; schedulefree 1.4.1,
    ``AdamWScheduleFree`` (not the ``Paper`` variant, whose learning rate carries √(1 - β₂ᵗ)).
    """
    interpolation = INTERPOLATION.restricted(name="beta1", library=("betas", 0),
                                             doc="interpolation of y between z (0) and x (1)")
    return rule(
        "schedule-free-adamw",
        "Schedule-Free AdamW: Adam-normalised steps on z, averaged, the gradient at their interpolation",
        "Defazio et al. (2024); schedulefree 1.4.1 AdamWScheduleFree",
        chain(
            "schedule-free-adamw",
            scale_by_schedule_free_adam(BETA2, EPS),
            add_decayed_weights(WEIGHT_DECAY),
            schedule_free_average(LR.restricted(default=0.0025), interpolation, WARMUP, R_POWER, LR_POWER),
        ),
        evaluate="x",
        source="schedulefree 1.4.1",
        library=("schedulefree", "AdamWScheduleFree"),
    )
