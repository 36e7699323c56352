"""The registry-parametrised tests over every variant of every rule, as CI would run them in full.

In CI (``CI`` set) those tests take each rule's default variant and two more drawn with a fixed seed
(``tests/conftest.py``'s ``registry_sample``), so that the suite's time grows with the number of rules
and not with the number of their variants. Outside CI they take every variant already; this script
runs them with ``CI`` and ``SYMOPT_FULL`` set: CI's settings (its Hypothesis profile, no skips) over
every variant.

Usage: python benchmarks/registry_sweep.py [pytest arguments]   (from the repository root; takes
tens of minutes; e.g. ``-n 2`` with pytest-xdist, or ``-k reference`` for the references only)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FILES = ("test_verify.py", "test_reference.py", "test_core.py", "test_optax.py", "test_kernel.py", "test_numba.py",
         "test_latex.py")


def main(arguments: list[str]) -> int:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "CI": "true", "SYMOPT_FULL": "1"}
    command = [sys.executable, "-m", "pytest", *(str(root / "tests" / f) for f in FILES), "-q", "-p",
               "no:cacheprovider", *arguments]
    return subprocess.run(command, env=env, cwd=root).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
