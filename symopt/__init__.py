"""symopt: derive and verify the update rules of neural-network optimizers with SymPy.

Each rule is written once, symbolically, as a chain of small transforms; from that one definition
symopt derives what the rule does, prints it, and compiles it into NumPy kernels.

    >>> import symopt
    >>> "adamw" in symopt.rules()
    True
    >>> symopt.effective_weight_decay("adam")
    lamda/(epsilon + sqrt(vhat_t))

Writing a rule of your own (the README's tutorial walks through one): :func:`rule` makes a rule from
a :func:`chain` of :class:`Transform` s (the library's are in :mod:`symopt.transforms`), each owning
its :class:`Hyper` parameters (the declared ones are in :mod:`symopt.hyperparameters`) and its
:class:`State` variables, whose symbols :func:`pair` and :func:`array` declare. Every command then
takes it as ``path/to/file.py:function`` or ``package.module:function``.

SymPy is imported on first use, so that ``import symopt`` and ``symopt --help`` stay fast.
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

# Public name -> module it lives in; imported when first used.
_LAZY = {
    "get": "symopt.optimizers",
    "rules": "symopt.optimizers",
    "resolve": "symopt.optimizers",
    "Rule": "symopt.core",
    # writing a rule: the building blocks
    "rule": "symopt.core",
    "chain": "symopt.core",
    "Transform": "symopt.core",
    "Hyper": "symopt.core",
    "State": "symopt.core",
    "Assign": "symopt.core",
    "array": "symopt.symbols",
    "pair": "symopt.symbols",
    "effective_weight_decay": "symopt.derive",
    "stability_threshold": "symopt.derive",
    "derivations": "symopt.derive",
    "equivalent": "symopt.equiv",
    "SymoptError": "symopt.errors",
    "UnknownNameError": "symopt.errors",
}

# Modules of the public API, imported when first used: symopt.transforms, symopt.hyperparameters
# (the declared hyperparameters: LR, BETA1, ...) and symopt.symbols.
_MODULES = ("transforms", "hyperparameters", "symbols")


__all__ = [*_LAZY, *_MODULES, "__version__"]


def __getattr__(name: str):
    if name in _MODULES:
        return import_module(f"symopt.{name}")
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'symopt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
