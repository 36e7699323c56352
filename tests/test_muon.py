"""Muon: the derivation's claims against the compiled kernel, and its momentum against torch's documentation."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import symopt
from symopt.derive import derive
from symopt.derive import orthogonalization as ns
from symopt.reference.muon import _orthogonalize
from symopt.strategies import matrix_shapes

MUON = symopt.get("muon")
DERIVED = derive(MUON, "newton-schulz")


def test_each_step_maps_singular_values_through_the_polynomial():
    a, b, c = symopt.symbols.ns_a, symopt.symbols.ns_b, symopt.symbols.ns_c
    assert sp.expand(DERIVED.values["p"] - (a * ns.sigma + b * ns.sigma**3 + c * ns.sigma**5)) == 0
    cubic = ns.singular_value_map(*ns.CUBIC)
    assert sp.expand(cubic - (sp.Rational(3, 2) * ns.sigma - ns.sigma**3 / 2)) == 0
    assert sp.solve(sp.Eq(cubic, ns.sigma), ns.sigma)[-1] == 1 and sp.diff(cubic, ns.sigma).subs(ns.sigma, 1) == 0


def test_the_interval_is_the_exact_image_of_the_iterated_polynomial():
    """Iterating p on a fine grid of [σ₀, 1] stays inside the derived interval and reaches both ends."""
    poly = sp.lambdify(ns.sigma, DERIVED.values["p"].xreplace(ns._defaults(MUON, ns._iteration(MUON))))
    low, high = DERIVED.values["interval"]
    grid = np.linspace(float(ns.ASSUMED), 1.0, 200001)
    for _ in range(5):
        grid = poly(grid)
    assert low - 1e-12 <= grid.min() <= low + 1e-4 and high - 1e-4 <= grid.max() <= high + 1e-12


def singular_spread(draw_shape):
    # σ_min/σ_max ≥ 2.24σ₀, so that σ_min/‖X‖_F ≥ σ₀ for up to 4 singular values (‖X‖_F ≤ 2σ_max)
    return st.tuples(draw_shape, st.floats(np.log10(float(ns.ASSUMED)) + 0.35, 0.0), st.integers(0, 2**32 - 1))


@settings(max_examples=20, deadline=None)
@given(singular_spread(matrix_shapes()), st.sampled_from(["original", "match_rms_adamw"]))
def test_kernel_singular_values_end_in_the_derived_interval_and_rms(case, adjust):
    """Within the assumption (σ of X/‖X‖_F ≥ σ₀), the kernel's NS₅ has singular values in the derived
    interval, and its update's RMS is the derived RMS for that shape times the singular values' RMS."""
    shape, log_smallest, seed = case
    rule = symopt.get("muon", adjust_lr_fn=adjust)
    x = ns.random_matrix(shape, 10.0**log_smallest, np.random.default_rng(seed))
    x /= np.linalg.norm(x)
    assume(np.linalg.svd(x, compute_uv=False).min() >= float(ns.ASSUMED))
    values = ns.kernel_singular_values(rule, x)
    low, high = DERIVED.values["interval"]
    assert np.all(values >= low - 1e-9) and np.all(values <= high + 1e-9)
    kernel = rule.kernel()
    theta, _ = kernel.step(np.zeros(shape), x, kernel.init(x), 1, lr=1.0, weight_decay=0.0, momentum=0.0)
    derived = DERIVED.values["rms"][adjust][0 if shape[0] >= shape[1] else 1]
    rms = float(derived.subs({symopt.symbols.rows: shape[0], symopt.symbols.cols: shape[1]}))
    assert np.sqrt(np.mean(theta**2)) == pytest.approx(rms * np.sqrt(np.mean(values**2)), rel=1e-9)


def documented_sum(grads, lr, momentum, weight_decay, eps, scale):
    """torch's documented Muon: B_t = μB_{t-1} + g_t and Nesterov g_t + μB_t, orthogonalised."""
    theta, total, out = np.zeros_like(grads[0]), np.zeros_like(grads[0]), []
    for g in grads:
        total = momentum * total + g
        update = _orthogonalize(g + momentum * total, 3.4445, -4.7750, 2.0315, 5, eps)
        theta = theta * (1 - lr * weight_decay) - lr * scale * update
        out.append(theta)
    return out


