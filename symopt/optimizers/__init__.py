"""The registry of update rules: the one list every other part of symopt reads.

``RULES`` maps each rule's name to the module of this package that defines the function of that
name; the rule's structural options, and the values each takes, come from that function's
signature (``bool`` and ``Literal[...]`` annotations), its torch.optim counterpart from the rule it
builds. The command line, the strategies, verification, export and the tests all iterate over
:func:`rules` and :func:`variants`. The list is kept as names so that ``symopt --help`` lists the
rules without importing SymPy; a rule's module is imported when the rule is first asked for.

To add a rule: write a function returning :func:`symopt.core.rule` in a module of this package, its
hand-written reference in :mod:`symopt.reference`, and its line here.

Rules from outside the package go through the same functions (:func:`resolve`, :func:`get`,
:func:`factory`): a reference to user code, ``path/to/file.py:function`` or
``package.module:function`` (imported when first asked for: that runs the user's module), and the
rules installed packages register under the entry-point group ``symopt.rules`` (name ->
``module:function``, see :func:`plugins`). The rule a user's function builds is then known by its
own name too, so that :func:`options`, :func:`variants` and :func:`label` read its options.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import itertools
import typing
from collections.abc import Callable

from symopt.errors import SymoptError, UnknownNameError

ENTRY_POINTS = "symopt.rules"  # the entry-point group installed packages register rules under

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
    "adadelta": "adadelta",
    "rprop": "rprop",
    "asgd": "asgd",
    "sparse-adam": "sparse_adam:sparse_adam",
    "adabelief": "adabelief",
    "yogi": "yogi",
    "sign_sgd": "sign",
    "signum": "sign",
    "optimistic_gradient_descent": "optimistic",
    "adan": "adan",
    "lamb": "lamb",
    "lars": "layerwise",
    "fromage": "layerwise",
    "novograd": "layerwise",
    "adopt": "adopt",
    "laprop": "laprop",
    "madgrad": "madgrad",
    "mars": "mars",
    "adamp": "adamp",
    "sgdp": "adamp",
    "ademamix": "ademamix",
    "soap": "soap",
    "sm3": "sm3",
    "prodigy": "prodigy",
    "sgdw": "sgdw",
    "rmsproptf": "rmsprop",
    "adafactorbv": "adafactor_bv",
}


def rules() -> list[str]:
    """The names of the registered rules: symopt's own, then those installed packages register
    (:func:`plugins`).

    Example:
        >>> "adamw" in rules()
        True
    """
    return [*RULES, *plugins()]


@functools.cache
def plugins() -> dict[str, str]:
    """The rules installed packages register: entry points of the group ``symopt.rules``, each a
    name and the ``module:function`` that builds the rule (a name symopt has is not replaced).

    A package declares one in its ``pyproject.toml``::

        [project.entry-points."symopt.rules"]
        adabelief = "my_optimizers.rules:adabelief"
    """
    from importlib.metadata import entry_points

    found: dict[str, str] = {}
    for point in entry_points(group=ENTRY_POINTS):
        if point.name not in RULES:
            found.setdefault(point.name, point.value)
    return found


# A rule built from user code, by its name -> (the reference or entry point it came from, the function).
_USER: dict[str, tuple[str, Callable]] = {}


def factory(name: str) -> Callable:
    """The function that builds the rule called ``name``: a registered name, a name an installed
    package registers, the name of a user rule already built, or a reference to user code.

    Raises:
        UnknownNameError: for a name that is none of these (naming the closest).
        SymoptError: for a reference whose module does not import, or that names nothing callable.
    """
    if isinstance(name, str) and name in RULES:
        return _builtin(name)
    if isinstance(name, str) and name in _USER:
        return _USER[name][1]
    if isinstance(name, str) and (name in plugins() or is_reference(name)):
        return _user_function(plugins().get(name, name), name)
    raise UnknownNameError("rule", name, [*rules(), *_USER])


@functools.cache
def _builtin(name: str) -> Callable:
    module, _, function = RULES[name].partition(":")
    return getattr(importlib.import_module(f"symopt.optimizers.{module}"), function or name)


@functools.cache
def _user_function(reference: str, name: str) -> Callable:
    from symopt.spec import load

    try:
        function = load(reference)
    except SymoptError as exc:
        module = reference.rpartition(":")[0]
        hint = ""
        if str(exc).startswith("cannot import") and module.isidentifier():  # adma:coupling, a typo?
            from symopt.errors import closest

            hint = f" (if it is not your module but a rule: closest: {closest(module, rules())!r})"
        raise SymoptError(f"rule {name}: {exc}{hint}" if name != reference else f"{exc}{hint}") from None
    if not callable(function):
        raise SymoptError(f"{name} is not a function that builds a rule (it is {type(function).__name__})")
    return function


def is_reference(name: str) -> bool:
    """Whether ``name`` refers to user code, ``module:function`` (see :mod:`symopt.spec`)."""
    from symopt.spec import is_reference as reference

    return isinstance(name, str) and reference(name)


def options(name: str) -> dict[str, object]:
    """A rule's structural options with their defaults, e.g. ``{"nesterov": False}``.

    Raises:
        SymoptError: for a user's function with a parameter that is not an option (one without a
            default, ``*args``, ``**kwargs``).
    """
    function = factory(name)
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        raise SymoptError(f"{name}: cannot read the options of {function!r} (no signature)") from None
    for p in parameters:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.default is p.empty:
            raise SymoptError(f"{name}: every parameter of the function that builds a rule is an option with "
                              f"a default (a bool or a Literal), and {p} is not")
    return {p.name: p.default for p in parameters}


@functools.cache
def option_values(name: str) -> dict[str, tuple]:
    """The values each structural option of rule ``name`` takes, its default first.

    Read from the function's annotations: ``bool`` takes both truth values, ``Literal[...]`` its
    listed values.

    Example:
        >>> option_values("momentum")
        {'nesterov': (False, True), 'form': ('torch', 'sutskever', 'ema')}
    """
    function = factory(name)
    try:
        hints = typing.get_type_hints(function)
    except Exception as exc:  # a user's annotation that does not resolve
        raise SymoptError(f"{name}: cannot read its options' annotations ({type(exc).__name__}: {exc})") from None
    out: dict[str, tuple] = {}
    for key, default in options(name).items():
        hint = hints.get(key, bool if isinstance(default, bool) else None)  # an unannotated flag
        if hint is bool:
            values = (False, True)
        elif typing.get_origin(hint) is typing.Literal:
            values = typing.get_args(hint)
        else:
            raise SymoptError(f"{name}: option {key} needs a bool or Literal annotation")
        out[key] = (default, *(v for v in values if v != default))
    return out


@functools.cache
def option_forms(name: str) -> dict:
    """How a library's class takes each structural option of rule ``name`` that it does not take by
    the option's own name and value: the :class:`symopt.core.LibraryKeyword` of the option's
    annotation (timm's ``caution`` for ``cautious``; ADOPT's ``clip=False`` as timm's ``clip_exp=None``),
    what :mod:`symopt.verify` builds a library's class with.

    Example:
        >>> option_forms("adopt")["clip"]
        LibraryKeyword(keyword='clip_exp', values=((False, None),))
    """
    from symopt.core import LibraryKeyword

    try:
        hints = typing.get_type_hints(factory(name), include_extras=True)
    except Exception:  # a user's annotation that does not resolve: option_values says so
        return {}
    out: dict = {}
    for key in options(name):
        for extra in getattr(hints.get(key), "__metadata__", ()):
            if isinstance(extra, LibraryKeyword):
                out[key] = extra
    return out


def option_keywords(name: str) -> dict[str, str]:
    """The library keyword of each structural option of rule ``name`` whose keyword is not its name,
    read from the option's annotation (:func:`option_forms`, e.g. timm's ``caution`` for ``cautious``).

    Example:
        >>> option_keywords("adamw")
        {'cautious': 'caution'}
    """
    return {key: form.keyword for key, form in option_forms(name).items()}


def variants(name: str) -> list[dict[str, object]]:
    """Every combination of a rule's structural options, the defaults first.

    Example:
        >>> variants("momentum")  # doctest: +NORMALIZE_WHITESPACE
        [{'nesterov': False, 'form': 'torch'}, {'nesterov': False, 'form': 'sutskever'}, {'nesterov': False, 'form': 'ema'},
         {'nesterov': True, 'form': 'torch'}, {'nesterov': True, 'form': 'sutskever'}, {'nesterov': True, 'form': 'ema'}]
    """
    values = option_values(name)
    combinations = [dict(zip(values, combination)) for combination in itertools.product(*values.values())]
    return [chosen for chosen in combinations if not refused(name, chosen)]


@functools.cache
def option_requirements(name: str) -> dict:
    """The options of rule ``name`` that exist only where others take given values: the
    :class:`symopt.core.OnlyWith` of each option's annotation (LAMB's ``cautious`` with
    ``convention='timm'``).

    Example:
        >>> option_requirements("lamb")["cautious"].text()
        "convention='timm'"
    """
    from symopt.core import OnlyWith

    try:
        hints = typing.get_type_hints(factory(name), include_extras=True)
    except Exception:  # a user's annotation that does not resolve: option_values says so
        return {}
    return {key: extra for key in options(name) for extra in getattr(hints.get(key), "__metadata__", ())
            if isinstance(extra, OnlyWith)}


def refused(name: str, chosen: dict) -> str:
    """Why rule ``name`` has no variant with the options ``chosen`` (the others at their defaults),
    in one line; ``""`` where it has one.

    Example:
        >>> refused("adan", {"no_prox": True})
        "adan: no_prox=True exists only with convention='timm'"
    """
    requirements = option_requirements(name)
    if not requirements:
        return ""
    defaults = options(name)
    every = {**defaults, **chosen}
    for key, only in requirements.items():
        at_default = every[key] == defaults[key] and type(every[key]) is type(defaults[key])
        if not at_default and not only.allows(every):
            return f"{name}: {key}={every[key]!r} exists only with {only.text()}"
    return ""


def label(rule) -> str:
    """The rule's name with the options that differ from their defaults: ``adam(epsilon='hat')``."""
    defaults = options(rule.name) if rule.name in RULES or rule.name in _USER else {}
    changed = [f"{k}={v!r}" for k, v in rule.options if k in defaults and v != defaults[k]]
    return f"{rule.name}({', '.join(changed)})" if changed else rule.name


