"""Adagrad, as torch.optim.Adagrad: a sum of squared gradients and a decaying learning rate."""

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import EPS, INITIAL_ACCUMULATOR, LR, LR_DECAY, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, scale_by_adagrad, scale_by_decayed_learning_rate


def adagrad() -> Rule:
    """Adagrad: divide the gradient by the root of the sum of all squared gradients so far.

    ``s_t = s_{t-1} + g_t²`` from ``s_0`` (torch's ``initial_accumulator_value``), the direction
    ``g_t/(√s_t + ε)``, scaled by ``η_t = η/(1 + (t - 1)κ)``; L2 weight decay is added to the
    gradient first.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adagrad").transforms
        ('add_decayed_weights', 'scale_by_adagrad', 'scale_by_decayed_learning_rate')

    Reference: Duchi, Hazan & Singer (2011); torch.optim.Adagrad.
    """
    return rule(
        "adagrad",
        "Adagrad, with L2 weight decay and learning-rate decay",
        "Duchi, Hazan & Singer (2011); torch.optim.Adagrad",
        chain(
            "adagrad",
            add_decayed_weights(WEIGHT_DECAY),
            scale_by_adagrad(EPS.restricted(default=1e-10), INITIAL_ACCUMULATOR),
            scale_by_decayed_learning_rate(LR.restricted(default=1e-2), LR_DECAY),
        ),
        torch="Adagrad",
    )
