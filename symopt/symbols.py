"""Every SymPy symbol symopt uses, declared once.

Two SymPy symbols with the same name and different assumptions are different symbols and never
cancel, so rules, derivations and printers all import their symbols from here.

Names are plain Python identifiers, so that ``lambdify`` can use them as argument names, and SymPy
already typesets most of them (``beta1`` prints as ``\\beta_{1}``, ``mhat_t`` as ``\\hat{m}_{t}``).
A value before the step is named ``<name>_tm1`` and printed with the subscript t-1 by
:mod:`symopt.printing`.

Symbols come in two kinds, and :data:`ARRAYS` says which: *arrays* hold one value per parameter
(θ, g, the moments: declared with :func:`array`), everything else is a *scalar* of the step
counter and the hyperparameters (η, β₁, the bias-correction factors, NAdam's μ product). Kernels
compute scalars once per step, printers put them before the arrays in a product.

Assumptions are deliberate. Hyperparameters are nonnegative (a learning rate or a decay below zero
is an error, not a rule), the step counter is a positive integer, second moments are nonnegative.
Values that may take either sign (parameters, gradients, first moments) are only ``real``.
"""

from sympy import Function, Symbol

#: The symbols that hold one value per parameter.
ARRAYS: set[Symbol] = set()


def array(name: str, **assumptions) -> Symbol:
    """A per-parameter symbol (``real`` unless other assumptions are given), recorded in :data:`ARRAYS`."""
    symbol = Symbol(name, **(assumptions or {"real": True}))
    ARRAYS.add(symbol)
    return symbol


def pair(name: str, **assumptions) -> tuple[Symbol, Symbol]:
    """A state variable's symbols after and before the step: ``x_t`` and ``x_tm1``."""
    return array(f"{name}_t", **assumptions), array(f"{name}_tm1", **assumptions)


# The step counter: the step being taken, counting from 1 as in torch.optim.
t = Symbol("t", integer=True, positive=True)

# Parameters and gradient.
theta, theta_prev = pair("theta")  # θ_t after the step, θ_{t-1} before it
g = array("g_t")  # g_t, the gradient at θ_{t-1}

# State: each variable has its value after the step and its value before it.
m, m_prev = pair("m")  # first moment, moving average of g
v, v_prev = pair("v", nonnegative=True)  # second moment, moving average of g²
b, b_prev = pair("b")  # momentum buffer (torch's momentum_buffer; the note calls it velocity v)
vmax, vmax_prev = pair("vmax", nonnegative=True)  # AMSGrad's running maximum of v
gbar, gbar_prev = pair("gbar")  # centred RMSprop's moving average of g
u, u_prev = pair("u", nonnegative=True)  # Adamax's exponentially weighted infinity norm
s, s_prev = pair("s", nonnegative=True)  # Adagrad's sum of squared gradients
z, z_prev = pair("z")  # Schedule-Free's SGD (or Adam) sequence, the one the gradient steps move
x, x_prev = pair("x")  # Schedule-Free's weighted average of z, what eval() puts in the parameters
n, n_prev = pair("n", nonnegative=True)  # Adan's moving average of the squared look-ahead gradient
dbar, dbar_prev = pair("dbar")  # Adan's moving average of the differences of successive gradients
gprev, gprev_prev = pair("gprev")  # the gradient kept for the next step (Adan, optimistic gradient descent)

# Intermediates.
mhat = array("mhat_t")  # bias-corrected first moment
vhat = array("vhat_t", nonnegative=True)  # bias-corrected second moment
vtilde = array("vtilde_t", nonnegative=True)  # centred second moment, v - ḡ²
c = array("c_t")  # Lion's interpolation of the moment and the gradient
nhat = array("nhat_t", nonnegative=True)  # Adan's bias-corrected n
diff = array("gdiff_t")  # Adan's difference of successive gradients Δg_t (0 at the first step)

