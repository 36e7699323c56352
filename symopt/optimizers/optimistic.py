"""Optimistic gradient descent, as optax 0.2.8 writes it: the gradient plus its change since the last step."""

from symopt.core import OPTAX_SOURCE, Rule, chain, rule
from symopt.hyperparameters import OPTAX_LR, OPTIMISM_ALPHA, OPTIMISM_BETA
from symopt.transforms import scale_by_learning_rate, scale_by_optimistic_gradient


def optimistic_gradient_descent() -> Rule:
    """Optimistic gradient descent: ``θ_t = θ_{t-1} - η((α + β) g_t - β g_{t-1})``, a step along the
    gradient extrapolated from its last change (α = β = 1: g_t + (g_t - g_{t-1})). At the first step
    there is no g_0: optax takes g_1 for it, so the step is ``η α g_1``.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("optimistic_gradient_descent").transforms
        ('scale_by_optimistic_gradient', 'scale_by_learning_rate')

    Reference: Mokhtari et al. (2019), "A Unified Analysis of Extra-gradient and Optimistic
    Gradient Methods for Saddle Point Problems", eq. (7); optax ``optimistic_gradient_descent``.
    """
    return rule(
        "optimistic_gradient_descent",
        "optimistic gradient descent, the gradient extrapolated from its last change",
        "Mokhtari et al. (2019); optax optimistic_gradient_descent (g_0 taken as g_1)",
        chain("optimistic_gradient_descent", scale_by_optimistic_gradient(OPTIMISM_ALPHA, OPTIMISM_BETA),
              scale_by_learning_rate(OPTAX_LR)),
        source=OPTAX_SOURCE,
        library=("optax", "optimistic_gradient_descent"),
    )
