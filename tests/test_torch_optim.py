"""symopt.torch.optim against torch.optim: a fixed-seed sample of torch's own optimizer database
(optim_db's CPU configs, float64 and float32, 20 steps, from the same initialisation), and the
behaviours torch's TestOptimRenewed checks: checkpoints both ways, param groups, None and zero
gradients, schedulers, complex parameters, low precision, torch.compile, error inputs.

Every class comes from the registry (symopt.torch.optim.names()); the whole database runs in
benchmarks/torch_optim_db.py.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import io
import random
from pathlib import Path

import pytest

from symopt.errors import SymoptError

ROOT = Path(__file__).resolve().parents[1]
# One process builds each class's variants and kernels once (most of this module's ~16 s), not one per
# xdist worker.
pytestmark = pytest.mark.xdist_group("torch-optim")


def _sweep():
    spec = importlib.util.spec_from_file_location("torch_optim_db", ROOT / "benchmarks" / "torch_optim_db.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def optim(torch):
    from symopt.torch import optim

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is fastest, and the machine is shared
    yield optim
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def db(torch):
    from conftest import require

    require("expecttest", install="pip install expecttest==0.3.0 (torch's test database imports it)")
    from torch.testing._internal.common_optimizers import optim_db

    return {info.optim_cls.__name__: info for info in optim_db}


def one_line(exc) -> bool:
    return "\n" not in str(exc.value) and str(exc.value)


def params_for(torch, cls, dtype=None, seed=0):
    """A matrix, and a vector and a 3-D tensor where the class's rules take any shape."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(4, 3)] + ([] if any(r.ranks for r in cls._rules) else [(3,), (2, 2, 3)])
    return [torch.randn(s, generator=generator, dtype=dtype or torch.get_default_dtype()) for s in shapes]


def sparse_classes() -> set:
    """torch.optim's classes of rules of sparse gradients (SparseAdam: it takes sparse ones only)."""
    from symopt.optimizers import RULES, get

    return {get(name).torch for name in RULES if get(name).sparse}


def gradient(torch, p, generator, sparse):
    """A seeded gradient for ``p``; with ``sparse``, a sparse COO one touching random rows."""
    real = torch.view_as_real(p) if p.is_complex() else p
    grad = torch.randn(real.shape, generator=generator, dtype=real.dtype)
    grad = torch.view_as_complex(grad) if p.is_complex() else grad
    if sparse:
        rows = torch.rand(p.shape[0], generator=generator) < 0.5
        grad = (grad * rows.reshape(-1, *[1] * (p.dim() - 1)).to(grad.dtype)).to_sparse(1)
    return grad


def train(torch, optimizer, params, steps, seed=1, after=None):
    generator = torch.Generator().manual_seed(seed)
    rule = getattr(optimizer, "rule", None)  # symopt.torch.Optimizer's
    sparse = type(optimizer).__name__ in sparse_classes() or bool(rule and rule.sparse)
    for _ in range(steps):
        for p in params:
            p.grad = gradient(torch, p, generator, sparse)
        optimizer.step()
        for scheduler in after or ():
            plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
            scheduler.step(1.0) if plateau else scheduler.step()
    return [p.detach().clone() for p in params]


def pair(torch, optim, name, init, **kwargs):
    """symopt's and torch's optimizer of class ``name`` on copies of ``init``."""
    ours = [torch.nn.Parameter(x.clone()) for x in init]
    theirs = [torch.nn.Parameter(x.clone()) for x in init]
    reference = getattr(torch.optim, name)
    single = {"foreach": False} if "foreach" in inspect.signature(reference).parameters else {}
    return ours, getattr(optim, name)(ours, **kwargs), theirs, reference(theirs, **kwargs, **single)


def close(torch, a, b, cls):
    """The dtype's tolerance (a rule torch rounds inside, Muon's, rounds as torch does: torch's bfloat16
    operations)."""
    tolerance = dict(rtol=2e-5, atol=2e-6) if a[0].dtype != torch.float64 else dict(rtol=1e-9, atol=1e-12)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y, **tolerance)