# Scalar state and intermediates: functions of t and the hyperparameters only.
mu_product = Symbol("Pi_t", real=True)  # NAdam's running product of the momentum factors
mu_product_prev = Symbol("Pi_tm1", real=True)
mu = Symbol("mu_t", real=True)  # NAdam's momentum factor at step t
mu_next = Symbol("mu_tp1", real=True)  # ... and at step t + 1
rho_inf = Symbol("rho_inf", real=True)  # RAdam: the length of the SMA, ρ_∞
rho_t = Symbol("rho_t", real=True)  # RAdam: ρ_t
rect = Symbol("r_t", real=True)  # RAdam's variance rectification
lr_t = Symbol("eta_t", nonnegative=True)  # Adagrad's decayed learning rate; Schedule-Free's warmed-up one
lr_max = Symbol("etamax_t", real=True)  # Schedule-Free: the largest learning rate so far (starts at -1)
lr_max_prev = Symbol("etamax_tm1", real=True)
weight = Symbol("w_t", nonnegative=True)  # Schedule-Free: the weight of z_t in the average x_t
weight_sum = Symbol("W_t", nonnegative=True)  # ... and the sum of the weights so far
weight_sum_prev = Symbol("W_tm1", nonnegative=True)
average_coefficient = Symbol("chi_t", nonnegative=True)  # Schedule-Free's c_t = w_t/W_t (printed c_t)

# Adadelta (Zeiler 2012; torch.optim.Adadelta): the moving average of the squared updates, and the update.
d, d_prev = pair("d", nonnegative=True)  # torch's acc_delta, Zeiler's E[Δx²]
delta = array("Delta_t")  # the update Δ_t = √(d_{t-1} + ε)/√(v_t + ε)·g_t

# Rprop (torch.optim.Rprop): per-element step sizes, and the gradient kept for the next step's sign.
step_size, step_size_prev = pair("Gamma", nonnegative=True)  # torch's step_size
gkept, gkept_prev = pair("gtilde")  # torch's prev: the gradient, 0 where its sign changed
sign_change = array("sigma_t")  # sign(g_t·g̃_{t-1}): 1 same sign, -1 a change, 0 a zero
# optax's scale_by_rprop keeps the update it will apply next (Γ_t sign(g_t), 0 where the sign changed),
# printed δ_t, not the gradient.
rprop_update, rprop_update_prev = pair("rprop_delta")

# ASGD (torch.optim.ASGD): the scalar states η̂ and μ, and the average of the iterates.
asgd_eta, asgd_eta_prev = Symbol("etahat_t", nonnegative=True), Symbol("etahat_tm1", nonnegative=True)
asgd_mu, asgd_mu_prev = Symbol("muhat_t", nonnegative=True), Symbol("muhat_tm1", nonnegative=True)
ax, ax_prev = pair("abar")  # torch's ax: the average of θ, what eval_params returns

# Hyperparameters, in the note's letters.
eta = Symbol("eta", nonnegative=True)  # learning rate
rho = Symbol("rho", nonnegative=True)  # momentum factor
tau = Symbol("tau", nonnegative=True)  # dampening, as in the torch.optim.SGD documentation
beta1 = Symbol("beta1", nonnegative=True)  # first-moment decay
beta2 = Symbol("beta2", nonnegative=True)  # second-moment decay
alpha = Symbol("alpha", nonnegative=True)  # RMSprop's smoothing constant
epsilon = Symbol("epsilon", positive=True)  # keeps the denominator away from zero
epsilon_root = Symbol("epsilon_root", nonnegative=True)  # optax's eps_root, added under the square root
lam = Symbol("lamda", nonnegative=True)  # weight decay (SymPy spells λ "lamda": "lambda" is a Python keyword)
kappa = Symbol("kappa", nonnegative=True)  # Adagrad's learning-rate decay
s0 = Symbol("s_0", nonnegative=True)  # Adagrad's initial accumulator value
psi = Symbol("psi", nonnegative=True)  # NAdam's momentum decay
beta3 = Symbol("beta3", nonnegative=True)  # Adan's decay of the squared term
beta = Symbol("beta", nonnegative=True)  # Schedule-Free's interpolation between z and x
warmup = Symbol("T_w", nonnegative=True)  # Schedule-Free's warmup steps
r_power = Symbol("r", nonnegative=True)  # Schedule-Free's power of t in the weights
lr_power = Symbol("p", nonnegative=True)  # Schedule-Free's power of the largest learning rate in the weights

