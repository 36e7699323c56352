"""NumPy kernels compiled from a rule's equations.

Nothing here knows any optimizer. A kernel compiles the rule's :meth:`~symopt.core.Rule.step_map`
(the equations resolved into the new parameter and state) in three stages:

1. *specialise*: the branches on the step counter (torch's undampened first momentum step) are
   chosen, and a hyperparameter that torch leaves out when it is 0 (``Hyper.skip_when_zero``:
   weight decay) is set to 0, so that each combination gets straight-line code, compiled on first
   use;
2. *hoist and share*: every subexpression of the step counter and hyperparameters alone
   (``η/(1 - β₁ᵗ)``) is computed once per step as a Python float by a function made with SymPy's
   ``lambdify``; common array subexpressions are found with SymPy's ``cse``;
3. *emit*: the array expressions become NumPy ufunc calls that write into ``out=`` buffers, chosen
   by a liveness pass so that a buffer is reused as soon as its value is dead. Expression-at-a-time
   NumPy code (what ``lambdify`` prints) allocates a new array per operation, which measured 2.1-3.4×
   slower than in-place NumPy on 10⁶-10⁷ parameters (see ``benchmarks/``).

Python floats matter: NumPy keeps ``float32_array * python_float`` in float32, while a NumPy
float64 scalar promotes the result, so scalars are computed with ``math``, never ``numpy``.
"""

from __future__ import annotations

import math
import numbers
import threading
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from symopt import ops
from symopt import symbols as S
from symopt.backends import BACKENDS
from symopt.core import Rule
from symopt.errors import SymoptError, UnknownNameError



