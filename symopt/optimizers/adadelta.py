"""Adadelta (Zeiler 2012), as torch.optim.Adadelta: the RMS of past updates over the RMS of gradients."""

from symopt import symbols as S
from symopt.core import Hyper, Rule, chain, rule
from symopt.hyperparameters import EPS, LR, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, scale_by_adadelta, scale_by_learning_rate

# torch.optim.Adadelta's rho: the rate of both moving averages, 0 ≤ ρ ≤ 1.
RHO = Hyper(S.rho, "rho", 0.9, 0.0, 1.0, high_open=False, doc="decay of both moving averages",
            special=(0.9, 0.0, 1.0), sample=(0.01, 0.9999))


def adadelta() -> Rule:
    """Adadelta: ``v_t = ρ v_{t-1} + (1 - ρ) g_t²``, the update ``Δ_t = √(d_{t-1} + ε)/√(v_t + ε)·g_t``,
    ``d_t = ρ d_{t-1} + (1 - ρ) Δ_t²``, and ``θ_t = θ_{t-1} - η Δ_t``; L2 weight decay is added to the
    gradient first. Zeiler's rule has no learning rate (torch's η, default 1, scales Δ_t).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adadelta").transforms
        ('add_decayed_weights', 'scale_by_adadelta', 'scale_by_learning_rate')

    Reference: Zeiler (2012), "ADADELTA: An adaptive learning rate method", Algorithm 1;
    torch.optim.Adadelta.
    """
    return rule(
        "adadelta",
        "Adadelta, the RMS of past updates over the RMS of gradients, with L2 weight decay",
        "Zeiler (2012), Algorithm 1; torch.optim.Adadelta",
        chain(
            "adadelta",
            add_decayed_weights(WEIGHT_DECAY),
            scale_by_adadelta(RHO, EPS.restricted(default=1e-6, special=(1e-6,))),
            scale_by_learning_rate(LR.restricted(default=1.0, special=(1.0, 0.0))),
        ),
        torch="Adadelta",
    )
