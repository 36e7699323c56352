"""`symopt equiv X X` for every registered variant, under two hash seeds, timing each.

The full sweep behind the sampled reflexivity tests of tests/test_equiv.py: every structural variant
of every registered rule (read from the registry) against itself, in one subprocess per hash seed
(``PYTHONHASHSEED`` is fixed when Python starts), printing per variant the seconds the decision took,
its verdict and exit status under each seed, and whether the two seeds gave the same verdict, word
for word (the JSON of the verdict). It fails (exit 1) if any variant is not EQUIVALENT, takes longer
than the limit, or differs between the seeds.

    python benchmarks/equiv_sweep.py                      # every variant, seeds 0 and 12, 60 cases
    python benchmarks/equiv_sweep.py --examples 20 --rules adam muon

Times are wall-clock seconds on whatever else the machine is doing: noisy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

LIMIT = 30.0  # seconds a variant may take against itself


def worker(examples: int, names: list[str]) -> None:
    """One line of JSON per variant: label, seconds, verdict, exit status, digest of the verdict."""
    from symopt.equiv import equivalent
    from symopt.optimizers import get, label, rules, variants

    for name in rules():
        if names and name not in names:
            continue
        for options in variants(name):
            rule = get(name, **options)
            start = time.perf_counter()
            verdict = equivalent(rule, rule, examples=examples)
            seconds = time.perf_counter() - start
            data = json.dumps(verdict.as_dict(), sort_keys=True, default=str)
            print(json.dumps({"variant": label(rule), "seconds": round(seconds, 2), "verdict": verdict.kind,
                              "exit": verdict.exit_code, "digest": hashlib.sha256(data.encode()).hexdigest()[:12]}),
                  flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=60, help="generated cases per decision (the CLI's default)")
    parser.add_argument("--seeds", type=int, nargs=2, default=(0, 12), help="the two PYTHONHASHSEED values")
    parser.add_argument("--rules", nargs="*", default=[], help="only these rules (default: every registered one)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.examples, args.rules)
        return 0
    runs = {}
    for seed in args.seeds:
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        worker_ = subprocess.Popen([sys.executable, __file__, "--worker", "--examples", str(args.examples),
                                    "--rules", *args.rules], env=env, stdout=subprocess.PIPE, text=True)
        runs[seed] = []
        for line in worker_.stdout:  # progress on stderr, the table at the end
            runs[seed].append(json.loads(line))
            print(f"seed {seed}: {runs[seed][-1]}", file=sys.stderr, flush=True)
        if worker_.wait():
            raise SystemExit(f"the worker under PYTHONHASHSEED={seed} failed")
    first, second = args.seeds
    bad = 0
    print(f"{'variant':<58} {'s (seed ' + str(first) + ')':>12} {'s (seed ' + str(second) + ')':>13}  verdict, exit")
    for one, two in zip(runs[first], runs[second]):
        ok = (one["verdict"] == two["verdict"] == "equivalent" and one["digest"] == two["digest"]
              and max(one["seconds"], two["seconds"]) < LIMIT)
        bad += not ok
        same = "same under both seeds" if one["digest"] == two["digest"] else "DIFFERS between the seeds"
        print(f"{one['variant']:<58} {one['seconds']:>12.2f} {two['seconds']:>13.2f}  {one['verdict']}, {one['exit']}; "
              f"{two['verdict']}, {two['exit']}; {same}{'' if ok else '  <-- FAIL'}")
    times = [r["seconds"] for run in runs.values() for r in run]
    print(f"{len(runs[first])} variants; equivalent to themselves under both seeds, word for word, in under "
          f"{LIMIT:g} s: {len(runs[first]) - bad}; slowest {max(times):.1f} s, total {sum(times):.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
