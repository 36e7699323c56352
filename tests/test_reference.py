"""Tests of the hand-written NumPy references in ``symopt/reference.py``.

The references are the independent witness for the symbolic optimizers, so
they are checked here against things that are not themselves: numbers worked
out by hand from the definitions, mathematical laws, and torch.optim.

The module is loaded by file path so that these tests never import the rest
of ``symopt`` (the references must stay independent of it).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import math
import os
import pathlib
import platform
import subprocess
import sys
import warnings

import numpy as np
import pytest

REF_PATH = pathlib.Path(__file__).resolve().parents[1] / "symopt" / "reference.py"


def _load_reference():
    spec = importlib.util.spec_from_file_location("_symopt_reference_under_test", REF_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = _load_reference()

NAMES = ("sgd", "momentum", "adam", "adamw")
EPSILONS = ("outside", "inside", "hat")

# Hyperparameters that switch on every branch of each optimizer.
BUSY_KWARGS = {
    "sgd": dict(lr=0.1, weight_decay=0.05),
    "momentum": dict(lr=0.1, momentum=0.9, dampening=0.25, weight_decay=0.05, nesterov=True),
    "adam": dict(lr=0.1, beta1=0.8, beta2=0.9, eps=1e-3, weight_decay=0.05),
    "adamw": dict(lr=0.1, beta1=0.8, beta2=0.9, eps=1e-3, weight_decay=0.05),
}


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


def test_module_imports_only_numpy_and_stdlib_helpers():
    tree = ast.parse(REF_PATH.read_text())
    allowed = {"numpy", "math", "copy", "typing", "__future__"}
    seen = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                seen.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import (would reach into symopt)"
            seen.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            pytest.fail("dynamic __import__ in reference.py")
    assert seen <= allowed, "forbidden imports: %s" % sorted(seen - allowed)
    assert "numpy" in seen


def test_references_mapping():
    assert set(ref.REFERENCES) == set(NAMES)
    for name in NAMES:
        assert ref.REFERENCES[name] is getattr(ref, name)


EXPECTED_HYPERPARAMETERS = {
    "sgd": dict(lr=1e-3, weight_decay=0.0),
    "momentum": dict(lr=1e-3, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False),
    "adam": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 bias_correction=True, epsilon="outside"),
    "adamw": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2,
                  bias_correction=True, epsilon="outside"),
}


@pytest.mark.parametrize("name", NAMES)
def test_signature(name):
    params = list(inspect.signature(ref.REFERENCES[name]).parameters.values())
    assert [p.name for p in params[:4]] == ["params", "grads", "state", "t"]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in params[:4])
    keyword = {p.name: p.default for p in params[4:]}
    assert all(p.kind is p.KEYWORD_ONLY for p in params[4:])
    assert keyword == dict(EXPECTED_HYPERPARAMETERS[name], inplace=False)
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


@pytest.mark.parametrize("name,kwargs", list(_zero_decay_variants()))
def test_zero_gradient_without_decay_does_not_move(name, kwargs):
    p0 = np.array([1.5, -2.0, 0.0, 3e-7])
    p, _ = _run(name, p0.copy(), [np.zeros(4)] * 5, **kwargs)
    np.testing.assert_array_equal(p, p0)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_constant_gradient_step_is_lr_sign(name):
    # With a constant g, the bias-corrected moments are exactly g and g**2 at
    # every step, so every step is lr * g / (|g| + eps).
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


@pytest.mark.parametrize("bias_correction", [True, False])
@pytest.mark.parametrize("epsilon", EPSILONS)
def test_adamw_without_decay_equals_adam_without_decay(epsilon, bias_correction):
    rng = np.random.default_rng(4)
    grads = rng.standard_normal((10, 7))
    p0 = rng.standard_normal(7)
    kw = dict(lr=0.01, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=0.0,
              epsilon=epsilon, bias_correction=bias_correction)
    p, s = _run("adam", p0.copy(), grads, **kw)
    q, r = _run("adamw", p0.copy(), grads, **kw)
    np.testing.assert_array_equal(p, q)
    for key in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_array_equal(s[key], r[key])


def _state_after_two_steps(name, p, kwargs):
    rng = np.random.default_rng(5)
    fn = ref.REFERENCES[name]
    for t in (1, 2):
        p, state = fn(p, rng.standard_normal(p.shape), {} if t == 1 else state, t, **kwargs)
    return p, state


@pytest.mark.parametrize("name", NAMES)
def test_inplace_false_leaves_inputs_untouched(name):
    kwargs = BUSY_KWARGS[name]
    p, state = _state_after_two_steps(name, np.linspace(-1, 1, 6), kwargs)
    g = np.linspace(2, -3, 6)
    before = (p.copy(), g.copy(), {k: v.copy() for k, v in state.items()})
    state_keys = set(state)
    out, new_state = ref.REFERENCES[name](p, g, state, 3, **kwargs)
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


@pytest.mark.parametrize("name", NAMES)
def test_inplace_true_mutates_and_returns_the_same_objects(name):
    kwargs = BUSY_KWARGS[name]
    p, state = _state_after_two_steps(name, np.linspace(-1, 1, 6), kwargs)
    g = np.linspace(2, -3, 6)
    g_before = g.copy()
    expected, expected_state = ref.REFERENCES[name](p, g, state, 3, **kwargs)  # copying path
    arrays = dict(state)
    out, new_state = ref.REFERENCES[name](p, g, state, 3, inplace=True, **kwargs)
    assert out is p
    assert new_state is state
    for key, value in arrays.items():
        assert new_state[key] is value
    np.testing.assert_array_equal(p, expected)  # the mutation is the step
    for key in expected_state:
        np.testing.assert_array_equal(new_state[key], expected_state[key])
    np.testing.assert_array_equal(g, g_before)  # gradients are never written


@pytest.mark.parametrize("name", NAMES)
def test_inplace_true_creates_state_in_the_given_dict(name):
    p = np.ones(3)
    state = {}
    out, new_state = ref.REFERENCES[name](p, np.full(3, 0.5), state, 1, inplace=True, **BUSY_KWARGS[name])
    assert out is p and new_state is state
    assert not np.array_equal(p, np.ones(3))
    expected_keys = {"sgd": set(), "momentum": {"momentum_buffer"},
                     "adam": {"exp_avg", "exp_avg_sq"}, "adamw": {"exp_avg", "exp_avg_sq"}}[name]
    assert set(state) == expected_keys


@pytest.mark.parametrize("name", NAMES)
def test_float32_stays_float32(name):
    kwargs = BUSY_KWARGS[name]
    rng = np.random.default_rng(6)
    p64 = rng.uniform(1, 2, 16)
    grads64 = rng.standard_normal((4, 16))
    p32, s32 = _run(name, p64.astype(np.float32), grads64.astype(np.float32), **kwargs)
    assert p32.dtype == np.float32
    assert all(v.dtype == np.float32 for v in s32.values())
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


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_dimensional_arrays(name, dtype):
    kwargs = BUSY_KWARGS[name]
    p, s = _run(name, np.array(1.25, dtype=dtype), [np.array(x, dtype=dtype) for x in (0.5, -2.0, 3.0)], **kwargs)
    assert type(p) is np.ndarray and p.shape == () and p.dtype == dtype
    assert all(type(v) is np.ndarray and v.shape == () for v in s.values())
    q, _ = _run(name, np.array([1.25], dtype=dtype), [np.array([x], dtype=dtype) for x in (0.5, -2.0, 3.0)], **kwargs)
    np.testing.assert_array_equal(p, q[0])
    out, _ = ref.REFERENCES[name](p, np.array(1.0, dtype=dtype), s, 4, inplace=True, **kwargs)
    assert out is p and p.shape == ()


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("shape", [(0,), (2, 0, 3)])
def test_empty_arrays(name, shape):
    for dtype in (np.float32, np.float64):
        p, s = _run(name, np.empty(shape, dtype), [np.empty(shape, dtype)] * 3, **BUSY_KWARGS[name])
        assert p.shape == shape and p.dtype == dtype
        assert all(v.shape == shape and v.dtype == dtype for v in s.values())


@pytest.mark.parametrize("name", NAMES)
def test_nan_and_inf_propagate_silently(name):
    kwargs = BUSY_KWARGS[name]
    g_clean = np.array([0.5, -1.0, 2.0, 0.25])
    g_bad = np.array([np.nan, -1.0, np.inf, 0.25])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean, _ = _run(name, np.ones(4), [g_clean] * 3, **kwargs)
        bad, _ = _run(name, np.ones(4), [g_bad] * 3, **kwargs)
    assert np.isnan(bad[0])
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
    """
    name, cls_name, torch_kwargs, ref_kwargs = case
    rng = np.random.default_rng(seed)
    p0 = (rng.choice([-1.0, 1.0], n) * rng.uniform(2.0, 3.0, n)).astype(dtype)
    grads = rng.standard_normal((STEPS, n)).astype(dtype)
    tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
    opt = getattr(torch.optim, cls_name)([tp], foreach=False, **torch_kwargs)
    p, state = p0.copy(), {}
    fn = ref.REFERENCES[name]
    for t in range(1, STEPS + 1):
        g = grads[t - 1]
        tp.grad = torch.from_numpy(g.copy())
        opt.step()
        p, state = fn(p, g, state, t, **ref_kwargs)
        expected = tp.detach().numpy()
        assert p.dtype == expected.dtype
        assert np.min(np.abs(expected)) > 1.0, "test premise broken: a parameter neared zero"
        np.testing.assert_allclose(p, expected, rtol=rtol, atol=0, err_msg="params, step %d" % t)
        torch_state = opt.state[tp]
        for key, value in state.items():
            theirs = torch_state[key].numpy()
            np.testing.assert_allclose(value, theirs, rtol=0, atol=state_tol * np.max(np.abs(theirs)),
                                       err_msg="%s, step %d" % (key, t))


