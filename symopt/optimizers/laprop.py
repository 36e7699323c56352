"""LaProp, as timm 1.0.31 writes it (``timm.optim.LaProp``): the gradient normalised by the second
moment before it enters the momentum, which Adam does after."""

from symopt.core import TIMM_SOURCE, Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, EPS, LR, WEIGHT_DECAY
from symopt.transforms import (CAUTION_REFERENCE, CORRECTED_DECAY_REFERENCE, Cautious, add_decayed_stepped_weights,
                               caution, corrected_decay, scale_by_laprop)


def laprop(cautious: Cautious = False, corrected_weight_decay: bool = False) -> Rule:
    """LaProp: ``v_t = β₂ v_{t-1} + (1 - β₂) g_t²``,
    ``m_t = β₁ m_{t-1} + η(1 - β₁) g_t/(√(v_t/ζ_t) + ε)``, ``θ̃_t = θ_{t-1} - α_t m_t`` and
    ``θ_t = θ̃_t(1 - ηλ)``.

    The momentum averages normalised steps, so β₁ and β₂ are independent (LaProp converges with
    β₁ > β₂, where Adam may not). The learning rate sits inside the momentum; its bias correction is
    ``α_t = η/η̄_t``, η̄_t the moving average of the learning rate (η̄_t = η(1 - β₁ᵗ) while η is
    constant, α_t = 0 while η̄_t is 0), and ζ_t, the moving average of 1, is 1 - β₂ᵗ. timm follows
    the authors' code (which tracks η̄ so that a schedule is bias-corrected as it changes); its
    decoupled decay shrinks the parameters *after* the step, θ̃_t(1 - ηλ), not θ_{t-1}.

    Args:
        cautious: keep the step ``α_t m_t`` only where it agrees in sign with the gradient, rescaled by
            the fraction that agrees (:func:`symopt.transforms.cautious_mask`), before the decay of the
            stepped parameters, as timm's ``LaProp(caution=True)`` masks ``exp_avg`` (α_t ≥ 0 does not
            change the sign); the state keeps the unmasked m_t.
        corrected_weight_decay: timm's corrected weight decay (arXiv 2506.02285; its ``lapropc``):
            ``θ_t = θ̃_t(1 - (η²/η_max)λ)``, η_max the learning rate timm's class was built with
            (``max_lr``, timm's ``max_lr_snapshot``; :func:`symopt.transforms.corrected_decay`).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("laprop").transforms
        ('scale_by_laprop', 'add_decayed_stepped_weights')

    Reference: Ziyin, Wang and Ueda (2020), "LaProp: Separating Momentum and Adaptivity in Adam",
    Algorithm 1; timm ``LaProp`` (``_single_tensor_laprop``).
    """
    lr = LR.restricted(default=4e-4)
    return rule(
        "laprop",
        "LaProp, momentum of the gradient normalised by the bias-corrected second moment"
        + (", cautious" if cautious else "") + (", corrected weight decay" if corrected_weight_decay else ""),
        "Ziyin et al. (2020), Algorithm 1; timm LaProp (learning rate inside the momentum, decay after the step)"
        + (CAUTION_REFERENCE if cautious else "") + (CORRECTED_DECAY_REFERENCE if corrected_weight_decay else ""),
        chain(
            "laprop",
            scale_by_laprop(lr, BETA1, BETA2, EPS.restricted(default=1e-15, special=(1e-15, 1e-8))),
            *caution(cautious),
            add_decayed_stepped_weights(WEIGHT_DECAY, lr, corrected=corrected_decay(corrected_weight_decay, lr)),
        ),
        source=TIMM_SOURCE,
        library=("timm.optim.laprop", "LaProp"),
        cautious=cautious,
        corrected_weight_decay=corrected_weight_decay,
    )
