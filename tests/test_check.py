"""`symopt check` on step functions as users write them (tests/user_steps/): each known bug named."""

import re

import pytest
import sympy as sp

import symopt
from symopt import cli
from symopt.compare import same_step
from symopt.mistakes import MISTAKES

STEPS = "tests/user_steps/"


def check(runner, target, rule, *extra):
    target = target if target.startswith("nosuch") else STEPS + target
    result = runner.invoke(cli.main, ["check", target, "--rule", rule, "--examples", "50", *extra])
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("target", "rule", "mistake"),
    [
        ("buggy.py:adamw_decay_not_scaled", "adamw", "decay-not-scaled-by-lr"),
        ("buggy.py:adamw_decay_as_l2", "adamw", "decay-as-l2"),
        ("buggy.py:adam_eps_inside_sqrt", "adam", "eps-inside-sqrt"),
        ("buggy.py:adam_eps_before_bias_correction", "adam", "eps-before-bias-correction"),
        ("buggy.py:adam_no_bias_correction", "adam", "no-bias-correction"),
        ("buggy.py:momentum_dampened_first_step", "momentum", "dampening-on-first-step"),
        ("buggy.py:momentum_lr_inside_buffer", "momentum", "lr-inside-buffer"),
        ("buggy.py:sgd_decay_not_scaled", "sgd", "decay-not-scaled-by-lr"),
    ],
)
def test_each_shipped_bug_is_named(runner, target, rule, mistake):
    code, out = check(runner, target, rule)
    assert code == 1
    assert f"likely mistake [{mistake}]" in out and "expected θ =" in out


@pytest.mark.parametrize(("target", "rule"), [("correct.py:adamw", "adamw"), ("correct.py:momentum", "momentum")])
def test_a_correct_independent_implementation_passes(runner, target, rule):
    code, out = check(runner, target, rule)
    assert code == 0 and "PASS: " in out


def test_an_unknown_bug_fails_without_a_name(runner):
    code, out = check(runner, "buggy.py:adamw_decay_sign_flipped", "adamw")
    assert code == 1 and "FAIL" in out and "likely mistake" not in out


def test_a_function_that_raises_is_a_failure_not_a_traceback(runner):
    code, out = check(runner, "buggy.py:adamw_crashes", "adamw")
    assert code == 1 and "the function raised RuntimeError: state went missing" in out


def test_module_import_by_name(runner, monkeypatch):
    monkeypatch.syspath_prepend("tests")
    result = runner.invoke(cli.main, ["check", "user_steps.correct:adamw", "--rule", "adamw", "--examples", "20"])
    assert result.exit_code == 0


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nosuchmodule_xyz:step", "cannot import 'nosuchmodule_xyz'"),
        ("buggy.py:nope", "has no 'nope'"),
        ("buggy.py:wrong_signature", "the function must accept (params, grads, state, t, lr, beta1, beta2, eps, weight_decay)"),
        ("buggy.py", "is not MODULE:FUNCTION"),
        ("missing.py:step", "no file"),
    ],
)
def test_unusable_input_exits_2_in_one_line(runner, target, message):
    code, out = check(runner, target, "adamw")
    assert code == 2 and message in out and len(out.strip().splitlines()) == 1


def test_every_mistake_is_a_different_rule():
    for name, mistakes in MISTAKES.items():
        correct = symopt.get(name)
        for mistake in mistakes:
            wrong = mistake.build()
            assert [h.name for h in wrong.hypers] == [h.name for h in correct.hypers]
            assert not same_step(correct, wrong), mistake.key


def test_lr_inside_buffer_equals_torch_form_under_constant_lr():
    """Why the check draws learning-rate schedules: with η constant the two momentum forms agree."""
    from symopt import symbols as S

    torch_form = symopt.get("momentum")
    inside = next(m for m in MISTAKES["momentum"] if m.key == "lr-inside-buffer").build()
    # b_inside = η b_torch: substitute and compare the parameter update.
    theta_inside = inside.step_map()[S.theta].subs(S.b_prev, S.eta * S.b_prev)
    assert sp.simplify(theta_inside - torch_form.step_map()[S.theta]) == 0


# --- reaching what matters: late steps, every shape class, torch's rounding --------------------------
@pytest.mark.parametrize(("target", "rule", "conforms"), [
    ("late.py:adamax", "adamax", True),
    ("late.py:adamax_bias_correction_until_100", "adamax", False),  # wrong from step 101 only
    ("late.py:adafactor", "adafactor", True),
])
def test_late_steps_are_reached(runner, target, rule, conforms):
    code, out = check(runner, target, rule, "--examples", "20")
    assert code == (0 if conforms else 1), out
    assert ("PASS: " in out and "pairs compared" in out) if conforms else "step 101" in out


@pytest.mark.parametrize("seed", [0, 4, 11])
def test_a_rule_that_does_not_factor_stacks_fails_for_every_seed(runner, seed):
    code, out = check(runner, "late.py:adafactor_matrices_only", "adafactor", "--examples", "5", "--seed", str(seed))
    assert code == 1 and re.search(r"shape \(\d+, \d+, \d+\)", out)  # a stack, generated or the explicit one


@pytest.mark.parametrize(("target", "rounding", "conforms"), [
    ("muon_torch.py:torch_muon", "bfloat16", True),
    ("muon_torch.py:torch_muon", "none", False),
    ("muon_torch.py:float64_muon", "none", True),
    ("muon_torch.py:float64_muon", "bfloat16", False),
])
def test_muon_is_checked_as_torch_rounds_it_when_asked(runner, torch, target, rounding, conforms):
    code, out = check(runner, target, "muon", "--examples", "10", "--rounding", rounding)
    assert code == (0 if conforms else 1), out


def test_rounding_a_rule_torch_does_not_round_is_refused(runner):
    code, out = check(runner, "correct.py:adamw", "adamw", "--rounding", "bfloat16")
    assert code == 2 and "no operation torch computes in bfloat16" in out and len(out.strip().splitlines()) == 1


def test_check_json_states_what_was_compared(runner):
    import json

    code, out = check(runner, "correct.py:momentum", "momentum", "--examples", "10", "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["verdict"] == "PASS" and data["function"].endswith("correct.py:momentum")
    (d,) = data["dtypes"].values()
    assert d["compared"] <= d["generated"] and d["fraction"] >= data["floor"]
