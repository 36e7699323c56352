"""All of symopt's notation: one LaTeX printer and one terminal-text printer.

Both are SymPy printers (subclasses of ``LatexPrinter`` and ``StrPrinter``) and share two things:
the few symbols whose notation SymPy cannot derive from a plain name (the values at step t-1, λ_eff),
and the order of terms and factors, which follows the note rather than SymPy's canonical order:
``θ_{t-1}`` first, then the update, then the decay; coefficients before variables; ``√v̂_t + ε``.
Everything symopt prints (``str(rule)``, ``rule.latex()``, Jupyter, the CLI, the exports in
``derivations/``) goes through :func:`latex` or :func:`text`.
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp
from sympy.core.sorting import default_sort_key
from sympy.printing.latex import LatexPrinter
from sympy.printing.pretty.pretty_symbology import pretty_symbol
from sympy.printing.str import StrPrinter
from sympy.simplify.radsimp import fraction

from symopt import ops
from symopt import symbols as S

# (LaTeX, text) for the symbols SymPy cannot typeset from their names. Values before the step
# (``x_tm1``) and after it (``x_tp1``) are handled generically by :func:`_step_name`.
NOTATION: dict[sp.Symbol, tuple[str, str]] = {
    S.lam_eff: (r"\lambda_{\text{eff}}", "λ_eff"),
    S.rho_inf: (r"\rho_{\infty}", "ρ_∞"),
    S.vmax: (r"v^{\max}_{t}", "vᵐᵃˣₜ"),
    S.vmax_prev: (r"v^{\max}_{t-1}", "vᵐᵃˣₜ₋₁"),
    S.lr_max: (r"\eta^{\max}_{t}", "ηᵐᵃˣₜ"),
    S.lr_max_prev: (r"\eta^{\max}_{t-1}", "ηᵐᵃˣₜ₋₁"),
    S.average_coefficient: (r"c_{t}", "cₜ"),
    S.warmup: (r"T_{\text{w}}", "T_w"),
    S.eta_minus: (r"\eta_{-}", "η₋"),
    S.eta_plus: (r"\eta_{+}", "η₊"),
    S.step_min: (r"\Gamma_{\min}", "Γₘᵢₙ"),
    S.step_max: (r"\Gamma_{\max}", "Γₘₐₓ"),
    S.rprop_update: (r"\delta_{t}", "δₜ"),
    S.rprop_update_prev: (r"\delta_{t-1}", "δₜ₋₁"),
    S.gprev: (r"g^{\text{prev}}_{t}", "gᵖʳᵉᵛₜ"),
    S.gprev_prev: (r"g^{\text{prev}}_{t-1}", "gᵖʳᵉᵛₜ₋₁"),
    S.diff: (r"\Delta g_{t}", "Δgₜ"),
    S.initial_point: (r"x^{\text{init}}_{t}", "xⁱⁿⁱᵗₜ"),
    S.initial_point_prev: (r"x^{\text{init}}_{t-1}", "xⁱⁿⁱᵗₜ₋₁"),
    S.beta1_1d: (r"\beta^{\text{vec}}_{1}", "βᵛᵉᶜ₁"),
    S.beta2_1d: (r"\beta^{\text{vec}}_{2}", "βᵛᵉᶜ₂"),
    S.lr_1d_factor: (r"\kappa^{\text{vec}}", "κᵛᵉᶜ"),
    # AdEMAMix
    S.mslow: (r"m^{\text{slow}}_{t}", "mˢˡᵒʷₜ"),
    S.mslow_prev: (r"m^{\text{slow}}_{t-1}", "mˢˡᵒʷₜ₋₁"),
    S.alpha_t: (r"\alpha_{t}", "αₜ"),
    S.beta3_t: (r"\beta_{3,t}", "β₃,ₜ"),
    S.warmup_ab3: (r"T_{\alpha\beta_{3}}", "T_αβ₃"),
    S.right_factor: (r"R_{t}", "Rₜ"),
    S.right_factor_prev: (r"R_{t-1}", "Rₜ₋₁"),
    S.left_basis: (r"Q^{L}_{t}", "Qᴸₜ"),
    S.left_basis_prev: (r"Q^{L}_{t-1}", "Qᴸₜ₋₁"),
    S.right_basis: (r"Q^{R}_{t}", "Qᴿₜ"),
    S.right_basis_prev: (r"Q^{R}_{t-1}", "Qᴿₜ₋₁"),
    S.left_order: (r"P^{L}_{t}", "Pᴸₜ"),
    S.right_order: (r"P^{R}_{t}", "Pᴿₜ"),
    S.shampoo_beta: (r"\beta_{s}", "βₛ"),
    # SM3 (the paper's SM3-II writes its accumulators μ′ and each element's estimate ν′)
    S.cover_acc: (r"\mu'_{t}", "μ'ₜ"),
    S.cover_acc_prev: (r"\mu'_{t-1}", "μ'ₜ₋₁"),
    S.cover_estimate: (r"\nu'_{t}", "ν'ₜ"),
    # Prodigy
    S.dmax: (r"d^{\max}_{t}", "dᵐᵃˣₜ"),
    S.dmax_prev: (r"d^{\max}_{t-1}", "dᵐᵃˣₜ₋₁"),
    # timm's corrected weight decay: the learning rate the optimizer was built with (its max_lr_snapshot)
    S.eta_max: (r"\eta_{\max}", "ηₘₐₓ"),
    # timm's AdafactorBigVision
    S.bv_beta2_cap: (r"\beta^{\max}_{2}", "β₂ᵐᵃˣ"),
    S.min_factor: (r"n_{\min}", "nₘᵢₙ"),
}

_PATH = "lamda_eff_"  # λ_eff split by path: lamda_eff_m is the part that flows through m
_SHIFTS = {"_tm1": ("t-1", "ₜ₋₁"), "_tp1": ("t+1", "ₜ₊₁")}


def _step_name(symbol: sp.Symbol) -> tuple[sp.Symbol, tuple[str, str]] | None:
    """For ``m_tm1``: the symbol ``m`` to typeset and the subscript (LaTeX, text) to put on it."""
    for suffix, subscripts in _SHIFTS.items():
        if symbol.name.endswith(suffix):
            return sp.Symbol(symbol.name[: -len(suffix)]), subscripts
    return None


def _rank_of(symbol: sp.Symbol) -> int | None:
    """Where a variable goes in a sum, in the note's order: θ_{t-1} first, then the state before the
    step, the gradient, and the quantities of this step (θ_t only meets θ_{t-1} in a step,
    θ_t - θ_{t-1}, and goes first). None for scalars (hyperparameters, t, bias corrections)."""
    if symbol == S.theta:
        return -1
    if symbol == S.theta_prev:
        return 0
    if symbol not in S.ARRAYS:
        return None
    if symbol.name.endswith("_tm1"):
        return 1
    return 2 if symbol == S.g else 3


_DECAY_RANK = 10


def _is_scalar(expr: sp.Expr) -> bool:
    """True for numbers and expressions of hyperparameters and t only (no variable)."""
    return not (expr.free_symbols & S.ARRAYS) and not expr.has(S.Mean)


def _rank(expr: sp.Expr) -> int:
    ranks = [r for r in map(_rank_of, expr.free_symbols) if r is not None]
    return min(ranks, default=_DECAY_RANK - 1)


def _term_key(term: sp.Expr):
    """Positive numbers first (``1 - β``), terms of variables next, terms of hyperparameters only
    after, negative numbers last (``ρ_t - 4``). Terms of variables go in the note's order of their
    variables (``ρ b_{t-1} + g_t``), except that a decay, θ_{t-1} with a coefficient, comes after
    the update (``θ_{t-1} - η g_t - η λ θ_{t-1}``); then fewer hyperparameter factors first."""
    if term.is_Number:
        return (0 if term > 0 else 3, 0, 0, 0, default_sort_key(term))
    if _is_scalar(term):
        return (2, 0, 0, 0, default_sort_key(term))
    coefficients = sum(1 for f in sp.Mul.make_args(term) if _is_scalar(f) and not f.is_Number)
    rank = _rank(term)
    if rank == 0 and term != S.theta_prev and -term != S.theta_prev:
        rank = _DECAY_RANK  # a decay term
    return (1, rank, term.could_extract_minus_sign(), coefficients, default_sort_key(term))


def _factor_key(factor: sp.Expr):
    """Numbers, then parenthesised factors like (1 - β₁), then hyperparameters, then variables.

    A parenthesis straight after a symbol reads as a function call (SymPy's LaTeX parser reads
    η (1 - τ) as η applied to 1 - τ), so factors in parentheses go first, as the note writes
    (1 - β₁) g_t.
    """
    if factor.is_Number:
        return (0, 0, default_sort_key(factor))
    base = factor.base if factor.is_Pow and not factor.exp.is_negative else factor
    parenthesised = base.is_Add
    if _is_scalar(factor):
        return (1 if parenthesised else 3, 0, default_sort_key(factor))
    return (2 if parenthesised else 4, _rank(factor), default_sort_key(factor))


def ordered_terms(expr: sp.Expr) -> list[sp.Expr]:
    """The terms of a sum in the note's order."""
    return sorted(sp.Add.make_args(expr), key=_term_key)


