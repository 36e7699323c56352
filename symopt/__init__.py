"""symopt: derive and verify the update rules of neural-network optimizers with SymPy.

Each rule is written once, symbolically, as a chain of small transforms; from that one definition
symopt derives what the rule does, prints it, and compiles it into NumPy kernels.

    >>> import symopt
    >>> symopt.rules()
    ['sgd', 'momentum', 'adam', 'adamw', 'rmsprop', 'adagrad', 'adamax', 'nadam', 'radam', 'lion', 'schedule-free-sgd', 'schedule-free-adamw', 'muon', 'adafactor']
    >>> symopt.effective_weight_decay("adam")
    lamda/(epsilon + sqrt(vhat_t))

SymPy is imported on first use, so that ``import symopt`` and ``symopt --help`` stay fast.
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

# Public name -> module it lives in; imported when first used.
_LAZY = {
    "get": "symopt.optimizers",
    "rules": "symopt.optimizers",
    "Rule": "symopt.core",
    "effective_weight_decay": "symopt.derive",
    "stability_threshold": "symopt.derive",
    "derivations": "symopt.derive",
    "equivalent": "symopt.equiv",
    "rule_from_equations": "symopt.equations",
    "SymoptError": "symopt.errors",
    "UnknownNameError": "symopt.errors",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'symopt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
