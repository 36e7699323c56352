"""The group step (symopt.backends.group): a param group's tensors in one pass, against the rule's
per-tensor NumPy kernel (the same lowered operations, one ufunc at a time: the same bits), the
hand-written references (within the verifier's error bound), and torch tensors stepped through their
memory; in place, state made on the first step, bad input refused in one line.

Each compiled rule costs a second or two of numba compilation, so the rules are a fixed-seed sample
of the registry's elementwise rules plus one with a scalar state and one whose step branches on t
(about 12 s of CPU with numba's cache empty, 6 s with it filled); ``benchmarks/group_sweep.py`` runs
every elementwise rule and variant the same way.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import sympy as sp
from conftest import require
from hypothesis import given, settings
from hypothesis import strategies as st

import symopt
from symopt.errors import SymoptError
from symopt.optimizers import label, rules, variants
from symopt.strategies import dtypes, gradients, hyperparameters, shapes, weights
from symopt.verify import cross_check, reference_runner

SEED = 25
ELEMENTWISE = [symopt.get(name) for name in rules() if symopt.get(name).elementwise]


def _branches_on_t(rule) -> bool:
    return any(e.has(sp.Piecewise) for e in rule.step_map().values())


def _sampled() -> list:
    picked = random.Random(SEED).sample(ELEMENTWISE, 1)
    for wanted in (lambda r: bool(r.scalars), _branches_on_t):
        if not any(wanted(r) for r in picked):
            picked.append(next(r for r in ELEMENTWISE if wanted(r)))
    return picked


# benchmarks/group_sweep.py sets SYMOPT_GROUP_SWEEP: every elementwise rule and variant
SAMPLED = ([symopt.get(name, **options) for name in rules() for options in variants(name)
            if symopt.get(name).elementwise] if os.environ.get("SYMOPT_GROUP_SWEEP") else _sampled())


@pytest.fixture(scope="module")
def group():
    require("numba", install='pip install "symopt-toolkit[numba]"')
    from symopt.backends.group import GroupKernel

    made: dict = {}

    def kernel(rule, chunk=2):
        # chunks of 2 elements, so that Hypothesis's small arrays cross chunk boundaries and a group of
        # a few dozen elements is shared between threads; chunk=None: the rule's per-tensor NumPy kernel
        key = (label(rule), chunk)
        if key not in made:
            made[key] = rule.kernel() if chunk is None else GroupKernel(rule, chunk=chunk)
        return made[key]

    return kernel


@st.composite
def groups(draw, rule, steps: int = 3):
    """A param group: 1 to 4 tensors of any dtype and shape, each starting at its own step number (so
    that one group takes different specialisations), with gradients for ``steps`` steps."""
    tensors = []
    for _ in range(draw(st.integers(1, 4))):
        dtype, shape = draw(dtypes()), draw(shapes())
        grads = [draw(gradients(shape, dtype)) for _ in range(steps)]
        tensors.append((draw(weights(shape, dtype)), grads, draw(st.integers(0, 2))))
    return tensors, draw(hyperparameters(rule)), draw(st.sampled_from([1, 2]))


def _per_tensor(kernel, tensors, hyper, steps):
    """Each tensor stepped alone by the rule's per-tensor kernel: θ and state after each step."""
    out = []
    for params, grads, offset in tensors:
        params, state = params.copy(), kernel.init(params, **hyper)
        for s in range(steps):
            params, state = kernel.step(params, grads[s], state, offset + s + 1, **hyper)
        out.append((params, state))
    return out


