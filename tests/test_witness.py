"""Every result a derivation prints, witnessed by an independent numerical computation with the
rule's compiled kernel, with the branches it took counted and asserted.

- one-step λ_eff: a one-sided finite difference of the kernel's step in λ (at λ = 0), for every
  registered variant, at states drawn so that every branch of every max, min, abs, sign and
  step-dependent branch (the rule's and the derivation's case splits) is taken, and at the closed
  ends of every hyperparameter's range (β = 0, ψ = 0, τ = 1...);
- the settled step under a constant gradient: the kernel run on a constant gradient of both signs;
- the stability threshold: the spectral radius of the kernel's step, linearised by finite
  differences with the preconditioner held, just below and just above the derived threshold, at the
  defaults, at the ends of the ranges and, for a rule with step-dependent scalars (NAdam's μ_t), at
  finite t (from its finite-t form) and at ψ = 0 (the other case of its limit).

- E[x_t] of the moving averages: the mean of the kernel's state over 20000 parameters fed stationary
  noise, at t = 1, 2, 5, 30, at the defaults and every closed end of a range;
- the steady λ_eff: the kernel's extra shrink rate due to λ under zero-mean noise (the coupling
  simulation), at the defaults and at the ends the result's case split is on;
- the weight-norm equilibrium: the kernel's random walk of a scale-invariant weight;
- Schedule-Free's averaging weights: Σ w_t z_t / Σ w_t from the kernel's own z_t against its x_T, with
  and without warmup, at r = 0 and p = 0;
- the settled step through Newton–Schulz (Muon): the kernel on a constant matrix gradient against the
  derived step, its Newton–Schulz written here from its definition, on tall, wide and square matrices;
- factored second moments (Adafactor): the kernel's first step along g/√V̂ with the derived estimate
  (one step size where g² has rank one), its state's size, its decay without gradient.

The expensive witnesses run here on a fixed-seed sample of variants (``sampled_variants``: the default
and one more per rule); ``benchmarks/witness.py`` runs every variant. Nothing here names a rule.
"""

from __future__ import annotations

import functools
import math
import os
import random
import zlib

import numpy as np
import pytest
import sympy as sp
from conftest import derived_or_said_why

import symopt
from symopt import ops
from symopt import symbols as S
from symopt.derive import averaging, coupling, factored, moments, norms, stability, steady, weight_decay
from symopt.optimizers import get, label, rules, variants
from symopt.render import prose_text

EXAMPLES = 40 if os.environ.get("SYMOPT_WITNESS_ALL") else 8  # random draws per variant (the ends on top)
SELECTIONS = {"abs", "sign", "max", "min", "branch", "case split", "max ignoring NaN"}


def all_variants():
    return [get(name, **options) for name in rules() for options in variants(name)]


def sampled_variants(per_rule: int = 2, seed: int = 0):
    """The default variant of every rule and ``per_rule - 1`` more, drawn with a fixed seed and the
    rule's name: adding a rule or a variant does not change the draw of the others (one generator
    across the registry did, and a new rule's variants moved AdEMAMix's draw onto a costlier one)."""
    out = []
    for name in rules():
        others = variants(name)[1:]
        picks = random.Random(f"{seed}:{name}").sample(range(len(others)), min(per_rule - 1, len(others)))
        out += [get(name, **variants(name)[0])] + [get(name, **others[i]) for i in sorted(picks)]
    return out


def rules_of(where=None) -> list[str]:
    """The rules with a sampled variant ``where`` keeps (a cheap property, read at collection)."""
    return list(dict.fromkeys(rule.name for rule in SAMPLED if where is None or where(rule)))


def sampled_of(name: str, where=None) -> list:
    """The sampled variants of rule ``name`` that ``where`` keeps."""
    return [rule for rule in SAMPLED if rule.name == name and (where is None or where(rule))]


def rng_for(rule, salt: str = "") -> np.random.Generator:
    return np.random.default_rng(zlib.crc32((label(rule) + salt).encode()))


# --- evaluating the rule's equations and a derivation's expressions numerically ---------------------
@functools.lru_cache(maxsize=None)
def _compiled(expr: sp.Expr):
    symbols = sorted(expr.free_symbols, key=str)
    namespace = {"Max": max, "Min": min, "sign": lambda x: float(np.sign(x)), "Abs": abs, "FMax": max}
    return symbols, sp.lambdify(symbols, expr, modules=[namespace, "math"])


def value(expr, env: dict) -> float:
    """``expr`` at the numbers in ``env``; NaN where it is undefined (RAdam's r_t while ρ_t ≤ 4, which
    the rule computes and does not use)."""
    symbols, f = _compiled(sp.sympify(expr))
    try:
        return float(f(*(env[s] for s in symbols)))
    except (ValueError, ZeroDivisionError, OverflowError):
        return math.nan


def run_equations(rule, env: dict) -> dict:
    """Every quantity the rule assigns, in order, from the inputs in ``env`` (numbers)."""
    env = dict(env)
    for eq in rule.equations:
        env[eq.lhs] = value(eq.rhs, env)
    return env


def truth(condition, env: dict) -> bool:
    if condition in (sp.true, True):
        return True
    return bool(condition.xreplace({k: sp.Float(v) for k, v in env.items() if k in condition.free_symbols}))


