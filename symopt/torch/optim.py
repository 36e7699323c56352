"""torch.optim's classes, each running symopt's rule: ``symopt.torch.optim.AdamW(model.parameters())``.

One class per torch.optim optimizer that a registered rule names as its torch counterpart
(:attr:`Rule.torch`), made from the registry when first asked for: nothing here names a rule. Each
takes torch's constructor signature verbatim (``inspect.signature(torch.optim.X)``), keeps torch's
keys in its param groups (``betas``, ``momentum``: OneCycleLR's ``cycle_momentum`` and every other
scheduler drive it), and torch's keys in a parameter's state (``exp_avg``, ``step``: each
:class:`~symopt.core.State` declares its torch name), so a state dict goes both ways between the
class and torch.optim's.

How torch's keywords reach the rule:

- hyperparameters through their declared library keywords (:func:`symopt.verify.from_library_keywords`:
  ``betas`` to β₁ and β₂); a one-element tensor (a Tensor ``lr``) as its number;
- structural keywords (``amsgrad``, ``nesterov``, ``centered``, ``decoupled_weight_decay``...) choose
  the rule's variant, for each param group at each step, as torch reads them; so does a hyperparameter
  a rule lacks at torch's default (``SGD`` with ``momentum=0`` runs ``sgd``, with momentum
  ``momentum``). A group no variant of a registered rule computes is a one-line error;
- ``maximize`` steps along the gradient (torch negates it first);
- ``fused=True`` or ``foreach=True``: each param group's tensors step in one pass, in place, without
  temporaries (:func:`symopt.torch.step_group`: :class:`symopt.backends.group.GroupKernel`, numba),
  where it takes them all (an elementwise rule, CPU tensors of float32 or float64); the rest, and
  torch's default (None: its for-loop on the CPU), take the generated torch code tensor by tensor
  (:meth:`_step_group`). ``capturable`` is accepted and changes nothing (it is for CUDA graphs; untested
  here: no GPU); the step count stays a Python number. ``differentiable=True`` is refused: the step
  writes in place under ``no_grad``;
- a complex parameter is its real view (``torch.view_as_real``), as in torch, for elementwise rules;
  a rule on whole tensors refuses it (the real view of a matrix is not the matrix), and so does a
  class whose torch.optim counterpart refuses one (SparseAdam).

A rule of sparse gradients (:attr:`Rule.sparse`: SparseAdam) takes sparse COO gradients only, as
torch's class does, and steps the elements they touch alone (gathered, stepped, written back: the others
keep θ and their states), with the parameter's step count advancing at each step it has a gradient.

An unknown keyword, in the constructor or a param group, is a one-line error, never ignored. A
torch.optim class symopt has no rule for (LBFGS, driven by a closure) is refused in one line.

Importing this module does not import torch; a class is made on first use.

Example (torch installed):
    >>> import torch, symopt.torch.optim
    >>> w = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    >>> opt = symopt.torch.optim.AdamW([w], lr=1e-2, betas=(0.9, 0.999))
    >>> w.grad = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
    >>> opt.step()
    >>> w.detach().numpy().round(4)
    array([0.9899, 1.0099, 0.9899])
    >>> sorted(opt.state[w])
    ['exp_avg', 'exp_avg_sq', 'step']
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import operator

from symopt.errors import SymoptError, UnknownNameError
from symopt.torch import (Touched, _group_of, _kernel, _number, eager, gradient, initial_state, real_view,
                          require_torch, step_group)

# Keywords that choose how torch computes a step, not what it computes.
IMPLEMENTATION = ("foreach", "fused", "capturable")
# Keys of a param group besides the constructor's keywords: its parameters and their names.
GROUP_KEYS = ("params", "param_names")
# The machine epsilon of float64: a hyperparameter with this default that torch leaves at None takes
# the parameters' dtype's (Adafactor's ε₁, declared "torch: the dtype's eps").
FLOAT64_EPS = 2.220446049250313e-16
MAX_STEP = 2**53
_GRAD, _DTYPE, _LAYOUT = operator.attrgetter("grad"), operator.attrgetter("dtype"), operator.attrgetter("layout")
_ITEM = operator.methodcaller("item")
_PLAIN = frozenset({float, int, bool, str, type(None)})  # a group's values that key as they are
_EAGER: dict = {}  # a class -> its _step as symopt.torch.eager leaves it


class Refused(SymoptError, AttributeError):
    """A torch.optim class symopt has no rule for (an AttributeError too, so ``hasattr`` is False)."""


@functools.cache
def torch_rules() -> dict[str, tuple]:
    """torch.optim's class names with the rules that compute them: each registered rule naming a
    torch class, in each variant whose structural options torch has (by keyword and type) or that
    leaves them at their defaults, in the registry's order."""
    torch = require_torch()
    from symopt.optimizers import RULES, get, options, variants

    out: dict[str, list] = {}
    for name in RULES:
        rule = get(name)
        cls = getattr(torch.optim, rule.torch, None) if rule.torch else None
        if cls is None:
            continue
        accepted = inspect.signature(cls).parameters
        defaults = options(name)
        for variant in variants(name):
            if all(type(v) is type(defaults[k]) and (k in accepted or v == defaults[k]) for k, v in variant.items()):
                out.setdefault(rule.torch, []).append(get(name, **variant))
    return {key: tuple(value) for key, value in out.items()}


