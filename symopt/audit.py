"""Read the algorithm a library documents, and decide whether its code does it.

torch.optim documents each optimizer as a LaTeX algorithm box in its docstring
(``\\begin{aligned} ... \\end{aligned}`` with ``\\textbf{input}``, ``\\textbf{initialize}``,
``\\textbf{for}`` and ``\\textbf{if}``). :func:`read_box` reads one: the hyperparameters from the
input line (``\\gamma \\text{ (lr)}`` is the keyword ``lr``, matched to the declarations of symopt's
rule in the same semantics), the initial state, and the loop's statements with their ``if`` structure,
nested by their indentation. Each branch of the box (its flags, ``amsgrad``, ``maximize``,
``nesterov``, ``decoupled_weight_decay``, each on or off) becomes a rule, through
:func:`symopt.equations.rule_from_equations`:

- a test on a flag picks its branch;
- a test on a hyperparameter that only saves work (``\\lambda \\neq 0``: at λ = 0 the body changes no
  step) is dropped, and said; one that changes the rule at its boundary (SGD's ``\\mu \\neq 0``: plain
  SGD ignores dampening) splits the branch in two;
- any other test (``t > 1``, ``\\rho_t > 5``) becomes a branch of the equations (``\\begin{cases}``).

Each branch's rule is then decided against (a) symopt's rule of the same torch class and flags, by
:func:`symopt.equiv.equivalent` (a proof on the step maps and generated cases through both kernels),
and (b) the torch class itself with those flags, on generated cases (:func:`symopt.verify.cross_check`
with torch as the witness). Verdicts: ``SAME`` (the identity map, proved, and torch agrees), ``SAME
UNDER MAP`` (another map, printed), ``DIFFERENT`` (a counterexample, and the docstring line that
assigns the first quantity that differs), ``NOT PARSED`` (the line that could not be read, and why),
or ``NOT DECIDED``.

torch's notation that symopt's parser does not read as written is rewritten first, each rewrite
stated in the report (:data:`TORCH_NOTATION`: ``\\mathrm{NS}^{(a,b,c)}_{k}(X; \\varepsilon)`` is
Newton–Schulz with its arguments; Muon's ``\\mathrm{AdjustLR}`` is the scale the docstring gives
for its default, √max(1, A/B)).
"""

from __future__ import annotations

import contextvars
import itertools
import re
from dataclasses import dataclass, field, replace

import sympy as sp

from symopt import equations as E
from symopt.core import Rule
from symopt.errors import SymoptError

SAME, SAME_UNDER_MAP, DIFFERENT, NOT_PARSED, NOT_DECIDED = (
    "SAME", "SAME UNDER MAP", "DIFFERENT", "NOT PARSED", "NOT DECIDED")
#: Generated cases for each comparison (equiv's and torch's), by default: the audit's table is a
#: generated document, regenerated in CI.
EXAMPLES = 10
#: CPU seconds equiv may search for a map other than the identity.
MAP_BUDGET = 2.0
#: ... and for the generated document (regenerated in CI, on the critical path of the suite).
DOCUMENT_EXAMPLES = 5

# torch's notation, rewritten into symopt's before parsing: (pattern, replacement, what it says).
TORCH_NOTATION: tuple[tuple[str, str, str], ...] = (
    (r"\\mathrm\{NS\}\^\{\(a,b,c\)\}_\{k\}\\!?\s*\\big\((.*?);\\?\s*\\varepsilon\s*\\big\)",
     r"NS(\1, a, b, c, k, \\varepsilon)",
     "NS^(a,b,c)_k(X; ε) is Newton–Schulz with its coefficients, steps and ε"),
    (r"\\mathrm\{AdjustLR\}\\!?\s*\\big\(\s*\\gamma;.*?\\big\)\s*\\big\)",
     r"\\gamma \\sqrt{\\max(1, A/B)}",
     "AdjustLR(γ; shape(θ)) is γ·√max(1, A/B), the docstring's scale for its default adjust_lr_fn"),
)


@dataclass
class Statement:
    """One line of the loop: an assignment, or an ``if`` with its branches."""

    text: str
    line: int  # the line of the box (from 1)
    condition: str = ""
    then: list = field(default_factory=list)
    otherwise: list = field(default_factory=list)

    @property
    def is_if(self) -> bool:
        return bool(self.condition)


@dataclass
class Box:
    """An algorithm box: its inputs (symbols and descriptions), initial values, loop and lines."""

    inputs: list[tuple[list[str], str]]
    inits: list[tuple[str, int]]
    body: list[Statement]
    lines: list[str]
    flags: list[str]
    rewrites: list[str] = field(default_factory=list)


class NotParsed(SymoptError):
    """A line of the box symopt cannot read: ``line`` is its number (0: the box as a whole)."""

    def __init__(self, line: int, text: str, reason: str):
        self.line, self.text, self.reason = line, text, reason
        super().__init__(f"line {line}: {reason}" if line else reason)


def extract(doc: str) -> str:
    """The first ``\\begin{aligned} ... \\end{aligned}`` block of a docstring or a LaTeX file.

    Raises:
        NotParsed: if there is none.
    """
    match = re.search(r"\\begin\{aligned\}(.*?)\\end\{aligned\}", doc or "", re.DOTALL)
    if match is None:
        raise NotParsed(0, "", "no \\begin{aligned} ... \\end{aligned} algorithm box")
    return match.group(1)


_INDENT = re.compile(r"^\s*&?\s*\\hspace\{(\d+(?:\.\d+)?)mm\}")
_NOTE = re.compile(r"(?:\\quad\s*)?\\text\{\s*\([^{}]*\)\s*\}(?!\s*\\text)")  # \text{ (first moment)}
_HSPACE = re.compile(r"\\hspace\{[^{}]*\}")
_KEYWORD = re.compile(r"^\s*(?:\\textbf\{(\w+|else\s+if)\}|\\bf\{(\w+)\}|\\mathbf\{(\w+)\}|(else\s+if|if|else)\b)")


def _lines(block: str) -> list[str]:
    """The box's lines: split at ``\\\\`` outside a ``cases`` environment."""
    out, depth, start = [], 0, 0
    for match in re.finditer(r"\\begin\{cases\}|\\end\{cases\}|\\\\(?:\[[^\]]*\])?", block):
        token = match.group(0)
        if token.startswith("\\begin"):
            depth += 1
        elif token.startswith("\\end"):
            depth -= 1
        elif depth == 0:
            out.append(block[start:match.start()])
            start = match.end()
    out.append(block[start:])
    return [" ".join(p.split()) for p in out]


