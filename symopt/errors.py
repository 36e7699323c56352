"""The errors symopt raises for bad input: ValueErrors whose message is one line for a user."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SymoptError(ValueError):
    """Bad input to symopt: the message says what was wrong and what is valid, in one line."""


def _typos(a: str, b: str) -> int:
    """The number of typos between ``a`` and ``b``: a letter missing, extra, wrong, or two swapped
    (the optimal string alignment distance)."""
    previous, row = None, list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, y in enumerate(b, start=1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (x != y))
            if previous is not None and i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                current[j] = min(current[j], previous[j - 2] + 1)
        previous, row = row, current
    return row[-1]


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name most like ``name``, ignoring case, or None if there is none.

    A name one typo away (two for long names) wins: ``adma`` suggests ``adam``, not ``adamax``;
    otherwise difflib's ratio decides (``bias`` suggests ``bias_correction``). Only the suggestion
    ignores case: ``ADAM`` suggests ``adam``, and is still not a valid name.
    """
    by_lower: dict[str, str] = {}
    for v in valid:
        by_lower.setdefault(str(v).lower(), str(v))
    if not by_lower:
        return None
    typed = str(name).lower()
    ratio = lambda v: difflib.SequenceMatcher(None, typed, v).ratio()  # noqa: E731
    near = [v for v in by_lower if _typos(typed, v) <= (2 if len(typed) >= 8 else 1)]
    if near:
        return by_lower[min(near, key=lambda v: (_typos(typed, v), -ratio(v)))]
    found = difflib.get_close_matches(typed, list(by_lower), n=1, cutoff=0.0)
    return by_lower[found[0]] if found else None


class UnknownNameError(SymoptError, LookupError):
    """A name symopt does not know (a rule, an option, a derivation, a hyperparameter).

    The message names the closest valid name and all of them:
    ``unknown rule 'adma' (closest: 'adam'); valid: sgd, momentum, adam, adamw``.
    """

    def __init__(self, kind: str, name: str, valid: Iterable[str]):
        self.kind, self.name, self.valid = kind, name, list(valid)
        if not self.valid:  # e.g. an option of a rule that has none
            owner, _, noun = kind.rpartition(" ")
            none = f"{owner} has no {noun}s" if owner else f"there are no {noun}s"
            super().__init__(f"unknown {kind} {name!r}: {none}")
            return
        match = closest(name, self.valid)
        hint = f" (closest: {match!r})" if match else ""
        super().__init__(f"unknown {kind} {name!r}{hint}; valid: {', '.join(map(str, self.valid))}")


class NotDerivable(SymoptError):
    """A derivation that does not hold for a rule, or that SymPy cannot carry out for it: the message
    says why in one line (``the state s has no fixed point: it sums g_t² without decay``)."""