def names() -> list[str]:
    """The classes this module makes: torch.optim's that a registered rule computes."""
    return list(torch_rules())


@functools.cache
def optimizer_class(name: str):
    """The class named ``name`` (torch.optim's name), made from the registry.

    Raises:
        Refused: for a torch.optim class no registered rule computes, naming the reason.
    """
    torch = require_torch()
    reference = getattr(torch.optim, name, None)
    if name not in torch_rules():
        if isinstance(reference, type) and issubclass(reference, torch.optim.Optimizer):
            closure = inspect.signature(reference.step).parameters.get("closure")
            why = (" (its step needs a closure that re-evaluates the loss: it is not an update rule)"
                   if closure is not None and closure.default is inspect.Parameter.empty else "")
            raise Refused(f"symopt has no rule for torch.optim.{name}{why}: use torch.optim.{name}")
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    base = _base_class()
    signature = inspect.signature(reference)
    rules = torch_rules()[name]
    doc = (f"torch.optim.{name}'s constructor and semantics, computed by symopt's "
           f"{', '.join(dict.fromkeys(r.name for r in rules))} (the variant each param group's keys choose).\n\n"
           f"Signature: ``{name}{signature}``.")
    cls = type(name, (base,), {"__doc__": doc, "__module__": __name__, "__qualname__": name,
                               "_torch": name, "_rules": rules, "_signature": signature})
    cls.__signature__ = signature
    cls._others, cls._keys = _foreign(name), _keying(cls, names=True)  # read at every step
    return cls


