"""The hyperparameters rules are built from: symbol, keyword, torch.optim default, valid range, and
where generated test cases draw them from.

Rules take these and change a default or a range where their reference does (``adamw`` decays by
default, ``adam`` does not; RMSprop's momentum may be 0). Keywords are torch.optim's constructor
arguments (``betas`` split into ``beta1`` and ``beta2``), so that a kernel's ``step`` reads like a
``torch.optim`` constructor, and :mod:`symopt.strategies` draws every value from what is declared here.
"""

import math

from symopt import symbols as S
from symopt.core import Hyper

inf = math.inf

LR = Hyper(S.eta, "lr", 1e-3, 0.0, inf, doc="learning rate", special=(1e-3, 0.0), sample=(1e-6, 1.0), log=True)
MOMENTUM = Hyper(S.rho, "momentum", 0.9, 0.0, 1.0, low_open=True, doc="momentum factor (0 is plain sgd)",
                 special=(0.9, 0.0), sample=(0.01, 0.99))
DAMPENING = Hyper(S.tau, "dampening", 0.0, 0.0, 1.0, high_open=False, doc="dampening of the gradient",
                  special=(0.0,), sample=(0.0, 1.0))
# β in {0} ∪ [0.01, 0.9999], not (0, 0.01): torch.optim.Adam (and the reference, which follows it)
# updates the first moment with ``lerp(g, 1 - β₁)``, which knows β₁ only to within one rounding of
# 1 - β₁ (1e-16 absolute): a change of the hyperparameter itself, of up to 1e-16/β₁ relative, that
# no rounding-error bound covers (Hypothesis found β₁ = 6e-8 giving a 2e-10 difference).
BETA1 = Hyper(S.beta1, "beta1", 0.9, 0.0, 1.0, doc="decay of the first moment", library=("betas", 0),
              special=(0.0, 0.9, 0.999), sample=(0.01, 0.9999))
BETA2 = Hyper(S.beta2, "beta2", 0.999, 0.0, 1.0, doc="decay of the second moment", library=("betas", 1),
              special=(0.0, 0.9, 0.999), sample=(0.01, 0.9999))
ALPHA = Hyper(S.alpha, "alpha", 0.99, 0.0, 1.0, doc="decay of the squared-gradient average",
              special=(0.0, 0.99), sample=(0.01, 0.9999))
EPS = Hyper(S.epsilon, "eps", 1e-8, 0.0, inf, low_open=True, doc="keeps the denominator from zero",
            special=(1e-8,), sample=(1e-12, 0.1), log=True)
WEIGHT_DECAY = Hyper(S.lam, "weight_decay", 0.0, 0.0, inf, doc="weight decay", skip_when_zero=True,
                     special=(0.0, 1e-2), sample=(1e-6, 1.0), log=True)
# optax's eps_root: added to the second moment under the root, beside ε outside it (0 leaves it out).
EPS_ROOT = Hyper(S.epsilon_root, "eps_root", 0.0, 0.0, inf, doc="added under the root (optax's eps_root)",
                 special=(0.0, 1e-8), sample=(1e-12, 0.1), log=True)
# Loshchilov & Hutter's η_t: a schedule multiplier of its own, beside the learning rate α (which the
# paper's Algorithm 2 calls α and symopt η). The symbol is η_t, as in the paper's equations.
SCHEDULE_MULTIPLIER = Hyper(S.lr_t, "schedule_multiplier", 1.0, 0.0, inf,
                            doc="schedule multiplier η_t (Loshchilov & Hutter), scaling the step and the decay",
                            special=(1.0, 0.0), sample=(1e-3, 1.0), log=True)
LR_DECAY = Hyper(S.kappa, "lr_decay", 0.0, 0.0, inf, doc="decay of the learning rate with the step count",
                 special=(0.0,), sample=(1e-6, 1.0), log=True)
INITIAL_ACCUMULATOR = Hyper(S.s0, "initial_accumulator_value", 0.0, 0.0, inf, doc="initial sum of squared gradients",
                            special=(0.0,), sample=(1e-6, 1e2), log=True)
MOMENTUM_DECAY = Hyper(S.psi, "momentum_decay", 4e-3, 0.0, inf, doc="how fast the momentum factor rises to beta1",
                       special=(4e-3, 0.0), sample=(1e-5, 1.0), log=True)

# Schedule-Free (schedulefree 1.4.1's constructor arguments).
INTERPOLATION = Hyper(S.beta, "momentum", 0.9, 0.0, 1.0, high_open=False,
                      doc="interpolation of y between z (0) and x (1)", special=(0.9, 0.0, 0.5, 1.0), sample=(0.01, 0.99))
WARMUP = Hyper(S.warmup, "warmup_steps", 0.0, 0.0, inf, doc="steps of linear learning-rate warmup", integer=True,
               special=(0.0, 5.0), sample=(0.0, 60.0))
R_POWER = Hyper(S.r_power, "r", 0.0, 0.0, inf, doc="power of t in the averaging weights", special=(0.0, 1.0),
                sample=(0.0, 3.0))