def read_box(block: str) -> Box:
    """Read an algorithm box (the inside of its ``aligned`` block) into inputs, inits and statements.

    Raises:
        NotParsed: for a box without a ``\\textbf{for}`` loop.
    """
    lines = _lines(block)
    inputs_text, inits_text, body_lines = [], [], []
    section = ""
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        indent_match = _INDENT.match(text)
        indent = float(indent_match.group(1)) if indent_match else 0.0
        text = _INDENT.sub("", text).lstrip("& ").strip()
        if not text or text.startswith(("\\rule", "\\bf{return}", "\\mathbf{return}", "\\textbf{return}")):
            continue
        keyword = _KEYWORD.match(text)
        word = next((g for g in keyword.groups() if g), "") if keyword else ""
        if word == "input":
            section = "input"
            inputs_text.append(text[keyword.end():])
            continue
        if word == "initialize":
            section = "initialize"
            inits_text.append((text[keyword.end():], number))
            continue
        if word == "for":
            section = "loop"
            continue
        if section == "input":
            inputs_text.append(text)
        elif section == "initialize":
            inits_text.append((text, number))
        elif section == "loop":
            body_lines.append((indent, _HSPACE.sub(" ", _NOTE.sub("", text)).strip(), number))
    if not body_lines:
        raise NotParsed(0, "", "no \\textbf{for} loop in the box")
    body_lines, inits_text, said = _elementwise(body_lines, inits_text, lines)
    inputs, flags = _inputs(" ".join(inputs_text))
    inits = [(piece.strip(), number) for text, number in inits_text
             for piece in _split_top(_NOTE.sub("", text).lstrip(": ").replace("\\:", " "))
             if "\\leftarrow" in piece or "\\gets" in piece]
    body = _nest(_continued(body_lines))
    flags += [s.condition for s in _walk(body) if s.is_if and _flag(s.condition) and s.condition not in flags]
    flags += re.findall(r"\\text\{\s*if\s+(\w+)\s*\}\s*=\s*(?:True|False)", " ".join(t for _, t, _ in body_lines))
    return Box(inputs, inits, body, lines, list(dict.fromkeys(_flag(f) or f for f in flags)), said)


_INNER_FOR = re.compile(r"\\textbf\{for\}.*?\b([a-z])\s*=\s*0\s*,")  # for i = 0, 1, ..., d-1
_PREV = re.compile(r"(\\[A-Za-z]+|[A-Za-z])(?:\^\{?0\}?)?_\{?prev\}?")
_VALUE_NOTE = re.compile(r"\\text\{\s*([A-Za-z_]\w*)\s*\([^{}()]*\)\s*\}")  # \text{lr (learning rate)}


def _elementwise(body_lines, inits_text, lines):
    """torch's Rprop notation, read as symopt's: a loop over the elements (``\\textbf{for} i = 0,
    ..., d-1``) whose names carry the index as a superscript (``\\eta^i_t``) is elementwise, the index
    dropped; a name ``x_{prev}`` (started as ``x^0_{prev}``) is a state, ``x^{prev}_{t-1}`` where it is
    read and ``x^{prev}_t`` where the loop assigns it; an initial value ``\\text{lr (learning rate)}``
    is the keyword ``lr``."""
    said = []
    index = next((m.group(1) for raw in lines if (m := _INNER_FOR.search(raw))), None)
    if index is not None:
        drop = re.compile(r"\^\{?" + index + r"\}?(?![A-Za-z0-9])")
        body_lines = [(indent, drop.sub("", text), number) for indent, text, number in body_lines]
        said.append(f"the loop over the elements {index} is elementwise: x^{index}_t is x_t")
    if any(_PREV.search(text) for _, text, _ in body_lines):
        said.append("x_prev is a state: x_{t-1} where it is read, x_t where the loop assigns it")
    out, assigned = [], False
    for indent, text, number in body_lines:
        parts = _lhs(text)
        if parts and _PREV.fullmatch(parts[0]):
            rhs = _PREV.sub(lambda m: f"{m.group(1)}^{{prev}}_{{t-1}}", parts[1])
            text, assigned = f"{_PREV.sub(lambda m: m.group(1) + '^{prev}_t', parts[0])} \\leftarrow {rhs}", True
        elif not assigned:
            text = _PREV.sub(lambda m: f"{m.group(1)}^{{prev}}_{{t-1}}", text)
        out.append((indent, text, number))
    inits = [(_VALUE_NOTE.sub(lambda m: f"\\mathrm{{{m.group(1)}}}",
                              _PREV.sub(lambda m: f"{m.group(1)}^{{prev}}_0", text)), number)
             for text, number in inits_text]
    return out, inits, said


def _continued(body_lines):
    """Join a statement split over lines (NAdam's m̂ₜ continues with ``+ ...``)."""
    out: list = []
    for indent, text, number in body_lines:
        if out and re.match(r"^[+\-]", text) and "\\leftarrow" not in text:
            prev = out[-1]
            out[-1] = (prev[0], prev[1] + " " + text, prev[2])
        else:
            out.append((indent, text, number))
    return out


def _nest(items) -> list[Statement]:
    """Statements with their ``if``/``else`` bodies, nested by indentation."""
    out: list[Statement] = []
    last_if = None  # the if an else (or an else if) at this indentation continues
    i = 0
    while i < len(items):
        indent, text, number = items[i]
        keyword = _KEYWORD.match(text)
        word = " ".join(next((g for g in keyword.groups() if g), "").split()) if keyword else ""
        if word in ("if", "else", "else if"):
            j = i + 1
            while j < len(items) and items[j][0] > indent:
                j += 1
            body = _nest(items[i + 1:j])
            condition = text[keyword.end():].strip().rstrip(":").strip().removeprefix("\\:").strip()
            if word == "if":
                last_if = Statement(text, number, condition=condition or "?", then=body)
                out.append(last_if)
            elif last_if is None or last_if.otherwise:
                raise NotParsed(number, text, f"an {word} without its if")
            elif word == "else if":  # the else branch of the if before is this if
                last_if.otherwise = [Statement(text, number, condition=condition or "?", then=body)]
                last_if = last_if.otherwise[0]
            else:
                last_if.otherwise, last_if = body, None
            i = j
            continue
        out.append(Statement(text, number))
        last_if = None
        i += 1
    return out


def _walk(statements):
    for s in statements:
        yield s
        yield from _walk(s.then)
        yield from _walk(s.otherwise)


