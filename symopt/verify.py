"""Cross-checks: a rule's compiled kernel against another implementation, on generated trajectories.

The other implementation is a witness that shares nothing with the rules: the hand-written NumPy
references (:mod:`symopt.reference`), torch.optim, or a user's own step function
(``symopt check``). Hypothesis generates whole trajectories (:func:`symopt.strategies.trajectories`)
and shrinks any disagreement to a small counterexample.

Two trajectories agree when every parameter, at every step, differs by at most ``TOLERANCE[dtype]``
times a scale: the larger of the largest finite magnitude it reaches in the witness's trajectory,
and a running bound on the rounding error any faithful evaluation of the rule can make
(:func:`magnitude_runner`, derived from the rule's step map). A parameter passing through zero, or
a moving average whose terms cancel, then cannot turn rounding into a large relative error, while
a different formula (ε in another place) still shows at once. NaN must meet NaN, and ±inf the same
inf.

Needs Hypothesis (``pip install "symopt-toolkit[verify]"``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from symopt.core import Rule
from symopt.errors import SymoptError
from symopt.optimizers import label

# A step function in symopt's convention: step(params, grads, state, t, **hyper) -> (params, state).
StepFunction = Callable[..., tuple]
# Something that runs a whole trajectory and returns θ after each step.
Runner = Callable[["Trajectory"], list[np.ndarray]]

AGAINST = ("reference", "torch")


def require_hypothesis():
    """:mod:`symopt.strategies`, or a one-line error saying how to install Hypothesis."""
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise SymoptError('this needs Hypothesis: pip install "symopt-toolkit[verify]"') from None
    from symopt import strategies

    return strategies


# --- running trajectories --------------------------------------------------------------------------
def run_steps(step: StepFunction, case, **fixed) -> list[np.ndarray]:
    """θ after each step of ``case``, taken with ``step`` from an empty state (``{}``)."""
    params, state, out = case.params.copy(), {}, []
    for t, grads in enumerate(case.grads, start=1):
        params, state = step(params, grads.copy(), state, t, **case.hyper_at(t), **fixed)
        params = np.array(params, copy=True)
        out.append(params)
    return out


def kernel_runner(rule: Rule) -> Runner:
    """Run ``rule``'s compiled kernel."""
    kernel = rule.kernel()

    def run(case) -> list[np.ndarray]:
        params, state, out = case.params.copy(), kernel.init(case.params), []
        for t, grads in enumerate(case.grads, start=1):
            params, state = kernel.step(params, grads, state, t, **case.hyper_at(t))
            out.append(params)
        return out

    return run


def reference_runner(rule: Rule) -> Runner | None:
    """Run the hand-written NumPy reference of ``rule`` with its structural options, if there is one."""
    from symopt.reference import REFERENCES

    step = REFERENCES.get(rule.name)
    if step is None:
        return None
    options = dict(rule.options)
    return lambda case: run_steps(step, case, **options)


# torch.optim's constructor for each rule, and how a rule's keywords map onto it.
_TORCH = {
    "sgd": ("SGD", lambda h, o: {"lr": h["lr"], "weight_decay": h["weight_decay"]}),
    "momentum": ("SGD", lambda h, o: {"lr": h["lr"], "momentum": h["momentum"], "dampening": h["dampening"],
                                      "weight_decay": h["weight_decay"], "nesterov": o["nesterov"]}),
    "adam": ("Adam", lambda h, o: {"lr": h["lr"], "betas": (h["beta1"], h["beta2"]), "eps": h["eps"],
                                   "weight_decay": h["weight_decay"]}),
    "adamw": ("AdamW", lambda h, o: {"lr": h["lr"], "betas": (h["beta1"], h["beta2"]), "eps": h["eps"],
                                     "weight_decay": h["weight_decay"]}),
}


