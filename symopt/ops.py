"""The table of operations a rule may use beyond + - × ÷ and integer or symbolic powers.

Each operation is declared once, with everything every layer needs to know about it (as a JAX
primitive carries its evaluation, derivative and lowering side by side):

- ``sympy``: the SymPy class it is, and ``matches`` for the few that are a special case of one
  (a square root is a ``Pow`` with exponent 1/2);
- ``numpy``: its array lowering, a NumPy ufunc (binary ones folded over more arguments);
- ``bound``: its rounding-error bound for :func:`symopt.verify.magnitude`, from its arguments, their
  bounds, and the unit roundoff ``u``;
- ``latex`` and ``text``: its notation, used by both printers of :mod:`symopt.printing`;
- ``derivations``: how derivations treat it, in words they print as an assumption when they use it;
  ``derivative``, its forward-mode derivative from its arguments' tangents (the derivative of
  ``max(a, b)`` is ``da`` where ``a > b`` and ``db`` elsewhere: a branch, kept with its condition;
  of ``|x|``, ``sign(x) dx``; of ``sign(x)``, 0 wherever ``x ≠ 0``), which
  :func:`symopt.derive.analysis.tangent` applies; and ``almost_everywhere``, what the operation is
  replaced by where SymPy's own ``diff`` produced it (DiracDelta, the derivative of sign, is 0
  except at 0).
- ``nan``: what it gives for a NaN argument on each backend that lowers it (:data:`NAN_BACKENDS`):
  ``"nan"`` (NaN propagates), ``"0"``, or ``"other"`` (the other argument: NaN is ignored).
  ``np.sign(nan)`` is NaN, ``torch.sign(nan)`` is 0: a rule using sign differs there between the
  NumPy kernel and ``symopt.torch``, and says so here (tests/test_verify.py runs each backend).

Kernels, verification, printers and derivations read this table and nothing else, and
:func:`check` rejects a rule that uses anything outside it, naming the operation. Operations with
``in_rules=False`` appear only in derivations (the case split of a max's derivative, Heaviside where
SymPy's own ``diff`` made one).
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
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
    almost_everywhere: Callable | None = None  # replaces the operation in a derivative SymPy took
    # (expr, tangents of its arguments) -> its tangent; None: derivations cannot differentiate through it
    derivative: Callable | None = None
    in_rules: bool = True
    matches: Callable[[sp.Basic], bool] | None = None
    # An operation on a whole tensor (a matrix product, a norm): not elementwise, its result may have
    # another shape. Its lowering is ``array``, a NumPy function of its arguments returning a new array
    # (``rounding="bfloat16"`` if ``rounds``: the kernel's option to round where torch computes in
    # bfloat16); elementwise derivations do not apply to a rule that uses one.
    array: Callable | None = None
    rounds: bool = False
    nan: tuple[tuple[str, str], ...] = ()  # (backend, behaviour at a NaN argument): see the module doc
    # Its value is the same when its first argument is multiplied by a positive number (sign; the zero
    # test of a zero guard): equiv's proof keys it by that argument up to such a factor, so that a
    # state rescaled by a positive constant under a sign is proved the same rule (Signum's m_t/(1 - β)).
    scale_invariant: bool = False

    def at_nan(self, backend: str) -> str:
        """What the operation gives for a NaN argument on ``backend``: ``"nan"``, ``"0"`` or ``"other"``
        (also where it declares nothing: an operation that is not lowered elementwise on ``backend``)."""
        return dict(self.nan).get(backend, "other")

    def applies_to(self, expr: sp.Basic) -> bool:
        return isinstance(expr, self.sympy) and (self.matches is None or self.matches(expr))


# The backends that lower the elementwise operations (NumPy's kernel, numba's fused loop,
# symopt.torch's Optimizer), and the usual behaviour at a NaN argument: NaN propagates.
NAN_BACKENDS = ("numpy", "numba", "torch")
PROPAGATES = tuple((backend, "nan") for backend in NAN_BACKENDS)

# Two implementations may each round a value by u·M; a sign is only sure beyond twice that.
SIGN_MARGIN = 4


def _sign_bound(e, bounds, u):
    (x,), (mx,) = e.args, bounds
    # Within rounding of 0 the sign may come out either way: the result may be off by 2, which no
    # multiple of u covers, so the bound is infinite there and the element is not compared. An
    # argument exactly 0 with a bound of 0 (a product by an exact 0) is exact: its sign is 0.
    if mx == 0:
        return sp.S.Zero
    return NearZero(x, mx, u)


class NearZero(sp.Function):
    """``NearZero(x, M, u)``: ∞ where ``|x| < 4uM`` (a value rounding may put on either side of 0),
    else 0. Only in error bounds (a Piecewise would cost SymPy's printer a logic simplification)."""

    nargs = 3


def _near_zero(x, mx, u):
    x, mx = np.asarray(x, dtype=np.float64), np.asarray(mx, dtype=np.float64)
    return np.where(np.abs(x) < SIGN_MARGIN * u * mx, np.inf, 0.0)


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


def _select_derivative(relation):
    """The derivative of a max (``relation`` >) or a min (<): the tangent of the argument selected, a
    branch per argument with the condition that selects it (the last argument at a tie)."""

    def derivative(e, tangents):
        args = e.args
        if all(d == tangents[0] for d in tangents):
            return tangents[0]
        pieces = [(tangents[i], sp.And(*(relation(args[i], args[j]) for j in range(len(args)) if j != i)))
                  for i in range(len(args) - 1)]
        return sp.Piecewise(*pieces, (tangents[-1], True))

    return derivative


def _branch_derivative(e, tangents):
    """A branch's derivative: each branch's tangent under the same condition (the conditions are
    on the step counter, hyperparameters or selections, not differentiated)."""
    if all(d == tangents[0] for d in tangents):
        return tangents[0]
    return sp.Piecewise(*((d, cond) for d, (_, cond) in zip(tangents, e.args)))


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
        nan=PROPAGATES,
    ),
    Operation(
        "abs", sp.Abs, "absolute",
        bound=lambda e, bounds, u: bounds[0],
        latex=lambda p, e: rf"\left|{p(e.args[0])}\right|",
        text=lambda p, e: f"|{p(e.args[0])}|",
        derivations="its derivative is sign(x), undefined at 0",
        derivative=lambda e, d: sp.sign(e.args[0]) * d[0],
        nan=PROPAGATES,
    ),
    Operation(
        "sign", sp.sign, "sign",
        bound=_sign_bound,
        latex=_SIGN[0],
        text=_SIGN[1],
        derivations="its derivative is 0 wherever its argument is not 0",
        derivative=lambda e, d: sp.S.Zero,
        nan=(("numpy", "nan"), ("numba", "nan"), ("torch", "0")),  # torch.sign(nan) is 0
        scale_invariant=True,
    ),
    Operation(
        "max", sp.Max, "maximum",
        bound=lambda e, bounds, u: selected(1, e.args, bounds, u),
        latex=lambda p, e: rf"\max\left({', '.join(p(a) for a in e.args)}\right)",
        text=lambda p, e: f"max({', '.join(p(a) for a in e.args)})",
        derivations="its derivative follows the larger argument (a branch per argument; at a tie the last)",
        derivative=_select_derivative(sp.StrictGreaterThan),
        nan=PROPAGATES,
    ),
    Operation(
        "min", sp.Min, "minimum",
        bound=lambda e, bounds, u: selected(-1, e.args, bounds, u),
        latex=lambda p, e: rf"\min\left({', '.join(p(a) for a in e.args)}\right)",
        text=lambda p, e: f"min({', '.join(p(a) for a in e.args)})",
        derivations="its derivative follows the smaller argument (a branch per argument; at a tie the last)",
        derivative=_select_derivative(sp.StrictLessThan),
        nan=PROPAGATES,
    ),
    Operation(
        "branch", sp.Piecewise, None,  # kernels specialise it: one program per branch taken
        bound=lambda e, bounds, u: sp.Piecewise(*((bound, cond) for bound, (_, cond) in zip(bounds, e.args))),
        latex=_branch_latex,
        text=_branch_text,
        derivations="a choice on the step counter and the hyperparameters only; derivations keep both branches",
        matches=_is_scalar_branch,
        derivative=_branch_derivative,
    ),
    Operation(
        "case split", sp.Piecewise, None, bound=None,
        latex=_branch_latex,
        text=_branch_text,
        derivations="only in derivations: which argument a max, min or abs selects, each case with its condition",
        matches=lambda e: not _is_scalar_branch(e),
        derivative=_branch_derivative,
        in_rules=False,
    ),
    Operation(
        "step function", sp.Heaviside, None, bound=None,
        latex=lambda p, e: rf"\mathbf{{1}}\left[{p(e.args[0])} > 0\right]",
        text=lambda p, e: f"1[{p(e.args[0])} > 0]",
        derivations="1 where its argument is positive, 0 where it is negative",
        derivative=lambda e, d: sp.S.Zero,
        in_rules=False,
    ),
    Operation(
        "delta", sp.DiracDelta, None, bound=None,
        latex=lambda p, e: rf"\delta\left({p(e.args[0])}\right)",
        text=lambda p, e: f"δ({p(e.args[0])})",
        derivations="zero wherever its argument is not 0",
        almost_everywhere=lambda *args: sp.S.Zero,
        derivative=lambda e, d: sp.S.Zero,
        in_rules=False,
    ),
)

