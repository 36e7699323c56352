"""What verify does not compare: a rule's evaluation point kept beside θ (ASGD's average ā, read by
``eval_params``), and a rule of sparse gradients (SparseAdam) on gradients that touch some rows.

Both iterate the registry by property: rules with ``evaluate`` and a torch class that keeps that
state under the same key, and rules with ``sparse``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import symopt
from symopt.errors import SymoptError
from symopt.strategies import TOLERANCE, Trajectory, trajectories
from symopt.verify import compare_trajectories, magnitude_runner

AVERAGED = [n for n in symopt.rules() if symopt.get(n).evaluate and symopt.get(n).torch]
SPARSE = [n for n in symopt.rules() if symopt.get(n).sparse]


def _eval_points(rule, case, torch):
    """ā after each step: the kernel's ``eval_params``, the reference's state and torch's state."""
    from symopt.reference import REFERENCES

    kernel, key = rule.kernel(), rule.evaluate
    params, state, ours = case.params.copy(), kernel.init(case.params, **case.hyper_at(1)), []
    reference, ref_params, ref_state = REFERENCES[rule.name], case.params.copy(), {}
    theirs, refs = [], []
    param = torch.tensor(case.params.copy(), requires_grad=True)
    from symopt.verify import torch_arguments

    optimizer = getattr(torch.optim, rule.torch)([param], foreach=False, **torch_arguments(rule, case.hyper_at(1)))
    for t, grads in enumerate(case.grads, start=1):
        hyper = case.hyper_at(t)
        params, state = kernel.step(params, grads, state, t, **hyper)
        ours.append(kernel.eval_params(params, state).copy())
        ref_params, ref_state = reference(ref_params, grads, ref_state, t, **hyper)
        refs.append(np.array(ref_state[key], copy=True))
        optimizer.param_groups[0]["lr"] = hyper["lr"]
        param.grad = torch.tensor(grads.copy())
        optimizer.step()
        theirs.append(optimizer.state[param][key].detach().numpy().copy())
    return ours, refs, theirs


@pytest.mark.parametrize("name", AVERAGED)
def test_the_evaluation_point_follows_the_reference_and_torch(torch, name):
    """Generated cases (t₀ drawn small enough that the average starts): the kernel's eval_params
    against the reference's and torch's kept average, within the running bound of that state."""
    rule = symopt.get(name)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch keeps its scalars (η̂, μ̂, the step) in float64, as here

    @settings(max_examples=25, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(trajectories(rule))
    def check(case):
        ours, refs, theirs = _eval_points(rule, case, torch)
        bound = magnitude_runner(rule, rule.evaluate)(case)
        for witness in (refs, theirs):
            errors = compare_trajectories(np.zeros_like(case.params), witness, ours, TOLERANCE[case.dtype], bound)
            assert errors.first is None, errors.first

    try:
        check()
    finally:
        torch.set_default_dtype(previous)


@pytest.mark.parametrize("name", AVERAGED)
def test_the_evaluation_point_comparison_kills_the_mutants_verify_cannot(name):
    """Each mutant of what θ does not read (the average's equation, or the order it reads the
    scalar states in) fails the comparison of its eval_params with the reference's average."""
    from hypothesis import Phase

    from symopt.mutate import mutants
    from symopt.reference import REFERENCES

    rule = symopt.get(name)
    found = mutants(rule, beside_theta=True)
    assert found  # the average has equations of its own
    reference = REFERENCES[name]
    for mutant in found:
        kernel = mutant.rule.kernel()
        bound = magnitude_runner(rule, rule.evaluate)

        # t₀ must be drawn small and the case long enough for the average to start: 200 cases (60 let
        # a mutant through once in CI's suite), no shrinking (a mutant fails on its first counterexample)
        @settings(max_examples=200, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(trajectories(rule, dtype=np.float64))
        def check(case):
            params, state, ref_params, ref_state, ours, refs = case.params.copy(), kernel.init(
                case.params, **case.hyper_at(1)), case.params.copy(), {}, [], []
            for t, grads in enumerate(case.grads, start=1):
                params, state = kernel.step(params, grads, state, t, **case.hyper_at(t))
                ours.append(kernel.eval_params(params, state).copy())
                ref_params, ref_state = reference(ref_params, grads, ref_state, t, **case.hyper_at(t))
                refs.append(np.array(ref_state[rule.evaluate], copy=True))
            errors = compare_trajectories(np.zeros_like(case.params), refs, ours, TOLERANCE[case.dtype], bound(case))
            assert errors.first is None

        with pytest.raises((AssertionError, SymoptError)):  # a different average, or no step at all
            check()


@pytest.mark.parametrize("name", SPARSE)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_touched_rows_are_the_kernel_on_those_rows(torch, name, dtype):
    """torch on sparse gradients touching random rows of an embedding (some steps none, a touched
    row's gradient sometimes 0) is the kernel stepped on the touched rows alone, with the parameter's
    own step count t, and the reference given the touched elements."""
    from symopt.reference import REFERENCES

    rule = symopt.get(name)
    rng = np.random.default_rng(5)
    rows, cols, steps = 6, 3, 40
    hyper = {h.name: h.default for h in rule.hypers} | {"lr": 0.05}
    params = rng.standard_normal((rows, cols)).astype(dtype)
    param = torch.tensor(params.copy(), requires_grad=True)
    from symopt.verify import torch_arguments

    optimizer = getattr(torch.optim, rule.torch)([param], **torch_arguments(rule, hyper))
    kernel, reference = rule.kernel(), REFERENCES[name]
    ours, state = params.copy(), kernel.init(params, **hyper)
    ref, ref_state = params.copy(), {}
    case = Trajectory(np.dtype(dtype), params, [], hyper)
    before, kept = params.copy(), params.copy()
    for t in range(1, steps + 1):
        touched = np.flatnonzero(rng.random(rows) < 0.4)
        values = rng.standard_normal((touched.size, cols)).astype(dtype) * (rng.random((touched.size, 1)) < 0.8)
        indices = torch.tensor(touched).reshape(1, -1)
        param.grad = torch.sparse_coo_tensor(indices, torch.tensor(values), (rows, cols), check_invariants=True)
        optimizer.step()
        if touched.size:
            gathered = {k: v[touched] for k, v in state.items()}
            ours[touched], new = kernel.step(ours[touched], values, gathered, t, **hyper)
            for k, v in new.items():
                state[k][touched] = v
        dense = np.zeros_like(params)
        dense[touched] = values
        mask = np.zeros(params.shape, dtype=bool)
        mask[touched] = True
        ref, ref_state = reference(ref, dense, ref_state, t, touched=mask, **hyper)
        expected = param.detach().numpy()
        scale = np.abs(expected) + np.abs(params) + hyper["lr"] * t  # every step moves θ by at most ~η
        assert np.all(np.abs(ours - expected) <= 64 * TOLERANCE[case.dtype] * scale), t
        assert np.all(np.abs(ref - expected) <= 64 * TOLERANCE[case.dtype] * scale), t
        untouched = np.setdiff1d(np.arange(rows), touched)
        # a row the gradient does not touch keeps its θ, in torch and in the kernel
        assert np.array_equal(expected[untouched], before[untouched]) and np.array_equal(ours[untouched], kept[untouched])
        before, kept = expected.copy(), ours.copy()