def selections(exprs) -> list[sp.Basic]:
    """Every max, min, abs, sign and branch in ``exprs``, each once."""
    found: dict = {}
    for expr in exprs:
        for node in sp.preorder_traversal(expr):
            operation = None if ops.is_algebra(node) else ops.lookup(node)
            if operation is not None and operation.name in SELECTIONS:
                found.setdefault(node, None)
    return list(found)


def branches(node) -> set:
    if isinstance(node, sp.Piecewise):
        return set(range(len(node.args)))
    if isinstance(node, (sp.Abs, sp.sign)):
        return {"+", "-"}
    return set(range(len(node.args)))  # a max or min: the argument it selects


def branch(node, env: dict):
    if isinstance(node, sp.Piecewise):
        return next(i for i, (_, c) in enumerate(node.args) if truth(c, env))
    if isinstance(node, (sp.Abs, sp.sign)):
        x = value(node.args[0], env)
        return "+" if x > 0 else "-" if x < 0 else "0"
    values = [value(a, env) for a in node.args]
    pick = max if isinstance(node, (sp.Max, ops.FMax)) else min
    return values.index(pick(values))


def margin(node, env: dict) -> float:
    """How far the point is from the node's switching point, relative to its arguments."""
    if isinstance(node, sp.Piecewise):
        return math.inf
    if isinstance(node, (sp.Abs, sp.sign)):
        return abs(value(node.args[0], env))
    values = sorted(value(a, env) for a in node.args)
    return (values[-1] - values[-2]) / max(abs(values[-1]), 1e-300)


class Coverage:
    """The branches of each selection node, and those the witnesses took."""

    def __init__(self, nodes):
        self.nodes = list(nodes)
        self.taken = {node: set() for node in self.nodes}

    def record(self, env: dict) -> None:
        for node in self.nodes:
            self.taken[node].add(branch(node, env))

    def missing(self) -> dict:
        return {str(n): sorted(map(str, branches(n) - self.taken[n])) for n in self.nodes
                if branches(n) - self.taken[n]}


# --- drawing states and hyperparameters ---------------------------------------------------------------
def ends(rule, skip=()) -> list[dict]:
    """One set of hyperparameters per closed, finite end of each range (the rest at their defaults)."""
    out = []
    for h in rule.hypers:
        if h.name in skip or h.low == h.high:
            continue
        for end, open_ in ((h.low, h.low_open), (h.high, h.high_open)):
            if math.isfinite(end) and not open_:
                out.append({h.name: float(end)})
    return out


def draw_hyper(rule, rng, skip=(), short=False) -> dict:
    """A value of each hyperparameter from its sampling interval (``short``: decays ≤ 0.95, so
    that a run settles in a few hundred steps)."""
    out = {}
    for h in rule.hypers:
        if h.name in skip or h.low == h.high:
            continue
        low, high = h.sample
        x = float(10 ** rng.uniform(math.log10(low), math.log10(high))) if h.log and low > 0 else rng.uniform(low, high)
        if h.integer:
            x = float(round(x))
        if short and h.high == 1:
            x = min(x, 0.95)
        if h.contains(x):
            out[h.name] = x
    return out


def hyper_env(rule, hyper: dict) -> dict:
    return {h.symbol: float(hyper.get(h.name, h.default)) for h in rule.hypers}


def draw_state(rule, rng, t: int, hyper: dict | None = None, start: bool = False) -> dict:
    """A state before step t: array states log-uniform over six decades (signed unless the symbol
    is nonnegative), scalar states at their start at t = 1 (which may be a hyperparameter, at
    ``hyper``'s value) and in (0, 1/2] after; ``start``: at t = 1 the array states at their start as
    well (a number: ADOPT's v_0 = 0, below ε², which six decades from 10⁻⁴ never reach)."""
    state = {}
    for s in rule.states:
        init = sp.sympify(s.init).xreplace({k: sp.Float(v) for k, v in hyper_env(rule, hyper or {}).items()})
        if s.scalar:
            state[s.name] = float(init) if t == 1 else float(rng.uniform(0.01, 0.5))
        else:
            x = 10 ** rng.uniform(-4, 2)
            state[s.name] = x if s.prev.is_nonnegative else x * rng.choice((-1, 1))
            if start and t == 1 and init.is_number:
                state[s.name] = float(init)
    return state


def kernel_state(rule, state: dict) -> dict:
    return {s.name: (float(state[s.name]) if s.scalar else np.array([state[s.name]], dtype=float)) for s in rule.states}


def inputs(rule, state: dict, hyper: dict, t: int, g: float, theta: float) -> dict:
    env = {S.t: t, S.g: g, S.theta_prev: theta, **hyper_env(rule, hyper)}
    env.update({s.prev: state[s.name] for s in rule.states})
    return env


# --- one-step λ_eff ---------------------------------------------------------------------------------
DECAYING = [r for r in all_variants() if weight_decay.applies(r)]
STEPS = (1, 2, 3, 5, 8, 13, 100, 1000)


