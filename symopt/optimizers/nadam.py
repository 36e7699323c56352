"""NAdam, as torch.optim.NAdam: Adam with Nesterov momentum and a momentum schedule; as optax
writes it, with no schedule; and as timm writes its NAdamW, the moment looked ahead before its
bias correction."""

from typing import Annotated, Literal

from symopt.core import OPTAX_SOURCE, TIMM_SOURCE, LibraryKeyword, OnlyWith, Rule, chain, rule
from symopt.hyperparameters import (BETA1, BETA2, EPS, EPS_ROOT, LR, MOMENTUM_DECAY, OPTAX_BETA1, OPTAX_BETA2,
                                    OPTAX_LR, WEIGHT_DECAY)
from symopt.transforms import (CAUTION_REFERENCE, CORRECTED_DECAY_REFERENCE, Cautious, add_decayed_weights, caution,
                               corrected_decay, scale_by_adam, scale_by_learning_rate, scale_by_nadam)

CONVENTIONS: tuple[str, ...] = ("torch", "optax", "timm")
# How timm's NAdamW, the library of convention='timm', takes the two options it has no keyword for: a
# class with a ``convention`` keyword would take torch's and optax's forms by it, and timm's class is
# timm's form; it always decays decoupled (the option's True; False, L2, is a keyword it does not have).
Convention = Annotated[Literal["torch", "optax", "timm"], LibraryKeyword("convention", {"torch": "torch",
                                                                                        "optax": "optax"})]
Decoupled = Annotated[bool, LibraryKeyword("decoupled_weight_decay", {False: False})]
TIMM_NADAMW = ("timm.optim.nadamw", "NAdamW")
# timm's NAdamW has no L2 decay: convention='timm' without decoupled_weight_decay decays by nothing, as
# momentum(nesterov=True) takes no dampening (torch refuses it): a λ other than 0 is out of range.
# the mask is timm's NAdamW's (cnadamw): torch's and optax's NAdam have none, so no variant masks their forms
TimmCautious = Annotated[Cautious, OnlyWith(convention="timm")]
# timm's corrected weight decay (NAdamW's corrected_weight_decay, timm's nadamc): of timm's decoupled decay only
TimmCorrected = Annotated[bool, OnlyWith(convention="timm", decoupled_weight_decay=True)]
NO_L2_DECAY = WEIGHT_DECAY.restricted(high=0.0, high_open=False, special=(0.0,),
                                      doc="weight decay (timm's NAdamW has no L2 decay: decoupled_weight_decay=True)")


