"""Weight norms: the equilibrium of scale-invariant weights, the angular update and the decay timescale,
against forms written from the literature (checks), and the random-walk simulations with the kernels."""

import pytest
import sympy as sp

import symopt
from symopt import symbols as S
from symopt.derive import derive, norms
from symopt.render import prose_text

eta, lam, rho, tau, b1 = S.eta, S.lam, S.rho, S.tau, S.beta1
c = norms.SCALE


def test_sgd_equilibrium_norm_and_angular_update():
    # ‖w‖² per coordinate: W²(1 - (1-ηλ)²) = η²c/W² (Pythagoras, van Laarhoven 2017)
    eq = norms.equilibrium(symopt.get("sgd"))
    assert sp.simplify(eq["norm"] ** 4 - eta * c / (lam * (2 - eta * lam))) == 0
    assert sp.simplify(eq["angular"] - sp.sqrt(2 * eta * lam)) == 0
    assert sp.simplify(eq["timescale"] - 1 / (eta * lam)) == 0


def test_momentum_angular_update_is_kosson_et_al():
    eq = norms.equilibrium(symopt.get("momentum"))
    # Kosson et al. (2023), SGD with momentum: sqrt(2ηλ/(1 + ρ)); torch's dampening scales η by (1 - τ)
    assert sp.simplify(eq["angular"] - sp.sqrt(2 * eta * lam * (1 - tau) / (1 + rho))) == 0
    # L2 through the buffer: the norm decays at the rate ηλ(1 - τ)/(1 - ρ), the momentum-amplified step
    assert sp.simplify(eq["rate"] - eta * (1 - tau) / (1 - rho)) == 0


def test_adamw_angular_update_to_first_order_is_kosson_et_al():
    eq = norms.equilibrium(symopt.get("adamw"))
    first_order = sp.sqrt(2 * eta * lam * (1 - b1) / (1 + b1))
    ratio = (eq["angular"] / first_order).xreplace({lam: 0})
    assert sp.simplify(ratio - 1) == 0
    assert sp.simplify(eq["shrink"] - norms.EFOLDS / (eta * lam)) == 0


@pytest.mark.parametrize("name", ["sgd", "momentum", "adamw"])
def test_random_walk_confirms_equilibrium_angle_and_shrink_time(name):
    walk = derive(symopt.get(name), "norms").values["simulation"]
    assert max(walk.errors()) <= norms.TOLERANCE, walk


def test_adamw_norm_measured_before_it_settles_is_outside_the_assumptions():
    # AdamW's v̂_t lags the gradient's growth while the norm shrinks: its steps are too large and the
    # norm approaches the equilibrium from above, slowly. The table shows it; the settled run agrees.
    walk = norms.simulate(symopt.get("adamw"))
    assert walk.unsettled_norm / walk.derived_norm - 1 > 2 * norms.TOLERANCE, walk
    assert walk.errors()[0] <= norms.TOLERANCE, walk


@pytest.mark.parametrize("name, reason", [
    ("adam", "passes through the preconditioner"),
    ("lion", "not linear"),
])
def test_rules_without_an_equilibrium_say_why(name, reason):
    d = derive(symopt.get(name), "norms")
    assert not d.applies and "\n" not in prose_text(d.summary)
    with pytest.raises(symopt.SymoptError, match=reason):
        norms.equilibrium(symopt.get(name))
