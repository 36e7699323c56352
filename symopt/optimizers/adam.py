"""Adam with L2 weight decay, and AdamW: the same chain with the decay in a different place."""

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, EPS, LR, WEIGHT_DECAY
from symopt.transforms import EPSILON_PLACEMENTS, add_decayed_weights, scale_by_adam, scale_by_learning_rate


def _check(bias_correction: object, epsilon: object) -> None:
    if not isinstance(bias_correction, bool):
        raise ValueError(f"bias_correction must be True or False, not {bias_correction!r}")
    if epsilon not in EPSILON_PLACEMENTS:
        raise ValueError(f"epsilon must be one of {', '.join(EPSILON_PLACEMENTS)}, not {epsilon!r}")


def adam(bias_correction: bool = True, epsilon: str = "outside") -> Rule:
    """Adam, with weight decay added to the gradient (L2), as in the note and torch.optim.Adam.

    The decay enters *before* the moments, so it is divided by √v̂_t like the gradient: parameters
    with a large gradient history are decayed less (the coupling problem, derived by
    :func:`symopt.effective_weight_decay`).

    Args:
        bias_correction: divide the moments by ``1 - βᵗ``; ``False`` gives the note's equations.
        epsilon: where ε goes: ``"outside"`` the root (Kingma & Ba, torch), ``"inside"`` it
            (optax's ``eps_root``), or ``"hat"``, added before the bias correction (Kingma & Ba's
            efficient form with ε̂ = ε, as TensorFlow 1).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adam").transforms
        ('add_decayed_weights', 'scale_by_adam', 'scale_by_learning_rate')

    Reference: Kingma & Ba (2015), Algorithm 1; torch.optim.Adam.
    """
    _check(bias_correction, epsilon)
    return rule(
        "adam",
        "Adam with L2 weight decay added to the gradient",
        "Kingma & Ba (2015), Algorithm 1; torch.optim.Adam",
        chain(
            "adam",
            add_decayed_weights(WEIGHT_DECAY),
            scale_by_adam(BETA1, BETA2, EPS, bias_correction_on=bias_correction, epsilon=epsilon),
            scale_by_learning_rate(LR),
        ),
        bias_correction=bias_correction,
        epsilon=epsilon,
    )


def adamw(bias_correction: bool = True, epsilon: str = "outside") -> Rule:
    """AdamW: Adam with the weight decay decoupled from the gradient and scaled by η.

    ``θ_t = θ_{t-1} - η m̂_t/(√v̂_t + ε) - η λ θ_{t-1}``: the same chain as :func:`adam` with the
    decay moved after the preconditioner, so every parameter is decayed by the same λ.

    Args:
        bias_correction: as for :func:`adam`.
        epsilon: as for :func:`adam`.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("adamw").transforms
        ('scale_by_adam', 'add_decayed_weights', 'scale_by_learning_rate')

    Reference: Loshchilov & Hutter (2019), Algorithm 2; torch.optim.AdamW.
    """
    _check(bias_correction, epsilon)
    return rule(
        "adamw",
        "Adam with decoupled weight decay, scaled by the learning rate",
        "Loshchilov & Hutter (2019), Algorithm 2; torch.optim.AdamW",
        chain(
            "adamw",
            scale_by_adam(BETA1, BETA2, EPS, bias_correction_on=bias_correction, epsilon=epsilon),
            add_decayed_weights(WEIGHT_DECAY.with_default(1e-2)),
            scale_by_learning_rate(LR),
        ),
        bias_correction=bias_correction,
        epsilon=epsilon,
    )
