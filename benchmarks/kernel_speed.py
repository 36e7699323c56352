"""Step time of the generated Adam/AdamW kernels on float32 parameters, against baselines in the same run.

Compared, per rule and size (10^6 and 10^7 parameters):
  reference (in place)  the hand-written NumPy step of symopt.reference, inplace=True: the baseline
  kernel (in place)     the kernel compiled from the rule, writing into params and state
  kernel (new arrays)   the same kernel returning new arrays (inputs untouched), its default
  torch foreach/fused   torch.optim.Adam/AdamW with foreach=True and with fused=True, if torch is installed

Target (issue 3): the generated kernel within 1.3x of the in-place hand-written NumPy step.

Usage: python benchmarks/kernel_speed.py [--sizes 1e6 1e7] [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import symopt
from symopt import reference

TARGET = 1.3


def timed(step, repeat: int) -> tuple[float, float]:
    """Best and median seconds of ``step()`` over ``repeat`` calls, after two warm-up calls."""
    step()
    step()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def cases(name: str, n: int, rng):
    params = rng.standard_normal(n).astype(np.float32)
    grads = rng.standard_normal(n).astype(np.float32)
    hyper = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2)
    kernel = symopt.get(name).kernel()

    ref_state = {"exp_avg": np.zeros_like(params), "exp_avg_sq": np.zeros_like(params)}
    ref_params = params.copy()
    yield "reference (in place)", lambda: reference.REFERENCES[name](ref_params, grads, ref_state, 10, inplace=True, **hyper)

    k_params, k_state = params.copy(), kernel.init(params)
    yield "kernel (in place)", lambda: kernel.step(k_params, grads, k_state, 10, inplace=True, **hyper)

    n_state = kernel.init(params)
    yield "kernel (new arrays)", lambda: kernel.step(params, grads, n_state, 10, **hyper)

    try:
        import torch
    except ImportError:
        return
    torch_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    for mode in ("foreach", "fused"):
        p = torch.tensor(params.copy(), requires_grad=True)
        p.grad = torch.tensor(grads.copy())
        opt = torch_cls([p], lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, **{mode: True})
        yield f"torch {mode}", opt.step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--repeat", type=int, default=0, help="timed calls per case (default: by size)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    try:
        import torch

        torch.set_num_threads(1)  # NumPy's ufuncs run on one thread: compare like with like
        print(f"torch {torch.__version__}, 1 thread")
    except ImportError:
        print("torch not installed: its rows are left out")
    print(f"numpy {np.__version__}; float32; best of N calls (median in brackets)\n")
    print(f"{'rule':6} {'params':>7}  {'implementation':22} {'best':>9} {'median':>10}  {'/ reference':>11}")
    for name in ("adam", "adamw"):
        for size in args.sizes:
            n = int(size)
            repeat = args.repeat or (30 if n <= 1_000_000 else 7)
            baseline = None
            for label, step in cases(name, n, rng):
                best, median = timed(step, repeat)
                baseline = baseline or best
                ratio = best / baseline
                mark = ""
                if label.startswith("kernel"):
                    mark = "  ok" if ratio <= TARGET else f"  over {TARGET}x"
                print(f"{name:6} {n:7.0e}  {label:22} {best * 1e3:7.2f}ms ({median * 1e3:6.2f}ms)  {ratio:10.2f}x{mark}")
            print()


if __name__ == "__main__":
    main()
