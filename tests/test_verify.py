"""Hypothesis cross-checks of every kernel against the hand-written references and torch.optim."""

import sys

import numpy as np
import pytest
from hypothesis import settings

import symopt
from symopt import cli, reference
from symopt.optimizers import RULES, label, variants
from symopt.strategies import TOLERANCE, Trajectory
from symopt.verify import compare_trajectories, cross_check, kernel_runner, magnitude_runner, reference_runner, verify

EXAMPLES = settings().max_examples  # the loaded profile's: 100 on a laptop and in CI
# Every run also compares one long explicit case per shape class, and one generated case in ten runs
# into the hundreds of steps: three quarters of the profile's cases keep the cost of a test.
GENERATED = EXAMPLES * 3 // 4
from conftest import busy_value, registry_sample  # noqa: E402

ALL = [symopt.get(name, **options) for name in RULES for options in variants(name)]
# Each rule's default variant and one drawn in CI (tests/conftest.py's registry_sample), every variant
# outside CI: the cost of the suite grows with the rules, not with their variants.
SAMPLED = registry_sample()
# A rule's variants in one test share one budget of cases beyond a dozen (AdamW's conventions make
# 72 variants): each variant still runs, with at least an eighth of the examples of a rule with few.
PER_RULE = 12


def examples_for(rule, among) -> int:
    count = sum(r.name == rule.name for r in among)
    return max(GENERATED // 8, GENERATED * PER_RULE // max(PER_RULE, count))


@pytest.mark.parametrize("rule", SAMPLED, ids=label)
def test_kernel_agrees_with_the_hand_written_reference(rule):
    from symopt import symbols as S
    from symopt.strategies import EXPLICIT_STEPS, shape_classes
    from symopt.verify import COMPARED_FLOOR

    report = verify(rule, "reference", examples=examples_for(rule, SAMPLED))
    assert report.passed, report.counterexample and report.counterexample.errors.first
    assert report.errors["float64"].max_rel <= TOLERANCE[np.dtype("float64")]
    assert report.errors["float32"].max_rel <= TOLERANCE[np.dtype("float32")]
    assert min(report.fractions.values()) >= COMPARED_FLOOR
    # whatever the seed: every shape class the rule treats differently, and past step 100 where the
    # step reads t (a bias correction near 1, a warmup's end, RAdam's rectified steps)
    assert set(shape_classes(rule)) <= report.shapes
    if any(S.t in eq.rhs.free_symbols for eq in rule.equations):
        assert report.longest >= EXPLICIT_STEPS > 100


def _torch_has(rule) -> bool:
    from symopt.verify import torch_arguments

    try:
        return not isinstance(torch_arguments(rule, {}), str)
    except ImportError:  # without torch the torch tests skip (and fail in CI)
        return rule.torch != ""


# Every registered variant torch.optim implements, from the rules' own torch mapping (sampled in CI).
TORCH_ALL = [r for r in ALL if _torch_has(r)]
TORCH_RULES = registry_sample(_torch_has)


@pytest.mark.parametrize("rule", TORCH_RULES, ids=label)
def test_kernel_agrees_with_torch_on_generated_trajectories(torch, rule):
    report = verify(rule, "torch", examples=examples_for(rule, TORCH_RULES))
    assert report.passed and report.cases >= examples_for(rule, TORCH_RULES)
    assert report.errors["float64"].max_rel <= 1e-12


@pytest.mark.parametrize("rule", TORCH_RULES, ids=label)
@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_kernel_follows_torch_for_50_steps(torch, rule, weight_decay):
    """Fixed cases that are sure to cover dampening (skipped by torch on step 1) and weight decay."""
    from symopt.verify import rounding_of, torch_runner

    rounding = rounding_of(rule, "torch")  # Muon: torch's bfloat16 Newton-Schulz, rounded the same way

    rng = np.random.default_rng(7)
    # what is off by default switched on (dampening, RMSprop's momentum), from the declarations
    hyper = {h.name: busy_value(h) if h.default == 0 else h.default for h in rule.hypers}
    hyper |= {"lr": 0.01} | ({"weight_decay": weight_decay} if rule.hyper("weight_decay") else {})
    case = Trajectory(np.dtype("float64"), rng.standard_normal((3, 4)),
                      [rng.standard_normal((3, 4)) for _ in range(50)], hyper)
    expected, actual = torch_runner(rule)(case), kernel_runner(rule, rounding=rounding)(case)
    plain = max(float(np.max(np.abs(a - e) / np.abs(e))) for a, e in zip(actual, expected))
    assert plain < (1e-12 if rounding is None else 1e-5)  # elementwise relative, away from zero
    scales = magnitude_runner(rule, rounding=rounding)(case)
    assert compare_trajectories(case.params, expected, actual, 1e-12, scales).first is None


@pytest.mark.parametrize("rule", TORCH_RULES, ids=label)
def test_nan_and_inf_propagate_as_in_torch(torch, rule):
    from symopt.verify import torch_runner

    shape = (1, 5) if rule.ranks == (2,) else (5,)  # Muon takes matrices only
    grads = [np.array([1.0, np.nan, np.inf, -np.inf, 2.0]).reshape(shape), np.array([1.0, 1.0, 1.0, 1.0, np.nan]).reshape(shape)]
    hyper = {h.name: h.default for h in rule.hypers}
    case = Trajectory(np.dtype("float64"), np.ones(shape), grads,
                      hyper | ({"weight_decay": 0.1} if "weight_decay" in hyper else {}))
    from symopt import ops

    # an operation the ops table declares to differ at NaN between NumPy and torch (Rprop's sign:
    # NaN against 0) makes the kernel non-finite where torch is not
    differs = any(op.at_nan("numpy") != op.at_nan("torch") for eq in rule.equations for op in ops.used(eq.rhs))
    for e, a in zip(torch_runner(rule)(case), kernel_runner(rule)(case)):
        # Non-finite where torch is; which of NaN and ±inf depends on the order of the operations
        # (θ(1 - ηλ) against θ - ηλθ at θ = inf): the same for the rules whose order symopt follows.
        assert np.array_equal(np.isfinite(e), np.isfinite(a)) or (differs and np.all(np.isfinite(a) <= np.isfinite(e)))
        if rule.name in ("sgd", "momentum", "adam", "adamw"):
            assert np.array_equal(np.isnan(e), np.isnan(a)) and np.array_equal(np.isinf(e), np.isinf(a))
        finite = np.isfinite(e) & np.isfinite(a)
        assert np.allclose(e[finite], a[finite], rtol=1e-12, atol=0)


def test_a_different_rule_fails_the_cross_check():
    """The cross-check can fail: ε inside the root is caught against the reference with ε outside."""
    wrong = symopt.get("adam", epsilon="inside")
    report = cross_check(wrong, reference_runner(symopt.get("adam")), against="reference", examples=50)
    assert not report.passed and report.counterexample.errors.first is not None


def test_compare_trajectories_measures_against_the_error_bound():
    start = np.array([0.0, 1.0])
    expected = [np.array([1e-3, np.nan]), np.array([2e-3, np.inf])]
    assert compare_trajectories(start, expected, [e.copy() for e in expected], 1e-12).first is None
    off = [expected[0] + np.array([1e-14, 0.0]), expected[1]]
    assert compare_trajectories(start, expected, off, 1e-12).first == (1, (0,), 1e-3, 1e-3 + 1e-14)
    # With a larger error bound (a sum that cancelled), the same difference is within tolerance.
    bounds = [np.array([1e3, 1.0]), np.array([1e3, 1.0])]
    assert compare_trajectories(start, expected, off, 1e-12, bounds).first is None
    nan_for_inf = [expected[0], np.array([2e-3, np.nan])]
    assert compare_trajectories(start, expected, nan_for_inf, 1e-12).first[0] == 2


def test_verify_command_passes_and_prints_errors(runner):
    result = runner.invoke(cli.main, ["verify", "sgd", "momentum", "--examples", "10"])
    assert result.exit_code == 0
    assert result.output.count("PASS") == 1 + len(variants("momentum"))  # sgd, and every momentum variant


def test_verify_command_fails_with_a_counterexample(runner, monkeypatch):
    def bad_sgd(params, grads, state, t, *, lr=1e-3, weight_decay=0.0, inplace=False):
        return params - lr * grads - weight_decay * params, state  # decay not scaled by lr

    monkeypatch.setitem(reference.REFERENCES, "sgd", bad_sgd)
    result = runner.invoke(cli.main, ["verify", "sgd", "--examples", "50"])
    assert result.exit_code == 1
    assert "FAIL" in result.output and "expected θ =" in result.output and "weight_decay=" in result.output


def test_verify_against_torch_without_torch_says_how_to_install(runner, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    result = runner.invoke(cli.main, ["verify", "adam", "--against", "torch", "--examples", "5"])
    assert result.exit_code == 2 and "needs torch: pip install" in result.output


def test_verify_all_against_torch(runner, torch):
    # the command over the whole registry (each variant's kernel is checked in the tests above: few cases)
    result = runner.invoke(cli.main, ["verify", "--all", "--against", "torch", "--examples", "3"])
    assert result.exit_code == 0
    assert result.output.count("PASS") == len(TORCH_ALL)
    assert "skipped: torch.optim.Adam has no option epsilon='hat'" in result.output
    assert "skipped: torch.optim has no lion" in result.output


@pytest.mark.parametrize("args", [["verify", "sgd"], ["check", "tests/user_steps/correct.py:adamw", "--rule", "adamw"]])
def test_without_hypothesis_the_commands_say_how_to_install_it(runner, monkeypatch, args):
    monkeypatch.setitem(sys.modules, "hypothesis", None)
    result = runner.invoke(cli.main, args)
    assert result.exit_code == 2 and 'pip install "symopt-toolkit[verify]"' in result.output


# --- what is compared -------------------------------------------------------------------------------
def _rprop_like():
    """torch.optim.Rprop's sign rule (without its clamp) as a symopt rule, built from the same parts
    as the registered ones: the step size grows by 6/5 or shrinks by 1/2 with the sign of g_t g_{t-1},
    and the stored gradient is zeroed where that sign is negative (an exact 0 the next step reads)."""
    import sympy as sp

    from symopt import symbols as S
    from symopt.core import Assign, State, Transform, rule
    from symopt.hyperparameters import LR

    previous = State("b", S.b, S.b_prev, doc="the previous gradient, 0 after a change of sign")
    size = State("s", S.s, S.s_prev, init=LR.symbol, doc="the step size of each element")
    up, down = sp.Rational(6, 5), sp.Rational(1, 2)

    def apply(u):
        sign = sp.sign(S.c)
        grow = 1 + sign * (up - down) / 2 + sign**2 * (up + down - 2) / 2  # 6/5, 1 or 1/2
        keep = 1 + (sign - sp.Abs(sign)) / 2  # 0 where the sign changed
        equations = (Assign(S.c, u * S.b_prev), Assign(S.s, S.s_prev * grow), Assign(S.b, u * keep))
        return equations, S.s * sp.sign(S.b)

    return rule("rprop-like", "Rprop's sign rule", "torch.optim.Rprop, without its clamp",
                Transform("rprop_like", apply, hypers=(LR,), states=(previous, size)))


def test_exact_zeros_after_a_sign_change_are_compared_not_excused():
    """The product g_t·g_{t-1} after a zeroing is exactly 0 in both implementations: its sign is
    compared. So an implementation that skips the zeroing (another algorithm) fails, and the correct
    one passes having compared nearly every (element, step) pair."""
    import functools

    sys.path.insert(0, "tests/user_steps")
    try:
        import rprop_like
    finally:
        sys.path.remove("tests/user_steps")
    from symopt.verify import run_steps

    rule = _rprop_like()
    for name, expected in (("rprop", True), ("rprop_without_zeroing", False)):
        step = getattr(rprop_like, name)
        report = cross_check(rule, functools.partial(run_steps, step), against=name, examples=EXAMPLES // 4,
                             scheduled=False, explicit=True)
        assert report.passed is expected, (name, report.fractions, report.counterexample)
        assert all(f >= 0.9 for f in report.fractions.values()), report.fractions


def test_a_rule_compared_below_the_floor_is_not_a_pass(runner, monkeypatch):
    """An error bound that excuses every element (as a sign within rounding of 0 would) leaves
    nothing compared: NOT ENOUGH COMPARED, exit 1, and the fraction in the JSON."""
    import json

    from symopt import verify as module

    real = module.magnitude_runner

    def excusing(rule, *args, **kwargs):
        run = real(rule, *args, **kwargs)
        return lambda case: [np.full_like(b, np.inf) for b in run(case)]

    monkeypatch.setattr(module, "magnitude_runner", excusing)
    result = runner.invoke(cli.main, ["verify", "sgd", "--examples", "2"])
    assert result.exit_code == 1 and "NOT ENOUGH COMPARED" in result.output and "below the floor" in result.output
    result = runner.invoke(cli.main, ["verify", "sgd", "--examples", "2", "--format", "json"])
    data = json.loads(result.output)
    assert result.exit_code == 1 and data["floor"] == module.COMPARED_FLOOR
    (report,) = data["rules"]
    assert report["verdict"] == "NOT ENOUGH COMPARED"
    assert all(d["fraction"] < module.COMPARED_FLOOR and d["compared"] < d["generated"] for d in report["dtypes"].values())


def test_verify_json_states_what_was_compared(runner):
    import json

    result = runner.invoke(cli.main, ["verify", "adamax", "--examples", "10", "--format", "json"])
    data = json.loads(result.output)
    assert result.exit_code == 0
    # one report for each of the rule's variants, as the registry lists them
    expected = [label(symopt.get("adamax", **v)) for v in variants("adamax")]
    assert [report["rule"] for report in data["rules"]] == expected
    for report in data["rules"]:
        assert report["verdict"] == "PASS" and set(report["dtypes"]) == {"float64", "float32"}
        for d in report["dtypes"].values():
            assert d["generated"] > 0 and d["fraction"] == d["compared"] / d["generated"] >= data["floor"]


def test_verify_with_nothing_compared_exits_2_in_one_line(runner):
    pytest.importorskip("torch")
    result = runner.invoke(cli.main, ["verify", "lion", "--against", "torch", "--examples", "5"])
    assert result.exit_code == 2 and "nothing was compared" in result.output
    assert "torch.optim has no lion" in result.output.splitlines()[-1]


def test_shape_classes_follow_what_a_rule_treats_differently():
    from symopt.strategies import shape_classes

    for name in RULES:
        rule = symopt.get(name)
        ranks = {len(s) for s in shape_classes(rule)}
        if not rule.elementwise:  # matrices wide and tall, and stacks, of the ranks it takes
            assert ranks == (set(rule.ranks) if rule.ranks else {0, 1, 2, 3}), name
            assert any(s[-2] > s[-1] for s in shape_classes(rule) if len(s) >= 2)
            assert any(s[-2] < s[-1] for s in shape_classes(rule) if len(s) >= 2)


def test_generated_trajectories_go_past_step_50_on_tiny_shapes():
    from hypothesis import Phase, given
    from hypothesis import settings as configure

    from symopt.strategies import LONG_EVERY, LONG_STEPS, MAX_STEPS, trajectories

    lengths = []

    @configure(max_examples=100, database=None, phases=[Phase.generate])
    @given(trajectories(symopt.get("adam")))
    def draw(case):
        lengths.append(len(case.grads))
        if len(case.grads) > MAX_STEPS:
            assert case.params.size <= 4 and len(case.grads) <= LONG_STEPS

    draw()
    assert sum(n > MAX_STEPS for n in lengths) >= len(lengths) // (3 * LONG_EVERY)  # about one in ten


def test_exactly_representable_constants_and_signs_are_exact():
    import sympy as sp

    from symopt import ops
    from symopt import symbols as S

    assert ops.representable(sp.Rational(1, 2)) and ops.representable(sp.Integer(-3))
    assert not ops.representable(sp.Rational(1, 10)) and not ops.representable(sp.Rational(1, 3))
    sign = sp.sign(S.c)
    assert ops.exact(1 + (sign - sp.Abs(sign)) / 2) and not ops.exact(1 + sign / 10)
    assert ops.exact_scaling(S.g * sign / 2) and not ops.exact_scaling(S.g * S.m / 2)


def test_a_max_is_bounded_by_the_argument_it_selects():
    from symopt import ops

    u = 2.0**-53
    # 5 is selected beyond rounding: its bound (0, an exact constant), not the other's (1e3)
    assert ops._selected(1, u, np.array([5.0]), np.array([0.0]), np.array([1.0]), np.array([1e3]))[0] == 0.0
    # within rounding of each other: either may be selected, the larger bound
    assert ops._selected(1, u, np.array([1.0]), np.array([0.0]), np.array([1.0 + 1e-14]), np.array([1e3]))[0] == 1e3
    # a min selects the smaller
    assert ops._selected(-1, u, np.array([5.0]), np.array([0.0]), np.array([1.0]), np.array([2.0]))[0] == 2.0


def test_each_backend_does_at_nan_what_the_ops_table_declares(torch):
    """Every elementwise operation, on the NumPy kernel, the numba kernel and symopt.torch, with NaN
    in each argument in turn: NaN, 0 or the other argument, as its entry in symopt.ops says
    (np.sign(nan) is NaN, torch.sign(nan) is 0)."""
    import sympy as sp

    import symopt.torch
    from conftest import require
    from symopt import ops
    from symopt import symbols as S
    from symopt.core import Assign, State, Transform, rule
    from symopt.hyperparameters import LR

    require("numba", install='pip install "symopt-toolkit[numba]"')
    lowered = [op for op in ops.OPERATIONS if op.numpy is not None and op.in_rules]
    assert all(set(dict(op.nan)) == set(ops.NAN_BACKENDS) for op in lowered)  # each declares every backend

    def probe(op):  # the operation on g (and θ, for one of two arguments)
        for args in ((S.g,), (S.g, S.theta_prev), (S.g, sp.S.Half)):
            try:
                expr = op.sympy(*args)
            except TypeError:
                continue
            if op.applies_to(expr):
                return expr, len(args) == 2 and args[1] is S.theta_prev
        raise AssertionError(f"no probe for {op.name}")

    probes = [probe(op) for op in lowered]
    states = [State(f"nan{i}", *S.pair(f"nanprobe{i}")) for i in range(len(lowered))]
    apply = lambda u: (tuple(Assign(s.new, e) for s, (e, _) in zip(states, probes)), sp.S.Zero * LR.symbol)  # noqa: E731
    probe_rule = rule("nan-probe", "each operation at NaN", "symopt.ops", Transform("probe", apply, hypers=(LR,),
                                                                                    states=tuple(states)))
    theta, g = np.array([2.0, np.nan, np.nan]), np.array([np.nan, 3.0, np.nan])  # NaN in g, in θ, in both

    results = {}
    for backend in ("numpy", "numba"):
        kernel = probe_rule.kernel(backend)
        _, state = kernel.step(theta.copy(), g.copy(), kernel.init(theta.copy(), lr=0.1), 1, lr=0.1)
        results[backend] = [state[s.name] for s in states]
    w = torch.nn.Parameter(torch.tensor(theta))
    optimizer = symopt.torch.Optimizer([w], probe_rule, lr=0.1)
    w.grad = torch.tensor(g)
    optimizer.step()
    results["torch"] = [optimizer.state[w][s.name].numpy() for s in states]

    for backend, values in results.items():
        for op, (_, binary), value in zip(lowered, probes, values):
            declared = op.at_nan(backend)
            cases = [(0, theta[0]), (1, g[1]), (2, np.nan)] if binary else [(0, None), (2, None)]
            for i, other in cases:
                if declared == "nan" or (declared == "other" and np.isnan(other)):
                    assert np.isnan(value[i]), (backend, op.name, i, value[i])
                elif declared == "other":
                    assert value[i] == other, (backend, op.name, i, value[i])
                else:
                    assert value[i] == float(declared), (backend, op.name, i, value[i])


def test_generated_trajectories_of_whole_tensor_rules_reach_zero_and_tiny_norms():
    """A rule on whole tensors floors its norms (Fromage's ν_min = 1e-6) or guards a zero one (LAMB's
    trust ratio): some generated gradients, and starts, are whole tensors of norm 0 or below 1e-6."""
    from hypothesis import Phase, given
    from hypothesis import settings as configure

    from symopt.strategies import trajectories

    rule = next(symopt.get(name) for name in RULES if not symopt.get(name).elementwise)
    seen = {"zero gradient": 0, "tiny gradient": 0, "zero start": 0, "tiny start": 0}

    # a tiny start is about one case in six as designed (one in three has vanishing norms, half of those
    # a tiny start), fewer as Hypothesis draws: 60 cases could miss it, 180 practically never
    @configure(max_examples=180, database=None, phases=[Phase.generate])
    @given(trajectories(rule, max_steps=5))
    def draw(case):
        for g in case.grads:
            norm = float(np.linalg.norm(g.astype(np.float64)))
            seen["zero gradient"] += g.size > 0 and norm == 0
            seen["tiny gradient"] += 0 < norm < 1e-6
        norm = float(np.linalg.norm(case.params.astype(np.float64)))
        seen["zero start"] += case.params.size > 0 and norm == 0
        seen["tiny start"] += 0 < norm < 1e-6

    draw()
    assert all(seen.values()), seen


def test_maxima_as_written_keep_their_value_and_sympys_comparison_comes_back():
    """Within ``ops.maxima_as_written`` a max compares its arguments only as they stand: it keeps the
    value SymPy's gives (an ordering it can decide directly is still used), and SymPy's own
    comparison is back once the last one ends, nested or left by an exception."""
    import sympy as sp
    from sympy.functions.elementary.miscellaneous import MinMaxBase

    from symopt import ops

    x, y = sp.symbols("x y", real=True)
    own = MinMaxBase.__dict__["_is_connected"]
    built = sp.Max(x + y, 2 * (x + y), 0)  # SymPy's: ordered only by factoring the differences
    with pytest.raises(RuntimeError), ops.maxima_as_written():
        with ops.maxima_as_written():
            assert sp.Max(x, x + 1) == x + 1  # decided directly
            written = sp.Max(x + y, 2 * (x + y), 0)
        assert MinMaxBase.__dict__["_is_connected"] is not own  # the outer one still under way
        raise RuntimeError
    assert MinMaxBase.__dict__["_is_connected"] is own
    for a, b in [(-2.0, 0.5), (0.0, 0.0), (1.5, 2.0), (-1.0, -3.0)]:
        assert float(written.subs({x: a, y: b})) == float(built.subs({x: a, y: b}))


def test_the_bound_is_lambdified_with_implemented_functions_inside_shared_subexpressions():
    """``verify._lambdify_shared`` takes common subexpressions out before lambdify sees them: a
    function lowered by its ``_imp_`` (ops.Remainder) inside one is still found, and the values are
    those of ``lambdify(cse=True)``."""
    import sympy as sp

    from symopt import ops
    from symopt.verify import _lambdify_shared

    t, f, a = sp.symbols("t f a", positive=True)
    shared = ops.Remainder(t, f) + sp.Max(a, 1)
    exprs = [shared**2 + a, sp.sqrt(shared) * a, ops.IfPositive(a - 2, shared, a)]
    ours = _lambdify_shared([t, f, a], exprs, [ops.namespace(), "numpy"])
    sympys = sp.lambdify([t, f, a], exprs, modules=[ops.namespace(), "numpy"], cse=True)
    for point in [(7, 3, 0.5), (9, 3, 2.5), (1, 4, 3.0)]:
        assert [float(v) for v in ours(*point)] == [float(v) for v in sympys(*point)]
