"""Functions that do not build a rule, each failing its own way (tests/test_user_rules.py)."""

import sympy as sp

import symopt
from symopt import Hyper, Transform, chain, rule
from symopt.hyperparameters import LR
from symopt.transforms import scale_by_learning_rate

NOT_CALLABLE = 3


def returns_a_number():
    return 3


def raises():
    raise RuntimeError("no rule\ntoday")


def exits():
    raise SystemExit(3)


def needs_an_argument(x):
    return symopt.get("sgd")


def takes_a_float(scale=1.0):
    return symopt.get("sgd")


def is_adam():
    return symopt.get("adam")


def _plain(name, summary="a rule", direction=None, hypers=(LR,)):
    apply = (lambda u: ((), LR.symbol * (u if direction is None else direction(u))))
    return rule(name, summary, "tests", chain(name, Transform("t", apply, hypers=hypers)))


def atan2():
    # atan2(g, 1 + |g|): SymPy builds atan(g/(1 + |g|)), an operation the table lacks
    return _plain("atan2-rule", direction=lambda u: sp.atan2(u, 1 + abs(u)))
