"""Adafactor: second moments factored into rows and columns, and a step relative to the parameters; as
torch.optim.Adafactor writes it, and as timm 1.0.31's Adafactor (fairseq's) does, with its options."""

import math
from typing import Annotated, Literal

from symopt import symbols as S
from symopt.core import TIMM_SOURCE, Hyper, LibraryKeyword, OnlyWith, Rule, chain, rule
from symopt.hyperparameters import BETA1, LR, MIN_DIM_SIZE_TO_FACTOR, WEIGHT_DECAY
from symopt.transforms import (CAUTION_REFERENCE, FIRST_MOMENT, Cautious, add_decayed_weights_by_lr, caution,
                               clip_by_block_rms, moving_average, scale_by_factored_rms, scale_by_learning_rate,
                               scale_by_relative_step)

# torch.optim.Adafactor's defaults. Its ε₁ defaults to the dtype's machine epsilon (None); symopt's to
# float64's, and verification passes it explicitly.
BETA2_DECAY = Hyper(S.decay_rate, "beta2_decay", -0.8, -math.inf, 0.0, low_open=True, high_open=False,
                    doc="the second moments' new value weighs t^beta2_decay", special=(-0.8, 0.0, -1.0),
                    sample=(-1.5, 0.0))
EPS1 = Hyper(S.eps1, "eps1", 2.220446049250313e-16, 0.0, math.inf, low_open=True, library=("eps", 0),
             doc="floor of the second moment's estimate (torch: the dtype's eps)", special=(2.220446049250313e-16,),
             sample=(1e-30, 1e-3), log=True)
EPS2 = Hyper(S.eps2, "eps2", 1e-3, 0.0, math.inf, library=("eps", 1),
             doc="floor of the parameters' RMS in the relative step",
             special=(1e-3, 0.0), sample=(1e-6, 1e-1), log=True)
CLIP = Hyper(S.clip, "d", 1.0, 1.0, math.inf, doc="threshold of the update's RMS", special=(1.0,),
             sample=(1.0, 10.0))


# timm's class has no keyword for the convention (it is the library: torch's form is compared with torch),
# nor for its relative step and first moment, which it reads from lr=None and betas=None (its defaults): a
# variant with a learning rate or a first moment builds it with lr or betas (TIMM_LR, TIMM_BETA1: constructed).
Convention = Annotated[Literal["torch", "timm"], LibraryKeyword("")]
RelativeStep = Annotated[bool, LibraryKeyword("lr", {True: None})]
FirstMoment = Annotated[bool, LibraryKeyword("betas", {False: None})]
TIMM_ONLY = OnlyWith(convention="timm")
RELATIVE_ONLY = OnlyWith(convention="timm", relative_step=True)  # timm: they act on the relative step alone
TIMM_ADAFACTOR = ("timm.optim.adafactor", "Adafactor")

# timm 1.0.31's constructor (its names; the paper's symbols: ε₁ is added to g², ε₂ floors RMS(θ)).
TIMM_EPS = Hyper(S.eps1, "eps", 1e-30, 0.0, math.inf, low_open=True,
                 doc="added to g^2 before its averages (timm's eps)", special=(1e-30,), sample=(1e-30, 1.0), log=True)
TIMM_EPS_SCALE = Hyper(S.eps2, "eps_scale", 1e-3, 0.0, math.inf,
                       doc="floor of the parameters' RMS in the relative step", special=(1e-3, 0.0),
                       sample=(1e-6, 1e-1), log=True)
TIMM_CLIP = Hyper(S.clip, "clip_threshold", 1.0, 0.0, math.inf, low_open=True,
                  doc="threshold of the update's RMS", special=(1.0,), sample=(0.5, 10.0))
# timm's lerp_(x, 1 - beta2t) rounds the new value's weight t^c to the dtype before it forms the old one's,
# 1 - t^c: within float32's spacing of 1 (c within ~1e-7/ln t of 0, but not 0) that weight is off by up to
# 100%, which no bound of the rule's arithmetic covers (torch's lerp, torch.optim.Adafactor's too). Generated
# cases draw c from [-1.5, -0.1] beside the special values, 0 (every step the new value) among them.
TIMM_DECAY_RATE = Hyper(S.decay_rate, "decay_rate", -0.8, -math.inf, 0.0, low_open=True, high_open=False,
                        doc="the second moments' new value weighs t^decay_rate", special=(-0.8, 0.0, -1.0),
                        sample=(-1.5, -0.1))