# --- stage 2: hoisting ---------------------------------------------------------------------------
def hoist_scalars(exprs: list[sp.Expr], scalars: set[sp.Symbol]) -> tuple[list[tuple[sp.Symbol, sp.Expr]], list[sp.Expr]]:
    """Replace each maximal subexpression of ``scalars`` alone by a new symbol ``c0, c1, ...``.

    In a product the scalar factors are gathered (``η m/(1 - β₁ᵗ)`` becomes ``c0 m``), and in a sum
    the terms with the same array part are collected (``θ - ηλθ`` becomes ``c1 θ``), so that each
    array is touched as few times as possible.

    Returns:
        ``(definitions, reduced)``: the new symbols with their scalar expressions, and ``exprs``
        rewritten in terms of them.
    """
    names = sp.numbered_symbols("c")
    found: dict[sp.Expr, sp.Symbol] = {}

    def is_scalar(e: sp.Expr) -> bool:
        return e.free_symbols <= scalars

    def name(e: sp.Expr) -> sp.Expr:
        if e.is_Atom:
            return e
        if e not in found:
            found[e] = next(names)
        return found[e]

    def split(term: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        factors = sp.Mul.make_args(term)
        return (sp.Mul(*(f for f in factors if is_scalar(f))), sp.Mul(*(f for f in factors if not is_scalar(f))))

    def visit(e: sp.Expr) -> sp.Expr:
        if e.is_Atom:
            return e
        if is_scalar(e):
            return name(e)
        if e.is_Add:
            groups: dict[sp.Expr, list[sp.Expr]] = {}
            for term in e.args:
                coefficient, array = split(term)
                groups.setdefault(array, []).append(coefficient)
            return sp.Add(*(name(sp.Add(*c)) * visit(array) for array, c in groups.items()))
        if e.is_Mul:
            coefficient, array = split(e)
            return name(coefficient) * sp.Mul(*(visit(a) for a in sp.Mul.make_args(array)))
        return e.func(*(visit(a) for a in e.args))

    reduced = [visit(e) for e in exprs]
    return [(symbol, expr) for expr, symbol in found.items()], reduced


# --- stage 3: emitting ---------------------------------------------------------------------------
@dataclass
class _Op:
    func: str  # a NumPy ufunc, or "copyto", or the name of a whole-tensor operation (``whole``)
    args: list  # operands: an int (an array value) or a str (a scalar's code)
    out: int  # the array value it produces
    whole: bool = False  # an operation on whole tensors (symopt.ops): it returns a new array


class _Lowering:
    """Turns array expressions into a list of ufunc operations on numbered values."""

    def __init__(self, arrays: dict[sp.Symbol, int], scalars: set[sp.Symbol]):
        self.ops: list[_Op] = []
        self.env: dict[sp.Expr, int | str] = dict(arrays)
        self.scalars = scalars
        self.count = len(arrays)

    def op(self, func: str, *args, whole: bool = False) -> int:
        out = self.count
        self.count += 1
        self.ops.append(_Op(func, list(args), out, whole))
        return out

    def value(self, e: sp.Expr) -> int | str:
        if e in self.env:
            return self.env[e]
        if e.is_Number:
            return repr(float(e))
        if e.free_symbols <= self.scalars:
            if not e.is_Symbol:
                raise AssertionError(f"scalar subexpression {e} was not hoisted")
            return e.name
        if e.is_Add:
            result = self._fold(e.args)
        elif e.is_Mul:
            result = self._product(e)
        elif e.is_Pow:
            result = self._power(e)
        else:
            operation = ops.lookup(e)
            if operation is not None and operation.array is not None:
                self.env[e] = self.op(operation.sympy.__name__, *(self.value(a) for a in e.args), whole=True)
                return self.env[e]
            if operation is None or operation.numpy is None:
                raise SymoptError(f"cannot compile {e.func.__name__} to NumPy: it is not an array operation "
                                  "of symopt's operation table (symopt.ops)")
            ufunc = getattr(np, operation.numpy)
            args = [self.value(a) for a in e.args]
            result = args[0] if ufunc.nin == 2 else None
            if ufunc.nin == 1:
                result = self.op(operation.numpy, *args)
            else:  # a binary ufunc, folded over more arguments: max(a, b, c) = max(max(a, b), c)
                for arg in args[1:]:
                    result = self.op(operation.numpy, result, arg)
        self.env[e] = result
        return result

    def _fold(self, terms) -> int:
        arrays = [t for t in terms if not t.free_symbols <= self.scalars]
        constants = [t for t in terms if t.free_symbols <= self.scalars]
        acc = self.value(arrays[0])
        for term in arrays[1:]:
            if term.could_extract_minus_sign() and term.is_Mul and term.args[0] == -1:
                acc = self.op("subtract", acc, self.value(-term))
            else:
                acc = self.op("add", acc, self.value(term))
        for constant in constants:
            acc = self.op("add", acc, self.value(constant))
        return acc

    def _product(self, e: sp.Expr) -> int:
        numer, denom, scalar = [], [], []
        for factor in e.args:
            if factor.free_symbols <= self.scalars:
                scalar.append(factor)
            elif factor.is_Pow and factor.exp.is_negative and factor.exp.is_Rational:
                denom.append(factor.base ** -factor.exp)
            else:
                numer.append(factor)
        acc = self.value(numer[0]) if numer else None
        for factor in numer[1:]:
            acc = self.op("multiply", acc, self.value(factor))
        for factor in scalar:
            acc = self.op("multiply", acc, self.value(factor)) if acc is not None else self.value(factor)
        for factor in denom:
            acc = self.op("divide", "1.0" if acc is None else acc, self.value(factor))
        return acc

    def _power(self, e: sp.Expr) -> int:
        base, exp = e.args
        if exp.is_negative:
            return self.op("divide", "1.0", self.value(base**-exp))
        if exp == 2:
            return self.op("square", self.value(base))
        if exp == sp.S.Half:
            return self.op("sqrt", self.value(base))
        return self.op("power", self.value(base), self.value(exp))


def _allocate(ops: list[_Op], arrays: list[str], outputs: list[int], inplace: bool, aliases: list[int]):
    """Give every value a buffer: an input, an output, or a scratch array, reusing buffers early.

    A value may live in an output's buffer ("home") until that output's own value is written, and
    in place mode a home is the input array it replaces, usable once that input is read for the last
    time. An operation writes, where it can, into the buffer of an operand that dies with it, which
    NumPy does elementwise in place.

    Args:
        ops: the operations, in order.
        arrays: names of the input arrays (value i is ``arrays[i]``).
        outputs: the value each output ends as.
        inplace: outputs go into the input arrays ``aliases`` (else into fresh ``out`` arrays).
        aliases: for each output, the input value it replaces.

    Returns:
        ``(buffers, copies, n_scratch, homes)``: value -> buffer name, the (output, value) pairs
        that need a copy at the end, the number of scratch arrays, and each output's buffer.
    """
    n_inputs = len(arrays)
    last_use: dict[int, int] = {}
    made: dict[int, int] = {}
    for i, op in enumerate(ops):
        made[op.out] = i
        for a in op.args:
            if isinstance(a, int):
                last_use[a] = i
    end = len(ops)
    for v in outputs:
        last_use[v] = end
    homes = [arrays[a] if inplace else f"out{k}" for k, a in enumerate(aliases)]
    pinned: dict[int, int] = {}
    for k, v in enumerate(outputs):
        if v >= n_inputs and v not in pinned:
            pinned[v] = k
    # A home is free from `opens` (inplace: after its input's last read) until its value is made.
    opens = {homes[k]: (last_use.get(aliases[k], -1) if inplace else -1) for k in range(len(homes))}
    deadline = {homes[k]: made[v] for v, k in pinned.items()}
    busy: dict[str, int] = {name: last_use.get(i, -1) for i, name in enumerate(arrays)}
    buffers: dict[int, str] = {i: name for i, name in enumerate(arrays)}
    scratch = 0

    def usable(buffer: str, i: int, v: int) -> bool:
        if busy.get(buffer, -1) > i:
            return False
        if buffer in opens:
            return opens[buffer] <= i and last_use[v] <= deadline.get(buffer, -1)
        return buffer.startswith("scratch")

    for i, op in enumerate(ops):
        v = op.out
        k = pinned.get(v)
        if k is not None and busy.get(homes[k], -1) <= i and opens[homes[k]] <= i:
            choice = homes[k]
        else:
            pinned.pop(v, None)
            dying = [buffers[a] for a in op.args if isinstance(a, int) and last_use[a] == i]
            candidates = dying + list(opens) + sorted(b for b in busy if b.startswith("scratch"))
            choice = next((b for b in candidates if usable(b, i, v)), None)
            if choice is None:
                choice = f"scratch[{scratch}]"
                scratch += 1
        buffers[v] = choice
        busy[choice] = last_use.get(v, i)
    copies = [(k, v) for k, v in enumerate(outputs) if buffers[v] != homes[k]]
    return buffers, copies, scratch, homes


@dataclass(frozen=True)
class _Program:
    """One specialisation of a kernel: its scalar function, its array function, and their source."""

    scalars: object
    arrays: object
    source: str
    n_scratch: int


def _emit_plain(rule: Rule, lowered_ops: list, names: list[str], outputs: list[int], inplace: bool,
                rounding: str | None) -> tuple[list[str], str, dict]:
    """Straight-line code with one new array per operation, for rules on whole tensors: their values
    are not all shaped like the parameters (a Gram matrix, a row of column means), so the buffers of
    :func:`_allocate` do not apply; the matrix products dominate the cost there anyway."""
    def operand(a):
        return (names[a] if a < len(names) else f"v{a}") if isinstance(a, int) else a

    body = [f"v{op.out} = {op.func if op.whole else 'numpy.' + op.func}({', '.join(map(operand, op.args))})"
            for op in lowered_ops]
    dtype = f"{names[0]}.dtype"
    homes = [names[0], *names[2:]]
    if inplace:
        body += [f"numpy.copyto({homes[k]}, {operand(v)})" for k, v in enumerate(outputs)]
        outs = "".join(f"{h}, " for h in homes)
    else:  # a copy for an output that is an input unchanged (a state the branch taken does not use)
        outs = "".join(f"numpy.array({operand(v)}, dtype={dtype}, copy={True if isinstance(v, int) and v < len(names) else None}), "
                       for v in outputs)
    return body, outs, ops.namespace(rounding)


@dataclass(frozen=True)
class Lowered:
    """A specialisation's straight-line program, before any backend emits it.

    ``definitions`` are the hoisted scalars (``c0 = η/(1 - β₁ᵗ)``...), ``ops`` the array operations
    on numbered values (an ``int`` operand is a value, a ``str`` a scalar's name or a number), and
    ``outputs`` the value each output ends as: the new parameter, then each array state's.
    """

    inputs: list  # θ_{t-1}, g_t, then each array state's previous symbol: values 0, 1, 2...
    scalar_args: list
    definitions: list
    ops: list
    outputs: list


def lower(rule: Rule, exprs: list[sp.Expr]) -> Lowered:
    """Hoist the scalars of ``exprs`` (the new parameter and array states), share their common
    subexpressions, and lower them to a list of elementwise operations (:class:`_Op`)."""
    scalar_args = _scalar_arguments(rule)
    scalars = set(scalar_args)
    definitions, reduced = hoist_scalars(exprs, scalars)
    common, reduced = sp.cse(reduced, symbols=sp.numbered_symbols("x"), order="none")
    constants = [symbol for symbol, _ in definitions]
    scalar_names = {*scalars, *constants}

    inputs = [S.theta_prev, S.g, *(s.prev for s in rule.arrays)]
    lowering = _Lowering({symbol: i for i, symbol in enumerate(inputs)}, scalar_names)
    for symbol, expr in common:
        lowering.env[symbol] = lowering.value(expr)
    outputs = [lowering.value(e) for e in reduced]
    if any(isinstance(o, str) for o in outputs):
        raise SymoptError(f"{rule.name}: an output does not depend on the arrays")
    return Lowered(inputs, scalar_args, definitions, lowering.ops, outputs)


def scalar_function(lowered: Lowered):
    """The function of the step counter, hyperparameters and scalar states that computes the hoisted
    scalars, as Python floats."""
    return sp.lambdify(lowered.scalar_args, [e for _, e in lowered.definitions], modules="math", cse=True)


def _emit(rule: Rule, exprs: list[sp.Expr], inplace: bool, rounding: str | None = None) -> _Program:
    lowered = lower(rule, exprs)
    inputs, scalar_args, outputs = lowered.inputs, lowered.scalar_args, lowered.outputs
    constants = [symbol for symbol, _ in lowered.definitions]
    names = [s.name for s in inputs]
    namespace: dict = {"numpy": np}
    n_outs = 1 + len(rule.arrays)
    if _on_whole_tensors(rule):
        body, outs, lowerings = _emit_plain(rule, lowered.ops, names, outputs, inplace, rounding)
        namespace.update(lowerings)
        n_scratch = -1  # no buffers: the outputs are new arrays
    else:
        aliases = [0, *range(2, 2 + len(rule.arrays))]
        buffers, copies, n_scratch, homes = _allocate(lowered.ops, names, outputs, inplace, aliases)

        def operand(a):
            return buffers[a] if isinstance(a, int) else a

        body = [f"numpy.{op.func}({', '.join(operand(a) for a in op.args)}, out={buffers[op.out]})"
                for op in lowered.ops]
        body += [f"numpy.copyto({homes[k]}, {buffers[v]})" for k, v in copies]
        outs = "".join(f"{h}, " for h in homes)  # always a tuple, even for one output
    args = ", ".join([*names, *(s.name for s in constants), *(a.name for a in scalar_args),
                      *([] if inplace else [f"out{k}" for k in range(n_outs)]), "scratch"])
    source = f"def step({args}):\n" + "".join(f"    {line}\n" for line in body) + f"    return ({outs.rstrip()})\n"
    exec(compile(source, f"<symopt kernel {rule.name}>", "exec"), namespace)  # source made from the rule only
    return _Program(scalar_function(lowered), namespace["step"], source, n_scratch)


def _scalar_arguments(rule: Rule) -> list[sp.Symbol]:
    """What a step's scalars are computed from: t, the hyperparameters, the scalar states before it,
    and the shape scalars the rule names (rows A, columns B...), read from the parameters' shape."""
    return [S.t, *(h.symbol for h in rule.hypers), *(s.prev for s in rule.scalars), *rule.shape_symbols]


def _on_whole_tensors(rule: Rule) -> bool:
    """Whether a rule uses an operation on whole tensors or keeps a state not shaped like θ."""
    return any(s.shape != "param" for s in rule.arrays) or any(ops.whole_tensor(eq.rhs) for eq in rule.equations)


def _shape_arguments(rule: Rule, shape: tuple[int, ...]) -> list[int]:
    if not rule.shape_symbols:  # elementwise rules: none, and this runs on every step
        return []
    values = S.shape_values(shape)
    return [values[symbol] for symbol in rule.shape_symbols]


# Step counts are exact in float64 up to 2**53, and torch keeps them as floats.
MAX_STEP = 2**53


# --- the kernel ----------------------------------------------------------------------------------
@dataclass
class Kernel:
    """A rule compiled to NumPy: ``init(params)`` and ``step(params, grads, state, t, **hyper)``.

    A kernel keeps scratch arrays between calls (one set per thread, shape and dtype), like an
    optimizer's workspace; at most a few arrays the size of the parameters.

    Example:
        >>> import numpy as np, symopt
        >>> kernel = symopt.get("adamw").kernel()
        >>> params = np.ones(3)
        >>> state = kernel.init(params)
        >>> params, state = kernel.step(params, np.array([0.1, -0.2, 0.3]), state, t=1, lr=1e-2)
        >>> params.round(4)
        array([0.9899, 1.0099, 0.9899])
    """

    rule: Rule
    rounding: str | None = None  # "bfloat16": round where torch computes in bfloat16 (symopt.ops)
    _outputs: list = field(init=False, repr=False)
    _conditions: list = field(init=False, repr=False)
    _skip: list = field(init=False, repr=False)
    _programs: dict = field(init=False, repr=False, default_factory=dict)
    _local: threading.local = field(init=False, repr=False, default_factory=threading.local)

    def __post_init__(self):
        ops._rounder(self.rounding)  # an unknown rounding fails here, naming the valid ones
        outputs = self.rule.step_map()
        self._outputs = [outputs[S.theta], *(outputs[s.new] for s in self.rule.arrays)]
        conditions = {c for e in self._outputs for p in e.atoms(sp.Piecewise) for _, c in p.args if c is not sp.true}
        self._conditions = sorted(conditions, key=sp.default_sort_key)
        self._skip = [i for i, h in enumerate(self.rule.hypers) if h.skip_when_zero]
        arguments = _scalar_arguments(self.rule)
        self._test = sp.lambdify(arguments, self._conditions, modules="math")
        self._advance = sp.lambdify(arguments, [outputs[s.new] for s in self.rule.scalars], modules="math")
        # θ₀ (a state that starts as a copy of the parameters) is filled in by init
        self._start = sp.lambdify([h.symbol for h in self.rule.hypers],
                                  [s.init.xreplace({S.theta0: 0}) for s in self.rule.states], modules="math")

    def init(self, params, **hyper) -> dict[str, np.ndarray | float]:
        """The state before the first step: each variable at its initial value, shaped like params
        (a Python float for a scalar state such as NAdam's μ product).

        Args:
            params: the parameters.
            **hyper: hyperparameters a state starts from (Adagrad's ``initial_accumulator_value``);
                the others are accepted and ignored, so that ``init`` and ``step`` take the same ones.
        """
        params = _as_params(params)
        self.rule.check_shape(params.shape)
        starts = self._start(*self.hyperparameters(**hyper))
        return {s.name: float(v) if s.scalar else empty_aligned(s.shape_of(params.shape), params.dtype,
                                                                 params if s.init == S.theta0 else float(v))
                for s, v in zip(self.rule.states, starts)}

    def eval_params(self, params, state: dict) -> np.ndarray:
        """What to evaluate the model at: the parameters, or the state that holds that point when the
        parameters hold another (Schedule-Free's x; the parameters hold y, where gradients are taken,
        as the ``schedulefree`` package's ``eval()`` swaps them).

        Example:
            >>> import numpy as np, symopt
            >>> kernel = symopt.get("schedule-free-sgd").kernel()
            >>> params = np.ones(2)
            >>> state = kernel.init(params)
            >>> params, state = kernel.step(params, np.array([1.0, -1.0]), state, t=1, lr=0.1)
            >>> kernel.eval_params(params, state)
            array([0.9, 1.1])
        """
        if not self.rule.evaluate:
            return _as_params(params)
        if not isinstance(state, dict) or self.rule.evaluate not in state:
            raise SymoptError(f"state has no {self.rule.evaluate!r}: pass the state of the last step")
        return np.asarray(state[self.rule.evaluate])

    def step(self, params, grads, state: dict, t: int, *, inplace: bool = False, **hyper):
        """Take step ``t`` (counting from 1).

        Args:
            params: the parameters, a floating-point array of any shape.
            grads: the gradient, the same shape (cast to params' dtype).
            state: the dict from :meth:`init` or the previous step.
            t: the step number, an integer ≥ 1.
            inplace: write the results into ``params`` and the state's arrays, put the new scalar
                states (NAdam's μ product) into the ``state`` dict, and return them.
            **hyper: hyperparameters by torch.optim's names (``lr``, ``beta1``, ...); each
                defaults to the rule's default.

        Returns:
            ``(params, state)``: new arrays, unless ``inplace``.

        Raises:
            SymoptError: for mismatched shapes, a missing state variable, t < 1, or an unknown or
                out-of-range hyperparameter (the message names it and its valid range).
        """
        if inplace and not isinstance(params, np.ndarray):
            raise SymoptError("inplace=True needs params to be a NumPy array (it is written into)")
        params = _as_params(params)
        if grads.dtype.kind == "c" if isinstance(grads, np.ndarray) else np.iscomplexobj(grads):
            raise SymoptError("grads must be real: a complex gradient would lose its imaginary part")
        _not_masked(grads, "grads")
        try:
            grads = np.asarray(grads, dtype=params.dtype)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SymoptError(f"grads must be an array of real numbers: {exc}") from None
        if grads.shape != params.shape:
            raise SymoptError(f"grads has shape {grads.shape} but params has shape {params.shape}")
        self.rule.check_shape(params.shape)
        if not isinstance(state, dict):
            raise SymoptError("state must be the dict returned by kernel.init(params) or by the last step")
        previous, scalars = [], []
        for s in self.rule.states:
            if s.name not in state:
                raise SymoptError(f"state has no {s.name!r}: start from kernel.init(params)")
            if s.scalar:
                value = state[s.name]
                if isinstance(value, bool) or not isinstance(value, numbers.Real):
                    raise SymoptError(f"state[{s.name!r}] must be a real number, not {value!r}")
                try:
                    scalars.append(float(value))
                except OverflowError:
                    raise SymoptError(f"state[{s.name!r}] is too large for a float") from None
                continue
            _not_masked(state[s.name], f"state[{s.name!r}]")
            if inplace and isinstance(state[s.name], np.ndarray) and state[s.name].dtype != params.dtype:
                raise SymoptError(f"inplace=True writes into state[{s.name!r}], which is {state[s.name].dtype}, "
                                  f"not params' {params.dtype}: start from kernel.init(params), or step without inplace")
            try:
                value = np.asarray(state[s.name], dtype=params.dtype)
            except (TypeError, ValueError, OverflowError) as exc:
                raise SymoptError(f"state[{s.name!r}] must be an array of real numbers: "
                                  f"{' '.join(str(exc).split())}") from None
            if value.shape != s.shape_of(params.shape):
                expected = "" if s.shape == "param" else f" (it must be {s.shape_of(params.shape)})"
                raise SymoptError(f"state[{s.name!r}] has shape {value.shape} but params has shape "
                                  f"{params.shape}{expected}")
            previous.append(value)
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 1 <= t <= MAX_STEP:
            raise SymoptError(f"t must be an integer from 1 to 2**53 (the step being taken), not {t!r}")
        t = int(t)
        values = self.hyperparameters(**hyper)
        arrays = [params, grads, *previous]
        array_states = self.rule.arrays
        if inplace:
            targets = [params, *previous]
            if any(not isinstance(a, np.ndarray) or not a.flags.writeable for a in [params, *(state[s.name] for s in array_states)]):
                raise SymoptError("inplace=True needs params and the state's values to be writeable NumPy arrays")
            if any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1:] if a.size):
                raise SymoptError("inplace=True needs params, grads and each state array to be separate arrays")
        arguments = [t, *values, *scalars, *_shape_arguments(self.rule, params.shape)]
        program, constants, advanced = self._scalars(arguments, inplace)
        scratch = self._scratch(params, max(0, program.n_scratch))
        # NaN and inf propagate without warnings, as in torch.optim.
        with np.errstate(all="ignore"):
            if inplace:  # the arrays are written into, and the dict takes the new scalar states
                program.arrays(*arrays, *constants, *arguments, scratch)
                state.update({s.name: a for s, a in zip(array_states, targets[1:])}, **advanced)
                return params, state
            outs = [None if program.n_scratch < 0 else empty_aligned(params.shape, params.dtype) for _ in range(1 + len(array_states))]
            new_params, *new_state = program.arrays(*arrays, *constants, *arguments, *outs, scratch)
        return new_params, {**state, **{s.name: a for s, a in zip(array_states, new_state)}, **advanced}

    def _scalars(self, arguments: list[float], inplace: bool) -> tuple[_Program, list, dict[str, float]]:
        """The program for ``arguments``, its hoisted scalars, and the new scalar states.

        Raises:
            SymoptError: when Python's ``math`` overflows on them (Schedule-Free's t**r with a huge r),
                where NumPy would give inf: one line, not an OverflowError.
        """
        try:
            program = self._program(arguments, inplace)
            constants = program.scalars(*arguments)
            advanced = {s.name: float(v) for s, v in zip(self.rule.scalars, self._advance(*arguments))}
        except SymoptError:
            raise
        except (OverflowError, ZeroDivisionError, ValueError):
            raise SymoptError(f"{self.rule.name}: the step's scalars overflow a float at t = {arguments[0]} with "
                              "these hyperparameters") from None
        return program, constants, advanced

    def hyperparameters(self, **hyper) -> list[float]:
        """The hyperparameter values in the rule's order, defaults filled in, each range-checked."""
        known = {h.name: h for h in self.rule.hypers}
        for key in hyper:
            if key not in known:
                raise UnknownNameError(f"{self.rule.name} hyperparameter", key, known)
        values = []
        for h in self.rule.hypers:
            value = hyper.get(h.name, h.default)
            if type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
                raise SymoptError(f"{h.name} must be a real number in {h.range_text()}, not {value!r}")
            try:
                value = float(value)
            except OverflowError:
                raise SymoptError(f"{h.name} must be in {h.range_text()}, got a number too large for a float") from None
            if not h.contains(value):
                raise SymoptError(f"{h.name} must be in {h.range_text()}, got {value!r}")
            values.append(value)
        return values

    def source(self, t: int = 2, *, inplace: bool = False, shape: tuple[int, ...] = (2, 2), **hyper) -> str:
        """The generated code of the array function used for step ``t`` with these hyperparameters
        (scalar states at their initial values), for parameters of ``shape`` where the rule reads it."""
        values = self.hyperparameters(**hyper)
        starts = [float(v) for s, v in zip(self.rule.states, self._start(*values)) if s.scalar]
        return self._program([t, *values, *starts, *_shape_arguments(self.rule, shape)], inplace).source

    def _program(self, arguments: list[float], inplace: bool) -> _Program:
        truth = tuple(bool(c) for c in self._test(*arguments))
        values = arguments[1:1 + len(self.rule.hypers)]
        zero = tuple(values[i] == 0 for i in self._skip)
        key = (truth, zero, inplace)
        if key not in self._programs:
            chosen = {c: sp.true if v else sp.false for c, v in zip(self._conditions, truth)}
            skipped = {self.rule.hypers[i].symbol: 0 for i, z in zip(self._skip, zero) if z}
            with ops.maxima_as_written():
                exprs = [e.xreplace(chosen).xreplace(skipped) for e in self._outputs]
                self._programs[key] = self._emit(exprs, inplace)
        return self._programs[key]

    def _emit(self, exprs: list[sp.Expr], inplace: bool) -> _Program:
        """Compile one specialisation (a backend overrides this; see :mod:`symopt.backends`)."""
        return _emit(self.rule, exprs, inplace, self.rounding)

    def _scratch(self, params: np.ndarray, n: int) -> list[np.ndarray]:
        cache = self._local.__dict__.setdefault("scratch", {})
        key = (params.shape, params.dtype.str)
        buffers = cache.get(key, [])
        if len(buffers) < n:
            cache.clear()  # keep one workspace per thread: the latest shape
            buffers = cache[key] = buffers + [empty_aligned(params.shape, params.dtype) for _ in range(n - len(buffers))]
        return buffers