eta_minus = Symbol("eta_minus", positive=True)  # Rprop's factor after a change of sign (etas[0])
eta_plus = Symbol("eta_plus", positive=True)  # ... and after the same sign (etas[1])
step_min = Symbol("Gamma_min", nonnegative=True)  # Rprop's smallest step size (step_sizes[0])
step_max = Symbol("Gamma_max", nonnegative=True)  # ... and its largest (step_sizes[1])
asgd_decay = Symbol("lamda_d", nonnegative=True)  # ASGD's lambd: the decay term and the learning rate's decay
asgd_power = Symbol("alpha_d", nonnegative=True)  # ASGD's alpha: the power of the learning rate's decay
asgd_t0 = Symbol("t_0", nonnegative=True)  # ASGD's t0: the step averaging starts after

# Quantities that only derivations talk about.
lam_eff = Symbol("lamda_eff", real=True)  # effective weight decay


def lam_eff_through(path: str) -> Symbol:
    """The term of λ_eff that flows through one state variable (``"m"``, ``"v"``), ``"direct"``, or
    ``"between"`` (the flows from one state into another)."""
    return Symbol(f"lamda_eff_{path}", real=True)


theta0 = Symbol("theta_0", real=True)  # θ₀, the parameter before the first step


class Tends(Function):
    """``Tends(t, oo)`` is the phrase "t → ∞" in a sentence (printed by :mod:`symopt.printing`)."""

    nargs = 2


class Mean(Function):
    """``Mean(x)`` is the expectation E[x] over the gradient noise, with θ held fixed."""

    nargs = 1
    is_real = True


# --- rules on whole tensors (Muon, Adafactor) ------------------------------------------------------
# Shape scalars: numbers a kernel reads from the parameter's shape, never hyperparameters. A rule that
# names one is compiled with it as a scalar argument, bound by :func:`shape_values`.
rows = Symbol("A", integer=True, positive=True)  # the parameter's rows (its second-to-last side; 1 for a vector)
cols = Symbol("B", integer=True, positive=True)  # its columns (its last side; 1 for a 0-d array)
numel = Symbol("N", integer=True, positive=True)  # its number of elements (1 for an empty array)
ndim = Symbol("D", integer=True, nonnegative=True)  # its number of dimensions
channels = Symbol("C", integer=True, positive=True)  # its first side, the channels of AdamP's view (1 for a 0-d or empty side)

#: shape symbol -> its value for a parameter of a given shape.
SHAPES = {
    rows: lambda shape: max(1, shape[-2]) if len(shape) >= 2 else 1,
    cols: lambda shape: max(1, shape[-1]) if len(shape) >= 1 else 1,
    numel: lambda shape: max(1, _product(shape)),
    ndim: len,
    channels: lambda shape: max(1, shape[0]) if len(shape) >= 1 else 1,
}


def _product(shape) -> int:
    out = 1
    for side in shape:
        out *= side
    return out


def shape_values(shape) -> dict:
    """The shape symbols' values for a parameter of ``shape``.

    Example:
        >>> shape_values((3, 5))[cols]
        5
    """
    return {symbol: value(tuple(shape)) for symbol, value in SHAPES.items()}


# Muon: the Newton–Schulz coefficients and step count, and the orthogonalised update.
ns_a = Symbol("a", real=True)
ns_b = Symbol("b", real=True)
ns_c = Symbol("c", real=True)
ns_steps = Symbol("k", integer=True, positive=True)
orth = array("O_t")  # the orthogonalised momentum, NS_k(B̃_t)
nesterov_b = array("Btilde_t")  # the momentum the iteration runs on (Nesterov's look-ahead or b_t)

