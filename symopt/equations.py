"""A rule from its equations: the update written as assignments, in text or LaTeX, read into a Rule.

The notation is the one symopt prints (``str(rule)`` and ``rule.latex()``) and the one papers
write, in plain ASCII too::

    m_t = beta1*m_{t-1} + (1 - beta1)*g_t
    v_t = beta2*v_{t-1} + (1 - beta2)*g_t^2
    mhat_t = m_t/(1 - beta1^t)
    vhat_t = v_t/(1 - beta2^t)
    theta_t = theta_{t-1} - lr*mhat_t/(sqrt(vhat_t) + eps)

or ``m_t \\gets \\beta_1 m_{t-1} + (1-\\beta_1) g_t`` ... ``\\theta_t \\leftarrow \\theta_{t-1} -
\\eta \\hat m_t/(\\sqrt{\\hat v_t} + \\epsilon)``. The text is **parsed, never evaluated**: a small
tokenizer and a recursive-descent parser build SymPy expressions from symopt's own symbols
(:mod:`symopt.symbols`) and the operations of :mod:`symopt.ops`, nothing else; an unknown symbol or
function is a one-line error naming it and its line and column.

What each name is:

- ``θ``/``theta`` is the parameter (``θ_{t-1}`` before the step, ``θ_t`` after it, the last
  equation), ``g`` the gradient (``g_t``; an equation may reassign it, ``g_t = g_t + λθ_{t-1}``),
  ``t`` the step counter, ``θ_0`` the initial parameters;
- a name written both ``x_t`` and ``x_{t-1}`` is a state variable (``x_0 = ...`` gives its value
  before the first step, 0 unless said); any other name assigned is an intermediate, such as a
  bias-corrected moment ``\\hat m_t = m_t/(1-\\beta_1^t)``;
- hyperparameters are the declared ones (:mod:`symopt.hyperparameters`' by keyword or symbol, or
  your own :class:`~symopt.core.Hyper` with its range): by their symbol's notation (``η``,
  ``\\beta_1``, ``beta1``) or their keyword (``lr``, ``eps``).

A symbol symopt already declares (``m̂ₜ``, ``vᵐᵃˣₜ``, ``Πₜ``) is used as is, so a rule printed by
symopt reads back as itself; a new name gets a new symbol. :func:`source` prints a rule in this
notation, and refuses, in one line, a rule whose printed equations do not determine it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import sympy as sp

from symopt import ops
from symopt import symbols as S
from symopt.core import Hyper, Rule, State
from symopt.errors import SymoptError

__all__ = ["EquationError", "expressible", "is_equations_path", "rule_from_equations", "rule_from_file", "source"]


class EquationError(SymoptError):
    """Equations that cannot be read: the message names the problem, its line and column."""


# --- characters -----------------------------------------------------------------------------------
_GREEK = {
    "α": "alpha", "β": "beta", "γ": "gamma", "δ": "delta", "ε": "epsilon", "ϵ": "epsilon", "ζ": "zeta",
    "η": "eta", "θ": "theta", "ϑ": "theta", "ι": "iota", "κ": "kappa", "λ": "lamda", "μ": "mu", "ν": "nu",
    "ξ": "xi", "π": "pi", "ρ": "rho", "σ": "sigma", "τ": "tau", "υ": "upsilon", "φ": "phi", "ϕ": "phi",
    "χ": "chi", "ψ": "psi", "ω": "omega", "Γ": "Gamma", "Δ": "Delta", "Θ": "Theta", "Λ": "Lamda", "Ξ": "Xi",
    "Π": "Pi", "Σ": "Sigma", "Υ": "Upsilon", "Φ": "Phi", "Ψ": "Psi", "Ω": "Omega",
}
# LaTeX's commands for them, and the spellings SymPy and people use for a few
_GREEK_COMMANDS = {name: name for name in set(_GREEK.values())} | {
    "lambda": "lamda", "Lambda": "Lamda", "varepsilon": "epsilon", "vartheta": "theta", "varphi": "phi",
    "varrho": "rho", "varpi": "pi", "varsigma": "sigma"}
_SUBSCRIPTS = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋ₐₑₒₓₕₖₗₘₙₚₛₜᵢᵣᵤᵥⱼ", "0123456789+-aeoxhklmnpstiruvj"))
_SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ᵗᵐᵃˣˢˡᵒʷᵖʳᵉᵛⁱⁿᶜ", "0123456789+-tmaxslowprevinc"))
_DECORATIONS = {"\u0302": "hat", "\u0303": "tilde", "\u0304": "bar", "\u0305": "bar"}
_DECORATION_COMMANDS = {"hat": "hat", "widehat": "hat", "tilde": "tilde", "widetilde": "tilde", "bar": "bar",
                        "overline": "bar"}
_SYMBOLS = {"·": "*", "×": "*", "∙": "*", "⋅": "*", "−": "-", "≥": ">=", "≤": "<=", "≠": "!=", "∧": "&&", "←": "<-",
            "√": "sqrt", "‖": "‖", "|": "|", "+": "+", "-": "-", "*": "*", "/": "/", "^": "^", "(": "(", ")": ")",
            "[": "(", "]": ")", ",": ",", "=": "=", "<": "<", ">": ">", "{": "{", "}": "}", "_": "_", "&": "&",
            ";": ";", "!": "!", ":": ":"}
_COMMANDS = {
    "cdot": "*", "times": "*", "ast": "*", "geq": ">=", "ge": ">=", "leq": "<=", "le": "<=", "neq": "!=", "ne": "!=", "wedge": "&&", "land": "&&",
    "gets": "<-", "leftarrow": "<-", "coloneqq": "<-", "sqrt": "sqrt", "frac": "frac", "dfrac": "frac", "tfrac": "frac",
    "|": "‖", "Vert": "‖", "vert": "|", "lvert": "|", "rvert": "|", "lVert": "‖", "rVert": "‖",
}
# sizes and spacing, read as nothing
_IGNORED = {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr",
            ",", ":", ";", "!", " ", "quad", "qquad", "displaystyle", "textstyle", "nonumber", "notag"}
_WRAPPERS = {"text", "mathrm", "textrm", "mathit", "textit", "operatorname", "mathbf", "textbf", "boldsymbol",
             "mathsf", "texttt", "mbox"}
_MAX = "max"
_KEYWORDS = {"if", "else", "otherwise", "for", "to", "do", "input", "initialize", "return", "end", "while"}
_LAYOUT = re.compile(r"\s*\{(?:aligned|align\*?|equation\*?|gathered|split|algorithmic)\}")


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "greek", "num", "cmd", "op", "sub", "sup", "decor", "sep", "end"
    value: str
    line: int
    col: int
    space: bool = False  # whitespace before it


class _Lexer:
    """Characters to tokens. LaTeX commands are kept as ``cmd`` tokens for the parser; text mode
    (no backslash in the input) ends an equation at a newline, LaTeX mode at ``\\\\``."""

    def __init__(self, text: str, latex: bool):
        self.text, self.latex = text, latex

    def tokens(self) -> list[_Token]:
        out: list[_Token] = []
        text, i, line, start = self.text, 0, 1, 0
        space = False
        while i < len(text):
            c = text[i]
            col = i - start + 1
            if c == "\n":
                if not self.latex:
                    out.append(_Token("sep", "\n", line, col))
                line, start, i, space = line + 1, i + 1, i + 1, True
                continue
            if c in " \t\r$":
                i, space = i + 1, True
                continue
            if c == "%" and self.latex:  # a LaTeX comment, to the end of the line
                while i < len(text) and text[i] != "\n":
                    i += 1
                continue
            if c == "#" and not self.latex:  # a comment in text
                while i < len(text) and text[i] != "\n":
                    i += 1
                continue
            if c == "\\":
                j = i + 1
                if j < len(text) and text[j].isalpha():
                    while j < len(text) and text[j].isalpha():
                        j += 1
                    name = text[i + 1:j]
                else:
                    name = text[j:j + 1]
                    j += 1
                if name == "\\":
                    out.append(_Token("sep", "\\\\", line, col, space))
                    # an optional spacing argument: \\[-1.ex]
                    k = j
                    while k < len(text) and text[k] in " \t":
                        k += 1
                    if k < len(text) and text[k] == "[":
                        close = text.find("]", k)
                        j = close + 1 if close > 0 else j
                elif name in ("begin", "end") and (layout := _LAYOUT.match(text, j)):
                    out.append(_Token("sep", "", line, col, space))  # an aligned block's edges
                    j = layout.end()
                else:
                    out.append(_Token("cmd", name, line, col, space))
                i, space = j, False
                continue
            if c in "0123456789" or (c == "." and text[i + 1:i + 2] in tuple("0123456789")):
                pattern = r"\d*\.?\d+(?:[eE][-+]?\d+)?" if not self.latex else r"\d*\.?\d+"
                match = re.compile(r"\d+\.\d*(?:[eE][-+]?\d+)?|" + pattern).match(text, i)
                j = match.end()
                out.append(_Token("num", text[i:j].rstrip("."), line, col, space))
                i, space = j, False
                continue
            if c.isascii() and c.isalpha():
                j = i
                while j < len(text) and text[j].isascii() and (text[j].isalnum() or (
                        self.latex and text[j:j + 2] == "\\_" and text[j + 2:j + 3].isalpha())):
                    j += 2 if text[j] == "\\" else 1  # state\_sum in LaTeX is one name
                out.append(_Token("word", text[i:j].replace("\\_", "_"), line, col, space))
                i, space = j, False
                continue
            if c in _GREEK:
                out.append(_Token("greek", _GREEK[c], line, col, space))
                i, space = i + 1, False
                continue
            if c in _DECORATIONS:
                out.append(_Token("decor", _DECORATIONS[c], line, col, space))
                i += 1
                continue
            if c in _SUBSCRIPTS:
                j = i
                run = ""
                while j < len(text) and (text[j] in _SUBSCRIPTS or (text[j] == " " and j + 1 < len(text)
                                                                   and text[j + 1] in _SUBSCRIPTS and run)):
                    run += _SUBSCRIPTS.get(text[j], "")
                    j += 1
                out.append(_Token("sub", run, line, col, space))
                i, space = j, False
                continue
            if c in _SUPERSCRIPTS or c == "ᵀ":
                j = i
                while j < len(text) and text[j] in _SUPERSCRIPTS:
                    j += 1
                out.append(_Token("sup", "".join(_SUPERSCRIPTS[ch] for ch in text[i:j]), line, col, space))
                i, space = j, False
                continue
            if c == "∇":
                out.append(_Token("cmd", "nabla", line, col, space))
                i, space = i + 1, False
                continue
            if c == "∞":
                out.append(_Token("word", "inf", line, col, space))
                i, space = i + 1, False
                continue
            two = text[i:i + 2]
            if two in (">=", "<=", "!=", ":=", "<-", "->"):
                out.append(_Token("op", {":=": "<-"}.get(two, two), line, col, space))
                i, space = i + 2, False
                continue
            if c in _SYMBOLS:
                out.append(_Token("op", _SYMBOLS[c], line, col, space))
                i, space = i + 1, False
                continue
            raise EquationError(f"line {line}, column {col}: unexpected character {c!r}")
        out.append(_Token("end", "", line, len(text) - start + 1, space))
        return out


# --- identifiers ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ident:
    """A name as written: its stem (``m``, ``hat(m)``, ``v^max``) and subscript (``t``, ``t-1``)."""

    stem: str
    sub: str
    text: str
    line: int = 0
    col: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.stem, self.sub)


def _normal_sub(sub: str) -> str:
    sub = sub.replace(" ", "")
    return {"tm1": "t-1", "tp1": "t+1", "∞": "inf", "infty": "inf"}.get(sub, sub)


# --- the parser -----------------------------------------------------------------------------------
# The AST: ("num", Rational) | ("id", Ident) | (op, *children) with op in add, sub, mul, div, pow,
# neg, sqrt, abs, norm | ("call", Operation, [args], token) | ("piecewise", [(value, cond)], other)
# | ("rel", relation, a, b) | ("and", condition, condition, ...).
_RELATIONS = {"=": sp.Eq, "!=": sp.Ne, ">": sp.StrictGreaterThan, ">=": sp.GreaterThan, "<": sp.StrictLessThan,
              "<=": sp.LessThan}


@functools.cache
def _functions() -> tuple[dict, dict]:
    """The operations written as calls, by the name their notation calls them (``max``, ``sign``,
    ``rowmean``), read off each operation's own notation in :mod:`symopt.ops`; and the heads of
    notations that hide arguments (``NS`` for Newton–Schulz) with the operation, for an error."""
    calls: dict[str, ops.Operation] = {}
    hidden: dict[str, ops.Operation] = {}
    for op in ops.OPERATIONS:
        if not op.in_rules or op.sympy in (sp.Pow, sp.Piecewise):
            continue
        n = _arity(op)
        args = sp.symbols(f"X0:{n}")
        expr = op.sympy(*args, evaluate=False) if op.sympy in (sp.Max, sp.Min) else op.sympy(*args)
        for form in (op.text(lambda a: str(a), expr), op.latex(lambda a: str(a), expr)):
            match = re.fullmatch(r"\\?(?:operatorname\{)?(\w+?)\}?(_\{?\w+\}?)?(?:\\left)?\((.*?)(?:\\right)?\)", form)
            if not match:
                continue
            shown = re.findall(r"X\d+", form)
            if match.group(2) or len(set(shown)) < n:
                hidden.setdefault(match.group(1), op)
            else:
                calls.setdefault(match.group(1), op)
    return calls, hidden


def _arity(op: ops.Operation) -> int:
    nargs = getattr(op.sympy, "nargs", None)
    if op.sympy in (sp.Max, sp.Min) or not isinstance(nargs, (set, frozenset, sp.FiniteSet)):
        return 2 if op.sympy in (sp.Max, sp.Min) else 1
    return max(int(n) for n in nargs)


_SYNTAX = {  # the operations the grammar spells itself: √x, |x|, ‖X‖_F
    "sqrt": lambda a: sp.sqrt(a), "abs": lambda a: sp.Abs(a), "norm": lambda a: ops.Norm(a),
}
_ALIASES = {"sqrt": "sqrt", "abs": "abs", "norm": "norm"}  # ASCII calls for them: sqrt(x), abs(x)


class _Parser:
    def __init__(self, tokens: list[_Token], latex: bool):
        self.tokens, self.i, self.latex = tokens, 0, latex
        self.norms = 0  # how many ‖·‖ are open: inside one, a ‖ closes it (it does not start a product's factor)

    # --- helpers
    def peek(self, k: int = 0) -> _Token:
        j = self.i
        while True:
            tok = self.tokens[min(j, len(self.tokens) - 1)]
            if tok.kind == "cmd" and tok.value in _IGNORED:
                j += 1
                continue
            if k == 0:
                return tok
            k, j = k - 1, j + 1

    def next(self) -> _Token:
        tok = self.peek()
        while self.tokens[self.i] is not tok:
            self.i += 1
        self.i += 1
        return tok

    def fail(self, problem: str, tok: _Token | None = None):
        tok = tok or self.peek()
        raise EquationError(f"line {tok.line}, column {tok.col}: {problem}")

    def found(self, tok: _Token) -> str:
        return "the end of the equation" if tok.kind in ("end", "sep") else f"{_spelled(tok)!r}"

    def is_op(self, value: str, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind == "op" and tok.value == value or (tok.kind == "cmd" and _COMMANDS.get(tok.value) == value)

    def expect(self, value: str, what: str) -> _Token:
        if not self.is_op(value):
            self.fail(f"expected {what}, found {self.found(self.peek())}")
        return self.next()

    def word_is(self, *words: str) -> bool:
        tok = self.peek()
        if tok.kind == "word" and tok.value in words:
            return True
        if tok.kind == "cmd" and tok.value in ("text", "mathrm", "textbf", "mbox"):
            return self._group_text(1).strip().rstrip(":").strip() in words
        return False

    def take_word(self) -> None:
        tok = self.next()
        if tok.kind == "cmd":
            self._skip_group()

    def _group(self, j: int) -> tuple[list, int, bool]:
        """The tokens inside the brace group that opens at token ``j`` (none if none opens there), the
        index after it, and whether it was closed."""
        if j >= len(self.tokens) or not (self.tokens[j].kind == "op" and self.tokens[j].value == "{"):
            return [], j, True
        depth, inside = 0, []
        for k in range(j, len(self.tokens)):
            tok = self.tokens[k]
            if tok.kind == "op" and tok.value == "{":
                depth += 1
                if depth == 1:
                    continue
            elif tok.kind == "op" and tok.value == "}":
                depth -= 1
                if depth == 0:
                    return inside, k + 1, True
            elif tok.kind == "end":
                return inside, k, False
            inside.append(tok)
        return inside, len(self.tokens), False

    def _group_text(self, k: int) -> str:
        """The raw text of the brace group ``k`` tokens ahead, without consuming it (not skipping
        ignored tokens: a group follows its command directly)."""
        return " ".join(tok.value for tok in self._group(self.i + k)[0])

    def _skip_group(self) -> str:
        """Consume a brace group and return its tokens' text, joined."""
        inside, after, closed = self._group(self.i)
        if not closed:
            self.i = after
            self.fail("unclosed {", self.tokens[min(after, len(self.tokens) - 1)])
        self.i = after
        return "".join(tok.value if tok.kind != "cmd" else "\\" + tok.value for tok in inside)

    # --- equations
    def equations(self) -> list[tuple[Ident, tuple, _Token]]:
        out = []
        while True:
            while self.peek().kind == "sep" or self.is_op(";") or self.is_op("&"):
                self.next()
            if self.peek().kind == "end":
                return out
            start = self.peek()
            lhs = self.lhs()
            if self.is_op("&"):
                self.next()
            if not (self.is_op("=") or self.is_op("<-")):
                self.fail(f"expected '=' or '←' after {lhs.text}, found {self.found(self.peek())}")
            self.next()
            rhs = self.ternary()
            while self.is_op("&") or self.is_op(","):  # a trailing \quad or a comment column: not read
                break
            if self.peek().kind not in ("sep", "end") and not self.is_op(";"):
                self.fail(f"unexpected {self.found(self.peek())} after the equation of {lhs.text}")
            out.append((lhs, rhs, start))

    def lhs(self) -> Ident:
        tok = self.peek()
        node = self.primary_ident()
        if node is None:
            self.fail(f"expected the name an equation assigns, found {self.found(tok)}", tok)
        if node[0] != "id":
            self.fail(f"expected a name to assign, found a power of {node[1][1].text}", tok)
        return node[1]

    # --- expressions
    def ternary(self):
        value = self.sum()
        if self.word_is("if"):
            self.take_word()
            cond = self.condition()
            if not self.word_is("else", "otherwise"):
                self.fail(f"expected 'else' after the condition, found {self.found(self.peek())}")
            self.take_word()
            other = self.ternary()
            if other[0] == "piecewise":
                return ("piecewise", [(value, cond), *other[1]], other[2])
            return ("piecewise", [(value, cond)], other)
        return value

    def condition(self):
        """A comparison, or comparisons joined by ``&`` (``∧``, LaTeX's ``\\wedge``), each in parentheses
        or bare: SymPy prints a conjunction ``(D >= 2) & (n <= min(A, B))``."""
        parts = [self.comparison()]
        while self.is_op("&&") or (not self.latex and self.is_op("&")):
            self.next()
            parts.append(self.comparison())
        return parts[0] if len(parts) == 1 else ("and", *parts)

    def comparison(self):
        if self.is_op("("):  # a condition in parentheses, or a comparison whose left side opens with one
            start = self.i
            self.next()
            try:
                inner = self.condition()
                self.expect(")", "')'")
                return inner
            except EquationError:
                self.i = start
        a = self.sum()
        for op in (">=", "<=", "!=", "=", ">", "<"):
            if self.is_op(op):
                self.next()
                return ("rel", op, a, self.sum())
        self.fail(f"expected a comparison (=, >, >=, <, <=, ≠), found {self.found(self.peek())}")

    def sum(self):
        if self.is_op("-"):
            self.next()
            node = ("neg", self.product())
        else:
            if self.is_op("+"):
                self.next()
            node = self.product()
        while self.is_op("+") or self.is_op("-"):
            op = self.next()
            node = ("add" if _operator(op) == "+" else "sub", node, self.product())
        return node

    def _starts_primary(self) -> bool:
        tok = self.peek()
        if tok.kind in ("word", "greek", "num", "decor"):
            return not (tok.kind == "word" and tok.value in ("if", "else", "otherwise"))
        if tok.kind == "cmd":
            if tok.value in ("text", "mathrm", "mbox") and self._group_text(1).strip() in ("if", "otherwise", "else",
                                                                                            "if:", "for"):
                return False
            return tok.value in _GREEK_COMMANDS or tok.value in _DECORATION_COMMANDS or tok.value in _WRAPPERS \
                or tok.value in ("sqrt", "frac", "dfrac", "tfrac", "max", "min", "begin", "nabla") \
                or (tok.value in ("|", "Vert", "lVert") and not self.norms) \
                or tok.value in _functions()[0]
        return tok.kind == "op" and (tok.value in ("(", "{", "sqrt") or (tok.value == "‖" and not self.norms))

    def product(self):
        node = self.unary()
        while True:
            if self.is_op("*") or self.is_op("/"):
                op = self.next()
                rhs = self.unary()
                node = ("mul" if _operator(op) == "*" else "div", node, rhs)
            elif self._starts_primary():
                node = ("mul", node, self.power())
            else:
                return node

    def unary(self):
        if self.is_op("-"):
            self.next()
            return ("neg", self.unary())
        if self.is_op("+"):
            self.next()
            return self.unary()
        return self.power()

    def power(self):
        base = self.postfix(self.primary())
        if self.is_op("^"):
            self.next()
            exponent = self.exponent()
            return self.postfix(("pow", base, exponent))
        return base

    def exponent(self):
        if self.is_op("{"):
            self.next()
            node = self.ternary()
            self.expect("}", "'}'")
            return node
        if self.is_op("-"):
            self.next()
            return ("neg", self.exponent())
        tok = self.peek()
        if tok.kind == "num" and self.latex and len(tok.value) > 1 and tok.value.isdigit():
            # LaTeX's x^23 is x²3: one character
            self.next()
            return ("mul_digits", tok)
        if self.latex and tok.kind in ("word", "greek") or tok.kind == "cmd" and tok.value in _GREEK_COMMANDS:
            # LaTeX's \beta^t_1 is β₁ᵗ: the exponent is one letter, the subscript is the base's
            self.next()
            if tok.kind == "word" and len(tok.value) > 1:
                self.i -= 1
                self.tokens[self.i] = _Token("word", tok.value[1:], tok.line, tok.col + 1)
            name = _GREEK_COMMANDS.get(tok.value, tok.value) if tok.kind == "cmd" else tok.value[0]
            return ("id", Ident(name, "", _spelled(tok), tok.line, tok.col))
        return self.postfix(self.primary())

    def postfix(self, node):
        """Unicode superscripts after a name or a group: a power (gₜ², β₁ᵗ)."""
        while self.peek().kind == "sup" and not self.peek().space:
            tok = self.next()
            node = ("pow", node, _superscript(tok, self))
        return node

    def primary(self):
        tok = self.peek()
        node = self.primary_ident()
        if node is not None:
            return node
        if tok.kind == "num":
            self.next()
            try:
                return ("num", sp.Rational(tok.value))
            except (TypeError, ValueError):
                self.fail(f"{tok.value!r} is not a number", tok)
        if self.is_op("("):
            self.next()
            node = self.ternary()
            self.expect(")", "')'")
            return node
        if self.is_op("{"):
            self.next()
            node = self.ternary()
            self.expect("}", "'}'")
            return node
        if self.is_op("|"):
            self.next()
            node = self.ternary()
            self.expect("|", "a closing '|'")
            return ("abs", node)
        if self.is_op("‖"):
            self.next()
            self.norms += 1
            node = self.ternary()
            self.norms -= 1
            self.expect("‖", "a closing '‖'")
            if self.is_op("_"):
                self.next()
                sub = self._subscript_text()
                if sub != "F":
                    self.fail(f"the norm ‖·‖_{sub} is not in symopt's operation table (it has ‖·‖_F)", tok)
            return ("norm", node)
        if self.is_op("sqrt"):
            self.next()
            if tok.kind == "cmd":
                if self.is_op("("):  # \sqrt[n]{x} = x^(1/n), a power (MADGRAD's cube root)
                    self.next()
                    index = self.ternary()
                    self.expect(")", "a closing ']'")
                    return ("pow", self.primary(), ("div", ("num", sp.Integer(1)), index))
                return ("sqrt", self.primary())
            return ("sqrt", self.postfix_free_primary())
        if tok.kind == "cmd" and tok.value in ("frac", "dfrac", "tfrac"):
            self.next()
            num = self.primary()
            den = self.primary()
            return ("div", num, den)
        if tok.kind == "cmd" and tok.value == "begin":
            return self.cases()
        if tok.kind == "cmd" and tok.value == "nabla":
            return self.gradient()
        self.fail(f"expected a number, a name or '(', found {self.found(tok)}", tok)

    def gradient(self):
        """``\\nabla_{\\theta} f_t(\\theta_{t-1})``, ``∇f(θₜ₋₁)``: the gradient the step is given, g_t."""
        self.next()
        if self.is_op("_"):
            self.next()
            self._subscript_text()
        name = self.primary_ident()
        if name is None or name[0] != "id":
            self.fail("expected the objective after ∇ (∇f_t(θ_{t-1}))")
        if self.is_op("("):
            self.next()
            self.ternary()
            self.expect(")", "')'")
        return ("grad",)

    def postfix_free_primary(self):
        return self.primary()

    def cases(self):
        tok = self.next()
        env = self._skip_group()
        if env != "cases":
            self.fail(f"\\begin{{{env}}} inside an equation: only cases is read here", tok)
        pieces, other = [], None
        while True:
            value = self.ternary()
            self.expect("&", "'&' before the condition of a case")
            if self.word_is("otherwise", "else"):
                self.take_word()
                other = value
            else:
                if self.word_is("if"):
                    self.take_word()
                pieces.append((value, self.condition()))
            if self.peek().kind == "sep":
                self.next()
            end = self.peek()
            if end.kind == "cmd" and end.value == "end":
                self.next()
                self._skip_group()
                break
            if other is not None:
                self.fail("a case after 'otherwise'", end)
        if other is None:
            self.fail("cases without 'otherwise': the value is undefined where no condition holds", tok)
        return ("piecewise", pieces, other)

    def call(self, name: str, op, tok: _Token):
        if self.is_op("{") and tok.kind == "cmd":  # \max{...}
            pass
        if not self.is_op("("):
            self.fail(f"expected '(' after {name}, found {self.found(self.peek())}")
        self.next()
        args = [self.ternary()]
        while self.is_op(","):
            self.next()
            args.append(self.ternary())
        self.expect(")", f"')' closing {name}(...)")
        if name in _ALIASES:
            if len(args) != 1:
                self.fail(f"{name} takes one argument, not {len(args)}", tok)
            return (_ALIASES[name], args[0])
        n = _arity(op)
        if op.sympy in (sp.Max, sp.Min):
            if len(args) < 2:
                self.fail(f"{name} takes at least two arguments, not {len(args)}", tok)
        elif len(args) != n:
            self.fail(f"{name} takes {n} argument{'s' if n != 1 else ''}, not {len(args)}", tok)
        return ("call", op, args, tok)

    def primary_ident(self):
        """A name with its decorations, subscript and superscript, or a call; None if not at one."""
        tok = self.peek()
        calls, hidden = _functions()
        decor = ""
        if tok.kind == "cmd" and tok.value in _DECORATION_COMMANDS:
            self.next()
            decor = _DECORATION_COMMANDS[tok.value]
            if self.is_op("{"):
                self.next()
                inner = self.primary_ident()
                if inner is None or inner[0] != "id":
                    self.fail(f"\\{tok.value}{{...}} of something that is not a name", tok)
                self.expect("}", "'}'")
                ident = inner[1]
                return self._suffixes(Ident(f"{decor}({ident.stem})", ident.sub, f"\\{tok.value}{{{ident.text}}}",
                                            tok.line, tok.col), tok)
            base_tok = self.peek()
            base = self._base()
            if base is None:
                self.fail(f"\\{tok.value} of {self.found(base_tok)}", tok)
            return self._suffixes(Ident(f"{decor}({base})", "", f"\\{tok.value} {base}", tok.line, tok.col), tok)
        if tok.kind == "cmd" and tok.value in ("max", "min"):
            self.next()
            return self.call(tok.value, calls[tok.value], tok)
        if tok.kind == "cmd" and tok.value in _WRAPPERS:
            word = self._group_text(1).replace(" ", "")
            if word in calls or word in _ALIASES:
                self.next()
                self._skip_group()
                return self.call(word, calls.get(word), tok)
            if word in hidden:
                self.fail(_hidden_message(word, hidden[word]), tok)
            if tok.value in ("text", "mbox") or word in _KEYWORDS:
                return None
            self.next()
            inner = self._skip_group()
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", inner):
                self.fail(f"\\{tok.value}{{{inner}}} is not a name", tok)
            return self._suffixes(Ident(inner, "", inner, tok.line, tok.col), tok)
        if tok.kind == "word" and tok.value in ("if", "else", "otherwise"):
            return None
        if tok.kind == "word" and (tok.value in calls or tok.value in _ALIASES) and self.is_op("(", 1):
            self.next()
            return self.call(tok.value, calls.get(tok.value), tok)
        if tok.kind == "word" and tok.value in hidden and self.is_op("(", 1):
            # an operation whose notation hides arguments, called with all of them in SymPy's order:
            # NS(X, a, b, c, k, ε)
            self.next()
            return self.call(tok.value, hidden[tok.value], tok)
        base = self._base()
        if base is None:
            return None
        spelled = _spelled(tok)
        if base.startswith("Delta") and len(base) == 6:  # Δx: the name after Δ is part of it
            spelled += (" " if self.latex else "") + base[-1]
        return self._suffixes(Ident(base, "", spelled, tok.line, tok.col), tok)

    def _base(self) -> str | None:
        tok = self.peek()
        if tok.kind == "word":
            self.next()
            return tok.value
        if tok.kind == "greek":
            self.next()
            after = self.tokens[self.i] if self.i < len(self.tokens) else None
            if tok.value == "Delta" and after is not None and after.kind == "word" and not after.space \
                    and re.fullmatch(r"[A-Za-z]", after.value):  # Δx_t, as \Delta x_t below
                self.i += 1
                return tok.value + after.value
            # "β1" in text: digits straight after a Greek letter belong to its name
            after = self.tokens[self.i] if self.i < len(self.tokens) else None
            if after is not None and after.kind == "num" and not after.space and after.value.isdigit():
                self.i += 1
                return tok.value + after.value
            return tok.value
        if tok.kind == "cmd" and tok.value in _GREEK_COMMANDS:
            self.next()
            name = _GREEK_COMMANDS[tok.value]
            # Δ before a name is that name's increment, one quantity (torch's Adadelta writes its
            # update \Delta x_t): Δx, then the name's own subscript and powers
            after = self.tokens[self.i] if self.i < len(self.tokens) else None
            if name == "Delta" and after is not None and after.kind == "word" and re.fullmatch(r"[A-Za-z]", after.value):
                self.i += 1
                return name + after.value
            return name
        return None

    def _subscript_text(self) -> str:
        """After ``_``: a brace group or one token (LaTeX), or a word (text), as normalised text."""
        tok = self.tokens[self.i]
        if tok.kind == "op" and tok.value == "{":
            raw = self._skip_group()
        elif tok.kind in ("word", "num", "greek"):
            self.i += 1
            raw = tok.value if not (self.latex and tok.kind == "word") else tok.value[0]
            if self.latex and tok.kind == "word" and len(tok.value) > 1:  # x_ab in LaTeX is x_a b
                self.tokens.insert(self.i, _Token("word", tok.value[1:], tok.line, tok.col + 1))
            if not self.latex:  # text: m_tm1, weight_decay, a_b_c
                while (self.i + 1 < len(self.tokens) and self.tokens[self.i].kind == "op"
                       and self.tokens[self.i].value == "_" and self.tokens[self.i + 1].kind in ("word", "num")
                       and not self.tokens[self.i].space):
                    raw += "_" + self.tokens[self.i + 1].value
                    self.i += 2
        elif tok.kind == "cmd":
            self.i += 1
            raw = "\\" + tok.value
        else:
            self.fail(f"expected a subscript, found {self.found(tok)}", tok)
        return _normal_sub(_unwrap(raw))

    def _suffixes(self, ident: Ident, start: _Token):
        """Decorations, subscripts and superscripts after a base: Unicode (m̂ₜ₋₁, vᵐᵃˣₜ) or ``_``/``^``."""
        stem, sub, text = ident.stem, ident.sub, ident.text
        power = None
        while True:
            tok = self.tokens[self.i] if self.i < len(self.tokens) else None
            if tok is None or tok.space:
                break
            if tok.kind == "decor":
                self.i += 1
                stem = f"{tok.value}({stem})"
                text += _spelled(tok)
            elif tok.kind == "sub":
                self.i += 1
                sub += _normal_sub(tok.value)
                text += tok.value
            elif tok.kind == "sup" and re.fullmatch(r"[a-z]{2,}", tok.value):  # vᵐᵃˣₜ, mˢˡᵒʷₜ: part of the name
                self.i += 1
                stem += f"^{tok.value}"
            elif tok.kind == "op" and tok.value == "_" and not sub:
                self.i += 1
                sub = self._subscript_text()
                text += "_" + sub
            elif tok.kind == "op" and tok.value == "^":
                word = _unwrap(self._group_text(1).replace(" ", "")).lstrip("\\") or self._word_at(1)
                if re.fullmatch(r"[A-Za-z]{2,}", word or ""):  # v^{max}_t, g^{ave}_t: part of the name
                    self.i += 1
                    if self.tokens[self.i].kind == "op" and self.tokens[self.i].value == "{":
                        self._skip_group()
                    else:
                        self.i += 1
                    stem += f"^{word}"
                elif power is None and self.latex and not sub:
                    # g^2_t (torch's docstrings): the power of the name with its subscript
                    self.i += 1
                    power = self.exponent()
                else:
                    break
            else:
                break
        node = ("id", Ident(stem, sub, text, ident.line, ident.col))
        return ("pow", node, power) if power is not None else node

    def _word_at(self, k: int) -> str:
        j = self.i + k
        return self.tokens[j].value if j < len(self.tokens) and self.tokens[j].kind in ("word", "cmd") else ""


