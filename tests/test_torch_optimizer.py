"""symopt.torch.Optimizer: torch.optim's trajectories on a real model (torch as oracle), the
references' on generated trajectories, state_dict resumes bit for bit, and its errors."""

from __future__ import annotations

import copy
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symopt
from symopt.errors import SymoptError
from symopt.verify import cross_check, reference_runner, torch_arguments

ROOT = Path(__file__).resolve().parents[1]
SEED = 19
def _against_torch():
    """Rules torch.optim has, elementwise and of dense gradients, from the registry (a fixed-seed
    sample of 5 in CI), with what each hyperparameter controls switched on (its busy value, read from
    its declaration) at a learning rate of 1e-2."""
    from conftest import busy_value, registry_sample

    from symopt.verify import torch_arguments

    chosen = registry_sample(lambda r: r.torch and r.elementwise and not r.sparse
                             and not isinstance(torch_arguments(r, {}), str), total=5, seed=3)
    return [(r.name, dict(r.options), {h.name: busy_value(h) for h in r.hypers} | {"lr": 1e-2}) for r in chosen]


AGAINST_TORCH = _against_torch()


def _adapter(torch, rule, **options):
    """A runner of generated trajectories through ``symopt.torch.Optimizer(..., **options)``: the
    group's hyperparameters set at each step, as a scheduler would."""
    from symopt.torch import Optimizer

    def run(case):
        param = torch.nn.Parameter(torch.tensor(case.params.copy()))
        optimizer = Optimizer([param], rule, **options, **case.hyper_at(1))
        out = []
        for t, grads in enumerate(case.grads, start=1):
            optimizer.param_groups[0].update(case.hyper_at(t))
            param.grad = torch.tensor(grads.copy())
            optimizer.step()
            out.append(param.detach().numpy().copy())
        return out

    return run


def model(torch, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))


def batches(torch, steps):
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(32, 8, generator=generator), torch.randint(0, 3, (32,), generator=generator))
            for _ in range(steps)]


def run(torch, net, optimizer, data, scheduler=None, clip=None):
    """Train on ``data`` (a mini-batch a step), clipping and scheduling as a user would."""
    for inputs, labels in data:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(inputs), labels).backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(net.parameters(), clip)
        optimizer.step()
        if scheduler:
            scheduler.step()
    return [p.detach().clone() for p in net.parameters()]


def groups(net, hyper):
    """Two param groups: the first layer at the group defaults, the last at a tenth of the rate."""
    first, _, last = net
    return [{"params": first.parameters()}, {"params": last.parameters(), "lr": hyper["lr"] / 10}]


@pytest.mark.parametrize("name, options, hyper", AGAINST_TORCH,
                         ids=[n + "".join(f"-{k}" for k in o) for n, o, _ in AGAINST_TORCH])
def test_matches_torch_optim_on_a_model(torch, name, options, hyper):
    """float64, mini-batches, two param groups, a StepLR schedule and gradient clipping: the same
    parameters as torch.optim's class (foreach=False) to float64 rounding."""
    from symopt.torch import Optimizer

    rule = symopt.get(name, **options)
    data = batches(torch, 12)
    ours, theirs = model(torch), model(torch)
    optimizer = Optimizer(groups(ours, hyper), rule, **hyper)
    reference = getattr(torch.optim, rule.torch)(groups(theirs, hyper), **torch_arguments(rule, hyper), foreach=False)
    expected = run(torch, theirs, reference, data, torch.optim.lr_scheduler.StepLR(reference, 4, 0.5), clip=1.0)
    got = run(torch, ours, optimizer, data, torch.optim.lr_scheduler.StepLR(optimizer, 4, 0.5), clip=1.0)
    assert optimizer.param_groups[1]["lr"] == reference.param_groups[1]["lr"] == hyper["lr"] / 10 * 0.5**3
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("spec", ["adamw", "nadam(decoupled_weight_decay=True)", "schedule-free-adamw"])
def test_state_dict_resumes_bit_for_bit(torch, spec):
    """Stop after 5 steps, save, restore into a new model and optimizer: the next 5 steps give the
    same bits as not stopping (float32; NAdam keeps a scalar state, Schedule-Free two)."""
    from symopt.torch import Optimizer

    data = [(x.float(), y) for x, y in batches(torch, 10)]
    net = model(torch).float()
    optimizer = Optimizer(net.parameters(), spec, lr=1e-2)
    run(torch, net, optimizer, data[:5])
    saved_model, saved = copy.deepcopy(net.state_dict()), copy.deepcopy(optimizer.state_dict())
    straight = run(torch, net, optimizer, data[5:])

    again = model(torch, seed=7).float()
    again.load_state_dict(saved_model)
    resumed = Optimizer(again.parameters(), spec, lr=0.5)  # the saved groups' values replace these
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == 1e-2
    for a, b in zip(run(torch, again, resumed, data[5:]), straight):
        assert torch.equal(a, b)


