"""timm's cautious mask and AdamP's projection: laws the kernels keep, and the option's library keyword.

The cross-checks against timm's classes and the references run in tests/test_verify.py and
tests/test_witness.py over the registry; here, cheap laws of the two transforms on the kernels:
a mask of all ones changes nothing, a mask of all zeros leaves only the decay, and AdamP never
projecting (δ = 0) is AdamW. Rules are picked by their options, never named in a list.
"""

import inspect

import numpy as np
import pytest

import symopt
from symopt import symbols as S
from symopt.optimizers import option_keywords, option_values, rules, variants
from symopt.verify import import_library

CAUTIOUS = [name for name in rules() if "cautious" in option_values(name)]


def _cautious_pair(name):
    """The rule's first cautious variant and the same variant without the mask. An option may exist only
    beside others (LAMB's ``cautious`` with ``convention='timm'``), so the variant is read from the
    registry; where the decay may also be added to the update before a trust ratio (timm's LAMB without
    ``decoupled_decay``), the decoupled one, whose decay the mask leaves alone, as the laws below say."""
    chosen = next(v for v in variants(name) if v["cautious"] and v.get("decoupled_decay", True))
    return symopt.get(name, **{**chosen, "cautious": False}), symopt.get(name, **chosen)


@pytest.mark.parametrize("name", CAUTIOUS)
def test_a_cautious_variant_declares_a_class_that_takes_its_keyword(name):
    rule = _cautious_pair(name)[1]
    assert not rule.elementwise  # the mask's mean is over the whole tensor
    module, cls = rule.library
    keyword = option_keywords(name).get("cautious", "cautious")
    assert keyword in inspect.signature(getattr(import_library(module), cls)).parameters
    assert rule.source.startswith(module.partition(".")[0])


def _step(rule, params, grads, **hyper):
    kernel = rule.kernel()
    state = kernel.init(params, **hyper)
    for t, g in enumerate(grads, start=1):
        params, state = kernel.step(params, g, state, t, **hyper)
    return params


@pytest.mark.parametrize("name", CAUTIOUS)
def test_the_mask_is_one_where_every_element_agrees_and_zero_where_none_does(name):
    rng = np.random.default_rng(0)
    plain, cautious = _cautious_pair(name)
    params = rng.standard_normal((3, 4))
    grad = rng.standard_normal((3, 4)) + np.sign(rng.standard_normal((3, 4)))  # no element near 0
    hyper = {h.name: h.default for h in plain.hypers}
    if hyper.get("momentum") == 0:  # SGDP's default: its direction is the gradient itself, which always agrees
        hyper["momentum"] = 0.9
    if "beta2" in hyper:  # Adan masks its first moment's term alone: β₂ = 0 removes the differences' term
        hyper["beta2"] = 0.0
    # the first step's update has the gradient's sign everywhere: the mask is 1 and its mean 1
    np.testing.assert_allclose(_step(cautious, params, [grad], **hyper), _step(plain, params, [grad], **hyper),
                               rtol=1e-12, atol=0)
    # a step against a long history of the opposite gradient: no element agrees, the mean is
    # clamped at 1e-3 and the update is 0 on every element: only the decay moves the parameters
    history = [grad] * 30 + [-grad]
    decay_only = _step(cautious, params, history[:-1], **hyper)
    if hyper.get("weight_decay", 0.0):  # (timm's Adafactor with its relative step has no lr: it decays by none)
        decay_only = decay_only * (1 - hyper["lr"] * hyper["weight_decay"])
    np.testing.assert_allclose(_step(cautious, params, history, **hyper), decay_only, rtol=1e-12, atol=0)


def test_adamp_that_never_projects_is_adamw():
    # δ = 0: no cosine is below δ/√n, nothing is projected and the decay's ratio is 1
    rng = np.random.default_rng(1)
    params = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(5)]
    hyper = dict(lr=1e-2, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.1)
    adamp = _step(symopt.get("adamp"), params, grads, delta=0.0, wd_ratio=0.5, **hyper)
    np.testing.assert_allclose(adamp, _step(symopt.get("adamw"), params, grads, **hyper), rtol=1e-12, atol=0)


def test_adamp_removes_the_radial_part_of_each_channel():
    # a gradient orthogonal to each row of θ: the per-channel cosines are 0, every channel is
    # projected, and each row's step is orthogonal to that row (to first order in ε), the decay
    # multiplied by wd_ratio
    theta = np.array([[3.0, 4.0, 0.0], [0.0, 1.0, 1.0]])
    grad = np.array([[4.0, -3.0, 0.0], [1.0, 0.0, 0.0]])
    rule = symopt.get("adamp")
    hyper = dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, delta=0.1, wd_ratio=0.1)
    step = _step(rule, theta, [grad], **hyper) - theta
    assert np.all(np.abs(np.sum(step * theta, axis=1)) < 1e-8 * np.sum(theta * theta, axis=1))
    assert np.all(np.abs(step).sum(axis=1) > 1e-3)  # it moved, along the rows' tangents
    decayed = _step(rule, theta, [grad], **(hyper | {"weight_decay": 1.0}))
    np.testing.assert_allclose(decayed - theta - step, -hyper["lr"] * 0.1 * theta, rtol=1e-9, atol=1e-15)


