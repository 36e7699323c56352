"""Two rules side by side: where their chains differ, their λ_eff, and when they take the same step."""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from symopt.core import Rule
from symopt.derive import coupling, weight_decay
from symopt.derive.base import Table


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` finds; ``same_without_decay`` is None when a rule has no weight decay."""

    rules: tuple[Rule, Rule]
    reordered: bool  # the same transforms, in another order
    steady: tuple[sp.Expr, sp.Expr] | None
    one_step: tuple[sp.Expr, sp.Expr] | None
    same_without_decay: bool | None
    table: Table | None
    simulation: Table | None


def same_step(a: Rule, b: Rule, values: dict | None = None) -> bool:
    """Whether the two rules compute the same new parameter and state, symbolically.

    Args:
        a, b: the rules (their state variables must have the same names).
        values: substitutions made first, e.g. ``{λ: 0}``.

    Returns:
        True when every output's difference simplifies to 0.
    """
    if [s.name for s in a.states] != [s.name for s in b.states]:
        return False
    ma, mb = a.step_map(), b.step_map()
    values = values or {}
    return all(sp.simplify((ma[k] - mb[k]).xreplace(values)) == 0 for k in ma)


def compare(a: Rule, b: Rule, simulate: bool = True) -> Comparison:
    """Compare two rules: their chains, their effective weight decays and the coupling table.

    Example:
        >>> import symopt
        >>> from symopt.compare import compare
        >>> c = compare(symopt.get("adam"), symopt.get("adamw"), simulate=False)
        >>> c.reordered, c.same_without_decay
        (True, True)
    """
    decays = weight_decay.applies(a) and weight_decay.applies(b)
    steady = one_step = same = table = simulation = None
    if decays:
        steady = tuple(weight_decay.effective_weight_decay(r, "steady") for r in (a, b))
        one_step = tuple(weight_decay.effective_weight_decay(r, "one-step") for r in (a, b))
        zero = {a.hyper("weight_decay").symbol: 0, b.hyper("weight_decay").symbol: 0}
        same = same_step(a, b, zero)
        table = coupling.table([a, b])
        if simulate:
            simulation = coupling.simulation_table([coupling.simulate(a), coupling.simulate(b)])
    return Comparison(
        rules=(a, b),
        reordered=a.transforms != b.transforms and sorted(a.transforms) == sorted(b.transforms),
        steady=steady,
        one_step=one_step,
        same_without_decay=same,
        table=table,
        simulation=simulation,
    )


__all__ = ["Comparison", "compare", "same_step"]
