"""torch's own optimizer database through symopt.torch.optim: every CPU config of every OptimizerInfo
in ``torch.testing._internal.common_optimizers.optim_db``, 20 steps in float64 and float32, against
torch.optim's class from the same initialisation (foreach=False), and its schedulers.

Prints, for each optimizer, the configs that pass, that symopt refuses in one line, and that fail
(different numbers, or another exception); the issue's target is >= 95% passing of the optimizers
symopt has, the rest refused, none failing. With ``--compile`` it also runs a compiled step
(``torch.compile``, inductor by default) against the eager one for each optimizer's default config.

    python benchmarks/torch_optim_db.py [--steps 20] [--compile [--backend inductor]] [--fused]

``--fused`` runs symopt's classes with ``fused=True`` (or ``foreach=True``): the one-pass group step.

tests/test_torch_optim.py runs a fixed-seed sample of these configs (the CI budget); this is the sweep.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from symopt.errors import SymoptError
from symopt.torch import optim

# float64 to float64 rounding over 20 steps; float32 to a few float32 roundings (torch's own
# test_correctness compares foreach and for-loop paths at these).
TOLERANCE = {torch.float64: dict(rtol=1e-9, atol=1e-12), torch.float32: dict(rtol=2e-5, atol=2e-6)}


def configs():
    """(OptimizerInfo, OptimizerInput) for every CPU config of optim_db, in the database's order."""
    from torch.testing._internal.common_optimizers import optim_db

    for info in optim_db:
        for optim_input in info.optim_inputs_func(device="cpu", dtype=torch.float64):
            yield info, optim_input


def parameters(info, dtype, seed):
    """A weight matrix, a bias and a 3-D tensor, seeded (a matrix only for rules on 2-D parameters)."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(5, 4)] if info.optim_cls.__name__ == "Muon" else [(5, 4), (4,), (2, 3, 4)]
    return [torch.randn(shape, generator=generator, dtype=dtype) for shape in shapes]


def gradients(params, steps, seed, sparse=False):
    """Seeded gradients; ``sparse`` (an OptimizerInfo with ``only_supports_sparse_grads``: torch's own
    tests give it ``p.grad.to_sparse()``) makes them sparse COO tensors touching random rows (some
    steps none): by rows (``to_sparse(1)``) at odd steps, by elements (``to_sparse()``) at even ones."""
    generator = torch.Generator().manual_seed(seed + 1)
    out = []
    for t in range(steps):
        step = []
        for p in params:
            g = torch.randn(p.shape, generator=generator, dtype=p.dtype)
            if sparse:
                rows = torch.rand(p.shape[0], generator=generator) < 0.5
                g = (g * rows.reshape(-1, *[1] * (p.dim() - 1)).to(p.dtype)).to_sparse(1 if t % 2 else p.dim())
            step.append(g)
        out.append(step)
    return out


def kwargs_of(info, optim_input, dtype):
    kwargs = dict(optim_input.kwargs)
    if isinstance(kwargs.get("lr"), torch.Tensor):
        kwargs["lr"] = kwargs["lr"].to(dtype)
    return kwargs


def trajectory(cls, kwargs, init, grads, scheduler=None):
    params = [torch.nn.Parameter(p.clone()) for p in init]
    optimizer = cls(params, **kwargs)
    schedulers = [make(optimizer) for make in scheduler] if scheduler else []
    out = []
    for step in grads:
        for p, g in zip(params, step):
            p.grad = g.clone()
        optimizer.step()
        for s in schedulers:
            s.step(0.0) if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau) else s.step()
        out.append([p.detach().clone() for p in params])
    return out


def single(cls, kwargs):
    import inspect

    return {**kwargs, "foreach": False} if "foreach" in inspect.signature(cls).parameters and "foreach" not in kwargs else kwargs


# --fused: symopt's classes step each group in one pass (fused=True, or foreach=True where torch has no
# fused keyword), where the group step takes it.
FUSED = False


def grouped(cls, kwargs):
    """``kwargs`` asking ``cls`` for its one-pass group step (unless the config sets foreach or fused)."""
    import inspect

    accepted = inspect.signature(cls).parameters
    keyword = next((k for k in ("fused", "foreach") if k in accepted), None)
    if keyword is None or "fused" in kwargs or "foreach" in kwargs:
        return kwargs
    return {**kwargs, keyword: True}


def tolerance(cls, dtype):
    """The dtype's: a rule torch rounds inside (Muon's bfloat16 iteration) is computed by symopt.torch
    with torch's bfloat16 operations (symopt.torch.TORCH_ROUNDED), the same roundings, ties included."""
    return TOLERANCE[dtype]


