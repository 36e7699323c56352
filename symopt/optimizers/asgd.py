"""ASGD (Polyak & Juditsky 1992), as torch.optim.ASGD: SGD with a decaying step and an average of
its iterates."""

import math

from symopt import symbols as S
from symopt.core import Hyper, Rule, chain, rule
from symopt.hyperparameters import LR, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, averaged_sgd

# torch.optim.ASGD's lambd, alpha and t0 (torch checks none of them).
DECAY = Hyper(S.asgd_decay, "lambd", 1e-4, 0.0, math.inf, doc="decay term, and the learning rate's decay",
              special=(1e-4, 0.0), sample=(1e-6, 1.0), log=True)
POWER = Hyper(S.asgd_power, "alpha", 0.75, 0.0, math.inf, doc="power of the learning rate's decay",
              special=(0.75, 0.0, 1.0), sample=(0.0, 2.0))
# Drawn below a generated case's length (up to 50 steps, one in ten up to 250), so that the average starts.
T0 = Hyper(S.asgd_t0, "t0", 1e6, 0.0, math.inf, doc="the step after which averaging starts",
           special=(1e6, 0.0, 3.0), sample=(0.0, 40.0))


def asgd() -> Rule:
    """ASGD: ``θ_t = (1 - λ_d η̂_{t-1}) θ_{t-1} - η̂_{t-1} g_t`` (L2 weight decay added to g_t first)
    and the average ``ā_t = ā_{t-1} + μ̂_{t-1}(θ_t - ā_{t-1})``, with η̂_t = η/(1 + λ_d η t)^α_d and
    μ̂_t = 1/max(1, t - t₀) kept as scalar states from η̂_0 = η and μ̂_0 = 1, as torch keeps ``eta``
    and ``mu``. Until step t₀ + 1, μ̂ = 1 and ā is θ itself; after it, the running mean of the
    iterates since. ``kernel.eval_params(params, state)`` returns ā (torch's ``state["ax"]``).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("asgd").transforms
        ('add_decayed_weights', 'averaged_sgd')

    Reference: Polyak & Juditsky (1992), "Acceleration of stochastic approximation by averaging";
    torch.optim.ASGD.
    """
    return rule(
        "asgd",
        "ASGD, SGD with a decaying learning rate and an average of its iterates, with L2 weight decay",
        "Polyak & Juditsky (1992); torch.optim.ASGD",
        chain(
            "asgd",
            add_decayed_weights(WEIGHT_DECAY),
            averaged_sgd(LR.restricted(default=1e-2, special=(1e-2, 0.0)), DECAY, POWER, T0),
        ),
        torch="ASGD",
        evaluate="ax",
    )
