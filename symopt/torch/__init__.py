"""Any rule as a ``torch.optim.Optimizer``: ``symopt.torch.Optimizer(params, "adamw", lr=1e-3)``.

The step runs on torch tensors, on the parameters' device (CPU or GPU), with code generated from
the rule's step map: the lowering of :mod:`symopt.kernel` (the same specialisations, hoisted
scalars and operations) printed as torch operations, then written into the parameters and state
in place. Nothing goes through NumPy. Because it is a ``torch.optim.Optimizer`` (param groups,
``state_dict``, ``zero_grad``, learning-rate schedulers through ``param_group["lr"]``), anything
that drives torch's own optimizers drives it: ``clip_grad_norm_``, DistributedDataParallel, FSDP.

Hyperparameters go by the rule's keywords (``beta1``, ``beta2``: not torch's ``betas`` pair). The
state of a parameter holds the rule's state variables by name (``m``, ``v``...) and ``step``.
:mod:`symopt.torch.optim` has torch.optim's own classes, signatures, group keys and state names, for
the rules torch has.

Both step a param group through one method, ``_step_group``: with ``fused=True`` (the classes: also
``foreach=True``), all its tensors in one pass where :class:`symopt.backends.group.GroupKernel` takes
them (:func:`step_group`), else the generated code, tensor by tensor (:func:`run_group`).

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

from symopt.errors import SymoptError, UnknownNameError

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


def newton_schulz_bfloat16(x, a, b, c, k, eps):
    """NS_k(x) (:func:`symopt.ops.newton_schulz`'s grouping: the Gram matrix G = XXᵀ of the wide
    orientation, B = bG + cG², X ← aX + BX) computed by torch in bfloat16 as torch.optim.Muon computes
    it: ``addmm`` in bfloat16 (float32 accumulation inside), so that the roundings, ties included, are
    torch's. The result (bfloat16 values) in ``x``'s dtype, as torch adds it to the parameter: exact.
    A stack of matrices (torch.optim.Muon takes none) goes to symopt's NumPy rounding."""
    import numpy as np

    from symopt import ops

    x = np.asarray(x)
    if x.ndim != 2:
        return ops.newton_schulz(x, a, b, c, k, eps, rounding="bfloat16").astype(np.result_type(x.dtype, np.float32))
    torch = require_torch()
    ortho = torch.from_numpy(np.ascontiguousarray(x)).bfloat16()
    tall = x.shape[0] > x.shape[1]
    if tall:
        ortho = ortho.T
    ortho = ortho / ortho.norm().clamp(min=float(eps))
    for _ in range(int(k)):
        gram = ortho @ ortho.T
        update = torch.addmm(gram, gram, gram, beta=float(b), alpha=float(c))
        ortho = torch.addmm(ortho, update, ortho, beta=float(a))
    if tall:
        ortho = ortho.T
    return ortho.to(torch.float64 if x.dtype == np.float64 else torch.float32).numpy()


# The lowering, as torch computes it, of each operation symopt.ops rounds where torch rounds (by its
# SymPy class's name, as in ops.namespace): a rule using one runs it in place of the NumPy rounding.
TORCH_ROUNDED = {"NewtonSchulz": newton_schulz_bfloat16}


@functools.cache
def _rounded_kernel():
    from symopt.kernel import Kernel, _emit

    class TorchRoundedKernel(Kernel):
        """The NumPy kernel of a rule on whole tensors, with each operation torch computes in bfloat16
        computed by torch's bfloat16 operations (:data:`TORCH_ROUNDED`), ties rounded as torch rounds."""

        def _emit(self, exprs, inplace: bool):
            program = _emit(self.rule, exprs, inplace, self.rounding)
            program.arrays.__globals__.update(TORCH_ROUNDED)  # the program's own namespace, made by this call
            return program

    return TorchRoundedKernel


