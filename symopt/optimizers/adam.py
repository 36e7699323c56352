"""Adam with L2 weight decay, and AdamW: the same chain with the decay in a different place."""

from typing import Literal

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, EPS, LR, WEIGHT_DECAY
from symopt.transforms import EPSILON_PLACEMENTS, add_decayed_weights, scale_by_adam, scale_by_learning_rate


Epsilon = Literal["outside", "inside", "hat"]


def _check(bias_correction: object, epsilon: object, amsgrad: object) -> None:
    for key, value in (("bias_correction", bias_correction), ("amsgrad", amsgrad)):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be True or False, not {value!r}")
    if epsilon not in EPSILON_PLACEMENTS:
        raise ValueError(f"epsilon must be one of {', '.join(EPSILON_PLACEMENTS)}, not {epsilon!r}")


def adam(bias_correction: bool = True, epsilon: Epsilon = "outside", amsgrad: bool = False) -> Rule:
    """Adam, with weight decay added to the gradient (L2), as in the note and torch.optim.Adam.

    The decay enters *before* the moments, so it is divided by √v̂_t like the gradient: parameters
    with a large gradient history are decayed less (the coupling problem, derived by
    :func:`symopt.effective_weight_decay`).

    Args:
        bias_correction: divide the moments by ``1 - βᵗ``; ``False`` gives the note's equations.
        epsilon: where ε goes: ``"outside"`` the root (Kingma & Ba, torch), ``"inside"`` it
            (optax's ``eps_root``), or ``"hat"``, added before the bias correction (Kingma & Ba's
            efficient form with ε̂ = ε, as TensorFlow 1).
        amsgrad: divide by the running maximum of the second moment (Reddi et al. 2018), taken
            over the raw ``v_t`` as torch does.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adam").transforms
        ('add_decayed_weights', 'scale_by_adam', 'scale_by_learning_rate')

    Reference: Kingma & Ba (2015), Algorithm 1; torch.optim.Adam.
    """
    _check(bias_correction, epsilon, amsgrad)
    return rule(
        "adam",
        "Adam with L2 weight decay added to the gradient",
        "Kingma & Ba (2015), Algorithm 1 (which has no weight decay); the L2 term as torch.optim.Adam adds it",
        chain(
            "adam",
            add_decayed_weights(WEIGHT_DECAY),
            scale_by_adam(BETA1, BETA2, EPS, bias_correction_on=bias_correction, epsilon=epsilon, amsgrad=amsgrad),
            scale_by_learning_rate(LR),
        ),
        torch="Adam",
        bias_correction=bias_correction,
        epsilon=epsilon,
        amsgrad=amsgrad,
    )


def adamw(bias_correction: bool = True, epsilon: Epsilon = "outside", amsgrad: bool = False) -> Rule:
    """AdamW: Adam with the weight decay decoupled from the gradient and scaled by η.

    ``θ_t = θ_{t-1} - η m̂_t/(√v̂_t + ε) - η λ θ_{t-1}``: the same chain as :func:`adam` with the
    decay moved after the preconditioner, so every parameter is decayed by the same λ.

    Args:
        bias_correction: as for :func:`adam`.
        epsilon: as for :func:`adam`.
        amsgrad: as for :func:`adam`.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adamw").transforms
        ('scale_by_adam', 'add_decayed_weights', 'scale_by_learning_rate')

    Reference: Loshchilov & Hutter (2019), Algorithm 2; torch.optim.AdamW.
    """
    _check(bias_correction, epsilon, amsgrad)
    return rule(
        "adamw",
        "Adam with decoupled weight decay, scaled by the learning rate",
        "torch.optim.AdamW; Loshchilov & Hutter (2019), Algorithm 2, decouple the decay but multiply it by "
        "a schedule multiplier, not by the learning rate",
        chain(
            "adamw",
            scale_by_adam(BETA1, BETA2, EPS, bias_correction_on=bias_correction, epsilon=epsilon, amsgrad=amsgrad),
            add_decayed_weights(WEIGHT_DECAY.with_default(1e-2)),
            scale_by_learning_rate(LR),
        ),
        torch="AdamW",
        bias_correction=bias_correction,
        epsilon=epsilon,
        amsgrad=amsgrad,
    )