@pytest.mark.parametrize("rule_", DECAYING, ids=label)
def test_one_step_lambda_eff_is_the_kernels_derivative_on_every_branch(rule_):
    """λ_eff(one-step)/λ against -(∂θ_t/∂λ)/(ηθ_{t-1}) by a third-order one-sided difference of the
    kernel's step at λ = 0 (λ ≥ 0 is the kernel's range), at drawn states, steps and hyperparameters
    and at the ends of every range; every branch of the rule's and the result's selections taken."""
    lam, eta = rule_.hyper("weight_decay").symbol, rule_.hyper("lr").symbol
    derived = symopt.effective_weight_decay(rule_, "one-step") / lam
    coverage = Coverage(selections([eq.rhs for eq in rule_.equations] + [derived]))
    kernel = rule_.kernel()
    # the selections λ can switch: those that read an array (a tie on the step counter, ASGD's max(1, t - t₀),
    # is exact and does not move with λ)
    at_risk = [n for n in coverage.nodes if n.free_symbols & (S.ARRAYS | {s.prev for s in rule_.arrays})]
    rng = rng_for(rule_)
    skip = ("weight_decay",)
    cases = [{}] + [draw_hyper(rule_, rng, skip) for _ in range(EXAMPLES)] + [e for e in ends(rule_, skip=skip)
                                                                            for _ in range(2)]
    # then, while a branch is not taken, up to 4 × EXAMPLES more draws, at t = 1 from the rule's start
    # (drawn after the planned ones, which are as they were)
    checked = 0
    planned = len(cases)
    for i in range(planned + 4 * EXAMPLES):
        if i < planned:
            hyper = cases[i]
            t = (1, 100)[i % 2] if i > EXAMPLES else STEPS[i % len(STEPS)]  # each end at the first step and later
        elif not coverage.missing():
            break
        else:
            hyper, t = draw_hyper(rule_, rng, skip), STEPS[i % len(STEPS)]
            cases.append(hyper)
        for _ in range(50):  # redraw a state the rule cannot reach (√ of a negative) or within rounding of a switch
            state = draw_state(rule_, rng, t, hyper, start=i >= planned)
            g = float(10 ** rng.uniform(-3, 1) * rng.choice((-1, 1)))
            theta = float(abs(g) * 10 ** rng.uniform(-1, 1) * rng.choice((-1, 1)))
            env = run_equations(rule_, {**inputs(rule_, state, hyper, t, g, theta), lam: 0.0})
            defined = env[eta] == 0 or math.isfinite(value(derived, {**env, lam: 1.0}))
            if math.isfinite(env[S.theta]) and defined and min(
                    (margin(n, env) for n in at_risk), default=math.inf) > 1e-2:
                break
        else:
            # no point where the result is defined: a square root at 0 for every state (centred RMSprop at
            # α = 0, where v_t = ḡ_t²), which the derivation excludes in its assumptions
            roots = [p.base for eq in rule_.equations for p in eq.rhs.atoms(sp.Pow) if p.exp == sp.S.Half]
            assert any(value(r, env) == 0 for r in roots), (hyper, t)
            stated = " ".join(prose_text(a) for a in weight_decay.derivation(rule_).assumptions)
            assert "sqrt: smooth where its argument is positive" in stated, stated
            coverage.record(env)
            checked += 1
            continue
        coverage.record(env)
        if env[eta] == 0:  # the derivation states η > 0 (λ_eff is per unit of η): its branches counted only
            checked += 1
            continue
        h = 1e-4 * abs(g / theta)  # λθ at most 3e-4 of g: no switch within 1e-2 of its point is crossed

        def step(decay):
            params, _ = kernel.step(np.array([theta]), np.array([g]), kernel_state(rule_, state), t,
                                    weight_decay=decay, **hyper)
            return float(params[0])

        # third order, one-sided (λ ≥ 0): truncation ~(λθ/g)³
        slope = (-11 * step(0.0) + 18 * step(h) - 9 * step(2 * h) + 2 * step(3 * h)) / (6 * h)
        measured = -slope / (env[eta] * theta)
        expected = value(derived, {**env, lam: 1.0})
        # a few ulps of θ_t in each step, over the difference
        rounding = 200 * np.finfo(float).eps * max(abs(env[S.theta]), abs(theta)) / (h * env[eta] * abs(theta))
        assert measured == pytest.approx(expected, rel=1e-5, abs=rounding), (hyper, state, t, g, theta)
        checked += 1
    assert checked == len(cases)
    assert not coverage.missing(), coverage.missing()


# --- the settled step under a constant gradient --------------------------------------------------------
# benchmarks/witness.py sets SYMOPT_WITNESS_ALL: every variant, and more examples
SAMPLED = all_variants() if os.environ.get("SYMOPT_WITNESS_ALL") else sampled_variants()
SETTLE_STEPS = 3000
LATE = 10**6


@pytest.mark.parametrize("name", rules_of(lambda rule: rule.elementwise))
def test_settled_step_is_where_the_kernel_settles(subtests, name):
    derived_or_said_why(subtests, sampled_of(name, lambda rule: rule.elementwise),
                        "constant-gradient", settled_step_is_where_the_kernel_settles)


