"""The compiled kernels: contract (shapes, dtypes, in place or not), bad input, generated code."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symopt
from symopt.errors import SymoptError
from symopt.strategies import dtypes, gradients, shapes, weights

from conftest import registry_sample

# Elementwise rules with weight decay and every state shaped like the parameters, from the registry: in
# CI six of their variants, drawn with a fixed seed (every variant outside CI).
RULES = registry_sample(lambda rule: rule.elementwise and rule.hyper("weight_decay") and not rule.scalars
                        and all(s.shape == "param" for s in rule.states), per_rule=2, total=6)
KERNELS = {r.name + str(r.options): r.kernel() for r in RULES}


@st.composite
def inputs(draw):
    dtype, shape = draw(dtypes()), draw(shapes())
    return draw(weights(shape, dtype)), draw(gradients(shape, dtype))


@pytest.mark.parametrize("key", list(KERNELS))
@given(data=inputs(), t=st.integers(1, 3), inplace=st.booleans())
def test_shape_and_dtype_are_kept(key, data, t, inplace):
    kernel = KERNELS[key]
    params, grads = data
    state = kernel.init(params)
    decay = 0.01 if kernel.rule.hyper("weight_decay").contains(0.01) else 0.0  # nadam(convention='timm'): [0, 0]
    with np.errstate(all="ignore"):  # gradients up to 1e8 may overflow float32 moments: allowed
        new, new_state = kernel.step(params.copy(), grads, state, t, weight_decay=decay, inplace=inplace)
    assert isinstance(new, np.ndarray) and new.shape == params.shape and new.dtype == params.dtype
    for name, value in new_state.items():
        assert isinstance(value, np.ndarray) and value.shape == params.shape and value.dtype == params.dtype, name
    # the state init allocates starts a cache line, as torch's tensors do (if it has a first element)
    assert all((a.size == 0 or a.ctypes.data % 64 == 0) and a.flags.c_contiguous and a.flags.writeable
               for a in state.values())


@given(shape=shapes(), dtype=dtypes(), fill=st.floats(-1e3, 1e3))
def test_empty_aligned_starts_a_cache_line_and_holds_its_fill(shape, dtype, fill):
    from symopt.kernel import empty_aligned

    a = empty_aligned(shape, dtype, fill)
    assert a.shape == shape and a.dtype == dtype and a.flags.c_contiguous and (a.size == 0 or a.ctypes.data % 64 == 0)
    assert np.array_equal(a, np.full(shape, fill, dtype))
    copied = empty_aligned(shape, dtype, a + 1)  # an array fill is copied, not shared
    assert np.array_equal(copied, a + 1) and not np.shares_memory(copied, a)


def test_inputs_are_left_alone_unless_in_place():
    kernel = symopt.get("adamw").kernel()
    params, grads = np.linspace(-1, 1, 5), np.linspace(2, 3, 5)
    state = kernel.step(params, grads, kernel.init(params), 1)[1]
    before = (params.copy(), grads.copy(), {k: v.copy() for k, v in state.items()})
    new, new_state = kernel.step(params, grads, state, 2)
    assert np.array_equal(params, before[0]) and np.array_equal(grads, before[1])
    assert all(np.array_equal(state[k], before[2][k]) for k in state)
    assert new is not params and not np.shares_memory(new, params)

    same, same_state = kernel.step(params, grads, state, 2, inplace=True)
    assert same is params and all(same_state[k] is state[k] for k in state)
    assert np.array_equal(same, new) and all(np.array_equal(same_state[k], new_state[k]) for k in state)
    assert np.array_equal(grads, before[1])


def test_in_place_and_new_arrays_agree_on_every_variant():
    rng = np.random.default_rng(0)
    for rule in RULES:
        kernel = KERNELS[rule.name + str(rule.options)]
        a = rng.standard_normal(7)
        b, sa, sb = a.copy(), kernel.init(a), kernel.init(a)
        decay = 0.1 if rule.hyper("weight_decay").contains(0.1) else 0.0  # nadam(convention='timm'): [0, 0]
        for t in range(1, 6):
            g = rng.standard_normal(7)
            a, sa = kernel.step(a, g, sa, t, weight_decay=decay, lr=0.1)
            b, sb = kernel.step(b, g, sb, t, weight_decay=decay, lr=0.1, inplace=True)
        assert np.array_equal(a, b), rule.name


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda k, p: k.step(p, np.ones(3), k.init(p), 1), r"grads has shape \(3,\) but params has shape \(2,\)"),
        (lambda k, p: k.step(p, p, {"m": p}, 1), "state has no 'v'"),
        (lambda k, p: k.step(p, p, {"m": np.ones(3), "v": p}, 1), r"state\['m'\] has shape \(3,\)"),
        (lambda k, p: k.step(p, p, k.init(p), 0), "t must be an integer from 1 to 2"),
        (lambda k, p: k.step(p, p, k.init(p), 1.5), "t must be an integer from 1 to 2"),
        (lambda k, p: k.step(p, p, k.init(p), 10**400), "t must be an integer from 1 to 2"),
        (lambda k, p: k.step(p, p + 1j, k.init(p), 1), "grads must be real"),
        (lambda k, p: k.step([1.0, 2.0], p, k.init(p), 1, inplace=True), "inplace=True needs params to be a NumPy array"),
        (lambda k, p: k.step(p, p, k.init(p), 1, lr=-1e-3), r"lr must be in \[0, inf\), got -0.001"),
        (lambda k, p: k.step(p, p, k.init(p), 1, beta1=1.0), r"beta1 must be in \[0, 1\), got 1.0"),
        (lambda k, p: k.step(p, p, k.init(p), 1, beta2=-0.1), r"beta2 must be in \[0, 1\)"),
        (lambda k, p: k.step(p, p, k.init(p), 1, eps=0.0), r"eps must be in \(0, inf\)"),
        (lambda k, p: k.step(p, p, k.init(p), 1, eps=float("nan")), r"eps must be in \(0, inf\), got nan"),
        (lambda k, p: k.step(p, p, k.init(p), 1, lr=float("inf")), r"lr must be in \[0, inf\), got inf"),
        (lambda k, p: k.step(p, p, k.init(p), 1, weight_decay="0.1"), "weight_decay must be a real number"),
        (lambda k, p: k.step(p, p, k.init(p), 1, betas=(0.9, 0.99)), r"unknown adam hyperparameter 'betas' \(closest: 'beta"),
        (lambda k, p: k.step(np.ones(2, dtype=int), p, k.init(p), 1), "params must be a floating-point array"),
        (lambda k, p: k.step(p, np.ones(2), {"m": [0.0, 0.0], "v": [0.0, 0.0]}, 1, inplace=True),
         "inplace=True needs params and the state's values to be writeable NumPy arrays"),
        (lambda k, p: k.step(p, p, k.init(p), 1, inplace=True), "separate arrays"),
    ],
)
def test_bad_input_names_the_argument_and_its_range(call, message):
    kernel = symopt.get("adam").kernel()
    with pytest.raises(SymoptError, match=message):
        call(kernel, np.ones(2))


def test_momentum_range_excludes_zero():
    kernel = symopt.get("momentum").kernel()
    with pytest.raises(SymoptError, match=r"momentum must be in \(0, 1\)"):
        kernel.step(np.ones(1), np.ones(1), kernel.init(np.ones(1)), 1, momentum=0.0)


def test_unknown_backend():
    with pytest.raises(SymoptError, match="unknown backend 'jax'"):
        symopt.get("sgd").kernel(backend="jax")


def test_nan_and_inf_in_gradients_propagate_elementwise():
    """As torch.optim: no error, and only the elements that saw NaN or inf are affected."""
    kernel = symopt.get("adam").kernel()
    params = np.zeros(4)
    grads = np.array([np.nan, np.inf, -np.inf, 1.0])
    new, state = kernel.step(params, grads, kernel.init(params), 1)
    assert np.isnan(new[:3]).all() and np.isfinite(new[3])
    assert np.isnan(state["m"][0]) and state["m"][1] == np.inf and state["v"][2] == np.inf


def test_nan_arithmetic_does_not_warn():
    import warnings

    kernel = symopt.get("adam").kernel()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        kernel.step(np.zeros(2), np.array([np.inf, np.nan]), kernel.init(np.zeros(2)), 1)


def test_generated_code_is_pinned():
    """The AdamW kernel's code. A change of symbol assumptions, of hoisting or of buffer reuse shows
    here first (SymPy rewrote sqrt(v/(1 - β₂ᵗ)) as a product of roots when v was positive)."""
    source = symopt.get("adamw").kernel().source(t=2, inplace=True)
    assert source.splitlines() == [
        "def step(theta_tm1, g_t, m_tm1, v_tm1, c0, c1, c2, c3, c4, t, eta, beta1, beta2, epsilon, lamda, scratch):",
        "    numpy.square(g_t, out=scratch[0])",
        "    numpy.multiply(scratch[0], c3, out=scratch[0])",
        "    numpy.multiply(v_tm1, beta2, out=v_tm1)",
        "    numpy.add(scratch[0], v_tm1, out=v_tm1)",
        "    numpy.multiply(g_t, c4, out=scratch[0])",
        "    numpy.multiply(m_tm1, beta1, out=m_tm1)",
        "    numpy.add(scratch[0], m_tm1, out=m_tm1)",
        "    numpy.multiply(theta_tm1, c0, out=theta_tm1)",
        "    numpy.multiply(m_tm1, c1, out=scratch[0])",
        "    numpy.multiply(v_tm1, c2, out=scratch[1])",
        "    numpy.sqrt(scratch[1], out=scratch[1])",
        "    numpy.add(scratch[1], epsilon, out=scratch[1])",
        "    numpy.divide(scratch[0], scratch[1], out=scratch[0])",
        "    numpy.add(theta_tm1, scratch[0], out=theta_tm1)",
        "    return (theta_tm1, m_tm1, v_tm1,)",
    ]


def test_weight_decay_zero_leaves_its_terms_out():
    """Like torch.optim, a weight decay of 0 is not multiplied in (so inf params stay inf, not NaN)."""
    kernel = symopt.get("sgd").kernel()
    assert "lamda" not in kernel.source(weight_decay=0.0).split("):", 1)[1]
    new, _ = kernel.step(np.array([np.inf]), np.array([1.0]), {}, 1)
    assert new[0] == np.inf
