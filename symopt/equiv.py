"""Are two rules the same optimizer? A decision from their step maps, and a counterexample when not.

Two rules are *equivalent* when, under a map of hyperparameters (and, where needed, a rescaling of
their state), they produce the same trajectory for every gradient sequence and every
learning-rate schedule. The schedule is an input of each step, like the gradient: the learning
rate ``η`` of step t (the paper's AdamW schedules its multiplier η_t instead,
:data:`symopt.hyperparameters.SCHEDULED`) may differ from that of step t-1.

The map is found by solving the equality of the two step maps:

1. The second rule's hyperparameters become unknowns; each is first tied to the first rule's
   hyperparameter of the same keyword, and these ties are released, one or two at a time, until
   the equations have a solution (a hyperparameter only the second rule has is also tried at 0). A constant hyperparameter may depend only on the other rule's
   constants; the scheduled one also on the schedule.
2. Each state variable of the second rule is an unknown multiple ``k`` of the first rule's state of
   the same name, before the step and after it (Sutskever's buffer is η times torch's).
3. The equations are the new parameter and the new state, at step 1 (from the initial state, where
   torch's buffer starts as the gradient) and at a general step t ≥ 2, evaluated at a few exact
   rational values of the parameter, the gradient and the state (they must hold for all of them)
   and solved for the unknowns with SymPy, every hyperparameter kept a symbol.
4. The multiple found for the state before the step must be the one found after it, one step
   earlier (with η_{t-1}); where it is only when η_{t-1} = η_t, the rules agree "while η is
   constant" and not for every schedule.
5. The map is then checked on the full step maps, at random exact values of everything.

When no map exists, conditions are tried (η constant; one hyperparameter at a special value such as
λ = 0), and Hypothesis searches for a counterexample, run through both compiled kernels and shrunk.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from symopt import symbols as S
from symopt.core import Rule
from symopt.hyperparameters import SCHEDULED
from symopt.optimizers import label

#: How many generated trajectories look for a counterexample, or confirm a map, by default.
EXAMPLES = 60


@dataclass
class Verdict:
    """What :func:`equivalent` decides about rules ``a`` and ``b``.

    ``hypers`` maps each hyperparameter keyword of ``b`` to an expression of ``a``'s keywords (a
    keyword of ``b`` left free is written with a prime, ``lr'``); ``states`` maps each state of
    ``b`` to a multiple of ``a``'s. ``conditions`` are what makes them agree when they are not
    equivalent (empty: none found); ``counterexample`` is the shrunk case on which their kernels
    differ, with ``step`` and the two parameters there.
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
    checked: int = 0  # generated cases both kernels ran on

    @property
    def exit_code(self) -> int:
        return 0 if self.equivalent else 1

    def as_dict(self) -> dict:
        """The verdict as JSON-ready data."""
        case = self.counterexample
        return {
            "a": label(self.a), "b": label(self.b), "equivalent": self.equivalent,
            "hyperparameters": {k: sp.sstr(v) for k, v in self.hypers.items()},
            "states": {k: sp.sstr(v) for k, v in self.states.items()},
            "conditions": self.conditions, "reason": self.reason, "cases_checked": self.checked,
            "counterexample": None if case is None else {
                "dtype": case.dtype.name, "shape": list(case.params.shape), "steps": len(case.grads),
                "hyperparameters": case.hyper, "lr_by_step": case.schedule or None,
                "params": case.params.tolist(), "grads": [g.tolist() for g in case.grads],
                "first_difference": None if self.difference is None else {
                    "step": self.difference[0], "index": list(self.difference[1]),
                    "a": self.difference[2], "b": self.difference[3]},
            },
        }


# --- the symbols of the problem ----------------------------------------------------------------------
def scheduled(rule: Rule):
    """The hyperparameter a learning-rate schedule varies in ``rule``, or None."""
    return next((h for name in SCHEDULED if (h := rule.hyper(name)) is not None), None)


def _keyword(h, prime: bool = False) -> sp.Symbol:
    """A hyperparameter written by its keyword, for printing maps (``weight_decay``, ``lr'``)."""
    return sp.Symbol(h.name + ("'" if prime else ""), real=True)


