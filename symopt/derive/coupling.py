"""The coupling problem in numbers: the derived λ_eff over gradient scales, and a simulation.

The table evaluates the derived steady-state λ_eff/λ (from :mod:`symopt.derive.weight_decay`) at
gradient RMS r from 1e-6 to 1e2, with the rule's default ε. The simulation measures it with the
rule's compiled kernel: two groups of parameters whose gradients are noise differing in scale by
1000×, run twice on the same noise, with and without λ; how much faster each group shrinks because
of λ is λ_eff. It runs inside the derivation's assumptions (zero-mean noise, λθ ≪ r), where the
headline must agree to 2%, and outside them, where a reader sees it break: λθ/r = 10 at AdamW's
default λ, and gradients with a signal (signal-to-noise 1 and 3), where the general form, with the
rule's averages read as E[g] and E[g²], still holds and the headline overstates the decay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from symopt import symbols as S
from symopt.core import Rule
from symopt.derive import analysis, weight_decay
from symopt.derive.base import Derivation, Equation, Private, Step, Table, holds, prose
from symopt.errors import NotDerivable

RMS_GRID = tuple(10.0**k for k in range(-6, 3))
SCALES = (1e-3, 1.0)  # gradient RMS of the two simulated groups: 1000× apart
TOLERANCE = 0.02  # the measured λ_eff/λ must be within 2% of the derived one
# The general form reads the rule's m̂ as E[g]; m̂ has noise of its own (variance σ²(1-β₁)/(1+β₁)),
# which it leaves out: at signal-to-noise 3 that is 4% of λ_eff (Adam measured 0.0964 for 0.1).
GENERAL_TOLERANCE = 0.05

TITLE = "The coupling problem, in numbers"
REQUIRES = "a weight decay whose steady-state effective decay depends on the gradient's RMS alone"
RMS = Private("r", positive=True)  # the gradient's root mean square


def check(rule: Rule) -> None:
    """A weight decay whose steady-state λ_eff depends on the gradient's RMS alone, and a state that
    settles within :data:`MAX_WARMUP` steps at the defaults (so that a simulation reaches it).

    Raises:
        NotDerivable: saying which of these fails, and how.
    """
    weight_decay.check(rule)
    ratio_expression(rule)
    decay, shift = averages_noise(rule)
    if shift > TOLERANCE / 2:  # the derivation reads each average as E[g²]: a short one does not settle on it
        raise NotDerivable(f"at its default hyperparameters its average of g_t^2 (decay {decay:g}) averages so few "
                           f"squares that its own noise moves the steady lambda_eff by about {shift:.1%} (at second "
                           f"order), beyond half the {TOLERANCE:.0%} a simulation holds the result to: the derivation "
                           "reads the average as E[g_t^2]")
    late = analysis.averages_settling_time(rule)
    if late > MAX_WARMUP:  # the simulation measures the steady state: it must reach it
        raise NotDerivable(f"at its default hyperparameters a moving average no bias correction divides settles "
                           f"after {late:,} steps, beyond the {MAX_WARMUP:,} steps a simulation of its steady state "
                           "runs")


def averages_noise(rule: Rule) -> tuple[float, float]:
    """``(a, shift)``: the shortest decay ``a`` of the rule's moving averages of g_t² (the states that
    settle on g_t² under a constant gradient), at the defaults, and by how much the noise of such an
    average moves the steady λ_eff/λ, which reads it as E[g_t²] = x: for zero-mean Gaussian noise the
    average has variance ``2x²(1 - a)/(1 + a)``, and ``½ f''(x)/f(x)`` times it is the second-order
    change of ``f``, the steady λ_eff/λ (``¾(1 - a)/(1 + a)`` for ``f ∝ x^(-1/2)``: 3.9% at
    TensorFlow's a = 0.9, 0.4% at torch's 0.99), the largest at the simulation's two gradient
    RMS. ``(0, 0)`` where no such average decays."""
    decay = rule.hyper("weight_decay")
    no_decay = {decay.symbol: sp.S.Zero}
    settled = analysis.steady_state(rule, no_decay)
    numbers = {h.symbol: sp.Float(h.default) for h in rule.hypers}
    env: dict = {}
    for eq in rule.equations:
        env[eq.lhs] = eq.rhs.xreplace(env)
    decays = []
    for state in rule.arrays:
        if sp.simplify(settled.get(state.new, sp.S.Zero) - S.g**2) != 0:
            continue
        a = sp.diff(env[state.new].xreplace(no_decay), state.prev).xreplace(numbers)
        if a.is_number and a.is_real and 0 < float(a) < 1:
            decays.append(float(a))
    if not decays:
        return 0.0, 0.0
    a = min(decays)
    x = Private("x", positive=True)
    f = ratio_expression(rule).xreplace({RMS: sp.sqrt(x)}).xreplace(
        {h.symbol: sp.Float(h.default) for h in rule.hypers if h.name != "weight_decay"})
    curvature = sp.diff(f, x, 2) / f
    shift = max(abs(float((curvature * x**2).xreplace({x: sp.Float(scale) ** 2}))) for scale in SCALES)
    return a, shift * (1 - a) / (1 + a)


def applies(rule: Rule) -> bool:
    """Any rule with a weight decay whose steady-state λ_eff depends on the gradient's RMS alone."""
    return holds(check, rule)


