"""signSGD and Signum, as optax 0.2.8 writes them: the sign of the gradient, or of its moving average."""

from symopt.core import OPTAX_SOURCE, Rule, chain, rule
from symopt.hyperparameters import OPTAX_LR, SIGN_DECAY
from symopt.transforms import FIRST_MOMENT, moving_average, scale_by_learning_rate, scale_by_sign


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


def signum() -> Rule:
    """Signum: the sign of a moving average of the gradient, ``m_t = β m_{t-1} + (1 - β) g_t``,
    ``θ_t = θ_{t-1} - η sign(m_t)`` (no bias correction: it would not change the sign).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("signum").transforms
        ('moving_average', 'scale_by_sign', 'scale_by_learning_rate')

    Reference: Bernstein et al. (2018), Algorithm 3; optax ``signum`` (an ``ema`` without debiasing).
    """
    return rule(
        "signum",
        "Signum, signSGD on a moving average of the gradient",
        "Bernstein et al. (2018), Algorithm 3; optax signum",
        chain("signum", moving_average(FIRST_MOMENT, SIGN_DECAY), scale_by_sign(), scale_by_learning_rate(OPTAX_LR)),
        source=OPTAX_SOURCE,
        library=("optax", "signum"),
    )