def _unwrap(raw: str) -> str:
    raw = re.sub(r"\\(?:" + "|".join(_WRAPPERS) + r")\{([^{}]*)\}", r"\1", raw)
    raw = raw.replace("\\infty", "inf").replace("{", "").replace("}", "").replace(" ", "")
    raw = re.sub(r"\\([A-Za-z]+)", lambda m: _GREEK_COMMANDS.get(m.group(1), m.group(1)), raw)
    return raw


def _superscript(tok: _Token, parser: _Parser):
    value = tok.value
    if re.fullmatch(r"-?\d+", value):
        return ("num", sp.Integer(value))
    if value == "t":
        return ("id", Ident("t", "", "t", tok.line, tok.col))
    parser.fail(f"the superscript {value!r} is neither a power nor ᵐᵃˣ", tok)


def _operator(tok: _Token) -> str:
    return _COMMANDS.get(tok.value, tok.value) if tok.kind == "cmd" else tok.value


def _spelled(tok: _Token) -> str:
    if tok.kind == "cmd":
        return "\\" + tok.value
    if tok.kind == "decor":
        return {v: k for k, v in _DECORATIONS.items()}[tok.value]
    if tok.kind == "greek":
        return {v: k for k, v in _GREEK.items()}.get(tok.value, tok.value)
    return tok.value


