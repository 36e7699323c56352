"""The step of a whole param group in one pass: every tensor of the group, in place, in one compiled loop.

A training step updates many tensors (a GPT-2-shaped model: 76, from a layer norm's 384 numbers to an
embedding's 3 million). Stepping them one by one costs a call, checks and a parallel launch per
tensor, and the small ones leave threads idle. :class:`GroupKernel` compiles each specialisation of
an elementwise rule (the lowering of :mod:`symopt.kernel`, printed by the numba backend's
:func:`~symopt.backends.numba.loop_body`: the same hoisted scalars, the same operations in the same
order on the same types, so the same bits as ``rule.kernel("numba")`` and the NumPy kernel) into one
loop over *chunks* of the group: a table of (tensor, start, stop) rows of at most ``chunk`` elements
(:data:`CHUNK`), so that threads share the work evenly whatever the tensors' sizes. Each chunk reaches
its arrays through a table of addresses (θ, g, then each array state, for each tensor): nothing is
copied or gathered, each element is read once and written once, and no temporary array is made.
The scalars (``η/(1 - β₁ᵗ)``...) are a table of one row per tensor, in the arrays' dtype.

What it takes: NumPy arrays, or CPU torch tensors (read through ``data_ptr()``, without importing torch
here: a CPU tensor's memory is what ``.numpy()`` shares); float32 and float64, one dtype for a tensor,
its gradient and its state, and several dtypes and any shapes in one group (one pass per dtype and
per specialisation: the step counter, and a scalar state such as NAdam's μ product, may differ
between tensors). A tensor whose arrays are dense with one layout (contiguous, or permuted like
torch's channels-last or a transposed matrix, the same for θ, g and the state) is stepped in the
pass; any other (a strided view, or a state laid out unlike its parameter, as NumPy's ``init`` makes
it for a transposed array) is stepped alone by the rule's per-tensor numba kernel, which copies it
in and out: the same numbers, at per-tensor speed.

What it keeps between steps: a torch optimizer's usual group (contiguous CPU tensors of one dtype, each
gradient and state shaped like its parameter, one step number) is read in five calls per tensor (its
address, shape, dtype, contiguity and device), and what follows from those (the checks, the table of
addresses, the chunks, the separation of each tensor's arrays) is kept under exactly them
(:meth:`GroupKernel._regular`): a parameter whose ``.data`` is replaced, a state resized in place or
replaced, a gradient laid out anew, is a new key, checked again. :class:`Counters` reads and writes the
optimizer's step counts through their addresses, in one call each.

Threads: as many as asked (``threads=``: the torch optimizer passes ``torch.get_num_threads()``, what
torch's fused step uses). Each thread takes the chunks one at a time, the next chunk no thread has
taken (a counter advanced atomically in the compiled loop), so that a thread that starts late or
that the system pauses leaves its chunks to the others instead of holding the step back. A group
too small to share (under :data:`SHARE` chunks a thread) runs on fewer. Which threads:

- a usual group of torch tensors, where torch runs its parallel loops on OpenMP (its wheels): torch's
  own threads, one ``GOMP_parallel`` call of the runtime torch's CPU library is linked with (libgomp
  on Linux, libomp on macOS) on a compiled function of the pass (:func:`team_source`), as torch's
  fused step does for each tensor. After the backward pass torch's threads are still spinning for the
  next parallel loop (libgomp, by default, spins up to 300,000 times before it sleeps): they start
  the pass at once, where a thread of another pool waits for that core (7 ms median, on this
  project's loaded 2-core machine);
- anything else (NumPy arrays, mixed groups, another torch): the calling thread and threads of this
  module (the compiled loop releases the GIL); the calling thread waits only for chunks being
  stepped, not for a thread that has not started.

Not numba's ``parallel=True``: its threading layer here is OpenMP from another copy of the runtime
(numba's extension links the system's libgomp, torch loads its own), whose threads spin as torch's
do, so that in one process each pool takes the cores from the other on a machine without spare ones
(see ``benchmarks/torch_step.py --per-tensor``).

Example (numba installed; the first call compiles, about a second):
    >>> import numpy as np, symopt
    >>> from symopt.backends.group import GroupKernel
    >>> kernel = GroupKernel(symopt.get("adamw"))
    >>> params = [np.ones(3), np.ones((2, 2))]
    >>> grads = [np.array([0.1, -0.2, 0.3]), np.full((2, 2), 0.5)]
    >>> states = [{}, {}]  # filled on the first step
    >>> kernel.step(params, grads, states, 1, lr=1e-2)
    >>> params[0].round(4), sorted(states[0])
    (array([0.9899, 1.0099, 0.9899]), ['m', 'v'])
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import numbers
import operator
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from symopt import cache
from symopt.backends.numba import DTYPES, _call, load, loop_body, require_numba
from symopt.core import Rule
from symopt.errors import SymoptError
from symopt.kernel import (
    MAX_STEP,
    Kernel,
    _on_whole_tensors,
    _Program,
    lower,
    scalar_function,
)

# Elements of one tensor a thread takes at a time: 128 KiB of each float32 array, large enough that a
# chunk's setup is nothing against its loop, small enough that two threads share a 14 M group evenly.
CHUNK = 1 << 15
# Chunks a thread must have to be worth waking (4 × 32 Ki elements, about a fifth of a millisecond of
# AdamW on one core): a smaller group runs on fewer threads, a group of small tensors on the calling
# thread alone.
SHARE = 4
# The usual groups (see GroupKernel._regular) a kernel keeps checked, by their tensors' addresses and
# layouts: one per param group and dtype of the optimizers that share it; forgotten all at once past this.
_KEPT = 64
# A pass's two counters, chunks taken and chunks done, each on its own cache line (int64s: 8 to a line).
_COUNTERS, _TAKEN, _DONE = 16, 0, 8
# How many times the calling thread looks at the chunks done, once none is left to take, before it
# waits for the worker threads' end (a look reads one cache line; a chunk takes tens of microseconds).
SPIN = 1 << 17
_MISSING = object()
_LOCK = threading.Lock()


def source(rule_name: str, lowered) -> tuple[str, list[str], list[float]]:
    """The module source of one specialisation's pass over a group, in place.

    ``step(addresses, chunks, numbers, counters, wait)``: ``addresses[k]`` holds tensor k's θ, g and
    array states' addresses, ``chunks[c]`` is (tensor, start, stop), and ``numbers[k]`` the scalars then
    the literals of tensor k, in the arrays' dtype (which also types the arrays: one source for float32
    and float64). Each thread running it takes the next chunk from ``counters[_TAKEN]`` (atomically)
    and counts it done in ``counters[_DONE]`` until none is left, then looks at most ``wait`` times
    for the others' chunks to be done; it returns the chunks done when it last looked.

    Returns:
        ``(source, scalars, literals)``, as :func:`symopt.backends.numba.source`.
    """
    arrays, body, scalars, literals = loop_body(rule_name, lowered, inplace=True)
    names = [*(f"s_{s}" for s in scalars), *(f"k{j}" for j in range(len(literals)))]
    lines = [
        f"# Generated by symopt from the rule {rule_name} (a param group, in place); do not edit.",
        "import numpy",
        "from numba import carray, njit, types",
        "from numba.core import cgutils",
        "from numba.extending import intrinsic",
        "",
        "",
        "@intrinsic",
        "def pointer(typingctx, address):",
        "    def codegen(context, builder, signature, args):",
        "        return builder.inttoptr(args[0], cgutils.voidptr_t)",
        "",
        "    return types.voidptr(types.int64), codegen",
        "",
        "",
        "@intrinsic",
        "def take(typingctx, counters, j):",
        "    # counters[j] += 1, atomically (every thread sees each number once); the number before",
        "    def codegen(context, builder, signature, args):",
        "        at = builder.gep(context.make_array(signature.args[0])(context, builder, args[0]).data, [args[1]])",
        '        return builder.atomic_rmw("add", at, context.get_constant(types.int64, 1), "acq_rel")',
        "",
        "    return types.int64(counters, types.int64), codegen",
        "",
        "",
        "@intrinsic",
        "def seen(typingctx, counters, j):",
        "    # counters[j], read atomically, with what the threads wrote before they counted",
        "    def codegen(context, builder, signature, args):",
        "        at = builder.gep(context.make_array(signature.args[0])(context, builder, args[0]).data, [args[1]])",
        '        return builder.load_atomic(at, "acquire", 8)',
        "",
        "    return types.int64(counters, types.int64), codegen",
        "",
        "",
        '@njit(cache=True, nogil=True, error_model="numpy")',
        "def step(addresses, chunks, numbers, counters, wait):",
        "    size = numbers.itemsize",
        "    total = chunks.shape[0]",
        f"    c = take(counters, {_TAKEN})",
        "    while c < total:",
        "        k = chunks[c, 0]",
        "        start = chunks[c, 1]",
        "        n = chunks[c, 2] - start",
        *(f"        {a} = carray(pointer(addresses[k, {j}] + start * size), n, numbers.dtype)"
          for j, a in enumerate(arrays)),
        *(f"        {name} = numbers[k, {j}]" for j, name in enumerate(names)),
        "        for i in range(n):",
        *(f"            {line}" for line in body),
        f"        take(counters, {_DONE})",
        f"        c = take(counters, {_TAKEN})",
        f"    done = seen(counters, {_DONE})",
        "    while done < total and wait > 0:",
        "        wait -= 1",
        f"        done = seen(counters, {_DONE})",
        "    return done",
        "",
    ]
    return "\n".join(lines), scalars, literals


def team_source(text: str, dtype: np.dtype) -> str:
    """The module source of a pass (``text``, from :func:`source`) on ``dtype`` arrays as a function an
    OpenMP team runs on each of its threads (``GOMP_parallel``'s ``void (*)(void *)``): ``team(frame)``
    reads the addresses and sizes of the pass's arrays from the eight numbers at ``frame``
    (:func:`_frame`) and runs the pass's ``step`` on them (taking chunks until none is left; the team's
    end waits for all of them)."""
    module = f"symopt_numba_{cache.digest(text.encode())}"
    return "\n".join([
        f"# Generated by symopt: the pass {module} over {dtype} arrays, run by each thread of an OpenMP team; do not edit.",
        "import numpy",
        "from numba import carray, cfunc, types",
        f"from {module} import pointer, step",
        "",
        "",
        "@cfunc(types.void(types.voidptr), cache=True)",
        "def team(frame):",
        "    f = carray(frame, 8, numpy.int64)",
        "    step(carray(pointer(f[0]), (f[1], f[2]), numpy.int64), carray(pointer(f[3]), (f[4], 3), numpy.int64),",
        f"         carray(pointer(f[5]), (f[1], f[6]), numpy.{dtype}), carray(pointer(f[7]), {_COUNTERS}, numpy.int64), 0)",
        "",
    ])


def _frame(addresses: np.ndarray, chunks: np.ndarray, table: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """What :func:`team_source`'s ``team`` reads: the arrays' addresses and sizes, as eight int64s."""
    def address(a):
        return a.__array_interface__["data"][0]

    return np.array([address(addresses), *addresses.shape, address(chunks), len(chunks), address(table), table.shape[1],
                     address(counters)], dtype=np.int64)


# Step counters (one number each, float32 or float64, anywhere in memory) read into, or written from, a
# float64 array, or advanced (each to its whole part plus one, the old numbers read): what a torch
# optimizer does with its parameters' ``step`` tensors, in one call rather than an ``item()`` and a
# ``fill_()`` each.
COUNTERS = """# Generated by symopt: step counters read or written through their addresses; do not edit.
from numba import carray, float32, float64, njit, types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def pointer(typingctx, address):
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return types.voidptr(types.int64), codegen


