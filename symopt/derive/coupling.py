"""The coupling problem in numbers: the derived λ_eff over gradient scales, and a simulation.

The table evaluates the derived steady-state λ_eff/λ (from :mod:`symopt.derive.weight_decay`) at
gradient RMS √v̂_t from 1e-6 to 1e2, with the rule's default ε. The simulation checks it without
the derivation's assumptions: it runs the rule's compiled kernel on two groups of parameters whose
gradients are pure noise (no loss signal) differing in scale by 1000×, twice on the same noise, with
and without λ, and measures how much faster each group shrinks because of λ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from symopt import symbols as S
from symopt.core import Rule
from symopt.derive import weight_decay
from symopt.derive.base import Derivation, Equation, Step, Table, prose

RMS_GRID = tuple(10.0**k for k in range(-6, 3))
SCALES = (1e-3, 1.0)  # gradient RMS of the two simulated groups: 1000× apart
TOLERANCE = 0.02  # the measured λ_eff/λ must be within 2% of the derived one

TITLE = "The coupling problem, in numbers"


def applies(rule: Rule) -> bool:
    """Any rule with a weight decay and a learning rate."""
    return weight_decay.applies(rule)


def ratio(rule: Rule, rms: float) -> float:
    """The derived steady-state λ_eff/λ at gradient RMS ``rms`` (√v̂_t = rms), other values at defaults."""
    expr = weight_decay.effective_weight_decay(rule, "steady") / rule.hyper("weight_decay").symbol
    values = {h.symbol: h.default for h in rule.hypers if h.name != "weight_decay"}
    values[S.vhat] = rms**2
    number = sp.sympify(expr).xreplace(values).evalf()
    return float(number)


def table(rules: list[Rule]) -> Table:
    """λ_eff/λ against the gradient RMS, one column per rule, at each rule's default ε."""
    eps = sorted({h.default for r in rules for h in r.hypers if h.name == "eps"})
    note = prose(S.epsilon, f" = {', '.join(f'{e:g}' for e in eps)} (the default)") if eps else ()
    return Table(
        title=prose("Effective weight decay ", S.lam_eff / S.lam, " by gradient RMS ", sp.sqrt(S.vhat)),
        columns=(prose(sp.sqrt(S.vhat)), *(prose(f"{r.name}: ", S.lam_eff / S.lam) for r in rules)),
        rows=tuple((rms, *(ratio(r, rms) for r in rules)) for rms in RMS_GRID),
        note=note,
    )


@dataclass(frozen=True)
class Simulation:
    """Measured against derived λ_eff/λ for each gradient scale."""

    rule: str
    scales: tuple[float, ...]
    measured: tuple[float, ...]
    derived: tuple[float, ...]
    weight_decay: float
    steps: int
    warmup: int
    parameters: int
    seed: int

    @property
    def relative_errors(self) -> tuple[float, ...]:
        return tuple(abs(m / d - 1) for m, d in zip(self.measured, self.derived))

    @property
    def agrees(self) -> bool:
        return all(e <= TOLERANCE for e in self.relative_errors)