@functools.cache
def _base_class():
    torch = require_torch()
    from symopt.verify import from_library_keywords, library_keywords

    class TorchOptimizer(torch.optim.Optimizer):
        """What every class of :mod:`symopt.torch.optim` shares (see the module's docstring)."""

        _torch: str = ""
        _rules: tuple = ()
        _signature: inspect.Signature
        _others: frozenset = frozenset()  # _foreign(_torch)
        _keys: tuple = ()  # _keying(cls, names=True)

        def __init__(self, params, *args, **kwargs):
            keywords = list(self._signature.parameters)[1:]
            for key in kwargs:
                if key not in keywords:
                    raise UnknownNameError(f"torch.optim.{self._torch} keyword", key, keywords)
            try:
                bound = self._signature.bind(params, *args, **kwargs)
            except TypeError as exc:
                raise SymoptError(f"torch.optim.{self._torch}: {exc}") from None
            bound.apply_defaults()
            defaults = dict(bound.arguments)
            del defaults[next(iter(self._signature.parameters))]
            super().__init__(params, defaults)

        # --- param groups ---------------------------------------------------------------------
        def add_param_group(self, param_group):
            """torch's, after checking the group's keys: each a keyword of the constructor (an
            unknown one is an error, not ignored), and a variant of the rule computes the group."""
            if isinstance(param_group, dict):
                keywords = list(self._signature.parameters)[1:]
                for key in param_group:
                    if key not in keywords and key not in GROUP_KEYS:
                        raise UnknownNameError(f"torch.optim.{self._torch} param group key", key, keywords)
            super().add_param_group(param_group)
            group = self.param_groups[-1]
            rule = self._rule(group)
            for p in group["params"]:
                if p.is_complex() and not rule.elementwise:
                    raise SymoptError(f"torch.optim.{self._torch}: {rule.name} works on whole tensors and takes no "
                                      "complex parameters (the real view of a matrix is not the matrix)")
                if p.is_complex() and not _takes_complex(self._torch):
                    raise SymoptError(f"torch.optim.{self._torch} takes no complex parameters, as torch's refuses them")
                rule.check_shape(tuple(p.shape))
            if not any(v is None for v in self._raw(rule, group).values()):
                _kernel(rule).hyperparameters(**self._hyper(rule, group, None))

        def _rule(self, group):
            """The variant that computes ``group``: the first whose options are the group's structural
            keywords and whose hyperparameters take the group's values, every keyword it lacks being
            at torch's default."""
            others = _foreign(self._torch)
            if not others.isdisjoint(group):  # set by hand after construction: another optimizer's keyword, never ignored
                foreign = sorted(k for k in group if k in others)
                raise SymoptError(f"torch.optim.{self._torch} takes no {', '.join(foreign)} (a param group key of "
                                  "another optimizer)")
            if group.get("differentiable"):
                raise SymoptError(f"torch.optim.{self._torch}: differentiable=True is not supported (symopt's step "
                                  "writes in place under no_grad)")
            # the choice depends on the structural values and on which hyperparameters are at torch's
            # default (a scheduler moving a value does not add an entry: ranges are checked at the step)
            key = tuple((k, _same(group.get(k, default), default) if hyper else _key(group.get(k)))
                        for k, default, hyper in _keying(type(self)))
            cache = self.__dict__.setdefault("_chosen", {})
            if key not in cache:
                cache[key] = self._choose(group)
            return cache[key]

        def _choose(self, group):
            reasons = []
            for rule in self._rules:
                reason = self._mismatch(rule, group)
                if reason is None:
                    return rule
                reasons.append(reason)
            ranges = [r for r in reasons if " must be in " in r]
            if ranges:  # a variant whose options fit, with a value out of its range
                raise SymoptError(f"torch.optim.{self._torch}: {ranges[0]}")
            raise SymoptError(f"torch.optim.{self._torch} with {reasons[0]}: symopt has no rule for it")

        def _mismatch(self, rule, group) -> str | None:
            """Why ``rule`` does not compute ``group``, or None."""
            options = dict(rule.options)
            carried = {h.keyword for h in rule.hypers}
            for name, parameter in self._signature.parameters.items():
                if name in ("params", "maximize", *IMPLEMENTATION, "differentiable") or name in carried:
                    continue
                value = group.get(name, parameter.default)
                if name in options:
                    if value is None and parameter.default is None:  # torch's None: the rule's default
                        continue
                    if not (value == options[name] and type(value) is type(options[name])):
                        return f"{name}={value!r}"
                elif not _same(value, parameter.default):
                    return f"{name}={value!r}"
            hyper = self._hyper(rule, group, None, check=False)
            for h in rule.hypers:
                value = hyper.get(h.name)
                if isinstance(value, float | int) and not isinstance(value, bool) and not h.contains(float(value)):
                    return f"{h.name} must be in {h.range_text()}, got {value!r}"
            return None

        def _plan(self, group) -> tuple:
            """``(rule, kernel, values)`` of ``group``: :meth:`_rule`, its kernel, and a dict to keep the
            group's checked hyperparameters in by dtype (:meth:`_values`); kept under the group's values
            while they are plain numbers (a scheduler moving one makes a new entry: a few are kept),
            so that a step does not map torch's keywords again while they do not change."""
            others = self._others
            raw = tuple(map(group.get, self._keys))
            if not others.isdisjoint(group) or not _plain(raw):
                rule = self._rule(group)
                return rule, self._kernel(rule), {}
            plans = self.__dict__.setdefault("_plans", {})
            plan = plans.get(raw)
            if plan is None:
                rule = self._rule(group)
                if len(plans) >= 64:
                    plans.clear()
                plan = plans[raw] = (rule, self._kernel(rule), {})
            return plan

        def _values(self, rule, kernel, group, dtype, kept: dict) -> tuple[list[float], frozenset]:
            """The group's hyperparameters in the rule's order, checked (:meth:`Kernel.hyperparameters`),
            for parameters of ``dtype``, and the states no step reads with them (:func:`_dead`); kept in
            ``kept`` (:meth:`_plan`'s) by dtype."""
            made = kept.get(dtype)
            if made is None:
                values = kernel.hyperparameters(**self._hyper(rule, group, dtype))
                made = kept[dtype] = values, _dead(rule, _zeros(rule, values))
            return made

        def _kernel(self, rule):
            """:func:`symopt.torch._kernel` of one of the class's rules, by the rule's identity (a rule's
            hash walks its equations)."""
            kernels = self.__dict__.setdefault("_kernels", {})
            kernel = kernels.get(id(rule))
            if kernel is None or kernel.rule is not rule:
                kernel = kernels[id(rule)] = _kernel(rule)
            return kernel

        def _counts(self, rule) -> bool:
            """Whether a parameter's state keeps a step count: where torch.optim's class keeps one
            (:func:`_torch_counts`: not SGD's) or the rule reads t past its first step
            (:func:`_reads_step`). Without one, a step is the first where the state is made (t = 1), and
            any other is t = 2, which such a rule computes as every later step; kept by the rule's identity."""
            counts = self.__dict__.setdefault("_counting", {})
            found = counts.get(id(rule))
            if found is None or found[0] is not rule:
                found = counts[id(rule)] = (rule, _reads_step(rule) or _torch_counts(self._torch))
            return found[1]

        def _raw(self, rule, group) -> dict:
            return from_library_keywords(rule, {h.keyword: group[h.keyword] for h in rule.hypers
                                                if h.keyword in group})

        def _hyper(self, rule, group, dtype, check=True) -> dict:
            """The group's hyperparameters by the rule's names, as numbers; a None that torch reads as
            the dtype's machine epsilon as that of ``dtype``."""
            out = {}
            for name, value in self._raw(rule, group).items():
                h = rule.hyper(name)
                if h is None:
                    continue
                value = _number(value)
                if value is None and h.default == FLOAT64_EPS and dtype is not None:
                    value = torch.finfo(dtype).eps
                elif value is None and check and dtype is not None:
                    where = f" (position {h.library[1]} of {h.keyword})" if isinstance(h.library, tuple) else ""
                    raise SymoptError(f"torch.optim.{self._torch}: {h.name}{where} must be a number, not None")
                out[name] = value
            return out

        # --- the step -------------------------------------------------------------------------
        def step(self, closure=None):
            """One step for every parameter with a gradient; returns ``closure()`` if given. Under
            ``torch.compile`` it runs eagerly (see :func:`symopt.torch.eager`)."""
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            if not torch.compiler.is_compiling() and _dynamo_callback() is None:  # eager, outside compiled code
                self._step()
                return loss
            run = _EAGER.get(type(self))
            if run is None:  # made once per class, not at every step (importing torch._dynamo takes seconds)
                run = _EAGER[type(self)] = eager(type(self)._step)
            run(self)
            return loss

        def _step(self):
            """The step (see :meth:`step`: under torch.compile, as :func:`symopt.torch.eager` leaves it)."""
            for group in self.param_groups:
                rule, kernel, kept = self._plan(group)
                params = group["params"]
                grads = list(map(_GRAD, params))
                if not all(map(operator.is_not, grads, itertools.repeat(None))):
                    params, grads = [p for p, g in zip(params, grads) if g is not None], [g for g in grads if g is not None]
                if not params:
                    continue
                # the kept pass writes through the tensors' memory and makes no tensor: no grad mode to set
                if (group.get("fused") is True or group.get("foreach") is True) and not group.get("maximize") \
                        and self._step_kept(group, rule, kernel, kept, params, grads):
                    continue
                with torch.no_grad():
                    self._step_other(group, rule, kernel, kept, params, grads)

        def _step_other(self, group, rule, kernel, kept, params, grads) -> None:
            """The step of a group :meth:`_step_kept` does not take (under ``no_grad``): a usual group by
            :meth:`_step_usual`, any other tensor by tensor, with its errors."""
            if self._step_usual(group, rule, kernel, kept, params, grads):
                return
            made = []  # the states made at this step without a count (undone if the step fails)
            try:
                self._step_states(group, rule, kernel, kept, params, grads, made)
            except BaseException:
                for state in made:
                    state.clear()
                raise

        def _step_states(self, group, rule, kernel, kept, params, grads, made) -> None:
            by_dtype: dict = {}
            work: dict = {}
            touched = Touched()
            owner = f"torch.optim.{self._torch}"
            maximize = group.get("maximize")
            # read once per group, not per parameter
            array_states, scalar_states = rule.arrays, rule.scalars
            array_keys = [s.keyword for s in array_states]
            scalar_keys = [s.keyword for s in scalar_states]
            for p, grad in zip(params, grads):
                if rule.sparse and grad.layout == torch.strided:  # as torch's class
                    raise SymoptError(f"{owner} takes sparse gradients only, as torch's does, not a dense one")
                grad = gradient(rule, p, -grad if maximize else grad, owner)
                if p.dtype not in by_dtype:
                    by_dtype[p.dtype] = self._values(rule, kernel, group, p.dtype, kept)
                values, dead = by_dtype[p.dtype]
                state = self.state[p]
                fresh = not state
                if fresh:
                    state.update(self._initial(rule, kernel, p, values, dead))
                    if "step" not in state:
                        made.append(state)
                else:
                    self._check_state(rule, state, p, dead)
                tensors = [state.get(key) for key in array_keys]
                target = p
                if isinstance(grad, tuple):  # a sparse gradient: the touched elements alone
                    index, grad = grad
                    target, tensors = touched.gather(index, p, tensors)
                items = work.get(p.dtype)
                if items is None:
                    items = work[p.dtype] = ([], [], [], [], [], [])
                if target.is_complex():
                    target, grad, tensors = real_view(target), real_view(grad), [
                        real_view(a) if a is not None else a for a in tensors]
                items[0].append(target)
                items[1].append(grad)
                if any(a is None for a in tensors):
                    tensors = [a if a is not None else self._scratch(target, s) for s, a in zip(array_states, tensors)]
                items[2].append(tensors)
                items[3].append([float(_number(state[key])) for key in scalar_keys] if scalar_keys else [])
                count = state.get("step")  # none where torch keeps none: 1 at the state's first step, else 2
                items[4].append(int(_number(count)) + 1 if count is not None else 1 if fresh else 2)
                items[5].append(state)
            for dtype, (targets, gradients, arrays, scalars, steps, states) in work.items():
                advanced = self._step_group(group, kernel, by_dtype[dtype][0], targets, gradients, arrays, scalars,
                                            steps)
                touched.scatter()
                for state, new, t in zip(states, advanced, steps):
                    for s, key in zip(scalar_states, scalar_keys):
                        state[key] = new[s.name]
                    count = state.get("step")
                    if count is not None:
                        count.fill_(t)

        def _step_usual(self, group, rule, kernel, kept, params, grads) -> bool:
            """The step of a usual group, read in a few calls per list rather than a few dozen per
            parameter: dense gradients, one real dtype, every parameter's state made and holding all
            the rule's arrays, step counts as tensors (what the general loop of :meth:`_step` computes,
            in the same order). False, having changed nothing, for any other group (the general loop
            takes it, with its errors)."""
            if rule.sparse or rule.scalars:
                return False
            kinds = set(map(_DTYPE, params))
            dtype = kinds.pop() if len(kinds) == 1 else None
            if dtype not in (torch.float32, torch.float64) or set(map(_LAYOUT, grads)) != {torch.strided}:
                return False
            states = [self.state[p] for p in params]
            values, dead = self._values(rule, kernel, group, dtype, kept)
            fresh = list(map(operator.not_, states))
            made = []  # the states made here without a count: undone if this returns False or fails
            if any(fresh):
                for p, state, new in zip(params, states, fresh):
                    if new:
                        state.update(self._initial(rule, kernel, p, values, dead))
                        if "step" not in state:
                            made.append(state)
            try:
                done = self._step_made(group, rule, kernel, values, params, grads, states, fresh)
            except BaseException:
                done = False
                raise
            finally:
                if not done:
                    for state in made:
                        state.clear()
            return done

        def _step_made(self, group, rule, kernel, values, params, grads, states, fresh) -> bool:
            """:meth:`_step_usual` once the states are made (``fresh``: made at this step)."""
            columns = [list(map(dict.get, states, itertools.repeat(s.keyword))) for s in rule.arrays]
            if not all(all(map(operator.is_not, column, itertools.repeat(None))) for column in columns):
                return False  # a state torch does not keep (a dead buffer), or one missing: checked there
            counters = list(map(dict.get, states, itertools.repeat("step")))
            fused = group.get("fused") is True or group.get("foreach") is True  # numba's; the default path: torch's
            if counters[0] is None:  # no counts (where torch keeps none): 1 at a state's first step, else 2
                if not all(map(operator.is_, counters, itertools.repeat(None))):
                    return False
                through, counters, counts = None, [], [0 if new else 1 for new in fresh]
            elif not all(map(operator.is_not, counters, itertools.repeat(None))):
                return False  # some states with a count, some without: the general loop
            else:
                through = _counters(counters) if fused else None
                if through is not None:  # advanced now, while in cache; put back if the step fails
                    counts = through.advance()
                elif set(map(type, counters)) <= {torch.Tensor}:
                    counts = list(map(_ITEM, counters))
                else:
                    return False
            try:
                steps = [int(count) + 1 for count in counts.tolist()] if through is not None else \
                    [int(count) + 1 for count in counts]
                if group.get("maximize"):
                    grads = torch._foreach_neg(grads)
                arrays = list(zip(*columns)) if columns else [[]] * len(params)
                self._step_group(group, kernel, values, params, grads, arrays, [[]] * len(params), steps)
            except BaseException:
                if through is not None:
                    through.write(counts)
                raise
            if through is None:
                for counter, t in zip(counters, steps):
                    counter.fill_(t)
            return True

        def _step_kept(self, group, rule, kernel, kept, params, grads) -> bool:
            """The fused step of a usual group whose states are made, with what the group step keeps
            checked under the tensors' addresses and layouts (:meth:`GroupKernel.usual`): the states,
            their arrays and step counts read in a few calls per list, the counts advanced in the same
            pass over them. False, having changed nothing, where it does not apply (:meth:`_step_usual`
            goes on, with its errors)."""
            together = _group_of(kernel) if not (rule.sparse or rule.scalars) else None
            if together is None:
                return False
            states = _states(self.state, params)
            t = None  # from the counts
            if not all(states):  # states to make (_step_usual makes them), or none to keep (SGD's without momentum)
                if rule.arrays or any(states) or self._counts(rule):
                    return False
                t = 1  # as every step of a state made empty
            columns = [list(map(dict.get, states, itertools.repeat(s.keyword))) for s in rule.arrays]
            if not all(all(map(operator.is_not, column, itertools.repeat(None))) for column in columns):
                return False
            counters = list(map(dict.get, states, itertools.repeat("step")))
            if counters[0] is None:  # no counts (where torch keeps none): each state made at an earlier step
                if not all(map(operator.is_, counters, itertools.repeat(None))):
                    return False
                counters, t = [], t or 2
            usual = together.usual(params, grads, columns, counters)
            if usual is None:
                return False
            values, _ = self._values(rule, kernel, group, params[0].dtype, kept)
            return together.run_usual(usual, values, threads=torch.get_num_threads(), t=t)

        def _step_group(self, group, kernel, values, params, grads, arrays, scalars, steps) -> list[dict]:
            """The step of one param group's parameters of one dtype: with ``fused=True`` or
            ``foreach=True``, all its tensors in one pass where the group step runs them
            (:func:`symopt.torch.step_group`), else the generated code, tensor by tensor."""
            fused = group.get("fused") is True or group.get("foreach") is True
            return step_group(kernel, values, params, grads, arrays, scalars, steps, fused=fused)

        def _scratch(self, p, s):
            """Where the step writes a state torch does not keep (a factored moment of the kind p's
            shape does not use, a buffer the group's zero momentum leaves out): shared, never read."""
            shape = () if s.shape != "param" and p.dim() else tuple(p.shape)
            scratch = self.__dict__.setdefault("_scratches", {})
            key = (s.name, shape, p.dtype, p.device)
            if key not in scratch:
                scratch[key] = torch.zeros(shape, dtype=p.dtype, device=p.device)
            return scratch[key]

        def _initial(self, rule, kernel, p, values, dead) -> dict:
            """A parameter's state at its first step: a step count where torch's class keeps one or the
            rule reads it (:meth:`_counts`), the rule's states torch keeps."""
            state = {"step": torch.tensor(0.0, dtype=_scalar_dtype())} if self._counts(rule) else {}
            for s, value in zip(rule.states, initial_state(kernel, p, values)):
                if value is not None and s.name not in dead:
                    state[s.keyword] = value
            return state

        def _check_state(self, rule, state, p, dead) -> None:
            """Each state the step reads is there (a group's variant may not change after its first step)."""
            for s in rule.states:
                if s.keyword not in state and _kept(s, p) and s.name not in dead:
                    raise SymoptError(f"torch.optim.{self._torch}: a parameter's state has no {s.keyword!r}, which "
                                      f"{_label(rule)} needs (was a structural keyword changed after the first step?)")

        # --- checkpoints ----------------------------------------------------------------------
        def load_state_dict(self, state_dict):
            """torch's, after checking that ``state_dict`` is one of this class's (or torch.optim's own
            class's): the groups' keys, each parameter's state keys and shapes, and the step counts.
            A symopt state (m, v by the rule's names) loads under torch's names."""
            if isinstance(state_dict, dict) and isinstance(state_dict.get("state"), dict):  # checked on a copy
                state_dict = {**state_dict, "state": {k: dict(v) if isinstance(v, dict) else v
                                                      for k, v in state_dict["state"].items()}}
                if isinstance(state_dict.get("param_groups"), list):
                    state_dict["param_groups"] = [self._torch_group(saved, group) if isinstance(saved, dict) else saved
                                                  for saved, group in zip(state_dict["param_groups"], self.param_groups)]
            self._validate(state_dict)
            super().load_state_dict(state_dict)

        def _torch_group(self, saved, group) -> dict:
            """A saved group by torch's keys: a symopt.torch.Optimizer's (by the rule's names, ``beta1``
            and ``beta2``) through the declared library keywords; a keyword it lacks (an older
            torch's; a structural one, which symopt's keeps in its rule) as this optimizer's group has it.
            A symopt.torch.Optimizer's ``fused`` becomes this class's ``fused``, or its ``foreach``."""
            rule = self._rule(group)
            names = [h.name for h in rule.hypers]
            if all(n in saved for n in names) and set(saved) - set(GROUP_KEYS) <= {*names, "fused"}:
                fused = saved.get("fused")
                saved = {k: v for k, v in saved.items() if k != "fused"}
                if any(h.keyword not in saved for h in rule.hypers):
                    saved = {**{k: v for k, v in saved.items() if k not in names},
                             **library_keywords(rule, {n: saved[n] for n in names})}
                keyword = next((k for k in ("fused", "foreach") if k in self._signature.parameters), None)
                if isinstance(fused, bool) and keyword:
                    saved[keyword] = fused or None
            return {**{k: v for k, v in group.items() if k not in GROUP_KEYS}, **saved}

        def _validate(self, state_dict) -> None:
            if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
                raise SymoptError(f"torch.optim.{self._torch}: a state dict has 'state' and 'param_groups'")
            saved_groups = state_dict["param_groups"]
            if len(saved_groups) != len(self.param_groups) or any(
                    len(a["params"]) != len(b["params"]) for a, b in zip(saved_groups, self.param_groups)):
                raise SymoptError(f"torch.optim.{self._torch}: the state dict's param groups do not have this "
                                  "optimizer's sizes")
            keywords = set(list(self._signature.parameters)[1:])
            others = _foreign(self._torch)
            needed = {h.keyword for r in self._rules for h in r.hypers} & keywords
            for saved in saved_groups:
                foreign = sorted(k for k in saved if k in others and k not in GROUP_KEYS)
                missing = sorted(needed - set(saved))
                if foreign or missing:
                    what = ", ".join([*(f"has {k!r}" for k in foreign), *(f"lacks {k!r}" for k in missing)])
                    raise SymoptError(f"torch.optim.{self._torch}: the state dict's param group {what}: "
                                      "a state dict of another optimizer?")
            for saved, group in zip(saved_groups, self.param_groups):
                merged = {**group, **{k: v for k, v in saved.items() if k != "params"}}
                rule = self._rule(merged)
                for index, p in zip(saved["params"], group["params"]):
                    state = state_dict["state"].get(index)
                    if state:
                        values = _kernel(rule).hyperparameters(**self._hyper(rule, merged, p.dtype))
                        self._validate_state(rule, state, p, index, _dead(rule, _zeros(rule, values)))

        def _validate_state(self, rule, state, p, index, dead) -> None:
            where = f"torch.optim.{self._torch}: the state of parameter {index}"
            known = {s.keyword: s for r in self._rules for s in r.states}
            for key, value in list(state.items()):
                if key == "step":
                    continue
                if key not in known:
                    by_name = {s.name: s for s in rule.states}
                    if key in by_name and by_name[key].keyword not in state:  # symopt's name: torch's key
                        state[by_name[key].keyword] = state.pop(key)
                        continue
                    raise SymoptError(f"{where} holds {key!r}, which {_label(rule)} keeps no state under: "
                                      "a state dict of another optimizer?")
            for s in rule.states:
                value = state.get(s.keyword)
                if value is None:
                    if _kept(s, p):
                        if s.name not in dead:
                            raise SymoptError(f"{where} has no {s.keyword!r}, which {_label(rule)} needs")
                        state.pop(s.keyword, None)
                    continue
                if s.scalar:
                    number = _number(value)
                    if isinstance(number, bool) or not isinstance(number, float | int) or not math.isfinite(number):
                        raise SymoptError(f"{where}: {s.keyword} must be a finite number, not {value!r}")
                    state[s.keyword] = float(number)
                    continue
                shape = tuple(p.shape) if s.shape == "param" else s.shape_of(tuple(p.shape))
                if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
                    got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                    raise SymoptError(f"{where}: {s.keyword} has shape {got}, the parameter's needs {shape}")
            step = state.get("step", 1 if any(v is not None for k, v in state.items()) else 0)
            number = _number(step)
            if (isinstance(number, bool) or not isinstance(number, float | int) or not math.isfinite(number)
                    or number != int(number) or not 0 <= number <= MAX_STEP):
                raise SymoptError(f"{where}: step must be a whole number from 0 to 2**53, not {number!r}")
            if not self._counts(rule):  # kept as torch keeps it, without a count; a state never stepped: none
                state.pop("step", None)
                if number == 0:
                    state.clear()
                return
            if "step" not in state:  # torch keeps no count (SGD's): its step does not read one past the first
                if _reads_step(rule):
                    raise SymoptError(f"{where} has no 'step', which {_label(rule)} reads")
            state["step"] = torch.tensor(float(number), dtype=_scalar_dtype())

    def _scalar_dtype():
        return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32

    TorchOptimizer.__module__ = __name__
    return TorchOptimizer