@functools.lru_cache(maxsize=64)
def _kernel(rule):
    """One compiled kernel per rule, shared by the optimizers that run it (its programs are made once):
    torch operations for an elementwise rule; for a rule on whole tensors (Muon, Adafactor), the NumPy
    kernel rounding where torch rounds (:func:`symopt.verify.rounding_of`), the rounded operations
    computed by torch's own bfloat16 arithmetic (:data:`TORCH_ROUNDED`), run in place on the CPU
    tensors' memory."""
    if rule.elementwise:
        return _torch_kernel()(rule)
    from symopt import ops
    from symopt.verify import rounding_of

    rounding = rounding_of(rule, "torch")
    used = {op.sympy.__name__ for eq in rule.equations for op in ops.used(eq.rhs) if op.rounds}
    if rounding is not None and used <= set(TORCH_ROUNDED):
        return _rounded_kernel()(rule, rounding)
    return rule.kernel("numpy", rounding=rounding)


def eager(function):
    """``function`` as torch.compile leaves it: run eagerly, whatever backend compiles its caller.

    The step's scalars (bias corrections, NAdam's μ product, the step count) are Python numbers
    computed at each step from the state; a traced graph would take them as constants of the step
    it was traced at (issue 19: NAdam's μ product frozen under inductor). A compiled training step
    that calls ``optimizer.step()`` so gets the eager trajectory, and compiles only around it.
    """
    torch = require_torch()
    return torch._dynamo.disable(function, recursive=True)


def run_group(kernel, values, params, grads, arrays, scalars, steps) -> list[dict]:
    """The step of one param group, tensor by tensor: the generated torch code of ``kernel`` (or, for
    a rule on whole tensors, its NumPy kernel on the CPU tensors' memory), written in place.

    Args:
        kernel: :func:`_kernel` of the rule.
        values: the hyperparameters in the rule's order (:meth:`Kernel.hyperparameters`).
        params, grads: real tensors (a complex parameter's real view; ``maximize`` already applied).
        arrays: for each parameter, its array states in the order of ``rule.arrays``.
        scalars: for each parameter, its scalar states (floats) in the order of ``rule.scalars``.
        steps: for each parameter, the step being taken (1 for the first).

    Returns:
        For each parameter, its new scalar states by the rule's names.
    """
    rule = kernel.rule
    advanced = []
    if rule.elementwise:
        for p, g, state, scalar, t in zip(params, grads, arrays, scalars, steps):
            arguments = [t, *values, *scalar]
            program, constants, new = kernel._scalars(arguments, inplace=True)
            program.arrays(p, g, *state, *constants, *arguments)
            advanced.append(new)
        return advanced
    hyper = {h.name: v for h, v in zip(rule.hypers, values)}
    for p, g, state, scalar, t in zip(params, grads, arrays, scalars, steps):
        if p.device.type != "cpu":
            raise SymoptError(f"{rule.name} works on whole tensors, which symopt.torch runs on the CPU only "
                              f"(through its NumPy kernel), not on {p.device}")
        try:
            named = {s.name: a.numpy() for s, a in zip(rule.arrays, state)}
            arrays_p, grad = p.numpy(), g.numpy()
        except TypeError:
            raise SymoptError(f"{rule.name} works on whole tensors, which symopt.torch runs through NumPy: "
                              f"{p.dtype} has no NumPy type") from None
        named.update({s.name: v for s, v in zip(rule.scalars, scalar)})
        kernel.step(arrays_p, grad, named, t, inplace=True, **hyper)
        advanced.append({s.name: named[s.name] for s in rule.scalars})
    return advanced


_GROUP_KERNELS: dict = {}  # id of a kernel -> (the kernel, its rule's group kernel or None)


def _group_of(kernel):
    """:func:`_group_kernel` of ``kernel``'s rule, found by the kernel's identity (the rule's hash walks
    its equations: not at every step)."""
    made = _GROUP_KERNELS.get(id(kernel))
    if made is None or made[0] is not kernel:
        if len(_GROUP_KERNELS) >= 64:
            _GROUP_KERNELS.clear()
        made = _GROUP_KERNELS[id(kernel)] = (kernel, _group_kernel(kernel.rule))
    return made[1]


