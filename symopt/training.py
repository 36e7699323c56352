"""A real training run: a small MLP on scikit-learn's bundled digits (no download).

The same model, from the same initialisation, trained full-batch with :class:`symopt.torch.Optimizer`
and with torch.optim's class of the same rule, gives the same losses step for step; and the loss
curves of several rules side by side (``symopt train``, the figure in ``derivations/training/``).

torch and scikit-learn are optional extras (``pip install "symopt-toolkit[train]"``), imported here.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import time
from collections.abc import Callable

from symopt.errors import SymoptError

INSTALL = 'pip install "symopt-toolkit[train]"'
FIGURE = "training/loss-curves.png"  # in derivations/ (symopt.export.TRAINING is its folder)
RULES = ("adam", "adamw", "lion", "momentum")
# Hyperparameters of the figure's runs: a learning rate each rule trains with (Lion's step is
# lr·sign(...), so it takes a smaller one, as its paper advises).
HYPER = {"adam": dict(lr=1e-2), "adamw": dict(lr=1e-2, weight_decay=1e-2), "lion": dict(lr=3e-3),
         "momentum": dict(lr=0.1, momentum=0.9)}


def require():
    """torch and scikit-learn, or a one-line error saying how to install them."""
    try:
        import sklearn.datasets  # noqa: F401
        import torch
    except ImportError as exc:
        missing = (exc.name or "a module").split(".")[0]
        raise SymoptError(f"training needs torch and scikit-learn ({missing} is missing): {INSTALL}") from None
    return torch


def digits(dtype=None):
    """The 1,797 8×8 digits as ``(inputs, labels)`` tensors, inputs scaled to [0, 1]."""
    torch = require()
    from sklearn.datasets import load_digits

    data = load_digits()
    inputs = torch.tensor(data.data / 16.0, dtype=dtype or torch.get_default_dtype())
    return inputs, torch.tensor(data.target, dtype=torch.long)


def mlp(seed: int = 0, hidden: int = 32, dtype=None):
    """64 → hidden → 10 with a tanh, its weights drawn from ``seed``."""
    torch = require()
    generator = torch.random.fork_rng()
    with generator:
        torch.manual_seed(seed)
        return torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.Tanh(),
                                   torch.nn.Linear(hidden, 10)).to(dtype or torch.get_default_dtype())


def train(model, optimizer, data, steps: int, tick: Callable[[], None] | None = None) -> list[float]:
    """Full-batch training: the cross-entropy loss before each step."""
    torch = require()
    inputs, labels = data
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if tick is not None:
            tick()
    return losses


def symopt_optimizer(model, rule, **hyper):
    from symopt.torch import Optimizer

    return Optimizer(model.parameters(), rule, **hyper)


def torch_optimizer(model, rule, **hyper):
    """torch.optim's class of ``rule`` (:attr:`Rule.torch`), with its keywords (see
    :func:`symopt.verify.torch_arguments`)."""
    torch = require()
    from symopt.torch import resolve
    from symopt.verify import torch_arguments

    rule = resolve(rule)
    arguments = torch_arguments(rule, hyper)
    if isinstance(arguments, str):
        raise SymoptError(arguments)
    cls = getattr(torch.optim, rule.torch)
    single = {"foreach": False} if "foreach" in inspect.signature(cls).parameters else {}  # SparseAdam has none
    optimizer = cls(model.parameters(), **arguments, **single)
    if rule.sparse:  # its class takes sparse gradients only: each dense one, as touching every element
        from symopt.verify import touching_every_element

        def sparse(opt, args, kwargs):
            for group in opt.param_groups:
                for p in group["params"]:
                    if p.grad is not None and not p.grad.is_sparse:
                        p.grad = touching_every_element(p.grad)

        optimizer.register_step_pre_hook(sparse)
    return optimizer


@contextlib.contextmanager
def one_thread():
    """torch on one thread for the block: a model this small trains fastest so (and on a busy
    machine several threads spin against each other)."""
    torch = require()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def side_by_side(rule="adamw", steps: int = 100, seed: int = 0, dtype=None, **hyper) -> tuple[list[float], list[float]]:
    """The losses of :class:`symopt.torch.Optimizer` and of torch.optim's class of ``rule``, each
    training the same model from the same initialisation on the digits."""
    data = digits(dtype)
    ours, theirs = mlp(seed, dtype=dtype), mlp(seed, dtype=dtype)
    with one_thread():
        return (train(ours, symopt_optimizer(ours, rule, **hyper), data, steps),
                train(theirs, torch_optimizer(theirs, rule, **hyper), data, steps))


# Two float32 trainings that differ only in rounding drift apart: each step's loss is compared
# relative to a bound that grows with the step, GROWTH·u·t (u = 2⁻²⁴), u·t being how a running sum
# of t rounded terms grows. Not a proof for a whole network; an honest scale for "the same run".
GROWTH = 16


def loss_bound(t: int, u: float = 2.0**-24) -> float:
    """The relative difference allowed between two float32 runs' losses at step ``t``."""
    return GROWTH * u * t