@functools.cache
def _foreign(name: str) -> frozenset:
    """The keywords of torch.optim's other classes that torch.optim.``name`` does not know (its base
    classes' count as its own: AdamW's groups hold Adam's decoupled_weight_decay)."""
    torch = require_torch()

    def optimizer(obj) -> bool:
        return isinstance(obj, type) and issubclass(obj, torch.optim.Optimizer) and obj is not torch.optim.Optimizer

    own = set().union(*(inspect.signature(base).parameters for base in getattr(torch.optim, name).__mro__
                        if optimizer(base)))
    every = set().union(*(inspect.signature(getattr(torch.optim, n)).parameters for n in dir(torch.optim)
                          if optimizer(getattr(torch.optim, n))))
    return frozenset(every - own - set(GROUP_KEYS))


@functools.cache
def _takes_complex(name: str) -> bool:
    """Whether torch.optim.``name`` takes a complex parameter (SparseAdam refuses one when made)."""
    torch = require_torch()
    try:
        getattr(torch.optim, name)([torch.zeros(2, 2, dtype=torch.complex64, requires_grad=True)])
    except (ValueError, RuntimeError, TypeError):
        return False
    return True


def _states(state: dict, params: list) -> list[dict]:
    """``[state[p] for p in params]`` (an optimizer's state dicts, made where missing), without hashing
    each parameter where ``state`` holds exactly ``params`` in their order (one param group)."""
    if len(state) == len(params):
        keys = list(state)
        if all(map(operator.is_, keys, params)):
            return list(state.values())
    return [state[p] for p in params]


