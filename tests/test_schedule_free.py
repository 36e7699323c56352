"""Schedule-Free SGD and AdamW: the derived averaging weights and momentum form against the rules'
own kernels, and the kernels against the schedulefree package (y while training, x after eval())."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from conftest import require

import symopt
from symopt import symbols as S
from symopt.derive import averaging
from symopt.optimizers import RULES as REGISTERED

# The rules the iterate-averaging derivation applies to (Schedule-Free's), from the registry.
RULES = [name for name in REGISTERED if averaging.applies(symopt.get(name))]


def _derived(name):
    return symopt.derive.derive(symopt.get(name), "iterate-averaging")


def _run(name, steps, hyper, grads=None, seed=0, n=4):
    """y, z and x after each step of the rule's kernel."""
    kernel = symopt.get(name).kernel()
    rng = np.random.default_rng(seed)
    params = rng.uniform(1, 2, n)
    state = kernel.init(params)
    ys, zs, xs = [], [], []
    for t in range(1, steps + 1):
        g = rng.standard_normal(n) if grads is None else grads(t)
        params, state = kernel.step(params, g, state, t, **hyper)
        ys.append(params.copy())
        zs.append(state["z"].copy())
        xs.append(kernel.eval_params(params, state).copy())
    return ys, zs, xs


@pytest.mark.parametrize("name", RULES)
def test_x_is_the_average_of_z_with_the_derived_weights(name):
    """Warmup, r > 0 and a power of the learning rate other than 2: x_T = Σ w_t z_t / Σ w_t with w_t
    from the derivation's closed forms, during warmup and after. Uniform weights would fail."""
    d = _derived(name)
    lr, warm, r, p = 0.05, 5, 1.5, 1.3
    symbols = {h.name: h.symbol for h in symopt.get(name).hypers}
    values = {symbols["lr"]: lr, symbols["warmup_steps"]: warm, symbols["r"]: r, symbols["weight_lr_power"]: p}
    during = sp.lambdify(S.t, d.values["weight during warmup"].xreplace(values))
    after = sp.lambdify(S.t, d.values["weight after warmup"].xreplace(values))
    T = 12
    _, zs, xs = _run(name, T, {"lr": lr, "warmup_steps": warm, "r": r, "weight_lr_power": p})
    weights = np.array([during(t) if t <= warm else after(t) for t in range(1, T + 1)])
    expected = sum(w * z for w, z in zip(weights, zs)) / weights.sum()
    np.testing.assert_allclose(xs[-1], expected, rtol=1e-12)
    uniform = sum(zs) / T
    assert not np.allclose(xs[-1], uniform, rtol=1e-6)  # the test can tell the weights apart


@pytest.mark.parametrize("name", RULES)
def test_the_normalised_weights_with_warmup_are_the_kernels(name):
    """The witness: x_T from the kernel, after a warmup, written as a combination of z_1..z_T (T
    parameters, so that the combination is unique), has the derived normalised weights with warmup,
    and its last weight is the one the derivation prints, not the form without warmup."""
    d = _derived(name)
    witness = d.values["warmup witness"]
    T, warm, r, p = witness["at"]["T"], witness["at"]["T_w"], witness["at"]["r"], witness["at"]["p"]
    symbols = {h.name: h.symbol for h in symopt.get(name).hypers}
    values = {symbols["lr"]: 0.05, symbols["warmup_steps"]: warm, symbols["r"]: r, symbols["weight_lr_power"]: p,
              averaging.T: T}
    forms = {k: sp.lambdify(S.t, v.xreplace(values).doit()) for k, v in d.values["normalised weight with warmup"].items()}
    derived = np.array([forms["during" if t <= warm else "after"](t) for t in range(1, T + 1)])
    _, zs, xs = _run(name, T, {"lr": 0.05, "warmup_steps": float(warm), "r": r, "weight_lr_power": float(p)}, n=T)
    measured = np.linalg.solve(np.array(zs).T, xs[-1])
    np.testing.assert_allclose(measured, derived, rtol=1e-6, atol=1e-9)
    assert abs(measured[-1] - witness["warmup"]) < 1e-6
    assert abs(measured[-1] - witness["no warmup"]) > 5e-4  # the form without warmup is off by more


def test_with_r_zero_and_no_warmup_x_is_the_plain_average():
    d = _derived("schedule-free-sgd")
    T = averaging.T
    assert d.values["normalised weight"].xreplace({S.r_power: 0}).doit().equals(1 / T)
    _, zs, xs = _run("schedule-free-sgd", 9, {"lr": 0.1})
    np.testing.assert_allclose(xs[-1], sum(zs) / 9, rtol=1e-13)


def test_beta_zero_and_one_are_polyak_ruppert_and_primal_averaging():
    ys, zs, xs = _run("schedule-free-sgd", 6, {"lr": 0.1, "momentum": 0.0})
    np.testing.assert_array_equal(ys[-1], zs[-1])  # the gradient is taken at z
    ys, zs, xs = _run("schedule-free-sgd", 6, {"lr": 0.1, "momentum": 1.0})
    np.testing.assert_array_equal(ys[-1], xs[-1])  # at the average


