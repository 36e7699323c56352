"""What a rule's state averages, from a zero start: bias correction and momentum as an average.

For each state variable whose update is linear in its previous value, ``x_t = a x_{t-1} + b_t``,
the expectation over stationary gradients obeys the same recurrence with ``E[b]`` constant; SymPy's
``rsolve`` solves it from the rule's own first step. For Adam this gives ``E[m_t] = (1 - β₁ᵗ) E[g_t]``,
so dividing by ``1 - β₁ᵗ`` (the rule's m̂_t) is exactly unbiased; for heavy ball it gives the
average ``E[v_t] → (1 - τ) E[g_t]/(1 - ρ)``.
"""

from __future__ import annotations

import sympy as sp

from symopt import symbols as S
from symopt.core import Rule
from symopt.derive.analysis import expectation, factor, long_run
from symopt.derive.base import Derivation, Equation, Private, Step, holds, prose
from symopt.errors import NotDerivable

TITLE = "Moving averages from a zero start (bias correction)"
REQUIRES = "a state variable updated as a linear recurrence (a moving average or a trace)"


def _recurrence(rule: Rule, state) -> tuple[sp.Expr, sp.Expr, sp.Expr] | None:
    """``(a, E[b], E[x_1])`` for ``x_t = a x_{t-1} + b_t`` (t > 1), without weight decay; None if the
    state is not such a recurrence (:func:`recurrence` says why)."""
    try:
        return recurrence(rule, state)
    except NotDerivable:
        return None


def recurrence(rule: Rule, state) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """``(a, E[b], E[x_1])`` for ``x_t = a x_{t-1} + b_t`` (t > 1), without weight decay.

    Raises:
        NotDerivable: saying how the state's update differs from such a recurrence.
    """
    decay = rule.hyper("weight_decay")
    no_decay = {decay.symbol: 0} if decay else {}
    if state.scalar:
        raise NotDerivable(f"{state.name} is one number for all parameters, not an average of the gradients")
    new = rule.step_map()[state.new].xreplace(no_decay)
    general = new.subs(sp.Eq(S.t, 1), sp.false)
    a = sp.diff(general, state.prev)
    if a.free_symbols & {S.g, state.prev, S.theta_prev, S.t} or a == 0:
        raise NotDerivable(f"{state.name}'s update is not linear in {state.name} with a constant coefficient")
    rest = sp.expand(general - a * state.prev)
    if rest.has(state.prev) or rest.free_symbols & (S.ARRAYS - {S.g}):
        # it reads other state (RMSprop's buffer divides by √v_t): not a plain average
        others = sorted(str(x) for x in rest.free_symbols & (S.ARRAYS - {S.g}))
        raise NotDerivable(f"{state.name}'s update reads other state ({', '.join(others)}), not only g_t")
    if rest.has(S.t):
        raise NotDerivable(f"{state.name}'s input changes with the step counter")  # Schedule-Free's warmed-up lr
    first = new.xreplace({state.prev: state.init}).subs(S.t, 1)
    return a, expectation(rest), expectation(first)


def check(rule: Rule) -> None:
    """A state variable that is a linear recurrence (a moving average or a trace).

    Raises:
        NotDerivable: with, for each state, how it differs from one.
    """
    reasons = []
    for state in rule.states:
        try:
            recurrence(rule, state)
            return
        except NotDerivable as exc:
            reasons.append(str(exc))
    raise NotDerivable("no state is a linear recurrence of its previous value: " + "; ".join(reasons)
                       if reasons else f"{rule.name} keeps no state")


# E[x_t] holds at every t from a zero start; what it needs is the gradients' distribution fixed.
STATIONARY = (prose("stationary gradients"), prose(sp.Eq(S.lam, 0), ", ", S.theta_prev, " fixed"))


def applies(rule: Rule) -> bool:
    """Any rule with a state variable that is a linear recurrence (a moving average or a trace)."""
    return holds(check, rule)


def mean_of_state(rule: Rule, state) -> sp.Expr:
    """E[x_t] for stationary gradients, solved from the rule's recurrence with ``rsolve``."""
    a, b, first = _recurrence(rule, state)
    means = {m: sp.Dummy() for m in (b + first).atoms(S.Mean)}  # constants for rsolve
    x = sp.Function("x")
    solution = sp.rsolve(x(S.t) - a * x(S.t - 1) - b.xreplace(means), x(S.t), {x(1): first.xreplace(means)})
    return _readable(solution.xreplace({d: m for m, d in means.items()}))


