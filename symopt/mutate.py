"""Mutants of a rule: small wrong versions of its equations, which verification must tell apart.

Mutation testing measures verification: each mutant is the rule with one of its equations changed
in one place, the kind of slip an implementation makes, and ``symopt verify`` (the rule's kernel
against its hand-written reference, on generated trajectories) must *kill* it, by finding a case
where the mutant's kernel and the original rule's reference disagree. A mutant that survives names
a place where the generated cases, or the comparison, do not reach.

The mutants are made from any rule's equations, generically (nothing here names a rule):

- ``coefficient``: a number (a coefficient, a constant term, the base of a power) or one occurrence
  of a hyperparameter scaled by :data:`PERTURB` (a count, such as Muon's steps, is raised by 1);
- ``drop``: one addend of a sum dropped;
- ``threshold``: a branch's condition shifted by ±1, or, on whole numbers (the step counter, warmup
  steps), its strictness flipped (``>`` to ``≥``). On a real quantity (RAdam's ρₜ > 5) a flip changes
  the rule only where the quantity equals the threshold exactly, a set no float and no generated
  case lands on: no finite test tells the two apart, and equiv (rightly) proves no such pair;
  the shift by ±1 of the same condition is kept;
- ``max``: a max, min or absolute value replaced by one of its arguments;
- ``epsilon``: ε moved into a root (``ε + √v`` to ``√(v + ε)``), out of one, or onto another
  argument of a max;
- ``order``: a state updated before an equation reads it (it reads ``s_t`` for ``s_{t-1}``, the
  update moved before it), or read before its update (``s_{t-1}`` for ``s_t``).

Every mutant is a valid rule (:meth:`symopt.core.Rule.with_equations`: same hyperparameters and
state). Mutants whose step map is the original's, or another mutant's, after SymPy's
canonicalisation are dropped when they are made; those :func:`symopt.equivalent` proves equivalent
to the original are discarded when scoring (:func:`equivalent_to`, the one place it is asked).
The mutation score of a rule is killed / (killed + survived). ``benchmarks/mutation.py`` scores
every mutant of every rule; ``tests/test_mutate.py`` a sample.

Example:
    >>> import symopt
    >>> from symopt.mutate import mutants
    >>> found = mutants(symopt.get("sgd"))
    >>> [m.description for m in found if m.kind == "drop"]
    ['drop term gₜ from gₜ', 'drop term λ·θₜ₋₁ from gₜ', 'drop term θₜ₋₁ from θₜ', 'drop term -η·gₜ from θₜ']
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import pkgutil
import random
import signal
import threading
from dataclasses import dataclass, field

import sympy as sp
from sympy.functions.elementary.piecewise import ExprCondPair

from symopt import ops
from symopt.core import Assign, Rule
from symopt.errors import SymoptError
from symopt.printing import text

#: How much a coefficient or hyperparameter is scaled by (exactly, so that SymPy keeps it rational).
PERTURB = sp.Rational(11, 10)
KINDS = ("coefficient", "drop", "threshold", "max", "epsilon", "order")
#: What ``symopt verify`` draws by default; a mutant is killed with the same budget.
EXAMPLES = 100
#: Seconds :func:`equivalent_to` gives :func:`symopt.equivalent` before it counts as not decided.
EQUIV_SECONDS = 120

_CHOICES = (sp.Max, sp.Min, ops.FMax, sp.Abs)
_FLIP = {sp.StrictGreaterThan: sp.GreaterThan, sp.GreaterThan: sp.StrictGreaterThan,
         sp.StrictLessThan: sp.LessThan, sp.LessThan: sp.StrictLessThan}


@dataclass(frozen=True)
class Mutant:
    """A rule with one change: ``id`` (``m_t:drop1``: the equation changed, the kind and a number),
    ``kind`` (one of :data:`KINDS`), a one-line ``description`` and the mutated ``rule``."""

    id: str
    kind: str
    description: str
    rule: Rule = field(repr=False)


# --- the expression tree, by position -----------------------------------------------------------------
def _walk(expr: sp.Basic, path: tuple = (), condition: bool = False):
    """``(path, node, in_condition)`` for every node, in preorder; a path is the args' indices."""
    yield path, expr, condition
    if not expr.is_Atom:
        for i, arg in enumerate(expr.args):
            yield from _walk(arg, (*path, i), condition or (isinstance(expr, ExprCondPair) and i == 1))