def _hidden_message(head: str, op: ops.Operation) -> str:
    return (f"{head}(...) is {op.name}, whose notation does not show all of its arguments: "
            "it cannot be read from equations")


def _is_latex(text: str) -> bool:
    return "\\" in text


def parse(text: str, latex: bool | None = None) -> list[tuple[Ident, tuple, _Token]]:
    """The equations of ``text`` as (name assigned, expression tree, where it starts)."""
    if not isinstance(text, str):
        raise EquationError(f"equations are text, not {type(text).__name__}")
    latex = _is_latex(text) if latex is None else latex
    parser = _Parser(_Lexer(text, latex).tokens(), latex)
    try:
        return parser.equations()
    except RecursionError:
        raise EquationError("the equations nest too deeply to read") from None


@functools.cache
def ident_of(text: str, latex: bool = False) -> Ident | None:
    """The name ``text`` spells (``m̂ₜ``, ``\\hat{m}_{t}``, ``mhat_t``), or None if it is not one name."""
    try:
        parser = _Parser(_Lexer(text, latex).tokens(), latex)
        node = parser.primary_ident()
    except EquationError:
        return None
    if node is None or node[0] != "id" or parser.peek().kind != "end":
        return None
    return node[1]


#: Added to the name of an array whose plain name is a scalar's (Rprop's box's η_t: etaarr_t).
ARRAY_APART = "arr"


