"""The largest curvature a rule is stable on: linearise on a quadratic, solve Jury's conditions.

On the loss ``½aθ²`` the gradient is ``g_t = aθ_{t-1}``. Put that into the rule's equations, take
t → ∞ (bias corrections at 1, first-step branches gone), and hold fixed the states that only
precondition (those even in g_t: Adam's v, AMSGrad's maximum, Adamax's u): what is left is a linear
recurrence of θ and the other states, whose transition matrix has a characteristic polynomial in z.
The iteration converges while every root lies inside the unit circle (Jury's, or Schur–Cohn's,
conditions); SymPy solves the conditions for the largest stable curvature a. Nothing knows a rule:
SGD's 2/η, heavy ball's 2(1+ρ)/((1−τ)η) and Adam's (2+2β₁)/((1−β₁)η), in units of the
preconditioned curvature (Cohen et al. 2021, 2022), all come out of the same computation, and a
simulation with the rule's compiled kernel checks each at 0.97× and 1.03× the threshold.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symopt import ops
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
from symopt.errors import NotDerivable

TITLE = "Stability threshold on a quadratic"
FIGURE = "stability.png"  # heavy ball's stability region, derived and simulated (symopt.plot)
REQUIRES = ("a step whose linearisation on a quadratic depends on the curvature and settles as t → ∞ (not a sign, "
            "a sum of squares that grows without bound, or an average whose weights change with t)")

CURVATURE = Private("a", positive=True)  # the curvature of the quadratic loss ½aθ²
Z = Private("z")  # the variable of the characteristic polynomial
FACTORS = (0.97, 1.03)  # the simulated curvatures, as multiples of the derived threshold
START = 10**6  # the step counter the simulation starts from: t → ∞, as the derivation assumes
HELD = 1.0  # the value a held (preconditioning) state is kept at in the simulation
CONVERGED, DIVERGED = 1e-2, 1e2  # |θ_N|/|θ_0| below: converged; above: diverged
GROWTH = 1e4  # the simulation runs until the predicted |θ_N|/|θ_0| is 1/GROWTH (converging) or GROWTH
MAX_STEPS = 20_000


def check(rule: Rule) -> None:
    """An elementwise rule with a learning rate whose linearised step has a threshold.

    Raises:
        NotDerivable: with the reason :func:`threshold` found.
    """
    need_hypers(rule, "lr")
    need_elementwise(rule)
    threshold(rule)


def applies(rule: Rule) -> bool:
    """Elementwise rules with a learning rate whose linearised step has a threshold (see :func:`threshold`)."""
    return holds(check, rule)


@dataclass(frozen=True)
class Linearisation:
    """A rule on ``½aθ²`` near θ = 0, as t → ∞: ``x_t = M x_{t-1}`` for ``x = (θ, states)``.

    ``held`` maps each held quantity (a preconditioning state and what is computed from it alone,
    Adam's v_t and v̂_t) to its value, in the previous held state with g_t = 0; ``branches`` lists
    the conditions of the branches taken (RAdam's ρ_∞ > 5).
    """

    rule: Rule
    variables: tuple[sp.Symbol, ...]
    matrix: sp.Matrix
    held: dict
    frozen: tuple[str, ...]
    branches: tuple[sp.Basic, ...]
    scalars: dict
    # the rule's step-dependent scalars (NAdam's μ_t, μ_{t+1}; RAdam's ρ_t, r_t), kept as symbols frozen
    # at their step-t values: the finite-t form; each maps to its long-run value (a case split on a
    # hyperparameter where the limit depends on one: μ_t → β₁ if ψ > 0, β₁/2 at ψ = 0). Scalar states
    # (NAdam's Π_t = μ_1···μ_t, below β₁ᵗ) are at their long-run values in both forms.
    kept: dict = None
    powers: bool = False  # a power of t in the step (a bias correction), taken at its limit

    def numeric(self, values: dict) -> dict:
        """``values`` with each kept scalar at its long-run value there."""
        out = dict(values)
        for symbol, limit in (self.kept or {}).items():
            out[symbol] = sp.Float(limit.xreplace(out).evalf())
        return out


def _decay(rule: Rule) -> sp.Symbol | None:
    decay = rule.hyper("weight_decay")
    return decay.symbol if decay else None


def _pinned(rule: Rule) -> dict:
    """Hyperparameters whose range is one value (Nesterov's dampening, [0, 0]) at that value."""
    return {h.symbol: sp.nsimplify(h.low) for h in rule.hypers if h.low == h.high}


def preconditioners(rule: Rule) -> tuple:
    """The array states that only precondition: their update, without decay, is even under the sign
    flip θ → −θ of the quadratic, which flips g_t and every state that is not itself even.

    Found from the inside out: a state is even if its update is, with g_t and the states not yet
    found even flipped (Adam's v first, then AMSGrad's maximum of it; AdaBelief's s_t of (g_t − m_t)²
    and Adan's n_t of its look-ahead gradient, with m_t and g_{t-1} flipped).
    """
    step = rule.step_map()
    lam = _decay(rule)
    updates = {state: analysis.long_run(step[state.new].xreplace({lam: 0} if lam else {}), rule)
               for state in rule.arrays}
    even: list = []
    grown = True
    while grown:
        grown = False
        for state, value in updates.items():
            if state in even or not value.has(S.g):
                continue
            flip = {S.g: -S.g, **{s.prev: -s.prev for s in rule.arrays if s is not state and s not in even}}
            if sp.expand(value.xreplace(flip) - value) == 0:
                even.append(state)
                grown = True
    return tuple(s for s in rule.arrays if s in even)


@functools.lru_cache(maxsize=64)
def linearise(rule: Rule, decay: bool = False) -> Linearisation:
    """The transition matrix of the rule on ``½aθ²`` (see :class:`Linearisation`).

    Args:
        rule: the rule.
        decay: keep the weight decay λ (else λ = 0).

    Raises:
        NotDerivable: if a preconditioning state never settles (Adagrad's sum), the scalar state has
            no long-run value, or the step does not depend on the curvature to first order (Lion's sign).
    """
    if not rule.elementwise:
        raise NotDerivable(f"{rule.name} acts on whole matrices: the quadratic ½aθ² is linearised element by element")
    lam = _decay(rule)
    frozen = preconditioners(rule)
    step = rule.step_map()
    for state in frozen:
        keep = sp.diff(analysis.long_run(step[state.new], rule), state.prev).xreplace({S.g: 0})
        keep = keep.xreplace({state.prev: 1}) if keep.has(state.prev) else keep
        if keep == 1:
            raise NotDerivable(f"its preconditioner {state.name} adds g_t² without decay, so it grows without "
                               "bound and the step's scale on a quadratic keeps shrinking: there is no fixed threshold")
    scalars = {}
    if rule.scalars:
        names = ", ".join(s.name for s in rule.scalars)
        try:
            settled = analysis.steady_state(rule, {lam: sp.S.Zero} if lam else None)
        except NotDerivable:
            raise NotDerivable(f"its scalar state ({names}) has no long-run value, so the linearised step keeps "
                               "changing with t and has no fixed characteristic polynomial") from None
        scalars = {s.prev: settled[s.new] for s in rule.scalars}
        moving = [s.name for s in rule.scalars if settled[s.new].has(S.t)]
        if moving:
            raise NotDerivable(f"its scalar state ({', '.join(moving)}) still changes with t as t → ∞ (a step size "
                               "that keeps decaying), so the linearised step has no fixed characteristic polynomial")
    env: dict = {S.g: CURVATURE * S.theta_prev, **scalars, **_pinned(rule)}
    if lam is not None and not decay:
        env[lam] = sp.S.Zero
    frozen_new = {s.new for s in frozen}
    dynamic = {S.theta_prev, *(s.prev for s in rule.arrays if s.new not in frozen_new)}
    # a held state's previous value, where an equation reads it directly (Adadelta's ū_{t-1}), is held too
    held: dict = {s.prev: s.prev for s in frozen}
    branches: list = []
    kept: dict = {}
    powers: list = []
    for eq in rule.equations:
        given = eq.rhs.xreplace(env)
        if eq.lhs not in S.ARRAYS and not given.free_symbols & S.ARRAYS and (given.has(S.t) or given.has(*kept)):
            # a step-dependent scalar: kept at its step-t value, its limit recorded
            kept[eq.lhs] = analysis.long_run(given.xreplace(kept), rule)
            if kept[eq.lhs].has(S.t):
                raise NotDerivable(f"its step-dependent {eq.lhs} still changes with t as t → ∞, so the linearised "
                                   "step has no fixed characteristic polynomial")
            env[eq.lhs] = eq.lhs
            continue
        rhs = analysis.long_run(given, rule)
        if eq.lhs not in frozen_new and rhs != given and given.has(S.t):
            powers.append(eq.lhs)
        rhs, taken = _branch(rule, rhs, kept)
        branches += taken
        if eq.lhs in frozen_new or (not rhs.free_symbols & dynamic and rhs.free_symbols & set(held)):
            held[eq.lhs] = rhs
            env[eq.lhs] = eq.lhs
        else:
            env[eq.lhs] = rhs
    variables = (S.theta_prev, *(s.prev for s in rule.arrays if s.new not in frozen_new))
    outputs = [env[S.theta], *(env[s.new] for s in rule.arrays if s.new not in frozen_new)]
    origin = {x: 0 for x in variables}
    matrix = sp.Matrix([[ops.almost_everywhere(sp.diff(out, x))[0].xreplace(origin) for x in variables]
                        for out in outputs])
    lin = Linearisation(rule, variables, matrix, held, tuple(s.name for s in frozen), tuple(branches), scalars, kept,
                        any(p not in held for p in powers))
    if not _characteristic(lin).has(CURVATURE):
        used = ", ".join(sorted({op.name for out in outputs for op in ops.used(out)})) or "its equations"
        raise NotDerivable(f"to first order its step does not depend on the curvature (it passes g_t through {used}): "
                           "the step has the same size on every quadratic, so it oscillates rather than diverges")
    return lin


def _cases(expr: sp.Expr) -> list[sp.Expr]:
    """The values of a case split, or ``[expr]``."""
    return [v for v, _ in expr.args] if isinstance(expr, sp.Piecewise) else [expr]


def _infinite_at(rule: Rule, value: sp.Expr) -> list[sp.Eq]:
    """The hyperparameter values in their ranges (besides η = 0) where the threshold ``value``'s
    denominator vanishes: there is no threshold there, e.g. momentum's τ = 1."""
    hypers = {h.symbol: h for h in rule.hypers if h.symbol != S.eta}
    found = []
    for factor in sp.Mul.make_args(sp.factor(sp.denom(sp.together(value)))):
        for symbol in sorted(factor.free_symbols & hypers.keys(), key=str):
            for root in sp.solve(factor, symbol):
                if root.is_number and root.is_real and hypers[symbol].contains(float(root)):
                    found.append(sp.Eq(symbol, root))
    return found


def _branch(rule: Rule, expr: sp.Expr, kept: dict | None = None) -> tuple[sp.Expr, list]:
    """Take, in each remaining branch on the hyperparameters (and kept scalars, at their long-run
    values), the one that holds at the defaults."""
    defaults = {h.symbol: sp.Float(h.default) for h in rule.hypers}
    for symbol, limit in (kept or {}).items():
        defaults[symbol] = limit.xreplace(defaults)
    taken = []
    for piece in expr.atoms(sp.Piecewise):
        for branch, condition in piece.args:
            if condition is sp.true or bool(condition.xreplace(defaults)):
                expr = expr.xreplace({piece: branch})
                if condition is not sp.true:
                    taken.append(condition)
                break
    return expr, taken


@functools.lru_cache(maxsize=64)
def characteristic(rule: Rule, decay: bool = False) -> sp.Expr:
    """det(zI − M), the characteristic polynomial of the rule linearised on ``½aθ²`` (monic, factored)."""
    return _characteristic(linearise(rule, decay))


def _characteristic(lin: Linearisation) -> sp.Expr:
    n = lin.matrix.shape[0]
    # Berkowitz's division-free determinant: a polynomial in the entries at once, where the default
    # (Bareiss's fraction-free elimination) cancels quotients of roots (Adan's 5×5 with √ε_root took
    # minutes, Berkowitz 0.04 s)
    poly = sp.Poly(sp.expand((Z * sp.eye(n) - lin.matrix).det(method="berkowitz")), Z)
    return _factor(sp.expand(poly.as_expr() / poly.LC()))


def _factor(expr: sp.Expr) -> sp.Expr:
    """Factor over the rule's symbols, roots (√(v̂_t + ε)) taken as symbols of their own."""
    roots = {p: sp.Dummy() for p in expr.atoms(sp.Pow) if not p.exp.is_Integer}
    factored = sp.factor(expr.xreplace(roots), Z)
    return factored.xreplace({d: p for p, d in roots.items()})


def boundaries(polynomial: sp.Expr) -> list[tuple[str, sp.Expr]]:
    """Jury's conditions on each factor that involves the curvature, as expressions that are 0 where
    a root reaches the unit circle: ``p(1)``, ``p(−1)`` and, for a quadratic ``z² + c₁z + c₀``, ``1 − c₀``."""
    out = []
    for factor in sp.Mul.make_args(polynomial):
        factor = factor.as_base_exp()[0]
        if not factor.has(CURVATURE):
            continue
        poly = sp.Poly(factor, Z)
        if poly.degree() > 2:
            raise NotDerivable(f"its characteristic polynomial has a factor of degree {poly.degree()} in z")
        poly = sp.Poly(poly.as_expr() / poly.LC(), Z)
        p = poly.as_expr()
        out += [("a root at z = 1", p.xreplace({Z: 1})), ("a root at z = -1", p.xreplace({Z: -1}))]
        if poly.degree() == 2:
            out.append(("two complex roots on the unit circle", 1 - poly.coeff_monomial(1)))
    return out


def _spectral_radius(lin: Linearisation, values: dict, curvature: float) -> float:
    matrix = np.array(lin.matrix.xreplace(values).xreplace({CURVATURE: curvature}).evalf(), dtype=float)
    return float(max(abs(np.linalg.eigvals(matrix))))


def held_values(lin: Linearisation, values: dict) -> dict:
    """The held quantities as numbers, when the held states are :data:`HELD` and g_t = 0."""
    out: dict = {}
    start = {**{x: sp.S.Zero for x in lin.variables},
             **{s.prev: sp.Float(HELD) for s in lin.rule.arrays if s.name in lin.frozen}}
    for symbol, expr in lin.held.items():
        out[symbol] = sp.Float(expr.xreplace(values).xreplace(start).xreplace(out).evalf())
    return out


def defaults(rule: Rule, weight_decay: float = 0.0) -> dict:
    """The rule's default hyperparameters as SymPy numbers, λ set to ``weight_decay``."""
    values = {h.symbol: sp.Float(h.default) for h in rule.hypers}
    if _decay(rule) is not None:
        values[_decay(rule)] = sp.Float(weight_decay)
    return values


def _roots(boundary: sp.Expr) -> list[sp.Expr]:
    """The curvatures where ``boundary`` vanishes (a linear or quadratic equation in a, usually)."""
    numerator = sp.numer(sp.together(boundary))
    try:
        poly = sp.Poly(numerator, CURVATURE)
    except sp.PolynomialError:
        return sp.solve(boundary, CURVATURE)
    if poly.degree() == 1:
        return [-poly.coeff_monomial(1) / poly.coeff_monomial(CURVATURE)]
    return list(sp.roots(poly, multiple=True)) if poly.degree() > 1 else []


def _collected(poly: sp.Expr) -> sp.Expr:
    """The polynomial as a sum of powers of z with factored coefficients."""
    expanded = sp.expand(poly)
    return sum((analysis.factor(expanded.coeff(Z, k)) * Z**k for k in range(sp.degree(expanded, Z), -1, -1)),
               sp.S.Zero)


@dataclass(frozen=True)
class Threshold:
    """The largest stable curvature ``value`` (in a), the condition that fails there, and the scale:
    ``value = scaled × scale`` with ``scale`` the held part (√v̂_t + ε for Adam, 1 for SGD).

    ``value`` and ``scaled`` are the limit t → ∞ (a case split where it depends on a hyperparameter's
    being 0); ``finite`` and ``finite_scaled`` the same at finite t, as functions of the rule's
    step-dependent scalars frozen at step t (``kept``, each with its limit); equal to the limit for
    a rule without such scalars.
    """

    value: sp.Expr
    condition: str
    scale: sp.Expr
    scaled: sp.Expr
    finite: sp.Expr = None
    finite_scaled: sp.Expr = None
    kept: dict = None


@functools.lru_cache(maxsize=64)
def threshold(rule: Rule, decay: bool = False) -> Threshold:
    """The smallest positive curvature where a Jury condition fails, checked at the defaults: the
    spectral radius is below 1 just under it and above 1 just over it.

    Raises:
        NotDerivable: if no single such curvature exists at the default hyperparameters.
    """
    lin = linearise(rule, decay)
    values = lin.numeric(defaults(rule, weight_decay=0.01 / rule.hyper("lr").default if decay else 0.0))
    held = held_values(lin, values)
    if S.t in lin.matrix.xreplace(values).xreplace(held).free_symbols:
        raise NotDerivable("its linearised step keeps a factor of t written inline (optax's Nesterov correction "
                           "1 - β₁ᵗ⁺¹), not a step-dependent scalar whose limit it can take")
    candidates = []
    for name, boundary in boundaries(characteristic(rule, decay)):
        for root in _roots(boundary):
            try:
                number = complex(root.xreplace(values).xreplace(held).evalf())
            except TypeError:
                left = ", ".join(sorted(map(str, root.xreplace(values).xreplace(held).free_symbols)))
                raise NotDerivable(f"its stability boundary depends on {left}, which the linearisation does not "
                                   "fix") from None
            if abs(number.imag) < 1e-12 and number.real > 0:
                candidates.append((number.real, name, root))
    if not candidates:
        raise NotDerivable("no curvature makes it unstable at the default hyperparameters")
    number, name, root = min(candidates, key=lambda c: c[0])
    below = _spectral_radius(lin, {**values, **held}, number * (1 - 1e-6))
    above = _spectral_radius(lin, {**values, **held}, number * (1 + 1e-6))
    if not below < 1 < above:
        raise NotDerivable(f"at the defaults the spectral radius is {below:.6g} just below the first boundary "
                           f"and {above:.6g} above it: no single threshold")
    root = analysis.tidy(sp.factor(root)) if not lin.kept else analysis.factor(root)
    scale = sp.Mul(*(f for f in sp.Mul.make_args(root) if f.free_symbols & set(lin.held)))
    scaled = analysis.tidy(sp.factor(root / scale))
    if not lin.kept:
        return Threshold(root, name, scale, scaled, root, scaled, {})

    def tidy(e):
        return _constant_first(analysis.tidy(sp.factor(e)))

    limit = analysis.per_case(root.xreplace(lin.kept), lambda e: _constant_first(analysis.factor(e)))
    return Threshold(limit, name, scale, analysis.per_case(limit / scale, tidy), _constant_first(root),
                     _constant_first(scaled), dict(lin.kept))


def _constant_first(expr: sp.Expr) -> sp.Expr:
    """Each factor of a product whose constant term is negative negated (``β₁² - β₁ - 1`` written
    ``1 + β₁ - β₁²``), the sign of the product corrected."""
    if not expr.is_Mul:
        return expr
    sign, factors = 1, []
    for factor in expr.args:
        base, exp = factor.as_base_exp()
        if base.is_Add and exp.is_Integer and base.as_coeff_Add()[0].is_negative:
            factors.append((-base) ** exp)
            sign *= sp.Integer(-1) ** exp
        else:
            factors.append(factor)
    return sign * sp.Mul(*factors)


def stability_threshold(name: str | Rule, **options: object) -> sp.Expr:
    """The largest curvature a of ``½aθ²`` on which the rule converges, derived from its equations.

    The rule is linearised as t → ∞ with its preconditioning states held fixed; the threshold is in
    units of the preconditioned curvature (``a/(√v̂_t + ε)`` for Adam), without weight decay.

    Args:
        name: a rule name or a :class:`~symopt.core.Rule`.
        **options: the rule's structural options (``nesterov=True``).

    Returns:
        A SymPy expression in the hyperparameters.

    Raises:
        NotDerivable: for a rule without a threshold (Lion's sign, Adagrad's growing sum).

    Example:
        >>> import symopt
        >>> symopt.stability_threshold("sgd")
        2/eta
        >>> symopt.stability_threshold("momentum", nesterov=True)
        2*(rho + 1)/(eta*(2*rho + 1))

    Reference: Cohen et al. (2021), "Gradient descent on neural networks typically occurs at the edge
    of stability"; Cohen et al. (2022), "Adaptive gradient methods at the edge of stability".
    """
    from symopt.optimizers import get

    return threshold(get(name, **options)).scaled


# --- simulation --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One simulated curvature: its multiple of the threshold, the steps run, |θ_N|/|θ_0|, the verdict."""

    factor: float
    curvature: float
    steps: int
    ratio: float
    predicted: float

    @property
    def verdict(self) -> str:
        if self.ratio < CONVERGED:
            return "converges"
        if self.ratio > DIVERGED or not math.isfinite(self.ratio):
            return "diverges"
        return "undecided"

    @property
    def agrees(self) -> bool:
        return self.verdict == ("converges" if self.factor < 1 else "diverges")


def simulate_at(rule: Rule, hyper: dict, factors: tuple[float, ...] = FACTORS, seed: int = 0) -> tuple[Run, ...]:
    """:func:`simulate` with some hyperparameters (by symbol) set away from their defaults."""
    return simulate(rule, factors=factors, seed=seed, hyper=tuple(hyper.items()))


def simulate(rule: Rule, decay: bool = False, factors: tuple[float, ...] = FACTORS, seed: int = 0,
             hyper: tuple = ()) -> tuple[Run, ...]:
    """Run the rule's kernel on ``½aθ²`` at ``factors`` times the derived threshold (default
    hyperparameters; λ = 0.01/η with ``decay``), one parameter per factor.

    The assumptions of the derivation are imposed: the step counter starts at :data:`START`, the
    scalar states at their long-run values, the preconditioning states are reset to :data:`HELD` after
    every step, and θ₀ is about 1e-30/a, so that g_t² moves them by a negligible amount within a step.
    The run lasts until the derived spectral radius predicts every |θ| to have shrunk or grown by
    :data:`GROWTH` (at most :data:`MAX_STEPS` steps).
    """
    lin = linearise(rule, decay)
    lam = 0.01 / rule.hyper("lr").default if decay else 0.0
    values = lin.numeric({**defaults(rule, weight_decay=lam), **{k: sp.Float(v) for k, v in hyper}})
    held = held_values(lin, values)
    star = float(threshold(rule, decay).finite.xreplace(values).xreplace(held))
    curvature = star * np.asarray(factors, dtype=float)
    radius = [_spectral_radius(lin, {**values, **held}, a) for a in curvature]
    steps = min(MAX_STEPS, max(math.ceil(math.log(GROWTH) / max(abs(math.log(r)), 1e-12)) for r in radius))
    rng = np.random.default_rng(seed)
    theta = 1e-30 / curvature * rng.uniform(0.5, 1.5, size=curvature.shape)
    start = theta.copy()
    kernel = rule.kernel()
    keywords = {"weight_decay": lam} if _decay(rule) is not None else {}
    keywords.update({h.name: float(values[h.symbol]) for h in rule.hypers if h.symbol in dict(hyper)})
    state = kernel.init(theta, **keywords)  # a state that starts at a hyperparameter starts at the simulated one
    state.update({s.name: float(lin.scalars[s.prev].xreplace(values)) for s in rule.scalars})
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(steps):
            for name in lin.frozen:
                state[name][...] = HELD
            kernel.step(theta, curvature * theta, state, START + k, inplace=True, **keywords)
    ratio = np.abs(theta) / np.abs(start)
    return tuple(Run(f, float(a), steps, float(r), float(q) ** steps)
                 for f, a, r, q in zip(factors, curvature, ratio, radius))


def _table(rule: Rule, runs: tuple[Run, ...], decay: bool) -> Table:
    rows = tuple((f"{r.factor:g}", r.curvature, r.steps, r.predicted, r.ratio, r.verdict,
                  "agrees" if r.agrees else "DIFFERS") for r in runs)
    lam = _decay(rule)
    return Table(
        title=prose(f"Simulated with {rule.name}'s kernel on ", CURVATURE * S.theta**2 / 2,
                    *((", with ", sp.Eq(lam * S.eta, sp.Float(0.01, 2))) if decay else ())),
        columns=(prose(CURVATURE, " / threshold"), prose(CURVATURE), prose("steps"),
                 prose("derived |theta_N/theta_0|"), prose("measured |theta_N/theta_0|"), prose("verdict"), prose("as derived")),
        rows=rows,
        note=prose(f"Default hyperparameters, seed 0, the step counter from {START:.0e} (t to infinity), "
                   f"theta_0 about 1e-30/a; converges: |theta_N/theta_0| < {CONVERGED:g}, diverges: > {DIVERGED:g}; "
                   "N steps, where the derived spectral radius predicts a factor "
                   f"{GROWTH:.0e} either way (at most {MAX_STEPS})."
                   + (" The preconditioning states are reset to 1 after every step (the assumption imposed)."
                      if linearise(rule, decay).frozen else "")),
    )


def adaptive(rule: Rule, factor: float = 4.0, steps: int = 1500, last: int = 500) -> tuple[float, float]:
    """Outside the assumptions: the preconditioner left free. Start with the preconditioning states
    at 1, θ₀ = 1e-8, at ``factor`` times the threshold, and run the real rule.

    Returns:
        The largest |θ_t| over the run, and the median over the ``last`` steps of the
        preconditioned curvature over its threshold (the edge of stability it adapts to).
    """
    lin = linearise(rule)
    values = lin.numeric(defaults(rule))
    t = threshold(rule)
    frozen = [s for s in rule.arrays if s.name in lin.frozen]
    scale = t.scale
    for symbol, expr in reversed(list(lin.held.items())):
        scale = scale.xreplace({symbol: expr})
    scale = sp.lambdify([s.prev for s in frozen], scale.xreplace(values).xreplace({x: 0 for x in lin.variables}), modules="math")
    limit = float(t.finite_scaled.xreplace(values))
    star = float(t.finite.xreplace(values).xreplace(held_values(lin, values)))
    curvature = factor * star
    kernel = rule.kernel()
    theta = np.array([1e-8])
    state = kernel.init(theta)
    state.update({s.name: float(lin.scalars[s.prev].xreplace(values)) for s in rule.scalars})
    for s in frozen:
        state[s.name][...] = HELD
    keywords = {"weight_decay": 0.0} if _decay(rule) is not None else {}
    largest, seen = 0.0, []
    for k in range(steps):
        if k >= steps - last:
            seen.append([float(state[s.name][0]) for s in frozen])
        kernel.step(theta, curvature * theta, state, START + k, inplace=True, **keywords)
        largest = max(largest, abs(float(theta[0])))
    ratios = [curvature / scale(*held_now) / limit for held_now in seen]
    return largest, float(np.median(ratios))


# --- the derivation ------------------------------------------------------------------------------------
def derivation(rule: Rule) -> Derivation:
    """The linearisation, the characteristic polynomial, the threshold, the decay's shift, simulations."""
    lin = linearise(rule)
    t = threshold(rule)
    poly = characteristic(rule)
    x = sp.Matrix(lin.variables)
    new = sp.Matrix([S.theta, *(s.new for s in rule.arrays if s.name not in lin.frozen)])
    frozen = [s for s in rule.arrays if s.name in lin.frozen]
    pinned = _pinned(rule)
    assumptions = [
        prose("the loss is ", CURVATURE * S.theta**2 / 2, " with ", CURVATURE, " > 0, so ", sp.Eq(S.g, CURVATURE * S.theta_prev)),
        prose(S.Tends(S.t, sp.oo), ": bias corrections at 1, first-step branches gone, scalar states at their "
              "long-run values"),
        prose("no weight decay, ", sp.Eq(S.lam, 0), " (its shift is derived below)") if _decay(rule) else
        prose("the rule has no weight decay"),
    ]
    if frozen:
        names = ", ".join(s.name for s in frozen)
        assumptions.append(prose("frozen preconditioner: the states that only scale the step (even in ", S.g,
                                 f"), {names}, are held fixed, so ", list(lin.held)[-1],
                                 " is a constant; the threshold is in units of the preconditioned curvature"))
    for condition in lin.branches:
        assumptions.append(prose("the branch taken at the defaults: ", condition))
    for value in (v for case in _cases(t.scaled) for v in _infinite_at(rule, case)):
        assumptions.append(prose("not ", value, ": there the threshold is infinite (after the first step the gradient "
                                 "no longer reaches the update, so no curvature makes it diverge)"))
    for symbol, value in pinned.items():
        assumptions.append(prose("the rule admits only ", sp.Eq(symbol, value)))
    assumptions.append(prose(S.eta, " > 0: at ", sp.Eq(S.eta, 0), " nothing moves and there is no threshold"))
    steps = [
        Step(prose("Put ", sp.Eq(S.g, CURVATURE * S.theta_prev), " into the rule's equations and linearise at ",
                   sp.Eq(S.theta_prev, 0), ": one step is linear in the previous values"),
             tuple(Equation(new[i], sum((analysis.factor(lin.matrix[i, j]) * x[j] for j in range(len(x))), sp.S.Zero))
                   for i in range(len(x)))),
        Step(prose("Its characteristic polynomial, det(zI - M):"), (Equation(sp.Function("p")(Z), _collected(poly)),)),
        Step(prose(f"Jury's conditions: every root of p inside the unit circle. As {CURVATURE} grows the first to "
                   f"fail is {t.condition}, at"), (Equation(CURVATURE, t.finite),)),
    ]
    preconditioned = CURVATURE / t.scale
    quadratic = prose("the loss is ", CURVATURE * S.theta**2 / 2)
    held = (prose("frozen preconditioner (", list(lin.held)[-1], " held)"),) if frozen else ()
    no_decay = (prose(sp.Eq(S.lam, 0)),) if _decay(rule) else ()
    results = [Equation(preconditioned, t.scaled, when=(quadratic, LONG_RUN(), *held, *no_decay))]
    if t.kept:
        names = [k for k in t.kept]
        listed = [part for i, k in enumerate(names) for part in ((", " if i else ""), k)]
        frozen_at_t = prose(*listed, " frozen at their step-t values")
        inline = (prose("powers of t written in the step at their limit"),) if lin.powers else ()
        states = (prose("scalar states at their long-run values (",
                        *[p for i, s in enumerate(rule.scalars) for p in ((", " if i else ""), sp.Eq(s.new, lin.scalars[s.prev]))],
                        ")"),) if rule.scalars else ()
        finite = Equation(preconditioned, t.finite_scaled,
                          when=(quadratic, frozen_at_t, *states, *inline, *held, *no_decay))
        steps.append(Step(prose("At finite t, as a function of the rule's step-dependent scalars ", *listed,
                                " (frozen at step t: they change slowly against the oscillation)",
                                *((", in units of the preconditioned curvature",) if t.scale != 1 else ()), ":"),
                          (finite,)))
        steps.append(Step(prose("As ", S.Tends(S.t, sp.oo), " they settle (a case split where the limit depends on a "
                                "hyperparameter's being 0):"),
                          tuple(Equation(sp.Limit(k, S.t, sp.oo), v) for k, v in t.kept.items())))
        steps.append(Step(prose("So the threshold as ", S.Tends(S.t, sp.oo), ":"), results[:1]))
        results.append(finite)
    elif t.scale != 1:
        steps.append(Step(prose("In units of the preconditioned curvature:"), results[:1]))
    values = {"threshold": t.scaled, "curvature threshold": t.value, "scale": t.scale,
              "finite threshold": t.finite_scaled, "kept": t.kept}
    tables = []
    runs = simulate(rule)
    tables.append(_table(rule, runs, decay=False))
    values["simulation"] = runs
    if _decay(rule) is not None:
        try:
            with_decay = threshold(rule, True)
        except NotDerivable as exc:
            steps.append(Step(prose(f"With weight decay no threshold is derived: {exc}.")))
        else:
            shift = analysis.per_case(with_decay.value - t.value, lambda v: analysis.tidy(sp.factor(v)))
            steps.append(Step(prose("With weight decay ", S.lam, ", the same computation gives the threshold and "
                                    "its shift:"), (Equation(CURVATURE, with_decay.value),
                                                   Equation(Private("delta_a"), shift))))
            values.update({"with decay": with_decay.value, "decay shift": shift})
            decay_runs = simulate(rule, decay=True)
            tables.append(_table(rule, decay_runs, decay=True))
            values["decay simulation"] = decay_runs
    if frozen:
        largest, settled = adaptive(rule)
        values["adaptive"] = (largest, settled)
        steps.append(Step(prose(
            f"Outside the assumptions, the preconditioner left free: started with {frozen[0].name} = 1 and ",
            sp.Eq(S.theta0, sp.Float(1e-8, 2)), f" at 4x the threshold, {rule.name}'s kernel does not diverge "
            f"(the largest |theta| in 1500 steps: {largest:.3g}): ", frozen[0].new, " grows with the oscillation until the "
            "step is stable, and over steps 1001-1500 the preconditioned curvature has a median of "
            f"{settled:.3g}x the threshold, as it decays back at the pace of its moving average (Cohen et al. 2022 "
            "observe Adam's preconditioned curvature hovering at the threshold in training).")))
    return Derivation(
        key="stability",
        title=TITLE,
        rule=rule.name,
        summary=prose(f"The largest curvature of a quadratic on which {rule.name} converges, from its equations: "
                      "above it the iterate flips sign and grows (the edge of stability, Cohen et al. 2021)."),
        assumptions=tuple(assumptions),
        steps=tuple(steps),
        results=tuple(results),
        tables=tuple(tables),
        values=values,
    )


def figure_png() -> bytes:
    """The figure of :data:`FIGURE`: heavy ball's stable region in (ηa, ρ), derived and simulated."""
    from symopt.plot import stability_png

    return stability_png()
