"""Adam with L2 weight decay, and AdamW: the same chain with the decay in a different place.

The conventions libraries differ by are options of the two rules: where ε goes (``epsilon``),
which v AMSGrad takes the maximum of (``amsgrad``), and how AdamW scales its decay (``decay``).
"""

from typing import Annotated, Literal

from symopt.core import TIMM_SOURCE, OnlyWith, Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, EPS, EPS_ROOT, LR, SCHEDULE_MULTIPLIER, WEIGHT_DECAY
from symopt.transforms import (CAUTION_REFERENCE, CORRECTED_DECAY_REFERENCE, EPSILON_PLACEMENTS, Cautious,
                               add_decayed_weights, caution, corrected_decay, scale_by_adam, scale_by_learning_rate,
                               scale_by_schedule)


Epsilon = Literal["outside", "inside", "hat", "both"]
AMSGrad = Literal[False, True, "corrected"]
Decay = Literal["lr", "paper", "independent"]
DECAYS: tuple[str, ...] = ("lr", "paper", "independent")
TIMM_ADAMW = ("timm.optim.adamw", "AdamWLegacy")  # torch's AdamW, with timm's caution option
# timm's corrected weight decay exists in AdamWLegacy's form only: the decay scaled by the learning rate,
# bias-corrected moments, ε outside the root (timm has no other decay, correction or ε)
TimmCorrected = Annotated[bool, OnlyWith(decay="lr", bias_correction=True, epsilon="outside")]


def _check(bias_correction: object, epsilon: object, amsgrad: object) -> None:
    if not isinstance(bias_correction, bool):
        raise ValueError(f"bias_correction must be True or False, not {bias_correction!r}")
    if not (isinstance(amsgrad, bool) or amsgrad == "corrected"):
        raise ValueError(f"amsgrad must be True, False or 'corrected', not {amsgrad!r}")
    if epsilon not in EPSILON_PLACEMENTS:
        raise ValueError(f"epsilon must be one of {', '.join(EPSILON_PLACEMENTS)}, not {epsilon!r}")


# AdamW's summary and reference for each way of scaling the decay.
ADAMW_SOURCES = {
    "lr": ("Adam with decoupled weight decay, scaled by the learning rate",
           "torch.optim.AdamW; optax.adamw; Loshchilov & Hutter (2019), Algorithm 2, decouple the decay but "
           "multiply it by a schedule multiplier, not by the learning rate"),
    "paper": ("Adam with decoupled weight decay, both scaled by a schedule multiplier",
              "Loshchilov & Hutter (2019), Algorithm 2"),
    "independent": ("Adam with decoupled weight decay, scaled by nothing",
                    "tfa.optimizers.AdamW (TensorFlow Addons); Loshchilov & Hutter (2019) with η_t = 1"),
}


def _scale_by_adam(bias_correction: bool, epsilon: str, amsgrad: object):
    return scale_by_adam(BETA1, BETA2, EPS, bias_correction_on=bias_correction, epsilon=epsilon, amsgrad=amsgrad,
                         eps_root=EPS_ROOT if epsilon == "both" else None)


def adam(bias_correction: bool = True, epsilon: Epsilon = "outside", amsgrad: AMSGrad = False) -> Rule:
    """Adam, with weight decay added to the gradient (L2), as in the note and torch.optim.Adam.

    The decay enters *before* the moments, so it is divided by √v̂_t like the gradient: parameters
    with a large gradient history are decayed less (the coupling problem, derived by
    :func:`symopt.effective_weight_decay`).

    Args:
        bias_correction: divide the moments by ``1 - βᵗ``; ``False`` gives the note's equations.
        epsilon: where ε goes: ``"outside"`` the root (Kingma & Ba, torch), ``"inside"`` it
            (optax's ``eps_root``), ``"hat"``, added before the bias correction (Kingma & Ba's
            efficient form with ε̂ = ε, as TensorFlow 1 and Keras), or ``"both"``: ε outside and
            a second hyperparameter ε_root inside, as optax's ``eps`` and ``eps_root``.
        amsgrad: divide by the running maximum of the second moment (Reddi et al. 2018), taken
            over the raw ``v_t`` as torch does, or with ``"corrected"`` over the bias-corrected
            ``v̂_t`` as optax's ``amsgrad``.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adam").transforms
        ('add_decayed_weights', 'scale_by_adam', 'scale_by_learning_rate')

    Reference: Kingma & Ba (2015), Algorithm 1; torch.optim.Adam.
    """
    _check(bias_correction, epsilon, amsgrad)
    return rule(
        "adam",
        "Adam with L2 weight decay added to the gradient",
        "Kingma & Ba (2015), Algorithm 1 (which has no weight decay); the L2 term as torch.optim.Adam adds it",
        chain(
            "adam",
            add_decayed_weights(WEIGHT_DECAY),
            _scale_by_adam(bias_correction, epsilon, amsgrad),
            scale_by_learning_rate(LR),
        ),
        torch="Adam",
        bias_correction=bias_correction,
        epsilon=epsilon,
        amsgrad=amsgrad,
    )