# timm reads beta1 = betas[0] when it is built (its group keeps beta1, not betas), and relative_step = lr is
# None: both are passed to the constructor, from the first step's values.
TIMM_BETA1 = BETA1.restricted(constructed=True, doc="decay of the first moment of the update (timm's betas[0])")
TIMM_LR = LR.restricted(default=1e-2, constructed=True, doc="learning rate, in place of the relative step")
# timm factors a matrix only where both sides exceed it (16): generated shapes (sides up to 4) draw it
# from 0 to 4 as well, so that they take both branches against timm.
TIMM_MIN_DIM = MIN_DIM_SIZE_TO_FACTOR.restricted(doc="a matrix is factored where both its sides exceed it",
                                                 special=(16.0, 0.0, 1.0, 2.0), sample=(0.0, 4.0))


def adafactor(convention: Convention = "torch",
              relative_step: Annotated[RelativeStep, TIMM_ONLY] = True,
              scale_parameter: Annotated[bool, RELATIVE_ONLY] = True,
              warmup_init: Annotated[bool, RELATIVE_ONLY] = False,
              first_moment: Annotated[FirstMoment, TIMM_ONLY] = False,
              cautious: Annotated[Cautious, OnlyWith(convention="timm", first_moment=True)] = False) -> Rule:
    """Adafactor, as torch.optim.Adafactor (2.13), or as timm 1.0.31's ``Adafactor`` (fairseq's).

    ``U_t = g_t/√max(V̂_t, ε₁²)`` with V̂_t the factored second moment (R_t C_t/mean(R_t) over the
    last two dimensions, or the moving average of g² for a vector);
    ``θ_t = θ_{t-1} - α_t U_t/max(1, RMS(U_t)/d) - η λ θ_{t-1}``, α_t = max(ε₂, RMS(θ_{t-1}))·min(η, 1/√t).

    Args:
        convention: ``"torch"`` (torch.optim.Adafactor, above). ``"timm"`` (timm 1.0.31's ``Adafactor``,
            fairseq's with timm's fixes; its keywords): ε₁ (``eps``, 1e-30) added to g² before the
            averages, with no floor after, ``U_t = g_t·(R_t/mean(R_t))^(-1/2)·C_t^(-1/2)`` where the
            parameter is a matrix whose both sides exceed s (``min_dim_size_to_factor``, 16), else
            ``g_t/√v_t``; ``U_t/max(1, RMS(U_t)/d)`` times the step size α̂_t; then
            ``θ_t = θ_{t-1} - α̂_t λ θ_{t-1} - U_t`` (the decay by the same α̂_t). The rule takes
            parameters of at most two dimensions: timm factors dimensions 0 and 1 of a larger one
            (a convolution's channels) where both exceed s, which symopt's row and column means (the
            last two) do not express. Its kernel keeps v_t shaped like θ for a matrix too, left at 0
            where it is factored (the choice depends on s, a hyperparameter); timm keeps one or the other.
        relative_step: (timm only; timm's ``lr=None``, its default) ``α̂_t = ρ_t max(ε₂, RMS(θ_{t-1}))``
            with ``ρ_t = min(10⁻², 1/√t)``; ``False`` is timm with a learning rate given, ``α̂_t = η``,
            which timm scales by nothing (its docstring: unlike fairseq's, not by the parameters' RMS).
        scale_parameter: (timm's keyword, with the relative step) ``False``: ``α̂_t = ρ_t``.
        warmup_init: (timm's keyword, with the relative step) ``ρ_t = min(10⁻⁶t, 1/√t)``.
        first_moment: (timm only; timm's ``betas=(β₁, ...)``, where its default ``None`` keeps none) the
            step is the moving average ``m_t = β₁m_{t-1} + (1 - β₁)α̂_t U_t`` (timm's ``lerp``).
        cautious: (timm's ``caution=True`` with a first moment, its registered ``cadafactor``) m_t kept
            where it agrees in sign with g_t, rescaled by the fraction that agrees
            (:func:`symopt.transforms.cautious_mask`; Liang et al. 2024).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adafactor").transforms
        ('scale_by_factored_rms', 'clip_by_block_rms', 'scale_by_relative_step', 'add_decayed_weights_by_lr')
        >>> symopt.get("adafactor", convention="timm", first_moment=True, cautious=True).transforms
        ('scale_by_factored_rms', 'clip_by_block_rms', 'scale_by_relative_step', 'moving_average', 'cautious_mask', 'add_decayed_weights_by_lr')

    Reference: N. Shazeer and M. Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory
    Cost", ICML 2018, Algorithms 4-5; torch.optim.Adafactor; timm 1.0.31 ``Adafactor``.
    """
    if convention not in ("torch", "timm"):
        raise ValueError(f"convention must be 'torch' or 'timm', not {convention!r}")
    for key, value in (("relative_step", relative_step), ("scale_parameter", scale_parameter),
                       ("warmup_init", warmup_init), ("first_moment", first_moment), ("cautious", cautious)):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be True or False, not {value!r}")
    if convention == "timm":
        return _timm(relative_step, scale_parameter, warmup_init, first_moment, cautious)
    if not relative_step or not scale_parameter or warmup_init or first_moment or cautious:
        raise ValueError("relative_step, scale_parameter, warmup_init, first_moment and cautious are timm's "
                         "options: they exist only with convention='timm'")
    lr = LR.with_default(1e-2)
    return rule(
        "adafactor",
        "second moments factored into rows and columns; steps relative to the parameters' RMS",
        "Shazeer & Stern (2018), Algorithms 4-5; torch.optim.Adafactor (decay theta (1 - lr weight_decay), no first moment)",
        chain(
            "adafactor",
            scale_by_factored_rms(BETA2_DECAY, EPS1),
            clip_by_block_rms(CLIP),
            scale_by_relative_step(lr, EPS2),
            add_decayed_weights_by_lr(WEIGHT_DECAY, lr),
        ),
        torch="Adafactor",
        convention=convention,
        relative_step=relative_step,
        scale_parameter=scale_parameter,
        warmup_init=warmup_init,
        first_moment=first_moment,
        cautious=cautious,
    )