LR_POWER = Hyper(S.lr_power, "weight_lr_power", 2.0, 0.0, inf,
                 doc="power of the largest learning rate in the averaging weights", special=(2.0, 0.0, 1.0),
                 sample=(0.0, 4.0))

# optax 0.2.8's rules: its constructor names (``b1``, ``b2``, ``learning_rate``) are the library keywords.
OPTAX_LR = LR.restricted(library="learning_rate")
OPTAX_BETA1 = BETA1.restricted(library="b1")
OPTAX_BETA2 = BETA2.restricted(library="b2")
BETA3 = Hyper(S.beta3, "beta3", 0.99, 0.0, 1.0, doc="decay of the squared term (Adan)", library="b3",
              special=(0.0, 0.99), sample=(0.01, 0.9999))
SIGN_DECAY = Hyper(S.beta, "beta", 0.9, 0.0, 1.0, doc="decay of the moving average whose sign is taken",
                   special=(0.9, 0.0), sample=(0.01, 0.9999))
OPTIMISM_ALPHA = Hyper(S.alpha, "alpha", 1.0, 0.0, inf, doc="weight of the gradient (optimistic gradient descent)",
                       special=(1.0, 0.0), sample=(0.0, 2.0))
OPTIMISM_BETA = Hyper(S.beta, "beta", 1.0, 0.0, inf,
                      doc="weight of the change of the gradient, a negative momentum (optimistic gradient descent)",
                      special=(1.0, 0.0), sample=(0.0, 2.0))

TRUST_COEFFICIENT = Hyper(S.trust_coefficient, "trust_coefficient", 1e-3, 0.0, inf, doc="multiplies the trust ratio",
                          special=(1e-3, 1.0), sample=(1e-4, 1.0), log=True)
EPS_TRUST = Hyper(S.eps_trust, "eps", 0.0, 0.0, inf, doc="added to the update's norm in the trust ratio",
                  special=(0.0, 1e-8), sample=(1e-12, 1e-3), log=True)
MIN_NORM = Hyper(S.min_norm, "min_norm", 1e-6, 0.0, inf, doc="floor of the norms in the trust ratio",
                 special=(1e-6, 0.0), sample=(1e-8, 1e-2), log=True)

# timm 1.0.31's AdamP and SGDP (Heo et al. 2021): the cosine threshold and the decay's ratio where projected.
PROJECTION_DELTA = Hyper(S.projection_delta, "delta", 0.1, 0.0, inf,
                         doc="threshold of the cosine between gradient and weight, times the square root of the size",
                         special=(0.1, 0.0), sample=(1e-3, 10.0), log=True)
WD_RATIO = Hyper(S.wd_ratio, "wd_ratio", 0.1, 0.0, inf, doc="multiplies the weight decay where the update is projected",
                 special=(0.1, 1.0), sample=(1e-3, 1.0), log=True)

# AdEMAMix (pytorch-optimizer 4.1.0's names: ``betas`` is (β₁, β₂, β₃), α mixes in the slow average).
ADEMAMIX_BETA1 = BETA1
ADEMAMIX_BETA2 = BETA2
ADEMAMIX_BETA3 = BETA3.restricted(default=0.9999, library=("betas", 2), doc="decay of the slow moving average",
                                  special=(0.9999, 0.0, 0.9), sample=(0.01, 0.99999))
ADEMAMIX_ALPHA = Hyper(S.alpha, "alpha", 5.0, 0.0, inf, doc="weight of the slow moving average",
                       special=(5.0, 0.0), sample=(0.0, 20.0))
ADEMAMIX_WARMUP = Hyper(S.warmup_ab3, "t_alpha_beta3", 256.0, 0.0, inf, low_open=True,
                        doc="steps over which alpha and beta3 warm up", special=(256.0, 1.0), sample=(1.0, 300.0),
                        log=True)

# SOAP (pytorch-optimizer 4.1.0): the Kronecker factors' decay (the package's None, β₂, is its default
# value 0.95 here) and the steps between updates of their eigenbases.
SHAMPOO_BETA = Hyper(S.shampoo_beta, "shampoo_beta", 0.95, 0.0, 1.0, doc="decay of the Kronecker factors",
                     special=(0.95, 0.0, 0.9), sample=(0.01, 0.9999))
PRECONDITION_FREQUENCY = Hyper(S.frequency, "precondition_frequency", 10.0, 1.0, inf,
                               doc="steps between updates of the eigenbases", integer=True,
                               special=(10.0, 1.0, 2.0), sample=(1.0, 12.0))

# Prodigy (prodigyopt 1.1.2's names): the learning rate multiplies its estimate d (1 by default); β₃
# is its beta3 given (the package's None is √β₂: the rule's option ``beta3=False``).
PRODIGY_LR = LR.restricted(default=1.0, low_open=True, doc="learning rate, multiplying the estimate d",
                           special=(1.0,), sample=(1e-2, 10.0))