def _get(expr: sp.Basic, path: tuple) -> sp.Basic:
    for i in path:
        expr = expr.args[i]
    return expr


def _put(expr: sp.Basic, path: tuple, new: sp.Basic) -> sp.Basic:
    """``expr`` with the node at ``path`` replaced by ``new`` (rebuilt, so SymPy canonicalises)."""
    if not path:
        return new
    args = list(expr.args)
    args[path[0]] = _put(args[path[0]], path[1:], new)
    return expr.func(*args)


def _short(expr: sp.Basic, width: int = 60) -> str:
    shown = text(expr)
    return shown if len(shown) <= width else shown[: width - 1] + "…"


# --- the mutation operators: each yields (kind, new right-hand side or equations, description) -----------
def _coefficients(rule: Rule, eq: Assign):
    hypers = {h.symbol: h for h in rule.hypers}
    for path, node, condition in _walk(eq.rhs):
        if condition:
            continue  # a branch's condition is the threshold operator's
        parent = _get(eq.rhs, path[:-1]) if path else None
        if node in hypers:
            new = node + 1 if hypers[node].integer else PERTURB * node
        elif (node.is_Number and node != 0 and parent is not None
              and (parent.is_Add or parent.is_Mul or (parent.is_Pow and path[-1] == 0))):
            new = PERTURB * node
        else:
            continue
        where = f" in {_short(parent)}" if parent is not None else ""
        yield "coefficient", _put(eq.rhs, path, new), f"{text(node)} → {text(new)}{where}, {text(eq.lhs)}"


def _drops(rule: Rule, eq: Assign):
    for path, node, condition in _walk(eq.rhs):
        if condition or not node.is_Add:
            continue
        for k, term in enumerate(node.args):
            rest = sp.Add(*(a for j, a in enumerate(node.args) if j != k))
            where = f"{_short(node, 40)} in " if path else ""
            yield "drop", _put(eq.rhs, path, rest), f"drop term {_short(term)} from {where}{text(eq.lhs)}"


def _on_whole_numbers(rule: Rule, relation: sp.Basic) -> bool:
    """Whether a condition compares whole numbers only: the step counter and counts."""
    counts = {h.symbol for h in rule.hypers if h.integer}
    return all(s.is_integer or s in counts for s in relation.free_symbols)


def _thresholds(rule: Rule, eq: Assign):
    for path, node, condition in _walk(eq.rhs):
        if not (condition and isinstance(node, sp.core.relational.Relational)):
            continue
        shifted = [node.func(node.lhs, node.rhs + delta) for delta in (1, -1)]
        if node.func in _FLIP and _on_whole_numbers(rule, node):
            shifted.append(_FLIP[node.func](node.lhs, node.rhs))
        for new in shifted:
            yield "threshold", _put(eq.rhs, path, new), f"branch {text(node)} → {text(new)} in {text(eq.lhs)}"


def _choices(rule: Rule, eq: Assign):
    for path, node, condition in _walk(eq.rhs):
        if condition or not isinstance(node, _CHOICES):
            continue
        for arg in node.args:
            yield "max", _put(eq.rhs, path, arg), f"{_short(node, 40)} → {_short(arg, 30)} in {text(eq.lhs)}"


def _is_root(e: sp.Basic) -> bool:
    return e.is_Pow and e.exp == sp.S.Half


