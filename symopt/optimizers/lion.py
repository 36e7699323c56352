"""Lion (Chen et al. 2023), as optax writes it: the sign of an interpolated momentum."""

from symopt.core import OPTAX_SOURCE, TIMM_SOURCE, Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, LR, WEIGHT_DECAY
from symopt.transforms import (CAUTION_REFERENCE, CORRECTED_DECAY_REFERENCE, Cautious, add_decayed_weights, caution,
                               corrected_decay, scale_by_learning_rate, scale_by_lion)


def lion(cautious: Cautious = False, corrected_weight_decay: bool = False) -> Rule:
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
        corrected_weight_decay: timm's corrected weight decay (arXiv 2506.02285; timm's ``lionc``,
            ``clionc`` with ``cautious``): the decay scaled by ``η²/η_max`` instead of η, η_max the
            learning rate timm's ``Lion`` was built with (``max_lr``, timm's ``max_lr_snapshot``;
            :func:`symopt.transforms.corrected_decay`). optax's ``lion`` has none: the variant follows
            timm 1.0.31 and is verified against it.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("lion").transforms
        ('scale_by_lion', 'add_decayed_weights', 'scale_by_learning_rate')

    Reference: Chen et al. (2023), "Symbolic discovery of optimization algorithms", Algorithm 2;
    optax ``lion``; lion-pytorch.
    """
    lr = LR.restricted(default=1e-4)
    timm = cautious or corrected_weight_decay  # timm's Lion has the mask and the corrected decay; optax's neither
    return rule(
        "lion",
        "Lion, the sign of an interpolated momentum, with decoupled weight decay" + (", cautious" if cautious else "")
        + (", corrected weight decay" if corrected_weight_decay else ""),
        "Chen et al. (2023), Algorithm 2; optax lion (weight decay scaled by the learning rate)"
        + (CAUTION_REFERENCE if cautious else "") + (CORRECTED_DECAY_REFERENCE if corrected_weight_decay else ""),
        chain(
            "lion",
            scale_by_lion(BETA1, BETA2.restricted(default=0.99)),
            *caution(cautious),
            add_decayed_weights(WEIGHT_DECAY.restricted(default=1e-3),
                                corrected=corrected_decay(corrected_weight_decay, lr)),
            scale_by_learning_rate(lr),
        ),
        source=TIMM_SOURCE if timm else OPTAX_SOURCE,
        library=("timm.optim.lion", "Lion") if timm else ("", ""),
        cautious=cautious,
        corrected_weight_decay=corrected_weight_decay,
    )
