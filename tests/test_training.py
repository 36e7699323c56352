"""The training example: symopt.torch.Optimizer and torch.optim train the same MLP on the digits to
the same losses; `symopt train` and its figure."""

from __future__ import annotations

import io
import sys

import pytest

from conftest import require
from symopt import cli, export



@pytest.fixture(scope="module")
def training():
    require("torch", install='pip install "symopt-toolkit[torch]"')
    require("sklearn", install='pip install "symopt-toolkit[train]"')
    from symopt import training

    return training


@pytest.mark.parametrize("rule, hyper", [("adamw", dict(lr=1e-2, weight_decay=1e-2)), ("adam", dict(lr=1e-2))])
def test_same_losses_as_torch_optim_in_float32(training, rule, hyper):
    import torch

    ours, theirs = training.side_by_side(rule, steps=40, dtype=torch.float32, **hyper)
    worst, first = training.disagreement(ours, theirs)
    assert first is None, f"step {first}: {ours[first - 1]} against {theirs[first - 1]}"
    assert ours[-1] < ours[0] / 4  # and it trains


def test_same_losses_as_torch_optim_in_float64(training):
    import torch

    ours, theirs = training.side_by_side("momentum(nesterov=True)", steps=20, dtype=torch.float64, lr=0.1, momentum=0.9)
    assert ours == pytest.approx(theirs, rel=1e-12)


def test_train_command(training, runner, tmp_path):
    figure = tmp_path / "curves.png"
    result = runner.invoke(cli.main, ["train", "adamw", "lion", "--steps", "3", "-o", str(figure)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "MLP 64-32-10 on scikit-learn's digits, full batch, float32, 3 steps"
    assert lines[2].startswith("  adamw ") and "same losses (max rel. difference" in lines[2]
    assert lines[3].endswith("torch.optim has no lion")
    assert figure.read_bytes().startswith(b"\x89PNG")
    result = runner.invoke(cli.main, ["train", "adamww"])
    assert result.exit_code == 2 and "closest: 'adamw'" in result.output


def test_missing_scikit_learn_is_one_line(training, runner, monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "sklearn", None)  # `import sklearn...` raises ImportError
    result = runner.invoke(cli.main, ["train"])
    assert result.exit_code != 0 and result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip().splitlines() == [
        'symopt: training needs torch and scikit-learn (sklearn is missing): pip install "symopt-toolkit[train]"']


def test_export_counts_the_training_figure_as_its_own(tmp_path):
    """`symopt export derivations/` goes on without --force when the loss curves are there."""
    (tmp_path / "adam.md").write_text(export.GENERATED + "\n")
    (tmp_path / "training").mkdir()
    (tmp_path / "training" / "loss-curves.png").write_bytes(b"png")
    assert export._own(tmp_path) == []
    (tmp_path / "other").mkdir()
    assert export._own(tmp_path) == ["other"]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_after_a_second(training, monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    quick = training.Progress(3, "training", after=1.0)
    for _ in range(3):
        quick()
    quick.close()
    assert terminal.getvalue() == ""  # took less than a second: no bar
    slow = training.Progress(3, "training", after=0.0)
    for _ in range(3):
        slow()
    slow.close()
    assert "training" in terminal.getvalue() and "100%" in terminal.getvalue()