def _indicator(cond) -> sp.Expr | None:
    """1 where a comparison holds and 0 where it does not, by signs (``x > 0`` is max(0, sign x)); None
    for a condition that is not one comparison."""
    if cond is sp.true:
        return sp.Integer(1)
    if not isinstance(cond, tuple(_RELATIONS.values())):
        return None
    x = sp.sign(cond.lhs - cond.rhs)
    pos, neg = sp.Max(0, x), sp.Max(0, -x)
    return {sp.StrictGreaterThan: pos, sp.StrictLessThan: neg, sp.GreaterThan: 1 - neg, sp.LessThan: 1 - pos,
            sp.Eq: 1 - sp.Abs(x), sp.Ne: sp.Abs(x)}[type(cond)]


def _indicators(expr: sp.Expr) -> sp.Expr:
    """A case split on an array value (Rprop's box: one step size if g_{t-1}·g_t > 0, another if < 0)
    as the sum of its values, each times the indicator that its case is the one taken, the indicators
    written with sign and max (symopt's operations; a rule branches only on scalars). The untaken
    values are multiplied by 0, so an infinite or NaN one is not hidden as a branch would hide it."""
    def lower(e):
        if not isinstance(e, sp.Piecewise) or ops._is_scalar_branch(e):
            return e
        out, rest = sp.Integer(0), sp.Integer(1)
        for value, cond in e.args:
            taken = _indicator(cond)
            if taken is None:
                return e
            out += value * taken * rest
            rest = rest * (1 - taken)
            if cond is sp.true:
                break
        return out

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), lower) if expr.has(sp.Piecewise) else expr


