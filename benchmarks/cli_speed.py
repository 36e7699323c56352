"""How long the `symopt` command takes, next to `python -c "import sympy"` measured in the same run.

Targets (issue 2): `symopt --help` under 0.3 s and `symopt derive adam` under 1.5 s wall time.

Usage: python benchmarks/cli_speed.py [--repeat N]   (from an environment where symopt is installed)
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall(command: list[str], repeat: int) -> tuple[float, float]:
    """Best and median wall time of ``command`` over ``repeat`` runs (after one warm-up run)."""
    subprocess.run(command, check=True, capture_output=True)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    script = shutil.which("symopt") or str(Path(sys.executable).parent / "symopt")
    cases = [
        ("python -c 'import sympy' (baseline)", [sys.executable, "-c", "import sympy"], None),
        ("python -c 'pass'", [sys.executable, "-c", "pass"], None),
        ("symopt --help", [script, "--help"], 0.3),
        ("symopt derive adam", [script, "derive", "adam"], 1.5),
        ("symopt compare adam adamw", [script, "compare", "adam", "adamw"], None),
    ]
    baseline = None
    print(f"{'command':36} {'best':>8} {'median':>8} {'/ import sympy':>15} {'target':>8}")
    for label, command, target in cases:
        best, median = wall(command, args.repeat)
        baseline = baseline or best
        verdict = "" if target is None else (f"< {target:g} s" + (" ok" if best < target else " MISSED"))
        print(f"{label:36} {best:7.3f}s {median:7.3f}s {best / baseline:14.2f}x {verdict:>8}")


if __name__ == "__main__":
    main()
