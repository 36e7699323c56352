"""RMSprop, as torch.optim.RMSprop: plain or centred, with or without a momentum buffer."""

from typing import Literal

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import ALPHA, EPS, LR, MOMENTUM, WEIGHT_DECAY
from symopt.transforms import BUFFER, accumulate, add_decayed_weights, scale_by_learning_rate, scale_by_rms

# torch's momentum defaults to 0 here, and 0 leaves the buffer out (kernels drop it, as torch does).
RMSPROP_MOMENTUM = MOMENTUM.restricted(default=0.0, low_open=False, skip_when_zero=True,
                                       doc="momentum factor of the buffer (0: no buffer)")


def rmsprop(centered: bool = False, epsilon: Literal["outside", "inside"] = "outside") -> Rule:
    """RMSprop: divide the gradient by the root of a moving average of its square, not bias-corrected.

    ``v_t = α v_{t-1} + (1 - α) g_t²``, the direction ``g_t/(√v_t + ε)`` (ε outside the root, as
    torch; TensorFlow and optax put it inside), accumulated into a buffer ``b_t = ρ b_{t-1} + ...``
    when the momentum ρ is above 0, and L2 weight decay added to the gradient first.

    Args:
        centered: subtract the square of a moving average of the gradient from ``v_t`` (Graves
            2013), estimating the variance rather than the uncentred second moment.
        epsilon: ``"outside"`` the root (torch), or ``"inside"`` it, ``g_t/√(v_t + ε)``, as
            TensorFlow and optax's ``rmsprop`` (``eps_in_sqrt=True``, its default) put it.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("rmsprop").transforms
        ('add_decayed_weights', 'scale_by_rms', 'accumulate', 'scale_by_learning_rate')

    Reference: Tieleman & Hinton (2012), Lecture 6.5; Graves (2013); torch.optim.RMSprop.
    """
    if not isinstance(centered, bool):
        raise ValueError(f"centered must be True or False, not {centered!r}")
    if epsilon not in ("outside", "inside"):
        raise ValueError(f"epsilon must be outside or inside, not {epsilon!r}")
    return rule(
        "rmsprop",
        "RMSprop" + (", centred" if centered else "") + ", with L2 weight decay and an optional momentum buffer"
        + (", ε inside the root" if epsilon == "inside" else ""),
        "Tieleman & Hinton (2012), Lecture 6.5; Graves (2013), eq. 38-45; torch.optim.RMSprop",
        chain(
            "rmsprop",
            add_decayed_weights(WEIGHT_DECAY),
            scale_by_rms(ALPHA, EPS, centered=centered, eps_inside=epsilon == "inside"),
            accumulate(BUFFER, RMSPROP_MOMENTUM),
            scale_by_learning_rate(LR.restricted(default=1e-2)),
        ),
        torch="RMSprop",
        centered=centered,
        epsilon=epsilon,
    )
