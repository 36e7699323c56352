"""Messages for bad input: one line that says what is wrong, exit status 2."""

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
