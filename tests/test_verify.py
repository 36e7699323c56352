"""Hypothesis cross-checks of every kernel against the hand-written references and torch.optim."""

import sys

import numpy as np
import pytest
from hypothesis import settings

import symopt
from symopt import cli, reference
from symopt.optimizers import RULES, label, variants
from symopt.strategies import TOLERANCE, Trajectory
from symopt.verify import compare_trajectories, cross_check, kernel_runner, magnitude_runner, reference_runner, verify

EXAMPLES = settings().max_examples  # the loaded profile's: 100 on a laptop, 120 in CI
ALL = [symopt.get(name, **options) for name in RULES for options in variants(name)]
# A rule's variants in one test share one budget of cases beyond a dozen (AdamW's conventions make
# 72 variants): each variant still runs, with at least an eighth of the examples of a rule with few.
PER_RULE = 12


def examples_for(rule, among) -> int:
    count = sum(r.name == rule.name for r in among)
    return max(EXAMPLES // 8, EXAMPLES * PER_RULE // max(PER_RULE, count))


@pytest.mark.parametrize("rule", ALL, ids=label)
def test_kernel_agrees_with_the_hand_written_reference(rule):
    report = verify(rule, "reference", examples=examples_for(rule, ALL))
    assert report.passed, report.counterexample and report.counterexample.errors.first
    assert report.errors["float64"].max_rel <= TOLERANCE[np.dtype("float64")]
    assert report.errors["float32"].max_rel <= TOLERANCE[np.dtype("float32")]


def _torch_has(rule) -> bool:
    from symopt.verify import torch_arguments

    try:
        return not isinstance(torch_arguments(rule, {}), str)
    except ImportError:  # without torch the torch tests skip (and fail in CI)
        return rule.torch != ""


# Every registered variant torch.optim implements, from the rules' own torch mapping.
TORCH_RULES = [r for r in ALL if _torch_has(r)]


@pytest.mark.parametrize("rule", TORCH_RULES, ids=label)
def test_kernel_agrees_with_torch_on_generated_trajectories(torch, rule):
    report = verify(rule, "torch", examples=examples_for(rule, TORCH_RULES))
    assert report.passed and report.cases >= examples_for(rule, TORCH_RULES)
    assert report.errors["float64"].max_rel <= 1e-12


@pytest.mark.parametrize("rule", TORCH_RULES, ids=label)
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_kernel_follows_torch_for_50_steps(torch, rule, weight_decay):
    """Fixed cases that are sure to cover dampening (skipped by torch on step 1) and weight decay."""
    from symopt.verify import rounding_of, torch_runner

    rounding = rounding_of(rule, "torch")  # Muon: torch's bfloat16 Newton-Schulz, rounded the same way

    rng = np.random.default_rng(7)
    hyper = {h.name: h.default for h in rule.hypers} | {"lr": 0.01, "weight_decay": weight_decay}
    if rule.name == "momentum":
        hyper.update(momentum=0.8, dampening=0.0 if dict(rule.options)["nesterov"] else 0.3)
    if rule.name == "rmsprop":
        hyper.update(momentum=0.5, alpha=0.9)
    if "beta1" in hyper:
        hyper.update(beta1=0.8, beta2=0.99, eps=1e-6)
    case = Trajectory(np.dtype("float64"), rng.standard_normal((3, 4)),
                      [rng.standard_normal((3, 4)) for _ in range(50)], hyper)
    expected, actual = torch_runner(rule)(case), kernel_runner(rule, rounding=rounding)(case)
    plain = max(float(np.max(np.abs(a - e) / np.abs(e))) for a, e in zip(actual, expected))
    assert plain < (1e-12 if rounding is None else 1e-5)  # elementwise relative, away from zero
    scales = magnitude_runner(rule, rounding=rounding)(case)
    assert compare_trajectories(case.params, expected, actual, 1e-12, scales).first is None


@pytest.mark.parametrize("rule", TORCH_RULES, ids=label)
def test_nan_and_inf_propagate_as_in_torch(torch, rule):
    from symopt.verify import torch_runner

    shape = (1, 5) if rule.ranks == (2,) else (5,)  # Muon takes matrices only
    grads = [np.array([1.0, np.nan, np.inf, -np.inf, 2.0]).reshape(shape), np.array([1.0, 1.0, 1.0, 1.0, np.nan]).reshape(shape)]
    case = Trajectory(np.dtype("float64"), np.ones(shape), grads,
                      {h.name: h.default for h in rule.hypers} | {"weight_decay": 0.1})
    for e, a in zip(torch_runner(rule)(case), kernel_runner(rule)(case)):
        # Non-finite where torch is; which of NaN and ±inf depends on the order of the operations
        # (θ(1 - ηλ) against θ - ηλθ at θ = inf): the same for the rules whose order symopt follows.
        assert np.array_equal(np.isfinite(e), np.isfinite(a))
        if rule.name in ("sgd", "momentum", "adam", "adamw"):
            assert np.array_equal(np.isnan(e), np.isnan(a)) and np.array_equal(np.isinf(e), np.isinf(a))
        finite = np.isfinite(e)
        assert np.allclose(e[finite], a[finite], rtol=1e-12, atol=0)


def test_a_different_rule_fails_the_cross_check():
    """The cross-check can fail: ε inside the root is caught against the reference with ε outside."""
    wrong = symopt.get("adam", epsilon="inside")
    report = cross_check(wrong, reference_runner(symopt.get("adam")), against="reference", examples=50)
    assert not report.passed and report.counterexample.errors.first is not None


def test_compare_trajectories_measures_against_the_error_bound():
    start = np.array([0.0, 1.0])
    expected = [np.array([1e-3, np.nan]), np.array([2e-3, np.inf])]
    assert compare_trajectories(start, expected, [e.copy() for e in expected], 1e-12).first is None
    off = [expected[0] + np.array([1e-14, 0.0]), expected[1]]
    assert compare_trajectories(start, expected, off, 1e-12).first == (1, (0,), 1e-3, 1e-3 + 1e-14)
    # With a larger error bound (a sum that cancelled), the same difference is within tolerance.
    bounds = [np.array([1e3, 1.0]), np.array([1e3, 1.0])]
    assert compare_trajectories(start, expected, off, 1e-12, bounds).first is None
    nan_for_inf = [expected[0], np.array([2e-3, np.nan])]
    assert compare_trajectories(start, expected, nan_for_inf, 1e-12).first[0] == 2


def test_verify_command_passes_and_prints_errors(runner):
    result = runner.invoke(cli.main, ["verify", "sgd", "momentum", "--examples", "10"])
    assert result.exit_code == 0
    assert result.output.count("PASS") == 1 + len(variants("momentum"))  # sgd, and every momentum variant


def test_verify_command_fails_with_a_counterexample(runner, monkeypatch):
    def bad_sgd(params, grads, state, t, *, lr=1e-3, weight_decay=0.0, inplace=False):
        return params - lr * grads - weight_decay * params, state  # decay not scaled by lr

    monkeypatch.setitem(reference.REFERENCES, "sgd", bad_sgd)
    result = runner.invoke(cli.main, ["verify", "sgd", "--examples", "50"])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "expected θ =" in result.output and "weight_decay=" in result.output


def test_verify_against_torch_without_torch_says_how_to_install(runner, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    result = runner.invoke(cli.main, ["verify", "adam", "--against", "torch", "--examples", "5"])
    assert result.exit_code == 2 and "needs torch: pip install" in result.output


def test_verify_all_against_torch(runner, torch):
    result = runner.invoke(cli.main, ["verify", "--all", "--against", "torch", "--examples", "10"])
    assert result.exit_code == 0
    assert result.output.count("PASS") == len(TORCH_RULES) == 20
    assert "skipped: torch.optim.Adam has no option epsilon='hat'" in result.output
    assert "skipped: torch.optim has no lion" in result.output


@pytest.mark.parametrize("args", [["verify", "sgd"], ["check", "tests/user_steps/correct.py:adamw", "--rule", "adamw"]])
def test_without_hypothesis_the_commands_say_how_to_install_it(runner, monkeypatch, args):
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    result = runner.invoke(cli.main, args)
    assert result.exit_code == 2 and 'pip install "symopt-toolkit[verify]"' in result.output