def ordered_factors(expr: sp.Expr) -> list[sp.Expr]:
    """The factors of a product in the note's order."""
    return sorted(sp.Mul.make_args(expr), key=_factor_key)


class SymoptLatexPrinter(LatexPrinter):
    """SymPy's LaTeX printer with the note's notation and order."""


    def _print_Symbol(self, expr, style="plain"):
        if expr in self._settings["symbol_names"]:
            return self._settings["symbol_names"][expr]
        if expr in NOTATION:
            return NOTATION[expr][0]
        shifted = _step_name(expr)
        if shifted is not None:
            base, (subscript, _) = shifted
            return f"{super()._print_Symbol(base, style=style)}_{{{subscript}}}"
        if expr.name.startswith(_PATH):
            path = expr.name[len(_PATH):].replace("_", r"\_")  # a state's name in \text: acc_delta
            return rf"\lambda_{{\text{{eff}}}}^{{(\text{{{path}}})}}"
        return super()._print_Symbol(expr, style=style)

    def _print_Derivative(self, expr):
        (variable, count), = expr.variable_count
        return rf"\frac{{\partial {self._print(expr.expr)}}}{{\partial {self._print(variable)}}}"

    def _as_ordered_terms(self, expr, order=None):
        return ordered_terms(expr)

    def _print_Mul(self, expr):
        if expr.could_extract_minus_sign():
            positive = -expr
            body = self._print(positive)
            return f"- \\left({body}\\right)" if positive.is_Add else f"- {body}"
        numer, denom = fraction(expr, exact=True)
        if denom == 1:
            return self._product(expr)
        if self._settings["fold_short_frac"] and denom.is_Atom and not numer.is_Add:
            return f"{self._product(numer)} / {self._product(denom)}"
        return rf"\frac{{{self._product(numer)}}}{{{self._product(denom)}}}"

    def _product(self, expr) -> str:
        factors = ordered_factors(expr)
        if len(factors) == 1:  # a whole numerator or denominator: \frac groups it
            return self._print(factors[0])
        parts = []
        for i, factor in enumerate(factors):
            tex = self._print(factor)
            if self._needs_mul_brackets(factor, first=i == 0, last=i == len(factors) - 1):
                tex = rf"\left({tex}\right)"
            parts.append(tex)
        return " ".join(parts)

    def _print_Mean(self, expr, exp=None):
        body = rf"\mathbb{{E}}\left[{self._print(expr.args[0])}\right]"
        return body if exp is None else rf"{body}^{{{exp}}}"

    def _print_Tends(self, expr):
        return rf"{self._print(expr.args[0])} \to {self._print(expr.args[1])}"


