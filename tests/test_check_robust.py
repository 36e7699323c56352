"""`symopt check` on hostile code (tests/user_steps/hostile.py and friends): a verdict and the
documented exit status, never a traceback.

Exit 0: it conforms. Exit 1: it runs and does not conform (a different step, complex parameters or
ones of the wrong shape, results that change on a rerun, or an exception, SystemExit included, on a
valid case). Exit 2: it cannot be checked (no import, not callable, no readable signature, the
wrong keywords, or a return value that is not (params, state) with params an array of numbers).
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import symopt
from symopt import cli
from symopt.errors import SymoptError
from symopt.verify import BadReturn, StepRaised, check_function, load_function, run_steps

ROOT = Path(__file__).resolve().parents[1]
STEPS = "tests/user_steps/"


def check(runner, target, rule, examples=20):
    result = runner.invoke(cli.main, ["check", STEPS + target, "--rule", rule, "--examples", str(examples)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


# --- in place, torch style: correct, and passes ---------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "rule"),
    [("hostile.py:sgd_in_place", "sgd"), ("hostile.py:momentum_in_place", "momentum"),
     ("hostile.py:adamw_in_place", "adamw")],
)
def test_a_correct_function_that_updates_in_place_passes(runner, target, rule):
    result = check(runner, target, rule, examples=50)
    assert result.exit_code == 0 and "PASS: " in result.stdout, result.output


class Case:
    """A trajectory as the strategies draw it, by hand."""

    def __init__(self, params, grads, hyper):
        self.params, self.grads, self.hyper, self.schedule = params, grads, hyper, None

    def hyper_at(self, t):
        return dict(self.hyper)


def test_run_steps_gives_copies_and_records_copies():
    params = np.array([1.0, 2.0])
    grads = [np.array([1.0, 1.0]), np.array([2.0, 2.0]), np.array([3.0, 3.0])]
    case = Case(params.copy(), [g.copy() for g in grads], {"lr": 0.5})
    handed = []

    def step(p, g, state, t, lr):
        handed.append(p)
        g *= 10  # scribbles over the gradient it was given
        p -= lr * g / 10
        state.setdefault("all", []).append(p)  # and keeps what it returned
        return p, state

    out = run_steps(step, case)
    np.testing.assert_array_equal(out[0], [0.5, 1.5])
    np.testing.assert_array_equal(out[1], [-0.5, 0.5])
    np.testing.assert_array_equal(out[2], [-2.0, -1.0])
    np.testing.assert_array_equal(case.params, params)  # the case is untouched
    for g, original in zip(case.grads, grads):
        np.testing.assert_array_equal(g, original)
    assert not any(o is h for o in out for h in handed)  # the record is never handed out again


# --- junk returned: exit 2, one line --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("function", "said"),
    [
        ("returns_string", "returned a str as params"),
        ("returns_dict", "returned a dict"),
        ("returns_none", "returned None"),
        ("returns_params_only", "step 1 returned a float64"),  # params of shape (), minus a number
        ("returns_three", "returned a tuple of 3 items"),
        ("returns_object_array", "returned an array of object as params"),
        ("returns_booleans", "bool as params"),
        ("coroutine", "returned a coroutine"),
        ("returns_hostile_object", "returned params NumPy cannot read as an array (SystemExit: 0)"),
    ],
)
def test_junk_returned_is_unusable_exit_2(runner, function, said):
    result = check(runner, f"hostile.py:{function}", "sgd")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"symopt: cannot check {function}: it must return (params, state)")
    assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("function", "said"),
    [
        ("returns_complex", "FAIL: step 1 returned complex parameters (complex128): they must be real"),
        ("returns_wrong_shape", "FAIL: step 1 returned params of shape"),
        ("exits", "FAIL: the function raised SystemExit: 0"),
        ("raises_base_exception", "FAIL: the function raised Stop: not an Exception"),
    ],
)
def test_wrong_but_running_is_a_failure_exit_1(runner, function, said):
    result = check(runner, f"hostile.py:{function}", "sgd")
    assert result.exit_code == 1, result.output
    assert said in result.stdout and "dtype float64" in result.stdout  # the case it failed on


def test_a_function_that_does_not_repeat_itself_fails(runner):
    result = check(runner, "hostile.py:not_repeatable", "sgd")
    assert result.exit_code == 1 and "FAIL: it gives different results when run again" in result.stdout


# --- not a step function: exit 2, one line ------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("hostile.py:builtin", "max has no signature to read (a builtin?)"),
        ("hostile.py:not_callable", "hostile.py:not_callable is not callable (it is an int)"),
        ("hostile.py:nothing", "hostile.py:nothing is not callable (it is None)"),
        ("exits_on_import.py:step", "importing 'tests/user_steps/exits_on_import.py' failed: SystemExit: 0"),
        ("exits_on_lookup.py:step", "looking up 'step' in 'tests/user_steps/exits_on_lookup.py' failed: SystemExit: 0"),
        ("conftest.py:collect_ignore", "is not callable (it is a list)"),
    ],
)
def test_not_a_step_function_is_unusable_exit_2(runner, target, said):
    result = check(runner, target, "sgd")
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and said in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_file_that_is_not_python(runner, tmp_path):
    (tmp_path / "step.txt").write_text("def step(params, grads, state, t, lr, weight_decay):\n    pass\n")
    result = runner.invoke(cli.main, ["check", f"{tmp_path}/step.txt:step", "--rule", "sgd"])
    assert result.exit_code == 2 and "not a Python file" in result.stderr


def test_a_user_module_with_dataclasses_imports(runner, tmp_path):
    """A module loaded from a file is in sys.modules while it runs, as dataclasses need."""
    (tmp_path / "with_state.py").write_text(
        "from __future__ import annotations\nimport dataclasses\nimport typing\n\n"
        "@dataclasses.dataclass\nclass State:\n    n: typing.ClassVar[int] = 0\n\n"
        "def step(params, grads, state, t, lr, weight_decay):\n"
        "    return params - lr * (grads + weight_decay * params), state\n")
    result = runner.invoke(cli.main, ["check", f"{tmp_path}/with_state.py:step", "--rule", "sgd", "--examples", "10"])
    assert result.exit_code == 0, result.output


def test_a_user_file_does_not_stand_in_for_a_real_module(runner, tmp_path):
    (tmp_path / "matplotlib.py").write_text(
        "def step(params, grads, state, t, lr, weight_decay):\n"
        "    return params - lr * (grads + weight_decay * params), state\n")
    result = runner.invoke(cli.main, ["check", f"{tmp_path}/matplotlib.py:step", "--rule", "sgd", "--examples", "5"])
    assert result.exit_code == 0, result.output
    assert getattr(sys.modules.get("matplotlib"), "__file__", "") != str(tmp_path / "matplotlib.py")


# --- the library ------------------------------------------------------------------------------------------
def test_library_raises_one_line_errors():
    with pytest.raises(SymoptError, match="has no signature to read"):
        check_function(max, symopt.get("sgd"), examples=5)
    with pytest.raises(SymoptError, match=r"cannot check returns_dict: .* returned a dict"):
        check_function(load_function(STEPS + "hostile.py:returns_dict"), symopt.get("sgd"), examples=5)
    with pytest.raises(SymoptError, match="SystemExit"):
        load_function(STEPS + "exits_on_import.py:step")
    assert "exits_on_import" not in sys.modules


def test_errors_of_a_step_function_are_typed():
    case = Case(np.zeros(2), [np.ones(2)], {"lr": 0.1})
    with pytest.raises(BadReturn) as bad:
        run_steps(lambda p, g, s, t, lr: (p.astype(complex), s), case)
    assert not bad.value.unusable
    with pytest.raises(BadReturn) as bad:
        run_steps(lambda p, g, s, t, lr: None, case)
    assert bad.value.unusable
    with pytest.raises(StepRaised, match="SystemExit: 3"):
        run_steps(lambda p, g, s, t, lr: sys.exit(3), case)


# --- as a real process ----------------------------------------------------------------------------------------
def symopt_process(*args):
    script = Path(sys.executable).parent / "symopt"
    return subprocess.run([str(script), *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_as_a_process_sys_exit_in_the_function_is_a_verdict():
    done = symopt_process("check", STEPS + "hostile.py:exits", "--rule", "sgd", "--examples", "5")
    assert done.returncode == 1 and "FAIL: the function raised SystemExit: 0" in done.stdout
    assert "Traceback" not in done.stderr


def test_as_a_process_unusable_code_is_one_line_and_exit_2():
    for target in ("exits_on_import.py:step", "hostile.py:returns_none", "hostile.py:builtin"):
        done = symopt_process("check", STEPS + target, "--rule", "sgd", "--examples", "5")
        assert done.returncode == 2, (target, done.stdout, done.stderr)
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("symopt: "), done.stderr


def test_check_help_documents_the_exit_status(runner):
    out = runner.invoke(cli.main, ["check", "--help"]).output
    assert "Exit status:" in out and "0  it conforms" in out and "1  it runs but" in out and "2  it cannot be" in out


# --- what the function does stays in its child process -----------------------------------------------------
@pytest.mark.parametrize(
    ("function", "code", "said"),
    [
        ("starts_a_thread", 0, "PASS: "),  # and returns: the thread dies with the child
        ("closes_its_streams", 0, "PASS: "),
        ("forges_the_verdict", 1, "FAIL: it takes a different step"),
        ("ends_the_process", 1, "FAIL: the function's process ended with exit status 0 during a call"),
        ("crashes", 1, "FAIL: the function's process was killed by SIGSEGV during a call"),
    ],
)
def test_what_the_function_does_to_its_process_is_a_verdict(runner, function, code, said):
    result = check(runner, f"hostile.py:{function}", "sgd", examples=5)
    assert result.exit_code == code and said in result.stdout, result.output


def test_a_call_that_hangs_times_out_and_cannot_be_checked(runner):
    result = runner.invoke(cli.main, ["check", STEPS + "hostile.py:sleeps", "--rule", "sgd", "--timeout", "0.3"])
    assert result.exit_code == 2, result.output
    assert result.stderr == ("symopt: cannot check tests/user_steps/hostile.py:sleeps: a call of the function took "
                             "longer than 0.3 s (symopt check --timeout)\n")


@pytest.mark.parametrize(
    ("body", "said"),
    [("import os\nos._exit(0)\n", "its process ended with exit status 0"),
     ("import ctypes\nctypes.string_at(0)\n", "its process was killed by SIGSEGV"),
     ("import time\ntime.sleep(3600)\n", "took longer than 60 s")],
    ids=["exits", "crashes", "hangs"],
)
def test_a_module_that_ends_its_process_while_importing_cannot_be_checked(runner, tmp_path, monkeypatch, body, said):
    from symopt import isolation

    monkeypatch.setattr(isolation, "IMPORT_TIMEOUT", 0.5) if "sleep" in body else None
    (tmp_path / "mine.py").write_text(body)
    result = runner.invoke(cli.main, ["check", f"{tmp_path}/mine.py:step", "--rule", "sgd", "--timeout", "0.1"])
    said = said.replace("60 s", "0.5 s")
    assert result.exit_code == 2 and result.stdout == "", result.output
    assert said in result.stderr and result.stderr.count("\n") == 1, result.stderr