def disagreement(ours: list[float], theirs: list[float]) -> tuple[float, int | None]:
    """The largest relative difference of the losses, and the first step beyond :func:`loss_bound`."""
    worst, first = 0.0, None
    for t, (a, b) in enumerate(zip(ours, theirs), start=1):
        rel = abs(a - b) / abs(b) if b else abs(a - b)
        worst = max(worst, rel)
        if first is None and not rel <= loss_bound(t):
            first = t
    return worst, first


def loss_curves(rules=RULES, steps: int = 200, seed: int = 0, tick: Callable[[], None] | None = None,
                against_torch: bool = True) -> tuple[dict[str, list[float]], dict[str, list[float] | str]]:
    """Each rule's float32 losses with :class:`symopt.torch.Optimizer` and :data:`HYPER`, from the
    same initialisation; and, where torch.optim has the rule, its losses (else why not)."""
    torch = require()
    data = digits(torch.float32)
    curves, torch_curves = {}, {}
    with one_thread():
        _loss_curves(rules, steps, seed, tick, against_torch, data, curves, torch_curves)
    return curves, torch_curves


def _loss_curves(rules, steps, seed, tick, against_torch, data, curves, torch_curves) -> None:
    torch = require()
    from symopt.torch import resolve
    from symopt.verify import torch_arguments

    for name in rules:
        hyper = HYPER.get(resolve(name).name, {})  # a spec, adam(amsgrad=True), trains as its rule does
        model = mlp(seed, dtype=torch.float32)
        curves[name] = train(model, symopt_optimizer(model, name, **hyper), data, steps, tick)
        if not against_torch:
            continue
        arguments = torch_arguments(resolve(name), hyper)
        if isinstance(arguments, str):
            torch_curves[name] = arguments
            continue
        model = mlp(seed, dtype=torch.float32)
        torch_curves[name] = train(model, torch_optimizer(model, name, **hyper), data, steps, tick)


def figure(curves: dict[str, list[float]], fmt: str = "png") -> bytes:
    """The loss curves as a PNG, SVG or PDF file's bytes (``fmt``; matplotlib's Agg canvas, no display)."""
    from symopt.plot import encode, require_matplotlib

    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=100, layout="tight")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, losses in curves.items():
        settings = ", ".join(f"{k}={v:g}" for k, v in HYPER.get(name, {}).items())
        ax.plot(range(1, len(losses) + 1), losses, label=f"{name} ({settings})" if settings else name)
    ax.set_yscale("log")
    ax.set_xlabel("step (full batch)")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title("symopt.torch.Optimizer: MLP 64-32-10 on the digits, float32")
    ax.legend()
    return encode(fig, fmt)


class Progress:
    """A click progress bar that appears only once the work has taken longer than ``after`` seconds."""

    def __init__(self, total: int, label: str, after: float = 1.0):
        self.total, self.label, self.after = total, label, after
        self.done, self.start, self.bar = 0, time.perf_counter(), None

    def __call__(self) -> None:
        import click

        self.done += 1
        if self.bar is None and time.perf_counter() - self.start > self.after and sys.stderr.isatty():
            self.bar = click.progressbar(length=self.total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
            self.bar.update(self.done)
        elif self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
