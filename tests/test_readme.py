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
