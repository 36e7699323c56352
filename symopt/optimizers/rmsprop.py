"""RMSprop, as torch.optim.RMSprop: plain or centred, with or without a momentum buffer; and as TensorFlow
and timm 1.0.31's ``RMSpropTF`` write it (``rmsproptf``)."""

from typing import Annotated, Literal

from symopt.core import TIMM_SOURCE, OnlyWith, Rule, chain, rule
from symopt.hyperparameters import ALPHA, EPS, LR, MOMENTUM, WEIGHT_DECAY
from symopt.transforms import (BUFFER, CAUTION_REFERENCE, CORRECTED_DECAY_REFERENCE, Cautious, accumulate,
                               add_decayed_weights, add_decayed_weights_by_lr, caution, corrected_decay,
                               scale_by_learning_rate, scale_by_rms)

# torch's momentum defaults to 0 here, and 0 leaves the buffer out (kernels drop it, as torch does).
RMSPROP_MOMENTUM = MOMENTUM.restricted(default=0.0, low_open=False, skip_when_zero=True,
                                       doc="momentum factor of the buffer (0: no buffer)")


def rmsprop(centered: bool = False, epsilon: Literal["outside", "inside"] = "outside") -> Rule:
    """RMSprop: divide the gradient by the root of a moving average of its square, not bias-corrected.

    ``v_t = α v_{t-1} + (1 - α) g_t²``, the direction ``g_t/(√v_t + ε)`` (ε outside the root, as
    torch; TensorFlow and optax put it inside), accumulated into a buffer ``b_t = ρ b_{t-1} + ...``
    when the momentum ρ is above 0, and L2 weight decay added to the gradient first.

    Args:
        centered: subtract the square of a moving average of the gradient from ``v_t`` (Graves
            2013), estimating the variance rather than the uncentred second moment.
        epsilon: ``"outside"`` the root (torch), or ``"inside"`` it, ``g_t/√(v_t + ε)``, as
            TensorFlow and optax's ``rmsprop`` (``eps_in_sqrt=True``, its default) put it.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("rmsprop").transforms
        ('add_decayed_weights', 'scale_by_rms', 'accumulate', 'scale_by_learning_rate')

    Reference: Tieleman & Hinton (2012), Lecture 6.5; Graves (2013); torch.optim.RMSprop.
    """
    if not isinstance(centered, bool):
        raise ValueError(f"centered must be True or False, not {centered!r}")
    if epsilon not in ("outside", "inside"):
        raise ValueError(f"epsilon must be outside or inside, not {epsilon!r}")
    return rule(
        "rmsprop",
        "RMSprop" + (", centred" if centered else "") + ", with L2 weight decay and an optional momentum buffer"
        + (", ε inside the root" if epsilon == "inside" else ""),
        "Tieleman & Hinton (2012), Lecture 6.5; Graves (2013), eq. 38-45; torch.optim.RMSprop",
        chain(
            "rmsprop",
            add_decayed_weights(WEIGHT_DECAY),
            scale_by_rms(ALPHA, EPS, centered=centered, eps_inside=epsilon == "inside"),
            accumulate(BUFFER, RMSPROP_MOMENTUM),
            scale_by_learning_rate(LR.restricted(default=1e-2)),
        ),
        torch="RMSprop",
        centered=centered,
        epsilon=epsilon,
    )


# timm's RMSpropTF: TensorFlow's defaults (α = 0.9, ε = 1e-10 under the root); its momentum 0 is no
# buffer, as torch's. The momentum's default is timm's training script's (0.9; the class's is 0), one
# default for every variant: a cautious variant masks the buffer, which exists only above 0, and at 0
# timm applies no mask, which a mask of η g_t/√(v_t + ε) would not match (it agrees with g_t wherever
# g_t is not 0, and the mask's mean rescales the step where some g_t are 0): its range is (0, 1).
# α = 0 (no average, v_t = g_t²) is left out: TensorFlow's order, v_{t-1} + (g_t² - v_{t-1}), keeps of g_t²
# only what the rounding of v_{t-1} leaves, so that where v_{t-1} ≫ g_t² what λ adds to g_t² (and the
# one-step λ_eff, which the witnesses measure by a finite difference of the step) is lost to rounding.
TF_ALPHA = ALPHA.restricted(default=0.9, low_open=True)
TF_EPS = EPS.restricted(default=1e-10)
TF_MOMENTUM = RMSPROP_MOMENTUM.restricted(default=0.9)
CAUTIOUS_MOMENTUM = TF_MOMENTUM.restricted(low_open=True, doc="momentum factor of the buffer the cautious mask acts on")
# timm corrects only the decoupled decay (corrected_weight_decay, its rmsproptfc): its L2 decay enters the gradient
Corrected = Annotated[bool, OnlyWith(decoupled_decay=True)]


