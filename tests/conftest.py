"""Shared fixtures, the Hypothesis profiles, and the rule that nothing is skipped in CI.

Tests of optional integrations (torch, KaTeX, pdflatex) call :func:`require`: on a developer's
machine without the dependency they skip with a reason; in CI (the environment variable ``CI`` is
set, as `.ci/run` does) a missing dependency fails the test, and any skip fails the session.
"""

from __future__ import annotations

import importlib
import math
import os
import random
import shutil

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

IN_CI = bool(os.environ.get("CI"))
# The full sweep of registry-parametrised tests: every variant of every rule. Outside CI it is the
# default; CI (whose time budget is fixed while rules are added) samples, unless SYMOPT_FULL is set
# (benchmarks/registry_sweep.py sets it).
FULL = not IN_CI or bool(os.environ.get("SYMOPT_FULL"))
PER_RULE = 2  # (rule, variant) pairs per rule in CI: its default variant and one drawn with a fixed seed

# Compiling a kernel takes tens of milliseconds the first time: no per-example deadline.
settings.register_profile("default", deadline=None, max_examples=100)
# CI: 100 per test, as on a laptop (it was 120 while the registry had 97 variants; at 38 rules the CI
# profile's cost is kept under its budget by sampling variants and by this); `symopt verify
# --examples N` runs more. Derandomized: each test draws the same examples in every CI run (seeded by
# the test's own code), so that CI's cost is the same from run to run (two randomized runs of one
# commit took 437 s and 494 s, 11m45s and 13m39s of CPU) and a failure in CI is reproduced by running
# CI's command again. The random search runs outside CI: the default profile draws new examples on
# every run, and the sweeps in benchmarks/ run many more.
settings.register_profile(
    "ci", deadline=None, max_examples=100, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if IN_CI else "default")


def require(module: str | None = None, *, program: str | None = None, path=None, install: str = ""):
    """Import ``module``, find ``program`` on PATH, or check that ``path`` exists; if it is missing,
    skip the test, or fail it in CI."""
    try:
        if module is not None:
            return importlib.import_module(module)
        if program is not None and shutil.which(program):
            return shutil.which(program)
        if path is not None and os.path.exists(path):
            return path
    except ImportError:
        pass
    what = module or program or path
    message = f"{what} is not installed" + (f" ({install})" if install else "")
    if IN_CI:
        pytest.fail(f"{message}: CI must run every test")
    pytest.skip(message)


def busy_value(h) -> float:
    """A value of hyperparameter ``h`` that switches on what it controls, read from its declaration:
    the largest of its special values in range, or where that is 0 (a term torch leaves out at 0:
    weight decay, Adagrad's learning-rate decay), the middle of the interval its cases are drawn from
    (geometric where it is drawn on a log scale); its default if that is out of the variant's range
    (Nesterov takes no dampening)."""
    value = max((v for v in h.special if h.contains(v)), default=h.default)
    if value == 0:
        low, high = h.sample
        value = math.sqrt(low * high) if h.log and low > 0 else (low + high) / 2
        value = float(round(value)) if h.integer else value
    return value if h.contains(value) else h.default


def registry_sample(where=None, *, per_rule: int = PER_RULE, total: int | None = None, seed: int = 0) -> list:
    """The registered rules, built, for a registry-parametrised test: every variant of every rule
    (:data:`FULL`), or in CI each rule's default variant and ``per_rule - 1`` of its other variants
    drawn with a fixed seed, so that the suite's cost grows with the number of rules and not with
    the number of variants (AdamW's conventions make 48). ``where`` keeps the rules it is true of
    (``lambda rule: rule.torch``); a rule none of whose variants it keeps is left out. With ``total``,
    CI keeps that many of those pairs, drawn with the seed (a test whose cost must not grow with the
    number of rules either).

    The draw depends only on ``seed`` and the rule's name: adding a rule does not change the sample
    of the others.
    """
    from symopt.optimizers import RULES, get, variants

    chosen = []
    for name in RULES:
        built = [get(name, **variant) for variant in variants(name)]
        kept = [rule for rule in built if where is None or where(rule)]
        if FULL or len(kept) <= per_rule:
            chosen += kept
            continue
        drawn = set(random.Random(f"{seed}:{name}").sample(range(1, len(kept)), per_rule - 1))
        chosen += [rule for i, rule in enumerate(kept) if i == 0 or i in drawn]
    if FULL or total is None or len(chosen) <= total:
        return chosen
    drawn = set(random.Random(seed).sample(range(len(chosen)), total))
    return [rule for i, rule in enumerate(chosen) if i in drawn]


def derived_or_said_why(subtests, rules, key: str, check) -> None:
    """``check`` on each of ``rules`` the derivation ``key`` applies to, a subtest each; for the others
    the derivation must say in one line why it does not apply. Which is which is SymPy's work (the
    derivation's ``applies``): decided here, in the worker that runs the test, and not at collection,
    where every xdist worker would decide it for every rule."""
    from symopt.derive import MODULES, derivations

    for rule in rules:
        with subtests.test(f"{rule.name}{dict(rule.options) or ''}"):
            if MODULES[key].applies(rule):
                check(rule)
            else:
                (d,) = derivations(rule, only=key)
                said = "".join(p for p in d.summary if isinstance(p, str))
                assert not d.applies and said.startswith(f"Does not apply to {rule.name}: ") and "\n" not in said


@pytest.fixture(scope="session")
def torch():
    """torch, with float64 as its default dtype (torch keeps its step counter in that type)."""
    torch = require("torch", install="pip install torch==2.13.0")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield torch
    torch.set_default_dtype(previous)


@pytest.fixture
def runner() -> CliRunner:
    """A click test runner for the ``symopt`` command group."""
    return CliRunner()


def pytest_sessionfinish(session, exitstatus):
    """In CI a skipped test is a failure: the optional dependencies must all be there."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped and exitstatus == 0:
        reporter.write_line(f"CI: {skipped} test(s) skipped; every test must run in CI", red=True)
        session.exitstatus = 1



UNGROUPED = pytest.StashKey[bool]()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under ``--dist loadgroup`` a test marked ``xdist_group(NAME)`` must be sent with its group: the
    groups keep an expensive computation in one process (derivations/, a rule's compiled mutants).
    xdist says so by suffixing the test's id with ``@NAME``. When a pytest release stops reading what
    xdist writes (pytest 9.2 did), the groups are silently spread over the workers; then each such
    test fails, saying why, rather than the run silently doing its costliest work twice."""
    if getattr(config.option, "loadgroup", False):  # set in xdist's workers only
        for item in items:
            if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
                item.stash[UNGROUPED] = True
        # The groups first (every worker sorts alike): xdist hands out work in collection order, and
        # the `documents` group, minutes of one process, handed out late was the run's serial tail.
        items.sort(key=lambda item: "@" not in item.nodeid)


def pytest_runtest_setup(item):
    if item.stash.get(UNGROUPED, False):
        pytest.fail(f"--dist loadgroup ignored this test's xdist_group: pytest {pytest.__version__} and "
                    "pytest-xdist do not work together (see the pin in pyproject.toml)", pytrace=False)
