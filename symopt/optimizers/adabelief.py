"""AdaBelief, as optax 0.2.8 writes it: Adam whose second moment tracks the gradient's deviation
from its own moving average."""

from symopt.core import OPTAX_SOURCE, Rule, chain, rule
from symopt.hyperparameters import EPS, EPS_ROOT, OPTAX_BETA1, OPTAX_BETA2, OPTAX_LR
from symopt.transforms import scale_by_belief, scale_by_learning_rate


def adabelief(nesterov: bool = False) -> Rule:
    """AdaBelief: ``v_t = β₂ v_{t-1} + (1 - β₂)(g_t - m_t)² + ε_root``, the direction ``m̂_t/(√v̂_t + ε)``.

    The "belief" is how far the gradient lies from its prediction m_t: a gradient that agrees with
    its average takes a large step. optax adds ε_root to v at every step, inside the state, so
    it accumulates to ε_root/(1 - β₂) (the paper's Algorithm 2 adds ε once, the same in the limit);
    its defaults are ε = ε_root = 1e-16 (the paper's ε = 1e-8, ε_root = 0).

    Args:
        nesterov: look one step ahead, ``m̂_t = β₁ m_t/(1 - β₁ᵗ⁺¹) + (1 - β₁) g_t/(1 - β₁ᵗ)``
            (optax's ``nesterov=True``).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adabelief").transforms
        ('scale_by_belief', 'scale_by_learning_rate')

    Reference: Zhuang et al. (2020), "AdaBelief Optimizer: Adapting Stepsizes by the Belief in
    Observed Gradients", Algorithm 2; optax ``adabelief`` and ``scale_by_belief``.
    """
    if not isinstance(nesterov, bool):
        raise ValueError(f"nesterov must be True or False, not {nesterov!r}")
    return rule(
        "adabelief",
        "AdaBelief, Adam normalised by the variance of the gradient about its average",
        "Zhuang et al. (2020), Algorithm 2; optax adabelief (eps_root added to v at every step)",
        chain(
            "adabelief",
            scale_by_belief(OPTAX_BETA1, OPTAX_BETA2, EPS.restricted(default=1e-16, special=(1e-16, 1e-8)),
                            EPS_ROOT.restricted(default=1e-16, special=(1e-16, 0.0)), nesterov=nesterov),
            scale_by_learning_rate(OPTAX_LR),
        ),
        source=OPTAX_SOURCE,
        library=("optax", "adabelief"),
        nesterov=nesterov,
    )
