"""Rule specifications: ``NAME`` or ``NAME(option=value, ...)``, the form :func:`symopt.optimizers.label`
prints (``adam(epsilon='hat')``), and rules written outside symopt: ``path/to/file.py:function`` or
``package.module:function``, with the same options (``"my.py:lamb(trust_clip=True)"``). Specs are
parsed strictly and never evaluated; a reference is imported by :func:`load` (that runs the user's
module, as importing it would).

The grammar is small and read by a hand-written scanner, not by Python::

    spec      := target [ "(" [ option ("," option)* [","] ] ")" ]
    target    := name | reference
    name      := a registered rule name (letters, digits, "_" and "-")
    reference := module ":" function
    module    := a dotted module name (my_rules.adam) or a path to a .py file (no "(" in it)
    function  := an identifier
    option    := key "=" value
    value     := 'text' | "text" | True | False | true | false | a bare word

A malformed spec is a :class:`SpecError` naming the column of the problem; an unknown rule or
option names the closest valid one, and a value that is not one of the option's values lists them
(both from :func:`symopt.get`).
"""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import os
import sys
from pathlib import Path

from symopt.errors import SymoptError

_WORDS = {"True": True, "False": False, "true": True, "false": False}
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_KEY_CHARS = _NAME_CHARS - {"-"}


class SpecError(SymoptError):
    """A malformed rule spec: the message quotes it and names the column (from 1) of the problem."""

    def __init__(self, text: str, column: int, problem: str):
        self.text, self.column, self.problem = text, column, problem
        super().__init__(f"bad rule spec {text!r} at column {column}: {problem}")


