"""Lazy against rich on a diagonal linear network: the conserved quantity against its law, the first
step's change against forms written by hand, and the experiment's numbers against the regimes."""

import numpy as np
import pytest
import sympy as sp

import symopt
from symopt import symbols as S
from symopt.derive import derive, lazy_rich

u, v, r, eta, lam = lazy_rich.U, lazy_rich.V, lazy_rich.R, S.eta, S.lam


def test_gradient_flow_conserves_the_product_of_the_factors():
    q = lazy_rich.conserved()
    # the law: along du/dt = -2ur, dv/dt = 2vr the rate of q vanishes, and q is not a constant
    assert sp.expand(sp.diff(q, u) * (-2 * u * r) + sp.diff(q, v) * (2 * v * r)) == 0
    assert q.has(u) and q.has(v)


def test_sgd_step_scales_the_quantity_by_a_factor_written_by_hand():
    # u1 = u(1 - 2ηr - ηλ), v1 = v(1 + 2ηr - ηλ): u1 v1 = uv((1 - ηλ)² - 4η²r²)
    change = lazy_rich.first_step(symopt.get("sgd"))["change"]
    assert sp.simplify(change - u * v * ((1 - eta * lam) ** 2 - 4 * eta**2 * r**2 - 1)) == 0


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_first_step_breaks_the_conservation_at_first_order(name):
    # sign descent at the first step: u1 = u - η sign(r), v1 = v + η sign(r); Δ(uv) = η sign(r)(u - v) - η²
    step = lazy_rich.first_step(symopt.get(name))
    assert sp.simplify(step["no decay"] - eta * sp.sign(r) * (u - v)) == 0
    assert sp.simplify(step["change"].xreplace({lam: 0}) - (eta * sp.sign(r) * (u - v) - eta**2)) == 0
    assert sp.simplify(step["imbalance"] + 2 * eta * sp.sign(r)) == 0  # u1 - v1 from u = v


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_the_regime_is_read_off_the_movement_and_agrees_with_uv(name):
    """The verdicts follow from the movement numbers: every 'lazy' row moved less than LAZY of the
    initial norm, every 'rich' one more than RICH times it; and a lazy run nearly conserves uv (an
    independent consequence: if θ moves by δ relative to α, uv moves by at most about 2δ + δ² of α²
    per coordinate, which the table's drift column must respect only loosely, so within a factor)."""
    d = derive(symopt.get(name), "lazy-rich")
    runs = d.values["runs"]
    assert {r.sampling for r in runs} == {s for s, _ in lazy_rich.SAMPLINGS}  # full-batch GD and minibatch SGD
    for run in runs:
        kind = lazy_rich.regime(run)
        if kind == "lazy":
            assert run.movement <= lazy_rich.LAZY
            assert run.drift < 0.1  # uv conserved to 10% or better where the run is lazy
        elif kind == "rich":
            assert run.movement >= lazy_rich.RICH
    for sampling, _ in lazy_rich.SAMPLINGS:
        for run in runs:
            if run.sampling == sampling and lazy_rich.regime(run) in ("lazy", "rich"):
                assert f"{lazy_rich.regime(run)} at alpha = " in str(d.summary)


def test_adam_is_lazy_at_large_scale_and_its_lazy_solution_is_not_the_minimum_l2_one():
    """The issue's numbers: at alpha >= 1 Adam moves about 5% and 0.6% of its initial norm and uv is
    conserved to 1e-2; gradient descent's lazy solution is the minimum-l2 one, Adam's is not."""
    refs = lazy_rich.references()
    adam = [r for r in lazy_rich.simulate(symopt.get("adam")) if r.scale >= 1]
    assert all(lazy_rich.regime(r) == "lazy" and r.drift < 1e-2 for r in adam), adam
    assert all(abs(r.l1 / refs["min-l2"] - 1) > lazy_rich.TOLERANCE for r in adam), adam
    sgd = [r for r in lazy_rich.simulate(symopt.get("sgd")) if lazy_rich.regime(r) == "lazy"]
    assert sgd and all(abs(r.l1 / refs["min-l2"] - 1) <= lazy_rich.TOLERANCE for r in sgd), sgd


def test_the_claim_status_follows_from_the_sweep():
    """'wrong' only when the claim fails at every alpha for every seed; the table's counts agree."""
    found = lazy_rich.claim_regimes([symopt.get("sgd"), symopt.get("adam")])
    counts = [int(row[-1].split(" of ")[0]) for row in found["table"].rows]
    n = len(lazy_rich.CLAIM_SEEDS)
    assert found["fails"] == tuple(a for a, c in zip(lazy_rich.SCALES, counts) if c == 0)
    assert found["holds"] == tuple(a for a, c in zip(lazy_rich.SCALES, counts) if c == n)
    expected = "wrong" if len(found["fails"]) == len(lazy_rich.SCALES) else (
        "measured" if len(found["holds"]) == len(lazy_rich.SCALES) else "contested")
    assert found["status"] == expected


def test_the_gradient_is_the_same_bits_without_blas():
    """The experiment's product is an elementwise product and a sum (no BLAS kernel chosen by CPU):
    it equals the matrix product to rounding."""
    X, y, w = lazy_rich.problem()
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, lazy_rich.FEATURES))
    np.testing.assert_allclose(lazy_rich._dot(a, X), a @ X.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, X @ w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, reason", [("lion", "through sign"), ("schedule-free-sgd", "scalar state")])
def test_rules_it_does_not_apply_to_say_why(name, reason):
    d = derive(symopt.get(name), "lazy-rich")
    assert not d.applies and reason in str(d.summary)


def test_derive_lists_it_on_request_and_prints_it_with_only(runner):
    from symopt.cli import main

    listed = runner.invoke(main, ["derive", "sgd"])
    assert listed.exit_code == 0 and "symopt derive sgd --only lazy-rich" in listed.output
    result = runner.invoke(main, ["derive", "sgd", "--only", "lazy-rich"])
    assert result.exit_code == 0, result.output
    assert "rich" in result.output and "near the sparse one" in result.output and "diverged" in result.output
