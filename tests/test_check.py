"""`symopt check` on step functions as users write them (tests/user_steps/): each known bug named."""

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