@njit(cache=True, nogil=True)
def step(addresses, wide, values, mode):
    # mode 0: read into values; 1: write values; 2: read into values, write each one's whole part + 1;
    # 3: if every counter holds one whole number from 0 to values[0] - 1, write it + 1 into each and
    # return it, else return -1 having written nothing
    if mode == 3:
        return same(addresses, wide, values[0])
    for i in range(addresses.size):
        if wide[i]:
            counter = carray(pointer(addresses[i]), 1, float64)
            if mode != 1:
                values[i] = counter[0]
            if mode == 1:
                counter[0] = values[i]
            elif mode == 2:
                counter[0] = int(values[i]) + 1.0
        else:
            single = carray(pointer(addresses[i]), 1, float32)
            if mode != 1:
                values[i] = single[0]
            if mode == 1:
                single[0] = float32(values[i])
            elif mode == 2:
                single[0] = float32(int(values[i]) + 1.0)
    return 0.0


@njit(nogil=True)
def same(addresses, wide, limit):
    first = -1.0
    for i in range(addresses.size):
        if wide[i]:
            value = carray(pointer(addresses[i]), 1, float64)[0]
        else:
            value = float64(carray(pointer(addresses[i]), 1, float32)[0])
        if i == 0:
            first = value
        elif value != first:
            return -1.0
    if not (first >= 0.0 and first < limit) or first != float64(int(first)):  # NaN fails the first test
        return -1.0
    for i in range(addresses.size):
        if wide[i]:
            carray(pointer(addresses[i]), 1, float64)[0] = first + 1.0
        else:
            carray(pointer(addresses[i]), 1, float32)[0] = float32(first + 1.0)
    return first
