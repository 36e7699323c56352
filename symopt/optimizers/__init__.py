"""The registry of update rules: the one list every other part of symopt reads.

``RULES`` maps each rule's name to the module of this package that defines the function of that
name; the rule's structural options, and the values each takes, come from that function's
signature (``bool`` and ``Literal[...]`` annotations), its torch.optim counterpart from the rule it
builds. The command line, the strategies, verification, export and the tests all iterate over
:func:`rules` and :func:`variants`. The list is kept as names so that ``symopt --help`` lists the
rules without importing SymPy; a rule's module is imported when the rule is first asked for.

To add a rule: write a function returning :func:`symopt.core.rule` in a module of this package, its
hand-written reference in :mod:`symopt.reference`, and its line here.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import itertools
import typing
from collections.abc import Callable

from symopt.errors import SymoptError, UnknownNameError

# name -> module of symopt.optimizers that defines a function of that name (``module:function`` where
# the name is not an identifier). In the order of the note (SGD, momentum, Adam, AdamW), then
# torch.optim's family, then Schedule-Free, Muon and Adafactor, then optax's.
RULES: dict[str, str] = {
    "sgd": "sgd",
    "momentum": "momentum",
    "adam": "adam",
    "adamw": "adam",
    "rmsprop": "rmsprop",
    "adagrad": "adagrad",
    "adamax": "adamax",
    "nadam": "nadam",
    "radam": "radam",
    "lion": "lion",
    "schedule-free-sgd": "schedule_free:schedule_free_sgd",
    "schedule-free-adamw": "schedule_free:schedule_free_adamw",
    "muon": "muon",
    "adafactor": "adafactor",
    "adabelief": "adabelief",
    "yogi": "yogi",
    "sign_sgd": "sign",
    "optimistic_gradient_descent": "optimistic",
    "adan": "adan",
    "lamb": "layerwise",
    "lars": "layerwise",
    "novograd": "layerwise",
}


def rules() -> list[str]:
    """The names of the registered rules.

    Example:
        >>> rules()[:4]
        ['sgd', 'momentum', 'adam', 'adamw']
    """
    return list(RULES)


@functools.cache
def factory(name: str) -> Callable:
    """The function that builds the rule called ``name``.

    Raises:
        UnknownNameError: for a name that is not registered (naming the closest).
    """
    if not isinstance(name, str) or name not in RULES:
        raise UnknownNameError("rule", name, RULES)
    module, _, function = RULES[name].partition(":")
    return getattr(importlib.import_module(f"symopt.optimizers.{module}"), function or name)


def options(name: str) -> dict[str, object]:
    """A rule's structural options with their defaults, e.g. ``{"nesterov": False}``."""
    return {p.name: p.default for p in inspect.signature(factory(name)).parameters.values()}


@functools.cache
def option_values(name: str) -> dict[str, tuple]:
    """The values each structural option of rule ``name`` takes, its default first.

    Read from the function's annotations: ``bool`` takes both truth values, ``Literal[...]`` its
    listed values.

    Example:
        >>> option_values("momentum")
        {'nesterov': (False, True), 'form': ('torch', 'sutskever', 'ema')}
    """
    hints = typing.get_type_hints(factory(name))
    out: dict[str, tuple] = {}
    for key, default in options(name).items():
        hint = hints.get(key)
        if hint is bool:
            values = (False, True)
        elif typing.get_origin(hint) is typing.Literal:
            values = typing.get_args(hint)
        else:
            raise SymoptError(f"{name}: option {key} needs a bool or Literal annotation")
        out[key] = (default, *(v for v in values if v != default))
    return out


def variants(name: str) -> list[dict[str, object]]:
    """Every combination of a rule's structural options, the defaults first.

    Example:
        >>> variants("nadam")
        [{'decoupled_weight_decay': False}, {'decoupled_weight_decay': True}]
    """
    values = option_values(name)
    return [dict(zip(values, combination)) for combination in itertools.product(*values.values())]


def label(rule) -> str:
    """The rule's name with the options that differ from their defaults: ``adam(epsilon='hat')``."""
    defaults = options(rule.name) if rule.name in RULES else {}
    changed = [f"{k}={v!r}" for k, v in rule.options if k in defaults and v != defaults[k]]
    return f"{rule.name}({', '.join(changed)})" if changed else rule.name


def get(name, **opts: object):
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
        SymoptError: for an option value that is not one of the option's values.

    Example:
        >>> import symopt
        >>> symopt.get("adam", bias_correction=False).options
        (('amsgrad', False), ('bias_correction', False), ('epsilon', 'outside'))
    """
    from symopt.core import Rule

    if isinstance(name, Rule):
        if opts:
            raise SymoptError("options apply to a rule name, not to a built rule")
        return name
    values = option_values(name)
    for key, value in opts.items():
        if key not in values:
            if not values:
                raise SymoptError(f"{name} has no structural options (got {key!r})")
            raise UnknownNameError(f"{name} option", key, values)
        if not any(value == v and type(value) is type(v) for v in values[key]):
            allowed = "True or False" if set(values[key]) == {True, False} else \
                "one of " + ", ".join(map(repr, values[key]))
            raise SymoptError(f"{name}: {key} must be {allowed}, not {value!r}")
    return _build(name, tuple(sorted(opts.items())))


@functools.lru_cache(maxsize=256)
def _build(name: str, opts: tuple):
    return factory(name)(**dict(opts))
