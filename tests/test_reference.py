"""Tests of the hand-written NumPy references in ``symopt/reference.py``.

The references are the independent witness for the symbolic optimizers, so
they are checked here against things that are not themselves: numbers worked
out by hand from the definitions, mathematical laws, and torch.optim.

The references import nothing of ``symopt`` (test_module_imports_only_numpy_and_stdlib_helpers);
the tests read from the registry which references to check (a property, not a list), and from the
rules' declarations the keywords and defaults a reference must take and the values that switch its
branches on.
"""

from __future__ import annotations

import ast
import inspect
import math
import pathlib
import warnings

import numpy as np
import pytest

import symopt.reference as ref

REF_DIR = pathlib.Path(ref.__file__).resolve().parent

import symopt
from symopt import ops
from symopt.optimizers import RULES, label, options, variants
from symopt.verify import torch_arguments

from conftest import busy_value, registry_sample


def _elementwise_at_its_parameters(rule) -> bool:
    return rule.elementwise and not rule.evaluate


# The references tested here, chosen by a property: every registered rule that acts element by
# element and is evaluated at its parameters. The Schedule-Free references (evaluated at their
# average) are tested in tests/test_reference_schedulefree.py, the matrix rules' through
# tests/test_verify.py (every variant against its reference) and tests/test_muon.py.
NAMES = tuple(name for name in RULES if _elementwise_at_its_parameters(symopt.get(name)))
EPSILONS = ("outside", "inside", "hat")


def busy_kwargs(rule) -> dict:
    """The reference's keywords for ``rule``: every hyperparameter at its busy value, and the
    variant's structural options."""
    return {h.name: busy_value(h) for h in rule.hypers} | dict(rule.options)


def declared_defaults(name) -> dict:
    """A reference's keywords and defaults as the rule declares them: the hyperparameters of every
    variant (Adam's ``eps_root`` belongs to epsilon='both') and the structural options."""
    found: dict = {}
    for variant in variants(name):
        found.update({h.name: h.default for h in symopt.get(name, **variant).hypers})
    return found | options(name)


# Hyperparameters that switch on every branch, for each rule's variants (every variant outside CI; in
# CI each rule's default and one drawn: tests/conftest.py's registry_sample). RAdam's beta2 = 0.999
# puts steps 1-5 in the un-adapted branch and steps 6 on in the rectified one; the contract tests
# take WARM steps.
BUSY_RULES = registry_sample(lambda rule: rule.name in NAMES and _elementwise_at_its_parameters(rule))
BUSY_CASES = [(rule.name, busy_kwargs(rule)) for rule in BUSY_RULES]
BUSY_IDS = [label(rule) for rule in BUSY_RULES]
WARM = 7

# State entries that are scalars (float64, 0-d) rather than arrays like params.
SCALAR_STATE = {"mu_product", "exp_avg_lr_1", "exp_avg_lr_2"}


def _run(name, p, grads, **kwargs):
    """Take len(grads) steps from fresh state; return (params, state)."""
    fn = ref.REFERENCES[name]
    state = {}
    for t, g in enumerate(grads, start=1):
        p, state = fn(p, g, state, t, **kwargs)
    return p, state


# --------------------------------------------------------------------------
# Module contract
# --------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(REF_DIR.glob("*.py")), ids=lambda p: p.name)
def test_module_imports_only_numpy_and_stdlib_helpers(path):
    """Each reference module imports NumPy, the standard library and its own package: no SymPy, no
    rule, nothing else of symopt (the package's ``__init__`` gathers the modules with importlib)."""
    tree = ast.parse(path.read_text())
    allowed = {"numpy", "math", "copy", "typing", "__future__"}
    if path.name == "__init__.py":
        allowed |= {"importlib", "pkgutil"}
    seen = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                seen.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            if node.module.startswith("symopt."):
                assert node.module.startswith("symopt.reference."), f"{path.name} imports {node.module}"
                continue
            seen.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            pytest.fail(f"dynamic __import__ in {path.name}")
    assert seen <= allowed, "forbidden imports: %s" % sorted(seen - allowed)
    assert path.name in ("__init__.py",) or "numpy" in seen


def test_references_mapping():
    # every registered rule has its reference, and there is no other
    assert set(ref.REFERENCES) == set(RULES)
    assert {name for name, _ in BUSY_CASES} == set(NAMES)
    for name, function in ref.REFERENCES.items():
        assert getattr(ref, function.__name__) is function and function.__name__ in ref.__all__, name


@pytest.mark.parametrize("name", NAMES)
def test_signature(name):
    params = list(inspect.signature(ref.REFERENCES[name]).parameters.values())
    assert [p.name for p in params[:4]] == ["params", "grads", "state", "t"]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in params[:4])
    keyword = {p.name: p.default for p in params[4:]}
    assert all(p.kind is p.KEYWORD_ONLY for p in params[4:])
    # beside the declared ones, a keyword may describe the gradient (SparseAdam's ``touched`` rows):
    # off (None) by default, so the step without it is the rule's
    inputs = {k for k, v in keyword.items() if v is None and k not in declared_defaults(name)}
    assert {k: v for k, v in keyword.items() if k not in inputs} == dict(declared_defaults(name), inplace=False)
    assert ref.REFERENCES[name].__doc__


# --------------------------------------------------------------------------
# Hand-computed values
# --------------------------------------------------------------------------


def test_sgd_by_hand():
    p = np.array([1.0, -2.0, 0.5])
    g = np.array([0.5, 1.0, -4.0])
    out, state = ref.sgd(p, g, {}, 1, lr=0.1)
    # p - 0.1 * g
    np.testing.assert_allclose(out, [0.95, -2.1, 0.9], rtol=1e-15, atol=0)
    assert state == {}
    out, _ = ref.sgd(p, g, {}, 1, lr=0.1, weight_decay=0.2)
    # g + 0.2 p = [0.7, 0.6, -3.9];  p - 0.1 * that
    np.testing.assert_allclose(out, [0.93, -2.06, 0.89], rtol=1e-15, atol=0)


