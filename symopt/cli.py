"""The ``symopt`` command: a thin click group over the library.

Each command is a few lines that call the library. SymPy is imported inside the commands, so that
``symopt --help`` answers at once. Every error a user can cause (an unknown name, a bad option, an
out-of-range value) is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys

import click

from symopt import __version__

from symopt.derive import KEYS as DERIVATIONS  # the registries: names only, no SymPy
from symopt.backends import BACKENDS
from symopt.optimizers import RULES
from symopt.plot import PLOTS

FORMATS = ("text", "latex", "json")
RULE_NAMES = tuple(RULES)
DERIVATION_KEYS = tuple(DERIVATIONS)


class RuleName(click.ParamType):
    """A rule: a registered name or spec (``adam(epsilon='hat')``), a name an installed package
    registers, or a reference to user code (``my.py:lamb(trust_clip=True)``, ``my_rules:lamb``); anything
    else fails with the closest match and the valid names. The text is checked here, never evaluated;
    the command builds the rule (:func:`symopt.optimizers.resolve`), importing user code then."""

    name = "rule"

    def convert(self, value, param, ctx):
        from symopt.errors import SymoptError, UnknownNameError
        from symopt.optimizers import is_reference, plugins, rules
        from symopt.spec import parse

        if value in RULES:
            return value
        from symopt.equations import is_equations_path

        if is_equations_path(value):  # a file of equations, read when the command runs
            return value
        try:  # a name or a spec, adam(epsilon='hat'), stripped as spec.parse strips: never evaluated
            name, _ = parse(value)
        except SymoptError as exc:
            if "(" in value or ":" in value:
                self.fail(str(exc), param, ctx)
            name = value.strip()
        if name in RULES or is_reference(name) or name in plugins():
            return value
        self.fail(str(UnknownNameError("rule", name, rules())), param, ctx)


RULE = RuleName()


class Witness(click.ParamType):
    """verify's witness: one of :attr:`choices` (the built-in witnesses and the packages rules declare
    their semantics from), or your own implementation, ``module:name`` or ``path/to/file.py:name`` (a
    torch.optim.Optimizer subclass or a NumPy step function)."""

    name = "witness"

    @property
    def choices(self) -> tuple[str, ...]:
        from symopt.verify import witnesses

        return witnesses()

    def get_metavar(self, param, *args, **kwargs):
        return "[" + "|".join(self.choices) + "|MODULE:NAME]"

    def convert(self, value, param, ctx):
        from symopt.errors import UnknownNameError

        if value in self.choices:
            return value
        module, colon, name = value.rpartition(":")
        if colon and module.strip() and name.isidentifier():
            return value
        self.fail(str(UnknownNameError("witness", value, [*self.choices, "MODULE:NAME"])), param, ctx)


class Group(click.Group):
    """A click group whose errors are one line: ``symopt derive: unknown rule ...``, exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from symopt import terminal
        from symopt.errors import SymoptError

        for stream in (sys.stdout, sys.stderr):  # a latin-1 terminal gets ASCII notation, not an error
            terminal.fit(stream)
        try:
            code = super().main(args, prog_name or "symopt", complete_var, standalone_mode=False, **extra)
            if sys.stdout is not None:
                sys.stdout.flush()  # a full disk shows here, not in the interpreter's last flush
        except OSError as exc:  # the output cannot be written: a full disk, a closed pipe
            message = terminal.unwritable(exc) if exc.filename is None else f"{exc.filename}: {exc.strerror or exc}"
            terminal.silence_stdout()
            if message:
                with contextlib.suppress(Exception):
                    click.echo(f"symopt: {message}", err=True)
            code = 1
        except click.ClickException as exc:
            command = exc.ctx.command_path if getattr(exc, "ctx", None) else "symopt"
            click.echo(f"{command}: {' '.join(exc.format_message().split())}", err=True)
            code = exc.exit_code
        except click.exceptions.Abort:
            click.echo("symopt: aborted", err=True)
            code = 1
        except SymoptError as exc:
            click.echo(f"symopt: {' '.join(str(exc).split())}", err=True)
            code = 2
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _options(pairs: tuple[str, ...]) -> dict[str, object]:
    """``("bias_correction=false", "epsilon=inside")`` -> ``{"bias_correction": False, ...}``.

    Values are words: ``true``/``false`` become booleans, anything else stays a string. Nothing
    is evaluated. A key given twice is an error (naming it), not a silent choice of the last.
    """
    from symopt.errors import SymoptError

    words = {"true": True, "false": False, "on": True, "off": False}
    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SymoptError(f"option {pair!r} is not KEY=VALUE (e.g. -O bias_correction=false)")
        if key in options:
            raise SymoptError(f"option {key!r} is given twice: give each -O {key}=... once")
        options[key] = words.get(value.strip().lower(), value.strip())
    return options


def _chosen(text: str, pairs: tuple[str, ...]) -> tuple[str, dict[str, object]]:
    """A rule argument (``adam`` or ``adam(epsilon='hat')``) and its ``-O`` options, merged: the
    rule's name and its options. An option given in both places is an error."""
    from symopt.errors import SymoptError
    from symopt.spec import parse

    name, given = parse(text)
    extra = _options(pairs)
    for key in given.keys() & extra.keys():
        raise SymoptError(f"option {key!r} is given twice, in {text} and as -O {key}=...: give it once")
    return name, {**given, **extra}


