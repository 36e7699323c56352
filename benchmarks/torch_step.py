"""The optimizer step on a GPT-2-shaped parameter list: symopt's group step against torch.optim.

The parameter list is GPT-2's, scaled to this machine: token and position embeddings, then per layer
two layer norms (weight, bias), the attention's fused QKV and output projections and the MLP's two
projections (weights and biases), then the final layer norm. The default, 6 layers of width 384 with
a vocabulary of 8192 and 512 positions, is 13.99 M float32 parameters in 76 tensors.

Compared, per rule (default: AdamW, Adam, SGD with momentum), every step from the same parameters,
gradients and hyperparameters:
  symopt group   symopt.backends.group.GroupKernel stepping the param group of a symopt.torch.Optimizer
                 on the tensors' memory, as its step will (group_step below: the lines the optimizer
                 runs per group, state in the optimizer's dicts, one step counter per parameter); on
                 more than one thread, on torch's own OpenMP threads where it reaches them
  symopt pool    the same on the group step's own threads (a thread pool of symopt.backends.group, as
                 where torch's OpenMP runtime is not reached); only with --pool
  symopt torch   symopt.torch.Optimizer's step as it is (generated torch code, one tensor at a time);
                 only with --current (it is 4-18x slower and would double the run)
  numba tensors  rule.kernel("numba") stepping one tensor after the other on their .numpy() views
                 (numba's parallel loop, on its OpenMP threads); only with --per-tensor: those threads
                 spin after each loop and slow torch's steps in the same process (compare torch fused's
                 milliseconds with and without it)
  torch fused    torch.optim.<Rule>(fused=True)
  torch foreach  torch.optim.<Rule>(foreach=True)
  torch for-loop torch.optim.<Rule>(foreach=False)

Paired rounds: in each round every implementation takes one step, in the listed order one round and
the reverse the next, so that a change in the machine's load (it is shared) falls on all of them
alike. The figure of merit is the median over rounds of (symopt's step / torch fused's step in the
same round), with a 95% interval for that median from the order statistics (distribution-free: the
ranks a binomial(n, 1/2) puts 2.5% outside on each side). The target (issue 19): at most 1.0 on one
thread and on torch's default number of threads. The load average is printed at the start and after
each number of threads (the machine is shared: a busy one mostly measures the load).

Before timing, symopt's group step and torch's for-loop step take three steps from the same start,
on the list in float32 and in float64: the largest difference relative to the largest parameter is
printed (rounding: in float32 ~1e-7, more for Adam, whose L2 term g + λθ cancels in places).

Usage: python benchmarks/torch_step.py [--rounds N] [--threads 1 2] [--rules adamw adam momentum]
                                       [--layers 6] [--width 384] [--vocab 8192] [--positions 512]
                                       [--current] [--per-tensor] [--pool]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch

import symopt
import symopt.torch
from symopt.backends import group as group_module
from symopt.backends.group import GroupKernel
from symopt.verify import torch_arguments

RULES = ("adamw", "adam", "momentum")
# torch's defaults for AdamW, its Adam with L2 decay, SGD with heavy-ball momentum and L2 decay.
HYPER = {
    "adamw": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
    "adam": {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
    "momentum": {"lr": 1e-3, "momentum": 0.9, "weight_decay": 1e-2},
}


def gpt2_shapes(layers: int, width: int, vocab: int, positions: int) -> list[tuple[int, ...]]:
    """The parameter shapes of a GPT-2 (Radford et al. 2019; Hugging Face's ``GPT2LMHeadModel``, whose
    output layer shares the token embedding), in the model's order."""
    shapes = [(vocab, width), (positions, width)]
    for _ in range(layers):
        shapes += [(width,), (width,),                      # ln_1
                   (width, 3 * width), (3 * width,),        # attn.c_attn (queries, keys, values)
                   (width, width), (width,),                # attn.c_proj
                   (width,), (width,),                      # ln_2
                   (width, 4 * width), (4 * width,),        # mlp.c_fc
                   (4 * width, width), (width,)]            # mlp.c_proj
    return shapes + [(width,), (width,)]                    # ln_f


