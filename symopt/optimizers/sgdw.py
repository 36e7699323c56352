"""SGDW: torch's SGD with momentum, with the weight decay decoupled from the gradient (timm 1.0.31)."""

from symopt.core import TIMM_SOURCE, Rule, chain, rule
from symopt.hyperparameters import DAMPENING, LR, MOMENTUM, WEIGHT_DECAY
from symopt.transforms import (CAUTION_REFERENCE, CORRECTED_DECAY_REFERENCE, Cautious, add_decayed_weights, caution,
                               corrected_decay, scale_by_learning_rate, trace)

NESTEROV_DAMPENING = DAMPENING.restricted(high=0.0, doc="dampening (Nesterov takes none, as in timm)")
# timm's constructor checks the momentum (Nesterov needs one above 0, and its default is 0): a runner
# builds SGDW with the first step's value, as it builds Prodigy with its d0.
SGDW_MOMENTUM = MOMENTUM.restricted(constructed=True)


def sgdw(nesterov: bool = False, cautious: Cautious = False, corrected_weight_decay: bool = False) -> Rule:
    """SGDW: heavy-ball momentum as torch's SGD, ``b_t = ρ b_{t-1} + (1 - τ) g_t`` (the buffer starts
    as the first gradient, undampened), and decoupled weight decay scaled by the learning rate,
    ``θ_t = θ_{t-1} - η b_t - η λ θ_{t-1}``.

    The chain is :func:`symopt.optimizers.momentum.momentum`'s with the decay moved after the buffer,
    as :func:`symopt.optimizers.adam.adamw` moves Adam's: the buffer never sees it. timm 1.0.31's
    ``SGDW`` computes ``θ(1 - ηλ)`` and then subtracts ``η b_t``, the same in exact arithmetic.

    The momentum factor's range is (0, 1]. timm takes ``momentum=0`` (its default) and then keeps no
    buffer and applies no cautious mask: the step is ``θ(1 - ηλ) - η g_t``, which is the rule ``sgd`` with
    its L2 decay (for plain SGD the two decays are one), whatever the dampening; the buffer here at
    ρ = 0 would be ``(1 - τ) g_t`` from step 2, so the rule leaves 0 out rather than disagree with timm.

    Args:
        nesterov: the direction ``g_t + ρ b_t`` (timm's and torch's Nesterov form). timm refuses it
            with dampening, and so does this rule: its dampening's range is [0, 0].
        cautious: timm's ``caution=True``: keep the direction (the Nesterov-corrected one, with
            ``nesterov``) only where it agrees in sign with the gradient, rescaled by the fraction that
            agrees (:func:`symopt.transforms.cautious_mask`; Liang et al. 2024), before the decay,
            which it does not touch. timm's ``csgdw``.
        corrected_weight_decay: timm's corrected weight decay (arXiv 2506.02285): the decay scaled by
            ``η²/η_max`` instead of η, ``θ_t = θ_{t-1} - η b_t - (η²/η_max) λ θ_{t-1}``, η_max the
            learning rate timm's class was built with (``max_lr``, timm's ``max_lr_snapshot``;
            :func:`symopt.transforms.corrected_decay`). timm's ``sgdc`` (``csgdc`` with ``cautious``).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("sgdw").transforms
        ('trace', 'add_decayed_weights', 'scale_by_learning_rate')
        >>> symopt.get("sgdw", nesterov=True, cautious=True).transforms
        ('trace', 'cautious_mask', 'add_decayed_weights', 'scale_by_learning_rate')
        >>> print(str(symopt.get("sgdw", corrected_weight_decay=True)).splitlines()[-1])
        θₜ = θₜ₋₁ - η·bₜ - η²·λ·θₜ₋₁/ηₘₐₓ

    Reference: timm 1.0.31 ``timm.optim.sgdw.SGDW``; Loshchilov & Hutter (2019), Algorithm 1 (SGDW, with
    the learning rate inside the buffer and the decay scaled by the schedule multiplier alone).
    """
    if not isinstance(nesterov, bool):
        raise ValueError(f"nesterov must be True or False, not {nesterov!r}")
    return rule(
        "sgdw",
        "SGD with heavy-ball momentum and decoupled weight decay" + (", Nesterov form" if nesterov else "")
        + (", cautious" if cautious else "") + (", corrected weight decay" if corrected_weight_decay else ""),
        "timm.optim.SGDW (torch's SGD momentum; the decay θ(1 - ηλ) before the step); the decoupled decay of "
        "Loshchilov & Hutter (2019), Algorithm 1, which scales it by a schedule multiplier, not by the "
        "learning rate" + (CAUTION_REFERENCE if cautious else "")
        + (CORRECTED_DECAY_REFERENCE if corrected_weight_decay else ""),
        chain(
            "sgdw",
            trace(SGDW_MOMENTUM, NESTEROV_DAMPENING if nesterov else DAMPENING, nesterov=nesterov),
            *caution(cautious),
            add_decayed_weights(WEIGHT_DECAY, corrected=corrected_decay(corrected_weight_decay, LR)),
            scale_by_learning_rate(LR),
        ),
        source=TIMM_SOURCE,
        library=("timm.optim.sgdw", "SGDW"),
        nesterov=nesterov,
        cautious=cautious,
        corrected_weight_decay=corrected_weight_decay,
    )