def _rule(text: str, pairs: tuple[str, ...] = ()):
    """The rule a rule argument and its ``-O`` options name (:func:`symopt.optimizers.resolve`: user
    code is imported here), or the rule a file of equations writes (``adam.txt``, ``paper.tex``:
    :func:`symopt.equations.rule_from_file`)."""
    from symopt.equations import is_equations_path, rule_from_file
    from symopt.errors import SymoptError
    from symopt.optimizers import resolve

    if is_equations_path(text):
        if pairs:
            raise SymoptError(f"{text} is a rule read from its equations: it takes no -O options")
        return rule_from_file(text)
    return resolve(text, **_options(pairs))


# Appended to the help of every command that takes a rule.
USER_RULES = """
    \b
    A rule is a registered name, a name an installed package registers (entry points
    "symopt.rules"), or your own: path/to/file.py:function or package.module:function, a
    function returning a symopt.rule(...), with its options as keywords, e.g.
    "my.py:lamb(trust_clip=True)". Your module is imported and run in this process: name only
    code you trust.
"""


def _takes_rules(command):
    """Say in ``command``'s help that it takes user rules (and imports them)."""
    command.help = command.help.rstrip() + "\n" + USER_RULES
    return command


def _dump(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


FORMAT = click.option(
    "-f", "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
    help="text for a terminal, latex for a paper, json for a script.",
)
OPTION = click.option(
    "-O", "--option", "options", multiple=True, metavar="KEY=VALUE",
    help="A structural option of the rule, e.g. -O bias_correction=false, -O nesterov=true, -O epsilon=inside "
         "(or write the rule as adam(epsilon='inside')).",
)


@click.group("symopt", cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="symopt")
def main():
    """Derive and verify the update rules of neural-network optimizers with SymPy.

    Each rule is written once, symbolically, as a chain of small transforms; symopt derives what it
    does from that definition, prints it in the notation of the note it starts from, and compiles it
    to NumPy.

    \b
    {rules}
    {derivations}

    \b
    Examples:
      symopt derive adam                 the rule, then everything derived from it
      symopt compare adam adamw          the coupling problem side by side
      symopt equiv adamw "adamw(decay='paper')"   the same optimizer? the hyperparameter map
      symopt derive adam --format json   the same, for a script
      symopt verify --all                each kernel against the hand-written references
      symopt check mine:step --rule adamw  your own implementation, with common mistakes named
      symopt audit --all                 torch.optim's documented algorithms against its code
      symopt latex adamw --format standalone -o adamw.tex   LaTeX for a paper
      symopt derive my_rules.py:lamb     your own rule (a function returning symopt.rule(...))
    """


def _registry_help(text: str) -> str:
    """The group's help with the rules and derivations read from the registries."""
    width = max(map(len, DERIVATIONS))
    lines = [f"{key.ljust(width)}  {line}" for key, (_, line) in DERIVATIONS.items()]
    derivations = ("\n" + " " * 18).join(lines)
    return text.replace("{rules}", "Rules:        " + ", ".join(RULES)).replace(
        "{derivations}", "Derivations:  " + derivations)


main.help = _registry_help(main.help)


@_takes_rules
@main.command("list")
@click.argument("names", nargs=-1, type=RULE, metavar="[NAME]...")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for a terminal, json for a script.")
def list_(names, fmt):
    """List the rules (or the rules NAME...) and the derivations symopt can compute.

    \b
    Examples:
      symopt list
      symopt list my_rules.py:adabelief
    """
    from symopt.optimizers import label, option_requirements, option_values, resolve, rules as registered

    rules = [resolve(name) for name in (names or registered())]
    named = {id(r): (r.name if not names else label(r)) for r in rules}
    if fmt == "json":
        _dump({
            "rules": [{"name": r.name, "summary": r.summary, "reference": r.reference, "torch": r.torch or None,
                       "source": r.source, "parameters": r.ranks_text(), "whole_tensors": not r.elementwise,
                       "options": {k: {"default": v[0], "values": list(v)} for k, v in option_values(r.name).items()}}
                      for r in rules],
            "derivations": [{"key": key, "doc": line} for key, (_, line) in DERIVATIONS.items()],
        })
        return
    width = max(len(named[id(r)]) for r in rules)
    source = max(len(r.source) for r in rules)
    click.echo("rules (the package whose semantics each follows; options: NAME(option=value, ...) or "
               "NAME -O option=value; the first value is the default):")
    for r in rules:
        click.echo(f"  {named[id(r)].ljust(width)}  {r.source.ljust(source)}  {r.summary}")
        if r.ranks:  # Muon: matrices only
            click.echo(f"  {''.ljust(width)}    takes {r.ranks_text()} only")
        if not r.elementwise:  # a norm, mean or product over the whole tensor
            click.echo(f"  {''.ljust(width)}    takes whole tensors (not element by element)")
        values = option_values(r.name)
        if values:
            shown = ", ".join(f"{key}={'|'.join(map(repr, vs))}" for key, vs in values.items())
            click.echo(f"  {''.ljust(width)}    {r.name}({shown})")
            for line in _option_notes(r.name, values):
                click.echo(f"  {''.ljust(width)}    {line}")
    click.echo("derivations:")
    width = max(map(len, DERIVATIONS))
    for key, (_, line) in DERIVATIONS.items():
        click.echo(f"  {key.ljust(width)}  {line}")


def _option_notes(name: str, values: dict) -> list[str]:
    """What ``symopt list`` says of a rule's options beyond their values: an option that exists only
    beside others (:class:`symopt.core.OnlyWith`), and each value of an option that chooses the library
    (an empty :class:`symopt.core.LibraryKeyword`): the package it follows, its class and the arguments
    that class is built with (timm's ``Lamb(max_grad_norm=None)``)."""
    from symopt.optimizers import get, option_forms, option_requirements

    notes = [f"{key}: only with {only.text()}" for key, only in option_requirements(name).items()]
    for key, form in option_forms(name).items():
        if form.keyword:
            continue
        for value in values[key][1:]:
            made = get(name, **{key: value})
            built = ", ".join(f"{k}={v!r}" for k, v in made.library_arguments)
            notes.append(f"{key}={value!r}: {made.source}" + (f", as {'.'.join(made.library)}({built})" if built else ""))
    return notes


@_takes_rules
@main.command()
@click.argument("name", type=RULE)
@OPTION
@click.option("--only", type=click.Choice(DERIVATION_KEYS), help="Print only this derivation.")
@FORMAT
def derive(name, options, only, fmt):
    """Print rule NAME in the note's notation, then every derivation that applies to it.

    Everything printed is computed from the rule at run time: the derivations by SymPy, the
    coupling simulation by the rule's compiled NumPy kernel.

    \b
    Examples:
      symopt derive adam
      symopt derive adam -O bias_correction=false --only moving-averages
      symopt derive "adam(epsilon='hat')"   (the same as -O epsilon=hat)
      symopt derive momentum -O nesterov=true --format latex
      symopt derive adam.txt                (a rule read from its equations, text or .tex)
    """
    import symopt
    from symopt import render

    rule = _rule(name, options)
    derivations = symopt.derivations(rule, only=only)
    if fmt == "json":
        _dump({"rule": render.rule_json(rule), "derivations": [render.derivation_json(d) for d in derivations]})
    elif fmt == "latex":
        click.echo(f"% {rule.name}: {rule.summary}\n{rule.latex()}")
        for d in derivations:
            click.echo("\n" + render.derivation_latex(d))
    else:
        click.echo(render.rule_text(rule))
        for d in derivations:
            click.echo("\n" + render.derivation_text(d))


@_takes_rules
@main.command()
@click.argument("first", type=RULE)
@click.argument("second", type=RULE)
@FORMAT
def compare(first, second, fmt):
    """Compare two rules: their chains, effective weight decays, and the coupling table.

    \b
    Example:
      symopt compare adam adamw
    """
    import symopt
    from symopt import printing, render
    from symopt.compare import compare as compare_rules

    c = compare_rules(_rule(first), _rule(second))
    a, b = c.rules
    if fmt == "json":
        _dump({
            "rules": [render.rule_json(r) for r in c.rules],
            "reordered": c.reordered,
            "same_step_without_weight_decay": c.same_without_decay,
            "effective_weight_decay": None if c.steady is None else {
                r.name: {"steady": render.expr_json(s), "one-step": render.expr_json(o)}
                for r, s, o in zip(c.rules, c.steady, c.one_step)
            },
            "table": c.table and render.table_json(c.table),
            "simulation": c.simulation and render.table_json(c.simulation),
        })
        return
    if fmt == "latex":
        for r in c.rules:
            click.echo(f"% {r.name}: {r.summary}\n{r.latex()}\n")
        if c.steady:
            lam_eff = printing.latex(symopt.symbols.lam_eff)
            for r, s in zip(c.rules, c.steady):
                click.echo(f"% {r.name}, steady state\n{lam_eff} = {printing.latex(s)}")
        return
    width = max(len(a.name), len(b.name)) + 1
    click.echo(render._heading(f"{a.name} vs {b.name}"))
    for r in c.rules:
        click.echo(f"{(r.name + ':').ljust(width)} {' -> '.join(r.transforms)}")
    if c.reordered:
        click.echo("the same transforms in a different order: where they sit is the whole difference")
    for r in c.rules:
        click.echo(f"\n{r.name}: {r.summary}")
        click.echo("\n".join(f"  {printing.text(eq)}" for eq in r.equations))
    if c.steady is None:
        return
    click.echo("\n" + ("with λ = 0 the two rules take the same step (their step maps agree symbolically)"
                       if c.same_without_decay else "the two rules take different steps even with λ = 0"))
    lam_eff = printing.text(symopt.symbols.lam_eff)
    click.echo("\neffective weight decay, steady state (zero-mean gradient noise):")
    for r, s in zip(c.rules, c.steady):
        click.echo(f"  {(r.name + ':').ljust(width)} {lam_eff} = {printing.text(s)}")
    click.echo("one step, first order in λ:")
    for r, s in zip(c.rules, c.one_step):
        click.echo(f"  {(r.name + ':').ljust(width)} {lam_eff} = {printing.text(s)}")
    click.echo("\n" + render.table_text(c.table))
    if c.simulation:
        click.echo("\n" + render.table_text(c.simulation))


def _percent(fraction: float) -> str:
    """A fraction as a percentage rounded down (99.96% is 99.9%, never 100.0%)."""
    return f"{math.floor(fraction * 1000) / 10:.1f}%"


def _report_line(report, width: int) -> str:
    if report.skipped:
        return f"  {report.label.ljust(width)}  {'':>6}  skipped: {report.skipped}"
    cells = []
    for dtype in ("float64", "float32"):
        e = report.errors.get(dtype)
        cells.append(f"{e.max_abs:9.2e} {e.max_rel:9.2e} {_percent(e.fraction):>8}" if e else f"{'-':>9} {'-':>9} {'-':>8}")
    return f"  {report.label.ljust(width)}  {report.cases:6d}  {'  '.join(cells)}  {report.verdict}"


@_takes_rules
@main.command()
@click.argument("names", nargs=-1, type=RULE, metavar="[NAME]...")
@click.option("--all", "all_rules", is_flag=True, help="Every rule, with every structural variant.")
@OPTION
@click.option("--against", type=Witness(), default="reference", show_default=True,
              help="The independent witness: the hand-written NumPy references, torch.optim, a package a rule "
                   "declares its semantics from (schedulefree, timm, ...: `symopt list` shows each rule's), optax (through the variant that is optax's convention), or your own implementation, "
                   "MODULE:NAME or path/to/file.py:NAME: a torch.optim.Optimizer subclass (built with the rule's "
                   "hyperparameters by their library keywords) or a NumPy step(params, grads, state, t, **hyper), "
                   "run in a child process, float64.")
@click.option("--timeout", type=click.FloatRange(0, 86_400, min_open=True), default=10.0, show_default=True,
              metavar="SECONDS", help="With --against MODULE:NAME: the longest one call of it may take.")
@click.option("--examples", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="Generated trajectories per rule variant.")
@click.option("--seed", type=int, default=0, show_default=True, help="Hypothesis's seed, for a reproducible run.")
@click.option("--backend", type=click.Choice(BACKENDS), default="numpy", show_default=True,
              help="The kernel checked: NumPy's, or the fused loops of the numba backend (an optional extra).")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for a terminal, json for a script.")
def verify(names, all_rules, options, against, examples, seed, timeout, backend, fmt):
    """Check each rule's compiled kernel against an independent implementation.

    Hypothesis generates whole trajectories (float64 and float32, every shape class the rule treats
    differently, short ones and long ones into the hundreds of steps, gradients from 1e-8 to 1e8 with
    exact zeros, hyperparameters over their ranges) and shrinks any disagreement to a small
    counterexample. Errors are relative to a running bound of the magnitudes the computation adds
    up; the tolerance is 1e-12 in float64 and 1e-5 in float32. An element whose bound is infinite (a
    sign within rounding of 0) is not compared from then on: the fraction of (element, step) pairs
    compared is printed per dtype, and below the floor the verdict is NOT ENOUGH COMPARED.

    \b
    Exit status:
      0  every variant compared passed (some may be skipped: the witness lacks them);
      1  a variant differs, or compared less than the floor;
      2  nothing was compared (every variant skipped), or the input is bad.

    \b
    Examples:
      symopt verify --all
      symopt verify adam --against torch --examples 500
      symopt verify schedule-free-adamw --against schedulefree
      symopt verify --all --against optax
      symopt verify momentum -O nesterov=true --seed 3
      symopt verify --all --backend numba
      symopt verify my_rules.py:adabelief --against my_impl.py:adabelief_step
    """
    import symopt
    from symopt.errors import SymoptError
    from symopt.optimizers import variants
    from symopt.verify import describe, require_hypothesis
    from symopt.verify import verify as cross_check

    TOLERANCE = require_hypothesis().TOLERANCE

    if all_rules and names:
        raise SymoptError("give rule names or --all, not both")
    if not all_rules and not names:
        raise SymoptError("name the rules to verify, or use --all (e.g. symopt verify --all)")
    _options(options)  # a malformed -O fails before anything is computed
    rules = []
    for text in RULES if all_rules else dict.fromkeys(names):
        name, chosen = _chosen(text, options)
        for variant in [chosen] if chosen else variants(name):
            rules.append(symopt.get(name, **variant))
    width = max(len(symopt.optimizers.label(r)) for r in rules)
    if backend == "numba":
        from symopt.backends.numba import require_numba

        require_numba()
    from symopt.verify import COMPARED_FLOOR

    done: dict[int, object] = {}
    if ":" in against:  # your implementation, in a child process: one that cannot be run fails before any output
        from symopt.isolation import against as against_user

        if backend != "numpy":
            raise SymoptError("--against MODULE:NAME checks the NumPy kernel: leave out --backend")
        done = {id(r): against_user(against, r, examples=examples, seed=seed, timeout=timeout).report for r in rules}
    text = fmt == "text"
    if text:
        click.echo(f"{'numba ' if backend == 'numba' else ''}kernel against {against}, {examples} cases per rule "
                   f"(seed {seed})")
        click.echo(f"  {'rule'.ljust(width)}  {'cases':>6}  {'float64 max abs / rel / compared':>28}  "
                   f"{'float32 max abs / rel / compared':>28}")
    failed, reports = 0, []
    for rule in rules:
        report = done[id(rule)] if done else cross_check(rule, against=against, examples=examples, seed=seed,
                                                         backend=backend)
        reports.append(report)
        if not text:
            continue
        click.echo(_report_line(report, width))
        if report.note:
            click.echo(f"      {report.note}")
        if not report.passed and not report.skipped:
            mismatch = report.counterexample
            lines = describe(mismatch.case, mismatch.errors.first) if mismatch else [report.failure]
            if report.agreed:
                lines = [f"compared {', '.join(f'{d} {_percent(f)}' for d, f in report.fractions.items())} of the "
                         f"(element, step) pairs: below the floor of {COMPARED_FLOOR:.0%}"]
            click.echo("\n".join(f"      {line}" for line in lines))
    failed = sum(not r.passed and not r.skipped for r in reports)
    nothing = all(r.skipped for r in reports)
    if not text:
        _dump({"against": against, "examples": examples, "seed": seed, "backend": backend,
               "floor": COMPARED_FLOOR, "tolerance": {d.name: t for d, t in TOLERANCE.items()},
               "rules": [r.as_dict() for r in reports]})
    else:
        tolerances = ", ".join(f"{d.name} {t:g}" for d, t in TOLERANCE.items())
        click.echo(f"relative errors are measured against a running error bound; tolerance {tolerances}; "
                   f"compared: the fraction of generated (element, step) pairs not excused by an infinite "
                   f"bound (floor {COMPARED_FLOOR:.0%})")
    if nothing:
        reasons = dict.fromkeys(r.skipped for r in reports)
        raise SymoptError(f"nothing was compared: every variant was skipped ({'; '.join(reasons)})")
    if failed:
        if text:
            click.echo(f"{failed} of {len(rules)} FAILED", err=True)
        raise SystemExit(1)


@_takes_rules
@main.command()
@click.argument("first", metavar="A")
@click.argument("second", metavar="B")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for a terminal, json for a script.")
@click.option("--examples", type=click.IntRange(1, 100_000), default=60, show_default=True,
              help="Generated trajectories that look for a counterexample (or confirm the map).")
@click.option("--seed", type=int, default=0, show_default=True, help="Hypothesis's seed, for a reproducible run.")
@click.option("--budget", type=click.FloatRange(0, 3600), default=20.0, show_default=True,
              help="CPU seconds the symbolic search for a map (and for a condition) may take.")
def equiv(first, second, fmt, examples, seed, budget):
    """Decide whether rules A and B are the same optimizer.

    A and B are NAME or NAME(option=value, ...), as `symopt list` names the options; they are
    parsed, never evaluated. Equivalent means the same trajectories for every gradient sequence
    and every learning-rate schedule, under a map of hyperparameters (and of state) each way,
    proved on the two step maps (max, norms, branches and Newton–Schulz taken as uninterpreted
    functions), printed, and confirmed by both compiled kernels on generated cases. When they
    differ: a shrunk counterexample run by both kernels, and the condition under which they agree,
    where one exists.

    \b
    Exit status:
      0  EQUIVALENT;
      1  NOT EQUIVALENT: a counterexample both kernels ran;
      2  COULD NOT CHECK (a kernel raised on a generated case: the exception and the case), NOT
         DECIDED (no map proved within --budget and no counterexample), or a bad spec.

    \b
    Examples:
      symopt equiv adamw "adamw(decay='paper')"
      symopt equiv momentum "momentum(form='sutskever')"
      symopt equiv adam adamw --format json
    """
    from symopt import equiv as decide
    from symopt.spec import rule_from_spec
    from symopt.verify import require_hypothesis

    a, b = rule_from_spec(first), rule_from_spec(second)
    require_hypothesis()
    verdict = decide.equivalent(a, b, examples=examples, seed=seed, budget=budget)
    if fmt == "json":
        _dump(verdict.as_dict())
    else:
        click.echo("\n".join(decide.describe(verdict)))
    raise SystemExit(verdict.exit_code)


@_takes_rules
@main.command()
@click.argument("name", type=RULE)
@OPTION
@click.option("--list", "list_only", is_flag=True, help="List the mutants and stop.")
@click.option("--examples", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="Generated trajectories per mutant (verify's default).")
@click.option("--seed", type=int, default=0, show_default=True, help="Hypothesis's seed, for a reproducible run.")
def mutate(name, options, list_only, examples, seed):
    """Measure verify on rule NAME: each mutant of its equations must be killed (exit 0; 1 if one survives).

    A mutant is the rule with one change: a coefficient or hyperparameter scaled, a term dropped, a
    branch threshold shifted, a max replaced by an argument, ε moved, a state read before or after
    its update. verify's cross-check (the mutant's kernel against the rule's hand-written reference)
    must kill it; a survivor that symopt equiv proves the same optimizer is discarded. Prints the
    mutation score, killed / non-equivalent, and every survivor. All rules: benchmarks/mutation.py.

    \b
    Examples:
      symopt mutate adamax --list
      symopt mutate lion --examples 300
    """
    from symopt import mutate as mutation
    from symopt.optimizers import label
    from symopt.verify import require_hypothesis

    rule = _rule(name, options)
    found = mutation.mutants(rule)
    if list_only:
        width = max((len(m.id) for m in found), default=0)
        click.echo("\n".join(f"  {m.id.ljust(width)}  {m.description}" for m in found))
        return
    require_hypothesis()
    click.echo(f"{len(found)} mutants of {label(rule)}, {examples} cases each (seed {seed})")
    score = mutation.score(rule, found, examples=examples, seed=seed)
    for o in score.equivalent:
        click.echo(f"  equivalent  {o.mutant.id}  {o.mutant.description}  [{o.detail}]")
    for o in score.survived:
        click.echo(f"  SURVIVED    {o.mutant.id}  {o.mutant.description}  ({o.cases} cases; {o.detail})")
    click.echo(f"{len(score.killed)} killed, {len(score.equivalent)} equivalent, {len(score.survived)} survived: "
               f"mutation score {score.value:.1%}")
    raise SystemExit(1 if score.survived else 0)


@_takes_rules
@main.command()
@click.argument("function", metavar="MODULE:FUNCTION")
@click.option("--rule", "rule_name", type=RULE, required=True, help="The rule the function should implement.")
@OPTION
@click.option("--examples", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="Generated trajectories.")
@click.option("--seed", type=int, default=0, show_default=True, help="Hypothesis's seed.")
@click.option("--timeout", type=click.FloatRange(0, 86_400, min_open=True), default=10.0, show_default=True,
              metavar="SECONDS", help="The longest one call of FUNCTION may take (it runs in a child process).")
@click.option("--rounding", type=click.Choice(["none", "bfloat16"]), default="none", show_default=True,
              help="Compute the rule as torch does: bfloat16 rounds Muon's Newton-Schulz iteration as "
                   "torch.optim.Muon does, to check a torch-exact implementation.")
@click.option("-f", "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for a terminal, json for a script.")
def check(function, rule_name, options, examples, seed, timeout, rounding, fmt):
    """Check your own step function against a rule, and name a common mistake if one explains it.

    FUNCTION is called as step(params, grads, state, t, **hyper) and returns (params, state);
    state is {} on the first step and belongs to your code. It gets copies of the parameters and
    gradients, so it may update them in place. Only the parameters are compared, in float64, with
    the learning rate sometimes following a schedule. FUNCTION runs in a child process: whatever it
    does there (exits, crashes, hangs, patches symopt), the verdict is this one's.

    \b
    Every run also compares a long case (160 steps) per shape class the rule treats differently
    (vectors, matrices, stacks), whatever the seed. The fraction of (element, step) pairs compared
    is printed: an element whose error bound is infinite (a sign within rounding of 0) is not
    compared from then on, and below the floor the verdict is NOT ENOUGH COMPARED.

    \b
    Exit status:
      0  it conforms on every case;
      1  it runs but does not conform: it takes a different step, returns parameters of the
         wrong shape or complex ones, gives different results on the same case, or raises
         (SystemExit included) or ends its process on a valid case; or too little of it could be
         compared;
      2  it cannot be checked: the module does not import (or exits while importing), FUNCTION is
         missing, not callable, has no signature to read (a builtin), does not take the rule's
         keywords, returns something that is not (params, state) with params an array of
         real numbers (None, a dict, a string, an object array...), or a call takes longer
         than --timeout.

    \b
    Examples:
      symopt check my_optim:adamw_step --rule adamw
      symopt check path/to/sgd.py:step --rule momentum -O nesterov=true
      symopt check my_muon:step --rule muon --rounding bfloat16
    """
    from symopt.isolation import Child, check_in_child
    from symopt.optimizers import label
    from symopt.verify import COMPARED_FLOOR, StepFunctionError, StepRaised, check_rounding, describe, require_hypothesis

    require_hypothesis()
    rule = _rule(rule_name, options)
    rounding = None if rounding == "none" else rounding
    check_rounding(rule, rounding)
    text = fmt == "text"
    as_torch = f", {rounding} as torch rounds" if rounding else ""
    with Child(function, rule, timeout) as child:  # the function runs there, whatever it does
        if text:
            click.echo(f"checking {function} against {label(rule)}{as_torch}: {examples} cases, float64 (seed {seed})")
        result = check_in_child(child, rule, examples=examples, seed=seed, rounding=rounding)
    report = result.report
    if not text:
        data = report.as_dict() | {"function": function, "rounding": rounding or "none"}
        if result.mistake is not None:
            data["mistake"] = {"key": result.mistake.key, "description": result.mistake.description}
        _dump(data)
        raise SystemExit(0 if report.passed else 1)
    e = report.errors.get("float64")
    compared = (f"{_percent(e.fraction)} of {e.generated} (element, step) pairs compared, floor "
                f"{COMPARED_FLOOR:.0%}") if e else ""
    if report.passed:
        click.echo(f"PASS: {report.cases} cases agree (largest relative error {e.max_rel:.2e}; {compared})")
        return
    if report.agreed:
        click.echo(f"NOT ENOUGH COMPARED: {report.cases} cases agree where compared, but only {compared}: "
                   "elements within rounding of a sign change are excused")
        raise SystemExit(1)
    if report.failure:
        raised = isinstance(report.error, StepRaised) or not isinstance(report.error, StepFunctionError)
        click.echo(f"FAIL: the function raised {report.failure}" if raised else f"FAIL: {report.failure}")
        lines = describe(report.failure_case) if report.failure_case is not None else []
    else:
        click.echo("FAIL: it takes a different step; the first diverging case, shrunk:")
        lines = describe(report.counterexample.case, report.counterexample.errors.first)
    if lines:
        click.echo("\n".join(f"  {line}" for line in lines))
    if result.mistake is not None:
        from symopt.printing import text

        click.echo(f"likely mistake [{result.mistake.key}]: {result.mistake.description}")
        click.echo("\n".join(f"  {text(eq)}" for eq in result.mistake.differences()))
        click.echo("  (it matches this variant of the rule on every checked case)")
    raise SystemExit(1)


class ExportName(click.ParamType):
    """A rule (``adam``, ``adam(amsgrad=True)``) or one of its derivations (``adam:coupling``)."""

    name = "name"

    def convert(self, value, param, ctx):
        from symopt.errors import UnknownNameError
        from symopt.spec import parse

        spec, colon, key = _split_export_name(value)
        rule = parse(RULE.convert(spec, param, ctx))[0]  # a name or a spec, as every command takes
        if colon and not key:
            self.fail(f"{value!r} names no derivation after ':': write {rule}:DERIVATION "
                      f"(one of {', '.join(DERIVATION_KEYS)}) or just {rule}", param, ctx)
        if key and key not in DERIVATION_KEYS:
            self.fail(str(UnknownNameError("derivation", key, DERIVATION_KEYS)), param, ctx)
        return value


def _split_export_name(value: str) -> tuple[str, str, str]:
    """``"adam(amsgrad=True):coupling"`` -> ``("adam(amsgrad=True)", ":", "coupling")``: the rule's
    spec (options in parentheses may hold anything but a ')'), and the derivation after the colon.
    A colon after a reference to user code is a derivation's (``my.py:fn:coupling``); one after a
    name that is no rule makes a reference (``my_rules:adabelief``)."""
    from symopt.optimizers import plugins

    close = value.rfind(")")
    if close >= 0:
        spec, colon, key = value[close + 1:].partition(":")
        return value[:close + 1] + spec, colon, key.strip()
    head, colon, key = value.rpartition(":")
    if colon and (":" in head or head.strip() in RULES or head.strip() in plugins()):
        return head, colon, key.strip()
    return value, "", ""


def _subject(rule, key: str):
    """What ``symopt latex`` prints: the rule, or one derivation of it that applies."""
    from symopt.derive import derivations
    from symopt.errors import SymoptError
    from symopt.export import Subject

    if not key:
        return Subject(rule)
    derivation = derivations(rule, only=key)[0]
    if not derivation.applies:
        raise SymoptError(f"{key}: {''.join(p for p in derivation.summary if isinstance(p, str))}")
    return Subject(rule, derivation)


OUTPUT = click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
                      help="Write FILE (whole or not at all) instead of printing.")
