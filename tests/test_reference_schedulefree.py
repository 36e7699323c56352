"""Tests of the Schedule-Free SGD and AdamW references in ``symopt/reference.py``.

Checked against ``schedulefree`` 1.4.1 (``SGDScheduleFree``, ``AdamWScheduleFree`` and their
``*Reference`` classes) over whole trajectories, and against the laws of the method: x is the
weighted average of the z iterates, momentum 1 is primal averaging (y = x), momentum 0 is SGD at z
with Polyak-Ruppert averaging (y = z).

The module is loaded by file path so that these tests never import the rest of ``symopt`` (the
references must stay independent of it).
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

from conftest import require

import symopt.reference as ref

NAMES = {"schedule-free-sgd": "schedule_free_sgd", "schedule-free-adamw": "schedule_free_adamw"}
FUNCTIONS = {"sgd": ref.schedule_free_sgd, "adamw": ref.schedule_free_adamw}
BETA_KEY = {"sgd": "momentum", "adamw": "beta1"}
STATE_KEYS = {"sgd": {"z", "x", "weight_sum", "lr_max"}, "adamw": {"z", "x", "v", "weight_sum", "lr_max"}}
ARRAY_KEYS = {"sgd": ("z", "x"), "adamw": ("z", "x", "v")}

EXPECTED_HYPERPARAMETERS = {
    "sgd": dict(lr=1.0, momentum=0.9, weight_decay=0.0, warmup_steps=0, r=0.0, weight_lr_power=2.0),
    "adamw": dict(lr=0.0025, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, warmup_steps=0, r=0.0,
                  weight_lr_power=2.0),
}

# Hyperparameters that switch everything on (warmup, decay, polynomial weights, lr power).
BUSY = {
    "sgd": dict(lr=0.5, momentum=0.6, weight_decay=0.05, warmup_steps=4, r=0.5, weight_lr_power=3.0),
    "adamw": dict(lr=0.05, beta1=0.6, beta2=0.9, eps=1e-3, weight_decay=0.05, warmup_steps=4, r=0.5,
                  weight_lr_power=3.0),
}
KINDS = ("sgd", "adamw")
STEPS = 40
RTOL = {np.float64: 1e-12, np.float32: 1e-5}


def _grad(y, t, d, b):
    """A noisy quadratic's gradient at y, in float64: d * (y - b) + 0.3 sin(7t + index)."""
    y = np.asarray(y, dtype=np.float64)
    return d * (y - b) + 0.3 * np.sin(7.0 * t + np.arange(y.size).reshape(y.shape))


def _problem(shape, seed=0):
    """Start in [1, 2], optimum in [3, 5], curvature in [0.2, 0.8]: every iterate stays away from 0."""
    rng = np.random.default_rng(seed)
    return 1.0 + rng.random(shape), 3.0 + 2.0 * rng.random(shape), 0.2 + 0.6 * rng.random(shape)


def _run(kind, p, steps=STEPS, seed=0, **kwargs):
    """Run the reference on the noisy quadratic from fresh state, the gradient taken at y.

    Returns the final (y, state) and the list of states after every step (copies).
    """
    _, b, d = _problem(np.shape(p), seed)
    fn = FUNCTIONS[kind]
    state, history = {}, []
    for t in range(1, steps + 1):
        g = _grad(p, t, d, b).astype(np.asarray(p).dtype)
        p, state = fn(p, g, state, t, **kwargs)
        history.append({k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v)
                        for k, v in state.items()} | {"y": np.array(p, copy=True)})
    return p, state, history


