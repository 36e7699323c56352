"""big_vision's Adafactor, as timm 1.0.31 writes it (``timm.optim.adafactor_bv.AdafactorBigVision``): the
second moment of g² + ε factored where the matrix is large enough, a capped β₂ schedule, the update's
RMS optionally clipped, a momentum of the update, and the step scaled by the learning rate."""

import math
from dataclasses import replace
from typing import Annotated

from symopt import symbols as S
from symopt.core import TIMM_SOURCE, PARAMETERS_DTYPE, Hyper, LibraryKeyword, OnlyWith, Rule, chain, rule
from symopt.hyperparameters import LR, MIN_DIM_SIZE_TO_FACTOR, MOMENTUM, WEIGHT_DECAY
from symopt.transforms import (CAUTION_REFERENCE, CORRECTED_DECAY_REFERENCE, FIRST_MOMENT, Cautious,
                               add_decayed_weights, add_decayed_weights_by_lr, cautious_mask, clip_by_block_rms,
                               corrected_decay, moving_average, scale_by_big_vision_factored_rms,
                               scale_by_learning_rate)

# timm's constructor: lr=1.0, min_dim_size_to_factor=16, decay_rate=0.8, decay_offset=0, beta2_cap=0.999,
# momentum=0.9, eps=None (1e-30 for float32 and float64), weight_decay=0.0, clipping_threshold=None.
BV_LR = LR.with_default(1.0)
# timm forms max(t - decay_offset, 1)^(-c) from its step counter, a float32 tensor, and 1 - that: for c within
# ~1e-7/ln t of 0 (not 0) that difference is float32's spacing of 1, off by up to 100%, beyond any bound of the
# rule's arithmetic (the reference computes it as timm does). Generated cases draw c from [0.1, 2] beside the
# special values, 0 (every step the new value) among them, as adafactor(convention='timm') does.
DECAY_RATE = Hyper(S.bv_decay_rate, "decay_rate", 0.8, 0.0, math.inf, special=(0.8, 0.0), sample=(0.1, 2.0),
                   doc="the second moments' new value weighs max(t - decay_offset, 1)^(-decay_rate)")
# The values drawn reach what generated cases of up to 50 steps can see: an offset of 1 to 4 steps, and a
# cap of 0.5 that binds from step 3 on (0.999 binds after about 5,600 steps).
DECAY_OFFSET = Hyper(S.bv_decay_offset, "decay_offset", 0.0, 0.0, math.inf, integer=True, special=(0.0, 1.0),
                     sample=(0.0, 4.0), doc="steps the decay schedule starts after")
BETA2_CAP = Hyper(S.bv_beta2_cap, "beta2_cap", 0.999, 0.0, 1.0, high_open=False, special=(0.999, 0.5, 0.0),
                  sample=(0.5, 0.9999), doc="the largest decay of the second moments")
# Whether a matrix is factored: verify's matrices have sides 1 to 4, so the threshold is drawn from 0 to 2,
# or is 1 (every matrix factored) or its default 16 (none), reaching both branches.
MIN_DIM = MIN_DIM_SIZE_TO_FACTOR.restricted(special=(16.0, 1.0), sample=(0.0, 2.0),
                                            doc="a matrix is factored where its smaller side is at least this")
BV_EPS = Hyper(S.epsilon, "eps", 1e-30, 0.0, math.inf, low_open=True, special=(1e-30,), sample=(1e-30, 1e-3),
               log=True, doc="added to g^2 (timm's None: 1e-30 in float32 and float64)")
BV_MOMENTUM = MOMENTUM.restricted(low_open=False, special=(0.9, 0.0),
                                  doc="the momentum of the update: its new value weighs 1 - momentum")
CLIPPING_THRESHOLD = Hyper(S.clip, "clipping_threshold", 1.0, 0.0, math.inf, low_open=True, special=(1.0,),
                           sample=(0.1, 10.0), log=True, doc="threshold of the update's RMS")

# timm's exp_avg: a moving average of the update U_t, not of the gradient
UPDATE_MOMENT = replace(FIRST_MOMENT, doc="moving average of the update U_t (timm's exp_avg)")

# timm keeps the momentum in bfloat16 by default, a rounding the rule does not model: its class is built
# with the momentum in the parameters' dtype.
TIMM_ADAFACTOR_BV = ("timm.optim.adafactor_bv", "AdafactorBigVision")
TIMM_ARGUMENTS = {"momentum_dtype": PARAMETERS_DTYPE}

# timm's momentum=None and clipping_threshold=None (its default) leave them out (the option is not named
# ``momentum``: that is the hyperparameter's keyword, by which kernels and references take its value)
Momentum = Annotated[bool, LibraryKeyword("momentum", {False: None})]
Clipping = Annotated[bool, LibraryKeyword("clipping_threshold", {False: None})]
WITH_MOMENTUM = OnlyWith(use_momentum=True)  # timm's caution masks the momentum