"""


_FLAGS: dict = {}  # (n, flag) -> n flags (never written)


class Counters:
    """The numbers held by ``tensors`` (CPU torch tensors of one element, float32 or float64: the step
    counts of a torch optimizer), read into a float64 array (:meth:`read`) and written from one
    (:meth:`write`, rounding to each tensor's dtype as ``fill_`` rounds) through their addresses, each in
    one call. :meth:`of` checks the tensors and takes their addresses once."""

    _loaded: ClassVar[list] = []  # the compiled loop, loaded once (load() hashes its source)

    _limit: ClassVar[np.ndarray] = np.array([float(MAX_STEP)])  # advance_same's bound (never written)

    def __init__(self, addresses: np.ndarray, wide: np.ndarray):
        self.addresses, self.wide = addresses, wide
        if not Counters._loaded:
            Counters._loaded.append(load(COUNTERS))
        self._step = Counters._loaded[0]

    @classmethod
    def of(cls, tensors: list) -> Counters | None:
        """The counters of ``tensors``, or None if any is not a CPU tensor of one float32 or float64."""
        types = set(map(type, tensors))
        if not tensors or not _torch_tensors(types):
            return None
        data_ptr, _, dtype_of, _, is_cpu, numel = _readers(types)
        kinds = set(map(dtype_of, tensors))
        dtypes = {kind: _numpy_dtype(kind) for kind in kinds}
        if not set(dtypes.values()) <= {np.dtype(np.float32), np.dtype(np.float64)}:
            return None
        if not all(map(is_cpu, tensors)) or set(map(numel, tensors)) != {1}:
            return None
        n = len(tensors)
        if len(kinds) == 1:  # the usual case: one flag for all, kept
            key = (n, dtypes[next(iter(kinds))] == np.float64)
            wide = _FLAGS.get(key)
            if wide is None:
                if len(_FLAGS) >= _KEPT:
                    _FLAGS.clear()
                wide = _FLAGS[key] = np.full(n, key[1])
        else:
            wide = np.array([dtypes[kind] == np.float64 for kind in map(dtype_of, tensors)])
        return cls(np.fromiter(map(data_ptr, tensors), np.int64, n), wide)

    def read(self) -> np.ndarray:
        values = np.empty(self.addresses.size)
        _call(self._step, (self.addresses, self.wide, values, 0))
        return values

    def write(self, values) -> None:
        _call(self._step, (self.addresses, self.wide, np.asarray(values, dtype=np.float64), 1))

    def advance_same(self) -> int | None:
        """Each counter to its number plus one, if they all hold one whole number from 0 to 2**53 - 1:
        that number (for :meth:`put_back`); else None, having written nothing. One call, no array made."""
        first = _call(self._step, (self.addresses, self.wide, self._limit, 3))
        return None if first < 0 else int(first)

    def put_back(self, count: int) -> None:
        """Every counter to ``count`` (what :meth:`advance_same` found)."""
        self.write(np.full(self.addresses.size, float(count)))

    def advance(self) -> np.ndarray:
        """Each counter to its whole part plus one (``int(n) + 1``, as ``fill_`` would write it); the
        numbers they held before (for :meth:`write` to put back)."""
        values = np.empty(self.addresses.size)
        _call(self._step, (self.addresses, self.wide, values, 2))
        return values


@dataclass(frozen=True)
class _Pass:
    """One specialisation's compiled pass, and how to fill its table of numbers from the hoisted
    scalars (``names``: the definitions, then the scalar arguments, as the program computes them)."""

    step: object
    names: list
    scalars: list
    literals: list
    text: str = field(repr=False, compare=False)  # the module source of step

    positions: list = field(init=False, repr=False, compare=False)  # of each scalar in names (the last)
    teams: dict = field(init=False, repr=False, compare=False, default_factory=dict)  # dtype -> team's address

    def __post_init__(self):
        where = {name: j for j, name in enumerate(self.names)}
        object.__setattr__(self, "positions", [where[s] for s in self.scalars])

    def numbers(self, hoisted: list[float], arguments: list, dtype: np.dtype) -> np.ndarray:
        # cast as the per-tensor numba kernel casts (dtype.type of each Python float)
        return np.array(self.row(hoisted, arguments), dtype=dtype)

    def row(self, hoisted: list[float], arguments: list) -> list:
        """The numbers of a tensor's row, as Python numbers (cast where they are stored)."""
        given = [*hoisted, *arguments]
        return [given[j] for j in self.positions] + self.literals

    def team(self, dtype: np.dtype) -> int:
        """The address of the pass on ``dtype`` arrays as a function each thread of an OpenMP team runs
        (:func:`team_source`; compiled, or loaded from numba's cache, on first use)."""
        made = self.teams.get(dtype)
        if made is None:
            made = self.teams[dtype] = load(team_source(self.text, dtype), "team").address
        return made


class _Passes(Kernel):
    """The rule's specialisations (chosen, hoisted and cached as :class:`~symopt.kernel.Kernel` does),
    each emitted as a pass over a group."""

    def _emit(self, exprs, inplace: bool) -> _Program:
        lowered = lower(self.rule, exprs)
        text, scalars, literals = source(self.rule.name, lowered)
        names = [*(s.name for s, _ in lowered.definitions), *(a.name for a in lowered.scalar_args)]
        return _Program(scalar_function(lowered), _Pass(load(text), names, scalars, literals, text), text, 0)


# A buffer's description: (address of its first byte, elements, dtype, strides or None when C-contiguous).
_TORCH_DTYPES: dict = {}
_TENSORS: set = set()  # the types read as torch tensors (torch.Tensor, torch.nn.Parameter...)
def _column_key(arrays: list, counters: list = ()) -> tuple[tuple, object] | None:
    """What a group's checks are kept under, and the address reader it was read with (native tensors'
    is ``TensorBase.data_ptr``): the address, shape, dtype, contiguity and device of each array, column
    by column, then the address, shape, dtype and device of each counter. None where they are not all
    torch tensors, or one has no strided memory (sparse: the general path names it)."""
    types = set(map(type, arrays)) | set(map(type, counters))
    if not _torch_tensors(types):
        return None
    data_ptr, shape, dtype, contiguous, is_cpu, _ = _readers(types)
    try:
        key = (*map(data_ptr, arrays), *map(shape, arrays), *map(dtype, arrays), *map(contiguous, arrays),
               *map(is_cpu, arrays), *map(data_ptr, counters), *map(shape, counters), *map(dtype, counters),
               *map(is_cpu, counters))
    except RuntimeError:
        return None
    return key, data_ptr


_TENSOR_API = ("data_ptr", "is_cpu", "is_contiguous", "stride", "numel", "shape", "dtype")
_IS_CPU, _DTYPE, _SHAPE = operator.attrgetter("is_cpu"), operator.attrgetter("dtype"), operator.attrgetter("shape")
_CONTIGUOUS, _DATA_PTR, _NUMEL = (operator.methodcaller(name) for name in ("is_contiguous", "data_ptr", "numel"))
_READ = ("data_ptr", "shape", "dtype", "is_contiguous", "is_cpu", "numel")
_READERS: dict = {}  # a set of tensor types -> how to read each of _READ from them


def _readers(types: set) -> tuple:
    """How to read an address, shape, dtype, contiguity, device and size from tensors of ``types``
    (torch tensors, as :func:`_torch_tensors` has found them), as functions of one tensor: the C
    descriptors of the class all of them take these from (torch's ``TensorBase``: a third of the cost
    of looking each up on the tensor) when none overrides one, else plain lookups."""
    key = frozenset(types)
    made = _READERS.get(key)
    if made is None:
        owners = {next((c for c in kind.__mro__ if "data_ptr" in vars(c)), None) for kind in types}
        owner = owners.pop() if len(owners) == 1 else None
        found = [vars(owner).get(name) for name in _READ] if owner is not None else []
        native = (found and all(type(d).__name__ in ("method_descriptor", "getset_descriptor") for d in found)
                  and all(getattr(kind, name) is d for kind in types for name, d in zip(_READ, found)))
        made = (tuple(d if type(d).__name__ == "method_descriptor" else d.__get__ for d in found) if native
                else (_DATA_PTR, _SHAPE, _DTYPE, _CONTIGUOUS, _IS_CPU, _NUMEL))
        if len(_READERS) >= _KEPT:
            _READERS.clear()
        _READERS[key] = made
    return made


_GUARDS: list = []


def _guards() -> tuple:
    """torch's check of many tensors' properties in one call, and the address reader of its tensors
    (``TensorBase.data_ptr``); ``(None, None)`` where torch has no such check.

    The check is ``torch._C._dynamo.guards.TensorGuards`` (what torch.compile's guards were built on;
    private): made from tensors, sizes and strides, its ``check(*tensors)`` is True only for tensors
    of the same Python types, dtypes, devices, sizes, strides, ``requires_grad`` and dispatch keys, in
    C++ (a fifth of the cost of reading them one by one in Python). :meth:`GroupKernel.usual` keeps a
    usual group under its tensors' addresses with such a check of the rest."""
    if not _GUARDS:
        try:
            import torch
            from torch._C._dynamo.guards import TensorGuards

            made = (TensorGuards, torch._C.TensorBase.data_ptr)
            probe = torch.zeros(2)
            if not TensorGuards(probe, dynamic_dims_sizes=[[2]], dynamic_dims_strides=[[1]]).check(probe) or \
                    TensorGuards(probe, dynamic_dims_sizes=[[2]], dynamic_dims_strides=[[1]]).check(probe[:1]):
                made = (None, None)
        except (ImportError, AttributeError, TypeError, RuntimeError):
            made = (None, None)
        _GUARDS.append(made)
    return _GUARDS[0]


def _numpy_dtype(kind):
    """A torch dtype's NumPy dtype where the group step takes it (float32, float64), else its name."""
    dtype = _TORCH_DTYPES.get(kind)
    if dtype is None:
        name = str(kind).removeprefix("torch.")
        dtype = _TORCH_DTYPES[kind] = np.dtype(name) if name in ("float32", "float64") else name
    return dtype


def _describe(a, written: bool = True) -> tuple[int, int, np.dtype, tuple | None, tuple]:
    """``(address, size, dtype, layout, shape)`` of a NumPy array or a CPU torch tensor (one the step
    writes into if ``written``); layout is None for C-contiguous memory, else the strides in elements
    (dense or not: see :func:`_dense`).

    Raises:
        ValueError: what is wrong with it (the caller names it).
    """
    if type(a) in _TENSORS:  # first: the torch optimizer's case, on every tensor of every step
        if not a.is_cpu:
            raise ValueError(f"is on {a.device}: the group step runs on CPU memory")
        dtype = _numpy_dtype(a.dtype)
        return a.data_ptr(), a.numel(), dtype, None if a.is_contiguous() else tuple(a.stride()), a.shape
    if isinstance(a, np.ndarray):
        if written and not a.flags.writeable:
            raise ValueError("is read-only: the group step writes into it")
        dtype = a.dtype
        layout = None if a.flags.c_contiguous else tuple(s // dtype.itemsize if s % dtype.itemsize == 0 else -1
                                                          for s in a.strides)  # -1: not a whole element
        return a.ctypes.data, a.size, dtype, layout, a.shape
    if not _torch_tensors({type(a)}):
        raise ValueError(f"must be a NumPy array or a CPU torch tensor, not {type(a).__name__}")
    return _describe(a, written)


def _torch_tensors(types: set) -> bool:
    """Whether each of ``types`` is read as a torch tensor (:func:`_describe`'s test, remembered)."""
    for kind in types - _TENSORS:
        if kind is np.ndarray or not all(hasattr(kind, name) for name in _TENSOR_API):
            return False
        _TENSORS.add(kind)
    return True


def _dense(shape: tuple, strides: tuple) -> bool:
    """Whether strides (in elements) lay ``shape`` out on one block without gaps or overlap, in some
    order of the dimensions, from its first element (no negative strides)."""
    if any(s < 0 for s in strides):
        return False
    extent = 1
    for size, stride in sorted((n, s) for n, s in zip(shape, strides) if n != 1):
        if stride != extent:
            return False
        extent *= size
    return True


def _separate(indices: list[int], addresses: list[list[int]], sizes: list[int], dtype: np.dtype) -> None:
    """Refuse a tensor whose θ, g and state arrays overlap (what one writes, another would read)."""
    table = np.sort(np.array(addresses, dtype=np.int64), axis=1)
    overlapping = (np.diff(table, axis=1).min(axis=1) < np.asarray(sizes) * dtype.itemsize) & (np.asarray(sizes) > 0)
    if overlapping.any():
        k = indices[int(np.argmax(overlapping))]
        raise SymoptError(f"params[{k}], grads[{k}] and its state arrays must not overlap")


_POOL: list = [None, 0]  # the worker threads, and the process that made them


def _workers():
    """A pool of threads that run the passes' pieces beside the calling thread (made again in a
    forked child, which has none of its parent's threads)."""
    pool, pid = _POOL
    if pool is None or pid != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        with _LOCK:
            if _POOL[0] is None or _POOL[1] != os.getpid():
                _POOL[:] = [ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="symopt-group"),
                            os.getpid()]
        pool = _POOL[0]
    return pool