# --- torch's database ------------------------------------------------------------------------------
def test_a_sample_of_optim_db_agrees_with_torch(torch, optim):
    """For each optimizer symopt has, a config of optim_db's CPU configs drawn with a fixed seed, in
    float64 or float32 by turns (SparseAdam's with sparse gradients, as torch's tests give it; Muon's
    bfloat16 iteration at the dtype's tolerance): the same parameters as torch.optim after 20 steps
    (every config in both dtypes: benchmarks/torch_optim_db.py)."""
    from conftest import require

    require("expecttest", install="pip install expecttest==0.3.0 (torch's test database imports it)")
    sweep = _sweep()
    by_class: dict = {}
    for info, optim_input in sweep.configs():
        if info.optim_cls.__name__ in optim.names():
            by_class.setdefault(info.optim_cls.__name__, []).append((info, optim_input))
    assert set(by_class) == set(optim.names())
    generator = random.Random(0)
    for k, (name, configs) in enumerate(sorted(by_class.items())):
        info, optim_input = generator.choice(configs)
        dtype = (torch.float64, torch.float32)[k % 2]
        verdict = sweep.compare(info, optim_input, dtype, steps=20)
        assert verdict == "pass", (name, optim_input.desc, dtype, verdict)


def test_a_rule_torch_rounds_inside_follows_torch_in_float64(torch, optim):
    """A class whose rule torch computes partly in bfloat16 (Muon's iteration): every optim_db config
    in float64, 20 steps, at float64's tolerance. symopt's NumPy rounding fails every one of them
    (its update is float32, multiplied by η in float32; and with this seed two configs meet a bfloat16
    tie at step 15 that it rounds apart from torch); torch's bfloat16 operations pass them all."""
    from symopt.verify import rounding_of

    sweep = _sweep()
    rounding = {n for n in optim.names() if any(rounding_of(r, "torch") for r in getattr(optim, n)._rules)}
    assert rounding
    for info, optim_input in sweep.configs():
        if info.optim_cls.__name__ in rounding:
            verdict = sweep.compare(info, optim_input, torch.float64, steps=20)
            assert verdict == "pass", (info.optim_cls.__name__, optim_input.desc, verdict)


def test_sparse_gradients_as_torch_takes_them(torch, optim):
    """A class of a rule of sparse gradients refuses a dense gradient, as torch's, and any other class
    a sparse one, in one line; a sparse gradient touching no element advances the step count alone."""
    for name in optim.names():
        w = torch.nn.Parameter(torch.ones(4, 3))
        optimizer = getattr(optim, name)([w])
        sparse = name in sparse_classes()
        w.grad = torch.ones(4, 3) if sparse else torch.ones(4, 3).to_sparse()
        with pytest.raises(SymoptError, match="sparse") as exc:
            optimizer.step()
        assert one_line(exc)
        if sparse:
            w.grad = torch.zeros(4, 3).to_sparse()
            optimizer.step()
            assert torch.equal(w.detach(), torch.ones(4, 3)) and int(optimizer.state[w]["step"]) == 1


def test_fused_and_foreach_step_each_group_in_one_pass(torch, optim):
    """``fused=True`` (or ``foreach=True`` where torch has no fused): a fixed-seed sample of the
    classes of elementwise rules, float32 and float64 tensors with a complex and a bfloat16 one in the
    same group (those two, which the group step does not take, on the generated code), 12 steps:
    torch.optim's for-loop numbers at the dtype's tolerance; a state dict resumes either way."""
    from conftest import require

    require("numba", install='pip install "symopt-toolkit[numba]"')
    from symopt.torch import _group_kernel

    elementwise = [n for n in optim.names() if all(r.elementwise for r in getattr(optim, n)._rules)
                   and n not in sparse_classes() and _takes_complex(torch, n)]
    for name in random.Random(19).sample(elementwise, 2):
        cls = getattr(optim, name)
        signature = inspect.signature(cls).parameters
        keyword = "fused" if "fused" in signature else "foreach"
        generator = torch.Generator().manual_seed(7)
        init = [torch.randn(5, 4, generator=generator, dtype=torch.float64), torch.randn(6, generator=generator),
                torch.randn(3, 2, generator=generator, dtype=torch.complex128),
                torch.randn(4, generator=generator).to(torch.bfloat16)]
        ours_p, ours, theirs_p, theirs = pair(torch, optim, name, init, lr=0.01)  # torch's: its for-loop
        ours = cls(ours_p, lr=0.01, **{keyword: True})
        got, expected = train(torch, ours, ours_p, 12), train(torch, theirs, theirs_p, 12)
        close(torch, got[:3], expected[:3], cls)
        torch.testing.assert_close(got[3].double(), expected[3].double(), rtol=0.03, atol=0.03)
        assert _group_kernel(cls._rules[0]) is not None  # the pass ran (numba installed)
        # the state dict of the fused run continues on the per-tensor path, and torch's
        plain = cls([torch.nn.Parameter(p.detach().clone()) for p in ours_p], lr=0.01)
        plain.load_state_dict(copy.deepcopy(ours.state_dict()))
        plain_p = plain.param_groups[0]["params"]
        plain.param_groups[0][keyword] = False
        close(torch, train(torch, plain, plain_p, 4, seed=3)[:3], train(torch, ours, ours_p, 4, seed=3)[:3], cls)