def representable(number: sp.Basic) -> bool:
    """Whether a SymPy number is exactly a float32 (so a float64 too): an integer or a dyadic
    fraction of few enough bits (1, 1/2, 3/4), which no implementation rounds.

    Example:
        >>> representable(sp.Rational(1, 2)), representable(sp.Rational(1, 10)), representable(sp.Integer(3))
        (True, False, True)
    """
    if not number.is_Rational:
        return False
    value = float(number)
    return float(np.float32(value)) == value and sp.Rational(value) == number


def exact_scaling(expr: sp.Basic) -> bool:
    """A product of one factor by signs (exactly -1, 0 or 1), their magnitudes and integer powers,
    and representable powers of two: exact, its value the factor's to the bit (``sign(c)/2``)."""
    if not expr.is_Mul:
        return False
    others = [f for f in expr.args if not _exact_factor(f)]
    return len(others) <= 1


def _exact_factor(f: sp.Basic) -> bool:
    if f.is_Number:
        if not representable(f) or f == 0:
            return f == 0
        p, q = abs(f.p), f.q
        return p & (p - 1) == 0 and q & (q - 1) == 0  # ± a power of two
    if isinstance(f, sp.sign):
        return True
    if isinstance(f, sp.Abs) or (f.is_Pow and f.exp.is_Integer and f.exp > 0):
        return _exact_factor(f.args[0])
    return False


def exact(expr: sp.Basic, depth: int = 4) -> bool:
    """Whether ``expr`` is computed exactly by any implementation: signs, representable constants
    and their magnitudes, sums, products, maxima, minima and positive integer powers of a few of
    them (the values are small dyadic fractions, ``1 + sign(c)/2 - |sign(c)|/2``, ``1 - max(0, -σ)``)."""
    if expr.is_Number:
        return representable(expr)
    if isinstance(expr, sp.sign):
        return True
    if depth == 0:
        return False
    # the max or min of exact values is one of them (Rprop's max(0, σ_t) of a sign): exact
    if isinstance(expr, (sp.Abs, sp.Max, sp.Min)) or expr.is_Add or expr.is_Mul:
        return all(exact(a, depth - 1) for a in expr.args)
    if expr.is_Pow:
        return expr.exp.is_Integer and expr.exp > 0 and exact(expr.base, depth - 1)
    return False


class Selected(sp.Function):
    """``Selected(s, u, a₁, M₁, a₂, M₂, ...)``: the error bound of max (s = 1) or min (s = -1) of the
    aᵢ: the bound Mᵢ of the argument it selects where that one is ahead of every other by more than
    their rounding (4u(Mᵢ + Mⱼ)), else the largest Mᵢ (max and min are 1-Lipschitz in each argument).
    A clamp to an exact constant is then exact where the constant is selected. Only in bounds."""

    nargs = 6


def selected(s: int, args, bounds, u) -> sp.Expr:
    """The bound of max (``s = 1``) or min (``s = -1``) of ``args``, folded two by two:
    max(a, b, c) = max(a, max(b, c)) (see :class:`Selected`)."""
    if len(args) == 1:
        return bounds[0]
    rest = (sp.Max if s == 1 else sp.Min)(*args[1:]) if len(args) > 2 else args[1]
    return Selected(s, u, args[0], bounds[0], rest, selected(s, args[1:], bounds[1:], u))