def test_momentum_by_hand_dampening_not_applied_on_first_step():
    p, s = ref.momentum(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, momentum=0.9, dampening=0.5)
    # buf = g = 2 (no dampening on step 1: torch clones the gradient); p = 1 - 0.2
    np.testing.assert_allclose(s["momentum_buffer"], [2.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [0.8], rtol=1e-15, atol=0)
    p, s = ref.momentum(p, np.array([1.0]), s, 2, lr=0.1, momentum=0.9, dampening=0.5)
    # buf = 0.9*2 + 0.5*1 = 2.3; p = 0.8 - 0.23
    np.testing.assert_allclose(s["momentum_buffer"], [2.3], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [0.57], rtol=1e-15, atol=0)


def test_momentum_by_hand_nesterov():
    p, s = ref.momentum(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, momentum=0.9, nesterov=True)
    # buf = 2; g = 2 + 0.9*2 = 3.8; p = 1 - 0.38
    np.testing.assert_allclose(p, [0.62], rtol=1e-15, atol=0)
    p, s = ref.momentum(p, np.array([1.0]), s, 2, lr=0.1, momentum=0.9, nesterov=True)
    # buf = 0.9*2 + 1 = 2.8; g = 1 + 0.9*2.8 = 3.52; p = 0.62 - 0.352
    np.testing.assert_allclose(s["momentum_buffer"], [2.8], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [0.268], rtol=1e-14, atol=0)


def test_momentum_by_hand_weight_decay():
    p, s = ref.momentum(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, momentum=0.9, weight_decay=0.1)
    # g = 2 + 0.1*1 = 2.1; buf = 2.1; p = 1 - 0.21
    np.testing.assert_allclose(p, [0.79], rtol=1e-15, atol=0)
    p, s = ref.momentum(p, np.array([1.0]), s, 2, lr=0.1, momentum=0.9, weight_decay=0.1)
    # g = 1 + 0.1*0.79 = 1.079; buf = 0.9*2.1 + 1.079 = 2.969; p = 0.79 - 0.2969
    np.testing.assert_allclose(s["momentum_buffer"], [2.969], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [0.4931], rtol=1e-14, atol=0)


# Two Adam steps from p = 1 with g = 2 then g = 3, lr = 0.1, beta1 = 0.5,
# beta2 = 0.75, eps = 0.01:
#   step 1: m = 0.5*2 = 1,          v = 0.25*4 = 1,          1-b1^1 = 0.5,  1-b2^1 = 0.25
#   step 2: m = 0.5*1 + 0.5*3 = 2,  v = 0.75*1 + 0.25*9 = 3, 1-b1^2 = 0.75, 1-b2^2 = 0.4375
_LR, _EPS = 0.1, 0.01
_P1 = {
    ("outside", True): 1 - _LR * (1 / 0.5) / (math.sqrt(1 / 0.25) + _EPS),
    ("inside", True): 1 - _LR * (1 / 0.5) / math.sqrt(1 / 0.25 + _EPS),
    ("hat", True): 1 - (_LR * math.sqrt(0.25) / 0.5) * 1 / (math.sqrt(1) + _EPS),
    ("outside", False): 1 - _LR * 1 / (math.sqrt(1) + _EPS),
    ("inside", False): 1 - _LR * 1 / math.sqrt(1 + _EPS),
    ("hat", False): 1 - _LR * 1 / (math.sqrt(1) + _EPS),
}
_DELTA2 = {
    ("outside", True): _LR * (2 / 0.75) / (math.sqrt(3 / 0.4375) + _EPS),
    ("inside", True): _LR * (2 / 0.75) / math.sqrt(3 / 0.4375 + _EPS),
    ("hat", True): (_LR * math.sqrt(0.4375) / 0.75) * 2 / (math.sqrt(3) + _EPS),
    ("outside", False): _LR * 2 / (math.sqrt(3) + _EPS),
    ("inside", False): _LR * 2 / math.sqrt(3 + _EPS),
    ("hat", False): _LR * 2 / (math.sqrt(3) + _EPS),
}


@pytest.mark.parametrize("name", ["adam", "adamw"])
@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize("epsilon", EPSILONS)
def test_adam_two_steps_by_hand(name, epsilon, bias_correction):
    kw = dict(lr=_LR, beta1=0.5, beta2=0.75, eps=_EPS, weight_decay=0.0,
              bias_correction=bias_correction, epsilon=epsilon)
    fn = ref.REFERENCES[name]
    p, s = fn(np.array([1.0]), np.array([2.0]), {}, 1, **kw)
    np.testing.assert_allclose(s["exp_avg"], [1.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(s["exp_avg_sq"], [1.0], rtol=1e-15, atol=0)
    p1 = _P1[epsilon, bias_correction]
    np.testing.assert_allclose(p, [p1], rtol=1e-14, atol=0)
    p, s = fn(p, np.array([3.0]), s, 2, **kw)
    np.testing.assert_allclose(s["exp_avg"], [2.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(s["exp_avg_sq"], [3.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [p1 - _DELTA2[epsilon, bias_correction]], rtol=1e-14, atol=0)


def test_adam_l2_and_adamw_decoupled_by_hand():
    kw = dict(lr=0.1, beta1=0.5, beta2=0.75, eps=0.01, weight_decay=0.5)
    p, s = ref.adam(np.array([1.0]), np.array([2.0]), {}, 1, **kw)
    # L2: g = 2 + 0.5*1 = 2.5; m = 1.25, v = 0.25*6.25; mhat = 2.5, sqrt(vhat) = 2.5
    np.testing.assert_allclose(s["exp_avg"], [1.25], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [1 - 0.1 * 2.5 / (2.5 + 0.01)], rtol=1e-14, atol=0)
    p, s = ref.adamw(np.array([1.0]), np.array([2.0]), {}, 1, **kw)
    # decoupled: p = 1*(1 - 0.1*0.5) = 0.95 first, then the Adam step on g = 2
    np.testing.assert_allclose(s["exp_avg"], [1.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [0.95 - 0.1 * 2 / (2 + 0.01)], rtol=1e-14, atol=0)


# AMSGrad from the same start as the table above (p = 1, g = 2: m = v = 1),
# then g = 0: m = 0.5, v = 0.75 falls below its maximum 1, which the
# denominator keeps (bias-corrected, with eps placed, as v would be).
_DELTA2_AMSGRAD = {
    ("outside", True): _LR * (0.5 / 0.75) / (math.sqrt(1 / 0.4375) + _EPS),
    ("inside", True): _LR * (0.5 / 0.75) / math.sqrt(1 / 0.4375 + _EPS),
    ("hat", True): (_LR * math.sqrt(0.4375) / 0.75) * 0.5 / (math.sqrt(1) + _EPS),
    ("outside", False): _LR * 0.5 / (math.sqrt(1) + _EPS),
    ("inside", False): _LR * 0.5 / math.sqrt(1 + _EPS),
    ("hat", False): _LR * 0.5 / (math.sqrt(1) + _EPS),
}


@pytest.mark.parametrize("name", ["adam", "adamw"])
@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize("epsilon", EPSILONS)
def test_amsgrad_two_steps_by_hand(name, epsilon, bias_correction):
    kw = dict(lr=_LR, beta1=0.5, beta2=0.75, eps=_EPS, weight_decay=0.0, amsgrad=True,
              bias_correction=bias_correction, epsilon=epsilon)
    fn = ref.REFERENCES[name]
    p, s = fn(np.array([1.0]), np.array([2.0]), {}, 1, **kw)
    np.testing.assert_allclose(s["max_exp_avg_sq"], [1.0], rtol=1e-15, atol=0)
    p1 = _P1[epsilon, bias_correction]  # v = its maximum on step 1: Adam's step
    np.testing.assert_allclose(p, [p1], rtol=1e-14, atol=0)
    p, s = fn(p, np.array([0.0]), s, 2, **kw)
    np.testing.assert_allclose(s["exp_avg"], [0.5], rtol=1e-15, atol=0)
    np.testing.assert_allclose(s["exp_avg_sq"], [0.75], rtol=1e-15, atol=0)
    np.testing.assert_allclose(s["max_exp_avg_sq"], [1.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [p1 - _DELTA2_AMSGRAD[epsilon, bias_correction]], rtol=1e-14, atol=0)


def test_rmsprop_by_hand():
    kw = dict(lr=0.1, alpha=0.75, eps=0.01)
    p, s = ref.rmsprop(np.array([1.0]), np.array([2.0]), {}, 1, **kw)
    # square_avg = 0.25 * 4 = 1; p = 1 - 0.1 * 2 / (1 + 0.01)
    assert set(s) == {"square_avg"}
    np.testing.assert_allclose(s["square_avg"], [1.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [1 - 0.2 / 1.01], rtol=1e-15, atol=0)
    p, s = ref.rmsprop(p, np.array([4.0]), s, 2, **kw)
    # square_avg = 0.75 * 1 + 0.25 * 16 = 4.75
    np.testing.assert_allclose(s["square_avg"], [4.75], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [1 - 0.2 / 1.01 - 0.4 / (math.sqrt(4.75) + 0.01)], rtol=1e-15, atol=0)
    # L2: g = 1 + 0.5 * 2 = 2 from p = 2: the same first step from 2
    p, _ = ref.rmsprop(np.array([2.0]), np.array([1.0]), {}, 1, weight_decay=0.5, **kw)
    np.testing.assert_allclose(p, [2 - 0.2 / 1.01], rtol=1e-15, atol=0)


def test_rmsprop_centered_by_hand():
    kw = dict(lr=0.1, alpha=0.5, eps=0.01, centered=True)
    p, s = ref.rmsprop(np.array([1.0]), np.array([2.0]), {}, 1, **kw)
    # grad_avg = 0.5 * 2 = 1, square_avg = 0.5 * 4 = 2, variance 2 - 1 = 1
    np.testing.assert_allclose(s["grad_avg"], [1.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(s["square_avg"], [2.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [1 - 0.2 / 1.01], rtol=1e-15, atol=0)
    p, s = ref.rmsprop(p, np.array([4.0]), s, 2, **kw)
    # grad_avg = 0.5 + 2 = 2.5, square_avg = 1 + 8 = 9, variance 9 - 6.25 = 2.75
    np.testing.assert_allclose(s["grad_avg"], [2.5], rtol=1e-15, atol=0)
    np.testing.assert_allclose(s["square_avg"], [9.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [1 - 0.2 / 1.01 - 0.4 / (math.sqrt(2.75) + 0.01)], rtol=1e-15, atol=0)


def test_rmsprop_momentum_by_hand():
    kw = dict(lr=0.1, alpha=0.75, eps=0.0, momentum=0.5)
    p, s = ref.rmsprop(np.array([1.0]), np.array([2.0]), {}, 1, **kw)
    # the buffer starts at zero (not at the gradient, unlike SGD): buf = 0 + 2 / sqrt(1)
    assert set(s) == {"square_avg", "momentum_buffer"}
    np.testing.assert_allclose(s["momentum_buffer"], [2.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [0.8], rtol=1e-15, atol=0)
    p, s = ref.rmsprop(p, np.array([4.0]), s, 2, **kw)
    buf = 0.5 * 2 + 4 / math.sqrt(4.75)
    np.testing.assert_allclose(s["momentum_buffer"], [buf], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [0.8 - 0.1 * buf], rtol=1e-15, atol=0)


def test_adagrad_by_hand():
    kw = dict(lr=0.5, eps=0.0, initial_accumulator_value=16.0, lr_decay=0.5)
    p, s = ref.adagrad(np.array([1.0]), np.array([3.0]), {}, 1, **kw)
    # sum = 16 + 9 = 25; clr = 0.5 / (1 + 0 * 0.5); p = 1 - 0.5 * 3 / 5
    np.testing.assert_allclose(s["sum"], [25.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [0.7], rtol=1e-15, atol=0)
    p, s = ref.adagrad(p, np.array([-12.0]), s, 2, **kw)
    # sum = 25 + 144 = 169; clr = 0.5 / 1.5; p = 0.7 + (1/3) * 12 / 13
    np.testing.assert_allclose(s["sum"], [169.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [0.7 + 4 / 13], rtol=1e-15, atol=0)
    # L2 and eps: g = 2 + 1 * 1 = 3; sum = 9; p = 1 - 0.1 * 3 / (3 + 0.5)
    p, s = ref.adagrad(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, weight_decay=1.0, eps=0.5)
    np.testing.assert_allclose(s["sum"], [9.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [1 - 0.3 / 3.5], rtol=1e-15, atol=0)


def test_adamax_by_hand():
    kw = dict(lr=0.1, beta1=0.5, beta2=0.75, eps=0.01)
    p, s = ref.adamax(np.array([1.0]), np.array([2.0]), {}, 1, **kw)
    # m = 1, u = max(0, 2 + 0.01) = 2.01, clr = 0.1 / 0.5
    np.testing.assert_allclose(s["exp_avg"], [1.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(s["exp_inf"], [2.01], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [1 - 0.2 / 2.01], rtol=1e-15, atol=0)
    p, s = ref.adamax(p, np.array([1.0]), s, 2, **kw)
    # m = 0.5 + 0.5 = 1; u = max(0.75 * 2.01, 1.01) = 1.5075 (the decayed old value wins)
    np.testing.assert_allclose(s["exp_avg"], [1.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(s["exp_inf"], [1.5075], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [1 - 0.2 / 2.01 - (0.1 / 0.75) / 1.5075], rtol=1e-15, atol=0)
    p, s = ref.adamax(np.array([2.0]), np.array([-3.0]), {}, 1, weight_decay=0.5, **kw)
    # L2: g = -3 + 1 = -2; m = -1, u = 2.01
    np.testing.assert_allclose(s["exp_inf"], [2.01], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [2 + 0.2 / 2.01], rtol=1e-15, atol=0)


def _nadam_mu(beta1, psi, t):
    # Dozat's schedule as torch writes it: beta1 * (1 - 0.5 * 0.96**(t * psi))
    return beta1 * (1 - 0.5 * 0.96 ** (t * psi))


def test_nadam_two_steps_by_hand():
    lr, b1, b2, eps, psi = 0.1, 0.5, 0.75, 0.01, 0.5
    kw = dict(lr=lr, beta1=b1, beta2=b2, eps=eps, momentum_decay=psi)
    mu1, mu2, mu3 = (_nadam_mu(b1, psi, t) for t in (1, 2, 3))
    p, s = ref.nadam(np.array([1.0]), np.array([2.0]), {}, 1, **kw)
    # m = 1, v = 1, sqrt(v / 0.25) = 2
    d1 = 2 + eps
    p1 = 1 - lr * (1 - mu1) / (1 - mu1) * 2 / d1 - lr * mu2 / (1 - mu1 * mu2) * 1 / d1
    np.testing.assert_allclose(s["mu_product"], mu1, rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [p1], rtol=1e-15, atol=0)
    p, s = ref.nadam(p, np.array([4.0]), s, 2, **kw)
    # m = 2.5, v = 0.75 + 4 = 4.75, 1 - b2**2 = 0.4375
    d2 = math.sqrt(4.75 / 0.4375) + eps
    p2 = p1 - lr * (1 - mu2) / (1 - mu1 * mu2) * 4 / d2 - lr * mu3 / (1 - mu1 * mu2 * mu3) * 2.5 / d2
    np.testing.assert_allclose(s["exp_avg"], [2.5], rtol=1e-15, atol=0)
    np.testing.assert_allclose(s["exp_avg_sq"], [4.75], rtol=1e-15, atol=0)
    np.testing.assert_allclose(s["mu_product"], mu1 * mu2, rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [p2], rtol=1e-14, atol=0)


@pytest.mark.parametrize("decoupled", [False, True])
def test_nadam_weight_decay_by_hand(decoupled):
    lr, b1, b2, psi, wd = 0.1, 0.5, 0.75, 0.5, 0.5
    mu1, mu2 = _nadam_mu(b1, psi, 1), _nadam_mu(b1, psi, 2)
    p, s = ref.nadam(np.array([2.0]), np.array([1.0]), {}, 1, lr=lr, beta1=b1, beta2=b2, eps=0.0,
                     momentum_decay=psi, weight_decay=wd, decoupled_weight_decay=decoupled)
    if decoupled:  # p = 2 * (1 - 0.05) = 1.9 first, then the step on g = 1 (m = 0.5)
        start, m = 1.9, 0.5
    else:          # g = 1 + 0.5 * 2 = 2 (m = 1)
        start, m = 2.0, 1.0
    # sqrt(v / (1 - b2)) = |g| = 2 m, so g / denom = 1 and m / denom = 1/2
    expected = start - lr * 1 - lr * mu2 / (1 - mu1 * mu2) * 0.5
    np.testing.assert_allclose(s["exp_avg"], [m], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [expected], rtol=1e-15, atol=0)


def test_timm_nadamw_two_steps_by_hand():
    # timm's NAdamW: θ(1 - ηλ) first, m kept as lerp(m, g, 1 - β₁), the step's numerator lerp'd once more
    # and divided by 1 - β₁ᵗ (not optax's 1 - β₁ᵗ⁺¹ on the β₁m term)
    lr, b1, b2, wd = 0.1, 0.5, 0.75, 0.5
    kw = dict(lr=lr, beta1=b1, beta2=b2, eps=0.0, weight_decay=wd, convention="timm", decoupled_weight_decay=True)
    p, s = ref.nadam(np.array([2.0]), np.array([2.0]), {}, 1, **kw)
    # 2·(1 - 0.05) = 1.9; m = 1, ahead = 0.5·1 + 0.5·2 = 1.5, /(1 - 0.5) = 3; v = 1, √(v/0.25) = 2
    np.testing.assert_allclose(s["exp_avg"], [1.0], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [1.9 - lr * 3 / 2], rtol=1e-15, atol=0)
    p, s = ref.nadam(p, np.array([4.0]), s, 2, **kw)
    # m = 2.5, ahead = 3.25, /(1 - 0.25) = 13/3; v = 0.75 + 4 = 4.75, √(4.75/0.4375)
    expected = (1.9 - 0.15) * 0.95 - lr * (13 / 3) / math.sqrt(4.75 / 0.4375)
    np.testing.assert_allclose(s["exp_avg"], [2.5], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [expected], rtol=1e-14, atol=0)


def test_timm_nadamw_caution_by_hand():
    # after g = (1, 1), m = (0.5, 0.5); then g = (-0.05, 1): m = (0.225, 0.75) and the look-ahead
    # 0.5·m + 0.5·g = (0.0875, 0.875). The first element's step goes against its gradient's sign and is
    # masked; the second is kept, doubled (the mask's mean is 1/2)
    kw = dict(lr=0.1, beta1=0.5, beta2=0.75, eps=0.0, convention="timm", decoupled_weight_decay=True)
    _, s = ref.nadam(np.zeros(2), np.array([1.0, 1.0]), {}, 1, **kw)
    plain, _ = ref.nadam(np.zeros(2), np.array([-0.05, 1.0]), s, 2, **kw)
    masked, state = ref.nadam(np.zeros(2), np.array([-0.05, 1.0]), s, 2, cautious=True, **kw)
    assert plain[0] < 0 and plain[1] < 0  # the plain step descends on the second, ascends on the first
    np.testing.assert_allclose(masked, [0.0, 2 * plain[1]], rtol=1e-15, atol=0)
    np.testing.assert_allclose(state["exp_avg"], [0.225, 0.75], rtol=1e-15, atol=0)  # the state is unmasked


def _rho(beta2, t):
    # Liu et al., eq. (6): the length of the approximated simple moving average
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t), rho_inf


def test_radam_by_hand_both_branches():
    lr, b1, b2 = 0.1, 0.5, 0.999
    assert _rho(b2, 5)[0] <= 5 < _rho(b2, 6)[0]
    kw = dict(lr=lr, beta1=b1, beta2=b2, eps=0.0)
    p, s = ref.radam(np.array([1.0]), np.array([2.0]), {}, 1, **kw)
    # rho_1 = 1: p - lr * m / (1 - b1) = 1 - 0.1 * 1 / 0.5
    np.testing.assert_allclose(p, [0.8], rtol=1e-15, atol=0)
    p, s = ref.radam(p, np.array([4.0]), s, 2, **kw)
    # m = 0.5 + 2 = 2.5, mhat = 2.5 / 0.75
    np.testing.assert_allclose(s["exp_avg"], [2.5], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [0.8 - 0.1 * 2.5 / 0.75], rtol=1e-15, atol=0)

    # A constant gradient g: mhat = g at every step; steps 1-5 move by lr * g,
    # step 6 (rho_6 > 5) by lr * r_6 * mhat / sqrt(vhat) = lr * r_6 * sign(g).
    g = np.array([3.0, -0.25])
    p = np.zeros(2)
    s = {}
    for t in range(1, 7):
        p, s = ref.radam(p, g, s, t, **kw)
        if t == 5:
            np.testing.assert_allclose(p, -5 * lr * g, rtol=1e-14, atol=0)
    rho6, rho_inf = _rho(b2, 6)
    r6 = math.sqrt((rho6 - 4) * (rho6 - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho6))
    np.testing.assert_allclose(p, -5 * lr * g - lr * r6 * np.sign(g), rtol=1e-14, atol=0)


@pytest.mark.parametrize("decoupled", [False, True])
def test_radam_weight_decay_by_hand(decoupled):
    kw = dict(lr=0.1, beta1=0.5, weight_decay=0.5, decoupled_weight_decay=decoupled)
    p, s = ref.radam(np.array([2.0]), np.array([1.0]), {}, 1, **kw)
    # Step 1 is the same both ways: 2 - 0.1 * (1 + 0.5 * 2) = 2 * 0.95 - 0.1 * 1 = 1.8.
    np.testing.assert_allclose(p, [1.8], rtol=1e-15, atol=0)
    p, s = ref.radam(p, np.array([0.0]), s, 2, **kw)
    if decoupled:  # p = 1.8 * 0.95 = 1.71; m = 0.5 * 0.5 = 0.25
        m, expected = 0.25, 1.71 - 0.1 * 0.25 / 0.75
    else:          # g = 0 + 0.5 * 1.8 = 0.9; m = 0.5 * 1 + 0.5 * 0.9 = 0.95
        m, expected = 0.95, 1.8 - 0.1 * 0.95 / 0.75
    np.testing.assert_allclose(s["exp_avg"], [m], rtol=1e-15, atol=0)
    np.testing.assert_allclose(p, [expected], rtol=1e-15, atol=0)


def test_lion_two_steps_by_hand():
    # torch has no Lion: this and the laws below are its only witnesses.
    lr, b1, b2, wd = 0.125, 0.9, 0.99, 0.1
    kw = dict(lr=lr, beta1=b1, beta2=b2, weight_decay=wd)
    p, s = ref.lion(np.array([1.0, 1.0]), np.array([10.0, 10.0]), {}, 1, **kw)
    # m = 0: c = 0.1 * g > 0; p = 1 - 0.125 * (1 + 0.1 * 1) = 0.8625; m = 0.01 * 10
    np.testing.assert_allclose(p, [0.8625, 0.8625], rtol=1e-15, atol=0)
    np.testing.assert_allclose(s["exp_avg"], [0.1, 0.1], rtol=1e-15, atol=0)
    p, s = ref.lion(p, np.array([-0.5, -2.0]), s, 2, **kw)
    # c = 0.1 * g + 0.9 * 0.1 = [-0.05 + 0.09, -0.2 + 0.09] = [0.04, -0.11]: the
    # momentum outvotes the small negative gradient, not the large one.
    np.testing.assert_allclose(p, [0.8625 - lr * (1 + wd * 0.8625), 0.8625 - lr * (-1 + wd * 0.8625)],
                               rtol=1e-15, atol=0)
    # m = 0.99 * 0.1 + 0.01 * g
    np.testing.assert_allclose(s["exp_avg"], [0.099 - 0.005, 0.099 - 0.02], rtol=1e-14, atol=0)


def test_lion_matches_lion_pytorch_form():
    # lion-pytorch decays first, p * (1 - lr * wd), then adds -lr * sign(c):
    # the same in exact arithmetic as optax's p - lr * (sign(c) + wd * p).
    rng = np.random.default_rng(11)
    lr, b1, b2, wd = 0.01, 0.9, 0.99, 0.3
    p, s = rng.standard_normal(50) + 5, {}
    q, m = p.copy(), np.zeros(50)
    for t in range(1, 21):
        g = rng.standard_normal(50)
        p, s = ref.lion(p, g, s, t, lr=lr, beta1=b1, beta2=b2, weight_decay=wd)
        c = b1 * m + (1 - b1) * g
        q = q * (1 - lr * wd) - lr * np.sign(c)
        m = b2 * m + (1 - b2) * g
        np.testing.assert_allclose(p, q, rtol=1e-14, atol=0)
        np.testing.assert_allclose(s["exp_avg"], m, rtol=1e-14, atol=1e-16)


# --------------------------------------------------------------------------
# Laws
# --------------------------------------------------------------------------


def _zero_decay_variants():
    yield "sgd", dict(lr=0.1)
    yield "momentum", dict(lr=0.1, momentum=0.9, dampening=0.3)
    yield "momentum", dict(lr=0.1, momentum=0.9, nesterov=True)
    for name in ("adam", "adamw"):
        for epsilon in EPSILONS:
            for bc in (True, False):
                yield name, dict(lr=0.1, weight_decay=0.0, epsilon=epsilon, bias_correction=bc)
        yield name, dict(lr=0.1, weight_decay=0.0, amsgrad=True)
    yield "rmsprop", dict(lr=0.1)
    yield "rmsprop", dict(lr=0.1, momentum=0.9, centered=True)
    yield "adagrad", dict(lr=0.1, lr_decay=0.1, initial_accumulator_value=0.5)
    yield "adamax", dict(lr=0.1)
    for name in ("nadam", "radam"):
        for decoupled in (False, True):
            yield name, dict(lr=0.1, weight_decay=0.0, decoupled_weight_decay=decoupled)
    yield "radam", dict(lr=0.1, beta2=0.9)  # reaches the rectified branch at step 6
    yield "lion", dict(lr=0.1, weight_decay=0.0)


@pytest.mark.parametrize("name,kwargs", list(_zero_decay_variants()))
def test_zero_gradient_without_decay_does_not_move(name, kwargs):
    p0 = np.array([1.5, -2.0, 0.0, 3e-7])
    p, _ = _run(name, p0.copy(), [np.zeros(4)] * 8, **kwargs)
    np.testing.assert_array_equal(p, p0)


@pytest.mark.parametrize("name,kwargs", [
    ("adamw", dict(lr=0.1, weight_decay=0.3)),
    ("nadam", dict(lr=0.1, weight_decay=0.3, decoupled_weight_decay=True)),
    ("radam", dict(lr=0.1, weight_decay=0.3, decoupled_weight_decay=True, beta2=0.9)),
])
def test_decoupled_decay_with_zero_gradient_is_a_geometric_shrink(name, kwargs):
    # With g = 0 every moment stays zero and the update term is exactly zero,
    # so only p *= (1 - lr * wd) acts, step after step (radam: through both branches).
    p0 = np.array([1.5, -2.0, 3e-7])
    p, _ = _run(name, p0.copy(), [np.zeros(3)] * 8, **kwargs)
    expected = p0.copy()
    for _ in range(8):
        expected = expected * (1 - 0.1 * 0.3)
    np.testing.assert_array_equal(p, expected)


@pytest.mark.parametrize("name", ["adam", "adamw", "adamax"])
def test_adam_constant_gradient_step_is_lr_sign(name):
    # With a constant g, the bias-corrected moments are exactly g and g**2 at
    # every step, so every step is lr * g / (|g| + eps).  AdaMax: the infinity
    # norm is max(beta2 * (|g| + eps), |g| + eps) = |g| + eps, the same step.
    g = np.array([0.3, -2.0, 5e-3, 7.0, -1e-6])
    lr, eps = 0.01, 1e-4
    kw = dict(lr=lr, beta1=0.9, beta2=0.999, eps=eps, weight_decay=0.0)
    p, s = ref.REFERENCES[name](np.zeros(5), g, {}, 1, **kw)
    np.testing.assert_allclose(p, -lr * g / (np.abs(g) + eps), rtol=4e-16, atol=0)
    for t in range(2, 21):
        p, s = ref.REFERENCES[name](p, g, s, t, **kw)
        np.testing.assert_allclose(p, -t * lr * g / (np.abs(g) + eps), rtol=1e-13, atol=0)


def test_adam_constant_gradient_other_epsilon_placements():
    g = np.array([0.3, -2.0, 5e-3])
    lr, eps, b1, b2 = 0.01, 1e-4, 0.9, 0.999
    kw = dict(lr=lr, beta1=b1, beta2=b2, eps=eps)
    p, _ = ref.adam(np.zeros(3), g, {}, 1, epsilon="inside", **kw)
    np.testing.assert_allclose(p, -lr * g / np.sqrt(g * g + eps), rtol=1e-15, atol=0)
    # Kingma & Ba's epsilon-hat: eps acts as eps / sqrt(1 - beta2**t) on the corrected scale.
    p, _ = ref.adam(np.zeros(3), g, {}, 1, epsilon="hat", **kw)
    np.testing.assert_allclose(p, -lr * g / (np.abs(g) + eps / math.sqrt(1 - b2)), rtol=1e-14, atol=0)


@pytest.mark.parametrize("epsilon", EPSILONS)
def test_epsilon_placements_agree_when_eps_is_zero(epsilon):
    rng = np.random.default_rng(3)
    grads = rng.standard_normal((6, 8))
    p0 = rng.standard_normal(8)
    kw = dict(lr=0.01, beta1=0.8, beta2=0.95, eps=0.0)
    p, _ = _run("adam", p0.copy(), grads, epsilon=epsilon, **kw)
    q, _ = _run("adam", p0.copy(), grads, epsilon="outside", **kw)
    np.testing.assert_allclose(p, q, rtol=1e-14, atol=0)


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize("epsilon", EPSILONS)
def test_adamw_without_decay_equals_adam_without_decay(epsilon, bias_correction, amsgrad):
    rng = np.random.default_rng(4)
    grads = rng.standard_normal((10, 7))
    p0 = rng.standard_normal(7)
    kw = dict(lr=0.01, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=0.0,
              epsilon=epsilon, bias_correction=bias_correction, amsgrad=amsgrad)
    p, s = _run("adam", p0.copy(), grads, **kw)
    q, r = _run("adamw", p0.copy(), grads, **kw)
    np.testing.assert_array_equal(p, q)
    assert set(s) == set(r)
    for key in s:
        np.testing.assert_array_equal(s[key], r[key])


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_amsgrad_keeps_the_running_maximum_of_the_raw_second_moment(name):
    rng = np.random.default_rng(8)
    grads = rng.standard_normal((25, 9)) * np.linspace(2, 0.1, 25)[:, None]  # shrinking: v falls
    kw = dict(lr=0.01, beta1=0.8, beta2=0.9, eps=1e-6, weight_decay=0.1)
    fn = ref.REFERENCES[name]
    p = q = np.linspace(-1, 1, 9)
    s, r, v_max = {}, {}, np.zeros(9)
    fell = False
    for t, g in enumerate(grads, start=1):
        p, s = fn(p, g, s, t, amsgrad=True, **kw)
        q, r = fn(q, g, r, t, amsgrad=False, **kw)
        # m and v are AMSGrad's and Adam's alike, and v_max is the maximum of v over the steps
        if name == "adamw":  # (with L2 decay the gradients differ once the parameters do)
            np.testing.assert_array_equal(s["exp_avg"], r["exp_avg"])
            np.testing.assert_array_equal(s["exp_avg_sq"], r["exp_avg_sq"])
        fell |= bool(np.any(s["exp_avg_sq"] < v_max))
        v_max = np.maximum(v_max, s["exp_avg_sq"])
        np.testing.assert_array_equal(s["max_exp_avg_sq"], v_max)
    assert fell, "test premise broken: v never fell below its maximum"
    assert not np.array_equal(p, q)


def test_amsgrad_is_adam_while_v_never_falls():
    # |g| growing: v rises every step, so max(v_max, v) = v and the steps are Adam's to the bit.
    grads = [np.array([1.0, -2.0, 0.5]) * t for t in range(1, 16)]
    kw = dict(lr=0.01, beta1=0.8, beta2=0.9, eps=1e-6)
    p, s = _run("adam", np.ones(3), grads, amsgrad=True, **kw)
    q, _ = _run("adam", np.ones(3), grads, **kw)
    np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(s["max_exp_avg_sq"], s["exp_avg_sq"])


@pytest.mark.parametrize("centered", [False, True])
def test_rmsprop_constant_gradient(centered):
    # Constant g: square_avg = g**2 (1 - alpha**t) and grad_avg = g (1 - alpha**t),
    # so the centered variance is g**2 (1 - alpha**t) alpha**t and step t moves by
    # lr g / (|g| sqrt(1 - alpha**t) + eps), or lr g / (|g| sqrt((1 - alpha**t) alpha**t) + eps).
    g = np.array([0.3, -2.0, 5e-3, 7.0])
    lr, alpha, eps = 0.01, 0.9, 1e-4
    p, s, expected = np.zeros(4), {}, np.zeros(4)
    for t in range(1, 16):
        p, s = ref.rmsprop(p, g, s, t, lr=lr, alpha=alpha, eps=eps, centered=centered)
        kept = 1 - alpha ** t
        scale = math.sqrt(kept * alpha ** t) if centered else math.sqrt(kept)
        expected = expected - lr * g / (np.abs(g) * scale + eps)
        np.testing.assert_allclose(s["square_avg"], g * g * kept, rtol=1e-14, atol=0)
        if centered:
            np.testing.assert_allclose(s["grad_avg"], g * kept, rtol=1e-14, atol=0)
        np.testing.assert_allclose(p, expected, rtol=1e-13, atol=0)


def test_rmsprop_momentum_buffer_accumulates_normalised_gradients():
    # buf_t = momentum * buf_{t-1} + g_t / avg_t and p_t = p_{t-1} - lr * buf_t,
    # with avg_t the plain run's denominator: recover it from that run's steps.
    rng = np.random.default_rng(9)
    grads = rng.standard_normal((10, 5))
    kw = dict(lr=0.01, alpha=0.9, eps=1e-3, centered=True)
    p = q = np.linspace(1, 2, 5)
    s, r, buf = {}, {}, np.zeros(5)
    for t, g in enumerate(grads, start=1):
        before = q
        q, r = ref.rmsprop(q, g, r, t, **kw)                 # plain: q = before - lr * g / avg
        normalised = (before - q) / 0.01
        p_before = p
        p, s = ref.rmsprop(p, g, s, t, momentum=0.7, **kw)
        buf = 0.7 * buf + normalised
        np.testing.assert_allclose(s["momentum_buffer"], buf, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(p, p_before - 0.01 * s["momentum_buffer"], rtol=1e-15, atol=0)


def test_adagrad_sum_is_initial_value_plus_sum_of_squares():
    rng = np.random.default_rng(10)
    grads = rng.integers(-20, 21, (12, 6)).astype(float)   # integers: every sum is exact
    p, s = _run("adagrad", np.ones(6), grads, lr=0.01, weight_decay=0.0, initial_accumulator_value=3.0)
    np.testing.assert_array_equal(s["sum"], 3.0 + np.sum(grads ** 2, axis=0))


def test_adagrad_constant_gradient_steps_shrink_as_lr_decay_over_root_t():
    # Constant g, sum starting at 0, eps = 0: sum_t = t g**2, so step t moves by
    # lr / (1 + (t - 1) lr_decay) * sign(g) / sqrt(t).
    g = np.array([0.3, -2.0, 7.0])
    lr, decay = 0.1, 0.25
    p, s, expected = np.zeros(3), {}, np.zeros(3)
    for t in range(1, 16):
        p, s = ref.adagrad(p, g, s, t, lr=lr, lr_decay=decay, eps=0.0)
        expected = expected - lr / (1 + (t - 1) * decay) * np.sign(g) / math.sqrt(t)
        np.testing.assert_allclose(p, expected, rtol=1e-14, atol=0)


def test_adamax_infinity_norm_is_the_decayed_maximum():
    # u_t = max over k <= t of beta2**(t - k) (|g_k| + eps), by induction from u_0 = 0.
    rng = np.random.default_rng(12)
    grads = rng.standard_normal((15, 8))
    b2, eps = 0.8, 1e-3
    p, s = np.ones(8), {}
    for t in range(1, 16):
        p, s = ref.adamax(p, grads[t - 1], s, t, beta2=b2, eps=eps)
        expected = np.max([b2 ** (t - k) * (np.abs(grads[k - 1]) + eps) for k in range(1, t + 1)], axis=0)
        np.testing.assert_allclose(s["exp_inf"], expected, rtol=1e-14, atol=0)
        assert np.all(s["exp_inf"] >= np.abs(grads[t - 1]) + eps)


def test_nadam_mu_product_is_the_product_of_the_schedule():
    b1, psi = 0.9, 0.004
    p, s, product = np.ones(3), {}, 1.0
    for t in range(1, 31):
        p, s = ref.nadam(p, np.full(3, 0.1 * t), s, t, beta1=b1, momentum_decay=psi)
        product *= _nadam_mu(b1, psi, t)
        assert s["mu_product"].shape == () and s["mu_product"].dtype == np.float64
        np.testing.assert_allclose(s["mu_product"], product, rtol=1e-15, atol=0)


def test_nadam_without_momentum_is_adam_without_momentum():
    # beta1 = 0: every mu_t is 0, so the first term is lr * g / denom and the second vanishes;
    # Adam with beta1 = 0 takes the same step (with sqrt(v) / sqrt(bc2) for sqrt(v / bc2)).
    rng = np.random.default_rng(13)
    grads = rng.standard_normal((12, 7))
    kw = dict(lr=0.01, beta1=0.0, beta2=0.95, eps=1e-6, weight_decay=0.1)
    p, _ = _run("nadam", np.linspace(1, 2, 7), grads, **kw)
    q, _ = _run("adam", np.linspace(1, 2, 7), grads, **kw)
    np.testing.assert_allclose(p, q, rtol=1e-14, atol=0)


def test_radam_is_sgd_with_momentum_while_rho_is_at_most_5():
    # While rho_t <= 5 the second moment is not used: p -= lr * m / (1 - beta1**t),
    # whatever the gradients (here with beta2 = 0.999: steps 1-5).
    rng = np.random.default_rng(14)
    grads = rng.standard_normal((8, 6)) * np.logspace(-3, 3, 6)
    lr, b1, b2 = 0.01, 0.9, 0.999
    p, s, m = np.linspace(-1, 1, 6), {}, np.zeros(6)
    for t in range(1, 9):
        before = p
        p, s = ref.radam(p, grads[t - 1], s, t, lr=lr, beta1=b1, beta2=b2)
        m = b1 * m + (1 - b1) * grads[t - 1]
        sgd_step = before - lr * m / (1 - b1 ** t)
        if _rho(b2, t)[0] <= 5:
            assert t <= 5
            np.testing.assert_allclose(p, sgd_step, rtol=1e-14, atol=1e-17)
        else:  # adapted: rescaled elementwise, so no longer the SGD step
            assert t >= 6
            assert not np.allclose(p, sgd_step, rtol=1e-6, atol=0)


def test_radam_rectified_step_tends_to_adam_step():
    # Constant g and eps = 0: a rectified step moves by lr * r_t * sign(g), and r_t -> 1.
    g = np.array([2.0, -0.5])
    lr, b2 = 0.01, 0.9
    p, s = np.zeros(2), {}
    for t in range(1, 301):
        before = p
        p, s = ref.radam(p, g, s, t, lr=lr, beta2=b2, eps=0.0)
    rho, rho_inf = _rho(b2, 300)
    r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    np.testing.assert_allclose(before - p, lr * r * np.sign(g), rtol=1e-12, atol=0)
    assert abs(r - 1) < 1e-12


def test_lion_moves_every_element_by_exactly_lr_without_decay():
    # sign(c) is +-1 wherever c != 0, so |delta p| = lr exactly; with lr a power of
    # two and p on its grid every step is exact.
    rng = np.random.default_rng(15)
    lr = 2.0 ** -6
    p, s = rng.integers(-50, 50, 40) * lr, {}
    m = np.zeros(40)  # the moment before the first step
    for t in range(1, 31):
        before = p
        g = rng.standard_normal(40)
        p, s = ref.lion(p, g, s, t, lr=lr, weight_decay=0.0)
        c = 0.9 * m + 0.1 * g
        assert np.all(c != 0)
        np.testing.assert_array_equal(np.abs(p - before), np.full(40, lr))
        np.testing.assert_array_equal(p - before, -lr * np.sign(c))
        m = s["exp_avg"].copy()


def test_lion_update_is_independent_of_gradient_scale():
    # sign is scale-free: multiplying every gradient by a positive constant
    # leaves the parameters where they were (the momentum scales with it).
    rng = np.random.default_rng(16)
    grads = rng.standard_normal((10, 12))
    kw = dict(lr=0.01, weight_decay=0.1)
    p, s = _run("lion", np.linspace(-1, 1, 12), grads, **kw)
    q, r = _run("lion", np.linspace(-1, 1, 12), grads * 1024.0, **kw)
    np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(r["exp_avg"], s["exp_avg"] * 1024.0)


def _state_after_steps(name, p, kwargs, steps=WARM - 1):
    rng = np.random.default_rng(5)
    fn = ref.REFERENCES[name]
    state = {}
    for t in range(1, steps + 1):
        p, state = fn(p, rng.standard_normal(p.shape), state, t, **kwargs)
    return p, state


def _copy_state(state):
    return {k: np.array(v, copy=True) for k, v in state.items()}


@pytest.mark.parametrize("name,kwargs", BUSY_CASES, ids=BUSY_IDS)
def test_inplace_false_leaves_inputs_untouched(name, kwargs):
    p, state = _state_after_steps(name, np.linspace(-1, 1, 6), kwargs)
    g = np.linspace(2, -3, 6)
    before = (p.copy(), g.copy(), _copy_state(state))
    state_keys = set(state)
    out, new_state = ref.REFERENCES[name](p, g, state, WARM, **kwargs)
    np.testing.assert_array_equal(p, before[0])
    np.testing.assert_array_equal(g, before[1])
    assert set(state) == state_keys
    for key, value in state.items():
        np.testing.assert_array_equal(value, before[2][key])
        assert new_state[key] is not value
    assert out is not p
    assert not np.array_equal(out, p)
    # also from the empty first-step state
    empty = {}
    ref.REFERENCES[name](p, g, empty, 1, **kwargs)
    assert empty == {}


@pytest.mark.parametrize("name,kwargs", BUSY_CASES, ids=BUSY_IDS)
def test_inplace_true_mutates_and_returns_the_same_objects(name, kwargs):
    p, state = _state_after_steps(name, np.linspace(-1, 1, 6), kwargs)
    g = np.linspace(2, -3, 6)
    g_before = g.copy()
    expected, expected_state = ref.REFERENCES[name](p, g, state, WARM, **kwargs)  # copying path
    arrays = dict(state)
    out, new_state = ref.REFERENCES[name](p, g, state, WARM, inplace=True, **kwargs)
    assert out is p
    assert new_state is state
    assert set(new_state) == set(arrays)
    for key, value in arrays.items():
        assert new_state[key] is value
    np.testing.assert_array_equal(p, expected)  # the mutation is the step
    for key in expected_state:
        np.testing.assert_array_equal(new_state[key], expected_state[key])
    np.testing.assert_array_equal(g, g_before)  # gradients are never written


@pytest.mark.parametrize("name,kwargs", BUSY_CASES, ids=BUSY_IDS)
def test_inplace_true_creates_state_in_the_given_dict(name, kwargs):
    p = np.ones(3)
    state = {}
    for t in (1, 2):  # two steps: ADOPT's first only sets its second moment
        out, new_state = ref.REFERENCES[name](p, np.full(3, 0.5), state, t, inplace=True, **kwargs)
        assert out is p and new_state is state
    assert not np.array_equal(p, np.ones(3))
    # every optional buffer is on: one entry per state variable of the rule (torch's names)
    rule = symopt.get(name, **{k: v for k, v in kwargs.items() if k in options(name)})
    assert len(state) == len(rule.states)


def test_optional_state_exists_only_when_switched_on():
    g = np.full(3, 0.5)
    assert set(ref.adam(np.ones(3), g, {}, 1)[1]) == {"exp_avg", "exp_avg_sq"}
    assert set(ref.adamw(np.ones(3), g, {}, 1)[1]) == {"exp_avg", "exp_avg_sq"}
    assert set(ref.rmsprop(np.ones(3), g, {}, 1)[1]) == {"square_avg"}
    assert set(ref.rmsprop(np.ones(3), g, {}, 1, centered=True)[1]) == {"square_avg", "grad_avg"}
    assert set(ref.rmsprop(np.ones(3), g, {}, 1, momentum=0.5)[1]) == {"square_avg", "momentum_buffer"}


def test_nadam_accepts_mu_product_as_a_python_float():
    # e.g. a state read back from torch with .item(): the same step as from the array.
    kwargs = dict(lr=0.1, beta1=0.8, beta2=0.9, eps=1e-3, weight_decay=0.05, momentum_decay=0.1)
    p, s = _state_after_steps("nadam", np.linspace(-1, 1, 6), kwargs)
    g = np.linspace(2, -3, 6)
    expected, expected_state = ref.nadam(p, g, s, WARM, **kwargs)
    as_float = dict(s, mu_product=float(s["mu_product"]))
    out, new_state = ref.nadam(p, g, as_float, WARM, **kwargs)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(new_state["mu_product"], expected_state["mu_product"])


def _assert_state_dtypes(state, dtype, shape):
    for key, value in state.items():
        assert type(value) is np.ndarray, key
        if key in SCALAR_STATE:  # torch's scalar dtype, whatever the params' dtype
            assert value.shape == () and value.dtype == np.float64, key
        else:
            assert value.shape == shape and value.dtype == dtype, key


@pytest.mark.parametrize("name,kwargs", BUSY_CASES, ids=BUSY_IDS)
def test_float32_stays_float32(name, kwargs):
    rng = np.random.default_rng(6)
    p64 = rng.uniform(1, 2, 16)
    grads64 = rng.standard_normal((WARM, 16))
    p32, s32 = _run(name, p64.astype(np.float32), grads64.astype(np.float32), **kwargs)
    assert p32.dtype == np.float32
    _assert_state_dtypes(s32, np.float32, (16,))
    ref64, _ = _run(name, p64, grads64, **kwargs)
    np.testing.assert_allclose(p32, ref64, rtol=1e-5)
    # NumPy float64 scalars as hyperparameters must not change float32 arithmetic.
    np_kwargs = {k: (np.float64(v) if isinstance(v, float) else v) for k, v in kwargs.items()}
    q32, _ = _run(name, p64.astype(np.float32), grads64.astype(np.float32), **np_kwargs)
    assert q32.dtype == np.float32
    np.testing.assert_array_equal(q32, p32)


def test_float32_arithmetic_rounds_in_float32():
    # Hyperparameters that float32 cannot represent: computing in float64 and
    # rounding once at the end (what a NumPy float64 scalar would cause) gives
    # other bits than float32 arithmetic with the scalars rounded to float32.
    # The parameters are small so that the rounding of the update is not
    # swallowed by the addition to the parameter.
    f32 = np.float32
    rng = np.random.default_rng(7)
    p = (rng.uniform(-1, 1, 256) * 1e-3).astype(f32)
    g1 = rng.standard_normal(256).astype(f32)
    g2 = rng.standard_normal(256).astype(f32)
    lr, wd, mu, damp = 0.37, 0.07, 0.87, 0.31

    out, _ = ref.sgd(p, g1, {}, 1, lr=lr, weight_decay=wd)
    np.testing.assert_array_equal(out, p + f32(-lr) * (g1 + f32(wd) * p))

    q1, s = ref.momentum(p, g1, {}, 1, lr=lr, momentum=mu, dampening=damp)
    np.testing.assert_array_equal(q1, p + f32(-lr) * g1)
    q2, s = ref.momentum(q1, g2, s, 2, lr=lr, momentum=mu, dampening=damp)
    buf = g1 * f32(mu) + g2 * f32(1 - damp)
    np.testing.assert_array_equal(s["momentum_buffer"], buf)
    np.testing.assert_array_equal(q2, q1 + f32(-lr) * buf)

    b1, b2, eps = 0.87, 0.993, 0.3
    kw = dict(lr=lr, beta1=b1, beta2=b2, eps=eps)
    a1, s = ref.adam(p, g1, {}, 1, **kw)
    m = f32(1 - b1) * g1                       # lerp from zero
    v = f32(1 - b2) * g1 * g1
    np.testing.assert_array_equal(s["exp_avg"], m)
    np.testing.assert_array_equal(s["exp_avg_sq"], v)
    denom = np.sqrt(v) / f32((1 - b2) ** 0.5) + f32(eps)
    np.testing.assert_array_equal(a1, p + (f32(-(lr / (1 - b1))) * m) / denom)
    a2, s = ref.adam(a1, g2, s, 2, **kw)
    m = m + f32(1 - b1) * (g2 - m)             # torch's lerp for a weight below 1/2
    v = v * f32(b2) + f32(1 - b2) * g2 * g2
    np.testing.assert_array_equal(s["exp_avg"], m)
    np.testing.assert_array_equal(s["exp_avg_sq"], v)
    denom = np.sqrt(v) / f32((1 - b2 ** 2) ** 0.5) + f32(eps)
    np.testing.assert_array_equal(a2, a1 + (f32(-(lr / (1 - b1 ** 2))) * m) / denom)

    w, _ = ref.adamw(p, np.zeros_like(p), {}, 1, lr=lr, weight_decay=wd)
    np.testing.assert_array_equal(w, p * f32(1 - lr * wd))


_SCALAR_GRADS = (0.5, -2.0, 3.0, 0.25, -1.0, 1.5, -0.75)  # WARM of them


@pytest.mark.parametrize("name,kwargs", BUSY_CASES, ids=BUSY_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_dimensional_arrays(name, kwargs, dtype):
    assert len(_SCALAR_GRADS) == WARM
    p, s = _run(name, np.array(1.25, dtype=dtype), [np.array(x, dtype=dtype) for x in _SCALAR_GRADS], **kwargs)
    assert type(p) is np.ndarray and p.shape == () and p.dtype == dtype
    _assert_state_dtypes(s, dtype, ())
    q, _ = _run(name, np.array([1.25], dtype=dtype), [np.array([x], dtype=dtype) for x in _SCALAR_GRADS], **kwargs)
    np.testing.assert_array_equal(p, q[0])
    out, _ = ref.REFERENCES[name](p, np.array(1.0, dtype=dtype), s, WARM + 1, inplace=True, **kwargs)
    assert out is p and p.shape == ()


@pytest.mark.parametrize("name,kwargs", BUSY_CASES, ids=BUSY_IDS)
@pytest.mark.parametrize("shape", [(0,), (2, 0, 3)])
def test_empty_arrays(name, kwargs, shape):
    for dtype in (np.float32, np.float64):
        p, s = _run(name, np.empty(shape, dtype), [np.empty(shape, dtype)] * WARM, **kwargs)
        assert p.shape == shape and p.dtype == dtype
        _assert_state_dtypes(s, dtype, shape)


@pytest.mark.parametrize("name,kwargs", BUSY_CASES, ids=BUSY_IDS)
def test_nan_and_inf_propagate_silently(name, kwargs):
    g_clean = np.array([0.5, -1.0, 2.0, 0.25])
    g_bad = np.array([np.nan, -1.0, np.inf, 0.25])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean, _ = _run(name, np.ones(4), [g_clean] * WARM, **kwargs)
        bad, bad_state = _run(name, np.ones(4), [g_bad] * WARM, **kwargs)
    assert np.isnan(bad[0])
    rule = symopt.get(name, **{k: v for k, v in kwargs.items() if k in options(name)})
    if any(op.name == "sign" for eq in rule.equations for op in ops.used(eq.rhs)):
        # sign(inf) = 1: the parameter may take an ordinary step (Lion, as in optax); a state holds the inf,
        # or, with no state to hold it (signSGD), the step is the one of any positive gradient; or the
        # states keep only what signs and comparisons make of it, and everything stays finite (optax's
        # Rprop keeps step sizes and signed steps, and compares inf·0 = NaN at its first step as no sign)
        held = [v for v in bad_state.values() if np.ndim(v)]
        if not held:
            assert bad[2] == clean[2]
        elif all(np.isfinite(np.asarray(v)[2]) for v in held):
            assert np.isfinite(bad[2])
    else:
        assert not np.isfinite(bad[2])
    # elementwise: the healthy entries are untouched by their neighbours
    np.testing.assert_array_equal(bad[[1, 3]], clean[[1, 3]])


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_invalid_epsilon_is_rejected_before_anything_changes(name):
    p = np.ones(3)
    state = {}
    with pytest.raises(ValueError) as info:
        ref.REFERENCES[name](p, np.ones(3), state, 1, epsilon="sideways", inplace=True)
    message = str(info.value)
    assert all(valid in message for valid in EPSILONS) and "sideways" in message
    np.testing.assert_array_equal(p, np.ones(3))
    assert state == {}


# --------------------------------------------------------------------------
# Against torch.optim (whole trajectories, foreach=False)
# --------------------------------------------------------------------------


# The `torch` fixture (tests/conftest.py) sets float64 as torch's default dtype; it skips without
# torch on a developer's machine and fails in CI.


STEPS = 30


def _compare_with_torch(torch, case, dtype=np.float64, rtol=1e-14, state_tol=1e-14, seed=0, n=64):
    """Run torch and the reference on the same gradients; compare every step.

    The parameters start in [2, 3] in magnitude (both signs) and the learning
    rates are small, so no parameter comes near zero.  With SIMD kernels
    (AVX2/AVX512) torch fuses multiply-adds (FMA) and uses a vectorized sqrt
    that is not always correctly rounded, so the two differ by an ulp here and
    there, and a relative tolerance with atol=0 is only meaningful away from
    cancellation.  State buffers cross zero, so they are compared on the
    scale of the whole buffer.

    The reference must create exactly torch's state keys, less torch's
    ``step`` (the reference's ``t``); scalar entries (NAdam's ``mu_product``,
    a 0-d tensor in torch) are compared like arrays.

    Returns the largest relative difference seen in the parameters.
    """
    name, cls_name, torch_kwargs, ref_kwargs = case
    rng = np.random.default_rng(seed)
    p0 = (rng.choice([-1.0, 1.0], n) * rng.uniform(2.0, 3.0, n)).astype(dtype)
    grads = rng.standard_normal((STEPS, n)).astype(dtype)
    tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    cls = getattr(torch.optim, cls_name)
    single = {"foreach": False} if "foreach" in inspect.signature(cls).parameters else {}  # SparseAdam has none
    opt = cls([tp], **single, **torch_kwargs)
    sparse = symopt.get(name).sparse  # SparseAdam takes sparse gradients only (here touching every element)
    p, state = p0.copy(), {}
    fn = ref.REFERENCES[name]
    worst = 0.0
    for t in range(1, STEPS + 1):
        g = grads[t - 1]
        tp.grad = torch.from_numpy(g.copy()).to_sparse() if sparse else torch.from_numpy(g.copy())
        opt.step()
        p, state = fn(p, g, state, t, **ref_kwargs)
        expected = tp.detach().numpy()
        assert p.dtype == expected.dtype
        assert np.min(np.abs(expected)) > 1.0, "test premise broken: a parameter neared zero"
        np.testing.assert_allclose(p, expected, rtol=rtol, atol=0, err_msg="params, step %d" % t)
        worst = max(worst, float(np.max(np.abs(p - expected) / np.abs(expected))))
        torch_state = opt.state[tp]
        assert set(state) == set(torch_state) - {"step"}, "state keys, step %d" % t
        for key, value in state.items():
            ours, theirs = np.asarray(value), torch_state[key].numpy()
            assert ours.shape == theirs.shape, key
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=state_tol * np.max(np.abs(theirs)),
                                       err_msg="%s, step %d" % (key, t))
    return worst


def _same(**kwargs):
    return kwargs, kwargs


def _case(name, cls_name, **kwargs):
    """A case whose reference keywords are torch's, with ``betas`` split into beta1 and beta2."""
    torch_kwargs = dict(kwargs)
    if "beta1" in torch_kwargs:
        torch_kwargs["betas"] = (torch_kwargs.pop("beta1"), torch_kwargs.pop("beta2"))
    return (name, cls_name, torch_kwargs, kwargs)


def _adam_case(name, beta1, beta2, eps, weight_decay, amsgrad=False):
    return _case(name, {"adam": "Adam", "adamw": "AdamW"}[name], lr=1e-2, beta1=beta1, beta2=beta2,
                 eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)


# (reference name, torch.optim class, torch kwargs, reference kwargs)
TORCH_CASES = [
    ("sgd", "SGD", *_same(lr=1e-2)),
    ("sgd", "SGD", *_same(lr=1e-2, weight_decay=0.1)),
    ("momentum", "SGD", *_same(lr=1e-3, momentum=0.9)),
    ("momentum", "SGD", *_same(lr=1e-3, momentum=0.9, dampening=0.3)),
    ("momentum", "SGD", *_same(lr=1e-3, momentum=0.9, nesterov=True)),
    ("momentum", "SGD", *_same(lr=1e-3, momentum=0.9, weight_decay=0.1)),
    ("momentum", "SGD", *_same(lr=1e-3, momentum=0.8, weight_decay=0.1, nesterov=True)),
    ("momentum", "SGD", *_same(lr=1e-3, momentum=0.5, dampening=0.5, weight_decay=0.05)),
    # beta1 = 0.3 takes the other branch of torch's lerp (weight 1 - beta1 >= 0.5).
    *[_adam_case(name, b1, b2, eps, wd, amsgrad)
      for name in ("adam", "adamw")
      for amsgrad in (False, True)
      for b1, b2, eps in ((0.9, 0.999, 1e-8), (0.8, 0.99, 1e-3), (0.3, 0.9, 1e-6))
      for wd in (0.0, 0.1)],
    # default hyperparameters on both sides (torch's AdamW decays by default)
    ("adam", "Adam", {}, {}),
    ("adamw", "AdamW", {}, {}),
    _case("adam", "Adam", amsgrad=True),
    _case("adamw", "AdamW", amsgrad=True),
    # RMSprop: every combination of centered and momentum, with and without L2
    *[_case("rmsprop", "RMSprop", lr=1e-3, alpha=alpha, eps=eps, weight_decay=wd, momentum=mu, centered=c)
      for alpha, eps in ((0.99, 1e-8), (0.3, 1e-3))   # alpha = 0.3: the other lerp branch for grad_avg
      for c in (False, True)
      for mu in (0.0, 0.9)
      for wd in (0.0, 0.1)],
    _case("rmsprop", "RMSprop"),
    # Adagrad
    _case("adagrad", "Adagrad", lr=1e-2, lr_decay=0.05),
    _case("adagrad", "Adagrad", lr=1e-2, initial_accumulator_value=0.5),
    _case("adagrad", "Adagrad", lr=1e-2, weight_decay=0.1),
    _case("adagrad", "Adagrad", lr=1e-2, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.5,
          eps=1e-3),
    _case("adagrad", "Adagrad"),
    # Adamax
    *[_case("adamax", "Adamax", lr=1e-2, beta1=b1, beta2=b2, eps=eps, weight_decay=wd)
      for b1, b2, eps in ((0.9, 0.999, 1e-8), (0.3, 0.9, 1e-3))
      for wd in (0.0, 0.1)],
    _case("adamax", "Adamax"),
    # NAdam: L2 and decoupled decay
    *[_case("nadam", "NAdam", lr=1e-2, beta1=b1, beta2=b2, eps=eps, weight_decay=wd, momentum_decay=psi,
            decoupled_weight_decay=decoupled)
      for b1, b2, eps, psi in ((0.9, 0.999, 1e-8, 4e-3), (0.3, 0.9, 1e-3, 0.05))
      for wd in (0.0, 0.1)
      for decoupled in (False, True)],
    _case("nadam", "NAdam"),
    # RAdam: beta2 = 0.999 and 0.9 both take the un-adapted branch for steps
    # 1-5 and the rectified one from step 6 (test_radam_torch_cases_take_both_branches).
    *[_case("radam", "RAdam", lr=1e-2, beta1=b1, beta2=b2, eps=eps, weight_decay=wd,
            decoupled_weight_decay=decoupled)
      for b1, b2, eps in ((0.9, 0.999, 1e-8), (0.3, 0.9, 1e-3))
      for wd in (0.0, 0.1)
      for decoupled in (False, True)],
    _case("radam", "RAdam"),
]
# ... and for every rule of NAMES torch.optim has, from the registry: its variants torch has (sampled
# in CI), every branch switched on, the torch keywords read from the rule's declarations.
# The learning rate at 1e-3: the cases are about the branches, and the parameters must stay away from
# zero (the premise of the comparison; Adadelta's busy lr of 1 would carry them there).
TORCH_CASES += [(rule.name, rule.torch, torch_arguments(rule, {h.name: busy_value(h) for h in rule.hypers} | {"lr": 1e-3}),
                 busy_kwargs(rule) | {"lr": 1e-3})
                for rule in registry_sample(lambda rule: rule.name in NAMES and rule.torch
                                            and not isinstance(torch_arguments(rule, {}), str))]
TORCH_IDS = ["%s-%s" % (case[0], "-".join("%s=%s" % kv for kv in case[3].items()) or "defaults")
             for case in TORCH_CASES]


def test_radam_torch_cases_take_both_branches():
    for name, _, _, kwargs in TORCH_CASES:
        if name == "radam":
            beta2 = kwargs.get("beta2", declared_defaults("radam")["beta2"])
            rectified = [_rho(beta2, t)[0] > 5 for t in range(1, STEPS + 1)]
            assert not any(rectified[:5]) and all(rectified[5:]), beta2


@pytest.mark.parametrize("case", TORCH_CASES, ids=TORCH_IDS)
def test_matches_torch_float64(torch, case):
    # Observed (AVX512 and AVX2 kernels, torch 2.13): at most ~3.4e-16 relative
    # (about 2 ulp) over 30 steps, ~1.6e-15 for the ill-conditioned centered
    # RMSprop cases (see _ill_conditioned).
    _compare_with_torch(torch, case)


def _ill_conditioned(case):
    """Centered RMSprop with momentum and a short average (alpha < 0.5).

    With alpha = 0.3 the averages hold little more than the last two
    gradients, so the variance square_avg - grad_avg**2 falls to ~0.7% of
    square_avg in these runs: the cancellation multiplies the relative
    rounding error of the variance by up to ~135.  torch's AVX2/AVX-512
    addcmul rounds that difference once (a fused multiply-add), NumPy twice
    (with torch's scalar kernels, ATEN_CPU_CAPABILITY=default, these cases
    agree to the bit).  The momentum buffer sums g / avg and is dominated by
    the smallest avg, so in float32 the buffer differs by up to ~4.7e-6 of
    its scale and the parameters by up to ~1.0e-6 relative.  float64 has the
    headroom: ~1.6e-15.
    """
    name, _, _, kwargs = case
    return (name == "rmsprop" and bool(kwargs.get("centered")) and kwargs.get("momentum", 0.0) > 0
            and kwargs.get("alpha", 0.99) < 0.5)


@pytest.mark.parametrize("case", TORCH_CASES, ids=TORCH_IDS)
def test_matches_torch_float32(torch, case):
    # Observed: at most ~1.7e-7 relative (about 2 ulp) over 30 steps, except
    # the ill-conditioned centered RMSprop cases (see _ill_conditioned).
    tol = 2e-5 if _ill_conditioned(case) else 1e-6
    _compare_with_torch(torch, case, dtype=np.float32, rtol=tol, state_tol=tol)


def test_ill_conditioned_cases_are_exactly_the_two_expected():
    assert [case[3]["weight_decay"] for case in TORCH_CASES if _ill_conditioned(case)] == [0.0, 0.1]


# No bitwise comparison with torch: on CPUs with FMA/AVX-512 torch and NumPy round differently in the last bit.


def test_defaults_match_torch(torch):
    """Every rule of NAMES torch.optim has: torch's keywords that change the math carry the defaults
    the rule declares (by their library keywords: ``betas`` for beta1 and beta2), where torch does not
    switch the feature off by default (its SGD has no momentum unless asked, its Adam no decoupled decay)."""
    from symopt.verify import library_keywords

    not_math = {"params", "foreach", "maximize", "capturable", "differentiable", "fused"}
    checked = 0
    for name in NAMES:
        rule = symopt.get(name)
        if not rule.torch or isinstance(torch_arguments(rule, {}), str):
            continue
        cls = getattr(torch.optim, rule.torch)
        theirs = {k: v.default for k, v in inspect.signature(cls).parameters.items() if k not in not_math}
        ours = library_keywords(rule, {h.name: h.default for h in rule.hypers}) | {
            k: v for k, v in dict(rule.options).items() if k in theirs}
        for key, value in theirs.items():
            if key in ours:
                assert value == ours[key] or value in (0, False), (name, key, value, ours[key])
            else:  # a feature the rule does not have: torch's default leaves it out
                assert value in (0, False, None), (name, key, value)
        assert ours.keys() <= theirs.keys(), name
        checked += 1
    assert checked
