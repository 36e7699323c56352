"""The packages rules declare their semantics from (``Rule.library``: timm, pytorch-optimizer,
prodigyopt...) as witnesses: each registered variant whose package is not one of verify's built-in
witnesses, against that package's own implementation."""

import importlib.util
import sys

import pytest

from symopt.optimizers import label
from symopt.verify import BUILT_IN, library_package

from conftest import registry_sample, require


# Packages verified by a test of their own (torch and optax are verify's built-in witnesses).
OWN_TESTS = {"schedulefree": "tests/test_schedule_free.py"}


def _declared(rule) -> bool:
    """A variant whose package is a witness of its own here, and which that package's class has (a
    variant it lacks, AdamW's cautious mask without bias correction, is refused by verify in one
    line: ``library_runner`` says so, and the variant is not a case of this test)."""
    from symopt.errors import SymoptError
    from symopt.verify import library_runner

    package = library_package(rule)
    if not package or package in BUILT_IN or package in OWN_TESTS:
        return False
    try:
        return not isinstance(library_runner(rule, package), str)
    except SymoptError:  # the package is not installed: the test requires it (a failure in CI)
        return True


SAMPLED = registry_sample(_declared)
# each case steps the package's torch optimizer (about 1 ms a step): few generated cases per variant
# beside verify's explicit long ones, and in CI a sample of each rule's variants (registry_sample)
EXAMPLES = 3


@pytest.mark.parametrize("rule", SAMPLED, ids=label)
def test_kernel_agrees_with_the_package_it_declares(rule):
    from symopt.verify import verify

    package = library_package(rule)
    if package not in sys.modules and importlib.util.find_spec(package) is None:  # a skip, or in CI a failure
        require(package, install=f'pip install "symopt-toolkit[{package}]"')
    require("torch", install='pip install "symopt-toolkit[torch]"')
    report = verify(rule, package, examples=EXAMPLES)
    assert report.passed, report.counterexample and report.counterexample.errors.first
    assert report.errors["float64"].max_rel <= 1e-12