@pytest.mark.parametrize("rule", SAMPLED, ids=label)
def test_same_bits_as_the_per_tensor_kernel(group, rule):
    """The pass runs the lowered operations of the per-tensor kernels on each chunk: the same operations
    on the same types (no fused multiply-add), whatever the chunking, threads, step numbers and dtypes
    in the group."""
    steps = 3

    @settings(max_examples=12, derandomize=True)
    @given(drawn=groups(rule, steps))
    def check(drawn):
        tensors, hyper, threads = drawn
        with np.errstate(all="ignore"):
            try:
                expected = _per_tensor(group(rule, None), tensors, hyper, steps)
            except SymoptError as error:  # the step's scalars overflow: the group says so too
                with pytest.raises(SymoptError, match="overflow"):
                    params = [p.copy() for p, _, _ in tensors]
                    group(rule).step(params, [g[0] for _, g, _ in tensors], [{} for _ in tensors],
                                     [o + 1 for _, _, o in tensors], threads=threads, **hyper)
                assert "overflow" in str(error)
                return
            params = [p.copy() for p, _, _ in tensors]
            states = [{} for _ in tensors]
            for s in range(steps):
                group(rule).step(params, [g[s] for _, g, _ in tensors], states, [o + s + 1 for _, _, o in tensors],
                                 threads=threads, **hyper)
        for got, state, (want, want_state) in zip(params, states, expected):
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
            for name, value in want_state.items():
                np.testing.assert_array_equal(state[name], value, err_msg=name)

    check()


def _pieces(params: np.ndarray) -> list[np.ndarray]:
    """``params`` cut into up to three tensors of different shapes (views of one copy)."""
    flat = params.copy().reshape(-1)
    cuts = sorted({flat.size // 3, flat.size // 2})
    parts = np.split(flat, cuts)
    return [part.reshape(-1, 1) if j == 1 else part for j, part in enumerate(parts)]


def _group_runner(kernel):
    """The trajectory of a case's parameters cut into a group of pieces, stepped together."""
    def run(case) -> list[np.ndarray]:
        params = _pieces(case.params)
        states = [{} for _ in params]
        out = []
        for t, grads in enumerate(case.grads, start=1):
            kernel.step(params, _pieces(grads), states, t, threads=2, **case.hyper_at(t))
            out.append(np.concatenate([p.reshape(-1) for p in params]).reshape(case.params.shape))
        return out

    return run


@pytest.mark.parametrize("rule", SAMPLED, ids=label)
def test_a_cut_up_group_follows_the_reference(group, rule):
    """An elementwise rule does not care how a parameter is cut into tensors: the group's trajectory is
    the hand-written reference's on the whole array, within the verifier's error bound."""
    report = cross_check(rule, reference_runner(rule), against="reference", examples=6, seed=SEED,
                         under_test=_group_runner(group(rule)))
    assert report.passed, (report.failure, report.counterexample and report.counterexample.errors.first)
    assert set(report.errors) == {"float32", "float64"}


def test_in_place_with_the_state_made_on_the_first_step(group):
    rule = SAMPLED[0]
    kernel = group(rule)
    rng = np.random.default_rng(SEED)
    params = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(5)]
    grads = [rng.standard_normal(p.shape).astype(p.dtype) for p in params]
    before = [g.copy() for g in grads]
    ids = [id(p) for p in params]
    states = [{}, {}]
    kernel.step(params, grads, states, 1)
    assert [sorted(s) for s in states] == [sorted(x.name for x in rule.states)] * 2
    for p, state in zip(params, states):
        for x in rule.arrays:
            assert state[x.name].shape == p.shape and state[x.name].dtype == p.dtype
    held = [{x.name: s[x.name] for x in rule.arrays} for s in states]
    kernel.step(params, grads, states, 2)
    assert [id(p) for p in params] == ids  # written into, not replaced
    for state, arrays in zip(states, held):
        assert all(state[name] is a for name, a in arrays.items())
    for g, b in zip(grads, before):
        np.testing.assert_array_equal(g, b)  # gradients are read only
    # so a read-only gradient is taken, and a broadcast one (stride 0: not dense) is stepped alone
    shared = [np.broadcast_to(g.reshape(-1)[:1].reshape((1,) * g.ndim), g.shape) for g in grads]
    alone = [p.copy() for p in params]
    expected = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()} for s in states]
    kernel.step(params, shared, states, 3)
    single = rule.kernel()
    for p, g, state, a in zip(params, shared, expected, alone):
        want, _ = single.step(a, np.ascontiguousarray(g), state, 3)
        np.testing.assert_array_equal(p, want)