# Adafactor: factored second moments and the relative step.
row_var, row_var_prev = pair("R", nonnegative=True)  # moving average of the row means of g² (shape A×1)
col_var, col_var_prev = pair("C", nonnegative=True)  # ... of the column means (shape 1×B)
var_estimate = array("Vhat_t", nonnegative=True)  # the factored estimate of the second moment
scaled = array("U_t")  # the gradient divided by the root of the estimate
beta2_hat = Symbol("betahat2_t", nonnegative=True)  # 1 - t^decay: the second moments' decay at step t
rho_step = Symbol("rhohat_t", nonnegative=True)  # Adafactor's ρ_t = min(η, 1/√t)
decay_rate = Symbol("c_decay", real=True)  # Adafactor's beta2_decay (≤ 0)
eps1 = Symbol("epsilon1", positive=True)  # Adafactor's floor of the second moment's estimate
eps2 = Symbol("epsilon2", nonnegative=True)  # Adafactor's floor of the parameters' RMS
clip = Symbol("d", positive=True)  # Adafactor's update clipping threshold

# Layer-wise rules (optax's LAMB, LARS, Fromage, NovoGrad): a trust ratio of norms of the whole tensor.
trust = array("phi_t", nonnegative=True)  # the trust ratio ‖θ‖/‖Δ‖ (one number for the whole tensor)
direction = array("Delta_t")  # the update the trust ratio scales
trust_coefficient = Symbol("xi", nonnegative=True)  # LARS's trust coefficient
eps_trust = Symbol("epsilon_trust", nonnegative=True)  # added to the update's norm in LARS's ratio
min_norm = Symbol("nu_min", nonnegative=True)  # Fromage's floor of both norms
floored_param_norm = array("omega_t", nonnegative=True)  # Fromage's max(ν_min, ‖θ_{t-1}‖) (one per tensor)
floored_update_norm = array("Omega_t", nonnegative=True)  # Fromage's max(ν_min, ‖Δ_t‖) (one per tensor)
layer_var, layer_var_prev = pair("nu", nonnegative=True)  # NovoGrad's moving average of ‖g‖² (one per tensor)

