"""The errors symopt raises for bad input: ValueErrors whose message is one line for a user."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class SymoptError(ValueError):
    """Bad input to symopt: the message says what was wrong and what is valid, in one line."""


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name most like ``name`` (difflib's ratio), or None if there is none."""
    valid = list(valid)
    found = difflib.get_close_matches(str(name), valid, n=1, cutoff=0.0)
    return found[0] if found else None


class UnknownNameError(SymoptError, LookupError):
    """A name symopt does not know (a rule, an option, a derivation, a hyperparameter).

    The message names the closest valid name and all of them:
    ``unknown rule 'adma' (closest: 'adam'); valid: sgd, momentum, adam, adamw``.
    """

    def __init__(self, kind: str, name: str, valid: Iterable[str]):
        self.kind, self.name, self.valid = kind, name, list(valid)
        match = closest(name, self.valid)
        hint = f" (closest: {match!r})" if match else ""
        super().__init__(f"unknown {kind} {name!r}{hint}; valid: {', '.join(self.valid)}")
