"""Adafactor's factored second moment: exact when g² has rank one; memory A + B; the step's size.

The rule keeps, for an A×B parameter, the moving averages R_t of the row means and C_t of the column
means of g², and estimates the second moment as R_t C_t / mean(R_t). Evaluated here on symbolic
matrices from the rule's own equations: the estimate equals g² when g² = r cᵀ (rank one), and not
for a rank-two g²; the state takes A + B numbers where Adam's takes 2AB; the decay is θ(1 - ηλ)
whatever the gradient; and the step is relative, at most d·min(η, 1/√t) times the parameters' RMS.
"""

from __future__ import annotations

import sympy as sp

from symopt import ops
from symopt import symbols as S
from symopt.core import STATE_SHAPES, Rule
from symopt.derive.base import (
    Derivation,
    Equation,
    Private,
    Step,
    Table,
    holds,
    private,
    prose,
)
from symopt.errors import NotDerivable

TITLE = "Factored second moments (Adafactor)"
REQUIRES = "second moments factored into row and column means (rowmean and colmean)"
SIDES = (3, 4)  # the symbolic matrices the estimate is evaluated on: A×B


def check(rule: Rule) -> None:
    """A state holding row means and column means, and the estimate made from them.

    Raises:
        NotDerivable: naming what is missing.
    """
    if not {s.shape for s in rule.arrays} >= {"rows", "columns"}:
        alike = all(s.shape == "param" for s in rule.arrays)
        raise NotDerivable(f"{rule.name}'s state holds no row and column means"
                           + (" (every state is shaped like the parameters)" if alike else "")
                           if rule.arrays else f"{rule.name} keeps no per-parameter state")
    if S.var_estimate not in {eq.lhs for eq in rule.equations}:
        raise NotDerivable(f"{rule.name} assigns no factored estimate V̂_t from its row and column means")


def applies(rule: Rule) -> bool:
    """Any rule whose state holds row means and column means."""
    return holds(check, rule)


def _matrix(expr: sp.Expr, env: dict) -> sp.Expr | sp.Matrix:
    """``expr`` evaluated on SymPy matrices: the arrays in ``env``, + and × elementwise, the table's
    matrix operations as matrix algebra."""
    if expr in env:
        return env[expr]
    if expr.is_Number or not (expr.free_symbols & set(env)):
        return expr
    if isinstance(expr, ops.Dot):
        return _matrix(expr.args[0], env) * _matrix(expr.args[1], env)
    if isinstance(expr, ops.RowMean):
        m = _matrix(expr.args[0], env)
        return m * sp.ones(m.cols, 1) / m.cols
    if isinstance(expr, ops.ColMean):
        m = _matrix(expr.args[0], env)
        return sp.ones(1, m.rows) * m / m.rows
    args = [_matrix(a, env) for a in expr.args]
    args = [a[0, 0] if isinstance(a, sp.MatrixBase) and a.shape == (1, 1) else a for a in args]
    matrices = [a for a in args if isinstance(a, sp.MatrixBase)]
    if not matrices:
        return expr.func(*args)
    shape = matrices[0].shape
    if expr.is_Add or expr.is_Mul:
        return sp.Matrix(*shape, lambda i, j: expr.func(*(a[i, j] if isinstance(a, sp.MatrixBase) else a for a in args)))
    if expr.is_Pow:
        base, exp = args
        return base.applyfunc(lambda e: e**exp)
    raise NotDerivable(f"cannot evaluate {expr.func.__name__} on matrices")


def estimate(rule: Rule, squares: sp.Matrix, mean_at_least_eps: bool = True) -> sp.Matrix:
    """V̂ at the first step (or for any t, with ``squares`` the moving average of g², by linearity) for
    an A×B parameter whose g² is ``squares``: the rule's equations, evaluated on matrices."""
    equations = {eq.lhs: eq.rhs for eq in rule.equations}
    factored = {S.ndim: 2, S.t: 1}
    env: dict = {}
    grads = sp.Matrix(*squares.shape, lambda i, j: sp.sqrt(squares[i, j]))
    env[S.g] = grads
    zero = sp.zeros
    env[S.row_var_prev], env[S.col_var_prev] = zero(squares.rows, 1), zero(1, squares.cols)
    for symbol in (S.beta2_hat, S.row_var, S.col_var):
        value = equations[symbol].xreplace(factored)
        env[symbol] = _matrix(value, env) if not isinstance(value, sp.Number) else value
    vhat = equations[S.var_estimate].xreplace(factored)
    if mean_at_least_eps:  # the assumption mean(R_t) ≥ ε₁: the max is the mean
        vhat = vhat.replace(lambda e: isinstance(e, sp.Max) and e.has(ops.ColMean),
                            lambda e: next(a for a in e.args if a.has(ops.ColMean)))
    return _matrix(vhat, env).applyfunc(sp.simplify)