def _selected(s, u, a, ma, b, mb):
    a, b = np.asarray(a, dtype=np.float64) * s, np.asarray(b, dtype=np.float64) * s
    ma, mb = np.asarray(ma, dtype=np.float64), np.asarray(mb, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        margin = SIGN_MARGIN * u * (ma + mb)
        # an infinite argument (Prodigy's d·G at G = inf) is behind a finite one beyond any rounding:
        # whatever its bound, the finite one is selected in every implementation
        a_ahead = (a - b > margin) | (np.isposinf(a - b) & np.isfinite(a))
        b_ahead = (b - a > margin) | (np.isposinf(b - a) & np.isfinite(b))
        return np.where(a_ahead, ma, np.where(b_ahead, mb, np.fmax(ma, mb)))


class ExactZero(sp.Function):
    """``ExactZero(z, x)``: 0 where ``z`` is 0, else ``x`` (a bound times a factor exactly 0 in both
    implementations is 0 even where the bound is infinite: 0·∞ would be undefined). Only in bounds."""

    nargs = 2


def _exact_zero(z, x):
    z, x = np.asarray(z, dtype=np.float64), np.asarray(x, dtype=np.float64)
    return np.where(z == 0, 0.0, x)


def _compared_directly(cls, x, y):
    """SymPy's ``MinMaxBase._is_connected`` without its last resort: whether ``x`` and ``y`` are
    ordered as they stand (``x >= y`` or ``x <= y`` decided), not after factoring ``x - y``."""
    if x == y:
        return True
    t, f = sp.Max, sp.Min
    for op in "><":
        for _ in range(2):
            try:
                v = x >= y if op == ">" else x <= y
            except TypeError:
                return False  # non-real arg
            if not v.is_Relational:
                return t if v else f
            t, f = f, t
            x, y = y, x
        x, y = y, x
    return False


@contextlib.contextmanager
def maxima_as_written():
    """Within it, SymPy builds a max or min without factoring the difference of each pair of its
    arguments to compare them (``factor_terms(x - y)``, which rebuilds every max nested in them,
    comparing theirs likewise). A step's expression with its intermediates substituted nests maxima
    of array expressions (the spherical cautious mask's max(0, sign(Δ̃ ǧ)) inside its floor's max,
    inside the projection applied again): there the factoring grows with the nesting's depth, and
    it made verify of ``adamp(cautious=True)`` 20 times slower. A max it would have simplified is
    kept as written: the same value. The kernel and the error bound build their step's expressions
    within it."""
    from sympy.functions.elementary.miscellaneous import MinMaxBase

    with _MAXIMA_LOCK:  # nested or in several threads: SymPy's own is put back when the last one ends
        if not _MAXIMA_DEPTH:
            _MAXIMA_SAVED.append(MinMaxBase.__dict__["_is_connected"])
            MinMaxBase._is_connected = classmethod(_compared_directly)
        _MAXIMA_DEPTH.append(None)
    try:
        yield
    finally:
        with _MAXIMA_LOCK:
            _MAXIMA_DEPTH.pop()
            if not _MAXIMA_DEPTH:
                MinMaxBase._is_connected = _MAXIMA_SAVED.pop()


_MAXIMA_LOCK = threading.Lock()
_MAXIMA_DEPTH: list = []  # one entry per maxima_as_written under way
_MAXIMA_SAVED: list = []  # SymPy's _is_connected while one is


def unless_exact_zero(factors: list, term: sp.Expr) -> sp.Expr:
    """``term``, or 0 where one of ``factors`` (pairs of a value and its error bound) is exactly 0 in
    every implementation: its value 0 and its bound 0."""
    zero = sp.Mul(*(sp.Abs(value) + bound for value, bound in factors if not value.is_Number))
    if zero.is_Number or term == 0:
        return term
    return ExactZero(zero, term)


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


def whole_tensor(expr: sp.Basic) -> list[Operation]:
    """The operations on whole tensors ``expr`` uses (empty for an elementwise expression)."""
    return [op for op in used(expr) if op.array is not None]


def namespace(rounding: str | None = None) -> dict[str, Callable]:
    """The lowering of every whole-tensor operation by its SymPy class's name, for ``lambdify`` and
    the kernels (with ``rounding`` given to those that round)."""
    lowered = {op.sympy.__name__: getattr(np, op.numpy) for op in OPERATIONS
               if op.numpy is not None and op.sympy.__module__ == __name__}  # symopt's own ufunc operations
    return lowered | {op.sympy.__name__: (functools.partial(op.array, rounding=rounding) if op.rounds else op.array)
                      for op in OPERATIONS if op.array is not None}


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
    """``expr`` with every operation that has an almost-everywhere form replaced by it (DiracDelta,
    which SymPy's ``diff`` makes of sign(x), is 0 for x ≠ 0), and the operations so replaced.
    Derivations that differentiate themselves use each operation's ``derivative`` instead."""
    replaced: list[Operation] = []
    for operation in OPERATIONS:
        if operation.almost_everywhere is not None and expr.has(operation.sympy):
            expr = expr.replace(lambda e, op=operation: op.applies_to(e), operation.almost_everywhere)
            replaced.append(operation)
    return expr, replaced


# --- operations on whole tensors ------------------------------------------------------------------
# A matrix is the last two dimensions of an array (a stack of matrices in more dimensions, as torch's
# Adafactor factors them); rows A and columns B are the shape scalars of :mod:`symopt.symbols`.
# Each is a SymPy Function: derivations see an opaque function of its arguments, printers its
# notation, kernels its NumPy lowering below.


class Dot(sp.Function):
    """``Dot(X, Y)`` is the matrix product XY over the last two dimensions (NumPy's ``@``)."""

    nargs = 2
    is_real = True


class T(sp.Function):
    """``T(X)`` is the transpose Xᵀ of the last two dimensions."""

    nargs = 1
    is_real = True


class Norm(sp.Function):
    """``Norm(X)`` is the Frobenius norm ‖X‖_F of the whole tensor: one number."""

    nargs = 1
    is_nonnegative = True


class RowMean(sp.Function):
    """``RowMean(X)``: the mean of each row, over the last dimension, kept as a column (A×1)."""

    nargs = 1
    is_real = True


class ColMean(sp.Function):
    """``ColMean(X)``: the mean of each column, over the second-to-last dimension, kept as a row (1×B)."""

    nargs = 1
    is_real = True


class NewtonSchulz(sp.Function):
    """``NewtonSchulz(X, a, b, c, k, ε)`` is NS_k(X): X divided by max(‖X‖_F, ε), then k steps of
    X ↦ aX + b(XXᵀ)X + c(XXᵀ)²X (Muon's orthogonalisation; :func:`newton_schulz_step`)."""

    nargs = 6
    is_real = True


class FMax(sp.Function):
    """``FMax(a, x)``: the larger of a and x, ignoring a NaN (NumPy's ``fmax``; what Python's
    ``max(a, x)`` gives for a number a, which torch.optim.Adafactor uses for its step size and clipping)."""

    nargs = 2
    is_real = True


class ZeroGuard(sp.Function):
    """``ZeroGuard(z, d, x)``: ``d`` where ``z`` is 0, else ``x`` (optax's ``jnp.where(norm == 0, 1,
    ratio)``: LAMB's and LARS's trust ratio is 1 where a norm is 0, so that such a tensor still moves
    or is left alone rather than divided by 0). ``z`` is a number of the whole tensor (a norm)."""

    nargs = 3
    is_real = True


class TensorSum(sp.Function):
    """``TensorSum(X)`` is the sum of every element of the whole tensor: one number (a mean is
    ``TensorSum(X)/N``; the cautious mask's fraction of agreeing elements)."""

    nargs = 1
    is_real = True


def _tensor_sum(x):
    x = np.asarray(x)
    return np.sum(x, dtype=x.dtype)


def _tensor_sum_bound(e, bounds, u):
    from symopt.symbols import numel

    # a sum of N terms adds at most N roundings of the sum of their magnitudes
    (x,), (mx,) = e.args, bounds
    return TensorSum(mx) + numel * TensorSum(sp.Abs(x))


class ChannelSum(sp.Function):
    """``ChannelSum(X)``: the sum over every dimension but the first, kept for broadcasting (shape
    C×1×…×1): one number per channel, timm's ``_channel_view(x).sum(dim=1)`` (AdamP's per-channel
    dot products and norms). A vector's channels are its elements; a number is its own channel."""

    nargs = 1
    is_real = True


class Amax(sp.Function):
    """``Amax(X)``: the largest element of the whole tensor, one number (-inf for an empty tensor;
    AdamP's largest cosine over the channels)."""

    nargs = 1
    is_real = True


class IfPositive(sp.Function):
    """``IfPositive(z, a, b)``: ``a`` where ``z > 0``, else ``b`` (NumPy's ``where(z > 0, a, b)``; a NaN
    ``z`` gives ``b``). ``z`` may be a number of the whole tensor (AdamP projects a tensor when its
    largest cosine is below a threshold) or an array."""

    nargs = 3
    is_real = True


def _channel_sum(x):
    x = np.asarray(x)
    if x.ndim < 2:
        return x.copy()
    return np.sum(x, axis=tuple(range(1, x.ndim)), keepdims=True, dtype=x.dtype)


def _amax(x):
    x = np.asarray(x)
    return np.max(x, initial=-np.inf).astype(x.dtype) if x.dtype.kind == "f" else np.max(x, initial=-np.inf)


def _if_positive(z, a, b):
    z, a, b = np.asarray(z), np.asarray(a), np.asarray(b)
    floats = [v.dtype for v in (a, b, z) if v.ndim and v.dtype.kind == "f"] or [z.dtype]
    with np.errstate(invalid="ignore"):
        return np.where(z > 0, a, b).astype(np.result_type(*floats), copy=False)


def _if_positive_bound(e, bounds, u):
    # As a zero guard's: the branch is sure unless z is within rounding of 0, and where it is not
    # sure the two branches bound it only if they agree within rounding (BranchTie).
    (z, a, b), (mz, ma, mb) = e.args, bounds
    return (BranchTie(z, mz, u, a, ma, b, mb) if mz != 0 else sp.S.Zero) + IfPositive(z, ma, mb)


class BranchTie(sp.Function):
    """``BranchTie(z, M_z, u, a, M_a, b, M_b)``: the extra error of a choice between a and b on a
    number z (a zero guard's z = 0, an if-positive's z > 0) where z is within rounding of 0
    (``|z| < 4uM_z``), so that two implementations may choose differently: ``|a - b|/u + max(M_a,
    M_b)`` where the two branches agree within their rounding (``|a - b| ≤ 4u(M_a + M_b)``; Prodigy's
    max(d, d̂) and d where d̂ ≤ d), ∞ where they do not (the element is not compared), 0 where the
    choice is sure. Only in bounds."""

    nargs = 7


def _branch_tie(z, mz, u, a, ma, b, mb):
    z, mz = np.asarray(z, dtype=np.float64), np.asarray(mz, dtype=np.float64)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ma, mb = np.asarray(ma, dtype=np.float64), np.asarray(mb, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        unsure = np.abs(z) < SIGN_MARGIN * u * mz
        gap = np.where(a == b, 0.0, np.abs(a - b))  # two equal infinities agree
        agree = gap <= SIGN_MARGIN * u * (ma + mb)
        return np.where(unsure, np.where(agree, gap / u + np.fmax(ma, mb), np.inf), 0.0)


def _channel_sum_bound(e, bounds, u):
    from symopt.symbols import channels, numel

    (x,), (mx,) = e.args, bounds
    return ChannelSum(mx) + (numel / channels) * ChannelSum(sp.Abs(x))


def _if_positive_latex(p, e):
    z, a, b = e.args
    return rf"\begin{{cases}} {p(a)} & \text{{if }} {p(z)} > 0 \\ {p(b)} & \text{{otherwise}} \end{{cases}}"


def _if_positive_text(p, e):
    z, a, b = e.args
    return f"{p(a)} if {p(z)} > 0 else {p(b)}"


def _zero_guard(z, d, x):
    z = np.asarray(z)
    x = np.asarray(x)
    return np.where(z == 0, np.asarray(d, dtype=x.dtype if x.dtype.kind == "f" else None), x)


def _zero_guard_bound(e, bounds, u):
    # The branch taken is sure unless z is within rounding of 0 (the same test as a sign's): there
    # two implementations may take different branches, which only their agreement bounds (BranchTie).
    (z, d, x), (mz, md, mx) = e.args, bounds
    return (BranchTie(z, mz, u, d, md, x, mx) if mz != 0 else sp.S.Zero) + ZeroGuard(z, md, mx)


def _zero_guard_latex(p, e):
    z, d, x = e.args
    return rf"\begin{{cases}} {p(d)} & \text{{if }} {p(z)} = 0 \\ {p(x)} & \text{{otherwise}} \end{{cases}}"


def _zero_guard_text(p, e):
    z, d, x = e.args
    return f"{p(d)} if {p(z)} = 0 else {p(x)}"


def newton_schulz_step(x: sp.Expr, a: sp.Expr, b: sp.Expr, c: sp.Expr) -> sp.Expr:
    """One step of the iteration as matrix algebra: ``aX + b(XXᵀ)X + c(XXᵀ)(XXᵀ)X``.

    Example:
        >>> X = sp.Symbol("X")
        >>> newton_schulz_step(X, 1, 0, 0)
        X
    """
    gram = Dot(x, T(x))
    return a * x + b * Dot(gram, x) + c * Dot(Dot(gram, gram), x)


def bfloat16(x) -> np.ndarray:
    """``x`` rounded to bfloat16 (round to nearest, ties to even, on the float32 bits), as float32.

    Example:
        >>> float(bfloat16(np.float32(1 + 2**-8)))  # a tie: to the even neighbour, 1
        1.0
        >>> float(bfloat16(np.float32(1 + 3 * 2**-8)))  # a tie: to the even neighbour, 1 + 2**-6
        1.015625
    """
    x = np.asarray(x, dtype=np.float32)
    bits = x.view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    out = bits.astype(np.uint32).view(np.float32)
    return np.where(np.isnan(x), x, out)  # a NaN's payload could round up to inf


class Bfloat16Tie(sp.Function):
    """``Bfloat16Tie(X, M, u, a, b, c, k, ε)``: ∞ if an element of X is within 4uM of a point where
    rounding to bfloat16 changes direction (a tie between two bfloat16 neighbours; half a float32
    unit more, as torch rounds to float32 first), or if a value of the rounded iteration NS_k rounds
    differently computed in float32 and in float64; else 0. Two faithful implementations may then
    round differently, and no multiple of u bounds what follows: as a sign within rounding of 0, the
    result is not compared (symopt.verify)."""

    nargs = 8


def _near(x, margin) -> bool:
    x = np.asarray(x, dtype=np.float64)
    bits = np.asarray(x, dtype=np.float32).view(np.uint32)
    tie = ((bits & 0xFFFF0000) | 0x8000).view(np.float32).astype(np.float64)
    with np.errstate(all="ignore"):
        # torch rounds to float32 first: anything that rounds to the tie in float32 is at the tie
        near = np.abs(x - tie) <= margin + 2.0**-24 * np.abs(tie)
    return bool(np.any(near & np.isfinite(x)))


def _near_bfloat16_tie(x, m, u, a, b, c, k, eps):
    x = np.asarray(x, dtype=np.float64)
    found = [_near(x, SIGN_MARGIN * u * np.asarray(m, dtype=np.float64))]
    with np.errstate(all="ignore"):
        newton_schulz(x, a, b, c, k, eps, rounding="bfloat16", ties=found)
    return np.inf if any(found) else 0.0


def _rounder(rounding: str | None) -> Callable:
    if rounding is None:
        return lambda x: x
    if rounding == "bfloat16":
        return bfloat16
    raise SymoptError(f"unknown rounding {rounding!r}: valid: bfloat16")


def _dot(x, y):
    x, y = np.asarray(x), np.asarray(y)
    return x @ y if x.ndim and y.ndim else x * y


def _transpose(x):
    x = np.asarray(x)
    return x.swapaxes(-1, -2) if x.ndim >= 2 else x


def _norm(x):
    x = np.asarray(x)
    return np.sqrt(np.sum(np.square(x), dtype=x.dtype)) if x.size else x.dtype.type(0)


def _row_mean(x):
    x = np.asarray(x)
    # a sum over the count, not np.mean: an empty side gives NaN, as torch's, without a warning
    return np.sum(x, axis=-1, keepdims=True) / x.dtype.type(x.shape[-1]) if x.ndim >= 1 else x.copy()


def _col_mean(x):
    x = np.asarray(x)
    return np.sum(x, axis=-2, keepdims=True) / x.dtype.type(x.shape[-2]) if x.ndim >= 2 else x.copy()


def newton_schulz(x, a, b, c, k, eps, rounding=None, ties=None):
    """NS_k(x) as torch.optim.Muon computes it: on the wide orientation (XXᵀ the smaller Gram matrix).

    With ``rounding="bfloat16"``, rounded after each operation torch runs in bfloat16, each computed
    in float64 from bfloat16 values and rounded once. torch accumulates in float32 instead: the two
    agree except where a result lies so near a bfloat16 tie that the accumulation decides. With
    ``ties`` (a list), each operation is also computed in float32 and ``ties`` gets True where the
    two round differently (see :class:`Bfloat16Tie`).
    """
    round_ = _rounder(rounding)

    def step(f, *args):
        if rounding is None:
            return f(*args)
        value = round_(f(*(np.asarray(v, dtype=np.float64) for v in args)))
        if ties is not None:  # float32 rounds otherwise, or the exact result is within a float32 unit of a tie
            exact = f(*(np.asarray(v, dtype=np.float64) for v in args))
            ties.append(not np.array_equal(value, round_(f(*(np.asarray(v, dtype=np.float32) for v in args))),
                                           equal_nan=True) or _near(exact, 2.0**-24 * np.abs(exact)))
        return value

    x = round_(np.asarray(x))
    tall = x.ndim >= 2 and x.shape[-2] > x.shape[-1]
    if tall:
        x = _transpose(x)
    norm = step(_norm, x)
    x = step(lambda v, n: v / np.maximum(n, round_(v.dtype.type(eps))), x, norm)
    for _ in range(int(k)):
        gram = step(lambda v: v @ _transpose(v), x)
        update = step(lambda g: b * g + c * (g @ g), gram)
        x = step(lambda v, w: a * v + w @ v, x, update)
    return _transpose(x) if tall else x


def _dot_bound(e, bounds, u):
    (x, y), (mx, my) = e.args, bounds
    from symopt.symbols import cols, rows

    # A sum of K products has error ≤ K u Σ|x||y|; the inner side K is at most A + B.
    return Dot(mx, sp.Abs(y)) + Dot(sp.Abs(x), my) + (rows + cols) * Dot(sp.Abs(x), sp.Abs(y))


def _norm_bound(e, bounds, u):
    from symopt.symbols import numel

    # |‖X̃‖ - ‖X‖| ≤ ‖X̃ - X‖, and the sum of N squares adds N roundings of ‖X‖² (halved by the root).
    (x,), (mx,) = e.args, bounds
    return Norm(mx) + numel * Norm(x)


def _mean_bound(cls, side):
    def bound(e, bounds, u):
        from symopt import symbols as S

        (x,), (mx,) = e.args, bounds
        return cls(mx) + getattr(S, side) * cls(sp.Abs(x))

    return bound


def _newton_schulz_bound(e, bounds, u):
    from symopt.symbols import cols, rows

    x, a, b, c, k, eps = e.args
    # A first-order bound: the input's relative error and a Gram matrix's rounding (A + B terms per
    # sum), each amplified by at most |p'| ≤ |a| + 3|b| + 5|c| per step on singular values in [0, 1].
    gain = (sp.Abs(a) + 3 * sp.Abs(b) + 5 * sp.Abs(c)) ** k
    return sp.Abs(e) + gain * (Norm(bounds[0]) / sp.Max(Norm(x), eps) + 3 * (rows + cols))


def _fn_latex(template: str) -> Callable:
    return lambda p, e: template.format(*(p(a) for a in e.args))


# --- SOAP's eigenbases (Vyas et al. 2024; pytorch-optimizer 4.1.0) --------------------------------
# A symmetric matrix's eigenvectors are defined up to sign, and up to order and rotation within an
# eigenvalue repeated: the operations below fix order and sign, and their error bounds are those of
# the eigenvectors up to sign (a rule that uses them, as SOAP does, is invariant to the signs of
# their columns: v holds squares, and each rotation is undone with the same matrix). Where an
# eigenvalue gap (or a QR factor's conditioning) is too small for a first-order bound to be
# meaningful, the bound is infinite and what depends on it is not compared.


class Remainder(sp.Function):
    """``Remainder(n, k)``: n mod k, of the step counter and a hyperparameter only (SOAP's
    ``step % precondition_frequency == 0``). Not rewritten by SymPy, as ``Mod(t - 1, f)`` is (to
    ``Mod(f + t - 1, f)``); lowered by ``lambdify`` through ``_imp_``."""

    nargs = 2
    is_real = True
    _imp_ = staticmethod(lambda n, k: n % k)

    @classmethod
    def eval(cls, n, k):
        if n.is_Integer and k.is_Integer and k != 0:
            return sp.Integer(int(n) % int(k))
        return None

    def _eval_evalf(self, prec):
        n, k = (a.evalf(prec) for a in self.args)
        if n.is_Number and k.is_Number and k != 0 and n.is_finite and k.is_finite:
            return sp.Float(float(n) % float(k), prec)
        return None


class Eigenbasis(sp.Function):
    """``Eigenbasis(X)``: the eigenvectors of the symmetric matrix X (its lower triangle read, X + 10⁻³⁰I
    decomposed, as pytorch-optimizer's SOAP does), as columns by descending eigenvalue (torch's
    ``eigh`` ascending, flipped), each column's sign fixed so that its entry of largest magnitude
    (the first of them) is positive."""

    nargs = 1
    is_real = True


class QR(sp.Function):
    """``QR(X)``: the orthogonal factor Q of X = QR computed in float32 whatever X's dtype (as
    pytorch-optimizer's SOAP calls ``torch.linalg.qr(x.to(torch.float32))``), with R's diagonal made
    nonnegative (Q's columns multiplied by the signs of R's diagonal: unique for a full-rank X), and
    returned in X's dtype."""

    nargs = 1
    is_real = True


class SortOrder(sp.Function):
    """``SortOrder(X)``: the permutation matrix P that sorts X's diagonal in descending order (ties in
    their order): ``Y P`` has Y's columns in that order, ``Pᵀ Y`` its rows (SOAP's ``argsort(...,
    descending=True)`` and ``index_select``)."""

    nargs = 1
    is_real = True


def _fix_signs(q: np.ndarray) -> np.ndarray:
    if not q.size:
        return q
    index = np.argmax(np.abs(q), axis=-2)[..., None, :]
    signs = np.sign(np.take_along_axis(q, index, axis=-2))
    return q * np.where(signs == 0, 1, signs).astype(q.dtype)


def eigenbasis(x) -> np.ndarray:
    """The lowering of :class:`Eigenbasis`: NumPy's ``eigh`` (LAPACK), columns reversed, signs fixed.

    Example:
        >>> eigenbasis(np.array([[1.0, 0.0], [0.0, 2.0]]))
        array([[0., 1.],
               [1., 0.]])
    """
    x = np.asarray(x)
    if not x.size:
        return x.copy()
    shifted = x + x.dtype.type(1e-30) * np.eye(x.shape[-1], dtype=x.dtype)
    if not np.all(np.isfinite(shifted)):
        return np.full_like(x, np.nan)
    _, q = np.linalg.eigh(shifted)
    return _fix_signs(q[..., ::-1]).astype(x.dtype)


def qr_factor(x) -> np.ndarray:
    """The lowering of :class:`QR`: NumPy's ``qr`` (LAPACK's Householder QR) in float32, R's diagonal
    made nonnegative.

    Example:
        >>> qr_factor(np.array([[0.0, -2.0], [-3.0, 0.0]])) + 0.0  # (+ 0.0: no negative zeros shown)
        array([[ 0., -1.],
               [-1.,  0.]])
    """
    x = np.asarray(x)
    if not x.size:
        return x.copy()
    single = x.astype(np.float32)
    if not np.all(np.isfinite(single)):
        return np.full_like(x, np.nan)
    q, r = np.linalg.qr(single)
    signs = np.sign(np.diagonal(r, axis1=-2, axis2=-1))
    return (q * np.where(signs == 0, 1, signs)[..., None, :]).astype(x.dtype)


def order(x) -> np.ndarray:
    """The lowering of :class:`SortOrder`: the permutation matrix sorting the diagonal, descending.

    Example:
        >>> order(np.diag([1.0, 3.0, 2.0])).T @ np.diag([1.0, 3.0, 2.0])  # rows of P^T X: X's in that order
        array([[0., 3., 0.],
               [0., 0., 2.],
               [1., 0., 0.]])
    """
    x = np.asarray(x)
    diagonal = np.diagonal(x, axis1=-2, axis2=-1)
    index = np.argsort(-diagonal, axis=-1, kind="stable")
    p = np.zeros(x.shape, dtype=x.dtype)
    np.put_along_axis(p, index[..., None, :], 1, axis=-2)
    return p


# Two faithful implementations of an eigenbasis or a QR factor differ by up to √u (relative) before
# their bound is called infinite: beyond it a first-order bound, multiplied by verify's tolerance
# (thousands of u), would no longer say anything.
def _meaningful(u) -> float:
    return math.sqrt(max(float(u), 2.0**-24))


class EigenvectorBound(sp.Function):
    """``EigenvectorBound(X, M, u)``: the bound of ``Eigenbasis(X)`` up to the signs of its columns,
    in units of u. X is perturbed by E, ‖E‖_F ≤ u(‖M‖_F + n‖X‖_F) (the input's error and a backward
    stable eigensolver's); column j moves by at most ‖E‖/gap_j to first order (Davis–Kahan), gap_j
    the distance from λ_j to the nearest other eigenvalue. Infinite where that exceeds √u (or
    float32's, whichever is larger) relative: a repeated or near-repeated eigenvalue, whose
    eigenvectors no implementation determines. Only in bounds."""

    nargs = 3


def _eigenvector_bound(x, m, u):
    x = np.asarray(x, dtype=np.float64)
    m = np.broadcast_to(np.asarray(m, dtype=np.float64), x.shape)
    if not x.size:
        return np.zeros(x.shape)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(m))):
        return np.full(x.shape, np.inf)
    n = x.shape[-1]
    values = np.linalg.eigvalsh(x)[..., ::-1]
    perturbation = np.sqrt(np.sum(m * m)) + n * np.sqrt(np.sum(x * x))
    if n == 1:
        gaps = np.full(values.shape, np.inf)
    else:
        distance = np.abs(values[..., :, None] - values[..., None, :])
        distance = distance + np.where(np.eye(n, dtype=bool), np.inf, 0.0)
        gaps = distance.min(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        column = np.where(float(u) * perturbation < _meaningful(u) * gaps, perturbation / gaps, np.inf)
    return np.broadcast_to(column[..., None, :] + 1.0, x.shape).copy()


class QRBound(sp.Function):
    """``QRBound(X, M, u)``: the bound of ``QR(X)`` in units of u (of X's dtype), for a square X. The
    factor is computed in float32 (unit roundoff u₃₂ ≥ u) from X perturbed by E, each column xⱼ by
    at most u‖Mⱼ‖ + u₃₂(1 + n)‖xⱼ‖ (the input's error, its rounding to float32, Householder QR's
    columnwise backward error); with X's columns scaled to unit norm (Xₛ, which has the same Q), Q
    moves by at most 2‖Xₛ⁻¹‖₂‖Eₛ‖_F to first order (Sun 1991), plus its rounding back. Infinite where
    that exceeds √u₃₂ relative (a singular or ill-conditioned Xₛ). Only in bounds."""

    nargs = 3


def _qr_bound(x, m, u):
    x = np.asarray(x, dtype=np.float64)
    m = np.broadcast_to(np.asarray(m, dtype=np.float64), x.shape)
    if not x.size:
        return np.zeros(x.shape)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(m))):
        return np.full(x.shape, np.inf)
    u = float(u)
    single = max(u, 2.0**-24)
    n = x.shape[-1]
    # Householder QR's error is columnwise and Q(XD) = Q(X) for a positive diagonal D: measured on X
    # with its columns scaled to unit norm (X ≈ QΛ, SOAP's power iteration, is then well conditioned)
    norms = np.sqrt(np.sum(x * x, axis=-2))
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = u * np.sqrt(np.sum(m * m, axis=-2)) / norms + single * (1 + n)
        smallest = np.linalg.svd(x / norms[..., None, :], compute_uv=False).min() if np.all(norms > 0) else 0.0
        moved = 2.0 * np.sqrt(np.sum(relative * relative)) / smallest
    if not moved < _meaningful(u):
        return np.full(x.shape, np.inf)
    return np.full(x.shape, (moved + single) / u)