FORCE = click.option("--force", is_flag=True, help="Replace FILE if it exists (a regular file only).")


@_takes_rules
@main.command()
@click.argument("name", type=ExportName(), metavar="NAME[:DERIVATION]")
@OPTION
@click.option("--format", "fmt", type=click.Choice(["aligned", "markdown", "standalone"]), default="aligned",
              show_default=True, help="An aligned block, a Markdown note, or a complete LaTeX document.")
@OUTPUT
@FORCE
def latex(name, options, fmt, output, force):
    """LaTeX for a rule or one of its derivations, in the note's notation.

    NAME is a rule (adam) or a rule and a derivation (adam:effective-weight-decay). The blocks
    render in KaTeX and compile with pdflatex (both checked by the tests).

    \b
    Examples:
      symopt latex adamw
      symopt latex adam:effective-weight-decay --format markdown
      symopt latex adamw --format standalone -o adamw.tex && pdflatex adamw.tex
      symopt latex my_rules.py:adabelief:moving-averages
    """
    from symopt import export

    spec, _, key = _split_export_name(name)
    _chosen(spec, options)  # a malformed spec or option fails first
    if output is not None:
        export.writable(output, force)  # a bad file name or folder fails before anything is computed
    text = export.render(_subject(_rule(spec, options), key), fmt)
    if output is not None:
        export.write(output, text, force=force)
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@main.command("export")
@click.argument("directory", type=click.Path(file_okay=False), metavar="DIR")
@click.option("--no-figure", is_flag=True,
              help=f"Leave out the figures ({', '.join(f'{name}.png' for name in PLOTS)}), which need matplotlib.")