class SymoptTextPrinter(StrPrinter):
    """One-line Unicode text for a terminal: ``θₜ = θₜ₋₁ - η·m̂ₜ/(√v̂ₜ + ε)``."""


    _SUPERSCRIPT = str.maketrans("0123456789t-", "⁰¹²³⁴⁵⁶⁷⁸⁹ᵗ⁻")

    def _print_Symbol(self, expr):
        if expr in NOTATION:
            return NOTATION[expr][1]
        shifted = _step_name(expr)
        if shifted is not None:
            base, (_, subscript) = shifted
            return pretty_symbol(base.name) + subscript
        if expr.name.startswith(_PATH):
            return f"λ_eff({expr.name[len(_PATH):]})"
        return pretty_symbol(expr.name)

    def _print_Derivative(self, expr):
        (variable, count), = expr.variable_count
        return f"∂{self._print(expr.expr)}/∂{self._print(variable)}"

    def _as_ordered_terms(self, expr, order=None):
        return ordered_terms(expr)

    def _print_Add(self, expr, order=None):
        out = ""
        for i, term in enumerate(ordered_terms(expr)):
            negative = term.could_extract_minus_sign()
            inner = -term if negative else term
            body = self._print(inner)
            if inner.is_Add or inner.is_Piecewise:  # a sum, or a branch ("0 if t = 1 else ..."), in a sum
                body = f"({body})"
            if i == 0:
                out = f"-{body}" if negative else body
            else:
                out += f" - {body}" if negative else f" + {body}"
        return out

    def _print_Mul(self, expr):
        if expr.could_extract_minus_sign():
            positive = -expr
            body = self._print(positive)
            return f"-({body})" if positive.is_Add else f"-{body}"
        numer, denom = fraction(expr, exact=True)
        top = self._product(numer)
        if denom == 1:
            return top
        bottom = self._product(denom)
        if denom.is_Add or denom.is_Mul:
            bottom = f"({bottom})"
        if numer.is_Add:
            top = f"({top})"
        return f"{top}/{bottom}"

    def _product(self, expr) -> str:
        factors = ordered_factors(expr)
        if len(factors) == 1:  # a whole numerator or denominator: the caller groups it
            return self._print(factors[0])
        parts = []
        for factor in factors:
            body = self._print(factor)
            if factor.is_Add or isinstance(factor, sp.Piecewise):
                body = f"({body})"
            parts.append(body)
        return "·".join(parts)

    def _print_Pow(self, expr, rational=False):
        base, exp = expr.args
        if exp == sp.S.Half:
            inner = self._print(base)
            return f"√{inner}" if _is_atomic_text(inner) and not base.is_Pow else f"√({inner})"
        if exp.is_negative:
            return self._print_Mul(expr)
        inner = self._print(base)
        if not (base.is_Symbol or (base.is_Integer and base >= 0)):
            inner = f"({inner})"
        power = self._print(exp)
        if (exp.is_Integer or exp == S.t) and power.translate(self._SUPERSCRIPT) != power:
            return inner + power.translate(self._SUPERSCRIPT)
        atomic = exp.is_Atom and not exp.is_Rational  # v^(3/2), never v^3/2 (which reads as v³/2)
        return f"{inner}^{power}" if atomic else f"{inner}^({power})"

    def _print_Equality(self, expr):
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"

    def _print_StrictGreaterThan(self, expr):
        return f"{self._print(expr.lhs)} > {self._print(expr.rhs)}"

    def _print_Mean(self, expr):
        return f"E[{self._print(expr.args[0])}]"

    def _print_Tends(self, expr):
        return f"{self._print(expr.args[0])} → {self._print(expr.args[1])}"

    def _print_Infinity(self, expr):
        return "∞"

    def _print_Limit(self, expr):
        e, z, z0, _ = expr.args
        return f"lim({self._print(z)} → {self._print(z0)}) {self._print(e)}"