def _rel(a, b):
    """Largest elementwise relative difference of a from b (b away from zero)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.abs(b))) if b.size else 0.0


# --------------------------------------------------------------------------
# Module contract
# --------------------------------------------------------------------------


def test_registered_and_exported():
    for name, attr in NAMES.items():
        assert ref.REFERENCES[name] is getattr(ref, attr)
        assert attr in ref.__all__
    assert "schedule_free_eval" in ref.__all__
    assert "schedule_free_eval" not in ref.REFERENCES.values()


@pytest.mark.parametrize("kind", KINDS)
def test_signature(kind):
    params = list(inspect.signature(FUNCTIONS[kind]).parameters.values())
    assert [p.name for p in params[:4]] == ["params", "grads", "state", "t"]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty for p in params[:4])
    assert all(p.kind is p.KEYWORD_ONLY for p in params[4:])
    assert {p.name: p.default for p in params[4:]} == dict(EXPECTED_HYPERPARAMETERS[kind], inplace=False)
    assert FUNCTIONS[kind].__doc__ and ">>>" in FUNCTIONS[kind].__doc__


# --------------------------------------------------------------------------
# Hand-computed values
# --------------------------------------------------------------------------


def test_sgd_two_steps_by_hand():
    # Step 1: w = lr**2 = 0.25 = W, c = 1: y = lerp(y, z, 1) = z = 1, then
    # y += lr * (0.9 * 0 - 1) * g = 0.5; z = 1 - 0.5 = 0.5; x = z = 0.5.
    y, s = ref.schedule_free_sgd(np.array([1.0]), np.array([1.0]), {}, 1, lr=0.5)
    assert (y[0], s["z"][0], s["x"][0], s["weight_sum"], s["lr_max"]) == (0.5, 0.5, 0.5, 0.25, 0.5)
    # Step 2: W = 0.5, c = 1/2: y = 0.5 + 0.5 * (0.9 * 0.5 - 1) * 1 = 0.225; z = 0; x = 0.25.
    y, s = ref.schedule_free_sgd(y, np.array([1.0]), s, 2, lr=0.5)
    assert s["z"][0] == 0.0 and s["x"][0] == 0.25 and s["weight_sum"] == 0.5
    assert y[0] == pytest.approx(0.225, rel=1e-15) == 0.1 * s["z"][0] + 0.9 * s["x"][0]


def test_sgd_weight_decay_is_taken_at_y_by_hand():
    # y = 2, g = 1, wd = 0.5: the gradient is 1 + 0.5 * 2 = 2; step 1 is a plain step of it.
    y, s = ref.schedule_free_sgd(np.array([2.0]), np.array([1.0]), {}, 1, lr=0.25, weight_decay=0.5)
    assert y[0] == s["z"][0] == s["x"][0] == 1.5


def test_adamw_first_steps_by_hand():
    lr, b2, eps, wd = 0.1, 0.75, 0.0, 0.5
    kw = dict(lr=lr, beta1=0.5, beta2=b2, eps=eps, weight_decay=wd)
    y0, g1, g2 = 2.0, 4.0, -2.0
    y, s = ref.schedule_free_adamw(np.array([y0]), np.array([g1]), {}, 1, **kw)
    # v = (1 - b2) g1^2; denom = sqrt(v / (1 - b2)) = |g1|; g = sign(g1) + wd * y0 = 2.
    assert s["v"][0] == (1 - b2) * g1 ** 2
    assert y[0] == s["z"][0] == s["x"][0] == pytest.approx(y0 - lr * (1 + wd * y0), rel=1e-15)
    z1 = s["z"][0]
    y, s = ref.schedule_free_adamw(y, np.array([g2]), s, 2, **kw)
    v2 = b2 * (1 - b2) * g1 ** 2 + (1 - b2) * g2 ** 2
    assert s["v"][0] == pytest.approx(v2, rel=1e-15)
    step = g2 / np.sqrt(v2 / (1 - b2 ** 2)) + wd * z1           # y1 = z1 after step 1
    z2 = z1 - lr * step
    assert s["z"][0] == pytest.approx(z2, rel=1e-15)
    assert s["x"][0] == pytest.approx((z1 + z2) / 2, rel=1e-15)  # c = 1/2
    assert y[0] == pytest.approx(0.5 * z2 + 0.5 * (z1 + z2) / 2, rel=1e-15)


def test_adamw_bias_correction_is_inside_the_root_and_eps_outside():
    # One step from v = 0 with beta2 = 0.9, eps = 0.5: denom = sqrt(0.1 g^2 / 0.1) + 0.5 = |g| + 0.5.
    y, _ = ref.schedule_free_adamw(np.array([1.0]), np.array([2.0]), {}, 1, lr=1.0, beta2=0.9, eps=0.5)
    assert y[0] == pytest.approx(1.0 - 2.0 / 2.5, rel=1e-15)


# --------------------------------------------------------------------------
# Laws
# --------------------------------------------------------------------------


def _weights(steps, lr, warmup_steps, r, weight_lr_power):
    """The averaging weights w_t = t^r * max(lr_1..lr_t)^p, lr_t = lr * min(1, t / warmup)."""
    lrs = [lr * (min(1.0, t / warmup_steps) if warmup_steps else 1.0) for t in range(1, steps + 1)]
    return np.array([t ** r * max(lrs[:t]) ** weight_lr_power for t in range(1, steps + 1)])


@pytest.mark.parametrize("kind", KINDS)
def test_x_is_the_uniform_average_of_the_z_iterates(kind):
    # r = 0, no warmup, constant lr: every weight is lr^2, so x_T = (z_1 + ... + z_T) / T.
    lr = 0.5 if kind == "sgd" else 0.05
    _, _, history = _run(kind, _problem((3, 4))[0], lr=lr)
    zs = np.array([h["z"] for h in history])
    for T, h in enumerate(history, start=1):
        np.testing.assert_allclose(h["x"], zs[:T].mean(axis=0), rtol=1e-12, atol=0)
        assert h["weight_sum"] == pytest.approx(T * lr ** 2, rel=1e-14)


@pytest.mark.parametrize("kind", KINDS)
def test_x_is_the_weighted_average_of_the_z_iterates(kind):
    kw = BUSY[kind]
    _, _, history = _run(kind, _problem(7)[0], **kw)
    w = _weights(STEPS, kw["lr"], kw["warmup_steps"], kw["r"], kw["weight_lr_power"])
    zs = np.array([h["z"] for h in history])
    for T, h in enumerate(history, start=1):
        np.testing.assert_allclose(h["x"], (w[:T, None] * zs[:T]).sum(axis=0) / w[:T].sum(), rtol=1e-12, atol=0)
        assert h["weight_sum"] == pytest.approx(w[:T].sum(), rel=1e-14)
        assert h["lr_max"] == pytest.approx(kw["lr"] * min(1.0, T / kw["warmup_steps"]), rel=1e-15)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("beta", [0.9, 0.6, 0.1])
def test_y_interpolates_z_and_x(kind, beta):
    # The package never forms x: its y recursion must stay on y = (1 - beta) z + beta x.
    _, _, history = _run(kind, _problem(9)[0], **dict(BUSY[kind], **{BETA_KEY[kind]: beta}))
    for h in history:
        np.testing.assert_allclose(h["y"], (1 - beta) * h["z"] + beta * h["x"], rtol=1e-13, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_momentum_one_is_primal_averaging(kind):
    # beta = 1: y = x, the gradient is taken at the average itself.
    _, _, history = _run(kind, _problem(9)[0], **dict(BUSY[kind], **{BETA_KEY[kind]: 1.0}))
    for h in history:
        np.testing.assert_allclose(h["y"], h["x"], rtol=1e-12, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_momentum_zero_takes_the_gradient_at_z(kind):
    # beta = 0: y = z to the bit (lerp(z, z, c) = z), so the gradient is taken at the SGD iterate z
    # and x is its (here uniform) Polyak-Ruppert average.
    lr = 0.5 if kind == "sgd" else 0.05
    _, _, history = _run(kind, _problem(9)[0], lr=lr, **{BETA_KEY[kind]: 0.0})
    zs = np.array([h["z"] for h in history])
    for T, h in enumerate(history, start=1):
        np.testing.assert_array_equal(h["y"], h["z"])
        np.testing.assert_allclose(h["x"], zs[:T].mean(axis=0), rtol=1e-12, atol=0)


def test_sgd_momentum_zero_z_is_plain_sgd():
    # Schedule-Free SGD with beta = 0 runs plain SGD on z (the module's own sgd, to the bit).
    p0, b, d = _problem(9)
    y, state = p0, {}
    z = p0.copy()
    for t in range(1, STEPS + 1):
        g = _grad(y, t, d, b)
        y, state = ref.schedule_free_sgd(y, g, state, t, lr=0.5, momentum=0.0)
        z, _ = ref.sgd(z, _grad(z, t, d, b), {}, t, lr=0.5)
        np.testing.assert_array_equal(state["z"], z)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("beta", [0.9, 0.5, 0.1])
def test_eval_recovers_the_carried_x(kind, beta):
    kw = dict(BUSY[kind], **{BETA_KEY[kind]: beta})
    _, _, history = _run(kind, _problem((2, 3))[0], **kw)
    for h in history:
        y, z = h["y"].copy(), h["z"].copy()
        x = ref.schedule_free_eval(h["y"], h, beta)
        # the recovery divides by beta: rounding in y and z grows by about 2 / beta
        np.testing.assert_allclose(x, h["x"], rtol=1e-14 / beta, atol=0)
        np.testing.assert_array_equal(h["y"], y)     # inputs untouched
        np.testing.assert_array_equal(h["z"], z)
        assert x is not h["y"]


def test_eval_with_momentum_zero_raises_as_the_package_does():
    y, s = ref.schedule_free_sgd(np.ones(3), np.ones(3), {}, 1, momentum=0.0)
    with pytest.raises(ZeroDivisionError):
        ref.schedule_free_eval(y, s, 0.0)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_lr_takes_the_zero_division_fallback(kind):
    # lr = 0: w = 0 = W, the package's ZeroDivisionError fallback sets c = 0; nothing moves.
    p0 = _problem(5)[0]
    y, state, history = _run(kind, p0.copy(), steps=3, lr=0.0)
    np.testing.assert_array_equal(y, p0)
    np.testing.assert_array_equal(state["x"], p0)
    assert state["weight_sum"] == 0.0 and state["lr_max"] == 0.0


# --------------------------------------------------------------------------
# Calling convention
# --------------------------------------------------------------------------


def _state_copy(state):
    return {k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in state.items()}


@pytest.mark.parametrize("kind", KINDS)
def test_state_keys_and_initial_values(kind):
    p = np.array([1.0, 2.0])
    _, s = FUNCTIONS[kind](p, np.zeros(2), {}, 1, lr=0.0)   # lr = 0: the state as created
    assert set(s) == STATE_KEYS[kind]
    np.testing.assert_array_equal(s["z"], p)
    np.testing.assert_array_equal(s["x"], p)
    if kind == "adamw":
        np.testing.assert_array_equal(s["v"], 0.0)
    assert type(s["weight_sum"]) is float and type(s["lr_max"]) is float


@pytest.mark.parametrize("kind", KINDS)
def test_inplace_false_leaves_inputs_untouched(kind):
    kw = BUSY[kind]
    p, state, _ = _run(kind, _problem(6)[0], steps=5, **kw)
    g = np.linspace(2, -3, 6)
    before_p, before_g, before_state = p.copy(), g.copy(), _state_copy(state)
    out, new_state = FUNCTIONS[kind](p, g, state, 6, **kw)
    np.testing.assert_array_equal(p, before_p)
    np.testing.assert_array_equal(g, before_g)
    assert set(state) == set(before_state)
    for key, value in state.items():
        np.testing.assert_array_equal(value, before_state[key])
        assert new_state[key] is not value or not isinstance(value, np.ndarray)
    assert new_state["weight_sum"] > state["weight_sum"]
    assert out is not p and not np.array_equal(out, p)
    empty = {}
    FUNCTIONS[kind](p, g, empty, 1, **kw)
    assert empty == {}


@pytest.mark.parametrize("kind", KINDS)
def test_inplace_true_mutates_and_returns_the_same_objects(kind):
    kw = BUSY[kind]
    p, state, _ = _run(kind, _problem(6)[0], steps=5, **kw)
    g = np.linspace(2, -3, 6)
    g_before = g.copy()
    expected, expected_state = FUNCTIONS[kind](p, g, state, 6, **kw)
    arrays = {k: state[k] for k in ARRAY_KEYS[kind]}
    out, new_state = FUNCTIONS[kind](p, g, state, 6, inplace=True, **kw)
    assert out is p and new_state is state
    for key, value in arrays.items():
        assert new_state[key] is value
    np.testing.assert_array_equal(p, expected)
    for key in expected_state:
        np.testing.assert_array_equal(new_state[key], expected_state[key])
    np.testing.assert_array_equal(g, g_before)     # unlike the package, which writes p.grad

    fresh, p1 = {}, np.ones(3)
    out, s = FUNCTIONS[kind](p1, np.full(3, 0.5), fresh, 1, inplace=True, **kw)
    assert out is p1 and s is fresh and set(fresh) == STATE_KEYS[kind]


def _assert_dtypes(kind, p, state, dtype, shape):
    assert type(p) is np.ndarray and p.dtype == dtype and p.shape == shape
    for key in ARRAY_KEYS[kind]:
        assert type(state[key]) is np.ndarray and state[key].dtype == dtype and state[key].shape == shape, key
    assert type(state["weight_sum"]) is float and type(state["lr_max"]) is float


@pytest.mark.parametrize("kind", KINDS)
def test_float32_stays_float32(kind):
    kw = BUSY[kind]
    p0 = _problem(16)[0]
    p32, s32, _ = _run(kind, p0.astype(np.float32), **kw)
    _assert_dtypes(kind, p32, s32, np.float32, (16,))
    p64, s64, _ = _run(kind, p0, **kw)
    np.testing.assert_allclose(p32, p64, rtol=1e-5)
    np.testing.assert_allclose(s32["x"], s64["x"], rtol=1e-5)
    # NumPy float64 scalars as hyperparameters must not change float32 arithmetic.
    np_kw = {k: (np.float64(v) if isinstance(v, float) else v) for k, v in kw.items()}
    q32, t32, _ = _run(kind, p0.astype(np.float32), **np_kw)
    np.testing.assert_array_equal(q32, p32)
    np.testing.assert_array_equal(t32["x"], s32["x"])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zero_dimensional_arrays(kind, dtype):
    kw = BUSY[kind]
    grads = (0.5, -2.0, 3.0, 0.25, -1.0, 1.5, -0.75)
    p, s = np.array(1.25, dtype=dtype), {}
    q, u = np.array([1.25], dtype=dtype), {}
    for t, g in enumerate(grads, start=1):
        p, s = FUNCTIONS[kind](p, np.array(g, dtype=dtype), s, t, **kw)
        q, u = FUNCTIONS[kind](q, np.array([g], dtype=dtype), u, t, **kw)
    _assert_dtypes(kind, p, s, dtype, ())
    np.testing.assert_array_equal(p, q[0])
    np.testing.assert_array_equal(s["x"], u["x"][0])
    out, _ = FUNCTIONS[kind](p, np.array(1.0, dtype=dtype), s, len(grads) + 1, inplace=True, **kw)
    assert out is p and p.shape == ()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shape", [(0,), (2, 0, 3)])
def test_empty_arrays(kind, shape):
    for dtype in (np.float32, np.float64):
        p, s = np.empty(shape, dtype), {}
        for t in range(1, 4):
            p, s = FUNCTIONS[kind](p, np.empty(shape, dtype), s, t, **BUSY[kind])
        _assert_dtypes(kind, p, s, dtype, shape)
        assert s["weight_sum"] > 0.0                       # the scalars still advance
        assert ref.schedule_free_eval(p, s, 0.5).shape == shape


@pytest.mark.parametrize("kind", KINDS)
def test_nan_and_inf_propagate_silently(kind):
    kw = BUSY[kind]
    g_clean = np.array([0.5, -1.0, 2.0, 0.25])
    g_bad = np.array([np.nan, -1.0, np.inf, 0.25])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean, bad, bad_state = np.ones(4), np.ones(4), {}
        clean_state = {}
        for t in range(1, 6):
            clean, clean_state = FUNCTIONS[kind](clean, g_clean, clean_state, t, **kw)
            bad, bad_state = FUNCTIONS[kind](bad, g_bad, bad_state, t, **kw)
        ref.schedule_free_eval(bad, bad_state, kw[BETA_KEY[kind]])
    assert np.isnan(bad[0]) and np.isnan(bad_state["x"][0])
    assert not np.isfinite(bad[2]) and not np.isfinite(bad_state["z"][2])
    np.testing.assert_array_equal(bad[[1, 3]], clean[[1, 3]])
    np.testing.assert_array_equal(bad_state["x"][[1, 3]], clean_state["x"][[1, 3]])


# --------------------------------------------------------------------------
# Against schedulefree 1.4.1 (whole trajectories)
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def schedulefree(torch):
    """The schedulefree package, after the `torch` fixture has made float64 torch's default dtype."""
    return require("schedulefree", install="pip install schedulefree==1.4.1")