def torch_runner(rule: Rule) -> Runner | None:
    """Run torch.optim's implementation of ``rule`` (float64 default dtype), or None if torch has none.

    torch has no ε placements other than Adam's and no switch for bias correction; it refuses
    Nesterov with dampening, so those cases run with τ = 0 on both sides (see :func:`adapt_for_torch`).
    """
    try:
        import torch
    except ImportError:
        raise SymoptError('comparing with torch needs torch: pip install "symopt-toolkit[torch]"') from None
    options = dict(rule.options)
    if rule.name not in _TORCH or options.get("bias_correction", True) is False or options.get("epsilon", "outside") != "outside":
        return None
    cls_name, arguments = _TORCH[rule.name]

    def run(case) -> list[np.ndarray]:
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)  # torch keeps its step counter in the default dtype
        try:
            param = torch.tensor(case.params.copy(), requires_grad=True)
            hyper = case.hyper_at(1)
            optimizer = getattr(torch.optim, cls_name)([param], **arguments(hyper, options), foreach=False)
            out = []
            for t, grads in enumerate(case.grads, start=1):
                optimizer.param_groups[0]["lr"] = case.hyper_at(t)["lr"]
                param.grad = torch.tensor(grads.copy())
                optimizer.step()
                out.append(param.detach().numpy().copy())
            return out
        finally:
            torch.set_default_dtype(previous)

    return run


def adapt_for_torch(rule: Rule, case):
    """torch.optim.SGD refuses Nesterov with dampening: such cases run with τ = 0 on both sides."""
    if dict(rule.options).get("nesterov") and case.hyper.get("dampening"):
        case.hyper["dampening"] = 0.0
    return case


# --- the scale errors are measured against ----------------------------------------------------------
def magnitude(expr, known: dict, scalars: set):
    """A first-order bound on the rounding error of evaluating ``expr``, in units of the roundoff u.

    Running error analysis (Higham, *Accuracy and Stability of Numerical Algorithms*, 3.3): the
    error of a sum is at most the sum of its terms' errors plus its own rounding, so a sum that
    cancels keeps the size of what cancelled; a product ``ab`` carries ``|a| M(b) + M(a) |b|``; a
    power ``bᵖ`` carries ``|p| |b|^(p-1) M(b)``; every operation adds one rounding of its result.
    ``known`` gives the bounds of the inputs; expressions of ``scalars`` alone are exact to a
    rounding.
    """
    import sympy as sp

    def m(e):
        if e in known:
            return known[e]
        if e.is_Number or e.free_symbols <= scalars:
            return sp.Abs(e)
        if e.is_Add:
            return sp.Add(*(m(a) for a in e.args))
        if e.is_Mul:
            factors = e.args
            carried = sp.Add(*(m(f) * sp.Mul(*(sp.Abs(g) for j, g in enumerate(factors) if j != i))
                               for i, f in enumerate(factors)))
            return carried + sp.Abs(e)
        if e.is_Pow:
            base, exp = e.args
            return sp.Abs(exp) * sp.Abs(base) ** (exp - 1) * m(base) + sp.Abs(e)
        if isinstance(e, sp.Piecewise):
            return sp.Piecewise(*((m(value), cond) for value, cond in e.args))
        if isinstance(e, sp.Abs):
            return m(e.args[0])
        raise SymoptError(f"no error bound for {e.func.__name__}")

    return m(expr)