# timm 1.0.31's ADOPT, LaProp, MADGRAD and MARS.
clip_exp = Symbol("omega", nonnegative=True)  # ADOPT's clip_exp: the normalised gradient is clipped to (t-1)^ω
normalized = array("ghat_t")  # ADOPT's gradient divided by max(√v_{t-1}, ε) (clipped), the momentum's input
lr_average, lr_average_prev = Symbol("etabar_t", nonnegative=True), Symbol("etabar_tm1", nonnegative=True)  # LaProp
ones_average, ones_average_prev = Symbol("zeta_t", nonnegative=True), Symbol("zeta_tm1", nonnegative=True)  # LaProp
laprop_step = Symbol("alpha_t", nonnegative=True)  # LaProp's step size η/η̄_t (the first moment's bias correction)
stepped = array("thetatilde_t")  # LaProp's parameters after the step, before the decay
dual_weight = Symbol("lamda_t", nonnegative=True)  # MADGRAD's λ_t = (η + ε)√t, the weight of g_t in its sums
dual_sum, dual_sum_prev = pair("S")  # MADGRAD's s: the λ-weighted sum of the gradients
dual_square, dual_square_prev = pair("V", nonnegative=True)  # MADGRAD's ν: the λ-weighted sum of g²
initial_point, initial_point_prev = pair("x0")  # MADGRAD's x₀, the parameters before the first step
dual_iterate = array("zhat_t")  # MADGRAD's z_t = x₀ - s_t/(∛ν_t + ε), which θ averages
mars_gamma = Symbol("gamma", nonnegative=True)  # MARS's gamma: the weight of the gradient correction
mars_clipped = array("ctilde_t")  # ... clipped: c_t/max(1, ‖c_t‖)
beta1_1d = Symbol("beta1_1d", nonnegative=True)  # MARS's betas_1d, for the AdamW step of 1-D parameters
beta2_1d = Symbol("beta2_1d", nonnegative=True)
lr_1d_factor = Symbol("kappa_1d", nonnegative=True)  # MARS's lr_1d_factor
# The cautious mask (Liang et al. 2024; timm's ``caution=True``): 1 where the update and the gradient
# agree in sign, else 0.
caution = array("M_t", nonnegative=True)  # the mask M_t (φ_t is the trust ratio, ω_t Fromage's floored norm)
# AdamP and SGDP (Heo et al. 2021; timm 1.0.31's projection()): the weights normalised per channel and
# as a whole, the cosines of the gradient with them, the projected update and the decay's ratio.
unit_channel = array("thetahat_t")  # θ_{t-1} divided by its channel's norm (+ ε)
unit_layer = array("thetabar_t")  # θ_{t-1} divided by its norm (+ ε)
cos_channel = array("Psi_t", nonnegative=True)  # the largest |cos(g, θ)| over the channels: one number
cos_layer = array("Upsilon_t", nonnegative=True)  # |cos(g, θ)| of the whole tensor: one number
projected = array("Deltatilde_t")  # the update with its radial component removed where projected
decay_ratio = array("Lambda_t", nonnegative=True)  # wd_ratio where projected, else 1: one number
projection_delta = Symbol("delta", nonnegative=True)  # timm's delta: the cosine threshold (times √size)
wd_ratio = Symbol("r_wd", nonnegative=True)  # timm's wd_ratio: the decay's ratio where projected
tangent_grad = array("gcheck_t")  # the gradient projected as the update was (timm's grad_perp, caution=True)
reprojected = array("Deltacheck_t")  # the masked projected update, projected again (timm's caution=True)
# AdEMAMix (pytorch-optimizer 4.1.0): the slow moving average of g, and the warm-up of α and β₃.
mslow, mslow_prev = pair("mslow")  # the slow moving average of the gradient (its exp_avg_slow)
alpha_t = Symbol("alphaw_t", nonnegative=True)  # α at step t (printed α_t; LaProp's α_t is its step size): min(tα/T, α) while warming up
beta3_t = Symbol("beta3_t", nonnegative=True)  # β₃ at step t (β₁ → β₃ while warming up)
warmup_ab3 = Symbol("T_alphabeta3", positive=True)  # its t_alpha_beta3: the steps α and β₃ warm up over
# SOAP (Vyas et al. 2024; pytorch-optimizer 4.1.0): Shampoo's Kronecker factors, their eigenbases, and
# Adam in the rotated basis.
left_factor, left_factor_prev = pair("L")  # moving average of g gᵀ (A×A)
right_factor, right_factor_prev = pair("Rk")  # moving average of gᵀ g (B×B), printed R_t
left_basis, left_basis_prev = pair("QL")  # the eigenbasis of L (A×A), printed Q^L_t
right_basis, right_basis_prev = pair("QR")  # the eigenbasis of R (B×B), printed Q^R_t
rotated = array("Ghat_t")  # the gradient in the eigenbasis, (Q^L)ᵀ g Q^R
vbar = array("vbar_t", nonnegative=True)  # the rotated second moment before it is re-sorted
soap_direction = array("N_t")  # Adam's step in the eigenbasis, rotated back
left_order = array("PL_t")  # the permutation sorting L's estimated eigenvalues, printed P^L_t
right_order = array("PR_t")  # ... and R's, printed P^R_t
shampoo_beta = Symbol("beta_s", nonnegative=True)  # the Kronecker factors' decay
frequency = Symbol("f", integer=True, positive=True)  # steps between updates of the eigenbases
# SM3 (Anil et al. 2019; optax 0.2.8's scale_by_sm3): one accumulator per slice of the parameter along
# each of its dimensions (the cover sets), and each element's estimate, the smallest of its covers'.
cover_acc, cover_acc_prev = pair("mucov", nonnegative=True)  # the accumulators of every dimension, concatenated, printed μ′_t
cover_estimate = array("nucov_t", nonnegative=True)  # ν′_t: min over the covers of μ′_{t-1}, plus g² (per element)
# Prodigy (Mishchenko & Defazio 2023; prodigyopt 1.1.2): the step-size estimate d, one number per
# tensor (prodigyopt's group keeps it), and what it is estimated from.
d_est, d_est_prev = pair("d", nonnegative=True)  # the estimate d
dmax, dmax_prev = pair("dmax", nonnegative=True)  # the largest estimate so far, d^max (its d_max)
numerator, numerator_prev = pair("kappa")  # its d_numerator: a beta3-weighted sum of (d/d0)gamma<g, x0 - theta>
dsum, dsum_prev = pair("Sigma")  # its s: a beta3-weighted sum of the weighted gradients (one per element)
grown, grown_prev = pair("f", nonnegative=True)  # 1 once an estimate has exceeded d0 (d has grown), else 0
moved, moved_prev = pair("K", nonnegative=True)  # its k: the steps that moved (not those where s is 0)
dlr = array("gamma_t", nonnegative=True)  # its dlr: d*lr (times the bias correction), the step's scale
denominator = array("D_t", nonnegative=True)  # the estimate's denominator, the sum of |s|
dtilde = array("dtilde_t", nonnegative=True)  # d before the growth limit: max(d, dhat) while d is d0, else d
dhat = array("dhat_t")  # the new estimate, d_coef times the numerator over the denominator
growth = Symbol("G", positive=True)  # its growth_rate: the largest factor d grows by in a step
d0 = Symbol("d0", positive=True)  # its d0: the first estimate
d_coef = Symbol("c_d", positive=True)  # its d_coef, multiplying the estimate

