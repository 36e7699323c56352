"""The stability threshold: the values in the literature as checks, the hand-written references as an
independent witness on a quadratic, the kernels' simulations, and the rules it does not apply to."""

import math

import numpy as np
import pytest
import sympy as sp
from conftest import derived_or_said_why
from hypothesis import given, settings
from hypothesis import strategies as st

import symopt
from symopt import reference
from symopt import symbols as S
from symopt.derive import derive, stability
from symopt.hyperparameters import BETA1, DAMPENING, LR, MOMENTUM
from symopt.render import prose_text
from symopt.strategies import hyperparameter

eta, rho, tau, b1 = S.eta, S.rho, S.tau, S.beta1

# Written from the literature (Cohen et al. 2021, 2022; the heavy-ball recurrence), not from symopt.
EXPECTED = [
    ("sgd", {}, 2 / eta),
    ("momentum", {}, 2 * (1 + rho) / ((1 - tau) * eta)),
    ("momentum", {"nesterov": True}, (2 + 2 * rho) / ((1 + 2 * rho) * eta)),
    ("adam", {}, (2 + 2 * b1) / ((1 - b1) * eta)),
    ("adamw", {}, (2 + 2 * b1) / ((1 - b1) * eta)),
    ("adam", {"bias_correction": False}, (2 + 2 * b1) / ((1 - b1) * eta)),
    ("adamw", {"amsgrad": True}, (2 + 2 * b1) / ((1 - b1) * eta)),
]


@pytest.mark.parametrize("name, options, expected", EXPECTED, ids=lambda x: str(x) if isinstance(x, (str, dict)) else "")
def test_threshold_is_the_known_value(name, options, expected):
    derived = symopt.stability_threshold(name, **options)
    assert sp.simplify(derived - expected) == 0


def test_adam_threshold_is_38_over_eta_at_beta1_09():
    assert symopt.stability_threshold("adam").subs(b1, sp.Rational(9, 10)) == 38 / eta


def test_adam_threshold_is_in_units_of_the_preconditioned_curvature():
    t = stability.threshold(symopt.get("adam"))
    assert sp.simplify(t.scale - (sp.sqrt(S.vhat) + S.epsilon)) == 0


def test_l2_decay_lowers_the_threshold_by_lambda_and_decoupled_decay_scales_it():
    # L2 adds λ to the curvature: a + λ < threshold. AdamW's -ηλθ multiplies the iterate by 1 - ηλ.
    for name in ("sgd", "momentum", "adam"):
        d = derive(symopt.get(name), "stability")
        assert d.values["decay shift"] == -S.lam
    d = derive(symopt.get("adamw"), "stability")
    with_decay = d.values["with decay"] / stability.threshold(symopt.get("adamw")).scale
    assert sp.simplify(with_decay - (2 - eta * S.lam) * (1 + b1) / ((1 - b1) * eta)) == 0


# --- an independent witness: the hand-written references on ½aθ² ---------------------------------
def run_reference(step, curvature, steps, hold=None, state=None, **hyper):
    """|θ_N/θ_0| for the reference ``step`` on ½aθ², from step 10⁶ (t → ∞); ``hold`` resets state,
    ``state`` is the one to start from."""
    theta, state = np.array([1e-30 / curvature]), state or {}
    start = theta.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(steps):
            if hold:
                hold(state, theta)
            theta, state = step(theta, curvature * theta, state, 10**6 + k, **hyper)
            ratio = abs(theta[0] / start[0])
            if not 1e-6 < ratio < 1e6:  # decided (and no overflow to inf or NaN)
                break
    return ratio


def assert_threshold(run, star):
    assert run(0.9 * star) < 1e-2
    assert run(1.1 * star) > 1e2


@settings(max_examples=15)
@given(lr=hyperparameter(LR).filter(lambda x: x > 0), momentum=hyperparameter(MOMENTUM),
       dampening=hyperparameter(DAMPENING).filter(lambda d: d < 1), nesterov=st.booleans())
def test_references_converge_below_and_diverge_above_the_momentum_threshold(lr, momentum, dampening, nesterov):
    """τ < 1, as the derivation states (at τ = 1 there is no threshold). The buffer starts at 0, not
    absent: torch's first step ignores dampening, a branch the derivation (t → ∞) leaves out, and
    with τ near 1 that one step alone multiplies θ by |1 - ηa| ≈ 1.8(1 + ρ)/(1 - τ) at 0.9× the
    threshold (3e16 at τ = 1 - 1e-16, a case Hypothesis found)."""
    dampening = 0.0 if nesterov else dampening
    values = {eta: lr, rho: momentum, tau: dampening}
    star = float(symopt.stability_threshold("momentum", nesterov=nesterov).xreplace(values))
    assert_threshold(lambda a: run_reference(reference.momentum, a, 3000, lr=lr, momentum=momentum,
                                             dampening=dampening, nesterov=nesterov,
                                             state={"momentum_buffer": np.zeros(1)}), star)


def test_momentum_states_that_dampening_1_has_no_threshold():
    assumptions = " ".join(prose_text(a) for a in derive(symopt.get("momentum"), "stability").assumptions)
    assert "not τ = 1: there the threshold is infinite" in assumptions
    assert symopt.stability_threshold("momentum").xreplace({tau: 1, eta: sp.Rational(1, 10)}) == sp.zoo
    adam = " ".join(prose_text(a) for a in derive(symopt.get("adam"), "stability").assumptions)
    assert "infinite" not in adam  # β₁ = 1 is outside Adam's range [0, 1)