def _package_kwargs(kind, kw):
    """Our keywords as the package's constructor takes them."""
    full = dict(EXPECTED_HYPERPARAMETERS[kind], **kw)
    if kind == "adamw":
        full["betas"] = (full.pop("beta1"), full.pop("beta2"))
    return full


PACKAGE_CASES = [
    ("sgd", {}),
    ("sgd", dict(warmup_steps=10)),
    ("sgd", dict(weight_decay=0.1)),
    ("sgd", dict(r=1.5)),
    # weight_lr_power only matters while lr_max grows, i.e. during warmup
    ("sgd", dict(warmup_steps=10, weight_lr_power=0.0)),
    ("sgd", dict(warmup_steps=10, weight_lr_power=1.0)),
    ("sgd", dict(momentum=0.1)),
    ("sgd", dict(momentum=0.01)),
    ("sgd", dict(momentum=0.0)),   # the package refuses it at construction; see _optimizer
    ("sgd", dict(lr=0.0)),
    ("sgd", BUSY["sgd"]),
    ("adamw", {}),
    ("adamw", dict(lr=0.05)),
    ("adamw", dict(lr=0.05, warmup_steps=10)),
    ("adamw", dict(lr=0.05, weight_decay=0.1)),
    ("adamw", dict(lr=0.05, r=1.5)),
    ("adamw", dict(lr=0.05, warmup_steps=10, weight_lr_power=0.0)),
    ("adamw", dict(lr=0.05, warmup_steps=10, weight_lr_power=1.0)),
    ("adamw", dict(lr=0.05, beta1=0.1)),
    ("adamw", dict(lr=0.05, beta1=0.01)),
    ("adamw", dict(lr=0.05, beta1=0.0)),
    ("adamw", dict(lr=0.05, beta2=0.9, eps=1e-3)),
    ("adamw", BUSY["adamw"]),
]
PACKAGE_IDS = ["%s-%s" % (kind, "-".join("%s=%s" % kv for kv in kw.items()) or "defaults")
               for kind, kw in PACKAGE_CASES]


