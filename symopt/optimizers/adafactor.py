"""Adafactor: second moments factored into rows and columns, and a step relative to the parameters."""

import math

from symopt import symbols as S
from symopt.core import Hyper, Rule, chain, rule
from symopt.hyperparameters import LR, WEIGHT_DECAY
from symopt.transforms import (add_decayed_weights_by_lr, clip_by_block_rms, scale_by_factored_rms,
                               scale_by_relative_step)

# torch.optim.Adafactor's defaults. Its ε₁ defaults to the dtype's machine epsilon (None); symopt's to
# float64's, and verification passes it explicitly.
BETA2_DECAY = Hyper(S.decay_rate, "beta2_decay", -0.8, -math.inf, 0.0, low_open=True, high_open=False,
                    doc="the second moments' new value weighs t^beta2_decay", special=(-0.8, 0.0, -1.0),
                    sample=(-1.5, 0.0))
EPS1 = Hyper(S.eps1, "eps1", 2.220446049250313e-16, 0.0, math.inf, low_open=True, library=("eps", 0),
             doc="floor of the second moment's estimate (torch: the dtype's eps)", special=(2.220446049250313e-16,),
             sample=(1e-30, 1e-3), log=True)
EPS2 = Hyper(S.eps2, "eps2", 1e-3, 0.0, math.inf, library=("eps", 1),
             doc="floor of the parameters' RMS in the relative step",
             special=(1e-3, 0.0), sample=(1e-6, 1e-1), log=True)
CLIP = Hyper(S.clip, "d", 1.0, 1.0, math.inf, doc="threshold of the update's RMS", special=(1.0,),
             sample=(1.0, 10.0))


def adafactor() -> Rule:
    """Adafactor, as torch.optim.Adafactor (2.13).

    ``U_t = g_t/√max(V̂_t, ε₁²)`` with V̂_t the factored second moment (R_t C_t/mean(R_t) over the
    last two dimensions, or the moving average of g² for a vector);
    ``θ_t = θ_{t-1} - α_t U_t/max(1, RMS(U_t)/d) - η λ θ_{t-1}``, α_t = max(ε₂, RMS(θ_{t-1}))·min(η, 1/√t).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adafactor").transforms
        ('scale_by_factored_rms', 'clip_by_block_rms', 'scale_by_relative_step', 'add_decayed_weights_by_lr')

    Reference: N. Shazeer and M. Stern, "Adafactor: Adaptive Learning Rates with Sublinear Memory
    Cost", ICML 2018, Algorithms 4-5; torch.optim.Adafactor.
    """
    lr = LR.with_default(1e-2)
    return rule(
        "adafactor",
        "second moments factored into rows and columns; steps relative to the parameters' RMS",
        "Shazeer & Stern (2018), Algorithms 4-5; torch.optim.Adafactor (decay theta (1 - lr weight_decay), no first moment)",
        chain(
            "adafactor",
            scale_by_factored_rms(BETA2_DECAY, EPS1),
            clip_by_block_rms(CLIP),
            scale_by_relative_step(lr, EPS2),
            add_decayed_weights_by_lr(WEIGHT_DECAY, lr),
        ),
        torch="Adafactor",
    )
