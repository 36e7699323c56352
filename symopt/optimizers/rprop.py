"""Rprop (Riedmiller & Braun 1993), as torch.optim.Rprop: a step size per element, moved by signs; and
as optax writes it, applying the previous step's update."""

import math
from typing import Literal

from symopt import symbols as S
from symopt.core import OPTAX_SOURCE, Hyper, Rule, chain, rule
from symopt.hyperparameters import LR
from symopt.transforms import scale_by_delayed_rprop, scale_by_rprop

Convention = Literal["torch", "optax"]

# torch.optim.Rprop's etas = (η₋, η₊), 0 < η₋ < 1 < η₊, and step_sizes = (Γ_min, Γ_max).
ETA_MINUS = Hyper(S.eta_minus, "etaminus", 0.5, 0.0, 1.0, low_open=True, library=("etas", 0),
                  doc="step-size factor after a change of sign", special=(0.5,), sample=(0.01, 0.99))
ETA_PLUS = Hyper(S.eta_plus, "etaplus", 1.2, 1.0, math.inf, low_open=True, library=("etas", 1),
                 doc="step-size factor while the sign is kept", special=(1.2,), sample=(1.01, 3.0))
STEP_MIN = Hyper(S.step_min, "step_size_min", 1e-6, 0.0, math.inf, library=("step_sizes", 0),
                 doc="smallest step size", special=(1e-6, 0.0), sample=(1e-9, 1e-3), log=True)
STEP_MAX = Hyper(S.step_max, "step_size_max", 50.0, 0.0, math.inf, library=("step_sizes", 1),
                 doc="largest step size", special=(50.0,), sample=(1e-2, 1e3), log=True)


# optax 0.2.8's ``rprop`` takes the same five by its own keywords.
OPTAX_KEYWORDS = {"lr": "learning_rate", "etaminus": "eta_minus", "etaplus": "eta_plus",
                  "step_size_min": "min_step_size", "step_size_max": "max_step_size"}


def rprop(convention: Convention = "torch") -> Rule:
    """Rprop: ``θ_t = θ_{t-1} - Γ_t sign(g̃_t)``, each element's step size Γ_t multiplied by η₊ while
    the gradient keeps its sign and by η₋ when it changes (the gradient is then kept as 0: the next
    step neither grows nor shrinks Γ), clamped to [Γ_min, Γ_max], Γ_0 = η.

    The learning rate is only the initial step size (torch reads it when the state is created).

    Args:
        convention: ``"torch"`` (torch.optim.Rprop) or ``"optax"`` (optax 0.2.8's ``rprop``): optax
            keeps the signed step ``δ_t = Γ_t sign(g_t)`` (0 where the sign changed) instead of the
            gradient, compares ``g_t`` with ``δ_{t-1}``, and applies ``δ_{t-1}``, the previous step's
            update (0 where the sign changes now): its first step does not move. It changes and
            clamps a step size only where ``g_t δ_{t-1} ≠ 0``, so that an initial step size outside
            [Γ_min, Γ_max] is kept until the first sign comparison.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("rprop").transforms
        ('scale_by_rprop',)
        >>> symopt.get("rprop", convention="optax").transforms
        ('scale_by_delayed_rprop',)

    Reference: Riedmiller & Braun (1993), "A direct adaptive method for faster backpropagation
    learning: the RPROP algorithm" (Rprop without weight-backtracking, as Igel & Hüsken's Rprop⁻
    with the zeroing of Rprop⁺); torch.optim.Rprop; optax ``rprop`` (``scale_by_rprop``).
    """
    if convention not in ("torch", "optax"):
        raise ValueError(f"convention must be 'torch' or 'optax', not {convention!r}")
    lr = LR.restricted(default=1e-2, special=(1e-2, 0.0))
    hypers = (lr, ETA_MINUS, ETA_PLUS, STEP_MIN, STEP_MAX)
    if convention == "optax":
        # η > 0: optax's step sizes start at η and change only where a sign is compared with a nonzero
        # signed step, so that at η = 0 no element ever moves (a second fixed point, Γ = 0, that the
        # settled step under a constant gradient would have to exclude)
        hypers = (lr.restricted(low_open=True, special=(1e-2,)), *hypers[1:])
        return rule(
            "rprop",
            "Rprop as optax writes it, applying the previous step's update",
            "Riedmiller & Braun (1993); optax rprop (the signed step kept, and applied one step later)",
            chain("rprop", scale_by_delayed_rprop(*(h.restricted(library=OPTAX_KEYWORDS[h.name]) for h in hypers))),
            source=OPTAX_SOURCE,
            library=("optax", "rprop"),
            convention=convention,
        )
    return rule(
        "rprop",
        "Rprop, a step size per element grown or shrunk by the sign of successive gradients",
        "Riedmiller & Braun (1993); torch.optim.Rprop",
        chain(
            "rprop",
            scale_by_rprop(*hypers),
        ),
        torch="Rprop",
        convention=convention,
    )
