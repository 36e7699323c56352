"""The primitives rules are chained from.

Each transform maps the incoming descent direction ``u`` to a new one, and owns the hyperparameters
and state it needs (optax's ``scale_by_adam`` keeps ``ScaleByAdamState`` beside it; here the
``State`` is declared inside the transform). The rule subtracts the final direction from θ_{t-1}.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, Literal

import sympy as sp

from symopt import symbols as S
from symopt.core import Assign, Hyper, LibraryKeyword, State, Transform

# ``library``: the key torch.optim keeps each under (symopt.torch.optim maps checkpoints with it).
FIRST_MOMENT = State("m", S.m, S.m_prev, doc="first moment: moving average of the gradient", library="exp_avg")
SECOND_MOMENT = State("v", S.v, S.v_prev, doc="second moment: moving average of the squared gradient",
                      library="exp_avg_sq")
SQUARE_AVERAGE = replace(SECOND_MOMENT, library="square_avg")  # RMSprop's v, under torch's name
BUFFER = State("b", S.b, S.b_prev, doc="momentum buffer (the note's velocity)", library="momentum_buffer")
MAX_SECOND_MOMENT = State("vmax", S.vmax, S.vmax_prev, doc="largest second moment so far", library="max_exp_avg_sq")
MEAN_GRADIENT = State("gbar", S.gbar, S.gbar_prev, doc="moving average of the gradient, for centring",
                      library="grad_avg")
INFINITY_NORM = State("u", S.u, S.u_prev, doc="exponentially weighted infinity norm of the gradient",
                      library="exp_inf")
SGD_SEQUENCE = State("z", S.z, S.z_prev, init=S.theta0, doc="the sequence the gradient steps move (SGD's iterates)")
AVERAGE = State("x", S.x, S.x_prev, init=S.theta0, doc="the weighted average of z: what eval() evaluates at")
LARGEST_LR = State("lr_max", S.lr_max, S.lr_max_prev, init=-sp.S.One, doc="largest learning rate so far",
                   scalar=True)
WEIGHT_SUM = State("weight_sum", S.weight_sum, S.weight_sum_prev, doc="sum of the averaging weights so far",
                   scalar=True)
MU_PRODUCT = State("mu_product", S.mu_product, S.mu_product_prev, init=sp.S.One,
                   doc="product of the momentum factors so far", scalar=True)

EpsilonPlacement = Literal["outside", "inside", "hat", "both"]
EPSILON_PLACEMENTS: tuple[str, ...] = ("outside", "inside", "hat", "both")


def add_decayed_weights(weight_decay: Hyper, factor: sp.Expr = sp.S.One,
                        corrected: DecayCorrection | None = None) -> Transform:
    """Add ``λ θ_{t-1}`` to the direction (``factor·λ θ_{t-1}`` with a ``factor``: AdamP's ratio where
    it projects, :func:`project_radial`; ``(η/η_max)·λ θ_{t-1}`` with ``corrected``, timm's corrected
    weight decay before the learning rate scales it, :func:`corrected_decay`).

    At the head of a chain the direction is still the gradient, so this is L2 regularisation, and
    it is written as the note writes it, ``g_t = g_t + λ θ_{t-1}``: every later use of g_t sees the
    decay. Later in a chain it is decoupled weight decay (Loshchilov & Hutter), added to the
    direction after it was preconditioned.
    """
    lam = weight_decay.symbol * factor * _correction(corrected)

    def apply(u):
        if u == S.g:
            if corrected is not None:
                raise ValueError("the corrected weight decay is decoupled: it cannot be added to the gradient")
            return (Assign(S.g, S.g + lam * S.theta_prev),), S.g
        return (), u + lam * S.theta_prev

    return Transform("add_decayed_weights", apply, hypers=(weight_decay, *_corrected_hypers(corrected)))


def scale_by_learning_rate(lr: Hyper) -> Transform:
    """Multiply the direction by the learning rate η."""
    return Transform("scale_by_learning_rate", lambda u: ((), lr.symbol * u), hypers=(lr,))


def scale_by_schedule(multiplier: Hyper) -> Transform:
    """Multiply the direction by a schedule multiplier (Loshchilov & Hutter's η_t; optax's
    ``scale_by_schedule``), a factor of its own beside the learning rate."""
    return Transform("scale_by_schedule", lambda u: ((), multiplier.symbol * u), hypers=(multiplier,))


def moving_average(state: State, decay: Hyper, *, nesterov: bool = False, increment: bool = False) -> Transform:
    """``x_t = β x_{t-1} + (1 - β) u``: an exponential moving average, started from 0.

    With ``nesterov`` the direction is the look-ahead ``β x_t + (1 - β) u``: the same update applied
    once more, to the new average (as :func:`trace` and :func:`accumulate` look ahead). With
    ``increment`` it is written ``x_t = x_{t-1} + (1 - β)(u - x_{t-1})``, the same average computed
    as torch.optim.SparseAdam computes it (whose rounding, where u is small against x_{t-1} and β near
    0, is that of the difference: the kernel and its error bound follow the form written).
    """
    beta = decay.symbol

    def apply(u):
        out = beta * state.new + (1 - beta) * u if nesterov else state.new
        if increment:
            return (Assign(state.new, state.prev + (1 - beta) * (u - state.prev)),), out
        return (Assign(state.new, beta * state.prev + (1 - beta) * u),), out

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


def accumulate(state: State, decay: Hyper | None = None, *, nesterov: bool = False) -> Transform:
    """``x_t = ρ x_{t-1} + u`` (a sum of past directions decayed by ρ; a plain sum without ``decay``).

    RMSprop's momentum buffer and Adagrad's sum of squares are made of it (optax's ``trace``); after
    the learning rate it is Sutskever et al.'s momentum, ``b_t = ρ b_{t-1} + η g_t``. With
    ``nesterov`` the direction is the look-ahead ``ρ x_t + u`` (optax's ``trace(nesterov=True)``).
    """
    def apply(u):
        previous = state.prev if decay is None else decay.symbol * state.prev
        out = decay.symbol * state.new + u if nesterov and decay is not None else state.new
        return (Assign(state.new, previous + u),), out

    return Transform("accumulate", apply, hypers=(decay,) if decay else (), states=(state,))


def trace(momentum: Hyper, dampening: Hyper, *, nesterov: bool = False, dampen_first_step: bool = False) -> Transform:
    """Heavy-ball momentum in torch.optim.SGD's form, ``b_t = ρ b_{t-1} + (1 - τ) g_t``.

    torch sets the buffer to the gradient itself on the first step, so dampening starts at step 2;
    ``dampen_first_step=True`` is the common mistake of dampening step 1 as well. With
    ``nesterov=True`` the direction is ``g_t + ρ b_t`` (torch's Nesterov form, Sutskever et al. 2013).
    """
    rho, tau = momentum.symbol, dampening.symbol

    def apply(u):
        accumulate = rho * S.b_prev + (1 - tau) * u
        if not dampen_first_step:
            accumulate = sp.Piecewise((u, sp.Eq(S.t, 1)), (accumulate, True))
        out = u + rho * S.b if nesterov else S.b
        return (Assign(S.b, accumulate),), out

    return Transform("trace", apply, hypers=(momentum, dampening), states=(BUFFER,))


def precondition(first: sp.Expr, second: sp.Expr, eps: Hyper, epsilon: EpsilonPlacement, decay: Hyper | None,
                 eps_root: Hyper | None = None) -> sp.Expr:
    """Precondition by a root mean square: ``first / (√second + ε)``, with ε where ``epsilon`` says.

    It takes two inputs, the moments, so :func:`scale_by_adam` calls it directly.

    - ``"outside"``: ``first/(√second + ε)``, Kingma & Ba's Algorithm 1 and torch.optim.Adam;
    - ``"inside"``: ``first/√(second + ε)``, optax's ``eps_root`` (with its ``eps=0``);
    - ``"hat"``: Kingma & Ba's "more efficient" order, ε added to √v_t *before* the bias correction
      (TensorFlow 1's ε̂, Keras's ``epsilon``); with a bias-corrected ``second`` this is
      ``ε/√(1 - β₂ᵗ)`` outside the root;
    - ``"both"``: ``first/(√(second + ε_root) + ε)``, optax's ``eps`` together with its ``eps_root``.
    """
    e = eps.symbol
    if epsilon == "outside":
        return first / (sp.sqrt(second) + e)
    if epsilon == "inside":
        return first / sp.sqrt(second + e)
    if epsilon == "hat":
        scale = 1 if decay is None else sp.sqrt(1 - decay.symbol**S.t)
        return first / (sp.sqrt(second) + e / scale)
    if epsilon == "both" and eps_root is not None:
        return first / (sp.sqrt(second + eps_root.symbol) + e)
    raise ValueError(f"epsilon must be one of {', '.join(EPSILON_PLACEMENTS)}, not {epsilon!r}")


def scale_by_adam(
    beta1: Hyper, beta2: Hyper, eps: Hyper, *, bias_correction_on: bool = True, epsilon: EpsilonPlacement = "outside",
    amsgrad: bool | Literal["corrected"] = False, eps_root: Hyper | None = None, increment: bool = False,
    nesterov: bool = False, look_ahead: bool = False,
) -> Transform:
    """Adam's direction ``m̂_t / (√v̂_t + ε)``: two moving averages, their bias corrections, and the
    RMS preconditioner (Kingma & Ba 2015, Algorithm 1; optax ``scale_by_adam``).

    With ``amsgrad`` the second moment is replaced by its running maximum, taken over the raw
    ``v_t`` before the bias correction, as torch does (Reddi et al. 2018), or with
    ``amsgrad="corrected"`` over the bias-corrected ``v̂_t``, as optax's ``scale_by_amsgrad``.
    ``eps_root`` is the hyperparameter of ``epsilon="both"`` (optax's ``eps_root``); ``increment``
    writes both averages as increments (:func:`moving_average`), as torch.optim.SparseAdam does. With
    ``nesterov`` the corrected first moment looks one step ahead, as optax's
    ``scale_by_adam(nesterov=True)`` (its ``nadam``): :func:`nesterov_bias_correction`. With
    ``look_ahead`` the first moment looks one step ahead before its correction,
    ``(β₁ m_t + (1 - β₁) g_t)/(1 - β₁ᵗ)``, as timm's AdamP (``nesterov=True``) does.
    """
    first = moving_average(FIRST_MOMENT, beta1, increment=increment, nesterov=look_ahead)
    second = moving_average(SECOND_MOMENT, beta2, increment=increment)
    correct_first = bias_correction(S.mhat, beta1)
    correct_second = bias_correction(S.vhat, beta2)
    states = (FIRST_MOMENT, SECOND_MOMENT, *((MAX_SECOND_MOMENT,) if amsgrad else ()))
    if (epsilon == "both") != (eps_root is not None):
        raise ValueError('eps_root is the hyperparameter of epsilon="both", and only of it')

    def running_max(v):
        return (Assign(S.vmax, sp.Max(S.vmax_prev, v)),), S.vmax

    def apply(u):
        eq_m, m = first.apply(u)
        eq_v, v = second.apply(u**2)
        equations = eq_m + eq_v
        if amsgrad is True:
            eq_max, v = running_max(v)
            equations += eq_max
        if bias_correction_on:
            eq_mhat, m = (nesterov_bias_correction(beta1).apply(m) if nesterov else correct_first.apply(m))
            eq_vhat, v = correct_second.apply(v)
            equations += eq_mhat + eq_vhat
        if amsgrad == "corrected":
            eq_max, v = running_max(v)
            equations += eq_max
        return equations, precondition(m, v, eps, epsilon, beta2 if bias_correction_on else None, eps_root)

    hypers = (beta1, beta2, eps, *((eps_root,) if eps_root is not None else ()))
    return Transform("scale_by_adam", apply, hypers=hypers, states=states)


def nesterov_bias_correction(decay: Hyper) -> Transform:
    """``m̂_t = β m_t/(1 - βᵗ⁺¹) + (1 - β) g_t/(1 - βᵗ)``: the bias-corrected moving average looked one
    step ahead, the next average's correction applied to this one (Dozat 2016 without the momentum
    schedule; optax's ``nesterov=True`` in ``scale_by_adam`` and ``scale_by_belief``)."""
    beta = decay.symbol

    def apply(m):
        return (Assign(S.mhat, beta * m / (1 - beta ** (S.t + 1)) + (1 - beta) * S.g / (1 - beta**S.t)),), S.mhat

    return Transform("nesterov_bias_correction", apply, hypers=(decay,))


def scale_by_rms(alpha: Hyper, eps: Hyper, *, centered: bool = False, eps_inside: bool = False,
                 initial: sp.Expr = sp.S.Zero, increment: bool = False) -> Transform:
    """RMSprop's direction ``g_t / (√v_t + ε)``, with ``v_t`` a moving average of g_t² that is not
    bias-corrected; ``centered`` subtracts the square of a moving average of g_t first, ``ṽ_t = v_t - ḡ_t²``
    (Tieleman & Hinton 2012; Graves 2013, eq. 38-45; torch.optim.RMSprop). ``eps_inside`` puts ε
    under the root, ``g_t/√(v_t + ε)``, as TensorFlow and optax (``eps_in_sqrt=True``) do. ``initial``
    is v_0 (TensorFlow and timm's ``RMSpropTF`` start it at 1), and ``increment`` writes both averages
    ``x_{t-1} + (1 - α)(u - x_{t-1})``, TensorFlow's order of operations (:func:`moving_average`)."""
    square = SQUARE_AVERAGE if initial == 0 else replace(SQUARE_AVERAGE, init=sp.sympify(initial))
    second = moving_average(square, alpha, increment=increment)
    mean = moving_average(MEAN_GRADIENT, alpha, increment=increment)

    def apply(u):
        equations, v = second.apply(u**2)
        if centered:
            eq_gbar, gbar = mean.apply(u)
            equations += eq_gbar + (Assign(S.vtilde, v - gbar**2),)
            v = S.vtilde
        return equations, u / (sp.sqrt(v + eps.symbol) if eps_inside else sp.sqrt(v) + eps.symbol)

    states = (square, *((MEAN_GRADIENT,) if centered else ()))
    return Transform("scale_by_rms", apply, hypers=(alpha, eps), states=states)


def scale_by_adagrad(eps: Hyper, initial: Hyper) -> Transform:
    """Adagrad's direction ``g_t / (√s_t + ε)`` with ``s_t = s_{t-1} + g_t²`` the sum of the squared
    gradients, started at ``s_0`` (Duchi et al. 2011; torch.optim.Adagrad)."""
    total = State("s", S.s, S.s_prev, init=initial.symbol, doc="sum of the squared gradients", library="sum")
    summed = accumulate(total)

    def apply(u):
        equations, s = summed.apply(u**2)
        return equations, u / (sp.sqrt(s) + eps.symbol)

    return Transform("scale_by_adagrad", apply, hypers=(eps, initial), states=(total,))


def scale_by_decayed_learning_rate(lr: Hyper, decay: Hyper) -> Transform:
    """Multiply the direction by ``η_t = η / (1 + (t - 1) κ)`` (torch.optim.Adagrad's ``lr_decay``)."""

    def apply(u):
        return (Assign(S.lr_t, lr.symbol / (1 + (S.t - 1) * decay.symbol)),), S.lr_t * u

    return Transform("scale_by_decayed_learning_rate", apply, hypers=(lr, decay))


def scale_by_adamax(beta1: Hyper, beta2: Hyper, eps: Hyper) -> Transform:
    """Adamax's direction ``m̂_t / u_t`` with ``u_t = max(β₂ u_{t-1}, |g_t| + ε)``, the infinity-norm
    form of Adam (Kingma & Ba 2015, Algorithm 2), ε inside the max as torch.optim.Adamax does."""
    first = moving_average(FIRST_MOMENT, beta1)
    correct_first = bias_correction(S.mhat, beta1)

    def apply(u):
        eq_m, m = first.apply(u)
        eq_u = (Assign(S.u, sp.Max(beta2.symbol * S.u_prev, sp.Abs(u) + eps.symbol)),)
        eq_mhat, m = correct_first.apply(m)
        return eq_m + eq_u + eq_mhat, m / S.u

    return Transform("scale_by_adamax", apply, hypers=(beta1, beta2, eps), states=(FIRST_MOMENT, INFINITY_NORM))


def scale_by_nadam(beta1: Hyper, beta2: Hyper, eps: Hyper, momentum_decay: Hyper) -> Transform:
    """NAdam's direction: Adam with a Nesterov look-ahead and a momentum factor that rises to β₁,
    ``μ_t = β₁(1 - ½·0.96^(tψ))``, its running product Π_t a scalar state (Dozat 2016;
    torch.optim.NAdam)."""
    first = moving_average(FIRST_MOMENT, beta1)
    second = moving_average(SECOND_MOMENT, beta2)
    correct_second = bias_correction(S.vhat, beta2)
    b1, psi = beta1.symbol, momentum_decay.symbol
    half, rate = sp.Rational(1, 2), sp.Rational(96, 100)

    def apply(u):
        factors = (
            Assign(S.mu, b1 * (1 - half * rate ** (S.t * psi))),
            Assign(S.mu_next, b1 * (1 - half * rate ** ((S.t + 1) * psi))),
            Assign(S.mu_product, S.mu_product_prev * S.mu),
        )
        eq_m, m = first.apply(u)
        eq_v, v = second.apply(u**2)
        eq_vhat, v = correct_second.apply(v)
        denominator = sp.sqrt(v) + eps.symbol
        direction = ((1 - S.mu) / (1 - S.mu_product) * u / denominator
                     + S.mu_next / (1 - S.mu_product * S.mu_next) * m / denominator)
        return factors + eq_m + eq_v + eq_vhat, direction

    return Transform("scale_by_nadam", apply, hypers=(beta1, beta2, eps, momentum_decay),
                     states=(MU_PRODUCT, FIRST_MOMENT, SECOND_MOMENT))


# RAdam adapts only once the SMA length ρ_t exceeds this (Liu et al. 2020, Algorithm 2; torch).
RADAM_THRESHOLD = 5


def scale_by_radam(beta1: Hyper, beta2: Hyper, eps: Hyper) -> Transform:
    """RAdam's direction: Adam's, rectified by ``r_t`` once the length ρ_t of the approximated simple
    moving average exceeds 5, and the bias-corrected momentum alone before (Liu et al. 2020,
    Algorithm 2). ε is added to the raw ``√v_t``, and the bias correction of v multiplies after, as
    in torch.optim.RAdam."""
    first = moving_average(FIRST_MOMENT, beta1)
    second = moving_average(SECOND_MOMENT, beta2)
    correct_first = bias_correction(S.mhat, beta1)
    b2 = beta2.symbol

    def apply(u):
        eq_m, m = first.apply(u)
        eq_v, v = second.apply(u**2)
        eq_mhat, mhat = correct_first.apply(m)
        lengths = (
            Assign(S.rho_inf, 2 / (1 - b2) - 1),
            Assign(S.rho_t, S.rho_inf - 2 * S.t * b2**S.t / (1 - b2**S.t)),
            Assign(S.rect, sp.sqrt((S.rho_t - 4) * (S.rho_t - 2) * S.rho_inf
                                   / ((S.rho_inf - 4) * (S.rho_inf - 2) * S.rho_t))),
        )
        adaptive = mhat * S.rect * sp.sqrt(1 - b2**S.t) / (sp.sqrt(v) + eps.symbol)
        direction = sp.Piecewise((adaptive, sp.StrictGreaterThan(S.rho_t, RADAM_THRESHOLD)), (mhat, True))
        return eq_m + eq_v + eq_mhat + lengths, direction

    return Transform("scale_by_radam", apply, hypers=(beta1, beta2, eps), states=(FIRST_MOMENT, SECOND_MOMENT))


def scale_by_lion(beta1: Hyper, beta2: Hyper) -> Transform:
    """Lion's direction ``sign(c_t)``, ``c_t = β₁ m_{t-1} + (1 - β₁) g_t``, with the moment updated
    after at its own rate, ``m_t = β₂ m_{t-1} + (1 - β₂) g_t`` (Chen et al. 2023, Algorithm 2; optax
    ``scale_by_lion``)."""
    second = moving_average(FIRST_MOMENT, beta2)
    b1 = beta1.symbol

    def apply(u):
        interpolate = (Assign(S.c, b1 * S.m_prev + (1 - b1) * u),)
        eq_m, _ = second.apply(u)
        return interpolate + eq_m, sp.sign(S.c)

    return Transform("scale_by_lion", apply, hypers=(beta1, beta2), states=(FIRST_MOMENT,))


def scale_by_sign() -> Transform:
    """``sign(u)``: every element moves by the same amount (signSGD, Bernstein et al. 2018; optax
    ``scale_by_sign``)."""
    return Transform("scale_by_sign", lambda u: ((), sp.sign(u)))


BELIEF = State("v", S.v, S.v_prev, doc="moving average of the squared prediction error (g - m)^2, plus eps_root")


def scale_by_belief(beta1: Hyper, beta2: Hyper, eps: Hyper, eps_root: Hyper, *, nesterov: bool = False) -> Transform:
    """AdaBelief's direction ``m̂_t/(√v̂_t + ε)``, v_t a moving average of the squared prediction
    error (g_t - m_t)² with ε_root added to it at every step, in the state (Zhuang et al. 2020;
    optax ``scale_by_belief``)."""
    first = moving_average(FIRST_MOMENT, beta1)
    correct_first = nesterov_bias_correction(beta1) if nesterov else bias_correction(S.mhat, beta1)
    correct_second = bias_correction(S.vhat, beta2)
    b2 = beta2.symbol

    def apply(u):
        eq_m, m = first.apply(u)
        eq_v = (Assign(S.v, b2 * S.v_prev + (1 - b2) * (u - m) ** 2 + eps_root.symbol),)
        eq_mhat, mhat = correct_first.apply(m)
        eq_vhat, vhat = correct_second.apply(S.v)
        return eq_m + eq_v + eq_mhat + eq_vhat, mhat / (sp.sqrt(vhat) + eps.symbol)

    return Transform("scale_by_belief", apply, hypers=(beta1, beta2, eps, eps_root), states=(FIRST_MOMENT, BELIEF))


def scale_by_yogi(beta1: Hyper, beta2: Hyper, eps: Hyper, initial: Hyper) -> Transform:
    """Yogi's direction ``m̂_t/(√v̂_t + ε)``: v moves towards g_t² by (1 - β₂)g_t² at most,
    ``v_t = v_{t-1} - (1 - β₂) sign(v_{t-1} - g_t²) g_t²``; both moments start at ``v₀``
    (Zaheer et al. 2018, Algorithm 2; optax ``scale_by_yogi``, which starts both at 1e-6)."""
    first = State("m", S.m, S.m_prev, init=initial.symbol, doc=FIRST_MOMENT.doc)
    second = State("v", S.v, S.v_prev, init=initial.symbol,
                   doc="second moment: moves towards g^2 by at most (1 - beta2) g^2 a step")
    average = moving_average(first, beta1)
    correct_first = bias_correction(S.mhat, beta1)
    correct_second = bias_correction(S.vhat, beta2)
    b2 = beta2.symbol

    def apply(u):
        eq_m, m = average.apply(u)
        eq_v = (Assign(S.v, S.v_prev - (1 - b2) * sp.sign(S.v_prev - u**2) * u**2),)
        eq_mhat, mhat = correct_first.apply(m)
        eq_vhat, vhat = correct_second.apply(S.v)
        return eq_m + eq_v + eq_mhat + eq_vhat, mhat / (sp.sqrt(vhat) + eps.symbol)

    return Transform("scale_by_yogi", apply, hypers=(beta1, beta2, eps, initial), states=(first, second))


PREVIOUS_GRADIENT = State("gprev", S.gprev, S.gprev_prev, doc="the gradient, kept for the next step")


def scale_by_optimistic_gradient(alpha: Hyper, beta: Hyper) -> Transform:
    """``(α + β) g_t - β g_{t-1}``, and ``α g_1`` at the first step, where there is no previous
    gradient (Mokhtari et al. 2019; optax ``scale_by_optimistic_gradient``, which takes g_1 for it)."""
    a, b = alpha.symbol, beta.symbol

    def apply(u):
        direction = sp.Piecewise((a * u, sp.Eq(S.t, 1)), ((a + b) * u - b * S.gprev_prev, True))
        return (Assign(S.gprev, u),), direction

    return Transform("scale_by_optimistic_gradient", apply, hypers=(alpha, beta), states=(PREVIOUS_GRADIENT,))


ADAN_DIFFERENCE = State("dbar", S.dbar, S.dbar_prev, doc="moving average of the differences of successive gradients")
ADAN_SQUARE = State("n", S.n, S.n_prev, doc="moving average of the squared look-ahead gradient")


def scale_by_adan(beta1: Hyper, beta2: Hyper, beta3: Hyper, eps: Hyper, eps_root: Hyper | None, *,
                  convention: Literal["optax", "timm"] = "optax", cautious: bool = False) -> Transform:
    """Adan's direction: moving averages of g_t, of Δg_t = g_t - g_{t-1} (0 at the first step) and of
    the squared look-ahead gradient, each bias-corrected (Xie et al. 2022, Algorithm 1, whose β's weigh
    the new value; here they weigh the old one, as both libraries' do).

    ``convention="optax"`` (optax ``scale_by_adan``): the look-ahead ``g_t + (1 - β₂)Δg_t`` and the
    direction ``(m̂_t + (1 - β₂) d̄̂_t)/(√(n̂_t + ε_root) + ε)``. ``convention="timm"`` (timm 1.0.31's
    ``Adan``, and the paper's ``1 - β₂`` read in its own convention): ``g_t + β₂Δg_t`` and
    ``(m̂_t + β₂ d̄̂_t)/(√n̂_t + ε)``, no ε_root (``eps_root`` is None); ``cautious`` (timm only) masks
    the first moment alone, ``m_t`` against ``g_t`` before its bias correction
    (:func:`cautious_mask`), and not the differences' term."""
    if convention not in ("optax", "timm"):
        raise ValueError(f"convention must be 'optax' or 'timm', not {convention!r}")
    if (convention == "timm") != (eps_root is None) or (cautious and convention != "timm"):
        raise ValueError("scale_by_adan: optax's form takes eps_root and no mask, timm's no eps_root")
    first = moving_average(FIRST_MOMENT, beta1)
    differences = moving_average(ADAN_DIFFERENCE, beta2)
    squares = moving_average(ADAN_SQUARE, beta3)
    correct_first = bias_correction(S.mhat, beta1)
    correct_square = bias_correction(S.nhat, beta3)
    b2 = beta2.symbol
    weight = b2 if convention == "timm" else 1 - b2  # of Δg_t in the look-ahead, and of d̄̂_t in the direction
    root = (lambda nhat: sp.sqrt(nhat)) if eps_root is None else (lambda nhat: sp.sqrt(nhat + eps_root.symbol))

    def apply(u):
        eq_d = (Assign(S.diff, sp.Piecewise((0, sp.Eq(S.t, 1)), (u - S.gprev_prev, True))),)
        eq_m, m = first.apply(u)
        eq_mask = ()
        if cautious:
            eq_mask, m = cautious_mask().apply(m)
        eq_dbar, dbar = differences.apply(S.diff)
        eq_n, n = squares.apply((u + weight * S.diff) ** 2)
        eq_mhat, mhat = correct_first.apply(m)
        eq_nhat, nhat = correct_square.apply(n)
        direction = (mhat + weight * dbar / (1 - b2**S.t)) / (root(nhat) + eps.symbol)
        return eq_d + eq_m + eq_mask + eq_dbar + eq_n + eq_mhat + eq_nhat + (Assign(S.gprev, u),), direction

    hypers = (beta1, beta2, beta3, eps) + (() if eps_root is None else (eps_root,))
    return Transform("scale_by_adan", apply, hypers=hypers,
                     states=(FIRST_MOMENT, ADAN_DIFFERENCE, ADAN_SQUARE, PREVIOUS_GRADIENT))


def schedule_free_average(lr: Hyper, interpolation: Hyper, warmup: Hyper, r: Hyper, lr_power: Hyper) -> Transform:
    """Schedule-Free's three sequences: ``z`` moved by the direction, ``x`` the weighted average of
    ``z``, and the parameters ``y = (1 - β) z + β x``, where the next gradient is taken (Defazio et
    al. 2024, "The Road Less Scheduled", eq. 1-3; schedulefree 1.4.1).

    The learning rate warms up linearly over ``T_w`` steps; ``z_t`` enters the average with weight
    ``w_t = tʳ (ηᵐᵃˣ_t)ᵖ``, ηᵐᵃˣ the largest learning rate so far, so that
    ``c_t = w_t / Σ w`` (0 while the weights are all 0, as the package falls back to).

    The transform ends the chain with the new parameters themselves: its "direction" is
    ``θ_{t-1} - y_t``, so that the rule's ``θ_t = θ_{t-1} - u`` reads ``θ_t = (1 - β) z_t + β x_t``.
    """
    eta, beta, T = lr.symbol, interpolation.symbol, warmup.symbol

    def apply(u):
        equations = (
            Assign(S.lr_t, sp.Piecewise((eta * S.t / T, sp.LessThan(S.t, T)), (eta, True))),
            Assign(S.lr_max, sp.Max(S.lr_max_prev, S.lr_t)),
            Assign(S.weight, S.t ** r.symbol * S.lr_max ** lr_power.symbol),
            Assign(S.weight_sum, S.weight_sum_prev + S.weight),
            Assign(S.average_coefficient, sp.Piecewise((0, sp.Eq(S.weight_sum, 0)), (S.weight / S.weight_sum, True))),
            Assign(S.z, S.z_prev - S.lr_t * u),
            Assign(S.x, (1 - S.average_coefficient) * S.x_prev + S.average_coefficient * S.z),
        )
        return equations, S.theta_prev - ((1 - beta) * S.z + beta * S.x)

    return Transform("schedule_free_average", apply, hypers=(lr, interpolation, warmup, r, lr_power),
                     states=(SGD_SEQUENCE, AVERAGE, LARGEST_LR, WEIGHT_SUM))


def scale_by_schedule_free_adam(beta2: Hyper, eps: Hyper) -> Transform:
    """Schedule-Free AdamW's normalisation: ``g_t / (√v̂_t + ε)`` with ``v̂_t`` the bias-corrected
    moving average of g_t², and no first moment (β₁ is the interpolation; schedulefree 1.4.1's
    ``AdamWScheduleFree``)."""
    second = moving_average(SECOND_MOMENT, beta2)
    correct = bias_correction(S.vhat, beta2)

    def apply(u):
        eq_v, v = second.apply(u**2)
        eq_vhat, vhat = correct.apply(v)
        return eq_v + eq_vhat, u / (sp.sqrt(vhat) + eps.symbol)

    return Transform("scale_by_schedule_free_adam", apply, hypers=(beta2, eps), states=(SECOND_MOMENT,))


# --- transforms on whole matrices (Muon, Adafactor) ------------------------------------------------
ROW_MOMENT = State("row_var", S.row_var, S.row_var_prev, shape="rows",
                   doc="moving average of the row means of g^2 (one per row)")
COLUMN_MOMENT = State("col_var", S.col_var, S.col_var_prev, shape="columns",
                      doc="moving average of the column means of g^2 (one per column)")
UNFACTORED_MOMENT = State("variance", S.v, S.v_prev, shape="unfactored",
                          doc="moving average of g^2, for a parameter of fewer than two dimensions")
# timm's (fairseq's) Adafactor, under timm's keys: the averages of g^2 + eps1 (timm keeps the rows' without the
# kept dimension of 1), and the unfactored one shaped like the parameter, since whether a matrix is factored
# depends on a hyperparameter (min_dim_size_to_factor): left at 0 where it is.
TIMM_ROW_MOMENT = replace(ROW_MOMENT, name="exp_avg_sq_row",
                          doc="moving average of the row means of g^2 + eps1 (one per row)")
TIMM_COLUMN_MOMENT = replace(COLUMN_MOMENT, name="exp_avg_sq_col",
                             doc="moving average of the column means of g^2 + eps1 (one per column)")
TIMM_UNFACTORED_MOMENT = State("exp_avg_sq", S.v, S.v_prev,
                               doc="moving average of g^2 + eps1, where the parameter is not factored (else 0)")


def nesterov_look_ahead(momentum: Hyper) -> Transform:
    """``B̃_t = (1 - μ) g_t + μ b_t``: the momentum looked one step ahead, as torch.optim.Muon's
    ``grad.lerp(buf, momentum)`` (for an EMA buffer b_t; SGD's Nesterov adds μ b_t to g_t instead)."""
    mu = momentum.symbol

    def apply(u):
        return (Assign(S.nesterov_b, (1 - mu) * S.g + mu * u),), S.nesterov_b

    return Transform("nesterov_look_ahead", apply, hypers=(momentum,))


def orthogonalize(a: Hyper, b: Hyper, c: Hyper, steps: Hyper, eps: Hyper) -> Transform:
    """``O_t = NS_k(u)``: u divided by max(‖u‖_F, ε), then k Newton–Schulz steps
    X ↦ aX + b(XXᵀ)X + c(XXᵀ)²X (Jordan et al. 2024; torch.optim.Muon's ``_zeropower_via_newtonschulz``).
    Each step maps every singular value σ to aσ + bσ³ + cσ⁵ and keeps the singular vectors
    (derived by ``symopt derive muon``)."""
    from symopt.ops import NewtonSchulz

    def apply(u):
        return (Assign(S.orth, NewtonSchulz(u, a.symbol, b.symbol, c.symbol, steps.symbol, eps.symbol)),), S.orth

    return Transform("orthogonalize", apply, hypers=(a, b, c, steps, eps))


AdjustLR = Literal["original", "match_rms_adamw"]
ADJUST_LR: dict[str, sp.Expr] = {
    # Jordan's Muon: a tall matrix's update grows by √(A/B) (its RMS becomes 1/√B, derived by
    # `symopt derive muon`).
    "original": sp.sqrt(sp.Max(1, S.rows / S.cols)),
    # Moonshot's Muon (Liu et al. 2025): RMS 0.2 for every shape, AdamW's typical update RMS.
    "match_rms_adamw": sp.Rational(1, 5) * sp.sqrt(sp.Max(S.rows, S.cols)),
}


def scale_by_shape(adjust: AdjustLR) -> Transform:
    """Multiply by a number of the parameter's shape (torch.optim.Muon's ``adjust_lr_fn``):
    √max(1, A/B) (``"original"``) or 0.2·√max(A, B) (``"match_rms_adamw"``), A×B the matrix."""
    factor = ADJUST_LR[adjust]
    return Transform("scale_by_shape", lambda u: ((), factor * u))


def _factored_averages(g2: sp.Expr, factored: sp.Expr, rows: State = ROW_MOMENT, columns: State = COLUMN_MOMENT,
                       unfactored: State = UNFACTORED_MOMENT) -> tuple[Assign, ...]:
    """Adafactor's second moments, weight β̂₂ₜ on the old value: where ``factored``, the moving averages of
    the row and column means of ``g2`` (R_t, C_t), the unfactored average kept; elsewhere that of ``g2``
    itself (v_t), R_t and C_t kept. Every Adafactor here writes them so; each its own β̂₂ₜ and estimate."""
    from symopt.ops import ColMean, RowMean

    def average(state, value):
        return S.beta2_hat * state.prev + (1 - S.beta2_hat) * value

    return (
        Assign(S.row_var, sp.Piecewise((average(rows, RowMean(g2)), factored), (S.row_var_prev, True))),
        Assign(S.col_var, sp.Piecewise((average(columns, ColMean(g2)), factored), (S.col_var_prev, True))),
        Assign(S.v, sp.Piecewise((S.v_prev, factored), (average(unfactored, g2), True))),
    )


def scale_by_factored_rms(decay_rate: Hyper, eps1: Hyper, min_size: Hyper | None = None) -> Transform:
    """Adafactor's preconditioner (Shazeer & Stern 2018, Algorithm 4; torch.optim.Adafactor):
    ``U_t = g_t/√max(V̂_t, ε₁²)``, V̂_t = R_t C_t / max(mean(R_t), ε₁) built from moving averages of
    the row and column means of g² (for a parameter of two dimensions or more, over its last two),
    or V̂_t = v_t, the moving average of g² itself, for a vector. The averages' weight of the new
    value is t^c (c ≤ 0): ``β̂₂ₜ = 1 - t^c``.

    With ``min_size`` (s, timm 1.0.31's ``min_dim_size_to_factor``: its Adafactor, fairseq's, and the
    paper's Algorithm 4 as written) ε₁ is added to g² before the averages, ``R_t = β̂₂ₜR_{t-1} +
    (1 - β̂₂ₜ)rowmean(g² + ε₁)``, ``U_t = g_t·(R_t/mean(R_t))^(-1/2)·C_t^(-1/2)`` as timm computes it
    (V̂_t = R_t C_t/mean(R_t) is never formed: it underflows at g = 0 in float32), and a parameter is
    factored only where it has two dimensions (the rule takes no more: timm factors dimensions 0 and 1
    of a larger one when both exceed s) and both sides exceed s; any other keeps v_t, the moving average
    of g² + ε₁, whatever its shape (:data:`TIMM_UNFACTORED_MOMENT`)."""
    from symopt.ops import ColMean, Dot

    c, e1 = decay_rate.symbol, eps1.symbol
    factored = sp.GreaterThan(S.ndim, 2)
    rows, columns, unfactored = ROW_MOMENT, COLUMN_MOMENT, UNFACTORED_MOMENT
    if min_size is not None:
        s = min_size.symbol
        factored = sp.And(factored, sp.StrictGreaterThan(S.rows, s), sp.StrictGreaterThan(S.cols, s))
        rows, columns, unfactored = TIMM_ROW_MOMENT, TIMM_COLUMN_MOMENT, TIMM_UNFACTORED_MOMENT

    def apply(u):
        g2 = u**2 if min_size is None else u**2 + e1
        moments = (Assign(S.beta2_hat, 1 - S.t**c), *_factored_averages(g2, factored, rows, columns, unfactored))
        if min_size is not None:  # timm's order: R_t C_t (down to 1e-60 at g = 0) is never formed
            # and R̄_t = R_t/mean(R_t) is named, so that its root is taken whole, as timm's rsqrt is: where a
            # row of zeros meets rows of large gradients it underflows to 0 in float32, and timm's step is NaN
            root = Dot(S.row_ratio ** sp.Rational(-1, 2), S.col_var ** sp.Rational(-1, 2))
            return (*moments, Assign(S.row_ratio, S.row_var / ColMean(S.row_var)),  # read where factored only
                    Assign(S.scaled, sp.Piecewise((u * root, factored), (u * S.v ** sp.Rational(-1, 2), True)))
                    ), S.scaled
        estimate = Dot(S.row_var, S.col_var) / sp.Max(ColMean(S.row_var), e1)
        return (
            *moments,
            Assign(S.var_estimate, sp.Piecewise((estimate, factored), (S.v, True))),
            Assign(S.scaled, u / sp.sqrt(sp.Max(S.var_estimate, e1**2))),
        ), S.scaled

    return Transform("scale_by_factored_rms", apply, hypers=(decay_rate, eps1, *((min_size,) if min_size else ())),
                     states=(rows, columns, unfactored))


def clip_by_block_rms(threshold: Hyper, clamp: bool = False) -> Transform:
    """``u / max(1, RMS(u)/d)``, RMS(u) = ‖u‖_F/√N: the update's root mean square clipped to d
    (Shazeer & Stern 2018, Section 6). torch.optim.Adafactor takes Python's max, which a NaN RMS
    leaves at 1 (``FMax``); with ``clamp``, timm's ``clamp_(min=1.0)``, which propagates it (``Max``)."""
    from symopt.ops import FMax, Norm

    d = threshold.symbol
    largest = sp.Max if clamp else FMax
    return Transform("clip_by_block_rms", lambda u: ((), u / largest(1, Norm(u) / (sp.sqrt(S.numel) * d))),
                     hypers=(threshold,))


def scale_by_relative_step(lr: Hyper | None, eps2: Hyper | None, *, warmup_init: bool = False) -> Transform:
    """Adafactor's relative step: ``α_t u`` with α_t = max(ε₂, RMS(θ_{t-1}))·ρ_t and ρ_t = min(η, 1/√t)
    (Shazeer & Stern 2018, Section 8; torch.optim.Adafactor): the step is a fraction of the
    parameters' own size.

    Without ``lr`` (timm 1.0.31's Adafactor with ``lr=None``, the paper's ρ_t) ρ_t = min(10⁻², 1/√t),
    or min(10⁻⁶t, 1/√t) with ``warmup_init``; without ``eps2`` (timm's ``scale_parameter=False``)
    α_t = ρ_t. timm's form names the step size α̂_t, which its decay multiplies λ by
    (:func:`add_decayed_weights_by_lr`)."""
    from symopt.ops import FMax, Norm

    if lr is not None and warmup_init:
        raise ValueError("warmup_init is a form of the relative step without a learning rate (timm's lr=None)")
    rms = Norm(S.theta_prev) / sp.sqrt(S.numel)
    if lr is not None and eps2 is not None:
        def apply(u):
            return (Assign(S.rho_step, sp.Min(lr.symbol, 1 / sp.sqrt(S.t))),), FMax(eps2.symbol, rms) * S.rho_step * u
    else:
        cap = (sp.Rational(1, 10**6) * S.t if warmup_init else sp.Rational(1, 100)) if lr is None else lr.symbol

        def apply(u):
            size = S.rho_step if eps2 is None else FMax(eps2.symbol, rms) * S.rho_step
            return (Assign(S.rho_step, sp.Min(cap, 1 / sp.sqrt(S.t))), Assign(S.relative_lr, size)), S.relative_lr * u

    return Transform("scale_by_relative_step", apply, hypers=tuple(h for h in (lr, eps2) if h is not None))


def add_decayed_weights_by_lr(weight_decay: Hyper, lr: Hyper | sp.Symbol,
                              corrected: DecayCorrection | None = None) -> Transform:
    """Add ``η λ θ_{t-1}``: decoupled weight decay scaled by the learning rate, where the update
    itself is not (Adafactor's θ(1 - ηλ) beside its relative step); with ``corrected``, by ``η²/η_max``
    (timm's corrected weight decay, :func:`corrected_decay`). ``lr`` may be a symbol the chain assigned
    before (timm's Adafactor decays by its step size α̂_t: :func:`scale_by_relative_step`)."""
    rate = lr.symbol if isinstance(lr, Hyper) else lr
    lam = rate * weight_decay.symbol * _correction(corrected)
    return Transform("add_decayed_weights_by_lr", lambda u: ((), u + lam * S.theta_prev),
                     hypers=(weight_decay, *((lr,) if isinstance(lr, Hyper) else ()), *_corrected_hypers(corrected)))


# --- the rest of torch.optim (Adadelta, Rprop, ASGD) -----------------------------------------------
SQUARED_UPDATES = State("d", S.d, S.d_prev, doc="moving average of the squared updates", library="acc_delta")


def scale_by_adadelta(rho: Hyper, eps: Hyper) -> Transform:
    """Adadelta's direction ``Δ_t = √(d_{t-1} + ε)/√(v_t + ε)·g_t``: the gradient scaled by the ratio
    of the RMS of the past updates to the RMS of the gradients, both moving averages at the rate ρ,
    d updated with the new Δ_t after (Zeiler 2012, Algorithm 1; torch.optim.Adadelta)."""
    squares = moving_average(SQUARE_AVERAGE, rho)
    updates = moving_average(SQUARED_UPDATES, rho)

    def apply(u):
        eq_v, v = squares.apply(u**2)
        step = (Assign(S.delta, sp.sqrt(S.d_prev + eps.symbol) / sp.sqrt(v + eps.symbol) * u),)
        eq_d, _ = updates.apply(S.delta**2)
        return eq_v + step + eq_d, S.delta

    return Transform("scale_by_adadelta", apply, hypers=(rho, eps), states=(SQUARE_AVERAGE, SQUARED_UPDATES))


def scale_by_rprop(lr: Hyper, eta_minus: Hyper, eta_plus: Hyper, step_min: Hyper, step_max: Hyper) -> Transform:
    """Rprop's direction ``Γ_t sign(g̃_t)`` (Riedmiller & Braun 1993; torch.optim.Rprop): each element's
    step size Γ grows by η₊ while its gradient keeps its sign, shrinks by η₋ when it changes (and that
    gradient is then kept as 0, so that the next step's sign is 0), clamped to [Γ_min, Γ_max],
    starting at η. With σ_t = sign(g_t g̃_{t-1}) in {-1, 0, 1}, max(σ_t, 0) and max(-σ_t, 0) are
    exactly 0 or 1: the factor is η₊, η₋ or 1, as torch selects it, and 1 + max(0, σ_t) - |σ_t| is 0
    after a change of sign and 1 otherwise."""
    size = State("step_size", S.step_size, S.step_size_prev, init=lr.symbol, doc="the step size of each element")
    kept = State("prev", S.gkept, S.gkept_prev, doc="the gradient, 0 where its sign changed")
    up, down = eta_plus.symbol, eta_minus.symbol

    def apply(u):
        same, changed = sp.Max(S.sign_change, 0), sp.Max(-S.sign_change, 0)
        grown = S.step_size_prev * (1 + (up - 1) * same + (down - 1) * changed)
        return (
            Assign(S.sign_change, sp.sign(u * S.gkept_prev)),
            Assign(S.step_size, sp.Min(sp.Max(grown, step_min.symbol), step_max.symbol)),
            Assign(S.gkept, u * (1 + same - sp.Abs(S.sign_change))),
        ), S.step_size * sp.sign(S.gkept)

    return Transform("scale_by_rprop", apply, hypers=(lr, eta_minus, eta_plus, step_min, step_max),
                     states=(kept, size))


def scale_by_delayed_rprop(lr: Hyper, eta_minus: Hyper, eta_plus: Hyper, step_min: Hyper, step_max: Hyper) -> Transform:
    """Rprop as optax 0.2.8 writes it (``scale_by_rprop``): it keeps the signed step δ_t = Γ_t sign(g_t)
    (0 where the sign changed) rather than the gradient, compares g_t with δ_{t-1}, and applies the
    previous step's δ_{t-1} as Δ_t (0 where the sign changes now): its first step does not move (δ_0 = 0).
    A step size changes, and is clamped to [Γ_min, Γ_max], only where σ_t ≠ 0 (optax's
    ``jnp.where(s == 0, step_size, clip(...))``); σ_t² is exactly 0 or 1, so that the choice is a
    sum of the two values, each multiplied by an exact 0 or 1."""
    size = State("step_size", S.step_size, S.step_size_prev, init=lr.symbol, doc="the step size of each element")
    kept = State("prev_update", S.rprop_update, S.rprop_update_prev,
                 doc="the signed step to apply next, 0 where the sign changed")
    up, down = eta_plus.symbol, eta_minus.symbol

    def apply(u):
        same, changed = sp.Max(S.sign_change, 0), sp.Max(-S.sign_change, 0)
        moved = S.sign_change**2  # 1 where a sign was compared, else 0 (σ_t² rather than |σ_t|: it reads back from LaTeX)
        grown = sp.Min(sp.Max(S.step_size_prev * (1 + (up - 1) * same + (down - 1) * changed), step_min.symbol),
                       step_max.symbol)
        return (
            Assign(S.sign_change, sp.sign(u * S.rprop_update_prev)),
            Assign(S.step_size, moved * grown + (1 - moved) * S.step_size_prev),
            Assign(S.rprop_update, (1 - changed) * S.step_size * sp.sign(u)),
            # named, so that θ_t = θ_{t-1} - Δ_t is not distributed into θ_{t-1} - δ_{t-1} + δ_{t-1}·max(0, -σ_t),
            # which rounds where optax's where() leaves θ exactly
            Assign(S.delta, (1 - changed) * S.rprop_update_prev),
        ), S.delta

    return Transform("scale_by_delayed_rprop", apply, hypers=(lr, eta_minus, eta_plus, step_min, step_max),
                     states=(kept, size))


def averaged_sgd(lr: Hyper, decay: Hyper, power: Hyper, t0: Hyper) -> Transform:
    """ASGD's step and average (Polyak & Juditsky 1992; torch.optim.ASGD): ``θ_t = (1 - λ_d η̂_{t-1})
    θ_{t-1} - η̂_{t-1} g_t`` and ``ā_t = ā_{t-1} + μ̂_{t-1}(θ_t - ā_{t-1})``, with the scalar states
    η̂_t = η/(1 + λ_d η t)^α_d (from η) and μ̂_t = 1/max(1, t - t₀) (from 1), set after the step as
    torch sets them. The parameters hold θ; ``kernel.eval_params`` returns the average ā."""
    eta_state = State("eta", S.asgd_eta, S.asgd_eta_prev, init=lr.symbol, scalar=True,
                      doc="the decayed learning rate of the next step")
    mu_state = State("mu", S.asgd_mu, S.asgd_mu_prev, init=sp.S.One, scalar=True,
                     doc="the averaging weight of the next step")
    average = State("ax", S.ax, S.ax_prev, doc="the average of the iterates: what eval_params returns")

    def apply(u):
        step = S.asgd_eta_prev * u + decay.symbol * S.asgd_eta_prev * S.theta_prev
        return (
            Assign(S.ax, S.ax_prev + S.asgd_mu_prev * (S.theta_prev - step - S.ax_prev)),
            Assign(S.asgd_eta, lr.symbol / (1 + decay.symbol * lr.symbol * S.t) ** power.symbol),
            Assign(S.asgd_mu, 1 / sp.Max(1, S.t - t0.symbol)),
        ), step

    return Transform("averaged_sgd", apply, hypers=(lr, decay, power, t0), states=(eta_state, mu_state, average))


# --- layer-wise transforms (optax's LAMB, LARS, Fromage, NovoGrad): norms of the whole tensor -------
def scale_by_trust_ratio(coefficient: Hyper | None = None, eps: Hyper | None = None,
                         min_norm: Hyper | None = None) -> Transform:
    """``φ_t Δ_t`` with the trust ratio ``φ_t = ξ‖θ_{t-1}‖/(‖Δ_t‖ + ε)``, 1 where either norm is 0
    (You et al. 2017, 2020; optax ``scale_by_trust_ratio``): every tensor moves by a fraction of its
    own norm. With ``min_norm`` both norms are floored at it (Fromage's ``safe_norm``), named ω_t and
    Ω_t: the ratio and optax's test for a zero norm both read the floored norms."""
    from symopt.ops import Norm, ZeroGuard

    def apply(u):
        equations: tuple[Assign, ...] = ()
        if not u.is_Symbol:  # name the update the ratio divides by the norm of
            equations, u = (Assign(S.direction, u),), S.direction
        param_norm, update_norm = Norm(S.theta_prev), Norm(u)
        if min_norm is not None:
            equations += (Assign(S.floored_param_norm, sp.Max(param_norm, min_norm.symbol)),
                          Assign(S.floored_update_norm, sp.Max(update_norm, min_norm.symbol)))
            param_norm, update_norm = S.floored_param_norm, S.floored_update_norm
        ratio = param_norm / (update_norm + (eps.symbol if eps is not None else 0))
        if coefficient is not None:
            ratio = coefficient.symbol * ratio
        return equations + (Assign(S.trust, ZeroGuard(sp.Min(param_norm, update_norm), 1, ratio)),), S.trust * u

    hypers = tuple(h for h in (coefficient, eps, min_norm) if h is not None)
    return Transform("scale_by_trust_ratio", apply, hypers=hypers)


def scale_by_fromage_learning_rate(lr: Hyper) -> Transform:
    """Fromage's step and shrink: ``θ_t = (θ_{t-1} - η u)/√(1 + η²)``, written as the direction
    ``η u/√(1 + η²) + (1 - 1/√(1 + η²)) θ_{t-1}`` (Bernstein et al. 2020, Algorithm 1; optax
    ``fromage``'s learning rate times 1/√(1 + η²) and its decay by that factor minus 1)."""
    eta = lr.symbol
    shrink = 1 / sp.sqrt(1 + eta**2)
    return Transform("scale_by_fromage_learning_rate",
                     lambda u: ((), eta * shrink * u + (1 - shrink) * S.theta_prev), hypers=(lr,))


LAYER_SECOND_MOMENT = State("nu", S.layer_var, S.layer_var_prev, shape="tensor",
                            doc="moving average of the squared norm of the gradient (one per tensor)")


def scale_by_novograd(beta1: Hyper, beta2: Hyper, eps: Hyper, eps_root: Hyper, weight_decay: Hyper) -> Transform:
    """NovoGrad's direction: ``ν_t``, a moving average of ‖g_t‖² (one number per tensor; ‖g_1‖² at the
    first step), and the momentum ``m_t = β₁ m_{t-1} + g_t/(√(ν_t + ε_root) + ε) + λθ_{t-1}``
    (Ginsburg et al. 2019, Algorithm 1; optax ``scale_by_novograd``)."""
    from symopt.ops import Norm

    b1, b2 = beta1.symbol, beta2.symbol

    def apply(u):
        square = Norm(u) ** 2
        return (
            Assign(S.layer_var, sp.Piecewise((square, sp.Eq(S.t, 1)), (b2 * S.layer_var_prev + (1 - b2) * square, True))),
            Assign(S.m, b1 * S.m_prev + u / (sp.sqrt(S.layer_var + eps_root.symbol) + eps.symbol)
                   + weight_decay.symbol * S.theta_prev),
        ), S.m

    return Transform("scale_by_novograd", apply, hypers=(beta1, beta2, eps, eps_root, weight_decay),
                     states=(FIRST_MOMENT, LAYER_SECOND_MOMENT))


# --- timm 1.0.31's ADOPT, LaProp, MADGRAD and MARS --------------------------------------------------
def scale_by_adopt(beta1: Hyper, beta2: Hyper, eps: Hyper, clip_exp: Hyper | None) -> Transform:
    """ADOPT's direction (Taniguchi et al. 2024; timm's ``Adopt``): the gradient normalised by the
    *previous* second moment, ``ĝ_t = g_t/max(√v_{t-1}, ε)``, clipped to ``±(t - 1)^ω`` with a
    ``clip_exp`` ω, averaged into ``m_t``; ``v_t`` is updated after, with g_t². The first step only
    sets ``v_1 = g_1²``: m keeps its value (and :func:`skip_first_step` drops the step)."""
    b1, b2 = beta1.symbol, beta2.symbol
    first = sp.Eq(S.t, 1)

    def apply(u):
        normalized = u / sp.Max(sp.sqrt(S.v_prev), eps.symbol)
        if clip_exp is not None:
            bound = (S.t - 1) ** clip_exp.symbol
            normalized = sp.Min(sp.Max(normalized, -bound), bound)
        return (
            Assign(S.normalized, normalized),
            Assign(S.m, sp.Piecewise((S.m_prev, first), (b1 * S.m_prev + (1 - b1) * S.normalized, True))),
            Assign(S.v, sp.Piecewise((u**2, first), (b2 * S.v_prev + (1 - b2) * u**2, True))),
        ), S.m

    hypers = (beta1, beta2, eps, *((clip_exp,) if clip_exp is not None else ()))
    return Transform("scale_by_adopt", apply, hypers=hypers, states=(FIRST_MOMENT, SECOND_MOMENT))


def skip_first_step() -> Transform:
    """No step at t = 1, whose gradient only starts a state (ADOPT's second moment, SOAP's
    preconditioner): the direction is 0."""
    return Transform("skip_first_step", lambda u: ((), sp.Piecewise((0, sp.Eq(S.t, 1)), (u, True))))


LR_AVERAGE = State("exp_avg_lr_1", S.lr_average, S.lr_average_prev, scalar=True,
                   doc="moving average of the learning rate (the first moment's bias correction)")
ONES_AVERAGE = State("exp_avg_lr_2", S.ones_average, S.ones_average_prev, scalar=True,
                     doc="moving average of 1 (the second moment's bias correction, 1 - beta2^t)")


def scale_by_laprop(lr: Hyper, beta1: Hyper, beta2: Hyper, eps: Hyper) -> Transform:
    """LaProp's direction (Ziyin et al. 2020; timm's ``LaProp``): the gradient normalised by the
    bias-corrected second moment *before* the momentum, with the learning rate inside it,
    ``m_t = β₁ m_{t-1} + η(1 - β₁) g_t/(√(v_t/ζ_t) + ε)``, and the step ``α_t m_t`` with
    ``α_t = η/η̄_t``, η̄_t the moving average of the learning rate (0 while η̄_t is 0). ζ_t, the moving
    average of 1, is 1 - β₂ᵗ; η̄_t is η(1 - β₁ᵗ) while η is constant, so α_t = 1/(1 - β₁ᵗ) then."""
    eta, b1, b2 = lr.symbol, beta1.symbol, beta2.symbol

    def apply(u):
        return (
            Assign(S.v, b2 * S.v_prev + (1 - b2) * u**2),
            Assign(S.ones_average, b2 * S.ones_average_prev + (1 - b2)),
            Assign(S.lr_average, b1 * S.lr_average_prev + (1 - b1) * eta),
            Assign(S.m, b1 * S.m_prev + eta * (1 - b1) * (u / (sp.sqrt(S.v / S.ones_average) + eps.symbol))),
            Assign(S.laprop_step, sp.Piecewise((0, sp.Eq(S.lr_average, 0)), (eta / S.lr_average, True))),
        ), S.laprop_step * S.m

    return Transform("scale_by_laprop", apply, hypers=(lr, beta1, beta2, eps),
                     states=(FIRST_MOMENT, SECOND_MOMENT, LR_AVERAGE, ONES_AVERAGE))


def add_decayed_stepped_weights(weight_decay: Hyper, lr: Hyper, corrected: DecayCorrection | None = None) -> Transform:
    """Decay the parameters *after* the step, ``θ_t = θ̃_t(1 - ηλ)`` with ``θ̃_t = θ_{t-1} - u``: the
    decay of the stepped parameters, scaled by the learning rate (timm's LaProp); with ``corrected``, by
    ``η²/η_max`` (timm's corrected weight decay, :func:`corrected_decay`)."""
    lam = lr.symbol * weight_decay.symbol * _correction(corrected)

    def apply(u):
        return (Assign(S.stepped, S.theta_prev - u),), u + lam * S.stepped

    return Transform("add_decayed_stepped_weights", apply, hypers=(weight_decay, lr, *_corrected_hypers(corrected)))


DUAL_SUM = State("s", S.dual_sum, S.dual_sum_prev, doc="the lambda-weighted sum of the gradients")
DUAL_SQUARE = State("grad_sum_sq", S.dual_square, S.dual_square_prev,
                    doc="the lambda-weighted sum of the squared gradients")
INITIAL_POINT = State("x0", S.initial_point, S.initial_point_prev, init=S.theta0,
                      doc="the parameters before the first step, the dual averages' origin")


def madgrad_average(lr: Hyper, momentum: Hyper, eps: Hyper, weight_decay: Hyper | None = None) -> Transform:
    """MADGRAD's dual averaging with momentum (Defazio & Jelassi 2021, Algorithm 1; timm's ``MADGRAD``):
    the sums ``S_t = S_{t-1} + λ_t g_t`` and ``V_t = V_{t-1} + λ_t g_t²`` with ``λ_t = (η + ε)√t``, the
    dual iterate ``ẑ_t = x₀ - S_t/(∛V_t + ε)`` and the parameters ``θ_t = ρθ_{t-1} + (1 - ρ)ẑ_t``, an
    average of ẑ. With ``weight_decay`` the parameters are first decayed, ``θ_{t-1}(1 - ηλ)``.

    Ends the chain with the new parameters themselves, as :func:`schedule_free_average`."""
    eta, rho, e = lr.symbol, momentum.symbol, eps.symbol

    def apply(u):
        equations = (
            Assign(S.dual_weight, (eta + e) * sp.sqrt(S.t)),
            Assign(S.dual_square, S.dual_square_prev + S.dual_weight * u**2),
            Assign(S.dual_sum, S.dual_sum_prev + S.dual_weight * u),
            Assign(S.dual_iterate, S.initial_point_prev - S.dual_sum / (S.dual_square ** sp.Rational(1, 3) + e)),
            Assign(S.initial_point, S.initial_point_prev),
        )
        kept = S.theta_prev if weight_decay is None else (1 - eta * weight_decay.symbol) * S.theta_prev
        return equations, S.theta_prev - (rho * kept + (1 - rho) * S.dual_iterate)

    hypers = (lr, momentum, eps, *((weight_decay,) if weight_decay is not None else ()))
    return Transform("madgrad_average", apply, hypers=hypers, states=(DUAL_SUM, DUAL_SQUARE, INITIAL_POINT))


def scale_by_mars(beta1: Hyper, beta2: Hyper, gamma: Hyper, mars_type: str,
                  one_d: tuple[Hyper, Hyper, Hyper] | None) -> Transform:
    """MARS's moments (Yuan et al. 2024; timm's ``Mars``): the gradient corrected by the change of the
    gradient, ``c_t = g_t + γβ₁/(1 - β₁)(g_t - g_{t-1})`` (g_t itself at the first step), its norm over
    the whole tensor clipped to 1, ``c̃_t = c_t/max(1, ‖c_t‖)``, its moving average m_t, and for AdamW's
    step (``mars_type="adamw"``) the second moment of c̃_t. The direction is m_t, which
    :func:`mars_step` turns into the step (timm's caution masks m_t between the two).

    With ``one_d`` (β₁, β₂ and the learning-rate factor κ of timm's ``betas_1d`` and ``lr_1d_factor``)
    a parameter of fewer than two dimensions averages g_t instead, with β₁ and β₂ of its own
    (timm's ``optimize_1d=False``)."""
    from symopt.ops import Norm

    b1, b2 = beta1.symbol, beta2.symbol

    def apply(u):
        correction = sp.Piecewise((u, sp.Eq(S.t, 1)), (u + gamma.symbol * b1 / (1 - b1) * (u - S.gprev_prev), True))
        m = b1 * S.m_prev + (1 - b1) * S.mars_clipped
        v = b2 * S.v_prev + (1 - b2) * S.mars_clipped**2 if mars_type == "adamw" else S.v_prev
        if one_d is not None:
            c1, c2 = one_d[0].symbol, one_d[1].symbol
            matrix = sp.GreaterThan(S.ndim, 2)
            m = sp.Piecewise((m, matrix), (c1 * S.m_prev + (1 - c1) * u, True))
            v = sp.Piecewise((v, matrix), (c2 * S.v_prev + (1 - c2) * u**2, True))
        equations = (
            Assign(S.c, correction),
            Assign(S.mars_clipped, S.c / sp.Max(1, Norm(S.c))),
            Assign(S.m, m),
            *((Assign(S.v, v),) if v != S.v_prev else ()),
            Assign(S.gprev, u),
        )
        return equations, S.m

    uses_v = mars_type == "adamw" or one_d is not None
    hypers = (beta1, beta2, gamma, *(one_d[:2] if one_d else ()))
    return Transform("scale_by_mars", apply, hypers=hypers,
                     states=(FIRST_MOMENT, *((SECOND_MOMENT,) if uses_v else ()), LAST_GRADIENT))


def mars_step(beta1: Hyper, beta2: Hyper, eps: Hyper, weight_decay: Hyper, mars_type: str,
              one_d: tuple[Hyper, Hyper, Hyper] | None) -> Transform:
    """MARS's step from its momentum ``u`` (m_t, or m_t masked): AdamW's bias-corrected
    ``û/(√v̂_t + ε)`` (``mars_type="adamw"``) or Lion's ``sign(u)`` (``"lion"``), plus the decay
    λθ_{t-1}; the learning rate is applied after. With ``one_d`` a parameter of fewer than two
    dimensions takes AdamW's step with its own β₁, β₂, scaled by κ (see :func:`scale_by_mars`)."""
    b1, b2, e = beta1.symbol, beta2.symbol, eps.symbol
    decay = weight_decay.symbol * S.theta_prev

    def adamw_step(m, v, first: sp.Expr, second: sp.Expr) -> sp.Expr:
        return m / (1 - first**S.t) / (sp.sqrt(v) / sp.sqrt(1 - second**S.t) + e)

    def apply(u):
        step = (adamw_step(u, S.v, b1, b2) if mars_type == "adamw" else sp.sign(u)) + decay
        if one_d is not None:
            c1, c2, factor = (h.symbol for h in one_d)
            step = sp.Piecewise((step, sp.GreaterThan(S.ndim, 2)), (factor * (adamw_step(u, S.v, c1, c2) + decay), True))
        return (), step

    hypers = (beta1, beta2, eps, weight_decay, *(one_d or ()))
    return Transform("mars_step", apply, hypers=hypers)


LAST_GRADIENT = State("last_grad", S.gprev, S.gprev_prev, doc="the gradient, kept for the next step's correction")
# --- the cautious mask (Liang et al. 2024, "Cautious Optimizers"; timm 1.0.31's ``caution=True``) -------
# The structural option that appends :func:`cautious_mask` to a rule's chain: a rule takes it with
# ``cautious: Cautious = False`` in its signature and ``*caution(cautious)`` in its chain, where its
# update is formed (before the decoupled decay and the learning rate, as timm masks it). timm's keyword
# for it is ``caution``.
Cautious = Annotated[bool, LibraryKeyword("caution")]
CAUTION_FLOOR = sp.Rational(1, 1000)  # timm's mask.mean().clamp_(min=1e-3)
CAUTION_REFERENCE = "; the cautious mask of Liang et al. (2024), Algorithm 1, as timm 1.0.31's caution=True"


def cautious_mask(against: tuple[sp.Symbol, sp.Expr] | None = None, *, nan_disagrees: bool = False) -> Transform:
    """``M_t u/max(mean(M_t), 10⁻³)`` with ``M_t = max(0, sign(u g_t))``: the update kept only where it
    agrees in sign with the gradient, and rescaled by the fraction of the whole tensor that agrees
    (Liang et al. 2024, Algorithm 1; timm 1.0.31: ``mask = (exp_avg * grad > 0)``,
    ``mask.div_(mask.mean().clamp_(min=1e-3))``). The mean is over the whole tensor: a rule with the
    mask takes whole tensors. ``g_t`` is the gradient as the chain has it there (with L2 decay, the
    decayed one); ``against``, a symbol and its value, names another direction to agree with (timm's
    spherical caution: the gradient projected as the update was, :func:`caution_projected`).

    With ``nan_disagrees`` the mask is written as timm writes it, ``M_t = [u g_t > 0]`` (1 if u g_t > 0
    else 0), which is 0 where the product is NaN, where max(0, sign(NaN)) is NaN in NumPy: for a rule
    whose update is NaN in some elements where timm's is (AdafactorBigVision's row factor underflowing
    in float32), so that the others keep their step, as in timm."""
    from symopt.ops import IfPositive, TensorSum

    def apply(u):
        named = () if against is None else (Assign(*against),)
        product = u * (S.g if against is None else against[0])
        # 1 where they agree, else 0
        agree = IfPositive(product, 1, 0) if nan_disagrees else sp.Max(0, sp.sign(product))
        return (*named, Assign(S.caution, agree)), S.caution * u / sp.Max(TensorSum(S.caution) / S.numel, CAUTION_FLOOR)

    return Transform("cautious_mask", apply)


def caution(cautious: bool) -> tuple[Transform, ...]:
    """The cautious mask where ``cautious`` is set, else nothing: ``chain(..., *caution(cautious), ...)``."""
    if not isinstance(cautious, bool):
        raise ValueError(f"cautious must be True or False, not {cautious!r}")
    return (cautious_mask(),) if cautious else ()


# --- AdamP's and SGDP's projection (Heo et al. 2021; timm 1.0.31's ``projection()``) ---------------------
def _radial(x: sp.Expr, delta: Hyper) -> sp.Expr:
    """``x`` without its radial component, as :func:`project_radial` chose for this step (per channel,
    over the whole tensor, or not at all), from the quantities it assigned."""
    from symopt.ops import ChannelSum, IfPositive, TensorSum

    by_channel = delta.symbol / sp.sqrt(S.numel / S.channels) - S.cos_channel  # > 0: project each channel
    by_layer = delta.symbol / sp.sqrt(S.numel) - S.cos_layer  # > 0: project the whole tensor
    return IfPositive(by_channel, x - S.unit_channel * ChannelSum(S.unit_channel * x),
                      IfPositive(by_layer, x - S.unit_layer * TensorSum(S.unit_layer * x), x))


def project_radial(delta: Hyper, wd_ratio: Hyper, eps: Hyper) -> Transform:
    """Remove the radial component of the update of a weight that looks scale-invariant, and set the
    ratio ``Λ_t`` its decoupled decay is multiplied by (Heo et al. 2021, Algorithm 1; timm 1.0.31's
    ``projection``), for a parameter of two dimensions or more (a vector or a number is left alone,
    ``Λ_t = 1``):

    - per channel (the first dimension, the rest flattened): ``Ψ_t``, the largest |cos(g_t, θ_{t-1})|
      over the channels, each norm floored at ε (torch's ``cosine_similarity``); where it is below
      ``δ/√(N/C)`` the update loses its component along each channel's ``θ̂ = θ/(‖θ_c‖ + ε)``:
      ``Δ̃ = Δ - θ̂·chsum(θ̂Δ)``, and ``Λ_t`` is ``wd_ratio``;
    - else over the whole tensor: ``Υ_t`` = |cos(g_t, θ_{t-1})| below ``δ/√N`` projects on
      ``θ̄ = θ/(‖θ‖ + ε)`` likewise;
    - else nothing: ``Δ̃ = Δ``, ``Λ_t = 1``.

    The choice reads the whole tensor (its cosines, a largest element): a rule with it takes whole
    tensors. ``g_t`` is the gradient as the chain has it there.
    """
    from symopt.ops import Amax, ChannelSum, IfPositive, Norm, TensorSum

    d, r, e = delta.symbol, wd_ratio.symbol, eps.symbol
    theta, grad = S.theta_prev, S.g
    factored = sp.GreaterThan(S.ndim, 2)

    def apply(u):
        equations: tuple[Assign, ...] = ()
        if not u.is_Symbol:  # name the update the projection takes its component from
            equations, u = (Assign(S.direction, u),), S.direction
        channel_norm = sp.sqrt(ChannelSum(theta**2))
        channel_cos = sp.Abs(ChannelSum(grad * theta)) / (sp.Max(sp.sqrt(ChannelSum(grad**2)), e)
                                                           * sp.Max(channel_norm, e))
        layer_cos = sp.Abs(TensorSum(grad * theta)) / (sp.Max(Norm(grad), e) * sp.Max(Norm(theta), e))
        by_channel = d / sp.sqrt(S.numel / S.channels) - S.cos_channel  # > 0: project each channel
        by_layer = d / sp.sqrt(S.numel) - S.cos_layer  # > 0: project the whole tensor
        ratio = IfPositive(by_channel, r, IfPositive(by_layer, r, 1))
        return equations + (
            Assign(S.cos_channel, sp.Piecewise((Amax(channel_cos), factored), (0, True))),
            Assign(S.cos_layer, sp.Piecewise((layer_cos, factored), (0, True))),
            Assign(S.unit_channel, sp.Piecewise((theta / (channel_norm + e), factored), (0, True))),
            Assign(S.unit_layer, sp.Piecewise((theta / (Norm(theta) + e), factored), (0, True))),
            Assign(S.projected, sp.Piecewise((_radial(u, delta), factored), (u, True))),
            Assign(S.decay_ratio, sp.Piecewise((ratio, factored), (1, True))),
        ), S.projected

    return Transform("project_radial", apply, hypers=(delta, wd_ratio, eps))


def reproject_radial(delta: Hyper) -> Transform:
    """Remove the radial component again, as :func:`project_radial` chose for this step: timm's
    spherical caution projects the masked update a second time ("for numerical stability")."""
    factored = sp.GreaterThan(S.ndim, 2)

    def apply(u):
        return (Assign(S.reprojected, sp.Piecewise((_radial(u, delta), factored), (u, True))),), S.reprojected

    return Transform("reproject_radial", apply, hypers=(delta,))


def caution_projected(cautious: bool, delta: Hyper) -> tuple[Transform, ...]:
    """timm 1.0.31's ``projection(..., caution=True)`` after :func:`project_radial`, where ``cautious``
    is set: the cautious mask of the projected update against the gradient projected likewise,
    ``ǧ_t = g_t - θ̂·chsum(θ̂ g_t)`` (the "spherical cautious optimizer"; where nothing is projected,
    ǧ_t = g_t and the mask is the plain one), and the masked update projected again."""
    if not caution(cautious):  # (which checks it)
        return ()
    tangent = sp.Piecewise((_radial(S.g, delta), sp.GreaterThan(S.ndim, 2)), (S.g, True))
    return cautious_mask(against=(S.tangent_grad, tangent)), reproject_radial(delta)


# --- AdEMAMix (pytorch-optimizer 4.1.0): a fast and a slow moving average mixed -------------------
SLOW_MOMENT = State("m_slow", S.mslow, S.mslow_prev, doc="slow moving average of the gradient",
                    library="exp_avg_slow")


def scale_by_ademamix(beta1: Hyper, beta2: Hyper, beta3: Hyper, alpha: Hyper, eps: Hyper,
                      warmup: Hyper | None = None) -> Transform:
    """AdEMAMix's direction ``(m̂_t + α_t mˢˡᵒʷ_t)/(√v̂_t + ε)``: Adam's bias-corrected moments beside a
    slow moving average of g at the rate β₃,ₜ, not bias-corrected (Pagliardini et al. 2024,
    Algorithm 1; pytorch-optimizer's ``AdEMAMix``).

    With ``warmup`` (its ``t_alpha_beta3`` T) α and β₃ warm up: ``α_t = min(tα/T, α)`` and
    ``β₃,ₜ = min(exp(ln β₁ ln β₃/((1 - t/T) ln β₃ + (t/T) ln β₁)), β₃)``, which moves the slow
    average's half-life linearly from β₁'s to β₃'s; without it ``α_t = α`` and ``β₃,ₜ = β₃``.
    """
    first = moving_average(FIRST_MOMENT, beta1)
    second = moving_average(SECOND_MOMENT, beta2)
    correct_first = bias_correction(S.mhat, beta1)
    correct_second = bias_correction(S.vhat, beta2)
    b1, b3, a = beta1.symbol, beta3.symbol, alpha.symbol

    def apply(u):
        schedule: tuple[Assign, ...] = ()
        weight, decay = a, b3
        if warmup is not None:
            fraction = S.t / warmup.symbol
            exponent = sp.log(b1) * sp.log(b3) / ((1 - fraction) * sp.log(b3) + fraction * sp.log(b1))
            schedule = (Assign(S.alpha_t, sp.Min(S.t * a / warmup.symbol, a)),
                        Assign(S.beta3_t, sp.Min(sp.exp(exponent), b3)))
            weight, decay = S.alpha_t, S.beta3_t
        eq_m, m = first.apply(u)
        eq_v, v = second.apply(u**2)
        eq_slow = (Assign(S.mslow, decay * S.mslow_prev + (1 - decay) * u),)
        eq_mhat, m = correct_first.apply(m)
        eq_vhat, v = correct_second.apply(v)
        equations = schedule + eq_m + eq_v + eq_slow + eq_mhat + eq_vhat
        return equations, (m + weight * S.mslow) / (sp.sqrt(v) + eps.symbol)

    hypers = (beta1, beta2, beta3, alpha, eps, *((warmup,) if warmup is not None else ()))
    return Transform("scale_by_ademamix", apply, hypers=hypers, states=(FIRST_MOMENT, SECOND_MOMENT, SLOW_MOMENT))
# SOAP (Vyas et al. 2024; pytorch-optimizer 4.1.0): Adam in the eigenbasis of Shampoo's preconditioner.
ROTATED_SECOND_MOMENT = State("v", S.v, S.v_prev, library="exp_avg_sq",
                              doc="second moment of the gradient in the eigenbasis, re-sorted with it")
LEFT_FACTOR = State("L", S.left_factor, S.left_factor_prev, shape="row_gram",
                    doc="moving average of g g^T, Shampoo's left Kronecker factor")
RIGHT_FACTOR = State("R", S.right_factor, S.right_factor_prev, shape="column_gram",
                     doc="moving average of g^T g, Shampoo's right Kronecker factor")
LEFT_BASIS = State("QL", S.left_basis, S.left_basis_prev, shape="row_gram", doc="the eigenbasis of L")
RIGHT_BASIS = State("QR", S.right_basis, S.right_basis_prev, shape="column_gram", doc="the eigenbasis of R")


def scale_by_soap(beta1: Hyper, beta2: Hyper, shampoo_beta: Hyper, eps: Hyper, frequency: Hyper, *,
                  correct_bias: bool = True) -> Transform:
    """SOAP's direction (Vyas et al. 2024, Algorithm 3; pytorch-optimizer 4.1.0's ``SOAP``), for a matrix g:

    - Adam's moments in the eigenbasis of the step before: ``Ĝ_t = Q^Lᵀ g Q^R``, ``m_t`` the moving
      average of g itself (kept in the original basis and rotated when used), ``v̄_t`` of Ĝ_t²;
      the direction ``N_t = Q^L (Q^Lᵀ m_t Q^R/(√v̄_t + ε)) Q^Rᵀ``, times √(1 - β₂ᵗ⁻¹)/(1 - β₁ᵗ⁻¹);
    - the Kronecker factors ``L_t = β_s L + (1 - β_s) g gᵀ``, ``R_t = β_s R + (1 - β_s) gᵀ g``;
    - their eigenbases: at the first step the eigenvectors of L_1 and R_1 (the step takes no
      step: the moments stay 0); then, where (t - 1) mod f = 0, one step of power iteration,
      ``Q^L_t = qr(L_t Q^L_{t-1} P^L_t)``, its columns first sorted by the estimated eigenvalues
      diag(Q^Lᵀ L_t Q^L) (``P^L_t``), and v re-sorted alike, ``v_t = P^Lᵀ v̄_t P^R``.

    The moments and bias corrections count from the second step (the package's ``step - 1``).
    """
    from symopt.ops import QR, Dot, Eigenbasis, Remainder, SortOrder, T

    b1, b2, bs, e, f = beta1.symbol, beta2.symbol, shampoo_beta.symbol, eps.symbol, frequency.symbol
    first = sp.Eq(S.t, 1)
    refresh = sp.Eq(Remainder(S.t - 1, f), 0)
    left, right = S.left_basis_prev, S.right_basis_prev

    def apply(u):
        correction = sp.sqrt(1 - b2 ** (S.t - 1)) / (1 - b1 ** (S.t - 1)) if correct_bias else sp.S.One
        rotated_moment = Dot(Dot(T(left), S.m), right)
        return (
            Assign(S.rotated, Dot(Dot(T(left), u), right)),
            Assign(S.m, sp.Piecewise((S.m_prev, first), (b1 * S.m_prev + (1 - b1) * u, True))),
            Assign(S.vbar, sp.Piecewise((S.v_prev, first), (b2 * S.v_prev + (1 - b2) * S.rotated**2, True))),
            Assign(S.soap_direction, Dot(Dot(left, rotated_moment / (sp.sqrt(S.vbar) + e)), T(right))),
            Assign(S.left_factor, bs * S.left_factor_prev + (1 - bs) * Dot(u, T(u))),
            Assign(S.right_factor, bs * S.right_factor_prev + (1 - bs) * Dot(T(u), u)),
            Assign(S.left_order, SortOrder(Dot(Dot(T(left), S.left_factor), left))),
            Assign(S.right_order, SortOrder(Dot(Dot(T(right), S.right_factor), right))),
            Assign(S.left_basis, sp.Piecewise((Eigenbasis(S.left_factor), first),
                                              (QR(Dot(Dot(S.left_factor, left), S.left_order)), refresh),
                                              (left, True))),
            Assign(S.right_basis, sp.Piecewise((Eigenbasis(S.right_factor), first),
                                               (QR(Dot(Dot(S.right_factor, right), S.right_order)), refresh),
                                               (right, True))),
            Assign(S.v, sp.Piecewise((S.vbar, first), (Dot(Dot(T(S.left_order), S.vbar), S.right_order), refresh),
                                     (S.vbar, True))),
        ), correction * S.soap_direction

    return Transform("scale_by_soap", apply, hypers=(beta1, beta2, shampoo_beta, eps, frequency),
                     states=(FIRST_MOMENT, ROTATED_SECOND_MOMENT, LEFT_FACTOR, RIGHT_FACTOR, LEFT_BASIS, RIGHT_BASIS))


# --- SM3 (Anil et al. 2019; optax 0.2.8's scale_by_sm3) --------------------------------------------
COVER_ACCUMULATORS = State("mu", S.cover_acc, S.cover_acc_prev, shape="covers",
                           doc="one accumulator per slice along each dimension (the cover sets), concatenated")
SM3_MOMENTUM = State("m", S.m, S.m_prev, doc="moving average of the preconditioned gradient (optax's nu)")


def scale_by_sm3(momentum: Hyper, beta2: Hyper, eps: Hyper) -> Transform:
    """SM3-II's preconditioner with optax's momentum (Anil et al. 2019, Algorithm SM3-II; optax 0.2.8's
    ``scale_by_sm3``): ``ν′_t = g_t² + covmin(μ′_{t-1})``, each element's smallest accumulator over
    the slices through it, one per dimension, plus g²; the accumulators ``μ′_t = covmax(ν′_t)``, the
    largest ν′_t of each slice; ``U_t = g_t/√(ν′_t + ε)``, and ``m_t = β₁ m_{t-1} + (1 - β₁) U_t``.
    With ``β₂ < 1`` optax weighs them ``(1 - β₂) g_t² + β₂ covmin(μ′_{t-1})``; at β₂ = 1 (its default)
    both weights are 1. optax's ``where(ν′ > 0, rsqrt(ν′ + ε), 0)`` is the same for ε > 0: ν′_t is 0
    only where g_t is."""
    from symopt.ops import CoverMax, CoverMin

    b1, b2, e = momentum.symbol, beta2.symbol, eps.symbol
    weight = sp.Piecewise((1, sp.Eq(b2, 1)), (1 - b2, True))

    def apply(u):
        return (
            Assign(S.cover_estimate, weight * u**2 + b2 * CoverMin(S.cover_acc_prev, u)),
            Assign(S.cover_acc, CoverMax(S.cover_estimate)),
            Assign(S.scaled, u / sp.sqrt(S.cover_estimate + e)),
            Assign(S.m, b1 * S.m_prev + (1 - b1) * S.scaled),
        ), S.m

    return Transform("scale_by_sm3", apply, hypers=(momentum, beta2, eps), states=(COVER_ACCUMULATORS, SM3_MOMENTUM))
# --- Prodigy (prodigyopt 1.1.2): Adam scaled by an estimate d of the distance to the solution -------
ESTIMATE = State("d", S.d_est, S.d_est_prev, init=S.d0, shape="tensor",
                 doc="the step-size estimate d (one number per tensor)")
LARGEST_ESTIMATE = State("d_max", S.dmax, S.dmax_prev, init=S.d0, shape="tensor",
                         doc="the largest estimate so far (one number per tensor)")
NUMERATOR = State("d_numerator", S.numerator, S.numerator_prev, shape="tensor",
                  doc="the estimate's numerator, a decayed sum of weighted <g, x0 - theta> (one number per tensor)")
WEIGHTED_SUM = State("s", S.dsum, S.dsum_prev, doc="the estimate's decayed sum of weighted gradients")
PRODIGY_INITIAL_POINT = State("p0", S.initial_point, S.initial_point_prev, init=S.theta0,
                              doc="the parameters before the first step, x0")
GROWN = State("grown", S.grown, S.grown_prev, shape="tensor",
              doc="1 once an estimate has exceeded d0, else 0 (prodigyopt's test d == d0, exactly, for G >= 1)")
MOVED = State("k", S.moved, S.moved_prev, shape="tensor",
              doc="the steps taken so far (not those where s is 0, which move nothing; one number per tensor)")


def scale_by_prodigy(lr: Hyper, beta1: Hyper, beta2: Hyper, beta3: Hyper | None, eps: Hyper, weight_decay: Hyper,
                     d0: Hyper, d_coef: Hyper, growth: Hyper, *, decouple: bool, bias_correction_on: bool,
                     safeguard_warmup: bool) -> Transform:
    """Prodigy's step ``γ_t m_t/(√v_t + d_t ε)`` with ``γ_t = d_{t-1} η`` (times √(1 - β₂ᴷ⁺¹)/(1 - β₁ᴷ⁺¹)
    with the bias correction, K the steps taken), Adam's moments of the gradient weighted by d, and
    the estimate ``d̂_t = c_d κ_t/D_t`` of the distance to the solution, from ``κ_t = β₃κ_{t-1} +
    (d/d₀)γ_t sum(g_t (x₀ - θ_{t-1}))`` and ``Σ_t = β₃Σ_{t-1} + (d/d₀)γ_t g_t``, ``D_t = sum|Σ_t|``
    (without β₃ given, β₃ = √β₂). d grows to the largest estimate so far, by at most G a step
    (while d = d₀, to d̂ at once). prodigyopt tests ``d == d₀``; with G ≥ 1 d never decreases, so d = d₀
    exactly until the first step whose d̂ exceeds it, and the rule keeps that as a flag f (0 until
    then, 1 after): a decision rounding flips only where d̂ is within rounding of d, where a test of
    a stored d against d₀ would depend on how each implementation rounds d₀. The sums are over the whole tensor. Where D_t is 0 (no gradient
    yet) the step changes nothing but the moments, and K counts the steps that moved, as prodigyopt
    returns early there (Mishchenko & Defazio 2023, Algorithm 4; prodigyopt 1.1.2 ``Prodigy``, one
    tensor per group).
    """
    from symopt.ops import IfPositive, TensorSum, ZeroGuard

    b1, b2, e = beta1.symbol, beta2.symbol, eps.symbol
    b3 = beta3.symbol if beta3 is not None else sp.sqrt(b2)
    k, d, start = S.moved_prev, S.d_est_prev, d0.symbol
    correction = sp.sqrt(1 - b2 ** (k + 1)) / (1 - b1 ** (k + 1)) if bias_correction_on else sp.S.One
    D = S.denominator

    def moved(still, value):  # prodigyopt returns before changing it where D_t = 0
        return ZeroGuard(D, still, value)

    def apply(u):
        grown = sp.Min(S.dmax, S.dtilde * growth.symbol)
        equations = (
            Assign(S.dlr, d * lr.symbol * correction),
            Assign(S.dsum, b3 * S.dsum_prev + (d / start) * (d if safeguard_warmup else S.dlr) * u),
            Assign(D, TensorSum(sp.Abs(S.dsum))),
            Assign(S.numerator, moved(S.numerator_prev, b3 * S.numerator_prev
                                      + (d / start) * S.dlr * TensorSum(u * (S.initial_point_prev - S.theta_prev)))),
            Assign(S.dhat, moved(0, d_coef.symbol * S.numerator / D)),
            Assign(S.dmax, moved(S.dmax_prev, sp.Max(S.dmax_prev, S.dhat))),
            # while d is d₀ (f = 0: no estimate has exceeded d₀ yet) it takes the estimate at once
            Assign(S.dtilde, ZeroGuard(S.grown_prev, sp.Max(d, S.dhat), d)),
            Assign(S.grown, IfPositive(S.dhat - d, 1, S.grown_prev)),
            Assign(S.d_est, moved(d, grown)),
            *((Assign(S.moved, moved(k, k + 1)),) if bias_correction_on else ()),
            Assign(S.m, b1 * S.m_prev + d * (1 - b1) * u),
            Assign(S.v, b2 * S.v_prev + d**2 * (1 - b2) * u**2),
            Assign(S.initial_point, S.initial_point_prev),
        )
        step = S.dlr * S.m / (sp.sqrt(S.v) + S.d_est * e)
        if decouple:
            step = step + weight_decay.symbol * S.dlr * S.theta_prev
        return equations + (Assign(S.direction, moved(0, step)),), S.direction

    hypers = (lr, beta1, beta2, *((beta3,) if beta3 is not None else ()), eps, d0, d_coef, growth,
              *((weight_decay,) if decouple else ()))
    states = (FIRST_MOMENT, SECOND_MOMENT, WEIGHTED_SUM, PRODIGY_INITIAL_POINT, ESTIMATE, LARGEST_ESTIMATE, NUMERATOR,
              GROWN, *((MOVED,) if bias_correction_on else ()))
    return Transform("scale_by_prodigy", apply, hypers=hypers, states=states)


# --- the proximal weight decay (timm 1.0.31's Adan with no_prox=False; Xie et al. 2022, Algorithm 1) --------
def proximal_decay(weight_decay: Hyper, lr: Hyper) -> Transform:
    """``θ_t = (θ_{t-1} - u)/(1 + ηλ)``: the parameters divided by ``1 + ηλ`` after the step, the
    proximal form of decoupled weight decay, where :func:`add_decayed_weights` before the learning rate
    gives ``θ_{t-1}(1 - ηλ) - u``. As a direction, ``u ↦ (u + ηλθ_{t-1})/(1 + ηλ)``, at the end of a
    chain, after the learning rate."""
    lam = lr.symbol * weight_decay.symbol
    return Transform("proximal_decay", lambda u: ((), (u + lam * S.theta_prev) / (1 + lam)), hypers=(weight_decay, lr))


# --- timm 1.0.31's LAMB trust ratio (``_lamb_trust_ratio``, applied only where weight_decay != 0) -------
def scale_by_timm_trust_ratio(weight_decay: Hyper, lr: Hyper | None = None,
                              corrected: DecayCorrection | None = None) -> Transform:
    """``φ_t Δ_t`` with timm's trust ratio ``φ_t = ‖θ'‖/‖Δ_t‖`` (1 where either norm is 0), applied
    only where λ ≠ 0 (timm 1.0.31's ``Lamb`` with ``always_adapt=False``: a tensor excluded from
    weight decay is not adapted, ``φ_t = 1``). ``θ'`` is θ_{t-1}, or with ``lr`` the parameter already
    decayed, ``θ_{t-1} - ηλθ_{t-1}`` (``θ_{t-1} - (η²/η_max)λθ_{t-1}`` with ``corrected``, timm's
    corrected weight decay), whose norm is named Θ_t: timm's ``decoupled_decay`` decays ``p`` in place
    before it takes ``p.norm()``."""
    from symopt.ops import Norm, ZeroGuard

    if corrected is not None and lr is None:
        raise ValueError("the corrected weight decay decays the parameters the trust ratio reads: give lr")
    lam = weight_decay.symbol
    decay = lam * _correction(corrected)

    def apply(u):
        equations: tuple[Assign, ...] = ()
        if not u.is_Symbol:  # name the update the ratio divides by the norm of
            equations, u = (Assign(S.direction, u),), S.direction
        param_norm, update_norm = Norm(S.theta_prev), Norm(u)
        if lr is not None:  # named: the guard and the ratio read the one norm timm takes of the decayed p
            equations += (Assign(S.decayed_param_norm, Norm(S.theta_prev - lr.symbol * decay * S.theta_prev)),)
            param_norm = S.decayed_param_norm
        ratio = ZeroGuard(sp.Min(param_norm, update_norm), 1, param_norm / update_norm)
        return equations + (Assign(S.trust, ZeroGuard(lam, 1, ratio)),), S.trust * u

    return Transform("scale_by_timm_trust_ratio", apply,
                     hypers=(weight_decay, *((lr,) if lr is not None else ()), *_corrected_hypers(corrected)))


# --- timm 1.0.31's corrected weight decay (``corrected_weight_decay=True``; arXiv 2506.02285) -------------
# A structural option ``corrected_weight_decay: bool = False`` (timm's keyword, so no LibraryKeyword) that
# a rule passes through :func:`corrected_decay` to the ``corrected`` parameter of its decoupled-decay
# transform (add_decayed_weights, add_decayed_weights_by_lr, add_decayed_stepped_weights,
# scale_by_timm_trust_ratio): the decay's scale η becomes η²/η_max, η_max the hyperparameter ``max_lr``
# (timm's ``max_lr_snapshot``, which it reads from the parameter group at every step).
CORRECTED_DECAY_REFERENCE = ("; the corrected weight decay of arXiv 2506.02285 (decay scaled by eta^2/eta_max), "
                             "as timm 1.0.31's corrected_weight_decay=True")


@dataclass(frozen=True)
class DecayCorrection:
    """The factor ``η/η_max`` timm's corrected weight decay multiplies the decoupled decay's λ by, so that
    its scale η becomes ``η²/η_max`` (η_max the learning rate the class was built with, the peak of the
    schedule): the hyperparameters it reads."""

    lr: Hyper
    max_lr: Hyper

    @property
    def factor(self) -> sp.Expr:
        return self.lr.symbol / self.max_lr.symbol


def corrected_decay(corrected: bool, lr: Hyper) -> DecayCorrection | None:
    """The correction of the decoupled decay where ``corrected`` (a rule's ``corrected_weight_decay``) is
    set, else None: ``add_decayed_weights(λ, corrected=corrected_decay(corrected_weight_decay, lr))``.
    η_max (:data:`symopt.hyperparameters.MAX_LR`) takes the default of the rule's learning rate ``lr``,
    so that at the defaults the decay is the uncorrected one.

    Example:
        >>> from symopt.hyperparameters import LR
        >>> corrected_decay(True, LR).factor
        eta/eta_max
        >>> corrected_decay(False, LR) is None
        True
    """
    from symopt.hyperparameters import MAX_LR

    if not isinstance(corrected, bool):
        raise ValueError(f"corrected_weight_decay must be True or False, not {corrected!r}")
    if not corrected:
        return None
    return DecayCorrection(lr, MAX_LR.restricted(default=lr.default, special=(lr.default,)))


def _correction(corrected: DecayCorrection | None) -> sp.Expr:
    return sp.S.One if corrected is None else corrected.factor


def _corrected_hypers(corrected: DecayCorrection | None) -> tuple[Hyper, ...]:
    return () if corrected is None else (corrected.lr, corrected.max_lr)


# --- timm 1.0.31's AdafactorBigVision (big_vision's Adafactor) ------------------------------------------
BV_SECOND_MOMENT = State("exp_avg_sq", S.v, S.v_prev, library="exp_avg_sq",
                         doc="moving average of g^2 + eps, where the second moment is not factored")


def scale_by_big_vision_factored_rms(decay_rate: Hyper, decay_offset: Hyper, beta2_cap: Hyper, min_dim: Hyper,
                                     eps: Hyper) -> Transform:
    """big_vision's Adafactor preconditioner (timm 1.0.31's ``AdafactorBigVision``): the moving averages
    of ``g_t² + ε`` with decay ``β̂₂ₜ = min(β₂ᵐᵃˣ, 1 - max(t - τ₀, 1)^(-c₂))``, factored into row and
    column means R_t, C_t for a matrix whose smaller side is at least n_min (timm's
    ``min_dim_size_to_factor``: the second-largest side), ``U_t = g_t/(√R̄_t √C_t)`` with
    ``R̄_t = R_t/mean(R_t)`` (each root taken apart, as timm does: the product R_t C_t of two averages
    near ε would underflow in float32, and R̄_t named, so that its root is not split into
    √R_t/√mean(R_t): where a row of zeros meets a row of large gradients R̄_t underflows to 0 in float32,
    and timm's step is NaN there); else kept whole, ``U_t = g_t/√v_t``. No floor under the estimate: ε
    is added to g² before it is averaged.

    timm factors over the two largest dimensions (its row factor is the mean over the largest, its
    column factor over the second largest), which for a matrix gives the same R_t C_t/mean(R_t) either
    way round (mean(R_t) = mean(C_t) = the mean of every element), but not the same rounding: timm
    divides by its mean the factor along the larger side (ties: the columns), so that for a matrix
    taller than wide it is C̄_t = C_t/mean(C_t), and ``U_t = g_t/(√C̄_t √R_t)``; where that factor
    underflows to 0 timm's step is NaN, and where the other does it is 0·∞ only if g is 0 there too
    (R̄_t below stands for whichever factor is divided). Of three dimensions or more it may factor over
    other dimensions than the last two, which the row and column means here do not: a rule with this
    transform takes 0-D, 1-D and 2-D parameters.
    """
    from symopt.ops import ColMean, RowMean

    factored = sp.And(sp.GreaterThan(S.ndim, 2), sp.GreaterThan(sp.Min(S.rows, S.cols), min_dim.symbol))
    tall = sp.StrictGreaterThan(S.rows, S.cols)  # timm's largest dimension is then the first

    def apply(u):
        g2 = u**2 + eps.symbol
        decay_step = sp.Max(S.t - decay_offset.symbol, 1)
        return (
            Assign(S.beta2_hat, sp.Min(beta2_cap.symbol, 1 - decay_step**(-decay_rate.symbol))),
            *_factored_averages(g2, factored, unfactored=BV_SECOND_MOMENT),
            # read where factored only: the factor of the larger side, over its mean (the rows' where the
            # matrix is not taller than wide), and the other factor as it is
            Assign(S.row_ratio, sp.Piecewise((S.col_var / RowMean(S.col_var), tall),
                                                (S.row_var / ColMean(S.row_var), True))),
            Assign(S.scaled, sp.Piecewise(
                (u / (sp.sqrt(S.row_ratio) * sp.sqrt(sp.Piecewise((S.row_var, tall), (S.col_var, True)))), factored),
                (u / sp.sqrt(S.v), True))),
        ), S.scaled

    return Transform("scale_by_big_vision_factored_rms", apply,
                     hypers=(decay_rate, decay_offset, beta2_cap, min_dim, eps),
                     states=(ROW_MOMENT, COLUMN_MOMENT, BV_SECOND_MOMENT))