def compare(info, optim_input, dtype, steps, seed=0, scheduler=None):
    """'pass', 'refused: <message>' or 'failed: <why>'. Both run with ``dtype`` as torch's default
    dtype, which torch keeps its scalar states in (NAdam's μ product: float32 under float32's default,
    a rounding of torch's own at float64 parameters)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        return _compare(info, optim_input, dtype, steps, seed, scheduler)
    finally:
        torch.set_default_dtype(previous)


def _compare(info, optim_input, dtype, steps, seed, scheduler):
    name = info.optim_cls.__name__
    init = parameters(info, dtype, seed)
    grads = gradients(init, steps, seed, sparse=info.only_supports_sparse_grads)
    kwargs = kwargs_of(info, optim_input, dtype)
    try:
        ours_cls = getattr(optim, name)
    except SymoptError as exc:
        return f"refused: {exc}"
    try:
        expected = trajectory(info.optim_cls, single(info.optim_cls, kwargs), init, grads, scheduler)
    except Exception as exc:  # torch refuses it too: not a config for this dtype
        return f"torch refused: {type(exc).__name__}: {exc}"
    try:
        got = trajectory(ours_cls, grouped(ours_cls, kwargs) if FUSED else kwargs, init, grads, scheduler)
    except SymoptError as exc:
        return f"refused: {exc}" if "\n" not in str(exc) else f"failed: a multi-line error: {exc}"
    except Exception as exc:
        return f"failed: {type(exc).__name__}: {exc}"
    for t, (a, b) in enumerate(zip(got, expected), start=1):
        for x, y in zip(a, b):
            try:
                torch.testing.assert_close(x, y, **tolerance(ours_cls, dtype))
            except AssertionError as exc:
                return f"failed: step {t}: {str(exc).splitlines()[0]}"
    return "pass"


def compiled_against_eager(name, backend, steps=8):
    """The largest difference between a run of class ``name`` whose last half of steps is compiled
    (``torch.compile(optimizer.step, backend=backend)``) and an eager run, scalar states included."""
    cls = getattr(optim, name)
    init = [torch.randn(4, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)]

    grads = gradients(init, steps, 0, sparse=any(rule.sparse for rule in cls._rules))

    def run(compiled):
        params = [torch.nn.Parameter(x.clone()) for x in init]
        optimizer = cls(params, lr=0.01)
        step = torch.compile(optimizer.step, backend=backend) if compiled else optimizer.step
        for t in range(steps):
            params[0].grad = grads[t][0].clone()
            (step if t >= steps // 2 else optimizer.step)()
        return params[0].detach(), optimizer.state[params[0]]

    (a, state), (b, other) = run(False), run(True)
    scalars = max((abs(float(state[k]) - float(other[k])) for k in state if not isinstance(state[k], torch.Tensor)
                   or state[k].dim() == 0), default=0.0)
    return max((a - b).abs().max().item(), scalars)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--verbose", action="store_true", help="print every refused and failed config")
    parser.add_argument("--compile", action="store_true", help="also compile each class's step against eager")
    parser.add_argument("--backend", default="inductor", help="torch.compile's backend for --compile")
    parser.add_argument("--fused", action="store_true",
                        help="symopt's classes with fused=True (or foreach=True): the one-pass group step")
    args = parser.parse_args(argv)
    global FUSED
    FUSED = args.fused
    torch.set_num_threads(1)
    if args.compile:
        for name in optim.names():
            started = time.perf_counter()
            print(f"compiled ({args.backend}) against eager, {name}: largest difference "
                  f"{compiled_against_eager(name, args.backend):.3g} ({time.perf_counter() - started:.1f} s)")
    counts: dict[str, dict[str, int]] = {}
    started = time.perf_counter()
    for info, optim_input in configs():
        name = info.optim_cls.__name__
        for dtype in (torch.float64, torch.float32):
            verdict = compare(info, optim_input, dtype, args.steps)
            kind = verdict.split(":")[0]
            counts.setdefault(name, {}).setdefault(kind, 0)
            counts[name][kind] += 1
            if kind != "pass" and (args.verbose or kind == "failed"):
                print(f"  {name} [{optim_input.desc}] {str(dtype)[6:]}: {verdict}")
    print(f"{'optimizer':<12} {'pass':>5} {'refused':>8} {'failed':>7}")
    total = {"pass": 0, "refused": 0, "failed": 0}
    ours = {"pass": 0, "refused": 0, "failed": 0}
    for name, c in counts.items():
        print(f"{name:<12} {c.get('pass', 0):>5} {c.get('refused', 0):>8} {c.get('failed', 0):>7}"
              + (f"  (torch refused {c['torch refused']})" if c.get("torch refused") else ""))
        for k in total:
            total[k] += c.get(k, 0)
            if name in optim.names():
                ours[k] += c.get(k, 0)
    n = sum(ours.values())
    print(f"optimizers symopt has: {ours['pass']}/{n} pass ({100 * ours['pass'] / max(n, 1):.1f}%), "
          f"{ours['refused']} refused, {ours['failed']} failed; all of optim_db: {total['pass']}/{sum(total.values())} pass")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 1 if total["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
