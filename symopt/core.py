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
TIMM_SOURCE = "timm 1.0.31"


@dataclass(frozen=True)
class LibraryKeyword:
    """How a library's class expresses a structural option, where it is not by the option's name and
    value: metadata of the option's annotation. ``cautious: Annotated[bool, LibraryKeyword("caution")]``
    passes the option's value as timm's ``caution``; with ``values``, the option's values pass as the
    values given (ADOPT's ``clip: Annotated[bool, LibraryKeyword("clip_exp", {False: None})]``: timm's
    ``clip_exp=None``), and a value not listed is the class's default, so nothing is passed. Runners
    read it, as they read :attr:`Hyper.library` (:func:`symopt.optimizers.option_forms`); none
    special-cases a rule, and a class without the keyword has only the option's default.

    Example:
        >>> LibraryKeyword("clip_exp", {False: None}).expressed(False), LibraryKeyword("caution").expressed(True)
        ((True, None), (True, True))
        >>> LibraryKeyword("clip_exp", {False: None}).expressed(True)  # the class's default
        (False, None)
    """

    keyword: str
    values: tuple[tuple[object, object], ...] = ()  # (option value, library value); a dict is accepted

    def __post_init__(self):
        if isinstance(self.values, dict):
            object.__setattr__(self, "values", tuple(self.values.items()))

    def expressed(self, value: object) -> tuple[bool, object]:
        """``(passed, library value)``: what the class takes for the option's ``value``; ``passed`` is
        False where the class's default expresses it (a value ``values`` does not list), and for every
        value with an empty ``keyword``: an option that chooses the library itself (LAMB's
        ``convention``, whose value names the package of ``Rule.library``), which its class takes nothing for."""
        if not self.keyword:
            return False, None
        if not self.values:
            return True, value
        for option, library in self.values:
            if option == value and type(option) is type(value):
                return True, library
        return False, None


@dataclass(frozen=True)
class ParametersDtype:
    """A value of :attr:`Rule.library_arguments` that is not fixed: the dtype of the parameters of the
    run, which a runner puts in its place when it builds the class for a parameter (timm's
    ``AdafactorBigVision(momentum_dtype=...)`` keeps its momentum in bfloat16 unless told the
    parameters' dtype, a rounding no rule models). Use the instance :data:`PARAMETERS_DTYPE`.

    Example:
        >>> PARAMETERS_DTYPE
        <the parameters' dtype>
    """

    def __repr__(self) -> str:
        return "<the parameters' dtype>"


PARAMETERS_DTYPE = ParametersDtype()


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
    # The library reads it when the optimizer is built, not only from the parameter group at each step
    # (Prodigy's d0 starts its estimate d): runners pass the first step's value to the constructor.
    constructed: bool = False

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
    # The key torch.optim keeps it under in a parameter's state (``exp_avg``), where it is not ``name``;
    # symopt.torch.optim reads it, as runners read Hyper.library.
    library: str | None = None

    @property
    def keyword(self) -> str:
        """The key of this state in torch.optim's state of a parameter (``exp_avg`` for m)."""
        return self.library or self.name

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
    # a matrix per side of the last two dimensions (SOAP's Kronecker factors and their eigenbases)
    "row_gram": lambda shape: (*shape[:-1], shape[-2]) if len(shape) >= 2 else (),
    "column_gram": lambda shape: (*shape[:-2], shape[-1], shape[-1]) if len(shape) >= 2 else (),
    # one number per slice along each dimension, the dimensions' vectors concatenated (SM3's
    # accumulators, one per cover set: A + B for a matrix, n for a vector; a number is its own cover)
    "covers": lambda shape: (sum(shape),) if len(shape) >= 1 else (1,),
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
    from symopt.errors import SymoptError

    seen: dict = {}
    for state in states:
        for key in (state.name, state.new, state.prev):
            if key in seen:
                raise SymoptError(f"{name}: two transforms declare the state {key} "
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
    # Its torch class takes sparse gradients only (SparseAdam): the rule is the update of each element
    # a sparse gradient touches (its value materialised, 0 included); the others keep θ and state.
    sparse: bool = False
    source: str = ""  # the package (and version) whose semantics it follows: "torch 2.13", "optax 0.2.8"
    # Constructor arguments ``library``'s class is always built with, where its default is not the rule
    # (timm's Lamb clips the global gradient norm unless ``max_grad_norm=None``): runners pass them as
    # given, :data:`PARAMETERS_DTYPE` as the dtype of the run's parameters.
    library_arguments: tuple[tuple[str, object], ...] = ()

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

    @functools.cached_property
    def arrays(self) -> tuple[State, ...]:
        """The state variables that hold one value per parameter (kept after the first call: every
        step of symopt.torch asks, for each parameter)."""
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

    @functools.cached_property
    def scalars(self) -> tuple[State, ...]:
        """The state variables that are one number (NAdam's μ product); kept after the first call."""
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
        from symopt import ops

        env: dict[sp.Symbol, sp.Expr] = {}
        with ops.maxima_as_written():  # maxima nested in the substituted expressions (AdamP's cautious mask)
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
         library: tuple[str, str] = ("", ""), ranks: tuple[int, ...] = (), sparse: bool = False,
         source: str = "", library_arguments: dict | None = None, **options: object) -> Rule:
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
        sparse: its torch class takes sparse gradients (SparseAdam); the rule is the update of each
            element a gradient touches, and runners pass torch gradients that touch every element.
        source: the package, with its version, whose semantics the rule follows (``"optax 0.2.8"``):
            what ``symopt list`` shows; defaults to torch's when the rule names a torch class.
        library_arguments: keyword arguments ``library``'s class is always built with, where its default
            is another rule than this one (timm's ``Lamb(max_grad_norm=None)``: its default clips the
            gradients by their global norm over every parameter, which no per-tensor rule expresses);
            :data:`PARAMETERS_DTYPE` stands for the dtype of the parameters of each run.
        **options: the structural options the rule was built with (how a library's class takes
            each, where not by its name and value, is its annotation's :class:`LibraryKeyword`).

    Raises:
        SymoptError: in one line naming the problem, for anything outside the contract every rule
            keeps (:func:`check_contract`): an operation outside :mod:`symopt.ops`, a scalar state
            that depends on an array, two hyperparameters sharing a keyword, library keywords
            declared inconsistently, a name or text that does not print in LaTeX and ASCII, or a
            symbol that collides with one of symopt's.
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
        sparse=sparse,
        source=source or (TORCH_SOURCE if torch else ""),
        library_arguments=tuple(sorted((library_arguments or {}).items())),
    )
    _validate(made)
    check_contract(made)
    return made