def test_momentum_form_coefficients_are_the_kernels_impulse_response():
    """A gradient of 1 at step s and 0 elsewhere: y_T - y_0 is the derived coefficient a(s)."""
    d = _derived("schedule-free-sgd")
    beta, lr, T = 0.7, 0.1, 9
    coefficient = d.values["momentum coefficient"]
    kernel = symopt.get("schedule-free-sgd").kernel()
    for s in (1, 4, T):
        params = np.zeros(1)
        state = kernel.init(params)
        for t in range(1, T + 1):
            params, state = kernel.step(params, np.full(1, 1.0 if t == s else 0.0), state, t, lr=lr, momentum=beta)
        derived = float(coefficient.xreplace({d.values["beta"]: beta, S.eta: lr, averaging.T: T, averaging.s_: s}))
        assert params[0] == pytest.approx(derived, rel=1e-12)


def test_constant_gradient_step_settles_at_the_derived_limit():
    d = _derived("schedule-free-sgd")
    beta, lr = 0.6, 0.01
    limit = float(d.values["constant-gradient step"].xreplace({d.values["beta"]: beta, S.eta: lr}))
    ys, _, _ = _run("schedule-free-sgd", 4000, {"lr": lr, "momentum": beta}, grads=lambda t: np.ones(2), n=2)
    assert (ys[-1] - ys[-2])[0] == pytest.approx(limit, rel=1e-3)


@pytest.mark.parametrize("name", RULES)
def test_eval_params_is_x_and_the_derived_eval_formula(name):
    beta = 0.8
    key = "momentum" if name == "schedule-free-sgd" else "beta1"
    ys, zs, xs = _run(name, 7, {"lr": 0.02, key: beta})
    np.testing.assert_allclose(xs[-1], (ys[-1] - (1 - beta) * zs[-1]) / beta, rtol=1e-12)


@pytest.fixture(scope="module")
def schedulefree():
    return require("schedulefree", install="pip install schedulefree==1.4.1")


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_y_and_x_follow_the_package(torch, schedulefree, name, dtype):
    """Warmup, weight decay, r > 0 and weight_lr_power ≠ 2: y after each step as the package's
    parameters in train mode, x as them after eval() (then train() again)."""
    from symopt.strategies import TOLERANCE, Trajectory
    from symopt.verify import compare_trajectories, kernel_runner, magnitude_runner

    rule = symopt.get(name)
    rng = np.random.default_rng(3)
    hyper = {h.name: h.default for h in rule.hypers}
    hyper.update(lr=0.05, weight_decay=0.01, warmup_steps=4.0, r=0.5, weight_lr_power=1.5)
    case = Trajectory(np.dtype(dtype), rng.standard_normal((3, 2)).astype(dtype),
                      [rng.standard_normal((3, 2)).astype(dtype) for _ in range(30)], hyper)
    cls = getattr(schedulefree, rule.library[1])
    param = torch.tensor(case.params.copy(), requires_grad=True)
    arguments = {k: (int(v) if k == "warmup_steps" else v) for k, v in hyper.items() if k not in ("beta1", "beta2")}
    if "beta1" in hyper:
        arguments["betas"] = (hyper["beta1"], hyper["beta2"])
    optimizer = cls([param], foreach=False, **arguments)
    optimizer.train()
    kernel = rule.kernel()
    params, state = case.params.copy(), kernel.init(case.params)
    ys, xs, kernel_xs = [], [], []
    for t, g in enumerate(case.grads, start=1):
        param.grad = torch.tensor(g.copy())
        optimizer.step()
        ys.append(param.detach().numpy().copy())
        optimizer.eval()
        xs.append(param.detach().numpy().copy())
        optimizer.train()
        params, state = kernel.step(params, g, state, t, **hyper)
        kernel_xs.append(kernel.eval_params(params, state).copy())
    tolerance = TOLERANCE[np.dtype(dtype)]
    errors = compare_trajectories(case.params, ys, kernel_runner(rule)(case), tolerance, magnitude_runner(rule)(case))
    assert errors.first is None, errors.first
    # x: the package recovers it from y and z, x = (y - (1 - β) z)/β, whose rounding adds
    # (M_y + (1 - β) M_z + |y| + |(1 - β) z|)/β to x's own running bound.
    beta = hyper.get("momentum", hyper.get("beta1"))
    y_bound, z_bound, x_bound = (magnitude_runner(rule, of)(case) for of in ("", "z", "x"))
    zs = []
    params, state = case.params.copy(), kernel.init(case.params)
    for t, g in enumerate(case.grads, start=1):
        params, state = kernel.step(params, g, state, t, **hyper)
        zs.append(np.abs(state["z"]) * (1 - beta) + np.abs(params))
    scales = [x + (y + (1 - beta) * z + mag) / beta for x, y, z, mag in zip(x_bound, y_bound, z_bound, zs)]
    errors = compare_trajectories(case.params, xs, kernel_xs, tolerance, scales)
    assert errors.first is None, errors.first


def test_verify_against_schedulefree_passes_and_names_what_it_lacks(runner, torch, schedulefree):
    from symopt import cli

    result = runner.invoke(cli.main, ["verify", *RULES, "adam", "--against", "schedulefree", "--examples", "30"])
    assert result.exit_code == 0, result.output
    assert result.output.count("PASS") == len(RULES) and "skipped: schedulefree has no adam" in result.output
