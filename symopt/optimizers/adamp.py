"""AdamP and SGDP, as timm 1.0.31 writes them: Adam and SGD with momentum whose update loses its radial
component on weights that look scale-invariant, and whose weight decay is then reduced (Heo et al. 2021)."""

from symopt.core import TIMM_SOURCE, Rule, chain, rule
from symopt.hyperparameters import (BETA1, BETA2, DAMPENING, EPS, LR, MOMENTUM, PROJECTION_DELTA, WD_RATIO,
                                    WEIGHT_DECAY)
from symopt import symbols as S
from symopt.transforms import (CAUTION_REFERENCE, Cautious, add_decayed_weights, caution_projected, project_radial,
                               scale_by_adam, scale_by_learning_rate, trace)


SPHERICAL = " (spherical where projected: against the projected gradient, then projected again)"


def _check(nesterov: object) -> None:
    if not isinstance(nesterov, bool):
        raise ValueError(f"nesterov must be True or False, not {nesterov!r}")


def adamp(nesterov: bool = False, cautious: Cautious = False) -> Rule:
    """AdamP: Adam's direction ``m̂_t/(√v̂_t + ε)`` projected by :func:`symopt.transforms.project_radial`,
    and decoupled weight decay multiplied by ``wd_ratio`` where it projects,
    ``θ_t = θ_{t-1} - η Δ̃_t - η λ Λ_t θ_{t-1}``.

    Args:
        nesterov: the first moment looked one step ahead before its bias correction,
            ``(β₁ m_t + (1 - β₁) g_t)/(1 - β₁ᵗ)`` (timm's ``nesterov=True``).
        cautious: timm's ``caution=True`` (:func:`symopt.transforms.caution_projected`): where the
            update is projected, keep it only where it agrees in sign with the gradient projected
            likewise, rescaled by the fraction that agrees, and project it again (the "spherical"
            cautious optimizer); elsewhere, and on parameters of fewer than two dimensions, the plain
            cautious mask against g_t. Before the decay, which it leaves alone.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adamp").transforms
        ('scale_by_adam', 'project_radial', 'add_decayed_weights', 'scale_by_learning_rate')

    Reference: Heo et al. (2021), "AdamP: Slowing Down the Slowdown for Momentum Optimizers on
    Scale-invariant Weights", Algorithm 2; timm 1.0.31 ``timm.optim.adamp.AdamP`` and ``projection``.
    """
    _check(nesterov)
    return rule(
        "adamp",
        "AdamP, Adam with the radial part of the update removed on scale-invariant weights"
        + (", cautious" if cautious else ""),
        "Heo et al. (2021), Algorithm 2; timm.optim.AdamP (channel view, then layer view; decay times "
        "wd_ratio where projected)" + (CAUTION_REFERENCE + SPHERICAL if cautious else ""),
        chain(
            "adamp",
            scale_by_adam(BETA1, BETA2, EPS, look_ahead=nesterov),
            project_radial(PROJECTION_DELTA, WD_RATIO, EPS),
            *caution_projected(cautious, PROJECTION_DELTA),
            add_decayed_weights(WEIGHT_DECAY, S.decay_ratio),
            scale_by_learning_rate(LR),
        ),
        source=TIMM_SOURCE,
        library=("timm.optim.adamp", "AdamP"),
        nesterov=nesterov,
        cautious=cautious,
    )


def sgdp(nesterov: bool = False, cautious: Cautious = False) -> Rule:
    """SGDP: SGD with momentum, ``b_t = ρ b_{t-1} + (1 - τ) g_t`` from zero (dampened from the first
    step, unlike torch's SGD), its direction projected by :func:`symopt.transforms.project_radial`,
    and decoupled weight decay ``λ Λ_t/(1 - ρ)`` (timm divides by 1 - ρ, the scale of the momentum's
    sum), ``θ_t = θ_{t-1} - η Δ̃_t - η λ Λ_t θ_{t-1}/(1 - ρ)``.

    Args:
        nesterov: the direction ``g_t + ρ b_t`` (timm's ``nesterov=True``, torch's form).
        cautious: timm's ``caution=True`` (:func:`symopt.transforms.caution_projected`): where the
            update is projected, keep it only where it agrees in sign with the gradient projected
            likewise, rescaled by the fraction that agrees, and project it again (the "spherical"
            cautious optimizer); elsewhere, and on parameters of fewer than two dimensions, the plain
            cautious mask against g_t. Before the decay, which it leaves alone.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("sgdp").transforms
        ('trace', 'project_radial', 'add_decayed_weights', 'scale_by_learning_rate')

    Reference: Heo et al. (2021), Algorithm 1; timm 1.0.31 ``timm.optim.sgdp.SGDP`` and ``projection``.
    """
    _check(nesterov)
    momentum = MOMENTUM.restricted(default=0.0, low_open=False, special=(0.0, 0.9))
    return rule(
        "sgdp",
        "SGDP, SGD with momentum with the radial part of the update removed on scale-invariant weights"
        + (", cautious" if cautious else ""),
        "Heo et al. (2021), Algorithm 1; timm.optim.SGDP (momentum dampened from the first step; decay times "
        "wd_ratio where projected, over 1 - momentum)" + (CAUTION_REFERENCE + SPHERICAL if cautious else ""),
        chain(
            "sgdp",
            trace(momentum, DAMPENING, nesterov=nesterov, dampen_first_step=True),
            project_radial(PROJECTION_DELTA, WD_RATIO, EPS),
            *caution_projected(cautious, PROJECTION_DELTA),
            add_decayed_weights(WEIGHT_DECAY, S.decay_ratio / (1 - momentum.symbol)),
            scale_by_learning_rate(LR),
        ),
        source=TIMM_SOURCE,
        library=("timm.optim.sgdp", "SGDP"),
        nesterov=nesterov,
        cautious=cautious,
    )
