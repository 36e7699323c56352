"""timm's AdafactorBigVision (the rule ``adafactorbv``): the states take the branch timm takes.

Whether a parameter's second moment is factored depends on its shape and a hyperparameter
(``min_dim_size_to_factor``): here each branch, for a wide and a tall matrix, a vector and a number,
against timm's class itself (its states, not only its parameters: tests/test_verify.py compares those
over the registry), and the laws the two branches share.
"""

import numpy as np
import pytest

import symopt
from symopt.verify import import_library

RULE = symopt.get("adafactorbv")
CASES = [((3, 4), 3), ((3, 4), 4), ((4, 3), 3), ((4, 3), 4), ((5,), 1), ((), 0)]


def _timm_states(params, grads, **hyper):
    import torch

    cls = import_library("timm.optim.adafactor_bv").AdafactorBigVision
    param = torch.tensor(params.copy(), requires_grad=True)
    optimizer = cls([param], momentum_dtype=param.dtype, **hyper)
    for g in grads:
        param.grad = torch.tensor(g.copy())
        optimizer.step()
    state = {key: value.detach().numpy() for key, value in optimizer.state[param].items() if key != "step"}
    return param.detach().numpy(), state


@pytest.mark.parametrize(("shape", "min_dim"), CASES, ids=[f"{s}-{n}" for s, n in CASES])
def test_the_states_take_the_branch_timm_takes(shape, min_dim):
    rng = np.random.default_rng(len(shape) + min_dim)
    params = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(3)]
    hyper = dict(lr=0.1, weight_decay=0.01, min_dim_size_to_factor=min_dim)
    kernel = RULE.kernel()
    theta, state = params, kernel.init(params, **hyper)
    for t, g in enumerate(grads, start=1):
        theta, state = kernel.step(theta, g, state, t, **hyper)
    expected, timm = _timm_states(params, grads, **hyper)
    np.testing.assert_allclose(theta, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(state["m"], timm["exp_avg"], rtol=1e-12, atol=1e-15)
    factored = len(shape) == 2 and min(shape) >= min_dim
    assert ("exp_avg_sq_r" in timm) == factored and ("exp_avg_sq" in timm) != factored
    if factored:
        # timm's row factor is the mean over the largest dimension: R_t for a wide matrix, C_t for a tall one
        rows, cols = (timm["exp_avg_sq_r"], timm["exp_avg_sq_c"]) if shape[0] <= shape[1] else \
            (timm["exp_avg_sq_c"], timm["exp_avg_sq_r"])
        np.testing.assert_allclose(state["row_var"], rows, rtol=1e-12)
        np.testing.assert_allclose(state["col_var"], cols, rtol=1e-12)
        assert not state["exp_avg_sq"].any()  # the unfactored moment is never written
    else:
        np.testing.assert_allclose(state["exp_avg_sq"], timm["exp_avg_sq"], rtol=1e-12)
        assert not state["row_var"].any() and not state["col_var"].any()


@pytest.mark.parametrize(("shape", "min_dim"), CASES, ids=[f"{s}-{n}" for s, n in CASES])
def test_the_first_step_is_the_gradients_sign_in_both_branches(shape, min_dim):
    # β̂₂₁ = 0: the moments hold g² + ε itself, and where g² is of rank one the factored estimate is g² + ε
    # too (ε negligible): U₁ = g/|g|, and the momentum's 1 - μ, times η, is the step
    rng = np.random.default_rng(7)
    sides = [rng.uniform(0.5, 2.0, n) for n in shape]
    g = np.ones(shape)
    for axis, side in enumerate(sides):
        g = g * side.reshape([-1 if k == axis else 1 for k in range(len(shape))])
    g = g * np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    kernel = RULE.kernel()
    theta0 = rng.standard_normal(shape)
    hyper = dict(lr=0.5, momentum=0.9, min_dim_size_to_factor=min_dim)
    theta, _ = kernel.step(theta0, g, kernel.init(theta0, **hyper), 1, **hyper)
    np.testing.assert_allclose(theta, theta0 - 0.5 * 0.1 * np.sign(g), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (3, 3)], ids=str)
def test_a_zero_line_beside_large_gradients_is_nan_exactly_where_timm_is_nan_in_float32(shape):
    # g² + ε over a row (column) of zeros is ε = 1e-30; beside lines of g ~ 1e8 in float32 the factor timm
    # divides by its mean (the larger side's: the columns' for a tall matrix, the rows' otherwise) underflows
    # to 0, and its step there is 0·∞ = NaN; the other factor's zero line is a step of 0. Both directions.
    for axis in (0, 1):
        g = np.full(shape, 7e8, dtype=np.float32)
        g[(0, slice(None)) if axis == 0 else (slice(None), 0)] = 0.0
        params = np.zeros(shape, dtype=np.float32)
        hyper = dict(lr=1.0, min_dim_size_to_factor=1)
        kernel = symopt.get("adafactorbv", use_momentum=False).kernel()
        theta, _ = kernel.step(params, g, kernel.init(params, **hyper), 1, **hyper)
        expected, _ = _timm_states(params, [g], momentum=None, **hyper)
        assert np.array_equal(np.isnan(theta), np.isnan(expected)), (axis, theta, expected)
        np.testing.assert_allclose(theta[~np.isnan(theta)], expected[~np.isnan(expected)], rtol=1e-6)