def _flag(condition: str) -> str:
    """The flag a condition tests (``\\textit{amsgrad}``, ``amsgrad``, ``nesterov=True``), or ''."""
    text = re.sub(r"\\(?:textit|text|mathit|textbf|mathrm)\{([^{}]*)\}", r"\1", condition)
    text = text.replace("\\_", "_").replace("\\:", " ").replace("\\ ", " ").strip().rstrip(":").strip()
    text = re.sub(r"^if\s+", "", text)
    match = re.fullmatch(r"([A-Za-z_]{3,})(?:\s*=\s*(True|False))?", text)
    return match.group(1) if match and match.group(1) not in ("else",) else ""


def _split_top(text: str) -> list[str]:
    """Split at commas outside braces and parentheses."""
    out, depth, current = [], 0, ""
    for ch in text:
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(current)
            current = ""
        else:
            current += ch
    out.append(current)
    return out


def _inputs(text: str) -> tuple[list[tuple[list[str], str]], list[str]]:
    """``\\gamma \\text{ (lr)}, \\beta_1, \\beta_2 \\text{ (betas)}`` -> [(['\\gamma'], 'lr'), (['\\beta_1',
    '\\beta_2'], 'betas')], and the flags named (``\\textit{amsgrad}``, a bare ``centered``)."""
    flags = [f.replace("\\_", "_") for f in re.findall(r"\\textit\{\s*([^{}]*?)[\s,]*\}", text)]
    text = re.sub(r"\\textit\{[^{}]*\}(?:\\in\\\{[^{}]*\\\})?", ",", text)
    text = _HSPACE.sub(" ", text).replace("\\:", " ").replace("\\ ", " ").replace("\\,", " ")
    out = []
    pieces = re.split(r"\\text\{\s*\(\s*([^{}]*?)\s*\)\s*\}", text)
    for chunk, description in itertools.zip_longest(pieces[0::2], pieces[1::2]):
        symbols = []
        for item in _split_top(chunk):
            item = item.strip().lstrip(":").strip()
            if item.startswith("(") and item.endswith(")"):
                symbols += [s.strip() for s in item[1:-1].split(",")]
            elif re.fullmatch(r"[a-z_]{3,}", item):  # a bare flag: centered
                flags.append(item)
            elif item:
                symbols.append(item)
        if description is not None and symbols:
            several = len(symbols) > 1 and (chunk.strip().startswith("(") or "," in chunk.split(symbols[-2])[-1])
            out.append((symbols[-2:] if several and len(symbols) == 2 else symbols if several else symbols[-1:],
                        description))
    return out, [f for f in flags if f]


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def aliases_for(box: Box, like: Rule) -> dict[str, str]:
    """torch's symbols as the keywords of ``like``'s hyperparameters: ``{"\\\\gamma": "lr"}``,
    matched by the input line's descriptions (``lr``, ``betas``, ``weight decay``, ``epsilon``)."""
    out: dict[str, str] = {}
    for symbols, description in box.inputs:
        want = _normal(description)
        if not want:
            continue
        named = [h for h in like.hypers if want in (_normal(h.name), _normal(h.keyword))
                 or _normal(h.name).startswith(want) or want.startswith(_normal(h.keyword))]
        if len(symbols) > 1:
            positions = sorted((h for h in named if isinstance(h.library, tuple)), key=lambda h: h.library[1])
            for symbol, h in zip(symbols, positions):
                out[symbol] = h.name
        elif named:
            exact = [h for h in named if want in (_normal(h.name), _normal(h.keyword))]
            out[symbols[0]] = (exact or named)[0].name
            ident = E.ident_of(symbols[0], True)
            if ident is not None and ident.sub == "t":  # NAdam's input \gamma_t, its loop's \gamma
                out[symbols[0].rsplit("_", 1)[0]] = (exact or named)[0].name
    return out


@dataclass
class Branch:
    """One branch of a box: the flags' values and its equations (LaTeX, each with its line)."""

    flags: dict[str, bool]
    equations: list[tuple[str, int]]
    label: str = ""


_STATES: contextvars.ContextVar[frozenset] = contextvars.ContextVar("states", default=frozenset())


def _state_stems(box: Box) -> set:
    """The names the box keeps from step to step: those it starts (``m_0``), reads at t-1, or θ."""
    stems = {"theta"}
    for text, _ in box.inits:
        parts = _lhs(text)
        ident = E.ident_of(parts[0], True) if parts else None
        if ident is not None:
            stems.add(ident.stem)
    body = " ".join(s.text for s in _walk(box.body))
    for match in re.finditer(r"_\{t-1\}", body):
        before = body[:match.start()]
        for size in range(1, 40):  # the name just before the subscript, as short as it reads
            ident = E.ident_of(before[-size:].strip() + "_{t-1}", True)
            if ident is not None and ident.sub == "t-1":
                stems.add(ident.stem)
                break
    return stems


def branches(box: Box) -> list[Branch]:
    """Every combination of the box's flags, each flattened into equations (identical ones once)."""
    _STATES.set(frozenset(_state_stems(box)))
    out: list[Branch] = []
    seen: set = set()
    for values in itertools.product((False, True), repeat=len(box.flags)):
        flags = dict(zip(box.flags, values))
        equations = _flatten(box.body, flags, assigned=set())
        key = tuple(e for e, _ in equations)
        if key in seen:
            continue
        seen.add(key)
        on = [k for k, v in flags.items() if v]
        out.append(Branch(flags, equations, ", ".join(on) or "default"))
    return out


def _lhs(text: str) -> tuple[str, str] | None:
    match = re.match(r"^(.*?)\\(?:leftarrow|gets)(.*)$", text)
    return (match.group(1).strip(), match.group(2).strip()) if match else None


def _flatten(statements, flags: dict, assigned: set) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for s in statements:
        if not s.is_if:
            out.append((_choose_cases(s.text, flags), s.line))
            parts = _lhs(s.text)
            if parts:
                assigned.add(_key(parts[0]))
            continue
        flag = _flag(s.condition)
        if flag in flags:
            out += _flatten(s.then if flags[flag] else s.otherwise, flags, assigned)
            continue
        # a test on values: one case split per name where each branch assigns it at most once (the
        # else branch's own new names first); else each assignment keeps the current value where its
        # branch is not taken, one after the other
        then = _flatten(s.then, flags, set(assigned))
        other = _flatten(s.otherwise, flags, set(assigned))
        merged = _merged(then, other, s.condition, assigned)
        if merged is not None:
            out += merged
            continue
        for taken, body in ((True, then), (False, other)):
            for text, line in body:
                parts = _lhs(text)
                if parts is None:
                    out.append((text, line))
                    continue
                lhs, rhs = parts
                current = _current(lhs, assigned)
                if current is None:  # an intermediate first assigned here: computed either way
                    out.append((text, line))
                else:
                    out.append((_cases(lhs, rhs if taken else current, rhs if not taken else current,
                                       s.condition), line))
                assigned.add(_key(lhs))
    return out


