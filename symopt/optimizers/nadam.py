"""NAdam, as torch.optim.NAdam: Adam with Nesterov momentum and a momentum schedule; and as optax
writes it, with no schedule."""

from typing import Literal

from symopt.core import OPTAX_SOURCE, Rule, chain, rule
from symopt.hyperparameters import (BETA1, BETA2, EPS, EPS_ROOT, LR, MOMENTUM_DECAY, OPTAX_BETA1, OPTAX_BETA2,
                                    OPTAX_LR, WEIGHT_DECAY)
from symopt.transforms import add_decayed_weights, scale_by_adam, scale_by_learning_rate, scale_by_nadam

Convention = Literal["torch", "optax"]


def nadam(decoupled_weight_decay: bool = False, convention: Convention = "torch") -> Rule:
    """NAdam: Adam whose step looks ahead along the momentum, with ``μ_t = β₁(1 - ½·0.96^(tψ))``.

    The product ``Π_t = μ₁ ··· μ_t`` of the momentum factors is a scalar state, as in torch.

    Args:
        decoupled_weight_decay: decay as AdamW does (``θ(1 - ηλ)``) instead of adding λθ to the
            gradient (torch's ``decoupled_weight_decay``, the NAdamW of Loshchilov & Hutter; optax's
            ``nadamw``).
        convention: ``"torch"`` (torch.optim.NAdam, with the momentum schedule ψ) or ``"optax"``
            (optax 0.2.8's ``nadam``: Adam with μ_t = β₁ for ever, the look-ahead
            ``m̂_t = β₁ m_t/(1 - β₁ᵗ⁺¹) + (1 - β₁) g_t/(1 - β₁ᵗ)``, and its ``eps_root``).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("nadam", decoupled_weight_decay=True).transforms
        ('scale_by_nadam', 'add_decayed_weights', 'scale_by_learning_rate')
        >>> symopt.get("nadam", convention="optax").transforms
        ('add_decayed_weights', 'scale_by_adam', 'scale_by_learning_rate')

    Reference: Dozat (2016), "Incorporating Nesterov Momentum into Adam"; torch.optim.NAdam;
    optax ``nadam`` and ``nadamw`` (``scale_by_adam(nesterov=True)``).
    """
    if not isinstance(decoupled_weight_decay, bool):
        raise ValueError(f"decoupled_weight_decay must be True or False, not {decoupled_weight_decay!r}")
    if convention not in ("torch", "optax"):
        raise ValueError(f"convention must be 'torch' or 'optax', not {convention!r}")
    decay = add_decayed_weights(WEIGHT_DECAY)
    if convention == "optax":
        direction = scale_by_adam(OPTAX_BETA1, OPTAX_BETA2, EPS, epsilon="both", eps_root=EPS_ROOT, nesterov=True)
        return rule(
            "nadam",
            "NAdam as optax writes it (no momentum schedule), with "
            + ("decoupled weight decay" if decoupled_weight_decay else "L2 weight decay"),
            "Dozat (2016) without the momentum schedule; optax " + ("nadamw" if decoupled_weight_decay else "nadam"),
            chain("nadam", *((direction, decay) if decoupled_weight_decay else (decay, direction)),
                  scale_by_learning_rate(OPTAX_LR.restricted(default=2e-3))),
            source=OPTAX_SOURCE,
            library=("optax", "nadamw" if decoupled_weight_decay else "nadam"),
            decoupled_weight_decay=decoupled_weight_decay,
            convention=convention,
        )
    direction = scale_by_nadam(BETA1, BETA2, EPS, MOMENTUM_DECAY)
    return rule(
        "nadam",
        "NAdam, with " + ("decoupled weight decay" if decoupled_weight_decay else "L2 weight decay"),
        "Dozat (2016); torch.optim.NAdam",
        chain("nadam", *((direction, decay) if decoupled_weight_decay else (decay, direction)),
              scale_by_learning_rate(LR.restricted(default=2e-3))),
        torch="NAdam",
        decoupled_weight_decay=decoupled_weight_decay,
        convention=convention,
    )
