"""Rules from outside symopt: a file's or a module's function, a package's entry point, through every
command and the Python API; and the contract every rule keeps, checked when it is built."""

import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import symopt
from symopt import cli, optimizers
from symopt.core import Hyper, Transform, chain, rule
from symopt.errors import SymoptError
from symopt.hyperparameters import BETA1, LR
from symopt.spec import SpecError, load, parse

ROOT = Path(__file__).resolve().parents[1]
RULE = "examples/adabelief.py:adabelief"
STEP = "examples/adabelief_step.py:step"
BAD = "tests/user_rules/bad.py"


@pytest.fixture(autouse=True)
def _at_the_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def _one_line_error(result, *says):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1, result.output
    for word in says:
        assert word in result.output, result.output


# --- the resolver --------------------------------------------------------------------------------------
def test_a_reference_parses_with_its_options_and_is_never_evaluated():
    assert parse("my.py:lamb(trust_clip=True)") == ("my.py:lamb", {"trust_clip": True})
    assert parse("pkg.mod:fn") == ("pkg.mod:fn", {})
    assert parse("path/to/my.py:fn(a='x', b=false)") == ("path/to/my.py:fn", {"a": "x", "b": False})
    for text, column in (("my.py:", 7), (":fn", 1), ("my.py:1fn", 7), ("__import__('os'):fn", 12),
                         ("my mod:fn", 1), ("my.py:fn(x=)", 12)):
        with pytest.raises(SpecError) as error:
            parse(text)
        assert error.value.column == column, (text, str(error.value))


