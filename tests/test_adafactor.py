"""Adafactor: the derivation's claims against the compiled kernel."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import symopt
from symopt import symbols as S
from symopt.derive import derive
from symopt.strategies import matrix_shapes

ADAFACTOR = symopt.get("adafactor")
DERIVED = derive(ADAFACTOR, "factored-moments")


def positive(shape):
    return hnp.arrays(np.float64, shape, elements=st.floats(1e-3, 1e3))


@settings(max_examples=25, deadline=None)
@given(matrix_shapes().flatmap(lambda s: st.tuples(positive((s[0],)), positive((s[1],)), positive(s))))
def test_the_estimate_is_exact_for_a_rank_one_square_and_not_otherwise(factors):
    """g² = r cᵀ: the kernel divides g by √g², so every element moves by the same α (derived: V̂ = g²)."""
    r, c, other = factors
    g = np.sqrt(np.outer(r, c)) * np.where(other > 1, 1.0, -1.0)
    kernel = ADAFACTOR.kernel()
    theta0 = np.ones(g.shape)
    theta, _ = kernel.step(theta0, g, kernel.init(theta0), 1, lr=0.5, eps1=1e-30)
    assert np.allclose(np.abs(theta - theta0), 0.5, rtol=1e-12)  # α = RMS(1)·min(0.5, 1/√1)
    if min(g.shape) >= 2 and np.linalg.matrix_rank(other**2, tol=1e-9 * (other**2).max()) >= 2:
        theta, _ = kernel.step(theta0, other, kernel.init(theta0), 1, lr=0.5, eps1=1e-30)
        steps = np.abs(theta - theta0)
        assert steps.max() - steps.min() > 1e-9  # no longer a sign step: the estimate is off


def test_the_state_takes_a_plus_b_numbers():
    kernel, adam = ADAFACTOR.kernel(), symopt.get("adam").kernel()
    for shape in [(3, 5), (7, 2)]:
        elements = sum(np.size(v) for v in kernel.init(np.ones(shape)).values())
        assert elements == DERIVED.values["elements"].subs({S.rows: shape[0], S.cols: shape[1]})
        assert sum(np.size(v) for v in adam.init(np.ones(shape)).values()) == \
            DERIVED.values["adam_elements"].subs({S.rows: shape[0], S.cols: shape[1]})


@settings(max_examples=20, deadline=None)
@given(st.one_of(matrix_shapes(), st.tuples(st.integers(1, 6))), st.integers(0, 2**32 - 1),
       st.floats(1e-4, 1.0), st.floats(1.0, 3.0), st.integers(1, 30))
def test_the_step_is_at_most_d_min_lr_root_t_of_the_parameters_rms(shape, seed, lr, d, t):
    rng = np.random.default_rng(seed)
    theta0 = rng.standard_normal(shape) * 10.0 ** rng.uniform(-2, 2)
    kernel = ADAFACTOR.kernel()
    state = kernel.init(theta0)
    theta, _ = kernel.step(theta0, rng.standard_normal(shape), state, t, lr=lr, d=d, eps2=1e-6)
    rms = lambda a: np.sqrt(np.mean(a**2))  # noqa: E731
    ceiling = float(DERIVED.values["ceiling"].subs(S.clip, d))
    assert rms(theta - theta0) <= ceiling * min(lr, 1 / np.sqrt(t)) * max(1e-6, rms(theta0)) * (1 + 1e-12)


def test_decay_without_a_gradient_is_one_minus_lr_lambda():
    assert sp.simplify(DERIVED.values["decayed"] - (1 - S.eta * S.lam) * S.theta_prev) == 0
    kernel = ADAFACTOR.kernel()
    theta0 = np.arange(1.0, 7.0).reshape(2, 3)
    theta, _ = kernel.step(theta0, np.zeros((2, 3)), kernel.init(theta0), 1, lr=0.1, weight_decay=0.5)
    assert np.allclose(theta, theta0 * (1 - 0.1 * 0.5), rtol=1e-15)


@pytest.mark.parametrize("shape", [(4,), ()])
def test_vectors_keep_the_unfactored_moment(shape):
    state = ADAFACTOR.kernel().init(np.ones(shape))
    assert state["variance"].shape == shape and state["row_var"].shape == state["col_var"].shape == ()


# timm's (fairseq's) form: a matrix is factored only where both its sides exceed min_dim_size_to_factor, so
# that one shape takes either branch by that hyperparameter; the state of the branch not taken stays at 0.
TIMM = symopt.get("adafactor", convention="timm", first_moment=True, cautious=True)


@pytest.mark.parametrize("shape, min_size, factored", [((3, 4), 2, True), ((3, 4), 3, False), ((4, 3), 3, False),
                                                        ((3, 4), 16, False), ((5,), 0, False), ((), 0, False)])
def test_timm_factors_a_matrix_where_both_sides_exceed_min_dim_size_to_factor(shape, min_size, factored):
    from symopt.reference.adafactor import timm_adafactor

    rng = np.random.default_rng(3)
    theta0 = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(4)]
    hyper = {h.name: h.default for h in TIMM.hypers} | {"min_dim_size_to_factor": min_size, "weight_decay": 0.1}
    kernel = TIMM.kernel()
    theta, state = theta0, kernel.init(theta0)
    expected, witnessed = theta0, {}
    for t, g in enumerate(grads, start=1):
        theta, state = kernel.step(theta, g, state, t, **hyper)
        expected, witnessed = timm_adafactor(expected, g, witnessed, t, beta1=hyper["beta1"], caution=True,
                                             weight_decay=0.1, min_dim_size_to_factor=min_size)
    np.testing.assert_allclose(theta, expected, rtol=1e-12, atol=0)
    unfactored, rows, cols = state["exp_avg_sq"], state["exp_avg_sq_row"], state["exp_avg_sq_col"]
    if factored:  # the rows' and columns' averages (timm's without the kept dimension), v left at 0
        assert not unfactored.any() and sorted(witnessed) == ["exp_avg", "exp_avg_sq_col", "exp_avg_sq_row"]
        np.testing.assert_allclose(rows[..., 0], witnessed["exp_avg_sq_row"], rtol=1e-12)
        np.testing.assert_allclose(cols[..., 0, :], witnessed["exp_avg_sq_col"], rtol=1e-12)
    else:
        assert not rows.any() and not cols.any() and sorted(witnessed) == ["exp_avg", "exp_avg_sq"]
        np.testing.assert_allclose(unfactored, witnessed["exp_avg_sq"], rtol=1e-12)


def test_timm_form_takes_at_most_two_dimensions():
    # timm factors dimensions 0 and 1 of a larger tensor (a convolution's), which rows and columns do not express
    with pytest.raises(symopt.SymoptError, match="takes 0-D or 1-D or 2-D parameters"):
        TIMM.kernel().init(np.ones((2, 3, 4)))


@pytest.mark.parametrize("axis", [0, 1], ids=["zero row", "zero column"])
def test_timm_form_is_nan_where_timms_step_is_nan_in_float32(axis):
    # g² + ε₁ over a row of zeros is ε₁ = 1e-30; beside rows of g ~ 1e8 in float32 R_t/mean(R_t) underflows to
    # 0 and timm's rsqrt makes its step 0·∞ = NaN, which the RMS clip spreads over the tensor. A zero column
    # divides no factor by its mean: a finite step. The kernel takes the root of the ratio whole, as timm.
    import torch

    from symopt.verify import import_library

    g = np.full((4, 3), 7e8, dtype=np.float32)
    g[(0, slice(None)) if axis == 0 else (slice(None), 0)] = 0.0
    params = np.ones_like(g)
    rule = symopt.get("adafactor", convention="timm", relative_step=False)
    hyper = {h.name: h.default for h in rule.hypers} | {"lr": 1.0, "min_dim_size_to_factor": 0.0}
    kernel = rule.kernel()
    theta, _ = kernel.step(params, g, kernel.init(params, **hyper), 1, **hyper)
    param = torch.nn.Parameter(torch.ones(g.shape, dtype=torch.float32))  # whatever the default dtype
    optimizer = import_library("timm.optim.adafactor").Adafactor([param], lr=1.0, min_dim_size_to_factor=0)
    param.grad = torch.tensor(g)
    optimizer.step()
    expected = param.detach().numpy()
    assert np.isnan(expected).all() == (axis == 0)
    assert np.array_equal(np.isnan(theta), np.isnan(expected))
    np.testing.assert_allclose(theta[~np.isnan(theta)], expected[~np.isnan(expected)], rtol=1e-6, atol=1e-6)