# --- names to symbols -----------------------------------------------------------------------------
def keys_of(symbol: sp.Symbol) -> list[tuple[str, str]]:
    """Every key a symbol answers to: its SymPy name (``mhat_t``), its text notation (``m̂ₜ``) and its
    LaTeX notation (``\\hat{m}_{t}``), each read by this module's own parser."""
    from symopt.printing import latex, text

    keys = []
    for spelled, is_latex in ((symbol.name, False), (text(symbol), False), (latex(symbol), True)):
        ident = ident_of(spelled, is_latex)
        if ident is not None and ident.key not in keys:
            keys.append(ident.key)
    return keys


@functools.cache
def _known() -> dict[tuple[str, str], tuple[sp.Symbol, ...]]:
    """The symbols of :mod:`symopt.symbols` by key, those whose own name it is first: ``cₜ`` is Lion's
    c_t, then Schedule-Free's averaging coefficient, which prints the same."""
    symbols = [v for v in vars(S).values() if isinstance(v, sp.Symbol)]
    table: dict = {}
    for symbol in symbols:
        ident = ident_of(symbol.name)
        if ident is not None:
            table.setdefault(ident.key, []).append(symbol)
    for symbol in symbols:
        for key in keys_of(symbol):
            if symbol not in table.setdefault(key, []):
                table[key].append(symbol)
    return {key: tuple(found) for key, found in table.items()}


