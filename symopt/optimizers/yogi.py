"""Yogi, as optax 0.2.8 writes it: Adam whose second moment moves additively, by at most (1 - β₂)g²."""

from symopt.core import OPTAX_SOURCE, Rule, chain, rule
from symopt.hyperparameters import EPS, INITIAL_ACCUMULATOR, OPTAX_BETA1, OPTAX_BETA2, OPTAX_LR
from symopt.transforms import scale_by_learning_rate, scale_by_yogi

# optax starts both moments at 1e-6 (scale_by_yogi's initial_accumulator_value; its yogi keeps it).
YOGI_INITIAL = INITIAL_ACCUMULATOR.restricted(default=1e-6, special=(1e-6,), sample=(1e-8, 1e-2),
                                              doc="initial value of both moments")


def yogi() -> Rule:
    """Yogi: ``v_t = v_{t-1} - (1 - β₂) sign(v_{t-1} - g_t²) g_t²``, the direction ``m̂_t/(√v̂_t + ε)``.

    Where Adam's v jumps to a large g² at once, Yogi's moves towards it by (1 - β₂)g² a step, so the
    effective learning rate cannot grow fast. Both moments start at 1e-6, as optax's do, and ε is
    1e-3 by default (Zaheer et al.'s choice).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("yogi").transforms
        ('scale_by_yogi', 'scale_by_learning_rate')

    Reference: Zaheer et al. (2018), "Adaptive Methods for Nonconvex Optimization", Algorithm 2;
    optax ``yogi`` and ``scale_by_yogi``.
    """
    return rule(
        "yogi",
        "Yogi, Adam with an additive update of the second moment",
        "Zaheer et al. (2018), Algorithm 2; optax yogi (both moments start at 1e-6)",
        chain(
            "yogi",
            scale_by_yogi(OPTAX_BETA1, OPTAX_BETA2, EPS.restricted(default=1e-3, special=(1e-3, 1e-8)), YOGI_INITIAL),
            scale_by_learning_rate(OPTAX_LR),
        ),
        source=OPTAX_SOURCE,
        library=("optax", "yogi"),
    )
