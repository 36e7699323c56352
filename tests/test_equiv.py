"""symopt equiv: the decision, the hyperparameter map, the counterexample and the condition."""

import json

import numpy as np
import pytest
import sympy as sp

import symopt
from symopt import cli, reference
from symopt.equiv import equivalent

EXAMPLES = 15  # cases that look for a counterexample or confirm a map: the decision itself is symbolic


def test_a_rule_is_equivalent_to_itself(runner):
    result = runner.invoke(cli.main, ["equiv", "sgd", "sgd", "--examples", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("EQUIVALENT") and "weight_decay = weight_decay" in result.output


def test_the_papers_adamw_is_torchs_with_the_decay_multiplied_by_the_learning_rate():
    verdict = equivalent("adamw", "adamw(decay='paper')", examples=EXAMPLES)
    assert verdict.equivalent and verdict.exit_code == 0 and verdict.counterexample is None
    lr, alpha, wd = sp.symbols("lr lr' weight_decay", real=True)
    assert sp.simplify(verdict.hypers["weight_decay"] - alpha * wd) == 0
    assert sp.simplify(verdict.hypers["schedule_multiplier"] - lr / alpha) == 0


def test_the_map_holds_between_the_hand_written_references_under_a_schedule():
    """An oracle independent of the kernels and of SymPy: torch's AdamW with a schedule against the
    paper's with α = 1e-3, η_t = lr_t/α and λ = α·wd, in the references."""
    rng = np.random.default_rng(3)
    alpha, wd = 1e-3, 0.1
    ours = theirs = rng.standard_normal(5)
    s_ours, s_theirs = {}, {}
    for t, lr in enumerate([1e-3, 3e-3, 5e-4, 0.0, 2e-3], start=1):
        g = rng.standard_normal(5)
        ours, s_ours = reference.adamw(ours, g, s_ours, t, lr=lr, weight_decay=wd)
        theirs, s_theirs = reference.adamw(theirs, g, s_theirs, t, lr=alpha, weight_decay=alpha * wd,
                                           decay="paper", schedule_multiplier=lr / alpha)
        np.testing.assert_allclose(theirs, ours, rtol=1e-13, atol=1e-15)


def test_torch_and_sutskever_momentum_agree_only_while_the_learning_rate_is_constant(runner):
    result = runner.invoke(cli.main, ["equiv", "momentum", "momentum(form='sutskever')", "--format", "json",
                                      "--examples", str(EXAMPLES)])
    assert result.exit_code == 1, result.output
    verdict = json.loads(result.output)
    assert not verdict["equivalent"]
    assert "while lr is constant" in verdict["conditions"]
    assert verdict["states"] == {"b": "lr"}  # Sutskever's buffer is η times torch's
    case = verdict["counterexample"]
    assert len(set(case["lr_by_step"])) > 1  # the counterexample varies η
    assert case["hyperparameters"]["dampening"] == 0  # ... and only η: the other condition holds
    step = case["first_difference"]["step"]
    assert 1 < step <= case["steps"]


def test_adam_and_adamw_differ_unless_the_decay_is_zero():
    verdict = equivalent("adam", "adamw", examples=EXAMPLES)
    assert verdict.exit_code == 1 and verdict.conditions == ["weight_decay = 0"]
    assert verdict.counterexample is not None and verdict.counterexample.hyper["weight_decay"] > 0


def test_the_verdict_as_data_and_as_text_agree():
    verdict = equivalent("sgd", "momentum(form='ema')", examples=EXAMPLES)
    data = verdict.as_dict()
    assert data["equivalent"] is False and data["counterexample"] is not None
    assert data["a"] == "sgd" and data["b"] == "momentum(form='ema')"
    assert "they keep different state" in "\n".join(symopt.equiv.describe(verdict))


@pytest.mark.parametrize("spec", ["adam(", "adam(epsilon=1", "adam(eps='x')", "nosuchrule"])
def test_usage_errors_are_exit_2_in_one_line(runner, spec):
    result = runner.invoke(cli.main, ["equiv", spec, "adam"])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
