"""Step time of the generated kernels on float32 parameters, against baselines in the same run.

Compared, per rule (adam, adamw, momentum, lion) and size (10^6 and 10^7 parameters):
  reference (in place)  the hand-written NumPy step of symopt.reference, inplace=True: the baseline
  kernel (in place)     the NumPy kernel compiled from the rule, writing into params and state
  kernel (new arrays)   the same kernel returning new arrays (inputs untouched), its default
  numba (in place)      rule.kernel("numba"): one fused parallel loop, writing into params and state
  numba (new arrays)    the same, returning new arrays
  torch foreach/fused   torch.optim with foreach=True and with fused=True (Adam, AdamW, SGD with
                        momentum; torch has no Lion, whose traffic, 20 bytes a parameter, is SGD
                        with momentum's: Lion is compared with fused SGD)

torch and numba run on the same number of threads (--threads, default: every core); NumPy runs on one.
Each row prints the bytes a parameter moves (reads + writes of θ, g and the array states, the
floor of any implementation) and the bandwidth that reaches. First-call compile times of the numba
backend are measured in fresh processes: one with an empty cache folder, one after it.

Targets: the NumPy kernel within 1.3x of the in-place hand-written step (issue 3); the numba kernel
in place at or under torch's fused step at 10^7 parameters (issue 13). That one is judged on the
median over rounds of numba's time / torch's time in the same round (both move memory at about what
the machine delivers, so the machine's drift between rounds is larger than their difference), with
a 95% bootstrap interval: "under" when the whole interval is below 1.

Usage: python benchmarks/kernel_speed.py [--sizes 1e6 1e7] [--repeat N] [--threads N] [--rules adam ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import symopt
from symopt import reference
from symopt.kernel import empty_aligned

TARGET = 1.3
RULES = ("adam", "adamw", "momentum", "lion")
HYPER = {
    "adam": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2),
    "adamw": dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2),
    "momentum": dict(lr=1e-3, momentum=0.9, weight_decay=1e-2),
    "lion": dict(lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=1e-2),
}


def timed(steps: list, repeat: int) -> list[list[float]]:
    """Seconds of each ``step()`` in each of ``repeat`` rounds, after two warm-up calls.

    The steps take turns, one call each per round, in the listed order one round and the reverse
    order the next: a change in the machine's load (it is shared) falls on all of them alike, and
    none always runs right after the same neighbour.
    """
    for step in steps:
        step()
        step()
    times: list[list[float]] = [[] for _ in steps]
    for round_ in range(repeat):
        order = list(zip(steps, times))
        for step, kept in order if round_ % 2 == 0 else reversed(order):
            start = time.perf_counter()
            step()
            kept.append(time.perf_counter() - start)
    return times


def paired_ratio(numerator: list[float], denominator: list[float], seed: int = 0) -> tuple[float, float, float]:
    """The median over rounds of ``numerator[i] / denominator[i]`` (two steps timed in the same
    round, so under the same load), and a 95% bootstrap interval of that median."""
    ratios = np.asarray(numerator) / np.asarray(denominator)
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(ratios, size=(2000, ratios.size)), axis=1)
    low, high = np.percentile(medians, [2.5, 97.5])
    return float(np.median(ratios)), float(low), float(high)


def bytes_per_parameter(name: str, itemsize: int = 4) -> int:
    """Reads of θ, g and each array state, writes of θ and each array state."""
    arrays = len(symopt.get(name).arrays)
    return (2 + arrays + 1 + arrays) * itemsize


def torch_optimizer(name: str, params, grads, mode: str):
    import torch

    hyper = HYPER[name]
    p = torch.tensor(params.copy(), requires_grad=True)
    p.grad = torch.tensor(grads.copy())
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return cls([p], lr=hyper["lr"], betas=(hyper["beta1"], hyper["beta2"]), eps=hyper["eps"],
                   weight_decay=hyper["weight_decay"], **{mode: True})
    return torch.optim.SGD([p], lr=1e-3, momentum=0.9, weight_decay=1e-2, **{mode: True})


def cases(name: str, n: int, rng, numba: bool):
    params = rng.standard_normal(n).astype(np.float32)
    grads = rng.standard_normal(n).astype(np.float32)
    hyper = HYPER[name]
    kernel = symopt.get(name).kernel()

    ref_params, ref_state = params.copy(), {}
    reference.REFERENCES[name](ref_params, grads, ref_state, 1, inplace=True, **hyper)  # makes its state
    yield "reference (in place)", lambda: reference.REFERENCES[name](ref_params, grads, ref_state, 10, inplace=True, **hyper)

    k_params, k_state = params.copy(), kernel.init(params)
    yield "kernel (in place)", lambda: kernel.step(k_params, grads, k_state, 10, inplace=True, **hyper)
    n_state = kernel.init(params)
    yield "kernel (new arrays)", lambda: kernel.step(params, grads, n_state, 10, **hyper)

    if numba:
        fused = symopt.get(name).kernel("numba")
        f_params, f_state = params.copy(), fused.init(params)
        yield "numba (in place)", lambda: fused.step(f_params, grads, f_state, 10, inplace=True, **hyper)
        g_state = fused.init(params)
        yield "numba (new arrays)", lambda: fused.step(params, grads, g_state, 10, **hyper)
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    for mode in ("foreach", "fused"):
        yield f"torch {mode}" + (" (SGD)" if name == "lion" else ""), torch_optimizer(name, params, grads, mode).step


def head_to_head(name: str, n: int, rng, repeat: int) -> None:
    """The issue-13 target: the numba step in place against torch's fused step, timed in alternation
    with nothing else between them, judged on the median of the paired ratios (see the module
    docstring). The numba step runs on arrays that start a cache line, as torch's tensors do
    (:func:`symopt.kernel.empty_aligned`), and, for the difference that makes, on arrays where
    NumPy places them (16 bytes into a line)."""
    hyper = HYPER[name]
    params = rng.standard_normal(n).astype(np.float32)
    grads = rng.standard_normal(n).astype(np.float32)
    fused = symopt.get(name).kernel("numba")
    aligned = [empty_aligned(a.shape, a.dtype, a) for a in (params, grads)]
    states = [fused.init(params), fused.init(params)]  # init's arrays start a cache line
    placed = [params.copy(), grads, {k: v.copy() for k, v in states[1].items()}]  # NumPy's placement
    labels = ["numba, aligned", "numba, NumPy's placement", "torch fused" + (" (SGD)" if name == "lion" else "")]
    steps = [lambda: fused.step(aligned[0], aligned[1], states[0], 10, inplace=True, **hyper),
             lambda: fused.step(placed[0], placed[1], placed[2], 10, inplace=True, **hyper),
             torch_optimizer(name, params, grads, "fused").step]
    times = timed(steps, repeat)
    print(f"{name} at {n:.0e}, {repeat} rounds of these alone: median step {', '.join(f'{label} {statistics.median(kept) * 1e3:.2f}ms' for label, kept in zip(labels, times))}")
    for label, kept in zip(labels[:2], times[:2]):
        ratio, low, high = paired_ratio(kept, times[2])
        verdict = "under" if high < 1 else "at or under" if ratio <= 1 else "over"
        print(f"  {label:25} / {labels[2]}: median paired ratio {ratio:.3f}x (95% interval {low:.3f}-{high:.3f}): {verdict}")


FIRST_CALL = """
import time, numba, numpy as np, symopt
rule = symopt.get({name!r})
start = time.perf_counter()
kernel = rule.kernel({backend!r})
params = np.ones(1000, np.float32)
kernel.step(params, params.copy(), kernel.init(params), 10, inplace=True)
print(time.perf_counter() - start)
"""


def first_calls(name: str) -> tuple[float, float, float]:
    """Seconds from ``rule.kernel("numba")`` (numba and symopt imported) to the end of a first
    in-place float32 step, in a fresh process: with an empty cache
    folder (numba compiles), then again (numba loads the machine code); and the same for the NumPy
    kernel, whose time is SymPy's share (the specialisation, the scalars' functions)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "SYMOPT_CACHE_DIR": cache}
        times = [float(subprocess.run([sys.executable, "-c", FIRST_CALL.format(name=name, backend=backend)], env=env,
                                      check=True, capture_output=True, text=True).stdout)
                 for backend in ("numba", "numba", "numpy")]
    return times[0], times[1], times[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--repeat", type=int, default=0, help="timed calls per case (default: by size)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of torch and numba")
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=RULES)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    try:
        import torch

        torch.set_num_threads(args.threads)
        print(f"torch {torch.__version__}, {args.threads} threads")
    except ImportError:
        print("torch not installed: its rows are left out")
    try:
        import numba

        numba.set_num_threads(args.threads)
        print(f"numba {numba.__version__}, {args.threads} threads")
    except ImportError:
        numba = None
        print("numba not installed: its rows are left out")
    print(f"numpy {np.__version__} (1 thread); float32; best of N rounds (median in brackets)\n")
    print(f"{'rule':8} {'params':>7}  {'implementation':22} {'best':>9} {'median':>10}  {'/ reference':>11}"
          f"  {'/ torch fused':>13}  {'B/param':>7}  {'GB/s':>6}")
    for name in args.rules:
        traffic = bytes_per_parameter(name)
        for size in args.sizes:
            n = int(size)
            repeat = args.repeat or (60 if n <= 1_000_000 else 30)
            labels, steps = zip(*cases(name, n, rng, numba is not None))
            times = dict(zip(labels, timed(list(steps), repeat)))
            baseline = min(times["reference (in place)"])
            fused = next((label for label in labels if label.startswith("torch fused")), None)
            for label, kept in times.items():
                best, median = min(kept), statistics.median(kept)
                mark = ""
                if label.startswith("kernel"):
                    mark = "  ok" if best / baseline <= TARGET else f"  over {TARGET}x"
                versus = f"{best / min(times[fused]):12.2f}x" if fused else f"{'-':>13}"
                print(f"{name:8} {n:7.0e}  {label:22} {best * 1e3:7.2f}ms ({median * 1e3:6.2f}ms)  "
                      f"{best / baseline:10.2f}x  {versus}  {traffic:7d}  {traffic * n / best / 1e9:6.1f}{mark}")
            print()
            if numba is not None and fused:
                head_to_head(name, n, rng, 2 * repeat)
                print()
    if numba is not None:
        print("first call (fresh process: kernel, init and one in-place step of 10^3 float32):")
        for name in args.rules:
            cold, warm, numpy_kernel = first_calls(name)
            print(f"  {name:8} numba, empty cache {cold:5.2f}s; numba, cached {warm:5.2f}s; NumPy kernel {numpy_kernel:5.2f}s")


if __name__ == "__main__":
    main()
