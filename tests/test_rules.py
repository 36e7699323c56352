"""The rules as data: chains, the note's equations, torch's defaults, equivalences, bad names."""

import pytest
import sympy as sp

import symopt
from symopt import symbols as S
from symopt.compare import same_step
from symopt.core import chain, rule
from symopt.errors import SymoptError, UnknownNameError
from symopt.hyperparameters import BETA1, BETA2, EPS, LR, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, scale_by_adam, scale_by_learning_rate


def equations(r):
    return [(eq.lhs, eq.rhs) for eq in r.equations]


def test_adam_and_adamw_are_one_chain_with_the_decay_moved():
    adam, adamw = symopt.get("adam"), symopt.get("adamw")
    assert sorted(adam.transforms) == sorted(adamw.transforms)
    assert adam.transforms == ("add_decayed_weights", "scale_by_adam", "scale_by_learning_rate")
    assert adamw.transforms == ("scale_by_adam", "add_decayed_weights", "scale_by_learning_rate")


def test_adamw_without_decay_is_adam_without_decay():
    adam, adamw = symopt.get("adam"), symopt.get("adamw")
    assert same_step(adam, adamw, {S.lam: 0})
    assert not same_step(adam, adamw)


def test_adam_without_bias_correction_is_the_notes_adam():
    # ../shared/seeds/optimization-note.md, section Adam, transcribed by hand.
    g, lam, theta, b1, b2, eta, eps = S.g, S.lam, S.theta_prev, S.beta1, S.beta2, S.eta, S.epsilon
    note = [
        (S.g, g + lam * theta),
        (S.m, b1 * S.m_prev + (1 - b1) * g),
        (S.v, b2 * S.v_prev + (1 - b2) * g**2),
        (S.theta, theta - eta * S.m / (sp.sqrt(S.v) + eps)),
    ]
    assert equations(symopt.get("adam", bias_correction=False)) == note


def test_adamw_last_line_is_the_notes():
    # The note's AdamW: θ_t = θ_{t-1} - η m_t/(√v_t + ε) - η λ θ_{t-1}, with m̂, v̂ for m, v.
    last = symopt.get("adamw").equations[-1]
    theta = S.theta_prev
    assert (last.lhs, last.rhs) == (S.theta, theta - S.eta * S.mhat / (sp.sqrt(S.vhat) + S.epsilon) - S.eta * S.lam * theta)


def test_sgd_and_momentum_reduce_to_the_notes_forms():
    sgd = symopt.get("sgd").step_map()[S.theta]
    assert sgd.subs(S.lam, 0) == S.theta_prev - S.eta * S.g
    momentum = symopt.get("momentum").step_map()
    after_first = {sp.Eq(S.t, 1): sp.false}
    assert momentum[S.b].subs(after_first).subs({S.tau: 0, S.lam: 0}) == S.rho * S.b_prev + S.g
    assert momentum[S.theta].subs(after_first).subs({S.tau: 0, S.lam: 0}) == S.theta_prev - S.eta * (S.rho * S.b_prev + S.g)


def test_momentum_skips_dampening_on_the_first_step_like_torch():
    b = symopt.get("momentum").step_map()[S.b].subs(S.lam, 0)
    assert b.subs(S.t, 1) == S.g
    assert b.subs(S.t, 2) == S.rho * S.b_prev + (1 - S.tau) * S.g


def test_nesterov_direction_is_gradient_plus_momentum_times_buffer():
    last = symopt.get("momentum", nesterov=True).equations[-1]
    assert last.rhs == S.theta_prev - S.eta * S.g - S.eta * S.rho * S.b


def test_defaults_are_torch_optims():
    # torch.optim documentation: SGD(lr=1e-3, momentum=0, dampening=0, weight_decay=0),
    # Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0), AdamW(..., weight_decay=1e-2).
    torch = {
        "sgd": {"lr": 1e-3, "weight_decay": 0.0},
        "momentum": {"lr": 1e-3, "dampening": 0.0, "weight_decay": 0.0, "momentum": 0.9},
        "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
        "adamw": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
    }
    for name, defaults in torch.items():
        assert {h.name: h.default for h in symopt.get(name).hypers} == defaults


def test_rules_are_data_with_summary_reference_and_state():
    for name in symopt.rules():
        r = symopt.get(name)
        assert r.summary and r.reference and r.equations[-1].lhs == S.theta
        # each state starts at 0, at a hyperparameter (Adagrad's s₀), at 1 (a product, NAdam's Π),
        # at -1 (Schedule-Free's largest learning rate so far) or at θ₀ (its z and x)
        assert all(s.init in (0, 1, -1, S.theta0) or s.init in {h.symbol for h in r.hypers} for s in r.states)


def test_a_rule_is_built_from_any_chain():
    decay_last = rule(
        "adamw-unscaled", "decay not scaled by η", "test",
        chain("x", scale_by_adam(BETA1, BETA2, EPS), scale_by_learning_rate(LR), add_decayed_weights(WEIGHT_DECAY)),
    )
    assert decay_last.equations[-1].rhs == S.theta_prev - S.eta * S.mhat / (sp.sqrt(S.vhat) + S.epsilon) - S.lam * S.theta_prev


def test_unknown_rule_names_the_closest_match():
    with pytest.raises(UnknownNameError, match=r"unknown rule 'adma' \(closest: 'adam'\); valid: sgd, momentum, adam, adamw"):
        symopt.get("adma")


def test_unknown_and_invalid_options():
    with pytest.raises(UnknownNameError, match="closest: 'nesterov'"):
        symopt.get("momentum", nestrov=True)
    with pytest.raises(SymoptError, match="epsilon must be one of 'outside', 'inside', 'hat'"):
        symopt.get("adam", epsilon="under")
    with pytest.raises(SymoptError, match="nesterov must be True or False"):
        symopt.get("momentum", nesterov="yes")


def test_symbols_are_declared_once():
    """Every symbol in every rule is the one object of that name in symopt.symbols."""
    declared = {s.name: s for s in vars(S).values() if isinstance(s, sp.Symbol)}
    variants = [symopt.get(name) for name in symopt.rules()]
    variants += [symopt.get("adam", bias_correction=False, epsilon="hat"), symopt.get("momentum", nesterov=True)]
    for r in variants:
        for eq in r.equations:
            for symbol in eq.rhs.free_symbols | {eq.lhs}:
                assert declared.get(symbol.name) is symbol, symbol