@functools.lru_cache(maxsize=64)
def _group_kernel(rule):
    """``rule``'s step of a whole param group in one pass (:class:`symopt.backends.group.GroupKernel`),
    or None where there is none: a rule on whole tensors, or numba not installed."""
    if not rule.elementwise:
        return None
    try:
        from symopt.backends.group import GroupKernel

        return GroupKernel(rule)
    except (ImportError, SymoptError):  # numba missing: the generated torch code steps the group
        return None


def step_group(kernel, values, params, grads, arrays, scalars, steps, fused: bool) -> list[dict]:
    """The step of one param group (the arguments and result of :func:`run_group`): with ``fused``, in
    one pass over all its tensors, in place, with no temporaries (:class:`~symopt.backends.group.GroupKernel`:
    the rule's lowering compiled by numba, on the tensors' memory, on ``torch.get_num_threads()``
    threads: torch's own OpenMP threads where torch runs on OpenMP), where it runs every tensor of the group: an elementwise rule, numba installed, CPU
    tensors of float32 or float64. Anything else (and ``fused`` False) takes :func:`run_group`, the
    generated torch code, tensor by tensor."""
    group = _group_of(kernel) if fused and params else None
    if group is not None:
        columns = [list(column) for column in zip(*arrays)] if kernel.rule.arrays else []
        advanced = group.run(params, grads, columns, scalars, steps, values, threads=require_torch().get_num_threads(),
                             others=True)
        if advanced is not None:
            return advanced
    return run_group(kernel, values, params, grads, arrays, scalars, steps)


@functools.cache
def _optimizer_class():
    torch = require_torch()

    class Optimizer(torch.optim.Optimizer):
        """A ``torch.optim.Optimizer`` running ``rule`` (a :class:`~symopt.core.Rule`, a name or a
        spec such as ``"momentum(nesterov=True)"``) with ``hyperparameters`` by the rule's keywords as
        the defaults of every param group. ``fused=True`` (a group key too) steps each group in one
        pass where the group step takes it (:func:`step_group`: numba, CPU, float32 and float64).

        Raises:
            SymoptError: for an unknown rule, hyperparameter or option, a value out of range (at
                construction, and at each step for a group's values), or a sparse gradient to a rule
                not of sparse gradients (:func:`gradient`).
        """

        def __init__(self, params, rule, *, fused: bool = False, **hyperparameters):
            if not isinstance(fused, bool):
                raise SymoptError(f"fused must be True or False, not {fused!r}")
            rule = resolve(rule)
            if not rule.elementwise:
                raise SymoptError(f"{rule.name} works on whole tensors (matrix products, row and column means): "
                                  "symopt.torch.Optimizer runs elementwise rules only; symopt.torch.optim's "
                                  "class of its torch.optim counterpart runs it")
            kernel = _kernel(rule)
            values = kernel.hyperparameters(**hyperparameters)
            self.rule, self._kernel = rule, kernel
            super().__init__(params, {**{h.name: v for h, v in zip(rule.hypers, values)}, "fused": fused})

        def add_param_group(self, param_group):
            """torch's, after checking the group's keys: each a hyperparameter of the rule (an unknown
            one, such as torch's ``betas`` or ``maximize``, is an error, not ignored)."""
            if isinstance(param_group, dict):
                valid = [h.name for h in self.rule.hypers] + ["fused"]
                for key in param_group:
                    if key not in valid and key not in ("params", "param_names"):
                        raise UnknownNameError(f"{self.rule.name} param group key", key, valid)
            super().add_param_group(param_group)

        def load_state_dict(self, state_dict):
            """torch's, after checking that ``state_dict`` is one of this rule's: the groups' keys, each
            parameter's state variables and their shapes, and the step counts (one line if not)."""
            check_state_dict(self.rule, state_dict, self.param_groups)
            super().load_state_dict(state_dict)

        def __getstate__(self):  # torch keeps defaults, state and groups: the rule goes with them
            return {**super().__getstate__(), "rule": self.rule}

        def __setstate__(self, state):
            super().__setstate__(state)
            self._kernel = _kernel(self.rule)

        def step(self, closure=None):
            """One step of the rule for every parameter with a gradient; returns ``closure()`` if given.
            Under ``torch.compile`` it runs eagerly (see :func:`eager`)."""
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            eager(self._step)()
            return loss

        @torch.no_grad()
        def _step(self):
            kernel, rule = self._kernel, self.rule
            for group in self.param_groups:
                values = kernel.hyperparameters(**{h.name: _number(group[h.name]) for h in rule.hypers})
                params, grads, arrays, states = [], [], [], []
                touched = Touched()
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    grad = gradient(rule, p, p.grad, rule.name)
                    state = self.state[p]
                    if not state:
                        state.update(self._init(p, values))
                    tensors = [state[s.name] for s in rule.arrays]
                    if isinstance(grad, tuple):  # a sparse gradient: the touched elements alone
                        index, grad = grad
                        p, tensors = touched.gather(index, p, tensors)
                    params.append(real_view(p))  # a complex tensor as its real view, as torch.optim does
                    grads.append(real_view(grad))
                    arrays.append([real_view(a) for a in tensors])
                    states.append(state)
                steps = [int(_number(state["step"])) + 1 for state in states]
                advanced = self._step_group(group, kernel, values, params, grads, arrays,
                                            [[state[s.name] for s in rule.scalars] for state in states], steps)
                touched.scatter()
                for state, new, t in zip(states, advanced, steps):
                    state.update(new)
                    state["step"] = t

        def _step_group(self, group, kernel, values, params, grads, arrays, scalars, steps) -> list[dict]:
            """The step of one param group: in one pass where the group's ``fused`` asks for it and the
            group step runs it (:func:`step_group`), else the generated code, tensor by tensor."""
            return step_group(kernel, values, params, grads, arrays, scalars, steps, fused=group.get("fused") is True)

        def _init(self, p, values) -> dict:
            """The state before the first step: each variable at its initial value, like ``p``."""
            return {"step": 0, **{s.name: value for s, value in zip(self.rule.states, initial_state(self._kernel, p, values))}}

    Optimizer.__module__ = __name__
    Optimizer.__qualname__ = "Optimizer"
    return Optimizer