def _epsilons(rule: Rule, eq: Assign):
    eps = sorted((h.symbol for h in rule.hypers if h.name.startswith("eps")), key=sp.default_sort_key)
    for path, node, condition in _walk(eq.rhs):
        if condition or not node.is_Add:
            continue
        parent = _get(eq.rhs, path[:-1]) if path else None
        for e in eps:
            terms = [a for a in node.args if a == e or (a.is_Mul and e in a.args)]
            for term in terms:
                rest = [a for a in node.args if a != term]
                word = f"move {text(term)}"
                for other in (a for a in rest if _is_root(a)):  # into a root beside it
                    new = sp.Add(*(sp.sqrt(a.base + term) if a == other else a for a in rest))
                    yield "epsilon", _put(eq.rhs, path, new), f"{word} into the root: {_short(new)} in {text(eq.lhs)}"
                if parent is not None and _is_root(parent) and path[-1] == 0:  # out of the root around it
                    new = sp.sqrt(sp.Add(*rest)) + term
                    yield "epsilon", _put(eq.rhs, path[:-1], new), f"{word} out of the root: {_short(new)} in {text(eq.lhs)}"
                if parent is not None and isinstance(parent, _CHOICES) and len(parent.args) > 1:  # onto another argument
                    for k, other in enumerate(parent.args):
                        if k == path[-1]:
                            continue
                        args = [sp.Add(*rest) if j == path[-1] else other + term if j == k else a
                                for j, a in enumerate(parent.args)]
                        new = parent.func(*args)
                        yield "epsilon", _put(eq.rhs, path[:-1], new), \
                            f"{word} onto {_short(other, 30)}: {_short(new)} in {text(eq.lhs)}"


def _orders(rule: Rule):
    """Yield (kind, equations, description, the lhs of the equation whose reading changed): a state
    read after its update where it was read before it, and before it where it was read after."""
    eqs = list(rule.equations)
    index = {eq.lhs: k for k, eq in enumerate(eqs)}
    for s in rule.states:
        i = index.get(s.new)
        if i is None:
            continue
        for j, eq in enumerate(eqs):
            if j == i:
                continue
            if s.prev in eq.rhs.free_symbols:
                changed = Assign(eq.lhs, eq.rhs.xreplace({s.prev: s.new}))
                moved = list(eqs)
                moved[j] = changed
                if j < i:  # the update moves up, just before the equation that now reads it
                    moved.insert(j, moved.pop(i))
                yield "order", moved, f"update {text(s.new)} before {text(eq.lhs)} reads it (for {text(s.prev)})", eq.lhs
            if s.new in eq.rhs.free_symbols and j > i:
                moved = list(eqs)
                moved[j] = Assign(eq.lhs, eq.rhs.xreplace({s.new: s.prev}))
                yield "order", moved, f"{text(eq.lhs)} reads {text(s.prev)}, before the update, for {text(s.new)}", eq.lhs


_IN_EQUATION = (_coefficients, _drops, _thresholds, _choices, _epsilons)


def _read_by_theta(rule: Rule) -> set:
    """The quantities θ_t reads, at this step or through the state at later ones."""
    from symopt import symbols as S

    later = {s.prev: s.new for s in rule.states}
    needed, grown = {S.theta}, True
    while grown:
        grown = False
        for eq in rule.equations:
            if eq.lhs in needed:
                reads = {later.get(x, x) for x in eq.rhs.free_symbols} - needed
                needed |= reads
                grown = grown or bool(reads)
    return needed


def _candidates(rule: Rule, beside_theta: bool = False):
    """(kind, equations, description, changed lhs) for every mutation, in a fixed order.

    Only of the equations θ_t reads: verify compares θ, so a quantity it never reads (ASGD's average
    ā, which ``eval_params`` returns) has no mutant verify could kill. With ``beside_theta``, only of
    the others: the mutants the tests of the evaluation point must kill."""
    read = _read_by_theta(rule)
    for k, eq in enumerate(rule.equations):
        if (eq.lhs in read) == beside_theta:
            continue
        for operator in _IN_EQUATION:
            for kind, rhs, description in operator(rule, eq):
                equations = list(rule.equations)
                equations[k] = Assign(eq.lhs, rhs)
                yield kind, equations, description, eq.lhs
    for kind, equations, description, reader in _orders(rule):
        if (reader in read) == beside_theta:
            continue
        changed = next(a.lhs for a, b in zip(equations, rule.equations) if a != b)
        yield kind, equations, description, changed


def _key(rule: Rule) -> tuple:
    step = rule.step_map()
    return tuple(step[k] for k in sorted(step, key=sp.default_sort_key))