def _same(**kwargs):
    return kwargs, kwargs


def _adam_case(name, beta1, beta2, eps, weight_decay):
    return (name, {"adam": "Adam", "adamw": "AdamW"}[name],
            dict(lr=1e-2, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay, amsgrad=False),
            dict(lr=1e-2, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay))


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
    *[_adam_case(name, b1, b2, eps, wd)
      for name in ("adam", "adamw")
      for b1, b2, eps in ((0.9, 0.999, 1e-8), (0.8, 0.99, 1e-3), (0.3, 0.9, 1e-6))
      for wd in (0.0, 0.1)],
    # default hyperparameters on both sides (torch's AdamW decays by default)
    ("adam", "Adam", {}, {}),
    ("adamw", "AdamW", {}, {}),
]
TORCH_IDS = ["%s-%s" % (case[0], "-".join("%s=%s" % kv for kv in case[3].items()) or "defaults")
             for case in TORCH_CASES]


@pytest.mark.parametrize("case", TORCH_CASES, ids=TORCH_IDS)
def test_matches_torch_float64(torch, case):
    # Observed (AVX512 and AVX2 kernels): at most ~5e-16 relative (about 2 ulp) over 30 steps.
    _compare_with_torch(torch, case)


@pytest.mark.parametrize("case", TORCH_CASES, ids=TORCH_IDS)
def test_matches_torch_float32(torch, case):
    # Observed: at most ~2.4e-7 relative (about 2 ulp) over 30 steps.
    _compare_with_torch(torch, case, dtype=np.float32, rtol=1e-6, state_tol=1e-6)


