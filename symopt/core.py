"""The data an update rule is made of, and the one way rules are built: a chain of transforms.

A rule is a small frozen object: its hyperparameters (symbols with defaults and valid ranges), its
state variables with their initial values, and its ordered equations. Everything else in symopt
(derivations, printing, kernels, verification, export) is a generic function of a rule.

Rules are built as in optax: an optimizer is a chain of small named transforms, each turning the
incoming *descent direction* ``u`` (at first the gradient ``g_t``) into a new one, and the rule ends
with ``θ_t = θ_{t-1} - u``. Adam with L2 and AdamW are the same chain with the decay transform in a
different place.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import sympy as sp

from symopt import symbols as S


# The versions whose semantics the rules follow (their sources: ``Rule.source``).
TORCH_SOURCE = "torch 2.13"
OPTAX_SOURCE = "optax 0.2.8"


@dataclass(frozen=True)
class Hyper:
    """A hyperparameter: its symbol, the keyword kernels take it by, its default and valid range.

    ``low``/``high`` bound the range; ``low_open``/``high_open`` say whether the bound itself is
    excluded. The keyword names are torch.optim's (``lr``, ``momentum``, ``beta1``, ...). Kernels
    drop a ``skip_when_zero`` hyperparameter's terms when its value is 0, as torch.optim does.
    """

    symbol: sp.Symbol
    name: str
    default: float
    low: float
    high: float
    low_open: bool = False
    high_open: bool = True
    doc: str = ""
    skip_when_zero: bool = False  # torch.optim leaves the term out at 0 (so 0 * inf is never formed)
    # Where generated cases draw values (symopt.strategies): the values always tried (kept where
    # they are in range), and the finite interval drawn from, on a log scale if ``log``.
    special: tuple[float, ...] = ()
    sample: tuple[float, float] = (0.0, 1.0)
    log: bool = False
    integer: bool = False  # a count (Schedule-Free's warmup steps): drawn as whole numbers
    # The library's keyword, where it is not ``name``: a keyword of its own (a string) or a position
    # in a tuple keyword, ``("betas", 0)``. Runners read it from here; none special-cases a rule.
    library: str | tuple[str, int] | None = None

    @property
    def keyword(self) -> str:
        """The library's keyword that carries this hyperparameter (``betas`` for β₁ and β₂)."""
        return self.library if isinstance(self.library, str) else self.library[0] if self.library else self.name

    def with_default(self, default: float) -> Hyper:
        """The same hyperparameter with another default (AdamW decays by default, Adam does not)."""
        return replace(self, default=default)

    def range_text(self) -> str:
        """The range in interval notation, e.g. ``[0, 1)``."""
        high = "inf" if math.isinf(self.high) else f"{self.high:g}"
        return f"{'(' if self.low_open else '['}{self.low:g}, {high}{')' if self.high_open else ']'}"

    def contains(self, value: float) -> bool:
        """Whether ``value`` lies in the valid range (NaN never does)."""
        if not self.low <= value <= self.high or math.isnan(value):
            return False
        return not (self.low_open and value == self.low) and not (self.high_open and value == self.high)

    def restricted(self, **changes) -> Hyper:
        """The same hyperparameter with another range or default, e.g. ``high=0`` (Nesterov in torch
        takes no dampening) or ``low_open=False`` (RMSprop's momentum may be 0)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class State:
    """A state variable: its key in a kernel's state dict, its symbols after/before the step, and
    its value before the first step (an expression of the hyperparameters, 0 unless said, or θ₀:
    a copy of the parameters, as Schedule-Free's z and x start).

    A ``scalar`` state is one number for all parameters (NAdam's product of momentum factors): its
    update may use only the step counter, the hyperparameters and other scalar states.
    """

    name: str
    new: sp.Symbol
    prev: sp.Symbol
    init: sp.Expr = sp.S.Zero
    doc: str = ""
    scalar: bool = False
    shape: str = "param"  # a key of STATE_SHAPES: Adafactor's factored moments are not shaped like θ

    def shape_of(self, params_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The array's shape for parameters of ``params_shape`` (``()`` where the state is unused)."""
        return STATE_SHAPES[self.shape](tuple(params_shape))


# How a state array is shaped, from the parameters' shape. Adafactor keeps, for a parameter of two
# dimensions or more, one second moment per row and one per column of its last two dimensions, and
# for a vector (or a number) one per element; the kind it does not use is a 0-d array it carries.
STATE_SHAPES: dict[str, Callable[[tuple[int, ...]], tuple[int, ...]]] = {
    "param": lambda shape: shape,
    "rows": lambda shape: (*shape[:-1], 1) if len(shape) >= 2 else (),
    "columns": lambda shape: (*shape[:-2], 1, shape[-1]) if len(shape) >= 2 else (),
    "unfactored": lambda shape: shape if len(shape) < 2 else (),
    "tensor": lambda shape: (),  # one number for the whole tensor (NovoGrad's layer-wise second moment)
}


@dataclass(frozen=True)
class Assign:
    """One line of a rule: ``lhs`` takes the value ``rhs``.

    A rule's equations are assignments executed in order, as the note writes them: a later equation
    that names ``g_t`` after ``g_t = g_t + λθ_{t-1}`` means the new value.
    """

    lhs: sp.Symbol
    rhs: sp.Expr


# A transform's equations, given the incoming descent direction: (equations, outgoing direction).
Apply = Callable[[sp.Expr], tuple[tuple[Assign, ...], sp.Expr]]


@dataclass(frozen=True)
class Transform:
    """A named step of a chain: the hyperparameters and state it owns, and how it maps ``u``."""

    name: str
    apply: Apply = field(repr=False)
    hypers: tuple[Hyper, ...] = ()
    states: tuple[State, ...] = ()
    parts: tuple[str, ...] = ()  # names of the transforms a composite is made of


def chain(name: str, *transforms: Transform) -> Transform:
    """Compose transforms left to right (optax's ``chain``)."""

    def apply(u: sp.Expr) -> tuple[tuple[Assign, ...], sp.Expr]:
        equations: list[Assign] = []
        for transform in transforms:
            new, u = transform.apply(u)
            equations.extend(new)
        return tuple(equations), u

    states = tuple(s for tr in transforms for s in tr.states)
    _distinct_states(name, states)
    return Transform(
        name,
        apply,
        hypers=tuple(h for tr in transforms for h in tr.hypers),
        states=states,
        parts=tuple(tr.name for tr in transforms),
    )


def _distinct_states(name: str, states) -> None:
    """Two transforms that keep the same state variable would silently share it: refuse."""
    seen: dict = {}
    for state in states:
        for key in (state.name, state.new, state.prev):
            if key in seen:
                raise ValueError(f"{name}: two transforms declare the state {key} "
                                 f"({seen[key].doc or seen[key].name!r} and {state.doc or state.name!r}); "
                                 "give one of them its own symbol")
            seen[key] = state


@dataclass(frozen=True)
class Rule:
    """An update rule: hyperparameters, state, and ordered equations ending in ``θ_t = ...``.

    Build one with :func:`rule`; get a registered one with :func:`symopt.get`.
    """

    name: str
    summary: str
    reference: str
    transforms: tuple[str, ...]
    hypers: tuple[Hyper, ...]
    states: tuple[State, ...]
    equations: tuple[Assign, ...]
    options: tuple[tuple[str, object], ...] = ()
    torch: str = ""  # the torch.optim class with these semantics, if there is one
    evaluate: str = ""  # the state that holds what to evaluate the model at, if not the parameters
    library: tuple[str, str] = ("", "")  # another library with these semantics: (package, class)
    ranks: tuple[int, ...] = ()  # the numbers of dimensions its parameters may have; () for any
    source: str = ""  # the package (and version) whose semantics it follows: "torch 2.13", "optax 0.2.8"

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Fail, naming the shape, if the rule does not take parameters of ``shape``.

        Example:
            >>> import symopt
            >>> symopt.get("muon").check_shape((3,))
            Traceback (most recent call last):
            ...
            symopt.errors.SymoptError: muon takes 2-D parameters (matrices), not shape (3,)
        """
        from symopt.errors import SymoptError

        if self.ranks and len(shape) not in self.ranks:
            raise SymoptError(f"{self.name} takes {self.ranks_text()}, not shape {tuple(shape)}")

    def ranks_text(self) -> str:
        """``"2-D parameters (matrices)"``, or ``"parameters of any shape"``."""
        if not self.ranks:
            return "parameters of any shape"
        return " or ".join(f"{r}-D" for r in self.ranks) + " parameters" + (" (matrices)" if self.ranks == (2,) else "")

    @property
    def arrays(self) -> tuple[State, ...]:
        """The state variables that hold one value per parameter."""
        return tuple(s for s in self.states if not s.scalar)

    @property
    def elementwise(self) -> bool:
        """Whether every equation acts element by element (no matrix product, norm or mean: the
        elementwise derivations apply only then)."""
        from symopt import ops

        return not any(ops.whole_tensor(eq.rhs) for eq in self.equations)

    @functools.cached_property
    def shape_symbols(self) -> tuple[sp.Symbol, ...]:
        """The shape scalars its equations use (rows A, columns B...: :data:`symopt.symbols.SHAPES`);
        kept after the first call, since every kernel step asks."""
        used = set().union(*(eq.rhs.free_symbols for eq in self.equations))
        return tuple(symbol for symbol in S.SHAPES if symbol in used)

    @property
    def scalars(self) -> tuple[State, ...]:
        """The state variables that are one number (NAdam's μ product)."""
        return tuple(s for s in self.states if s.scalar)

    # --- structure -------------------------------------------------------------------------------
    def hyper(self, name: str) -> Hyper | None:
        """The hyperparameter with keyword ``name`` (``"lr"``, ``"weight_decay"``...), or None."""
        return next((h for h in self.hypers if h.name == name), None)

    def step_map(self) -> dict[sp.Symbol, sp.Expr]:
        """The new parameter and state as expressions of θ_{t-1}, g_t, the previous state, t and the
        hyperparameters (the equations resolved).

        Returns ``{θ_t: ..., m_t: ..., ...}``: each equation is substituted into the later ones, in
        order, which is what executing the rule once does.
        """
        env: dict[sp.Symbol, sp.Expr] = {}
        for eq in self.equations:
            env[eq.lhs] = eq.rhs.xreplace(env)
        return {S.theta: env[S.theta], **{s.new: env[s.new] for s in self.states}}

    # --- display ---------------------------------------------------------------------------------
    def __str__(self) -> str:
        from symopt.printing import text

        return "\n".join(text(eq) for eq in self.equations)

    def latex(self) -> str:
        """The equations as a LaTeX ``aligned`` block, in the note's notation."""
        from symopt.printing import latex_aligned

        return latex_aligned(self.equations)

    def _repr_latex_(self) -> str:
        return f"$\\displaystyle {self.latex()}$"

    def with_equations(self, equations) -> Rule:
        """This rule with other equations: the same hyperparameters, state and options (what
        :mod:`symopt.mutate` builds its mutants from).

        Raises:
            SymoptError: as :func:`rule` does, and if an equation reads an intermediate defined only
                after it, or the last one does not assign θ_t.
        """
        made = replace(self, equations=tuple(equations))
        _validate(made)
        return made

    def kernel(self, backend: str = "numpy", rounding: str | None = None):
        """Compile the rule into a kernel with ``init`` and ``step`` (see :mod:`symopt.kernel`):
        ``"numpy"``, or ``"numba"`` for one fused parallel loop (see :mod:`symopt.backends.numba`);
        ``rounding="bfloat16"`` rounds where torch computes in bfloat16 (Muon's iteration)."""
        from symopt.kernel import compile_rule

        return compile_rule(self, backend=backend, rounding=rounding)


def rule(name: str, summary: str, reference: str, transform: Transform, *, torch: str = "", evaluate: str = "",
         library: tuple[str, str] = ("", ""), ranks: tuple[int, ...] = (), source: str = "",
         **options: object) -> Rule:
    """Make a rule from a transform chain: its equations end with ``θ_t = θ_{t-1} - u``.

    The minus sign is distributed over the descent direction, so that AdamW's decay reads as the
    note writes it: ``θ_t = θ_{t-1} - η m̂_t/(√v̂_t + ε) - η λ θ_{t-1}``.

    Args:
        name, summary, reference: the rule's name (as registered), one line, and its sources.
        transform: the chain.
        torch: the ``torch.optim`` class with the same semantics, if any; its constructor takes the
            rule's hyperparameters by keyword (``beta1``, ``beta2`` as ``betas``) and the options it
            knows (``nesterov``, ``amsgrad``...).
        evaluate: the state holding the point to evaluate the model at, when the parameters hold
            another (Schedule-Free's x; its parameters hold y, where the gradient is taken).
        library: another library implementing the rule, ``(package, class)``, for ``verify --against``.
        ranks: the numbers of dimensions its parameters may have (Muon: ``(2,)``); any if empty.
        source: the package, with its version, whose semantics the rule follows (``"optax 0.2.8"``):
            what ``symopt list`` shows; defaults to torch's when the rule names a torch class.
        **options: the structural options the rule was built with.

    Raises:
        SymoptError: if an equation uses an operation outside :mod:`symopt.ops`, a scalar state
            depends on an array, or two hyperparameters share a keyword.
    """
    from symopt.errors import SymoptError
    from symopt.hyperparameters import ORDER

    equations, u = transform.apply(S.g)
    final = Assign(S.theta, S.theta_prev + _distribute(-u))
    hypers = _unique(transform.hypers, key=lambda h: h.symbol)
    if len({h.name for h in hypers}) != len(hypers):
        raise SymoptError(f"{name}: two hyperparameters share a keyword")
    hypers = tuple(sorted(hypers, key=lambda h: ORDER.index(h.name) if h.name in ORDER else len(ORDER)))
    states = _unique(transform.states, key=lambda s: s.new)
    made = Rule(
        name=name,
        summary=summary,
        reference=reference,
        transforms=transform.parts or (transform.name,),
        hypers=hypers,
        states=states,
        equations=(*equations, final),
        options=tuple(sorted(options.items())),
        torch=torch,
        evaluate=evaluate,
        library=library,
        ranks=tuple(ranks),
        source=source or (TORCH_SOURCE if torch else ""),
    )
    _validate(made)
    return made


def _validate(made: Rule) -> None:
    """The checks every rule passes: known operations, equations in an order that defines what each
    reads, ending with θ_t, and scalar states of scalars only."""
    from symopt import ops
    from symopt.errors import SymoptError

    name = made.name
    inputs = {S.t, S.theta_prev, S.g, *S.SHAPES, *(h.symbol for h in made.hypers), *(s.prev for s in made.states)}
    defined = {eq.lhs for eq in made.equations} - inputs
    seen: set = set()
    for eq in made.equations:
        ops.check(eq.rhs, f"{name}, {eq.lhs} = ...")
        early = sorted(map(str, (eq.rhs.free_symbols & defined) - seen))
        if early:
            raise SymoptError(f"{name}: {eq.lhs} = ... reads {', '.join(early)} before it is assigned")
        seen.add(eq.lhs)
    if not made.equations or made.equations[-1].lhs != S.theta:
        raise SymoptError(f"{name}: the last equation must assign {S.theta}")
    step = made.step_map()
    allowed = {S.t, *(h.symbol for h in made.hypers), *(s.prev for s in made.scalars)}
    for state in made.scalars:
        if not step[state.new].free_symbols <= allowed:
            raise SymoptError(f"{name}: the scalar state {state.name} depends on an array")


def _distribute(expr: sp.Expr) -> sp.Expr:
    """Distribute the outer product over a sum, and nothing deeper: -η(a + b) -> -ηa - ηb."""
    return sp.expand(expr, deep=False, power_base=False, power_exp=False, log=False, multinomial=False)


def _unique(items, key):
    seen: dict = {}
    for item in items:
        seen.setdefault(key(item), item)
    return tuple(seen.values())
