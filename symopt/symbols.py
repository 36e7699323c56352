"""Every SymPy symbol symopt uses, declared once.

Two SymPy symbols with the same name and different assumptions are different symbols and never
cancel, so rules, derivations and printers all import their symbols from here.

Names are plain Python identifiers, so that ``lambdify`` can use them as argument names, and SymPy
already typesets most of them (``beta1`` prints as ``\\beta_{1}``, ``mhat_t`` as ``\\hat{m}_{t}``).
The few it cannot (the values at step t-1) are given their notation by :mod:`symopt.printing`.

Assumptions are deliberate. Hyperparameters are nonnegative (a learning rate or a decay below zero
is an error, not a rule), the step counter is a positive integer, second moments are nonnegative.
Values that may take either sign (parameters, gradients, first moments) are only ``real``.
"""

from sympy import Function, Symbol

# The step counter: the step being taken, counting from 1 as in torch.optim.
t = Symbol("t", integer=True, positive=True)

# Parameters and gradient.
theta = Symbol("theta_t", real=True)  # θ_t, the parameter after the step
theta_prev = Symbol("theta_tm1", real=True)  # θ_{t-1}, the parameter before the step
g = Symbol("g_t", real=True)  # g_t, the gradient at θ_{t-1}

# State: each variable has its value after the step and its value before it.
m = Symbol("m_t", real=True)  # first moment (Adam), moving average of g
m_prev = Symbol("m_tm1", real=True)
v = Symbol("v_t", real=True)  # velocity (momentum) or second moment (Adam); the note uses v for both
v_prev = Symbol("v_tm1", real=True)

# Intermediates.
mhat = Symbol("mhat_t", real=True)  # bias-corrected first moment
vhat = Symbol("vhat_t", nonnegative=True)  # bias-corrected second moment

# Hyperparameters, in the note's letters.
eta = Symbol("eta", nonnegative=True)  # learning rate
rho = Symbol("rho", nonnegative=True)  # momentum factor
tau = Symbol("tau", nonnegative=True)  # dampening, as in the torch.optim.SGD documentation
beta1 = Symbol("beta1", nonnegative=True)  # first-moment decay
beta2 = Symbol("beta2", nonnegative=True)  # second-moment decay
epsilon = Symbol("epsilon", positive=True)  # keeps the denominator away from zero
lam = Symbol("lamda", nonnegative=True)  # weight decay (SymPy spells λ "lamda": "lambda" is a Python keyword)

# Quantities that only derivations talk about.
lam_eff = Symbol("lamda_eff", real=True)  # effective weight decay


def lam_eff_through(path: str) -> Symbol:
    """The term of λ_eff that flows through one state variable (``"m"``, ``"v"``) or ``"direct"``."""
    return Symbol(f"lamda_eff_{path}", real=True)


theta0 = Symbol("theta_0", real=True)  # θ₀, the parameter before the first step


class Tends(Function):
    """``Tends(t, oo)`` is the phrase "t → ∞" in a sentence (printed by :mod:`symopt.printing`)."""

    nargs = 2


class Mean(Function):
    """``Mean(x)`` is the expectation E[x] over the gradient noise, with θ held fixed."""

    nargs = 1
    is_real = True
