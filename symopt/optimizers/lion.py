"""Lion (Chen et al. 2023), as optax writes it: the sign of an interpolated momentum."""

from symopt.core import OPTAX_SOURCE, Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, LR, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, scale_by_learning_rate, scale_by_lion


def lion() -> Rule:
    """Lion: step by ``sign(β₁ m_{t-1} + (1 - β₁) g_t)``, every element by exactly η, with
    decoupled weight decay scaled by η, and update the moment at the slower rate β₂ after.

    The chain is optax's ``lion``; lion-pytorch computes ``θ(1 - ηλ)`` and then subtracts
    ``η sign(c_t)``, the same in exact arithmetic. torch.optim has no Lion.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("lion").transforms
        ('scale_by_lion', 'add_decayed_weights', 'scale_by_learning_rate')

    Reference: Chen et al. (2023), "Symbolic discovery of optimization algorithms", Algorithm 2;
    optax ``lion``; lion-pytorch.
    """
    return rule(
        "lion",
        "Lion, the sign of an interpolated momentum, with decoupled weight decay",
        "Chen et al. (2023), Algorithm 2; optax lion (weight decay scaled by the learning rate)",
        chain(
            "lion",
            scale_by_lion(BETA1, BETA2.restricted(default=0.99)),
            add_decayed_weights(WEIGHT_DECAY.restricted(default=1e-3)),
            scale_by_learning_rate(LR.restricted(default=1e-4)),
        ),
        source=OPTAX_SOURCE,
    )