def ratio_expression(rule: Rule) -> sp.Expr:
    """The derived steady-state λ_eff/λ as a function of the gradient RMS r, for zero-mean noise.

    Whatever the rule calls its settled averages (Adam's v̂_t, RMSprop's v_t), each is replaced by the
    moment of the gradient it estimates: E[g_t] = 0, E[g_t²] = r².

    Raises:
        NotDerivable: if the rule's λ_eff has no steady state, or depends on more than r.
    """
    expr = weight_decay.effective_weight_decay(rule, "steady") / rule.hyper("weight_decay").symbol
    moments = {S.Mean(S.g): sp.S.Zero, S.Mean(S.g**2): RMS**2}
    by_symbol = {symbol: moments.get(mean, mean) for mean, symbol in analysis.moment_names(rule).items()}
    expr = expr.xreplace(by_symbol).xreplace(moments)
    scalars = {S.t, *(h.symbol for h in rule.hypers)}
    # Scalar quantities of the step (NAdam's μ_t, RAdam's ρ_t) at their long-run values.
    decay = rule.hyper("weight_decay").symbol
    settled = analysis.steady_state(rule, {decay: sp.S.Zero})
    expr = expr.xreplace({x: v for x, v in settled.items() if x not in S.ARRAYS and v.free_symbols <= scalars})
    expr = analysis.long_run(expr, rule)  # a schedule's long-run value (AdEMAMix's warmed-up α)
    if S.t in expr.free_symbols:
        raise NotDerivable("its steady-state λ_eff still depends on the step t (a schedule with no long-run value)")
    if not expr.free_symbols <= scalars | {RMS}:
        left = ", ".join(sorted(str(x) for x in expr.free_symbols - scalars - {RMS}))
        raise NotDerivable(f"its steady-state λ_eff still depends on {left}, not only on the gradient RMS")
    return expr


def ratio(rule: Rule, rms: float, hyper: dict | None = None) -> float:
    """The derived steady-state λ_eff/λ at gradient RMS ``rms``, other values at ``hyper`` (by keyword)
    or their defaults."""
    hyper = hyper or {}
    values = {h.symbol: hyper.get(h.name, h.default) for h in rule.hypers if h.name != "weight_decay"}
    values[RMS] = rms
    return float(ratio_expression(rule).xreplace(values).evalf())


def general_ratio(rule: Rule, mean: float, second: float) -> float:
    """The general steady-state λ_eff/λ (before assuming E[g] = 0), at E[g_t] = ``mean`` and
    E[g_t²] = ``second``, other values at their defaults."""
    lam = rule.hyper("weight_decay").symbol
    expr = sp.Add(*weight_decay.paths(rule, "steady").values()) / lam
    moments = {S.Mean(S.g): sp.Float(mean), S.Mean(S.g**2): sp.Float(second)}
    expr = expr.xreplace({symbol: moments.get(m, m) for m, symbol in analysis.moment_names(rule).items()})
    expr = expr.xreplace(moments)
    settled = analysis.steady_state(rule, {lam: sp.S.Zero})
    scalars = {S.t, *(h.symbol for h in rule.hypers)}
    expr = expr.xreplace({x: v for x, v in settled.items() if x not in S.ARRAYS and v.free_symbols <= scalars})
    expr = analysis.long_run(expr, rule)  # a schedule's long-run value (AdEMAMix's warmed-up α)
    if S.t in expr.free_symbols:
        raise NotDerivable("its steady-state λ_eff still depends on the step t (a schedule with no long-run value)")
    return float(expr.xreplace({h.symbol: h.default for h in rule.hypers if h.name != "weight_decay"}).evalf())


