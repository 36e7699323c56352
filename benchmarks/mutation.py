"""The mutation score of verification: every mutant of every registered rule, killed or not.

For each rule (each structural variant with ``--variants``), every mutant :mod:`symopt.mutate`
makes from its equations is cross-checked as ``symopt verify`` checks a kernel: the mutant's kernel
against the original rule's hand-written reference, on ``--examples`` generated trajectories
(verify's default, 100). A mutant that survives is asked of ``symopt.equivalent``; one it proves
equivalent is discarded, any other is a survivor: a place verification does not reach. Prints a
table per rule (score = killed / non-equivalent) and every survivor, with the case count.

The CI test (tests/test_mutate.py) runs a sample of a few mutants per rule; this is the full sweep.

    python benchmarks/mutation.py                     # every rule, every mutant
    python benchmarks/mutation.py adamax radam        # some rules
    python benchmarks/mutation.py "adamw(cautious=True)"   # one variant
    python benchmarks/mutation.py --variants --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import symopt
from symopt.mutate import EXAMPLES, KINDS, mutants, score
from symopt.optimizers import label, resolve, variants


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rules", nargs="*", help="rule names or specs (default: every registered rule)")
    parser.add_argument("--variants", action="store_true", help="every structural variant, not only the defaults")
    parser.add_argument("--examples", type=int, default=EXAMPLES, help="generated trajectories per mutant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="FILE", help="write every outcome to FILE")
    parser.add_argument("--verbose", action="store_true", help="print every mutant as it is decided")
    args = parser.parse_args(argv)

    names = args.rules or symopt.rules()
    # a name, or a spec with options without --variants: adamw(cautious=True)
    rules = ([symopt.get(n, **o) for n in names for o in variants(n)] if args.variants
             else [resolve(n) for n in names])
    rows, records, started = [], [], time.perf_counter()
    for rule in rules:
        began = time.perf_counter()
        found = mutants(rule)
        result = score(rule, found, examples=args.examples, seed=args.seed,
                       progress=(lambda o: print(f"  {o.mutant.id}: {'killed' if o.killed else 'equivalent' if o.equivalent else 'SURVIVED'}"
                                                 f" ({o.cases} cases) {o.mutant.description}", flush=True))
                       if args.verbose else None)
        seconds = time.perf_counter() - began
        kinds = {k: sum(m.kind == k for m in found) for k in KINDS}
        rows.append((label(rule), len(found), len(result.killed), len(result.equivalent), len(result.survived),
                     result.value, seconds))
        print(f"{label(rule)}: {len(found)} mutants ({', '.join(f'{k} {n}' for k, n in kinds.items() if n)}), "
              f"{len(result.killed)} killed, {len(result.equivalent)} equivalent, {len(result.survived)} survived: "
              f"score {result.value:.0%} ({seconds:.0f} s)", flush=True)
        for o in result.equivalent:
            print(f"    equivalent {o.mutant.id}: {o.mutant.description} [{o.detail}]")
        for o in result.survived:
            print(f"    SURVIVED {o.mutant.id}: {o.mutant.description} ({o.cases} cases) [{o.detail}]")
        records += [{"rule": label(rule), "id": o.mutant.id, "kind": o.mutant.kind,
                     "description": o.mutant.description, "killed": o.killed, "equivalent": o.equivalent,
                     "cases": o.cases, "detail": o.detail} for o in result.outcomes]

    total = time.perf_counter() - started
    print(f"\nmutation score per rule ({args.examples} examples per mutant, seed {args.seed}):")
    width = max(len(r[0]) for r in rows)
    print(f"{'rule'.ljust(width)}  mutants  killed  equivalent  survived   score  seconds")
    for name, count, killed, equivalent, survived, value, seconds in rows:
        print(f"{name.ljust(width)}  {count:7d}  {killed:6d}  {equivalent:10d}  {survived:8d}  {value:6.1%}  {seconds:7.0f}")
    print(f"{'all'.ljust(width)}  {sum(r[1] for r in rows):7d}  {sum(r[2] for r in rows):6d}  "
          f"{sum(r[3] for r in rows):10d}  {sum(r[4] for r in rows):8d}  "
          f"{sum(r[2] for r in rows) / max(1, sum(r[2] + r[4] for r in rows)):6.1%}  {total:7.0f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(records, f, indent=1, ensure_ascii=False)
    return 0 if all(r[4] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