@click.option("--force", is_flag=True,
              help="Write into DIR even if it holds files symopt export did not write (those of the same "
                   "names are replaced; others are left alone).")
def export_(directory, no_figure, force):
    """Write the project's notes into DIR: one document per rule and per derivation, an index, and
    the note symopt starts from with every equation generated (derivations/ is this, checked in).

    DIR is created if needed. An existing DIR must be empty or hold only what symopt export wrote
    (Markdown files beginning with its GENERATED marker, and the figure), unless --force. The whole
    set is written into a new folder beside DIR, then swapped in at once: an interrupted export
    leaves the old set or the new one, never a mix. Where it goes is checked before anything is
    computed.

    \b
    Example:
      symopt export derivations/
    """
    from symopt import export

    written = export.export(directory, figure=not no_figure, force=force)
    click.echo(f"wrote {len(written)} files into {directory}")


@main.command()
@click.argument("name", type=click.Choice(list(PLOTS)))
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="The file to draw into (required), written whole or not at all: .png, .svg or .pdf.")
@FORCE
def plot(name, output, force):
    """Draw a figure: coupling plots λ_eff/λ against the gradient RMS for Adam and AdamW; stability,
    heavy ball's stability region (the largest stable ηa against ρ) with the kernel's verdicts.

    Needs matplotlib (pip install "symopt-toolkit[plot]"). The format follows the file name:
    .png, .svg or .pdf.

    \b
    Example:
      symopt plot coupling -o coupling.png
      symopt plot stability -o stability.svg
    """
    from symopt import plot as plots
    from symopt.errors import SymoptError

    if output is None:
        raise SymoptError(f"say where to draw it: symopt plot {name} -o {name}.png")
    plots.save(name, output, force=force)
    click.echo(f"wrote {output}", err=True)