CACHE_LINE = 64


def empty_aligned(shape, dtype, fill=None) -> np.ndarray:
    """A new C-contiguous array whose first element starts a 64-byte cache line, as torch's
    allocator places tensors (NumPy starts large arrays 16 bytes into one, where every other 32-byte
    vector load of a loop straddles two lines, and every 64-byte one); filled from ``fill`` if given.

    :meth:`Kernel.init` allocates the state this way, and the numba kernel its new arrays (the
    benchmark ``benchmarks/kernel_speed.py`` times the fused step on both placements; on this
    project's machine the difference is within 1.5%).

    Example:
        >>> import numpy as np
        >>> from symopt.kernel import empty_aligned
        >>> a = empty_aligned((1000, 1000), np.float32, 0.0)
        >>> a.ctypes.data % 64, a.shape, float(a.sum())
        (0, (1000, 1000), 0.0)
    """
    dtype = np.dtype(dtype)
    count = math.prod(shape)
    raw = np.empty(count * dtype.itemsize + CACHE_LINE, np.uint8)
    start = -raw.ctypes.data % CACHE_LINE
    out = raw[start:start + count * dtype.itemsize].view(dtype).reshape(shape)
    if fill is not None:
        out[...] = fill
    return out


def _not_masked(value, name: str) -> None:
    """A masked array would lose its mask (NumPy's asarray drops it): refused, not silently unmasked."""
    if isinstance(value, np.ma.MaskedArray):
        raise SymoptError(f"{name} is a masked array: its mask would be lost; pass {name}.filled(...) or its data")


def _as_params(params) -> np.ndarray:
    _not_masked(params, "params")
    try:
        params = np.asarray(params)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SymoptError(f"params must be an array of floating-point numbers: {' '.join(str(exc).split())}") from None
    if params.dtype.kind != "f":  # float16 to longdouble
        raise SymoptError(f"params must be a floating-point array, not {params.dtype}")
    return params


def compile_rule(rule: Rule, backend: str = "numpy", rounding: str | None = None) -> Kernel:
    """Compile ``rule`` into a :class:`Kernel` (use :meth:`Rule.kernel`)."""
    if backend not in BACKENDS:
        raise UnknownNameError("backend", backend, BACKENDS)
    if backend == "numba":
        if _on_whole_tensors(rule):
            raise SymoptError(f"{rule.name} works on whole tensors (matrix products, row and column means): "
                              "the numba backend runs elementwise rules only; use the NumPy kernel, rule.kernel()")
        if rounding is not None:
            raise SymoptError("the numba backend computes in the parameters' dtype: it has no rounding option")
        from symopt.backends.numba import NumbaKernel

        return NumbaKernel(rule)
    return Kernel(rule, rounding)