def table(rules: list[Rule]) -> Table:
    """λ_eff/λ against the gradient RMS, one column per rule, at each rule's default ε."""
    eps = sorted({h.default for r in rules for h in r.hypers if h.name == "eps"})
    note = prose(S.epsilon, f" = {', '.join(f'{e:g}' for e in eps)} (the default)") if eps else ()
    return Table(
        title=prose("Effective weight decay ", S.lam_eff / S.lam, " by gradient RMS ", RMS),
        columns=(prose("gradient RMS ", RMS), *(prose(f"{r.name}: ", S.lam_eff / S.lam) for r in rules)),
        rows=tuple((rms, *(ratio(r, rms) for r in rules)) for rms in RMS_GRID),
        note=note,
    )


@dataclass(frozen=True)
class Simulation:
    """Measured against derived λ_eff/λ for each gradient scale, in one regime."""

    rule: str
    scales: tuple[float, ...]
    measured: tuple[float, ...]
    derived: tuple[float, ...]  # the headline, for zero-mean noise
    weight_decay: float
    steps: int
    warmup: int
    parameters: int
    seed: int
    settled: bool = True  # whether the rule's step-dependent factors reached their long-run values
    snr: tuple[float, ...] = ()  # per group: the gradient's mean over its noise's standard deviation
    general: tuple[float, ...] = ()  # the general form, at the simulated moments
    theta0: float = 1.0

    @property
    def relative_errors(self) -> tuple[float, ...]:
        return tuple(abs(m / d - 1) for m, d in zip(self.measured, self.derived))

    @property
    def agrees(self) -> bool:
        return all(e <= TOLERANCE for e in self.relative_errors)

    @property
    def regimes(self) -> list[str]:
        """Which assumption each group breaks, if any."""
        return [self._regime(scale, snr) for scale, snr in zip(self.scales, self.snr or (0.0,) * len(self.scales))]

    def _regime(self, scale: float, snr: float) -> str:
        if not self.settled:  # (ASCII: tables are typeset as text in LaTeX too)
            return f"not settled by step {self.steps}"
        if snr:
            return f"signal-to-noise {snr:g}"
        largest = self.weight_decay * self.theta0 / scale
        if largest > 0.1:
            return f"decay {largest:g}x the gradient"
        return "inside"


# The longest warm-up a simulation runs to let a rule's step-dependent factors settle.
MAX_WARMUP = 6_000


def settling_time(rule: Rule, within: float = 0.01) -> int | None:
    """The first step at which every scalar factor of the rule (NAdam's μ_t, RAdam's r_t...), and
    every moving average's start from 0, is within ``within`` of its long-run value at the default
    hyperparameters; None if not by
    :data:`MAX_WARMUP` (the t → ∞ of the derivation is then out of a simulation's reach)."""
    return analysis.settling_time(rule, within=within, up_to=MAX_WARMUP, states=True)