def get(name, **opts: object):
    """The rule called ``name``, built with its structural options.

    Args:
        name: a registered name (see :func:`rules`), a name an installed package registers, or a
            reference to user code (``path/to/file.py:function``, ``package.module:function``: the
            module is imported, which runs it); a :class:`~symopt.core.Rule` is returned as is.
        **opts: structural variants, e.g. ``bias_correction=False`` for ``adam`` or
            ``nesterov=True`` for ``momentum``. Hyperparameter values are not options: they are
            symbols in the rule and keywords of its kernel's ``step``.

    Returns:
        The rule.

    Raises:
        UnknownNameError: for an unknown rule or option (the message names the closest match).
        SymoptError: for an option value that is not one of the option's values; for user code that
            does not import, raises while building the rule, or returns something that is not a
            Rule, in one line naming it.

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
    why = refused(name, opts)
    if why:
        raise SymoptError(why)
    # every option spelled out, so that a variant is built once however it was asked for
    return _build(name, tuple(sorted({**options(name), **opts}.items())))


@functools.lru_cache(maxsize=None)  # one entry per variant asked for: the registry's variants are finite
def _build(name: str, opts: tuple):
    if name in RULES:
        return factory(name)(**dict(opts))
    from symopt.core import Rule

    function = factory(name)
    source = _USER[name][0] if name in _USER else plugins().get(name, name)
    try:
        made = function(**dict(opts))
    except KeyboardInterrupt:
        raise
    except SymoptError as exc:
        raise SymoptError(f"{source}: {exc}") from None
    except BaseException as exc:  # the user's code failed (SystemExit included): one line, naming it
        detail = " ".join(str(exc).split())
        raise SymoptError(f"{source}: building the rule raised {type(exc).__name__}"
                          + (f": {detail}" if detail else "")) from None
    if not isinstance(made, Rule):
        raise SymoptError(f"{source} returned {type(made).__name__}, not a Rule (build one with symopt.rule)")
    if made.name in RULES:
        raise SymoptError(f"{source} builds a rule named {made.name!r}, the name of one of symopt's rules: "
                          "give it a name of its own")
    known = _USER.get(made.name)
    if known is not None and known[1] is not function:
        raise SymoptError(f"{source} builds a rule named {made.name!r}, as {known[0]} does: give it a name of its own")
    _USER[made.name] = (source, function)
    return made


def resolve(text, **extra: object):
    """The rule a rule argument names, as every command and :mod:`symopt.torch` read it: a name or a
    spec with options (``"adam(epsilon='hat')"``), a name an installed package registers, or a
    reference to user code with its options (``"my.py:lamb(trust_clip=True)"``: the module is
    imported, which runs it). ``extra`` options are added (one given in both places is an error);
    a :class:`~symopt.core.Rule` is returned as is.

    Example:
        >>> resolve("momentum(nesterov=True)", form="ema").options
        (('form', 'ema'), ('nesterov', True))

    Raises:
        SpecError: for a malformed spec; UnknownNameError, SymoptError: as :func:`get`.
    """
    from symopt.core import Rule
    from symopt.spec import parse

    if isinstance(text, Rule) and not extra:
        return text
    name, given = parse(text)
    for key in given.keys() & extra.keys():
        raise SymoptError(f"option {key!r} is given twice, in {text} and as -O {key}=...: give it once")
    return get(name, **given, **extra)