def magnitude_runner(rule: Rule) -> Runner:
    """For each step, the magnitude bound of θ_t, carried from step to step with the state's.

    Returns a runner giving, per step, an array M_t with ``|error of θ_t| ≲ u · M_t`` to first order
    for any faithful implementation of the rule: the scale :func:`compare_trajectories` measures by.
    Where a bound is undefined (a square root of an exact 0, whose error is 0), it is 0.
    """
    import sympy as sp

    from symopt import symbols as S

    outputs = rule.step_map()
    targets = [S.theta, *(s.new for s in rule.states)]
    inputs = [S.theta_prev, *(s.prev for s in rule.states)]
    mags = {x: sp.Symbol(f"M_{x.name}", nonnegative=True) for x in inputs}
    known = {**mags, S.g: sp.Abs(S.g)}
    scalars = {S.t, *(h.symbol for h in rule.hypers)}
    values = [outputs[x] for x in targets]
    bounds = [magnitude(outputs[x], known, scalars) for x in targets]
    args = [S.theta_prev, S.g, *(s.prev for s in rule.states), *(mags[x] for x in inputs), S.t,
            *(h.symbol for h in rule.hypers)]
    evaluate = sp.lambdify(args, [*values, *bounds], modules="numpy")
    n = len(targets)

    def run(case) -> list[np.ndarray]:
        hypers = [h.name for h in rule.hypers]
        value = [case.params.astype(np.float64), *(np.zeros(case.params.shape) for _ in rule.states)]
        bound = [np.abs(value[0]), *(np.zeros(case.params.shape) for _ in rule.states)]
        out = []
        with np.errstate(all="ignore"):
            for t, grads in enumerate(case.grads, start=1):
                h = case.hyper_at(t)
                result = evaluate(value[0], grads.astype(np.float64), *value[1:], *bound, t, *(h[k] for k in hypers))
                value = [np.broadcast_to(np.asarray(r, dtype=np.float64), case.params.shape) for r in result[:n]]
                bound = [np.nan_to_num(np.broadcast_to(np.asarray(r, dtype=np.float64), case.params.shape),
                                       nan=0.0, posinf=np.inf) for r in result[n:]]
                out.append(bound[0])
        return out

    return run


# --- comparing -------------------------------------------------------------------------------------
@dataclass
class Errors:
    """The largest errors over compared trajectories, and the first element out of tolerance."""

    max_abs: float = 0.0
    max_rel: float = 0.0
    first: tuple | None = None  # (step, index, expected, actual)

    def update(self, other: Errors) -> None:
        self.max_abs = max(self.max_abs, other.max_abs)
        self.max_rel = max(self.max_rel, other.max_rel)


def compare_trajectories(start: np.ndarray, expected: list, actual: list, tolerance: float,
                         scales: list | None = None) -> Errors:
    """Compare two trajectories of θ, elementwise, step by step.

    The error of each element is measured relative to the larger of the largest finite magnitude
    it reaches in ``expected`` (its start included) and, if given, the step's error-magnitude bound
    from :func:`magnitude_runner`, so that a parameter passing through zero, or a sum that cancels,
    does not turn rounding into a large relative error. NaN must meet NaN and ±inf the same inf.
    """
    errors = Errors()
    if len(actual) != len(expected):
        errors.first = (min(len(actual), len(expected)) + 1, (), "a step", "no step")
        errors.max_rel = np.inf
        return errors
    reach = np.zeros(np.shape(start))
    for values in (start, *expected):
        values = np.asarray(values, dtype=np.float64)
        reach = np.fmax(reach, np.where(np.isfinite(values), np.abs(values), 0.0))
    for t, (e, a) in enumerate(zip(expected, actual), start=1):
        e = np.asarray(e, dtype=np.float64)
        a = np.asarray(a, dtype=np.float64)
        if a.shape != e.shape:
            errors.first, errors.max_rel = (t, (), f"shape {e.shape}", f"shape {a.shape}"), np.inf
            return errors
        scale = reach if scales is None else np.fmax(reach, np.where(np.isfinite(scales[t - 1]), scales[t - 1], 0.0))
        special = (np.isnan(e) & np.isnan(a)) | (np.isinf(e) & (e == a))
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.where(special, 0.0, np.abs(e - a))
            diff = np.where(np.isnan(diff), np.inf, diff)
            rel = np.where(diff == 0, 0.0, diff / scale)
        finite = np.isfinite(diff)
        if finite.any():
            errors.max_abs = max(errors.max_abs, float(diff[finite].max()))
        if rel.size:
            errors.max_rel = max(errors.max_rel, float(rel.max()))
        bad = rel > tolerance
        if bad.any() and errors.first is None:
            index = np.unravel_index(int(np.argmax(rel)), rel.shape)
            errors.first = (t, tuple(int(i) for i in index), float(e[index]), float(a[index]))
    return errors


class Mismatch(AssertionError):
    """Raised inside the Hypothesis test when a trajectory is out of tolerance."""

    def __init__(self, case, errors: Errors):
        self.case, self.errors = case, errors
        super().__init__(f"mismatch at step {errors.first[0]}")