def _dynamo_callback():
    """The frame evaluation torch.compile has installed (None outside compiled code), or None where
    torch has no such hook."""
    if not _CALLBACK:
        try:
            from torch._C._dynamo.eval_frame import get_eval_frame_callback
        except ImportError:  # an older or newer torch: the step always goes through symopt.torch.eager
            def get_eval_frame_callback():
                return True
        _CALLBACK.append(get_eval_frame_callback)
    return _CALLBACK[0]()


_CALLBACK: list = []


@functools.cache
def _torch_counts(name: str) -> bool:
    """Whether torch.optim.``name`` keeps a step count in a parameter's state (SGD keeps none): seen
    after one step of torch's class on a small parameter, with momentum where its default is 0 (a
    buffer to keep); True where that step fails (a class of sparse gradients)."""
    torch = require_torch()
    cls = getattr(torch.optim, name)
    signature = inspect.signature(cls).parameters
    kwargs = {"momentum": 0.9} if "momentum" in signature and signature["momentum"].default == 0 else {}
    p = torch.nn.Parameter(torch.ones(2, 2))
    p.grad = torch.ones(2, 2)
    try:
        optimizer = cls([p], **kwargs)
        with torch.no_grad():  # the step itself, without its profiling and hooks
            inspect.unwrap(cls.step)(optimizer)
    except Exception:  # noqa: BLE001 - any refusal: keep a count
        return True
    return "step" in optimizer.state[p]