@pytest.mark.parametrize("layouts", ["contiguous", "mixed"])
def test_torch_tensors_are_stepped_through_their_memory(group, torch, layouts, monkeypatch):
    """Parameters with gradients, as torch.optim holds them: contiguous (an optimizer's usual group),
    or mixed: channels-last and transposed (dense: in the pass), a strided slice (stepped alone),
    float32 and float64. The state is made as tensors laid out like their parameters. The same bits
    as the same group of NumPy arrays. On two threads, a usual group runs on the OpenMP team torch
    runs its own parallel loops on, where torch's parallel backend is OpenMP (its wheels'): one team
    of two threads a pass; elsewhere the group step's own threads run it."""
    from symopt.backends import group as module

    rule = SAMPLED[0]
    kernel = group(rule)
    openmp = "parallel backend: OpenMP" in torch.__config__.parallel_info()
    parallel = module._team()
    assert (parallel is not None) == openmp
    teams = []
    if parallel is not None:
        def counted(function, frame, threads, flags):
            teams.append(threads)
            parallel(function, frame, threads, flags)

        monkeypatch.setattr(module, "_team", lambda: counted)
    generator = torch.Generator().manual_seed(SEED)
    if layouts == "contiguous":
        tensors = [torch.randn(shape, generator=generator, dtype=torch.float32) for shape in [(4, 3), (7,), (2, 1, 5), (0,)]]
    else:
        base = torch.randn(6, 5, generator=generator, dtype=torch.float32)
        tensors = [torch.randn(4, 3, generator=generator, dtype=torch.float32),
                   torch.randn(2, 3, 4, 5, generator=generator).contiguous(memory_format=torch.channels_last),
                   torch.randn(5, 3, generator=generator).t(),
                   base[::2, 1:]]
    params = [torch.nn.Parameter(t) for t in tensors]
    for p in params:  # laid out like the parameter where it is dense, as autograd makes gradients
        p.grad = torch.empty_like(p).copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype))
    assert kernel.takes(params)
    assert not kernel.takes([*params, torch.ones(2, dtype=torch.float16)])
    assert not kernel.takes([torch.ones(2, dtype=torch.complex64)])
    arrays = [p.detach().numpy().copy() for p in params]
    grads = [p.grad.numpy().copy() for p in params]
    states, mine = [{} for _ in params], [{} for _ in params]
    for t in (1, 2, 3):
        kernel.step(params, [p.grad for p in params], states, t, threads=2, lr=0.1)
        kernel.step(arrays, grads, mine, t, threads=1, lr=0.1)
    assert teams == ([2] * 3 if openmp and layouts == "contiguous" else [])  # 15 chunks of 2: 2 threads
    for p, a, state, own in zip(params, arrays, states, mine):
        np.testing.assert_array_equal(p.detach().numpy(), a)
        for x in rule.arrays:
            assert isinstance(state[x.name], torch.Tensor)
            if p.is_contiguous() or p.is_contiguous(memory_format=torch.channels_last):
                assert state[x.name].stride() == p.stride()
            np.testing.assert_array_equal(state[x.name].numpy(), own[x.name])
    name = rule.arrays[0].name
    states[0][name] = torch.zeros(3, dtype=torch.float32)  # a state that does not fit its parameter: refused, nothing written
    before = [p.detach().clone() for p in params]
    with pytest.raises(SymoptError, match=rf"states\[0\]\[{name!r}\] is float32 of shape \(3,\), but params\[0\]"):
        kernel.step(params, [p.grad for p in params], states, 4, lr=0.1)
    assert all(torch.equal(p, b) for p, b in zip(params, before))


