"""Are two rules the same optimizer? A decision from their step maps, and a counterexample when not.

Two rules are *equivalent* when, under a map of hyperparameters (and, where needed, a rescaling of
their state), they produce the same trajectory for every gradient sequence and every
learning-rate schedule. The schedule is an input of each step, like the gradient: the learning
rate ``η`` of step t (the paper's AdamW schedules its multiplier η_t instead,
:data:`symopt.hyperparameters.SCHEDULED`) may differ from that of step t-1.

A map is a candidate until it is proved, and candidates come from two places:

1. The second rule's hyperparameters become unknowns; each is first tied to the first rule's
   hyperparameter of the same keyword, and these ties are released, one or two at a time (a
   hyperparameter only the second rule has is also tried at 0). A constant hyperparameter may depend
   only on the other rule's constants; the scheduled one also on the schedule.
2. Each state variable of the second rule is a multiple ``k`` of the first rule's state of the same
   name, before the step and after it (Sutskever's buffer is η times torch's). The identity, every
   ``k = 1``, is tried first; then the unknowns left are solved for: the difference of the two step
   maps (new parameter and new state), at step 1 and at a general step t ≥ 2, at a few exact
   rational values of the parameter, the gradient and the state, eliminated one unknown at a time
   with SymPy. Elimination cannot see through a max, a norm, Newton–Schulz or a branch; the identity
   needs no elimination.
3. The multiple for the state before the step must be the one after it, one step earlier (with
   η_{t-1}); where it is only when η_{t-1} = η_t, the rules agree "while η is constant".

A candidate is *proved* on the full symbolic step maps, after substitution: every operation beyond
+ − × ÷ and powers (max, |x|, sign, a branch, a norm, Newton–Schulz, a matrix product) is an
uninterpreted function, equal on two sides only where its arguments are equal, and the two step maps
must then agree as algebra (checked at random exact points to 60 digits, the uninterpreted
functions taking random values keyed by their arguments). A map so proved holds for every input, on
every branch; a map that would need a property of max or of a branch is not found, never wrongly
accepted.

Both compiled kernels are then run through the map on generated cases (Hypothesis). The verdict:

- **EQUIVALENT** (exit 0): a proved map, and both kernels agree on every generated case;
- **NOT EQUIVALENT** (exit 1): a generated case, shrunk, on which both kernels ran and differ
  beyond rounding (with the condition under which the rules agree, where one of those tried holds:
  η constant, one hyperparameter at 0);
- **COULD NOT CHECK** (exit 2): a kernel raised on a generated case (the exception and the case);
- **NOT DECIDED** (exit 2): no map proved (or none within the time budget) and no counterexample.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import operator
import random
import time
from dataclasses import dataclass, field, replace

import mpmath
import numpy as np
import sympy as sp

from symopt import ops
from symopt import symbols as S
from symopt.core import Rule
from symopt.hyperparameters import SCHEDULED
from symopt.optimizers import label

#: How many generated trajectories look for a counterexample, or confirm a map, by default.
EXAMPLES = 60
#: CPU seconds the symbolic search for a map (and for a condition) may take before it gives up
#: (CPU time, not wall-clock: the same answer on a busy machine).
BUDGET = 20.0

EQUIVALENT, NOT_EQUIVALENT, COULD_NOT_CHECK, NOT_DECIDED = "equivalent", "not equivalent", "could not check", "not decided"
#: The exit status of each verdict.
EXIT = {EQUIVALENT: 0, NOT_EQUIVALENT: 1, COULD_NOT_CHECK: 2, NOT_DECIDED: 2}


@dataclass
class Verdict:
    """What :func:`equivalent` decides about rules ``a`` and ``b``.

    ``kind`` is one of :data:`EQUIVALENT`, :data:`NOT_EQUIVALENT`, :data:`COULD_NOT_CHECK` and
    :data:`NOT_DECIDED`; ``equivalent`` is True for the first alone. ``hypers`` maps each
    hyperparameter keyword of ``b`` to an expression of ``a``'s keywords (a keyword of ``b`` left
    free is written with a prime, ``lr'``); ``states`` maps each state of ``b`` to a multiple of
    ``a``'s. ``conditions`` are what makes them agree when they are not equivalent (empty: none
    found); ``counterexample`` is the shrunk case on which their kernels differ, with ``step`` and
    the two parameters there; ``error`` the exception a kernel raised on ``error_case``, the
    ``error_at``-th generated case. ``checked`` counts the generated cases both kernels ran on and
    that were compared, ``outside`` those drawn where the map divides by 0 or gives ``b`` a value
    outside its range (not compared); ``assumptions`` say where the map is defined (``lr ≠ 0``).
    """

    a: Rule
    b: Rule
    equivalent: bool
    hypers: dict[str, sp.Expr] = field(default_factory=dict)
    states: dict[str, sp.Expr] = field(default_factory=dict)
    conditions: list[str] = field(default_factory=list)
    reason: str = ""
    counterexample: object = None  # a symopt.strategies.Trajectory
    difference: tuple | None = None  # (step, index, θ of a, θ of b)
    checked: int = 0  # generated cases both kernels ran on, compared
    kind: str = NOT_DECIDED
    error: str = ""  # "ZeroDivisionError: float division by zero in adamw(decay='paper')'s kernel"
    error_case: object = None  # the case it raised on (shrunk)
    error_at: int = 0  # the generated case it first raised on, from 1
    assumptions: list[str] = field(default_factory=list)  # where the map is defined: ["lr ≠ 0"]
    nonzero: list[str] = field(default_factory=list)  # free keywords of b (lr') the map divides by
    outside: int = 0  # generated cases where the map is undefined or leaves b's ranges: not compared
    inverse: dict = field(default_factory=dict)  # when equivalent: the map back, a's keywords from b's
    special_case: dict | None = None  # b's map to a's, where every b is an a but not conversely

    @property
    def exit_code(self) -> int:
        return EXIT[self.kind]

    def as_dict(self) -> dict:
        """The verdict as JSON-ready data."""
        return {
            "a": label(self.a), "b": label(self.b), "verdict": self.kind, "equivalent": self.equivalent,
            "hyperparameters": {k: sp.sstr(v) for k, v in self.hypers.items()},
            "states": {k: sp.sstr(v) for k, v in self.states.items()},
            "assumptions": self.assumptions, "conditions": self.conditions, "reason": self.reason,
            "cases_compared": self.checked, "cases_outside_the_map": self.outside,
            "inverse": {k: sp.sstr(v) for k, v in self.inverse.items()},
            "special_case": None if self.special_case is None else {
                "rule": label(self.b), "of": label(self.a),
                "hyperparameters": {k: sp.sstr(v) for k, v in self.special_case.items()}},
            "counterexample": None if self.counterexample is None else {
                **_case_data(self.counterexample),
                "first_difference": None if self.difference is None else {
                    "step": self.difference[0], "index": list(self.difference[1]),
                    "a": self.difference[2], "b": self.difference[3]},
            },
            "error": None if not self.error else {
                "exception": self.error, "generated_case": self.error_at,
                "case": None if self.error_case is None else _case_data(self.error_case)},
        }


def _case_data(case) -> dict:
    return {"dtype": case.dtype.name, "shape": list(case.params.shape), "steps": len(case.grads),
            "hyperparameters": case.hyper, "lr_by_step": case.schedule or None,
            "params": case.params.tolist(), "grads": [g.tolist() for g in case.grads]}


class _OutOfTime(Exception):
    """The symbolic search used up its budget."""


# --- the symbols of the problem ----------------------------------------------------------------------
def scheduled(rule: Rule):
    """The hyperparameter a learning-rate schedule varies in ``rule``, or None."""
    return next((h for name in SCHEDULED if (h := rule.hyper(name)) is not None), None)


def _keyword(h, prime: bool = False) -> sp.Symbol:
    """A hyperparameter written by its keyword, for printing maps (``weight_decay``, ``lr'``)."""
    return sp.Symbol(h.name + ("'" if prime else ""), real=True)


T2 = sp.Symbol("t2", integer=True, positive=True)  # a general step is t2 + 1


@dataclass
class _Problem:
    a: Rule
    b: Rule
    unknown: dict  # b's hyper symbol -> its unknown
    step_now: sp.Symbol | None  # a's scheduled symbol (this step's value)
    step_prev: sp.Symbol  # its value at the previous step
    k_prev: dict  # state name -> unknown multiple before the step
    k_new: dict  # ... and after it
    free: list  # unknowns left as parameters of the map: a constant learning rate against a schedule
    deadline: float = float("inf")  # time.process_time() past which the search gives up
    cache: dict = field(default_factory=dict)  # the equations, by the conditions imposed
    maps: tuple = ()  # the two step maps

    def tick(self) -> None:
        if time.process_time() > self.deadline:
            raise _OutOfTime


def _problem(a: Rule, b: Rule, deadline: float = float("inf")) -> _Problem:
    sa = scheduled(a)
    unknown = {h.symbol: sp.Symbol(f"U_{h.name}", real=True) for h in b.hypers}
    names = [s.name for s in b.states]
    sb = scheduled(b)
    # The paper's α is a constant where the other rule schedules its η: it stays a free parameter
    # of the map (the base learning rate), and the schedule goes to the multiplier.
    free = [unknown[h.symbol] for h in b.hypers
            if sa is not None and h.name == sa.name and (sb is None or h.symbol != sb.symbol)]
    return _Problem(a, b, unknown, sa.symbol if sa else None, sp.Symbol("eta_prev", nonnegative=True),
                    {n: sp.Symbol(f"Kprev_{n}", real=True) for n in names},
                    {n: sp.Symbol(f"Knew_{n}", real=True) for n in names}, free, deadline,
                    maps=(_step_map(a), _step_map(b)))


@functools.lru_cache(maxsize=64)
def _step_map(rule: Rule) -> dict:
    """The rule's step map, once per rule (both sides of ``equiv X X``; both directions)."""
    return rule.step_map()


def _symbolic_point(p: _Problem) -> dict:
    """The inputs of a step as symbols (the first rule's), for the proof on the full step maps."""
    return {"theta": S.theta_prev, "g": S.g, "theta0": S.theta0, **{s.name: s.prev for s in p.a.states}}


def _equations(p: _Problem, first: bool, point: dict, found: dict | None = None) -> list[sp.Expr]:
    """The differences of the two step maps at one point (each must be 0): the new parameter, and
    each new state against its multiple of the other's. The point's values are numbers, or the
    symbols of :func:`_symbolic_point`. With ``found``, the unknowns take its values as they are put
    in (a symbol mapped to itself and a multiple of 1 leave the expression as it is: nothing to
    rebuild); without it, they stay unknowns."""
    t = sp.Integer(1) if first else T2 + 1
    unknown, k_prev, k_new = dict(p.unknown), dict(p.k_prev), dict(p.k_new)
    if found is not None:
        unknown = {s: found.get(u, u) for s, u in unknown.items()}
        k_new = {n: found.get(k, sp.S.One) for n, k in k_new.items()}
        k_prev = {n: _shift(p, k_new[n]) for n in k_prev}
    sa, sb = p.maps
    states_a = {s.name: s for s in p.a.states}
    env_a = {S.t: t, S.theta_prev: point["theta"], S.g: point["g"]}
    env_b = dict(env_a)
    for s in p.b.states:
        if first:
            env_b[s.prev] = s.init.xreplace(unknown)
            env_a[states_a[s.name].prev] = states_a[s.name].init
        else:
            env_a[states_a[s.name].prev] = point[s.name]
            env_b[s.prev] = k_prev[s.name] * point[s.name]
    if found is not None:  # for the proof: no need to rebuild a max with its simplifications (slow)
        with sp.evaluate(False):
            out = _differences(p, unknown, env_a, env_b, k_new, point)
        settled: dict = {}
        return [_settle(e, settled) for e in out]
    return _differences(p, unknown, env_a, env_b, k_new, point)


def _differences(p: _Problem, unknown: dict, env_a: dict, env_b: dict, k_new: dict, point: dict) -> list[sp.Expr]:
    sa, sb = p.maps
    states_a = {s.name: s for s in p.a.states}
    out = [sb[S.theta].xreplace(unknown).xreplace(env_b) - sa[S.theta].xreplace(env_a)]
    for s in p.b.states:
        new_a = sa[states_a[s.name].new].xreplace(env_a)
        out.append(sb[s.new].xreplace(unknown).xreplace(env_b) - k_new[s.name] * new_a)
    return [e.xreplace({S.theta0: point["theta0"]}) for e in out]


_LOGIC = (sp.Piecewise, sp.functions.elementary.piecewise.ExprCondPair, sp.core.relational.Relational,
          sp.logic.boolalg.Boolean)


def _settle(e: sp.Basic, memo: dict) -> sp.Basic:
    """``e`` built without evaluation, with its branches settled: every condition (``t = 1`` at
    step 1, ``t2 + 1 = 1`` at a general step, false) and branch evaluated again, the rest left as
    built."""
    if not e.args:
        return e
    if e in memo:
        return memo[e]
    args = [_settle(arg, memo) for arg in e.args]
    if isinstance(e, _LOGIC):
        out = e.func(*args)
    elif all(x is y for x, y in zip(args, e.args)):
        out = e
    else:
        with sp.evaluate(False):
            out = e.func(*args)
    memo[e] = out
    return out


def _points(p: _Problem, count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    names = [s for s in p.a.states]

    def value(nonnegative: bool):
        v = sp.Rational(rng.randint(2, 40), rng.randint(3, 17))
        return v if nonnegative or rng.random() < 0.5 else -v

    return [{"theta": value(False), "g": value(False), "theta0": value(False),
             **{s.name: value(bool(s.prev.is_nonnegative)) for s in names}} for _ in range(count)]


def _solve(p: _Problem, ties: dict, values: dict, numeric: bool = False) -> list[dict]:
    """Solve for the unknowns not tied, by elimination: each round takes an equation in which an
    unknown appears linearly (in its numerator), solves for it and substitutes. Returns the one
    solution found, simplified, or none. ``numeric`` first puts random numbers for every symbol but
    the unknowns: a fast test of whether a solution can exist, before the symbolic one."""
    key = tuple(sorted(values.items(), key=str))
    if key not in p.cache:
        p.cache[key] = [e.xreplace(values) for first, points in ((True, _points(p, 1, 1)), (False, _points(p, 2, 2)))
                        for point in points for e in _equations(p, first, point)]
    equations = [e.xreplace(ties).xreplace(values) for e in p.cache[key]]
    unknowns = _unknowns(p) - set(p.free) - set(ties)
    probe = _probe(p)
    if numeric:
        equations = [sp.N(e.xreplace(probe), 30) for e in equations]
    solution: dict = {}
    for _ in range(len(unknowns) + 1):
        p.tick()
        equations = [e for e in equations if not _zero(e, probe)]
        if not equations:
            return [solution if numeric else {k: _tidy(v) for k, v in solution.items()}]
        choice = None
        for e in sorted(equations, key=lambda e: len(e.free_symbols & unknowns)):
            present = e.free_symbols & unknowns
            if not present:
                return []  # a difference that no unknown can take away
            for form in (e, None):  # as it is, then over a common denominator
                p.tick()
                form = sp.together(e).as_numer_denom()[0] if form is None else form
                for u in sorted(present, key=str):
                    slope = sp.diff(form, u)
                    if u in slope.free_symbols or _zero(slope, probe):
                        continue
                    value = -form.xreplace({u: 0}) / slope
                    choice = (u, value)  # simplified once, at the end
                    break
                if choice:
                    break
            if choice:
                break
        if choice is None:
            return []
        u, value = choice
        solution = {k: v.xreplace({u: value}) for k, v in solution.items()}
        solution[u] = value
        equations = [e.xreplace({u: value}) for e in equations]
    return []


def _probe(p: _Problem) -> dict:
    """Random exact values of every symbol but the unknowns, to tell 0 from not 0 (drawn in the
    order of the symbols' names: the same values whatever the hash seed)."""
    rng = random.Random(11)
    symbols = {h.symbol for h in (*p.a.hypers, *p.b.hypers)} | set(p.free) | {p.step_prev, T2}
    return {s: sp.Rational(rng.randint(5, 95), 100) if s != T2 else sp.Integer(3)
            for s in sorted(symbols, key=sp.default_sort_key)}


def _zero(expr: sp.Expr, probe: dict) -> bool:
    """Whether ``expr`` (free of unknowns) is 0, judged at a random point to 25 digits (an
    expression that is not a number there, or is not finite, is not 0)."""
    if expr == 0:
        return True
    value = sp.N(expr.xreplace(probe), 25)
    if not value.is_number or value.has(sp.zoo, sp.oo, sp.nan):
        return False
    try:
        return abs(complex(value)) < 1e-15
    except TypeError:
        return False


def _tidy(expr: sp.Expr) -> sp.Expr:
    """A solution in its simplest form (the sampled roots cancel out of a true map)."""
    expr = sp.cancel(sp.together(expr))
    return expr if expr.is_Atom or sp.count_ops(expr) < 8 else sp.simplify(expr)


def _unknowns(p: _Problem) -> set:
    return {*p.unknown.values(), *p.k_prev.values(), *p.k_new.values()}


def _identity(p: _Problem) -> dict:
    """Every state multiple 1: the state of ``b`` is the state of ``a``."""
    return {k: sp.S.One for k in (*p.k_prev.values(), *p.k_new.values())}


def _candidates(p: _Problem, ties: dict, values: dict):
    """Candidate maps with these ties: where the ties leave no hyperparameter free, the identity on
    the state first (which needs no elimination: a state through a max or a branch), then every
    unknown solved for. Each is only a candidate: see :func:`_proved`."""
    identity = {**ties, **_identity(p)}
    if p.k_new and not _unknowns(p) - set(p.free) - set(identity):
        yield identity
    left = _unknowns(p) - set(p.free) - set(ties)
    if not left:
        yield ties
    elif _solve(p, ties, values, numeric=True):
        for solution in _solve(p, ties, values):
            yield {**ties, **solution}


def _map(p: _Problem, values: dict, release: int = 2) -> tuple[dict, dict, bool] | None:
    """The first map proved: ties released up to ``release`` at a time (one under a condition).
    Returns (unknown -> value, state multiples, whether the state multiples need η constant), or
    None."""
    b_hypers = {h.symbol: h for h in p.b.hypers}
    a_by_name = {h.name: h for h in p.a.hypers}
    sb = scheduled(p.b)
    step_symbols = {p.step_now} - {None}

    def tie(h):
        other = a_by_name.get(h.name)
        if other is None:
            return None
        if (sb is not None and h.symbol == sb.symbol) != (other.symbol in step_symbols):
            return None  # a constant is never tied to the schedule, nor the schedule to a constant
        return other.symbol

    tieable = [s for s, h in b_hypers.items() if tie(h) is not None]
    # A hyperparameter only ``b`` has (optax's eps_root) may be what it needs at 0, where the
    # elimination cannot solve for it (it sits under a root): tried after the free attempt.
    extra = [s for s, h in b_hypers.items() if h.name not in a_by_name and h.contains(0.0)]
    pins = [{}] + ([{p.unknown[s]: sp.S.Zero for s in extra}] if extra else [])
    for pin, size in itertools.product(pins, range(0, min(release, 1 if values else 2) + 1)):
        for released in itertools.combinations(tieable, size):
            p.tick()
            ties = {**pin, **{p.unknown[s]: tie(b_hypers[s]) for s in tieable if s not in released}}
            for found in _safely(_candidates(p, ties, values)):
                p.tick()
                try:
                    if not _allowed(p, found, step_symbols) or not _proved(p, found, values, constant=True, trials=1):
                        continue  # not even while η is constant, at one point: no need to simplify it
                    multiples, needs_constant = _multiples(p, found)
                    if needs_constant is None or not _proved(p, found, values, constant=needs_constant):
                        continue
                except _SYMPY_FAILURES:
                    continue
                return found, multiples, needs_constant
    return None


# What SymPy raises where an elimination or a simplification meets a value it cannot order or
# divide by (``'nan' is not comparable``): that candidate is not a map, the search goes on.
_SYMPY_FAILURES = (ArithmeticError, ValueError, TypeError, RecursionError, NotImplementedError)


def _safely(candidates):
    """The candidates, until SymPy fails on one: the rest of that attempt is given up."""
    while True:
        try:
            found = next(candidates)
        except StopIteration:
            return
        except _SYMPY_FAILURES:
            return
        yield found


def _allowed(p: _Problem, found: dict, step_symbols: set) -> bool:
    """A constant of ``b`` may not depend on the schedule or the step counter; nothing may depend
    on the array values (a solution SymPy found only at the sampled points)."""
    sb = scheduled(p.b)
    for symbol, unknown in p.unknown.items():
        value = found.get(unknown)
        if value is None:
            continue
        banned = {S.t, T2}
        if sb is None or symbol != sb.symbol:
            banned |= step_symbols
        if value.free_symbols & banned:
            return False
    return True


def _multiples(p: _Problem, found: dict) -> tuple[dict, bool]:
    """The state multiples after the step, and whether they match the ones before it only while the
    schedule is constant."""
    multiples, needs_constant = {}, False
    for name in p.k_new:
        new = found.get(p.k_new[name], sp.S.One)
        prev = found.get(p.k_prev[name], new)
        multiples[name] = new
        shifted = _shift(p, new)
        if sp.simplify(prev - shifted) != 0:
            if p.step_now is not None and sp.simplify((prev - shifted).xreplace({p.step_prev: p.step_now})) == 0:
                needs_constant = True
            else:
                return multiples, None  # type: ignore[return-value]
    return multiples, needs_constant


def _shift(p: _Problem, expr: sp.Expr) -> sp.Expr:
    """``expr`` one step earlier: η_{t-1} for η_t, t - 1 for t."""
    expr = expr.xreplace({T2: T2 - 1})
    return expr if p.step_now is None else expr.xreplace({p.step_now: p.step_prev})


# --- the proof: both step maps, every operation beyond algebra uninterpreted --------------------------
_DIGITS = 60  # working precision of the proof
_KEY_DIGITS = 30  # an uninterpreted function's arguments are the same where they agree to this many
_COMMUTATIVE = (sp.Max, sp.Min, sp.And, sp.Or)


class _Undefined(ArithmeticError):
    """A value that is not a finite number (∞, NaN) where the proof evaluates."""


class _Uninterpreted:
    """The value of expressions at one point, where every node beyond + × and powers is an
    uninterpreted function: its value is a pseudo-random number determined by its kind and the
    values of its arguments (rounded to :data:`_KEY_DIGITS`), the same on both sides of an equation
    exactly when its arguments agree. Deterministic: the numbers come from SHA-256, not ``hash``."""

    def __init__(self, values: dict, salt: str, branches: frozenset = frozenset(), inputs: tuple = (),
                 moved: dict | None = None):
        self.values, self.salt, self.memo, self.branches = values, salt, {}, branches
        # the step's inputs (θ, g, the state): a scale-invariant operation's argument is keyed by its
        # values at other values of them (:meth:`_ray`), evaluated by ``moved`` (shared by all)
        self.inputs, self.moved = tuple(inputs), {} if moved is None else moved

    def __call__(self, e: sp.Basic):
        if e in self.memo:
            return self.memo[e]
        if e in self.branches and isinstance(e, sp.Piecewise):  # a choice on whole numbers
            value = next(self(v) for v, cond in e.args if self._holds(cond))
        elif e in self.branches:  # a comparison of whole numbers: its truth value
            value = mpmath.mpf(int(self._holds(e)))
        elif isinstance(e, sp.ITE) and e.args[0] in self.branches:  # the side its condition selects
            value = self(e.args[1] if self._holds(e.args[0]) else e.args[2])
        elif e.is_Symbol:
            value = self.values[e] if e in self.values else self._random(f"symbol {e.name}")
        elif e.is_Rational:
            value = mpmath.mpf(int(e.p)) / int(e.q)
        elif e.is_Float:
            value = mpmath.mpf(e._mpf_)
        elif e.is_Add:
            value = mpmath.fsum(self(arg) for arg in e.args)
        elif e.is_Mul:
            value = mpmath.fprod(self(arg) for arg in e.args)
        elif e.is_Pow:
            value = self(e.base) ** self(e.exp)
        elif e.is_Atom and e in (sp.zoo, sp.oo, sp.S.NegativeInfinity, sp.nan):
            raise _Undefined(str(e))
        elif e.is_number and e.is_Atom and e.is_finite:  # π, E, I
            value = mpmath.mpmathify(complex(sp.N(e, _DIGITS))) if e.has(sp.I) else mpmath.mpf(str(sp.N(e, _DIGITS)))
        else:
            value = self._opaque(e)
        if not mpmath.isfinite(value):
            raise _Undefined(str(e))
        self.memo[e] = value
        return value

    def _holds(self, cond: sp.Basic) -> bool:
        if cond in (sp.true, sp.false):
            return bool(cond)
        if isinstance(cond, sp.core.relational.Relational) and cond in self.branches:
            return bool(_RELATIONS[type(cond)](self(cond.lhs), self(cond.rhs)))
        if isinstance(cond, sp.And):
            return all(self._holds(c) for c in cond.args)
        if isinstance(cond, sp.Or):
            return any(self._holds(c) for c in cond.args)
        if isinstance(cond, sp.Not):
            return not self._holds(cond.args[0])
        raise _Undefined(f"condition {cond}")

    def _opaque(self, e: sp.Basic):
        op = ops.lookup(e)
        if op is not None and op.scale_invariant and self.inputs:
            rest = [self._key(self(arg)) for arg in e.args[1:]]
            return self._random(f"{type(e).__name__}(ray {self._ray(e.args[0])}, {', '.join(rest)})")
        args = []
        for arg in e.args:
            try:
                args.append(self._key(self(arg)))
            except (_Undefined, ZeroDivisionError, ValueError, OverflowError):
                args.append("undefined")
        if isinstance(e, _COMMUTATIVE):
            args = sorted(set(args))
        if not e.args:  # true, false, a number SymPy keeps as an atom
            args = [sp.srepr(e)]
        return self._random(f"{type(e).__name__}({', '.join(args)})")

    def _ray(self, arg: sp.Basic) -> str:
        """The key of ``arg`` up to a positive factor that does not depend on the step's inputs (a
        function of the hyperparameters and t): its values here and at :data:`_RAY_POINTS` other
        values of the inputs (the rest as here), divided by the largest of their magnitudes. Two
        arguments c·x and x (c > 0 at this point) get the same key, so ``sign(c·x) = sign(x)`` is
        proved where it holds; arguments not so proportional get different keys, as they would with
        the plain key. Where ``arg`` cannot be evaluated at a point, the key is "undefined"."""
        try:
            values = [self(arg)]
            for j in range(_RAY_POINTS):
                if j not in self.moved:
                    rng = random.Random(f"{self.salt}|ray {j}")
                    shifted = {s: mpmath.mpf(rng.randint(2, 97)) / rng.randint(3, 37) * (
                        1 if s.is_nonnegative or rng.random() < 0.5 else -1) for s in self.inputs}
                    self.moved[j] = _Uninterpreted({**self.values, **shifted}, self.salt, self.branches,
                                                   self.inputs, self.moved)
                values.append(self.moved[j](arg))
        except (_Undefined, ZeroDivisionError, ValueError, OverflowError):
            return "undefined"
        largest = max(abs(v) for v in values)
        if largest < mpmath.mpf(10) ** -40:
            return "0"
        return ";".join(self._key(v / largest) for v in values)

    @staticmethod
    def _key(value) -> str:
        parts = (value.real, value.imag) if isinstance(value, mpmath.mpc) else (value,)
        return "+".join("0" if abs(v) < mpmath.mpf(10) ** -40 else mpmath.nstr(v, _KEY_DIGITS) for v in parts)

    def _random(self, key: str):
        digest = hashlib.sha256(f"{self.salt}|{key}".encode()).digest()
        return mpmath.mpf(int.from_bytes(digest[:8], "big")) / 2**64 + mpmath.mpf(1) / 2


_RAY_POINTS = 3  # the other values of the inputs a scale-invariant operation's argument is keyed by

_RELATIONS = {sp.StrictGreaterThan: operator.gt, sp.GreaterThan: operator.ge, sp.StrictLessThan: operator.lt,
              sp.LessThan: operator.le, sp.Eq: operator.eq, sp.Ne: operator.ne}
_OFFSETS = (-2, -1, 0, 1, 2)  # where the boundary trials put each condition's two sides apart


def _whole_number_branches(equations: list, whole: set) -> tuple[frozenset, list]:
    """The comparisons and branches that :class:`_Uninterpreted` may evaluate, and the boundaries the
    proof must try.

    A comparison of two sides that differ by ``d``, a linear expression with integer coefficients of
    whole-number symbols (the step counter, warmup steps), is decided exactly at a point: it takes
    its truth value, and a branch whose conditions are all such comparisons takes the branch they
    select. Random points would almost never fall where two such conditions disagree (``T_w ≥ t``
    against ``T_w > t`` differ at ``t = T_w`` alone), so the proof also tries points where ``d`` is
    each of :data:`_OFFSETS`, solving ``d`` for one of its symbols whose coefficient is ±1. Any other
    comparison or branch (a condition on a real quantity, as RAdam's ρₜ > 5, whose boundary no draw
    reaches) stays uninterpreted: two of them are the same only where their conditions and values
    are. Returns (the comparisons and branches decided, [(d, its unit symbols)])."""
    decided, boundaries = set(), []
    relations = set().union(*(e.atoms(sp.core.relational.Relational) for e in equations))
    for rel in sorted(relations, key=sp.default_sort_key):
        d = sp.expand(rel.lhs - rel.rhs)
        symbols = sorted(d.free_symbols, key=sp.default_sort_key)
        if type(rel) not in _RELATIONS or not symbols or not set(symbols) <= whole:
            continue
        try:
            poly = sp.Poly(d, *symbols)
        except sp.PolynomialError:  # not a polynomial of them (SOAP's (t - 1) mod f): left uninterpreted
            continue
        unit = [x for x in symbols if abs(poly.coeff_monomial(x)) == 1]
        if poly.total_degree() != 1 or not all(c.is_integer for c in poly.coeffs()) or not unit:
            continue
        decided.add(rel)
        if (d, unit) not in boundaries:
            boundaries.append((d, unit))
    for pw in set().union(*(e.atoms(sp.Piecewise) for e in equations)):
        if all(cond.atoms(sp.core.relational.Relational) <= decided for _, cond in pw.args):
            decided.add(pw)
    return frozenset(decided), boundaries


def _draw(symbol: sp.Symbol, rng: random.Random):
    """A random exact value that keeps the symbol's assumptions (a step is a whole number ≥ 1)."""
    if symbol.is_integer:
        return sp.Integer(rng.randint(1 if symbol.is_positive else 0, 40))
    v = sp.Rational(rng.randint(2, 97), rng.randint(3, 37))
    return v if symbol.is_nonnegative or rng.random() < 0.5 else -v


def _proved(p: _Problem, found: dict, values: dict, constant: bool, trials: int = 3) -> bool:
    """Whether the map makes the full step maps equal, at step 1 and at a general step, with the
    state multiple before the step the one after the previous step (η_{t-1} drawn apart from η_t
    unless ``constant``): every operation beyond algebra uninterpreted (:class:`_Uninterpreted`),
    at ``trials`` random exact points of every symbol (hyperparameters over their ranges), and at
    the boundaries of every branch on whole numbers (:func:`_whole_number_branches`)."""
    rng = random.Random(7)

    def draw_value(h):
        low = h.sample[0] if h.low_open else h.low
        high = min(h.high, h.sample[1])
        if h.integer:
            return sp.Integer(rng.randint(int(low), int(high)))
        low, high = sp.Rational(repr(float(low))), sp.Rational(repr(float(high)))  # exact decimals
        return low + sp.Rational(rng.randint(1, 97), 100) * (high - low)

    key = ("proof", tuple(sorted(found.items(), key=str)), tuple(sorted(values.items(), key=str)))
    if key not in p.cache:
        point = _symbolic_point(p)
        p.cache[key] = [e.xreplace(values) for first in (True, False) for e in _equations(p, first, point, found)]
    equations = p.cache[key]
    symbols = sorted(set().union(*(e.free_symbols for e in equations)), key=sp.default_sort_key)
    hypers = {h.symbol: h for h in (*p.a.hypers, *p.b.hypers)}
    whole = {s for s in symbols if s.is_integer} | {h.symbol for h in hypers.values() if h.integer}
    branches, boundaries = _whole_number_branches(equations, whole)
    inputs = tuple(sorted(set(_symbolic_point(p).values()) & set(symbols), key=sp.default_sort_key))

    def draw_point():
        draw = {h.symbol: draw_value(h) for h in (*p.a.hypers, *p.b.hypers)}
        draw.update(values)
        draw.update({u: sp.Rational(rng.randint(1, 97), 50) for u in p.free})
        if p.step_now is not None:
            draw[p.step_prev] = draw[p.step_now] if constant else sp.Rational(rng.randint(1, 97), 100)
        draw.update({s: _draw(s, rng) for s in symbols if s not in draw})
        return draw

    def on_boundary(draw, d, unit, offset):
        """The point with ``d = offset``, solved for one of ``unit`` within its range, or None."""
        for x in unit:
            c = d.coeff(x)  # ±1: d is linear in x
            value = ((offset - (d - c * x)) / c).xreplace(draw)
            h = hypers.get(x)
            if value.is_integer and (h.contains(float(value)) if h else (value >= 1 if x.is_positive else value >= 0)):
                return {**draw, x: value}
        return None

    def holds(draw, salt) -> bool:
        evaluate = _Uninterpreted({s: mpmath.mpf(int(v.p)) / int(v.q) for s, v in draw.items()}, salt, branches,
                                  inputs)
        for e in equations:
            try:
                value = evaluate(e)
                scale = max([abs(evaluate(arg)) for arg in e.args] if e.is_Add else [abs(value)])
            except (_Undefined, ZeroDivisionError, ValueError, OverflowError, StopIteration):
                return False
            if abs(value) > mpmath.mpf(10) ** (10 - _DIGITS // 2) * max(scale, 1):
                return False
        return True

    with mpmath.workdps(_DIGITS):
        for trial in range(trials):
            p.tick()
            if not holds(draw_point(), f"trial {trial}"):
                return False
        for (d, unit), offset in itertools.product(boundaries, _OFFSETS):
            p.tick()
            point = on_boundary(draw_point(), d, unit, offset)
            if point is not None and not holds(point, f"boundary {d} = {offset}"):
                return False
    return True


# --- conditions ------------------------------------------------------------------------------------
def _conditions(rule: Rule) -> list[tuple[str, dict]]:
    """The conditions to try, one hyperparameter at 0 (where 0 is in its range), the schedule's
    aside: ``weight_decay = 0``, ``dampening = 0``, ``beta2 = 0``."""
    step = scheduled(rule)
    return [(f"{h.name} = 0", {h.symbol: sp.S.Zero}) for h in rule.hypers
            if h.contains(0.0) and (step is None or h.symbol != step.symbol)]


def _same_state(a: Rule, b: Rule) -> bool:
    return sorted(s.name for s in a.states) == sorted(s.name for s in b.states)


def _decide(a: Rule, b: Rule, deadline: float, release: int = 2,
            conditions: bool = True) -> tuple[dict | None, dict, list[str], bool, bool]:
    """(map, state multiples, conditions, equivalent, whether the search ran out of time): computed
    once per process for a pair (``equiv A B`` then ``equiv B A`` asks for both directions twice),
    unless the search ran out of time."""
    key = (a, b, release, conditions)
    if key not in _DECIDED:
        found = _search_map(a, b, deadline, release, conditions)
        if found[4]:
            return found
        if len(_DECIDED) > 256:
            _DECIDED.clear()
        _DECIDED[key] = found
    hypers, states, words, same, out_of_time = _DECIDED[key]
    return (None if hypers is None else dict(hypers)), dict(states), list(words), same, out_of_time


_DECIDED: dict = {}


def _search_map(a: Rule, b: Rule, deadline: float, release: int,
                conditions: bool) -> tuple[dict | None, dict, list[str], bool, bool]:
    if not _same_state(a, b):
        return None, {}, [], False, False
    p = _problem(a, b, deadline)
    try:
        for imposed in [[], *([c] for c in _conditions(a) if conditions)]:
            values = {k: v for _, c in imposed for k, v in c.items()}
            result = _map(p, values, release)
            if result is None:
                continue
            found, multiples, needs_constant = result
            words = [c for c, _ in imposed]
            if needs_constant:
                eta = scheduled(a)
                words.append(f"while {eta.name if eta else 'the schedule'} is constant")
            return (_readable(p, found), {n: _readable_expr(p, m) for n, m in multiples.items() if m != 1},
                    words, not words, False)
    except _OutOfTime:
        return None, {}, [], False, True
    return None, {}, [], False, False


def _readable_expr(p: _Problem, expr: sp.Expr) -> sp.Expr:
    names = {h.symbol: _keyword(h) for h in p.a.hypers}
    names.update({u: _keyword(h, prime=True) for h in p.b.hypers for s, u in p.unknown.items() if s == h.symbol})
    return sp.simplify(expr.xreplace(names))


def _readable(p: _Problem, found: dict) -> dict:
    out = {}
    for h in p.b.hypers:
        u = p.unknown[h.symbol]
        out[h.name] = _readable_expr(p, found[u]) if u in found else _keyword(h, prime=True)
    return out


def _assumptions(a: Rule, hypers: dict) -> tuple[list[str], list[str]]:
    """Where the map is defined: each factor of a denominator that can be 0 over ``a``'s ranges
    (``lr ≠ 0``), and the free keywords of ``b`` (``lr'``) a denominator holds, which must not be 0."""
    words, free = {}, {}
    for expr in hypers.values():
        denominator = sp.denom(sp.together(expr))
        if denominator.is_number:
            continue
        for factor, _ in sp.factor_list(denominator)[1]:
            names = sorted(str(s) for s in factor.free_symbols)
            if all(n.endswith("'") for n in names):
                free.update(dict.fromkeys(n[:-1] for n in names))
                continue
            if len(names) == 1 and (h := a.hyper(names[0])) is not None:
                roots = sp.solve(factor, next(iter(factor.free_symbols)))
                if not any(r.is_real and h.contains(float(r)) for r in roots):
                    continue  # never 0 over its range: 1 - momentum
            words[f"{sp.sstr(factor).replace('*', '·')} ≠ 0"] = None
    return list(words), list(free)


# --- running both kernels --------------------------------------------------------------------------
def _translate(a: Rule, b: Rule, hypers: dict):
    """Two functions: ``translate(at_step, chosen)`` from ``a``'s hyperparameters at one step to
    ``b``'s, through the map, and ``choose(case)``, the values of the keywords of ``b`` the map
    leaves free (``lr'``) for a case: ``a``'s value of that keyword at step 1 (else ``b``'s
    default), or ``b``'s default where that makes the map divide by zero at some step."""
    names = {_keyword(h): h.name for h in a.hypers}
    compiled = {}
    for h in b.hypers:
        expr = hypers.get(h.name)
        if expr is None:
            expr = _keyword(h, prime=True) if a.hyper(h.name) is None else _keyword(a.hyper(h.name))
        args = sorted(expr.free_symbols, key=str)
        compiled[h.name] = (sp.lambdify(args, expr, "math"), args)
    free = sorted({str(s)[:-1] for _, args in compiled.values() for s in args if str(s).endswith("'")})

    def translate(at_step: dict, chosen: dict) -> dict:
        out = {}
        for name, (fn, args) in compiled.items():
            key = [str(s) for s in args]
            out[name] = float(fn(*(chosen[k[:-1]] if k.endswith("'") else at_step[names.get(s, k)]
                                   for s, k in zip(args, key))))
        return out

    def outside(case, chosen: dict) -> str:
        """Why the map cannot run ``case`` (it divides by 0, or leaves ``b``'s ranges), or ""."""
        for t in range(1, len(case.grads) + 1):
            try:
                mapped = translate(case.hyper_at(t), chosen)
            except (ZeroDivisionError, OverflowError, ValueError):
                return "the map is undefined there"
            for name, value in mapped.items():
                if not b.hyper(name).contains(value):
                    return f"{name} leaves {label(b)}'s range"
        return ""

    def choose(case) -> dict:
        start = case.hyper_at(1)
        options = [{k: start.get(k, b.hyper(k).default) for k in free}, {k: b.hyper(k).default for k in free}]
        return next((chosen for chosen in options if not outside(case, chosen)), options[0])

    return translate, choose, outside


@dataclass
class _Tally:
    """What the generated search saw: cases started and compared, the first exception a kernel raised."""

    cases: int = 0
    compared: int = 0
    error: str = ""
    error_at: int = 0  # the case it first raised on
    compared_before: int = 0  # cases compared before it
    error_case: object = None  # the last case it raised on: after shrinking, the shrunk one
    outside: int = 0  # cases drawn where the map is undefined or leaves b's ranges: not compared


def _common_ranks(a: Rule, b: Rule) -> tuple[int, ...] | None:
    """The numbers of dimensions both rules take (() for any), or None where there is none."""
    if not a.ranks or not b.ranks:
        return a.ranks or b.ranks
    return tuple(r for r in a.ranks if r in b.ranks) or None


def _search(a: Rule, b: Rule, hypers: dict, impose: dict, scheduled_: bool | None, examples: int, seed: int,
            shrink: bool = True):
    """Both compiled kernels through the map on generated cases of shapes both rules take: the
    cross-check's report (None where it stopped on an exception) and the :class:`_Tally`."""
    from symopt.verify import cross_check, kernel_runner

    tally = _Tally()
    kernel = b.kernel()
    translate, choose, outside = _translate(a, b, hypers)
    run_a = kernel_runner(a)

    def run_b(case):
        params, out = case.params.copy(), []
        chosen = choose(case)
        state = kernel.init(case.params, **translate(case.hyper_at(1), chosen))
        for t, grads in enumerate(case.grads, start=1):
            params, state = kernel.step(params, grads, state, t, **translate(case.hyper_at(t), chosen))
            out.append(params)
        return out

    def guarded(who: str, run, case):
        try:
            return run(case)
        except Exception as exc:
            text = f"{type(exc).__name__}: {' '.join(str(exc).split())} (in {who}'s kernel)"
            if not tally.error:
                tally.error, tally.error_at, tally.compared_before = text, tally.cases, tally.compared
            if text == tally.error:
                tally.error_case = case
            raise

    def witness(case):
        return guarded(label(a), run_a, case)

    def under_test(case):
        out = guarded(label(b), run_b, case)
        tally.compared += 1
        return out

    def adapt(rule, case):
        from hypothesis import assume

        case.hyper.update(impose)
        tally.cases += 1
        if outside(case, choose(case)):  # not a case of the map's domain: drawn, not compared
            tally.outside += 1
            assume(False)
        return case

    domain = replace(a, ranks=_common_ranks(a, b))
    try:
        report = cross_check(domain, witness, against=label(b), examples=examples, seed=seed, under_test=under_test,
                             scheduled=scheduled_, dtype=np.float64, adapt=adapt, shrink=shrink)
    except Exception as exc:  # an exception outside both kernels: the search itself failed
        if not tally.error:
            tally.error = f"{type(exc).__name__}: {' '.join(str(exc).split())} (in the generated search)"
            tally.error_at, tally.compared_before = tally.cases, tally.compared
        return None, tally
    return report, tally


def equivalent(a, b, examples: int = EXAMPLES, seed: int = 0, budget: float = BUDGET, release: int = 2,
               conditions: bool = True, shrink: bool = True) -> Verdict:
    """Whether rules ``a`` and ``b`` are the same optimizer, and under which hyperparameter map.

    Args:
        a, b: rules (:class:`~symopt.core.Rule`, a mutated one too), rule names, or specs such as
            ``"adamw(decay='paper')"`` (parsed, never evaluated: :mod:`symopt.spec`).
        examples: generated trajectories that look for a counterexample (or confirm the map).
        seed: Hypothesis's seed.
        budget: CPU seconds the symbolic search for a map, and for a condition, may take.
        release: how many of ``b``'s hyperparameters the search for a map unties from ``a``'s of the
            same keyword at a time; 0 looks only for maps that keep every shared keyword (the
            fast question for a rule against a mutant of it: the same optimizer with the same
            hyperparameters?).
        conditions: whether to look, when there is no map, for a condition under which they agree.
        shrink: shrink the counterexample found (``False``: the first one, for a caller that reads
            the verdict and not the case, as `derivations/conventions.md` does; the verdict is the same).

    Returns:
        A :class:`Verdict`: ``.kind`` is one of the four verdicts, ``.equivalent`` True only for
        :data:`EQUIVALENT`.

    Example:
        >>> import symopt
        >>> v = symopt.equivalent("sgd", "sgd", examples=5)
        >>> v.kind, v.equivalent, v.hypers
        ('equivalent', True, {'lr': lr, 'weight_decay': weight_decay})

        ``symopt.equivalent("adamw", "adamw(decay='paper')").hypers["weight_decay"]`` is
        ``lr'*weight_decay``: the paper's λ is torch's times the paper's learning rate α.
    """
    from symopt.errors import SymoptError
    from symopt.spec import rule_from_spec

    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise SymoptError(f"examples must be a whole number of at least 1, not {examples!r}")
    a, b = (x if isinstance(x, Rule) else rule_from_spec(x) for x in (a, b))
    forward = _decide(a, b, time.process_time() + budget, release, conditions)
    inverse: dict = forward[0] if forward[3] and a == b else {}  # the identity undoes itself
    if forward[3] and a != b:  # a map from a to b: equivalent only if there is one back
        backward = _decide(b, a, time.process_time() + budget, release, conditions)
        if not backward[3]:
            verdict = _one_way(b, a, examples, seed, budget, backward, shrink)
            verdict.special_case = forward[0]
            if verdict.kind == NOT_DECIDED:
                verdict.reason += f" (every trajectory of {label(a)} is one of {label(b)}'s, through the map below)"
            return verdict
        inverse = backward[0]
    verdict = _one_way(a, b, examples, seed, budget, forward, shrink)
    verdict.inverse = inverse
    return verdict


def _one_way(a: Rule, b: Rule, examples: int, seed: int, budget: float, decided: tuple,
             shrink: bool = True) -> Verdict:
    """The verdict from a map of ``a``'s hyperparameters to ``b``'s (``decided``, from :func:`_decide`)
    and the generated search through it."""
    hypers, states, conditions, same, out_of_time = decided
    verdict = Verdict(a, b, False, hypers or {}, states, conditions)
    if hypers:
        verdict.assumptions, verdict.nonzero = _assumptions(a, hypers)
    if hypers is None:
        verdict.reason = ("they keep different state" if not _same_state(a, b)
                          else f"no map of hyperparameters found within the {budget:g} s (CPU) budget" if out_of_time
                          else "no map of hyperparameters found that makes their step maps equal")
    elif not same:
        constant = any(c.startswith("while") for c in conditions)
        verdict.reason = ("their step maps agree only while the learning rate does not change" if constant
                          else "their step maps agree only under the conditions below")
    ranks = _common_ranks(a, b)
    if ranks is None:
        verdict.reason += "; they take parameters of different numbers of dimensions, so no case runs both"
        return verdict
    impose: dict = {}
    constant = any(c.startswith("while") for c in conditions)
    if not same and constant:
        # Look where the other conditions hold, so that the counterexample shows a schedule breaking it.
        for condition, values in _conditions(a):
            if condition in conditions:
                impose.update({h.name: float(v) for h in a.hypers for s, v in values.items() if h.symbol == s})
    report, tally = _search(a, b, hypers or {}, impose, True if constant else None, examples, seed, shrink)
    verdict.checked, verdict.outside = tally.compared, tally.outside
    if report is not None and report.counterexample is not None:
        verdict.kind = NOT_EQUIVALENT
        verdict.counterexample = report.counterexample.case
        verdict.difference = report.counterexample.errors.first
        if same:  # a proof and a counterexample cannot both stand
            verdict.reason = "the map holds symbolically but the kernels differ beyond rounding"
    elif tally.error:
        verdict.kind = COULD_NOT_CHECK
        verdict.checked = tally.compared_before
        verdict.error, verdict.error_at, verdict.error_case = tally.error, tally.error_at, tally.error_case
        verdict.reason = (f"{tally.error} on generated case {tally.error_at}, after {tally.compared_before} "
                          "compared: the generated search failed, so it decides nothing"
                          + (f" ({verdict.reason})" if verdict.reason else ""))
    elif same:
        verdict.kind, verdict.equivalent = EQUIVALENT, True
    else:
        verdict.kind = NOT_DECIDED
        verdict.reason += f"; no counterexample in {tally.compared} generated cases compared, so this is not decided"
    return verdict


def when(conditions: list[str]) -> str:
    """``when dampening = 0 and while lr is constant``, ``while lr is constant``."""
    values = [c for c in conditions if not c.startswith("while")]
    return " and ".join([*([f"when {' and '.join(values)}"] if values else []),
                         *(c for c in conditions if c.startswith("while"))])


_HEADINGS = {EQUIVALENT: "EQUIVALENT", NOT_EQUIVALENT: "NOT EQUIVALENT", COULD_NOT_CHECK: "COULD NOT CHECK",
             NOT_DECIDED: "NOT DECIDED"}


def describe(verdict: Verdict) -> list[str]:
    """The verdict in a few lines of text."""
    from symopt.verify import describe as describe_case

    a, b = label(verdict.a), label(verdict.b)
    lines = []
    if verdict.special_case is not None:
        lines.append(f"{b} is a special case of {a}: every trajectory of {b} is one of {a}'s, with {a}'s hyperparameters")
        width = max(map(len, verdict.special_case))
        lines += [f"  {name.ljust(width)} = {sp.sstr(expr).replace('*', '·')}" for name, expr in verdict.special_case.items()]
        lines.append("but not conversely:")
    if verdict.equivalent:
        where = f" where {' and '.join(verdict.assumptions)}" if verdict.assumptions else ""
        lines.append(f"EQUIVALENT: {a} and {b} take the same steps for every gradient sequence and "
                     f"learning-rate schedule{where}, with {b}'s hyperparameters")
    else:
        lines.append(f"{_HEADINGS[verdict.kind]}: {a} and {b}: {verdict.reason}")
    if verdict.hypers:
        if not verdict.equivalent and verdict.conditions:
            lines.append(f"they agree {when(verdict.conditions)}, with {b}'s hyperparameters")
        elif not verdict.equivalent:
            lines.append(f"the map proved on their step maps, {b}'s hyperparameters:")
        width = max(map(len, verdict.hypers))
        for name, expr in verdict.hypers.items():
            shown = sp.sstr(expr).replace("*", "·")
            note = ("" if shown != name + "'" else "  (free: any value but 0)" if name in verdict.nonzero
                    else "  (free: any value)")
            lines.append(f"  {name.ljust(width)} = {shown}{note}")
        for name, expr in verdict.states.items():
            shown = sp.sstr(expr).replace("*", "·")
            lines.append(f"  and its state {name} = {f'({shown})' if expr.is_Add else shown}·({a}'s {name})")
    if verdict.counterexample is not None:
        lines.append(f"counterexample (shrunk; {a}'s hyperparameters, {b}'s through the map above, "
                     "both run by their compiled kernels):")
        case = verdict.counterexample
        step, index, ea, eb = verdict.difference
        body = describe_case(case, verdict.difference)
        body[1 if not case.schedule else 2] = (f"step {step}{f' element {index}' if index else ''}: "
                                               f"{a} θ = {ea!r}, {b} θ = {eb!r}")
        lines += [f"  {line}" for line in body]
    elif verdict.error_case is not None:
        lines.append(f"the case it raised on ({a}'s hyperparameters; shrunk):")
        lines += [f"  {line}" for line in describe_case(verdict.error_case)]
    elif verdict.equivalent:
        lines.append(f"both kernels agree through the map on {verdict.checked} generated cases compared")
    if verdict.outside:
        lines.append(f"{verdict.outside} generated cases where the map divides by 0 or leaves {b}'s ranges "
                     "were not compared")
    return lines