def _optimizer(schedulefree, kind, params, kw, cls=None, **extra):
    """The package's optimizer for our keywords.

    SGDScheduleFree (and its Reference class) refuse momentum 0 in the constructor, although
    their step is fine with it (y = z): for that case the optimizer is built with momentum 0.5 and
    the group's momentum set to 0 afterwards.
    """
    pkw = _package_kwargs(kind, kw)
    if cls is None:
        cls = schedulefree.SGDScheduleFree if kind == "sgd" else schedulefree.AdamWScheduleFree
    patch = kind == "sgd" and pkw["momentum"] == 0.0
    if patch:
        pkw["momentum"] = 0.5
    opt = cls(params, **pkw, **extra)
    if patch:
        for group in opt.param_groups:
            group["momentum"] = 0.0
    opt.train()
    return opt


def _x_rtol(rtol, beta):
    """Tolerance on the x the package's eval() recovers, x = (y - (1 - beta) z) / beta.

    The recovery multiplies the rounding of y and z by about (|y| + |z|) / (beta |x|) ~ 2 / beta.
    Largest relative differences measured over PACKAGE_CASES (40 steps, both foreach paths), x
    carried by the reference against the package's eval(): float32 7.2e-7 for beta >= 0.5,
    4.9e-6 at beta = 0.1, 5.8e-5 at beta = 0.01 (float64: 1.4e-15, 7.2e-15, 9.3e-14).  So the
    base tolerance holds down to beta = 0.2 and is widened in proportion to 1/beta below that
    (2e-4 in float32 at beta = 0.01, 3.5 times the measured difference).
    """
    return rtol * max(1.0, 0.2 / beta)