def settled_step_is_where_the_kernel_settles(rule_):
    """θ_t − θ_{t−1} after 3000 steps of a constant gradient from step 10⁶ (t → ∞; decays drawn ≤ 0.95
    so that the state settles, and every range's ends), for gradients of both signs over eight decades.
    Where the kernel settles more slowly than that (Adadelta's average of squared updates grows from 0 at
    a rate (1 − ρ)ε/(g² + ε) a step), the derived settled state must be the kernel's fixed point (one step
    from it leaves it and takes the derived step) and the run must be approaching it. Elementwise rules:
    Muon's settled step passes through Newton–Schulz, which the test below evaluates."""
    derived = steady.steady_step(rule_)
    coverage = Coverage(selections([derived]))
    kernel = rule_.kernel()
    rng = rng_for(rule_, "settled")
    skip = ("weight_decay",)
    grads = np.array([s * 10.0**e for e in (-4, -2, 0, 2) for s in (1, -1)])
    cases = [draw_hyper(rule_, rng, skip, short=True) for _ in range(3)] + [
        {**draw_hyper(rule_, rng, skip, short=True), **end} for end in ends(rule_, skip=skip)]
    keywords = {"weight_decay": 0.0} if rule_.hyper("weight_decay") else {}
    settled_state = stability.analysis.steady_state(rule_, {rule_.hyper("weight_decay").symbol: 0} if keywords else None)
    for hyper in cases:
        params = np.zeros_like(grads)
        state = kernel.init(params, **hyper)
        for t in range(LATE, LATE + SETTLE_STEPS):  # t → ∞, as the result states: bias corrections at 1
            before = params.copy()
            last = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}
            kernel.step(params, grads, state, t, inplace=True, **keywords, **hyper)
            if t == LATE + SETTLE_STEPS // 2:
                halfway = params - before
        measured = params - before
        for i, (g, step) in enumerate(zip(grads, measured)):
            env = {S.g: float(g), **hyper_env(rule_, hyper)}
            coverage.record(env)
            expected = value(derived, env)
            at = {k: (float(v[i]) if isinstance(v, np.ndarray) else v) for k, v in last.items()}
            slack = cancellation(rule_, inputs(rule_, at, hyper, t, float(g), float(before[i])), expected)
            if math.isnan(step):  # the residue rounded below 0: its root is NaN, as the ops table declares
                assert slack > 0, (hyper, g)
                continue
            # θ_t − θ_{t−1} carries an ulp of θ each (ADOPT from a zero v at t = 10⁶ first steps by g/ε: θ ~ 10⁶)
            rounding = 2 * float(np.spacing(max(abs(before[i]), abs(params[i]))))
            tolerance = 1e-6 * abs(expected) + 1e-12 * max(1.0, abs(g)) + slack + rounding
            if abs(step - expected) > tolerance:  # still settling: a fixed point, and approached
                assert abs(step - expected) < abs(halfway[i] - expected), (hyper, g, step, expected)
                fixed = {s.name: value(settled_state[s.new], env) for s in rule_.states}
                from_fixed = {s.name: (np.array([fixed[s.name]]) if not s.scalar else fixed[s.name]) for s in rule_.states}
                new_params, new_state = kernel.step(np.array([0.5]), np.array([g]), from_fixed, t, **keywords, **hyper)
                assert float(new_params[0]) - 0.5 == pytest.approx(expected, rel=1e-9, abs=1e-12), (hyper, g)
                for s in rule_.arrays:
                    assert float(new_state[s.name][0]) == pytest.approx(fixed[s.name], rel=1e-9, abs=1e-12), s.name
                continue
            assert step == pytest.approx(expected, rel=1e-6, abs=1e-12 * max(1.0, abs(g)) + slack + rounding), (hyper, g)
    assert not coverage.missing(), coverage.missing()


def cancellation(rule_, env: dict, expected: float, steps: int = 400) -> float:
    """How far the settled step moves if each square root whose argument cancels to (near) 0 has that
    argument off by 8 units of roundoff of its terms: centred RMSprop's ṽ_t = v_t − ḡ_t² is exactly 0
    under a constant gradient, and any floating-point kernel takes the root of a rounding residue
    there, up to √(8u·2g²), which is not small against ε (nor against 1 at g = 100). The equations
    with the arguments so shifted are iterated ``steps`` times from the state in ``env`` (the error
    accumulates in a momentum buffer): the kernel's step lies between that and the ``expected`` one."""
    env = {k: 0.0 if isinstance(v, float) and math.isnan(v) else v for k, v in env.items()}  # a NaN step before
    env = {**env, **({rule_.hyper("weight_decay").symbol: 0.0} if rule_.hyper("weight_decay") else {})}
    exact = run_equations(rule_, env)
    assigned = {eq.lhs: eq.rhs for eq in rule_.equations if eq.lhs != S.g}
    u = np.finfo(float).eps

    def magnitude(expr):  # the sum of its terms' sizes, through the rule's named intermediates (ṽ_t = v_t − ḡ_t²)
        return sum(magnitude(assigned[term]) if term in assigned and assigned[term].is_Add else abs(value(term, exact))
                   for term in sp.Add.make_args(sp.expand(expr)))

    roots = {p for eq in rule_.equations for p in eq.rhs.atoms(sp.Pow) if abs(p.exp) == sp.S.Half}
    near = {p: 8 * u * magnitude(p.base) for p in roots}
    near = {p: d for p, d in near.items() if abs(value(p.base, exact)) <= 1e6 * d}
    if not near:
        return 0.0
    shifted = [sp.Eq(eq.lhs, eq.rhs.xreplace({p: (p.base + sp.Float(d)) ** p.exp for p, d in near.items()}))
               for eq in rule_.equations]

    def settle(equations):
        values = dict(env)
        for _ in range(steps):
            for eq in equations:
                values[eq.lhs] = value(eq.rhs, values)
            step = values[S.theta] - values[S.theta_prev]
            values.update({s.prev: values[s.new] for s in rule_.states})
            values.update({S.theta_prev: values[S.theta], S.t: values[S.t] + 1, S.g: env[S.g]})
        return step

    slack = abs(settle(shifted) - expected)
    return math.inf if math.isnan(slack) else slack  # a residue below 0: as the ops table's √ bound, no bound