class SortTie(sp.Function):
    """``SortTie(X, M, u)``: ∞ where two of X's diagonal entries are within rounding of each other
    (4u(Mᵢ + Mⱼ)), so that two implementations may sort them differently; else 0. The bound of
    ``SortOrder(X)``, a permutation computed exactly otherwise. Only in bounds."""

    nargs = 3


def _sort_tie(x, m, u):
    x = np.asarray(x, dtype=np.float64)
    m = np.broadcast_to(np.asarray(m, dtype=np.float64), x.shape)
    if not x.size:
        return np.zeros(x.shape)
    d = np.diagonal(x, axis1=-2, axis2=-1)
    md = np.diagonal(m, axis1=-2, axis2=-1)
    n = d.shape[-1]
    with np.errstate(invalid="ignore"):
        close = np.abs(d[..., :, None] - d[..., None, :]) <= SIGN_MARGIN * float(u) * (md[..., :, None] + md[..., None, :])
    close = close & ~np.eye(n, dtype=bool)
    tied = bool(np.any(close)) or not np.all(np.isfinite(d)) or not np.all(np.isfinite(md))
    return np.full(x.shape, np.inf if tied else 0.0)


def _remainder_latex(p, e):
    n, k = e.args
    inner = p(n) if n.is_Atom else rf"\left({p(n)}\right)"
    return rf"{inner} \bmod {p(k)}"


