"""Adan, as optax 0.2.8 writes it: Nesterov momentum estimated from moving averages of the gradient
and of its differences."""

from symopt.core import OPTAX_SOURCE, Rule, chain, rule
from symopt.hyperparameters import BETA3, EPS, EPS_ROOT, OPTAX_BETA1, OPTAX_BETA2, OPTAX_LR, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, scale_by_adan, scale_by_learning_rate


def adan() -> Rule:
    """Adan: moving averages m_t of g_t, d̄_t of Δg_t = g_t - g_{t-1} and n_t of (g_t + (1 - β₂)Δg_t)²,
    the direction ``(m̂_t + (1 - β₂) d̄_t/(1 - β₂ᵗ))/(√(n̂_t + ε_root) + ε)``, with decoupled weight
    decay scaled by η.

    optax's β's weigh the old value (β₁ = 0.98 where the paper's is 0.02), it bias-corrects all
    three averages (the paper's Algorithm 1 corrects none), takes Δg_1 = 0, and decays by adding
    λθ_{t-1} to the direction (the paper divides by 1 + ηλ instead).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adan").transforms
        ('scale_by_adan', 'add_decayed_weights', 'scale_by_learning_rate')

    Reference: Xie et al. (2022), "Adan: Adaptive Nesterov Momentum Algorithm for Faster
    Optimizing Deep Models", Algorithm 1; optax ``adan`` and ``scale_by_adan``.
    """
    return rule(
        "adan",
        "Adan, adaptive Nesterov momentum from moving averages of gradients and their differences",
        "Xie et al. (2022), Algorithm 1; optax adan (bias-corrected, beta weighs the old value, decay added)",
        chain(
            "adan",
            scale_by_adan(OPTAX_BETA1.restricted(default=0.98), OPTAX_BETA2.restricted(default=0.92), BETA3, EPS,
                          EPS_ROOT.restricted(default=1e-8, special=(1e-8, 0.0))),
            add_decayed_weights(WEIGHT_DECAY),
            scale_by_learning_rate(OPTAX_LR),
        ),
        source=OPTAX_SOURCE,
        library=("optax", "adan"),
    )
