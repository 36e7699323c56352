"""Messages for bad input: one line that says what is wrong, exit status 2."""

import os

import pytest

from symopt import cli
from symopt.errors import UnknownNameError, closest


def run(runner, *args):
    result = runner.invoke(cli.main, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def one_line_error(result, *needles):
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.output
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_an_option_of_a_rule_without_options(runner):
    result = run(runner, "derive", "sgd", "-O", "foo=1")
    one_line_error(result, "sgd has no", "options")
    assert not result.stderr.rstrip().endswith("valid:")


def test_no_valid_names_is_said_in_words():
    assert str(UnknownNameError("sgd option", "foo", [])) == "unknown sgd option 'foo': sgd has no options"
    assert str(UnknownNameError("rule", "x", [])) == "unknown rule 'x': there are no rules"


@pytest.mark.parametrize(("typed", "suggested"), [("ADAM", "adam"), ("AdamW", "adamw"), ("SGD", "sgd"),
                                                  ("Momentum", "momentum")])
def test_the_closest_match_ignores_case(runner, typed, suggested):
    one_line_error(run(runner, "derive", typed), f"unknown rule {typed!r} (closest: {suggested!r})")


def test_names_stay_exact_and_lower_case(runner):
    assert run(runner, "derive", "ADAM").exit_code == 2  # suggested, not accepted
    assert closest("ADAM", ["sgd", "adam"]) == "adam"
    assert closest("Bias_Correction", ["bias_correction", "epsilon"]) == "bias_correction"
    assert closest("x", []) is None


def test_an_option_given_twice_is_an_error(runner):
    result = run(runner, "derive", "adam", "-O", "epsilon=inside", "-O", "epsilon=hat")
    one_line_error(result, "'epsilon' is given twice")
    result = run(runner, "latex", "adam", "-O", "epsilon=inside", "-O", " epsilon =hat")
    one_line_error(result, "'epsilon' is given twice")


def test_an_empty_derivation_after_the_colon_is_an_error(runner):
    one_line_error(run(runner, "latex", "adam:"), "'adam:' names no derivation after ':'")
    assert run(runner, "latex", "adam:coupling").exit_code == 0


def test_plot_help_does_not_promise_printing(runner):
    out = " ".join(run(runner, "plot", "--help").output.split())
    assert "instead of printing" not in out and "The file to draw into (required)" in out
    assert "instead of printing" in " ".join(run(runner, "latex", "--help").output.split())  # latex does print


def test_export_help_explains_force(runner):
    out = run(runner, "export", "--help").output
    assert "--force" in out and "GENERATED" in out


def test_one_typo_beats_a_longer_likeness():
    rules = ["sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad", "adamax", "nadam", "radam", "lion"]
    assert closest("adma", rules) == "adam"  # a swap, not 'adamax' (difflib's choice)
    assert closest("adamww", rules) == "adamw" and closest("Nadam", rules) == "nadam"
    assert closest("bias", ["bias_correction", "epsilon"]) == "bias_correction"  # no typo near: difflib


# --- the library: hostile values are one-line SymoptErrors, and contracts hold ----------------------------------
import numpy as np  # noqa: E402

import symopt  # noqa: E402
from symopt.errors import SymoptError  # noqa: E402
from symopt.optimizers import RULES  # noqa: E402


def elementwise_rules():
    return [symopt.get(name) for name in RULES if symopt.get(name).elementwise]


def test_huge_hyperparameters_are_a_step_or_a_one_line_error():
    """Every unbounded hyperparameter of every rule at 1e300 (Schedule-Free's t**r overflows Python's
    math) and at 10**400 (no float): three steps, or a SymoptError, never another exception."""
    params = np.ones(3)
    for rule in elementwise_rules():
        kernel = rule.kernel()
        for h in rule.hypers:
            if h.high != float("inf"):
                continue
            with pytest.raises(SymoptError, match=f"{h.name} must be in .*too large for a float"):
                kernel.step(params, params, kernel.init(params), 1, **{h.name: 10**400})
            state = kernel.init(params)
            try:
                for t in (1, 2, 3):
                    _, state = kernel.step(params, params, state, t, **{h.name: 1e300})
            except SymoptError as error:
                assert "\n" not in str(error)


def test_a_state_holding_a_string_or_a_huge_number_is_a_symopt_error():
    params = np.ones(2)
    for rule in elementwise_rules():
        kernel = rule.kernel()
        for s in rule.states:
            state = kernel.init(params)
            state[s.name] = "abc" if not s.scalar else 10**400
            with pytest.raises(SymoptError, match=rf"state\['{s.name}'\]"):
                kernel.step(params, params, state, 1)


def test_inplace_writes_into_the_callers_arrays_or_refuses():
    for rule in elementwise_rules():
        kernel = rule.kernel()
        params, grads = np.linspace(0.5, 1.5, 4), np.linspace(-1.0, 1.0, 4)
        state = kernel.init(params)
        expected, expected_state = kernel.step(params.copy(), grads, {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in state.items()}, 1)
        arrays = {s.name: state[s.name] for s in rule.arrays}
        out, new_state = kernel.step(params, grads, state, 1, inplace=True)
        assert out is params and all(new_state[name] is a for name, a in arrays.items()), rule.name
        np.testing.assert_array_equal(params, expected)
        for name, a in arrays.items():
            np.testing.assert_array_equal(a, expected_state[name])
        if rule.arrays:  # state in another dtype than params: it cannot be written into
            narrow = kernel.init(params.astype(np.float32))
            with pytest.raises(SymoptError, match="inplace=True writes into state"):
                kernel.step(params, grads, narrow, 1, inplace=True)


def test_masked_arrays_are_refused():
    kernel = symopt.get("adam").kernel()
    params = np.ones(3)
    masked = np.ma.masked_array(params, [0, 1, 0])
    for args, name in [((masked, params, kernel.init(params)), "params"), ((params, masked, kernel.init(params)), "grads"),
                       ((params, params, {**kernel.init(params), "m": masked}), "state['m']")]:
        with pytest.raises(SymoptError, match=rf"{name.replace('[', '.').replace(']', '.')} is a masked array"):
            kernel.step(*args, 1)


def test_a_torch_group_value_that_is_no_number_is_a_symopt_error():
    from conftest import require

    torch = require("torch", install="pip install torch==2.13.0")
    import symopt.torch

    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.ones(3)
    with pytest.raises(SymoptError, match="lr must be in .*too large for a float"):
        symopt.torch.Optimizer([p], "sgd", lr=10**400)
    optimizer = symopt.torch.Optimizer([p], "sgd", lr=0.1)
    for value, said in [(None, "not None"), (10**400, "too large for a float"), ("0.1", "not '0.1'")]:
        optimizer.param_groups[0]["lr"] = value
        with pytest.raises(SymoptError, match=said):
            optimizer.step()
    optimizer.param_groups[0]["lr"] = torch.tensor(0.5)  # a one-element tensor is its number
    optimizer.step()
    assert p.detach().tolist() == [0.5, 0.5, 0.5]


def test_equivalent_refuses_no_examples_before_any_work(monkeypatch):
    from symopt import equiv

    monkeypatch.setattr(equiv, "_decide", lambda *a: pytest.fail("decided before checking examples"))
    for examples in (0, -1, 1.5, True):
        with pytest.raises(SymoptError, match="examples must be a whole number of at least 1"):
            symopt.equivalent("sgd", "sgd", examples=examples)


# --- the streams: a full disk is one line, any encoding prints ----------------------------------------------------
def symopt_process(*args, env=None, **kwargs):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    environment = {**os.environ, "PYTHONPATH": str(root), **(env or {})}
    return subprocess.run([sys.executable, "-m", "symopt", *args], env=environment, cwd=root, timeout=120, **kwargs)


def test_a_full_output_device_is_one_line_and_exit_1():
    from conftest import require

    with open(require(path="/dev/full"), "w") as full:
        done = symopt_process("list", stdout=full, stderr=-1, text=True)
    assert done.returncode == 1 and done.stderr == "symopt: cannot write the output: No space left on device\n"


def test_a_terminal_that_cannot_encode_unicode_gets_ascii_notation():
    done = symopt_process("derive", "adamw", "--only", "moving-averages", env={"PYTHONIOENCODING": "latin-1"},
                          capture_output=True)
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
    text = done.stdout.decode("latin-1")
    assert "theta" in text and "sqrt" in text and "?" not in text.replace("? ", "")


def test_ascii_notation_spells_what_the_printer_writes():
    from symopt.terminal import ASCII, ascii_notation

    assert ascii_notation("θₜ = θₜ₋₁ − η·m̂ₜ/(√v̂ₜ + ε)") == "theta_t = theta_(t-1) - eta*m^_t/(sqrtv^_t + epsilon)"
    assert ascii_notation("λ_eff ≈ ‖W‖² β₁ᵗ Σ") == "lambda_eff ~= ||W||^2 beta_1^t Sigma"
    assert "λ²·x".encode("latin-1", errors=ASCII) == b"lambda\xb2\xb7x"  # what latin-1 holds, it keeps


# --- every command takes every spec form, stripped the same way ------------------------------------------------------
def test_every_rule_argument_takes_names_and_specs_stripped_alike():
    import click

    from symopt.spec import parse

    forms = [" adam", "adam ", "adam(amsgrad=True)", " adam( amsgrad = True ) "]
    checked = 0
    for command in cli.main.commands.values():
        for param in command.params:
            if isinstance(param.type, (cli.RuleName, cli.ExportName)):
                for form in forms:
                    assert parse(param.type.convert(form, param, None))[0] == "adam", (command.name, form)
                with pytest.raises(click.BadParameter, match="unknown rule 'adm'"):
                    param.type.convert(" adm", param, None)
                checked += 1
    assert checked >= 5  # derive, compare (2), verify, check --rule, latex, train


def test_latex_takes_a_spec_and_a_derivation_of_it(runner):
    result = run(runner, "latex", "adam(amsgrad=corrected)")
    assert result.exit_code == 0 and r"\max" in result.output, result.output
    result = run(runner, "latex", " adam( amsgrad=True ):moving-averages")
    assert result.exit_code == 0 and r"\mathbb{E}" in result.output, result.output
    one_line_error(run(runner, "latex", "adam(amsgrad=True)", "-O", "amsgrad=false"), "'amsgrad' is given twice")


# --- export: old set or new, whatever moment it is killed at ----------------------------------------------------------
def test_an_export_killed_at_any_moment_leaves_the_old_set_or_the_new(tmp_path, monkeypatch):
    """A forked process exports two sets in turn into one folder until it is killed (SIGKILL) at a
    random moment; the folder then holds one whole set, and the next export leaves no stray file."""
    import os
    import random
    import signal
    import time

    from symopt import export

    def fileset(tag, n):
        return {f"{tag}{i}.md" if i % 3 else f"same{i}.md": f"{export.GENERATED}\n\n{tag} {i}\n" for i in range(n)}

    monkeypatch.setattr(os, "fsync", lambda fd: None)  # a kill loses no written data; the disk is not the point
    sets = [fileset("a", 16), fileset("b", 12)]
    for s in sets:  # a figure in each (one left out of a set would be kept, as with --no-figure)
        s["coupling.png"] = b"\x89PNG " + os.urandom(64)
    folder = tmp_path / "derivations"
    chosen = {"set": sets[0]}
    monkeypatch.setattr(export, "documents", lambda figure=True: dict(chosen["set"]))
    export.export(folder)
    (folder / ".symopt-old.tmp").write_text("")  # a temporary file an older export left
    draw = random.Random(0)

    def contents():
        return {p.name: p.read_bytes() for p in folder.iterdir()}

    whole = [{k: v.encode() if isinstance(v, str) else v for k, v in s.items()} for s in sets]
    for _ in range(8):
        pid = os.fork()
        if pid == 0:  # the child: exports until killed
            try:
                for i in range(10_000):
                    chosen["set"] = sets[i % 2]
                    export.export(folder)
            finally:
                os._exit(0)
        time.sleep(draw.uniform(0.0, 0.3))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        found = contents()
        found.pop(".symopt-old.tmp", None)  # only until the first export in the child
        assert found in whole, sorted(found)
    chosen["set"] = sets[0]
    export.export(folder)
    assert contents() == whole[0] and os.listdir(tmp_path) == ["derivations"]


# --- train -o and plot -o: the format follows the name, checked before any work -------------------------------------------
@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_train_writes_the_format_its_file_name_asks_for(runner, tmp_path, monkeypatch, suffix, magic):
    from conftest import require

    require("torch", install="pip install torch==2.13.0")
    require("sklearn", install="pip install scikit-learn")
    from symopt import training

    monkeypatch.setattr(training, "loss_curves", lambda names, steps, tick: ({"adam": [2.0, 1.0]}, {"adam": "no torch"}))
    result = run(runner, "train", "adam", "--steps", "2", "-o", str(tmp_path / f"curves{suffix}"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"curves{suffix}").read_bytes().startswith(magic)


@pytest.mark.parametrize("name", ["curves.txt", "curves", "nodir/curves.png", "."])
def test_train_refuses_a_file_it_cannot_write_before_training(runner, tmp_path, monkeypatch, name):
    from conftest import require

    require("torch", install="pip install torch==2.13.0")
    require("sklearn", install="pip install scikit-learn")
    from symopt import training

    monkeypatch.setattr(training, "loss_curves", lambda *a, **k: pytest.fail("trained before checking the file"))
    result = run(runner, "train", "adam", "--steps", "2", "-o", str(tmp_path / name))
    assert result.exit_code == 2 and result.stdout == "" and result.stderr.count("\n") == 1, result.output
    assert os.listdir(tmp_path) == []


def test_export_into_a_place_it_cannot_create_fails_before_computing(runner, monkeypatch):
    from symopt import export

    monkeypatch.setattr(export, "documents", lambda figure=True: pytest.fail("computed before checking the folder"))
    one_line_error(run(runner, "export", "/proc/sys/symopt-x", "--no-figure"), "/proc/sys/symopt-x")