def _compare_with_package(torch, schedulefree, kind, kw, dtype, foreach):
    """Run the package and the reference on the same gradients; compare y and x after every step.

    Two parameters, a vector and a matrix, in one optimizer; the reference steps each with its own
    state.  The gradient is the noisy quadratic's at the package's y, fed to both.  After every
    step y is compared with the parameters (train mode), then x with the parameters after eval(),
    and train() is called again, so the package's trajectory includes the eval/train round trip.
    Returns the largest relative differences of y and of x.
    """
    shapes = [(5,), (3, 4)]
    problems = [_problem(shape, seed) for seed, shape in enumerate(shapes)]
    tparams = [torch.nn.Parameter(torch.tensor(p0.astype(dtype))) for p0, _, _ in problems]
    opt = _optimizer(schedulefree, kind, tparams, kw, foreach=foreach)
    beta = _package_kwargs(kind, kw)["momentum" if kind == "sgd" else "betas"]
    beta = beta if kind == "sgd" else beta[0]
    fn = FUNCTIONS[kind]
    ys = [p0.astype(dtype) for p0, _, _ in problems]
    states = [{} for _ in shapes]
    worst_y = worst_x = 0.0
    for t in range(1, STEPS + 1):
        for i, (q, (_, b, d)) in enumerate(zip(tparams, problems)):
            g = _grad(q.detach().numpy(), t, d, b).astype(dtype)
            q.grad = torch.tensor(g)
            ys[i], states[i] = fn(ys[i], g, states[i], t, **kw)
        opt.step()
        for i, q in enumerate(tparams):
            theirs = q.detach().numpy()
            assert theirs.dtype == dtype and ys[i].dtype == dtype
            assert np.min(np.abs(theirs)) > 0.5           # away from zero: relative errors mean something
            worst_y = max(worst_y, _rel(ys[i], theirs))
        if beta == 0.0:
            with pytest.raises(ZeroDivisionError):       # eval() computes 1 - 1/beta
                opt.eval()
            continue
        opt.eval()
        for i, q in enumerate(tparams):
            worst_x = max(worst_x, _rel(states[i]["x"], q.detach().numpy()))
            # our recovery is the package's eval() to an ulp or two
            np.testing.assert_allclose(ref.schedule_free_eval(ys[i], states[i], beta), q.detach().numpy(),
                                       rtol=_x_rtol(RTOL[dtype], beta), atol=0)
        opt.train()
    return worst_y, worst_x, beta