_BITWISE_SCRIPT = """
import importlib.util, sys
import numpy as np, torch
capability = torch.backends.cpu.get_cpu_capability()
assert capability == "DEFAULT", capability
torch.set_default_dtype(torch.float64)
spec = importlib.util.spec_from_file_location("_test_reference_bitwise", sys.argv[1])
tests = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tests)
for case in tests.TORCH_CASES:
    for dtype in (np.float64, np.float32):
        tests._compare_with_torch(torch, case, dtype=dtype, rtol=0, state_tol=0)
print("bitwise-identical", len(tests.TORCH_CASES))
"""


def test_bitwise_identical_to_torch_scalar_kernels(torch):
    # torch's non-SIMD CPU kernels round every operation separately, as NumPy
    # does, so with the same operation order the trajectories must agree to
    # the last bit in float64 and float32.  The kernel choice is fixed at
    # torch's import, hence the subprocess.
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("scalar kernels may be compiled with FMA contraction off x86-64")
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    result = subprocess.run([sys.executable, "-c", _BITWISE_SCRIPT, __file__],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bitwise-identical" in result.stdout


def test_defaults_match_torch(torch):
    def defaults(cls):
        return {k: v.default for k, v in inspect.signature(cls).parameters.items()}

    sgd = defaults(torch.optim.SGD)
    assert sgd["lr"] == EXPECTED_HYPERPARAMETERS["sgd"]["lr"]
    assert sgd["weight_decay"] == EXPECTED_HYPERPARAMETERS["sgd"]["weight_decay"]
    # torch.optim.SGD switches momentum off by default; the other momentum defaults agree.
    for key in ("lr", "dampening", "weight_decay", "nesterov"):
        assert sgd[key] == EXPECTED_HYPERPARAMETERS["momentum"][key], key
    for name, cls in (("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)):
        theirs = defaults(cls)
        ours = EXPECTED_HYPERPARAMETERS[name]
        assert theirs["lr"] == ours["lr"]
        assert theirs["betas"] == (ours["beta1"], ours["beta2"])
        assert theirs["eps"] == ours["eps"]
        assert theirs["weight_decay"] == ours["weight_decay"]
        assert theirs["amsgrad"] is False
