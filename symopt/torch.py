"""Any rule as a ``torch.optim.Optimizer``: ``symopt.torch.Optimizer(params, "adamw", lr=1e-3)``.

The step runs on torch tensors, on the parameters' device (CPU or GPU), with code generated from
the rule's step map: the lowering of :mod:`symopt.kernel` (the same specialisations, hoisted
scalars and operations) printed as torch operations, then written into the parameters and state
in place. Nothing goes through NumPy. Because it is a ``torch.optim.Optimizer`` (param groups,
``state_dict``, ``zero_grad``, learning-rate schedulers through ``param_group["lr"]``), anything
that drives torch's own optimizers drives it: ``clip_grad_norm_``, DistributedDataParallel, FSDP.

Hyperparameters go by the rule's keywords (``beta1``, ``beta2``: not torch's ``betas`` pair). The
state of a parameter holds the rule's state variables by name (``m``, ``v``...) and ``step``.

Importing this module does not import torch; the class is made on first use.

Example (torch installed):
    >>> import torch, symopt.torch
    >>> w = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    >>> opt = symopt.torch.Optimizer([w], "adamw", lr=1e-2)
    >>> w.grad = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    >>> opt.step()
    >>> w.detach().numpy().round(4)
    array([0.9899, 1.0099, 0.9899])
"""

from __future__ import annotations

import functools

from symopt.errors import SymoptError

INSTALL = 'pip install "symopt-toolkit[torch]"'
# torch's names where they differ from NumPy's ufuncs (the ops table names NumPy's)
RENAMED = {"power": "pow"}


def require_torch():
    """Import torch, or fail in one line saying how to install it."""
    try:
        import torch
    except ImportError:
        raise SymoptError(f"symopt.torch needs torch: {INSTALL}") from None
    return torch


def resolve(rule):
    """A :class:`~symopt.core.Rule` from a rule, a name (``"adamw"``) or a spec with structural
    options, as ``symopt list`` prints it (``"momentum(nesterov=True)"``; see :mod:`symopt.spec`)."""
    from symopt.core import Rule
    from symopt.spec import rule_from_spec

    if isinstance(rule, Rule):
        return rule
    if not isinstance(rule, str):
        raise SymoptError(f"rule must be a Rule, a name or a spec such as 'momentum(nesterov=True)', not {rule!r}")
    return rule_from_spec(rule)


def source(rule_name: str, lowered) -> str:
    """The source of one specialisation's step on tensors, writing the results in place."""
    from symopt.backends import elementwise

    arrays = [f"a_{s.name}" for s in lowered.inputs]
    scalars = [f"s_{s.name}" for s, _ in lowered.definitions] + [f"s_{a.name}" for a in lowered.scalar_args]

    def operand(a):
        return f"v{a}" if isinstance(a, int) else a if a[0].isdigit() or a[0] == "-" else f"s_{a}"

    def call(func, args):
        tensor = next(a for a in args if a.startswith("v"))
        args = [a if a.startswith("v") else f"torch.as_tensor({a}, dtype={tensor}.dtype, device={tensor}.device)"
                for a in args]
        return f"torch.{RENAMED.get(func, func)}({', '.join(args)})"

    body = [f"v{i} = {name}" for i, name in enumerate(arrays)]
    body += elementwise(rule_name, lowered.ops, operand, call, "torch")
    homes = [arrays[0], *arrays[2:]]
    # A result that is an input unchanged is read before any input is written.
    body += [f"v{v} = v{v}.clone()" for v in dict.fromkeys(lowered.outputs) if v < len(arrays)]
    body += [f"{home}.copy_(v{value})" for home, value in zip(homes, lowered.outputs)]
    return (f"def step({', '.join([*arrays, *scalars])}):\n"
            + "".join(f"    {line}\n" for line in body))


@functools.cache
def _torch_kernel():
    from symopt.kernel import Kernel, _Program, lower, scalar_function

    class TorchKernel(Kernel):
        """The rule's specialisations compiled to torch operations (the step of :class:`Optimizer`)."""

        def _emit(self, exprs, inplace: bool) -> _Program:
            torch = require_torch()
            lowered = lower(self.rule, exprs)
            text = source(self.rule.name, lowered)
            namespace = {"torch": torch}
            exec(compile(text, f"<symopt torch step {self.rule.name}>", "exec"), namespace)  # made from the rule only
            return _Program(scalar_function(lowered), namespace["step"], text, 0)

    return TorchKernel


@functools.lru_cache(maxsize=64)
def _kernel(rule):
    """One compiled kernel per rule, shared by the optimizers that run it (its programs are made once)."""
    return _torch_kernel()(rule)


@functools.cache
def _optimizer_class():
    torch = require_torch()

    class Optimizer(torch.optim.Optimizer):
        """A ``torch.optim.Optimizer`` running ``rule`` (a :class:`~symopt.core.Rule`, a name or a
        spec such as ``"momentum(nesterov=True)"``) with ``hyperparameters`` by the rule's keywords as
        the defaults of every param group.

        Raises:
            SymoptError: for an unknown rule, hyperparameter or option, a value out of range (at
                construction, and at each step for a group's values), or a sparse gradient.
        """

        def __init__(self, params, rule, **hyperparameters):
            rule = resolve(rule)
            if not rule.elementwise:
                raise SymoptError(f"{rule.name} works on whole tensors (matrix products, row and column means): "
                                  "symopt.torch.Optimizer runs elementwise rules only")
            kernel = _kernel(rule)
            values = kernel.hyperparameters(**hyperparameters)
            super().__init__(params, {h.name: v for h, v in zip(rule.hypers, values)})
            self.rule, self._kernel = rule, kernel

        @torch.no_grad()
        def step(self, closure=None):
            """One step of the rule for every parameter with a gradient; returns ``closure()`` if given."""
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            kernel, rule = self._kernel, self.rule
            for group in self.param_groups:
                values = kernel.hyperparameters(**{h.name: _number(group[h.name]) for h in rule.hypers})
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    if p.grad.is_sparse:
                        raise SymoptError(f"{rule.name}: sparse gradients are not supported")
                    state = self.state[p]
                    if not state:
                        state.update(self._init(p, values))
                    t = state["step"] + 1
                    arguments = [t, *values, *(state[s.name] for s in rule.scalars)]
                    program, constants, advanced = kernel._scalars(arguments, inplace=True)
                    program.arrays(p, p.grad, *(state[s.name] for s in rule.arrays), *constants, *arguments)
                    state.update(advanced)
                    state["step"] = t
            return loss

        def _init(self, p, values) -> dict:
            """The state before the first step: each variable at its initial value, like ``p``."""
            from symopt import symbols as S

            state = {"step": 0}
            for s, start in zip(self.rule.states, self._kernel._start(*values)):
                if s.scalar:
                    state[s.name] = float(start)
                elif s.init == S.theta0:
                    state[s.name] = p.detach().clone(memory_format=torch.preserve_format)
                else:
                    state[s.name] = torch.full_like(p, float(start), memory_format=torch.preserve_format)
            return state

    def _number(value):
        """A group's value as the kernel checks it: a one-element tensor as its number, anything else as
        it is (None or a string is refused there, in one line)."""
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            return value.item()
        return value

    Optimizer.__module__ = __name__
    Optimizer.__qualname__ = "Optimizer"
    return Optimizer


def __getattr__(name: str):
    if name == "Optimizer":
        return _optimizer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