class _Scanner:
    def __init__(self, text: str):
        self.text, self.i = text, 0

    def fail(self, problem: str, at: int | None = None):
        raise SpecError(self.text, (self.i if at is None else at) + 1, problem)

    def skip_space(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.i += 1

    def peek(self) -> str:
        return self.text[self.i] if self.i < len(self.text) else ""

    def word(self, chars: frozenset, what: str) -> str:
        self.skip_space()
        start = self.i
        while self.i < len(self.text) and self.text[self.i] in chars:
            self.i += 1
        if self.i == start:
            found = f"{self.peek()!r}" if self.peek() else "the end"
            self.fail(f"expected {what}, found {found}")
        return self.text[start:self.i]

    def expect(self, char: str, what: str) -> None:
        self.skip_space()
        if self.peek() != char:
            found = f"{self.peek()!r}" if self.peek() else "the end"
            self.fail(f"expected {what}, found {found}")
        self.i += 1

    def value(self) -> object:
        self.skip_space()
        quote = self.peek()
        if quote in ("'", '"'):
            start = self.i
            end = self.text.find(quote, self.i + 1)
            if end < 0:
                self.fail("unterminated string", at=start)
            text = self.text[self.i + 1:end]
            if "\\" in text:
                self.fail("escapes are not allowed in a value", at=self.i + 1 + text.index("\\"))
            self.i = end + 1
            return text
        word = self.word(_KEY_CHARS, "a value (a quoted string, True, False or a word)")
        return _WORDS.get(word, word)


def parse(text: str) -> tuple[str, dict[str, object]]:
    """Split a spec into the rule's name and its options, without checking them against the registry.

    Example:
        >>> parse("adamw(decay='paper', amsgrad=True)")
        ('adamw', {'decay': 'paper', 'amsgrad': True})
        >>> parse("adam(epsilon=)")
        Traceback (most recent call last):
        ...
        symopt.spec.SpecError: bad rule spec 'adam(epsilon=)' at column 14: expected a value (a quoted string, True, False or a word), found ')'

    Raises:
        SpecError: for anything outside the grammar, naming the column.
    """
    if not isinstance(text, str):
        raise SymoptError(f"a rule spec is text, not {type(text).__name__}")
    for i, char in enumerate(text):
        if not char.isprintable():
            raise SpecError(text, i + 1, f"unprintable character {char!r}")
    scan = _Scanner(text)
    paren = text.find("(")
    if ":" in (text if paren < 0 else text[:paren]):  # a reference, module:function
        scan.skip_space()
        end = len(text) if paren < 0 else paren
        name = text[scan.i:end].strip()
        _check_reference(text, scan.i, name)
        scan.i = end
    else:
        name = scan.word(_NAME_CHARS, "a rule name")
    options: dict[str, object] = {}
    scan.skip_space()
    if scan.peek() == "(":
        scan.i += 1
        scan.skip_space()
        while scan.peek() != ")":
            start = scan.i
            key = scan.word(_KEY_CHARS, "an option name or ')'")
            if key[0].isdigit():
                scan.fail(f"expected an option name, found {key!r}", at=start)
            if key in options:
                scan.fail(f"option {key!r} is given twice", at=start)
            scan.expect("=", f"'=' after {key}")
            options[key] = scan.value()
            scan.skip_space()
            if scan.peek() == ",":
                scan.i += 1
                scan.skip_space()
            elif scan.peek() != ")":
                found = f"{scan.peek()!r}" if scan.peek() else "the end"
                scan.fail(f"expected ',' or ')', found {found}")
        scan.i += 1
    scan.skip_space()
    if scan.i < len(text):
        scan.fail(f"unexpected {scan.peek()!r} after the spec")
    return name, options


def is_reference(name: str) -> bool:
    """Whether a parsed target is a reference to user code (``module:function``), not a name."""
    return ":" in name


def _check_reference(text: str, start: int, target: str) -> None:
    module, _, function = target.rpartition(":")
    at = start + len(module) + 1
    if not module.strip():
        raise SpecError(text, start + 1, "expected a module or a .py file before ':'")
    if not function.isidentifier():
        raise SpecError(text, at + 1, f"expected a function name after ':', found {function!r}" if function
                        else "expected a function name after ':'")
    if not _is_path(module) and not all(part.isidentifier() for part in module.split(".")):
        raise SpecError(text, start + 1, f"{module!r} is neither a dotted module name nor a path to a .py file")


def _is_path(module: str) -> bool:
    return module.endswith(".py") or "/" in module or os.sep in module


_LOADED = itertools.count(1)  # numbers the user modules loaded from files


def _one_line(exc: BaseException) -> str:
    try:
        detail = " ".join(str(exc).split())
    except Exception:  # an exception that cannot even say what it is
        detail = "(its message cannot be printed)"
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def load(reference: str):
    """Import the module of ``"module:name"`` or ``"path/to/file.py:name"`` and return ``name`` from it.

    A file is imported under a name of its own (a user's ``numpy.py`` does not stand in for the real
    one); a dotted module is imported from the working folder or ``sys.path``. This runs the user's
    module: name only code you trust.

    Raises:
        SymoptError: in one line naming the file or module: it does not exist, does not import
            (whatever it raises while importing, SystemExit included: the exception is named), or
            has no such attribute.
    """
    module_name, sep, attribute = reference.rpartition(":")
    if not sep or not module_name or not attribute:
        raise SymoptError(f"{reference!r} is not MODULE:FUNCTION (e.g. my_adamw:step or path/to/file.py:step)")
    if "\0" in reference:
        raise SymoptError(f"{reference!r} is not MODULE:FUNCTION: it holds a NUL character")
    registered = None
    try:
        if _is_path(module_name):
            path = Path(module_name)
            if not path.is_file():
                raise SymoptError(f"no file {module_name!r}")
            if path.suffix != ".py":
                raise SymoptError(f"cannot import {module_name!r}: not a Python file (.py)")
            # In sys.modules, as an import would put it (dataclasses look it up there), under a name
            # of its own: a user's numpy.py or matplotlib.py must not stand in for the real one.
            registered = f"_symopt_user_{next(_LOADED)}_{''.join(c if c.isalnum() else '_' for c in path.stem)}"
            loader_spec = importlib.util.spec_from_file_location(registered, path)
            if loader_spec is None or loader_spec.loader is None:
                raise SymoptError(f"cannot import {module_name!r}: not a Python file")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[registered] = module
            loader_spec.loader.exec_module(module)
        else:
            if "" not in sys.path and str(Path.cwd()) not in sys.path:
                sys.path.insert(0, str(Path.cwd()))
            module = importlib.import_module(module_name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the user's module failed while loading, even with sys.exit()
        if registered is not None:
            sys.modules.pop(registered, None)
        if isinstance(exc, SymoptError):
            raise
        if isinstance(exc, ImportError) and getattr(exc, "name", None) == module_name:
            raise SymoptError(f"cannot import {module_name!r}: {' '.join(str(exc).split())}") from None
        raise SymoptError(f"importing {module_name!r} failed: {_one_line(exc)}") from None
    missing = object()
    try:
        found = getattr(module, attribute, missing)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a module __getattr__ that raises
        raise SymoptError(f"looking up {attribute!r} in {module_name!r} failed: {_one_line(exc)}") from None
    if found is missing:
        raise SymoptError(f"{module_name!r} has no {attribute!r}")
    return found


def rule_from_spec(text: str):
    """The rule a spec names, built with its options (checked against the rule's annotations): a
    registered name, a name an installed package registers, or a reference to user code (see
    :func:`symopt.optimizers.resolve`).

    Example:
        >>> rule_from_spec("momentum(form='sutskever')").options
        (('form', 'sutskever'), ('nesterov', False))

    Raises:
        SpecError: for a malformed spec; UnknownNameError for an unknown rule or option;
        SymoptError for a value that is not one of the option's values.
    """
    from symopt.optimizers import resolve

    return resolve(text)
