"""SM3, as optax 0.2.8 writes it: Adagrad's sum of squares kept as one accumulator per slice of the
parameter along each dimension (A + B numbers for an A×B matrix), each element reading the smallest
of its slices', with optax's momentum on the result."""

from symopt.core import OPTAX_SOURCE, Rule, chain, rule
from symopt.hyperparameters import EPS, OPTAX_BETA1, OPTAX_BETA2, OPTAX_LR
from symopt.transforms import scale_by_learning_rate, scale_by_sm3

# optax's sm3(learning_rate, momentum) is scale_by_sm3(b1=momentum) with its b2 = 1 and eps = 1e-8.
SM3_MOMENTUM = OPTAX_BETA1.restricted(name="momentum", library=None, default=0.9, special=(0.9, 0.0),
                                      doc="decay of the moving average of the preconditioned gradient (optax's b1)")
SM3_BETA2 = OPTAX_BETA2.restricted(default=1.0, high_open=False, special=(1.0, 0.0, 0.9),
                                   doc="weight of the accumulators against g^2 (1: their sum, optax's default)")


def sm3() -> Rule:
    """SM3: ``ν′_t = g_t² + covmin(μ′_{t-1})``, ``μ′_t = covmax(ν′_t)``, ``m_t = β₁ m_{t-1} + (1 - β₁)
    g_t/√(ν′_t + ε)``, ``θ_t = θ_{t-1} - η m_t``.

    The accumulators μ′ are one number per slice of the parameter along each of its dimensions (its
    rows and its columns for a matrix), concatenated: covmin gives each element the smallest of the
    slices through it, covmax each slice the largest ν′ in it. Every rank is taken: a vector's
    slices are its elements (Adagrad with ε inside the root, as optax treats parameters of fewer than
    two dimensions), and a number is its own slice (optax's scale_by_sm3 raises on a 0-d parameter).
    optax's ``sm3`` fixes ``b2 = 1`` and ``eps = 1e-8``; with ``β₂ < 1`` the two terms are weighed
    ``(1 - β₂)`` and ``β₂`` as its ``scale_by_sm3`` does.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("sm3").transforms
        ('scale_by_sm3', 'scale_by_learning_rate')

    Reference: Anil, Gupta, Koren and Singer (2019), "Memory-Efficient Adaptive Optimization",
    Algorithm SM3-II; optax ``sm3`` and ``scale_by_sm3``.
    """
    return rule(
        "sm3",
        "SM3, Adagrad with one accumulator per slice along each dimension, and momentum",
        "Anil et al. (2019), SM3-II; optax sm3 (b2 = 1, eps = 1e-8 inside the root, momentum a moving average)",
        chain(
            "sm3",
            scale_by_sm3(SM3_MOMENTUM, SM3_BETA2, EPS),
            scale_by_learning_rate(OPTAX_LR),
        ),
        source=OPTAX_SOURCE,
        library=("optax", "sm3"),
    )