def test_the_fused_step_sees_a_replaced_or_resized_tensor(torch, optim):
    """The fused step keeps what it checked of a group under the tensors' addresses and layouts: a
    parameter's ``.data`` replaced, a gradient laid out anew, a state tensor replaced are each seen
    (torch.optim's trajectory goes on); a state resized in place, or a ``.data`` that keeps the address
    with a smaller shape, after steps at the same addresses (checked by a guard of the layouts), is
    refused in one line with nothing written, and the run resumes once undone.
    A class of an elementwise rule with array states, picked with a fixed seed."""
    from conftest import require

    require("numba", install='pip install "symopt-toolkit[numba]"')
    usual = [n for n in optim.names() if all(r.elementwise and r.arrays and not r.sparse and not r.scalars
                                             for r in getattr(optim, n)._rules)]
    name = random.Random(19).choice(usual)
    cls = getattr(optim, name)
    keyword = "fused" if "fused" in inspect.signature(cls).parameters else "foreach"
    generator = torch.Generator().manual_seed(5)
    init = [torch.randn(4, 3, generator=generator, dtype=torch.float64), torch.randn(6, generator=generator,
                                                                                       dtype=torch.float64)]
    ours_p, _, theirs_p, theirs = pair(torch, optim, name, init, lr=0.01)
    ours = cls(ours_p, lr=0.01, **{keyword: True})

    def step(ours_step=True, theirs_step=True):
        for p, q in zip(ours_p, theirs_p):  # into the same gradients, as zero_grad(set_to_none=False) keeps them
            g = torch.randn(p.shape, generator=generator, dtype=p.dtype)
            for x in (p, q):
                if x.grad is None or x.grad.shape != x.shape:
                    x.grad = torch.empty_like(x)
                x.grad.copy_(g)
        if ours_step:
            ours.step()
        if theirs_step:
            theirs.step()

    def agree():
        close(torch, [p.detach() for p in ours_p], [p.detach() for p in theirs_p], cls)

    step(), step()
    fresh = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    ours_p[0].data, theirs_p[0].data = fresh.clone(), fresh.clone()  # new memory: a new key
    step()
    agree()
    step()
    g = ours_p[0].grad
    ours_p[0].grad = g.t().contiguous().t()  # the same numbers laid out column by column: stepped alone
    assert not ours_p[0].grad.is_contiguous()
    ours.step(), theirs.step()
    agree()
    ours_p[0].grad = None  # a contiguous one again at the next step
    key = next(k for k in ours.state[ours_p[1]] if k != "step")
    ours.state[ours_p[1]][key] = ours.state[ours_p[1]][key] * 0.5  # a state replaced
    theirs.state[theirs_p[1]][key] = theirs.state[theirs_p[1]][key] * 0.5
    step(), step()  # the same addresses twice in a row: checked by a guard from now on
    agree()
    before = [p.detach().clone() for p in ours_p]
    ours.state[ours_p[1]][key].resize_(3)  # resized in place, at the same address: refused, nothing written
    with pytest.raises(SymoptError) as refused:
        step(theirs_step=False)
    assert one_line(refused) and all(torch.equal(p.detach(), b) for p, b in zip(ours_p, before))
    ours.state[ours_p[1]][key].resize_(6)  # undone: its numbers kept
    theirs.step()
    ours.step()
    step()
    agree()
    whole = ours_p[1].data
    ours_p[1].data = whole[:3]  # the same address, a smaller shape: its state no longer fits
    ours_p[1].grad = torch.ones(3, dtype=torch.float64)
    before = [p.detach().clone() for p in ours_p]
    with pytest.raises(SymoptError) as refused:
        ours.step()
    assert one_line(refused) and all(torch.equal(p.detach(), b) for p, b in zip(ours_p, before))
    ours_p[1].data = whole
    ours_p[1].grad = None
    step()
    agree()


