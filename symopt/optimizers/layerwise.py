"""optax 0.2.8's layer-wise rules: each tensor's step scaled by norms of the whole tensor (LARS and
Fromage by a trust ratio, NovoGrad by a second moment per tensor; LAMB is in :mod:`.lamb`)."""

from symopt.core import OPTAX_SOURCE, Rule, chain, rule
from symopt.hyperparameters import (EPS, EPS_ROOT, EPS_TRUST, MIN_NORM, MOMENTUM, OPTAX_BETA1, OPTAX_BETA2, OPTAX_LR,
                                    TRUST_COEFFICIENT, WEIGHT_DECAY)
from symopt.transforms import (BUFFER, accumulate, add_decayed_weights, scale_by_fromage_learning_rate,
                               scale_by_learning_rate, scale_by_novograd, scale_by_trust_ratio)


def lars(nesterov: bool = False) -> Rule:
    """LARS: the L2-decayed gradient scaled by the trust ratio ``φ_t = ξ‖θ_{t-1}‖/(‖g_t‖ + ε)`` (1 where
    either norm is 0), then momentum with the learning rate inside the buffer, as optax chains it:
    ``b_t = ρ b_{t-1} + η φ_t g_t``, ``θ_t = θ_{t-1} - b_t``.

    Args:
        nesterov: step along ``ρ b_t + η φ_t g_t`` (optax's ``trace(nesterov=True)``).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("lars").transforms
        ('add_decayed_weights', 'scale_by_trust_ratio', 'scale_by_learning_rate', 'accumulate')

    Reference: You, Gitman and Ginsburg (2017), "Large Batch Training of Convolutional Networks",
    Algorithm 1; optax ``lars``.
    """
    if not isinstance(nesterov, bool):
        raise ValueError(f"nesterov must be True or False, not {nesterov!r}")
    return rule(
        "lars",
        "LARS, SGD with momentum on the gradient scaled by a trust ratio of norms of the whole tensor",
        "You et al. (2017), Algorithm 1; optax lars (the learning rate inside the momentum buffer)",
        chain(
            "lars",
            add_decayed_weights(WEIGHT_DECAY),
            scale_by_trust_ratio(TRUST_COEFFICIENT, EPS_TRUST),
            scale_by_learning_rate(OPTAX_LR),
            accumulate(BUFFER, MOMENTUM.restricted(low_open=False, special=(0.9, 0.0)), nesterov=nesterov),
        ),
        source=OPTAX_SOURCE,
        library=("optax", "lars"),
        nesterov=nesterov,
    )


def fromage() -> Rule:
    """Fromage: ``θ_t = (θ_{t-1} - η φ_t g_t)/√(1 + η²)``, φ_t = ‖θ_{t-1}‖/‖g_t‖ with both norms floored at
    ν_min: every step moves a tensor by η of its own norm, and the shrink keeps the norm from growing.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("fromage").transforms
        ('scale_by_trust_ratio', 'scale_by_fromage_learning_rate')

    Reference: Bernstein et al. (2020), "On the distance between two neural networks and the
    stability of learning", Algorithm 1; optax ``fromage``.
    """
    return rule(
        "fromage",
        "Fromage, a step of relative size η in every tensor, shrunk by 1/sqrt(1 + η²)",
        "Bernstein et al. (2020), Algorithm 1; optax fromage (norms floored at min_norm)",
        chain("fromage", scale_by_trust_ratio(min_norm=MIN_NORM),
              scale_by_fromage_learning_rate(OPTAX_LR.restricted(default=1e-2))),
        source=OPTAX_SOURCE,
        library=("optax", "fromage"),
    )


def novograd() -> Rule:
    """NovoGrad: a second moment per tensor, ``ν_t = β₂ ν_{t-1} + (1 - β₂)‖g_t‖²`` (‖g_1‖² at the first
    step), and momentum on the normalised gradient with the decay inside it,
    ``m_t = β₁ m_{t-1} + g_t/(√(ν_t + ε_root) + ε) + λθ_{t-1}``, ``θ_t = θ_{t-1} - η m_t``.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("novograd").transforms
        ('scale_by_novograd', 'scale_by_learning_rate')

    Reference: Ginsburg et al. (2019), "Stochastic Gradient Methods with Layer-wise Adaptive
    Moments for Training of Deep Networks", Algorithm 1; optax ``novograd``.
    """
    return rule(
        "novograd",
        "NovoGrad, momentum on the gradient normalised by a moving average of its squared norm per tensor",
        "Ginsburg et al. (2019), Algorithm 1; optax novograd (nu_1 = |g_1|^2, no bias correction)",
        chain(
            "novograd",
            scale_by_novograd(OPTAX_BETA1, OPTAX_BETA2.restricted(default=0.25, special=(0.25, 0.0, 0.9)),
                              EPS.restricted(default=1e-6, special=(1e-6,)), EPS_ROOT, WEIGHT_DECAY),
            scale_by_learning_rate(OPTAX_LR),
        ),
        source=OPTAX_SOURCE,
        library=("optax", "novograd"),
    )