def adamw(bias_correction: bool = True, epsilon: Epsilon = "outside", amsgrad: bool = False,
          decay: Decay = "lr", cautious: Cautious = False, corrected_weight_decay: TimmCorrected = False) -> Rule:
    """AdamW: Adam with the weight decay decoupled from the gradient.

    ``θ_t = θ_{t-1} - η m̂_t/(√v̂_t + ε) - η λ θ_{t-1}``: the same chain as :func:`adam` with the
    decay moved after the preconditioner, so every parameter is decayed by the same λ. Where the
    decay sits relative to the learning rate is the ``decay`` option.

    Args:
        bias_correction: as for :func:`adam`.
        epsilon: as for :func:`adam`.
        amsgrad: as for :func:`adam`, over the raw ``v_t`` (optax's AMSGrad, over ``v̂_t``, has no
            decoupled decay: ``adam(amsgrad='corrected')``).
        decay: ``"lr"``: the decay is multiplied by the learning rate, ``θ(1 - ηλ)``, as torch,
            optax and Keras do; ``"paper"``: Loshchilov & Hutter's Algorithm 2,
            ``θ_t = θ_{t-1} - η_t(α m̂_t/(√v̂_t + ε) + λθ_{t-1})`` with α the learning rate and η_t
            a schedule multiplier of its own (the hyperparameter ``schedule_multiplier``);
            ``"independent"``: ``θ - λθ``, multiplied by neither (TF-Addons' ``AdamW``).
        cautious: keep the update only where it agrees in sign with the gradient, rescaled by the
            fraction that agrees (:func:`symopt.transforms.cautious_mask`; Liang et al. 2024), as timm's
            ``AdamWLegacy(caution=True)``, whose form without it is torch's AdamW: the variant follows
            timm 1.0.31 and is verified against it (``--against timm``).
        corrected_weight_decay: timm's corrected weight decay (arXiv 2506.02285; its ``adamc``, ``cadamc``
            with ``cautious``): ``θ_t = θ_{t-1} - η m̂_t/(√v̂_t + ε) - (η²/η_max) λ θ_{t-1}``, η_max the
            learning rate ``AdamWLegacy`` was built with (``max_lr``, timm's ``max_lr_snapshot``;
            :func:`symopt.transforms.corrected_decay`): under a schedule η_t ≤ η_max the decay follows
            η_t², and at η_t = η_max it is AdamW's. Only with ``decay="lr"``, ``bias_correction`` and ε
            outside the root, timm's form; verified against timm.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adamw").transforms
        ('scale_by_adam', 'add_decayed_weights', 'scale_by_learning_rate')
        >>> symopt.get("adamw", decay="paper").transforms
        ('scale_by_adam', 'scale_by_learning_rate', 'add_decayed_weights', 'scale_by_schedule')

    Reference: Loshchilov & Hutter (2019), Algorithm 2; torch.optim.AdamW; optax.adamw;
    tfa.optimizers.AdamW.
    """
    _check(bias_correction, epsilon, amsgrad)
    if decay not in DECAYS:
        raise ValueError(f"decay must be one of {', '.join(DECAYS)}, not {decay!r}")
    if corrected_weight_decay and (decay != "lr" or not bias_correction or epsilon != "outside"):
        raise ValueError("corrected_weight_decay=True exists only with decay='lr', bias_correction=True and "
                         "epsilon='outside' (timm's AdamWLegacy)")
    weight_decay = add_decayed_weights(WEIGHT_DECAY.with_default(1e-2),
                                       corrected=corrected_decay(corrected_weight_decay, LR))
    lr = scale_by_learning_rate(LR)
    placed = {  # where the decay sits against the learning rate is the whole difference
        "lr": (weight_decay, lr),
        "paper": (lr, weight_decay, scale_by_schedule(SCHEDULE_MULTIPLIER)),
        "independent": (lr, weight_decay),
    }[decay]
    summary, reference = ADAMW_SOURCES[decay]
    timm = cautious or corrected_weight_decay  # timm's AdamWLegacy has the mask and the corrected decay
    return rule(
        "adamw",
        summary + (", cautious" if cautious else "") + (", corrected weight decay" if corrected_weight_decay else ""),
        reference + (CAUTION_REFERENCE if cautious else "")
        + (CORRECTED_DECAY_REFERENCE if corrected_weight_decay else ""),
        chain("adamw", _scale_by_adam(bias_correction, epsilon, amsgrad), *caution(cautious), *placed),
        torch="AdamW",
        library=TIMM_ADAMW if timm else ("", ""),
        source=TIMM_SOURCE if timm else "",
        bias_correction=bias_correction,
        epsilon=epsilon,
        amsgrad=amsgrad,
        decay=decay,
        cautious=cautious,
        corrected_weight_decay=corrected_weight_decay,
    )