def _remainder_text(p, e):
    n, k = e.args
    return f"{p(n) if n.is_Atom else '(' + p(n) + ')'} mod {p(k)}"


MATRIX_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "max ignoring NaN", FMax, "fmax",
        bound=lambda e, bounds, u: selected(1, e.args, bounds, u),
        latex=lambda p, e: rf"\max\left({', '.join(p(a) for a in e.args)}\right)",
        text=lambda p, e: f"max({', '.join(p(a) for a in e.args)})",
        derivations="its derivative follows the larger argument; a NaN argument is ignored",
        derivative=_select_derivative(sp.StrictGreaterThan),
        nan=tuple((backend, "other") for backend in NAN_BACKENDS),
    ),
    Operation(
        "matrix product", Dot, None, array=_dot, bound=_dot_bound,
        latex=lambda p, e: f"{_group_latex(p, e.args[0])} {_group_latex(p, e.args[1])}",
        text=lambda p, e: f"{_group_text(p, e.args[0])} {_group_text(p, e.args[1])}",
        derivations="a matrix product: linear in each factor, not commutative",
    ),
    Operation(
        "transpose", T, None, array=_transpose, bound=lambda e, bounds, u: T(bounds[0]),
        latex=lambda p, e: _transpose_latex(p, e.args[0]),
        text=lambda p, e: f"{_group_text(p, e.args[0])}ᵀ",
        derivations="the transpose of the last two dimensions",
    ),
    Operation(
        "Frobenius norm", Norm, None, array=_norm, bound=_norm_bound,
        latex=_fn_latex(r"\left\| {} \right\|_{{F}}"),
        text=_fn_latex("‖{}‖_F"),
        derivations="the root of the sum of squares of the whole tensor: one number",
    ),
    Operation(
        "row mean", RowMean, None, array=_row_mean, bound=_mean_bound(RowMean, "cols"),
        latex=_fn_latex(r"\operatorname{{rowmean}}\left({}\right)"),
        text=_fn_latex("rowmean({})"),
        derivations="the mean over the last dimension: a column",
    ),
    Operation(
        "column mean", ColMean, None, array=_col_mean, bound=_mean_bound(ColMean, "rows"),
        latex=_fn_latex(r"\operatorname{{colmean}}\left({}\right)"),
        text=_fn_latex("colmean({})"),
        derivations="the mean over the second-to-last dimension: a row",
    ),
    Operation(
        "tensor sum", TensorSum, None, array=_tensor_sum, bound=_tensor_sum_bound,
        latex=_fn_latex(r"\operatorname{{sum}}\left({}\right)"),
        text=_fn_latex("sum({})"),
        derivations="the sum of every element of the whole tensor: one number, linear",
        derivative=lambda e, d: TensorSum(d[0]),
    ),
    Operation(
        "channel sum", ChannelSum, None, array=_channel_sum, bound=_channel_sum_bound,
        latex=_fn_latex(r"\operatorname{{chsum}}\left({}\right)"),
        text=_fn_latex("chsum({})"),
        derivations="the sum over every dimension but the first: one number per channel, linear",
        derivative=lambda e, d: ChannelSum(d[0]),
    ),
    Operation(
        "largest element", Amax, None, array=_amax, bound=lambda e, bounds, u: Amax(bounds[0]),
        latex=_fn_latex(r"\operatorname{{amax}}\left({}\right)"),
        text=_fn_latex("amax({})"),
        derivations="the largest element of the whole tensor: one number",
    ),
    Operation(
        "if positive", IfPositive, None, array=_if_positive, bound=_if_positive_bound,
        latex=_if_positive_latex,
        text=_if_positive_text,
        derivations="a choice on the sign of a number (of the whole tensor, or of each element); its derivative "
                    "is the chosen argument's",
        derivative=lambda e, d: IfPositive(e.args[0], d[1], d[2]),
    ),
    Operation(
        "zero guard", ZeroGuard, None, array=_zero_guard, bound=_zero_guard_bound,
        latex=_zero_guard_latex,
        text=_zero_guard_text,
        derivations="a choice on whether a number of the whole tensor (a norm) is 0; its derivative is the chosen "
                    "argument's",
        derivative=lambda e, d: ZeroGuard(e.args[0], d[1], d[2]),
        scale_invariant=True,
    ),
    Operation(
        "Newton–Schulz", NewtonSchulz, None, array=newton_schulz, rounds=True, bound=_newton_schulz_bound,
        latex=lambda p, e: rf"\operatorname{{NS}}_{{{p(e.args[4])}}}\left({p(e.args[0])}\right)",
        text=lambda p, e: f"NS_{p(e.args[4])}({p(e.args[0])})",
        derivations="each step maps every singular value σ to aσ + bσ³ + cσ⁵ and keeps the singular vectors",
    ),
    Operation(
        "remainder", Remainder, None, bound=lambda e, bounds, u: sp.S.Zero,  # of integers: exact
        latex=_remainder_latex,
        text=_remainder_text,
        derivations="of the step counter and a hyperparameter only: a choice on it is a branch on the step",
    ),
    Operation(
        "eigenbasis", Eigenbasis, None, array=eigenbasis,
        bound=lambda e, bounds, u: EigenvectorBound(e.args[0], bounds[0], u),
        latex=_fn_latex(r"\operatorname{{eig}}\left({}\right)"),
        text=_fn_latex("eig({})"),
        derivations="the eigenvectors of a symmetric matrix, by descending eigenvalue, signs fixed; defined where "
                    "the eigenvalues are distinct",
    ),
    Operation(
        "QR factor", QR, None, array=qr_factor,
        bound=lambda e, bounds, u: QRBound(e.args[0], bounds[0], u),
        latex=_fn_latex(r"\operatorname{{qr}}\left({}\right)"),
        text=_fn_latex("qr({})"),
        derivations="the orthogonal factor of a QR decomposition (computed in float32), R's diagonal nonnegative",
    ),
    Operation(
        "descending order", SortOrder, None, array=order,
        bound=lambda e, bounds, u: SortTie(e.args[0], bounds[0], u),
        latex=_fn_latex(r"\operatorname{{sort}}\left({}\right)"),
        text=_fn_latex("sort({})"),
        derivations="the permutation matrix that sorts a matrix's diagonal in descending order",
    ),
)


