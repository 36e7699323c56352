"""RAdam, as torch.optim.RAdam: Adam with its adaptive step rectified, and left out while too noisy."""

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, EPS, LR, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, scale_by_learning_rate, scale_by_radam


def radam(decoupled_weight_decay: bool = False) -> Rule:
    """RAdam: the bias-corrected momentum alone while the SMA length ρ_t ≤ 5, Adam's step rectified
    by ``r_t`` after (the first 5 steps at the default β₂).

    Args:
        decoupled_weight_decay: decay as AdamW does (``θ(1 - ηλ)``) instead of adding λθ to the
            gradient (torch's ``decoupled_weight_decay``).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("radam").transforms
        ('add_decayed_weights', 'scale_by_radam', 'scale_by_learning_rate')

    Reference: Liu et al. (2020), "On the variance of the adaptive learning rate and beyond",
    Algorithm 2; torch.optim.RAdam.
    """
    if not isinstance(decoupled_weight_decay, bool):
        raise ValueError(f"decoupled_weight_decay must be True or False, not {decoupled_weight_decay!r}")
    direction = scale_by_radam(BETA1, BETA2, EPS)
    decay = add_decayed_weights(WEIGHT_DECAY)
    return rule(
        "radam",
        "RAdam, with " + ("decoupled weight decay" if decoupled_weight_decay else "L2 weight decay"),
        "Liu et al. (2020), Algorithm 2; torch.optim.RAdam",
        chain("radam", *((direction, decay) if decoupled_weight_decay else (decay, direction)),
              scale_by_learning_rate(LR)),
        torch="RAdam",
        decoupled_weight_decay=decoupled_weight_decay,
    )