def derivation(rule: Rule) -> Derivation:
    rows, cols = SIDES
    r = private(f"r1:{rows + 1}", positive=True)
    c = private(f"c1:{cols + 1}", positive=True)
    rank_one = sp.Matrix(rows, cols, lambda i, j: r[i] * c[j])
    got = estimate(rule, rank_one)
    exact = (got - rank_one).applyfunc(sp.simplify) == sp.zeros(rows, cols)
    if not exact:
        raise NotDerivable("the factored estimate is not exact for a rank-one g²")
    rank_two = sp.Matrix(rows, cols, lambda i, j: 1 if i == j < 2 else 0)
    off = estimate(rule, rank_two)
    # memory: the state's elements for an A×B parameter, against Adam's
    from symopt.optimizers import get

    shape = (S.rows, S.cols)
    elements = sp.Add(*(sp.Mul(*STATE_SHAPES[s.shape](shape)) for s in rule.arrays))
    adam = get("adam")
    adam_elements = sp.Add(*(sp.Mul(*STATE_SHAPES[s.shape](shape)) for s in adam.arrays))
    # weight decay and the relative step, from the θ equation
    theta = rule.step_map()[S.theta]
    decayed = sp.simplify(theta.xreplace({S.g: 0}))
    u = Private("RMS_U", positive=True)  # RMS(U_t) = ‖U_t‖_F/√N
    clipped = u / ops.FMax(1, u / S.clip)
    q = Private("q", nonnegative=True)  # RMS(U_t) = d(1 + q), at or above the threshold
    ceiling = sp.simplify((u / sp.Max(1, u / S.clip)).xreplace({u: S.clip * (1 + q)}))
    rms_theta = ops.Norm(S.theta_prev) / sp.sqrt(S.numel)
    equations = {eq.lhs: eq.rhs for eq in rule.equations}
    steps = (
        Step(prose(f"Take an A x B = {rows} x {cols} gradient whose square is rank one, g^2 = r c^T elementwise (every "
                   "nonnegative rank-one matrix is such a product), and evaluate the rule's equations on it, "
                   "at t = 1 (by linearity the same holds at any t for the moving average of g^2). The estimate:"),
             (Equation(Private("Vhat_t"), got),)),
        Step(prose("which is g^2 itself: the factored estimate is exact for a rank-one g^2. It is not for a rank-two "
                   "one: for g^2 with ones at (1, 1) and (2, 2) and zeros elsewhere it gives"),
             (Equation(Private("Vhat_t"), off),)),
        Step(prose("The state takes, for an A x B parameter, ", elements, " numbers (the unused vector moment is "
                   "one 0-d number), where Adam's takes ", adam_elements, ": O(A + B) against O(AB)."),
             ()),
        Step(prose("With no gradient the step is the decay alone, the same for every parameter and scaled by ",
                   S.eta, ", not by the relative step:"),
             (Equation(S.theta, decayed),)),
        Step(prose("The step itself is ", equations.get(S.rho_step, S.rho_step), " times ",
                   ops.FMax(S.eps2, rms_theta), " times the update clipped to an RMS of at most ", S.clip,
                   ": its RMS is ", clipped, ", at most ", ceiling, ", so the parameters move by at most ",
                   S.clip * sp.Min(S.eta, 1 / sp.sqrt(S.t)), " of their own RMS a step (once it is above ",
                   S.eps2, ")."),
             ()),
    )
    return Derivation(
        key="factored-moments",
        title=TITLE,
        rule=rule.name,
        summary=prose("When the factored second moment is exact, what it saves, and how large the steps are."),
        assumptions=(
            prose("a parameter of two dimensions or more (vectors keep the moving average of g^2 itself)"),
            prose("the mean of ", S.row_var, " is at least ", S.eps1, " (else ", S.eps1, " stands in for it)"),
            prose("for exactness: the moving average of g^2 has rank one (a rank-two case shows the error)"),
        ),
        steps=steps,
        results=(Equation(Private("state elements"), elements, when=(prose("an A x B parameter (two dimensions)"),)),
                 Equation(S.theta, decayed, when=(prose("no gradient, ", sp.Eq(S.g, 0, evaluate=False)),))),
        tables=(Table(prose("State elements for an A x B parameter"), (prose("rule"), prose("elements")),
                      ((rule.name, str(elements)), ("adam", str(adam_elements)))),),
        values={"exact": exact, "rank_two": off, "elements": elements, "adam_elements": adam_elements,
                "decayed": decayed, "ceiling": ceiling},
    )