def _readable(expr: sp.Expr) -> sp.Expr:
    """``expr`` factored, as ``(1 - β₁ᵗ) E[g_t]``; or, if a factor mixes βᵗ into a longer sum,
    collected in its powers of t with each coefficient factored."""
    factored = factor(expr)
    if not any(len(e.args) > 2 and e.has(S.t) for e in factored.find(lambda e: e.is_Add)):
        return factored
    powers = sorted((p for p in expr.atoms(sp.Pow) if p.exp.has(S.t)), key=sp.default_sort_key)
    collected = sp.collect(sp.expand(expr), powers, evaluate=False)
    return sp.Add(*(factor(c) * p for p, c in collected.items()))


def derivation(rule: Rule) -> Derivation:
    """E[x_t] for each state variable, its long-run value, and E of what the rule makes from it."""
    steps, results, values = [], [], {}
    state_means = {}
    for state in rule.states:
        recurrence = _recurrence(rule, state)
        if recurrence is None:
            continue
        a, b, first = recurrence
        mean = mean_of_state(rule, state)
        state_means[state.new] = mean
        lhs = S.Mean(state.new)
        steps.append(
            Step(
                prose("The update of ", state.new, " (", state.doc, ") is linear in ", state.prev,
                      "; averaged over stationary gradients, for ", sp.StrictGreaterThan(S.t, 1), ":"),
                (Equation(lhs, a * S.Mean(state.prev) + b),),
            )
        )
        limit = factor(long_run(mean, rule).subs(S.t, sp.oo)) if mean.has(S.t) else mean
        steps.append(
            Step(
                prose("Solved with rsolve from the rule's first step, ", sp.Eq(S.Mean(_at_one(state)), first),
                      ", and its limit as ", S.Tends(S.t, sp.oo), ":"),
                (Equation(lhs, mean), Equation(sp.Limit(lhs, S.t, sp.oo), limit)),
            )
        )
        results.append(Equation(lhs, mean, when=STATIONARY))
        values[state.name] = mean
        steps += _is_it_an_average(rule, state, limit)
    # What the rule builds from the state: m̂_t = m_t/(1 - β₁ᵗ) has E[m̂_t] = E[g_t] at every t.
    for eq in rule.equations:
        sources = [s for s in state_means if eq.rhs.has(s)]
        if eq.lhs == S.theta or eq.lhs in state_means or len(sources) != 1 or eq.rhs.has(S.g):
            continue
        (source,) = sources
        if sp.diff(eq.rhs, source, 2) != 0:  # only quantities linear in the state
            continue
        mean = factor(sp.cancel(eq.rhs.subs(source, state_means[source])))
        steps.append(Step(prose(eq.lhs, " is linear in ", source, ", so:"), (Equation(S.Mean(eq.lhs), mean),)))
        results.append(Equation(S.Mean(eq.lhs), mean, when=STATIONARY))
        values[str(eq.lhs)] = mean
    corrected = any(eq.lhs.func == S.Mean and eq.rhs.func == S.Mean for eq in results)
    unfollowed = None if corrected else _unfollowed_correction(rule, state_means, followed=values)
    if unfollowed:
        where, powers, solved = unfollowed
        steps.append(Step(prose(*_listed(where), " also hold" if len(where) > 1 else " also holds", " ",
                                *_listed(powers), ", the zero start's decay",
                                *((" (once ", *_listed(list(solved)), " is" if len(solved) == 1 else " are",
                                   " solved from the rule's first step)") if solved else ()),
                                ": a correction this derivation does not follow through the nonlinear steps between "
                                "the state and the update, so whether it is exact is not derived here.")))
    return Derivation(
        key="moving-averages",
        title=TITLE,
        rule=rule.name,
        summary=prose(
            "What each state variable averages, for gradients drawn from a stationary distribution. A moving "
            "average started at 0 is pulled towards 0 for its first steps; ",
            "the rule's bias correction divides that out exactly." if corrected else
            "the rule's steps hold the same decay (a bias correction), through nonlinear steps this derivation "
            "does not follow." if unfollowed else
            "the rule's correction leaves a bias (its mean is below)." if len(values) > len(state_means) else
            "this rule does not correct for it.",
        ),
        assumptions=(
            prose("the gradients are stationary: ", S.Mean(S.g ** Private("k")), " does not depend on ", S.t),
            prose("no weight decay (", sp.Eq(S.lam, 0), ") and ", S.theta_prev, " held fixed"),
        ),
        steps=tuple(steps),
        results=tuple(results),
        values=values,
    )