_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


def check_contract(made: Rule) -> None:
    """The contract every rule keeps, checked when it is built so that a contributor learns of a
    violation from a one-line error, not from a failing derivation or document:

    - its name is a spec name (letters, digits, ``_`` and ``-``, starting with a letter) and its
      summary, reference and the docs of its hyperparameters and states are one printable line
      each, with no character the printers cannot write in ASCII (:func:`symopt.terminal.ascii_notation`)
      and LaTeX; state names are identifiers (a kernel's state keys);
    - each hyperparameter's library keyword (:attr:`Hyper.library`) is declared consistently: an
      identifier, or ``(keyword, position)`` with the positions of one tuple keyword distinct and
      contiguous from 0, and no keyword both a tuple's and a plain one's;
    - no symbol of it takes a name :mod:`symopt.symbols` declares without being that symbol (two
      symbols of one name and different assumptions print alike and never cancel), nor the effective
      weight decay's (``lamda_eff``...). The derivations' own quantities (a curvature ``a``, the
      variable ``z``...) are private symbols (:mod:`symopt.derive.base`): a rule may name its own so.

    Raises:
        SymoptError: naming the rule and the problem.
    """
    from symopt import terminal
    from symopt.errors import SymoptError

    name = made.name
    if not isinstance(name, str) or not name or not name[0].isalpha() or not set(name) <= _NAME_CHARACTERS:
        raise SymoptError(f"a rule's name is letters, digits, '_' and '-', starting with a letter: not {name!r}")

    def printable(what: str, text: str) -> None:
        if not isinstance(text, str):
            raise SymoptError(f"{name}: its {what} must be a line of text, not {text!r}")
        for char in text:
            if not char.isprintable():
                raise SymoptError(f"{name}: its {what} holds {char!r}: it must be one printable line")
            if not char.isascii() and terminal.ascii_notation(char) == "?":
                raise SymoptError(f"{name}: its {what} holds {char!r} (U+{ord(char):04X}), which symopt cannot "
                                  "print in ASCII or LaTeX: write it in ASCII or as a Greek letter")

    printable("summary", made.summary)
    printable("reference", made.reference)
    for h in made.hypers:
        printable(f"hyperparameter {h.name}'s doc", h.doc)
        if not h.name.isidentifier():
            raise SymoptError(f"{name}: the hyperparameter name {h.name!r} is not an identifier (a kernel's keyword)")
    for state in made.states:
        printable(f"state {state.name}'s doc", state.doc)
        if not state.name.isidentifier():
            raise SymoptError(f"{name}: the state name {state.name!r} is not an identifier (a kernel's state key)")
    _check_library_keywords(made)
    _check_symbols(made)


