"""Cross-checks: a rule's compiled kernel against another implementation, on generated trajectories.

The other implementation is a witness that shares nothing with the rules: the hand-written NumPy
references (:mod:`symopt.reference`), torch.optim, or a user's own step function
(``symopt check``). Hypothesis generates whole trajectories (:func:`symopt.strategies.trajectories`)
and shrinks any disagreement to a small counterexample.

Two trajectories agree when every parameter, at every step, differs by at most ``TOLERANCE[dtype]``
times a scale: the larger of the largest finite magnitude it reaches in the witness's trajectory,
and a running bound on the rounding error any faithful evaluation of the rule can make
(:func:`magnitude_runner`, derived from the rule's step map). A parameter passing through zero, or
a moving average whose terms cancel, then cannot turn rounding into a large relative error, while
a different formula (ε in another place) still shows at once. NaN must meet NaN, and ±inf the same
inf.

Needs Hypothesis (``pip install "symopt-toolkit[verify]"``).
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.util
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from symopt.core import ParametersDtype, Rule
from symopt.errors import SymoptError
from symopt.optimizers import label

# A step function in symopt's convention: step(params, grads, state, t, **hyper) -> (params, state).
StepFunction = Callable[..., tuple]
# Something that runs a whole trajectory and returns θ after each step.
Runner = Callable[["Trajectory"], list[np.ndarray]]

# The witnesses every rule may name; the packages rules declare (``Rule.library``: schedulefree,
# timm, ...) join them in :func:`witnesses`. A missing witness: a rule with no hand-written
# reference fails verification; one a library lacks is reported as such.
BUILT_IN = ("reference", "torch", "optax")


def library_package(rule: Rule) -> str:
    """The package a rule's declared library implementation comes from (``"timm"`` for
    ``("timm.optim.adopt", "Adopt")``), the name ``verify --against`` takes; "" if none."""
    return rule.library[0].partition(".")[0]


def witnesses() -> tuple[str, ...]:
    """What ``verify --against`` takes: the built-in witnesses, then every package a registered rule's
    default variant declares its semantics from, in the order of the registry."""
    from symopt.optimizers import get, rules

    declared = (library_package(get(name)) for name in rules())
    return tuple(dict.fromkeys([*BUILT_IN, *(p for p in declared if p)]))


def require_hypothesis():
    """:mod:`symopt.strategies`, or a one-line error saying how to install Hypothesis."""
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        raise SymoptError('this needs Hypothesis: pip install "symopt-toolkit[verify]"') from None
    from symopt import strategies

    return strategies


# --- running trajectories --------------------------------------------------------------------------
class StepFunctionError(Exception):
    """A step function under test went wrong on a valid case (see :func:`run_steps`).

    ``unusable`` is True when what it returned is not ``(params, state)`` at all, so that it cannot
    be checked (``symopt check`` exits 2); otherwise it is a failure of the implementation (exit 1).
    """

    unusable = False


class StepRaised(StepFunctionError):
    """The step function raised: any exception, SystemExit and other BaseExceptions included (only
    KeyboardInterrupt goes through), so that user code cannot end or steer the run."""

    def __init__(self, exc: BaseException):
        self.original = exc
        try:
            detail = " ".join(str(exc).split())
        except Exception:  # an exception that cannot even say what it is
            detail = "(its message cannot be printed)"
        super().__init__(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)


class CannotRun(Exception):
    """A witness cannot run a case at all (a parameter shape its library refuses, as optax's sm3 a
    0-d one): the case is not compared (a generated one is rejected, an explicit one skipped)."""


class BadReturn(StepFunctionError):
    """The step function returned something other than real parameters of the right shape."""

    def __init__(self, message: str, unusable: bool):
        self.unusable = unusable
        super().__init__(message)


def _kind_of(value) -> str:
    """``None``, ``a str``, ``an ndarray``: what a value is, without calling its ``repr``."""
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _unpack(result, like: np.ndarray, t: int) -> tuple[np.ndarray, object]:
    """``(params, state)`` from what a step function returned, params as a new array.

    Raises :class:`BadReturn`: unusable if the result is not a pair, or its params not an array of
    numbers (a string, a dict, None, an object array); a failure if they are complex or of the
    wrong shape.
    """
    try:
        if inspect.iscoroutine(result):
            result.close()  # an ``async def``: never awaited, and no warning about it
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            what = f"a {type(result).__name__} of {len(result)} items" if isinstance(result, (tuple, list)) else _kind_of(result)
            raise BadReturn(f"step {t} returned {what}", unusable=True)
        params, state = tuple(result)
        array = np.array(params, copy=True)
    except BadReturn:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # np.array on a hostile object, a tuple subclass that raises...
        raise BadReturn(f"step {t} returned params NumPy cannot read as an array ({StepRaised(exc)})",
                        unusable=True) from None
    if array.dtype.kind == "c":
        raise BadReturn(f"step {t} returned complex parameters ({array.dtype}): they must be real", unusable=False)
    if array.dtype.kind not in "fiu":
        what = f"an array of {array.dtype}" if isinstance(params, np.ndarray) else _kind_of(params)
        raise BadReturn(f"step {t} returned {what} as params", unusable=True)
    if array.shape != like.shape:
        raise BadReturn(f"step {t} returned params of shape {array.shape} for parameters of shape {like.shape}",
                        unusable=False)
    return array, state


def run_steps(step: StepFunction, case, **fixed) -> list[np.ndarray]:
    """θ after each step of ``case``, taken with ``step`` from an empty state (``{}``).

    ``step`` is given copies of the parameters and gradients, so that it may update them in place
    (torch style) without touching the trajectory recorded or the case; the state it returns is its
    own and is handed back to it as it is. What it returns is recorded as a copy, after checking it
    is ``(params, state)`` with params real numbers of the parameters' shape.

    Raises:
        StepRaised: if ``step`` raised anything (KeyboardInterrupt aside).
        BadReturn: if it returned something else than ``(params, state)``.
    """
    params, state, out = case.params.copy(), {}, []
    for t, grads in enumerate(case.grads, start=1):
        try:
            result = step(params.copy(), grads.copy(), state, t, **case.hyper_at(t), **fixed)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: user code must not end symopt with no verdict
            raise StepRaised(exc) from exc
        params, state = _unpack(result, case.params, t)
        out.append(params)
    return out


def kernel_runner(rule: Rule, backend: str = "numpy", rounding: str | None = None) -> Runner:
    """Run ``rule``'s compiled kernel (on ``backend``: ``numpy`` or ``numba``; with
    ``rounding="bfloat16"`` where torch rounds: see :func:`rounding_of`)."""
    kernel = rule.kernel(backend, rounding=rounding)

    def run(case) -> list[np.ndarray]:
        # the state starts from step 1's hyperparameters, as torch.optim creates it in the first
        # step (Rprop's step sizes and ASGD's η̂ start at the learning rate of that step)
        params, state, out = case.params.copy(), kernel.init(case.params, **case.hyper_at(1)), []
        for t, grads in enumerate(case.grads, start=1):
            params, state = kernel.step(params, grads, state, t, **case.hyper_at(t))
            out.append(params)
        return out

    return run


def reference_runner(rule: Rule) -> Runner | None:
    """Run the hand-written NumPy reference of ``rule`` with its structural options, if there is one."""
    from symopt.reference import REFERENCES

    step = REFERENCES.get(rule.name)
    if step is None:
        return None
    options = dict(rule.options)
    return lambda case: run_steps(step, case, **options)


def torch_arguments(rule: Rule, hyper: dict) -> dict | str:
    """The keyword arguments of ``rule``'s torch.optim constructor, or why torch has no such rule.

    Generic over the registry: a rule names its torch class (:attr:`Rule.torch`); hyperparameters
    pass by keyword (``beta1`` and ``beta2`` as ``betas``), and so do the structural options the
    constructor knows (``nesterov``, ``amsgrad``, ``centered``, ``decoupled_weight_decay``). An
    option it does not know is a variant torch lacks, unless it has its default value.
    """
    import torch

    from symopt.optimizers import options as defaults

    if not rule.torch:
        return f"torch.optim has no {label(rule)}"
    cls = getattr(torch.optim, rule.torch, None)
    if cls is None:  # an older torch: Muon came in 2.9
        return f"torch.optim {torch.__version__} has no {rule.torch}"
    accepted = inspect.signature(cls).parameters
    arguments: dict = {}
    for key, value in dict(rule.options).items():
        # an option torch knows, with a value of its type (amsgrad="corrected" is optax's, not torch's)
        if key in accepted and type(value) is type(defaults(rule.name)[key]):
            arguments[key] = value
        elif value != defaults(rule.name)[key]:
            return f"torch.optim.{rule.torch} has no option {key}={value!r}"
    return {**arguments, **library_keywords(rule, hyper)}


def library_keywords(rule: Rule, hyper: dict) -> dict:
    """symopt's hyperparameter values as the library's keywords, read from each hyperparameter's
    declaration (:attr:`Hyper.library`): ``beta1`` and ``beta2`` as ``betas``, Muon's Newton–Schulz
    coefficients as ``ns_coefficients``; counts (``integer``) as Python integers. A position of a
    tuple that ``hyper`` lacks takes its hyperparameter's default. Keys that are not hyperparameters
    of ``rule`` pass unchanged."""
    declared = {h.name: h for h in rule.hypers}
    values: dict = {}
    tuples: dict[str, dict[int, object]] = {}
    for key, value in hyper.items():
        h = declared.get(key)
        if h is None:
            values[key] = value
            continue
        value = int(value) if h.integer else value
        if isinstance(h.library, tuple):
            tuples.setdefault(h.library[0], {})[h.library[1]] = value
        else:
            values[h.keyword] = value
    for h in rule.hypers:  # a tuple is passed whole
        if isinstance(h.library, tuple) and h.library[0] in tuples:
            tuples[h.library[0]].setdefault(h.library[1], int(h.default) if h.integer else h.default)
    for keyword, positions in tuples.items():
        values[keyword] = tuple(positions[i] for i in sorted(positions))
    return values


def from_library_keywords(rule: Rule, values: dict) -> dict:
    """The inverse of :func:`library_keywords`: the library's keyword values (``betas=(0.9, 0.99)``,
    ``ns_coefficients``, Adafactor's ``eps``) as ``rule``'s hyperparameters by name (``beta1``,
    ``beta2``...), read from each hyperparameter's declaration (:attr:`Hyper.library`). Keys that
    carry no hyperparameter of ``rule`` pass unchanged.

    Raises:
        SymoptError: for a tuple keyword that is not a tuple (or list) with a value at each position
            the rule declares.
    """
    carried = {h.keyword for h in rule.hypers}
    out = {key: value for key, value in values.items() if key not in carried}
    for h in rule.hypers:
        if h.keyword not in values:
            continue
        value = values[h.keyword]
        if isinstance(h.library, tuple):
            size = 1 + max(x.library[1] for x in rule.hypers if isinstance(x.library, tuple) and x.keyword == h.keyword)
            if not isinstance(value, tuple | list) or len(value) != size:
                raise SymoptError(f"{h.keyword} must be a tuple of {size} values, not {value!r}")
            value = value[h.library[1]]
        out[h.name] = value
    return out


def torch_runner(rule: Rule, **extra) -> Runner | str:
    """Run torch.optim's implementation of ``rule`` (float64 default dtype), or say why torch has none;
    ``extra`` are more constructor arguments (``maximize=True``: :mod:`symopt.audit`)."""
    try:
        import torch
    except ImportError:
        raise SymoptError('comparing with torch needs torch: pip install "symopt-toolkit[torch]"') from None
    missing = torch_arguments(rule, {h.name: h.default for h in rule.hypers})
    if isinstance(missing, str):
        return missing
    cls = getattr(torch.optim, rule.torch)
    # the single-tensor code path (Muon has no other, and no foreach argument)
    single = {"foreach": False} if "foreach" in inspect.signature(cls).parameters else {}

    def run(case) -> list[np.ndarray]:
        try:
            return _torch_trajectory(case, lambda param: cls([param], **torch_arguments(rule, case.hyper_at(1)),
                                                             **single, **extra),
                                     lambda group, hyper: group.update(lr=hyper["lr"]), sparse=rule.sparse)
        except ZeroDivisionError:
            if case.params.size:
                raise
            from hypothesis import reject

            reject()  # torch.optim.Adafactor divides by the number of elements: no empty parameters
            raise

    return run


def touching_every_element(grad):
    """``grad`` (a dense torch tensor) as a sparse COO tensor that touches every element, zeros
    included: what a rule of sparse gradients (:attr:`Rule.sparse`) is the update of."""
    import torch

    indices = torch.ones(grad.shape, dtype=torch.bool).nonzero().T
    return torch.sparse_coo_tensor(indices, grad.reshape(-1), grad.shape, check_invariants=True)


def _torch_trajectory(case, build: Callable, configure: Callable, sparse: bool = False) -> list[np.ndarray]:
    """θ after each step of a torch optimizer made by ``build(param)``, each step's hyperparameters
    set by ``configure(param_group, hyper)`` (torch keeps its step counter in the default dtype,
    float64 here); with ``sparse``, each gradient as a sparse tensor touching every element."""
    import torch

    previous, threads = torch.get_default_dtype(), torch.get_num_threads()
    torch.set_default_dtype(torch.float64)
    # one thread: the cases are a few elements, and bfloat16 products (Muon) on many threads of a
    # busy machine took 20 ms each against 0.05 ms on one
    torch.set_num_threads(1)
    try:
        param = torch.tensor(case.params.copy(), requires_grad=True)
        optimizer = build(param)
        out = []
        for t, grads in enumerate(case.grads, start=1):
            configure(optimizer.param_groups[0], case.hyper_at(t))
            grad = torch.tensor(grads.copy())
            param.grad = touching_every_element(grad) if sparse else grad
            optimizer.step()
            out.append(param.detach().numpy().copy())
        return out
    finally:
        torch.set_default_dtype(previous)
        torch.set_num_threads(threads)


def library_runner(rule: Rule, package: str) -> Runner | str:
    """Run another library's implementation of ``rule`` (declared with the rule: ``Rule.library``),
    or say why there is none. The library's optimizer is built with its defaults and each step's
    hyperparameters are set in its parameter group (``beta1``, ``beta2`` as ``betas``), so that
    values its constructor refuses but its step computes (Schedule-Free's β = 0 or 1) are compared too.
    """
    module_name, cls_name = rule.library
    if library_package(rule) != package:
        elsewhere = library_package(rule)  # another variant of the rule may be the package's
        return f"{package} has no {label(rule)}" + (f" (it is {rule.source}'s: --against {elsewhere})" if elsewhere else "")
    try:
        import torch  # noqa: F401 (the package is built on it)
    except ImportError:
        raise SymoptError(f'comparing with {package} needs torch: pip install "symopt-toolkit[torch]"') from None
    cls = getattr(import_library(module_name), cls_name)
    accepted = inspect.signature(cls).parameters
    # the single-tensor code path where there is a choice; the structural options it takes, by their
    # library keywords (an option's annotation may declare one: timm's ``caution`` for ``cautious``)
    fixed = {"foreach": False} if "foreach" in accepted else {}
    made = _library_options(rule, accepted, f"{module_name}.{cls_name}")
    if isinstance(made, str):
        return made
    fixed.update(made)
    # the arguments the rule declares its class is always built with (timm's Lamb: max_grad_norm=None)
    unknown = [key for key, _ in rule.library_arguments if key not in accepted]
    if unknown:
        return f"{module_name}.{cls_name} takes no {', '.join(unknown)}"
    fixed.update(rule.library_arguments)

    # the keywords its constructor requires (timm's SGDP has no default learning rate): step 1's values
    required = {key for key, p in accepted.items() if p.kind is not p.VAR_KEYWORD and p.kind is not p.VAR_POSITIONAL
                and key != "params" and (p.default is p.empty or type(p.default).__name__ == "_RequiredParameter")}

    # and the hyperparameters it reads when it is built (Prodigy's d0 starts its estimate): step 1's too
    constructed = {h.keyword for h in rule.hypers if h.constructed}

    def build(param, hyper):
        given = {key: value for key, value in library_keywords(rule, hyper).items()
                 if key in required or key in constructed}
        # an argument that is the parameters' dtype (timm's AdafactorBigVision's momentum_dtype): this run's
        resolved = {key: param.dtype if isinstance(value, ParametersDtype) else value for key, value in fixed.items()}
        optimizer = cls([param], **resolved, **given)
        if hasattr(optimizer, "train"):  # Schedule-Free's optimizers compute the step in train mode
            optimizer.train()
        return optimizer

    def run(case) -> list[np.ndarray]:
        try:
            return _torch_trajectory(case, lambda param: build(param, case.hyper_at(1)),
                                     lambda group, hyper: group.update(library_keywords(rule, hyper)))
        except (RuntimeError, ZeroDivisionError):
            if case.params.size:
                raise
            from hypothesis import reject

            reject()  # timm's AdamP cannot view an empty tensor by its channels: no empty parameters
            raise

    return run


def _library_options(rule: Rule, accepted, where: str) -> dict | str:
    """The structural options of ``rule`` as a library's class takes them: by the option's name, or as
    its annotation declares (:func:`symopt.optimizers.option_forms`: timm's ``caution`` for
    ``cautious``, ADOPT's ``clip=False`` as ``clip_exp=None``); or why the class has no such variant:
    an option it does not take, set to another value than its default."""
    from symopt.optimizers import option_forms, options as defaults

    try:
        known, forms = defaults(rule.name), option_forms(rule.name)
    except SymoptError:  # a rule built outside the registry: its options as they are named
        known, forms = {}, {}
    out: dict = {}
    for key, value in rule.options:
        form = forms.get(key)
        if form is not None:
            passed, given = form.expressed(value)
            if not passed:  # the class's default expresses it
                continue
            if form.keyword in accepted:
                out[form.keyword] = given
                continue
        elif key in accepted and (key not in known or type(value) is type(known[key])):
            out[key] = value
            continue
        if key in known and value != known[key]:
            return f"{where} has no option {key}={value!r}"
    return out


def import_library(name: str):
    """Import the module ``name`` of a witness package (``"timm.optim.adopt"``). If the package's own
    ``__init__`` cannot be imported, the module is loaded by itself, its parent packages stubbed with
    their paths: timm's ``__init__`` imports torchvision for its models, which a CPU-only torch may not
    have (its PyPI wheel is a CUDA build), while timm's optimizers import torch alone.

    Raises:
        SymoptError: if the package is not installed, saying how to install it.
    """
    import sys
    import types

    package = name.partition(".")[0]
    install = f'comparing with {package} needs it: pip install "symopt-toolkit[{package}]"'
    try:
        return importlib.import_module(name)
    except ImportError as error:
        if error.name and error.name.partition(".")[0] == package:
            raise SymoptError(install) from None
        failed = error
    except Exception as error:  # noqa: BLE001 (a broken dependency of the package's __init__)
        failed = error
    spec = importlib.util.find_spec(package) if package not in sys.modules else None
    found = spec and spec.submodule_search_locations
    if not found:
        raise SymoptError(f"{package} cannot be imported: {failed}") from None
    parts = name.split(".")
    path = list(found)[0]
    for depth in range(1, len(parts)):
        stub = types.ModuleType(".".join(parts[:depth]))
        stub.__path__ = [path]
        sys.modules[stub.__name__] = stub
        path = f"{path}/{parts[depth]}"
    try:
        return importlib.import_module(name)
    except Exception as error:  # noqa: BLE001
        raise SymoptError(f"{name} cannot be imported: {error}") from None


# --- optax, a second library witness ---------------------------------------------------------------
def optax_transformation(rule: Rule):
    """How optax writes ``rule``: ``(build, imposed)``, where ``build(hyper)`` makes the optax
    transformation for one step's hyperparameters and ``imposed`` fixes the hyperparameters optax
    does not have (its ``sgd`` has no dampening); or a string saying why optax has no such rule,
    naming the symopt variant that is optax's where there is one.

    L2 weight decay is ``optax.add_decayed_weights`` chained first, as optax users write it.
    """
    import optax

    if "cautious_mask" in rule.transforms:
        return "optax has no cautious mask" + (f" ({label(rule)} is timm's caution=True: --against timm)"
                                               if library_package(rule) == "timm" else "")
    if rule.library[0] == "optax":
        return _optax_alias(rule, getattr(optax, rule.library[1]))
    if rule.library[0] and label(rule) != rule.name:  # a variant of the rule in another package's form
        return f"optax has no {label(rule)} (it is {rule.source}'s: --against {library_package(rule)})"
    o, name = dict(rule.options), rule.name

    def l2(make):
        return lambda h: optax.chain(optax.add_decayed_weights(h["weight_decay"]), make(h))

    if name == "sgd":
        return l2(lambda h: optax.sgd(h["lr"])), {}
    if name == "momentum":
        if o["form"] != "torch":
            return f"optax.sgd's momentum is form='torch' with dampening 0, not form={o['form']!r}"
        return l2(lambda h: optax.sgd(h["lr"], momentum=h["momentum"], nesterov=o["nesterov"])), {"dampening": 0.0}
    if name in ("adam", "adamw"):
        if not o["bias_correction"]:
            return "optax's Adam always corrects the bias (bias_correction=True)"
        if o["epsilon"] == "hat":
            return "optax has no ε̂ (Keras's and TF1's epsilon='hat'); its eps and eps_root are epsilon='both'"
        if name == "adamw" and o["amsgrad"]:
            return "optax.adamw has no AMSGrad (optax.amsgrad is adam(amsgrad='corrected'))"
        if o["amsgrad"] is True:
            return "optax's amsgrad takes the maximum of the bias-corrected v̂: amsgrad='corrected'"
        if name == "adamw" and o["decay"] != "lr":
            return f"optax.adamw multiplies the decay by the learning rate: decay='lr', not {o['decay']!r}"

        def eps(h):
            return {"outside": dict(eps=h["eps"], eps_root=0.0), "inside": dict(eps=0.0, eps_root=h["eps"]),
                    "both": dict(eps=h["eps"], eps_root=h.get("eps_root", 0.0))}[o["epsilon"]]

        if name == "adamw":
            return (lambda h: optax.adamw(h["lr"], b1=h["beta1"], b2=h["beta2"], weight_decay=h["weight_decay"],
                                          **eps(h))), {}
        make = optax.amsgrad if o["amsgrad"] == "corrected" else optax.adam
        return l2(lambda h: make(h["lr"], b1=h["beta1"], b2=h["beta2"], **eps(h))), {}
    if name == "rmsprop":
        # optax scales by η *before* its momentum trace (η inside the buffer, which torch's form
        # equals only while η is constant): compared without momentum.
        return l2(lambda h: optax.rmsprop(h["lr"], decay=h["alpha"], eps=h["eps"], centered=o["centered"],
                                          eps_in_sqrt=o["epsilon"] == "inside")), {"momentum": 0.0}
    if name == "adamax":
        return l2(lambda h: optax.adamax(h["lr"], b1=h["beta1"], b2=h["beta2"], eps=h["eps"])), {}
    if name == "adadelta":  # optax's form is torch's: L2 decay first, ε inside both roots, η after
        return (lambda h: optax.adadelta(h["lr"], rho=h["rho"], eps=h["eps"], weight_decay=h["weight_decay"])), {}
    if name == "lion":
        return (lambda h: optax.lion(h["lr"], b1=h["beta1"], b2=h["beta2"], weight_decay=h["weight_decay"])), {}
    return {
        "rprop": "optax.rprop applies the previous step's update (its first step does not move; torch's applies "
                 "this step's): rprop(convention='optax')",
        "adagrad": "optax.adagrad divides by √(s + ε), with no symopt variant (torch: √s + ε)",
        "nadam": "optax.nadam and nadamw have no momentum schedule ψ and correct β₁m_t by 1 - β₁ᵗ⁺¹: they are "
                 "nadam(convention='optax')",
        "radam": "optax.radam adds ε to √v̂ and rectifies from ρ_t ≥ 5, torch to √v and from ρ_t > 5",
        # optax has these too, in conventions of its own that no symopt variant maps yet
        "schedule-free-sgd": "optax.contrib.schedule_free_sgd is not compared: the schedulefree package is the witness",
        "schedule-free-adamw": "optax.contrib.schedule_free_adamw is not compared: the schedulefree package is the witness",
        "muon": "optax.contrib.muon is not compared: no muon variant is mapped to its conventions yet",
        "adafactor": "optax.adafactor is not compared: no adafactor variant is mapped to its conventions yet",
    }.get(name, f"optax has no {name}")


def _optax_alias(rule: Rule, make):
    """``(build, imposed)`` for a rule that names its optax alias (``Rule.library``): each
    hyperparameter passes by its declared keyword (``lr`` as ``learning_rate``), and so does each
    structural option the alias takes (``nesterov``); one it does not take is imposed at its default
    (optax's ``yogi`` keeps ``initial_accumulator_value`` at 1e-6), except an L2 decay (a rule whose
    chain starts with ``add_decayed_weights``), which is ``optax.add_decayed_weights`` chained first."""
    import optax

    accepted = inspect.signature(make).parameters
    keyword = {h.name: h.keyword for h in rule.hypers}
    l2 = rule.transforms[0] == "add_decayed_weights" and keyword.get("weight_decay") not in accepted
    imposed = {h.name: h.default for h in rule.hypers
               if h.keyword not in accepted and not (l2 and h.name == "weight_decay")}
    options = {key: value for key, value in rule.options if key in accepted}

    def build(h):
        made = make(**{k: v for k, v in library_keywords(rule, h).items() if k in accepted}, **options)
        return optax.chain(optax.add_decayed_weights(h["weight_decay"]), made) if l2 else made

    return build, imposed


def optax_runner(rule: Rule) -> tuple[Runner, dict] | str:
    """Run optax's implementation of ``rule`` (jax on the CPU, with 64-bit floats enabled), with the
    hyperparameters it lacks imposed; or say why optax has none. Each step rebuilds the
    transformation with that step's hyperparameters and hands it the state so far (optax's state
    does not hold them), so that a learning-rate schedule is followed exactly."""
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import optax
    except ImportError:
        raise SymoptError('comparing with optax needs optax and jax: pip install "symopt-toolkit[optax]"') from None
    made = optax_transformation(rule)
    if isinstance(made, str):
        return made
    build, imposed = made

    def steps(case) -> list[np.ndarray]:
        # eagerly: a transformation rebuilt at each step brings new closures, which a jax.lax.cond
        # (NovoGrad's first step) would trace and compile again at every step (minutes per case)
        with jax.disable_jit():
            params = jnp.asarray(case.params)
            state, out = build(case.hyper_at(1)).init(params), []
            for t, grads in enumerate(case.grads, start=1):
                updates, state = build(case.hyper_at(t)).update(jnp.asarray(grads), state, params)
                params = optax.apply_updates(params, updates)
                out.append(np.asarray(params).copy())
        return out

    def run(case) -> list[np.ndarray]:
        try:
            return steps(case)
        except (IndexError, ValueError):
            if case.params.ndim and case.params.size:
                raise
            # optax's sm3 keeps a vector per dimension (none for a 0-d parameter) and takes maxima
            # over axes (none for an empty one): such a case is not one optax can run
            raise CannotRun(f"optax cannot step a parameter of shape {case.params.shape}") from None

    return run, imposed


# --- the scale errors are measured against ----------------------------------------------------------
def rounding_of(rule: Rule, against: str) -> str | None:
    """How torch rounds inside ``rule``: ``"bfloat16"`` where it uses an operation torch computes in
    bfloat16 (Muon's Newton–Schulz iteration), so that the kernel is compared rounding the same way."""
    from symopt import ops

    if against != "torch":
        return None
    return "bfloat16" if any(op.rounds for eq in rule.equations for op in ops.used(eq.rhs)) else None


# A whole-tensor operation rounded as torch rounds it is computed in float32 between the roundings:
# two such implementations make the same bfloat16 roundings and differ by float32 roundings of its
# result over its A + B terms; where an input is within rounding of a bfloat16 tie, the two may
# round it differently, and the result is not compared (ops.Bfloat16Tie).
ROUNDED_IN = np.float32


def magnitude(expr, known: dict, scalars: set, u=None, rounded=None):
    """A first-order bound on the rounding error of evaluating ``expr``, in units of the roundoff u.

    Running error analysis (Higham, *Accuracy and Stability of Numerical Algorithms*, 3.3): the
    error of a sum is at most the sum of its terms' errors plus its own rounding, so a sum that
    cancels keeps the size of what cancelled; a product ``ab`` carries ``|a| M(b) + M(a) |b|``; a
    power ``bᵖ`` carries ``|p| |b|^(p-1) M(b)`` (a root, 0 < p < 1, is bounded as the square root);
    every operation adds one rounding of its result.
    Every other operation's bound comes from its entry in :mod:`symopt.ops` (a sign within rounding
    of 0 may flip: its bound is infinite there, and ``u``, the symbol of the unit roundoff, says
    where). ``known`` gives the bounds of the inputs; expressions of ``scalars`` alone are exact to a
    rounding. With ``rounded`` (a symbol: the roundoff of :data:`ROUNDED_IN` in units of u), an
    operation the kernel rounds as torch does is bounded by ``rounded·(A + B)·|result|``.
    """
    import sympy as sp

    from symopt import ops
    from symopt import symbols as S

    u = sp.Symbol("u", positive=True) if u is None else u

    cache: dict = {}

    def m(e):
        if e not in cache:
            cache[e] = bound(e)
        return cache[e]

    def bound(e):
        if e in known:
            return known[e]
        if e.is_Number:
            return sp.S.Zero if ops.representable(e) else sp.Abs(e)
        if e.free_symbols <= scalars:
            return sp.Abs(e)
        if e.is_Add:
            # A sum of exact values (signs and dyadic constants: 1 + sign(c)/2) is exact; any other
            # rounds its result, at most by the sum of its terms (a constant term counted here).
            own = sp.S.Zero if ops.exact(e) else sp.Add(*(sp.Abs(a) for a in e.args if a.is_Number))
            # A value carried from the last step and decayed in the same sum, θ_{t-1} - ηλθ_{t-1} + ...,
            # is computed as θ_{t-1}(1 - ηλ) by the kernel and by torch-style libraries, the factor
            # rounded: min(u, ηλ) relative to θ_{t-1}, the same at every step, so that two orders of the
            # same step drift apart by up to an ulp a step (Lion's decay where the cautious mask leaves
            # only it).
            for x in e.args:
                if x in known and known[x] != sp.Abs(x):
                    kappa = sp.Add(*(a / x for a in e.args if a != x and a.is_Mul and x in a.args
                                     and (a / x).free_symbols <= scalars))
                    if kappa != 0:
                        own += sp.Abs(x) * sp.Min(1, sp.Abs(kappa) / u)
            return sp.Add(*(m(a) for a in e.args)) + own
        if e.is_Mul:
            factors = e.args
            # A factor exactly 0 in both implementations (its value and its bound 0) makes the
            # product exactly 0 (ops.ExactZero) where another factor's bound is infinite but its
            # value finite in both (a sign within rounding of 0 is -1, 0 or 1; a bfloat16 tie moves a
            # normalised matrix). Not where it may be NaN (the root of a value that cancels: sp.oo),
            # as 0·NaN is NaN: inf·0 stays undefined, and the element is not compared.
            carried = sp.Add(*(ops.unless_exact_zero([(g, m(g)) for j, g in enumerate(factors) if j != i],
                                                     m(f) * sp.Mul(*(sp.Abs(g) for j, g in enumerate(factors) if j != i)))
                               if m(f).has(ops.Bfloat16Tie, ops.NearZero, ops.BranchTie) and not m(f).has(sp.oo) else
                               m(f) * sp.Mul(*(sp.Abs(g) for j, g in enumerate(factors) if j != i))
                               for i, f in enumerate(factors)))
            # a product by signs and powers of two (sign(c)/2) is exact: no rounding of its own
            return carried + (sp.S.Zero if ops.exact_scaling(e) else sp.Abs(e))
        operation = ops.lookup(e)
        if operation is not None and operation.rounds and rounded is not None:
            # its input is rounded to bfloat16 first: within rounding of a tie, either way
            return rounded * (S.rows + S.cols) * sp.Abs(e) + ops.Bfloat16Tie(e.args[0], m(e.args[0]), u, *e.args[1:])
        if operation is not None and operation.bound is not None:
            values = [v for v, _ in e.args] if isinstance(e, sp.Piecewise) else [e.base] if e.is_Pow else e.args
            return operation.bound(e, [m(a) for a in values], u)
        if e.is_Pow:
            base, exp = e.args
            if ops.exact(e):  # sign(c)**2: exact
                return sp.Abs(exp) * sp.Abs(base) ** (exp - 1) * m(base)
            if exp.is_Rational and 0 < exp < 1:
                # a root (MADGRAD's cube root), as the square root's bound: |x̃ᵖ - xᵖ| ≤ min(p|x|ᵖ⁻¹|x̃ - x|,
                # |x̃ - x|ᵖ) for 0 < p < 1, the second where x is small against its own error; exact at
                # an exact argument; nothing comparable where it cancels to within rounding of 0 (a
                # negative argument's root is NaN in one implementation and a residue in another).
                mb = m(base)
                return sp.Piecewise(
                    (0, sp.Le(mb, 0)),
                    (sp.oo, sp.StrictLessThan(sp.Abs(base), ops.SIGN_MARGIN * u * mb)),
                    (sp.Min(mb * sp.Abs(base) ** (exp - 1), mb**exp * u ** (exp - 1)), True),
                ) + sp.Abs(e)
            if exp.is_Rational and exp < 0 and not exp.is_integer:
                # a reciprocal root, 1/√x (ε under the root: g/√(v - ḡ² + ε)): the first-order bound,
                # and, as for a root, nothing comparable where x cancels to within rounding of 0 (a
                # fused multiply-add may round it below 0, to NaN: timm's centred RMSpropTF)
                mb = m(base)
                return sp.Piecewise(
                    (0, sp.Le(mb, 0)),
                    (sp.oo, sp.StrictLessThan(sp.Abs(base), ops.SIGN_MARGIN * u * mb)),
                    (sp.Abs(exp) * sp.Abs(base) ** (exp - 1) * mb, True),
                ) + sp.Abs(e)
            return sp.Abs(exp) * sp.Abs(base) ** (exp - 1) * m(base) + sp.Abs(e)
        raise SymoptError(f"no error bound for {e.func.__name__}")

    return m(expr)


def _lambdify_shared(args: list, exprs: list, modules: list) -> Callable:
    """``sympy.lambdify(args, exprs, modules, cse=True)``, walking each shared subexpression once.

    A step's expressions have their intermediates substituted, so that one quantity (AdamP's
    projected update, its cautious mask) recurs in many places; SymPy's ``lambdify`` walks the
    expressions as trees, each occurrence again (to find implemented functions, and to order the
    arguments of the common subexpressions canonically). Here they are taken out first, in the
    order they come (``cse(order="none")``), and only what remains is walked."""
    import sympy as sp

    replacements, reduced = sp.cse(exprs, order="none")
    implemented = {}
    for e in [*(value for _, value in replacements), *reduced]:
        for node in sp.preorder_traversal(e):
            if getattr(type(node), "_imp_", None) is not None:  # a function lowered by its _imp_ (ops.Remainder)
                implemented[type(node).__name__] = type(node)._imp_
    return sp.lambdify(args, reduced, modules=[implemented, *modules], cse=lambda _: (replacements, reduced))


def unit_roundoff(dtype) -> float:
    """u of a floating-point type: 2⁻⁵³ for float64, 2⁻²⁴ for float32."""
    return float(np.finfo(dtype).eps) / 2


def magnitude_runner(rule: Rule, of: str = "", rounding: str | None = None) -> Runner:
    """For each step, the magnitude bound of θ_t (or of the state called ``of``, such as
    Schedule-Free's x), carried from step to step with the state's.

    Returns a runner giving, per step, an array M_t with ``|error of θ_t| ≲ u · M_t`` to first order
    for any faithful implementation of the rule: the scale :func:`compare_trajectories` measures by.
    Where a bound is infinite (a sign that rounding may flip, the root of a value within rounding of
    0) or undefined (such a bound times an exact 0), the element is not compared from that step on.
    With ``rounding`` the operations torch rounds are bounded as computed in :data:`ROUNDED_IN`
    between the same roundings (see :func:`magnitude`).

    The shape scalars (rows A, columns B...) are bound from each case's parameters, and a branch on
    them (Adafactor's factored moments for two dimensions or more) is taken before compiling.
    """
    import sympy as sp

    from symopt import ops
    from symopt import symbols as S

    # The scalar quantities of a step (NAdam's μ_t, Schedule-Free's c_t, the scalar states) are
    # computed first, in Python floats; the array expressions take them as symbols.
    scalar_env: dict = {}
    for eq in rule.equations:
        value = eq.rhs.xreplace(scalar_env)
        if eq.lhs not in S.ARRAYS and not value.free_symbols & S.ARRAYS:
            scalar_env[eq.lhs] = value
    intermediates = list(scalar_env)
    outputs: dict = {}
    with ops.maxima_as_written():
        for eq in rule.equations:
            if eq.lhs not in scalar_env:
                outputs[eq.lhs] = eq.rhs.xreplace(outputs)
    arrays = rule.arrays
    targets = [S.theta, *(s.new for s in arrays)]
    inputs = [S.theta_prev, *(s.prev for s in arrays)]
    mags = {x: sp.Symbol(f"M_{x.name}", nonnegative=True) for x in inputs}
    known = {**mags, S.g: sp.Abs(S.g)}
    u = sp.Symbol("u", positive=True)
    ratio = sp.Symbol("r_u", positive=True) if rounding else None
    shape_args = list(S.SHAPES)  # the bounds of whole-tensor operations may read any of them
    scalar_args = [S.t, *(h.symbol for h in rule.hypers), *(s.prev for s in rule.scalars), *shape_args]
    scalars = {*scalar_args, *intermediates}
    steps_scalars = sp.lambdify(scalar_args, [scalar_env[x] for x in intermediates], modules="math")
    new_scalars = [intermediates.index(s.new) for s in rule.scalars]
    args = [S.theta_prev, S.g, *(s.prev for s in arrays), *(mags[x] for x in inputs), *scalar_args,
            *intermediates, u, *([ratio] if ratio is not None else [])]
    # shape scalars a branch reads are fixed before compiling: each value gets its own function
    # (those in a branch's condition, not in its values: a value reading the size N is compiled once for all sizes)
    branching = [x for x in shape_args if any(x in c.free_symbols for e in outputs.values()
                                              for p in e.atoms(sp.Piecewise) for _, c in p.args)]
    # and so are the branches on the step counter and the scalars (Adan's first step), as the kernel
    # takes them: one function per branch taken (a condition on t beside one on an array, merged by
    # SymPy into one Piecewise, would otherwise be lowered to a reduce over arrays of unequal shapes);
    # also a condition on a shape and a hyperparameter (timm's Adafactor and AdafactorBigVision factor a
    # matrix by its sides against min_dim_size_to_factor): only one on the shape alone is decided by the shape fixed
    conditions = sorted({c for x in targets for p in outputs[x].atoms(sp.Piecewise) for _, c in p.args
                         if c is not sp.true and not c.free_symbols & S.ARRAYS
                         and not c.free_symbols <= set(branching)},
                        key=sp.default_sort_key)
    test = sp.lambdify([*scalar_args, *intermediates], conditions, modules="math")
    compiled: dict = {}

    def evaluate(fixed: tuple, taken: tuple | None = None):
        if (fixed, taken) not in compiled:
            chosen = dict(zip(branching, fixed))
            if taken is not None:
                chosen.update({c: sp.true if truth else sp.false for c, truth in zip(conditions, taken)})
            with ops.maxima_as_written():
                values = [outputs[x].xreplace(chosen) for x in targets]
                bounds = [magnitude(v, known, scalars, u, rounded=ratio) for v in values]
                compiled[fixed, taken] = _lambdify_shared(args, [*values, *bounds], [ops.namespace(), "numpy"])
        return compiled[fixed, taken]

    start = sp.lambdify([h.symbol for h in rule.hypers], [s.init.xreplace({S.theta0: 0}) for s in rule.states],
                        modules="math")
    n = len(targets)
    which = 0 if not of else 1 + [s.name for s in arrays].index(of)

    def run(case) -> list[np.ndarray]:
        hypers = [h.name for h in rule.hypers]
        shape = case.params.shape
        shapes = [shape, *(s.shape_of(shape) for s in arrays)]
        shape_values = S.shape_values(shape)
        sizes = [shape_values[x] for x in shape_args]
        fixed = tuple(shape_values[x] for x in branching)
        first = case.hyper_at(1)  # the state starts from step 1's hyperparameters (see kernel_runner)
        initial = dict(zip((s.name for s in rule.states), start(*(first[h] for h in hypers))))
        theta0 = case.params.astype(np.float64)
        value = [theta0, *(theta0.copy() if s.init == S.theta0 else np.full(s.shape_of(shape), float(initial[s.name]))
                           for s in arrays)]
        scalar = [float(initial[s.name]) for s in rule.scalars]
        # a start is exact where the dtype holds its value (θ₀ and the states copied from it, zeros),
        # else rounded once (a state starting at a hyperparameter the dtype does not hold: Prodigy's d₀)
        bound = [np.where(v.astype(case.dtype).astype(np.float64) == v, 0.0, np.abs(v)) for v in value]
        extra = [unit_roundoff(ROUNDED_IN) / unit_roundoff(case.dtype)] if ratio is not None else []
        out = []
        with np.errstate(all="ignore"):
            for t, grads in enumerate(case.grads, start=1):
                h = case.hyper_at(t)
                step_args = [t, *(h[k] for k in hypers), *scalar, *sizes]
                try:
                    computed = [float(c) for c in steps_scalars(*step_args)]
                except (ZeroDivisionError, OverflowError, ValueError):
                    computed = [np.nan] * len(intermediates)
                taken = None
                if conditions and not any(map(np.isnan, computed)):
                    taken = tuple(bool(c) for c in test(*step_args, *computed))
                result = evaluate(fixed, taken)(value[0], grads.astype(np.float64), *value[1:], *bound, *step_args, *computed,
                                  unit_roundoff(case.dtype), *extra)
                value = [np.broadcast_to(np.asarray(r, dtype=np.float64), sh) for r, sh in zip(result[:n], shapes)]
                scalar = [computed[i] for i in new_scalars]
                # An undefined bound (inf·0: a value that could not be bounded, times an exact 0)
                # is infinite: that element is not compared from then on.
                bound = [np.broadcast_to(np.asarray(r, dtype=np.float64), sh) for r, sh in zip(result[n:], shapes)]
                bound = [np.where(np.isnan(b), np.inf, b) for b in bound]
                out.append(bound[which])
        return out

    return run


# --- comparing -------------------------------------------------------------------------------------
# The least fraction of generated (element, step) pairs that must be compared for a verdict: below
# it, elements excused by an infinite error bound (a sign within rounding of 0, the root of a value
# that cancels, a bfloat16 tie) leave too little checked, and the verdict is "not enough compared"
# (exit 1), not PASS. The registered variant that compares least is centred RMSprop in float32: at
# alpha = 0, v - gbar^2 cancels to rounding at every step (torch's fused multiply-add makes it
# negative, NaN, where NumPy gives 0) and nothing is compared, and one such long case weighs as
# several short ones: 0.11 to 1.0 over seeds 0 to 5 at 90 cases. An Rprop-like rule that excused every
# element after a sign change (issue 18) compared 0.057 of its pairs. See README, "Verifying kernels".
COMPARED_FLOOR = 0.1


@dataclass
class Errors:
    """The largest errors over compared trajectories, the first element out of tolerance, and how
    many (element, step) pairs were generated and how many of them compared (not excused by an
    infinite error bound)."""

    max_abs: float = 0.0
    max_rel: float = 0.0
    first: tuple | None = None  # (step, index, expected, actual)
    compared: int = 0
    generated: int = 0

    def update(self, other: Errors) -> None:
        self.max_abs = max(self.max_abs, other.max_abs)
        self.max_rel = max(self.max_rel, other.max_rel)
        self.compared += other.compared
        self.generated += other.generated

    @property
    def fraction(self) -> float:
        """Compared over generated pairs (1 when none were generated: empty arrays)."""
        return self.compared / self.generated if self.generated else 1.0


def compare_trajectories(start: np.ndarray, expected: list, actual: list, tolerance: float,
                         scales: list | None = None) -> Errors:
    """Compare two trajectories of θ, elementwise, step by step.

    The error of each element is measured relative to the larger of the largest finite magnitude
    it reaches in ``expected`` (its start included) and, if given, the step's error-magnitude bound
    from :func:`magnitude_runner`, so that a parameter passing through zero, or a sum that cancels,
    does not turn rounding into a large relative error. NaN must meet NaN and ±inf the same inf.
    """
    errors = Errors()
    if len(actual) != len(expected):
        errors.first = (min(len(actual), len(expected)) + 1, (), "a step", "no step")
        errors.max_rel = np.inf
        return errors
    reach = np.zeros(np.shape(start))
    for values in (start, *expected):
        values = np.asarray(values, dtype=np.float64)
        reach = np.fmax(reach, np.where(np.isfinite(values), np.abs(values), 0.0))
    for t, (e, a) in enumerate(zip(expected, actual), start=1):
        e = np.asarray(e, dtype=np.float64)
        a = np.asarray(a, dtype=np.float64)
        if a.shape != e.shape:
            errors.first, errors.max_rel = (t, (), f"shape {e.shape}", f"shape {a.shape}"), np.inf
            return errors
        scale = reach if scales is None else np.fmax(reach, scales[t - 1])
        # An infinite bound (a sign rounding may flip) excuses the element; NaN must meet NaN.
        excused = np.isposinf(scale)
        errors.generated += excused.size
        errors.compared += excused.size - int(np.count_nonzero(excused))
        special = (np.isnan(e) & np.isnan(a)) | (np.isinf(e) & (e == a)) | excused
        with np.errstate(invalid="ignore", divide="ignore"):
            diff = np.where(special, 0.0, np.abs(e - a))
            diff = np.where(np.isnan(diff), np.inf, diff)
            rel = np.where(diff == 0, 0.0, diff / scale)
        finite = np.isfinite(diff)
        if finite.any():
            errors.max_abs = max(errors.max_abs, float(diff[finite].max()))
        if rel.size:
            errors.max_rel = max(errors.max_rel, float(rel.max()))
        bad = rel > tolerance
        if bad.any() and errors.first is None:
            index = np.unravel_index(int(np.argmax(rel)), rel.shape)
            errors.first = (t, tuple(int(i) for i in index), float(e[index]), float(a[index]))
    return errors


class Mismatch(AssertionError):
    """Raised inside the Hypothesis test when a trajectory is out of tolerance."""

    def __init__(self, case, errors: Errors):
        self.case, self.errors = case, errors
        super().__init__(f"mismatch at step {errors.first[0]}")


@dataclass
class Report:
    """The outcome of a cross-check: counts, largest errors, and a shrunk counterexample on failure."""

    label: str
    against: str
    cases: int = 0
    errors: dict[str, Errors] = field(default_factory=dict)  # by dtype name
    counterexample: Mismatch | None = None
    skipped: str = ""  # why it did not run, if it did not
    note: str = ""  # what the comparison held fixed (optax's sgd has no dampening)
    failure: str = ""  # an exception the implementation under test raised
    failure_case: object = None  # the (shrunk) case it raised on
    error: Exception | None = None  # that exception (a StepFunctionError for a step function)
    floor: float = COMPARED_FLOOR
    shapes: set = field(default_factory=set)  # the parameter shapes compared
    longest: int = 0  # the most steps of a case compared

    @property
    def agreed(self) -> bool:
        """No disagreement and no failure on any case (however little was compared)."""
        return self.counterexample is None and not self.failure and not self.skipped

    @property
    def fractions(self) -> dict[str, float]:
        """The fraction of (element, step) pairs compared, by dtype name."""
        return {dtype: e.fraction for dtype, e in self.errors.items()}

    @property
    def enough(self) -> bool:
        """Every dtype compared at least :data:`COMPARED_FLOOR` of its pairs, and some were compared."""
        return bool(self.errors) and sum(e.compared for e in self.errors.values()) > 0 and \
            all(f >= self.floor for f in self.fractions.values())

    @property
    def passed(self) -> bool:
        """Agreed on every case, having compared enough (see :attr:`enough`)."""
        return self.agreed and self.enough

    @property
    def verdict(self) -> str:
        """``PASS``, ``FAIL``, ``NOT ENOUGH COMPARED`` or ``SKIPPED``."""
        if self.skipped:
            return "SKIPPED"
        if not (self.counterexample is None and not self.failure):
            return "FAIL"
        return "PASS" if self.enough else "NOT ENOUGH COMPARED"

    def as_dict(self) -> dict:
        """The report as JSON-ready data (``symopt verify --format json``)."""
        out: dict = {"rule": self.label, "against": self.against, "verdict": self.verdict, "cases": self.cases}
        if self.skipped:
            return out | {"skipped": self.skipped}
        out["floor"] = self.floor
        out["shapes"] = [list(shape) for shape in sorted(self.shapes, key=lambda s: (len(s), s))]
        out["longest"] = self.longest
        out["dtypes"] = {dtype: {"max_abs": _number(e.max_abs), "max_rel": _number(e.max_rel), "compared": e.compared,
                                 "generated": e.generated, "fraction": e.fraction}
                         for dtype, e in self.errors.items()}
        if self.note:
            out["note"] = self.note
        if self.failure:
            out["failure"] = self.failure
        if self.counterexample is not None:
            out["counterexample"] = describe(self.counterexample.case, self.counterexample.errors.first)
        return out


@contextlib.contextmanager
def _pinned_constants():
    """Hypothesis (6.1xx) mixes into a few draws numeric constants scanned from the local modules
    loaded so far, so that one seed drew different cases in a fresh process, under pytest and in a
    benchmark. Within a cross-check the pool is empty: a seed gives the same cases everywhere. (An
    internal of Hypothesis: where it is missing, nothing is changed.)"""
    try:
        from hypothesis.internal.conjecture import providers

        original, empty = providers._get_local_constants, providers.Constants()
        cache = providers.CONSTANTS_CACHE.cache
    except (ImportError, AttributeError, TypeError):
        yield
        return
    providers._get_local_constants = lambda: empty
    cache.clear()
    try:
        yield
    finally:
        providers._get_local_constants = original
        cache.clear()


def _digest(case) -> bytes:
    """A case's identity: its arrays' bytes, hyperparameters and schedule."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for array in (case.params, *case.grads):
        h.update(str(array.shape).encode())
        h.update(np.ascontiguousarray(array).tobytes())
    h.update(repr((sorted(case.hyper.items()), case.schedule)).encode())
    return h.digest()


def _number(x: float) -> float | str:
    """A float for JSON: ``"inf"`` or ``"nan"`` as text where it is not finite."""
    return float(x) if np.isfinite(x) else str(float(x))


def cross_check(
    rule: Rule,
    witness: Runner,
    *,
    against: str,
    examples: int = 100,
    seed: int = 0,
    under_test: Runner | None = None,
    scheduled: bool | None = None,
    dtype=None,
    adapt: Callable | None = None,
    shrink: bool = True,
    explicit: bool = False,
    rounding: str | None = None,
) -> Report:
    """Run ``under_test`` (default: the rule's kernel) and ``witness`` on generated trajectories.

    Args:
        rule: the rule (its hyperparameters are drawn over their ranges).
        witness: the independent implementation.
        against: a name for the witness, for the report.
        examples: how many trajectories Hypothesis generates (before shrinking).
        seed: Hypothesis's seed, for a reproducible run.
        under_test: what is checked; the rule's kernel unless given.
        scheduled: draw a learning-rate schedule (see :func:`~symopt.strategies.trajectories`).
        dtype: only this dtype (float64 or float32) instead of both.
        adapt: a function ``(rule, case) -> case`` applied to each case first.
        shrink: shrink a counterexample (``False``: the first one found, as symopt.mutate kills mutants).
        explicit: also run :func:`~symopt.strategies.explicit_cases` (one long case per shape
            class the rule treats differently, whatever the seed), after the generated ones, as
            ``verify`` and ``check`` do.
        rounding: how the implementation under test rounds (``"bfloat16"``: Muon as torch computes
            it), for the error bounds; by default, the witness's (:func:`rounding_of`) when the
            rule's kernel is under test.

    Returns:
        A :class:`Report`.
    """
    strategies = require_hypothesis()
    from hypothesis import HealthCheck, Phase, Verbosity, given, reject, settings
    from hypothesis import seed as fix_seed
    from hypothesis.reporting import with_reporter

    if rounding is None and under_test is None:
        rounding = rounding_of(rule, against)
    under_test = under_test or kernel_runner(rule, rounding=rounding)
    scales = magnitude_runner(rule, rounding=rounding)
    report = Report(label(rule), against)
    cases = strategies.trajectories(rule, scheduled=scheduled, dtype=dtype)
    counted: set = set()
    steps = strategies.SHORT_EXPLICIT_STEPS if rounding else strategies.EXPLICIT_STEPS
    explicit = strategies.explicit_cases(rule, dtype=dtype, steps=steps) if explicit else []

    def compare(case):
        if adapt is not None:
            case = adapt(rule, case)
        expected = witness(case)  # first: a case the witness cannot run (CannotRun) is not counted
        report.cases += 1
        report.shapes.add(case.params.shape)
        report.longest = max(report.longest, len(case.grads))
        try:
            actual = under_test(case)
        except Exception as exc:  # the implementation under test failed: a finding, not a crash
            report.failure = str(exc) if isinstance(exc, StepFunctionError) else f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            report.failure_case = case
            report.error = exc
            raise
        errors = compare_trajectories(case.params, expected, actual, strategies.TOLERANCE[case.dtype], scales(case))
        key = _digest(case)
        if key in counted:  # Hypothesis may run a case again: its pairs count once
            errors.compared = errors.generated = 0
        counted.add(key)
        report.errors.setdefault(case.dtype.name, Errors()).update(errors)
        if errors.first is not None:
            raise Mismatch(case, errors)

    def generated(case):
        try:
            compare(case)
        except CannotRun:
            reject()

    check = fix_seed(seed)(settings(
        max_examples=examples, database=None, deadline=None, derandomize=False, print_blob=False,
        verbosity=Verbosity.quiet, report_multiple_bugs=False, suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, *([Phase.shrink] if shrink else [])],
    )(given(cases)(generated)))

    def run():
        check()
        # then the explicit cases, after the generated ones: a difference those found is shrunk,
        # and these (not shrunk) report only what no generated case reached
        for case in explicit:
            try:
                compare(copy.deepcopy(case))
            except CannotRun:  # a shape the witness cannot run (optax's sm3 on a number)
                continue

    with with_reporter(lambda *_: None), _pinned_constants():
        try:
            run()
        except Mismatch as mismatch:
            report.counterexample = mismatch
            report.failure = ""
        except Exception:
            if not report.failure:
                raise
    return report


def describe(case, first=None) -> list[str]:
    """A counterexample in a few lines: hyperparameters, where it diverged, and the inputs there."""
    hyper = ", ".join(f"{k}={v:.6g}" for k, v in case.hyper.items() if not (k == "lr" and case.schedule))
    lines = [f"dtype {case.dtype.name}, shape {case.params.shape}, {len(case.grads)} steps; {hyper}"]
    if case.schedule:
        lines.append("lr by step: " + ", ".join(f"{v:.6g}" for v in case.schedule))
    index = ()
    if first is not None:
        step, index, expected, actual = first
        where = f" element {index}" if index else ""
        lines.append(f"step {step}{where}: expected θ = {expected!r}, got {actual!r}")
    upto = first[0] if first is not None else len(case.grads)
    pick = (lambda a: a[index]) if index else (lambda a: a if a.ndim == 0 else a.flat[0] if a.size else None)
    start = pick(case.params)
    if start is not None:
        shown = [f"{float(pick(g)):.6g}" for g in case.grads[:upto]]
        if len(shown) > 12:  # a long case: its start and the steps before the difference
            shown = [*shown[:3], f"... ({len(shown) - 11} more) ...", *shown[-8:]]
        lines.append(f"θ₀ = {float(start):.6g}; gradients up to that step: {', '.join(shown)}")
    return lines


def verify(rule: Rule, against: str = "reference", examples: int = 100, seed: int = 0,
           backend: str = "numpy") -> Report:
    """Cross-check ``rule``'s kernel (compiled for ``backend``) against the references or torch.optim.

    Example:
        >>> import symopt
        >>> from symopt.verify import verify
        >>> verify(symopt.get("sgd"), examples=20).passed
        True
    """
    if against not in witnesses() and against != library_package(rule):
        from symopt.errors import UnknownNameError

        raise UnknownNameError("witness", against, witnesses())
    if backend != "numpy" and not rule.elementwise:
        return Report(label(rule), against, skipped=f"{rule.name} works on whole tensors: the {backend} backend "
                      "runs elementwise rules only (its NumPy kernel is verified)")
    under_test = kernel_runner(rule, backend) if backend != "numpy" else None
    if against == "reference":
        witness = reference_runner(rule)
        if witness is None:
            return Report(label(rule), against, failure=f"no hand-written reference for {rule.name}: "
                          "every registered rule needs one in the package symopt/reference")
    elif against == "optax":
        made = optax_runner(rule)
        if isinstance(made, str):
            return Report(label(rule), against, skipped=made)
        witness, imposed = made
        report = cross_check(rule, witness, against=against, examples=examples, seed=seed, under_test=under_test,
                             adapt=lambda _, case: _impose(case, imposed), explicit=True)
        report.note = ", ".join(f"{k} = {v:g}" for k, v in imposed.items()) and \
            "compared with " + ", ".join(f"{k} = {v:g}" for k, v in imposed.items()) + " (optax has no other)"
        return report
    else:
        witness = torch_runner(rule) if against == "torch" else library_runner(rule, against)
        if isinstance(witness, str):
            return Report(label(rule), against, skipped=witness)
    return cross_check(rule, witness, against=against, examples=examples, seed=seed, under_test=under_test,
                       explicit=True)


def _impose(case, imposed: dict):
    """``case`` with some hyperparameters fixed (those the witness does not have)."""
    case.hyper.update({k: v for k, v in imposed.items() if k in case.hyper})
    return case


# --- a user's step function ------------------------------------------------------------------------
def _name(function) -> str:
    return getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or type(function).__name__


def load_function(spec: str) -> StepFunction:
    """``"module:function"`` or ``"path/to/file.py:function"`` -> the function (see :func:`symopt.spec.load`).

    Raises:
        SymoptError: if the module cannot be imported (whatever it raises while importing, SystemExit
            included), or has no such attribute, or it is not callable.
    """
    from symopt.spec import load

    function = load(spec)
    if not callable(function):
        raise SymoptError(f"{spec} is not callable (it is {_kind_of(function)})")
    return function


def check_signature(function: StepFunction, rule: Rule) -> None:
    """Fail unless ``function(params, grads, state, t, **hyper)`` binds with ``rule``'s keywords.

    A callable without a signature to read (a builtin such as ``max``) cannot be a step function:
    it fails too.
    """
    names = ", ".join(h.name for h in rule.hypers)
    try:
        signature = inspect.signature(function)
    except Exception:  # ValueError: a builtin with no signature; TypeError: a broken __signature__
        raise SymoptError(f"{_name(function)} has no signature to read (a builtin?): the function must be a "
                          f"Python function step(params, grads, state, t, {names})") from None
    try:
        signature.bind(None, None, {}, 1, **{h.name: h.default for h in rule.hypers})
    except TypeError as exc:
        raise SymoptError(f"the function must accept (params, grads, state, t, {names}): {exc}") from None


def _accepted(function, names) -> dict:
    """The names of ``names`` that ``function``'s signature takes by keyword (all, with ``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return dict(names)
    return {k: v for k, v in names.items()
            if k in parameters and parameters[k].kind is not inspect.Parameter.POSITIONAL_ONLY}


def witness_runner(found, rule: Rule, wrap: Callable = lambda f: f) -> Runner:
    """A runner of a user's own implementation of ``rule`` (``verify --against module:name``):

    - a ``torch.optim.Optimizer`` subclass, built with the rule's hyperparameters by their declared
      library keywords (:func:`library_keywords`: ``beta1`` and ``beta2`` as ``betas``) and the
      structural options its constructor takes, each step's hyperparameters set in its parameter
      group (so a learning-rate schedule reaches it);
    - a NumPy step with the references' calling convention, ``step(params, grads, state, t,
      **hyper, **options)`` (see :mod:`symopt.reference`), given the structural options its
      signature takes.

    ``wrap`` wraps a step function (the child process counts its calls).

    Raises:
        SymoptError: for a class that is not a torch.optim.Optimizer, or a constructor or function
            that does not take the rule's keywords.
    """
    options = dict(rule.options)
    if isinstance(found, type):
        try:
            import torch
        except ImportError:
            raise SymoptError('a torch.optim.Optimizer witness needs torch: pip install "symopt-toolkit[torch]"') \
                from None
        if not issubclass(found, torch.optim.Optimizer):
            raise SymoptError(f"{found.__name__} is a class but not a torch.optim.Optimizer subclass: give a "
                              "torch.optim.Optimizer or a NumPy step function")
        fixed = _accepted(found, options)
        keywords = library_keywords(rule, {h.name: h.default for h in rule.hypers})
        try:
            inspect.signature(found).bind([], **keywords, **fixed)
        except (TypeError, ValueError) as exc:
            raise SymoptError(f"{found.__name__} must take the rule's hyperparameters by their library keywords "
                              f"({', '.join(keywords)}): {exc}") from None

        def run(case) -> list[np.ndarray]:
            try:
                return _torch_trajectory(case, lambda param: found([param], **library_keywords(rule, case.hyper_at(1)),
                                                                   **fixed),
                                         lambda group, hyper: group.update(library_keywords(rule, hyper)))
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # the user's optimizer failed on a valid case
                raise StepRaised(exc) from exc

        return run
    check_signature(found, rule)
    step, fixed = wrap(found), _accepted(found, options)
    return lambda case: run_steps(step, case, **fixed)


@dataclass
class CheckResult:
    """What ``symopt check`` found: the cross-check report and, if it explains the failure, a mistake."""

    report: Report
    mistake: object | None = None


def _check_user(rule: Rule, witness: Runner, user: Runner, against: str, examples: int, seed: int,
                rounding: str | None = None) -> Report:
    """:func:`cross_check` of a user's runner; a function that does not repeat itself is a failure."""
    from hypothesis.errors import Flaky

    try:
        return cross_check(rule, witness, against=against, examples=examples, seed=seed, under_test=user,
                           dtype=np.float64, explicit=True, rounding=rounding)
    except Flaky:
        error = StepFunctionError("it gives different results when run again on the same case "
                                  "(does it keep state outside `state`, or draw random numbers?)")
        return Report(label(rule), against, failure=str(error), error=error)


def check_rounding(rule: Rule, rounding: str | None) -> None:
    """Fail unless ``rule`` has an operation that ``rounding`` applies to (``"bfloat16"``: Muon's
    Newton–Schulz iteration, as torch computes it)."""
    from symopt import ops

    if rounding is None:
        return
    if rounding != "bfloat16":
        raise SymoptError(f"unknown rounding {rounding!r}: valid: bfloat16")
    rounds = [op.name for eq in rule.equations for op in ops.used(eq.rhs) if op.rounds]
    if not rounds:
        which = ", ".join(op.name for op in ops.OPERATIONS if op.rounds)
        raise SymoptError(f"{rule.name} has no operation torch computes in bfloat16 (only {which} rounds): "
                          "leave out --rounding")


def check_function(function: StepFunction, rule: Rule, examples: int = 100, seed: int = 0,
                   rounding: str | None = None) -> CheckResult:
    """Check a user's step function against ``rule``, and name a known mistake that explains a mismatch.

    Only the parameter trajectories are compared; the state belongs to the user's code. The learning
    rate follows a schedule in some cases, so that forms equal only under a constant η are told apart.
    The function runs on copies of the parameters and gradients (see :func:`run_steps`). A failure is
    a different step, complex parameters or ones of the wrong shape, or an exception (SystemExit
    included) on a valid case: the report's ``failure`` and ``error`` say which. With
    ``rounding="bfloat16"`` the rule is computed as torch computes it (Muon's Newton–Schulz in
    bfloat16), so that a torch-exact implementation is checked against that.

    Raises:
        SymoptError: if the function cannot be checked: no signature to read, one that does not take
            the rule's keywords, or a return value that is not ``(params, state)`` at all.
    """
    check_signature(function, rule)
    return check_runner(lambda case: run_steps(function, case), rule, examples, seed, _name(function), rounding)


def check_runner(user: Runner, rule: Rule, examples: int = 100, seed: int = 0, name: str = "it",
                 rounding: str | None = None) -> CheckResult:
    """:func:`check_function` of a runner that gives the user's trajectory of a case (raising a
    :class:`StepFunctionError` as :func:`run_steps` does); ``name`` is the function's, for messages.
    :mod:`symopt.isolation` gives one that runs the function in a child process."""
    from symopt.mistakes import mistakes

    check_rounding(rule, rounding)
    expected = kernel_runner(rule, rounding=rounding)
    report = _check_user(rule, expected, user, label(rule), examples, seed, rounding)
    if isinstance(report.error, StepFunctionError) and report.error.unusable:
        raise SymoptError(f"cannot check {name}: it must return (params, state) with params an array "
                          f"of real numbers, but {report.error}")
    if report.passed or report.counterexample is None:
        return CheckResult(report)
    case = report.counterexample.case
    for mistake in mistakes(rule.name):
        wrong_rule = mistake.build()
        wrong = kernel_runner(wrong_rule)
        scales = magnitude_runner(wrong_rule)(case)
        try:
            actual = user(case)
        except StepFunctionError:
            break  # it did not repeat itself: no mistake can be named
        if compare_trajectories(case.params, wrong(case), actual, 1e-12, scales).first is not None:
            continue
        confirm = _check_user(wrong_rule, wrong, user, mistake.key, max(20, examples // 4), seed + 1)
        if confirm.passed:
            return CheckResult(report, mistake)
    return CheckResult(report)