def mutants(rule: Rule, kinds: tuple[str, ...] = KINDS, beside_theta: bool = False) -> list[Mutant]:
    """Every mutant of ``rule`` of the given kinds, in a fixed order, none of them identical to the
    rule or to an earlier mutant after SymPy's canonicalisation (the same step map).

    Mutants change what θ reads; with ``beside_theta``, what it does not (ASGD's average ā, which
    verify does not compare and tests/test_sparse_and_averaged.py does).

    A change that does not make a valid rule (an equation reading what is assigned only after it,
    an operation outside :mod:`symopt.ops`) is not a mutant.
    """
    seen = {_key(rule)}
    counts: dict = {}
    out = []
    for kind, equations, description, lhs in _candidates(rule, beside_theta):
        if kind not in kinds:
            continue
        try:
            made = rule.with_equations(equations)
            key = _key(made)
        except (SymoptError, TypeError, ValueError):
            continue
        if key in seen:
            continue
        seen.add(key)
        number = counts[lhs, kind] = counts.get((lhs, kind), 0) + 1
        out.append(Mutant(f"{lhs.name}:{kind}{number}", kind, description, made))
    return out


def sample(found: list[Mutant], count: int, seed: int = 0) -> list[Mutant]:
    """``count`` of ``found``, drawn with ``seed``: the kinds present in a random order, one mutant of
    each in turn, so that no kind is drawn twice before every kind once; in their original order.
    The draw depends on the rule too (its label), so that rules with the same kinds draw differently."""
    from symopt.optimizers import label

    rng = random.Random(f"{seed}:{label(found[0].rule)}" if found else seed)  # a str seed: not hashed
    kinds = [kind for kind in KINDS if any(m.kind == kind for m in found)]
    rng.shuffle(kinds)
    pools = {kind: rng.sample([m for m in found if m.kind == kind], k=sum(m.kind == kind for m in found))
             for kind in kinds}
    chosen: list[Mutant] = []
    while len(chosen) < count and any(pools.values()):
        for kind in kinds:
            if pools[kind] and len(chosen) < count:
                chosen.append(pools[kind].pop())
    return [m for m in found if m in chosen]


# --- killing and scoring --------------------------------------------------------------------------
@dataclass
class Outcome:
    """What became of one mutant: ``killed`` (with how), ``equivalent`` (why), or neither: it survived."""

    mutant: Mutant
    killed: bool = False
    equivalent: bool = False
    detail: str = ""  # how it was killed, why it is equivalent, or why equiv did not discard it
    cases: int = 0  # the generated cases verify ran


@functools.cache
def _every_module() -> None:
    """Import every module of symopt, once. Hypothesis (6.1xx) draws some values from the numeric
    constants of the local modules loaded in the process, so the cases a seed generates depend on what
    has been imported: a mutant killed in 37 cases in one process survived 100 in another. With every
    module loaded, a seed gives the same cases in the benchmark, the tests and ``symopt mutate``."""
    import symopt

    for info in pkgutil.walk_packages(symopt.__path__, "symopt."):
        if not info.name.endswith("__main__"):
            with contextlib.suppress(ImportError):  # an optional extra (numba) that is not installed
                importlib.import_module(info.name)


def kill(rule: Rule, mutant: Mutant, examples: int = EXAMPLES, seed: int = 0, shrink: bool = False) -> Outcome:
    """Run ``symopt verify``'s cross-check with the mutant's kernel under test: against the hand-written
    reference of ``rule`` (the original), on trajectories drawn for it, measured with its error
    bounds. The mutant is killed if some case disagrees beyond tolerance, or its kernel raises; the case is the
    first one found, not shrunk, unless ``shrink``."""
    from symopt.verify import cross_check, describe, kernel_runner, reference_runner

    _every_module()
    witness = reference_runner(rule)
    if witness is None:
        raise SymoptError(f"no hand-written reference for {rule.name}: nothing can kill its mutants")
    outcome = Outcome(mutant)
    try:
        under_test = kernel_runner(mutant.rule)
    except Exception as exc:  # a mutant that does not even compile is killed, and says so
        outcome.killed, outcome.detail = True, f"its kernel does not compile ({type(exc).__name__}: {exc})"
        return outcome
    report = cross_check(rule, witness, against="reference", examples=examples, seed=seed, under_test=under_test,
                         shrink=shrink, explicit=True)  # as verify runs it: the long case per shape class too
    outcome.cases = report.cases
    if report.agreed and not report.enough:  # verify does not PASS it either
        outcome.killed, outcome.detail = True, f"not enough compared ({report.verdict})"
    elif report.counterexample is not None:
        lines = describe(report.counterexample.case, report.counterexample.errors.first)
        where = [line for line in lines[1:] if line.startswith("step")]  # not the schedule or the inputs
        outcome.killed, outcome.detail = True, "; ".join([lines[0], *where])
    elif report.failure:
        outcome.killed, outcome.detail = True, f"its kernel raised: {report.failure}"
    return outcome