SPHERICAL = [name for name in CAUTIOUS if S.tangent_grad in {eq.lhs for eq in _cautious_pair(name)[1].equations}]


@pytest.mark.parametrize("name", SPHERICAL)
def test_the_spherical_mask_is_timms_where_every_step_projects(name):
    # gradients at a cosine of 0.3 to each channel of θ₀, below δ/√(N/C) = 1/√6 with δ = 1: each step
    # projects per channel, where timm masks the update against the gradient projected likewise
    # (whose signs differ from g's where an element's radial part is the larger) and projects it
    # again (verify's generated cases project in about one case in eight)
    from symopt.strategies import Trajectory
    from symopt.verify import kernel_runner, library_runner

    rng = np.random.default_rng(1)
    plain, rule = _cautious_pair(name)
    hyper = {h.name: h.default for h in rule.hypers} | {"lr": 0.01, "weight_decay": 0.01, "delta": 1.0}
    if hyper.get("momentum") == 0:  # SGDP's default: its direction is the gradient itself, which always agrees
        hyper["momentum"] = 0.9
    theta = rng.standard_normal((4, 6))
    grads = []
    for _ in range(5):
        unit = theta / np.linalg.norm(theta, axis=1, keepdims=True)
        g = rng.standard_normal(theta.shape)
        g -= unit * np.sum(g * unit, axis=1, keepdims=True)
        grads.append(g / np.linalg.norm(g, axis=1, keepdims=True) + 0.3 * unit)
    case = Trajectory(np.dtype("float64"), theta, grads, hyper)
    ours, timm = kernel_runner(rule)(case), library_runner(rule, "timm")(case)
    for a, b in zip(ours, timm):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    masked = max(float(np.max(np.abs(a - b))) for a, b in zip(ours, kernel_runner(plain)(case)))
    assert masked > 1e-4  # the mask changed the steps


@pytest.mark.parametrize("caution", [False, True])
def test_timms_sgdw_without_momentum_is_sgd_and_outside_sgdws_range(caution):
    # timm's SGDW at momentum 0 (its default) keeps no buffer and masks nothing, whatever the
    # dampening: θ(1 - ηλ) - ηg, which is sgd's θ - η(g + λθ). sgdw's trace would dampen g from
    # step 2 there, so its momentum's range leaves 0 out and verification never draws it.
    import torch

    momentum = next(h for h in symopt.get("sgdw").hypers if h.name == "momentum")
    assert not momentum.contains(0.0) and momentum.contains(1e-3)
    rng = np.random.default_rng(2)
    params = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(4)]
    param = torch.tensor(params, dtype=torch.float64, requires_grad=True)
    sgdw = import_library("timm.optim.sgdw").SGDW([param], lr=0.1, momentum=0.0, dampening=0.5, weight_decay=0.2,
                                                  caution=caution, foreach=False)
    for g in grads:
        param.grad = torch.tensor(g, dtype=torch.float64)
        sgdw.step()
    sgd = _step(symopt.get("sgd"), params, grads, lr=0.1, weight_decay=0.2)
    np.testing.assert_allclose(param.detach().numpy(), sgd, rtol=1e-13, atol=1e-15)
def test_timms_proximal_adan_is_its_no_prox_adan_with_the_learning_rate_divided_by_one_plus_lr_lambda():
    # (θ - ηu)/(1 + ηλ) = θ(1 - η'λ) - η'u with η' = η/(1 + ηλ): u does not depend on η, so the two
    # decays are one optimizer under that map of the learning rate, step by step
    rng = np.random.default_rng(2)
    params = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(6)]
    hyper = dict(lr=0.05, beta1=0.9, beta2=0.8, beta3=0.95, eps=1e-8, weight_decay=0.5)
    prox = _step(symopt.get("adan", convention="timm"), params, grads, **hyper)
    mapped = hyper | {"lr": hyper["lr"] / (1 + hyper["lr"] * hyper["weight_decay"])}
    no_prox = _step(symopt.get("adan", convention="timm", no_prox=True), params, grads, **mapped)
    np.testing.assert_allclose(prox, no_prox, rtol=1e-12, atol=1e-15)
    assert np.max(np.abs(prox - _step(symopt.get("adan", convention="timm", no_prox=True), params, grads, **hyper))) > 1e-3
@pytest.mark.parametrize("variant", [v for v in variants("lamb") if v["convention"] == "timm" and not v["decoupled_decay"]],
                         ids=lambda v: "cautious" if v["cautious"] else "plain")
def test_lambs_trust_ratio_is_one_where_its_update_cancels_exactly(variant):
    # timm's _lamb_trust_ratio is 1 where the update's norm is 0: with the decay added to the update,
    # m̂/(√v̂ + ε) = 1/(1 + 1) at step 1 (g = 1, ε = 1) cancels λθ = 0.5·(-1) exactly, and θ stays
    # (‖θ‖/‖Δ‖ would be 1/0, and inf·0 NaN); verify's generated cases never cancel so
    rule = symopt.get("lamb", **variant)
    hyper = {h.name: h.default for h in rule.hypers} | {"eps": 1.0, "weight_decay": 0.5, "lr": 0.1}
    params = np.array([-1.0, -1.0])
    assert np.array_equal(_step(rule, params, [np.ones(2)], **hyper), params)


