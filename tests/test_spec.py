"""The rule spec parser: NAME(option=value, ...), strict, never evaluated, errors with a column."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symopt import cli
from symopt.errors import SymoptError, UnknownNameError
from symopt.optimizers import RULES, options, variants
from symopt.spec import SpecError, parse, rule_from_spec


def _spelled(name, variant) -> str:
    """A variant as `symopt list` and label() spell it: the options that differ from the defaults."""
    changed = [f"{k}={v!r}" for k, v in variant.items() if v != options(name)[k]]
    return f"{name}({', '.join(changed)})" if changed else name


@pytest.mark.parametrize("name", RULES)
def test_every_registered_variant_reads_back_from_its_label(name):
    for variant in variants(name):
        parsed_name, parsed = parse(_spelled(name, variant))
        assert parsed_name == name
        assert {**options(name), **parsed} == variant


def test_values_may_be_quoted_bare_or_booleans_and_spaces_are_free():
    assert parse(" adam ( epsilon = hat , amsgrad=true, ) ") == ("adam", {"epsilon": "hat", "amsgrad": True})
    assert parse('adamw(decay="paper")') == ("adamw", {"decay": "paper"})
    assert rule_from_spec("momentum(form='sutskever', nesterov=True)").options == (("form", "sutskever"),
                                                                                   ("nesterov", True))


@pytest.mark.parametrize("text,column,problem", [
    ("adam(epsilon=)", 14, "expected a value"),
    ("adam(epsilon='hat'", 19, "expected ',' or ')'"),
    ("adam(a=1 b=2)", 10, "expected ',' or ')'"),
    ("adam(epsilon='hat)", 14, "unterminated string"),
    ("adam(epsilon='hat', epsilon='inside')", 21, "given twice"),
    ("adam) ", 5, "unexpected ')'"),
    ("", 1, "expected a rule name"),
    ("adam(1)", 6, "expected an option name"),
])
def test_a_malformed_spec_names_the_column_of_the_problem(text, column, problem):
    with pytest.raises(SpecError) as error:
        parse(text)
    assert error.value.column == column and problem in str(error.value)
    assert "\n" not in str(error.value)


def test_unknown_names_and_values_name_the_closest_or_the_valid_ones():
    with pytest.raises(UnknownNameError, match="closest: 'adam'"):
        rule_from_spec("adma")
    with pytest.raises(UnknownNameError, match="closest: 'decay'"):
        rule_from_spec("adamw(decy='paper')")
    with pytest.raises(SymoptError, match="'lr', 'paper', 'independent'"):
        rule_from_spec("adamw(decay='papr')")


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from("adm(),='\" _-=.xsgTrueFals1()[]{}:;\\\t"), max_size=30) | st.text(max_size=30))
def test_any_text_is_a_rule_or_a_one_line_symopt_error(text):
    try:
        rule_from_spec(text)
    except SymoptError as error:
        assert "\n" not in str(error)


def test_equiv_never_evaluates_its_arguments_and_a_bad_spec_is_exit_2(runner, tmp_path):
    marker = tmp_path / "evaluated"
    for spec in (f"sgd(x=__import__('os').system('touch {marker}'))", f"__import__('os').system('touch {marker}')",
                 f"sgd(lr=open('{marker}', 'w'))"):
        result = runner.invoke(cli.main, ["equiv", "sgd", spec])
        assert result.exit_code == 2, result.output
        assert "column" in result.output and "Traceback" not in result.output
    assert not marker.exists()
    result = runner.invoke(cli.main, ["equiv", "adam", "adam(epsilon="])
    assert result.exit_code == 2 and "at column 14" in result.output
    result = runner.invoke(cli.main, ["equiv", "adam", "adam(epsilon='sideways')"])
    assert result.exit_code == 2 and "outside" in result.output


def test_every_command_takes_a_rule_written_as_a_spec_or_with_dash_o(runner):
    only = ["--only", "moving-averages"]
    spec = runner.invoke(cli.main, ["derive", "adam(epsilon='hat')", *only])
    flag = runner.invoke(cli.main, ["derive", "adam", "-O", "epsilon=hat", *only])
    plain = runner.invoke(cli.main, ["derive", "adam", *only])
    assert spec.exit_code == flag.exit_code == 0
    assert spec.output == flag.output != plain.output  # the option was applied, the same either way
    verified = runner.invoke(cli.main, ["verify", "momentum(nesterov=True, form='ema')", "--examples", "3"])
    assert verified.exit_code == 0 and "form='ema'" in verified.output and "nesterov=True" in verified.output
    twice = runner.invoke(cli.main, ["derive", "adam(epsilon='hat')", "-O", "epsilon=inside"])
    assert twice.exit_code == 2 and "given twice" in twice.output and len(twice.output.strip().splitlines()) == 1
    for bad, says in (("adamm(epsilon='hat')", "closest: 'adam'"), ("adam(epsilon=", "column 14")):
        result = runner.invoke(cli.main, ["compare", bad, "adamw"])
        assert result.exit_code == 2 and says in result.output and "Traceback" not in result.output


def test_symopt_list_prints_each_rules_options_as_a_spec_that_reads_back(runner):
    output = runner.invoke(cli.main, ["list"]).output
    for name in RULES:
        spelled = [line.strip() for line in output.splitlines() if line.strip().startswith(f"{name}(")]
        if not options(name):
            assert not spelled
            continue
        (line,) = spelled
        listed = dict(part.split("=", 1) for part in line[len(name) + 1:-1].split(", "))
        assert set(listed) == set(options(name))
        for key, values in listed.items():
            values = values.split("|")
            assert values[0] == repr(options(name)[key])  # the default first
            assert {repr(variant[key]) for variant in variants(name)} == set(values)
            for value in values:  # each value, written as listed, builds the rule (beside the options it needs)
                needs = next(v for v in variants(name) if repr(v[key]) == value)
                others = "".join(f", {k}={v!r}" for k, v in needs.items() if k != key and v != options(name)[k])
                assert rule_from_spec(f"{name}({key}={value}{others})").name == name
