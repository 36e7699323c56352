"""Adan, as optax 0.2.8 writes it and as timm 1.0.31 does: Nesterov momentum estimated from moving
averages of the gradient and of its differences."""

from typing import Annotated, Literal

from symopt.core import OPTAX_SOURCE, TIMM_SOURCE, LibraryKeyword, OnlyWith, Rule, chain, rule
from symopt.hyperparameters import (BETA1, BETA2, BETA3, EPS, EPS_ROOT, LR, OPTAX_BETA1, OPTAX_BETA2, OPTAX_LR,
                                    WEIGHT_DECAY)
from symopt.transforms import (CAUTION_REFERENCE, Cautious, add_decayed_weights, proximal_decay, scale_by_adan,
                               scale_by_learning_rate)

# timm's class has no keyword for the convention: its default is timm's (and optax's variant is compared
# with optax, not with it), so that no value of the option is passed to it.
Convention = Annotated[Literal["optax", "timm"], LibraryKeyword("convention", {"optax": "optax"})]
TIMM_ONLY = OnlyWith(convention="timm")  # optax's adan has neither the proximal decay's choice nor the mask


def adan(convention: Convention = "optax", no_prox: Annotated[bool, TIMM_ONLY] = False,
         cautious: Annotated[Cautious, TIMM_ONLY] = False) -> Rule:
    """Adan: moving averages m_t of g_t, d̄_t of Δg_t = g_t - g_{t-1} (Δg_1 = 0) and n_t of the squared
    look-ahead gradient, the direction ``(m̂_t + c d̄_t/(1 - β₂ᵗ))/(√n̂_t + ε)``, with decoupled weight
    decay.

    Both libraries' β's weigh the old value (β₁ = 0.98 where the paper's is 0.02) and bias-correct all
    three averages (the paper's Algorithm 1 corrects none).

    Args:
        convention: ``"optax"`` (optax's ``adan``): the look-ahead ``g_t + (1 - β₂)Δg_t``,
            ``c = 1 - β₂``, ε_root under the root beside ε outside it, and the decay ``λθ_{t-1}`` added
            to the direction, ``θ_{t-1}(1 - ηλ)``. ``"timm"`` (timm 1.0.31's ``Adan``, with the
            paper's ``1 - β₂`` in its own convention): ``g_t + β₂Δg_t``, ``c = β₂``, no ε_root, and
            by default the paper's proximal decay, ``θ_t = (θ_{t-1} - η u_t)/(1 + ηλ)``.
        no_prox: (timm only, its keyword; timm's registered ``adanw``, where its ``adan`` is
            ``no_prox=False``) decay by ``θ_{t-1}(1 - ηλ)`` before the step, as optax does, instead
            of dividing by ``1 + ηλ`` after it. The two are one optimizer under ``η' = η/(1 + ηλ)``
            (the direction does not depend on η).
        cautious: (timm only; its ``caution=True``, ``cadan`` and with ``no_prox`` ``cadanw``) mask the
            first moment's term alone: ``m_t`` kept where it agrees in sign with ``g_t``, rescaled by
            the fraction that agrees (:func:`symopt.transforms.cautious_mask`; Liang et al. 2024),
            the differences' term left whole.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adan").transforms
        ('scale_by_adan', 'add_decayed_weights', 'scale_by_learning_rate')
        >>> symopt.get("adan", convention="timm").transforms
        ('scale_by_adan', 'scale_by_learning_rate', 'proximal_decay')

    Reference: Xie et al. (2022), "Adan: Adaptive Nesterov Momentum Algorithm for Faster
    Optimizing Deep Models", Algorithm 1; optax ``adan`` and ``scale_by_adan``; timm 1.0.31 ``Adan``.
    """
    if convention not in ("optax", "timm"):
        raise ValueError(f"convention must be 'optax' or 'timm', not {convention!r}")
    for key, value in (("no_prox", no_prox), ("cautious", cautious)):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be True or False, not {value!r}")
        if value and convention != "timm":
            raise ValueError(f"{key}=True needs convention='timm' (optax's adan has no {key})")
    if convention == "optax":
        return rule(
            "adan",
            "Adan, adaptive Nesterov momentum from moving averages of gradients and their differences",
            "Xie et al. (2022), Algorithm 1; optax adan (bias-corrected, beta weighs the old value, decay added)",
            chain(
                "adan",
                scale_by_adan(OPTAX_BETA1.restricted(default=0.98), OPTAX_BETA2.restricted(default=0.92), BETA3, EPS,
                              EPS_ROOT.restricted(default=1e-8, special=(1e-8, 0.0))),
                add_decayed_weights(WEIGHT_DECAY),
                scale_by_learning_rate(OPTAX_LR),
            ),
            source=OPTAX_SOURCE,
            library=("optax", "adan"),
            convention=convention,
            no_prox=no_prox,
            cautious=cautious,
        )
    lr, weight_decay = LR, WEIGHT_DECAY
    direction = scale_by_adan(BETA1.restricted(default=0.98), BETA2.restricted(default=0.92),
                              BETA3.restricted(library=("betas", 2)), EPS, None, convention="timm", cautious=cautious)
    decay = ((add_decayed_weights(weight_decay), scale_by_learning_rate(lr)) if no_prox
             else (scale_by_learning_rate(lr), proximal_decay(weight_decay, lr)))
    return rule(
        "adan",
        "Adan as timm writes it, with " + ("decoupled weight decay" if no_prox else "the proximal weight decay")
        + (", cautious" if cautious else ""),
        "Xie et al. (2022), Algorithm 1; timm Adan (bias-corrected, beta weighs the old value, "
        + ("decay before the step, no_prox=True)" if no_prox else "the parameters divided by 1 + lr*weight_decay)")
        + (CAUTION_REFERENCE if cautious else ""),
        chain("adan", direction, *decay),
        source=TIMM_SOURCE,
        library=("timm.optim.adan", "Adan"),
        convention=convention,
        no_prox=no_prox,
        cautious=cautious,
    )