def group_step(optimizer, kernel: GroupKernel) -> None:
    """What ``symopt.torch.Optimizer`` runs per param group with the group kernel: the parameters
    with a gradient, their state dicts (filled on the first step), one step counter each."""
    rule = kernel.rule
    threads = torch.get_num_threads()
    for group in optimizer.param_groups:
        params = [p for p in group["params"] if p.grad is not None]
        states = [optimizer.state[p] for p in params]
        steps = [state.get("step", 0) + 1 for state in states]
        kernel.step(params, [p.grad for p in params], states, steps, threads=threads,
                    **{h.name: group[h.name] for h in rule.hypers})
        for state, t in zip(states, steps):
            state["step"] = t


def machine() -> str:
    """The time and the machine's load average (1, 5 and 15 minutes): the two-thread figures depend on
    what else runs on the cores."""
    return f"{time.strftime('%H:%M:%S UTC', time.gmtime())}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


def on_own_threads(step):
    """``step`` with the group step's own threads, not torch's OpenMP team (for the comparison)."""
    def run():
        saved = group_module._TEAM[:]
        group_module._TEAM[:] = [None]
        try:
            step()
        finally:
            group_module._TEAM[:] = saved

    return run


def parameters(shapes, seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=generator) * 0.02 for s in shapes]
    grads = [torch.randn(s, generator=generator) * 1e-3 for s in shapes]
    return params, grads


def per_tensor(rule, leaves: list, hyper: dict):
    """The step of ``rule.kernel("numba")`` over the tensors one by one, in place."""
    kernel = rule.kernel("numba")
    arrays = [(p.detach().numpy(), p.grad.numpy()) for p in leaves]
    states = [kernel.init(a, **hyper) for a, _ in arrays]
    t = [0]

    def step():
        t[0] += 1
        for (a, g), state in zip(arrays, states):
            kernel.step(a, g, state, t[0], inplace=True, **hyper)

    return step


def contenders(name: str, shapes, seed: int, current: bool, tensors: bool, pool: bool = False) -> dict:
    """Each implementation's step, on its own copy of the same parameters and gradients."""
    rule = symopt.get(name)
    hyper = HYPER[name]
    params, grads = parameters(shapes, seed)

    def leaves():
        made = [torch.nn.Parameter(p.clone()) for p in params]
        for p, g in zip(made, grads):
            p.grad = g.clone()
        return made

    steps = {}
    optimizer = symopt.torch.Optimizer(leaves(), rule, **hyper)
    kernel = GroupKernel(rule)
    steps["symopt group"] = lambda: group_step(optimizer, kernel)
    if pool:
        own, own_kernel = symopt.torch.Optimizer(leaves(), rule, **hyper), GroupKernel(rule)
        steps["symopt pool"] = on_own_threads(lambda: group_step(own, own_kernel))
    if current:
        steps["symopt torch"] = symopt.torch.Optimizer(leaves(), rule, **hyper).step
    if tensors:
        steps["numba tensors"] = per_tensor(rule, leaves(), hyper)
    arguments = torch_arguments(rule, hyper)
    cls = getattr(torch.optim, rule.torch)
    for label, mode in [("torch fused", {"fused": True}), ("torch foreach", {"foreach": True}),
                        ("torch for-loop", {"foreach": False})]:
        steps[label] = cls(leaves(), **arguments, **mode).step
    return steps


def agreement(name: str, shapes, seed: int, dtype, steps: int = 3) -> float:
    """The largest |θ_symopt - θ_torch| / max|θ| after ``steps`` steps of the group kernel and of torch's
    for-loop step from the same start, in ``dtype``."""
    rule = symopt.get(name)
    params, grads = parameters(shapes, seed)
    params, grads = [p.to(dtype) for p in params], [g.to(dtype) for g in grads]
    ours = [torch.nn.Parameter(p.clone()) for p in params]
    theirs = [torch.nn.Parameter(p.clone()) for p in params]
    for a, b, g in zip(ours, theirs, grads):
        a.grad, b.grad = g.clone(), g.clone()
    optimizer = symopt.torch.Optimizer(ours, rule, **HYPER[name])
    kernel = GroupKernel(rule)
    reference = getattr(torch.optim, rule.torch)(theirs, **torch_arguments(rule, HYPER[name]), foreach=False)
    for _ in range(steps):
        group_step(optimizer, kernel)
        reference.step()
    largest = max(float(b.detach().abs().max()) for b in theirs)
    return max(float((a.detach() - b.detach()).abs().max()) for a, b in zip(ours, theirs)) / largest