def simulate(
    rule: Rule,
    *,
    scales: tuple[float, ...] = SCALES,
    parameters: int = 500,
    steps: int | None = None,
    warmup: int | None = None,
    lam: float = 1e-5,
    snr: float | tuple[float, ...] = 0.0,
    theta0: float = 1.0,
    seed: int = 0,
    hyper: dict | None = None,
) -> Simulation:
    """Measure each group's shrink rate due to λ with the rule's kernel, and compare with λ_eff.

    Both runs see the same gradients (independent of θ: Gaussian noise of RMS ``scale``, with a mean
    ``snr`` times the noise's standard deviation, one value or one per scale), so their difference
    δ_t is the effect of λ alone.
    After ``warmup`` steps (moving averages filled, transients gone) the measured
    ``λ_eff = -(δ_T - δ_W)/(η Σ θ_{t-1})``, averaged over the group. With the default λ, λθ is
    small against the smallest gradient scale (an assumption of the derivation); a larger λ or a
    nonzero ``snr`` runs outside the assumptions.

    Returns:
        A :class:`Simulation` with the measured and derived λ_eff/λ per group.
    """
    kernel = rule.kernel()
    if warmup is None:
        settles = settling_time(rule)
        warmup = max(500, MAX_WARMUP if settles is None else settles)
    steps = warmup + 1000 if steps is None else steps
    rng = np.random.default_rng(seed)
    rms = np.repeat(np.asarray(scales, dtype=float), parameters)
    snrs = tuple(snr) if isinstance(snr, tuple) else (float(snr),) * len(scales)
    signal = np.repeat(np.asarray(snrs, dtype=float), parameters)
    sigma = rms / np.sqrt(1 + signal**2)
    decayed, plain = np.full_like(rms, theta0), np.full_like(rms, theta0)
    hyper = dict(hyper or {})
    state_decayed, state_plain = kernel.init(decayed, **hyper), kernel.init(plain, **hyper)
    lr = hyper.get("lr", rule.hyper("lr").default)
    total = np.zeros_like(rms)
    offset = np.zeros_like(rms)
    for t in range(1, steps + 1):
        grads = sigma * (signal + rng.standard_normal(rms.shape))
        if t > warmup:
            total += decayed
        kernel.step(decayed, grads, state_decayed, t, weight_decay=lam, inplace=True, **hyper)
        kernel.step(plain, grads, state_plain, t, weight_decay=0.0, inplace=True, **hyper)
        if t == warmup:
            offset = decayed - plain
    delta = (decayed - plain) - offset
    measured = []
    for i in range(len(scales)):
        group = slice(i * parameters, (i + 1) * parameters)
        measured.append(float(-delta[group].mean() / (lr * total[group].mean()) / lam))
    general = ()
    if any(snrs):
        general = tuple(general_ratio(rule, s * q / np.sqrt(1 + q**2), s**2) for s, q in zip(scales, snrs))
    return Simulation(
        rule=rule.name,
        scales=tuple(scales),
        measured=tuple(measured),
        derived=tuple(ratio(rule, s, hyper) for s in scales),
        weight_decay=lam,
        steps=steps,
        warmup=warmup,
        parameters=parameters,
        seed=seed,
        snr=snrs if any(snrs) else (),
        general=general,
        theta0=theta0,
        settled=settling_time(rule) is not None,
    )


# Outside the assumptions: AdamW's default λ against gradients of RMS 1e-3 (λθ/r = 10), and
# gradients that carry a signal (θ₀ = 100, so that the drift the signal causes, about η a step,
# leaves Σθ steady over the measurement).
OUTSIDE = ({"lam": 1e-2, "scales": (1e-3,)}, {"snr": (1.0, 3.0), "scales": (1.0, 1.0), "theta0": 100.0})


def simulation_table(simulations: list[Simulation]) -> Table:
    """Measured against derived λ_eff/λ, a row per rule, regime and gradient scale."""
    rows = []
    for sim in simulations:
        general = sim.general or (None,) * len(sim.scales)
        for scale, measured, derived, gen, error, regime in zip(sim.scales, sim.measured, sim.derived, general,
                                                                sim.relative_errors, sim.regimes):
            verdict = "agrees" if error <= TOLERANCE else "DIFFERS"
            if gen is not None:
                close = abs(measured / gen - 1) <= GENERAL_TOLERANCE
                verdict += f"; general form {gen:.4g} " + ("agrees (5%)" if close else "DIFFERS")
            rows.append((sim.rule, regime, sim.weight_decay, scale, derived, measured, error, verdict))
    sim = simulations[0]
    return Table(
        title=prose("Simulated shrink rate due to ", S.lam, ", against the derived ", S.lam_eff),
        columns=(prose("rule"), prose("assumptions"), prose(S.lam), prose("gradient RMS"),
                 prose("derived ", S.lam_eff / S.lam), prose("measured ", S.lam_eff / S.lam),
                 prose("relative error"), prose(f"within {TOLERANCE:.0%}")),
        rows=tuple(rows),
        note=prose(
            f"{sim.parameters} parameters per scale, ", sp.Eq(S.theta0, 1), " (100 with a signal), gradients "
            "independent of ", S.theta,
            f", {sim.steps} steps at default hyperparameters, measured after step {sim.warmup} (when the rule's "
            "step-dependent factors are within 1% of their limits, if that comes by step "
            f"{MAX_WARMUP}) against a run "
            "without ", S.lam, f" on the same noise (seed {sim.seed}). The derived value is the headline, for "
            "zero-mean noise; with a signal the general form is evaluated at the simulated ", S.Mean(S.g), " and ",
            S.Mean(S.g**2), ".",
        ),
    )


