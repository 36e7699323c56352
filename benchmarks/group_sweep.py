"""Every elementwise rule and variant through the group step's tests (tests/test_group_kernel.py),
which in the suite run a fixed-seed sample of the rules: the same bits as each rule's per-tensor
kernel on random groups, and the reference's trajectory on a parameter cut into a group.

Each variant compiles its own passes (a second or two each with numba's cache empty): about 100
variants, several minutes. Extra arguments go to pytest (``-x``, ``-k adamw``...).

Usage: python benchmarks/group_sweep.py [pytest arguments]
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    test = ["-k", "same_bits or reference"]
    command = [sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_group_kernel.py"), "-q", "-p", "no:cacheprovider",
               *test, *sys.argv[1:]]
    sys.exit(subprocess.run(command, check=False, env={**os.environ, "SYMOPT_GROUP_SWEEP": "1"}, cwd=ROOT).returncode)
