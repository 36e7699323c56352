"""The open core: one table of operations, states that cannot collide, derivations that check their
own completeness, and the registry as the only list. Every test here runs over the registry."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy as sp

import symopt
from symopt import ops, printing, render
from symopt import symbols as S
from symopt.core import Assign, State, Transform, chain, rule
from symopt.derive import MODULES, ON_REQUEST, analysis, derive, weight_decay
from symopt.errors import NotDerivable, SymoptError
from symopt.hyperparameters import BETA1, BETA2, EPS, LR, MOMENTUM
from symopt.optimizers import RULES, label, option_values, variants
from symopt.transforms import BUFFER, SECOND_MOMENT, accumulate, scale_by_adam, scale_by_learning_rate

from conftest import registry_sample

ALL = [symopt.get(name, **options) for name in RULES for options in variants(name)]
# The symbolic checks that cost seconds a variant: every variant outside CI, in CI each rule's default
# and two more drawn with a fixed seed (tests/conftest.py's registry_sample).
SAMPLED = registry_sample()
DECAYING = registry_sample(weight_decay.applies)


# --- the table of operations -------------------------------------------------------------------------
def test_a_rule_using_an_operation_outside_the_table_fails_when_built_naming_it():
    floor = Transform("floor", lambda u: ((), sp.floor(u)))
    with pytest.raises(SymoptError, match="operation floor is not in symopt's operation table"):
        rule("floored", "a rule with floor", "none", chain("floored", floor, scale_by_learning_rate(LR)))


def test_a_branch_on_an_array_is_refused_and_one_on_the_step_counter_is_not():
    on_array = Transform("clip", lambda u: ((), sp.Piecewise((u, u > 0), (0, True))))
    with pytest.raises(SymoptError, match="branch on an array value"):
        rule("clipped", "", "", chain("c", on_array, scale_by_learning_rate(LR)))
    on_step = Transform("warm", lambda u: ((), sp.Piecewise((u / 2, sp.Eq(S.t, 1)), (u, True))))
    assert rule("warm", "", "", chain("w", on_step, scale_by_learning_rate(LR))).equations


@pytest.mark.parametrize("rule_", ALL, ids=label)
def test_every_registered_rule_uses_only_algebra_and_the_table(rule_):
    for eq in rule_.equations:
        ops.check(eq.rhs, rule_.name)  # raises otherwise
        for operation in ops.used(eq.rhs):
            assert operation.in_rules and operation.bound is not None


def test_every_operation_has_its_lowering_notation_and_bound_declared_once():
    for operation in ops.OPERATIONS:
        x = S.g
        sample = {sp.Pow: sp.sqrt(x), sp.Abs: sp.Abs(x), sp.sign: sp.sign(x), sp.Max: sp.Max(x, S.m),
                  sp.Min: sp.Min(x, S.m), sp.Piecewise: sp.Piecewise((x, sp.Eq(S.t, 1)), (2 * x, True)),
                  sp.Heaviside: sp.Heaviside(x), sp.DiracDelta: sp.DiracDelta(x),
                  sp.exp: sp.exp(S.beta1 * S.t), sp.log: sp.log(S.beta1)}.get(operation.sympy)  # of scalars only
        if operation.name == "case split":  # a Piecewise on array values, which only derivations make
            sample = sp.Piecewise((x, x > S.m), (2 * x, True))
        if sample is None:  # the whole-tensor operations: a function of so many arrays
            (arity,) = operation.sympy.nargs
            sample = operation.sympy(*[x, S.m, *sp.symbols(f"c1:{arity - 1}")][:arity])
        assert ops.lookup(sample) is operation
        text, latex = printing.text(sample), printing.latex(sample)
        assert text and latex and "Heaviside" not in text and "theta" not in latex  # not θ(x): that is a parameter
        if operation.in_rules and operation.numpy is not None:
            assert isinstance(getattr(np, operation.numpy), np.ufunc)


def test_exp_and_log_are_operations_of_scalars_only():
    """exp and log of the step counter and the hyperparameters (AdEMAMix's warm-up of β₃) are in the
    table; of an array they are not (kernels compute them with Python's math, before the arrays)."""
    on_array = Transform("exp", lambda u: ((), sp.exp(u)))
    with pytest.raises(SymoptError, match="the operation exp is not in symopt's operation table"):
        rule("exped", "", "", chain("e", on_array, scale_by_learning_rate(LR)))
    on_scalars = Transform("warm", lambda u: ((), sp.exp(sp.log(S.beta1) * S.t) * u), hypers=(BETA1,))
    made = rule("warm", "", "", chain("w", on_scalars, scale_by_learning_rate(LR)))
    kernel = made.kernel()
    params, _ = kernel.step(np.array([1.0]), np.array([2.0]), kernel.init(np.array([1.0])), 3, lr=0.5, beta1=0.5)
    assert params[0] == 1.0 - 0.5 * 0.5**3 * 2.0


# --- states ------------------------------------------------------------------------------------------
def test_two_transforms_keeping_the_same_state_are_an_error():
    with pytest.raises(ValueError, match="two transforms declare the state"):
        chain("twice", accumulate(SECOND_MOMENT, MOMENTUM), scale_by_adam(BETA1, BETA2, EPS))
    assert BUFFER.new != SECOND_MOMENT.new  # the momentum buffer is b, the second moment v


def test_a_scalar_state_that_reads_an_array_is_refused():
    bad = State("w", sp.Symbol("W_t"), sp.Symbol("W_tm1"), scalar=True)

    def apply(u):
        return (Assign(bad.new, bad.prev + u**2),), u

    with pytest.raises(SymoptError, match="scalar state w depends on an array"):
        rule("bad", "", "", chain("bad", Transform("sum", apply, states=(bad,)), scale_by_learning_rate(LR)))


# --- derivations check themselves ----------------------------------------------------------------
@pytest.mark.parametrize("rule_", DECAYING, ids=label)
def test_lambda_eff_split_by_state_plus_the_flows_between_equals_the_total_derivative(rule_):
    """One step: the paths (direct, through each state, between states) add up to ∂θ_t/∂λ, and that
    tangent, taken equation by equation, equals differentiating the resolved step map directly."""
    lam, eta = rule_.hyper("weight_decay").symbol, rule_.hyper("lr").symbol
    parts = weight_decay.paths(rule_, "one-step")
    assert set(parts) <= {"direct", "between", *(s.name for s in rule_.states)}
    total = weight_decay.total_tangent(rule_, "one-step")
    # Resolve the rule's named intermediates into the state before the step, then compare with the
    # derivative of the step map itself, which knows nothing of tangents or paths.
    resolved = _resolve(rule_)
    direct = sp.diff(rule_.step_map()[S.theta], lam).subs(lam, 0)
    direct = ops.almost_everywhere(direct)[0]
    assert _same(total.subs(lam, 0).xreplace(resolved), direct)
    in_units = -lam / (eta * S.theta_prev) * total.subs(lam, 0)
    assert _same(sp.Add(*parts.values()).xreplace(resolved), in_units.xreplace(resolved))


@pytest.mark.parametrize("rule_", DECAYING, ids=label)
def test_steady_lambda_eff_paths_add_up_where_a_steady_state_exists(rule_):
    try:
        parts = weight_decay.paths(rule_, "steady")
    except NotDerivable as exc:
        assert str(exc)  # said in one line, not a traceback
        return
    lam, eta = rule_.hyper("weight_decay").symbol, rule_.hyper("lr").symbol
    total = weight_decay.total_tangent(rule_, "steady").subs(lam, 0)
    names = analysis.moment_names(rule_)
    # the rule's other estimates of a moment (AdEMAMix's slow average of g) read as the named one
    expected = (-lam / (eta * S.theta_prev) * total).xreplace(analysis.moment_aliases(rule_)).xreplace(names)
    assert _same(sp.Add(*parts.values()), expected)


def _resolve(rule_) -> dict:
    """Each intermediate symbol of the rule as an expression of the inputs (λ = 0)."""
    lam = rule_.hyper("weight_decay").symbol
    env: dict = {}
    for eq in rule_.equations:
        env[eq.lhs] = eq.rhs.xreplace(env).subs(lam, 0)
    return {k: v for k, v in env.items() if k != S.g}


def _same(a, b) -> bool:
    """Symbolically equal, checked at random points first (fast) and by simplification if needed."""
    means = {mean: sp.Dummy() for mean in (a - b).atoms(S.Mean)}
    a, b = a.xreplace(means), b.xreplace(means)
    difference = a - b
    if difference == 0:
        return True
    rng = np.random.default_rng(0)
    symbols = sorted(difference.free_symbols, key=str)
    value_of = sp.lambdify(symbols, [difference, a], modules="mpmath")
    checked = 0
    for _ in range(20):
        try:
            diff, size = value_of(*rng.uniform(0.05, 0.9, len(symbols)))
        except ZeroDivisionError:  # a point where a step function makes a denominator 0
            continue
        checked += 1
        if abs(complex(diff)) > 1e-9 * max(1.0, abs(complex(size))):
            return False
    return checked >= 3 or sp.simplify(difference) == 0


@pytest.mark.parametrize("rule_", DECAYING, ids=label)
def test_one_step_lambda_eff_agrees_with_a_finite_difference_of_the_kernel(rule_):
    """λ_eff from the equations against -(θ(λ=h) - θ(λ=0))/(η θ_{t-1} h) from the compiled kernel,
    at a random state, t = 10 (RAdam past its threshold), and default hyperparameters."""
    kernel = rule_.kernel()
    rng = np.random.default_rng(1)
    n = 6
    params = rng.uniform(0.5, 1.5, n) * rng.choice([-1.0, 1.0], n)
    grads = rng.standard_normal(n)
    state = kernel.init(params)
    for s in rule_.states:
        if s.scalar:
            state[s.name] = 0.5
        else:
            nonnegative = s.new.is_nonnegative
            state[s.name] = rng.uniform(0.2, 1.0, n) if nonnegative else rng.uniform(-0.3, 0.3, n)
    hyper = {"lr": 1e-2}
    if rule_.hyper("dampening") and rule_.hyper("dampening").high > 0:
        hyper["dampening"] = 0.1
    h, t = 1e-6, 10
    before, _ = kernel.step(params, grads, state, t, weight_decay=0.0, **hyper)
    after, _ = kernel.step(params, grads, state, t, weight_decay=h, **hyper)
    measured = -(after - before) / (hyper["lr"] * params * h)

    lam = rule_.hyper("weight_decay").symbol
    derived = weight_decay.effective_weight_decay(rule_, "one-step").subs(lam, 1)  # λ_eff/λ: it is linear in λ
    values = {S.t: t, **{x.symbol: hyper.get(x.name, x.default) for x in rule_.hypers}, lam: 0}
    for i in range(n):
        env = {**values, S.theta_prev: params[i], S.g: grads[i],
               **{s.prev: (state[s.name] if s.scalar else state[s.name][i]) for s in rule_.states}}
        for eq in rule_.equations:
            env[eq.lhs] = sp.sympify(eq.rhs.xreplace(env)).evalf()  # an equation may copy an input (g_t)
        env[S.g] = grads[i]  # λ_eff is written in the gradient before the decay, at λ = 0
        value = float(sp.sympify(derived.xreplace(env)).evalf())  # λ_eff may be one symbol (MADGRAD: ρ)
        assert measured[i] == pytest.approx(value, rel=1e-4, abs=1e-8), (i, measured[i], value)


# --- every derivation, for every rule, in every format: a result or one line saying why not -------
@pytest.mark.parametrize("rule_", SAMPLED, ids=label)
def test_every_derivation_either_derives_or_says_why_not_in_one_line(rule_):
    for key in MODULES:
        if key == "coupling":  # its simulation runs in test_derivations for the rules that have one
            continue
        if key in ON_REQUEST:  # simulations: test_stability, test_dynamics, test_lazy_rich and the export run them
            continue
        d = derive(rule_, key)
        if not d.applies:
            text = render.prose_text(d.summary)
            assert text.startswith(f"Does not apply to {rule_.name}: ") and "\n" not in text
        else:
            assert d.results and d.assumptions, key


# --- the registry is the only list ---------------------------------------------------------------
def test_options_and_their_values_come_from_the_rule_functions():
    assert option_values("adam") == {"bias_correction": (True, False), "epsilon": ("outside", "inside", "hat", "both"),
                                     "amsgrad": (False, True, "corrected")}
    assert option_values("sgd") == {}
    # every combination of the options, each value as the rule function declares it, for a rule with
    # several options and none that exists only beside others (the next test takes those)
    from symopt.optimizers import option_requirements

    name = next(n for n in RULES if len(option_values(n)) >= 2 and not option_requirements(n))
    values = option_values(name)
    assert len(variants(name)) == math.prod(len(v) for v in values.values())
    assert {tuple(sorted(v.items())) for v in variants(name)} == {
        tuple(sorted(zip(values, combination))) for combination in itertools.product(*values.values())}


def test_an_option_that_exists_only_beside_others_makes_no_variant_without_them_and_is_refused_in_one_line():
    # every combination of the options is a variant, except where an option declared OnlyWith leaves
    # its default without the values it needs: symopt.get refuses exactly those, in one line
    from symopt.optimizers import option_requirements, options, refused

    restricted = [name for name in RULES if option_requirements(name)]
    assert restricted  # LAMB's timm options, at least
    for name in restricted:
        values, defaults = option_values(name), options(name)
        listed = {tuple(sorted(v.items())) for v in variants(name)}
        for combination in itertools.product(*values.values()):
            chosen = dict(zip(values, combination))
            needs = [only for key, only in option_requirements(name).items()
                     if chosen[key] != defaults[key] and not only.allows(chosen)]
            assert (tuple(sorted(chosen.items())) in listed) == (not needs) == (not refused(name, chosen))
            if needs:
                with pytest.raises(SymoptError, match=r"^[^\n]*exists only with [^\n]*$"):
                    symopt.get(name, **chosen)


def test_every_registered_rule_has_an_independent_reference_and_verify_fails_without_one():
    from symopt.reference import REFERENCES
    from symopt.verify import verify

    assert set(RULES) <= set(REFERENCES)
    orphan = rule("orphan", "no reference", "none", chain("orphan", scale_by_learning_rate(LR)))
    report = verify(orphan, "reference", examples=2)
    assert not report.passed and "no hand-written reference for orphan" in report.failure


def test_the_torch_mapping_is_declared_with_each_rule_and_lacking_variants_are_named(torch):
    from symopt.verify import torch_arguments

    assert torch_arguments(symopt.get("lion"), {}) == "torch.optim has no lion"
    assert torch_arguments(symopt.get("adam", epsilon="hat"), {}) == "torch.optim.Adam has no option epsilon='hat'"
    arguments = torch_arguments(symopt.get("nadam", decoupled_weight_decay=True),
                                {"lr": 1.0, "beta1": 0.8, "beta2": 0.9, "momentum_decay": 0.01})
    assert arguments == {"decoupled_weight_decay": True, "lr": 1.0, "betas": (0.8, 0.9), "momentum_decay": 0.01}
    for name in RULES:
        r = symopt.get(name)
        if r.torch:
            assert hasattr(torch.optim, r.torch)


def test_strategies_are_declared_with_each_hyperparameter():
    from hypothesis import given, settings

    from symopt.strategies import hyperparameter

    rmsprop_momentum = symopt.get("rmsprop").hyper("momentum")
    seen = []

    @settings(max_examples=200, database=None, derandomize=True)
    @given(hyperparameter(rmsprop_momentum), hyperparameter(symopt.get("momentum").hyper("momentum")),
           hyperparameter(symopt.get("momentum", nesterov=True).hyper("dampening")))
    def draw(rms_rho, rho, dampening):
        assert rmsprop_momentum.contains(rms_rho) and 0 < rho < 1 and dampening == 0
        seen.append(rms_rho)

    draw()
    assert 0.0 in seen  # RMSprop's momentum may be 0, and is drawn


def test_the_command_line_lists_every_registered_rule(runner):
    from symopt.cli import main

    result = runner.invoke(main, ["--help"])
    assert all(name in result.output for name in RULES)
    result = runner.invoke(main, ["list"])
    assert all(f"  {name} " in result.output for name in RULES)


def test_kernels_of_scalar_state_rules_keep_the_scalar_as_a_number():
    kernel = symopt.get("nadam").kernel()
    params = np.ones(3)
    state = kernel.init(params)
    assert state["mu_product"] == 1.0
    _, state = kernel.step(params, np.ones(3), state, 1)
    beta1, psi = 0.9, 4e-3
    assert state["mu_product"] == pytest.approx(beta1 * (1 - 0.5 * 0.96 ** psi))