def simulate(
    rule: Rule,
    *,
    scales: tuple[float, ...] = SCALES,
    parameters: int = 500,
    steps: int = 1500,
    warmup: int = 500,
    lam: float = 1e-5,
    seed: int = 0,
) -> Simulation:
    """Measure each group's shrink rate due to λ with the rule's kernel, and compare with λ_eff.

    Both runs see the same gradients (pure Gaussian noise of RMS ``scale``, independent of θ), so
    their difference δ_t is the effect of λ alone. After ``warmup`` steps (moving averages filled,
    transients gone) the measured ``λ_eff = -(δ_T - δ_W)/(η Σ θ_{t-1})``, averaged over the group.
    λ is small enough that λθ is small against the smallest gradient scale (an assumption of the
    derivation, kept here so that both describe the same regime).

    Returns:
        A :class:`Simulation` with the measured and derived λ_eff/λ per group.
    """
    kernel = rule.kernel()
    rng = np.random.default_rng(seed)
    rms = np.repeat(np.asarray(scales, dtype=float), parameters)
    decayed, plain = np.ones_like(rms), np.ones_like(rms)
    state_decayed, state_plain = kernel.init(decayed), kernel.init(plain)
    lr = rule.hyper("lr").default
    total = np.zeros_like(rms)
    offset = np.zeros_like(rms)
    for t in range(1, steps + 1):
        grads = rng.standard_normal(rms.shape) * rms
        if t > warmup:
            total += decayed
        kernel.step(decayed, grads, state_decayed, t, weight_decay=lam, inplace=True)
        kernel.step(plain, grads, state_plain, t, weight_decay=0.0, inplace=True)
        if t == warmup:
            offset = decayed - plain
    delta = (decayed - plain) - offset
    measured = []
    for i in range(len(scales)):
        group = slice(i * parameters, (i + 1) * parameters)
        measured.append(float(-delta[group].mean() / (lr * total[group].mean()) / lam))
    return Simulation(
        rule=rule.name,
        scales=tuple(scales),
        measured=tuple(measured),
        derived=tuple(ratio(rule, s) for s in scales),
        weight_decay=lam,
        steps=steps,
        warmup=warmup,
        parameters=parameters,
        seed=seed,
    )


def simulation_table(simulations: list[Simulation]) -> Table:
    """Measured against derived λ_eff/λ, a row per rule and gradient scale."""
    rows = []
    for sim in simulations:
        for scale, measured, derived, error in zip(sim.scales, sim.measured, sim.derived, sim.relative_errors):
            rows.append((sim.rule, scale, derived, measured, error, "agrees" if error <= TOLERANCE else "DIFFERS"))
    sim = simulations[0]
    return Table(
        title=prose("Simulated shrink rate due to ", S.lam, ", against the derived ", S.lam_eff),
        columns=(prose("rule"), prose("gradient RMS"), prose("derived ", S.lam_eff / S.lam),
                 prose("measured ", S.lam_eff / S.lam), prose("relative error"), prose(f"within {TOLERANCE:.0%}")),
        rows=tuple(rows),
        note=prose(
            f"{sim.parameters} parameters per scale, ", sp.Eq(S.theta0, 1), ", pure-noise gradients, ", S.lam,
            f" = {sim.weight_decay:g}, {sim.steps} steps at default hyperparameters, measured after step "
            f"{sim.warmup} against a run without ", S.lam, f" on the same noise (seed {sim.seed}).",
        ),
    )


def derivation(rule: Rule) -> Derivation:
    """The coupling table and the simulation for one rule."""
    sim = simulate(rule)
    lam_eff = weight_decay.effective_weight_decay(rule, "steady")
    ratio_small, ratio_large = sim.derived[0], sim.derived[-1]
    return Derivation(
        key="coupling",
        title=TITLE,
        rule=rule.name,
        summary=prose(
            f"Under {rule.name}, parameters whose gradient RMS is {SCALES[0]:g} and {SCALES[-1]:g} are decayed in "
            f"the ratio {ratio_small / ratio_large:.4g} : 1. The derived ", S.lam_eff, ", evaluated, then measured.",
        ),
        assumptions=(
            prose("the steady-state ", S.lam_eff, " of the effective-weight-decay derivation, with ",
                  sp.Eq(S.vhat, sp.Symbol("r") ** 2), " for gradients of RMS ", sp.Symbol("r"), " (zero-mean noise)"),
            prose("hyperparameters at the rule's defaults"),
        ),
        steps=(Step(prose("The derived effective weight decay:"), (Equation(S.lam_eff, lam_eff),)),),
        results=(Equation(S.lam_eff, lam_eff),),
        tables=(table([rule]), simulation_table([sim])),
        values={"simulation": sim},
    )
