"""What a derivation returns: data that every output format renders the same way.

Prose is a tuple of strings and SymPy expressions, so that the math inside a sentence is printed
by the same printer as the equations (Unicode in a terminal, ``$...$`` in Markdown and LaTeX).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

Prose = tuple  # of str and sympy.Expr, rendered part by part


class Private(sp.Symbol):
    """A derivation's own symbol (the curvature a of the stability derivation, the gradient RMS r...):
    printed as the plain symbol of its name, but never equal to a rule's symbol, whatever the rule
    names its own (SymPy compares a symbol's class as well as its name and assumptions). So no rule
    can collide with a derivation: a rule whose hyperparameter is called ``a`` keeps it apart from the
    curvature. Sorted as a plain symbol, so that printed equations keep their order.
    """

    @classmethod
    def class_key(cls):
        return 2, 0, "Symbol"


def private(names: str, **assumptions) -> Private | tuple[Private, ...]:
    """A derivation's own symbols, as ``sympy.symbols`` makes plain ones: ``private("a", positive=True)``."""
    return sp.symbols(names, cls=Private, **assumptions)


def prose(*parts: str | sp.Basic) -> Prose:
    """A sentence mixing words and math: ``prose("decays by ", lam * theta_prev)``.

    Raises:
        ValueError: for a part that is SymPy's True or False: a relation such as ``c > 0`` that
            SymPy decided from its symbols' assumptions, which would print as "True" (build it with
            ``evaluate=False``).
    """
    for part in parts:
        if isinstance(part, sp.logic.boolalg.BooleanAtom):
            raise ValueError(f"a relation in prose evaluated to {part}: build it with evaluate=False")
    return tuple(parts)


@dataclass(frozen=True)
class Equation:
    """``lhs = rhs``, kept apart (SymPy's ``Eq`` would evaluate to True when the sides agree).

    ``when`` says when a result holds: each item a limit or condition as prose (``t → ∞``,
    ``ε → 0``, ``λθ_{t-1} ≪ g_t``, zero-mean noise, a frozen preconditioner), empty for an identity
    that holds at every step. Renderers print it beside the result, and ``--format json`` lists it
    as the result's ``holds_when``.
    """

    lhs: sp.Expr
    rhs: sp.Expr
    when: tuple = ()


# Conditions results hold under, named once so that every derivation words them alike.
def LONG_RUN() -> Prose:
    from symopt import symbols as S

    return prose(S.Tends(S.t, sp.oo))


def FIRST_ORDER(lam: sp.Symbol) -> Prose:
    from symopt import symbols as S

    return prose("first order in ", lam, " (", lam * S.theta_prev, " ≪ ", S.g, ")")


@dataclass(frozen=True)
class Step:
    """One step of a derivation: a sentence and the equations it leads to."""

    text: Prose
    equations: tuple[Equation, ...] = ()


@dataclass(frozen=True)
class Table:
    """A numeric table: column headers (prose) and rows of numbers or words."""

    title: Prose
    columns: tuple[Prose, ...]
    rows: tuple[tuple[float | str, ...], ...]
    note: Prose = ()


@dataclass(frozen=True)
class Derivation:
    """A derivation computed from a rule: its assumptions, steps, results and tables.

    ``values`` holds the results as SymPy expressions for programs (``results`` are the same as
    equations for people).
    """

    key: str
    title: str
    rule: str
    summary: Prose
    assumptions: tuple[Prose, ...]
    steps: tuple[Step, ...]
    results: tuple[Equation, ...]
    tables: tuple[Table, ...] = ()
    values: dict = field(default_factory=dict, compare=False)
    applies: bool = True

    @property
    def limits(self) -> tuple[Prose, ...]:
        """Every condition its results hold under, each once, in order."""
        seen: list = []
        for result in self.results:
            seen += [c for c in result.when if c not in seen]
        return tuple(seen)


# --- what a derivation needs of a rule, each missing piece said specifically ----------------------------
def holds(check, rule) -> bool:
    """Whether ``check(rule)`` passes (raises no :class:`~symopt.errors.NotDerivable`)."""
    from symopt.errors import NotDerivable

    try:
        check(rule)
    except NotDerivable:
        return False
    return True


def need_hypers(rule, *names: str) -> None:
    """Fail, naming the first hyperparameter ``rule`` does not declare (``weight_decay``, ``lr``), or
    declares with a range of one value: a constant, nothing to vary (timm's NAdamW has no L2 decay:
    ``nadam(convention='timm')`` takes λ in [0, 0])."""
    from symopt.errors import NotDerivable

    what = {"lr": "learning rate", "weight_decay": "weight decay"}
    for name in names:
        hyper = rule.hyper(name)
        if hyper is None:
            raise NotDerivable(f"{rule.name} declares no {what.get(name, name)} ({name})")
        if hyper.low == hyper.high:
            raise NotDerivable(f"{rule.name} takes its {what.get(name, name)} only at {hyper.low:g} "
                               f"({name} in {hyper.range_text()})")


def need_elementwise(rule) -> None:
    """Fail, naming the whole-tensor operations, if ``rule`` does not act element by element."""
    from symopt import ops
    from symopt.errors import NotDerivable

    if not rule.elementwise:
        used = sorted({op.name for eq in rule.equations for op in ops.whole_tensor(eq.rhs)})
        raise NotDerivable(f"{rule.name} acts on whole tensors (through {', '.join(used)}), and this derivation "
                           "works element by element")