@dataclass
class _Problem:
    a: Rule
    b: Rule
    unknown: dict  # b's hyper symbol -> its unknown
    step_now: sp.Symbol | None  # a's scheduled symbol (this step's value)
    step_prev: sp.Symbol  # its value at the previous step
    k_prev: dict  # state name -> unknown multiple before the step
    k_new: dict  # ... and after it
    free: set  # unknowns left as parameters of the map: a constant learning rate against a schedule
    cache: dict = field(default_factory=dict)  # the equations, by the conditions imposed
    maps: tuple = ()  # the two step maps


def _problem(a: Rule, b: Rule) -> _Problem:
    sa = scheduled(a)
    unknown = {h.symbol: sp.Symbol(f"U_{h.name}", real=True) for h in b.hypers}
    names = [s.name for s in b.states]
    sb = scheduled(b)
    # The paper's α is a constant where the other rule schedules its η: it stays a free parameter
    # of the map (the base learning rate), and the schedule goes to the multiplier.
    free = {unknown[h.symbol] for h in b.hypers
            if sa is not None and h.name == sa.name and (sb is None or h.symbol != sb.symbol)}
    return _Problem(a, b, unknown, sa.symbol if sa else None, sp.Symbol("eta_prev", nonnegative=True),
                    {n: sp.Symbol(f"Kprev_{n}", real=True) for n in names},
                    {n: sp.Symbol(f"Knew_{n}", real=True) for n in names}, free, maps=(a.step_map(), b.step_map()))


def _equations(p: _Problem, first: bool, point: dict) -> list[sp.Expr]:
    """The differences of the two step maps at one point (each must be 0): the new parameter, and
    each new state against its multiple of the other's."""
    t2 = sp.Symbol("t2", integer=True, positive=True)
    t = sp.Integer(1) if first else t2 + 1
    sa, sb = p.maps
    states_a = {s.name: s for s in p.a.states}
    env_a = {S.t: t, S.theta_prev: point["theta"], S.g: point["g"]}
    env_b = dict(env_a)
    for s in p.b.states:
        if first:
            env_b[s.prev] = s.init.xreplace(p.unknown)
            env_a[states_a[s.name].prev] = states_a[s.name].init
        else:
            env_a[states_a[s.name].prev] = point[s.name]
            env_b[s.prev] = p.k_prev[s.name] * point[s.name]
    out = [sb[S.theta].xreplace(p.unknown).xreplace(env_b) - sa[S.theta].xreplace(env_a)]
    for s in p.b.states:
        new_a = sa[states_a[s.name].new].xreplace(env_a)
        out.append(sb[s.new].xreplace(p.unknown).xreplace(env_b) - p.k_new[s.name] * new_a)
    return [e.xreplace({S.theta0: point["theta0"]}) for e in out]


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
    unknowns = _unknowns(p) - p.free - set(ties)
    probe = _probe(p)
    if numeric:
        equations = [sp.N(e.xreplace(probe), 30) for e in equations]
    solution: dict = {}
    for _ in range(len(unknowns) + 1):
        equations = [e for e in equations if not _zero(e, probe)]
        if not equations:
            return [solution if numeric else {k: _tidy(v) for k, v in solution.items()}]
        choice = None
        for e in sorted(equations, key=lambda e: len(e.free_symbols & unknowns)):
            present = e.free_symbols & unknowns
            if not present:
                return []  # a difference that no unknown can take away
            for form in (e, None):  # as it is, then over a common denominator
                form = sp.together(e).as_numer_denom()[0] if form is None else form
                for u in sorted(present, key=str):
                    slope = sp.diff(form, u)
                    if u in slope.free_symbols or _zero(slope, probe):
                        continue
                    value = -form.xreplace({u: 0}) / slope
                    choice = (u, value if numeric else _tidy(value))
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
    """Random exact values of every symbol but the unknowns, to tell 0 from not 0."""
    rng = random.Random(11)
    symbols = {h.symbol for h in (*p.a.hypers, *p.b.hypers)} | set(p.free) | {p.step_prev}
    symbols.add(sp.Symbol("t2", integer=True, positive=True))
    return {s: sp.Rational(rng.randint(5, 95), 100) if s.name != "t2" else sp.Integer(3) for s in symbols}


