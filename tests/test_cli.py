"""The command line, through click's CliRunner, and once as the real installed program."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import symopt
from symopt import cli
from symopt.derive import MODULES
from symopt.optimizers import RULES

ROOT = Path(__file__).resolve().parents[1]


def run(runner, *args):
    result = runner.invoke(cli.main, list(args))
    return result.exit_code, result.output


def test_help_lists_every_rule_and_derivation(runner):
    code, out = run(runner, "--help")
    assert code == 0
    assert cli.RULE_NAMES == tuple(RULES) and cli.DERIVATION_KEYS == tuple(MODULES)
    for name in (*RULES, *MODULES):
        assert name in out
    assert "Examples:" in out


@pytest.mark.parametrize("command", sorted(cli.main.commands))
def test_every_command_has_an_example(runner, command):
    code, out = run(runner, command, "--help")
    assert code == 0 and "Example" in out and "symopt " + command in out


def test_version(runner):
    assert run(runner, "--version") == (0, f"symopt, version {symopt.__version__}\n")


def test_list(runner):
    code, out = run(runner, "list")
    assert code == 0
    for name in RULES:
        assert f"  {name}" in out


def test_derive_adam_shows_rule_and_derivations(runner):
    code, out = run(runner, "derive", "adam")
    assert code == 0
    assert "θₜ = θₜ₋₁ - η·m̂ₜ/(√v̂ₜ + ε)" in out
    assert "λ_eff = λ/(√v̂ₜ + ε)" in out  # steady state
    assert "λ_eff(m) = (1 - β₁)·λ/((1 - β₁ᵗ)·(√v̂ₜ + ε))" in out  # one step, through m
    assert "λ_eff(v) = " in out  # and through v
    assert "E[mₜ] = (1 - β₁ᵗ)·E[gₜ]" in out
    assert "measured λ_eff/λ" in out
    rows = [line for line in out.splitlines() if line.startswith("  adam  ")]
    assert [r.split()[-1] for r in rows if " inside " in r] == ["agrees", "agrees"]
    assert any("decay 10x the gradient" in r and "DIFFERS" in r for r in rows)  # outside the assumptions, it breaks


@pytest.mark.parametrize("name", ["adamw", "sgd", "momentum"])
def test_derive_each_rule(runner, name):
    code, out = run(runner, "derive", name)
    assert code == 0 and "== Effective weight decay" in out and "DIFFERS" not in out


def test_derive_momentum_shows_the_average(runner):
    code, out = run(runner, "derive", "momentum")
    assert "θₜ - θₜ₋₁ = -η·gₜ/(1 - ρ)" in out


def test_structural_options(runner):
    code, out = run(runner, "derive", "adam", "-O", "bias_correction=false", "--only", "moving-averages")
    assert code == 0
    assert "θₜ = θₜ₋₁ - η·mₜ/(√vₜ + ε)" in out and "Effective weight decay" not in out


def test_compare_adam_adamw(runner):
    code, out = run(runner, "compare", "adam", "adamw")
    assert code == 0
    assert "adam:  λ_eff = λ/(√v̂ₜ + ε)" in out and "adamw: λ_eff = λ" in out
    assert "with λ = 0 the two rules take the same step" in out
    assert "adam: λ_eff/λ  adamw: λ_eff/λ" in out


def test_json_carries_equations_and_numbers(runner):
    code, out = run(runner, "derive", "adamw", "--format", "json")
    data = json.loads(out)
    assert data["rule"]["equations"][-1]["latex"].startswith(r"\theta_{t} = \theta_{t-1}")
    decay = next(d for d in data["derivations"] if d["key"] == "effective-weight-decay")
    assert decay["results"][0]["rhs"]["sympy"] == "lamda"
    table = next(d for d in data["derivations"] if d["key"] == "coupling")["tables"][0]
    assert [row[1] for row in table["rows"]] == [1.0] * 9

    code, out = run(runner, "compare", "adam", "adamw", "--format", "json")
    data = json.loads(out)
    assert data["effective_weight_decay"]["adam"]["steady"]["sympy"] == "lamda/(epsilon + sqrt(vhat_t))"
    assert data["same_step_without_weight_decay"] is True


def test_latex_format(runner):
    code, out = run(runner, "derive", "sgd", "--format", "latex")
    assert code == 0 and r"\begin{aligned}" in out and r"\theta_{t} &= \theta_{t-1} - \eta g_{t}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["derive", "nosuch"], "unknown rule 'nosuch' (closest: "),
        (["derive", "adma"], "unknown rule 'adma' (closest: 'adam'); valid: sgd, momentum, adam, adamw"),
        (["compare", "adam", "adamww"], "(closest: 'adamw')"),
        (["derive", "adam", "-O", "bias=off"], "unknown adam option 'bias' (closest: 'bias_correction')"),
        (["derive", "adam", "-O", "epsilon=nowhere"], "epsilon must be one of 'outside', 'inside', 'hat'"),
        (["derive", "adam", "-O", "nonsense"], "is not KEY=VALUE"),
        (["dervie", "adam"], "No such command 'dervie'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(runner, args, message):
    result = runner.invoke(cli.main, args)
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_installed_command_runs_as_a_process():
    script = Path(sys.executable).parent / "symopt"
    assert script.exists(), "install symopt first: pip install -e '.[test]'"
    done = subprocess.run([str(script), "derive", "nosuch"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "closest" in done.stderr
    done = subprocess.run([str(script), "derive", "sgd", "--only", "constant-gradient"], capture_output=True, text=True)
    assert done.returncode == 0 and "θₜ - θₜ₋₁ = -η·gₜ" in done.stdout


def test_cli_py_in_a_checkout_runs_the_same_command():
    done = subprocess.run([sys.executable, "cli.py", "list"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "adamw" in done.stdout