# Where the decay dominates the gradient (OUTSIDE[0]) the measured value is not one number: it moves with
# the measurement window and with θ₀ (λθ/r changes as θ decays). Swept, with 100 parameters.
WINDOWS = (0.5, 1.0, 2.0)  # the measurement's start and length, as multiples of the default window
THETA0S = (0.3, 1.0, 3.0)


def sweep(rule: Rule, case: dict = OUTSIDE[0]) -> Table:
    """The case's measured λ_eff/λ over measurement windows and initial values, a row each."""
    settles = settling_time(rule)
    warmup = max(500, MAX_WARMUP if settles is None else settles)
    rows = []
    for k in WINDOWS:
        start, length = int(warmup * k), int(1000 * k)
        got = simulate(rule, parameters=100, warmup=start, steps=start + length, **case)
        rows.append(("window", f"steps {start} to {start + length}", got.derived[0], got.measured[0]))
    for theta0 in THETA0S:
        got = simulate(rule, parameters=100, theta0=theta0, **case)
        rows.append(("theta0", f"{theta0:g}", got.derived[0], got.measured[0]))
    return Table(
        title=prose("Outside the assumptions, swept: ", S.lam, f" = {case['lam']:g} against gradient RMS "
                    f"{case['scales'][0]:g}, by measurement window and ", S.theta0),
        columns=(prose("varied"), prose("value"), prose("derived ", S.lam_eff / S.lam), prose("measured ", S.lam_eff / S.lam)),
        rows=tuple(rows),
        note=prose("100 parameters, seed 0, the rest as in the table above (", S.theta0, " = 1 in the window rows, the "
                   "default window in the ", S.theta0, " rows). Where the decay dominates, ", S.theta,
                   " shrinks during the measurement and ", S.lam * S.theta, "/r with it, so the measured value is a "
                   "range, not one number."),
    )


def swept_range(table: Table, varied: str) -> tuple[float, float]:
    values = [row[3] for row in table.rows if row[0] == varied]
    return min(values), max(values)


def derivation(rule: Rule) -> Derivation:
    """The coupling table and the simulations for one rule, inside and outside the assumptions."""
    sim = simulate(rule)
    outside = [simulate(rule, **case) for case in OUTSIDE]
    swept = () if outside[0].agrees else (sweep(rule),)
    lam_eff = weight_decay.effective_weight_decay(rule, "steady")
    ratio_small, ratio_large = sim.derived[0], sim.derived[-1]
    return Derivation(
        key="coupling",
        title=TITLE,
        rule=rule.name,
        summary=prose(
            f"Under {rule.name}, parameters whose gradient RMS is {SCALES[0]:g} and {SCALES[-1]:g} are decayed in "
            f"the ratio {ratio_small / ratio_large:.4g} : 1. The derived ", S.lam_eff, ", evaluated, then measured "
            "inside its assumptions and outside them.",
            *((f" Where the decay is {OUTSIDE[0]['lam'] / OUTSIDE[0]['scales'][0]:g}x the gradient the measured "
               f"value is a range: {swept_range(swept[0], 'window')[0]:.4g} to {swept_range(swept[0], 'window')[1]:.4g} "
               f"over measurement windows, {swept_range(swept[0], 'theta0')[0]:.4g} to "
               f"{swept_range(swept[0], 'theta0')[1]:.4g} over ", S.theta0, " (swept below).") if swept else ()),
        ),
        assumptions=(
            prose("the steady-state ", S.lam_eff, " of the effective-weight-decay derivation, for zero-mean "
                  "gradient noise of RMS ", RMS, ": the rule's average of ", S.g**2, " settles at ", RMS**2),
            prose(S.lam * S.theta_prev, " small against the gradient RMS ", RMS, " (first order in ", S.lam, ")"),
            prose("hyperparameters at the rule's defaults"),
        ),
        steps=(Step(prose("The derived effective weight decay:"), (Equation(S.lam_eff, lam_eff),)),),
        results=(Equation(S.lam_eff, lam_eff, when=weight_decay.derivation(rule).results[0].when),),
        tables=(table([rule]), simulation_table([sim, *outside]), *swept),
        values={"simulation": sim, "outside": outside, **({"sweep": {v: swept_range(swept[0], v) for v in
                                                                    ("window", "theta0")}} if swept else {})},
    )


