"""LAMB (You et al. 2020): AdamW's step scaled by a trust ratio of norms of the whole tensor, as optax
0.2.8 writes it and as timm 1.0.31's ``Lamb`` does (NVIDIA's FusedLAMB), with timm's options."""

from typing import Annotated, Literal

from symopt.core import OPTAX_SOURCE, TIMM_SOURCE, LibraryKeyword, OnlyWith, Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, EPS, EPS_ROOT, LR, OPTAX_BETA1, OPTAX_BETA2, OPTAX_LR, WEIGHT_DECAY
from symopt.transforms import (CAUTION_REFERENCE, CORRECTED_DECAY_REFERENCE, Cautious, add_decayed_weights,
                               add_decayed_weights_by_lr, caution, corrected_decay, scale_by_adam, scale_by_learning_rate,
                               scale_by_timm_trust_ratio, scale_by_trust_ratio)

# the convention chooses the library (optax's lamb or timm's Lamb), whose class takes nothing for it
Convention = Annotated[Literal["optax", "timm"], LibraryKeyword("")]
TIMM_ONLY = OnlyWith(convention="timm")  # an option of timm's Lamb, which optax's lamb does not have
# timm's corrected weight decay applies to its decoupled decay only (max_lr is None without decoupled_decay)
TIMM_DECOUPLED_ONLY = OnlyWith(convention="timm", decoupled_decay=True)

# timm's Lamb with max_grad_norm=None: its default 1.0 divides every gradient by a factor from the
# global norm over all parameters of all groups, which a per-tensor rule cannot express.
TIMM_LAMB = ("timm.optim.lamb", "Lamb")
TIMM_ARGUMENTS = {"max_grad_norm": None}

# timm's constructor: lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.01
TIMM_EPS = EPS.restricted(default=1e-6, special=(1e-6,))
TIMM_WEIGHT_DECAY = WEIGHT_DECAY.restricted(default=1e-2)