def timed(steps: dict, rounds: int) -> dict[str, list[float]]:
    """Seconds of each step in each round, after two warm-up steps each (the first compiles)."""
    for step in steps.values():
        step()
        step()
    times = {label: [] for label in steps}
    order = list(steps.items())
    for round_ in range(rounds):
        for label, step in order if round_ % 2 == 0 else reversed(order):
            start = time.perf_counter()
            step()
            times[label].append(time.perf_counter() - start)
    return times


def median_interval(ratios: list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """The median of ``ratios`` and a distribution-free interval for it: the order statistics
    x_(j) and x_(n+1-j) with the largest j for which binomial(n, 1/2) puts at most (1 - confidence)/2
    below j (the whole range when n is too small for that)."""
    ordered = sorted(ratios)
    n = len(ordered)
    tail, j = 0.0, 0
    while True:
        tail += math.comb(n, j) / 2**n
        if tail > (1 - confidence) / 2:
            break
        j += 1
    j = max(j, 1)
    return statistics.median(ordered), ordered[j - 1], ordered[n - j]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="thread counts to run (default: 1 and torch's default)")
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=list(HYPER))
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--width", type=int, default=384)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--positions", type=int, default=512)
    parser.add_argument("--current", action="store_true", help="also time symopt.torch.Optimizer's own step")
    parser.add_argument("--per-tensor", action="store_true", help="also time rule.kernel('numba') tensor by tensor")
    parser.add_argument("--pool", action="store_true", help="also time the group step on its own threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    default_threads = torch.get_num_threads()
    threads = args.threads or sorted({1, default_threads})
    shapes = gpt2_shapes(args.layers, args.width, args.vocab, args.positions)
    count = sum(math.prod(s) for s in shapes)
    print(f"GPT-2-shaped list: {count / 1e6:.2f} M float32 parameters in {len(shapes)} tensors "
          f"({args.layers} layers, width {args.width}, vocabulary {args.vocab}, {args.positions} positions); "
          f"torch {torch.__version__}, {args.rounds} paired rounds; {machine()}")
    for name in args.rules:
        print(f"{name}: largest difference from torch's for-loop step after 3 steps, relative to max|θ|: "
              + ", ".join(f"{agreement(name, shapes, args.seed, dtype):.1e} in {str(dtype)[6:]}"
                          for dtype in (torch.float32, torch.float64)))
    print()
    print(f"{'rule':9} {'threads':>7} {'implementation':15} {'median ms':>9} {'/ fused (median)':>16} {'95% interval':>15}")
    for n_threads in threads:
        torch.set_num_threads(n_threads)
        for name in args.rules:
            times = timed(contenders(name, shapes, args.seed, args.current, args.per_tensor, args.pool), args.rounds)
            print_rows(name, n_threads, times, 15)
        print(f"  ({n_threads} thread{'s' if n_threads > 1 else ''} done at {machine()})")
    torch.set_num_threads(default_threads)


def print_rows(name: str, n_threads: int, times: dict, width: int) -> None:
    """One table row per implementation: its median step, and the median with its 95% interval of
    its ratio to torch's fused step in the same round."""
    fused = times["torch fused"]
    for label, kept in times.items():
        median, low, high = median_interval([a / b for a, b in zip(kept, fused)])
        interval = "" if label == "torch fused" else f"{low:.2f}-{high:.2f}"
        print(f"{name:9} {n_threads:>7} {label:{width}} {statistics.median(kept) * 1e3:9.2f} {median:16.2f} {interval:>15}")


if __name__ == "__main__":
    main()