@_takes_rules
@main.command()
@click.argument("subject", required=False, metavar="[torch.optim.CLASS | FILE.tex]")
@click.option("--all", "all_classes", is_flag=True, help="Every torch.optim class symopt has a rule for.")
@click.option("--against", "against", type=RULE, metavar="RULE",
              help="The rule a LaTeX file's algorithm is decided against (a name or spec).")
@click.option("--examples", type=click.IntRange(1, 100_000), default=10, show_default=True,
              help="Generated cases for each comparison.")
def audit(subject, all_classes, against, examples):
    """Read a documented algorithm box and decide whether the code does what it says.

    For torch.optim.CLASS, the algorithm box of its docstring (torch's LaTeX: \\textbf{input},
    \\textbf{initialize}, \\textbf{for}, \\textbf{if}) is read into one rule per branch (each flag
    on or off: amsgrad, maximize, nesterov...), parsed, never evaluated, and decided against
    symopt's rule in torch's semantics (equiv: a proof on the step maps and generated cases) and
    against the torch class itself (generated cases). For a LaTeX FILE, its first aligned block (or
    its \\leftarrow lines) is decided against --against. Verdicts: SAME, SAME UNDER MAP (printed),
    DIFFERENT (a counterexample and the line that differs), NOT PARSED (the line), NOT DECIDED.
    Needs torch for torch.optim classes, and Hypothesis.

    \b
    Exit status: 0 all SAME (or under a map), 1 a DIFFERENT, 2 NOT PARSED or NOT DECIDED only.

    \b
    Examples:
      symopt audit torch.optim.Adam
      symopt audit --all
      symopt audit paper.tex --against adamw
    """
    from symopt import audit as audits
    from symopt.errors import SymoptError
    from symopt.verify import require_hypothesis

    require_hypothesis()
    if all_classes == (subject is not None):
        raise SymoptError("give one of torch.optim.CLASS, a LaTeX file, or --all")
    if all_classes or not subject.endswith((".tex", ".txt")):
        if against:
            raise SymoptError("--against is for a LaTeX file; a torch.optim class is audited against its code")
        findings = audits.audit_all(examples) if all_classes else \
            audits.audit_class(subject.removeprefix("torch.optim."), examples)
    else:
        if not against:
            raise SymoptError(f"say which rule {subject}'s algorithm should be: --against RULE")
        findings = audits.audit_file(subject, against, examples)
    click.echo("\n".join(audits.text(findings)))
    verdicts = {f.verdict for f in findings}
    raise SystemExit(1 if audits.DIFFERENT in verdicts else 0 if verdicts <= {audits.SAME, audits.SAME_UNDER_MAP} else 2)


