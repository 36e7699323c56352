"""Muon's Newton–Schulz iteration: each step maps every singular value σ to aσ + bσ³ + cσ⁵.

Derived from the iteration as matrix algebra (:func:`symopt.ops.newton_schulz_step`) with X = UΣVᵀ:
the step is U p(Σ) Vᵀ, so it keeps the singular vectors and acts on each singular value alone.
From p come the fixed points, the slope at 0, and the interval the singular values end in after
``ns_steps`` steps (the exact image of an interval under p, from its end points and critical
points), checked against the compiled kernel on random matrices; beside it the cubic
1.5σ - 0.5σ³, which converges to 1, and the update's RMS under each ``adjust_lr_fn``. Finally the
momentum: torch documents a sum and computes a moving average, which normalisation makes the same
update except through ε.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from symopt import ops
from symopt import symbols as S
from symopt.core import Rule
from symopt.derive.base import (
    Derivation,
    Equation,
    Private,
    Step,
    Table,
    private,
    prose,
)
from symopt.errors import NotDerivable

TITLE = "Newton-Schulz: singular values under Muon's iteration"
REQUIRES = "a Newton-Schulz orthogonalisation (an NS_k operation)"
FIGURE = "newton-schulz.png"

sigma = Private("sigma", nonnegative=True)
p = sp.Function("p")
# The iteration's matrices: U, Σ and V of a thin SVD, noncommutative (products keep their order).
_U, _Ut, _V, _Vt, _Sigma = private("U U^T V V^T Sigma", commutative=False)
_TRANSPOSE = {_U: _Ut, _Ut: _U, _V: _Vt, _Vt: _V, _Sigma: _Sigma}
# Shown as matrices: U, Σ and V (Σ as a plain symbol, juxtaposed by the matrix product's notation).
_SHOWN = {_U: Private("U"), _Sigma: Private("Sigma"), _Vt: ops.T(Private("V"))}
CUBIC = (sp.Rational(3, 2), -sp.Rational(1, 2), sp.S.Zero)  # Newton–Schulz's classic iteration
START = (sp.Rational(1, 10), sp.Rational(1, 100), sp.Rational(1, 1000))  # the smallest σ of X/‖X‖_F
ASSUMED = sp.Rational(1, 100)  # the singular values assumed to start at or above this (of X/‖X‖_F)


SIGMA0 = Private("sigma_0", positive=True)
ROUNDING = 1e-12  # a kernel's error against p^k below this is float64 rounding


def _normalised(x: sp.Expr) -> sp.Expr:
    return x / ops.Norm(x)


def check(rule: Rule) -> None:
    """A Newton–Schulz orthogonalisation among the rule's operations.

    Raises:
        NotDerivable: if there is none.
    """
    if _iteration(rule) is None:
        raise NotDerivable(f"{rule.name} has no Newton-Schulz operation (NS_k) to derive from")


def applies(rule: Rule) -> bool:
    """Any rule that uses Newton–Schulz."""
    return _iteration(rule) is not None


def _iteration(rule: Rule):
    for eq in rule.equations:
        for node in sp.preorder_traversal(eq.rhs):
            if isinstance(node, ops.NewtonSchulz):
                return node
    return None


# --- the iteration on singular values -------------------------------------------------------------
def _noncommutative(expr: sp.Expr, x: sp.Symbol) -> sp.Expr:
    """``expr`` (matrix algebra of Dot and T) with X = UΣVᵀ as noncommutative products."""
    if expr == x:
        return _U * _Sigma * _Vt
    if isinstance(expr, ops.Dot):
        return _noncommutative(expr.args[0], x) * _noncommutative(expr.args[1], x)
    if isinstance(expr, ops.T):
        return _transpose(_noncommutative(expr.args[0], x))
    if expr.is_Add or expr.is_Mul:
        return expr.func(*(_noncommutative(a, x) for a in expr.args))
    return expr


def _transpose(expr: sp.Expr) -> sp.Expr:
    expr = sp.expand(expr)
    if expr.is_Add:
        return sp.Add(*(_transpose(t) for t in expr.args))
    scalars, matrices = expr.args_cnc()
    flipped = []
    for factor in reversed(matrices):
        base, exp = factor.as_base_exp()
        flipped.append(_TRANSPOSE[base] ** exp)
    return sp.Mul(*scalars) * sp.Mul(*flipped)


def singular_value_map(a: sp.Expr, b: sp.Expr, c: sp.Expr) -> sp.Expr:
    """p(σ) such that one step maps UΣVᵀ to U p(Σ) Vᵀ, computed from :func:`ops.newton_schulz_step`.

    Example:
        >>> a, b, c = sp.symbols("a b c")
        >>> singular_value_map(a, b, c)
        a*sigma + b*sigma**3 + c*sigma**5
    """
    x = Private("X")
    step = sp.expand(_noncommutative(ops.newton_schulz_step(x, a, b, c), x))
    for _ in range(10):  # UᵀU = VᵀV = I, until nothing changes
        reduced = sp.expand(step.subs({_Ut * _U: 1, _Vt * _V: 1}))
        if reduced == step:
            break
        step = reduced
    polynomial = sp.S.Zero
    for term in sp.Add.make_args(step):
        scalars, matrices = term.args_cnc()
        if len(matrices) != 3 or matrices[0] != _U or matrices[2] != _Vt or matrices[1].as_base_exp()[0] != _Sigma:
            raise NotDerivable(f"the step does not reduce to U f(Σ) Vᵀ (a term {term})")
        polynomial += sp.Mul(*scalars) * sigma ** matrices[1].as_base_exp()[1]
    return sp.expand(polynomial)


def image(poly: sp.Expr, low: float, high: float) -> tuple[float, float]:
    """The exact image of [low, high] under the polynomial: its values at the end points and at the
    critical points inside (roots of p' computed by SymPy)."""
    points = [low, high]
    for root in sp.Poly(sp.diff(poly, sigma), sigma).nroots(n=30):
        if root.is_real and low < float(root) < high:
            points.append(float(root))
    f = sp.lambdify(sigma, poly, modules="math")
    values = [f(x) for x in points]
    return min(values), max(values)


def intervals(poly: sp.Expr, low: float, steps: int) -> list[tuple[float, float]]:
    """Where singular values starting in [low, 1] are after 1, ..., ``steps`` steps."""
    out, interval = [], (low, 1.0)
    for _ in range(steps):
        interval = image(poly, *interval)
        out.append(interval)
    return out


def _defaults(rule: Rule, node) -> dict:
    return {h.symbol: sp.nsimplify(h.default, rational=True) for h in rule.hypers if h.symbol in node.free_symbols}


def _fixed_points(poly: sp.Expr) -> list[sp.Expr]:
    roots = sp.solve(sp.Eq(poly, sigma), sigma)
    return sorted((r for r in roots if r.is_real and r >= 0), key=float)


def slopes(poly: sp.Expr) -> list[tuple[float, float]]:
    """(σ*, p'(σ*)) at each fixed point σ* = p(σ*) ≥ 0, as floats."""
    slope = sp.diff(poly, sigma)
    return [(float(r), float(slope.subs(sigma, r))) for r in _fixed_points(poly)]


def behaviour(value: float) -> str:
    """What a fixed point with slope ``value`` does to values near it: the sign and size of p' decide."""
    if abs(value) < 1:
        return "attracts"
    return "repels, values alternating about it" if value < 0 else "repels, values moving away on their side"


def fixed_point_words(poly: sp.Expr, interval: tuple[float, float]) -> str:
    """The slopes at the positive fixed points, what each does, and whether it lies in ``interval``
    (where the singular values end), in words computed from them."""
    return "; ".join(f"p' = {value:+.3g} at {point:.3g} (it {behaviour(value)}; "
                     + ("inside" if interval[0] <= point <= interval[1] else "outside") + " that interval)"
                     for point, value in slopes(poly) if point > 0)


# --- checks on the compiled kernel --------------------------------------------------------------------
def kernel_singular_values(rule: Rule, x: np.ndarray, rounding: str | None = None) -> np.ndarray:
    """The singular values of NS_k(x) as the rule's compiled kernel computes it: one step from θ = 0
    with η = 1 and no momentum or decay, so that θ₁ = -s·NS_k(x), s the shape's factor."""
    from symopt.transforms import ADJUST_LR

    kernel = rule.kernel(rounding=rounding)
    hyper = {k: v for k, v in {"lr": 1.0, "weight_decay": 0.0, "momentum": 0.0}.items() if rule.hyper(k)}
    theta, _ = kernel.step(np.zeros_like(x), x, kernel.init(x, **hyper), 1, **hyper)
    values = S.shape_values(x.shape)
    scale = float(ADJUST_LR[dict(rule.options)["adjust_lr_fn"]].xreplace(values))
    return np.linalg.svd(-np.asarray(theta, dtype=np.float64) / scale, compute_uv=False)


def random_matrix(shape: tuple[int, int], smallest: float, rng) -> np.ndarray:
    """A matrix with singular values log-uniform from ``smallest`` to 1 (relative to the largest)."""
    rows, cols = shape
    k = min(shape)
    u, _ = np.linalg.qr(rng.standard_normal((rows, k)))
    v, _ = np.linalg.qr(rng.standard_normal((cols, k)))
    values = np.geomspace(1.0, smallest, k)
    return (u * values) @ v.T


def check_kernel(rule: Rule, poly: sp.Expr, steps: int, cases, seed: int = 0) -> list[tuple]:
    """Rows (shape, smallest σ/σ_max, largest |σ(kernel) - p^k(σ)|, the σ range): each case a random
    matrix whose singular values the kernel's NS_k should map through p, k times."""
    f = sp.lambdify(sigma, poly, modules="numpy")
    rng = np.random.default_rng(seed)
    rows = []
    for shape, smallest in cases:
        x = random_matrix(shape, smallest, rng)
        start = np.linalg.svd(x / np.linalg.norm(x), compute_uv=False)
        expected = start
        for _ in range(steps):
            expected = f(expected)
        got = np.sort(kernel_singular_values(rule, x))[::-1]
        expected = np.sort(expected)[::-1]
        rows.append((f"{shape[0]}x{shape[1]}", float(start.min()), float(np.max(np.abs(got - expected))),
                     f"{got.min():.3f} to {got.max():.3f}"))
    return rows


# --- the derivation -------------------------------------------------------------------------------
def derivation(rule: Rule) -> Derivation:
    node = _iteration(rule)
    x, a, b, c, k, eps = node.args
    general = singular_value_map(a, b, c)
    defaults = _defaults(rule, node)
    poly = general.xreplace(defaults)
    steps_default = int(defaults.get(k, 5))
    cubic = singular_value_map(*CUBIC)
    fixed = _fixed_points(poly)
    slope = sp.diff(poly, sigma)
    shown_x = Private("X")
    matrix_step = ops.newton_schulz_step(shown_x, a, b, c)
    shown = ops.Dot(ops.Dot(_SHOWN[_U], general.xreplace({sigma: _SHOWN[_Sigma]})), _SHOWN[_Vt])
    out_steps = [
        Step(prose("One step of the iteration, as the rule's operation defines it, on ",
                   sp.Eq(shown_x, ops.Dot(ops.Dot(_SHOWN[_U], _SHOWN[_Sigma]), _SHOWN[_Vt])),
                   " (a thin SVD: U and V have orthonormal columns, ", _SHOWN[_Sigma], " is diagonal and "
                   "nonnegative); the products of U and V with their transposes cancel:"),
             (Equation(matrix_step, shown),)),
        Step(prose("So each step keeps the singular vectors and maps every singular value alone:"),
             (Equation(p(sigma), general),)),
        Step(prose("With the rule's default coefficients, the slope of p at its fixed points (",
                   sp.Eq(p(sigma), sigma), " with ", sp.GreaterThan(sigma, 0, evaluate=False), "):"),
             tuple(Equation(sp.Function("p'")(sp.N(r, 4)), sp.N(slope.subs(sigma, r), 4)) for r in fixed)),
    ]
    values = {"p": general, "fixed_points": fixed, "slope_at_zero": slope.subs(sigma, 0)}
    # Where the singular values go, for starts down to each σ₀ (the exact images of [σ₀, 1]).
    table_rows = []
    for low in START:
        for name, q in (("quintic", poly), ("cubic", cubic)):
            ends = intervals(q, float(low), steps_default)
            table_rows.append((name, float(low), *(f"{lo:.3f} to {hi:.3f}" for lo, hi in ends)))
    final = intervals(poly, float(ASSUMED), steps_default)[-1]
    values["interval"] = final
    out_steps.append(Step(prose(
        "The singular values of ", _normalised(x), " lie in (0, 1]. ",
        "The image of an interval under p is an interval, found "
        f"exactly from p at its ends and at the roots of p' inside it; after k = {steps_default} steps, "
        f"those that started at or above {float(ASSUMED):g} end in [{final[0]:.3f}, {final[1]:.3f}]: not 1, "
        "and not torch's \"Uniform(0.5, 1.5)\" either. The slopes at the positive fixed points: "
        f"{fixed_point_words(poly, final)}. Small ones grow by about "
        f"p'(0)^k = {float(slope.subs(sigma, 0)) ** steps_default:.0f}, so a singular value of "
        f"{float(ASSUMED) / 100:g} ends far below the interval. The cubic ", cubic, " has "
        "slope 0 at its fixed point 1, so it converges to 1, but grows small values by only 1.5 a step: "
        "the quintic trades convergence for speed.")))
    check_rows = check_kernel(rule, poly, steps_default, [((4, 8), 2e-2), ((8, 4), 2e-2), ((6, 6), 0.1),
                                                    ((5, 3), 1e-4)])
    values["check"] = check_rows
    # The update's RMS: an A×B matrix with singular values 1 has ‖O‖_F² = min(A, B).
    q = Private("q", nonnegative=True)
    rms_o = sp.sqrt(sp.Min(S.rows, S.cols) / (S.rows * S.cols))
    from symopt.transforms import ADJUST_LR

    rms_rows = []
    for name, factor in ADJUST_LR.items():
        tall = _resolve(sp.simplify((factor * rms_o).subs(S.rows, S.cols * (1 + q))))
        wide = _resolve(sp.simplify((factor * rms_o).subs(S.cols, S.rows * (1 + q))))
        rms_rows.append((name, factor, tall.subs(q, S.rows / S.cols - 1), wide.subs(q, S.cols / S.rows - 1)))
    values["rms"] = {name: (tall, wide) for name, _, tall, wide in rms_rows}
    out_steps.append(Step(
        prose("If every singular value were 1, an A x B update O would have ", sp.Eq(Private("RMS_O"), rms_o),
              "; scaled by the shape's factor s, its RMS for ", sp.GreaterThan(S.rows, S.cols), " and for ",
              sp.StrictLessThan(S.rows, S.cols), ":"),
        tuple(Equation(Private(f"RMS_{name}"), sp.Piecewise((tall, sp.GreaterThan(S.rows, S.cols)), (wide, True)))
              for name, _, tall, wide in rms_rows),
    ))
    out_steps.append(Step(prose(
        "So match_rms_adamw gives every shape the RMS 0.2 (AdamW's typical update), and original gives ",
        1 / sp.sqrt(S.cols), ": it depends on the number of columns only. With the quintic's singular values in the interval above, "
        "each RMS is that much off.")))
    svd = prose("one step on ", sp.Eq(shown_x, ops.Dot(ops.Dot(_SHOWN[_U], _SHOWN[_Sigma]), _SHOWN[_Vt])),
                " (a thin SVD)")
    results = [Equation(p(sigma), general, when=(svd, prose("exact arithmetic"))),
               *(Equation(Private(f"RMS_{n}"), sp.Piecewise((t, sp.GreaterThan(S.rows, S.cols)), (w, True)),
                          when=(prose("every singular value of the update 1 (the iteration's ideal, not its result)"),))
                 for n, _, t, w in rms_rows)]
    momentum = _momentum_steps(rule, x, eps)
    out_steps.extend(momentum)
    tables = (
        Table(prose("Where singular values starting in [", SIGMA0, f", 1] are after 1 to {steps_default} steps"),
              (prose("iteration"), prose(SIGMA0), *(prose(f"after {i}") for i in range(1, steps_default + 1))),
              tuple(table_rows),
              prose("Exact images of [", SIGMA0, ", 1], from the rule's coefficients (quintic) and 1.5, -0.5, 0 "
                    "(cubic).")),
        Table(prose("Checked against the compiled kernel on random matrices"),
              (prose("shape"), prose("smallest singular value of ", _normalised(x)), prose("largest error against p^k"),
               prose("singular values of the kernel's NS_k")),
              # Below ROUNDING an error is the last bits of float64, which differ with the BLAS kernel the
              # CPU selects (OpenBLAS's DYNAMIC_ARCH): printed as the bound, the same on every machine.
              tuple((*row[:2], row[2] if row[2] >= ROUNDING else f"< {ROUNDING:g}", row[3]) for row in check_rows),
              prose("Float64 kernel (the iteration computed in the parameters' dtype). The last row is outside "
                    "the assumption ", sp.GreaterThan(sigma, ASSUMED), ": its smallest singular value stays far below "
                    "the interval.")),
    )
    return Derivation(
        key="newton-schulz",
        title=TITLE,
        rule=rule.name,
        summary=prose("What the orthogonalisation does to the update's singular values, derived from the "
                      "matrix iteration, and what that means for the update's size."),
        assumptions=(
            prose(_normalised(x), " has singular values in (0, 1] (true whenever ", sp.GreaterThan(ops.Norm(x), eps), ")"),
            prose("for the interval: the singular values of ", _normalised(x), f" start at or above {float(ASSUMED):g}"),
            prose("exact arithmetic (torch runs the iteration in bfloat16: about 3 significant digits)"),
        ),
        steps=tuple(out_steps),
        results=tuple(results),
        tables=tables,
        values=values,
    )


def _momentum_steps(rule: Rule, x: sp.Expr, eps: sp.Expr) -> list[Step]:
    """torch documents B_t = μB_{t-1} + g_t and computes b_t = μb_{t-1} + (1 - μ)g_t: from the rule's
    own equation, b_t = (1 - μ)B_t, and the normalisation removes the factor except through ε."""
    equations = {eq.lhs: eq.rhs for eq in rule.equations}
    total, total_prev = Private("B_t", real=True), Private("B_tm1", real=True)
    for state in rule.arrays:
        rhs = equations.get(state.new)
        if rhs is None:
            continue
        mu = sp.expand(rhs).coeff(state.prev)
        if mu == 0 or sp.simplify(rhs - mu * state.prev - (1 - mu) * S.g) != 0:
            continue
        # Suppose b_{t-1} = (1 - μ)B_{t-1}: the rule's b_t is then (1 - μ)B_t.
        check = sp.simplify(rhs.xreplace({state.prev: (1 - mu) * total_prev}) - (1 - mu) * (mu * total_prev + S.g))
        if check != 0:
            continue
        c = Private("c", positive=True)
        return [
            Step(prose("torch's documentation writes the momentum as a sum, ", sp.Eq(total, mu * total_prev + S.g),
                       ", while the rule (torch's code) keeps a moving average. From the rule's equation, if ",
                       sp.Eq(state.prev, (1 - mu) * total_prev), " then ", sp.Eq(state.new, (1 - mu) * total),
                       ": by induction from 0, the average is the sum times ", 1 - mu,
                       " at every step (and so is the Nesterov look-ahead)."),
                 ()),
            Step(prose("The iteration starts from ", x / sp.Max(ops.Norm(x), eps), ", and for ", sp.StrictGreaterThan(c, 0, evaluate=False), ":"),
                 (Equation(c * x / sp.Max(c * ops.Norm(x), eps), x / sp.Max(ops.Norm(x), eps / c)),)),
            Step(prose("So the moving average is the documented sum with ", eps, " replaced by ", eps / (1 - mu),
                       f" ({eps_value(rule) / (1 - mu_value(rule, mu)):.2g} at the defaults): the updates differ "
                       "only while the momentum's norm is below that; in bfloat16 they may differ in the last "
                       "digit, as the scaled matrix rounds differently.")),
        ]
    return []


def _resolve(expr: sp.Expr) -> sp.Expr:
    """``expr`` with each max and min replaced by the argument SymPy can prove largest (smallest)."""
    def pick(largest):
        def choose(*args):
            for a in args:
                if all((largest * sp.simplify(a - o)).is_nonnegative for o in args if o is not a):
                    return a
            return (sp.Max if largest > 0 else sp.Min)(*args)
        return choose

    return sp.simplify(expr.replace(sp.Max, pick(1)).replace(sp.Min, pick(-1)))


def eps_value(rule: Rule) -> float:
    return rule.hyper("eps").default


def mu_value(rule: Rule, mu: sp.Expr) -> float:
    return float(mu.xreplace({h.symbol: h.default for h in rule.hypers}))


# --- the figure -----------------------------------------------------------------------------------
def figure_png(name: str = "muon") -> bytes:
    """σ after 1 to k steps of the rule's iteration against the starting σ, and the cubic's after k."""
    import io

    from symopt.optimizers import get
    from symopt.plot import require_matplotlib

    rule = get(name)
    node = _iteration(rule)
    defaults = _defaults(rule, node)
    poly = singular_value_map(*node.args[1:4]).xreplace(defaults)
    steps = int(defaults.get(node.args[4], 5))
    Figure, FigureCanvasAgg = require_matplotlib()
    figure = Figure(figsize=(6.4, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    start = np.geomspace(1e-4, 1.0, 1001)
    f = sp.lambdify(sigma, poly, modules="numpy")
    g = sp.lambdify(sigma, singular_value_map(*CUBIC), modules="numpy")
    y, z = start, start
    for i in range(1, steps + 1):
        y = f(y)
        axes.plot(start, y, color=str(0.75 - 0.6 * i / steps), label=f"quintic, {i} step{'s' * (i > 1)}")
    for _ in range(steps):
        z = g(z)
    axes.plot(start, z, color="#c0392b", linestyle="--", label=f"cubic 1.5σ - 0.5σ³, {steps} steps")
    axes.axhline(1.0, color="0.6", linestyle=":", linewidth=1)
    axes.set_xscale("log")
    axes.set_xlabel(r"singular value of $X/\|X\|_F$")
    axes.set_ylabel(r"singular value after the steps")
    axes.set_title("Muon's Newton–Schulz iteration on each singular value")
    axes.grid(True, color="0.9")
    axes.legend(frameon=False, fontsize=8, loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