def real_view(tensor):
    """A complex tensor's real view (``torch.view_as_real``), any other as it is."""
    return require_torch().view_as_real(tensor) if tensor.is_complex() else tensor


def gradient(rule, p, grad, owner: str):
    """``grad`` as the step takes it: a strided gradient as it is; a sparse (COO) one, for a rule of
    sparse gradients (:attr:`Rule.sparse`), coalesced, as the pair (its indices, as a tuple that
    indexes ``p``'s touched elements, rows when its dense dimensions are whole rows; its values).
    Anything else is refused in one line, naming ``owner`` (the optimizer)."""
    torch = require_torch()
    if grad.layout == torch.strided:
        return grad
    if grad.layout != torch.sparse_coo or not rule.sparse:
        raise SymoptError(f"{owner}: {str(grad.layout)[6:]} gradients are not supported (only a rule of sparse "
                          "gradients, Rule.sparse, takes sparse COO ones)")
    if any(s.shape != "param" for s in rule.arrays):
        raise SymoptError(f"{owner}: {rule.name} keeps states not shaped like the parameter: no sparse gradients")
    grad = grad.coalesce()
    return tuple(grad.indices()), grad.values()


class Touched:
    """The elements of parameters a sparse gradient touches, gathered (copies) for the step of the rule
    on them alone, and written back after it: the other elements keep θ and their states, as in
    torch's SparseAdam (the rule's update of one element does not read the others)."""

    def __init__(self):
        self.writes = []

    def gather(self, index, p, arrays):
        """``p``'s and ``arrays``' elements at ``index`` (new tensors; None stays None), to be written
        back by :meth:`scatter`."""
        gathered = [p[index], *(None if a is None else a[index] for a in arrays)]
        self.writes.append((index, [p, *arrays], gathered))
        return gathered[0], gathered[1:]

    def scatter(self):
        for index, homes, gathered in self.writes:
            for home, values in zip(homes, gathered):
                if home is not None:
                    home[index] = values
        self.writes.clear()


