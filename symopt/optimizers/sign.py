"""signSGD, as optax 0.2.8 writes it: the sign of the gradient."""

from symopt.core import OPTAX_SOURCE, Rule, chain, rule
from symopt.hyperparameters import OPTAX_LR
from symopt.transforms import scale_by_learning_rate, scale_by_sign


def sign_sgd() -> Rule:
    """signSGD: ``θ_t = θ_{t-1} - η sign(g_t)``, every element by exactly η.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("sign_sgd").transforms
        ('scale_by_sign', 'scale_by_learning_rate')

    Reference: Bernstein et al. (2018), "signSGD: Compressed Optimisation for Non-Convex
    Problems", Algorithm 1; optax ``sign_sgd``.
    """
    return rule(
        "sign_sgd",
        "signSGD, a step of the same size along the sign of every gradient element",
        "Bernstein et al. (2018), Algorithm 1; optax sign_sgd",
        chain("sign_sgd", scale_by_sign(), scale_by_learning_rate(OPTAX_LR)),
        source=OPTAX_SOURCE,
        library=("optax", "sign_sgd"),
    )

