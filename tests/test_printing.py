"""Notation: the note's symbols and order, in text, LaTeX and Jupyter, from one printer."""

import sympy as sp

import symopt
from symopt import printing
from symopt import symbols as S


def test_adam_reads_as_the_note_in_text():
    assert str(symopt.get("adam")).splitlines() == [
        "gₜ = gₜ + λ·θₜ₋₁",
        "mₜ = β₁·mₜ₋₁ + (1 - β₁)·gₜ",
        "vₜ = β₂·vₜ₋₁ + (1 - β₂)·gₜ²",
        "m̂ₜ = mₜ/(1 - β₁ᵗ)",
        "v̂ₜ = vₜ/(1 - β₂ᵗ)",
        "θₜ = θₜ₋₁ - η·m̂ₜ/(√v̂ₜ + ε)",
    ]


def test_adamw_reads_as_the_note_in_latex():
    assert symopt.get("adamw").latex().splitlines() == [
        r"\begin{aligned}",
        r"m_{t} &= \beta_{1} m_{t-1} + \left(1 - \beta_{1}\right) g_{t} \\",
        r"v_{t} &= \beta_{2} v_{t-1} + \left(1 - \beta_{2}\right) g_{t}^{2} \\",
        r"\hat{m}_{t} &= \frac{m_{t}}{1 - \beta_{1}^{t}} \\",
        r"\hat{v}_{t} &= \frac{v_{t}}{1 - \beta_{2}^{t}} \\",
        r"\theta_{t} &= \theta_{t-1} - \frac{\eta \hat{m}_{t}}{\sqrt{\hat{v}_{t}} + \epsilon} - \eta \lambda \theta_{t-1}",
        r"\end{aligned}",
    ]


def test_momentum_prints_torchs_first_step():
    assert str(symopt.get("momentum")).splitlines()[1] == "bₜ = gₜ if t = 1 else ρ·bₜ₋₁ + (1 - τ)·gₜ"
    assert r"\begin{cases} g_{t} & \text{if } t = 1" in symopt.get("momentum").latex()


def test_jupyter_displays_the_latex_block():
    html = symopt.get("sgd")._repr_latex_()
    assert html.startswith("$\\displaystyle \\begin{aligned}") and html.endswith("\\end{aligned}$")


def test_the_printer_owns_the_notation():
    assert printing.latex(S.theta_prev) == r"\theta_{t-1}"
    assert printing.latex(S.lam_eff) == r"\lambda_{\text{eff}}"
    assert printing.latex(S.Mean(S.g**2)) == r"\mathbb{E}\left[g_{t}^{2}\right]"
    assert printing.text(sp.Derivative(S.theta, S.lam)) == "∂θₜ/∂λ"
    assert printing.text(S.theta - S.theta_prev) == "θₜ - θₜ₋₁"
    assert printing.text(1 - S.beta1**S.t) == "1 - β₁ᵗ"
    # SymPy's own printer puts θ_{t-1} after the decay; ours keeps the note's order.
    update = S.theta_prev - S.eta * S.lam * S.theta_prev
    assert sp.latex(update).startswith("- ") and printing.latex(update) == r"\theta_{t-1} - \eta \lambda \theta_{t-1}"
