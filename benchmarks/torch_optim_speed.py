"""The step of symopt.torch.optim's classes, as a user runs them, on a GPT-2-shaped parameter list.

``symopt.torch.optim.<Class>(params, fused=True)`` (each param group in one pass:
symopt.backends.group.GroupKernel, wired into ``_step_group``) and ``symopt.torch.Optimizer(params,
rule, fused=True)``, timed through their own ``step()`` (state dicts, step counts, checks included),
against torch.optim's fused, foreach and for-loop steps, in paired rounds; with ``--per-tensor`` also
the classes' default step (the generated torch code, one tensor at a time). The parameter list,
rounds, ratios and intervals are benchmarks/torch_step.py's (which times the group kernel alone).

With ``--bookkeeping``, what a step costs besides the pass: the classes' fused step and torch's on the
same 76 tensors with one element each (so that the pass is nothing), ``--steps`` steps each (200), in
alternating order, each after a sweep of 128 MB through the caches (as the real pass leaves them);
the minimum and median step of each, on one thread.

    python benchmarks/torch_optim_speed.py [--rounds 30] [--threads 1 2] [--rules adamw adam momentum]
                                           [--per-tensor] [--bookkeeping [--steps 200]]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch_step import HYPER, RULES, gpt2_shapes, machine, parameters, print_rows, timed

import symopt
import symopt.torch
from symopt.torch import optim
from symopt.verify import torch_arguments


def contenders(name: str, shapes, seed: int, per_tensor: bool) -> dict:
    """Each implementation's step, on its own copy of the same parameters and gradients."""
    rule = symopt.get(name)
    params, grads = parameters(shapes, seed)

    def leaves():
        made = [torch.nn.Parameter(p.clone()) for p in params]
        for p, g in zip(made, grads):
            p.grad = g.clone()
        return made

    arguments = torch_arguments(rule, HYPER[name])
    ours = getattr(optim, rule.torch)
    steps = {f"optim.{rule.torch} fused": ours(leaves(), **arguments, fused=True).step,
             "Optimizer fused": symopt.torch.Optimizer(leaves(), rule, fused=True, **HYPER[name]).step}
    if per_tensor:
        steps[f"optim.{rule.torch}"] = ours(leaves(), **arguments).step
    cls = getattr(torch.optim, rule.torch)
    for label, mode in [("torch fused", {"fused": True}), ("torch foreach", {"foreach": True}),
                        ("torch for-loop", {"foreach": False})]:
        steps[label] = cls(leaves(), **arguments, **mode).step
    return steps


def bookkeeping(name: str, shapes, steps: int) -> dict[str, list[float]]:
    """Seconds of each of ``steps`` steps of the class's fused step and torch's on one-element tensors
    (one per shape), in alternating order, each after a 128 MB sweep of the caches."""
    rule = symopt.get(name)
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(len(shapes), 2, generator=generator)

    def leaves():
        made = [torch.nn.Parameter(values[k, 0].clone().reshape(1)) for k in range(len(shapes))]
        for k, p in enumerate(made):
            p.grad = values[k, 1].clone().reshape(1)
        return made

    arguments = torch_arguments(rule, HYPER[name])
    contenders = {f"optim.{rule.torch} fused": getattr(optim, rule.torch)(leaves(), **arguments, fused=True).step,
                  "torch fused": getattr(torch.optim, rule.torch)(leaves(), **arguments, fused=True).step}
    sweep = torch.empty(32 << 20)
    for step in contenders.values():
        for _ in range(3):
            step()
    times = {label: [] for label in contenders}
    order = list(contenders.items())
    for k in range(steps):
        for label, step in order if k % 2 == 0 else reversed(order):
            sweep.add_(1.0)
            start = time.perf_counter()
            step()
            times[label].append(time.perf_counter() - start)
    return times


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="thread counts to run (default: 1 and torch's default)")
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=list(HYPER))
    parser.add_argument("--per-tensor", action="store_true", help="also time the classes' default step")
    parser.add_argument("--bookkeeping", action="store_true",
                        help="time the step on one-element tensors after a cache sweep, on one thread")
    parser.add_argument("--steps", type=int, default=200, help="steps of each with --bookkeeping")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    default_threads = torch.get_num_threads()
    shapes = gpt2_shapes(6, 384, 8192, 512)
    if args.bookkeeping:
        torch.set_num_threads(1)
        print(f"one step of {len(shapes)} one-element tensors after a 128 MB cache sweep, {args.steps} steps each, "
              f"one thread; torch {torch.__version__}")
        print(f"{'rule':9} {'implementation':22} {'min ms':>7} {'median ms':>9}")
        for name in args.rules:
            for label, kept in bookkeeping(name, shapes, args.steps).items():
                print(f"{name:9} {label:22} {min(kept) * 1e3:7.3f} {statistics.median(kept) * 1e3:9.3f}")
        torch.set_num_threads(default_threads)
        return
    print(f"GPT-2-shaped list: {sum(math.prod(s) for s in shapes) / 1e6:.2f} M float32 parameters in "
          f"{len(shapes)} tensors; torch {torch.__version__}, {args.rounds} paired rounds; {machine()}")
    print(f"{'rule':9} {'threads':>7} {'implementation':22} {'median ms':>9} {'/ fused (median)':>16} {'95% interval':>15}")
    for n_threads in args.threads or sorted({1, default_threads}):
        torch.set_num_threads(n_threads)
        for name in args.rules:
            times = timed(contenders(name, shapes, args.seed, args.per_tensor), args.rounds)
            print_rows(name, n_threads, times, 22)
        print(f"  ({n_threads} thread{'s' if n_threads > 1 else ''} done at {machine()})")
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