def check_state_dict(rule, state_dict, param_groups) -> None:
    """Refuse, in one line, a state dict that is not one of ``rule``'s for ``param_groups``: groups of
    other sizes or without the rule's hyperparameters (another optimizer's), a state variable the rule
    does not have or of the wrong shape, a step that is not a whole number from 0 to 2**53."""
    import math

    torch = require_torch()
    if not isinstance(state_dict, dict) or not isinstance(state_dict.get("state"), dict) \
            or not isinstance(state_dict.get("param_groups"), list):
        raise SymoptError(f"{rule.name}: a state dict has 'state' and 'param_groups'")
    saved_groups = state_dict["param_groups"]
    if len(saved_groups) != len(param_groups) or any(
            not isinstance(a, dict) or len(a.get("params", ())) != len(b["params"]) for a, b in zip(saved_groups, param_groups)):
        raise SymoptError(f"{rule.name}: the state dict's param groups do not have this optimizer's sizes")
    names = {s.name: s for s in rule.states}
    for saved, group in zip(saved_groups, param_groups):
        missing = [h.name for h in rule.hypers if h.name not in saved]
        if missing:
            raise SymoptError(f"{rule.name}: the state dict's param group lacks {', '.join(missing)}: a state dict of "
                              "another optimizer?")
        for index, p in zip(saved["params"], group["params"]):
            state = state_dict["state"].get(index) or {}
            where = f"{rule.name}: the state of parameter {index}"
            for key, value in state.items():
                if key == "step":
                    number = _number(value)
                    if (isinstance(number, bool) or not isinstance(number, float | int) or not math.isfinite(number)
                            or number != int(number) or not 0 <= number <= 2**53):
                        raise SymoptError(f"{where}: step must be a whole number from 0 to 2**53, not {number!r}")
                elif key not in names:
                    raise SymoptError(f"{where} holds {key!r}, which {rule.name} has no state variable of: a state "
                                      "dict of another optimizer?")
                elif not names[key].scalar:
                    shape = names[key].shape_of(tuple(p.shape))
                    if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
                        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                        raise SymoptError(f"{where}: {key} has shape {got}, the parameter's needs {shape}")
            if state and set(names) - set(state):
                raise SymoptError(f"{where} lacks {', '.join(sorted(set(names) - set(state)))}")


def initial_state(kernel, p, values) -> list:
    """Each state variable of ``kernel``'s rule before the first step, for parameter ``p``: a float for
    a scalar state, a copy of ``p`` for one that starts at θ₀, else a tensor of its shape (a complex
    ``p`` keeps complex states, as torch.optim does, each number of their real view at the initial
    value: Rprop's step size, Adagrad's initial accumulator); None for the kind of
    factored moment ``p``'s shape does not use (torch.optim keeps none)."""
    from symopt import symbols as S

    torch = require_torch()
    out = []
    for s, start in zip(kernel.rule.states, kernel._start(*values)):
        shape = s.shape_of(tuple(p.shape))
        if s.scalar:
            out.append(float(start))
        elif s.shape != "param" and shape == () and p.dim() != 0:
            out.append(None)
        elif s.init == S.theta0:
            out.append(p.detach().clone(memory_format=torch.preserve_format))
        elif s.shape == "param" and p.is_complex():  # each of the real view's numbers at the value, as torch
            out.append(torch.view_as_complex(torch.full_like(torch.view_as_real(p), float(start))))
        elif s.shape == "param":
            out.append(torch.full_like(p, float(start), memory_format=torch.preserve_format))
        else:
            out.append(torch.full(shape, float(start), dtype=p.dtype, device=p.device))
    return out


def _number(value):
    """A group's value as the kernel checks it: a one-element tensor as its number, anything else as
    it is (None or a string is refused there, in one line)."""
    torch = require_torch()
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    return value


def __getattr__(name: str):
    if name == "Optimizer":
        return _optimizer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
