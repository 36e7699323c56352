"""LaTeX and Markdown export, checked by real consumers: KaTeX, pdflatex, and SymPy's own parser.

Each check is also run on a known-bad input, to show that it can fail. In CI (.ci/run) node with
the pinned katex (tools/katex), pdflatex (Debian's texlive) and antlr4 4.11 are installed; on a
machine without them these tests skip, except in CI where they fail.
"""

import json
import random
import re
import subprocess
from pathlib import Path

import pytest
import sympy as sp
from conftest import FULL, registry_sample, require

import symopt
from symopt import cli, export, printing
from symopt import symbols as S
from symopt.mistakes import MISTAKES
from symopt.optimizers import RULES

ROOT = Path(__file__).resolve().parents[1]
KATEX = ROOT / "tools" / "katex"
DERIVATIONS = ROOT / "derivations"


def pdflatex_names(rule: str) -> list[str]:
    """What pdflatex compiles of ``rule``: its document and every derivation's outside CI; in CI its
    own and two of its derivations' drawn with a fixed seed (the derivations' math is rendered by
    KaTeX in full), so that CI's time grows with the rules and not with rules times derivations."""
    derived = export.names([rule])[1:]
    if not FULL:
        derived = random.Random(f"pdflatex:{rule}").sample(derived, min(2, len(derived)))
    return [rule, *derived]


# --- collecting the math ---------------------------------------------------------------------------
def math_of_markdown(text: str) -> list[tuple[str, bool]]:
    """Every ``$$ ... $$`` display block and every inline ``$...$`` of a Markdown document."""
    blocks = [(m.strip(), True) for m in re.findall(r"^\$\$\n(.*?)\n\$\$$", text, flags=re.S | re.M)]
    rest = re.sub(r"^\$\$\n.*?\n\$\$$", "", text, flags=re.S | re.M)
    rest = re.sub(r"`[^`]*`", "", rest)  # code spans are not math
    inline = [(m, False) for m in re.findall(r"(?<![\\$])\$([^$\n]+?)\$", rest)]
    return blocks + inline


def all_math() -> list[tuple[str, bool]]:
    items = []
    for name in export.names():
        subject = export.resolve(name)
        items.append((export.aligned(subject), True))
        items += math_of_markdown(export.markdown(subject))
    for path in sorted(DERIVATIONS.glob("*.md")):
        items += math_of_markdown(path.read_text())
    return items


# --- KaTeX ------------------------------------------------------------------------------------------
def katex(items: list[tuple[str, bool]]) -> list[dict]:
    require(program="node", install="Node.js 20")
    require(path=KATEX / "node_modules" / "katex", install="npm ci --prefix tools/katex")
    payload = json.dumps([{"tex": tex, "display": display} for tex, display in items])
    done = subprocess.run(["node", str(KATEX / "check.mjs")], input=payload, capture_output=True, text=True,
                          check=True, cwd=KATEX)
    return json.loads(done.stdout)


@pytest.mark.xdist_group("documents")  # every derivation, computed once in a process, as export's
def test_katex_renders_every_exported_block_and_document():
    items = all_math()
    assert len(items) > 200
    failures = [(tex, r["error"]) for (tex, _), r in zip(items, katex(items)) if not r["ok"]]
    assert not failures, failures[:3]


def test_katex_check_rejects_broken_latex_and_strict_warnings():
    results = katex([(r"\frac{1}{", True), (r"\hatt{m}_{t}", True), (r"a \newline b", True), ("é", False)])
    assert [r["ok"] for r in results] == [False, False, False, False]
    assert "strict mode" in results[2]["error"] and "strict mode" in results[3]["error"]