def _zero(expr: sp.Expr, probe: dict) -> bool:
    """Whether ``expr`` (free of unknowns) is 0, judged at two random points to 30 digits."""
    if expr == 0:
        return True
    value = sp.N(expr.xreplace(probe), 25)
    return value.is_number and abs(complex(value)) < 1e-15


def _tidy(expr: sp.Expr) -> sp.Expr:
    """A solution in its simplest form (the sampled roots cancel out of a true map)."""
    expr = sp.cancel(sp.together(expr))
    return expr if expr.is_Atom or sp.count_ops(expr) < 8 else sp.simplify(expr)


def _unknowns(p: _Problem) -> set:
    return {*p.unknown.values(), *p.k_prev.values(), *p.k_new.values()}


def _map(p: _Problem, values: dict) -> tuple[dict, dict, bool] | None:
    """The first map found: ties released one or two at a time. Returns (unknown -> value, state
    multiples, whether the state multiples need η constant), or None."""
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
    for pin, size in itertools.product(pins, range(0, 2 if values else 3)):
        for released in itertools.combinations(tieable, size):
            ties = {**pin, **{p.unknown[s]: tie(b_hypers[s]) for s in tieable if s not in released}}
            if not _solve(p, ties, values, numeric=True):
                continue
            for solution in _solve(p, ties, values):
                found = {**ties, **solution}
                if not _allowed(p, found, step_symbols):
                    continue
                multiples, needs_constant = _multiples(p, found)
                if needs_constant is None or not _check(p, found, values, constant=needs_constant):
                    continue
                return found, multiples, needs_constant
    return None


def _allowed(p: _Problem, found: dict, step_symbols: set) -> bool:
    """A constant of ``b`` may not depend on the schedule or the step counter; nothing may depend
    on the array values (a solution SymPy found only at the sampled points)."""
    sb = scheduled(p.b)
    for symbol, unknown in p.unknown.items():
        value = found.get(unknown)
        if value is None:
            continue
        banned = {S.t, sp.Symbol("t2", integer=True, positive=True)}
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
    t2 = sp.Symbol("t2", integer=True, positive=True)
    expr = expr.xreplace({t2: t2 - 1})
    return expr if p.step_now is None else expr.xreplace({p.step_now: p.step_prev})


def _check(p: _Problem, found: dict, values: dict, constant: bool, trials: int = 4) -> bool:
    """The map on the full step maps, at random exact values of every symbol (hyperparameters too):
    the state multiple before the step is the one after the previous step, with η_{t-1} drawn apart
    from η_t unless ``constant``."""
    rng = random.Random(7)
    t2 = sp.Symbol("t2", integer=True, positive=True)

    def draw_value(h):
        low = h.sample[0] if h.low_open else h.low
        high = min(h.high, h.sample[1])
        if h.integer:
            return sp.Integer(rng.randint(int(low), int(high)))
        return sp.nsimplify(low) + sp.Rational(rng.randint(1, 97), 100) * (sp.nsimplify(high) - sp.nsimplify(low))

    for trial in range(trials):
        draw = {h.symbol: draw_value(h) for h in (*p.a.hypers, *p.b.hypers)}
        draw.update(values)
        draw.update({u: sp.Rational(rng.randint(1, 97), 50) for u in p.free})
        if p.step_now is not None:
            draw[p.step_prev] = draw[p.step_now] if constant else sp.Rational(rng.randint(1, 97), 100)
        multiples = {}
        for n in p.k_new:
            new = found.get(p.k_new[n], sp.S.One)
            multiples[p.k_new[n]] = new
            multiples[p.k_prev[n]] = _shift(p, new)
        point = _points(p, 1, 100 + trial)[0]
        for first in (True, False):
            for e in _equations(p, first, point):
                e = e.xreplace(multiples).xreplace(found).xreplace(draw).xreplace({t2: 1 + trial})
                number = sp.N(e, 40)
                if not number.is_number or abs(complex(number)) > 1e-25:
                    return False
    return True