def _run(step, arguments: tuple, workers: int, compiled: bool) -> None:
    """``step`` over every chunk of the table (``arguments[1]``), on the calling thread and ``workers - 1``
    worker threads at the same time (the pass releases the GIL): each thread takes the next chunk no
    thread has taken (a counter advanced atomically) until none is left, so that a thread that starts
    late, or that the system pauses (a shared machine, torch's own threads still spinning), leaves its
    share to the others. The calling thread then waits for the chunks still being stepped: a short
    spin (:data:`SPIN`), then the workers' end. A worker that starts after the last chunk was taken
    finds none and writes nothing. A first call (which compiles, or loads the compiled code) runs on
    the calling thread alone."""
    counters = np.zeros(_COUNTERS, dtype=np.int64)
    if not compiled or workers == 1:
        _call(step, (*arguments, counters, 0))
        return
    pool = _workers()
    running = [pool.submit(step, *arguments, counters, 0) for _ in range(workers - 1)]
    done = 0
    try:
        done = step(*arguments, counters, SPIN)
    finally:
        if done < len(arguments[1]):  # a chunk still being stepped (or this thread interrupted)
            for future in running:
                future.result()


_TEAM: list = []  # torch's GOMP_parallel, or None, once looked for


def _team():
    """``GOMP_parallel`` of the OpenMP runtime that torch runs its CPU kernels' parallel loops on (as a
    ctypes function), where torch is imported and its ATen parallel backend is OpenMP: the runtime
    torch's CPU library is linked with (libgomp in Linux wheels, libomp on macOS: both have the GNU
    entry point); else None. A pass run by it runs on torch's own threads, as torch's
    fused step does: no second pool of threads beside torch's, and threads that are still spinning
    after torch's last parallel loop (the backward pass) start on it at once. Looked for once torch is
    imported; any failure to find it is None (the group step's own threads run the pass)."""
    if _TEAM:
        return _TEAM[0]
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    found = None
    with contextlib.suppress(Exception):  # a torch without parallel_info, a platform without RTLD_NOLOAD...
        found = _openmp(torch)
    _TEAM.append(found)
    return found


