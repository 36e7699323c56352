"""Rprop (Riedmiller & Braun 1993), as torch.optim.Rprop: a step size per element, moved by signs."""

import math

from symopt import symbols as S
from symopt.core import Hyper, Rule, chain, rule
from symopt.hyperparameters import LR
from symopt.transforms import scale_by_rprop

# torch.optim.Rprop's etas = (η₋, η₊), 0 < η₋ < 1 < η₊, and step_sizes = (Γ_min, Γ_max).
ETA_MINUS = Hyper(S.eta_minus, "etaminus", 0.5, 0.0, 1.0, low_open=True, library=("etas", 0),
                  doc="step-size factor after a change of sign", special=(0.5,), sample=(0.01, 0.99))
ETA_PLUS = Hyper(S.eta_plus, "etaplus", 1.2, 1.0, math.inf, low_open=True, library=("etas", 1),
                 doc="step-size factor while the sign is kept", special=(1.2,), sample=(1.01, 3.0))
STEP_MIN = Hyper(S.step_min, "step_size_min", 1e-6, 0.0, math.inf, library=("step_sizes", 0),
                 doc="smallest step size", special=(1e-6, 0.0), sample=(1e-9, 1e-3), log=True)
STEP_MAX = Hyper(S.step_max, "step_size_max", 50.0, 0.0, math.inf, library=("step_sizes", 1),
                 doc="largest step size", special=(50.0,), sample=(1e-2, 1e3), log=True)


def rprop() -> Rule:
    """Rprop: ``θ_t = θ_{t-1} - Γ_t sign(g̃_t)``, each element's step size Γ_t multiplied by η₊ while
    the gradient keeps its sign and by η₋ when it changes (the gradient is then kept as 0: the next
    step neither grows nor shrinks Γ), clamped to [Γ_min, Γ_max], Γ_0 = η.

    The learning rate is only the initial step size (torch reads it when the state is created).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("rprop").transforms
        ('scale_by_rprop',)

    Reference: Riedmiller & Braun (1993), "A direct adaptive method for faster backpropagation
    learning: the RPROP algorithm" (Rprop without weight-backtracking, as Igel & Hüsken's Rprop⁻
    with the zeroing of Rprop⁺); torch.optim.Rprop.
    """
    return rule(
        "rprop",
        "Rprop, a step size per element grown or shrunk by the sign of successive gradients",
        "Riedmiller & Braun (1993); torch.optim.Rprop",
        chain(
            "rprop",
            scale_by_rprop(LR.restricted(default=1e-2, special=(1e-2, 0.0)), ETA_MINUS, ETA_PLUS, STEP_MIN, STEP_MAX),
        ),
        torch="Rprop",
    )