# --- conditions ------------------------------------------------------------------------------------
def _conditions(rule: Rule) -> list[tuple[str, dict]]:
    """The conditions to try, one hyperparameter at 0 (where 0 is in its range), the schedule's
    aside: ``weight_decay = 0``, ``dampening = 0``, ``beta2 = 0``."""
    step = scheduled(rule)
    return [(f"{h.name} = 0", {h.symbol: sp.S.Zero}) for h in rule.hypers
            if h.contains(0.0) and (step is None or h.symbol != step.symbol)]


def _decide(a: Rule, b: Rule) -> tuple[dict | None, dict, list[str], bool]:
    """(map, state multiples, conditions, equivalent)."""
    p = _problem(a, b)
    if sorted(s.name for s in a.states) != sorted(s.name for s in b.states):
        return None, {}, [], False
    for conditions in [[], *([c] for c in _conditions(a))]:
        values = {k: v for _, c in conditions for k, v in c.items()}
        result = _map(p, values)
        if result is None:
            continue
        found, multiples, needs_constant = result
        words = [c for c, _ in conditions]
        if needs_constant:
            eta = scheduled(a)
            words.append(f"while {eta.name if eta else 'the schedule'} is constant")
        return (_readable(p, found), {n: _readable_expr(p, m) for n, m in multiples.items() if m != 1},
                words, not words)
    return None, {}, [], False


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


# --- running both kernels --------------------------------------------------------------------------
def _translate(a: Rule, b: Rule, hypers: dict):
    """A function from ``a``'s hyperparameters at one step to ``b``'s, through the map (a free
    keyword of ``b`` takes ``a``'s value of that keyword at step 1, else its default)."""
    names = {_keyword(h): h.name for h in a.hypers}
    compiled = {}
    for h in b.hypers:
        expr = hypers.get(h.name)
        if expr is None:
            expr = _keyword(h, prime=True) if a.hyper(h.name) is None else _keyword(a.hyper(h.name))
        compiled[h.name] = (sp.lambdify(sorted(expr.free_symbols, key=str), expr, "math"),
                            sorted(expr.free_symbols, key=str))

    def translate(at_step: dict, at_start: dict) -> dict:
        out = {}
        for name, (fn, args) in compiled.items():
            values = []
            for s in args:
                key = str(s)
                if key.endswith("'"):
                    base = key[:-1]
                    values.append(at_start.get(base, b.hyper(base).default))
                else:
                    values.append(at_step[names.get(s, key)])
            out[name] = float(fn(*values))
        return out

    return translate


def _runner(a: Rule, b: Rule, hypers: dict, impose: dict):
    from symopt.verify import kernel_runner

    kernel = b.kernel()
    translate = _translate(a, b, hypers)

    def run(case):
        params, out = case.params.copy(), []
        start = case.hyper_at(1)
        state = kernel.init(case.params, **translate(start, start))
        for t, grads in enumerate(case.grads, start=1):
            params, state = kernel.step(params, grads, state, t, **translate(case.hyper_at(t), start))
            out.append(params)
        return out

    def adapt(rule, case):
        case.hyper.update(impose)
        return case

    return run, kernel_runner(a), adapt


def _search(a: Rule, b: Rule, hypers: dict, impose: dict, scheduled_: bool | None, examples: int, seed: int):
    from symopt.verify import cross_check

    run_b, run_a, adapt = _runner(a, b, hypers, impose)
    return cross_check(a, run_a, against=label(b), examples=examples, seed=seed, under_test=run_b,
                       scheduled=scheduled_, dtype=np.float64, adapt=adapt)