def test_a_state_torch_keeps_no_count_of_starts_at_its_first_step(torch, optim):
    """Where torch.optim's class keeps no step count (SGD's momentum buffer), symopt's keeps none either:
    the step that makes a state is its first. A fused step refused after making the states (the
    gradient is the parameter's memory) leaves none, so that the next (by the generated code: nothing
    to compile) is the first again, as torch's (with dampening, whose first step differs from the
    others). The first such class of elementwise rules."""
    from conftest import require

    from symopt.torch.optim import _torch_counts

    require("numba", install='pip install "symopt-toolkit[numba]"')
    name = next(n for n in optim.names() if not _torch_counts(n) and all(r.elementwise for r in getattr(optim, n)._rules))
    signature = inspect.signature(getattr(optim, name)).parameters
    kwargs = {"momentum": 0.9} if "momentum" in signature and signature["momentum"].default == 0 else {}
    kwargs.update({"dampening": 0.5} if "dampening" in signature else {})
    init = [torch.randn(4, 3, generator=torch.Generator().manual_seed(3))]
    ours_p, _, theirs_p, theirs = pair(torch, optim, name, init, **kwargs)
    ours = getattr(optim, name)(ours_p, **kwargs, **{"fused" if "fused" in signature else "foreach": True})
    ours_p[0].grad = ours_p[0].detach()  # the parameter's own memory: refused in one line
    with pytest.raises(SymoptError) as refused:
        ours.step()
    assert one_line(refused) and not ours.state[ours_p[0]]
    ours.param_groups[0].update(fused=None, foreach=None) if "fused" in signature else \
        ours.param_groups[0].update(foreach=None)
    close(torch, train(torch, ours, ours_p, 3), train(torch, theirs, theirs_p, 3), optim)
    assert ours.state[ours_p[0]].keys() == theirs.state[theirs_p[0]].keys() and "step" not in ours.state[ours_p[0]]


def _takes_complex(torch, name) -> bool:
    try:
        getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(2, dtype=torch.complex64))])
    except ValueError:
        return False
    return True


def test_every_class_is_generated_with_torchs_signature(torch, optim):
    """One class per torch.optim class a registered rule names, with torch's signature verbatim."""
    from symopt.optimizers import RULES, get

    expected = {get(name).torch for name in RULES if get(name).torch and hasattr(torch.optim, get(name).torch)}
    assert set(optim.names()) == expected
    for name in optim.names():
        cls = getattr(optim, name)
        assert inspect.signature(cls) == inspect.signature(getattr(torch.optim, name))
        assert isinstance(cls([torch.nn.Parameter(torch.ones(2, 2))]), torch.optim.Optimizer)


def test_a_class_without_a_rule_is_refused_in_one_line(torch, optim):
    with pytest.raises(SymoptError, match="needs a closure") as exc:
        optim.LBFGS  # noqa: B018
    assert one_line(exc) and not hasattr(optim, "LBFGS")
    with pytest.raises(AttributeError):
        optim.NotAnOptimizer  # noqa: B018


# --- keywords and param groups --------------------------------------------------------------------
def test_group_keys_are_applied_as_torch_applies_them(torch, optim):
    """maximize, a Tensor lr and each structural keyword, in one group of two: the same numbers as
    torch.optim (never ignored)."""
    for name in optim.names():
        cls = getattr(optim, name)
        signature = inspect.signature(cls).parameters
        structural = [k for r in cls._rules for k, v in r.options if k in signature and isinstance(v, bool)]
        init = params_for(torch, cls)
        extra = {k: not signature[k].default for k in dict.fromkeys(structural)}
        if "maximize" in signature:
            extra["maximize"] = True
        if "momentum" in signature and signature["momentum"].default == 0:
            extra["momentum"] = 0.5  # a buffer (SGD's momentum rule, RMSprop's)
        if extra.get("nesterov") and "dampening" in signature:
            extra["dampening"] = 0.0
        ours_p = [torch.nn.Parameter(x.clone()) for x in init]
        theirs_p = [torch.nn.Parameter(x.clone()) for x in init]
        reference = getattr(torch.optim, name)
        single = {"foreach": False} if "foreach" in signature else {}
        lr = torch.tensor(0.01) if "Tensor" in str(signature["lr"].annotation) else 0.01
        ours = cls([{"params": ours_p[:1], **extra}, {"params": ours_p[1:]}], lr=lr)
        theirs = reference([{"params": theirs_p[:1], **extra}, {"params": theirs_p[1:]}], lr=lr, **single)
        close(torch, train(torch, ours, ours_p, 6), train(torch, theirs, theirs_p, 6), cls)


