"""Backends beyond NumPy, each emitting the same lowered step (:func:`symopt.kernel.lower`).

- :mod:`symopt.backends.numba`: one fused, parallel loop per rule specialisation (``rule.kernel("numba")``);
- :mod:`symopt.backends.group`: the numba backend's loop body over every tensor of a param group at once
  (``GroupKernel(rule).step(params, grads, states, t)``), on CPU tensors' own memory;
- :mod:`symopt.torch`: a ``torch.optim.Optimizer`` running any rule on torch tensors.

All read the one lowering of :mod:`symopt.kernel` (the hoisted scalars, then elementwise operations
named by the ufuncs of :mod:`symopt.ops`) and print it in their own language; :func:`elementwise`
writes the part they share, one line per operation.
"""

from __future__ import annotations

from collections.abc import Callable

from symopt.errors import SymoptError

# What rule.kernel(backend) compiles for (this module imports nothing heavy: the CLI reads it).
BACKENDS = ("numpy", "numba")

# The ufuncs that Python's operators spell; the rest are called by name.
OPERATORS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/"}


def elementwise(rule_name: str, ops, operand: Callable, call: Callable[[str, list[str]], str], backend: str) -> list[str]:
    """One assignment ``v<k> = ...`` per lowered operation (:class:`symopt.kernel._Op`).

    Args:
        rule_name: for the error message.
        ops: the operations, in order.
        operand: maps an operand (an ``int`` value or a scalar's code) to the code that reads it.
        call: prints a call of the ufunc named by the ops table on the given operand codes.
        backend: the backend's name, for the error message.

    Raises:
        SymoptError: for an operation that is not elementwise (a matrix product), naming it.
    """
    import numpy as np

    lines = []
    for op in ops:
        args = [operand(a) for a in op.args]
        ufunc = getattr(np, op.func, None)
        if not isinstance(ufunc, np.ufunc) or ufunc.signature is not None:
            raise SymoptError(f"{rule_name}: the {backend} backend runs elementwise operations only, and "
                              f"{op.func} is not one; use the NumPy kernel (rule.kernel('numpy'))")
        if op.func in OPERATORS:
            code = f"{args[0]} {OPERATORS[op.func]} {args[1]}"
        elif op.func == "square":
            code = f"{args[0]} * {args[0]}"
        else:
            code = call(op.func, args)
        lines.append(f"v{op.out} = {code}")
    return lines