def _check_library_keywords(made: Rule) -> None:
    from symopt.errors import SymoptError

    plain: dict[str, str] = {}
    tuples: dict[str, dict[int, str]] = {}
    for h in made.hypers:
        library = h.library
        if library is None:
            keyword = h.name
        elif isinstance(library, str) and library.isidentifier():
            keyword = library
        elif (isinstance(library, tuple) and len(library) == 2 and isinstance(library[0], str)
              and library[0].isidentifier() and isinstance(library[1], int) and not isinstance(library[1], bool)
              and library[1] >= 0):
            keyword, position = library
            if position in tuples.setdefault(keyword, {}):
                raise SymoptError(f"{made.name}: {h.name} and {tuples[keyword][position]} both declare position "
                                  f"{position} of the library keyword {keyword}")
            tuples[keyword][position] = h.name
            continue
        else:
            raise SymoptError(f"{made.name}: {h.name} declares its library keyword as {library!r}: give a keyword "
                              "(a string) or a tuple keyword and a position, e.g. ('betas', 0)")
        if keyword in plain:
            raise SymoptError(f"{made.name}: {h.name} and {plain[keyword]} both declare the library keyword {keyword}")
        plain[keyword] = h.name
    for keyword, positions in tuples.items():
        if keyword in plain:
            raise SymoptError(f"{made.name}: {keyword} is declared both as a tuple keyword and as {plain[keyword]}'s "
                              "own keyword")
        if sorted(positions) != list(range(len(positions))):
            raise SymoptError(f"{made.name}: the positions of the library keyword {keyword} are "
                              f"{sorted(positions)}: they must run from 0 without a gap")


@functools.cache
def _declared_names() -> dict[str, sp.Symbol]:
    """Every symbol :mod:`symopt.symbols` declares, by name."""
    return {value.name: value for value in vars(S).values() if isinstance(value, sp.Symbol)}


def _check_symbols(made: Rule) -> None:
    from symopt.errors import SymoptError

    used = {h.symbol for h in made.hypers} | {s for state in made.states for s in (state.new, state.prev)}
    for eq in made.equations:
        used |= {eq.lhs, *eq.rhs.free_symbols}
    declared = _declared_names()
    for symbol in sorted(used, key=str):
        if symbol.name.startswith("lamda_eff"):
            raise SymoptError(f"{made.name}: the symbol {symbol.name} is reserved for the effective weight decay "
                              "derivation: give yours another name")
        known = declared.get(symbol.name)
        if known is not None and known != symbol:  # equal, not identical: SymPy's cache may hand out a copy
            raise SymoptError(f"{made.name}: its symbol {symbol.name} has other assumptions than symopt's "
                              f"{symbol.name} ({_assumptions(symbol)} against {_assumptions(known)}): the two "
                              "would print alike and never cancel; use symopt.symbols' one or another name")


def _assumptions(symbol: sp.Symbol) -> str:
    return ", ".join(sorted(k for k, v in symbol.assumptions0.items() if v and k in
                            ("real", "positive", "nonnegative", "integer", "commutative"))) or "none"


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
        try:
            ops.check(eq.rhs, f"{name}, {eq.lhs} = ...")
        except SymoptError as exc:  # SymPy may have rewritten what was written: say so
            raise SymoptError(f"{exc}; SymPy rewrites some functions as they are built (atan2(y, x) with x > 0 "
                              "becomes atan(y/x)): build the operation the table has unevaluated "
                              "(evaluate=False) or add one to the table") from None
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


@dataclass(frozen=True)
class OnlyWith:
    """A structural option that exists only where other options take given values: metadata of the
    option's annotation. ``cautious: Annotated[bool, OnlyWith(convention=("timm",))]`` takes a value
    other than its default only with ``convention="timm"``: :func:`symopt.optimizers.variants` does not
    list the other combinations, and :func:`symopt.optimizers.get` refuses them in one line.

    Example:
        >>> OnlyWith(convention=("timm",)).allows({"convention": "optax"}), OnlyWith(convention="timm").requires
        (False, (('convention', ('timm',)),))
    """

    requires: tuple[tuple[str, tuple], ...]

    def __init__(self, **requires: object):
        object.__setattr__(self, "requires", tuple(
            (key, tuple(value) if isinstance(value, (tuple, list)) else (value,)) for key, value in requires.items()))

    def allows(self, chosen: dict) -> bool:
        """Whether the other options ``chosen`` (every option's value) let the option leave its default."""
        return all(any(chosen.get(key) == v and type(chosen.get(key)) is type(v) for v in values)
                   for key, values in self.requires)

    def text(self) -> str:
        """``convention='timm'``: what the option needs, as a spec writes it."""
        return " and ".join(f"{key}=" + " or ".join(map(repr, values)) for key, values in self.requires)
