"""MADGRAD, as timm 1.0.31 writes it (``timm.optim.MADGRAD``, Facebook's code): dual averaging with a
cube-root preconditioner, and momentum as an average of the dual iterate."""

from symopt.core import TIMM_SOURCE, Rule, chain, rule
from symopt.hyperparameters import EPS, LR, MADGRAD_MOMENTUM, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, madgrad_average


def madgrad(decoupled_decay: bool = False) -> Rule:
    """MADGRAD: ``λ_t = (η + ε)√t``, ``S_t = S_{t-1} + λ_t g_t``, ``V_t = V_{t-1} + λ_t g_t²``,
    ``ẑ_t = x₀ - S_t/(∛V_t + ε)`` and ``θ_t = ρθ_{t-1} + (1 - ρ)ẑ_t``, x₀ the parameters before the
    first step.

    The sums weight step t by λ_t, so the dual iterate ẑ moves ever less per gradient while θ, an
    exponential average of it, follows. timm (as the authors' code) adds ε to the learning rate in λ_t
    (the paper's Algorithm 1 has λ_k = η√(k + 1), k from 0: the same weights without ε). With
    ``momentum = 0`` timm takes another branch, recovering x₀ from θ each step (x₀ = θ_{t-1} +
    S_{t-1}/(∛V_{t-1} + ε), which equals the stored x₀ in exact arithmetic without decoupled decay):
    the momentum's range here excludes 0.

    Args:
        decoupled_decay: decay the parameters first, ``θ_{t-1}(1 - ηλ)`` (timm's ``decoupled_decay``);
            otherwise λθ_{t-1} is added to the gradient (L2).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("madgrad").transforms
        ('add_decayed_weights', 'madgrad_average')

    Reference: Defazio and Jelassi (2021), "Adaptivity without Compromise: A Momentumized, Adaptive,
    Dual Averaged Gradient Method for Stochastic Optimization", Algorithm 1; timm ``MADGRAD``.
    """
    if not isinstance(decoupled_decay, bool):
        raise ValueError(f"decoupled_decay must be True or False, not {decoupled_decay!r}")
    lr, eps = LR.restricted(default=1e-2, special=(1e-2, 0.0)), EPS.restricted(default=1e-6, special=(1e-6,))
    if decoupled_decay:
        steps = (madgrad_average(lr, MADGRAD_MOMENTUM, eps, WEIGHT_DECAY),)
    else:
        steps = (add_decayed_weights(WEIGHT_DECAY), madgrad_average(lr, MADGRAD_MOMENTUM, eps))
    return rule(
        "madgrad",
        "MADGRAD, momentumized dual averaging with a cube-root preconditioner" + (", decoupled decay"
                                                                                 if decoupled_decay else ""),
        "Defazio & Jelassi (2021), Algorithm 1; timm MADGRAD (lambda_t = (lr + eps) sqrt(t))",
        chain("madgrad", *steps),
        source=TIMM_SOURCE,
        library=("timm.optim.madgrad", "MADGRAD"),
        decoupled_decay=decoupled_decay,
    )
