"""The ``symopt`` command: a thin click group over the library.

Each command is a few lines that call the library. SymPy is imported inside the commands, so that
``symopt --help`` answers at once. Every error a user can cause (an unknown name, a bad option, an
out-of-range value) is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import sys

import click

from symopt import __version__

FORMATS = ("text", "latex", "json")
# Listed here so that `symopt --help` needs no SymPy; tests/test_cli.py checks them against the
# registries, so they cannot drift.
RULE_NAMES = ("sgd", "momentum", "adam", "adamw")
DERIVATION_KEYS = ("effective-weight-decay", "coupling", "moving-averages", "constant-gradient")


class RuleName(click.ParamType):
    """A registered rule's name; anything else fails with the closest match and the valid names."""

    name = "rule"

    def convert(self, value, param, ctx):
        from symopt.errors import UnknownNameError
        from symopt.optimizers import REGISTRY

        if value in REGISTRY:
            return value
        self.fail(str(UnknownNameError("rule", value, REGISTRY)), param, ctx)


RULE = RuleName()


class Group(click.Group):
    """A click group whose errors are one line: ``symopt derive: unknown rule ...``, exit 2."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from symopt.errors import SymoptError

        try:
            code = super().main(args, prog_name or "symopt", complete_var, standalone_mode=False, **extra)
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
    is evaluated.
    """
    from symopt.errors import SymoptError

    options: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SymoptError(f"option {pair!r} is not KEY=VALUE (e.g. -o bias_correction=false)")
        words = {"true": True, "false": False, "on": True, "off": False}
        options[key.strip()] = words.get(value.strip().lower(), value.strip())
    return options


def _dump(data) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


FORMAT = click.option(
    "-f", "--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
    help="text for a terminal, latex for a paper, json for a script.",
)
OPTION = click.option(
    "-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
    help="A structural option of the rule, e.g. -o bias_correction=false, -o nesterov=true, -o epsilon=inside.",
)


@click.group("symopt", cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="symopt")
def main():
    """Derive and verify the update rules of neural-network optimizers with SymPy.

    Each rule is written once, symbolically, as a chain of small transforms; symopt derives what it
    does from that definition, prints it in the notation of the note it starts from, and compiles it
    to NumPy.

    \b
    Rules:        sgd, momentum, adam, adamw
    Derivations:  effective-weight-decay  how strongly λ decays each parameter (the coupling problem)
                  coupling                λ_eff over gradient scales, checked by simulation
                  moving-averages         bias correction; momentum as an average
                  constant-gradient       the step a rule settles into under a constant gradient

    \b
    Examples:
      symopt derive adam                 the rule, then everything derived from it
      symopt compare adam adamw          the coupling problem side by side
      symopt derive adam --format json   the same, for a script
    """


@main.command("list")
@FORMAT
def list_(fmt):
    """List the rules and the derivations symopt can compute.

    \b
    Example:
      symopt list
    """
    from symopt.derive import MODULES
    from symopt.optimizers import REGISTRY, get, options

    rules = [get(name) for name in REGISTRY]
    if fmt == "json":
        _dump({
            "rules": [{"name": r.name, "summary": r.summary, "reference": r.reference, "options": options(r.name)}
                      for r in rules],
            "derivations": [{"key": key, "doc": (m.__doc__ or "").splitlines()[0]} for key, m in MODULES.items()],
        })
        return
    width = max(len(r.name) for r in rules)
    click.echo("rules:")
    for r in rules:
        opts = ", ".join(f"{k}={v!r}" for k, v in options(r.name).items())
        click.echo(f"  {r.name.ljust(width)}  {r.summary}" + (f"  [options: {opts}]" if opts else ""))
    click.echo("derivations:")
    width = max(map(len, MODULES))
    for key, module in MODULES.items():
        click.echo(f"  {key.ljust(width)}  {(module.__doc__ or '').splitlines()[0]}")


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
      symopt derive adam -o bias_correction=false --only moving-averages
      symopt derive momentum -o nesterov=true --format latex
    """
    import symopt
    from symopt import render

    rule = symopt.get(name, **_options(options))
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

    c = compare_rules(symopt.get(first), symopt.get(second))
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
