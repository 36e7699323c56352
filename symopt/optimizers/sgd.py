"""Stochastic gradient descent (Robbins & Monro 1951), as torch.optim.SGD without momentum."""

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import LR, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, scale_by_learning_rate


def sgd() -> Rule:
    """SGD: subtract the gradient scaled by the learning rate, with optional L2 weight decay.

    Returns:
        The rule; ``print`` it for its equations. With λ = 0 (the default) it is the note's SGD.

    Example:
        >>> import symopt
        >>> symopt.get("sgd").transforms
        ('add_decayed_weights', 'scale_by_learning_rate')

    Reference: Robbins & Monro (1951); torch.optim.SGD with ``momentum=0``.
    """
    return rule(
        "sgd",
        "stochastic gradient descent, with optional L2 weight decay",
        "Robbins & Monro (1951); torch.optim.SGD (momentum=0)",
        chain("sgd", add_decayed_weights(WEIGHT_DECAY), scale_by_learning_rate(LR)),
        torch="SGD",
    )