def _cases(lhs: str, then: str, other: str, condition: str) -> str:
    return rf"{lhs} \leftarrow \begin{{cases}} {then} & \text{{if }} {condition} \\ {other} & \text{{otherwise}} \end{{cases}}"


def _merged(then: list, other: list, condition: str, assigned: set) -> list | None:
    """The two branches as one case split per name, or None where a branch assigns a name twice."""
    keys_then = [_key(p[0]) for t, _ in then if (p := _lhs(t))]
    keys_other = [_key(p[0]) for t, _ in other if (p := _lhs(t))]
    if len(set(keys_then)) < len(keys_then) or len(set(keys_other)) < len(keys_other) or \
            len(keys_then) < len(then) or len(keys_other) < len(other):
        return None
    out = []
    def fresh(text: str) -> bool:
        return _current(_lhs(text)[0], assigned) is None

    out += [(t, n) for t, n in other if fresh(t)]  # the else branch's new names, before they are read
    by_key_other = {_key(_lhs(t)[0]): (t, n) for t, n in other if not fresh(t)}
    for text, line in then:
        lhs, rhs = _lhs(text)
        if fresh(text):
            out.append((text, line))
        else:
            found = by_key_other.pop(_key(lhs), None)
            out.append((_cases(lhs, rhs, _lhs(found[0])[1] if found else _current(lhs, assigned), condition), line))
        assigned.add(_key(lhs))
    for text, line in by_key_other.values():
        lhs, rhs = _lhs(text)
        out.append((_cases(lhs, _current(lhs, assigned), rhs, condition), line))
        assigned.add(_key(lhs))
    return out


def _key(lhs: str):
    ident = E.ident_of(lhs, True)
    return ident.key if ident else lhs


def _current(lhs: str, assigned: set) -> str | None:
    """What ``lhs`` holds before an assignment in a branch: itself if assigned already, else its value
    at t-1 for a state or the parameter (θ_{t-1}), else None (a new intermediate)."""
    ident = E.ident_of(lhs, True)
    if ident is None:
        return None
    if ident.key in assigned or ident.key == ("g", "t"):
        return lhs
    if ident.sub == "t" and ident.stem in _STATES.get():
        return re.sub(r"_\{?t\}?(?![-+\w])", "_{t-1}", lhs, count=1) if "_" in lhs else None
    return None


def _choose_cases(text: str, flags: dict) -> str:
    """A ``cases`` on flags (Muon's ``\\text{if nesterov}=True``): the row of the flag's value."""
    match = re.search(r"\\begin\{cases\}(.*?)\\end\{cases\}", text, re.DOTALL)
    if not match:
        return text
    rows = [r.strip() for r in re.split(r"\\\\", match.group(1))]
    for row in rows:
        value, _, condition = row.partition("&")
        cond = re.sub(r"\\text\{\s*if\s*([^{}]*)\}", r"\1", condition).strip()
        flag = re.fullmatch(r"(\w+)\s*=\s*(True|False)", cond.replace(" ", "").replace("=", " = ", 1).strip())
        if flag and flag.group(1) in flags and flags[flag.group(1)] == (flag.group(2) == "True"):
            return text[:match.start()] + "{" + value.strip().rstrip(",") + "}" + text[match.end():]
    return text


def rewrite(text: str) -> tuple[str, list[str]]:
    """``text`` with torch's notation rewritten (:data:`TORCH_NOTATION`), and what each rewrite says."""
    said = []
    for pattern, replacement, note in TORCH_NOTATION:
        text, count = re.subn(pattern, replacement, text)
        if count:
            said.append(note)
    return text, said


def _ssa(equations: list[tuple[str, int]], inputs: set) -> list[tuple[str, int]]:
    """A line assigning an input (Muon's ``\\gamma \\leftarrow ...``) makes a new name the later lines read."""
    out, renamed = [], {}
    for text, line in equations:
        for old, new in renamed.items():
            text = re.sub(re.escape(old) + r"(?![A-Za-z_])", lambda _m, new=new: new, text)
        parts = _lhs(text)
        if parts and parts[0] in inputs:
            new = parts[0] + "_{adjusted}"
            text = f"{new} \\leftarrow {parts[1]}"
            renamed[parts[0]] = new
        out.append((text, line))
    return out


_PRODUCT = re.compile(r"\\prod_\{i=1\}\^\{t(\+1)?\}\s*(\\[A-Za-z]+|[A-Za-z])_\{?i\}?")
PRODUCT_NOTE = "∏_{i=1}^{t} x_i is the running product Π_t = Π_{t-1}·x_t, Π_0 = 1 (and ∏ to t+1 is Π_t·x_{t+1})"


CASES_NOTE = ("a test on array values (x > 0, x < 0, else) is the sum of each case's value times "
              "0/1 for its case taken, written with max(0, ±sign x)")


