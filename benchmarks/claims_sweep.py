"""The sweeps behind the note's statuses, wider than the suite and the documents can afford.

The documents (derivations/optimization.md, lazy-rich.md, coupling.md) run each sweep on a few seeds;
this script runs the same functions over more seeds, step counts (the measurement window) and initial
values, and prints what it finds, so that a status "wrong" can be seen to survive a wider sweep and a
"contested" one to stay contested. Not run in CI (minutes); run it by hand:

    python benchmarks/claims_sweep.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import time

import symopt
from symopt.derive import coupling, lazy_rich


def lazy_rich_sweep(seeds: int) -> None:
    sgd, adam = symopt.get("sgd"), symopt.get("adam")
    print(f"lazy-rich: the note's 'SGD rich, Adam lazy', minibatch gradients, seeds 0 to {seeds - 1}")
    for steps in (1000, lazy_rich.STEPS, 10_000):
        holds = {alpha: 0 for alpha in lazy_rich.SCALES}
        for seed in range(seeds):
            a = lazy_rich.simulate(sgd, steps=steps, seed=seed, batch=lazy_rich.BATCH)
            b = lazy_rich.simulate(adam, steps=steps, seed=seed, batch=lazy_rich.BATCH)
            for x, y in zip(a, b):
                holds[x.scale] += lazy_rich.regime(x) == "rich" and lazy_rich.regime(y) == "lazy"
            if seed == 0:
                shown = "; ".join(f"alpha {x.scale:g}: sgd {lazy_rich.regime(x)} ({x.movement:.2g}), adam "
                                  f"{lazy_rich.regime(y)} ({y.movement:.2g})" for x, y in zip(a, b))
                print(f"  {steps} steps, seed 0: {shown}")
        print(f"  {steps} steps: the claim holds in " + ", ".join(f"{n} of {seeds} at alpha {a:g}" for a, n in holds.items()))


def spike_sweep(seeds: int) -> None:
    adam = symopt.get("adam")
    print(f"spike: adam's step at a spike and after it, seeds 0 to {seeds - 1}")
    for size in (3.0, 10.0, 31.0, 100.0):
        found = [coupling.spike(adam, size, seed) for seed in range(seeds)]
        print(f"  spike {size:g}x: at it {min(f['at'] for f in found):.3g} to {max(f['at'] for f in found):.3g}x typical; "
              f"after it {min(f['after'][0] for f in found):.2f} to {max(f['after'][1] for f in found):.2f}x")


def coupling_sweep(seeds: int) -> None:
    adam = symopt.get("adam")
    case = coupling.OUTSIDE[0]
    print("coupling: adam, decay 10x the gradient, measured lambda_eff/lambda (derived 1000)")
    for seed in range(min(seeds, 3)):
        for warmup, steps in ((250, 1250), (500, 1500), (1000, 3000), (2000, 6000)):
            got = coupling.simulate(adam, warmup=warmup, steps=steps, seed=seed, **case)
            print(f"  seed {seed}, window {warmup} to {steps}: {got.measured[0]:.4g}")
        for theta0 in (0.1, 0.3, 1.0, 3.0, 10.0):
            got = coupling.simulate(adam, theta0=theta0, seed=seed, **case)
            print(f"  seed {seed}, theta0 {theta0:g}: {got.measured[0]:.4g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    for sweep in (lazy_rich_sweep, spike_sweep, coupling_sweep):
        start = time.perf_counter()
        sweep(args.seeds)
        print(f"  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