def _unfollowed_correction(rule: Rule, state_means: dict, followed: dict) -> tuple[list, list, dict] | None:
    """Where a rule corrects a state's zero start in a way :func:`derivation` cannot follow (the
    correction divides a quantity that is not linear in the state, or the state reads other state:
    LaProp's ``g_t/√(v_t/ζ_t)`` with ``ζ_t = 1 - β₂ᵗ`` kept as scalar state, SOAP's step in the
    eigenbasis, Prodigy's ``β₁^(K+1)`` with its own step count K): the equations, other than the states'
    own updates and the quantities already followed, that hold a power of a state's decay (a
    hyperparameter that a state's update multiplies its previous value by) whose exponent counts
    steps (t, or a state: Prodigy's K), once each scalar state that is a linear recurrence is replaced by
    its solution. None where none does: then the rule does not correct for the zero start."""
    hypers = {h.symbol for h in rule.hypers}
    bases = set()
    for state in rule.states:
        if not state.scalar:
            general = rule.step_map()[state.new].subs(sp.Eq(S.t, 1), sp.false)
            bases |= sp.diff(general, state.prev).free_symbols & hypers
    counters = {S.t} | {x for state in rule.states for x in (state.new, state.prev)}  # a step count's symbols
    solved = _scalar_solutions(rule)
    where, powers = [], []
    for eq in rule.equations:
        if eq.lhs in state_means or eq.lhs in solved or str(eq.lhs) in followed:
            continue
        rhs = eq.rhs.xreplace(solved)
        found = sorted((p for p in rhs.atoms(sp.Pow) if p.base in bases and p.exp.free_symbols & counters),
                       key=sp.default_sort_key)
        if found:
            where.append(eq.lhs)
            powers += [p for p in found if p not in powers]
    used = {k: v for k, v in solved.items() if any(eq.rhs.has(k) for eq in rule.equations if eq.lhs in where)}
    return (where, powers, used) if where else None


def _scalar_solutions(rule: Rule) -> dict:
    """Each scalar state that is a linear recurrence of constant coefficients, ``x_t = a x_{t-1} + b``
    (LaProp's ``ζ_t = β₂ ζ_{t-1} + 1 - β₂``), as its solution in t from the rule's first step: the new
    and the previous symbol, to substitute."""
    solved = {}
    x = sp.Function("x")
    for state in rule.scalars:
        new = rule.step_map()[state.new]
        general = new.subs(sp.Eq(S.t, 1), sp.false)
        a = sp.diff(general, state.prev)
        b = sp.expand(general - a * state.prev)
        if a.has(S.t) or b.has(S.t) or b.has(state.prev) or b.free_symbols & S.ARRAYS or a.free_symbols & S.ARRAYS:
            continue
        first = new.xreplace({state.prev: state.init}).subs(S.t, 1)
        try:
            solution = sp.rsolve(x(S.t) - a * x(S.t - 1) - b, x(S.t), {x(1): first})
        except (ValueError, NotImplementedError):
            continue
        if solution is not None:
            solved[state.new] = solution
            solved[state.prev] = solution.subs(S.t, S.t - 1)
    return solved


def _listed(items: list) -> tuple:
    """``a``, ``a and b``, ``a, b and c``, as parts of :func:`prose`."""
    parts: list = []
    for i, item in enumerate(items):
        if i:
            parts.append(" and " if i == len(items) - 1 else ", ")
        parts.append(item)
    return tuple(parts)


def _is_it_an_average(rule: Rule, state, limit: sp.Expr) -> list[Step]:
    """A state is an average of the gradients only if its weights sum to 1: its limit is E[g_t]
    itself. Where the limit is c·E[g_t] with c a function of the hyperparameters, say when c = 1."""
    gain = factor(sp.cancel(limit / S.Mean(S.g))) if limit.has(S.Mean(S.g)) else None
    if gain is None or gain.has(S.Mean) or gain == 1 or gain.free_symbols - {h.symbol for h in rule.hypers}:
        return []
    text = prose(state.new, " settles at ", gain, " times ", S.Mean(S.g), ": a weighted sum of past gradients, ")
    for symbol in sorted(gain.free_symbols, key=str):
        solution = sp.solve(sp.Eq(gain, 1), symbol)
        if len(solution) == 1:
            return [Step(text + prose("an average (weights summing to 1) only when ", sp.Eq(symbol, solution[0]), "."))]
    return [Step(text + prose("not an average."))]


def _at_one(state) -> sp.Symbol:
    """The state symbol at t = 1, e.g. m₁, for the initial condition."""
    return Private(state.new.name.replace("_t", "_1"), real=True)
