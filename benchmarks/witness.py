"""The numerical witnesses of tests/test_witness.py over every registered variant, with 40 drawn
examples per variant instead of 8 (the test samples two variants per rule, the default and one drawn with
a fixed seed, for every witness but the one-step λ_eff, which runs on every variant in CI too).

Usage: python benchmarks/witness.py   (from the repository root; takes minutes)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "SYMOPT_WITNESS_ALL": "1"}
    command = [sys.executable, "-m", "pytest", str(root / "tests" / "test_witness.py"), "-q", "-p", "no:cacheprovider"]
    return subprocess.run(command, env=env, cwd=root).returncode


if __name__ == "__main__":
    sys.exit(main())