def _timm(relative_step: bool, scale_parameter: bool, warmup_init: bool, first_moment: bool, cautious: bool) -> Rule:
    """timm 1.0.31's Adafactor with these options (:func:`adafactor`)."""
    if not relative_step and (not scale_parameter or warmup_init):
        raise ValueError("scale_parameter and warmup_init act on the relative step alone (timm's lr=None)")
    if cautious and not first_moment:
        raise ValueError("cautious needs first_moment (timm masks its first moment)")
    if relative_step:
        step = (scale_by_relative_step(None, TIMM_EPS_SCALE if scale_parameter else None, warmup_init=warmup_init),)
        size = S.relative_lr
    else:
        step, size = (scale_by_learning_rate(TIMM_LR),), TIMM_LR
    momentum = (moving_average(FIRST_MOMENT, TIMM_BETA1, increment=True), *caution(cautious)) if first_moment else ()
    said = [("a relative step" + ("" if scale_parameter else " not scaled by RMS(theta)")
             + (", warmup_init" if warmup_init else "")) if relative_step else "a learning rate"]
    said += ["a first moment"] if first_moment else []
    said += ["cautious"] if cautious else []
    return rule(
        "adafactor",
        "Adafactor as timm's (fairseq's), eps added to g^2, matrices above min_dim_size_to_factor factored; "
        + ", ".join(said),
        "Shazeer & Stern (2018), Algorithms 4-5; timm 1.0.31 Adafactor (fairseq's; decay theta (1 - lr_t weight_decay))"
        + (CAUTION_REFERENCE if cautious else ""),
        chain(
            "adafactor",
            scale_by_factored_rms(TIMM_DECAY_RATE, TIMM_EPS, TIMM_MIN_DIM),
            clip_by_block_rms(TIMM_CLIP, clamp=True),
            *step,
            *momentum,
            add_decayed_weights_by_lr(WEIGHT_DECAY, size),
        ),
        library=TIMM_ADAFACTOR,
        source=TIMM_SOURCE,
        ranks=(0, 1, 2),
        convention="timm",
        relative_step=relative_step,
        scale_parameter=scale_parameter,
        warmup_init=warmup_init,
        first_moment=first_moment,
        cautious=cautious,
    )
