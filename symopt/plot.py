"""Figures drawn from the rules: the coupling problem (derived λ_eff/λ against the gradient RMS, and the
measurements) and heavy ball's stability region. :data:`PLOTS` is the one list, read by ``symopt plot``
and ``symopt export``.

Needs matplotlib (``pip install "symopt-toolkit[plot]"``). The figure is drawn with matplotlib's
object API on an Agg canvas (no pyplot state), and saved without a timestamp or version in its
metadata, so the same matplotlib writes the same bytes.
"""

from __future__ import annotations

import io

from symopt.errors import SymoptError

# name -> what it draws (names only: the CLI reads this without importing NumPy or SymPy)
PLOTS: dict[str, str] = {
    "coupling": "λ_eff/λ against the gradient RMS for Adam and AdamW, derived and simulated",
    "stability": "heavy ball's largest stable ηa against the momentum ρ, derived, with the kernel's verdicts",
}


def require_matplotlib():
    """matplotlib's ``Figure`` and Agg canvas, or a one-line error saying how to install it."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise SymoptError('plots need matplotlib: pip install "symopt-toolkit[plot]"') from None
    return Figure, FigureCanvasAgg


def coupling_figure(names: tuple[str, ...] = ("adam", "adamw")):
    """λ_eff/λ against √v̂_t on log axes: the derived curves, and the simulated measurements as dots."""
    import numpy as np
    import sympy as sp

    from symopt import symbols as S
    from symopt.derive import coupling, weight_decay
    from symopt.optimizers import get

    Figure, FigureCanvasAgg = require_matplotlib()
    figure = Figure(figsize=(6.4, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rms = np.logspace(-10, 3, 261)
    for name, color in zip(names, ("#c0392b", "#2471a3", "#1e8449", "#7d3c98")):
        rule = get(name)
        ratio = weight_decay.effective_weight_decay(rule) / rule.hyper("weight_decay").symbol
        defaults = {h.symbol: h.default for h in rule.hypers if h.name != "weight_decay"}
        curve = sp.lambdify(S.vhat, ratio.xreplace(defaults), modules="numpy")
        axes.plot(rms, np.broadcast_to(curve(rms**2), rms.shape), color=color, label=f"{name}: derived")
        sim = coupling.simulate(rule)
        axes.plot(sim.scales, sim.measured, "o", color=color, label=f"{name}: measured")
    eps = get(names[0]).hyper("eps")
    if eps is not None:
        axes.axvline(eps.default, color="0.6", linestyle=":", linewidth=1)
        axes.annotate(r"$\epsilon$", (eps.default, 1e-1), xytext=(4, 0), textcoords="offset points", color="0.4")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel(r"gradient RMS $\sqrt{\hat{v}_t}$")
    axes.set_ylabel(r"$\lambda_{\mathrm{eff}} / \lambda$")
    axes.set_title("Effective weight decay: Adam (L2) against AdamW")
    axes.grid(True, which="major", color="0.9")
    axes.legend(frameon=False)
    figure.tight_layout()
    return figure


def stability_figure():
    """Heavy ball's stability region: the derived largest stable ηa against the momentum ρ (τ = 0),
    with the rule's kernel simulated at 0.97× and 1.03× the threshold as dots (converged or diverged)."""
    import numpy as np
    import sympy as sp

    from symopt import symbols as S
    from symopt.derive import stability
    from symopt.optimizers import get

    Figure, FigureCanvasAgg = require_matplotlib()
    figure = Figure(figsize=(6.4, 4.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rule = get("momentum")
    threshold = stability.stability_threshold(rule)
    from symopt.printing import latex

    boundary = sp.factor((S.eta * threshold).xreplace({S.tau: 0}))
    curve = sp.lambdify(S.rho, boundary, modules="numpy")
    rho = np.linspace(0.01, 0.99, 197)
    axes.fill_between(rho, 0, curve(rho), color="#d6eaf8", label="stable (derived)")
    axes.plot(rho, curve(rho), color="#2471a3", label=f"$\\eta a = {latex(boundary)}$ (derived)")
    for value in (0.1, 0.5, 0.9):
        runs = stability.simulate_at(rule, {S.rho: value})
        for run in runs:
            marker = "o" if run.verdict == "converges" else "x"
            axes.plot(value, run.curvature * rule.hyper("lr").default, marker, color="#1e8449" if run.agrees else "#c0392b")
    axes.set_xlabel(r"momentum $\rho$")
    axes.set_ylabel(r"largest stable $\eta a$")
    axes.set_title("Heavy ball on a quadratic: the kernel at 0.97x (o) and 1.03x (x)")
    axes.legend(frameon=False, loc="upper left")
    figure.tight_layout()
    return figure


def _png(figure) -> bytes:
    return encode(figure, "png")


def stability_png() -> bytes:
    """The stability figure as PNG bytes (no timestamp or software version in the metadata)."""
    return _png(stability_figure())


def coupling_png() -> bytes:
    """The coupling figure as PNG bytes (no timestamp or software version in the metadata)."""
    return _png(coupling_figure())


FORMATS = ("png", "svg", "pdf")
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}


def figure_format(path: str, force: bool = False) -> str:
    """The format ``path``'s extension names (png, svg or pdf), once the file is known to be
    writable (see :func:`symopt.export.writable`); anything else is refused, before any drawing."""
    from symopt.export import writable

    fmt = writable(path, force).suffix[1:].lower()
    if fmt not in FORMATS:
        raise SymoptError(f"{path}: the file name must end in .png, .svg or .pdf (the format follows it)")
    return fmt


def encode(figure, fmt: str) -> bytes:
    """``figure`` as the bytes of a ``fmt`` file, without a timestamp or version in its metadata."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, metadata=_METADATA[fmt])
    return buffer.getvalue()


def save(name: str, path: str, force: bool = False) -> None:
    """Draw the plot ``name`` into ``path`` (PNG, SVG or PDF by its extension), whole or not at all.

    The file name and its folder are checked before anything is drawn; the figure is drawn in
    memory, then written (see :func:`symopt.export.write`), so that a killed drawing leaves nothing.
    """
    from symopt.errors import UnknownNameError
    from symopt.export import write

    if name not in PLOTS:
        raise UnknownNameError("plot", name, PLOTS)
    fmt = figure_format(path, force)
    require_matplotlib()
    draw = {"coupling": coupling_figure, "stability": stability_figure}[name]  # PLOTS' names -> how to draw
    write(path, encode(draw(), fmt), force=force)
