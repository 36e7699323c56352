"""Generic tools that derivations apply to any rule's equations.

- :func:`tangent`: forward-mode differentiation through the equations in order, keeping the rule's
  named intermediates (m̂_t, v̂_t) in the result instead of expanding them;
- :func:`fixed_point`: the state's fixed point when the previous and the new state agree;
- :func:`long_run`: the limit t → ∞, taken as a targeted rewrite (``βᵗ → 0`` for every
  hyperparameter whose range lies in [0, 1), and the ``t = 1`` branches dropped), not ``limit``;
- :func:`expectation`: E[·] over the gradient noise of an expression polynomial in g_t;
- :func:`moment_names`: which of the rule's own quantities estimate E[g_t], E[g_t²] in steady state.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable

import sympy as sp

from symopt import ops
from symopt import symbols as S
from symopt.core import Rule
from symopt.errors import NotDerivable


def tangent(
    rule: Rule,
    wrt: sp.Symbol,
    *,
    seeds: dict[sp.Symbol, sp.Expr] | None = None,
    blocked: Iterable[sp.Symbol] = (),
) -> dict[sp.Symbol, sp.Expr]:
    """d(quantity)/d(wrt) for every quantity the rule assigns, by the chain rule through its equations.

    Every operation of the table is differentiated by the derivative it declares (:mod:`symopt.ops`):
    through a max, min, abs or branch the tangent is a case split, each case with its condition
    (Adamax's ``u_t = max(β₂u_{t-1}, |g_t| + ε)`` passes ``sign(g_t) dg_t`` where its second argument
    is the larger), and no path is dropped.

    Args:
        rule: the rule.
        wrt: the symbol to differentiate by (a hyperparameter).
        seeds: tangents of the inputs (by default every input's is 0: one step from a given state).
        blocked: assigned symbols whose tangent is forced to 0, to split the result by path.

    Returns:
        ``{symbol: tangent}`` for every assigned symbol, in terms of the rule's own intermediates,
        each a case split (a Piecewise) at the top where a selection matters.
    """
    d: dict[sp.Symbol, sp.Expr] = {wrt: sp.S.One, **(seeds or {})}
    blocked = set(blocked)
    for eq in rule.equations:
        if eq.lhs in blocked:
            d[eq.lhs] = sp.S.Zero
            continue
        d[eq.lhs] = cases(jvp(eq.rhs, d))
    d.pop(wrt)
    return d


def jvp(expr: sp.Expr, tangents: dict[sp.Symbol, sp.Expr]) -> sp.Expr:
    """The tangent of ``expr`` given its symbols' ``tangents`` (absent: 0), forward mode: algebra by
    the product and power rules, every other operation by the derivative the table declares."""
    memo: dict = {}

    def walk(e):
        if e in memo:
            return memo[e]
        if e.is_Symbol:
            out = tangents.get(e, sp.S.Zero)
        elif e.is_Atom or not (e.free_symbols & tangents.keys()):
            out = sp.S.Zero
        elif e.is_Add:
            out = sp.Add(*(walk(a) for a in e.args))
        elif e.is_Mul:
            terms = []
            for i, a in enumerate(e.args):
                da = walk(a)
                if da != 0:
                    terms.append(sp.Mul(*e.args[:i], da, *e.args[i + 1:]))
            out = sp.Add(*terms)
        elif e.is_Pow:
            base, exp = e.args
            db, de = walk(base), walk(exp)
            out = exp * base ** (exp - 1) * db if db != 0 else sp.S.Zero
            if de != 0:
                out += e * sp.log(base) * de
        else:
            operation = ops.lookup(e)
            if operation is None or operation.derivative is None:
                name = operation.name if operation else getattr(e.func, "__name__", type(e).__name__)
                raise NotDerivable(f"symopt's operation table declares no derivative of {name}")
            values = [v for v, _ in e.args] if isinstance(e, sp.Piecewise) else list(e.args)
            out = operation.derivative(e, [walk(a) for a in values])
        memo[e] = out
        return out

    return walk(expr)


def cases(expr: sp.Expr) -> sp.Expr:
    """``expr`` with its case splits gathered at the top: one Piecewise whose branches are free of
    them (``piecewise_fold``), or ``expr`` itself if it has none."""
    if not expr.has(sp.Piecewise):
        return expr
    return sp.piecewise_fold(expr)


def per_case(expr: sp.Expr, f) -> sp.Expr:
    """``f`` applied to each case of ``expr`` (or to ``expr`` if it has none); cases that come out
    equal merge."""
    expr = cases(expr)
    if not isinstance(expr, sp.Piecewise):
        return f(expr)
    return sp.Piecewise(*((f(value), cond) for value, cond in expr.args))


def contracting(rule: Rule) -> set[sp.Symbol]:
    """The hyperparameters whose valid range lies in [0, 1), so that their t-th power vanishes."""
    return {h.symbol for h in rule.hypers if h.low >= 0 and (h.high < 1 or (h.high == 1 and h.high_open))}


def long_run(expr: sp.Expr, rule: Rule) -> sp.Expr:
    """``expr`` as t → ∞: the t = 1 branches are dropped and βᵗ → 0 for β in [0, 1).

    A number c in (0, 1) to the power ``kψt + e`` vanishes where the rate kψ is positive; where the
    rate may be 0 (a hyperparameter ψ whose range starts at 0: NAdam's momentum decay) the limit is
    a case split on it, ``0 if ψ > 0 else c^e|_{ψ=0}`` (at ψ = 0 the power never decays).
    """
    expr = expr.subs(sp.Eq(S.t, 1), sp.false)
    vanishing = contracting(rule)

    def rate(e):
        """The coefficient of t in the exponent of c^(rate·t + e), c a number in (0, 1) or a
        hyperparameter in [0, 1) (β^(t+1): optax's Nesterov correction), or None."""
        if not (e.is_Pow and e.exp.has(S.t) and (e.base in vanishing or (e.base.is_Number and 0 < e.base < 1))):
            return None
        exponent = sp.Poly(sp.expand(e.exp), S.t)
        return exponent.LC() if exponent.degree() == 1 else None

    def vanishes(e) -> bool:
        k = rate(e)
        if k is None:
            return False
        return k.is_positive is True or (e.base.is_Number and _zero_at(k) is not None)

    def limit(e):
        k = rate(e)
        if k is None or k.is_positive is True:
            return sp.S.Zero
        symbol = _zero_at(k)
        return sp.Piecewise((sp.S.Zero, sp.StrictGreaterThan(symbol, 0)), (e.xreplace({symbol: 0}), True))

    out = expr.replace(vanishes, limit).replace(lambda e: isinstance(e, sp.Min) and _warmed_up(e) is not None,
                                                _warmed_up)
    return per_case(out, sp.expand) if out.has(sp.Piecewise) and not expr.has(sp.Piecewise) else out


def _warmed_up(e: sp.Min) -> sp.Expr | None:
    """A warm-up's value as t → ∞, ``min(a, kt + c) → a`` (AdEMAMix's ``α_t = min(α, tα/T)``): one
    argument free of t, every other linear in t with a rate k > 0, or k = a·q with q > 0 and a ≥ 0
    (where a = 0 both are 0 for every t); None otherwise."""
    steady = [a for a in e.args if not a.has(S.t)]
    if len(steady) != 1:
        return None
    (a,) = steady
    for other in e.args:
        if other is a:
            continue
        try:
            poly = sp.Poly(sp.expand(other), S.t)
        except sp.PolynomialError:
            return None
        k = poly.LC() if poly.degree() == 1 else None
        if k is None or not (k.is_positive or (a.is_nonnegative and sp.simplify(k / a).is_positive)):
            return None
    return a


def _zero_at(rate: sp.Expr) -> sp.Symbol | None:
    """The nonnegative symbol x of a rate ``c·x`` (c > 0), which is 0 only at x = 0; else None."""
    symbols = rate.free_symbols
    if len(symbols) != 1:
        return None
    (x,) = symbols
    c = sp.simplify(rate / x)
    return x if x.is_nonnegative and c.is_number and c.is_positive else None


def fixed_point(rule: Rule, new: dict[sp.Symbol, sp.Expr], unknowns: dict[sp.Symbol, sp.Symbol]) -> dict:
    """Solve ``new[state] = unknown[state]`` for the unknowns (one linear system).

    Args:
        rule: the rule (for its states).
        new: each state's new value (or tangent) in terms of the unknowns.
        unknowns: ``{state.new: symbol standing for its previous value}``.

    Returns:
        ``{unknown: value}``.

    Raises:
        ValueError: if the system has no unique solution.
    """
    if not unknowns:
        return {}
    symbols = list(unknowns.values())
    equations = [new[s] - unknowns[s] for s in unknowns]
    names = ", ".join(str(x).lstrip("_") for x in symbols)
    # a state that keeps its value (an initial point x₀) is fixed at every value: no unique point, and no
    # iteration finds one. Said at once where the system goes through the table's operations (Prodigy's:
    # SymPy's second derivatives of it alone took 40 s); a polynomial system says it below (MADGRAD's).
    kept = [str(x).lstrip("_") for s, x in unknowns.items() if new[s] == x]
    if kept and ops.used(sp.Tuple(*equations)):
        exc = NotDerivable(f"the state ({names}) has no unique fixed point: {', '.join(kept)} keeps its value, "
                           "and every value is one")
        exc.final = True
        raise exc
    linear = all(sp.diff(e, x, 2) == 0 for e in equations for x in symbols)
    if linear:  # a matrix solve, unless an unknown sits inside a case split (Adafactor's rank branch)
        try:
            A, b = sp.linear_eq_to_matrix(equations, symbols)
        except ValueError:
            linear = False
    if linear:
        if A.det() == 0:
            raise NotDerivable(f"the state ({names}) has no unique fixed point: {_unfixed(A, symbols)}")
        solution = dict(zip(symbols, A.LUsolve(b)))
    else:
        try:
            found = sp.solve(equations, symbols, dict=True)
        except (NotImplementedError, ValueError, TypeError):  # SymPy cannot (a max of unknowns, say)
            found = []
        if len(found) != 1 or set(found[0]) != set(symbols):
            used = ", ".join(op.name for op in ops.used(sp.Tuple(*equations))) or "its equations"
            raise NotDerivable(f"SymPy finds no unique fixed point of the state ({names}) through {used}")
        solution = found[0]
    return {unknown: tidy(sp.factor(value)) for unknown, value in solution.items()}


def _unfixed(A: sp.Matrix, symbols) -> str:
    """Why a linear fixed point fails: the states that never forget (a sum that grows)."""
    stuck = [str(x).lstrip("_") for i, x in enumerate(symbols) if A[i, i] == 0]
    return f"{', '.join(stuck)} keeps adding without decay" if stuck else "its equations are singular"


def expectation(expr: sp.Expr) -> sp.Expr:
    """E[expr] over the gradient noise, for ``expr`` polynomial in g_t: g_tᵏ ↦ E[g_tᵏ].

    Everything else (θ_{t-1}, hyperparameters, steady-state averages) is held fixed.
    """
    averaged = {mean: sp.Dummy() for mean in expr.atoms(S.Mean)}  # already averaged: constants
    expanded = sp.expand(expr.xreplace(averaged), mul=True, multinomial=True, power_base=False, power_exp=False)
    try:
        poly = sp.Poly(expanded, S.g)
    except sp.PolynomialError:
        poly = None
    if poly is None or any(S.g in c.free_symbols for c in poly.coeffs()):
        used = ", ".join(op.name for op in ops.used(expanded)) or "a quotient"
        raise NotDerivable(f"the average over the gradient noise needs a polynomial in g_t, and this rule "
                           f"passes g_t through {used}")
    result = sp.Add(*(c * (S.Mean(S.g**k) if k else 1) for (k,), c in poly.terms()))
    return result.xreplace({dummy: mean for mean, dummy in averaged.items()})


def steady_state(rule: Rule, substitutions: dict[sp.Symbol, sp.Expr] | None = None) -> dict[sp.Symbol, sp.Expr]:
    """Every quantity the rule assigns, at the state's fixed point as t → ∞.

    Args:
        rule: the rule.
        substitutions: values held fixed, e.g. ``{λ: 0}``; the gradient g_t is held constant.

    Returns:
        ``{symbol: value}`` in terms of g_t, θ_{t-1} and the hyperparameters, e.g. for Adam
        ``m_t: g_t, v_t: g_t², θ_t: θ_{t-1} - η g_t/(|g_t| + ε)``.

    Raises:
        ValueError: if the state has no unique fixed point.
    """
    return _steady_state(rule, tuple(sorted((substitutions or {}).items(), key=sp.default_sort_key)))


@functools.lru_cache(maxsize=64)
def _steady_state(rule: Rule, substitutions: tuple) -> dict[sp.Symbol, sp.Expr]:
    unknowns = {s.new: sp.Dummy(s.name) for s in rule.states}
    env: dict[sp.Symbol, sp.Expr] = {s.prev: unknowns[s.new] for s in rule.states}
    env.update(substitutions)
    values = _run(rule, env)
    try:
        point = fixed_point(rule, {s: values[s] for s in unknowns}, unknowns)
    except NotDerivable as exc:
        if getattr(exc, "final", False) or not any(isinstance(n, _SELECTIONS) for v in values.values()
                                                    for n in sp.preorder_traversal(v)):
            raise
        point = _fixed_point_by_branches(rule, {s: values[s] for s in unknowns}, unknowns, dict(substitutions), exc)
    # Run once more from the fixed point, taking each state's new value from the solution (it
    # equals the previous one there), so that later quantities are written in the solved form.
    solved = {s: point[unknowns[s]] for s in unknowns}
    env = {s.prev: solved[s.new] for s in rule.states}
    env.update(substitutions)
    values = _run(rule, env, solved)
    decided = _decided(_BRANCHES.get((rule, substitutions), ()))
    return {k: v.xreplace(decided) for k, v in values.items()} if decided else values


def _decided(conditions: tuple) -> dict:
    """The signs and absolute values the branch conditions of a fixed point decide (``x > 0``: sign(x) = 1,
    |x| = x), so that a quantity computed from the solved state takes the branch its update took while
    the state settled (optax's Rprop compares g_t with the kept step Γ_max·sign(g_t): the sign of
    Γ_max·g_t·sign(g_t) is 1 where the result holds)."""
    out: dict = {}
    for relation in conditions:
        if not isinstance(relation, (sp.StrictGreaterThan, sp.StrictLessThan)) or relation.rhs != 0:
            continue
        x, positive = relation.lhs, isinstance(relation, sp.StrictGreaterThan)
        out.update({sp.sign(x): sp.Integer(1 if positive else -1), sp.Abs(x): x if positive else -x})
    return out


_SELECTIONS = (sp.Max, sp.Min, sp.Abs, sp.sign, sp.Piecewise, ops.FMax)
_NUMERIC = {"Max": max, "Min": min, "FMax": max, "Abs": abs, "sign": lambda x: float((x > 0) - (x < 0))}
GRADIENTS = (0.73, -1.31)  # the constant gradients the branches are found at (one of each sign)


def _fixed_point_by_branches(rule: Rule, new: dict, unknowns: dict, substitutions: dict, why: NotDerivable) -> dict:
    """The fixed point of a state updated through selections (a max, min, sign, abs or branch) that
    SymPy cannot solve through: the rule's own long-run update iterated with numbers (the defaults, a
    constant gradient of each sign) from its initial state until it stops changing picks, at that
    point, the branch of every selection that reads the state; with those branches the update is
    smooth, SymPy solves it, and the solution must reproduce the iterated point for both signs.

    Raises:
        NotDerivable: ``why``, with what this found (the iteration does not settle, or the branches or
            the solution differ with the gradient's sign).
    """
    if not rule.elementwise:
        raise why
    try:
        return _branches_solved(rule, new, unknowns, substitutions, why)
    except (ValueError, TypeError, ZeroDivisionError, OverflowError) as exc:
        if isinstance(exc, NotDerivable):
            raise
        raise why from None


def _branches_solved(rule: Rule, new: dict, unknowns: dict, substitutions: dict, why: NotDerivable) -> dict:
    states = [s for s in rule.states if s.new in unknowns]
    symbols = [unknowns[s.new] for s in states]
    defaults = {h.symbol: sp.Float(h.default) for h in rule.hypers}
    resolved_by_sign = []
    for g in GRADIENTS:
        numbers = {**defaults, **substitutions, S.g: sp.Float(g), S.theta_prev: sp.Float(0.5), S.theta0: sp.Float(0.5),
                   S.t: sp.Integer(10**6)}
        exprs = [new[s.new].xreplace(numbers) for s in states]
        if any(e.free_symbols - set(symbols) for e in exprs):
            raise why
        step = sp.lambdify(symbols, exprs, modules=[_NUMERIC, "math"])
        x = [float(sp.sympify(s.init).xreplace(numbers)) for s in states]
        for _ in range(20_000):
            try:
                nxt = [float(v) for v in step(*x)]
            except (ValueError, ZeroDivisionError, OverflowError, TypeError):
                raise why from None
            if all(abs(a - b) <= 1e-13 * max(1.0, abs(a)) for a, b in zip(nxt, x)):
                break
            x = nxt
        else:
            raise NotDerivable(f"{why}; iterated at the defaults, the state does not settle either") from None
        at = dict(zip(symbols, x))
        taken: list = []
        resolved = {k: _resolve(v, {**numbers, **at}, set(symbols), taken) for k, v in new.items()}
        resolved_by_sign.append((resolved, at, numbers, taken))
    if any(sp.simplify(resolved_by_sign[0][0][k] - resolved_by_sign[1][0][k]) != 0 for k in new):
        raise NotDerivable(f"{why}; the branches its state settles in differ with the gradient's sign") from None
    point = fixed_point(rule, resolved_by_sign[0][0], unknowns)
    for _, at, numbers, _ in resolved_by_sign:
        for symbol, number in at.items():
            value = complex(point[symbol].xreplace(numbers).evalf())
            if abs(value - number) > 1e-9 * max(1.0, abs(number)):
                raise NotDerivable(f"{why}; solved in the branches it settles in, the state does not reproduce "
                                   "the iterated one") from None
    conditions = []
    for relation in resolved_by_sign[0][3]:
        relation = relation.xreplace(point)
        try:
            decided = sp.simplify(relation)
        except (TypeError, ValueError):
            decided = relation
        if decided is not sp.true and relation not in conditions:
            conditions.append(relation)
    _BRANCHES[(rule, tuple(sorted(substitutions.items(), key=sp.default_sort_key)))] = tuple(conditions)
    return point


# (rule, substitutions) -> the branches a fixed point found through selections takes (see steady_branches)
_BRANCHES: dict = {}


def steady_branches(rule: Rule, substitutions: dict | None = None) -> tuple:
    """The conditions of the branches the state's fixed point settles in, where it was found through
    selections (Rprop's step size at its maximum: η₊Γ_max ≥ Γ_max); empty where SymPy solved it directly."""
    key = tuple(sorted((substitutions or {}).items(), key=sp.default_sort_key))
    steady_state(rule, substitutions)
    return _BRANCHES.get((rule, key), ())


def _resolve(expr: sp.Expr, numbers: dict, unknowns: set, taken: list) -> sp.Expr:
    """``expr`` with each selection whose arguments read an unknown replaced by the branch it takes at
    ``numbers`` (innermost first), the condition of each branch appended to ``taken``; selections of
    the gradient and hyperparameters alone are kept."""
    if expr.is_Atom or not expr.free_symbols & unknowns:
        return expr
    if isinstance(expr, sp.Piecewise):
        for value, condition in expr.args:
            if condition is sp.true or bool(condition.xreplace(numbers)):
                if condition is not sp.true:
                    taken.append(condition)
                return _resolve(value, numbers, unknowns, taken)
        raise NotDerivable("no branch of a case split holds at the iterated state")
    args = [_resolve(a, numbers, unknowns, taken) for a in expr.args]
    if isinstance(expr, (sp.Max, sp.Min, ops.FMax)):
        values = [float(a.xreplace(numbers)) for a in args]
        largest = isinstance(expr, (sp.Max, ops.FMax))
        i = values.index((max if largest else min)(values))
        relation = sp.GreaterThan if largest else sp.LessThan
        taken += [relation(args[i], a, evaluate=False) for j, a in enumerate(args) if j != i]
        return args[i]
    if isinstance(expr, (sp.Abs, sp.sign)):
        x = float(args[0].xreplace(numbers))
        if x == 0 and isinstance(expr, sp.sign):
            taken.append(sp.Eq(args[0], 0, evaluate=False))
            return sp.S.Zero
        taken.append((sp.StrictGreaterThan if x > 0 else sp.StrictLessThan)(args[0], 0, evaluate=False))
        if isinstance(expr, sp.Abs):
            return args[0] if x > 0 else -args[0]
        return sp.Integer(1 if x > 0 else -1)
    return expr.func(*args)


def _run(rule: Rule, env: dict, fixed: dict | None = None) -> dict[sp.Symbol, sp.Expr]:
    """Execute the equations symbolically in the long run (``env`` is updated as they assign)."""
    values: dict[sp.Symbol, sp.Expr] = {}
    for eq in rule.equations:
        if fixed and eq.lhs in fixed:
            values[eq.lhs] = env[eq.lhs] = fixed[eq.lhs]
        else:
            values[eq.lhs] = env[eq.lhs] = long_run(eq.rhs.xreplace(env), rule)
    return values


@functools.lru_cache(maxsize=64)
def moment_names(rule: Rule) -> dict[sp.Expr, sp.Symbol]:
    """``{E[g_tᵏ]: symbol}`` for the rule's quantities whose steady state is a moment of g_t.

    A bias-corrected moving average of g_t settles at E[g_t]: for Adam this gives
    ``{E[g_t]: m̂_t, E[g_t²]: v̂_t}``. Later definitions win, so a bias-corrected m̂_t is preferred
    to the m_t it is made from. Computed without weight decay. Only :func:`averages_of_gradient`
    are named: a quantity that settles at g_t² under a constant gradient but averages something else
    under noise (Adadelta's average of squared updates) is not E[g_t²].
    """
    decay = rule.hyper("weight_decay")
    try:
        values = steady_state(rule, {decay.symbol: sp.S.Zero} if decay else None)
    except NotDerivable:
        return {}
    names: dict[sp.Expr, sp.Symbol] = {}
    averages = averages_of_gradient(rule)
    for symbol, value in values.items():
        if symbol in (S.g, S.theta) or symbol not in averages:
            continue
        if value == S.g or (value.is_Pow and value.base == S.g and value.exp.is_Integer and value.exp > 0):
            names[S.Mean(value)] = symbol
    return names


def moment_aliases(rule: Rule) -> dict[sp.Symbol, sp.Symbol]:
    """``{symbol: name}`` for the rule's other quantities whose steady state is a moment that
    :func:`moment_names` names by another symbol: AdEMAMix's slow average mˢˡᵒʷ_t settles at E[g_t]
    as its m̂_t does, and is read as m̂_t where a steady state is averaged over the noise."""
    decay = rule.hyper("weight_decay")
    try:
        values = steady_state(rule, {decay.symbol: sp.S.Zero} if decay else None)
    except NotDerivable:
        return {}
    names = moment_names(rule)
    averages = averages_of_gradient(rule)
    out: dict[sp.Symbol, sp.Symbol] = {}
    for symbol, value in values.items():
        name = names.get(S.Mean(value))
        if symbol in averages and name is not None and name != symbol and symbol not in (S.g, S.theta):
            out[symbol] = name
    return out


@functools.lru_cache(maxsize=64)
def averages_of_gradient(rule: Rule) -> frozenset:
    """The quantities the rule computes from moving averages of the gradient alone: each state whose
    update (without weight decay, as t → ∞) is ``a·x_{t-1} + b`` with ``a`` free of arrays and ``b``
    a polynomial in g_t (an EMA of a power of g_t: Adam's m and v), and each intermediate computed
    only from such states (m̂_t, v̂_t). Only these may be read as moments of g_t in a steady state
    over noise: the average of anything else (Adadelta's squared updates, AMSGrad's maximum) is not
    a moment of g_t, even where it settles at g_t² under a constant gradient.
    """
    decay = rule.hyper("weight_decay")
    no_decay = {decay.symbol: sp.S.Zero} if decay else {}
    states = {s.new: s for s in rule.arrays}
    found: set = set()
    for eq in rule.equations:
        rhs = long_run(eq.rhs.xreplace(no_decay), rule)
        arrays = rhs.free_symbols & S.ARRAYS
        if eq.lhs in states:
            prev = states[eq.lhs].prev
            a = sp.diff(rhs, prev)
            b = sp.expand(rhs - a * prev)
            if (a != 0 and not a.free_symbols & S.ARRAYS and not b.has(prev) and b.free_symbols & S.ARRAYS <= {S.g}
                    and _polynomial_in_g(b)):
                found.add(eq.lhs)
        elif eq.lhs in S.ARRAYS and eq.lhs not in (S.g, S.theta) and arrays and arrays <= found:
            found.add(eq.lhs)
    return frozenset(found)


def _polynomial_in_g(expr: sp.Expr) -> bool:
    try:
        poly = sp.Poly(expr, S.g)
    except sp.PolynomialError:
        return False
    return not any(c.has(S.g) for c in poly.coeffs())


def settling_time(rule: Rule, values: dict | None = None, within: float = 0.01, up_to: int = 10**7,
                  states: bool = False) -> int | None:
    """The first step (on a log grid) at which every step-dependent scalar of the rule (a bias
    correction, NAdam's μ_t, RAdam's r_t) is within ``within`` of its long-run value, at the
    hyperparameters ``values`` (by keyword; the rest at their defaults); 0 for a rule without such
    scalars, None if not by ``up_to``. With ``states``, also every moving average's start from 0
    (``x_t = a x_{t-1} + ...`` with a long-run decay a in (0, 1): 1 - aᵗ within ``within`` of 1), which
    no bias correction divides out (AdEMAMix's slow average at β₃ = 0.9999 takes 46,000 steps)."""
    decay = rule.hyper("weight_decay")
    settled = steady_state(rule, {decay.symbol: sp.S.Zero} if decay else None)
    numbers = {h.symbol: sp.Float((values or {}).get(h.name, h.default)) for h in rule.hypers}
    env: dict = {}
    checks = []
    for eq in rule.equations:
        env[eq.lhs] = eq.rhs.xreplace(env)
        if eq.lhs not in S.ARRAYS and not env[eq.lhs].free_symbols & S.ARRAYS:
            limit = sp.sympify(settled[eq.lhs]).xreplace(numbers)
            if limit.is_number and limit != 0:
                value = sp.lambdify(S.t, env[eq.lhs].xreplace(numbers).xreplace(
                    {s.prev: s.init for s in rule.scalars}), modules="math")
                checks.append((value, float(limit)))
    start = 0
    if states:
        start = _averages_settle(rule, env, settled, numbers, within)
        if start > up_to:
            return None
    if not checks:
        return start
    for t in sorted({int(round(10 ** (k / 20))) for k in range(0, 20 * 8)} | {up_to}):
        if t > up_to:
            break
        try:
            if all(abs(f(t) / limit - 1) <= within for f, limit in checks):
                return max(t, start)
        except (ValueError, ZeroDivisionError, OverflowError):
            continue
    return None


def averages_settling_time(rule: Rule, values: dict | None = None, within: float = 0.01) -> int:
    """The first step at which every moving average of the rule that no bias correction divides is
    within ``within`` of its long-run value, at the hyperparameters ``values`` (by keyword; the rest at
    their defaults): 0 where there is none (AdEMAMix's slow average at β₃ = 0.9999: 46,050)."""
    decay = rule.hyper("weight_decay")
    settled = steady_state(rule, {decay.symbol: sp.S.Zero} if decay else None)
    numbers = {h.symbol: sp.Float((values or {}).get(h.name, h.default)) for h in rule.hypers}
    env: dict = {}
    for eq in rule.equations:
        env[eq.lhs] = eq.rhs.xreplace(env)
    return _averages_settle(rule, env, settled, numbers, within)


def _averages_settle(rule: Rule, env: dict, settled: dict, numbers: dict, within: float) -> int:
    """The first step at which every moving average that no bias correction divides (``x_t = a x_{t-1}
    + ...`` with a long-run decay a in (0, 1), and no equation dividing by ``1 - aᵗ``) is within
    ``within`` of its long-run value: ⌈ln(within)/ln(a)⌉ steps from its start at 0."""
    decay = rule.hyper("weight_decay")
    no_decay = {decay.symbol: sp.S.Zero} if decay else {}
    start = 0
    for state in rule.arrays:
        a = sp.diff(env[state.new].xreplace(no_decay), state.prev)
        if a.free_symbols & S.ARRAYS:
            continue
        corrected = any(1 - a**S.t in sp.Add.make_args(sp.sympify(f.base)) or f.base == 1 - a**S.t
                        for eq in rule.equations if state.new in eq.rhs.free_symbols
                        for f in sp.preorder_traversal(eq.rhs) if isinstance(f, sp.Pow) and f.exp.is_negative)
        limit = sp.sympify(a).xreplace({x: v for x, v in settled.items() if x not in S.ARRAYS}).xreplace(numbers)
        if corrected or not (limit.is_number and limit.is_real and 0 < float(limit) < 1):
            continue
        start = max(start, math.ceil(math.log(within) / math.log(float(limit))))
    return start


def tidy(expr: sp.Expr) -> sp.Expr:
    """Write factors like ``(τ - 1)/(ρ - 1)`` as ``(1 - τ)/(1 - ρ)``, the way the note writes them.

    Only signs move: each factor ``c + x`` with a negative constant ``c`` and positive terms ``x``
    is negated, and the sign of the product corrected.
    """

    def flip(product: sp.Expr) -> sp.Expr:
        sign, factors = 1, []
        for factor in product.args:
            base, exp = factor.as_base_exp()
            if base.is_Add and exp.is_Integer and _negative_constant(base):
                factors.append((-base) ** exp)
                sign *= sp.Integer(-1) ** exp
            else:
                factors.append(factor)
        return sign * sp.Mul(*factors)

    return expr.replace(lambda e: e.is_Mul, flip)


def _negative_constant(expr: sp.Expr) -> bool:
    constant, rest = expr.as_coeff_Add()
    return constant.is_negative and not any(term.could_extract_minus_sign() for term in sp.Add.make_args(rest))


def factor(expr: sp.Expr) -> sp.Expr:
    """``sympy.factor`` that sees ``v̂^(3/2) + 2ε v̂ + ε²√v̂`` as ``√v̂ (√v̂ + ε)²``, then :func:`tidy`.

    Each nonnegative symbol under a square root is written as the square of a new symbol for the
    factorisation, so that its powers are powers of one generator.
    """
    roots = {
        p.base: sp.Dummy(nonnegative=True)
        for p in expr.atoms(sp.Pow)
        if p.exp.is_Rational and p.exp.q == 2 and p.base.is_Symbol and p.base.is_nonnegative
    }
    squared = expr.xreplace({base: root**2 for base, root in roots.items()})
    return tidy(sp.factor(squared).xreplace({root: sp.sqrt(base) for base, root in roots.items()}))
