"""The step a rule settles into under a constant gradient: momentum as an average, Adam as a sign.

With g_t = g for every t and no weight decay, the state reaches its fixed point and the step
``θ_t - θ_{t-1}`` stops changing. Heavy ball then steps ``η/(1 - ρ)`` times the gradient (the
momentum buffer is a sum of past gradients), and Adam steps ``η g/(|g| + ε)``, about η whatever the
gradient's scale.
"""

from __future__ import annotations

import sympy as sp

from symopt import symbols as S
from symopt.core import Rule
from symopt.derive.analysis import factor, steady_branches, steady_state
from symopt.derive.base import LONG_RUN as _LONG_RUN
from symopt.derive.base import Derivation, Equation, Step, holds, prose
from symopt.errors import NotDerivable

LONG_RUN = S.Tends(S.t, sp.oo)
# Δθ_t, the step (printed as θ_t - θ_{t-1}).
STEP = S.theta - S.theta_prev

TITLE = "The settled step under a constant gradient"
REQUIRES = "a state that settles to a unique fixed point under a constant gradient"


def check(rule: Rule) -> None:
    """A state with a unique fixed point under a constant gradient.

    Raises:
        NotDerivable: with what SymPy found (the state that keeps adding, the operation it cannot solve through).
    """
    try:
        values = steady_state(rule, _no_decay(rule))
    except NotDerivable:
        raise
    except (ValueError, NotImplementedError) as exc:
        raise NotDerivable(f"SymPy cannot solve for the state's fixed point ({exc})") from None
    moving = [s.name for s in rule.states if values[s.new].has(S.t)]
    if moving or values[S.theta].has(S.t):
        from symopt.printing import text

        first = next((s for s in (*rule.scalars, *rule.states) if s.name in moving), None)
        shown = f"{text(first.new)} = {text(values[first.new])}" if first else "its step"
        raise NotDerivable(f"its step still changes with t as t → ∞ ({shown}), so it settles to no fixed step")


def applies(rule: Rule) -> bool:
    """Any rule whose state has a unique fixed point under a constant gradient."""
    return holds(check, rule)


def _no_decay(rule: Rule) -> dict:
    decay = rule.hyper("weight_decay")
    return {decay.symbol: sp.S.Zero} if decay else {}


def steady_step(rule: Rule) -> sp.Expr:
    """θ_t - θ_{t-1} once the state has settled under a constant gradient g_t, without weight decay."""
    values = steady_state(rule, _no_decay(rule))
    return factor(values[S.theta] - S.theta_prev)


def derivation(rule: Rule) -> Derivation:
    """The settled state, the settled step, and the step with the hyperparameters that default to 0 at 0."""
    values = steady_state(rule, _no_decay(rule))
    step = factor(values[S.theta] - S.theta_prev)
    zero_defaults = {h.symbol: 0 for h in rule.hypers if h.default == 0 and h.name != "weight_decay"}
    steps = [
        Step(
            prose("Hold the gradient ", S.g, " constant, set ", sp.Eq(S.lam, 0), ", and solve for the state that "
                  "each update leaves unchanged (", LONG_RUN, "):"),
            tuple(Equation(s.new, values[s.new]) for s in rule.states),
        ),
        Step(prose("The step then stops changing:"), (Equation(STEP, step),)),
    ]
    branches = steady_branches(rule, _no_decay(rule))
    settled_in = (prose("the branches the rule's own iteration settles in at the defaults (for either sign of ", S.g,
                        "): ", *[p for i, c in enumerate(branches) for p in ((", " if i else ""), c)]),) if branches else ()
    when = (prose("a constant gradient ", S.g), prose(sp.Eq(S.lam, 0)), _LONG_RUN(), *settled_in)
    results = [Equation(STEP, step, when=when)]
    if zero_defaults and step.has(*zero_defaults):
        plain = factor(step.xreplace(zero_defaults))
        names = ", ".join(h.name for h in rule.hypers if h.symbol in zero_defaults)
        steps.append(
            Step(prose(f"With {names} at its default, ", *_equalities(zero_defaults), ":"), (Equation(STEP, plain),))
        )
        results.append(Equation(STEP, plain, when=when + tuple(prose(sp.Eq(k, v)) for k, v in zero_defaults.items())))
    return Derivation(
        key="constant-gradient",
        title=TITLE,
        rule=rule.name,
        summary=prose(
            "Where the rule's state settles when the gradient does not change, and the step it then "
            "takes: how many times the gradient, scaled by ", S.eta, ", the rule moves the parameter."
        ),
        assumptions=(
            *((prose("the state is solved in the branches of its max, min, sign or case split that the rule's update, "
                     "iterated with numbers from its initial state at the default hyperparameters, settles in (for a "
                     "gradient of either sign); the solution reproduces the iterated state"),) if branches else ()),
            prose("the gradient ", S.g, " is the same at every step"),
            prose("no weight decay, ", sp.Eq(S.lam, 0)),
            prose(LONG_RUN, ": the state has reached its fixed point"),
        ),
        steps=tuple(steps),
        results=tuple(results),
        values={"step": step},
    )


def _equalities(values: dict) -> list:
    parts: list = []
    for i, (symbol, value) in enumerate(values.items()):
        parts += ([", "] if i else []) + [sp.Eq(symbol, value)]
    return parts