PRODIGY_BETA3 = BETA3.restricted(default=math.sqrt(0.999), library=None,
                                 doc="decay of the estimate's sums (the package's None is the root of beta2)",
                                 special=(0.0, 0.9), sample=(0.01, 0.9999))
PRODIGY_D0 = Hyper(S.d0, "d0", 1e-6, 0.0, inf, low_open=True, doc="the first estimate of the distance to the solution",
                   special=(1e-6,), sample=(1e-8, 1e-2), log=True, constructed=True)
PRODIGY_D_COEF = Hyper(S.d_coef, "d_coef", 1.0, 0.0, inf, low_open=True, doc="multiplies the estimate",
                       special=(1.0,), sample=(0.1, 10.0), log=True)
# G >= 1: the package takes any value, but below 1 its d shrinks at every step (and its test d == d0,
# which the rule writes, no longer means that d has not grown yet).
PRODIGY_GROWTH = Hyper(S.growth, "growth_rate", inf, 1.0, inf, high_open=False,
                       doc="the largest factor the estimate grows by in a step (inf: unbounded)",
                       special=(inf, 1.02, 1.0), sample=(1.0, 2.0))

# The hyperparameters a learning-rate schedule varies, the first a rule has: the paper's AdamW
# schedules its multiplier η_t, every other rule its learning rate (``symopt equiv`` treats it as an
# input of each step, like the gradient).
SCHEDULED = ("schedule_multiplier", "lr")

# The order hyperparameters are listed in, whatever the order of the transforms that own them.
ORDER = ("lr", "schedule_multiplier", "lr_decay", "momentum", "dampening", "alpha", "beta", "beta1", "beta2", "beta3", "eps", "eps_root", "weight_decay",
         "momentum_decay", "initial_accumulator_value", "trust_coefficient", "min_norm", "warmup_steps", "r", "weight_lr_power",
         "delta", "wd_ratio", "t_alpha_beta3", "d0", "d_coef", "growth_rate")

# timm 1.0.31's ADOPT, LaProp, MADGRAD and MARS (timm's constructor names; ``betas`` split as torch's).
CLIP_EXP = Hyper(S.clip_exp, "clip_exp", 0.333, 0.0, inf,
                 doc="ADOPT clips the normalised gradient to (t-1)^clip_exp", special=(0.333, 0.25, 0.0),
                 sample=(0.0, 1.0))
MADGRAD_MOMENTUM = MOMENTUM.restricted(doc="momentum: the parameters average the dual iterate with weight 1 - momentum",
                                       special=(0.9,), sample=(0.01, 0.99))
MARS_GAMMA = Hyper(S.mars_gamma, "gamma", 0.025, 0.0, inf, doc="weight of MARS's gradient correction",
                   special=(0.025, 0.0), sample=(0.0, 1.0))
# Their special values differ from the betas' (and κ's from 1), so that generated cases tell the 1-D
# step from MARS's on a matrix, which coincide where betas_1d = betas and κ = 1 (timm's defaults).
BETA1_1D = BETA1.restricted(symbol=S.beta1_1d, name="beta1_1d", library=("betas_1d", 0), default=0.9,
                            special=(0.5, 0.9),
                            doc="decay of the first moment of 1-D parameters (MARS's AdamW step)")
BETA2_1D = BETA2.restricted(symbol=S.beta2_1d, name="beta2_1d", library=("betas_1d", 1), default=0.99,
                            special=(0.5, 0.99),
                            doc="decay of the second moment of 1-D parameters (MARS's AdamW step)")
LR_1D_FACTOR = Hyper(S.lr_1d_factor, "lr_1d_factor", 1.0, 0.0, inf,
                     doc="multiplies the learning rate of 1-D parameters (MARS's AdamW step)", special=(1.0, 0.5),
                     sample=(0.01, 2.0))

# timm 1.0.31's corrected weight decay (``corrected_weight_decay=True``; arXiv 2506.02285): the decoupled
# decay scaled by η²/η_max instead of η, η_max the learning rate the class was built with, which timm keeps
# in each parameter group as ``max_lr_snapshot`` and reads there at every step. A rule with the option
# takes it with the default of its learning rate (:func:`symopt.transforms.corrected_decay`): at η = η_max
# the decay is the uncorrected one.
MAX_LR = Hyper(S.eta_max, "max_lr", 1e-3, 0.0, inf, low_open=True,
               doc="the peak learning rate the corrected decay divides by (timm's max_lr_snapshot)",
               special=(1e-3,), sample=(1e-6, 1.0), log=True, library="max_lr_snapshot")

# timm 1.0.31's min_dim_size_to_factor (both its Adafactors): a matrix is factored only where its sides reach
# it (16). Each rule says how a side is compared with it; verify's shapes (sides up to 4) take both branches
# only where the rule draws it below 16 as well.
MIN_DIM_SIZE_TO_FACTOR = Hyper(S.min_factor, "min_dim_size_to_factor", 16.0, 0.0, inf, integer=True,
                               doc="the size a matrix's sides are compared with to factor it", special=(16.0,))
