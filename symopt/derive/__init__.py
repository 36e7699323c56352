"""Derivations computed by SymPy from a rule's equations: nothing here is typed in.

Each derivation is a module with ``applies(rule)`` and ``derivation(rule)``; :func:`derivations`
runs every one that applies, in the order ``symopt derive`` prints them. To add one, write such a
module and list it in ``MODULES``.
"""

from __future__ import annotations

from symopt.core import Rule
from symopt.derive import coupling, moments, steady, weight_decay
from symopt.derive.base import Derivation
from symopt.derive.weight_decay import effective_weight_decay
from symopt.errors import UnknownNameError

MODULES = {
    "effective-weight-decay": weight_decay,
    "coupling": coupling,
    "moving-averages": moments,
    "constant-gradient": steady,
}

__all__ = ["MODULES", "derivations", "effective_weight_decay"]


def derivations(rule: str | Rule, only: str | None = None) -> list[Derivation]:
    """Every derivation that applies to ``rule`` (or only the one called ``only``).

    Args:
        rule: a rule name or a :class:`~symopt.core.Rule`.
        only: a derivation key (``"effective-weight-decay"``, ``"coupling"``,
            ``"moving-averages"``, ``"constant-gradient"``).

    Returns:
        The derivations, as :class:`~symopt.derive.base.Derivation` data.

    Example:
        >>> import symopt
        >>> [d.key for d in symopt.derivations("sgd")]
        ['effective-weight-decay', 'coupling', 'constant-gradient']
    """
    from symopt.optimizers import get

    rule = get(rule)
    if only is not None and only not in MODULES:
        raise UnknownNameError("derivation", only, MODULES)
    chosen = [MODULES[only]] if only else MODULES.values()
    return [module.derivation(rule) for module in chosen if module.applies(rule)]