def equivalent(a, b, examples: int = EXAMPLES, seed: int = 0) -> Verdict:
    """Whether rules ``a`` and ``b`` are the same optimizer, and under which hyperparameter map.

    Args:
        a, b: rules, rule names, or specs such as ``"adamw(decay='paper')"`` (parsed, never
            evaluated: :mod:`symopt.spec`).
        examples: generated trajectories that look for a counterexample (or confirm the map).
        seed: Hypothesis's seed.

    Returns:
        A :class:`Verdict`.

    Example:
        >>> import symopt
        >>> v = symopt.equivalent("sgd", "sgd", examples=5)
        >>> v.equivalent, v.hypers
        (True, {'lr': lr, 'weight_decay': weight_decay})

        ``symopt.equivalent("adamw", "adamw(decay='paper')").hypers["weight_decay"]`` is
        ``lr'*weight_decay``: the paper's λ is torch's times the paper's learning rate α.
    """
    from symopt.errors import SymoptError
    from symopt.spec import rule_from_spec

    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise SymoptError(f"examples must be a whole number of at least 1, not {examples!r}")
    a, b = (x if isinstance(x, Rule) else rule_from_spec(x) for x in (a, b))
    hypers, states, conditions, same = _decide(a, b)
    verdict = Verdict(a, b, same, hypers or {}, states, conditions)
    if hypers is None:
        verdict.reason = ("they keep different state" if sorted(s.name for s in a.states) != sorted(s.name for s in b.states)
                          else "no map of hyperparameters makes their step maps equal")
    impose: dict = {}
    constant = any(c.startswith("while") for c in conditions)
    if not same and constant:
        # Look where the other conditions hold, so that the counterexample shows a schedule breaking it.
        for condition, values in _conditions(a):
            if condition in conditions:
                impose.update({h.name: float(v) for h in a.hypers for s, v in values.items() if h.symbol == s})
    report = _search(a, b, hypers or {}, impose, True if constant else None, examples, seed)
    verdict.checked = report.cases
    if report.counterexample is not None:
        verdict.counterexample = report.counterexample.case
        verdict.difference = report.counterexample.errors.first
        if same:  # a proof and a counterexample cannot both stand
            verdict.equivalent = False
            verdict.reason = "the map holds symbolically but the kernels differ beyond rounding"
    elif not same and hypers is None and not conditions:
        verdict.reason += f"; no counterexample in {report.cases} generated cases, so this is not decided"
    if not same and constant and not verdict.reason:
        verdict.reason = "their step maps agree only while the learning rate does not change"
    elif not same and conditions and not verdict.reason:
        verdict.reason = "their step maps agree only under the conditions below"
    return verdict


def describe(verdict: Verdict) -> list[str]:
    """The verdict in a few lines of text."""
    a, b = label(verdict.a), label(verdict.b)
    lines = []
    if verdict.equivalent:
        lines.append(f"EQUIVALENT: {a} and {b} take the same steps for every gradient sequence and "
                     f"learning-rate schedule, with {b}'s hyperparameters")
    else:
        lines.append(f"NOT EQUIVALENT: {a} and {b}: {verdict.reason}")
    if verdict.hypers:
        if not verdict.equivalent and verdict.conditions:
            lines.append(f"they agree when {' and '.join(verdict.conditions)}, with {b}'s hyperparameters")
        width = max(map(len, verdict.hypers))
        for name, expr in verdict.hypers.items():
            shown = sp.sstr(expr).replace("*", "·")
            note = "  (free: any value)" if shown == name + "'" else ""
            lines.append(f"  {name.ljust(width)} = {shown}{note}")
        for name, expr in verdict.states.items():
            lines.append(f"  and its state {name} = {sp.sstr(expr).replace('*', '·')}·({a}'s {name})")
    if verdict.counterexample is not None:
        from symopt.verify import describe as describe_case

        lines.append(f"counterexample (shrunk; {a}'s hyperparameters, {b}'s through the map above, "
                     "both run by their compiled kernels):")
        case = verdict.counterexample
        step, index, ea, eb = verdict.difference
        body = describe_case(case, verdict.difference)
        body[1 if not case.schedule else 2] = (f"step {step}{f' element {index}' if index else ''}: "
                                               f"{a} θ = {ea!r}, {b} θ = {eb!r}")
        lines += [f"  {line}" for line in body]
    elif verdict.equivalent:
        lines.append(f"both kernels agree through the map on {verdict.checked} generated cases")
    return lines
