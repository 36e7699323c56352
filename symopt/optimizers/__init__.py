"""The registry of update rules, one module per family (sgd.py, momentum.py, adam.py): ``get(name, **options)`` and ``rules()``.

The registry holds the rule functions themselves, so a name is checked against real objects.
To add a rule, write a function returning :func:`symopt.core.rule` in a module of this package
and list it in ``_FUNCTIONS``.
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable

from symopt.core import Rule
from symopt.errors import SymoptError, UnknownNameError
from symopt.optimizers.adam import adam, adamw
from symopt.optimizers.momentum import momentum
from symopt.optimizers.sgd import sgd
from symopt.transforms import EPSILON_PLACEMENTS

_FUNCTIONS: tuple[Callable[..., Rule], ...] = (sgd, momentum, adam, adamw)
REGISTRY: dict[str, Callable[..., Rule]] = {f.__name__: f for f in _FUNCTIONS}


def rules() -> list[str]:
    """The names of the registered rules, in the order of the note (SGD, momentum, Adam, AdamW)."""
    return list(REGISTRY)


def options(name: str) -> dict[str, object]:
    """A rule's structural options with their defaults, e.g. ``{"nesterov": False}``."""
    factory = _factory(name)
    return {p.name: p.default for p in inspect.signature(factory).parameters.values()}


# The values each structural option takes, default first.
OPTION_VALUES: dict[str, tuple] = {
    "nesterov": (False, True),
    "bias_correction": (True, False),
    "epsilon": EPSILON_PLACEMENTS,
}


def variants(name: str) -> list[dict[str, object]]:
    """Every combination of a rule's structural options, the defaults first.

    Example:
        >>> variants("momentum")
        [{'nesterov': False}, {'nesterov': True}]
    """
    keys = list(options(name))
    return [dict(zip(keys, values)) for values in itertools.product(*(OPTION_VALUES[k] for k in keys))]


def label(rule: Rule) -> str:
    """The rule's name with the options that differ from their defaults: ``adam(epsilon='hat')``."""
    changed = [f"{k}={v!r}" for k, v in rule.options if k in OPTION_VALUES and v != OPTION_VALUES[k][0]]
    return f"{rule.name}({', '.join(changed)})" if changed else rule.name


def get(name: str | Rule, **opts: object) -> Rule:
    """The rule called ``name``, built with its structural options.

    Args:
        name: a registered name (see :func:`rules`); a :class:`~symopt.core.Rule` is returned as is.
        **opts: structural variants, e.g. ``bias_correction=False`` for ``adam`` or
            ``nesterov=True`` for ``momentum``. Hyperparameter values are not options: they are
            symbols in the rule and keywords of its kernel's ``step``.

    Returns:
        The rule.

    Raises:
        UnknownNameError: for an unknown rule or option (the message names the closest match).
        SymoptError: for an option value out of its range.

    Example:
        >>> import symopt
        >>> symopt.get("adam", bias_correction=False).options
        (('bias_correction', False), ('epsilon', 'outside'))
    """
    if isinstance(name, Rule):
        if opts:
            raise SymoptError("options apply to a rule name, not to a built rule")
        return name
    factory = _factory(name)
    known = options(name)
    for key in opts:
        if key not in known:
            raise UnknownNameError(f"{name} option", key, known)
    try:
        return factory(**opts)
    except ValueError as exc:
        raise SymoptError(f"{name}: {exc}") from None


def _factory(name: str) -> Callable[..., Rule]:
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownNameError("rule", name, REGISTRY) from None