@dataclass
class Report:
    """The outcome of a cross-check: counts, largest errors, and a shrunk counterexample on failure."""

    label: str
    against: str
    cases: int = 0
    errors: dict[str, Errors] = field(default_factory=dict)  # by dtype name
    counterexample: Mismatch | None = None
    skipped: str = ""  # why it did not run, if it did not
    failure: str = ""  # an exception the implementation under test raised
    failure_case: object = None  # the (shrunk) case it raised on

    @property
    def passed(self) -> bool:
        return self.counterexample is None and not self.failure


def cross_check(
    rule: Rule,
    witness: Runner,
    *,
    against: str,
    examples: int = 100,
    seed: int = 0,
    under_test: Runner | None = None,
    scheduled: bool | None = None,
    dtype=None,
    adapt: Callable | None = None,
) -> Report:
    """Run ``under_test`` (default: the rule's kernel) and ``witness`` on generated trajectories.

    Args:
        rule: the rule (its hyperparameters are drawn over their ranges).
        witness: the independent implementation.
        against: a name for the witness, for the report.
        examples: how many trajectories Hypothesis generates (before shrinking).
        seed: Hypothesis's seed, for a reproducible run.
        under_test: what is checked; the rule's kernel unless given.
        scheduled: draw a learning-rate schedule (see :func:`~symopt.strategies.trajectories`).
        dtype: only this dtype (float64 or float32) instead of both.
        adapt: a function ``(rule, case) -> case`` applied to each case first.

    Returns:
        A :class:`Report`.
    """
    strategies = require_hypothesis()
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as fix_seed
    from hypothesis.reporting import with_reporter

    under_test = under_test or kernel_runner(rule)
    scales = magnitude_runner(rule)
    report = Report(label(rule), against)
    cases = strategies.trajectories(rule, scheduled=scheduled, dtype=dtype)

    @fix_seed(seed)
    @settings(max_examples=examples, database=None, deadline=None, derandomize=False, print_blob=False,
              verbosity=Verbosity.quiet, report_multiple_bugs=False, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink])
    @given(cases)
    def check(case):
        if adapt is not None:
            case = adapt(rule, case)
        report.cases += 1
        expected = witness(case)
        try:
            actual = under_test(case)
        except Exception as exc:  # the implementation under test failed: a finding, not a crash
            report.failure = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            report.failure_case = case
            raise
        errors = compare_trajectories(case.params, expected, actual, strategies.TOLERANCE[case.dtype], scales(case))
        report.errors.setdefault(case.dtype.name, Errors()).update(errors)
        if errors.first is not None:
            raise Mismatch(case, errors)

    with with_reporter(lambda *_: None):
        try:
            check()
        except Mismatch as mismatch:
            report.counterexample = mismatch
            report.failure = ""
        except Exception:
            if not report.failure:
                raise
    return report


def describe(case, first=None) -> list[str]:
    """A counterexample in a few lines: hyperparameters, where it diverged, and the inputs there."""
    hyper = ", ".join(f"{k}={v:.6g}" for k, v in case.hyper.items() if not (k == "lr" and case.schedule))
    lines = [f"dtype {case.dtype.name}, shape {case.params.shape}, {len(case.grads)} steps; {hyper}"]
    if case.schedule:
        lines.append("lr by step: " + ", ".join(f"{v:.6g}" for v in case.schedule))
    index = ()
    if first is not None:
        step, index, expected, actual = first
        where = f" element {index}" if index else ""
        lines.append(f"step {step}{where}: expected θ = {expected!r}, got {actual!r}")
    upto = first[0] if first is not None else len(case.grads)
    pick = (lambda a: a[index]) if index else (lambda a: a if a.ndim == 0 else a.flat[0] if a.size else None)
    start = pick(case.params)
    if start is not None:
        grads = ", ".join(f"{float(pick(g)):.6g}" for g in case.grads[:upto])
        lines.append(f"θ₀ = {float(start):.6g}; gradients up to that step: {grads}")
    return lines


