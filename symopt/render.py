"""Rules and derivations as terminal text, LaTeX blocks and JSON.

Every equation goes through :mod:`symopt.printing`; this module only lays them out. The Markdown
and standalone LaTeX documents are in :mod:`symopt.export`.
"""

from __future__ import annotations

import math

import sympy as sp

from symopt import printing
from symopt.core import Rule
from symopt.derive.base import Derivation, Table

RULE_WIDTH = 78


# --- prose -----------------------------------------------------------------------------------------
def prose_text(parts) -> str:
    """Words and math as one line of terminal text."""
    return "".join(p if isinstance(p, str) else printing.text(p) for p in parts)


def prose_latex(parts) -> str:
    """Words and math with the math as ``$...$``, for Markdown and LaTeX documents."""
    return "".join(p if isinstance(p, str) else f"${printing.latex(p, inline=True)}$" for p in parts)


def number(value: float | str) -> str:
    """A table number to 4 significant digits (``1e-06``, ``999.6``, ``9.901e+05``)."""
    return value if isinstance(value, str) else f"{value:.4g}"


# --- text ----------------------------------------------------------------------------------------
def rule_text(rule: Rule) -> str:
    """The rule in the note's notation, its chain, hyperparameters and state."""
    lines = [f"{rule.name}: {rule.summary}", f"reference: {rule.reference}"]
    lines.append("chain: " + " -> ".join(rule.transforms))
    options = ", ".join(f"{k}={v}" for k, v in rule.options)
    if options:
        lines.append(f"options: {options}")
    lines.append("")
    lines += [f"  {printing.text(eq)}" for eq in rule.equations]
    lines += ["", "hyperparameters:"]
    rows = [(printing.text(h.symbol), h.name, f"{h.default:g}", h.range_text(), h.doc) for h in rule.hypers]
    lines += _columns(rows, indent="  ")
    if rule.states:
        lines += ["", "state:"]
        rows = [(printing.text(s.new), f"{s.name}, starts at {printing.text(s.init)}", s.doc) for s in rule.states]
        lines += _columns(rows, indent="  ")
    return "\n".join(lines)


def derivation_text(d: Derivation) -> str:
    """A derivation: title, summary, assumptions, steps with their equations, results, tables."""
    lines = [_heading(d.title), prose_text(d.summary)]
    if d.assumptions:
        lines += ["", "assumptions:"] + [f"  - {prose_text(a)}" for a in d.assumptions]
    for step in d.steps:
        lines += ["", prose_text(step.text)]
        lines += [f"    {printing.text(eq)}" for eq in step.equations]
    if d.results:
        lines += ["", "result:"]
        for eq in d.results:
            lines.append(f"    {printing.text(eq)}")
            if getattr(eq, "when", ()):
                lines.append("      holds when: " + "; ".join(prose_text(c) for c in eq.when))
    for table in d.tables:
        lines += ["", table_text(table)]
    return "\n".join(lines)


def table_text(table: Table) -> str:
    """A table with aligned columns, its title above and its note below."""
    rows = [tuple(prose_text(c) for c in table.columns)]
    rows += [tuple(number(v) for v in row) for row in table.rows]
    lines = [prose_text(table.title) + ":"] + _columns(rows, indent="  ", align_numbers=True)
    if table.note:
        lines.append("  " + prose_text(table.note))
    return "\n".join(lines)


def _heading(title: str) -> str:
    return f"== {title} " + "=" * max(3, RULE_WIDTH - len(title) - 4)


def _columns(rows, indent: str = "", align_numbers: bool = False) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            cell = str(cell)
            numeric = align_numbers and _is_number(cell)
            cells.append(cell.rjust(widths[i]) if numeric else cell.ljust(widths[i]))
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- LaTeX blocks ----------------------------------------------------------------------------------
def derivation_latex(d: Derivation) -> str:
    """A derivation's equations as LaTeX ``aligned`` blocks, its words as ``%`` comments."""
    lines = [f"% {d.title} ({d.rule})"]
    if not d.applies:
        lines.append(f"% {prose_text(d.summary)}")
    for step in d.steps:
        lines.append(f"% {prose_text(step.text)}")
        if step.equations:
            lines.append(printing.latex_aligned(step.equations))
    return "\n".join(lines)


# --- JSON ----------------------------------------------------------------------------------------
def expr_json(expr: sp.Expr) -> dict:
    """An expression for programs: SymPy's string form (``sympy.sympify`` reads it) and LaTeX."""
    return {"sympy": sp.sstr(expr), "latex": printing.latex(expr), "text": printing.text(expr)}


def equation_json(eq) -> dict:
    """An equation for programs. A rule's line whose left side appears on its right (the note's
    ``g_t = g_t + λθ_{t-1}``) is an assignment, not an equation: ``"assignment": true``, and its
    ``sympy`` form reads ``g_t := ...``, so that nobody solves it for λ = 0."""
    out = {"lhs": expr_json(eq.lhs), "rhs": expr_json(eq.rhs), "latex": printing.latex(eq), "text": printing.text(eq)}
    if isinstance(eq.lhs, sp.Symbol) and eq.rhs.has(eq.lhs):
        out["assignment"] = True
        out["sympy"] = f"{sp.sstr(eq.lhs)} := {sp.sstr(eq.rhs)}"
    return out


def rule_json(rule: Rule) -> dict:
    """A rule as JSON-ready data."""
    return {
        "name": rule.name,
        "summary": rule.summary,
        "reference": rule.reference,
        "transforms": list(rule.transforms),
        "options": dict(rule.options),
        "hyperparameters": [
            {
                "name": h.name,
                "symbol": expr_json(h.symbol),
                "default": h.default,
                "range": h.range_text(),
                "doc": h.doc,
            }
            for h in rule.hypers
        ],
        "state": [{"name": s.name, "symbol": expr_json(s.new), "initial": expr_json(s.init),
                   "scalar": s.scalar, "doc": s.doc} for s in rule.states],
        "equations": [equation_json(eq) for eq in rule.equations],
        "latex": rule.latex(),
    }


def table_json(table: Table) -> dict:
    return {
        "title": prose_text(table.title),
        "columns": [prose_text(c) for c in table.columns],
        "rows": [[_json_number(v) for v in row] for row in table.rows],
        "note": prose_text(table.note),
    }


def derivation_json(d: Derivation) -> dict:
    """A derivation as JSON-ready data: its words as text, its equations as SymPy and LaTeX."""
    return {
        "key": d.key,
        "title": d.title,
        "rule": d.rule,
        "applies": d.applies,
        "summary": prose_text(d.summary),
        "assumptions": [prose_text(a) for a in d.assumptions],
        "steps": [{"text": prose_text(s.text), "equations": [equation_json(e) for e in s.equations]} for s in d.steps],
        "results": [{**equation_json(e), "holds_when": [prose_text(c) for c in getattr(e, "when", ())]}
                    for e in d.results],
        "limits": [prose_text(c) for c in d.limits],
        "tables": [table_json(t) for t in d.tables],
    }


def _json_number(value):
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value