def lamb(convention: Convention = "optax", decoupled_decay: Annotated[bool, TIMM_ONLY] = False,
         cautious: Annotated[Cautious, TIMM_ONLY] = False,
         corrected_weight_decay: Annotated[bool, TIMM_DECOUPLED_ONLY] = False) -> Rule:
    """LAMB: Adam's direction with weight decay, scaled by the trust ratio ``φ_t = ‖θ_{t-1}‖/‖Δ_t‖``
    of the whole tensor (1 where either norm is 0): ``θ_t = θ_{t-1} - η φ_t Δ_t``.

    Args:
        convention: ``"optax"`` (optax 0.2.8's ``lamb``): ``Δ_t = m̂_t/(√(v̂_t + ε_root) + ε) + λθ_{t-1}``,
            always scaled by φ_t. ``"timm"`` (timm 1.0.31's ``Lamb`` with ``max_grad_norm=None``, its
            other options at their defaults): ``Δ_t = m̂_t/(√v̂_t + ε) + λθ_{t-1}`` (ε after the
            bias-corrected root, no ε_root), scaled by φ_t **only where λ ≠ 0** (``always_adapt=False``:
            with λ = 0 it is Adam's step, unscaled). timm's default ``max_grad_norm=1.0`` divides every
            gradient by ``max(1, ‖g‖/1.0)`` with ‖g‖ the norm over all parameters of all groups, which
            a rule of one tensor cannot express: the rule is timm's with ``max_grad_norm=None``, and
            ``verify --against timm`` builds it so.
        decoupled_decay: (timm only; timm's ``lambw``) ``θ_t = θ_{t-1} - ηλθ_{t-1} - η φ_t Δ_t`` with
            ``Δ_t = m̂_t/(√v̂_t + ε)``, and φ_t's parameter norm that of the decayed
            ``θ_{t-1} - ηλθ_{t-1}`` (timm decays ``p`` in place before it takes ``p.norm()``).
        cautious: (timm only; timm's ``clamb``, ``clambw`` with ``decoupled_decay``) Adam's direction
            kept only where it agrees in sign with the gradient, rescaled by the fraction that agrees
            (:func:`symopt.transforms.cautious_mask`; Liang et al. 2024), before the decay is added
            and before the trust ratio, as timm's ``Lamb(caution=True)``.
        corrected_weight_decay: (timm with ``decoupled_decay`` only; timm's ``lambcd``) timm's corrected
            weight decay (arXiv 2506.02285): ``θ_{t-1}(1 - (η²/η_max)λ)``, η_max the learning rate timm's
            class was built with (``max_lr``, timm's ``max_lr_snapshot``;
            :func:`symopt.transforms.corrected_decay`), and φ_t's parameter norm that of the parameters so
            decayed. timm ignores it without ``decoupled_decay``.

    timm's other options keep their defaults: ``trust_clip=False``, ``always_adapt=False``,
    ``grad_averaging=True`` (m_t a moving average), ``bias_correction=True``.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("lamb").transforms
        ('scale_by_adam', 'add_decayed_weights', 'scale_by_trust_ratio', 'scale_by_learning_rate')
        >>> symopt.get("lamb", convention="timm", decoupled_decay=True).transforms
        ('scale_by_adam', 'scale_by_timm_trust_ratio', 'scale_by_learning_rate', 'add_decayed_weights_by_lr')

    Reference: You et al. (2020), "Large Batch Optimization for Deep Learning: Training BERT in 76
    minutes", Algorithm 2 (with φ the identity); optax ``lamb``; timm 1.0.31 ``Lamb``
    (``_single_tensor_lamb``, ``_lamb_trust_ratio``).
    """
    if convention not in ("optax", "timm"):
        raise ValueError(f"convention must be 'optax' or 'timm', not {convention!r}")
    if not isinstance(decoupled_decay, bool):
        raise ValueError(f"decoupled_decay must be True or False, not {decoupled_decay!r}")
    if convention == "optax":
        if decoupled_decay or cautious or corrected_weight_decay:
            raise ValueError("decoupled_decay, cautious and corrected_weight_decay exist only with convention='timm'")
        return rule(
            "lamb",
            "LAMB, AdamW's step scaled by a trust ratio of norms of the whole tensor",
            "You et al. (2020), Algorithm 2; optax lamb (trust ratio 1 where a norm is 0)",
            chain(
                "lamb",
                scale_by_adam(OPTAX_BETA1, OPTAX_BETA2, EPS.restricted(default=1e-6, special=(1e-6,)),
                              epsilon="both", eps_root=EPS_ROOT),
                add_decayed_weights(WEIGHT_DECAY),
                scale_by_trust_ratio(),
                scale_by_learning_rate(OPTAX_LR),
            ),
            source=OPTAX_SOURCE,
            library=("optax", "lamb"),
            convention=convention,
        )
    if corrected_weight_decay and not decoupled_decay:
        raise ValueError("corrected_weight_decay=True exists only with decoupled_decay=True")
    corrected = corrected_decay(corrected_weight_decay, LR)
    decay = (scale_by_timm_trust_ratio(TIMM_WEIGHT_DECAY, LR, corrected), scale_by_learning_rate(LR),
             add_decayed_weights_by_lr(TIMM_WEIGHT_DECAY, LR, corrected)) if decoupled_decay else \
        (add_decayed_weights(TIMM_WEIGHT_DECAY), scale_by_timm_trust_ratio(TIMM_WEIGHT_DECAY),
         scale_by_learning_rate(LR))
    return rule(
        "lamb",
        "LAMB as timm's Lamb (max_grad_norm=None), the trust ratio only where weight_decay != 0"
        + (", decoupled decay" if decoupled_decay else "") + (", cautious" if cautious else "")
        + (", corrected weight decay" if corrected_weight_decay else ""),
        "You et al. (2020), Algorithm 2; timm 1.0.31 Lamb (NVIDIA FusedLAMB; max_grad_norm=None)"
        + (CAUTION_REFERENCE if cautious else "") + (CORRECTED_DECAY_REFERENCE if corrected_weight_decay else ""),
        chain("lamb", scale_by_adam(BETA1, BETA2, TIMM_EPS), *caution(cautious), *decay),
        source=TIMM_SOURCE,
        library=TIMM_LAMB,
        library_arguments=TIMM_ARGUMENTS,
        convention=convention,
        decoupled_decay=decoupled_decay,
        cautious=cautious,
        corrected_weight_decay=corrected_weight_decay,
    )