# --- timm's corrected weight decay (``corrected_weight_decay=True``; arXiv 2506.02285) ---------------------
CORRECTED = [name for name in rules() if "corrected_weight_decay" in option_values(name)]


def _corrected_variants(name):
    """The rule's variants with the corrected decay (read from the registry: the option may exist only
    beside others), each with its twin, the same variant without the correction. Outside CI all of them;
    in CI the first (the option's cost must not grow with the number of variants)."""
    from conftest import FULL

    chosen = [v for v in variants(name) if v["corrected_weight_decay"]]
    return [(symopt.get(name, **{**v, "corrected_weight_decay": False}), symopt.get(name, **v))
            for v in (chosen if FULL else chosen[:1])]


@pytest.mark.parametrize("name", CORRECTED)
def test_a_corrected_variant_declares_a_class_that_takes_its_keyword_and_reads_the_peak_lr_from_its_group(name):
    # the runner sets each step's hyperparameters in the parameter group by their library keywords: timm
    # must read the peak learning rate there at every step, under the keyword η_max declares
    for _, rule in _corrected_variants(name):
        module, cls = rule.library
        cls = getattr(import_library(module), cls)
        assert "corrected_weight_decay" in inspect.signature(cls).parameters
        assert f"group['{rule.hyper('max_lr').keyword}']" in inspect.getsource(cls.step)
        assert rule.source.startswith(module.partition(".")[0])


@pytest.mark.parametrize("name", CORRECTED)
def test_the_corrected_decay_is_the_uncorrected_one_with_lambda_times_lr_over_its_peak_at_every_step(name):
    # the decay per step is λη_t²/η_max: the twin without the correction, given λ_t = λη_t/η_max at each
    # step of a decaying schedule η_t ≤ η_max, takes the same steps (an equivalence of two chains, on the
    # kernels); with the twin's λ unmapped they differ once η_t < η_max
    rng = np.random.default_rng(3)
    params = rng.standard_normal((3, 4))
    grads = [rng.standard_normal((3, 4)) for _ in range(6)]
    schedule = [2e-2, 2e-2, 1e-2, 5e-3, 2e-3, 1e-3]
    for plain, corrected in _corrected_variants(name):
        hyper = {h.name: h.default for h in corrected.hypers} | {"weight_decay": 0.5, "max_lr": schedule[0]}
        twin_hyper = {k: v for k, v in hyper.items() if k != "max_lr"}
        ours, twin, unmapped = params, params, params
        k_ours, k_twin = corrected.kernel(), plain.kernel()
        s_ours, s_twin, s_unmapped = k_ours.init(params, **hyper), k_twin.init(params, **twin_hyper), \
            k_twin.init(params, **twin_hyper)
        for t, (g, lr) in enumerate(zip(grads, schedule), start=1):
            ours, s_ours = k_ours.step(ours, g, s_ours, t, **(hyper | {"lr": lr}))
            mapped = twin_hyper | {"lr": lr, "weight_decay": hyper["weight_decay"] * lr / hyper["max_lr"]}
            twin, s_twin = k_twin.step(twin, g, s_twin, t, **mapped)
            unmapped, s_unmapped = k_twin.step(unmapped, g, s_unmapped, t, **(twin_hyper | {"lr": lr}))
        np.testing.assert_allclose(ours, twin, rtol=1e-12, atol=1e-15)
        assert np.max(np.abs(ours - unmapped)) > 1e-6  # the correction changed the steps


@pytest.mark.parametrize("name", CORRECTED)
def test_the_derived_decay_is_lr_over_its_peak_times_the_uncorrected_rules_and_the_same_at_the_peak(name):
    # effective-weight-decay's one-step λ_eff (in units of η) of a corrected variant is η/η_max times its
    # twin's; the derivation states that at η = η_max it is the twin's, which this reads from its step
    import sympy as sp

    from symopt.derive.weight_decay import applies, derivation, effective_weight_decay

    pairs = [(plain, rule) for plain, rule in _corrected_variants(name) if applies(rule)]
    if not pairs:  # a rule on whole tensors (timm's LAMB): the elementwise derivation does not apply
        assert not any(applies(rule) for _, rule in _corrected_variants(name))
        return
    for plain, rule in pairs:
        eta, eta_max = rule.hyper("lr").symbol, rule.hyper("max_lr").symbol
        ours, theirs = (effective_weight_decay(r, "one-step") for r in (rule, plain))
        assert sp.simplify(ours - eta / eta_max * theirs) == 0
        stated = derivation(rule).steps[-1].equations[0].rhs  # "at the peak, η = η_max: λ_eff = ..."
        assert sp.simplify(stated - derivation(plain).results[0].rhs) == 0
