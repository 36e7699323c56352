"""One process of the DDP test (tests/test_ddp.py starts two): python tests/ddp_worker.py RANK WORLD PORT DIR.

DIR holds ``data.pt``, the digits (saved by the test, so that workers need not import scikit-learn).
Each process trains the same MLP (float64) on its half of them with
symopt.torch.Optimizer(..., "adamw") under DistributedDataParallel (gloo, loopback), and rank 0
saves the final parameters to DIR/ddp.pt. Not collected as a test (it does nothing on import).
"""

from __future__ import annotations

import os
import sys


def run(rank: int, world: int, port: int, folder: str, steps: int = 5) -> None:
    import torch
    import torch.distributed as dist

    from symopt import training
    from symopt.torch import Optimizer

    torch.set_default_dtype(torch.float64)
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        inputs, labels = torch.load(os.path.join(folder, "data.pt"))
        n = len(labels) // world * world  # equal shards: the mean of shard means is the full mean
        shard = slice(rank * n // world, (rank + 1) * n // world)
        model = torch.nn.parallel.DistributedDataParallel(training.mlp(seed=0))
        optimizer = Optimizer(model.parameters(), "adamw", lr=1e-2, weight_decay=1e-2)
        training.train(model, optimizer, (inputs[shard], labels[shard]), steps)
        if rank == 0:
            torch.save([p.detach() for p in model.module.parameters()], os.path.join(folder, "ddp.pt"))
        # both processes reach here before either tears its connections down: gloo's teardown while the
        # other rank still reads ended one with "terminate called without an active exception" (a CI run)
        dist.barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    run(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