def test_a_user_rule_is_a_rule_everywhere_in_the_python_api():
    made = symopt.get(RULE)
    assert made is optimizers.resolve(RULE) and made == symopt.get(RULE, decoupled=True)
    assert optimizers.label(optimizers.resolve(f"{RULE}(decoupled=False)")) == "my-adabelief(decoupled=False)"
    assert optimizers.variants("my-adabelief") == [{"decoupled": True}, {"decoupled": False}]  # known by its name
    assert symopt.get("my-adabelief") == made
    params, grads = np.linspace(-1, 1, 5), np.array([0.3, -0.2, 0.0, 1e-3, 2.0])
    kernel = made.kernel()
    ours, _ = kernel.step(params.copy(), grads, kernel.init(params), 1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8,
                          weight_decay=0.0)
    step = load(STEP)  # the independent NumPy witness

    theirs, _ = step(params.copy(), grads, {}, 1, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_symopt_torch_takes_a_user_rule(torch):
    import symopt.torch

    step = load(STEP)

    start, grads = np.linspace(-1, 1, 4), [np.array([0.5, -1.0, 2.0, 0.0]), np.array([0.1, 0.2, -0.3, 0.4])]
    param = torch.nn.Parameter(torch.tensor(start))
    optimizer = symopt.torch.Optimizer([param], f"{RULE}(decoupled=False)", lr=0.1, weight_decay=0.01)
    expected, state = start.copy(), {}
    for t, g in enumerate(grads, start=1):
        param.grad = torch.tensor(g)
        optimizer.step()
        expected, state = step(expected, g, state, t, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                               decoupled=False)
    np.testing.assert_allclose(param.detach().numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("reference,says", [
    ("tests/user_rules/missing.py:adabelief", ["no file", "missing.py"]),
    (f"{BAD}:nope", ["bad.py", "has no 'nope'"]),
    (f"{BAD}:NOT_CALLABLE", ["NOT_CALLABLE", "not a function"]),
    (f"{BAD}:returns_a_number", ["returned int, not a Rule"]),
    (f"{BAD}:raises", ["bad.py:raises", "RuntimeError: no rule today"]),
    (f"{BAD}:exits", ["SystemExit: 3"]),
    (f"{BAD}:needs_an_argument", ["x is not"]),
    (f"{BAD}:takes_a_float", ["bool or Literal"]),
    (f"{BAD}:is_adam", ["'adam'", "name of its own"]),
    (f"{BAD}:atan2", ["atan", "evaluate=False"]),
    ("tests/user_rules/broken_import.py:rule", ["broken_import.py", "ModuleNotFoundError",
                                                "symopt_has_no_such_module_xyz"]),
    ("symopt_no_such_package_xyz:rule", ["cannot import 'symopt_no_such_package_xyz'"]),
    (f"{RULE}(decoupled=maybe)", ["decoupled must be True or False"]),
    (f"{RULE}(nesterov=True)", ["unknown examples/adabelief.py:adabelief option 'nesterov'", "decoupled"]),
])
def test_user_code_that_builds_no_rule_is_a_one_line_error_naming_it(runner, reference, says):
    _one_line_error(runner.invoke(cli.main, ["derive", reference, "--only", "moving-averages"]), *says)


def test_every_command_takes_a_user_rule_and_says_it_imports_it(runner):
    for name, command in cli.main.commands.items():
        takes = any(getattr(p.type, "name", "") in ("rule", "name") for p in command.params) or name in ("equiv",
                                                                                                          "check")
        assert takes == ("path/to/file.py:function" in (command.help or "")), name
    derived = runner.invoke(cli.main, ["derive", f"{RULE}(decoupled=False)", "--only", "moving-averages"])
    assert derived.exit_code == 0 and "sₜ = β₂·sₜ₋₁ + (1 - β₂)·(gₜ - mₜ)² + ε" in derived.output
    listed = runner.invoke(cli.main, ["list", RULE])
    assert listed.exit_code == 0 and "my-adabelief(decoupled=True|False)" in listed.output
    latex = runner.invoke(cli.main, ["latex", f"{RULE}:moving-averages"])
    assert latex.exit_code == 0 and r"\mathbb{E}\left[m_{t}\right]" in latex.output
    standalone = runner.invoke(cli.main, ["latex", RULE, "--format", "standalone"])
    assert standalone.exit_code == 0 and standalone.output.isascii() and r"\hat{s}_{t}" in standalone.output
    mutants = runner.invoke(cli.main, ["mutate", RULE, "--list"])
    assert mutants.exit_code == 0 and "s_t:" in mutants.output
    checked = runner.invoke(cli.main, ["check", STEP, "--rule", RULE, "--examples", "5"])
    assert checked.exit_code == 0 and checked.output.splitlines()[-1].startswith("PASS"), checked.output


def test_verify_a_user_rule_against_the_users_numpy_step_and_torch_class(runner, torch):
    passed = runner.invoke(cli.main, ["verify", RULE, "--against", STEP, "--examples", "8"])
    assert passed.exit_code == 0, passed.output
    assert "my-adabelief(decoupled=False)" in passed.output and passed.output.count("PASS") == 2
    witness = "tests/user_rules/adabelief_torch.py:AdaBelief"
    passed = runner.invoke(cli.main, ["verify", f"{RULE}(decoupled=False)", "--against", witness, "--examples", "8"])
    assert passed.exit_code == 0 and "PASS" in passed.output, passed.output
    # the step's decay is decoupled; the rule's is not: a counterexample, exit 1
    differs = runner.invoke(cli.main, ["verify", RULE, "-O", "decoupled=false", "--against",
                                       "examples/adabelief_step.py:step", "--examples", "8"])
    assert differs.exit_code == 0, differs.output  # the step reads the option: it agrees
    wrong = runner.invoke(cli.main, ["verify", "adamw", "--against", STEP, "--examples", "8",
                                     "-O", "bias_correction=true"])
    assert wrong.exit_code != 0
    _one_line_error(runner.invoke(cli.main, ["verify", RULE, "--against", "tests/user_rules/adabelief_torch.py:"
                                             "NotAnOptimizer"]), "not a torch.optim.Optimizer")
    _one_line_error(runner.invoke(cli.main, ["verify", "sgd", "--against", "nowhere"]), "unknown witness")


def _plugin(tmp_path, monkeypatch, line: str):
    """An installed package registering ``line`` under the entry-point group symopt.rules."""
    info = tmp_path / "symopt_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: symopt-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[symopt.rules]\n{line}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(optimizers, "_USER", {})
    _forget()


def _forget():
    """Clear what the resolver keeps of the names it has seen (the plugin's name is a user rule's too)."""
    for cached in (optimizers.plugins, optimizers._build, optimizers.option_values):
        cached.cache_clear()


def test_a_rule_an_installed_package_registers_is_a_name_like_symopts(runner, tmp_path, monkeypatch):
    package = tmp_path / "belief_plugin"
    package.mkdir()
    (package / "__init__.py").write_text((ROOT / "examples" / "adabelief.py").read_text())
    _plugin(tmp_path, monkeypatch, "my-adabelief = belief_plugin:adabelief\nadam = belief_plugin:adabelief")
    try:
        assert "my-adabelief" in symopt.rules() and symopt.rules().count("adam") == 1  # no plugin replaces a rule
        listed = runner.invoke(cli.main, ["list"])
        assert listed.exit_code == 0 and "AdaBelief: Adam with the second moment of g - m" in listed.output, listed.output
        latex = runner.invoke(cli.main, ["latex", "my-adabelief(decoupled=False):moving-averages"])
        assert latex.exit_code == 0, latex.output
        assert symopt.get("my-adabelief", decoupled=False).options == (("decoupled", False),)
    finally:
        _forget()
        sys.modules.pop("belief_plugin", None)


def test_a_broken_plugin_is_a_one_line_error_naming_it(runner, tmp_path, monkeypatch):
    _plugin(tmp_path, monkeypatch, "broken = symopt_no_such_plugin_xyz:rule")
    try:
        _one_line_error(runner.invoke(cli.main, ["derive", "broken"]), "rule broken", "symopt_no_such_plugin_xyz")
    finally:
        _forget()


def test_the_readme_tutorial_shows_the_example_files():
    readme = (ROOT / "README.md").read_text()
    for path in ("examples/adabelief.py", "examples/adabelief_step.py"):
        source = (ROOT / path).read_text()
        body = source.split('"""', 2)[2].lstrip("\n")  # less the module docstring
        assert f"```python\n# {path}\n{body}```" in readme, path


# --- the contract, checked when a rule is built ----------------------------------------------------------
def _direction(name="probe", summary="a probe", reference="tests", hypers=(LR,), direction=None, states=()):
    def apply(u):
        return (), LR.symbol * (u if direction is None else direction(u))

    return rule(name, summary, reference, chain(name, Transform("probe", apply, hypers=hypers, states=states)))


@pytest.mark.parametrize("change,says", [
    (dict(name="my rule"), "letters, digits"),
    (dict(name="ädam"), "letters, digits"),
    (dict(summary="two\nlines"), "one printable line"),
    (dict(summary="a snowman \u2603"), "U+2603"),
    (dict(hypers=(LR, Hyper(sp.Symbol("omega", nonnegative=True), "w", 1.0, 0, 1, library=("betas", 1)))),
     "from 0 without a gap"),
    (dict(hypers=(LR, BETA1, Hyper(sp.Symbol("omega", nonnegative=True), "w", 1.0, 0, 1, library=("betas", 0)))),
     "both declare position 0"),
    (dict(hypers=(LR, Hyper(sp.Symbol("omega", nonnegative=True), "w", 1.0, 0, 1, library="lr"))),
     "both declare the library keyword lr"),
    (dict(hypers=(LR, Hyper(sp.Symbol("omega", nonnegative=True), "w", 1.0, 0, 1, library=("betas", -1)))),
     "('betas', 0)"),
    (dict(direction=lambda u: u * sp.Symbol("lamda_eff_m", real=True)), "reserved for the effective weight decay"),
    (dict(direction=lambda u: u * sp.Symbol("eta")), "other assumptions than symopt's eta"),
    (dict(direction=lambda u: sp.atan2(u, 2 + u**2)), "the operation atan is not in symopt's operation table"),
])
def test_a_rule_outside_the_contract_is_refused_in_one_line_naming_the_problem(change, says):
    with pytest.raises(SymoptError) as error:
        _direction(**change)
    assert says in str(error.value) and "\n" not in str(error.value)


def test_greek_in_a_summary_prints_in_latex_and_ascii():
    from symopt import export, terminal

    made = _direction(summary="scaled by η, ε inside the root")
    document = export.standalone(export.Subject(made))
    assert document.isascii() and r"\ensuremath{\eta}" in document
    assert terminal.ascii_notation(made.summary) == "scaled by eta, epsilon inside the root"


def test_a_state_name_with_an_underscore_prints_in_latex():
    from symopt import printing, symbols

    assert printing.latex(symbols.lam_eff_through("acc_delta")).endswith(r"(\text{acc\_delta})}")


def test_a_rules_own_symbol_that_is_symopts_is_allowed():
    assert _direction(direction=lambda u: u * BETA1.symbol, hypers=(LR, BETA1)).hypers == (LR, BETA1)


# --- the CI profile: a sample of the registry whose size does not grow with the variants --------------
def test_the_ci_sample_holds_every_rules_default_and_a_fixed_number_of_variants(monkeypatch):
    import conftest

    monkeypatch.setattr(conftest, "FULL", False)
    sample = conftest.registry_sample()
    for name in optimizers.RULES:
        mine = [r for r in sample if r.name == name]
        assert mine[0] == symopt.get(name) and len(mine) == min(conftest.PER_RULE, len(optimizers.variants(name)))
    assert conftest.registry_sample() == sample  # a fixed seed: the same sample every run
    assert len(conftest.registry_sample(per_rule=2, total=5)) == 5
    monkeypatch.setattr(conftest, "FULL", True)
    assert len(conftest.registry_sample()) == sum(len(optimizers.variants(n)) for n in optimizers.RULES)