def _openmp(torch):
    """``GOMP_parallel`` as torch's CPU library finds it among the libraries it was linked with (the
    OpenMP runtime torch runs on: its own, or one with the same name loaded before torch was)."""
    if "parallel backend: OpenMP" not in torch.__config__.parallel_info():
        return None
    folder = os.path.join(os.path.dirname(torch.__file__), "lib")
    for name in sorted(os.listdir(folder)):
        if not name.startswith("libtorch_cpu."):
            continue
        try:  # already loaded (RTLD_NOLOAD); dlsym on it searches it and the libraries it was linked with
            function = ctypes.CDLL(os.path.join(folder, name), mode=os.RTLD_NOLOAD | os.RTLD_LAZY).GOMP_parallel
        except (OSError, AttributeError):
            continue
        function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
        function.restype = None
        return function
    return None


def _run_torch(passed: _Pass, dtype: np.dtype, arguments: tuple, workers: int, compiled: bool,
               kept: dict | None = None) -> None:
    """A pass over a group of torch tensors: on torch's OpenMP threads where they can be reached
    (:func:`_team`), ``workers`` of them (the calling thread among them), each taking chunks as
    :func:`_run`'s threads do, the call returning when all are done; else as :func:`_run`. ``kept``:
    where to keep the frame of numbers the team reads (for a group whose arrays are kept)."""
    parallel = _team() if workers > 1 else None
    if parallel is None:
        _run(passed.step, arguments, workers, compiled)
        return
    function = passed.team(dtype)
    made = None if kept is None else kept.get(("team", function))
    if made is None or any(a is not b for a, b in zip(made[0], arguments)):
        counters = np.zeros(_COUNTERS, dtype=np.int64)
        frame = _frame(*arguments, counters)
        made = (arguments, counters, frame, frame.ctypes.data)
        if kept is not None:
            kept[("team", function)] = made
    made[1][:] = 0
    parallel(function, made[3], workers, 0)