# --- the note's claim on large gradients ------------------------------------------------------------------
# "When the gradient of the batch turns out large, Adam normalizes it and starts to take smaller steps":
# noise of RMS 1, one step whose gradient is SPIKE_SIZES times that, the steps around it measured.
SPIKE_SIZES = (10.0, 31.0)
SPIKE_SEEDS = (0, 1, 2)
SPIKE_AT, SPIKE_BEFORE, SPIKE_WINDOW = 2000, 500, 50


def spike(rule: Rule, size: float, seed: int, parameters: int = 200) -> dict:
    """Mean |step| at the spike, and over windows of :data:`SPIKE_WINDOW` steps for 1/(1 - β₂) steps after
    it (the first window left out), each over the mean |step| of the :data:`SPIKE_BEFORE` steps before it (the rule's kernel, default
    hyperparameters, gradients N(0, 1) independent of θ, one step of gradient ``size`` on every parameter)."""
    horizon = int(round(1 / (1 - rule.hyper("beta2").default)))
    kernel = rule.kernel()
    rng = np.random.default_rng((seed, 2))
    theta = np.zeros(parameters)
    state = kernel.init(theta)
    sizes = []
    for t in range(1, SPIKE_AT + horizon + 1):
        g = np.full(parameters, size) if t == SPIKE_AT else rng.standard_normal(parameters)
        before = theta.copy()
        kernel.step(theta, g, state, t, inplace=True)
        sizes.append(float(np.abs(theta - before).mean()))
    typical = float(np.mean(sizes[SPIKE_AT - 1 - SPIKE_BEFORE:SPIKE_AT - 1]))
    # The first window is left out: the first moment still carries the spike (5/(1 - β₁) steps, 0.9⁵⁰ ≈ 0.5%).
    after = np.asarray(sizes[SPIKE_AT:]).reshape(-1, SPIKE_WINDOW).mean(axis=1)[1:] / typical
    return {"at": sizes[SPIKE_AT - 1] / typical, "after": (float(after.min()), float(after.max())), "horizon": horizon}


def claim_spike(rules: list[Rule]) -> dict:
    """The note's claim that a large gradient makes Adam take smaller steps, over spike sizes and seeds.

    Returns:
        ``status`` ("wrong" only if no window after any spike has smaller steps than typical: a
        counterexample that survives the sweep; "contested" otherwise: the step at the spike is larger,
        the ones after smaller), ``words``, ``table``.
    """
    (rule,) = rules
    rows, found = [], []
    for size in SPIKE_SIZES:
        for seed in SPIKE_SEEDS:
            found.append(spike(rule, size, seed))
            rows.append((size, seed, found[-1]["at"], f"{found[-1]['after'][0]:.2f} to {found[-1]['after'][1]:.2f}"))
    horizon = found[0]["horizon"]
    at = [f["at"] for f in found]
    low, high = min(f["after"][0] for f in found), max(f["after"][1] for f in found)
    status = "wrong" if low >= 1 else "contested"
    below = sum(f["after"][1] < 1 for f in found)
    words = (f"measured with {rule.name}'s kernel, the step at the spike is {min(at):.3g} to {max(at):.3g} times "
             f"the typical step (larger, not smaller: normalising bounds it, it does not shrink it), and over the "
             f"{SPIKE_WINDOW} to {horizon} steps after it (1/(1 - beta2)), while v-hat remembers the spike, the steps are {low:.2f} to "
             f"{high:.2f} times typical: every window below typical in {below} of {len(found)} runs (smaller steps, as the note "
             "says, after the larger spikes)")
    table = Table(
        title=prose(f"{rule.name}'s step at a gradient spike and after it, against its typical step"),
        columns=(prose("spike (x gradient RMS)"), prose("seed"), prose("step at the spike / typical"),
                 prose(f"steps after it / typical, windows of {SPIKE_WINDOW}")),
        rows=tuple(rows),
        note=prose("200 parameters, gradients N(0, 1) independent of ", S.theta, f", default hyperparameters; the "
                   f"spike at step {SPIKE_AT} on every parameter; typical: the mean |step| over the {SPIKE_BEFORE} "
                   f"steps before it; after: the mean |step| in each window of {SPIKE_WINDOW} steps over the "
                   f"{horizon} after it, the first left out (the first moment still carries the spike), the "
                   "smallest and largest window."),
    )
    return {"status": status, "words": words, "table": table}
