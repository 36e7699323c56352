"""The packages rules declare their semantics from (``Rule.library``: timm, pytorch-optimizer,
prodigyopt...) as witnesses: each registered variant whose package is not one of verify's built-in
witnesses, against that package's own implementation."""

import importlib.util
import sys

import pytest

from symopt.errors import SymoptError
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


def _variants_of_witness_packages():
    """Every registered variant whose package is a witness of its own here (timm, pytorch-optimizer...)."""
    from symopt.optimizers import RULES, get, variants

    built = (get(name, **variant) for name in RULES for variant in variants(name))
    return [rule for rule in built if library_package(rule) and library_package(rule) not in BUILT_IN]


def test_an_option_the_class_cannot_express_is_refused_in_one_line():
    """A variant is built in its package's class only if the class takes each option set away from its
    default: by the option's name, or as the option's annotation declares (``LibraryKeyword``: a keyword
    of its own, and the values that keyword takes, a value not listed being the class's default). One it
    lacks is refused in one line naming the option, and nothing else is refused."""
    import inspect

    from symopt.optimizers import option_forms, options
    from symopt.verify import import_library, library_runner

    require("torch", install='pip install "symopt-toolkit[torch]"')
    refused = 0
    for rule in _variants_of_witness_packages():
        module, cls = rule.library
        try:
            takes = inspect.signature(getattr(import_library(module), cls)).parameters
        except SymoptError:
            require(library_package(rule), install=f'pip install "symopt-toolkit[{library_package(rule)}]"')
        defaults, forms = options(rule.name), option_forms(rule.name)
        lacking = []  # the options set away from their defaults that the class cannot take
        for key, value in rule.options:
            form = forms.get(key)
            if form is not None:
                needed, takes_it = form.expressed(value)[0], form.keyword in takes
            else:  # by its name, a value of its default's type
                needed, takes_it = True, key in takes and type(value) is type(defaults[key])
            if value != defaults[key] and needed and not takes_it:
                lacking.append(f"{key}={value!r}")
        made = library_runner(rule, library_package(rule))
        if isinstance(made, str):
            refused += 1
            assert "\n" not in made and made.startswith(f"{module}.{cls} has no option "), made
            assert made.rpartition(" ")[2] in lacking, (label(rule), made)
        else:
            assert not lacking, (label(rule), lacking)
    assert refused  # a class lacks one option of a variant at least (AdamWLegacy has no bias_correction)