def _products(equations: list[tuple[str, int]]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """A product over the steps so far (NAdam's ``\\prod_{i=1}^{t} \\mu_i``) read as a state: the
    equations with ``\\Pi_t`` for it, its update inserted before its first use, and its start."""
    out, inits, defined = [], [], False
    for text, line in equations:
        match = _PRODUCT.search(text)
        if match and not defined:
            factor = match.group(2)
            out.append((rf"\Pi_t \leftarrow \Pi_{{t-1}} {factor}_t", line))
            inits.append((r"\Pi_0 \leftarrow 1", line))
            defined = True
        text = _PRODUCT.sub(lambda m: rf"\Pi_t {m.group(2)}_{{t+1}}" if m.group(1) else r"\Pi_t", text)
        out.append((text, line))
    return out, inits


def _theta_last(equations: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """θ_t's assignment moved after the lines that follow it (Rprop's ``g_{prev} \\leftarrow g_t``), where
    they neither read θ_t nor assign what it reads: the same step, in the order a rule is written."""
    at = [i for i, (t, _) in enumerate(equations) if (p := _lhs(t)) and _key(p[0]) == ("theta", "t")]
    if not at or at[-1] == len(equations) - 1:
        return equations
    theta, after = equations[at[-1]], equations[at[-1] + 1:]
    rhs = _lhs(theta[0])[1]
    for text, _ in after:
        parts = _lhs(text)
        if parts is None or re.search(r"\\theta_\{?t\}?(?![-+\w])", text) or parts[0].replace(" ", "") in rhs.replace(" ", ""):
            return equations
    return [*equations[:at[-1]], *after, theta]


def branch_rule(box: Box, branch: Branch, like: Rule, name: str) -> Rule:
    """The rule a branch writes, in ``like``'s hyperparameters (matched by the input line) and with
    its states named as ``like``'s where they correspond.

    Raises:
        NotParsed: naming the line that could not be read.
    """
    aliases = aliases_for(box, like)
    equations, product_inits = _products(_ssa(_theta_last(branch.equations), set(aliases)))
    assigned = {E.ident_of(p[0], True).stem for t, _ in equations if (p := _lhs(t)) and E.ident_of(p[0], True)}
    inits = [(t, n) for t, n in box.inits  # the start of each state this branch keeps
             if (p := _lhs(t)) and E.ident_of(p[0], True) and E.ident_of(p[0], True).stem in assigned]
    inits += product_inits
    lines = [*(t for t, _ in inits), *(t for t, _ in equations)]
    numbers = [*(n for _, n in inits), *(n for _, n in equations)]
    text, _ = rewrite(" \\\\\n".join(lines))
    try:
        # the rule's hyperparameters, then symopt's others (a paper's η_t, the schedule multiplier)
        # (not one spelled as a state of the box: Rprop's step size η_t is not the schedule multiplier)
        states = _state_stems(box)
        extra = [h for h in E.standard_hypers()
                 if not any(stem in states and sub in ("t", "t-1") for stem, sub in E.keys_of(h.symbol))]
        hypers = {h.name: h for h in reversed((*like.hypers, *extra))}
        made = E.rule_from_equations(text, hypers=list(reversed(hypers.values())), aliases=aliases, latex=True,
                                     name=name,
                                     torch=like.torch, ranks=like.ranks)
    except SymoptError as exc:
        message = str(exc)
        found = re.match(r"line (\d+)(?:, column \d+)?: (.*)", message)
        if found and int(found.group(1)) <= len(numbers):
            number = numbers[int(found.group(1)) - 1]
            raise NotParsed(number, box.lines[number - 1].strip(), found.group(2)) from None
        raise NotParsed(0, "", message) from None
    return _named_like(made, like)


def _named_like(made: Rule, like: Rule) -> Rule:
    """``made``'s states renamed as ``like``'s: the same name first (ignoring case), then the same
    initial value, then in order."""
    free = list(like.states)
    names: dict[str, str] = {}
    for s in made.states:
        match = next((o for o in free if o.name.lower() == s.name.lower()), None)
        if match is not None:
            names[s.name] = match.name
            free.remove(match)
    for s in made.states:  # then the one state that starts at the same value (Rprop's η_0 = lr, Γ_0 = η)
        alike = [o for o in free if o.init == s.init]
        if s.name not in names and len(alike) == 1 and sum(x.init == s.init for x in made.states) == 1:
            names[s.name] = alike[0].name
            free.remove(alike[0])
    for s in made.states:
        if s.name not in names and free:
            names[s.name] = free.pop(0).name
    return replace(made, states=tuple(replace(s, name=names.get(s.name, s.name)) for s in made.states))


def settle(rule: Rule) -> list[tuple[Rule, str, str]]:
    """A rule's branches on hyperparameters alone (λ ≠ 0, μ > 0): dropped where, at the boundary, the
    branch changes no step (the note says so); else split in two: ``[(rule, label, note), ...]``."""
    hypers = {h.symbol for h in rule.hypers}
    for eq in rule.equations:
        for node in sp.preorder_traversal(eq.rhs):
            if isinstance(node, sp.Piecewise) and len(node.args) == 2 and node.args[0][1].free_symbols and \
                    node.args[0][1].free_symbols <= hypers:
                cond = node.args[0][1]
                (h,) = sorted(cond.free_symbols, key=str) if len(cond.free_symbols) == 1 else (None,)
                if h is None:
                    continue
                then = _replaced(rule, node, node.args[0][0])
                other = _replaced(rule, node, node.args[1][0])
                name = next(x.name for x in rule.hypers if x.symbol == h)
                if _same_at(then, other, h):
                    said = f"the test {_cond_text(cond, rule)} is dropped: at {name} = 0 its body changes no step"
                    return [(r, label, "; ".join(dict.fromkeys(x for x in (said, *note.split("; ")) if x)))
                            for r, label, note in settle(then)]
                out = []
                for part, label in ((then, _cond_text(cond, rule)), (_at_zero(other, h), f"{name} = 0")):
                    out += [(r, ", ".join(x for x in (label, sub) if x), note) for r, sub, note in settle(part)]
                return out
    return [(rule, "", "")]


def _cond_text(cond, rule) -> str:
    """``weight_decay ≠ 0``: a condition in the hyperparameters' keywords."""
    names = {h.symbol: sp.Symbol(h.name) for h in rule.hypers}
    op = {"!=": "≠", ">=": "≥", "<=": "≤", "==": "="}.get(cond.rel_op, cond.rel_op)
    return f"{sp.sstr(cond.lhs.xreplace(names))} {op} {sp.sstr(cond.rhs.xreplace(names))}"


def _replaced(rule: Rule, node, value) -> Rule:
    return rule.with_equations([type(eq)(eq.lhs, eq.rhs.xreplace({node: value})) for eq in rule.equations])


def _same_at(a: Rule, b: Rule, h) -> bool:
    """At ``h`` = 0, the same θ, and every state that differs unread by θ's step."""
    ma, mb = a.step_map(), b.step_map()
    theta = next(iter(ma))
    if not _zero((ma[theta] - mb[theta]).subs(h, 0)):
        return False
    read = ma[theta].subs(h, 0).free_symbols
    for state in a.states:
        other = next((s for s in b.states if s.new == state.new), None)
        if other is None:
            continue
        if state.prev in read and not _zero((ma[state.new] - mb[other.new]).subs(h, 0)):
            return False
    return True


def _zero(expr: sp.Expr, trials: int = 4) -> bool:
    """Whether ``expr`` is 0: exactly 0 after expansion, or at random rational points (steps t of
    1 to 12, every other value in (0, 1)) to 30 digits, where SymPy's simplify could take minutes."""
    import random

    expr = sp.expand(expr)
    if expr == 0:
        return True
    rng = random.Random(0)
    symbols = sorted(expr.free_symbols, key=str)
    for _ in range(trials):
        point = {x: (rng.randint(1, 12) if x.is_integer else sp.Rational(rng.randint(1, 999), 1000)) for x in symbols}
        try:
            value = complex(sp.N(expr.xreplace(point), 30))
        except (TypeError, ValueError):
            return False
        if abs(value) > 1e-20:
            return False
    return True


def _at_zero(rule: Rule, h) -> Rule:
    """``rule`` at ``h`` = 0, without the states no step then reads and the hyperparameters it drops."""
    made = rule.with_equations([type(eq)(eq.lhs, eq.rhs.subs(h, 0)) for eq in rule.equations
                                if eq.rhs.subs(h, 0) != eq.lhs])
    step = made.step_map()
    live = set(step[next(iter(step))].free_symbols)
    grew = True
    while grew:
        grew = False
        for state in made.states:
            if state.prev in live and not step[state.new].free_symbols <= live:
                live |= step[state.new].free_symbols
                grew = True
    dead = {s.new for s in made.states if s.prev not in live}
    made = replace(made, states=tuple(s for s in made.states if s.new not in dead))
    made = made.with_equations([eq for eq in made.equations if eq.lhs not in dead])
    used = set().union(*(eq.rhs.free_symbols for eq in made.equations))
    return replace(made, hypers=tuple(x for x in made.hypers if x.symbol in used))


# --- verdicts ---------------------------------------------------------------------------------------
@dataclass
class Finding:
    """The verdict on one branch of one documented algorithm."""

    subject: str  # torch.optim.Adam, or a file
    branch: str  # "amsgrad, maximize", "default"
    verdict: str
    against: str = ""  # symopt's rule (its label)
    rule: Rule | None = None
    symopt: str = ""  # the verdict against symopt's rule
    torch: str = ""  # against torch's code: "agrees on N cases", or the counterexample
    detail: list[str] = field(default_factory=list)
    line: str = ""  # the docstring line that differs, or that could not be read
    notes: list[str] = field(default_factory=list)


def candidates(torch_class: str) -> list[Rule]:
    """symopt's rules (every variant) in the semantics of ``torch_class``."""
    from symopt.optimizers import get, rules, variants

    out = []
    for name in rules():
        for variant in variants(name):
            made = get(name, **variant)
            if made.torch == torch_class:
                out.append(made)
    return out


def _match(made: Rule, flags: dict, pool: list[Rule]) -> Rule | None:
    """The variant of ``pool`` with the branch's hyperparameters and flags (options of the same name)."""
    names = {h.name for h in made.hypers}
    best, score = None, None
    for rule in pool:
        options = dict(rule.options)
        from symopt.optimizers import options as defaults

        base = defaults(rule.name)
        if any(k in options and options[k] != v for k, v in flags.items()):
            continue
        if any(v != base[k] and k not in flags for k, v in options.items()):
            continue  # a variant the box does not have (adam's epsilon='hat')
        s = (len(names ^ {h.name for h in rule.hypers}), len(rule.name))
        if score is None or s < score:
            best, score = rule, s
    return best


def audit_rule(made: Rule, target: Rule, subject: str, label: str, examples: int = EXAMPLES,
               torch_extra: dict | None = None, lines: dict | None = None, unmapped: tuple = (),
               search: bool = False) -> Finding:
    """Decide ``made`` (read from a box) against ``target`` (symopt's rule) by equiv and, when
    ``torch_extra`` is given, against ``target``'s torch class with those extra arguments.
    ``unmapped`` are flags on in the box that symopt has no option for (maximize): the branch is
    then judged by torch's code alone. ``search``: where the identity map fails, look for another
    (SAME UNDER MAP), within :data:`MAP_BUDGET`; without it only the identity is tried (fast)."""
    from symopt import equiv
    from symopt.optimizers import label as label_of

    finding = Finding(subject, label, NOT_DECIDED, against=label_of(target), rule=made)
    if unmapped:
        finding.symopt = "-"
        finding.notes.append(f"{', '.join(unmapped)}: symopt has no such option; judged against torch's code")
    else:
        # the identity (fast: every shared keyword kept), or, searching, any map (the identity first)
        verdict = equiv.equivalent(made, target, examples=examples, release=2 if search else 0,
                                   budget=MAP_BUDGET if search else equiv.BUDGET, conditions=False)
        identity = all(str(e) == k for k, e in verdict.hypers.items()) and all(e == 1 for e in verdict.states.values())
        if verdict.equivalent:
            finding.symopt = SAME if identity else SAME_UNDER_MAP
            if not identity:
                finding.detail += [line for line in equiv.describe(verdict) if line.startswith("  ")]
        elif verdict.kind == equiv.NOT_EQUIVALENT:
            finding.symopt = DIFFERENT
            finding.detail += equiv.describe(verdict)[1:]
            finding.line = _differing_line(made, target, lines or {})
        elif verdict.kind == equiv.NOT_DECIDED and verdict.checked and (split := _per_case(made, target)):
            # the rules branch on the same condition, which equiv takes as an uninterpreted function:
            # proved case by case, and no generated case differs
            finding.symopt = SAME
            finding.notes.append(f"proved by equiv for each case of {split} (both rules branch on it), "
                                 f"and both kernels agree on {verdict.checked} generated cases")
        else:
            finding.symopt = NOT_DECIDED
            finding.detail.append(verdict.reason)
    if torch_extra is not None:
        finding.torch = _against_torch(made, target, torch_extra, examples, finding)
    torch_ok = torch_extra is None or finding.torch.startswith("agrees")
    if finding.symopt == DIFFERENT or finding.torch.startswith("differs"):
        finding.verdict = DIFFERENT
        finding.line = finding.line or _differing_line(made, target, lines or {})
    elif finding.symopt in (SAME, SAME_UNDER_MAP, "-") and torch_ok and (finding.symopt != "-" or torch_extra):
        finding.verdict = SAME if finding.symopt == "-" else finding.symopt
    else:
        finding.verdict = NOT_DECIDED
    return finding


def _per_case(made: Rule, target: Rule) -> str:
    """The branch conditions on scalars both rules share, if the identity map proves the two equal
    in every case of each (the condition true, then false), else ''."""
    import time

    from symopt import equiv

    def conditions(rule):
        return {p.args[0][1] for eq in rule.equations for p in sp.preorder_traversal(eq.rhs)
                if isinstance(p, sp.Piecewise) and len(p.args) == 2}

    shared = sorted(conditions(made) & conditions(target), key=str)
    if not shared:
        return ""
    for values in itertools.product((True, False), repeat=len(shared)):
        forced = [_forced(rule, dict(zip(shared, values))) for rule in (made, target)]
        decided = equiv._decide(*forced, time.process_time() + equiv.BUDGET, release=0, conditions=False)
        hypers, states, _, same, _ = decided
        if not same or not all(str(e) == k for k, e in (hypers or {}).items()) or \
                not all(e == 1 for e in states.values()):
            return ""
    from symopt.printing import text

    return " and ".join(text(c) for c in shared)


def _forced(rule: Rule, values: dict) -> Rule:
    """``rule`` with each two-way branch on a condition of ``values`` replaced by the case taken."""
    def pick(e):
        return e.args[0][0] if values[e.args[0][1]] else e.args[1][0]

    def chosen(e) -> bool:
        return isinstance(e, sp.Piecewise) and len(e.args) == 2 and e.args[0][1] in values

    return rule.with_equations([type(eq)(eq.lhs, eq.rhs.replace(chosen, pick)) for eq in rule.equations])


def _against_torch(made: Rule, target: Rule, extra: dict, examples: int, finding: Finding) -> str:
    from symopt import verify

    witness = verify.torch_runner(target, **extra)
    if isinstance(witness, str):
        return f"not run: {witness}"
    report = verify.cross_check(made, witness, against="torch", examples=examples, seed=0, explicit=False)
    if report.counterexample is not None:
        finding.detail += ["against torch's code (the box's rule run by its kernel, torch as the witness):",
                           *(f"  {x}" for x in verify.describe(report.counterexample.case,
                                                               report.counterexample.errors.first))]
        return "differs"
    if report.failure:
        return f"not decided: {report.failure}"
    return f"agrees on {report.cases} generated cases"


DIFFERING_POINTS = 8


def _differing_line(made: Rule, target: Rule, lines: dict) -> str:
    """The box's line assigning the first quantity (in the box's order) whose value differs from
    ``target``'s at a random point (the states before the step matched by name), else θ_t's line."""
    import random

    from symopt import symbols as S

    prev = {s.prev: next((o.prev for o in target.states if o.name == s.name), s.prev) for s in made.states}
    new = {s.new: next((o.new for o in target.states if o.name == s.name), s.new) for s in made.states}

    def values(rule, rename):
        env: dict = {}
        for eq in rule.equations:
            env[eq.lhs] = eq.rhs.xreplace(rename).xreplace(env)
        return env

    ours, theirs = values(made, prev), values(target, {})
    rng = random.Random(0)
    symbols = sorted(set().union(*(e.free_symbols for e in (*ours.values(), *theirs.values()))), key=str)
    # a few points: a difference may show only where the hyperparameters are in some order (Rprop's
    # step size outside [Γ_min, Γ_max])
    points = [{x: (3 if x.is_integer else sp.Rational(rng.randint(1, 9), 10)) for x in symbols}
              for _ in range(DIFFERING_POINTS)]
    for eq in made.equations:
        mine, other = ours[eq.lhs], theirs.get(new.get(eq.lhs, eq.lhs))
        if other is None or eq.lhs not in lines:
            continue
        for point in points:
            try:
                differs = abs(complex(sp.N(mine.xreplace(point) - other.xreplace(point), 30))) > 1e-20
            except (TypeError, ValueError):
                continue
            if differs:
                return lines[eq.lhs]
    return lines.get(S.theta, "")


def _assigning_lines(box: Box, branch: Branch, made: Rule) -> dict:
    """The box's line that last assigns each of ``made``'s equations' names."""
    out = {}
    for text, number in branch.equations:
        parts = _lhs(text)
        ident = E.ident_of(parts[0], True) if parts else None
        if ident is None:
            continue
        for eq in made.equations:
            name = eq.lhs.name.removesuffix("_t")  # (an array named apart from a scalar: etaarr_t)
            if ident.key in E.keys_of(eq.lhs) or name in (E._symbol_name(ident.stem), E._symbol_name(ident.stem) + E.ARRAY_APART):
                out[eq.lhs] = box.lines[number - 1].strip()
    return out


def audit_class(torch_class: str, examples: int = EXAMPLES) -> list[Finding]:
    """Every branch of ``torch.optim.<torch_class>``'s documented algorithm, decided."""
    from symopt.errors import UnknownNameError

    if torch_class not in torch_classes():
        raise UnknownNameError("torch.optim class with a symopt rule", torch_class, torch_classes())
    torch = require_torch()
    subject = f"torch.optim.{torch_class}"
    pool = candidates(torch_class)
    cls = getattr(torch.optim, torch_class, None)
    if cls is None:
        raise SymoptError(f"torch.optim {torch.__version__} has no {torch_class}")
    try:
        box = read_box(extract(cls.__doc__))
    except NotParsed as exc:
        return [Finding(subject, "", NOT_PARSED, line=exc.text, detail=[exc.reason])]
    findings = []
    for branch in branches(box):
        findings += _audit_branch(box, branch, pool, subject, examples, torch=True)
    return findings


def _audit_branch(box: Box, branch: Branch, pool: list[Rule], subject: str, examples: int,
                  torch: bool) -> list[Finding]:
    like = _match_flags(branch.flags, pool) or pool[0]
    hypers = {h.name: h for rule in (like, *pool) for h in reversed(rule.hypers)}
    like = replace(like, hypers=tuple(hypers.values()))  # every hyperparameter the class's rules declare
    _, rewrites = rewrite(" ".join(t for t, _ in branch.equations))
    rewrites = [*box.rewrites, *rewrites]
    if any(_PRODUCT.search(t) for t, _ in branch.equations):
        rewrites.append(PRODUCT_NOTE)
    try:
        made = branch_rule(box, branch, like, f"{subject.rsplit('.', 1)[-1].lower()}-doc")
    except NotParsed as exc:
        return [Finding(subject, branch.label, NOT_PARSED, line=exc.text, detail=[exc.reason], notes=rewrites)]
    if any("\\begin{cases}" in t for t, _ in branch.equations) and \
            not any(eq.rhs.has(sp.Piecewise) for eq in made.equations):
        rewrites.append(CASES_NOTE)
    out = []
    for part, extra_label, note in settle(made):
        label = ", ".join(x for x in (branch.label if branch.label != "default" or not extra_label else "",
                                      extra_label) if x) or "default"
        target = pool[0] if len(pool) == 1 else _match(part, branch.flags, pool)  # a named rule, or torch's
        if target is None:
            out.append(Finding(subject, label, NOT_DECIDED, rule=part, detail=["no symopt rule with these flags"]))
            continue
        part = _named_like(part, target)
        options = dict(target.options)
        extra = {k: v for k, v in branch.flags.items() if k not in options}
        finding = audit_rule(part, target, subject, label, examples, torch_extra=extra if torch else None,
                             lines=_assigning_lines(box, branch, part),
                             unmapped=tuple(k for k, v in extra.items() if v) if torch else (), search=not torch)
        split = re.findall(r"(\w+) [≠=] 0", label)  # a test the branch is split on is not also "dropped"
        said = [n for n in note.split("; ") if n and not any(f"the test {h} ≠ 0" in n for h in split)]
        finding.notes += [*rewrites, *said]
        out.append(finding)
    return out


def _match_flags(flags: dict, pool: list[Rule]) -> Rule | None:
    for rule in pool:
        options = dict(rule.options)
        if all(options.get(k, v) == v for k, v in flags.items()):
            return rule
    return None


def require_torch():
    """torch, or a one-line error saying how to install it."""
    try:
        import torch
    except ImportError:
        raise SymoptError('auditing torch.optim needs torch: pip install "symopt-toolkit[torch]"') from None
    return torch


def torch_classes() -> list[str]:
    """The torch.optim classes symopt has a rule for, in the registry's order."""
    from symopt.optimizers import get, rules

    out: list[str] = []
    for name in rules():
        cls = get(name).torch
        if cls and cls not in out:
            out.append(cls)
    return out


def audit_all(examples: int = EXAMPLES) -> list[Finding]:
    """:func:`audit_class` for every torch.optim class symopt has a rule for."""
    return [f for cls in torch_classes() for f in audit_class(cls, examples)]


def audit_file(path: str, against: str, examples: int = EXAMPLES) -> list[Finding]:
    """The algorithm box of a LaTeX file (its first ``aligned`` block, the same structure as torch's,
    or bare ``\\leftarrow`` lines), decided against the rule ``against`` (a name or spec)."""
    from symopt.spec import rule_from_spec

    target = rule_from_spec(against)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SymoptError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        block = extract(text)
    except NotParsed:
        block = text
    if "\\textbf{for}" not in block:
        block = "\\textbf{for} \\\\ " + block  # bare lines: all of them the loop
    try:
        box = read_box(block)
    except NotParsed as exc:
        return [Finding(path, "", NOT_PARSED, line=exc.text, detail=[exc.reason])]
    out = []
    for branch in branches(box):
        out += _audit_branch(box, branch, [target], path, examples, torch=False)
    return out


# --- reports ----------------------------------------------------------------------------------------
def text(findings: list[Finding]) -> list[str]:
    """The findings as lines for a terminal."""
    out = []
    for f in findings:
        head = f"{f.subject} [{f.branch}]: {f.verdict}"
        if f.against:
            head += f" (symopt's {f.against}: {f.symopt or '-'}; torch's code: {f.torch or 'not run'})"
        out.append(head)
        if f.line:
            out.append(f"  {'the line that differs' if f.verdict == DIFFERENT else 'the line'}: {f.line}")
        out += [f"  {x}" for x in f.detail]
        out += [f"  read as: {n}" for n in f.notes]
    return out


INTRO = (
    "Each torch.optim class symopt has a rule for, read from the algorithm box of its docstring "
    "(`symopt audit --all`): one rule per branch of the box (each flag on or off), parsed from the "
    "box's LaTeX, never evaluated, and decided against symopt's rule in torch's semantics by `equiv` "
    "(a proof on the step maps, then {examples} generated cases through both kernels) and against the "
    "torch class itself ({examples} generated cases, torch as the witness). **SAME**: the identity map "
    "proved and torch's code agrees; **SAME UNDER MAP**: another map, printed; **DIFFERENT**: a "
    "counterexample, with the line of the docstring that assigns the first quantity that differs; "
    "**NOT PARSED**: the line symopt cannot read, and why; **NOT DECIDED**: neither a proof nor a "
    "counterexample. A flag symopt has no option for (maximize) is judged against torch's code alone. "
    "Where torch's notation is read otherwise than it is written, the section of the branch says how.")


def document(examples: int = DOCUMENT_EXAMPLES) -> str:
    """``derivations/audit-torch.md``'s text (without its generated-file header)."""
    torch = require_torch()
    return markdown(audit_all(examples), f"torch {torch.__version__.split('+')[0]}: documented algorithms "
                    "against the code", INTRO.format(examples=examples))


def markdown(findings: list[Finding], title: str, intro: str) -> str:
    """A table of the verdicts, then each difference with its counterexample."""
    rows = ["| class | branch | verdict | symopt's rule | against it | torch's code |", "| --- | --- | --- | --- | --- | --- |"]
    for f in findings:
        rows.append(f"| `{f.subject}` | {f.branch} | **{f.verdict}** | {f'`{f.against}`' if f.against else '-'} | "
                    f"{f.symopt or '-'} | {f.torch or '-'} |")
    parts = [f"# {title}", "", intro, "", *rows, ""]
    readings: dict[str, list[str]] = {}
    for f in findings:
        for n in f.notes:
            readings.setdefault(n, []).append(f"{f.subject.removeprefix('torch.optim.')} [{f.branch}]")
    if readings:
        parts += ["How the boxes were read, where it is not as written:", ""]
        parts += [f"- {n}: {', '.join(where)}" for n, where in readings.items()]
        parts.append("")
    for f in findings:
        if f.verdict in (DIFFERENT, NOT_PARSED, NOT_DECIDED, SAME_UNDER_MAP):
            parts.append(f"## {f.subject} [{f.branch}]: {f.verdict}")
            parts.append("")
            if f.line:
                parts.append(f"{'The line that differs' if f.verdict == DIFFERENT else 'The line'}:")
                parts += ["", "```latex", f.line, "```", ""]
            if f.rule is not None and f.verdict != NOT_PARSED:
                parts += ["The box's branch, as read:", "", "```text", str(f.rule), "```", ""]
            if f.detail:
                parts += ["```text", *f.detail, "```", ""]
            parts += [f"- read as: {n}" for n in f.notes]
            if f.notes:
                parts.append("")
    return "\n".join(parts).rstrip() + "\n"
