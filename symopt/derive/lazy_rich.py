"""Lazy against rich on a diagonal linear network: the quantity gradient flow conserves, how a rule's
discrete step and weight decay break it, and, on a small sparse regression from each initialisation
scale α, how far the rule's kernel moves from the initialisation (the regime) and the ℓ1 norm of the
solution it finds (its structure, reported apart), with full-batch and minibatch gradients.

A diagonal linear network writes each weight as ``w = u² − v²`` (Woodworth et al. 2020, "Kernel and
rich regimes in overparametrized models"). Under gradient flow on any loss of w the product ``uv`` of
each coordinate is conserved, so it stays at α², its value at ``u = v = α``: small α gives the rich
regime (the flow finds a sparse, small-ℓ1 solution), large α the lazy one (the minimum-ℓ2 solution,
as a kernel method would; Chizat et al. 2019). What selects the regime is the initialisation scale,
and this module measures whether a rule keeps that selection: SymPy applies the rule's own step map
to (u, v) and computes the change of uv exactly; the rule's compiled kernel runs the regression. The
regime is defined by movement: lazy when ‖θ − θ₀‖/‖θ₀‖ stays small (and uv with it); which solution
a lazy run ends at depends on the rule (gradient descent's is the minimum-ℓ2 interpolant, Adam's is
not), so the ℓ1 norm is reported as the solution's structure, not as the regime.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from symopt import symbols as S
from symopt.core import Rule
from symopt.derive.base import (
    Derivation,
    Equation,
    Private,
    Step,
    Table,
    holds,
    need_elementwise,
    need_hypers,
    private,
    prose,
)
from symopt.derive.stability import preconditioners
from symopt.errors import NotDerivable

TITLE = "Lazy against rich: a diagonal linear network's conserved quantity, the movement from the initialisation, and the solution's l1 norm"
REQUIRES = ("a learning rate, a weight decay, states that start at fixed values (not a copy of the parameters), and a first step "
            "SymPy resolves on the network's factors (not a sign of a sum)")

U, V = Private("u", positive=True), Private("v", positive=True)  # one coordinate's two factors, w = u² − v²
U1, V1 = Private("u_1", real=True), Private("v_1", real=True)  # after one step
R = Private("r", real=True, nonzero=True)  # ∂L/∂w: the loss's gradient with respect to w
Q = Private("Q", positive=True)  # the conserved quantity
CHANGE = Private("dQ", real=True)  # its change in one step, Q after it minus Q before

# The experiment: y = X w₀ with n = 20 samples, d = 40 features, 3 non-zero weights (all 1), seed 0.
SAMPLES, FEATURES, NONZERO, SEED = 20, 40, 3, 0
SCALES = (0.01, 0.1, 1.0, 3.0)  # the initialisation scales α
STEPS = 3000
CASE = {"lr": 0.02}  # rules without a preconditioner: a step for this problem's curvature (stable at alpha <= 1)


def case(rule: Rule) -> dict:
    """The experiment's hyperparameters: a rule whose step follows the gradient's size (no
    preconditioner) at :data:`CASE`'s learning rate, chosen for this problem's curvature; a rule with a
    preconditioner (its step's size does not follow the gradient's) at its own default learning rate."""
    if preconditioners(rule):
        return {"lr": rule.hyper("lr").default}
    return {k: v for k, v in CASE.items() if rule.hyper(k) and rule.hyper(k).contains(v)}
TOLERANCE = 0.05  # "near" the sparse or the minimum-ℓ2 solution: ℓ1 within 5%
FITTED = 0.02  # a run has fitted the data when ‖Xw − y‖/‖y‖ is below this
BATCH = 5  # minibatch SGD: samples per step
LAZY, RICH = 0.1, 1.0  # moved less than LAZY of the initial norm: lazy; more than RICH times it: rich
CLAIM_SEEDS = (0, 1, 2)  # the problems the note's claim is checked on (benchmarks/claims_sweep.py runs more)


def check(rule: Rule) -> None:
    """A learning rate and a weight decay, elementwise, states that start at fixed values, and a first
    step SymPy resolves (not Lion's sign of a sum).

    Raises:
        NotDerivable: naming the first of these that fails.
    """
    need_hypers(rule, "lr", "weight_decay")
    need_elementwise(rule)
    if rule.scalars:
        raise NotDerivable(f"its scalar state ({', '.join(s.name for s in rule.scalars)}) changes the step with t, "
                           "so the first step is not the step the experiment runs")
    copies = [s.name for s in rule.states if s.init.has(S.theta_prev) or s.init.has(S.theta) or s.init.has(S.theta0)]
    if copies:
        raise NotDerivable(f"its state {', '.join(copies)} starts at a copy of the parameters, so the first step "
                           "from the initial state depends on them")
    first_step(rule)


def applies(rule: Rule) -> bool:
    """Rules with a learning rate and a weight decay, states that start at fixed values, and a first step
    SymPy resolves (not Lion's sign of a sum)."""
    return holds(check, rule)


# --- the symbolic part ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def conserved() -> sp.Expr:
    """The quadratic form in (u, v) that gradient flow on w = u² − v² conserves, found by SymPy.

    >>> conserved()
    u*v
    """
    a, b, c = private("a b c")
    form = a * U**2 + b * U * V + c * V**2
    flow = {U: -2 * U * R, V: 2 * V * R}  # du/dt = −∂L/∂u = −2ur, dv/dt = 2vr
    rate = sp.expand(sum(sp.diff(form, x) * dx for x, dx in flow.items()))
    found = sp.solve(sp.Poly(rate, U, V).coeffs(), (a, b, c), dict=True)[0]
    free = form.xreplace(found).free_symbols - {U, V}
    return sp.factor(form.xreplace(found).xreplace({s: 1 for s in free}))


@functools.lru_cache(maxsize=64)
def first_step(rule: Rule) -> dict:
    """The rule's first step on one coordinate's (u, v), from its initial state, with ε → 0 (unless at
    ε = 0 the step does not move: then ε is kept): the new factors, the exact change of
    :func:`conserved`, and that change to first order in the rule's learning rate.

    Raises:
        NotDerivable: if the step from the initial state has no closed form SymPy can expand.
    """
    step = rule.step_map()
    start = {S.t: 1, **{s.prev: s.init for s in rule.states}}
    eps = {h.symbol: 0 for h in rule.hypers if h.name == "eps"}
    exact: dict = {}
    for x, gradient in ((U, 2 * U * R), (V, -2 * V * R)):  # ∂L/∂u = 2ur, ∂L/∂v = −2vr
        exact[x] = step[S.theta].xreplace(start).xreplace({S.theta_prev: x, S.g: gradient})
    # ε → 0 unless it changes the rule: where the first step at ε = 0 does not move (Adadelta's, whose
    # step is √ε times the gradient's direction), ε is kept
    limit = {x: sp.simplify(sp.piecewise_fold(v.xreplace(eps))) for x, v in exact.items()}
    eps_kept = bool(eps) and any(limit[x] == x for x in limit) and not all(
        sp.simplify(v.xreplace({e: 1 for e in eps})) == x for x, v in exact.items())
    factors = {x: sp.simplify(sp.piecewise_fold(v)) for x, v in exact.items()} if eps_kept else limit
    lr = rule.hyper("lr").symbol
    q = conserved()
    change = sp.factor(sp.expand(q.xreplace(factors) - q))
    if change.has(sp.Piecewise, sp.Max, sp.Min):
        from symopt import ops

        used = ", ".join(op.name for op in ops.used(sp.Tuple(*exact.values()))) or "a case split"
        raise NotDerivable(f"its first step on the network's factors passes the gradient through {used}, cases "
                           "SymPy does not resolve")
    order1 = sp.factor(sp.diff(change, lr).xreplace({lr: 0}) * lr)
    no_decay = {rule.hyper("weight_decay").symbol: 0}
    order1_no_decay = sp.factor(sp.simplify(order1.xreplace(no_decay)))
    imbalance = sp.factor(sp.simplify((factors[U] - factors[V]).xreplace(no_decay).xreplace({V: U})))
    return {"u": factors[U], "v": factors[V], "change": change, "first order": order1, "no decay": order1_no_decay,
            "imbalance": imbalance, "eps kept": tuple(eps) if eps_kept else (), "eps": tuple(eps)}


# --- the experiment ---------------------------------------------------------------------------------------
def problem(seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (n × d, Gaussian), y = X w₀ and w₀ (the first :data:`NONZERO` weights 1, the rest 0)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((SAMPLES, FEATURES))
    w = np.zeros(FEATURES)
    w[:NONZERO] = 1.0
    return X, _dot(w[None, :], X)[0], w


def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b.T`` as an elementwise product and a sum along the last axis: the same bits on every
    machine. (BLAS does not promise that: OpenBLAS picks its kernel by CPU, and a run that has not
    converged, such as RMSprop's here, turns the last bits into the third digit.)"""
    return (a[:, None, :] * b[None, :, :]).sum(axis=-1)


@dataclass(frozen=True)
class Run:
    scale: float
    sampling: str  # "full-batch GD" or "minibatch SGD"
    l1: float  # ‖w‖₁ of the solution (inf if it diverged)
    residual: float  # ‖Xw − y‖/‖y‖
    movement: float  # ‖θ − θ₀‖/‖θ₀‖, θ = (u, v): how far the parameters moved from the initialisation
    drift: float  # max over coordinates of |uv − α²|/α²: how far the conserved quantity moved


SAMPLINGS = (("full-batch GD", None), ("minibatch SGD", BATCH))


@functools.lru_cache(maxsize=256)
def simulate(rule: Rule, scales: tuple = SCALES, steps: int = STEPS, seed: int = SEED,
             batch: int | None = None) -> tuple[Run, ...]:
    """The rule's kernel on θ = (u, v), u = v = α, on ½‖X(u² − v²) − y‖²/n: one run per α, all in one
    array (a row per α: the kernel works elementwise, so the runs do not mix). ``batch=None`` is
    full-batch gradient descent; a number, minibatches of that many samples drawn without replacement
    each epoch (seeded), the stochastic gradient the note speaks of."""
    X, y, _ = problem(seed)
    hyper = case(rule)
    kernel = rule.kernel()
    theta0 = np.repeat(np.asarray(scales, dtype=float)[:, None], 2 * FEATURES, axis=1)
    theta = theta0.copy()
    state = kernel.init(theta, **hyper)
    order = np.random.default_rng((seed, 1))
    rows = np.arange(SAMPLES)
    with np.errstate(all="ignore"):
        for t in range(1, steps + 1):
            if batch is not None:
                at = (t - 1) * batch % SAMPLES
                if at == 0:
                    rows = order.permutation(SAMPLES)
                rows_t = rows[at:at + batch]
            else:
                rows_t = rows
            Xb, yb = X[rows_t], y[rows_t]
            u, v = theta[:, :FEATURES], theta[:, FEATURES:]
            error = _dot(u * u - v * v, Xb) - yb  # a row of residuals per α
            r = (error[:, :, None] * Xb[None, :, :]).sum(axis=1) / len(rows_t)  # a row of ∂L/∂w per α
            kernel.step(theta, np.concatenate([2 * u * r, -2 * v * r], axis=1), state, t, inplace=True, **hyper)
        w = theta[:, :FEATURES] ** 2 - theta[:, FEATURES:] ** 2
        residual = np.sqrt((( _dot(w, X) - y) ** 2).sum(axis=1)) / np.sqrt((y**2).sum())
        movement = np.sqrt(((theta - theta0) ** 2).sum(axis=1)) / np.sqrt((theta0**2).sum(axis=1))
        q0 = theta0[:, :FEATURES] ** 2
        drift = np.abs(theta[:, :FEATURES] * theta[:, FEATURES:] - q0).max(axis=1) / q0[:, 0]
    runs = []
    label = dict((b, name) for name, b in SAMPLINGS)[batch] if batch in (None, BATCH) else f"minibatch of {batch}"
    for alpha, row, res, moved, dq in zip(scales, w, residual, movement, drift):
        ok = bool(np.all(np.isfinite(row)) and np.isfinite(res))
        runs.append(Run(alpha, label, float(np.abs(row).sum()) if ok else float("inf"),
                        float(res) if ok else float("inf"), float(moved) if ok else float("inf"),
                        float(dq) if ok else float("inf")))
    return tuple(runs)


def references(seed: int = SEED) -> dict:
    """ℓ1 norms of the planted sparse solution and of the minimum-ℓ2 interpolant (the lazy limit)."""
    X, y, w = problem(seed)
    return {"sparse": float(np.abs(w).sum()), "min-l2": float(np.abs(np.linalg.pinv(X) @ y).sum())}


def regime(run: Run) -> str:
    """The regime, by movement from the initialisation alone: lazy if the parameters moved less than
    :data:`LAZY` of their initial norm (the linearisation around θ₀, a kernel method, describes the
    run), rich if they moved more than :data:`RICH` times it, between otherwise."""
    if not np.isfinite(run.movement):
        return "diverged"
    if run.residual > FITTED:
        return "not fitted"
    if run.movement <= LAZY:
        return "lazy"
    return "rich" if run.movement >= RICH else "between"


def structure(run: Run, refs: dict) -> str:
    """The solution's structure, apart from the regime: its ℓ1 norm near the sparse solution's or the
    minimum-ℓ2 one's, or neither."""
    if not np.isfinite(run.l1) or run.residual > FITTED:
        return "-"
    for name, label in (("sparse", "near the sparse one"), ("min-l2", "near the minimum-l2 one")):
        if abs(run.l1 / refs[name] - 1) <= TOLERANCE:
            return label
    return "neither"


def _small(value: float) -> float | str:
    return value if value >= 1e-6 else "< 1e-6"  # below 1e-6 it is rounding


def _table(rule: Rule, runs, refs) -> Table:
    hyper = ", ".join(f"{k}={v:g}" for k, v in case(rule).items())
    return Table(
        title=prose(f"How far {rule.name}'s kernel moves from the initialisation, and the solution it finds"),
        columns=(prose("alpha"), prose("gradient"), prose("moved |theta - theta0|/|theta0|"),
                 prose("max |uv - alpha^2|/alpha^2"), prose("regime"), prose("l1 norm of w"),
                 prose("relative residual"), prose("l1 norm")),
        rows=tuple((run.scale, run.sampling, run.movement, _small(run.drift), regime(run), run.l1,
                    _small(run.residual), structure(run, refs)) for run in runs),
        note=prose(f"Sparse regression, seed {SEED}: X is {SAMPLES} x {FEATURES} Gaussian, y = X w0, where w0 has "
                   f"{NONZERO} weights 1 (l1 norm {refs['sparse']:g}); the minimum-l2 interpolant's l1 norm is "
                   f"{refs['min-l2']:.3g}. w = u^2 - v^2, u = v = alpha, {STEPS} steps, {hyper}, other "
                   f"hyperparameters at their defaults; 'full-batch GD' takes the gradient on all {SAMPLES} samples, "
                   f"'minibatch SGD' on {BATCH} at a time (drawn without replacement each epoch, seeded). "
                   f"The regime is read off the movement alone: lazy below {LAZY:g} of the initial norm, rich above "
                   f"{RICH:g} times it, between otherwise (the data fitted to {FITTED:.0%} first). The l1 norm, "
                   f"separately: within {TOLERANCE:.0%} of the sparse or the minimum-l2 solution's."),
    )


def _named(kind: str) -> str:
    return "neither the sparse nor the minimum-l2 one" if kind == "neither" else kind


def _alphas(runs) -> str:
    return ", ".join(f"{r.scale:g}" for r in runs)


def verdict(rule: Rule, runs, refs) -> str:
    """What the experiment shows, in sentences computed from the runs: for each gradient, which α gives
    which regime (with the movement), then the solution's structure."""
    sentences = []
    for sampling, _ in SAMPLINGS:
        mine = [r for r in runs if r.sampling == sampling]
        parts = []
        for kind in ("rich", "between", "lazy", "not fitted", "diverged"):
            chosen = [r for r in mine if regime(r) == kind]
            if chosen:
                moved = "" if kind in ("not fitted", "diverged") else (
                    " (|theta - theta0|/|theta0| = " + ", ".join(f"{r.movement:.2g}" for r in chosen) + ")")
                parts.append(f"{kind} at alpha = {_alphas(chosen)}{moved}")
        sentences.append(f"{sampling}: " + "; ".join(parts) + ".")
    lazy = [r for r in runs if regime(r) == "lazy"]
    if lazy:
        found = []
        for kind in sorted({structure(r, refs) for r in lazy}):
            l1 = sorted({float(f"{r.l1:.3g}") for r in lazy if structure(r, refs) == kind})
            shown = f"{l1[0]:g}" if len(l1) == 1 else f"{l1[0]:g} to {l1[-1]:g}"
            found.append(f"{_named(kind)} ({shown})")
        sentences.append(f"Where it is lazy its solution's l1 norm is {' or '.join(found)}; the minimum-l2 one's is "
                         f"{refs['min-l2']:.3g}.")
    return f"{rule.name}, by movement from the initialisation: " + " ".join(sentences)


def runs_of(rule: Rule, seed: int = SEED) -> tuple[Run, ...]:
    """Full-batch and minibatch runs at every α."""
    return tuple(run for _, batch in SAMPLINGS for run in simulate(rule, seed=seed, batch=batch))


def claim_regimes(rules: list[Rule], seeds: tuple[int, ...] = CLAIM_SEEDS) -> dict:
    """The note's "SGD is rich, Adam is lazy", at each α, with minibatch gradients, for the seeds.
    ``rules`` is (the SGD rule, the Adam rule).

    Returns:
        ``status`` ("wrong" only if it fails at every α for every seed: a counterexample that survives
        the sweep; "measured" if it holds at every one; "contested" otherwise), ``words`` (a sentence
        computed from the runs), ``table``, and the α where it ``holds`` and ``fails`` for every seed.
    """
    sgd, adam = rules
    rows, holds, fails, same, lazy_both = [], [], [], [], []
    for alpha in SCALES:
        per_seed = []
        for seed in seeds:
            a = simulate(sgd, seed=seed, batch=BATCH)[SCALES.index(alpha)]
            b = simulate(adam, seed=seed, batch=BATCH)[SCALES.index(alpha)]
            per_seed.append((regime(a), regime(b), a.movement, b.movement))
            if regime(a) == regime(b) == "lazy":
                lazy_both.append((structure(a, references(seed)), structure(b, references(seed))))
        if all(x == y for x, y, *_ in per_seed):
            same.append(alpha)
        ok = [x == "rich" and y == "lazy" for x, y, *_ in per_seed]
        (holds if all(ok) else fails if not any(ok) else []).append(alpha)
        rows.append((alpha, ", ".join(sorted({x for x, *_ in per_seed})), f"{min(p[2] for p in per_seed):.2g} to {max(p[2] for p in per_seed):.2g}",
                     ", ".join(sorted({y for _, y, *_ in per_seed})), f"{min(p[3] for p in per_seed):.2g} to {max(p[3] for p in per_seed):.2g}",
                     f"{sum(ok)} of {len(ok)}"))
    table = Table(
        title=prose(f"The note's claim ({sgd.name} rich, {adam.name} lazy) at each alpha, minibatch gradients, "
                    f"seeds {seeds[0]} to {seeds[-1]}"),
        columns=(prose("alpha"), prose(f"{sgd.name}: regime"), prose(f"{sgd.name}: moved"),
                 prose(f"{adam.name}: regime"), prose(f"{adam.name}: moved"), prose("claim holds")),
        rows=tuple(rows),
        note=prose(f"The experiment of lazy-rich.md (minibatches of {BATCH}) on {len(seeds)} problems (seeds); "
                   f"'moved' is |theta - theta0|/|theta0|, its range over the seeds."),
    )
    def listed(values):
        return ", ".join(f"{a:g}" for a in values) or "none"

    words = (f"with minibatch gradients, '{sgd.name} rich while {adam.name} is lazy' holds for every seed at "
             + (f"alpha = {listed(holds)}" if holds else "no alpha")
             + ", and fails for every seed at " + (f"alpha = {listed(fails)}" if fails else "no alpha")
             + (f", and depends on the seed at alpha = {listed(a for a in SCALES if a not in holds + fails)}"
                if len(holds) + len(fails) < len(SCALES) else ""))
    words += (". The two are in the same regime, for every seed, at " + (f"alpha = {listed(same)}" if same else "no alpha")
              + " (the regime follows alpha, not the optimizer)" * bool(same))
    if lazy_both:
        words += (f"; where both are lazy, {sgd.name}'s solution is " + " or ".join(_named(x) for x in sorted({x for x, _ in lazy_both}))
                  + f" and {adam.name}'s " + " or ".join(_named(y) for y in sorted({y for _, y in lazy_both}))
                  + " (the l1 norm, in the tables above)")
    status = "wrong" if len(fails) == len(SCALES) else "measured" if len(holds) == len(SCALES) else "contested"
    return {"status": status, "words": words, "table": table, "holds": tuple(holds), "fails": tuple(fails),
            "same": tuple(same)}


def _joined(symbols) -> list:
    return [part for i, x in enumerate(symbols) for part in ((", " if i else ""), x)]


def derivation(rule: Rule) -> Derivation:
    q = conserved()
    step = first_step(rule)
    lam = rule.hyper("weight_decay").symbol
    lr = rule.hyper("lr").symbol
    runs, refs = runs_of(rule), references()
    eps_when = ((prose(*_joined(step["eps"]), " -> 0"),) if step["eps"] and not step["eps kept"] else
                (prose(*_joined(step["eps kept"]), " kept (at 0 the first step does not move)"),) if step["eps kept"] else ())
    first_step_when = (prose("the rule's first step, from its initial state (t = 1)"), prose("first order in ", lr),
                       prose(U, ", ", V, " > 0"), *eps_when)
    return Derivation(
        key="lazy-rich",
        title=TITLE,
        rule=rule.name,
        summary=prose(verdict(rule, runs, refs)),
        assumptions=(
            prose("a diagonal linear network: each weight is w = u^2 - v^2, with ", R, " = dL/dw the loss's "
                  "gradient with respect to w, so that dL/du = 2ur and dL/dv = -2vr"),
            prose(U, ", ", V, " > 0 (both start at alpha); the step is the rule's first, from its initial state",
                  *((", with ", *_joined(step["eps"]), " -> 0") if step["eps"] and not step["eps kept"] else ()),
                  *((", with ", *_joined(step["eps kept"]), " kept: at 0 the first step does not move")
                    if step["eps kept"] else ())),
            prose(f"the experiment: the one problem and seed in the table, {STEPS} steps at one learning rate; 'lazy' "
                  "and 'rich' are read off the movement from the initialisation (the regime's definition: lazy "
                  "training stays where the linearisation around the initialisation holds, Chizat et al. 2019), "
                  "and the solution's l1 norm is reported apart from it (sparse or minimum-l2: only gradient "
                  "descent's lazy solution is the minimum-l2 one). Outside the assumptions: at alpha = 3 the "
                  "curvature, which grows as alpha^2, can pass a non-adaptive rule's stability threshold, and the "
                  "run diverges"),
        ),
        steps=(
            Step(prose("Gradient flow: du/dt = -2ur, dv/dt = 2vr. A quadratic form a u^2 + b uv + c v^2 whose rate "
                       "vanishes for every r (SymPy solves for a, b, c):"), (Equation(Q, q),)),
            Step(prose("So ", Q, " stays at alpha^2 under gradient flow: alpha sets the regime. The rule's first "
                       "step on the two factors:"), (Equation(U1, step["u"]), Equation(V1, step["v"]))),
            Step(prose("The change of ", Q, " in that step, ", CHANGE, " = u_1 v_1 - uv, exactly, and to first order in ", lr,
                       " (gradient flow's own order; with ", lam, " = 0 and a zero first-order term the quantity is "
                       "conserved up to O(eta^2)):"),
                 (Equation(CHANGE, step["change"]), Equation(CHANGE, step["first order"]))),
            Step(prose("Without decay, to first order in ", lr, " (zero: the step keeps gradient flow's "
                       "conservation to first order; not zero: the step itself breaks it, and alpha need not set "
                       "the regime):"), (Equation(CHANGE, step["no decay"]),)),
            Step(prose("The step unbalances the factors from u = v = alpha (without decay); the first-order term "
                       "above is zero for any u, v, so this does not matter:" if step["no decay"] == 0 else
                       "At the balanced start u = v = alpha the first-order term vanishes, but the step unbalances "
                       "the factors (without decay), so it acts from the second step on:"),
                 (Equation(U1 - V1, step["imbalance"]),)),
        ),
        results=(Equation(Q, q, when=(prose("gradient flow on a loss of w = u^2 - v^2"),)),
                 Equation(CHANGE, step["first order"], when=first_step_when),
                 Equation(CHANGE, step["no decay"], when=(*first_step_when, prose(sp.Eq(lam, 0, evaluate=False))))),
        tables=(_table(rule, runs, refs),),
        values={"conserved": q, **step, "runs": runs, "references": refs},
    )