def test_unknown_keys_and_groups_no_rule_computes_are_one_line_errors(torch, optim):
    w = [torch.nn.Parameter(torch.ones(2, 2))]
    for name in optim.names():
        cls = getattr(optim, name)
        with pytest.raises(SymoptError, match="unknown") as exc:
            cls(w, lr_typo=0.1)
        assert one_line(exc)
        with pytest.raises(SymoptError, match="param group key") as exc:
            cls([{"params": w, "momentun": 0.5}])
        assert one_line(exc)
        with pytest.raises(SymoptError, match="lr must be in") as exc:
            cls(w, lr=-1.0)
        assert one_line(exc)
        if "differentiable" in inspect.signature(cls).parameters:
            with pytest.raises(SymoptError, match="differentiable") as exc:
                cls(w, differentiable=True)
            assert one_line(exc)
    # a key set by hand after construction: another optimizer's keyword is refused at the step
    for name in optim.names():
        optimizer = getattr(optim, name)(w)
        other = next(k for n in optim.names() for k in inspect.signature(getattr(torch.optim, n)).parameters
                     if k not in inspect.signature(getattr(torch.optim, name)).parameters and k != "params")
        optimizer.param_groups[0][other] = True
        w[0].grad = torch.ones(2, 2)
        with pytest.raises(SymoptError, match=f"takes no {other}") as exc:
            optimizer.step()
        assert one_line(exc)
    # a hyperparameter changed after construction is checked at the step
    sgd = optim.SGD(w, lr=0.1, momentum=0.9)
    sgd.param_groups[0]["momentum"] = 1.5
    w[0].grad = torch.ones(2, 2)
    with pytest.raises(SymoptError, match="momentum must be in") as exc:
        sgd.step()
    assert one_line(exc)


def test_none_and_zero_gradients(torch, optim):
    """A parameter without a gradient is skipped (no state), a zero gradient is a step, as in torch."""
    for name in optim.names():
        init = params_for(torch, getattr(optim, name))
        ours_p, ours, theirs_p, theirs = pair(torch, optim, name, init + [init[0] * 2])
        sparse = name in sparse_classes()  # a sparse zero gradient touches nothing: only the count moves
        for p, q in zip(ours_p, theirs_p):
            p.grad, q.grad = (torch.zeros_like(x).to_sparse() if sparse else torch.zeros_like(x) for x in (p, q))
        ours_p[-1].grad = theirs_p[-1].grad = None
        ours.step(), theirs.step()
        assert not ours.state[ours_p[-1]] and set(ours.state[ours_p[0]]) >= set(theirs.state[theirs_p[0]]) - {"step"}
        close(torch, [p.detach() for p in ours_p], [p.detach() for p in theirs_p], getattr(optim, name))