@pytest.fixture(autouse=True)
def one_thread(torch):
    """Tiny models run fastest on one thread (and a shared machine's threads spin against each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sampled() -> list[str]:
    """A fixed-seed sample of the registry's elementwise rules, with one that keeps a scalar state
    (NAdam's μ product) and one whose state starts at θ₀ (Schedule-Free's) if the sample has none."""
    from symopt import symbols as S

    elementwise = [n for n in symopt.rules() if symopt.get(n).elementwise]
    picked = random.Random(SEED).sample(elementwise, 2)
    for wanted in (lambda r: bool(r.scalars), lambda r: any(s.init == S.theta0 for s in r.states)):
        if not any(wanted(symopt.get(n)) for n in picked):
            picked.append(next(n for n in elementwise if wanted(symopt.get(n))))
    return picked


@pytest.mark.parametrize("name", _sampled())
def test_agrees_with_the_references(torch, name):
    """Generated trajectories (float64 and float32, scheduled learning rates, extreme gradients)
    against the hand-written NumPy references, within the running error bound."""

    rule = symopt.get(name)

    report = cross_check(rule, reference_runner(rule), against="reference", examples=8, seed=2,
                         under_test=_adapter(torch, rule))
    assert report.passed, (report.failure, report.counterexample and report.counterexample.errors.first)


def test_the_fused_group_step_agrees_with_the_references(torch):
    """``fused=True``: the group step (symopt.backends.group, one pass over the group's tensors) on
    generated trajectories of a rule of the sample, against the hand-written reference within the
    running error bound; its state dict resumes the per-tensor path, and back, within that bound too."""
    from conftest import require

    require("numba", install='pip install "symopt-toolkit[numba]"')
    from symopt.torch import Optimizer

    rule = symopt.get(random.Random(SEED).choice(_sampled()))

    report = cross_check(rule, reference_runner(rule), against="reference", examples=6, seed=3,
                         under_test=_adapter(torch, rule, fused=True))
    assert report.passed, (report.failure, report.counterexample and report.counterexample.errors.first)
    with pytest.raises(SymoptError, match="fused must be"):
        Optimizer([torch.nn.Parameter(torch.ones(2))], rule, fused="yes")


def test_bad_input_is_one_clear_error(torch):
    from symopt.torch import Optimizer

    w = [torch.nn.Parameter(torch.ones(2))]
    with pytest.raises(SymoptError, match="unknown rule 'adamww' \\(closest: 'adamw'\\)"):
        Optimizer(w, "adamww")
    with pytest.raises(SymoptError, match="unknown adamw hyperparameter 'betas' "):
        Optimizer(w, "adamw", betas=(0.9, 0.99))
    with pytest.raises(SymoptError, match=r"lr must be in \[0, inf\)"):
        Optimizer(w, "sgd", lr=-1.0)
    optimizer = Optimizer(w, "momentum")
    optimizer.param_groups[0]["momentum"] = 1.5  # checked again at each step
    w[0].grad = torch.ones(2)
    with pytest.raises(SymoptError, match="momentum must be in"):
        optimizer.step()


def test_import_symopt_without_torch():
    """`import symopt` and `import symopt.torch` need no torch; using the optimizer says what to install."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "import symopt, symopt.torch, symopt.torch.optim\n"
            "from symopt.errors import SymoptError\n"
            "try:\n    symopt.torch.Optimizer\nexcept SymoptError as e:\n    print(e)\n"
            "try:\n    symopt.torch.optim.Adam\nexcept SymoptError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120)
    assert out.stdout.splitlines() == ['symopt.torch needs torch: pip install "symopt-toolkit[torch]"'] * 2, out.stderr


def test_generated_code_is_torch_operations(torch):
    """The step is the rule's lowering printed as torch operations on the tensors, written in place:
    nothing goes through NumPy."""
    from symopt.torch import _torch_kernel

    kernel = _torch_kernel()(symopt.get("lion"))
    text = kernel.source(lr=1e-4)
    assert "numpy" not in text and "torch.sign(" in text and "a_theta_tm1.copy_(" in text
    assert np.__name__ not in text


def test_what_issue_19_found_accepted_silently_is_refused_or_applied(torch):
    """A torch key in a group is an error (not ignored); a complex parameter steps as its real view,
    as in torch; another optimizer's checkpoint, a wrong shape and a bad step are refused in one
    line; deepcopy keeps the rule."""
    from symopt.torch import Optimizer

    w = [torch.nn.Parameter(torch.ones(2, 3))]
    for key, value in (("maximize", True), ("betas", (0.9, 0.99)), ("amsgrad", True)):
        with pytest.raises(SymoptError, match=f"unknown adam param group key '{key}'"):
            Optimizer([{"params": w, key: value}], "adam")

    start = torch.tensor([[1.0 + 2.0j, -0.5j], [0.3, 2.0 - 1.0j]], dtype=torch.complex128)
    complex_, real = torch.nn.Parameter(start.clone()), torch.nn.Parameter(torch.view_as_real(start).clone())
    ours, theirs = Optimizer([complex_], "adam", lr=0.1), Optimizer([real], "adam", lr=0.1)
    for seed in range(3):
        grad = torch.randn(2, 2, 2, generator=torch.Generator().manual_seed(seed))
        complex_.grad, real.grad = torch.view_as_complex(grad.clone()), grad.clone()
        ours.step(), theirs.step()
    assert torch.equal(torch.view_as_real(complex_.detach()), real.detach())
    assert ours.state[complex_]["v"].is_complex() and (ours.state[complex_]["v"].imag >= 0).all()

    optimizer = Optimizer(w, "adam")
    w[0].grad = torch.ones(2, 3)
    optimizer.step()
    good = optimizer.state_dict()
    sgd = Optimizer([torch.nn.Parameter(torch.ones(2, 3))], "momentum")
    sgd.param_groups[0]["params"][0].grad = torch.ones(2, 3)
    sgd.step()
    bad = [sgd.state_dict(), torch.optim.SGD([torch.nn.Parameter(torch.ones(2, 3))], lr=0.1).state_dict(),
           {**good, "state": {0: {**good["state"][0], "m": torch.ones(7)}}}]
    bad += [{**good, "state": {0: {**good["state"][0], "step": step}}} for step in (-5, 0.5, 2**60)]
    for state_dict in bad:
        with pytest.raises(SymoptError) as exc:
            Optimizer(w, "adam").load_state_dict(state_dict)
        assert "\n" not in str(exc.value)
    copied = copy.deepcopy(optimizer)
    copied.step()
    assert copied.rule == optimizer.rule