@_takes_rules
@main.command()
@click.argument("names", nargs=-1, type=RULE, metavar="[NAME]...")
@click.option("--steps", type=click.IntRange(1, 100_000), default=200, show_default=True, help="Full-batch steps.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Draw the loss curves into FILE (.png, .svg or .pdf), written whole or not at all.")
@FORCE
def train(names, steps, output, force):
    """Train a small MLP on scikit-learn's digits with symopt.torch.Optimizer, and with torch.optim.

    Each rule (default: adam, adamw, lion, momentum) trains the same model from the same
    initialisation, float32, full batch; a rule torch.optim has is trained with torch's class too,
    and the two runs' losses are compared step for step. Needs torch and scikit-learn
    (pip install "symopt-toolkit[train]"); the figure, matplotlib.

    \b
    Examples:
      symopt train adamw --steps 50
      symopt train -o derivations/training/loss-curves.png --force
    """
    from symopt import training

    training.require()
    if output is not None:  # the file name, its format and its folder, before any training
        from symopt.plot import figure_format, require_matplotlib

        fmt = figure_format(output, force)
        require_matplotlib()
    names = names or training.RULES
    progress = training.Progress(2 * len(names) * steps, "training")
    try:
        curves, torch_curves = training.loss_curves(names, steps, tick=progress)
    finally:
        progress.close()
    shown = sorted({1, min(10, steps), steps})
    click.echo(f"MLP 64-32-10 on scikit-learn's digits, full batch, float32, {steps} steps")
    width = max(9, *map(len, curves))
    click.echo(f"  {'rule'.ljust(width)} " + " ".join(f"{'step ' + str(t):>10}" for t in shown) + "  torch.optim, same start")
    for name, losses in curves.items():
        theirs = torch_curves.get(name)
        if isinstance(theirs, str):
            verdict = theirs
        else:
            worst, first = training.disagreement(losses, theirs)
            verdict = (f"same losses (max rel. difference {worst:.1e})" if first is None
                       else f"DIFFERENT from step {first} (rel. difference {worst:.1e})")
        click.echo(f"  {name.ljust(width)} " + " ".join(f"{losses[t - 1]:10.4f}" for t in shown) + f"  {verdict}")
    if output is not None:
        from symopt.export import write

        write(output, training.figure(curves, fmt), force=force)
        click.echo(f"wrote {output}", err=True)
