"""NAdam, as torch.optim.NAdam: Adam with Nesterov momentum and a momentum schedule."""

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, EPS, LR, MOMENTUM_DECAY, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, scale_by_learning_rate, scale_by_nadam


def nadam(decoupled_weight_decay: bool = False) -> Rule:
    """NAdam: Adam whose step looks ahead along the momentum, with ``μ_t = β₁(1 - ½·0.96^(tψ))``.

    The product ``Π_t = μ₁ ··· μ_t`` of the momentum factors is a scalar state, as in torch.

    Args:
        decoupled_weight_decay: decay as AdamW does (``θ(1 - ηλ)``) instead of adding λθ to the
            gradient (torch's ``decoupled_weight_decay``, the NAdamW of Loshchilov & Hutter).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("nadam", decoupled_weight_decay=True).transforms
        ('scale_by_nadam', 'add_decayed_weights', 'scale_by_learning_rate')

    Reference: Dozat (2016), "Incorporating Nesterov momentum into Adam"; torch.optim.NAdam.
    """
    if not isinstance(decoupled_weight_decay, bool):
        raise ValueError(f"decoupled_weight_decay must be True or False, not {decoupled_weight_decay!r}")
    direction = scale_by_nadam(BETA1, BETA2, EPS, MOMENTUM_DECAY)
    decay = add_decayed_weights(WEIGHT_DECAY)
    return rule(
        "nadam",
        "NAdam, with " + ("decoupled weight decay" if decoupled_weight_decay else "L2 weight decay"),
        "Dozat (2016); torch.optim.NAdam",
        chain("nadam", *((direction, decay) if decoupled_weight_decay else (decay, direction)),
              scale_by_learning_rate(LR.restricted(default=2e-3))),
        torch="NAdam",
        decoupled_weight_decay=decoupled_weight_decay,
    )
