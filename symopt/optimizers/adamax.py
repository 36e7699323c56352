"""Adamax, as torch.optim.Adamax: Adam with the infinity norm in place of the root mean square."""

from symopt.core import OPTAX_SOURCE, Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, EPS, LR, OPTAX_BETA1, OPTAX_BETA2, OPTAX_LR, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, scale_by_adamax, scale_by_learning_rate


def adamax(decoupled_weight_decay: bool = False) -> Rule:
    """Adamax: ``u_t = max(β₂ u_{t-1}, |g_t| + ε)``, the direction ``m̂_t/u_t``.

    ε sits inside the max, as torch and optax put it (Kingma & Ba's Algorithm 2 has no ε); L2 weight
    decay is added to the gradient first.

    Args:
        decoupled_weight_decay: decay as AdamW does, ``θ(1 - ηλ)``: optax 0.2.8's ``adamaxw``
            (torch.optim.Adamax has no such option).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adamax").transforms
        ('add_decayed_weights', 'scale_by_adamax', 'scale_by_learning_rate')
        >>> symopt.get("adamax", decoupled_weight_decay=True).transforms
        ('scale_by_adamax', 'add_decayed_weights', 'scale_by_learning_rate')

    Reference: Kingma & Ba (2015), Algorithm 2; torch.optim.Adamax; optax ``adamaxw``.
    """
    if not isinstance(decoupled_weight_decay, bool):
        raise ValueError(f"decoupled_weight_decay must be True or False, not {decoupled_weight_decay!r}")
    if decoupled_weight_decay:
        return rule(
            "adamax",
            "Adamax with decoupled weight decay (optax's adamaxw)",
            "Kingma & Ba (2015), Algorithm 2; optax adamaxw (eps inside the max, decay scaled by the learning rate)",
            chain(
                "adamax",
                scale_by_adamax(OPTAX_BETA1, OPTAX_BETA2, EPS),
                add_decayed_weights(WEIGHT_DECAY),  # one default for λ across the variants (as nadamw)
                scale_by_learning_rate(OPTAX_LR.restricted(default=2e-3)),
            ),
            source=OPTAX_SOURCE,
            library=("optax", "adamaxw"),
            decoupled_weight_decay=decoupled_weight_decay,
        )
    return rule(
        "adamax",
        "Adamax, Adam's infinity-norm variant, with L2 weight decay",
        "Kingma & Ba (2015), Algorithm 2; torch.optim.Adamax (eps inside the max)",
        chain(
            "adamax",
            add_decayed_weights(WEIGHT_DECAY),
            scale_by_adamax(BETA1, BETA2, EPS),
            scale_by_learning_rate(LR.restricted(default=2e-3)),
        ),
        torch="Adamax",
        decoupled_weight_decay=decoupled_weight_decay,
    )
