"""Random command lines through `symopt`, counting the ones that end in a Python traceback.

The command lines are those of tests/test_fuzz_cli.py (the real vocabulary, mutated with garbage;
`verify` and `check` capped at 2 generated cases, `export` without the figure and its documents
computed once), run in-process with
click's CliRunner in a temporary folder, which every path written to lies in. Unlike the test, it
does not stop at the first failure: it prints how many command lines ran, how many ended in a
traceback (an exception other than a clean exit with status 0, 1 or 2), the distinct failures with
one command line each, and the time taken. Not part of the test suite.

Usage: python benchmarks/fuzz_cli.py [--lines 5000] [--seed 0]   (from the repository's root)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5000, help="how many command lines to run")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis's seed")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "tests"))
    from click.testing import CliRunner
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis import strategies as st
    from test_fuzz_cli import command_lines, documents_once, outcome, prepare

    warnings.simplefilter("ignore")  # numpy's overflow warnings and the like, from the commands
    failures: dict[str, list[str]] = {}  # the last line of the traceback -> command lines
    count = 0
    with tempfile.TemporaryDirectory(prefix="symopt-fuzz-") as folder:
        work = Path(folder)
        prepare(work)
        previous = os.getcwd()
        os.chdir(work)
        runner = CliRunner()
        lines = command_lines(work)

        @seed(args.seed)
        @settings(max_examples=args.lines, deadline=None, database=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(st.data())
        def run(data):
            nonlocal count
            prepare(work)
            tokens = data.draw(lines)
            count += 1
            problem = outcome(tokens, runner)
            if problem is not None:
                command, _, last = problem.partition("\n  -> ")
                failures.setdefault(last, []).append(command)

        start = time.perf_counter()
        try:
            with documents_once():
                run()
        finally:
            os.chdir(previous)
        seconds = time.perf_counter() - start

    tracebacks = sum(len(v) for v in failures.values())
    print(f"command lines: {count}")
    print(f"tracebacks:    {tracebacks} ({len(failures)} distinct)")
    print(f"time:          {seconds:.1f} s ({1000 * seconds / max(count, 1):.0f} ms per command line)")
    for last, commands in sorted(failures.items(), key=lambda kv: -len(kv[1])):
        shortest = min(commands, key=len)
        print(f"\n{len(commands):5d}x  {last}\n       e.g. {shortest}")


if __name__ == "__main__":
    main()