# --- the stability threshold -----------------------------------------------------------------------------


def jacobian_radius(rule_, hyper: dict, curvature: float, t: int, frozen: tuple[str, ...]) -> float:
    """The spectral radius of the kernel's step on ½aθ² at θ = 0, by central differences in θ and
    the states that are not held (the held ones at 1, as the derivation assumes)."""
    kernel = rule_.kernel()
    moving = [s for s in rule_.arrays if s.name not in frozen]
    n = 1 + len(moving)
    scalars = {s.name: scalar_at(rule_, s, hyper, t) for s in rule_.scalars}
    keywords = {"weight_decay": 0.0} if rule_.hyper("weight_decay") else {}

    def f(x):
        state = kernel.init(np.zeros(1), **hyper)
        for s in rule_.arrays:
            state[s.name][...] = 1.0 if s.name in frozen else 0.0
        for s, v in zip(moving, x[1:]):
            state[s.name][...] = v
        state.update(scalars)
        theta = np.array([x[0]])
        params, new = kernel.step(theta, curvature * theta, state, t, **keywords, **hyper)
        return np.array([params[0], *(new[s.name][0] for s in moving)])

    h = 1e-30
    J = np.column_stack([(f(h * e) - f(-h * e)) / (2 * h) for e in np.eye(n)])
    return float(max(abs(np.linalg.eigvals(J))))


def scalar_at(rule_, state, hyper: dict, t: int) -> float:
    """A scalar state before step t, by running the kernel's own scalar updates from step 1 (at most
    20000 steps: NAdam's product of momentum factors below 1 has underflowed to 0 by then, and a moving
    average of 1 at β₂ = 0.999, LaProp's 1 - β₂ᵗ, is within 1e-8 of its limit, where 2000 left it at 0.86)."""
    return _scalar_run(rule_, tuple(sorted(hyper.items())))[min(t, 20001) - 1][state.name]


@functools.lru_cache(maxsize=None)
def _scalar_run(rule_, hyper: tuple) -> list[dict]:
    """The rule's scalar states before each step 1 to 20001, from one run of the kernel (each t the
    test asks for is a step of it)."""
    hyper = dict(hyper)
    kernel = rule_.kernel()
    s = kernel.init(np.zeros(1), **hyper)
    names = [state.name for state in rule_.scalars]
    out = [{n: float(s[n]) for n in names}]
    for k in range(1, 20001):
        _, s = kernel.step(np.zeros(1), np.zeros(1), s, k, **hyper)
        out.append({n: float(s[n]) for n in names})
    return out


def threshold_at(rule_, hyper: dict, t: int | None):
    """The derived threshold in a (not per preconditioned curvature), and whether the branches the
    derivation takes hold there: its finite-t form with the step-dependent scalars computed from the
    rule's equations at step t, or its limit (t None), the held states at 1 and g_t = 0."""
    th = stability.threshold(rule_)
    lin = stability.linearise(rule_)
    step = t or LATE
    env = {**hyper_env(rule_, hyper), S.theta_prev: 0.0, S.g: 0.0, S.t: step}
    env.update({s.prev: (1.0 if s.name in lin.frozen else 0.0) for s in rule_.arrays})
    env.update({s.prev: scalar_at(rule_, s, hyper, step) for s in rule_.scalars})
    env = run_equations(rule_, env)
    holds = all(truth(c, env) for c in lin.branches)
    return value((th.finite_scaled if t else th.scaled) * th.scale, env), holds


@pytest.mark.parametrize("name", rules_of())
def test_threshold_is_where_the_kernels_linearised_step_turns_unstable(subtests, name):
    derived_or_said_why(subtests, sampled_of(name),
                        "stability", threshold_is_where_the_kernels_linearised_step_turns_unstable)


def threshold_is_where_the_kernels_linearised_step_turns_unstable(rule_):
    """Just below the derived threshold the kernel's linearised step contracts, just above it expands
    (the preconditioner held at 1): at the defaults, at each range's ends the derivation does not
    exclude, and, where the threshold has a finite-t form, at t = 10 and t = 10⁴ as well."""
    th = stability.threshold(rule_)
    lin = stability.linearise(rule_)
    excluded = {(e.lhs, float(e.rhs)) for case in stability._cases(th.scaled) for e in stability._infinite_at(rule_, case)}
    limit_cases = Coverage(th.scaled.atoms(sp.Piecewise))
    cases = [{}] + [end for end in ends(rule_, skip=("weight_decay", "lr"))  # η = 0: excluded, as the derivation states
                    if not any((rule_.hyper(k).symbol, v) in excluded for k, v in end.items())]
    steps = [None] + ([10, 10**4] if th.kept else [])
    contracting = stability.analysis.contracting(rule_)
    checked = 0
    for hyper in cases:
        for t in steps:
            star, holds = threshold_at(rule_, hyper, t)
            if not holds:  # outside a branch the derivation states it takes (RAdam's ρ_t > 5 at β₂ = 0)
                continue
            if t and lin.powers and max(hyper_env(rule_, hyper)[b] ** t for b in contracting) > 1e-3:
                continue  # the finite form states that the powers of t in the step are at their limit
            at = t or LATE
            below = jacobian_radius(rule_, hyper, star * (1 - 1e-3), at, lin.frozen)
            above = jacobian_radius(rule_, hyper, star * (1 + 1e-3), at, lin.frozen)
            assert below < 1 < above, (hyper, t, star, below, above)
            checked += 1
            if t is None:
                limit_cases.record(hyper_env(rule_, hyper))
    assert checked >= len(steps)
    assert not limit_cases.missing(), limit_cases.missing()


