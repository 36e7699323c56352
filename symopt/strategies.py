"""Bounded Hypothesis strategies named after the objects of optimization.

One vocabulary for the test suite, ``symopt verify`` and ``symopt check``: ``hyperparameter(h)``,
``gradient_sequences()``, ``trajectories(rule)``... Every strategy is bounded: each hyperparameter
is drawn from what it declares (:mod:`symopt.hyperparameters`: its valid range, special values and
sampling interval, so a new rule needs no strategy of its own), gradients span 1e-8 to 1e8 in
magnitude with exact zeros, and sequences are at most 50 steps, or, one case in
:data:`LONG_EVERY`, up to :data:`LONG_STEPS` on a tiny shape (a drawn pattern of gradients
repeated), so that what happens late (bias corrections near 1, RAdam's rectified steps, a warmup's
end) is reached. :func:`shape_classes` and :func:`explicit_cases` give every run, whatever its seed,
one long case per shape class a rule treats differently (vectors, wide and tall matrices, stacks).

Needs Hypothesis (``pip install "symopt-toolkit[verify]"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_STEPS = 50
# Long trajectories: one generated case in LONG_EVERY runs up to LONG_STEPS steps on a tiny shape,
# and every run also compares an explicit case of EXPLICIT_STEPS steps per shape class.
LONG_STEPS = 250
LONG_EVERY = 10
EXPLICIT_STEPS = 160
# Rounded as torch rounds (Muon's bfloat16 iteration), two faithful implementations may round a tie
# differently, and the matrix is not compared from then on: short explicit cases keep most compared.
SHORT_EXPLICIT_STEPS = 20
EPSILON_STEPS = 12  # steps of each explicit case at the scale of an ε
DTYPES = (np.float64, np.float32)

# How close two implementations of the same rule must be, relative to the magnitudes the computation
# adds up (symopt.verify.compare_trajectories). `symopt verify --all --examples 1000` measured at most
# 6.3e-16 (float64) and 6.9e-7 (float32) on 2026-11-28.
TOLERANCE = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


def log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats whose logarithm is uniform on [log10(low), log10(high)]; shrinks towards 1."""
    return st.floats(np.log10(low), np.log10(high)).map(lambda e: float(10.0**e))


def hyperparameter(hyper) -> st.SearchStrategy[float]:
    """Values of one hyperparameter, from what it declares (:class:`symopt.core.Hyper`): its special
    values (the default among them) and its sampling interval, each kept inside its valid range.

    Example: a learning rate is 1e-3, 0, or log-uniform in [1e-6, 1]; RMSprop's momentum, whose
    range includes 0, draws 0 too, and the momentum rule's (0, 1) never does.
    """
    low, high = hyper.sample
    if hyper.low == hyper.high:  # a range of one value (torch's Nesterov takes no dampening)
        return st.just(float(hyper.low))
    if hyper.integer:
        drawn = st.integers(int(low), int(high)).map(float)
    else:
        drawn = log_uniform(low, high) if hyper.log else st.floats(low, high)
    special = [v for v in dict.fromkeys((hyper.default, *hyper.special)) if hyper.contains(v)]
    options = [st.sampled_from(special)] if special else []
    return st.one_of(*options, drawn.filter(hyper.contains))


def learning_rates() -> st.SearchStrategy[float]:
    """η in [1e-6, 1], and exactly 0 (the learning rate declared in :mod:`symopt.hyperparameters`)."""
    from symopt.hyperparameters import LR

    return hyperparameter(LR)


def hyperparameters(rule) -> st.SearchStrategy[dict[str, float]]:
    """Values for every hyperparameter of ``rule``, each over its valid range."""
    return st.fixed_dictionaries({h.name: hyperparameter(h) for h in rule.hypers})


def dtypes() -> st.SearchStrategy[np.dtype]:
    """float64 or float32."""
    return st.sampled_from([np.dtype(d) for d in DTYPES])


