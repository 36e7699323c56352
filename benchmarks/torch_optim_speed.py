"""The step of symopt.torch.optim's classes, as a user runs them, on a GPT-2-shaped parameter list.

``symopt.torch.optim.<Class>(params, fused=True)`` (each param group in one pass:
symopt.backends.group.GroupKernel, wired into ``_step_group``) and ``symopt.torch.Optimizer(params,
rule, fused=True)``, timed through their own ``step()`` (state dicts, step counts, checks included),
against torch.optim's fused, foreach and for-loop steps, in paired rounds; with ``--per-tensor`` also
the classes' default step (the generated torch code, one tensor at a time). The parameter list,
rounds, ratios and intervals are benchmarks/torch_step.py's (which times the group kernel alone).

    python benchmarks/torch_optim_speed.py [--rounds 30] [--threads 1 2] [--rules adamw adam momentum]
                                           [--per-tensor]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from torch_step import HYPER, RULES, gpt2_shapes, parameters, print_rows, timed

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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="thread counts to run (default: 1 and torch's default)")
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=list(HYPER))
    parser.add_argument("--per-tensor", action="store_true", help="also time the classes' default step")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    default_threads = torch.get_num_threads()
    shapes = gpt2_shapes(6, 384, 8192, 512)
    print(f"GPT-2-shaped list: {sum(math.prod(s) for s in shapes) / 1e6:.2f} M float32 parameters in "
          f"{len(shapes)} tensors; torch {torch.__version__}, {args.rounds} paired rounds")
    print(f"{'rule':9} {'threads':>7} {'implementation':22} {'median ms':>9} {'/ fused (median)':>16} {'95% interval':>15}")
    for n_threads in args.threads or sorted({1, default_threads}):
        torch.set_num_threads(n_threads)
        for name in args.rules:
            times = timed(contenders(name, shapes, args.seed, args.per_tensor), args.rounds)
            print_rows(name, n_threads, times, 22)
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
