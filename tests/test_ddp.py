"""symopt.torch.Optimizer under DistributedDataParallel: two processes (gloo, loopback) train to the
same parameters as one process on the whole batch."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from conftest import require

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_on_two_processes_matches_one_process(tmp_path):
    torch = require("torch", install='pip install "symopt-toolkit[torch]"')
    require("sklearn", install='pip install "symopt-toolkit[train]"')
    from symopt import training
    from symopt.torch import Optimizer

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        inputs, labels = training.digits()
        torch.save((inputs, labels), tmp_path / "data.pt")  # the workers need no scikit-learn
        # New processes, not forked ones: a process forked from one that has run torch's thread
        # pool may deadlock (it did here).
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        port = free_port()
        workers = [subprocess.Popen([sys.executable, str(WORKER), str(rank), "2", str(port), str(tmp_path)], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for rank in range(2)]

        n = len(labels) // 2 * 2  # meanwhile, one process on the whole batch
        model = training.mlp(seed=0)
        optimizer = Optimizer(model.parameters(), "adamw", lr=1e-2, weight_decay=1e-2)
        training.train(model, optimizer, (inputs[:n], labels[:n]), steps=5)

        try:
            logs = [w.communicate(timeout=180)[0] for w in workers]
        finally:
            for w in workers:
                w.kill()
        assert all(w.returncode == 0 for w in workers), logs
        distributed = torch.load(tmp_path / "ddp.pt")
    finally:
        torch.set_default_dtype(previous)
    for ours, theirs in zip(model.parameters(), distributed):
        # The same float64 arithmetic but for the order of the all-reduce's sums: agreement to
        # rounding, amplified by Adam's division by √v where a gradient is tiny.
        torch.testing.assert_close(theirs, ours.detach(), rtol=1e-9, atol=1e-12)
