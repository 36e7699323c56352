"""Mutation testing of verification: a sample of each rule's mutants must be killed by verify.

The full sweep (every mutant of every rule, equivalent ones discarded by ``symopt.equivalent``, the
score per rule) is ``benchmarks/mutation.py``; here a fixed-seed sample of a few mutants per rule is
cross-checked as ``symopt verify`` checks a kernel, with verify's default budget.
"""

from __future__ import annotations

import functools

import pytest
from conftest import FULL

import symopt
from symopt.errors import SymoptError
from symopt.mutate import EXAMPLES, KINDS, decide, mutants, sample

PER_RULE = 3 if FULL else 2  # mutants sampled per rule (in CI, whose budget is fixed while rules are added, 2)
SEED = 0
# A rule's tests share a worker under xdist, so that its mutants are made once (SymPy: up to 3 s).
RULES = [pytest.param(name, marks=pytest.mark.xdist_group(f"mutate-{name}")) for name in symopt.rules()]


@functools.cache
def _mutants(name: str):
    return mutants(symopt.get(name))


@pytest.mark.parametrize("name", RULES)
def test_mutants_are_rules_with_one_change(name):
    """Every mutant is a valid rule with the original's hyperparameters, state and options, changes
    one equation (an ``order`` mutant also moves the update it reads), and has a step map of its own."""
    rule = symopt.get(name)
    found = _mutants(name)
    assert len({m.id for m in found}) == len(found)
    steps = {tuple(m.rule.step_map().items()) for m in found}
    assert len(steps) == len(found) and tuple(rule.step_map().items()) not in steps
    for m in found:
        assert (m.rule.hypers, m.rule.states, m.rule.options) == (rule.hypers, rule.states, rule.options)
        changed = [a for a in m.rule.equations if a not in rule.equations]
        assert len(changed) == 1, m.id
        assert sorted(map(str, (a.lhs for a in m.rule.equations))) == sorted(map(str, (a.lhs for a in rule.equations)))
        assert m.kind in KINDS and m.id.endswith(tuple(f"{m.kind}{i}" for i in range(1, len(found) + 1)))


def test_every_kind_of_mutant_is_made():
    """Across the registry each operator makes mutants (an operator that silently made none would
    leave a kind of mistake untested)."""
    made = {m.kind for name in symopt.rules() for m in _mutants(name)}
    assert made == set(KINDS)


def test_equations_out_of_order_are_refused():
    """A rule whose equation reads an intermediate assigned only after it is not a rule."""
    rule = next(symopt.get(n) for n in symopt.rules() if len(symopt.get(n).equations) >= 3)
    with pytest.raises(SymoptError, match="before it is assigned|must assign"):
        rule.with_equations(tuple(reversed(rule.equations)))


@pytest.mark.parametrize("name", RULES)
def test_verify_kills_sampled_mutants(name):
    """verify (the mutant's kernel against the rule's hand-written reference) kills each sampled
    mutant, or equiv proves it the same optimizer with the same hyperparameters."""
    rule = symopt.get(name)
    for chosen in sample(_mutants(name), PER_RULE, SEED):
        outcome = decide(rule, chosen, EXAMPLES, SEED)  # equiv is asked only if verify does not kill it
        assert outcome.killed or outcome.equivalent, (
            f"{chosen.id} ({chosen.description}) survived {outcome.cases} cases: {outcome.detail}")
        if outcome.killed and not outcome.detail.startswith("its kernel"):
            assert "expected θ" in outcome.detail, chosen.id  # killed on a trajectory, and it says where