# --- pdflatex ---------------------------------------------------------------------------------------
def pdflatex(source: str, folder: Path) -> subprocess.CompletedProcess:
    require(program="pdflatex", install="apt-get install texlive-latex-base texlive-latex-recommended")
    (folder / "doc.tex").write_text(source)
    return subprocess.run(["pdflatex", "-halt-on-error", "-interaction=nonstopmode", "-no-shell-escape", "doc.tex"],
                          cwd=folder, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("rule", RULES)
def test_pdflatex_compiles_every_standalone_document(tmp_path, rule):
    for name in pdflatex_names(rule):
        done = pdflatex(export.standalone(export.resolve(name)), tmp_path)
        assert done.returncode == 0, (name, done.stdout[-2000:])
        assert (tmp_path / "doc.pdf").stat().st_size > 1000, name


def test_pdflatex_check_rejects_a_broken_document(tmp_path):
    broken = export.standalone(export.resolve("adam")).replace(r"\end{aligned}", "", 1)
    assert pdflatex(broken, tmp_path).returncode != 0


# --- SymPy's LaTeX parser ---------------------------------------------------------------------------
def parse_back(expr: sp.Expr) -> sp.Expr:
    """Print ``expr`` with placeholder names (a_{0}, a_{1}, ...), parse it, and map the names back."""
    require("antlr4", install='pip install "antlr4-python3-runtime==4.11.*"')
    from sympy.parsing.latex import parse_latex

    symbols = sorted(expr.free_symbols - {S.t}, key=str)
    names = {s: f"a_{{{i}}}" for i, s in enumerate(symbols)}
    parsed = parse_latex(printing.latex(expr, symbol_names=names), backend="antlr")
    # The parser reads \max, \min and \operatorname{sign} as undefined functions of those names.
    functions = {"max": sp.Max, "min": sp.Min, "sign": sp.sign}
    parsed = parsed.replace(lambda e: isinstance(e, sp.core.function.AppliedUndef) and e.func.__name__ in functions,
                            lambda e: functions[e.func.__name__](*e.args))
    return parsed.xreplace({sp.Symbol(v): k for k, v in names.items()} | {sp.Symbol("t"): S.t})


def _opaque(expr: sp.Expr) -> sp.Expr:
    r"""``expr`` with each operation of the table other than the square root (max, min, abs, sign, a
    branch) replaced by a placeholder symbol: SymPy's LaTeX parser reads neither ``\max`` with
    ``\left(`` nor ``\operatorname`` nor ``cases``, nor ``|x|`` followed by a sum (Rprop's
    ``1 - |σ| + max(σ, 0)``). The rest of the expression, around them,
    is what is checked; the operations' own notation is checked by KaTeX and pdflatex."""
    from symopt import ops

    found = [node for node in sp.preorder_traversal(expr)
             if not ops.is_algebra(node) and ops.lookup(node) is not None and ops.lookup(node).name != "sqrt"]
    return expr.xreplace({node: sp.Symbol(f"o{i}", real=True) for i, node in enumerate(dict.fromkeys(found))})


def round_trip_cases():
    """Every equation of every rule variant (in CI, :func:`registry_sample`'s) and every mistake;
    Piecewise branches one by one.

    Written-down exceptions: a ``cases`` environment (torch's first momentum step) is not read by
    SymPy's parser, so each branch is checked on its own; max, min and sign are placeholders.
    """
    def branches(expr):  # each branch of each Piecewise taken in turn, those inside another's too
        pieces = sorted(expr.atoms(sp.Piecewise), key=sp.default_sort_key)
        if not pieces:
            yield expr
            return
        for value, _ in pieces[0].args:
            yield from branches(expr.xreplace({pieces[0]: value}))

    rules = registry_sample() + [m.build() for ms in MISTAKES.values() for m in ms]
    for rule in rules:
        for eq in rule.equations:
            branched = eq.rhs.has(sp.Piecewise)
            for expr in dict.fromkeys(branches(eq.rhs)):
                yield f"{rule.name}:{eq.lhs}" + (":branch" if branched else ""), _opaque(expr)


CASES = list(round_trip_cases())


@pytest.mark.parametrize(("label", "expr"), CASES, ids=[c[0] for c in CASES])
def test_latex_parses_back_to_the_same_expression(label, expr):
    assert sp.simplify(parse_back(expr) - expr) == 0


def _derivation_results(name: str) -> list[tuple[str, sp.Expr]]:
    """The results of ``name``'s derivations in the rules' symbols. Exceptions: results with
    expectations (\\mathbb{E}), derivatives (\\partial) or limits, which SymPy's parser does not read."""
    return [(d.key, _opaque(eq.rhs)) for d in symopt.derivations(name) for eq in d.results
            if not eq.rhs.has(S.Mean, sp.Derivative, sp.Limit, sp.Abs, sp.Sum, sp.Indexed)]


def _results_parse_back(name: str) -> None:
    wrong = [key for key, rhs in _derivation_results(name) if sp.simplify(parse_back(rhs) - rhs) != 0]
    assert not wrong, wrong


@pytest.mark.xdist_group("documents")  # the derivations, computed once in a process, are export's
def test_derivation_results_parse_back_to_the_same_expression(subtests):
    """Every rule's derivation results that the parser reads, a subtest per rule (computed when the
    test runs, in the process that exports derivations/, not at collection)."""
    read = [name for name in RULES if _derivation_results(name)]
    assert read, "no derivation result the parser reads"
    for name in read:
        with subtests.test(name):
            _results_parse_back(name)


def test_round_trip_rejects_a_different_expression():
    rhs = symopt.get("adamw").equations[-1].rhs
    require("antlr4", install='pip install "antlr4-python3-runtime==4.11.*"')
    from sympy.parsing.latex import parse_latex

    # AdamW's update with the decay not scaled by η: the parsed expression must differ.
    names = {s: f"a_{{{i}}}" for i, s in enumerate(sorted(rhs.free_symbols, key=str))}
    wrong = printing.latex(rhs.subs(S.eta * S.lam, S.lam), symbol_names=names)
    parsed = parse_latex(wrong, backend="antlr").xreplace({sp.Symbol(v): k for k, v in names.items()})
    assert sp.simplify(parsed - rhs) != 0


# --- Markdown documents and derivations/ ----------------------------------------------------------------
def test_markdown_display_blocks_render_on_github():
    """``$$`` on lines of their own, and no macro outside what GitHub's math knows."""
    greek = ("alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi pi rho sigma tau upsilon phi "
             "chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega").split()
    allowed = {r"\begin", r"\end", r"\frac", r"\sqrt", r"\left", r"\right", r"\hat", r"\text", r"\mathbb",
               r"\partial", r"\lim", r"\to", r"\infty", r"\mathrm", r"\cdot", r"\bar", r"\tilde", r"\max", r"\min",
               r"\operatorname", r"\mathbf", r"\sum", r"\geq", r"\leq", r"\top", r"\bmod", r"\vee", r"\wedge", *(f"\\{g}" for g in greek)}
    for path in DERIVATIONS.glob("*.md"):
        text = path.read_text()
        for line in text.splitlines():
            if "$$" in line:
                assert line == "$$", (path.name, line)
        math = " ".join(tex for tex, _ in math_of_markdown(text)).replace("\\\\", " ")  # not row breaks
        macros = set(re.findall(r"\\[a-zA-Z]+", math))
        assert macros <= allowed, (path.name, macros - allowed)


@pytest.mark.xdist_group("documents")  # one process computes derivations/ once
def test_derivations_folder_is_current():
    """derivations/ is what `symopt export` writes: regenerate with `symopt export derivations/`."""
    require("matplotlib", install='pip install "symopt-toolkit[plot]"')
    require("torch", install="pip install torch==2.13.0")  # audit-torch.md reads torch's docstrings and runs it
    files = export.documents()
    on_disk = {p.name for p in DERIVATIONS.iterdir() if p.is_file()}
    assert on_disk == set(files)
    stale = [name for name, content in files.items()
             if (DERIVATIONS / name).read_bytes() != (content.encode() if isinstance(content, str) else content)]
    assert not stale, f"stale: {stale}; run `symopt export derivations/`"


@pytest.mark.xdist_group("documents")  # one process computes derivations/ once
def test_export_into_an_empty_folder_reproduces_derivations(runner, tmp_path):
    require("matplotlib", install='pip install "symopt-toolkit[plot]"')
    require("torch", install="pip install torch==2.13.0")
    target = tmp_path / "out"
    result = runner.invoke(cli.main, ["export", str(target)])
    assert result.exit_code == 0
    produced = {p.name: p.read_bytes() for p in target.iterdir()}
    expected = {p.name: p.read_bytes() for p in DERIVATIONS.iterdir() if p.is_file()}
    assert produced == expected


def test_the_note_is_rewritten_with_generated_equations():
    note = (DERIVATIONS / "optimization.md").read_text()
    # the note's own equations, now printed from the rules
    assert r"\theta_{t} &= \theta_{t-1} - \eta g_{t}" in note  # SGD
    assert r"b_{t} &= \rho b_{t-1} + g_{t}" in note  # momentum
    assert r"\theta_{t} &= \theta_{t-1} - \frac{\eta m_{t}}{\sqrt{v_{t}} + \epsilon} - \eta \lambda \theta_{t-1}" in note
    # the bias-correction, Schedule-Free, Muon and lazy/rich TODOs answered: none is left open
    assert r"\mathbb{E}\left[m_{t}\right] &= \left(1 - \beta_{1}^{t}\right) \mathbb{E}\left[g_{t}\right]" in note
    assert r"{x}_{T} &= \frac{\sum_{t=1}^{T} {w}_{t} {z}_{t}}{\sum_{t=1}^{T} {w}_{t}}" in note  # Schedule-Free
    assert "TODO:" not in note and note.count(": open") == 0
    assert not re.search(r"\{\{[a-z]+ [^}]*\}\}", note)  # no placeholder left ({{result ...}})


# --- the command ---------------------------------------------------------------------------------------------
def test_latex_command_formats(runner):
    result = runner.invoke(cli.main, ["latex", "adamw"])
    assert result.exit_code == 0 and result.output.startswith(r"\begin{aligned}")
    result = runner.invoke(cli.main, ["latex", "adamw", "--format", "markdown"])
    assert result.output.startswith("# adamw") and "\n$$\n\\begin{aligned}" in result.output
    result = runner.invoke(cli.main, ["latex", "adam:coupling", "--format", "standalone"])
    assert result.output.startswith(r"\documentclass") and result.output.rstrip().endswith(r"\end{document}")


def test_latex_writes_files_whole_and_only_with_force(runner, tmp_path):
    target = tmp_path / "adamw.tex"
    assert runner.invoke(cli.main, ["latex", "adamw", "--format", "standalone", "-o", str(target)]).exit_code == 0
    first = target.read_text()
    assert first.startswith(r"\documentclass")
    again = runner.invoke(cli.main, ["latex", "sgd", "-o", str(target)])
    assert again.exit_code == 2 and "exists: use --force" in again.output and target.read_text() == first
    forced = runner.invoke(cli.main, ["latex", "sgd", "-o", str(target), "--force"])
    assert forced.exit_code == 0 and target.read_text().startswith(r"\begin{aligned}")
    assert [p.name for p in tmp_path.iterdir()] == ["adamw.tex"]  # no temporary file left behind
    missing = runner.invoke(cli.main, ["latex", "sgd", "-o", str(tmp_path / "no" / "such.tex")])
    assert missing.exit_code == 2 and "no folder" in missing.output


@pytest.mark.parametrize(
    ("name", "message"),
    [("adma", "unknown rule 'adma' (closest: 'adam')"),
     ("adam:coupled", "unknown derivation 'coupled' (closest: 'coupling')"),
     ("sgd:moving-averages", "moving-averages: Does not apply to sgd")],
)
def test_latex_bad_names(runner, name, message):
    result = runner.invoke(cli.main, ["latex", name])
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1


def test_plot_coupling(runner, tmp_path):
    require("matplotlib", install='pip install "symopt-toolkit[plot]"')
    target = tmp_path / "coupling.png"
    result = runner.invoke(cli.main, ["plot", "coupling", "-o", str(target)])
    assert result.exit_code == 0 and target.read_bytes().startswith(b"\x89PNG")
    assert runner.invoke(cli.main, ["plot", "coupling", "-o", str(target)]).exit_code == 2
    result = runner.invoke(cli.main, ["plot", "coupling", "-o", str(tmp_path / "c.jpg")])
    assert result.exit_code == 2 and ".png, .svg or .pdf" in result.output
