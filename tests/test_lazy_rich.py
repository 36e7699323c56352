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


def test_the_experiment_sgd_is_rich_at_small_scale_and_lazy_at_large_adam_is_neither():
    refs = lazy_rich.references()
    sgd = derive(symopt.get("sgd"), "lazy-rich").values["runs"]
    adam = derive(symopt.get("adam"), "lazy-rich").values["runs"]
    tol = lazy_rich.TOLERANCE
    assert abs(sgd[0].l1 / refs["sparse"] - 1) <= tol, sgd  # α = 0.01
    assert abs(sgd[2].l1 / refs["min-l2"] - 1) <= tol, sgd  # α = 1
    assert not np.isfinite(sgd[-1].l1), sgd  # α = 3: past SGD's stability threshold (outside)
    l1 = [run.l1 for run in adam]
    assert max(l1) / min(l1) - 1 <= 2 * tol and min(l1) > (1 + tol) * refs["min-l2"], adam
    assert all(run.residual <= lazy_rich.FITTED for run in adam), adam


@pytest.mark.parametrize("name, reason", [("lion", "sign of a sum"), ("schedule-free-sgd", "copy of the parameters")])
def test_rules_it_does_not_apply_to_say_why(name, reason):
    d = derive(symopt.get(name), "lazy-rich")
    assert not d.applies and reason in str(d.summary)


def test_derive_lists_it_on_request_and_prints_it_with_only(runner):
    from symopt.cli import main

    listed = runner.invoke(main, ["derive", "sgd"])
    assert listed.exit_code == 0 and "symopt derive sgd --only lazy-rich" in listed.output
    result = runner.invoke(main, ["derive", "sgd", "--only", "lazy-rich"])
    assert result.exit_code == 0, result.output
    assert "rich (near the sparse solution)" in result.output and "diverged" in result.output