def _kept(state, p) -> bool:
    """Whether torch.optim keeps ``state`` for ``p``: not a factored moment of the kind ``p``'s shape
    does not use (Adafactor's row and column moments of a vector)."""
    return state.scalar or state.shape == "param" or p.dim() == 0 or state.shape_of(tuple(p.shape)) != ()


def _counters(tensors: list):
    """The step counts held by ``tensors``, read and written in one call each where the group step
    can (:class:`symopt.backends.group.Counters`: numba installed, CPU tensors of one element), else
    None."""
    try:
        from symopt.backends.group import Counters

        return Counters.of(tensors)
    except (ImportError, SymoptError):  # numba missing
        return None


@functools.cache
def _keying(cls, names: bool = False) -> tuple:
    """The keywords a group of ``cls`` is keyed by (:meth:`_rule`): each with torch's default and
    whether it carries a hyperparameter of one of the class's rules; with ``names``, the keywords alone."""
    carried = {h.keyword for r in cls._rules for h in r.hypers}
    keying = tuple((k, p.default, k in carried) for k, p in cls._signature.parameters.items() if k != "params")
    return tuple(k for k, _, _ in keying) if names else keying


def _plain(values: tuple) -> bool:
    """Whether a group's values are plain (numbers, flags, strings, None, tuples of them): a key as
    they are, which no change in place can make stale (a Tensor's can)."""
    return set(map(type, values)) <= _PLAIN or all(
        type(v) in _PLAIN or (type(v) is tuple and set(map(type, v)) <= _PLAIN) for v in values)


