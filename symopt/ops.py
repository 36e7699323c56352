"""The table of operations a rule may use beyond + - × ÷ and integer or symbolic powers.

Each operation is declared once, with everything every layer needs to know about it (as a JAX
primitive carries its evaluation, derivative and lowering side by side):

- ``sympy``: the SymPy class it is, and ``matches`` for the few that are a special case of one
  (a square root is a ``Pow`` with exponent 1/2);
- ``numpy``: its array lowering, a NumPy ufunc (binary ones folded over more arguments);
- ``bound``: its rounding-error bound for :func:`symopt.verify.magnitude`, from its arguments, their
  bounds, and the unit roundoff ``u``;
- ``latex`` and ``text``: its notation, used by both printers of :mod:`symopt.printing`;
- ``derivations``: how derivations treat it, in words they print as an assumption when they use it,
  and ``almost_everywhere``, what its derivative is replaced by (the derivative of sign is 0 except
  at 0, where SymPy's DiracDelta would stand).

Kernels, verification, printers and derivations read this table and nothing else, and
:func:`check` rejects a rule that uses anything outside it, naming the operation. Operations with
``in_rules=False`` appear only in derivations (Heaviside in the derivative of a max).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sympy as sp

from symopt.errors import SymoptError


@dataclass(frozen=True)
class Operation:
    """One operation: its SymPy form, lowering, error bound, notation and derivation behaviour."""

    name: str
    sympy: type
    numpy: str | None
    bound: Callable | None  # (expr, bounds of args, u) -> bound of expr, in units of u
    latex: Callable  # (print, expr) -> str, print being the printer's own _print
    text: Callable
    derivations: str = ""
    almost_everywhere: Callable | None = None  # replaces the operation in a derivative
    in_rules: bool = True
    matches: Callable[[sp.Basic], bool] | None = None

    def applies_to(self, expr: sp.Basic) -> bool:
        return isinstance(expr, self.sympy) and (self.matches is None or self.matches(expr))


# Two implementations may each round a value by u·M; a sign is only sure beyond twice that.
SIGN_MARGIN = 4


def _sign_bound(e, bounds, u):
    (x,), (mx,) = e.args, bounds
    # Within rounding of 0 the sign may come out either way: the result may be off by 2, which no
    # multiple of u covers, so the bound is infinite there and the element is not compared.
    return sp.Piecewise((sp.oo, sp.Abs(x) < SIGN_MARGIN * u * mx), (0, True))


def _sqrt_bound(e, bounds, u):
    (mx,) = bounds
    # |√x̃ - √x| = |x̃ - x|/(√x̃ + √x) ≤ min(|x̃ - x|/√x, √|x̃ - x|): the first is the usual linear
    # bound, the second holds when x is small against its own error. An exact argument gives an
    # exact root. An argument within rounding of 0 that cancels (RMSprop's centred v - ḡ², whose
    # exact value is ≥ 0) may round below 0 in one implementation, whose root is then NaN (torch's
    # fused multiply-add does this), and to 0 or a residue in another: nothing can be compared there.
    x = e.base
    return sp.Piecewise(
        (0, sp.Le(mx, 0)),
        (sp.oo, sp.StrictLessThan(sp.Abs(x), SIGN_MARGIN * u * mx)),
        (sp.Min(mx / sp.sqrt(x), sp.sqrt(mx / u)), True),
    ) + sp.Abs(e)


def _call(name: str) -> tuple[Callable, Callable]:
    def latex(p, e):
        return rf"\operatorname{{{name}}}\left({', '.join(p(a) for a in e.args)}\right)"

    def text(p, e):
        return f"{name}({', '.join(p(a) for a in e.args)})"

    return latex, text


_SIGN = _call("sign")


def _branch_latex(p, e):
    rows = [rf"{p(value)} & \text{{otherwise}}" if cond is sp.true else rf"{p(value)} & \text{{if }} {p(cond)}"
            for value, cond in e.args]
    return r"\begin{cases} " + r" \\ ".join(rows) + r" \end{cases}"


def _branch_text(p, e):
    return " ".join(p(value) if cond is sp.true else f"{p(value)} if {p(cond)} else" for value, cond in e.args)


def _is_scalar_branch(e) -> bool:
    from symopt.symbols import ARRAYS

    return not any(cond.free_symbols & ARRAYS for _, cond in e.args)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "sqrt", sp.Pow, "sqrt",
        bound=_sqrt_bound,
        latex=lambda p, e: rf"\sqrt{{{p(e.base)}}}",
        text=lambda p, e: f"√{p(e.base)}" if _atomic(p(e.base)) else f"√({p(e.base)})",
        derivations="smooth where its argument is positive",
        matches=lambda e: e.exp == sp.S.Half,
    ),
    Operation(
        "abs", sp.Abs, "absolute",
        bound=lambda e, bounds, u: bounds[0],
        latex=lambda p, e: rf"\left|{p(e.args[0])}\right|",
        text=lambda p, e: f"|{p(e.args[0])}|",
        derivations="its derivative is sign(x), undefined at 0",
    ),
    Operation(
        "sign", sp.sign, "sign",
        bound=_sign_bound,
        latex=_SIGN[0],
        text=_SIGN[1],
        derivations="its derivative is 0 wherever its argument is not 0",
        almost_everywhere=lambda *args: sp.S.Zero,
    ),
    Operation(
        "max", sp.Max, "maximum",
        bound=lambda e, bounds, u: sp.Max(*bounds),
        latex=lambda p, e: rf"\max\left({', '.join(p(a) for a in e.args)}\right)",
        text=lambda p, e: f"max({', '.join(p(a) for a in e.args)})",
        derivations="its derivative follows the larger argument (a step function at a tie)",
    ),
    Operation(
        "min", sp.Min, "minimum",
        bound=lambda e, bounds, u: sp.Max(*bounds),
        latex=lambda p, e: rf"\min\left({', '.join(p(a) for a in e.args)}\right)",
        text=lambda p, e: f"min({', '.join(p(a) for a in e.args)})",
        derivations="its derivative follows the smaller argument (a step function at a tie)",
    ),
    Operation(
        "branch", sp.Piecewise, None,  # kernels specialise it: one program per branch taken
        bound=lambda e, bounds, u: sp.Piecewise(*((bound, cond) for bound, (_, cond) in zip(bounds, e.args))),
        latex=_branch_latex,
        text=_branch_text,
        derivations="a choice on the step counter and the hyperparameters only; derivations keep both branches",
        matches=_is_scalar_branch,
    ),
    Operation(
        "step function", sp.Heaviside, None, bound=None,
        latex=lambda p, e: rf"\mathbf{{1}}\left[{p(e.args[0])} > 0\right]",
        text=lambda p, e: f"1[{p(e.args[0])} > 0]",
        derivations="1 where its argument is positive, 0 where it is negative",
        in_rules=False,
    ),
    Operation(
        "delta", sp.DiracDelta, None, bound=None,
        latex=lambda p, e: rf"\delta\left({p(e.args[0])}\right)",
        text=lambda p, e: f"δ({p(e.args[0])})",
        derivations="zero wherever its argument is not 0",
        almost_everywhere=lambda *args: sp.S.Zero,
        in_rules=False,
    ),
)

# A branch's pairs and conditions, which its entry covers.
_CONDITIONS = (sp.functions.elementary.piecewise.ExprCondPair, sp.Eq, sp.Ne, sp.StrictGreaterThan, sp.StrictLessThan, sp.GreaterThan, sp.LessThan,
               sp.And, sp.Or, sp.Not, sp.logic.boolalg.BooleanAtom)


def _atomic(text: str) -> bool:
    return not any(ch in text for ch in " +-·/()")


def lookup(expr: sp.Basic) -> Operation | None:
    """The operation ``expr`` is an instance of, or None (for algebra, symbols and numbers)."""
    for operation in OPERATIONS:
        if operation.applies_to(expr):
            return operation
    return None


def by_name(name: str) -> Operation:
    return next(op for op in OPERATIONS if op.name == name)


def is_algebra(expr: sp.Basic) -> bool:
    """+, ×, powers, symbols and numbers: what every layer handles without the table."""
    return expr.is_Atom or expr.is_Add or expr.is_Mul or expr.is_Pow


def check(expr: sp.Basic, where: str) -> None:
    """Fail, naming the operation, if ``expr`` uses anything outside algebra and the table.

    Raises:
        SymoptError: e.g. ``adamq: the operation floor is not in symopt's operation table (symopt.ops)``.
    """
    for node in sp.preorder_traversal(expr):
        if is_algebra(node) or isinstance(node, _CONDITIONS):
            continue
        operation = lookup(node)
        if operation is None or not operation.in_rules:
            known = ", ".join(op.name for op in OPERATIONS if op.in_rules)
            name = getattr(node.func, "__name__", type(node).__name__)
            extra = " (a branch on an array value)" if isinstance(node, sp.Piecewise) else ""
            raise SymoptError(f"{where}: the operation {name}{extra} is not in symopt's operation table "
                              f"(symopt.ops; it has {known})")


def used(expr: sp.Basic) -> list[Operation]:
    """The table's operations ``expr`` uses, each once, in the table's order."""
    found = {lookup(node) for node in sp.preorder_traversal(expr) if not is_algebra(node)}
    return [op for op in OPERATIONS if op in found]


def almost_everywhere(expr: sp.Expr) -> tuple[sp.Expr, list[Operation]]:
    """``expr`` with every operation that has an almost-everywhere form replaced by it (the
    derivative of sign(x) is 0 for x ≠ 0), and the operations so replaced."""
    replaced: list[Operation] = []
    for operation in OPERATIONS:
        if operation.almost_everywhere is not None and expr.has(operation.sympy):
            expr = expr.replace(lambda e, op=operation: op.applies_to(e), operation.almost_everywhere)
            replaced.append(operation)
    return expr, replaced