def _group_latex(p, x) -> str:
    tex = p(x)
    return tex if x.is_Atom or isinstance(x, (Dot, T)) else rf"\left({tex}\right)"


def _transpose_latex(p, x) -> str:
    tex = _group_latex(p, x)
    # a symbol with a superscript of its own (SOAP's Q^{L}_{t-1}) is grouped: a double superscript otherwise
    return (f"{{{tex}}}" if "^" in tex and not tex.endswith(r"\right)") else tex) + r"^{\top}"


def _group_text(p, x) -> str:
    text = p(x)
    return text if x.is_Atom or isinstance(x, (Dot, T)) else f"({text})"


OPERATIONS = OPERATIONS + MATRIX_OPERATIONS + (
    Operation(
        "selected bound", Selected, None, array=_selected, bound=None,
        latex=lambda p, e: rf"\operatorname{{sel}}\left({', '.join(p(a) for a in e.args[2:])}\right)",
        text=lambda p, e: f"sel({', '.join(p(a) for a in e.args[2:])})",
        derivations="only in error bounds: the bound of the argument a max or min selects",
        in_rules=False,
    ),
    Operation(
        "near zero", NearZero, None, array=_near_zero, bound=None,
        latex=lambda p, e: rf"\infty \cdot \mathbf{{1}}\left[|{p(e.args[0])}| < 4u {p(e.args[1])}\right]",
        text=lambda p, e: f"inf·1[|{p(e.args[0])}| < 4u·{p(e.args[1])}]",
        derivations="only in error bounds: whether a sign may flip",
        in_rules=False,
    ),
    Operation(
        "branch tie", BranchTie, None, array=_branch_tie, bound=None,
        latex=lambda p, e: rf"\operatorname{{tie}}\left({p(e.args[0])}, {p(e.args[3])}, {p(e.args[5])}\right)",
        text=lambda p, e: f"tie({p(e.args[0])}, {p(e.args[3])}, {p(e.args[5])})",
        derivations="only in error bounds: whether a choice on a number near 0 may go either way, and its branches differ",
        in_rules=False,
    ),
    Operation(
        "exact zero", ExactZero, None, array=_exact_zero, bound=None,
        latex=lambda p, e: rf"\operatorname{{unless}}_{{0}}\left({p(e.args[0])}, {p(e.args[1])}\right)",
        text=lambda p, e: f"unless0({p(e.args[0])}, {p(e.args[1])})",
        derivations="only in error bounds: a product by a factor exactly 0",
        in_rules=False,
    ),
    Operation(
        "bfloat16 tie", Bfloat16Tie, None, array=_near_bfloat16_tie, bound=None,
        latex=lambda p, e: rf"\operatorname{{tie}}_{{\text{{bf16}}}}\left({p(e.args[0])}\right)",
        text=lambda p, e: f"tie_bf16({p(e.args[0])})",
        derivations="only in error bounds: whether rounding to bfloat16 may go either way",
        in_rules=False,
    ),
    Operation(
        "eigenvector bound", EigenvectorBound, None, array=_eigenvector_bound, bound=None,
        latex=lambda p, e: rf"\operatorname{{bound}}_{{\text{{eig}}}}\left({p(e.args[0])}\right)",
        text=lambda p, e: f"bound_eig({p(e.args[0])})",
        derivations="only in error bounds: how far an eigenbasis may move",
        in_rules=False,
    ),
    Operation(
        "QR bound", QRBound, None, array=_qr_bound, bound=None,
        latex=lambda p, e: rf"\operatorname{{bound}}_{{\text{{qr}}}}\left({p(e.args[0])}\right)",
        text=lambda p, e: f"bound_qr({p(e.args[0])})",
        derivations="only in error bounds: how far a QR factor may move",
        in_rules=False,
    ),
    Operation(
        "sort tie", SortTie, None, array=_sort_tie, bound=None,
        latex=lambda p, e: rf"\operatorname{{tie}}_{{\text{{sort}}}}\left({p(e.args[0])}\right)",
        text=lambda p, e: f"tie_sort({p(e.args[0])})",
        derivations="only in error bounds: whether a sort may go either way",
        in_rules=False,
    ),
)


