"""Weight norms under weight decay: the decay timescale, the equilibrium of scale-invariant weights,
and the time to shrink to a critical norm (the grokking timescale), checked on a random walk.

A scale-invariant weight (one followed by a normalisation) has a gradient orthogonal to it, of size
∝ 1/‖w‖. Weight decay shrinks ‖w‖, the gradient steps grow it (they are orthogonal: Pythagoras),
and the two balance. Written per coordinate, with ``σ²`` the gradient's mean square and ``W²`` the
weight's: the rule's step is linear in (θ, its states, g_t) once the states that only precondition
sit at their fixed point under E[g_t²] = σ²; with gradients uncorrelated from step to step and
orthogonal to θ_{t-1}, the second moments obey a discrete Lyapunov equation ``C = MCMᵀ + nnᵀσ²``,
which SymPy solves. Scale invariance, ``σ² = c/W²``, then fixes W (Kosson et al. 2023, "Rotational
equilibrium"; van Laarhoven 2017). The norm's slowest decay rate gives the timescale ≈ 1/(ηλ) for
decoupled decay, and the time to shrink from W₀ to W_c, ``t* ≈ ln(W₀/W_c)/(ηλ)``, the delay that
Liu et al. (2022, "Omnigrok") tie to grokking.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symopt import symbols as S
from symopt.core import Rule
from symopt.derive import analysis
from symopt.derive.base import (
    LONG_RUN,
    Derivation,
    Equation,
    Private,
    Step,
    Table,
    holds,
    need_elementwise,
    need_hypers,
    prose,
)
from symopt.derive.stability import _branch, _pinned, preconditioners
from symopt.errors import NotDerivable

TITLE = "Weight norms: decay timescale, equilibrium, time to a critical norm"
REQUIRES = ("a weight decay that enters the step linearly, outside the preconditioner, in a step linear in θ, its "
            "states and the gradient (not a sign, a maximum, a growing sum or an average whose weights change with t)")

SIGMA = Private("s_g", positive=True)  # RMS of the gradient per coordinate (σ in the docstrings)
NORM = Private("W", positive=True)  # RMS of the weight per coordinate, ‖w‖/√d
SCALE = Private("c", positive=True)  # scale invariance: σ² = c/W²
NORM0, CRITICAL = Private("W_0", positive=True), Private("W_c", positive=True)
EFOLDS = Private("N_e", positive=True)  # ln(W_0/W_c): the e-folds the norm shrinks by
TIMESCALE, SHRINK = Private("T_lamda", positive=True), Private("t_c", positive=True)
ANGULAR = Private("eta_r", positive=True)  # RMS of ‖θ_t − θ_{t−1}‖/‖θ_{t−1}‖ in equilibrium

DIMENSION = 256  # coordinates of the simulated weight
TOLERANCE = 0.05  # equilibrium norm and angular update within 5%; t* within 5%
# Simulated hyperparameters: ηλ = 0.01, so that the run is short (the derivation is exact in ηλ).
CASE = {"lr": 0.1}
RATE = 0.01  # the simulated κλ, the norm's decay per step without gradient
# Adaptive rules: the second moment's memory shortened (β₂ = 0.99) so that it tracks σ² in a short run.
ADAPTIVE_CASE = {"lr": 0.01, "beta2": 0.99}


def check(rule: Rule) -> None:
    """A weight decay and a learning rate, elementwise, and an equilibrium SymPy derives.

    Raises:
        NotDerivable: naming what is missing or where the derivation stops.
    """
    need_hypers(rule, "weight_decay", "lr")
    need_elementwise(rule)
    equilibrium(rule)  # raises where the equilibrium is not a number once the hyperparameters are given


def applies(rule: Rule) -> bool:
    """Rules with a weight decay and a learning rate whose equilibrium SymPy derives."""
    return holds(check, rule)


@dataclass(frozen=True)
class LinearStep:
    """``x_t = M x_{t-1} + n g_t`` per coordinate, for ``x = (θ, states)``, preconditioners settled."""

    variables: tuple
    matrix: sp.Matrix
    gradient: sp.Matrix
    settled: dict
    branches: tuple = ()  # the cases taken at the default hyperparameters (ψ > 0)


@functools.lru_cache(maxsize=64)
def linear_step(rule: Rule) -> LinearStep:
    """The rule as a linear map of (θ, states) and g_t, as t → ∞, its preconditioning states at their
    fixed point under E[g_t²] = σ² (Adam's v̂_t = σ²).

    Raises:
        NotDerivable: if a preconditioner has no fixed point SymPy can solve for, or the step is not
            linear in θ, the states and g_t (a sign, a maximum).
    """
    frozen = preconditioners(rule)
    step = rule.step_map()
    settled: dict = {}
    for state in frozen:
        value = analysis.long_run(step[state.new], rule).xreplace({rule.hyper("weight_decay").symbol: 0})
        value = value.replace(lambda e: e.is_Pow and e.base == S.g and e.exp == 2, lambda e: SIGMA**2)
        value = value.replace(lambda e: isinstance(e, sp.Abs) and e.args[0] == S.g, lambda e: SIGMA)
        if value.has(S.g):
            raise NotDerivable(f"its preconditioner {state.name} is not a moment of g_t")
        found = sp.solve(value - state.prev, state.prev) if not value.has(sp.Max) else []
        if len(found) != 1:
            raise NotDerivable(f"SymPy finds no fixed point of its preconditioner {state.name} under E[g_t²] = σ²")
        settled[state.prev] = settled[state.new] = found[0]
    if rule.scalars:
        try:
            values = analysis.steady_state(rule, {rule.hyper("weight_decay").symbol: 0})
        except NotDerivable:
            raise NotDerivable("its scalar state has no long-run value") from None
        settled.update({s.prev: values[s.new] for s in rule.scalars})
    env = {**settled, **_pinned(rule)}
    branches: list = []
    for eq in rule.equations:
        if eq.lhs in settled:
            continue
        # a case split on a hyperparameter (NAdam's μ_t → β₁ if ψ > 0, β₁/2 at ψ = 0): the case at the defaults
        env[eq.lhs], taken = _branch(rule, analysis.long_run(eq.rhs.xreplace(env), rule))
        branches += [c for c in taken if c not in branches]
    variables = (S.theta_prev, *(s.prev for s in rule.arrays if s not in frozen))
    outputs = [env[S.theta], *(env[s.new] for s in rule.arrays if s not in frozen)]
    inputs = (*variables, S.g)
    for out in outputs:
        if any(sp.diff(out, x, y) != 0 for x in inputs for y in inputs) or out.has(sp.Piecewise, sp.sign):
            raise NotDerivable("its step is not linear in θ, its states and g_t")
    matrix = sp.Matrix([[sp.diff(out, x) for x in variables] for out in outputs])
    gradient = sp.Matrix([sp.diff(out, S.g) for out in outputs])
    if sp.diff(matrix, rule.hyper("weight_decay").symbol).has(SIGMA):
        raise NotDerivable("its decay passes through the preconditioner (divided by the gradient's RMS), so decay and "
                           "gradient noise do not balance linearly: no closed-form equilibrium")
    return LinearStep(variables, matrix, gradient, settled, tuple(branches))


@functools.lru_cache(maxsize=64)
def second_moments(rule: Rule) -> sp.Matrix:
    """The stationary ``C = E[x xᵀ]`` per coordinate: ``C = MCMᵀ + nnᵀσ²`` solved by SymPy."""
    lin = linear_step(rule)
    k = len(lin.variables)
    unknowns = {(i, j): sp.Dummy(f"C{i}{j}") for i in range(k) for j in range(i, k)}
    C = sp.Matrix(k, k, lambda i, j: unknowns[(min(i, j), max(i, j))])
    E = lin.matrix * C * lin.matrix.T + lin.gradient * lin.gradient.T * SIGMA**2 - C
    equations = [E[i, j] for (i, j) in unknowns]
    A, b = sp.linear_eq_to_matrix(equations, list(unknowns.values()))
    if A.det() == 0:
        raise NotDerivable("its second moments have no unique stationary value")
    solution = dict(zip(unknowns.values(), A.LUsolve(b)))
    return C.xreplace(solution).applyfunc(sp.factor)


@functools.lru_cache(maxsize=64)
def equilibrium(rule: Rule) -> dict:
    """W, the angular update η_r and the decay timescale, derived; ε → 0 (ε ≪ σ).

    Returns:
        ``{"norm": W, "angular": η_r, "timescale": T_λ, "rate": κ}`` with T_λ = −1/ln(μ) for μ the
        slowest eigenvalue of M, and κ its first-order rate, μ ≈ 1 − κλ.
    """
    lin = linear_step(rule)
    lam = rule.hyper("weight_decay").symbol
    no_eps = {h.symbol: 0 for h in rule.hypers if h.name == "eps"}
    C = second_moments(rule).xreplace(no_eps)
    w2 = analysis.factor(C[0, 0])
    # the chord: E‖θ_t − θ_{t−1}‖² = (M − I)₀ C (M − I)₀ᵀ + n₀²σ² (g_t uncorrelated with x_{t−1})
    row = (lin.matrix - sp.eye(len(lin.variables)))[0, :].xreplace(no_eps)
    chord = (row * C * row.T)[0, 0] + (lin.gradient[0] ** 2).xreplace(no_eps) * SIGMA**2
    angular2 = sp.factor(chord / C[0, 0])
    # scale invariance: σ² = c/W². The Lyapunov equation is linear in σ², so C₀₀ = Aσ² + B and
    # W² = A·c/W² + B has one positive root, W² = (B + √(B² + 4Ac))/2.
    A = sp.factor(sp.diff(w2, SIGMA, 2) / 2)
    B = sp.factor(w2 - A * SIGMA**2)
    if B.has(SIGMA) or A.has(SIGMA):
        raise NotDerivable("its stationary mean square is not linear in the gradient's")
    found = [B if A == 0 else (A * SCALE if B == 0 else None)]
    if found[0] is None:
        found = [(B + sp.sqrt(B**2 + 4 * A * SCALE)) / 2]
    elif A != 0:
        found = [sp.sqrt(A * SCALE)]
    norm = analysis.factor(sp.sqrt(found[0]))
    angular = analysis.factor(sp.sqrt(sp.factor(angular2.xreplace({SIGMA: sp.sqrt(SCALE) / norm}))))
    # the slowest decay: without gradient, the eigenvalue of M that tends to 1 as λ → 0
    # the root μ = 1 of det(μI − M) at λ = 0 moves by dμ/dλ = −(∂p/∂λ)/(∂p/∂μ) (implicit function theorem)
    mu = sp.Dummy("mu")
    p = (mu * sp.eye(len(lin.variables)) - lin.matrix.xreplace(no_eps)).det()
    at = {mu: 1, lam: 0}
    slope = sp.diff(p, mu).xreplace(at)
    if sp.expand(p.xreplace(at)) != 0 or sp.simplify(slope) == 0:
        raise NotDerivable("without gradient its norm has no single slowest decay mode")
    rate = analysis.factor(sp.diff(p, lam).xreplace(at) / slope)
    # a number once the hyperparameters are given (a warm-up's min(α, tα/T) left in it is not): said
    # before the series in λ, which such a schedule makes take minutes
    left = set().union(*(e.free_symbols for e in (norm, angular, rate))) - {h.symbol for h in rule.hypers} - {SCALE}
    if left:
        raise NotDerivable(f"the equilibrium depends on {', '.join(sorted(map(str, left)))} beyond the "
                           "hyperparameters (a schedule of the step t)")
    return {"norm": norm, "angular": angular, "slowest": 1 - rate * lam, "rate": rate,
            "timescale": 1 / (rate * lam), "shrink": EFOLDS / (rate * lam),
            "series": analysis.factor(sp.series(angular, lam, 0, 1).removeO()) if angular.has(lam) else angular}


# --- simulation: a random walk of a scale-invariant weight ------------------------------------------
SETTLE_FROM = 2.0  # the equilibrium run starts at 2x the derived norm, so that a wrong value would relax away
SETTLE, MEASURE = 6, 4  # ... runs 6 T_λ to settle (AdamW's lagging v̂_t needs that), then measures over 4 T_λ


@dataclass(frozen=True)
class Walk:
    hyper: dict
    derived_norm: float
    measured_norm: float
    derived_angular: float
    measured_angular: float
    derived_shrink: float
    measured_shrink: float
    steps: int
    unsettled_norm: float = math.nan  # W over the second half of t* + 6 T_λ steps from 30x: outside the assumptions
    settle: int = 0  # steps of the equilibrium run before it measures
    measure: int = 0  # steps it measures over

    def errors(self) -> tuple[float, float, float]:
        return (abs(self.measured_norm / self.derived_norm - 1), abs(self.measured_angular / self.derived_angular - 1),
                abs(self.measured_shrink / self.derived_shrink - 1))


def _case(rule: Rule) -> dict:
    """The simulated hyperparameters: the case's, with λ set so that the derived decay rate κλ is 0.01."""
    case = {k: v for k, v in (ADAPTIVE_CASE if preconditioners(rule) else CASE).items() if rule.hyper(k)}
    values = {h.symbol: sp.Float(case.get(h.name, h.default)) for h in rule.hypers}
    rate = float(equilibrium(rule)["rate"].xreplace(values).xreplace({h.symbol: 0 for h in rule.hypers if h.name == "eps"}))
    case["weight_decay"] = RATE / rate
    return case


def _values(rule: Rule) -> dict:
    """The simulated hyperparameters as SymPy numbers: the case's, the rest at their defaults, ε = 0."""
    values = {h.symbol: sp.Float(h.default) for h in rule.hypers}
    values.update({rule.hyper(k).symbol: sp.Float(v) for k, v in _case(rule).items()})
    values.update({h.symbol: 0 for h in rule.hypers if h.name == "eps"})
    return values


def _walk(rule: Rule, rng: np.random.Generator, norm: float, steps: int, c: float):
    """The rule's kernel on :data:`DIMENSION` coordinates, starting at RMS ``norm``, its gradient Gaussian
    noise projected orthogonal to θ, of mean square c/W² per coordinate: yields (t, W_t, angular update)."""
    hyper = _case(rule)
    theta = rng.standard_normal(DIMENSION)
    theta *= norm * math.sqrt(DIMENSION) / np.linalg.norm(theta)
    kernel = rule.kernel()
    state = kernel.init(theta, **hyper)
    # t → ∞ as the derivation assumes: the step counter starts where the rule's step-dependent scalars
    # (NAdam's μ_t, RAdam's r_t) are within 1% of their limits (at step 1 for a rule without them)
    late = analysis.settling_time(rule, hyper)
    first = late if late else 1
    for t in range(first, first + steps):
        w = np.linalg.norm(theta) / math.sqrt(DIMENSION)
        xi = rng.standard_normal(DIMENSION)
        xi -= theta * (xi @ theta) / (theta @ theta)
        xi *= math.sqrt(DIMENSION / (DIMENSION - 1))  # mean square 1 per coordinate after the projection
        before = theta.copy()
        kernel.step(theta, math.sqrt(c) / w * xi, state, t, inplace=True, **hyper)
        yield t - first + 1, np.linalg.norm(theta) / math.sqrt(DIMENSION), np.linalg.norm(theta - before) / np.linalg.norm(before)


def simulate(rule: Rule, seed: int = 0, c: float = 1.0, start: float = 30.0, critical: float = 10.0) -> Walk:
    """Two runs of :func:`_walk`. The first starts at ``start`` times the derived equilibrium norm and
    measures t* as the first step at which W falls below ``critical`` times it (derived:
    ln(start/critical)·T_λ, which neglects the gradient's growth of the norm, a (critical)⁻⁴
    correction for SGD). The second starts at :data:`SETTLE_FROM` times the derived norm, settles for
    :data:`SETTLE` T_λ and measures W and the angular update as root-mean-squares over :data:`MEASURE` T_λ.

    The first run also reports W over the second half of t* + 6 T_λ steps (``unsettled_norm``): a
    measurement outside the assumptions. An adaptive rule's v̂_t lags the gradient's growth as the norm
    shrinks (its steps are larger than in equilibrium), so it approaches the equilibrium slowly and
    from above: AdamW's W there is 26% above its equilibrium.
    """
    values = _values(rule)
    derived = equilibrium(rule)
    norm = float(derived["norm"].xreplace(values).xreplace({SCALE: c}))
    angular = float(derived["angular"].xreplace(values).xreplace({SCALE: c}))
    timescale = float(derived["timescale"].xreplace(values))
    shrink = math.log(start / critical) * timescale
    rng = np.random.default_rng(seed)
    steps = int(shrink + 6 * timescale)
    crossed, late = None, []
    for t, w, _ in _walk(rule, rng, start * norm, steps, c):
        if crossed is None and w < critical * norm:
            crossed = t
        if t > steps // 2:
            late.append(w**2)
    settle, measure = int(SETTLE * timescale), int(MEASURE * timescale)
    norms, chords = [], []
    for t, w, chord in _walk(rule, rng, SETTLE_FROM * norm, settle + measure, c):
        if t > settle:
            norms.append(w**2)
            chords.append(chord**2)
    return Walk(_case(rule), norm, math.sqrt(np.mean(norms)), angular, math.sqrt(np.mean(chords)), shrink,
                float(crossed if crossed is not None else math.inf), steps, math.sqrt(np.mean(late)), settle, measure)


def _table(rule: Rule, walk: Walk) -> Table:
    late = analysis.settling_time(rule, walk.hyper)
    rows = []
    for name, derived, measured, error in zip(
            ("equilibrium W", "angular update", "t_c (30x to 10x)"),
            (walk.derived_norm, walk.derived_angular, walk.derived_shrink),
            (walk.measured_norm, walk.measured_angular, walk.measured_shrink), walk.errors()):
        rows.append((name, derived, measured, error, "agrees" if error <= TOLERANCE else "DIFFERS"))
    unsettled = abs(walk.unsettled_norm / walk.derived_norm - 1)
    rows.append(("W not yet settled (outside)", walk.derived_norm, walk.unsettled_norm, unsettled,
                 "agrees" if unsettled <= TOLERANCE else "differs, as expected outside the assumptions"))
    hyper = ", ".join(f"{k}={v:g}" for k, v in walk.hyper.items())
    return Table(
        title=prose(f"Random walk of a scale-invariant weight with {rule.name}'s kernel"),
        columns=(prose("quantity"), prose("derived"), prose("measured"), prose("relative error"),
                 prose(f"within {TOLERANCE:.0%}")),
        rows=tuple(rows),
        note=prose(f"{DIMENSION} coordinates, {hyper}, other hyperparameters at their defaults (eps as the "
                   f"kernel has it), seed 0; the gradient is Gaussian noise projected orthogonal to theta, of mean square "
                   f"c/W^2 per coordinate with c = 1. W and the angular update: root-mean-squares over {walk.measure} steps "
                   f"after {walk.settle} steps from {SETTLE_FROM:g}x the derived equilibrium; t_c: a run from 30x. The last "
                   f"row, outside the assumptions: W over the second half of that run ({walk.steps} steps), before it "
                   "has settled; an adaptive rule's preconditioner lags the growing gradient as the norm shrinks, so "
                   "its steps are larger and the norm approaches its equilibrium slowly, from above."
                   + (f" The step counter starts at {late} in both runs, where the rule's step-dependent scalars "
                      "are within 1% of their limits (t to infinity, as derived)." if late else "")),
    )


def derivation(rule: Rule) -> Derivation:
    """The linear step, the stationary second moments, the equilibrium, the timescales, a random walk."""
    lin = linear_step(rule)
    eq = equilibrium(rule)
    frozen = preconditioners(rule)
    x = lin.variables
    new = [S.theta, *(s.new for s in rule.arrays if s not in frozen)]
    assumptions = [
        prose("a scale-invariant weight: its gradient is orthogonal to ", S.theta_prev, " and its mean square per "
              "coordinate is ", sp.Eq(SIGMA**2, SCALE / NORM**2), ", with ", NORM, " the weight's RMS per coordinate"),
        prose("gradients uncorrelated from step to step (a random walk); many coordinates, so ", NORM,
              " is the same for every coordinate"),
        prose(S.Tends(S.t, sp.oo), ": bias corrections at 1, the state at its stationary second moments (the norm "
              "settled: an adaptive rule's preconditioner lags while the norm shrinks, see the last row of the table)"),
    ]
    for condition in lin.branches:
        assumptions.append(prose("the case taken at the default hyperparameters: ", condition, " (the long-run "
                                 "step splits on it; the other case is not derived here)"))
    if frozen:
        assumptions.append(prose("the preconditioner at its fixed point under ", sp.Eq(S.Mean(S.g**2), SIGMA**2),
                                 " and ", S.epsilon, " much smaller than ", SIGMA, " (epsilon -> 0)"))
    steps = [
        Step(prose("Per coordinate the step is linear in the previous values and ", S.g, ":"),
             tuple(Equation(new[i], sum((analysis.factor(lin.matrix[i, j]) * x[j] for j in range(len(x))), sp.S.Zero)
                            + analysis.factor(lin.gradient[i]) * S.g) for i in range(len(x)))),
        Step(prose("Stationary mean square of ", S.theta, " (the discrete Lyapunov equation ",
                   "C = M C M^T + n n^T s_g^2, solved by SymPy)", ", with epsilon -> 0:" if frozen else ":"),
             (Equation(NORM**2, analysis.factor(second_moments(rule)[0, 0].xreplace({S.epsilon: 0}))),)),
        Step(prose("Scale invariance, ", sp.Eq(SIGMA**2, SCALE / NORM**2), ", fixes the equilibrium norm and the "
                   "RMS angular update ", sp.Eq(ANGULAR, sp.sqrt(S.Mean((S.theta - S.theta_prev)**2) / S.Mean(S.theta_prev**2))), ":"),
             (Equation(NORM, eq["norm"]), Equation(ANGULAR, eq["angular"]))),
        Step(prose("Without gradient the norm decays with the slowest eigenvalue of M, ", eq["slowest"],
                   " = 1 - kappa lambda to first order; its timescale, and the time to shrink from ", NORM0, " to ",
                   CRITICAL, ", by ", EFOLDS, " = ln(W_0/W_c) e-folds:"),
             (Equation(TIMESCALE, eq["timescale"]), Equation(SHRINK, eq["shrink"]))),
    ]
    when = (prose("a scale-invariant weight, ", sp.Eq(SIGMA**2, SCALE / NORM**2)), prose("uncorrelated gradients"),
            LONG_RUN(), *((prose(S.epsilon, " → 0 (", S.epsilon, " ≪ ", SIGMA, ")"),
                           prose("the preconditioner at its fixed point")) if frozen else ()),
            *(prose(c) for c in lin.branches))
    walk = simulate(rule)
    return Derivation(
        key="norms",
        title=TITLE,
        rule=rule.name,
        summary=prose(f"How fast {rule.name}'s weight decay shrinks a weight, where a scale-invariant weight's norm "
                      "settles between decay and gradient noise, and how fast it turns there."),
        assumptions=tuple(assumptions) + (prose("for ", SHRINK, " only: the gradient's growth of the norm is "
                                                "negligible, ", NORM, " well above its equilibrium"),),
        steps=tuple(steps),
        results=(Equation(NORM, eq["norm"], when=when), Equation(ANGULAR, eq["angular"], when=when),
                 Equation(SHRINK, eq["shrink"], when=(*when, prose(NORM, " well above its equilibrium")))),
        tables=(_table(rule, walk),),
        values={**eq, "simulation": walk},
    )
