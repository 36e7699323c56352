"""Derivations computed by SymPy from a rule's equations: nothing here is typed in.

Each derivation is a module with ``TITLE``, ``REQUIRES`` (what it needs, in general), ``check(rule)``
(raises :class:`~symopt.errors.NotDerivable` with the specific reason it found, if it does not apply),
``applies(rule)`` and ``derivation(rule)``;
:func:`derivations` runs every one, in the order ``symopt derive`` prints them, and one that does not
apply to a rule says why in one line. To add one, write such a module and list it in ``KEYS``: the
one list of derivations, kept as names so that ``symopt --help`` lists them without importing SymPy.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from symopt.errors import NotDerivable, UnknownNameError

if TYPE_CHECKING:
    from symopt.core import Rule
    from symopt.derive.base import Derivation

# key -> (module of this package, what it computes in a line)
KEYS: dict[str, tuple[str, str]] = {
    "effective-weight-decay": ("weight_decay", "how strongly λ decays each parameter (the coupling problem)"),
    "coupling": ("coupling", "λ_eff over gradient scales, checked by simulation"),
    "moving-averages": ("moments", "bias correction; momentum as an average"),
    "constant-gradient": ("steady", "the step a rule settles into under a constant gradient"),
    "iterate-averaging": ("averaging", "Schedule-Free: the averaging weights, y as a momentum method, eval()"),
    "stability": ("stability", "the largest stable curvature on a quadratic (edge of stability), simulated"),
    "norms": ("norms", "weight norms: decay timescale, equilibrium of scale-invariant weights, time to a critical norm"),
    "newton-schulz": ("orthogonalization", "Muon: the iteration on singular values, the update's RMS, EMA vs sum"),
    "factored-moments": ("factored", "Adafactor: when the factored second moment is exact; memory; step size"),
    "lazy-rich": ("lazy_rich", "lazy vs rich: a diagonal network's conserved quantity, broken by a step; movement from the init and the l1 norm, by init scale"),
}


# Derivations whose simulations take seconds: `symopt derive NAME` lists them with the command that
# computes them (`--only KEY`), and `symopt export` computes them in full.
ON_REQUEST = ("stability", "norms", "lazy-rich")


class _Modules(Mapping):
    """key -> the derivation's module, imported on first use."""

    def __getitem__(self, key: str):
        if key not in KEYS:
            raise KeyError(key)
        return importlib.import_module(f"symopt.derive.{KEYS[key][0]}")

    def __iter__(self) -> Iterator[str]:
        return iter(KEYS)

    def __len__(self) -> int:
        return len(KEYS)


MODULES: Mapping = _Modules()

__all__ = ["KEYS", "MODULES", "derivations", "effective_weight_decay", "stability_threshold"]


def __getattr__(name: str):
    if name == "effective_weight_decay":  # imported on first use, with SymPy
        from symopt.derive.weight_decay import effective_weight_decay

        return effective_weight_decay
    if name == "stability_threshold":
        from symopt.derive.stability import stability_threshold

        return stability_threshold
    raise AttributeError(f"module 'symopt.derive' has no attribute {name!r}")


def derivations(rule: str | Rule, only: str | None = None) -> list[Derivation]:
    """Every derivation of ``rule`` (or only the one called ``only``), each computed or saying in
    one line why it does not apply.

    Args:
        rule: a rule name or a :class:`~symopt.core.Rule`.
        only: a derivation key (``"effective-weight-decay"``, ``"coupling"``,
            ``"moving-averages"``, ``"constant-gradient"``).

    Returns:
        The derivations, as :class:`~symopt.derive.base.Derivation` data; one that does not apply
        has ``applies`` False and the reason as its summary.

    Example:
        >>> import symopt
        >>> [d.key for d in symopt.derivations("sgd") if d.applies]
        ['effective-weight-decay', 'coupling', 'constant-gradient']
    """
    from symopt.optimizers import get

    rule = get(rule)
    if only is not None and only not in MODULES:
        raise UnknownNameError("derivation", only, MODULES)
    if only:
        return [derive(rule, only)]
    return [on_request(rule, key) if key in ON_REQUEST else derive(rule, key) for key in MODULES]


def on_request(rule: Rule, key: str) -> Derivation:
    """A derivation left out of the full list because it runs long simulations: one line saying how to get it."""
    from symopt.derive.base import Derivation, prose

    return Derivation(key=key, title=MODULES[key].TITLE, rule=rule.name,
                      summary=prose(f"Computed on request (it runs simulations): symopt derive {rule.name} --only {key}."),
                      assumptions=(), steps=(), results=(), applies=False)


@functools.lru_cache(maxsize=1024)
def derive(rule: Rule, key: str) -> Derivation:
    """The derivation ``key`` of ``rule``, or a one-line statement of why it does not apply.

    A rule is immutable data and a derivation a function of it: each is computed once in a process
    (``symopt export`` asks for a rule's derivations for its page, for each derivation's page and for
    the note)."""
    from symopt import ops

    module = MODULES[key]
    try:
        with ops.maxima_as_written():  # maxima nested in a step's expression (AdamP's cautious mask)
            module.check(rule)  # the specific reason it does not apply, if it does not
            return module.derivation(rule)
    except NotDerivable as exc:
        return not_applicable(rule, key, str(exc))


def not_applicable(rule: Rule, key: str, reason: str) -> Derivation:
    from symopt.derive.base import Derivation, prose

    return Derivation(key=key, title=MODULES[key].TITLE, rule=rule.name,
                      summary=prose(f"Does not apply to {rule.name}: {reason}."), assumptions=(), steps=(),
                      results=(), applies=False)
