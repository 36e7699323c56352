"""Adamax, as torch.optim.Adamax: Adam with the infinity norm in place of the root mean square."""

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, EPS, LR, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, scale_by_adamax, scale_by_learning_rate


def adamax() -> Rule:
    """Adamax: ``u_t = max(β₂ u_{t-1}, |g_t| + ε)``, the direction ``m̂_t/u_t``.

    ε sits inside the max, as torch puts it (Kingma & Ba's Algorithm 2 has no ε); L2 weight decay is
    added to the gradient first.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adamax").transforms
        ('add_decayed_weights', 'scale_by_adamax', 'scale_by_learning_rate')

    Reference: Kingma & Ba (2015), Algorithm 2; torch.optim.Adamax.
    """
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
    )
