"""Lion (Chen et al. 2023), as optax writes it: the sign of an interpolated momentum."""

from symopt.core import OPTAX_SOURCE, TIMM_SOURCE, Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, LR, WEIGHT_DECAY
from symopt.transforms import (CAUTION_REFERENCE, Cautious, add_decayed_weights, caution, scale_by_learning_rate,
                               scale_by_lion)


def lion(cautious: Cautious = False) -> Rule:
    """Lion: step by ``sign(β₁ m_{t-1} + (1 - β₁) g_t)``, every element by exactly η, with
    decoupled weight decay scaled by η, and update the moment at the slower rate β₂ after.

    The chain is optax's ``lion``; lion-pytorch and timm 1.0.31's ``Lion`` compute ``θ(1 - ηλ)``
    and then subtract ``η sign(c_t)``, the same in exact arithmetic. torch.optim has no Lion.

    Args:
        cautious: keep the step ``sign(c_t)`` only where it agrees in sign with the gradient, rescaled
            by the fraction that agrees (:func:`symopt.transforms.cautious_mask`; Liang et al. 2024),
            before the decoupled decay, which it does not touch, as timm's ``Lion(caution=True)``
            masks ``update``. timm's ``Lion`` without it is optax's rule (the default variant); the
            cautious one follows timm 1.0.31 and is verified against it (``--against timm``).

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
        "Lion, the sign of an interpolated momentum, with decoupled weight decay" + (", cautious" if cautious else ""),
        "Chen et al. (2023), Algorithm 2; optax lion (weight decay scaled by the learning rate)"
        + (CAUTION_REFERENCE if cautious else ""),
        chain(
            "lion",
            scale_by_lion(BETA1, BETA2.restricted(default=0.99)),
            *caution(cautious),
            add_decayed_weights(WEIGHT_DECAY.restricted(default=1e-3)),
            scale_by_learning_rate(LR.restricted(default=1e-4)),
        ),
        source=TIMM_SOURCE if cautious else OPTAX_SOURCE,
        library=("timm.optim.lion", "Lion") if cautious else ("", ""),
        cautious=cautious,
    )