# --- checkpoints ---------------------------------------------------------------------------------
def test_checkpoints_go_both_ways(torch, optim):
    """torch.optim's state dict after 4 steps loads into symopt's class, which continues as torch
    does; symopt's loads into torch.optim's, which continues as symopt's; symopt's own resume, deepcopy
    and pickle are bit for bit."""
    for name in optim.names():
        cls = getattr(optim, name)
        init = params_for(torch, cls)
        signature = inspect.signature(cls).parameters
        # a buffer where torch's default has none (SGD's: torch keeps no step count beside it)
        kwargs = {"momentum": 0.9} if "momentum" in signature and signature["momentum"].default == 0 else {}
        ours_p, ours, theirs_p, theirs = pair(torch, optim, name, init, **kwargs)
        train(torch, theirs, theirs_p, 4)
        train(torch, ours, ours_p, 2, seed=9)  # a different history, replaced by the checkpoint
        with torch.no_grad():
            for p, q in zip(ours_p, theirs_p):
                p.copy_(q)
        ours.load_state_dict(copy.deepcopy(theirs.state_dict()))  # torch's load keeps the tensors
        close(torch, train(torch, ours, ours_p, 4, seed=2), train(torch, theirs, theirs_p, 4, seed=2), cls), name

        again_p = [torch.nn.Parameter(p.detach().clone()) for p in ours_p]
        reference = getattr(torch.optim, name)(again_p)
        reference.load_state_dict(copy.deepcopy(ours.state_dict()))
        copied, copied_p = copy.deepcopy((ours, ours_p))
        buffer = io.BytesIO()
        torch.save((ours, ours_p), buffer)
        buffer.seek(0)
        loaded, loaded_p = torch.load(buffer, weights_only=False)
        resumed_p = [torch.nn.Parameter(p.detach().clone()) for p in ours_p]
        resumed = cls(resumed_p, lr=0.5)  # the saved groups' values replace these
        resumed.load_state_dict(copy.deepcopy(ours.state_dict()))
        expected = train(torch, ours, ours_p, 3, seed=3)
        assert all(torch.equal(a, b) for a, b in zip(train(torch, resumed, resumed_p, 3, seed=3), expected))
        close(torch, train(torch, reference, again_p, 3, seed=3), expected, cls)
        for other, other_p in ((copied, copied_p), (loaded, loaded_p)):
            assert type(other) is cls
            assert all(torch.equal(a, b) for a, b in zip(train(torch, other, other_p, 3, seed=3), expected))


def test_bad_checkpoints_are_refused_in_one_line(torch, optim):
    w = torch.nn.Parameter(torch.ones(4, 3))
    for name in optim.names():
        cls = getattr(optim, name)
        ours = cls([w])
        w.grad = torch.ones(4, 3).to_sparse() if name in sparse_classes() else torch.ones(4, 3)
        ours.step()
        good = ours.state_dict()
        other = next(n for n in optim.names() if set(inspect.signature(getattr(torch.optim, n)).parameters)
                     != set(inspect.signature(cls).parameters) and n not in sparse_classes())
        foreign = getattr(torch.optim, other)([torch.nn.Parameter(torch.ones(4, 3))])
        foreign.param_groups[0]["params"][0].grad = torch.ones(4, 3)
        foreign.step()
        bad = [foreign.state_dict()]
        arrays = [k for k, v in good["state"][0].items() if isinstance(v, torch.Tensor) and v.dim()]
        if arrays:
            bad.append({**good, "state": {0: {**good["state"][0], arrays[0]: torch.ones(7)}}})
        for step in (-5, 0.5, 2**60, float("nan")):
            bad.append({**good, "state": {0: {**good["state"][0], "step": torch.tensor(float(step))}}})
        for state_dict in bad:
            with pytest.raises(SymoptError) as exc:
                cls([w]).load_state_dict(state_dict)
            assert one_line(exc), (name, state_dict)


# --- schedulers, complex, low precision, compile ------------------------------------------------
def test_torchs_schedulers_drive_the_classes(torch, optim, db):
    """Every scheduler list of each class's OptimizerInfo, and OneCycleLR cycling the momentum
    (``betas`` or ``momentum`` in the groups), as on torch.optim's class."""
    for name in optim.names():
        cls = getattr(optim, name)
        init = params_for(torch, cls)
        makers = list(db[name].scheduler_inputs)
        signature = inspect.signature(cls).parameters
        if "betas" in signature or "momentum" in signature:
            makers.append([lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.01, total_steps=10)])
        for make in makers:
            kwargs = {"momentum": 0.9} if "momentum" in signature and signature["momentum"].default == 0 else {}
            ours_p, ours, theirs_p, theirs = pair(torch, optim, name, init, **kwargs)
            got = train(torch, ours, ours_p, 5, after=[m(ours) for m in make])
            expected = train(torch, theirs, theirs_p, 5, after=[m(theirs) for m in make])
            assert [g["lr"] for g in ours.param_groups] == [g["lr"] for g in theirs.param_groups]
            close(torch, got, expected, cls)