@pytest.mark.parametrize("foreach", [True, False], ids=["foreach", "single"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kind,kw", PACKAGE_CASES, ids=PACKAGE_IDS)
def test_matches_schedulefree(torch, schedulefree, kind, kw, dtype, foreach):
    # Observed over 40 steps: y within 8.2e-16 (float64) and 3.5e-7 (float32) relative, a few ulps
    # from torch's fused multiply-adds in lerp and add(alpha=) (not bit-equal even without the
    # eval/train round trip); x as in _x_rtol.
    worst_y, worst_x, beta = _compare_with_package(torch, schedulefree, kind, kw, dtype, foreach)
    assert worst_y <= RTOL[dtype], worst_y
    if beta != 0.0:
        assert worst_x <= _x_rtol(RTOL[dtype], beta), worst_x


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kind,kw", [
    ("sgd", {}), ("sgd", dict(momentum=0.0)), ("sgd", dict(momentum=0.01, warmup_steps=10, r=1.0)),
    ("adamw", dict(lr=0.05)), ("adamw", dict(lr=0.05, beta1=0.0)),
    ("adamw", dict(lr=0.05, beta1=0.01, warmup_steps=10, r=1.0, weight_decay=0.1)),
], ids=["sgd", "sgd-momentum=0", "sgd-momentum=0.01", "adamw", "adamw-beta1=0", "adamw-beta1=0.01"])
def test_x_matches_the_reference_classes(torch, schedulefree, kind, kw, dtype):
    # SGDScheduleFreeReference / AdamWScheduleFreeReference carry x, as we do: compared directly, no
    # 1/beta recovery, so the base tolerance holds for every beta, 0 included.  Same gradients as
    # fed to us (the Reference class's own y differs from ours in the last bits).
    cls = schedulefree.SGDScheduleFreeReference if kind == "sgd" else schedulefree.AdamWScheduleFreeReference
    p0, b, d = _problem((3, 4))
    q = torch.nn.Parameter(torch.tensor(p0.astype(dtype)))
    opt = _optimizer(schedulefree, kind, [q], kw, cls=cls)
    y, state = p0.astype(dtype), {}
    for t in range(1, STEPS + 1):
        g = _grad(y, t, d, b).astype(dtype)
        q.grad = torch.tensor(g)
        opt.step()
        y, state = FUNCTIONS[kind](y, g, state, t, **kw)
        theirs = opt.state[q]
        np.testing.assert_allclose(state["x"], theirs["x"].numpy(), rtol=RTOL[dtype], atol=0)
        np.testing.assert_allclose(state["z"], theirs["z"].numpy(), rtol=RTOL[dtype], atol=0)
        np.testing.assert_allclose(y, theirs["y"].numpy(), rtol=RTOL[dtype], atol=0)
        if kind == "adamw":
            np.testing.assert_allclose(state["v"], theirs["exp_avg_sq"].numpy(), rtol=RTOL[dtype], atol=0)