@settings(max_examples=15, deadline=None)
@given(matrix_shapes(), st.integers(0, 2**32 - 1), st.floats(0.5, 0.99))
def test_the_moving_average_is_the_documented_sum_except_through_eps(shape, seed, momentum):
    rng = np.random.default_rng(seed)
    grads = [rng.standard_normal(shape) for _ in range(6)]
    kernel, scale = MUON.kernel(), np.sqrt(max(1.0, shape[0] / shape[1]))
    hyper = {"lr": 0.1, "momentum": momentum, "weight_decay": 0.1, "eps": 1e-7}
    theta, state, got = np.zeros(shape), kernel.init(np.zeros(shape)), []
    for t, g in enumerate(grads, 1):
        theta, state = kernel.step(theta, g, state, t, **hyper)
        got.append(theta)
    expected = documented_sum(grads, 0.1, momentum, 0.1, 1e-7, scale)
    assert max(np.abs(a - e).max() for a, e in zip(got, expected)) < 1e-9
    # Outside: gradients whose momentum norm is below ε/(1 - μ) are scaled differently by the two.
    tiny = [g * 1e-9 for g in grads]
    theta, state = np.zeros(shape), kernel.init(np.zeros(shape))
    for t, g in enumerate(tiny, 1):
        theta, state = kernel.step(theta, g, state, t, **hyper)
    assert np.abs(theta - documented_sum(tiny, 0.1, momentum, 0.1, 1e-7, scale)[-1]).max() > 1e-6


def test_the_derivation_states_its_assumptions_and_a_case_outside():
    check = DERIVED.values["check"]
    assert all(row[2] < ns.ROUNDING for row in check)  # the kernel's singular values are p⁵ of the input's
    assert all(row[2] == f"< {ns.ROUNDING:g}" for row in DERIVED.tables[1].rows)  # printed as the bound
    inside, outside = check[:-1], check[-1]
    low, high = DERIVED.values["interval"]
    assert all(row[1] >= float(ns.ASSUMED) for row in inside) and outside[1] < float(ns.ASSUMED)
    assert float(outside[3].split(" to ")[0]) < low
    text = " ".join(str(p) for a in DERIVED.assumptions for p in a)
    assert "0.01" in text and "bfloat16" in text


def test_the_slopes_in_the_text_are_the_polynomials_at_its_fixed_points():
    """The fixed points and slopes the text gives, against NumPy's roots of p(σ) - σ and a central
    difference of p: at 0.868 the slope is below -1 (values alternate about it), at 1.264 it is +6.47
    (values move away), and only the first lies in the interval the singular values end in."""
    defaults = ns._defaults(MUON, ns._iteration(MUON))
    a, b, c = (float(defaults[s]) for s in (symopt.symbols.ns_a, symopt.symbols.ns_b, symopt.symbols.ns_c))
    def p(x):
        return a * x + b * x**3 + c * x**5
    roots = np.roots([c, 0, b, 0, a - 1, 0])
    points = sorted(r.real for r in roots if abs(r.imag) < 1e-12 and r.real > 0)
    text = " ".join(str(part) for step in DERIVED.steps for part in step.text)
    low, high = DERIVED.values["interval"]
    assert len(points) == 2
    for point in points:
        slope = (p(point + 1e-6) - p(point - 1e-6)) / 2e-6
        assert abs(slope) > 1  # both repel
        where = "inside" if low <= point <= high else "outside"
        words = "alternating about it" if slope < 0 else "moving away on their side"
        assert f"p' = {slope:+.3g} at {point:.3g} (it repels, values {words}; {where} that interval)" in text
    assert "below -1 or near it" not in text and "True" not in text