def adafactorbv(use_momentum: Momentum = True, clipping: Clipping = False, unscaled_wd: bool = False,
                cautious: Annotated[Cautious, WITH_MOMENTUM] = False, corrected_weight_decay: bool = False) -> Rule:
    """big_vision's Adafactor (timm 1.0.31's ``AdafactorBigVision``; Zhai et al. 2022):

    ``β̂₂ₜ = min(β₂ᵐᵃˣ, 1 - max(t - τ₀, 1)^(-c₂))`` and the moving averages (weight 1 - β̂₂ₜ on the new
    value) of ``g_t² + ε``: for a matrix whose smaller side is at least n_min
    (``min_dim_size_to_factor``) those of its row and column means, R_t and C_t, and
    ``U_t = g_t/√(R_t C_t/mean(R_t))``; else that of g² + ε itself, ``U_t = g_t/√v_t``. Then
    ``θ_t = θ_{t-1} - ηλθ_{t-1} - η m_t`` with ``m_t = μ m_{t-1} + (1 - μ) U_t``.

    timm factors over the two largest dimensions of a parameter; for a matrix the estimate is the same
    whichever side it calls the rows (mean(R_t) = mean(C_t)), but not its rounding: timm divides by its
    mean the factor along the larger side, C_t for a matrix taller than wide (R̄_t is then C_t/mean(C_t)),
    which decides where an underflow in float32 makes the step NaN. Of three dimensions or more it may
    factor over others than the last two: the rule takes 0-D, 1-D and 2-D parameters.

    Args:
        use_momentum: the moving average of the update (timm's ``momentum`` a number); ``False`` is timm's
            ``momentum=None``, ``θ_t = θ_{t-1} - ηλθ_{t-1} - η U_t``. timm keeps it in
            ``momentum_dtype``, bfloat16 by default: a rounding the rule does not model, so the rule is
            timm's with ``momentum_dtype`` the parameters' dtype, and ``verify --against timm`` builds it so.
        clipping: divide U_t by ``max(1, RMS(U_t)/d)`` before the momentum (timm's ``clipping_threshold``
            a number, d; ``False`` is its default ``None``).
        unscaled_wd: decay ``θ_{t-1}(1 - λ)``, not scaled by the learning rate (timm's ``unscaled_wd``,
            big_vision's decay).
        cautious: (with the momentum only; timm's ``cadafactorbv``) m_t kept only where it agrees in sign
            with the gradient, rescaled by the fraction that agrees (:func:`symopt.transforms.cautious_mask`),
            before the learning rate, as timm's ``caution=True``; the state keeps the unmasked m_t. The mask
            is timm's ``(m_t g_t > 0)``, 0 where m_t is NaN (see ``nan_disagrees``).

        corrected_weight_decay: timm's corrected weight decay (``adafactorbvc``, ``cadafactorbvc``; arXiv
            2506.02285): the decay's λ scaled by η/η_max, η_max (``max_lr``) the learning rate the class
            was built with: ``θ_{t-1}(1 - η²λ/η_max)``, or with ``unscaled_wd`` ``θ_{t-1}(1 - ηλ/η_max)``
            (:func:`symopt.transforms.corrected_decay`).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adafactorbv").transforms
        ('scale_by_big_vision_factored_rms', 'moving_average', 'scale_by_learning_rate', 'add_decayed_weights_by_lr')

    Reference: X. Zhai, A. Kolesnikov, N. Houlsby, L. Beyer, "Scaling Vision Transformers", CVPR 2022
    (big_vision's Adafactor); timm 1.0.31 ``AdafactorBigVision`` (``_single_tensor_adafactor``).
    """
    for key, value in (("use_momentum", use_momentum), ("clipping", clipping), ("unscaled_wd", unscaled_wd),
                       ("cautious", cautious), ("corrected_weight_decay", corrected_weight_decay)):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be True or False, not {value!r}")
    if cautious and not use_momentum:
        raise ValueError("cautious exists only with use_momentum=True")
    steps = [scale_by_big_vision_factored_rms(DECAY_RATE, DECAY_OFFSET, BETA2_CAP, MIN_DIM, BV_EPS)]
    if clipping:
        steps.append(clip_by_block_rms(CLIPPING_THRESHOLD))
    if use_momentum:
        # the mask as timm writes it, (m * g > 0): 0 where m is NaN (the row factor underflowing in float32)
        steps.append(moving_average(UPDATE_MOMENT, BV_MOMENTUM))
        if cautious:
            steps.append(cautious_mask(nan_disagrees=True))
    steps.append(scale_by_learning_rate(BV_LR))
    corrected = corrected_decay(corrected_weight_decay, BV_LR)
    steps.append(add_decayed_weights(WEIGHT_DECAY, corrected=corrected) if unscaled_wd
                 else add_decayed_weights_by_lr(WEIGHT_DECAY, BV_LR, corrected))
    return rule(
        "adafactorbv",
        "big_vision's Adafactor: g^2 + eps averaged, factored where the matrix is large enough"
        + (", clipped" if clipping else "") + (", with momentum" if use_momentum else "")
        + (", decay unscaled by the learning rate" if unscaled_wd else "") + (", cautious" if cautious else "")
        + (", corrected weight decay" if corrected_weight_decay else ""),
        "Zhai et al. (2022), big_vision's Adafactor; timm 1.0.31 AdafactorBigVision (momentum in the parameters' dtype)"
        + (CAUTION_REFERENCE if cautious else "") + (CORRECTED_DECAY_REFERENCE if corrected_weight_decay else ""),
        chain("adafactorbv", *steps),
        source=TIMM_SOURCE,
        library=TIMM_ADAFACTOR_BV,
        library_arguments=TIMM_ARGUMENTS,
        ranks=(0, 1, 2),
        use_momentum=use_momentum,
        clipping=clipping,
        unscaled_wd=unscaled_wd,
        cautious=cautious,
        corrected_weight_decay=corrected_weight_decay,
    )