def test_package_cases_cover_the_brief():
    for kind in KINDS:
        cases = [kw for k, kw in PACKAGE_CASES if k == kind]
        beta = BETA_KEY[kind]
        assert {} in cases or dict(lr=0.05) in cases
        for key in ("warmup_steps", "weight_decay", "r"):
            assert any(kw.get(key, 0) > 0 for kw in cases), (kind, key)
        assert any(kw.get("weight_lr_power", 2.0) != 2.0 and kw.get("warmup_steps", 0) > 0 for kw in cases)
        assert {kw[beta] for kw in cases if beta in kw} >= {0.0, 0.01, 0.1}


def test_defaults_match_the_package(schedulefree):
    def defaults(cls):
        return {k: v.default for k, v in inspect.signature(cls).parameters.items()
                if k not in ("params", "foreach")}

    sgd = defaults(schedulefree.SGDScheduleFree)
    assert sgd == EXPECTED_HYPERPARAMETERS["sgd"]
    adamw = defaults(schedulefree.AdamWScheduleFree)
    adamw["beta1"], adamw["beta2"] = adamw.pop("betas")
    assert adamw == EXPECTED_HYPERPARAMETERS["adamw"]


def test_the_package_writes_the_gradient_and_we_do_not(torch, schedulefree):
    # AdamWScheduleFree divides p.grad in place (and adds the decay to it); the reference never
    # writes grads.  A caller who reuses gradients after the package's step gets normalised ones.
    q = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    opt = _optimizer(schedulefree, "adamw", [q], dict(lr=0.1, weight_decay=0.1))
    g = np.array([0.5, -4.0])
    q.grad = torch.tensor(g)
    opt.step()
    assert not np.array_equal(q.grad.numpy(), g)
    g_before = g.copy()
    ref.schedule_free_adamw(np.array([1.0, 2.0]), g, {}, 1, lr=0.1, weight_decay=0.1)
    np.testing.assert_array_equal(g, g_before)