@functools.cache
def standard_hypers() -> tuple[Hyper, ...]:
    """The hyperparameters :mod:`symopt.hyperparameters` declares, in its order."""
    return _standard_hypers()


@functools.cache
def _standard_hypers() -> tuple[Hyper, ...]:
    from symopt import hyperparameters

    return tuple(v for v in vars(hyperparameters).values() if isinstance(v, Hyper))


def _hyper_keys(h: Hyper) -> list[tuple[str, str]]:
    keys = keys_of(h.symbol)
    ident = ident_of(h.name)
    if ident is not None and ident.key not in keys:
        keys.append(ident.key)
    return keys


def _declared(hypers) -> list[Hyper]:
    if hypers is None:
        return []
    out = []
    standard = _standard_hypers()
    for h in hypers:
        if isinstance(h, Hyper):
            out.append(h)
        elif isinstance(h, str):
            found = next((s for s in standard if s.name == h), None) or \
                next((s for s in standard if ident_of(h) and ident_of(h).key in _hyper_keys(s)), None)
            if found is None:
                from symopt.errors import UnknownNameError

                raise UnknownNameError("hyperparameter", h, sorted({s.name for s in standard}))
            out.append(found)
        else:
            raise SymoptError(f"a hyperparameter is a Hyper or a keyword such as 'lr', not {type(h).__name__}")
    return out


@dataclass
class _Names:
    """What each key means in one set of equations."""

    hypers: dict = field(default_factory=dict)  # key -> Hyper
    states: dict = field(default_factory=dict)  # stem -> (new symbol, prev symbol)
    defined: dict = field(default_factory=dict)  # key -> symbol (intermediates, θ_t, g_t, states' new)
    auto: bool = True  # declare a standard hyperparameter when its name is used
    used_hypers: list = field(default_factory=list)


_THETA = ("theta", "t")
_THETA_PREV = ("theta", "t-1")
_GRAD = ("g", "t")


def _inputs() -> dict:
    return {_THETA_PREV: S.theta_prev, _GRAD: S.g, ("t", ""): S.t, ("theta", "0"): S.theta0,
            **{k: s for s in S.SHAPES for k in keys_of(s)}}


def _idents(node) -> list[Ident]:
    if node[0] == "id":
        return [node[1]]
    if node[0] in ("num", "mul_digits", "grad"):
        return []
    if node[0] == "call":
        return [i for a in node[2] for i in _idents(a)]
    if node[0] == "piecewise":
        return [i for v, c in node[1] for i in (*_idents(v), *_idents(c))] + _idents(node[2])
    if node[0] == "rel":
        return _idents(node[2]) + _idents(node[3])
    return [i for child in node[1:] for i in _idents(child)]


def _build(node, resolve) -> sp.Expr:
    kind = node[0]
    if kind == "num":
        return node[1]
    if kind == "grad":
        return S.g
    if kind == "mul_digits":
        tok = node[1]
        return sp.Integer(tok.value[0]) * sp.Integer(tok.value[1:])  # x^23 is x^2·3, as LaTeX typesets it
    if kind == "id":
        return resolve(node[1])
    if kind == "call":
        args = [_build(a, resolve) for a in node[2]]
        op = node[1]
        return op.sympy(*args)
    if kind == "piecewise":
        pieces = [(_build(v, resolve), _build(c, resolve)) for v, c in node[1]]
        return sp.Piecewise(*pieces, (_build(node[2], resolve), True))
    if kind == "rel":
        return _RELATIONS[node[1]](_build(node[2], resolve), _build(node[3], resolve))
    if kind == "and":
        return sp.And(*(_build(child, resolve) for child in node[1:]))
    args = [_build(child, resolve) for child in node[1:]]
    if kind == "add":
        return args[0] + args[1]
    if kind == "sub":
        return args[0] - args[1]
    if kind == "mul":
        return args[0] * args[1]
    if kind == "div":
        return args[0] / args[1]
    if kind == "pow":
        return args[0] ** args[1]
    if kind == "neg":
        return -args[0]
    return _SYNTAX[kind](args[0])


def _where(ident: Ident) -> str:
    return f"line {ident.line}, column {ident.col}"