def _install_operations() -> None:
    """Give both printers each operation's notation from the table (:mod:`symopt.ops`)."""
    for operation in ops.OPERATIONS:
        name = f"_print_{operation.sympy.__name__}"

        # two entries may share a SymPy class (a branch on scalars, a case split on arrays): each falls
        # back to the one installed before it
        def latex_method(self, expr, operation=operation, fallback=getattr(SymoptLatexPrinter, name, None), exp=None,
                         **kw):
            if not operation.applies_to(expr):
                return fallback(self, expr, **({"exp": exp} if exp is not None else {}), **kw)
            body = operation.latex(self._print, expr)
            return body if exp is None else rf"\left({body}\right)^{{{exp}}}"

        def text_method(self, expr, operation=operation, fallback=getattr(SymoptTextPrinter, name, None), **kw):
            if not operation.applies_to(expr):
                return fallback(self, expr, **kw)
            return operation.text(self._print, expr)

        if operation.sympy is not sp.Pow:  # a square root: the printers' own _print_Pow ask the table
            setattr(SymoptLatexPrinter, name, latex_method)
            setattr(SymoptTextPrinter, name, text_method)


def _is_atomic_text(text: str) -> bool:
    return not any(c in text for c in " +-·/()")


_install_operations()
_LATEX = SymoptLatexPrinter()
_INLINE = SymoptLatexPrinter({"fold_short_frac": True})
_TEXT = SymoptTextPrinter()


def _is_equation(obj) -> bool:
    return isinstance(obj, sp.Equality) or (hasattr(obj, "lhs") and hasattr(obj, "rhs") and not isinstance(obj, sp.Basic))


def latex(obj, inline: bool = False, **settings) -> str:
    """LaTeX for an expression, or for an equation (anything with ``lhs`` and ``rhs``) as ``lhs = rhs``.

    ``inline`` folds a fraction by a single symbol onto one line (λ_eff / λ), for math in a
    sentence; ``settings`` are SymPy LatexPrinter settings, e.g. ``symbol_names={symbol: "a_{1}"}``.
    """
    printer = SymoptLatexPrinter(settings) if settings else (_INLINE if inline else _LATEX)
    if _is_equation(obj):
        lhs, rhs = _sides(obj)
        return f"{printer.doprint(lhs)} = {printer.doprint(rhs)}"
    return printer.doprint(obj)


def text(obj) -> str:
    """One-line Unicode text for an expression or an equation (anything with ``lhs`` and ``rhs``)."""
    if _is_equation(obj):
        lhs, rhs = _sides(obj)
        return f"{_TEXT.doprint(lhs)} = {_TEXT.doprint(rhs)}"
    return _TEXT.doprint(obj)


def latex_aligned(equations: Iterable) -> str:
    """A LaTeX ``aligned`` block, one equation a line, aligned on ``&=``."""
    lines = []
    for eq in equations:
        lhs, rhs = _sides(eq)
        lines.append(f"{_LATEX.doprint(lhs)} &= {_LATEX.doprint(rhs)}")
    return "\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}"


def _sides(eq) -> tuple[sp.Expr, sp.Expr]:
    return (eq.lhs, eq.rhs)