@settings(max_examples=10)
@given(lr=hyperparameter(LR).filter(lambda x: x > 0), beta1=hyperparameter(BETA1).filter(lambda b: b < 0.99))
def test_reference_adam_with_a_held_second_moment_converges_below_and_diverges_above(lr, beta1):
    def hold(state, theta):  # v held at 1 before each step: inside the step v = β₂ + (1-β₂)g² ≈ β₂
        if state:
            state["exp_avg_sq"][...] = 1.0
        else:
            state.update(exp_avg=np.zeros_like(theta), exp_avg_sq=np.ones_like(theta))

    beta2, eps = 0.999, 1e-8
    scale = math.sqrt(beta2) + eps  # the held √v̂ + ε, by hand
    star = float(symopt.stability_threshold("adam").xreplace({eta: lr, b1: beta1})) * scale
    assert_threshold(lambda a: run_reference(reference.adam, a, 3000, hold=hold, lr=lr, beta1=beta1, beta2=beta2,
                                             eps=eps), star)


# --- the kernels' simulations, as the derivation prints them ----------------------------------------
@pytest.mark.parametrize("name", symopt.rules())
def test_kernel_converges_at_097_and_diverges_at_103_the_threshold(subtests, name):
    """For every rule the derivation applies to (decided when the test runs, not at collection)."""
    derived_or_said_why(subtests, [symopt.get(name)], "stability", converges_and_diverges)


def converges_and_diverges(rule):
    d = derive(rule, "stability")
    assert d.applies
    runs = d.values["simulation"] + d.values.get("decay simulation", ())
    assert [r.verdict for r in runs] == ["converges", "diverges"] * (len(runs) // 2)
    for r in runs:  # the measured growth follows the derived spectral radius to within a factor 10
        assert abs(math.log10(r.ratio) - math.log10(r.predicted)) < 1.0, r


def test_nesterov_simulation_agrees():
    d = derive(symopt.get("momentum", nesterov=True), "stability")
    assert all(r.agrees for r in d.values["simulation"])


def test_adam_with_a_free_preconditioner_does_not_diverge_above_the_threshold():
    largest, settled = derive(symopt.get("adam"), "stability").values["adaptive"]
    assert largest < 1.0 and settled < 1.0


@pytest.mark.parametrize("name, reason", [
    ("lion", "does not depend on the curvature"),
    ("adagrad", "grows without bound"),
    ("schedule-free-sgd", "has no long-run value"),
])
def test_rules_without_a_threshold_say_why_in_one_line(name, reason):
    d = derive(symopt.get(name), "stability")
    text = prose_text(d.summary)
    assert not d.applies and "\n" not in text
    with pytest.raises(symopt.SymoptError, match=reason):
        symopt.stability_threshold(name)


def test_cli_prints_the_threshold_and_the_verdicts(runner):
    from symopt.cli import main

    result = runner.invoke(main, ["derive", "momentum", "--only", "stability"])
    assert result.exit_code == 0, result.output
    assert "a = 2·(1 + ρ)/((1 - τ)·η)" in result.output
    assert result.output.count("agrees") == 4


# --- a threshold with step-dependent scalars: NAdam's μ_t, at finite t and at ψ = 0 ------------------
def test_nadam_threshold_at_finite_t_and_at_psi_0_has_the_values_computed_by_hand():
    """The figures of issue 18, computed from μ_t = β₁(1 - ½·0.96^(ψt)) by hand (β₁ = 0.9, η = 1):
    3.49 at t = 10 and 8.67 at t = 10⁴ with ψ = 4e-3; 3.486 at ψ = 0, where μ_t = β₁/2 for ever; and
    Nesterov's 2(1 + β₁)/((1 - β₁)(1 + 2β₁)) = 13.57 as t → ∞ for ψ > 0 only."""
    t = stability.threshold(symopt.get("nadam"))
    psi = symopt.get("nadam").hyper("momentum_decay").symbol

    def mu(step, decay):
        return 0.9 * (1 - 0.5 * 0.96 ** (decay * step))

    def finite(step, decay):
        return float(t.finite_scaled.xreplace({S.mu: mu(step, decay), S.mu_next: mu(step + 1, decay), b1: 0.9, eta: 1}))

    assert finite(10, 4e-3) == pytest.approx(3.49, abs=5e-3)
    assert finite(10**4, 4e-3) == pytest.approx(8.67, abs=5e-3)
    assert finite(10, 0.0) == pytest.approx(3.486, abs=5e-4)
    assert float(t.scaled.xreplace({psi: 0, b1: 0.9, eta: 1})) == pytest.approx(3.8 / 1.09)
    assert float(t.scaled.xreplace({psi: 4e-3, b1: 0.9, eta: 1})) == pytest.approx(3.8 / (0.1 * 2.8))


# --- the characteristic polynomial against NumPy's, for every rule that linearises -----------------
def _linearisations():
    for name in symopt.rules():
        try:
            yield name, stability.linearise(symopt.get(name))
        except symopt.SymoptError:
            continue


@pytest.mark.parametrize("name, lin", list(_linearisations()), ids=lambda x: x if isinstance(x, str) else "")
def test_characteristic_polynomial_has_the_coefficients_of_numpys_at_the_defaults(name, lin):
    """det(zI − M) by Berkowitz's expansion against np.poly of the numeric matrix (its eigenvalues):
    a law, independent of how the determinant is expanded; t at 10 where the step keeps a power of it."""
    values = lin.numeric(stability.defaults(lin.rule))
    values.update(stability.held_values(lin, values))
    values.update({stability.CURVATURE: sp.Float(0.37), S.t: sp.Integer(10)})
    matrix = np.array(lin.matrix.xreplace(values).evalf(), dtype=float)
    poly = sp.Poly(stability._characteristic(lin).xreplace(values), stability.Z)
    assert np.allclose([float(c) for c in poly.all_coeffs()], np.poly(matrix), rtol=1e-9, atol=1e-12)