def _key(value):
    """A group's value as part of a cache key (tensors and lists by their numbers)."""
    if type(value) in _PLAIN:
        return value
    torch = require_torch()
    if isinstance(value, torch.Tensor):
        return ("tensor", value.item()) if value.numel() == 1 else ("tensor", id(value))
    if isinstance(value, list | tuple):
        return tuple(_key(v) for v in value)
    return value


def _same(value, default) -> bool:
    """Whether a group's value is torch's default (a number by value, anything else by identity)."""
    if type(value) is float and type(default) in (float, int):
        return value == default
    value = _number(value)
    if isinstance(default, bool) or isinstance(value, bool) or default is None or value is None:
        return value is default or (isinstance(value, bool) and isinstance(default, bool) and value == default)
    try:
        return value == default
    except (TypeError, RuntimeError):
        return False


def _label(rule) -> str:
    from symopt.optimizers import label

    return label(rule)


def _zeros(rule, values) -> frozenset:
    """The hyperparameters at 0 whose terms the kernels leave out (``skip_when_zero``)."""
    return frozenset(h.name for h, v in zip(rule.hypers, values) if h.skip_when_zero and v == 0)


@functools.cache
def _dead(rule, zeros: frozenset) -> frozenset:
    """The states whose previous value no step reads with the hyperparameters ``zeros`` at 0 (RMSprop's
    buffer at momentum 0): torch keeps none of them. A state is read when θ's step, the state the model
    is evaluated at (:attr:`Rule.evaluate`, ASGD's average), or the step of a state that is read, uses
    it (by fixed point); the evaluated state itself is kept."""
    from symopt import symbols as S

    at_zero = {h.symbol: 0 for h in rule.hypers if h.name in zeros}
    step = {k: v.xreplace(at_zero) for k, v in rule.step_map().items()}
    live = {S.theta, *(s.new for s in rule.states if s.name == rule.evaluate)}
    changed = True
    while changed:
        changed = False
        for s in rule.states:
            if s.new not in live and any(s.prev in step[x].free_symbols for x in live):
                live.add(s.new)
                changed = True
    return frozenset(s.name for s in rule.states if s.new not in live)


@functools.cache
def _reads_step(rule) -> bool:
    """Whether the rule's step reads t other than to single out the first step (SGD's buffer starts
    as the gradient): without a count, a run resumes as after step 1 only if it does not."""
    import sympy as sp

    from symopt import symbols as S

    for expr in rule.step_map().values():
        first = expr.replace(lambda e: isinstance(e, sp.Eq) and S.t in e.free_symbols, lambda e: sp.false)
        if S.t in first.free_symbols:
            return True
    return False


def __getattr__(name: str):
    if not name[:1].isupper():  # torch.optim's classes are capitalised
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return optimizer_class(name)


def __dir__():
    try:
        return sorted([*globals(), *names()])
    except SymoptError:  # no torch: no classes
        return sorted(globals())