def shapes(ranks: tuple[int, ...] = ()) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes of 0 to 3 dimensions with sides up to 3: 0-d and empty arrays included.

    With ``ranks`` (what a rule declares, :attr:`symopt.core.Rule.ranks`: Muon's ``(2,)``), shapes of
    those numbers of dimensions only, with sides 1 to 4 so that tall (A > B), wide and square
    matrices all come up.
    """
    if ranks:
        return st.sampled_from(sorted(ranks)).flatmap(
            lambda n: hnp.array_shapes(min_dims=n, max_dims=n, min_side=1, max_side=4))
    return hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)


def matrix_shapes() -> st.SearchStrategy[tuple[int, int]]:
    """A×B shapes with sides 1 to 4: tall, wide and square."""
    return shapes((2,))


def magnitudes(low: float = 1e-8, high: float = 1e8) -> st.SearchStrategy[float]:
    """Signed values whose magnitudes span [low, high], and exact zeros."""
    signed = st.tuples(st.sampled_from([-1.0, 1.0]), log_uniform(low, high)).map(lambda p: p[0] * p[1])
    return st.one_of(st.just(0.0), signed)


def _arrays(dtype, shape, values: st.SearchStrategy[float]) -> st.SearchStrategy[np.ndarray]:
    # `fill`: Hypothesis draws some elements one by one and one value for the rest, which keeps
    # drawing 50 steps of arrays fast without losing the shrinking of single elements.
    element = values.map(dtype.type)
    return hnp.arrays(dtype, shape, elements=element, fill=element)


def weights(shape, dtype) -> st.SearchStrategy[np.ndarray]:
    """Parameters of ``shape``: magnitudes 1e-3 to 1e3, and zeros."""
    return _arrays(dtype, shape, magnitudes(1e-3, 1e3))


def gradients(shape, dtype) -> st.SearchStrategy[np.ndarray]:
    """One gradient of ``shape``: magnitudes 1e-8 to 1e8, and exact zeros."""
    return _arrays(dtype, shape, magnitudes())


def gradients_at_scale(shape, dtype, scale: float) -> st.SearchStrategy[np.ndarray]:
    """One gradient of ``shape`` whose elements are ``scale`` times values of magnitude 1/64 to 2 (exact
    zeros and both signs included), each drawn on its own: terms of a moving average or of a sign's argument
    then come within a factor of each other, where a wrong coefficient shows."""
    # magnitudes 1/64 to 2 of the scale, never near underflow (a float32 subnormal loses precision
    # that no bound in units of u covers)
    values = st.tuples(st.sampled_from([-1.0, 1.0]), st.floats(2.0**-6, 2.0)).map(lambda p: p[0] * p[1])
    element = st.one_of(st.just(0.0), values).map(lambda x: dtype.type(x * scale))
    return hnp.arrays(dtype, shape, elements=element)


def tiny_tensors(shape, dtype) -> st.SearchStrategy[np.ndarray]:
    """A whole tensor of a tiny norm, not zero: every element at one scale from 1e-12 to 1e-6
    (:func:`gradients_at_scale`); an all-zero draw, which that favours on small shapes, becomes every
    element at the scale."""
    dtype = np.dtype(dtype)

    def at_scale(scale):
        return gradients_at_scale(shape, dtype, scale).map(
            lambda a: a if a.size == 0 or a.any() else np.full(shape, scale, dtype=dtype))

    return log_uniform(1e-12, 1e-6).flatmap(at_scale)


def vanishing_tensors(shape, dtype) -> st.SearchStrategy[np.ndarray]:
    """A whole tensor whose norm is tiny: all zeros, or every element at one scale from 1e-12 to 1e-6
    (:func:`tiny_tensors`), where a rule on whole tensors floors its norms (Fromage's ν_min,
    1e-6 by default) or guards a division by one (LAMB's and LARS's trust ratio of 1 at a zero norm).
    Gradients drawn element by element almost never make a whole tensor so small."""
    dtype = np.dtype(dtype)
    return st.one_of(st.just(np.zeros(shape, dtype=dtype)), tiny_tensors(shape, dtype))


def gradient_sequences(shape, dtype, max_steps: int = MAX_STEPS, scale: float | None = None
                       ) -> st.SearchStrategy[list[np.ndarray]]:
    """1 to ``max_steps`` gradients of ``shape``: magnitudes 1e-8 to 1e8 drawn independently, or
    with ``scale``, all at that scale (:func:`gradients_at_scale`)."""
    one = gradients(shape, dtype) if scale is None else gradients_at_scale(shape, dtype, scale)
    return st.lists(one, min_size=1, max_size=max_steps)


@dataclass
class Trajectory:
    """One generated case: start, gradients and hyperparameters (the learning rate may follow a
    schedule, one value per step, to tell apart forms that agree only while η is constant)."""

    dtype: np.dtype
    params: np.ndarray
    grads: list[np.ndarray]
    hyper: dict[str, float]
    schedule: list[float] = field(default_factory=list)

    def hyper_at(self, step: int) -> dict[str, float]:
        """The hyperparameters of step ``step`` (from 1): η from the schedule if there is one."""
        if self.schedule:
            return {**self.hyper, "lr": self.schedule[step - 1]}
        return dict(self.hyper)


def tiny_shapes(ranks: tuple[int, ...] = ()) -> st.SearchStrategy[tuple[int, ...]]:
    """Shapes of at most 4 elements (of the ranks a rule takes, if it says), for long trajectories."""
    allowed = sorted(ranks) if ranks else [0, 1, 2, 3]
    return st.sampled_from(allowed).flatmap(
        lambda n: hnp.array_shapes(min_dims=n, max_dims=n, min_side=1, max_side=2).filter(lambda s: np.prod(s) <= 4))


def long_gradient_sequences(shape, dtype, max_steps: int = LONG_STEPS, scale: float | None = None
                            ) -> st.SearchStrategy[list[np.ndarray]]:
    """More than :data:`MAX_STEPS` and up to ``max_steps`` gradients: a drawn pattern of 1 to 8
    gradients repeated (sign changes, exact zeros, magnitudes 1e-8 to 1e8 as drawn, or all at
    ``scale``), cheap to draw and to shrink."""
    one = gradients(shape, dtype) if scale is None else gradients_at_scale(shape, dtype, scale)
    pattern = st.lists(one, min_size=1, max_size=8)
    length = st.integers(MAX_STEPS + 1, max_steps)
    return st.tuples(pattern, length).map(lambda p: [p[0][t % len(p[0])].copy() for t in range(p[1])])


def one_in(n: int) -> st.SearchStrategy[bool]:
    """True about once in ``n`` draws, shrinking to False. (Hypothesis favours small and boundary
    integers: ``integers(1, 10) == 10`` came up 3 times in 200; a multiplicative hash of a drawn
    32-bit integer spreads them, 44 in 400 for n = 10.)"""
    return st.integers(0, 2**32 - 1).map(lambda j: ((j + 1) * 2654435761) % 2**32 < 2**32 // n)


@st.composite
def trajectories(draw, rule, max_steps: int = MAX_STEPS, scheduled: bool | None = None, dtype=None) -> Trajectory:
    """A whole case for ``rule``: dtype, shape, start, gradient sequence, hyperparameters.

    One case in :data:`LONG_EVERY` is long: up to :data:`LONG_STEPS` steps on a shape of at most 4
    elements (:func:`long_gradient_sequences`), its schedule a drawn pattern repeated likewise. One
    case in three draws its gradients at one scale (:func:`gradients_at_scale`), the others with
    magnitudes spread over 16 decades. For a rule on whole tensors, one case in three has a few of
    its gradients of a tiny or zero norm (:func:`vanishing_tensors`), and in half of those its start of a
    tiny norm (:func:`tiny_tensors`).

    Args:
        rule: a :class:`~symopt.core.Rule` (its hyperparameters are drawn over their ranges).
        max_steps: the longest gradient sequence of a short case.
        scheduled: draw a learning-rate schedule (one η per step); None draws either.
        dtype: only this dtype; None draws float64 or float32.
    """
    dtype = np.dtype(dtype) if dtype is not None else draw(dtypes())
    long = draw(one_in(LONG_EVERY))
    shape = draw(tiny_shapes(rule.ranks) if long else shapes(rule.ranks))
    hyper = draw(hyperparameters(rule))
    scale = draw(log_uniform(1e-8, 1e8)) if draw(one_in(3)) else None
    grads = draw(long_gradient_sequences(shape, dtype, scale=scale) if long
                 else gradient_sequences(shape, dtype, max_steps, scale=scale))
    schedule: list[float] = []
    if "lr" in hyper and (draw(st.booleans()) if scheduled is None else scheduled):
        rates = learning_rates().filter(rule.hyper("lr").contains)  # within the rule's range (SparseAdam: η > 0)
        if long:
            pattern = draw(st.lists(rates, min_size=1, max_size=8))
            schedule = [pattern[t % len(pattern)] for t in range(len(grads))]
        else:
            schedule = draw(st.lists(rates, min_size=len(grads), max_size=len(grads)))
    params = draw(weights(shape, dtype))
    if not rule.elementwise and draw(one_in(3)):  # norms of whole tensors at their floors and zeros
        for k in draw(st.lists(st.integers(0, len(grads) - 1), min_size=1, max_size=3)):
            grads[k] = draw(vanishing_tensors(shape, dtype))
        if draw(one_in(2)):  # a start of a tiny norm (weights() draws zero starts often enough)
            params = draw(tiny_tensors(shape, dtype))
    return Trajectory(dtype, params, grads, hyper, schedule)


def shape_classes(rule) -> list[tuple[int, ...]]:
    """One small shape per class of shapes ``rule`` treats differently: for a rule on whole tensors
    (:attr:`~symopt.core.Rule.elementwise` false), a number, a vector, a wide and a tall matrix and
    a stack of matrices, those of the ranks it takes (:attr:`~symopt.core.Rule.ranks`); for an
    elementwise rule, which treats every element alike, a vector.

    Example:
        >>> import symopt
        >>> shape_classes(symopt.get("muon"))
        [(2, 3), (3, 2)]
    """
    if rule.elementwise:
        return [(3,)]
    shapes_ = [(), (3,), (2, 3), (3, 2), (2, 2, 3)]
    return [s for s in shapes_ if not rule.ranks or len(s) in rule.ranks]


def explicit_cases(rule, dtype=None, steps: int = EXPLICIT_STEPS, seed: int = 0) -> list[Trajectory]:
    """The cases every run of a cross-check also compares (after the generated ones), whatever its
    seed: for each of :func:`shape_classes`, ``steps`` steps at the default hyperparameters (float64
    and float32 alternately, or ``dtype``), gradients normal at one scale (every element and step
    comparable: a sign's two terms, a moving average's old and new value) with exact zeros, drawn
    from a fixed seed. Late-step behaviour (a bias correction after step 100, a warmup's end) and
    every shape class are then compared in every run. Then, for each ε the rule has (a hyperparameter
    named ``eps…`` with a default above 0), :data:`EPSILON_STEPS` steps with gradients at the scale of
    ε and of √ε, on the last shape class; for each hyperparameter whose default is infinite (a limit
    that is off, Prodigy's growth_rate), as many steps at its first finite special value; and for each
    that a branch compares with the shape (:func:`shape_thresholds`), as many at each of its other
    special values.
    """
    rng = np.random.default_rng(seed)
    hyper = {h.name: float(h.default) for h in rule.hypers}
    cases = []
    for i, shape in enumerate(shape_classes(rule)):
        kind = np.dtype(dtype) if dtype is not None else np.dtype(DTYPES[i % len(DTYPES)])
        grads = []
        for _ in range(steps):
            g = rng.standard_normal(shape)
            grads.append(np.where(rng.random(shape) < 0.1, 0.0, g).astype(kind))
        params = (rng.standard_normal(shape) * 10.0 ** rng.uniform(-1, 1, shape)).astype(kind)
        cases.append(Trajectory(kind, params, grads, dict(hyper)))
    # and, for each ε, a short case whose gradients sit at its scale (ε and √ε): where ε is
    # comparable to what it guards (Adam's √v̂, Adafactor's mean of g² and its square), the only
    # place a misplaced or mis-scaled ε shows
    shape = shape_classes(rule)[-1]
    for h in rule.hypers:
        if h.name.startswith("eps") and h.default > 0:
            for scale in (h.default, math.sqrt(h.default)):
                kind = np.dtype(dtype) if dtype is not None else np.dtype(np.float64)
                grads = [(rng.standard_normal(shape) * scale).astype(kind) for _ in range(EPSILON_STEPS)]
                cases.append(Trajectory(kind, rng.standard_normal(shape).astype(kind), grads, dict(hyper)))
    # and, for each hyperparameter whose default is infinite (a limit that is off: Prodigy's growth_rate),
    # a case at its first finite special value, where the limit acts and the defaults never reach it
    for h in rule.hypers:
        finite = [v for v in h.special if math.isfinite(v) and h.contains(v)]
        if math.isinf(h.default) and finite:
            kind = np.dtype(dtype) if dtype is not None else np.dtype(np.float64)
            grads = [rng.standard_normal(shape).astype(kind) for _ in range(EPSILON_STEPS)]
            cases.append(Trajectory(kind, rng.standard_normal(shape).astype(kind), grads, {**hyper, h.name: finite[0]}))
    # and, for each hyperparameter a branch compares with the parameter's shape (AdafactorBigVision's
    # min_dim_size_to_factor, 16 by default: no shape class is factored), a case at each of its other
    # special values, on the last shape class: the branch its default never takes, over several steps
    for h in shape_thresholds(rule):
        for value in [v for v in h.special if v != h.default and h.contains(v)]:
            kind = np.dtype(dtype) if dtype is not None else np.dtype(np.float64)
            grads = [rng.standard_normal(shape).astype(kind) for _ in range(EPSILON_STEPS)]
            cases.append(Trajectory(kind, rng.standard_normal(shape).astype(kind), grads, {**hyper, h.name: value}))
    return cases


def shape_thresholds(rule) -> list:
    """The hyperparameters of ``rule`` that a branch's condition compares with the parameter's shape
    (AdafactorBigVision's ``min_dim_size_to_factor``), in the rule's order.

    Example:
        >>> import symopt
        >>> [h.name for h in shape_thresholds(symopt.get("adafactorbv"))]
        ['min_dim_size_to_factor']
        >>> shape_thresholds(symopt.get("adafactor"))
        []
    """
    import sympy as sp

    from symopt.symbols import SHAPES

    compared: set = set()
    for eq in rule.equations:
        for branch in eq.rhs.atoms(sp.Piecewise):
            for _, condition in branch.args:
                if condition.free_symbols & set(SHAPES):
                    compared |= condition.free_symbols
    return [h for h in rule.hypers if h.symbol in compared]


# The characters and words of written equations: symopt's text and LaTeX notation, and ASCII.
EQUATION_PIECES = ("m_t", "m_{t-1}", "θₜ", "θₜ₋₁", "gₜ", "g_t^2", "β₁", "\\beta_1", "\\hat{m}_{t}", "m̂ₜ", "vᵐᵃˣₜ",
                   "=", "\\gets", "←", "+", "-", "·", "*", "/", "^", "(", ")", "{", "}", "|", "‖", "√", "\\sqrt",
                   "\\frac", "max(", "sign(", ",", " if ", " else ", "\\begin{cases}", "\\end{cases}", "&", "\\\\",
                   "\n", "1", "0.5", "1e-8", "t", "lr", "eps", "\\left(", "\\right)", "ᵗ", "²", "_", "\\nabla",
                   "NS_k(", "floor(", "__import__", "'", ";", "\\text{if }", "\\operatorname{sign}")


@st.composite
def equation_texts(draw, sources: tuple[str, ...] = ()) -> str:
    """Text that looks like written equations: a rule's printed equations (one of ``sources``) with a
    few pieces inserted, deleted or replaced, or pieces of the notation strung together."""
    pieces = st.sampled_from(EQUATION_PIECES) | st.text(max_size=3)
    if sources and draw(st.booleans()):
        text = draw(st.sampled_from(sources))
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(text)))
            cut = draw(st.integers(0, 4))
            text = text[:at] + draw(st.sampled_from(("",)) | pieces) + text[at + cut:]
        return text
    return "".join(draw(st.lists(pieces, max_size=30)))