# --- every result says when it holds ---------------------------------------------------------------------
STATED = ("effective-weight-decay", "moving-averages", "constant-gradient", "iterate-averaging", "newton-schulz",
          "factored-moments")  # the ones that run simulations state theirs as well (derivations/ prints them)


@pytest.mark.parametrize("name", rules())
def test_every_result_says_when_it_holds_in_text_and_json(name):
    """Each result of these derivations lists its conditions (t → ∞, first order in λ, zero-mean noise,
    a constant gradient...), printed under it and in the JSON's ``holds_when`` and ``limits``."""
    from symopt.render import derivation_json, derivation_text

    for key in STATED:
        (d,) = symopt.derivations(name, only=key)
        if not d.applies:
            continue
        data = derivation_json(d)
        for result, out in zip(d.results, data["results"]):
            assert result.when and out["holds_when"] == [prose_text(c) for c in result.when]
        assert set(data["limits"]) == {c for out in data["results"] for c in out["holds_when"]}
        assert derivation_text(d).count("holds when: ") == len(d.results)


# --- E[x_t] of the moving averages, from a zero start --------------------------------------------------
MOMENT_STEPS = (1, 2, 5, 30)
MEAN, NOISE, WIDTH = 0.5, 1.0, 20_000  # the gradients N(MEAN, NOISE²), over WIDTH parameters


@pytest.mark.parametrize("name", rules_of())
def test_state_means_are_the_kernels_averages_over_the_noise(subtests, name):
    derived_or_said_why(subtests, sampled_of(name),
                        "moving-averages", state_means_are_the_kernels_averages_over_the_noise)