def _lr_schedule(kind, t):
    """A learning rate that rises, falls and partly recovers, set from outside between steps."""
    peak = 0.5 if kind == "sgd" else 0.05
    return peak * (1.0 if t <= 10 else 0.3 if t <= 25 else 0.6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kind", KINDS)
def test_lr_changed_between_steps_keeps_lr_max(torch, schedulefree, kind, dtype):
    # The package reads group["lr"] at every step; lr_max = max(lr_max, lr_k) only differs from lr_k
    # when the lr falls, so only an outside schedule like this one exercises it.
    p0, b, d = _problem((3, 4))
    q = torch.nn.Parameter(torch.tensor(p0.astype(dtype)))
    kw = dict(warmup_steps=5, r=0.5)
    opt = _optimizer(schedulefree, kind, [q], kw)
    y, state = p0.astype(dtype), {}
    for t in range(1, STEPS + 1):
        lr = _lr_schedule(kind, t)
        opt.param_groups[0]["lr"] = lr
        g = _grad(q.detach().numpy(), t, d, b).astype(dtype)
        q.grad = torch.tensor(g)
        opt.step()
        y, state = FUNCTIONS[kind](y, g, state, t, lr=lr, **kw)
        group = opt.param_groups[0]
        assert state["lr_max"] == group["lr_max"] and state["weight_sum"] == group["weight_sum"]
        np.testing.assert_allclose(y, q.detach().numpy(), rtol=RTOL[dtype], atol=0)
    assert state["lr_max"] == _lr_schedule(kind, 1) > _lr_schedule(kind, STEPS)


def test_lr_max_weights_after_the_lr_falls():
    # x stays the average weighted by t^r * lr_max^p, with lr_max the running maximum.
    p0, b, d = _problem(6)
    y, state, zs = p0, {}, []
    lrs = [_lr_schedule("sgd", t) for t in range(1, STEPS + 1)]
    for t in range(1, STEPS + 1):
        y, state = ref.schedule_free_sgd(y, _grad(y, t, d, b), state, t, lr=lrs[t - 1], r=0.5, weight_lr_power=3.0)
        zs.append(state["z"].copy())
    w = np.array([t ** 0.5 * max(lrs[:t]) ** 3.0 for t in range(1, STEPS + 1)])
    np.testing.assert_allclose(state["x"], (w[:, None] * np.array(zs)).sum(axis=0) / w.sum(), rtol=1e-12, atol=0)
    # with lr_k in place of lr_max the average would differ
    w_wrong = np.array([t ** 0.5 * lrs[t - 1] ** 3.0 for t in range(1, STEPS + 1)])
    assert not np.allclose(state["x"], (w_wrong[:, None] * np.array(zs)).sum(axis=0) / w_wrong.sum(), rtol=1e-6)