@dataclass
class GroupKernel:
    """The step of a param group of an elementwise rule, in one pass over all its tensors, in place.

    Args:
        rule: an elementwise rule (one whose state is shaped like its parameters).
        chunk: the most elements of one tensor a thread takes at a time (:data:`CHUNK`; a thread is
            woken for every :data:`SHARE` chunks of the group). Any value gives the same numbers.

    Raises:
        SymoptError: if numba is missing or the rule works on whole tensors (matrix products, row and
            column means), in one line.
    """

    rule: Rule
    chunk: int = CHUNK
    _passes: _Passes = field(init=False, repr=False)
    _single: Kernel | None = field(init=False, repr=False, default=None)
    _chunks: dict = field(init=False, repr=False, default_factory=dict)
    _compiled: set = field(init=False, repr=False, default_factory=set)
    _groups: dict = field(init=False, repr=False, default_factory=dict)  # see _regular
    _counted: dict = field(init=False, repr=False, default_factory=dict)  # see usual
    _guarded: dict = field(init=False, repr=False, default_factory=dict)  # see usual
    _last: tuple | None = field(init=False, repr=False, default=None)  # usual's addresses at its last miss
    _names: tuple = field(init=False, repr=False)  # the array states'
    _scalar_names: tuple = field(init=False, repr=False)

    def __post_init__(self):
        require_numba()
        if isinstance(self.chunk, bool) or not isinstance(self.chunk, numbers.Integral) or self.chunk < 1:
            raise SymoptError(f"chunk must be a whole number of elements, at least 1, not {self.chunk!r}")
        if _on_whole_tensors(self.rule):
            raise SymoptError(f"{self.rule.name} works on whole tensors (matrix products, row and column means): "
                              "the group step runs elementwise rules only; use the NumPy kernel, rule.kernel()")
        self._passes = _Passes(self.rule)
        self._names = tuple(s.name for s in self.rule.arrays)
        self._scalar_names = tuple(s.name for s in self.rule.scalars)

    @staticmethod
    def takes(params) -> bool:
        """Whether the group step runs every one of ``params``: NumPy arrays, or CPU torch tensors,
        of float32 or float64 (laid out in any way). A torch optimizer steps the others (GPU tensors,
        half precision, complex numbers) with its own code."""
        if params and all(type(p) in _TENSORS for p in params):  # a torch group: a few calls, not a few per tensor
            return all(map(_IS_CPU, params)) and all(isinstance(_numpy_dtype(kind), np.dtype)
                                                      for kind in set(map(_DTYPE, params)))
        for p in params:
            if isinstance(p, np.ndarray):
                if p.dtype not in DTYPES:
                    return False
                continue
            try:
                if not p.is_cpu or _describe(p)[2] not in DTYPES:
                    return False
            except (AttributeError, ValueError):
                return False
        return True

    def step(self, params: list, grads: list, states: list[dict], t, *, threads: int | None = None, **hyper) -> None:
        """Take one step of every tensor in ``params``, writing into them and their states.

        Args:
            params: the parameters: NumPy arrays or CPU torch tensors, float32 or float64.
            grads: their gradients, the same kinds, dtypes and shapes.
            states: one dict per parameter with the rule's state by name (``m``, ``v``...); an empty
                dict is filled with the initial state (arrays of the parameter's kind, laid out like it)
                before the step. New scalar states (NAdam's μ product) are written into the dicts.
            t: the step being taken (counting from 1), for all, or one per parameter.
            threads: how many threads share the work (the calling thread and worker threads; default:
                numba's number, ``numba.get_num_threads()``).
            **hyper: the hyperparameters by the rule's keywords, as :meth:`Kernel.step` takes them.

        Raises:
            SymoptError: in one line, for lists of different lengths, a gradient or state unlike its
                parameter (dtype, shape), a dtype other than float32 and float64, a GPU tensor, a
                read-only array, arrays of one tensor that overlap, a bad ``t`` or hyperparameter.
        """
        n = len(params)
        if len(grads) != n or len(states) != n:
            raise SymoptError(f"params, grads and states must be as long as each other, not {n}, {len(grads)} and {len(states)}")
        steps = self._steps(t, n)
        values = self._passes.hyperparameters(**hyper)
        for k, state in enumerate(states):
            if not isinstance(state, dict):
                raise SymoptError(f"states[{k}] must be a dict (empty before the first step), not {type(state).__name__}")
            if not state:
                state.update(self._start(params[k], values))
        columns = [[state.get(name) for state in states] for name in self._names]
        scalars = [[self._scalar(k, state, name) for name in self._scalar_names] for k, state in enumerate(states)]
        advanced = self.run(params, grads, columns, scalars, steps, values, threads=threads)
        if self._scalar_names:
            for state, new in zip(states, advanced):
                state.update(new)

    def run(self, params: list, grads: list, columns: list[list], scalars: list[list[float]], steps: list[int],
            values: list[float], *, threads: int | None = None, others: bool = False) -> list[dict] | None:
        """:meth:`step` on lists, as an optimizer holds them (no dict per tensor): ``columns`` has one
        list per array state (in the order of ``rule.arrays``) as long as ``params``, ``scalars`` each
        tensor's scalar states (floats, in the order of ``rule.scalars``), ``steps`` each tensor's step
        number (checked, as :meth:`step` checks ``t``), ``values`` the hyperparameters in the rule's order,
        checked (:meth:`Kernel.hyperparameters`). Returns each tensor's new scalar states by name; with
        ``others=True``, None (having written nothing) where the group step does not take every one of
        ``params`` (:meth:`takes`: a GPU tensor, half precision...), for the caller to step them its own
        way (a torch optimizer's group is looked at once for both).

        A torch optimizer's usual group (contiguous CPU tensors of one dtype, each gradient and state
        shaped like its parameter, one step number, no scalar state) is read in a few calls per tensor
        (its addresses, shapes, dtypes, contiguity, device) and what follows from them (the checks, the
        table of addresses, the chunks, the separation of each tensor's arrays) is kept under exactly
        those: a tensor resized, replaced or moved, a gradient laid out anew, is a new key.
        """
        n = len(params)
        steps = self._steps(steps, n)
        scalar_names = self._scalar_names
        hyper = None  # by name, for the tensors stepped alone
        regular = None if scalar_names else self._regular(params, grads, columns, steps)
        if regular is not None:
            dtype, addresses, sizes, chunks = regular
            if sizes:
                program, hoisted, _ = self._passes._scalars([steps[0], *values], inplace=True)
                row = program.arrays.numbers(hoisted, [steps[0], *values], dtype)
                workers = max(1, int(threads)) if threads is not None else require_numba().get_num_threads()
                made = chunks.get(workers)
                if made is None:
                    made = chunks[workers] = self._chunk_table(sizes, workers)
                step = program.arrays.step
                _run_torch(program.arrays, dtype, (addresses, made[0], np.repeat(row[None], len(sizes), 0)), made[1],
                           (step, dtype) in self._compiled)
                self._compiled.add((step, dtype))
            return [{} for _ in range(n)]
        if others and not self.takes(params):
            return None
        found: dict = {}  # (dtype, t and scalar states, dense) -> tensor indices, addresses, sizes
        keys, alone = [], []  # each tensor's (t and scalar states); the tensors stepped alone
        for k in range(n):
            addresses, size, dtype, dense = self._arrays(k, params[k], grads[k], [column[k] for column in columns])
            key = (steps[k], *scalars[k])
            keys.append(key)
            entry = found.get((dtype, key, dense))
            if entry is None:
                entry = found[(dtype, key, dense)] = ([], [], [])
            entry[0].append(k)
            entry[1].append(addresses)
            entry[2].append(size)
        specialised = {key: self._passes._scalars([key[0], *values, *key[1:]], inplace=True) for key in dict.fromkeys(keys)}
        passes: dict = {}  # (dtype, program) -> tensor indices, addresses, rows of numbers, sizes
        for (dtype, key, dense), (indices, addresses, sizes) in found.items():
            _separate(indices, addresses, sizes, dtype)
            if not dense:
                alone += indices
                continue
            program, hoisted, _ = specialised[key]
            made = passes.setdefault((dtype, id(program)), (program, [], [], [], []))
            made[1].extend(indices)
            made[2].extend(addresses)
            made[3].append(np.repeat(program.arrays.numbers(hoisted, [key[0], *values, *key[1:]], dtype)[None], len(indices), 0))
            made[4].extend(sizes)
        # every tensor checked: now written (the per-tensor kernel advances the scalar states of those alone)
        advanced = [specialised[key][2] for key in keys]
        workers = max(1, int(threads)) if threads is not None else require_numba().get_num_threads()
        for (dtype, _), (program, _, addresses, rows, sizes) in passes.items():
            kept = [j for j, size in enumerate(sizes) if size]
            if not kept:
                continue
            if len(kept) < len(sizes):
                addresses, rows, sizes = [addresses[j] for j in kept], np.concatenate(rows)[kept], [sizes[j] for j in kept]
            else:
                rows = np.concatenate(rows) if len(rows) > 1 else rows[0]
            table, sharing = self._chunk_table(sizes, workers)
            step = program.arrays.step
            _run(step, (np.array(addresses, dtype=np.int64), table, rows), sharing, (step, dtype) in self._compiled)
            self._compiled.add((step, dtype))
        for k in sorted(alone):
            hyper = hyper or {h.name: v for h, v in zip(self.rule.hypers, values)}
            advanced[k] = self._step_alone(params[k], grads[k], [column[k] for column in columns], scalars[k], steps[k], hyper)
        return advanced

    def usual(self, params: list, grads: list, columns: list[list], counters: list):
        """A torch optimizer's usual group (see :meth:`_regular`) with its step counts, for
        :meth:`run_usual`: ``columns`` as :meth:`run` takes them, ``counters`` the parameters' ``step``
        tensors (CPU tensors of one element, float32 or float64). What follows from the group (the
        checks, addresses, chunks, the counters' addresses, a table of numbers for each specialisation)
        is kept under the addresses, shapes, dtypes, contiguity and device of every array and the
        addresses, shapes, dtypes and device of the counters; from the second step in a row with the same
        addresses, a step reads those and checks the rest in one call (:func:`_guards`). None where the group
        or its counters are not usual (the caller steps it its own way). ``counters`` may be empty (a
        group without counts: :meth:`run_usual` takes t).

        Raises:
            SymoptError: for a tensor whose arrays overlap, in one line.
        """
        if self._scalar_names or not params or (counters and len(counters) != len(params)):
            return None
        arrays = [*params, *grads, *itertools.chain.from_iterable(columns)]
        guards, base_pointer = _guards()
        addresses = None
        if guards is not None:  # the addresses, then every other property in one call (see _guards)
            try:
                addresses = (*map(base_pointer, arrays), *map(base_pointer, counters))
            except (TypeError, RuntimeError):  # not a torch tensor, or not strided: looked at below
                addresses = None
            else:
                found = self._guarded.get(addresses)
                if found is not None and found[0].check(*arrays, *counters):
                    return found[1]
        keyed = _column_key(arrays, counters)
        if keyed is None:
            return None
        key, data_ptr = keyed
        kept = self._counted.get(key, _MISSING)
        # guarded from its second step in a row (not gradients made anew at every step)
        repeated, self._last = addresses is not None and addresses == self._last, addresses
        if kept is _MISSING:
            kept = None
            regular = self._check_regular(params, arrays, key[:5 * len(arrays)])  # raises for overlapping arrays
            counter = Counters.of(counters) if regular is not None and counters else None
            if regular is not None and (counter is not None or not counters):
                kept = (*regular, counter, {})  # dtype, addresses, sizes, chunks; counters, tables of numbers
            if len(self._counted) >= _KEPT:
                self._counted.clear()
            self._counted[key] = kept
        if repeated and kept is not None and data_ptr is base_pointer:  # native tensors
            tensors = [*arrays, *counters]
            if len(self._guarded) >= _KEPT:
                self._guarded.clear()
            self._guarded[addresses] = (guards(*tensors, dynamic_dims_sizes=[list(t.shape) for t in tensors],
                                               dynamic_dims_strides=[list(t.stride()) for t in tensors]), kept)
        return kept

    def run_usual(self, usual: tuple, values: list[float], *, threads: int | None = None, t: int | None = None) -> bool:
        """The step of a group :meth:`usual` returned, with ``values`` the hyperparameters in the rule's
        order, checked (:meth:`Kernel.hyperparameters`): each counter advanced to its whole part plus
        one (as ``fill_`` writes it) and the group stepped at that number, in one pass. False, having
        changed nothing, if the counts are not one whole number from 0 to 2**53 - 1 (the caller steps
        the group its own way, with its errors). If the pass fails, the counts are put back. A group
        :meth:`usual` was given no counters for is stepped at ``t``."""
        dtype, addresses, sizes, chunks, counter, tables = usual
        if counter is not None:
            count = counter.advance_same()
            if count is None:
                return False
            t = count + 1
        elif t is None:
            raise SymoptError("run_usual: a group without counters takes t")
        else:
            count = None
        if not sizes:
            return True
        try:
            arguments = [t, *values]
            last = tables.get(None)  # the step's numbers at the last step: the same where t was (SGD's t = 2)
            if last is not None and last[0] == arguments:
                passed, table = last[1], last[2]
            else:
                program, hoisted, _ = self._passes._scalars(arguments, inplace=True)
                row = program.arrays.row(hoisted, arguments)
                table = tables.get(id(program))
                if table is None:
                    table = tables[id(program)] = np.empty((len(sizes), len(row)), dtype=dtype)
                table[:] = row  # cast as numbers() casts
                passed = program.arrays
                tables[None] = (arguments, passed, table)
            workers = max(1, int(threads)) if threads is not None else require_numba().get_num_threads()
            made = chunks.get(workers)
            if made is None:
                made = chunks[workers] = self._chunk_table(sizes, workers)
            compiled = (passed.step, dtype) in self._compiled
            _run_torch(passed, dtype, (addresses, made[0], table), made[1], compiled, tables)
            if not compiled:
                self._compiled.add((passed.step, dtype))
        except BaseException:
            if counter is not None:
                counter.put_back(count)
            raise
        return True

    def _regular(self, params: list, grads: list, columns: list[list], steps: list[int]):
        """A torch optimizer's usual group: contiguous CPU tensors of one dtype, each gradient and state
        shaped like its parameter, at one step number. ``(dtype, addresses, sizes of the tensors with
        elements, chunk tables by threads)``, or None to look at each tensor in turn.

        Read column by column, in five calls per tensor (address, shape, dtype, contiguity, device):
        what follows from them is kept under them (:data:`_KEPT` groups), checked and built once."""
        if not params or len(set(steps)) != 1:
            return None
        arrays = [*params, *grads, *itertools.chain.from_iterable(columns)]
        keyed = _column_key(arrays)
        if keyed is None:
            return None
        key = keyed[0]
        kept = self._groups.get(key, _MISSING)
        if kept is _MISSING:
            kept = self._check_regular(params, arrays, key)  # raises for overlapping arrays: not kept
            if len(self._groups) >= _KEPT:
                self._groups.clear()
            self._groups[key] = kept
        return kept

    def _check_regular(self, params: list, arrays: list, key: tuple):
        """:meth:`_regular`'s checks on its key (addresses, shapes, dtypes, contiguity, device of each
        array, column by column) and what it keeps: the addresses of the tensors with elements, their
        sizes, and their separation checked."""
        count, n = len(arrays), len(params)
        shapes = key[count:2 * count]
        kinds = set(key[2 * count:3 * count])
        if not all(key[3 * count:5 * count]) or len(kinds) != 1:  # contiguous, on the CPU; one dtype
            return None
        dtype = _numpy_dtype(kinds.pop())
        if not isinstance(dtype, np.dtype) or dtype not in DTYPES:
            return None
        if any(shapes[j:j + n] != shapes[:n] for j in range(n, count, n)):
            return None
        table = [list(key[k:count:n]) for k in range(n)]  # each tensor's θ, g and state addresses
        sizes = list(map(_readers(set(map(type, params)))[5], params))
        _separate(list(range(n)), table, sizes, dtype)
        nonempty = [k for k in range(n) if sizes[k]]
        return dtype, np.array([table[k] for k in nonempty], dtype=np.int64).reshape(len(nonempty), count // n), \
            [sizes[k] for k in nonempty], {}

    def _arrays(self, k: int, p, g, states: list) -> tuple[list[int], int, np.dtype, bool]:
        """The addresses of tensor k's θ, g and array states (``states``, in the order of
        ``rule.arrays``; None where missing), its size and dtype, and whether the pass can read them
        (dense, with one layout); checked against each other."""
        arrays = [p, g, *states]
        if type(p) in _TENSORS:  # contiguous CPU tensors, the common case, checked in few calls
            kind, shape = p.dtype, p.shape
            for a in arrays:
                if type(a) not in _TENSORS or not a.is_cpu or a.dtype is not kind or a.shape != shape or not a.is_contiguous():
                    break
            else:
                dtype = _numpy_dtype(kind)
                if dtype is not None and isinstance(dtype, np.dtype):
                    return [a.data_ptr() for a in arrays], p.numel(), dtype, True
        described = []
        try:
            for j, a in enumerate(arrays):
                if a is None:
                    raise ValueError("is missing")
                described.append(_describe(a, written=j != 1))  # the gradient is only read
        except ValueError as error:
            what = ["params", "grads", *self._names][len(described)]
            raise SymoptError(f"{what}[{k}] {error}" if len(described) < 2 else f"states[{k}][{what!r}] {error}") from None
        _, size, dtype, _, shape = described[0]
        if dtype not in DTYPES:
            raise SymoptError(f"params[{k}] is {dtype}: the group step runs float32 and float64 parameters")
        layouts = set()
        for j, (_, _, kind, layout, other) in enumerate(described):
            if kind != dtype or other != shape:
                what = f"grads[{k}]" if j == 1 else f"states[{k}][{self._names[j - 2]!r}]"
                raise SymoptError(f"{what} is {kind} of shape {tuple(other)}, but params[{k}] is {dtype} of shape {tuple(shape)}")
            layouts.add(layout)
        dense = layouts == {None} or (len(layouts) == 1 and _dense(shape, layout))
        return [d[0] for d in described], size, dtype, dense

    @staticmethod
    def _scalar(k: int, state: dict, name: str) -> float:
        value = state.get(name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise SymoptError(f"states[{k}][{name!r}] must be a real number, not {value!r}")
        return float(value)

    @staticmethod
    def _steps(t, n: int) -> list[int]:
        steps = [t] * n if isinstance(t, numbers.Integral) and not isinstance(t, bool) else list(t)
        if len(steps) != n:
            raise SymoptError(f"t must be one step number, or one per parameter ({n}), not {len(steps)}")
        if n and set(map(type, steps)) == {int} and 1 <= min(steps) and max(steps) <= MAX_STEP:
            return steps  # Python integers in range: the optimizer's case, checked without a loop
        for value in steps:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= MAX_STEP:
                raise SymoptError(f"t must be an integer from 1 to 2**53 (the step being taken), not {value!r}")
        return [int(value) for value in steps]

    def _chunk_table(self, sizes: list[int], workers: int) -> tuple[np.ndarray, int]:
        """Rows (tensor, start, stop) covering each tensor in pieces of at most ``chunk`` elements, and how
        many of ``workers`` threads to share them between (one for every :data:`SHARE` chunks' worth of
        elements, at least one); kept per list of sizes (a group's sizes do not change between steps)."""
        key = (tuple(sizes), workers)
        made = self._chunks.get(key)
        if made is None:
            sizes = np.asarray(sizes, dtype=np.int64)
            chunk = int(self.chunk)
            counts = -(-sizes // chunk)
            tensor = np.repeat(np.arange(sizes.size), counts)
            start = (np.arange(tensor.size) - np.repeat(np.cumsum(counts) - counts, counts)) * chunk
            table = np.stack([tensor, start, np.minimum(start + chunk, sizes[tensor])], axis=1)
            workers = max(1, min(workers, int(sizes.sum()) // (SHARE * chunk)))
            if len(self._chunks) > 64:
                self._chunks.clear()
            made = self._chunks[key] = (table, workers)
        return made

    def _start(self, p, values: list[float]) -> dict:
        """The initial state of parameter ``p``: NumPy arrays for an array (cache-line aligned, as
        :meth:`Kernel.init` makes them), tensors laid out like a tensor (``clone`` keeps a dense
        layout)."""
        if isinstance(p, np.ndarray):
            return self._passes.init(p, **{h.name: v for h, v in zip(self.rule.hypers, values)})
        from symopt import symbols as S

        def like(fill):
            copy = p.detach().clone()
            return copy if fill is None else copy.fill_(fill)

        return {s.name: float(v) if s.scalar else like(None if s.init == S.theta0 else float(v))
                for s, v in zip(self.rule.states, self._passes._start(*values))}

    def _step_alone(self, p, g, arrays: list, scalars: list[float], t: int, hyper: dict) -> dict:
        """One tensor whose layout the pass cannot read, by the per-tensor numba kernel on NumPy views
        (it copies a strided array in and out); its new scalar states by name."""
        if self._single is None:
            self._single = self.rule.kernel("numba")

        def view(a):
            return a if isinstance(a, np.ndarray) else a.detach().numpy()

        state = {**{name: view(a) for name, a in zip(self._names, arrays)}, **dict(zip(self._scalar_names, scalars))}
        _, new = self._single.step(view(p), view(g), state, t, inplace=True, **hyper)
        return {name: new[name] for name in self._scalar_names}