def rmsproptf(centered: bool = False, lr_in_momentum: bool = True, decoupled_decay: bool = False,
              cautious: Cautious = False, corrected_weight_decay: Corrected = False) -> Rule:
    """RMSprop as TensorFlow writes it, and timm 1.0.31's ``RMSpropTF``: ε under the root, the square
    average started at 1, and the learning rate inside the momentum buffer.

    ``v_t = v_{t-1} + (1 - α)(g_t² - v_{t-1})`` from ``v_0 = 1`` (TensorFlow's order of operations; torch
    starts at 0, so its first steps are ``1/√(1 - α)`` times larger), the direction ``g_t/√(v_t + ε)``,
    and ``b_t = ρ b_{t-1} + η g_t/√(v_t + ε)``, ``θ_t = θ_{t-1} - b_t`` (momentum 0: no buffer, the step
    ``η g_t/√(v_t + ε)``), with L2 weight decay added to the gradient first.

    Args:
        centered: subtract the square of a moving average of the gradient (started at 0) from ``v_t``
            under the root, ``√(v_t - ḡ_t² + ε)`` (Graves 2013), as timm's ``centered``.
        lr_in_momentum: the learning rate inside the buffer, as TensorFlow (timm's default); ``False``
            scales the step instead, ``b_t = ρ b_{t-1} + g_t/√(v_t + ε)``, ``θ_t = θ_{t-1} - η b_t``,
            as torch does (the same optimizer while η is constant, ``b_t`` scaled by η).
        decoupled_decay: decay the parameters by ``θ(1 - ηλ)`` before the step instead of adding λθ to
            the gradient (Loshchilov & Hutter 2019), as timm's ``decoupled_decay``.
        cautious: keep the buffer's step only where it agrees in sign with the gradient, rescaled by
            the fraction that agrees (:func:`symopt.transforms.cautious_mask`; Liang et al. 2024), as
            timm's ``caution=True`` masks the buffer (its ``crmsproptf``); the state keeps the unmasked
            buffer. timm masks only with a buffer, so the variant's momentum lies in (0, 1).
        corrected_weight_decay: timm's corrected weight decay (arXiv 2506.02285; its ``rmsproptfc``):
            the decoupled decay ``θ(1 - (η²/η_max)λ)``, η_max the learning rate timm's class was built
            with (``max_lr``, timm's ``max_lr_snapshot``; :func:`symopt.transforms.corrected_decay`).
            Only with ``decoupled_decay``: timm corrects no L2 decay.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("rmsproptf").transforms
        ('add_decayed_weights', 'scale_by_rms', 'scale_by_learning_rate', 'accumulate')
        >>> symopt.get("rmsproptf", lr_in_momentum=False, decoupled_decay=True).transforms
        ('scale_by_rms', 'accumulate', 'add_decayed_weights', 'scale_by_learning_rate')

    Reference: Tieleman & Hinton (2012), Lecture 6.5; Graves (2013); tf.keras.optimizers.RMSprop;
    timm 1.0.31 ``timm.optim.RMSpropTF`` (``_single_tensor_rmsprop_tf``).
    """
    for name, value in (("centered", centered), ("lr_in_momentum", lr_in_momentum),
                        ("decoupled_decay", decoupled_decay)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, not {value!r}")
    if corrected_weight_decay and not decoupled_decay:
        raise ValueError("corrected_weight_decay=True exists only with decoupled_decay=True")
    lr = LR.restricted(default=1e-2)
    corrected = corrected_decay(corrected_weight_decay, lr)
    direction = scale_by_rms(TF_ALPHA, TF_EPS, centered=centered, eps_inside=True, initial=1, increment=True)
    buffer = accumulate(BUFFER, CAUTIOUS_MOMENTUM if cautious else TF_MOMENTUM)
    if lr_in_momentum:  # b = ρb + η d; θ(1 - ηλ) - b
        steps = (direction, scale_by_learning_rate(lr), buffer, *caution(cautious),
                 *((add_decayed_weights_by_lr(WEIGHT_DECAY, lr, corrected),) if decoupled_decay else ()))
    else:  # b = ρb + d; θ(1 - ηλ) - ηb
        steps = (direction, buffer, *caution(cautious),
                 *((add_decayed_weights(WEIGHT_DECAY, corrected=corrected),) if decoupled_decay else ()),
                 scale_by_learning_rate(lr))
    return rule(
        "rmsproptf",
        "RMSprop as TensorFlow writes it: eps under the root, v from 1"
        + (", centred" if centered else "") + (", the learning rate inside the buffer" if lr_in_momentum else "")
        + (", decoupled weight decay" if decoupled_decay else ", L2 weight decay") + (", cautious" if cautious else "")
        + (", corrected weight decay" if corrected_weight_decay else ""),
        "Tieleman & Hinton (2012), Lecture 6.5; Graves (2013), eq. 38-45; tf.keras.optimizers.RMSprop; "
        "timm RMSpropTF" + (CAUTION_REFERENCE if cautious else "")
        + (CORRECTED_DECAY_REFERENCE if corrected_weight_decay else ""),
        chain("rmsproptf", *(() if decoupled_decay else (add_decayed_weights(WEIGHT_DECAY),)), *steps),
        library=("timm.optim.rmsprop_tf", "RMSpropTF"),
        source=TIMM_SOURCE,
        centered=centered,
        lr_in_momentum=lr_in_momentum,
        decoupled_decay=decoupled_decay,
        cautious=cautious,
        corrected_weight_decay=corrected_weight_decay,
    )