def verify(rule: Rule, against: str = "reference", examples: int = 100, seed: int = 0) -> Report:
    """Cross-check ``rule``'s kernel against the references or torch.optim.

    Example:
        >>> import symopt
        >>> from symopt.verify import verify
        >>> verify(symopt.get("sgd"), examples=20).passed
        True
    """
    if against not in AGAINST:
        from symopt.errors import UnknownNameError

        raise UnknownNameError("witness", against, AGAINST)
    if against == "reference":
        witness, adapt = reference_runner(rule), None
    else:
        witness, adapt = torch_runner(rule), adapt_for_torch
    if witness is None:
        return Report(label(rule), against, skipped=f"{against} has no implementation of {label(rule)}")
    return cross_check(rule, witness, against=against, examples=examples, seed=seed, adapt=adapt)


# --- a user's step function ------------------------------------------------------------------------
def load_function(spec: str) -> StepFunction:
    """``"module:function"`` or ``"path/to/file.py:function"`` -> the function, checked to be callable
    as ``step(params, grads, state, t, **hyper)``.

    Raises:
        SymoptError: if the module or function cannot be found or has the wrong signature.
    """
    module_name, sep, function_name = spec.rpartition(":")
    if not sep or not module_name or not function_name:
        raise SymoptError(f"{spec!r} is not MODULE:FUNCTION (e.g. my_adamw:step or path/to/file.py:step)")
    try:
        if module_name.endswith(".py") or "/" in module_name:
            path = Path(module_name)
            if not path.is_file():
                raise SymoptError(f"no file {module_name!r}")
            loader_spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(module_name)
    except SymoptError:
        raise
    except ImportError as exc:
        raise SymoptError(f"cannot import {module_name!r}: {exc}") from None
    except Exception as exc:  # the user's module failed while loading
        raise SymoptError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    function = getattr(module, function_name, None)
    if function is None:
        raise SymoptError(f"{module_name!r} has no {function_name!r}")
    if not callable(function):
        raise SymoptError(f"{spec} is not callable")
    return function


def check_signature(function: StepFunction, rule: Rule) -> None:
    """Fail unless ``function(params, grads, state, t, **hyper)`` binds with ``rule``'s keywords."""
    try:
        inspect.signature(function).bind(None, None, {}, 1, **{h.name: h.default for h in rule.hypers})
    except TypeError as exc:
        names = ", ".join(h.name for h in rule.hypers)
        raise SymoptError(f"the function must accept (params, grads, state, t, {names}): {exc}") from None
    except ValueError:
        return  # no signature to inspect (a builtin): try it


@dataclass
class CheckResult:
    """What ``symopt check`` found: the cross-check report and, if it explains the failure, a mistake."""

    report: Report
    mistake: object | None = None


def check_function(function: StepFunction, rule: Rule, examples: int = 100, seed: int = 0) -> CheckResult:
    """Check a user's step function against ``rule``, and name a known mistake that explains a mismatch.

    Only the parameter trajectories are compared; the state belongs to the user's code. The learning
    rate follows a schedule in some cases, so that forms equal only under a constant η are told apart.
    """
    from symopt.mistakes import mistakes

    check_signature(function, rule)
    user = lambda case: run_steps(function, case)  # noqa: E731
    expected = kernel_runner(rule)
    report = cross_check(rule, expected, against=label(rule), examples=examples, seed=seed, under_test=user,
                         dtype=np.float64)
    if report.passed or report.counterexample is None:
        return CheckResult(report)
    case = report.counterexample.case
    for mistake in mistakes(rule.name):
        wrong_rule = mistake.build()
        wrong = kernel_runner(wrong_rule)
        scales = magnitude_runner(wrong_rule)(case)
        if compare_trajectories(case.params, wrong(case), user(case), 1e-12, scales).first is not None:
            continue
        confirm = cross_check(wrong_rule, wrong, against=mistake.key, examples=max(20, examples // 4), seed=seed + 1,
                              under_test=user, dtype=np.float64)
        if confirm.passed:
            return CheckResult(report, mistake)
    return CheckResult(report)
