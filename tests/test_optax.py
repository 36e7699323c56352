"""optax as a second library witness: every rule optax has, through the variant that is its convention."""

import numpy as np
import pytest

import symopt
from symopt.optimizers import RULES, label, variants
from symopt.strategies import Trajectory

from conftest import registry_sample

ALL = [symopt.get(name, **options) for name in RULES for options in variants(name)]
# jax runs optax op by op (about 0.1 s a trajectory): few cases per variant, and in CI a sample of
# each rule's variants (tests/conftest.py's registry_sample; every variant outside CI)
EXAMPLES = 3


def _optax_has(rule) -> bool:
    from symopt.verify import optax_transformation

    try:
        return not isinstance(optax_transformation(rule), str)
    except ImportError:  # without optax these tests skip (and fail in CI)
        return True


OPTAX_RULES = [r for r in ALL if _optax_has(r)]
SAMPLED = registry_sample(_optax_has)


@pytest.fixture(scope="module")
def optax():
    from conftest import require

    require("jax", install='pip install "symopt-toolkit[optax]"')
    return require("optax", install='pip install "symopt-toolkit[optax]"')


@pytest.mark.parametrize("rule", SAMPLED, ids=label)
def test_kernel_agrees_with_optax(optax, rule):
    from symopt.verify import verify

    report = verify(rule, "optax", examples=EXAMPLES)
    assert report.passed, report.counterexample and report.counterexample.errors.first
    assert report.errors["float64"].max_rel <= 1e-12


def test_every_convention_optax_lacks_is_named_by_the_variant_that_bridges_it(optax):
    from symopt.verify import optax_transformation

    assert OPTAX_RULES and any(r.name == "adamw" for r in OPTAX_RULES)
    assert all(r in OPTAX_RULES for r in ALL if r.library[0] == "optax")  # a rule naming its optax alias is compared
    reasons = {label(r): optax_transformation(r) for r in ALL if r not in OPTAX_RULES}
    assert all(isinstance(v, str) and v for v in reasons.values())
    assert "amsgrad='corrected'" in reasons["adam(amsgrad=True)"]
    assert "decay='lr'" in reasons["adamw(decay='paper')"]
    assert "epsilon='both'" in reasons["adam(epsilon='hat')"]
    assert "form='torch'" in reasons["momentum(form='sutskever')"]


def test_optax_rmsprop_puts_the_learning_rate_inside_its_momentum_buffer(optax):
    """Why the optax comparison of RMSprop holds the momentum at 0: with momentum, optax's trace
    after scale_by_learning_rate is Sutskever's form, which is torch's only while η is constant."""
    import jax

    from symopt.verify import kernel_runner

    jax.config.update("jax_enable_x64", True)
    rule = symopt.get("rmsprop", epsilon="inside")
    rng = np.random.default_rng(0)
    params0, grads = rng.standard_normal(3), [rng.standard_normal(3) for _ in range(4)]
    hyper = {"lr": 0.01, "alpha": 0.9, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.9}
    for schedule, agree in (([0.01] * 4, True), ([0.01, 0.02, 0.005, 0.01], False)):
        ours = kernel_runner(rule)(Trajectory(np.dtype("float64"), params0, grads, hyper, schedule=schedule))
        make = lambda lr: optax.rmsprop(lr, decay=0.9, eps=1e-8, momentum=0.9)  # noqa: E731
        params, state = params0, make(0.01).init(params0)
        for lr, g in zip(schedule, grads):
            updates, state = make(lr).update(g, state, params)
            params = optax.apply_updates(params, updates)
        assert np.allclose(np.asarray(params), ours[-1], rtol=1e-12) == agree
