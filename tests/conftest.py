"""Shared fixtures, the Hypothesis profiles, and the rule that nothing is skipped in CI.

Tests of optional integrations (torch, KaTeX, pdflatex) call :func:`require`: on a developer's
machine without the dependency they skip with a reason; in CI (the environment variable ``CI`` is
set, as `.ci/run` does) a missing dependency fails the test, and any skip fails the session.
"""

from __future__ import annotations

import importlib
import os
import shutil

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, settings

IN_CI = bool(os.environ.get("CI"))

# Compiling a kernel takes tens of milliseconds the first time: no per-example deadline.
settings.register_profile("default", deadline=None, max_examples=100)
# CI: 120 per test (each registered variant's kernel against its witnesses, 97 variants); `symopt verify
# --examples N` runs more.
settings.register_profile("ci", deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])
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
