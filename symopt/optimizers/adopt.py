"""ADOPT, as timm 1.0.31 writes it (``timm.optim.Adopt``): Adam's momentum of the gradient normalised
by the previous second moment, so that v_t and g_t are independent."""

from typing import Annotated

from symopt.core import TIMM_SOURCE, LibraryKeyword, OnlyWith, Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, CLIP_EXP, EPS, LR, WEIGHT_DECAY
from symopt.transforms import (CAUTION_REFERENCE, CORRECTED_DECAY_REFERENCE, Cautious, add_decayed_weights, caution,
                               corrected_decay, scale_by_adopt, scale_by_learning_rate, skip_first_step)


# timm's Adopt clips unless clip_exp is None (the rule's clip_exp is a hyperparameter where it clips)
Clip = Annotated[bool, LibraryKeyword("clip_exp", {False: None})]
# timm corrects only the decoupled decay (its L2 decay enters the gradient, uncorrected)
Corrected = Annotated[bool, OnlyWith(decoupled=True)]


def adopt(decoupled: bool = False, clip: Clip = True, cautious: Cautious = False,
          corrected_weight_decay: Corrected = False) -> Rule:
    """ADOPT: ``ĝ_t = clip(g_t/max(√v_{t-1}, ε), (t - 1)^ω)``, ``m_t = β₁ m_{t-1} + (1 - β₁) ĝ_t``,
    ``θ_t = θ_{t-1} - η m_t``, then ``v_t = β₂ v_{t-1} + (1 - β₂) g_t²``; the first step only sets
    ``v_1 = g_1²`` and leaves θ and m (timm's ``continue``).

    timm's clip bound is (t - 1)^clip_exp with ω = 0.333 by default, where the authors' code
    (``clip_lambda``) defaults to a fourth root of the step count, as the updated paper's theory asks;
    ε is a floor under √v (not added), and L2 decay enters the gradient, also in the first step's v.

    Args:
        decoupled: decay as AdamW, ``θ_{t-1}(1 - ηλ)`` (timm's ``decoupled``), from step 2 on.
        clip: clip the normalised gradient to ±(t - 1)^ω (timm's ``clip_exp`` a number); ``False``
            is timm's ``clip_exp=None``.
        cautious: keep ``m_t`` only where it agrees in sign with the gradient (the L2-decayed one), rescaled
            by the fraction that agrees (:func:`symopt.transforms.cautious_mask`), before the decoupled
            decay, as timm's ``Adopt(caution=True)`` masks ``exp_avg``; the state keeps the unmasked m_t.
        corrected_weight_decay: timm's corrected weight decay (arXiv 2506.02285; its ``adoptc``,
            ``cadoptc`` with ``cautious``): the decoupled decay ``θ_{t-1}(1 - (η²/η_max)λ)``, η_max the
            learning rate timm's class was built with (``max_lr``, timm's ``max_lr_snapshot``;
            :func:`symopt.transforms.corrected_decay`). Only with ``decoupled``: timm corrects no L2 decay.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adopt").transforms
        ('add_decayed_weights', 'scale_by_adopt', 'skip_first_step', 'scale_by_learning_rate')

    Reference: Taniguchi et al. (2024), "ADOPT: Modified Adam Can Converge with Any β₂ with the
    Optimal Rate", Algorithm 2; timm ``Adopt`` (``_single_tensor_adopt``).
    """
    for key, value in (("decoupled", decoupled), ("clip", clip)):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be True or False, not {value!r}")
    scale = scale_by_adopt(BETA1, BETA2.restricted(default=0.9999), EPS.restricted(default=1e-6, special=(1e-6,)),
                           CLIP_EXP if clip else None)
    if corrected_weight_decay and not decoupled:
        raise ValueError("corrected_weight_decay=True exists only with decoupled=True")
    lr = LR
    decay = add_decayed_weights(WEIGHT_DECAY, corrected=corrected_decay(corrected_weight_decay, lr))
    masked = (scale, *caution(cautious))  # timm masks exp_avg: the decoupled decay does not pass the mask
    steps = (*masked, decay) if decoupled else (decay, *masked)
    return rule(
        "adopt",
        "ADOPT, momentum of the gradient normalised by the previous second moment" + (", decoupled decay" if decoupled
                                                                                        else "")
        + (", cautious" if cautious else "") + (", corrected weight decay" if corrected_weight_decay else ""),
        "Taniguchi et al. (2024), Algorithm 2; timm Adopt (clip at (t-1)^clip_exp, eps a floor under sqrt(v))"
        + (CAUTION_REFERENCE if cautious else "") + (CORRECTED_DECAY_REFERENCE if corrected_weight_decay else ""),
        chain("adopt", *steps, skip_first_step(), scale_by_learning_rate(lr)),
        source=TIMM_SOURCE,
        library=("timm.optim.adopt", "Adopt"),
        decoupled=decoupled,
        clip=clip,
        cautious=cautious,
        corrected_weight_decay=corrected_weight_decay,
    )