def test_complex_parameters_are_their_real_view(torch, optim):
    """As torch: a complex parameter steps as its real view, for every class whose rules are
    elementwise and whose torch class takes one (Rprop's step size starts at η in both real parts);
    the classes of rules on whole tensors, and those torch's refuses it for, refuse one in one line."""
    for name in optim.names():
        cls = getattr(optim, name)
        init = [torch.randn(3, 2, dtype=torch.complex128, generator=torch.Generator().manual_seed(4))]
        try:
            getattr(torch.optim, name)([torch.nn.Parameter(init[0].clone())])
            refused = False
        except ValueError:  # torch's class takes none (SparseAdam)
            refused = True
        if refused or not all(r.elementwise for r in cls._rules):
            with pytest.raises(SymoptError, match="complex") as exc:
                cls([torch.nn.Parameter(init[0].clone())])
            assert one_line(exc)
            continue
        kwargs = {"maximize": True} if "maximize" in inspect.signature(cls).parameters else {}
        ours_p, ours, theirs_p, theirs = pair(torch, optim, name, init, **kwargs)
        close(torch, train(torch, ours, ours_p, 5), train(torch, theirs, theirs_p, 5), cls)
        # torch's keys, a step count only where torch keeps one (not SGD's)
        assert ours.state[ours_p[0]].keys() == theirs.state[theirs_p[0]].keys(), name


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_follows_torch(torch, optim, dtype):
    """bfloat16 and float16 parameters are stepped in their dtype, as torch's for-loop path does:
    within a few units in the last place of torch.optim after 5 steps."""
    dtype = getattr(torch, dtype)
    for name in optim.names():
        cls = getattr(optim, name)
        if not all(r.elementwise for r in cls._rules):
            continue  # on whole tensors symopt runs NumPy's kernel, which has no half types
        init = [x.to(dtype) for x in params_for(torch, cls)]
        ours_p, ours, theirs_p, theirs = pair(torch, optim, name, init, lr=0.01)
        got, expected = train(torch, ours, ours_p, 5), train(torch, theirs, theirs_p, 5)
        unit = torch.finfo(dtype).eps
        for a, b in zip(got, expected):
            torch.testing.assert_close(a.double(), b.double(), rtol=4 * unit, atol=4 * unit)


def test_compile_gives_the_eager_trajectory(torch, optim):
    """torch.compile (eager backend; inductor in the benchmark) of the step after eager steps: the
    same bits as eager, the scalar states included (NAdam's μ product froze in issue 19)."""
    cls = getattr(optim, next(n for n in optim.names() if any(r.scalars for r in getattr(optim, n)._rules)))
    init = params_for(torch, cls)

    def run(compiled):
        params = [torch.nn.Parameter(x.clone()) for x in init]
        optimizer = cls(params, lr=0.01)
        train(torch, optimizer, params, 4)
        step = torch.compile(optimizer.step, backend="eager") if compiled else optimizer.step
        generator = torch.Generator().manual_seed(5)
        for _ in range(4):
            for p in params:
                p.grad = torch.randn(p.shape, generator=generator)
            step()
        return params, optimizer.state[params[0]]

    (eager, state), (compiled, compiled_state) = run(False), run(True)
    assert all(torch.equal(a, b) for a, b in zip(eager, compiled))
    assert all(state[k] == compiled_state[k] if not isinstance(state[k], torch.Tensor) else
               torch.equal(state[k], compiled_state[k]) for k in state)


def test_a_checkpoint_of_symopt_torch_optimizer_loads(torch, optim):
    """symopt.torch.Optimizer's state dict (the rule's names: m, v, beta1, beta2) loads into the class
    of the rule's torch counterpart, which continues with the same bits (the same generated step)."""
    from symopt.optimizers import RULES, get
    from symopt.torch import Optimizer

    for name in RULES:
        for rule in getattr(optim, get(name).torch, None)._rules if get(name).torch in optim.names() else ():
            if rule.name != name or not rule.elementwise:
                continue
            init = params_for(torch, getattr(optim, rule.torch))
            generic_p = [torch.nn.Parameter(x.clone()) for x in init]
            generic = Optimizer(generic_p, rule, lr=0.01)
            train(torch, generic, generic_p, 3)
            ours_p = [torch.nn.Parameter(p.detach().clone()) for p in generic_p]
            # the structural keywords of the variant (symopt's state dict keeps them in its rule)
            options = {k: v for k, v in rule.options if k in inspect.signature(getattr(optim, rule.torch)).parameters}
            ours = getattr(optim, rule.torch)(ours_p, **options, **({"momentum": 0.9} if rule.hyper("momentum") else {}))
            ours.load_state_dict(copy.deepcopy(generic.state_dict()))
            expected = train(torch, generic, generic_p, 3, seed=2)
            assert all(torch.equal(a, b) for a, b in zip(train(torch, ours, ours_p, 3, seed=2), expected)), rule