def test_bad_input_is_one_line(group):
    rule = SAMPLED[0]
    kernel = group(rule)
    p = np.ones(4, np.float32)

    def refused(match, params, grads, states=None, t=1, **hyper):
        with pytest.raises(SymoptError, match=match) as error:
            kernel.step(params, grads, [{} for _ in params] if states is None else states, t, **hyper)
        assert "\n" not in str(error.value)

    refused("as long as each other", [p], [])
    refused(r"grads\[0\] is float64 of shape \(4,\), but params\[0\] is float32", [p.copy()], [np.ones(4)])
    refused(r"grads\[0\] is float32 of shape \(2, 2\)", [p.copy()], [np.ones((2, 2), np.float32)])
    refused(r"params\[0\] is float16", [np.ones(4, np.float16)], [np.ones(4, np.float16)])
    frozen = p.copy()
    frozen.flags.writeable = False
    refused(r"params\[0\] is read-only", [frozen], [p.copy()])
    refused("must not overlap", [p], [p])
    refused(r"grads\[0\] must be a NumPy array or a CPU torch tensor, not list", [p.copy()], [[1.0] * 4])
    refused(r"states\[0\] must be a dict", [p.copy()], [p.copy()], states=[None])
    refused("t must be an integer from 1", [p.copy()], [p.copy()], t=0)
    refused("one per parameter", [p.copy()], [p.copy()], t=[1, 2])
    refused(f"unknown {rule.name} hyperparameter 'betas'", [p.copy()], [p.copy()], betas=0.9)
    with pytest.raises(SymoptError, match="chunk must be a whole number"):
        type(kernel)(rule, chunk=0)
    whole = next(symopt.get(name) for name in rules() if not symopt.get(name).elementwise)
    with pytest.raises(SymoptError, match=f"{whole.name} works on whole tensors"):
        type(kernel)(whole)


def test_a_worker_that_starts_late_leaves_its_chunks_to_the_calling_thread(group, monkeypatch):
    """Threads take the next chunk no thread has taken: a worker thread that has not started when the
    calling thread has stepped every chunk (a busy machine) is not waited for, and when it starts it
    finds nothing to take and writes nothing. The same bits as one thread."""
    import concurrent.futures

    from symopt.backends import group as module

    rule = SAMPLED[0]
    kernel = group(rule)  # chunks of 2 elements: 60 of them, enough for 2 threads (SHARE a thread)
    rng = np.random.default_rng(SEED)
    start = [rng.standard_normal(n) for n in (40, 42, 38)]
    grads = [[rng.standard_normal(p.shape) * 0.1 for p in start] for _ in range(2)]
    hyper = {h.name: float(h.default) for h in rule.hypers if h.default is not None}
    alone, states = [p.copy() for p in start], [{} for _ in start]
    for t in (1, 2):
        kernel.step(alone, grads[t - 1], states, t, threads=1, **hyper)

    late, waited = [], []

    class Later(concurrent.futures.Future):  # runs its call only when someone waits for it
        def __init__(self, call):
            super().__init__()
            self.call = call

        def result(self, timeout=None):
            waited.append(self)
            if not self.done():
                self.set_result(self.call())
            return super().result(timeout)

    class Pool:
        def submit(self, function, *arguments):
            late.append(Later(lambda: function(*arguments)))
            return late[-1]

    params, mine = [p.copy() for p in start], [{} for _ in start]
    kernel.step(params, grads[0], mine, 1, threads=2, **hyper)  # the first pass of a dtype: one thread
    monkeypatch.setattr(module, "_workers", Pool)
    kernel.step(params, grads[1], mine, 2, threads=2, **hyper)
    assert len(late) == 1 and not waited  # a worker was asked for, and not waited for
    for got, want in zip(params, alone):
        np.testing.assert_array_equal(got, want)
    taken = [p.copy() for p in params]
    assert late[0].result() == 60  # it starts now: every chunk is done, none is left to take
    for got, want in zip(params, taken):
        np.testing.assert_array_equal(got, want)

