"""The README's examples are real: each `$ symopt ...` block's lines appear in the command's output."""

import re
import shlex
from pathlib import Path

import pytest

from symopt import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def examples():
    for block in re.findall(r"```console\n(.*?)```", README.read_text(), flags=re.S):
        command, *shown = block.rstrip("\n").split("\n")
        yield command.removeprefix("$ "), [line for line in shown if line != "..."]


@pytest.mark.parametrize(("command", "shown"), list(examples()))
def test_readme_example_is_the_commands_output(runner, monkeypatch, command, shown):
    monkeypatch.chdir(README.parent)
    args = shlex.split(command)
    assert args[0] == "symopt"
    result = runner.invoke(cli.main, args[1:])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    output = result.output.splitlines()
    for line in shown:
        assert line in output, line


def test_readme_has_examples():
    assert list(examples())


def test_readme_rule_example_is_the_source():
    """The README's `adamw` is the function in symopt/optimizers/adam.py, less its docstring."""
    import ast
    import importlib
    import inspect

    adam = importlib.import_module("symopt.optimizers.adam")
    block = re.search(r"## How a rule is written.*?```python\n(.*?)```", README.read_text(), flags=re.S).group(1)
    shown = ast.parse(block).body[0]
    source = ast.parse(inspect.getsource(adam.adamw)).body[0]
    source.body = source.body[1:]  # the docstring
    assert ast.dump(shown) == ast.dump(source)