def rule_from_equations(text: str, hypers=None, name: str = "equations", summary: str = "",
                        reference: str = "", states=(), aliases=None, latex: bool | None = None,
                        torch: str = "", evaluate: str = "", ranks: tuple[int, ...] = ()) -> Rule:
    """The rule whose update ``text`` writes as assignments (text or LaTeX; parsed, never evaluated).

    Args:
        text: one equation a line (text) or separated by ``\\\\`` (LaTeX, e.g. an ``aligned``
            block); ``=``, ``←``, ``:=``, ``\\gets`` and ``\\leftarrow`` assign. ``x_0 = ...`` sets a
            state's value before the first step.
        hypers: the hyperparameters: :class:`~symopt.core.Hyper` objects (yours, with their ranges),
            or keywords of :mod:`symopt.hyperparameters`' (``"lr"``, ``"beta1"``); the rule keeps those
            its equations use. None: those of :mod:`symopt.hyperparameters` whose notation or
            keyword the equations use.
        name, summary, reference: the rule's.
        states: :class:`~symopt.core.State` objects for states you declare (their names, initial
            values, shapes); the others are found from their ``x_t``/``x_{t-1}`` pairs.
        aliases: other notations for symbols: ``{"\\\\gamma": "lr"}`` reads γ as the hyperparameter
            ``lr``, ``{"\\\\gamma": S.eta}`` as a symbol.
        latex: whether ``text`` is LaTeX; None: it is when it has a backslash.
        torch, evaluate, ranks: as for :func:`symopt.core.rule`.

    Returns:
        The rule, usable everywhere a registered one is (derive, kernels, verify, equiv).

    Raises:
        EquationError: for text that does not parse, an unknown symbol or function (naming it, its
            line and column), a state read but never assigned.

    Example:
        >>> rule = rule_from_equations("theta_t = theta_{t-1} - lr*g_t", name="plain-sgd")
        >>> print(rule)
        θₜ = θₜ₋₁ - η·gₜ
        >>> [h.name for h in rule.hypers]
        ['lr']
    """
    lines = parse(text, latex)
    if not lines:
        raise EquationError("no equations: write one assignment a line, ending with θ_t = ...")
    declared = _declared(hypers)
    known = _known()
    names = _Names(auto=hypers is None)
    for h in declared:
        for key in _hyper_keys(h):
            names.hypers.setdefault(key, h)
    alias_keys = {}
    for spelled, target in (aliases or {}).items():
        ident = ident_of(spelled, _is_latex(spelled))
        if ident is None:
            raise SymoptError(f"alias {spelled!r} is not a name")
        alias_keys[ident.key] = target
    inputs = _inputs()

    init_lines = [(lhs, rhs) for lhs, rhs, _ in lines if lhs.sub == "0"]
    updates = [(lhs, rhs, tok) for lhs, rhs, tok in lines if lhs.sub != "0"]
    # states: a stem assigned at t and read at t-1
    read_prev = {i.stem for _, rhs, _ in updates for i in _idents(rhs) if i.sub == "t-1"}
    assigned = {lhs.key: lhs for lhs, _, _ in updates}
    declared_states = {}
    for state in states:
        for key in keys_of(state.new):
            declared_states[key[0]] = state
    state_stems = [lhs.stem for lhs, _, _ in updates if lhs.sub == "t" and lhs.stem in read_prev
                   and lhs.key not in (_THETA, _GRAD)]
    state_stems += [lhs.stem for lhs, _, _ in updates if lhs.sub == "t" and lhs.stem in declared_states]
    state_stems = list(dict.fromkeys(state_stems))  # a state assigned twice is one state
    for lhs, _ in init_lines:
        if lhs.stem not in state_stems and lhs.stem != "theta":
            raise EquationError(f"{_where(lhs)}: {lhs.text} sets the start of {lhs.stem}, which is not a state "
                                f"(no {lhs.stem}_t and {lhs.stem}_{{t-1}})")

    # which assigned names hold one value per parameter: those reading θ, g or another such name
    def leaf_is_array(ident: Ident, arrays: set) -> bool:
        if ident.key in alias_keys:
            target = alias_keys[ident.key]
            return isinstance(target, sp.Symbol) and target in S.ARRAYS
        if ident.key in (_THETA_PREV, _GRAD, ("theta", "0")):
            return True
        return ident.stem in arrays and ident.key not in names.hypers

    arrays: set = {"theta", "g"}
    changed = True
    while changed:
        changed = False
        for lhs, rhs, _ in updates:
            if lhs.stem not in arrays and any(leaf_is_array(i, arrays) for i in _idents(rhs)):
                arrays.add(lhs.stem)
                changed = True

    def symbol_for(key: tuple[str, str], ident: Ident, array: bool) -> sp.Symbol:
        hyper_symbols = {h.symbol for h in (*_standard_hypers(), *declared)}
        for found in known.get(key, ()):
            if (found in S.ARRAYS) == array and found != S.theta0 and found not in hyper_symbols:
                return found
        base = _symbol_name(ident.stem)
        sub = {"t": "_t", "t-1": "_tm1", "t+1": "_tp1", "": ""}.get(key[1], "_" + re.sub(r"\W", "", key[1]))
        if array:
            # nor an array a scalar's symbol (Rprop's box's step size η_t is not Adagrad's η_t): an
            # array symbol is recorded in S.ARRAYS for the whole process
            # array symbol is recorded in S.ARRAYS for the whole process, and a scalar read later with
            # the same name would be taken for it (SymPy keeps one symbol per name and assumptions)
            scalars = {v.name for v in vars(S).values() if isinstance(v, sp.Symbol) and v not in S.ARRAYS}
            scalars |= {h.name for h in hyper_symbols}
            if base + sub in scalars and sp.Symbol(base + sub, real=True) not in S.ARRAYS:
                return S.array(base + ARRAY_APART + sub)
            return S.array(base + sub)
        made = sp.Symbol(base + sub, real=True)
        # SymPy keeps one symbol per name and assumptions: a scalar must not be an array's symbol
        return made if made not in S.ARRAYS else sp.Symbol(base + sub, real=True, finite=True)

    for stem in state_stems:
        if stem in declared_states:
            state = declared_states[stem]
            names.states[stem] = (state.new, state.prev)
            continue
        ident = assigned[(stem, "t")]
        new = symbol_for((stem, "t"), ident, stem in arrays)
        prev = symbol_for((stem, "t-1"), ident, stem in arrays)
        if prev.name != new.name[:-2] + "_tm1":
            prev = S.array(new.name[:-2] + "_tm1") if stem in arrays else sp.Symbol(new.name[:-2] + "_tm1", real=True)
        names.states[stem] = (new, prev)
    for lhs, _, _ in updates:
        if lhs.key == _THETA:
            names.defined[lhs.key] = S.theta
        elif lhs.key == _GRAD:
            names.defined[lhs.key] = S.g
        elif lhs.stem in names.states and lhs.sub == "t":
            names.defined[lhs.key] = names.states[lhs.stem][0]
        elif lhs.key in names.hypers or lhs.key in alias_keys or lhs.key in inputs:
            raise EquationError(f"{_where(lhs)}: {lhs.text} is an input (a hyperparameter, θ_{{t-1}}, t): "
                                "it cannot be assigned")
        elif lhs.key not in names.defined:
            names.defined[lhs.key] = symbol_for(lhs.key, lhs, lhs.stem in arrays)

    def resolve(ident: Ident) -> sp.Expr:
        key = ident.key
        if key in alias_keys:
            target = alias_keys[key]
            if isinstance(target, str):
                h = next((h for h in [*declared, *_standard_hypers()] if h.name == target), None)
                if h is None:
                    raise EquationError(f"{_where(ident)}: {ident.text} stands for {target!r}, "
                                        "which is not a hyperparameter")
                return use(h)
            return target
        if key in names.hypers:
            return use(names.hypers[key])
        if ident.stem in names.states and ident.sub in ("t", "t-1"):
            new, prev = names.states[ident.stem]
            return new if ident.sub == "t" else prev
        if key in names.defined:
            return names.defined[key]
        if key in inputs:
            return inputs[key]
        if names.auto:
            h = next((h for h in _standard_hypers() if key in _hyper_keys(h)), None)
            if h is not None:
                for k in _hyper_keys(h):
                    names.hypers.setdefault(k, h)
                return use(h)
        if ident.sub == "t-1" and (ident.stem, "t") not in assigned:
            raise EquationError(f"{_where(ident)}: {ident.text} is read but {ident.stem}_t is never assigned")
        hidden = _functions()[1]
        if ident.stem in hidden:
            raise EquationError(f"{_where(ident)}: {_hidden_message(ident.stem, hidden[ident.stem])}")
        what = "hyperparameter, state or intermediate" if hypers is not None else "symbol"
        raise EquationError(f"{_where(ident)}: unknown {what} {ident.text!r}"
                            + (" (declare it among the hyperparameters)" if hypers is not None else ""))

    def use(h: Hyper) -> sp.Symbol:
        if h not in names.used_hypers:
            names.used_hypers.append(h)
        return h.symbol

    from symopt.core import Assign

    equations = []
    for lhs, rhs, tok in updates:
        try:
            value = _build(rhs, resolve)
        except (TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, SymoptError):
                raise
            raise EquationError(f"line {tok.line}: the equation of {lhs.text} does not make an expression "
                                f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})") from None
        value = _indicators(value)
        if names.defined[lhs.key] == value == S.g:  # g_t ← ∇f_t(θ_{t-1}): the gradient itself
            continue
        equations.append(Assign(names.defined[lhs.key], value))
    if not equations or equations[-1].lhs != S.theta:
        raise EquationError("the last equation must assign θ_t (theta_t), the parameter after the step")

    inits = {}
    for lhs, rhs in init_lines:
        if lhs.stem == "theta":
            continue
        inits[lhs.stem] = _build(rhs, resolve)
    state_objects = []
    for stem in state_stems:
        new, prev = names.states[stem]
        if stem in declared_states:
            state = declared_states[stem]
            if stem in inits:
                from dataclasses import replace

                state = replace(state, init=inits[stem])
            state_objects.append(state)
            continue
        state_objects.append(State(_state_name(new), new, prev, init=inits.get(stem, sp.S.Zero),
                                   scalar=stem not in arrays))
    order = [s.name for s in states]  # declared states first, in their order; then as assigned
    state_objects.sort(key=lambda s: order.index(s.name) if s.name in order else len(order))
    in_inits = set().union(*(getattr(s.init, "free_symbols", set()) for s in state_objects))  # Adagrad's s₀
    used = [h for h in declared if h in names.used_hypers or h.symbol in in_inits] + \
        [h for h in names.used_hypers if h not in declared]
    if len({h.name for h in used}) != len(used):
        clash = next(h.name for h in used if sum(x.name == h.name for x in used) > 1)
        raise SymoptError(f"{name}: two hyperparameters share the keyword {clash!r}")
    from symopt.hyperparameters import ORDER

    used = sorted(used, key=lambda h: ORDER.index(h.name) if h.name in ORDER else len(ORDER))
    made = Rule(name=name, summary=summary or f"{name}, read from its equations", reference=reference
                or "its equations", transforms=("equations",), hypers=tuple(used), states=tuple(state_objects),
                equations=(), torch=torch, evaluate=evaluate, ranks=tuple(ranks))
    return made.with_equations(equations)


