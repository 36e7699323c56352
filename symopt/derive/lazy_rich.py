"""Lazy against rich on a diagonal linear network: the quantity gradient flow conserves, how a rule's
discrete step and weight decay break it, and the ℓ1 norm of the solution the rule's kernel finds
against the initialisation scale α on a small sparse regression.

A diagonal linear network writes each weight as ``w = u² − v²`` (Woodworth et al. 2020, "Kernel and
rich regimes in overparametrized models"). Under gradient flow on any loss of w the product ``uv`` of
each coordinate is conserved, so it stays at α², its value at ``u = v = α``: small α gives the rich
regime (the flow finds a sparse, small-ℓ1 solution), large α the lazy one (the minimum-ℓ2 solution,
as a kernel method would; Chizat et al. 2019). What selects the regime is the initialisation scale,
and this module measures whether a rule keeps that selection: SymPy applies the rule's own step map
to (u, v) and computes the change of uv exactly; the rule's compiled kernel runs the regression.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symopt import symbols as S
from symopt.core import Rule
from symopt.derive.base import Derivation, Equation, Step, Table, prose
from symopt.derive.stability import preconditioners
from symopt.errors import NotDerivable

TITLE = "Lazy against rich: a diagonal linear network's conserved quantity, and the l1 norm against the initial scale"
REQUIRES = ("a learning rate, a weight decay, states that start at fixed values (not a copy of the parameters), and a first step "
            "SymPy resolves on the network's factors (not a sign of a sum)")

U, V = sp.Symbol("u", positive=True), sp.Symbol("v", positive=True)  # one coordinate's two factors, w = u² − v²
U1, V1 = sp.Symbol("u_1", real=True), sp.Symbol("v_1", real=True)  # after one step
R = sp.Symbol("r", real=True, nonzero=True)  # ∂L/∂w: the loss's gradient with respect to w
Q = sp.Symbol("Q", positive=True)  # the conserved quantity
CHANGE = sp.Symbol("dQ", real=True)  # its change in one step, Q after it minus Q before

# The experiment: y = X w₀ with n = 20 samples, d = 40 features, 3 non-zero weights (all 1), seed 0.
SAMPLES, FEATURES, NONZERO, SEED = 20, 40, 3, 0
SCALES = (0.01, 0.1, 1.0, 3.0)  # the initialisation scales α
STEPS = 3000
CASE = {"lr": 0.02}  # rules without a preconditioner
ADAPTIVE_CASE = {"lr": 0.001}  # rules with one (the update's size does not follow the gradient's)
TOLERANCE = 0.05  # "near" the sparse or the minimum-ℓ2 solution: ℓ1 within 5%
FITTED = 0.02  # a run has fitted the data when ‖Xw − y‖/‖y‖ is below this


def applies(rule: Rule) -> bool:
    """Rules with a learning rate and a weight decay, states that start at fixed values, and a first step
    SymPy resolves (not Lion's sign of a sum)."""
    if rule.hyper("lr") is None or rule.hyper("weight_decay") is None or rule.scalars or not rule.elementwise:
        return False
    if any(state.init.has(S.theta_prev) or state.init.has(S.theta) for state in rule.states):
        return False
    try:
        first_step(rule)
    except NotDerivable:
        return False
    return True


# --- the symbolic part ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def conserved() -> sp.Expr:
    """The quadratic form in (u, v) that gradient flow on w = u² − v² conserves, found by SymPy.

    >>> conserved()
    u*v
    """
    a, b, c = sp.symbols("a b c")
    form = a * U**2 + b * U * V + c * V**2
    flow = {U: -2 * U * R, V: 2 * V * R}  # du/dt = −∂L/∂u = −2ur, dv/dt = 2vr
    rate = sp.expand(sum(sp.diff(form, x) * dx for x, dx in flow.items()))
    found = sp.solve(sp.Poly(rate, U, V).coeffs(), (a, b, c), dict=True)[0]
    free = form.xreplace(found).free_symbols - {U, V}
    return sp.factor(form.xreplace(found).xreplace({s: 1 for s in free}))


@functools.lru_cache(maxsize=64)
def first_step(rule: Rule) -> dict:
    """The rule's first step on one coordinate's (u, v), from its initial state, with ε → 0: the new
    factors, the exact change of :func:`conserved`, and that change to first order in η.

    Raises:
        NotDerivable: if the step from the initial state has no closed form SymPy can expand.
    """
    step = rule.step_map()
    start = {S.t: 1, **{s.prev: s.init for s in rule.states}, **{h.symbol: 0 for h in rule.hypers if h.name == "eps"}}
    factors = {}
    for x, gradient in ((U, 2 * U * R), (V, -2 * V * R)):  # ∂L/∂u = 2ur, ∂L/∂v = −2vr
        value = step[S.theta].xreplace(start).xreplace({S.theta_prev: x, S.g: gradient})
        factors[x] = sp.simplify(sp.piecewise_fold(value))
    q = conserved()
    change = sp.factor(sp.expand(q.xreplace(factors) - q))
    if change.has(sp.Piecewise, sp.Max, sp.Min):
        raise NotDerivable("its first step has cases SymPy does not resolve")
    order1 = sp.factor(sp.diff(change, S.eta).xreplace({S.eta: 0}) * S.eta)
    no_decay = {rule.hyper("weight_decay").symbol: 0}
    order1_no_decay = sp.factor(sp.simplify(order1.xreplace(no_decay)))
    imbalance = sp.factor(sp.simplify((factors[U] - factors[V]).xreplace(no_decay).xreplace({V: U})))
    return {"u": factors[U], "v": factors[V], "change": change, "first order": order1, "no decay": order1_no_decay,
            "imbalance": imbalance}


# --- the experiment ---------------------------------------------------------------------------------------
def problem(seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (n × d, Gaussian), y = X w₀ and w₀ (the first :data:`NONZERO` weights 1, the rest 0)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((SAMPLES, FEATURES))
    w = np.zeros(FEATURES)
    w[:NONZERO] = 1.0
    return X, X @ w, w


@dataclass(frozen=True)
class Run:
    scale: float
    l1: float  # ‖w‖₁ of the solution (inf if it diverged)
    residual: float  # ‖Xw − y‖/‖y‖


@functools.lru_cache(maxsize=64)
def simulate(rule: Rule, scales: tuple = SCALES, steps: int = STEPS, seed: int = SEED) -> tuple[Run, ...]:
    """The rule's kernel on θ = (u, v), u = v = α, full-batch on ½‖X(u² − v²) − y‖²/n: one run per α,
    all in one array (a row per α: the kernel works elementwise, so the runs do not mix)."""
    X, y, _ = problem(seed)
    hyper = {k: v for k, v in (ADAPTIVE_CASE if preconditioners(rule) else CASE).items() if rule.hyper(k)}
    kernel = rule.kernel()
    theta = np.repeat(np.asarray(scales, dtype=float)[:, None], 2 * FEATURES, axis=1)
    state = kernel.init(theta)
    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            u, v = theta[:, :FEATURES], theta[:, FEATURES:]
            r = (u * u - v * v) @ X.T @ X / SAMPLES - y @ X / SAMPLES  # a row of ∂L/∂w per α
            kernel.step(theta, np.concatenate([2 * u * r, -2 * v * r], axis=1), state, t, inplace=True, **hyper)
        w = theta[:, :FEATURES] ** 2 - theta[:, FEATURES:] ** 2
        residual = np.linalg.norm(w @ X.T - y, axis=1) / np.linalg.norm(y)
    runs = []
    for alpha, row, res in zip(scales, w, residual):
        ok = bool(np.all(np.isfinite(row)) and np.isfinite(res))
        runs.append(Run(alpha, float(np.abs(row).sum()) if ok else float("inf"), float(res) if ok else float("inf")))
    return tuple(runs)


def references(seed: int = SEED) -> dict:
    """ℓ1 norms of the planted sparse solution and of the minimum-ℓ2 interpolant (the lazy limit)."""
    X, y, w = problem(seed)
    return {"sparse": float(np.abs(w).sum()), "min-l2": float(np.abs(np.linalg.pinv(X) @ y).sum())}


def regime(run: Run, refs: dict) -> str:
    if not np.isfinite(run.l1):
        return "diverged"
    if run.residual > FITTED:
        return "not fitted"
    for name, label in (("sparse", "rich (near the sparse solution)"), ("min-l2", "lazy (near the minimum-l2 one)")):
        if abs(run.l1 / refs[name] - 1) <= TOLERANCE:
            return label
    return "neither"


def _table(rule: Rule, runs, refs) -> Table:
    hyper = ", ".join(f"{k}={v:g}" for k, v in (ADAPTIVE_CASE if preconditioners(rule) else CASE).items())
    return Table(
        title=prose(f"The l1 norm of the solution {rule.name}'s kernel finds, against the initialisation scale"),
        columns=(prose("alpha"), prose("l1 norm of w"), prose("relative residual"), prose("regime")),
        rows=tuple((run.scale, run.l1, run.residual if run.residual >= 1e-6 else "< 1e-6", regime(run, refs))
                   for run in runs),  # below 1e-6 the residual is rounding, which differs between machines
        note=prose(f"Sparse regression, seed {SEED}: X is {SAMPLES} x {FEATURES} Gaussian, y = X w0, where w0 has "
                   f"{NONZERO} weights 1 (l1 norm {refs['sparse']:g}); the minimum-l2 interpolant's l1 norm is "
                   f"{refs['min-l2']:.3g}; the relative residual is the norm of Xw - y over that of y. w = u^2 - v^2, u = v = alpha, {STEPS} full-batch steps, {hyper}, other "
                   f"hyperparameters at their defaults. 'rich' or 'lazy': the l1 norm within {TOLERANCE:.0%} of the "
                   f"sparse or the minimum-l2 solution's, with the data fitted to {FITTED:.0%}."),
    )


def verdict(rule: Rule, runs, refs) -> str:
    """What the experiment shows, in a sentence computed from the runs."""
    fitted = [r for r in runs if np.isfinite(r.l1) and r.residual <= FITTED]
    if not fitted:
        return f"{rule.name}'s kernel fitted none of the runs."
    l1, kinds = [r.l1 for r in fitted], [regime(r, refs) for r in fitted]
    span = f"{min(l1):.3g} to {max(l1):.3g} over alpha = {fitted[0].scale:g} to {fitted[-1].scale:g}"
    if kinds[0].startswith("rich") and kinds[-1].startswith("lazy"):
        return (f"{rule.name}'s l1 norm grows with alpha ({span}), from the sparse solution's to the minimum-l2 one's: "
                "the initialisation scale selects rich or lazy, as for gradient flow.")
    if max(l1) / min(l1) - 1 <= 2 * TOLERANCE:
        return (f"{rule.name}'s l1 norm barely depends on alpha ({span}): the initialisation scale does not select its "
                f"regime, and its solution is neither the sparse one ({refs['sparse']:g}) nor the minimum-l2 one "
                f"({refs['min-l2']:.3g}).")
    return (f"{rule.name}'s l1 norm is {span}: neither the sparse solution's ({refs['sparse']:g}) at small alpha nor "
            f"the minimum-l2 one's ({refs['min-l2']:.3g}) at large alpha.")


def derivation(rule: Rule) -> Derivation:
    q = conserved()
    step = first_step(rule)
    lam = rule.hyper("weight_decay").symbol
    runs, refs = simulate(rule), references()
    return Derivation(
        key="lazy-rich",
        title=TITLE,
        rule=rule.name,
        summary=prose(verdict(rule, runs, refs)),
        assumptions=(
            prose("a diagonal linear network: each weight is w = u^2 - v^2, with ", R, " = dL/dw the loss's "
                  "gradient with respect to w, so that dL/du = 2ur and dL/dv = -2vr"),
            prose(U, ", ", V, " > 0 (both start at alpha); the step is the rule's first, from its initial state, with ",
                  S.epsilon, " -> 0"),
            prose("the experiment: the one problem and seed in the table; 'rich' and 'lazy' are read off the l1 norm "
                  "only. Outside the assumptions: at alpha = 3 the curvature, which grows as alpha^2, passes a "
                  "non-adaptive rule's stability threshold and the run diverges"),
        ),
        steps=(
            Step(prose("Gradient flow: du/dt = -2ur, dv/dt = 2vr. A quadratic form a u^2 + b uv + c v^2 whose rate "
                       "vanishes for every r (SymPy solves for a, b, c):"), (Equation(Q, q),)),
            Step(prose("So ", Q, " stays at alpha^2 under gradient flow: alpha sets the regime. The rule's first "
                       "step on the two factors:"), (Equation(U1, step["u"]), Equation(V1, step["v"]))),
            Step(prose("The change of ", Q, " in that step, ", CHANGE, " = u_1 v_1 - uv, exactly, and to first order in ", S.eta,
                       " (gradient flow's own order; with ", lam, " = 0 and a zero first-order term the quantity is "
                       "conserved up to O(eta^2)):"),
                 (Equation(CHANGE, step["change"]), Equation(CHANGE, step["first order"]))),
            Step(prose("Without decay, to first order in ", S.eta, " (zero: the step keeps gradient flow's "
                       "conservation to first order; not zero: the step itself breaks it, and alpha need not set "
                       "the regime):"), (Equation(CHANGE, step["no decay"]),)),
            Step(prose("The step unbalances the factors from u = v = alpha (without decay); the first-order term "
                       "above is zero for any u, v, so this does not matter:" if step["no decay"] == 0 else
                       "At the balanced start u = v = alpha the first-order term vanishes, but the step unbalances "
                       "the factors (without decay), so it acts from the second step on:"),
                 (Equation(U1 - V1, step["imbalance"]),)),
        ),
        results=(Equation(Q, q), Equation(CHANGE, step["first order"]), Equation(CHANGE, step["no decay"])),
        tables=(_table(rule, runs, refs),),
        values={"conserved": q, **step, "runs": runs, "references": refs},
    )
