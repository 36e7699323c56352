"""The primitives rules are chained from.

Each transform maps the incoming descent direction ``u`` to a new one, and owns the hyperparameters
and state it needs (optax's ``scale_by_adam`` keeps ``ScaleByAdamState`` beside it; here the
``State`` is declared inside the transform). The rule subtracts the final direction from θ_{t-1}.
"""

from __future__ import annotations

from typing import Literal

import sympy as sp

from symopt import symbols as S
from symopt.core import Assign, Hyper, State, Transform

FIRST_MOMENT = State("m", S.m, S.m_prev, doc="first moment: moving average of the gradient")
SECOND_MOMENT = State("v", S.v, S.v_prev, doc="second moment: moving average of the squared gradient")
VELOCITY = State("v", S.v, S.v_prev, doc="velocity: the momentum buffer")

EpsilonPlacement = Literal["outside", "inside", "hat"]
EPSILON_PLACEMENTS: tuple[str, ...] = ("outside", "inside", "hat")


def add_decayed_weights(weight_decay: Hyper) -> Transform:
    """Add ``λ θ_{t-1}`` to the direction.

    At the head of a chain the direction is still the gradient, so this is L2 regularisation, and
    it is written as the note writes it, ``g_t = g_t + λ θ_{t-1}``: every later use of g_t sees the
    decay. Later in a chain it is decoupled weight decay (Loshchilov & Hutter), added to the
    direction after it was preconditioned.
    """
    lam = weight_decay.symbol

    def apply(u):
        if u == S.g:
            return (Assign(S.g, S.g + lam * S.theta_prev),), S.g
        return (), u + lam * S.theta_prev

    return Transform("add_decayed_weights", apply, hypers=(weight_decay,))


def scale_by_learning_rate(lr: Hyper) -> Transform:
    """Multiply the direction by the learning rate η."""
    return Transform("scale_by_learning_rate", lambda u: ((), lr.symbol * u), hypers=(lr,))


def moving_average(state: State, decay: Hyper) -> Transform:
    """``x_t = β x_{t-1} + (1 - β) u``: an exponential moving average, started from 0."""
    beta = decay.symbol

    def apply(u):
        return (Assign(state.new, beta * state.prev + (1 - beta) * u),), state.new

    return Transform("moving_average", apply, hypers=(decay,), states=(state,))


def bias_correction(hat: sp.Symbol, decay: Hyper) -> Transform:
    """``x̂_t = x_t / (1 - βᵗ)``: undo the pull towards the zero start of a moving average
    (Kingma & Ba 2015, Section 3)."""
    beta = decay.symbol
    return Transform(
        "bias_correction",
        lambda x: ((Assign(hat, x / (1 - beta**S.t)),), hat),
        hypers=(decay,),
    )


def trace(momentum: Hyper, dampening: Hyper, *, nesterov: bool = False, dampen_first_step: bool = False) -> Transform:
    """Heavy-ball momentum in torch.optim.SGD's form, ``v_t = ρ v_{t-1} + (1 - τ) g_t``.

    torch sets the buffer to the gradient itself on the first step, so dampening starts at step 2;
    ``dampen_first_step=True`` is the common mistake of dampening step 1 as well. With
    ``nesterov=True`` the direction is ``g_t + ρ v_t`` (torch's Nesterov form, Sutskever et al. 2013).
    """
    rho, tau = momentum.symbol, dampening.symbol

    def apply(u):
        accumulate = rho * S.v_prev + (1 - tau) * u
        if not dampen_first_step:
            accumulate = sp.Piecewise((u, sp.Eq(S.t, 1)), (accumulate, True))
        out = u + rho * S.v if nesterov else S.v
        return (Assign(S.v, accumulate),), out

    return Transform("trace", apply, hypers=(momentum, dampening), states=(VELOCITY,))


def precondition(first: sp.Expr, second: sp.Expr, eps: Hyper, epsilon: EpsilonPlacement, decay: Hyper | None) -> sp.Expr:
    """Precondition by a root mean square: ``first / (√second + ε)``, with ε where ``epsilon`` says.

    It takes two inputs, the moments, so :func:`scale_by_adam` calls it directly.

    - ``"outside"``: ``first/(√second + ε)``, Kingma & Ba's Algorithm 1 and torch.optim.Adam;
    - ``"inside"``: ``first/√(second + ε)``, optax's ``eps_root`` (with its ``eps=0``);
    - ``"hat"``: Kingma & Ba's "more efficient" order, ε added to √v_t *before* the bias correction
      (TensorFlow 1's ε̂); with a bias-corrected ``second`` this is ``ε/√(1 - β₂ᵗ)`` outside the root.
    """
    e = eps.symbol
    if epsilon == "outside":
        return first / (sp.sqrt(second) + e)
    if epsilon == "inside":
        return first / sp.sqrt(second + e)
    if epsilon == "hat":
        scale = 1 if decay is None else sp.sqrt(1 - decay.symbol**S.t)
        return first / (sp.sqrt(second) + e / scale)
    raise ValueError(f"epsilon must be one of {', '.join(EPSILON_PLACEMENTS)}, not {epsilon!r}")


def scale_by_adam(
    beta1: Hyper, beta2: Hyper, eps: Hyper, *, bias_correction_on: bool = True, epsilon: EpsilonPlacement = "outside"
) -> Transform:
    """Adam's direction ``m̂_t / (√v̂_t + ε)``: two moving averages, their bias corrections, and the
    RMS preconditioner (Kingma & Ba 2015, Algorithm 1; optax ``scale_by_adam``)."""
    first = moving_average(FIRST_MOMENT, beta1)
    second = moving_average(SECOND_MOMENT, beta2)
    correct_first = bias_correction(S.mhat, beta1)
    correct_second = bias_correction(S.vhat, beta2)

    def apply(u):
        eq_m, m = first.apply(u)
        eq_v, v = second.apply(u**2)
        equations = eq_m + eq_v
        if bias_correction_on:
            eq_mhat, m = correct_first.apply(m)
            eq_vhat, v = correct_second.apply(v)
            equations += eq_mhat + eq_vhat
        return equations, precondition(m, v, eps, epsilon, beta2 if bias_correction_on else None)

    return Transform(
        "scale_by_adam",
        apply,
        hypers=(beta1, beta2, eps),
        states=(FIRST_MOMENT, SECOND_MOMENT),
    )