def _symbol_name(stem: str) -> str:
    """``hat(m)`` -> ``mhat`` (SymPy prints it m̂), ``v^max`` -> ``vmax``."""
    match = re.fullmatch(r"(\w+)\((.+)\)", stem)
    if match:
        return _symbol_name(match.group(2)) + match.group(1)
    return re.sub(r"\W", "", stem.replace("^max", "max"))


def _state_name(symbol: sp.Symbol) -> str:
    return symbol.name.removesuffix("_t")


def is_equations_path(text: str) -> bool:
    """Whether a rule argument names a file of equations (``adam.txt``, ``paper.tex``)."""
    return isinstance(text, str) and text.endswith((".txt", ".tex")) and "(" not in text


def rule_from_file(path: str, **kwargs) -> Rule:
    """The rule a file of equations writes: ``.txt`` in text, ``.tex`` in LaTeX (one ``aligned`` block
    or bare lines), named after the file. ``kwargs`` go to :func:`rule_from_equations`.

    Raises:
        SymoptError: for a file that cannot be read, and as :func:`rule_from_equations`.
    """
    import os

    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SymoptError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    kwargs.setdefault("name", os.path.basename(path))  # adam.txt: not to be taken for the registered adam
    kwargs.setdefault("latex", path.endswith(".tex"))
    try:
        return rule_from_equations(text, **kwargs)
    except SymoptError as exc:
        raise type(exc)(f"{path}: {exc}") from None


# --- printing a rule as equations that read back ---------------------------------------------------
def expressible(rule: Rule, latex: bool = False) -> str | None:
    """None if ``rule``'s printed equations read back as the rule, else why not, in a few words
    (an operation whose notation hides arguments or is shared with another's)."""
    calls, hidden = _functions()
    seen: dict[str, ops.Operation] = {}
    for op in ops.OPERATIONS:
        if not op.in_rules or op.sympy in (sp.Pow, sp.Piecewise):
            continue
        form = _notation(op, latex)
        seen.setdefault(form, op)
    for op in ops.used(sp.Tuple(*(eq.rhs for eq in rule.equations))):
        if op.sympy in (sp.Pow, sp.Piecewise, sp.Abs) or op.sympy is ops.Norm:
            continue
        head = next((h for h, o in hidden.items() if o is op), None)
        if head is not None:
            return f"{op.name} prints as {head}(...), without all of its arguments"
        form = _notation(op, latex)
        if seen[form] is not op:
            return f"{op.name} prints as {seen[form].name} does ({form})"
        if op not in calls.values():
            return f"{op.name} prints as {form}, which reads as a product"
    return None


def _notation(op: ops.Operation, latex: bool) -> str:
    n = _arity(op)
    args = sp.symbols(f"X0:{n}")
    expr = op.sympy(*args, evaluate=False) if op.sympy in (sp.Max, sp.Min) else op.sympy(*args)
    form = (op.latex if latex else op.text)(lambda a: str(a), expr)
    return re.sub(r"X\d+", "X", form)


def source(rule: Rule, latex: bool = False) -> str:
    """``rule``'s equations in the notation :func:`rule_from_equations` reads: symopt's text (one a
    line) or LaTeX (an ``aligned`` block).

    Raises:
        SymoptError: naming what does not read back, for a rule its printed equations do not
            determine (``muon: Newton–Schulz prints as NS(...), without all of its arguments``).
    """
    reason = expressible(rule, latex)
    if reason is not None:
        raise SymoptError(f"{rule.name}: not expressible as equations: {reason}")
    return rule.latex() if latex else str(rule)