def state_means_are_the_kernels_averages_over_the_noise(rule_):
    """E[x_t] of each state the derivation solves (rsolve from the rule's first step) against the mean, over
    20000 parameters (500 for a rule with a Gram matrix per side), of the kernel's state fed independent gradients N(0.5, 1) (stationary, λ = 0): at
    t = 1, 2, 5 and 30, at the defaults and at every closed end of a range, within five standard errors
    of the measured mean; every branch of the results' case splits taken."""
    d = moments.derivation(rule_)
    means = {s: d.values[s.name] for s in rule_.states if s.name in d.values}
    assert means
    coverage = Coverage(selections(means.values()))
    kernel = rule_.kernel()
    keywords = {"weight_decay": 0.0} if rule_.hyper("weight_decay") else {}
    rng = rng_for(rule_, "moments")
    for hyper in [{}] + ends(rule_, skip=("weight_decay",)):
        shape = (WIDTH // 10, 10) if rule_.ranks else (WIDTH,)  # a matrix for a rule that takes matrices
        if any(s.shape in ("row_gram", "column_gram") for s in rule_.arrays):  # a Gram matrix per side (SOAP's
            shape = (20, 25)  # Kronecker factors, whose products cost A³ and B³): both sides small
        params = np.zeros(shape)
        state = kernel.init(params, **hyper)
        for t in range(1, MOMENT_STEPS[-1] + 1):
            kernel.step(params, MEAN + NOISE * rng.standard_normal(shape), state, t, inplace=True, **keywords, **hyper)
            if t not in MOMENT_STEPS:
                continue
            env = {**hyper_env(rule_, hyper), S.t: t, S.theta0: 0.0}  # the parameters start at 0
            moments_of_g = {S.Mean(S.g): MEAN, S.Mean(S.g**2): MEAN**2 + NOISE**2}
            for s, mean in means.items():
                averaged = mean.xreplace({k: sp.Float(v) for k, v in moments_of_g.items()})
                expected = value(averaged, env)
                if math.isnan(expected) and hyper:  # a closed form undefined at the end of a range, where its
                    (name, end), = hyper.items()  # limit is the value ((β₁ - β₁ᵗ)/β₁ at β₁ = 0): the limit
                    symbol = rule_.hyper(name).symbol
                    rest = {k: v for k, v in env.items() if k != symbol}
                    expected = float(sp.limit(averaged.xreplace(rest), symbol, end, "+" if end == rule_.hyper(name).low else "-"))
                measured = np.asarray(state[s.name], dtype=float)
                error = 5 * measured.std() / math.sqrt(params.size) + 1e-12 * abs(expected)
                assert measured.mean() == pytest.approx(expected, abs=error), (s.name, hyper, t)
            coverage.record(env)
    assert not coverage.missing(), coverage.missing()


# --- the steady λ_eff under zero-mean noise -----------------------------------------------------------


@pytest.mark.parametrize("name", rules_of())
def test_steady_lambda_eff_is_the_kernels_shrink_rate_under_zero_mean_noise(subtests, name):
    derived_or_said_why(subtests, sampled_of(name),
                        "coupling", steady_lambda_eff_is_the_kernels_shrink_rate_under_zero_mean_noise)


def steady_lambda_eff_is_the_kernels_shrink_rate_under_zero_mean_noise(rule_):
    """The steady λ_eff/λ (zero-mean noise, the rule's averages read as moments of g: only those that are
    moving averages of g) against the kernel: two runs on the same zero-mean noise, with and without λ, of
    gradient RMS 1e-3 and 1, the extra shrink rate measured (the coupling simulation, 200 parameters per
    scale), within 5%: at the defaults and at the ends of the hyperparameters the result splits on (each
    case of its case split taken), at step counts from the rule's settling time on (t → ∞)."""
    expr = coupling.ratio_expression(rule_)
    coverage = Coverage(selections([expr]))
    split = {x for p in expr.atoms(sp.Piecewise) for _, c in p.args for x in c.free_symbols}
    cases = [{}] + [e for e in ends(rule_, skip=("weight_decay", "lr")) if any(
        rule_.hyper(k).symbol in split for k in e)]
    for hyper in cases:
        # t → ∞: the moving averages settled (5 horizons of the longest, an average without bias correction
        # is still biased after the coupling table's 500 steps), and the step-dependent factors too
        values = hyper_env(rule_, hyper)
        horizon = max((1 / (1 - values[b]) for b in stability.analysis.contracting(rule_) if values[b] < 1), default=1)
        settles = coupling.settling_time(rule_)
        warmup = max(500, min(10_000, int(5 * horizon)), coupling.MAX_WARMUP if settles is None else settles)
        sim = coupling.simulate(rule_, parameters=200, hyper=hyper, warmup=warmup)
        for measured, derived in zip(sim.measured, sim.derived):
            assert measured == pytest.approx(derived, rel=0.05), (hyper, sim)
        coverage.record(hyper_env(rule_, hyper))
    assert not coverage.missing(), coverage.missing()


# --- the equilibrium of a scale-invariant weight --------------------------------------------------------


@pytest.mark.parametrize("name", rules_of())
def test_norm_equilibrium_is_where_the_kernels_random_walk_settles(subtests, name):
    derived_or_said_why(subtests, sampled_of(name), "norms", norm_equilibrium_is_where_the_kernels_random_walk_settles)


def norm_equilibrium_is_where_the_kernels_random_walk_settles(rule_):
    """The equilibrium norm, the angular update and the time to shrink 30x to 10x the equilibrium, against
    a random walk of a 256-coordinate scale-invariant weight with the kernel (gradient noise orthogonal to
    θ, of mean square c/W²), within 5%, for every sampled variant the derivation applies to."""
    walk = norms.simulate(rule_)
    assert max(walk.errors()) <= norms.TOLERANCE, walk


# --- Schedule-Free's averaging weights --------------------------------------------------------------


@pytest.mark.parametrize("name", rules_of())
def test_averaging_weights_are_the_kernels(subtests, name):
    derived_or_said_why(subtests, sampled_of(name), "iterate-averaging", averaging_weights_are_the_kernels)


def averaging_weights_are_the_kernels(rule_):
    """x_T = Σ w_t z_t / Σ w_t with the derived weights (the closed forms during and after a linear warmup)
    against the kernel's x_T, over 40 steps of random gradients, z_t read from the kernel's state after each
    step: with a warmup (T_w = 10, r = 1.5), without one, at r = 0 and at p = 0 (the ends of their ranges)."""
    d = averaging.derivation(rule_)
    during, after = d.values["weight during warmup"], d.values["weight after warmup"]
    kernel = rule_.kernel()
    rng = rng_for(rule_, "averaging")
    cases = [{"warmup_steps": 10.0, "r": 1.5}, {"warmup_steps": 0.0, "r": 1.5}, {"warmup_steps": 10.0, "r": 0.0},
             {"warmup_steps": 10.0, "r": 1.5, "weight_lr_power": 0.0}]
    keywords = {"weight_decay": 0.0} if rule_.hyper("weight_decay") else {}
    for case in cases:
        hyper = {"lr": 0.1, **case}
        env = hyper_env(rule_, hyper)
        warm = env[rule_.hyper("warmup_steps").symbol]
        params = rng.standard_normal(3)
        state = kernel.init(params, **hyper)
        weights, iterates = [], []
        for t in range(1, 41):
            kernel.step(params, rng.standard_normal(3), state, t, inplace=True, **keywords, **hyper)
            weights.append(value(during if t <= warm else after, {**env, S.t: t}))
            iterates.append(np.array(state["z"], dtype=float))
        expected = sum(w * z for w, z in zip(weights, iterates)) / sum(weights)
        assert np.asarray(state["x"], dtype=float) == pytest.approx(expected, rel=1e-9, abs=1e-12), case


# --- the settled step of a rule on whole matrices (Newton–Schulz) ------------------------------------------
def _newton_schulz(rule) -> bool:
    return any(isinstance(n, ops.NewtonSchulz) for eq in rule.equations for n in sp.preorder_traversal(eq.rhs))


SHAPES = ((6, 4), (4, 6), (5, 5))  # tall, wide, square: each side of a max or min on the shape


def newton_schulz(x: np.ndarray, a: float, b: float, c: float, steps: int, eps: float) -> np.ndarray:
    """The Newton–Schulz iteration from its definition (Bernstein & Newhouse 2024; Jordan et al. 2024): X
    divided by max(‖X‖_F, ε), then k times X ← aX + (bA + cA²)X with A = XXᵀ, on the wide orientation."""
    tall = x.shape[0] > x.shape[1]
    x = x.T if tall else x
    x = x / max(np.linalg.norm(x), eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


@pytest.mark.parametrize("name", rules_of(_newton_schulz))
def test_settled_step_through_newton_schulz_is_where_the_kernel_settles(subtests, name):
    derived_or_said_why(subtests, sampled_of(name, _newton_schulz),
                        "constant-gradient", settled_step_through_newton_schulz_is_where_the_kernel_settles)


def settled_step_through_newton_schulz_is_where_the_kernel_settles(rule_):
    """θ_t − θ_{t−1} after 600 steps of a constant matrix gradient (the momentum settled: t → ∞), against
    the derived settled step with its Newton–Schulz evaluated by the iteration written from its definition
    here, on tall, wide and square matrices, at the defaults and at every closed end of a range (one
    Newton–Schulz step, no momentum, η = 0); every branch of the result's selections taken."""
    derived = steady.steady_step(rule_)
    nodes = [n for n in sp.preorder_traversal(derived) if isinstance(n, ops.NewtonSchulz)]
    assert nodes
    placeholder = {n: sp.Symbol(f"NS{i}") for i, n in enumerate(nodes)}
    coverage = Coverage(selections([derived.xreplace(placeholder)]))
    kernel = rule_.kernel()
    rng = rng_for(rule_, "newton-schulz")
    keywords = {"weight_decay": 0.0} if rule_.hyper("weight_decay") else {}
    for hyper in [{}] + ends(rule_, skip=("weight_decay",)):
        for shape in SHAPES:
            g = rng.standard_normal(shape)
            params = np.zeros(shape)
            state = kernel.init(params, **hyper)
            for t in range(1, 601):
                before = params.copy()
                kernel.step(params, g, state, t, inplace=True, **keywords, **hyper)
            env = {**hyper_env(rule_, hyper), **S.shape_values(shape)}
            coverage.record(env)
            expected = np.zeros(shape)
            for term in sp.Add.make_args(sp.expand(derived)):
                (node,) = [n for n in nodes if term.has(n)]
                x, a, b, c, k, eps = (node.args[0], *(value(arg, env) for arg in node.args[1:]))
                assert x == S.g
                expected += value(term.xreplace({node: 1}), env) * newton_schulz(g, a, b, c, int(k), eps)
            assert params - before == pytest.approx(expected, rel=1e-9, abs=1e-12 * max(1.0, np.abs(expected).max())), (
                hyper, shape)
    assert not coverage.missing(), coverage.missing()


# --- factored second moments -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", rules_of())
def test_factored_estimate_memory_and_decay_are_the_kernels(subtests, name):
    derived_or_said_why(subtests, sampled_of(name),
                        "factored-moments", factored_estimate_memory_and_decay_are_the_kernels)


def factored_estimate_memory_and_decay_are_the_kernels(rule_):
    """The derivation evaluates the rule's equations on symbolic matrices; the kernel computes with numbers.
    Its first step on a 3 x 4 gradient is along g/√V̂ with V̂ the derived estimate (a step of one size on
    every element where g² has rank one, where the estimate is exact; not for a general g²); its state
    holds the derived number of elements for tall, wide and square parameters; with no gradient it takes
    the derived decay."""
    d = factored.derivation(rule_)
    kernel = rule_.kernel()
    rng = rng_for(rule_, "factored")
    rows, cols = factored.SIDES
    for rank_one in (True, False):
        if rank_one:
            squares = np.outer(rng.uniform(0.5, 2, rows), rng.uniform(0.5, 2, cols))
        else:
            squares = rng.uniform(0.5, 2, (rows, cols))
        g = np.sqrt(squares) * rng.choice((-1, 1), size=(rows, cols))
        estimate = factored.estimate(rule_, sp.Matrix(squares.tolist()))
        expected = g / np.sqrt(np.array(estimate.evalf(), dtype=float))
        params = rng.standard_normal((rows, cols))
        start = params.copy()
        kernel.step(params, g, kernel.init(params), 1, inplace=True, weight_decay=0.0)
        step = params - start
        cosine = -(step * expected).sum() / (np.linalg.norm(step) * np.linalg.norm(expected))
        assert cosine == pytest.approx(1.0, abs=1e-12), rank_one
        if rank_one:  # exact: g/√V̂ = sign(g), one step size everywhere
            assert np.abs(step) == pytest.approx(np.abs(step).mean(), rel=1e-9)
        else:
            assert np.ptp(np.abs(step)) > 1e-3 * np.abs(step).mean()
    for shape in ((rows, cols), (cols, rows), (4, 4)):
        state = kernel.init(np.zeros(shape))
        arrays = sum(np.size(state[s.name]) for s in rule_.arrays)
        assert arrays == int(d.values["elements"].xreplace(S.shape_values(shape))), shape
    params = rng.standard_normal((rows, cols))
    start = params.copy()
    hyper = {"lr": 0.01, "weight_decay": 0.1}
    kernel.step(params, np.zeros_like(params), kernel.init(params), 5, inplace=True, **hyper)
    expected = np.vectorize(lambda x: value(d.values["decayed"], {**hyper_env(rule_, hyper), S.theta_prev: x}))(start)
    assert params == pytest.approx(expected, rel=1e-12)