def nadam(decoupled_weight_decay: Decoupled = False, convention: Convention = "torch",
          cautious: TimmCautious = False, corrected_weight_decay: TimmCorrected = False) -> Rule:
    """NAdam: Adam whose step looks ahead along the momentum, with ``μ_t = β₁(1 - ½·0.96^(tψ))``.

    The product ``Π_t = μ₁ ··· μ_t`` of the momentum factors is a scalar state, as in torch.

    Args:
        decoupled_weight_decay: decay as AdamW does (``θ(1 - ηλ)``) instead of adding λθ to the
            gradient (torch's ``decoupled_weight_decay``, the NAdamW of Loshchilov & Hutter; optax's
            ``nadamw``). timm's NAdamW always decays so and has no L2 decay: with
            ``convention="timm"`` and ``False`` the decay's range is [0, 0] (as momentum with Nesterov
            takes no dampening), so that a λ other than 0 is refused in one line; timm's NAdamW with
            its decay is ``decoupled_weight_decay=True``.
        convention: ``"torch"`` (torch.optim.NAdam, with the momentum schedule ψ), ``"optax"``
            (optax 0.2.8's ``nadam``: Adam with μ_t = β₁ for ever, the look-ahead
            ``m̂_t = β₁ m_t/(1 - β₁ᵗ⁺¹) + (1 - β₁) g_t/(1 - β₁ᵗ)``, and its ``eps_root``) or
            ``"timm"`` (timm 1.0.31's ``NAdamW``: μ_t = β₁ for ever, the moment looked ahead before
            its bias correction, ``m̂_t = (β₁ m_t + (1 - β₁) g_t)/(1 - β₁ᵗ)``, AdamP's
            ``nesterov=True``; verified against timm). Its defaults are nadam's, lr 2e-3 and λ 0
            (timm's are 1e-3 and 1e-2): one reference takes every convention, with one default each.
        cautious: keep the update only where it agrees in sign with the gradient, rescaled by the
            fraction that agrees (:func:`symopt.transforms.cautious_mask`; Liang et al. 2024), before
            the decoupled decay and the learning rate, which it does not touch: timm's
            ``NAdamW(caution=True)`` (its ``cnadamw``) masks its look-ahead ``exp_avg`` by the sign of
            ``exp_avg * grad``, the update's sign. Only with ``convention="timm"``: torch's and
            optax's NAdam have no mask, and a masked form no library has is not a variant.
        corrected_weight_decay: timm's corrected weight decay (arXiv 2506.02285; its ``nadamc``,
            ``cnadamc`` with ``cautious``): the decoupled decay scaled by ``η²/η_max`` instead of η, η_max
            the learning rate timm's NAdamW was built with (``max_lr``, timm's ``max_lr_snapshot``;
            :func:`symopt.transforms.corrected_decay`). Only with ``convention="timm"`` and
            ``decoupled_weight_decay=True``: torch's and optax's NAdam have none.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("nadam", decoupled_weight_decay=True).transforms
        ('scale_by_nadam', 'add_decayed_weights', 'scale_by_learning_rate')
        >>> symopt.get("nadam", convention="optax").transforms
        ('add_decayed_weights', 'scale_by_adam', 'scale_by_learning_rate')
        >>> symopt.get("nadam", convention="timm", decoupled_weight_decay=True, cautious=True).transforms
        ('scale_by_adam', 'cautious_mask', 'add_decayed_weights', 'scale_by_learning_rate')

    Reference: Dozat (2016), "Incorporating Nesterov Momentum into Adam"; torch.optim.NAdam;
    optax ``nadam`` and ``nadamw`` (``scale_by_adam(nesterov=True)``); timm 1.0.31
    ``timm.optim.nadamw.NAdamW`` (``_single_tensor_nadamw``).
    """
    if not isinstance(decoupled_weight_decay, bool):
        raise ValueError(f"decoupled_weight_decay must be True or False, not {decoupled_weight_decay!r}")
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}, not {convention!r}")
    if cautious and convention != "timm":
        raise ValueError(f"cautious=True exists only with convention='timm', not {convention!r}")
    if corrected_weight_decay and (convention != "timm" or not decoupled_weight_decay):
        raise ValueError("corrected_weight_decay=True exists only with convention='timm' and decoupled_weight_decay=True")
    mask = caution(cautious)
    decay = " with " + ("decoupled weight decay" if decoupled_weight_decay else "L2 weight decay")
    if convention == "timm":
        direction = scale_by_adam(BETA1, BETA2, EPS, look_ahead=True)
        rate = LR.restricted(default=2e-3)  # nadam's defaults, not timm's (see above)
        lr = scale_by_learning_rate(rate)
        if decoupled_weight_decay:
            transforms = (direction, *mask,
                          add_decayed_weights(WEIGHT_DECAY, corrected=corrected_decay(corrected_weight_decay, rate)), lr)
            decay = " with decoupled weight decay"
        else:
            transforms = (add_decayed_weights(NO_L2_DECAY), direction, *mask, lr)
            decay = " without weight decay (timm's has no L2 decay)"
        return rule(
            "nadam",
            "NAdamW as timm writes it (the moment looked ahead before its bias correction)" + decay
            + (", cautious" if cautious else "") + (", corrected weight decay" if corrected_weight_decay else ""),
            "Dozat (2016) without the momentum schedule, as timm NAdamW (after MLCommons' algorithmic-efficiency "
            "baseline)" + (CAUTION_REFERENCE if cautious else "")
            + (CORRECTED_DECAY_REFERENCE if corrected_weight_decay else ""),
            chain("nadam", *transforms),
            source=TIMM_SOURCE,
            library=TIMM_NADAMW,
            decoupled_weight_decay=decoupled_weight_decay,
            convention=convention,
            cautious=cautious,
            corrected_weight_decay=corrected_weight_decay,
        )
    weight_decay = add_decayed_weights(WEIGHT_DECAY)
    if convention == "optax":
        direction = scale_by_adam(OPTAX_BETA1, OPTAX_BETA2, EPS, epsilon="both", eps_root=EPS_ROOT, nesterov=True)
        return rule(
            "nadam",
            "NAdam as optax writes it (no momentum schedule)," + decay,
            "Dozat (2016) without the momentum schedule; optax " + ("nadamw" if decoupled_weight_decay else "nadam"),
            chain("nadam", *((direction, weight_decay) if decoupled_weight_decay else (weight_decay, direction)),
                  scale_by_learning_rate(OPTAX_LR.restricted(default=2e-3))),
            source=OPTAX_SOURCE,
            library=("optax", "nadamw" if decoupled_weight_decay else "nadam"),
            decoupled_weight_decay=decoupled_weight_decay,
            convention=convention,
            cautious=cautious,
            corrected_weight_decay=corrected_weight_decay,
        )
    direction = scale_by_nadam(BETA1, BETA2, EPS, MOMENTUM_DECAY)
    return rule(
        "nadam",
        "NAdam," + decay,
        "Dozat (2016); torch.optim.NAdam",
        chain("nadam", *((direction, weight_decay) if decoupled_weight_decay else (weight_decay, direction)),
              scale_by_learning_rate(LR.restricted(default=2e-3))),
        torch="NAdam",
        decoupled_weight_decay=decoupled_weight_decay,
        convention=convention,
        cautious=cautious,
        corrected_weight_decay=corrected_weight_decay,
    )