@contextlib.contextmanager
def _time_limit(seconds: int):
    """Raise TimeoutError after ``seconds`` (in the main thread; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(*_):
        raise TimeoutError(f"no decision in {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    # again every second after the first: an exception raised inside a garbage-collector callback
    # (Hypothesis installs one) is printed and dropped, and the next one lands in ordinary code
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def equivalent_to(rule: Rule, mutant: Mutant, seconds: int = EQUIV_SECONDS) -> tuple[bool, str]:
    """Whether :func:`symopt.equivalent` proves ``mutant`` the same optimizer as ``rule``, and its
    reason. The one place mutants are decided: anything but a verdict of EQUIVALENT with every
    hyperparameter and state mapped to itself (an exception, no decision in ``seconds``, a map) is
    not equivalent, and the mutant must be killed."""
    from symopt.equiv import equivalent

    try:
        with _time_limit(seconds):
            verdict = equivalent(rule, mutant.rule, release=0, conditions=False)  # the same hyperparameters, or not
    except Exception as exc:
        return False, f"equiv could not check ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})"
    if verdict.equivalent is not True:
        return False, f"equiv: NOT EQUIVALENT ({verdict.reason or 'no reason given'})"
    # The mutant's kernel is checked with the rule's own hyperparameter values: one that equals the
    # rule only through a map (β₁ scaled where only the sign of a sum is used) is still wrong.
    # A state rescaled by a constant, with the same hyperparameters, is the same optimizer: equiv's
    # map holds from each rule's own initial state, and verify compares θ alone (Signum's average
    # scaled by 1/(1 - β) under its sign).
    mapped = [f"{k} = {v}" for k, v in verdict.hypers.items() if sp.sstr(v) != k]
    if mapped:
        return False, f"equiv: EQUIVALENT only through the map {', '.join(mapped)}, not with the same hyperparameters"
    states = [f"{k} = {v}·{k}" for k, v in verdict.states.items() if v != 1]
    return True, "equiv: EQUIVALENT" + (f" (its state is {', '.join(states)}: θ is the same)" if states else "")


def decide(rule: Rule, mutant: Mutant, examples: int = EXAMPLES, seed: int = 0) -> Outcome:
    """Kill ``mutant`` with verify; only if it survives, ask equiv whether it is the same optimizer
    (a killed mutant differs from the rule on a case, so it cannot be)."""
    outcome = kill(rule, mutant, examples, seed)
    if not outcome.killed:
        outcome.equivalent, outcome.detail = equivalent_to(rule, mutant)
    return outcome


@dataclass
class Score:
    """A rule's mutation score: the outcomes, and killed / (killed + survived)."""

    rule: Rule
    outcomes: list[Outcome]

    @property
    def killed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.killed]

    @property
    def equivalent(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.equivalent]

    @property
    def survived(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.killed and not o.equivalent]

    @property
    def value(self) -> float:
        """killed / non-equivalent (1 when every mutant was equivalent)."""
        counted = len(self.killed) + len(self.survived)
        return len(self.killed) / counted if counted else 1.0


def score(rule: Rule, found: list[Mutant] | None = None, examples: int = EXAMPLES, seed: int = 0,
          progress=None) -> Score:
    """Decide every mutant of ``rule`` (or those ``found``) and score them.

    ``progress``, if given, is called with each :class:`Outcome` as it is decided.
    """
    outcomes = []
    for mutant in mutants(rule) if found is None else found:
        outcomes.append(decide(rule, mutant, examples, seed))
        if progress is not None:
            progress(outcomes[-1])
    return Score(rule, outcomes)