# --- functions of the step counter and the hyperparameters (AdEMAMix's warm-up of β₃) ---------------
def _of_scalars(e: sp.Basic) -> bool:
    from symopt.symbols import ARRAYS

    return not (e.free_symbols & ARRAYS)


# Only on scalars (numbers of t and the hyperparameters, which kernels compute with Python's ``math``
# before the arrays): an exp or log of an array is outside the table. Their bounds, for a derivation
# or a check that asks, are the usual first-order ones plus one rounding of the result.
SCALAR_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "exp", sp.exp, None,
        bound=lambda e, bounds, u: sp.Abs(e) * (bounds[0] + 1),
        latex=lambda p, e: rf"\exp\left({p(e.args[0])}\right)",
        text=lambda p, e: f"exp({p(e.args[0])})",
        derivations="smooth; only of the step counter and the hyperparameters",
        derivative=lambda e, d: e * d[0],
        matches=_of_scalars,
    ),
    Operation(
        "log", sp.log, None,
        bound=lambda e, bounds, u: bounds[0] / sp.Abs(e.args[0]) + sp.Abs(e),
        latex=lambda p, e: rf"\ln\left({p(e.args[0])}\right)",
        text=lambda p, e: f"ln({p(e.args[0])})",
        derivations="smooth where its argument is positive; only of the step counter and the hyperparameters",
        derivative=lambda e, d: d[0] / e.args[0],
        matches=_of_scalars,
    ),
)
OPERATIONS = OPERATIONS + SCALAR_OPERATIONS