# timm 1.0.31's Lamb with decoupled_decay: the norm of the parameters already decayed, ‖θ_{t-1} - ηλθ_{t-1}‖
# (timm decays p in place before its trust ratio reads p.norm(); one number per tensor).
decayed_param_norm = array("Theta_t", nonnegative=True)

# timm 1.0.31's corrected weight decay ("Why Gradients Rapidly Increase Near the End of Training", arXiv
# 2506.02285): η_max, the learning rate the optimizer was built with (timm's max_lr_snapshot), the peak of
# its schedule; the decoupled decay is scaled by η²/η_max instead of η.
eta_max = Symbol("eta_max", positive=True)
# timm 1.0.31's AdafactorBigVision (big_vision's Adafactor): β₂ₜ = min(β₂ᵐᵃˣ, 1 - max(t - τ₀, 1)^(-c₂)),
# (its min_dim_size_to_factor is min_factor, below).
bv_decay_rate = Symbol("c_2", nonnegative=True)  # its decay_rate: the new value weighs max(t - tau0, 1)^(-c2)
bv_decay_offset = Symbol("tau_0", integer=True, nonnegative=True)  # its decay_offset: the schedule's start
bv_beta2_cap = Symbol("beta2_max", nonnegative=True)  # its beta2_cap: the largest decay
row_ratio = array("Rbar_t")  # R_t/mean(R_t) (C_t/mean(C_t) for a tall matrix), named: its root is taken whole, as timm takes it
# timm 1.0.31's Adafactor (fairseq's): the step size α̂_t its decay multiplies λ by (the relative step, or
# the learning rate given), one number per tensor, and the side a dimension must exceed to be factored.
relative_lr = array("alphahat_t", nonnegative=True)  # timm's lr_t: min(10^-2, 1/√t) max(ε₂, RMS(θ_{t-1}))
min_factor = Symbol("n_min", integer=True, nonnegative=True)  # timm's min_dim_size_to_factor (both Adafactors)
