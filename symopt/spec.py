"""Rule specifications: ``NAME`` or ``NAME(option=value, ...)``, the form :func:`symopt.optimizers.label`
prints (``adam(epsilon='hat')``), parsed strictly and never evaluated.

The grammar is small and read by a hand-written scanner, not by Python::

    spec   := name [ "(" [ option ("," option)* [","] ] ")" ]
    name   := a registered rule name (letters, digits, "_" and "-")
    option := key "=" value
    value  := 'text' | "text" | True | False | true | false | a bare word

A malformed spec is a :class:`SpecError` naming the column of the problem; an unknown rule or
option names the closest valid one, and a value that is not one of the option's values lists them
(both from :func:`symopt.get`).
"""

from __future__ import annotations

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


def rule_from_spec(text: str):
    """The rule a spec names, built with its options (checked against the rule's annotations).

    Example:
        >>> rule_from_spec("momentum(form='sutskever')").options
        (('form', 'sutskever'), ('nesterov', False))

    Raises:
        SpecError: for a malformed spec; UnknownNameError for an unknown rule or option;
        SymoptError for a value that is not one of the option's values.
    """
    from symopt.equations import is_equations_path, rule_from_file
    from symopt.optimizers import get

    if is_equations_path(text):  # a file of equations: adam.txt, paper.tex
        return rule_from_file(text)
    name, options = parse(text)
    return get(name, **options)