# --- SM3's cover sets (Anil et al. 2019; optax 0.2.8's scale_by_sm3) ------------------------------
# The cover of a tensor of D dimensions by its slices: along each dimension k, one set per index j,
# the elements whose k-th index is j. One number per set is kept as one vector per dimension, the
# D vectors concatenated in the order of the dimensions (A + B numbers for an A×B matrix, n for a
# vector: each element its own set; a number is its own set). Both operations are generic in rank.


class CoverMin(sp.Function):
    """``CoverMin(M, X)``: for each element of X, the smallest of the numbers M holds for the slices
    through it, one per dimension (M the concatenated vectors of the cover); shaped like X, which
    gives the shape only. For a vector, M itself; for a number, M's one value."""

    nargs = 2
    is_real = True


class CoverMax(sp.Function):
    """``CoverMax(X)``: for each slice of X along each dimension, its largest element (the maximum
    over every dimension but that one), the dimensions' vectors concatenated: what :class:`CoverMin`
    reads. For a vector, X itself; for a number, a vector of its one value. The maximum over an
    empty slice (a tensor with a side 0) is -inf."""

    nargs = 1
    is_real = True


def _cover_pieces(m, shape):
    """M's vector of each dimension of ``shape``, shaped to broadcast along it."""
    m = np.asarray(m)
    m = np.broadcast_to(m.reshape(-1) if m.ndim else m, (sum(shape),))
    pieces, start = [], 0
    for k, side in enumerate(shape):
        pieces.append(m[start:start + side].reshape((1,) * k + (side,) + (1,) * (len(shape) - k - 1)))
        start += side
    return pieces


def _cover_min(m, x):
    x, m = np.asarray(x), np.asarray(m)
    if x.ndim == 0:
        return np.array(m.reshape(-1)[0] if m.ndim else m)
    pieces = _cover_pieces(m, x.shape)
    smallest = functools.reduce(np.minimum, pieces)
    return np.array(np.broadcast_to(smallest, x.shape))


def _cover_max(x):
    x = np.asarray(x)
    if x.ndim == 0:
        return x.reshape(1).copy()
    parts = [np.max(x, axis=tuple(j for j in range(x.ndim) if j != k), initial=-np.inf) for k in range(x.ndim)]
    return np.concatenate(parts).astype(x.dtype, copy=False)


def _cover_min_bound(e, bounds, u):
    # exact (a selection); it moves by at most the largest error of the numbers it selects from:
    # the maximum of the covers' bounds, which is -CoverMin(-M)
    (_, x), (mm, _) = e.args, bounds
    return -CoverMin(-mm, x)


COVER_OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "cover minimum", CoverMin, None, array=_cover_min, bound=_cover_min_bound,
        latex=lambda p, e: rf"\operatorname{{covmin}}\left({p(e.args[0])}\right)",
        text=lambda p, e: f"covmin({p(e.args[0])})",
        derivations="each element's smallest accumulator over the slices through it, one per dimension: a "
                    "selection, piecewise linear",
    ),
    Operation(
        "cover maximum", CoverMax, None, array=_cover_max, bound=lambda e, bounds, u: CoverMax(bounds[0]),
        latex=_fn_latex(r"\operatorname{{covmax}}\left({}\right)"),
        text=_fn_latex("covmax({})"),
        derivations="the largest element of each slice along each dimension (the maximum over every other "
                    "dimension), the dimensions' vectors concatenated: a selection, piecewise linear",
    ),
)
OPERATIONS = OPERATIONS + COVER_OPERATIONS
