"""Bounded Hypothesis strategies named after the objects of optimization.

One vocabulary for the test suite, ``symopt verify`` and ``symopt check``: ``hyperparameter(h)``,
``gradient_sequences()``, ``trajectories(rule)``... Every strategy is bounded: each hyperparameter
is drawn from what it declares (:mod:`symopt.hyperparameters`: its valid range, special values and
sampling interval, so a new rule needs no strategy of its own), gradients span 1e-8 to 1e8 in
magnitude with exact zeros, and sequences are at most 50 steps.

Needs Hypothesis (``pip install "symopt-toolkit[verify]"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_STEPS = 50
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


def gradient_sequences(shape, dtype, max_steps: int = MAX_STEPS) -> st.SearchStrategy[list[np.ndarray]]:
    """1 to ``max_steps`` gradients of ``shape``."""
    return st.lists(gradients(shape, dtype), min_size=1, max_size=max_steps)


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


@st.composite
def trajectories(draw, rule, max_steps: int = MAX_STEPS, scheduled: bool | None = None, dtype=None) -> Trajectory:
    """A whole case for ``rule``: dtype, shape, start, gradient sequence, hyperparameters.

    Args:
        rule: a :class:`~symopt.core.Rule` (its hyperparameters are drawn over their ranges).
        max_steps: the longest gradient sequence.
        scheduled: draw a learning-rate schedule (one η per step); None draws either.
        dtype: only this dtype; None draws float64 or float32.
    """
    dtype = np.dtype(dtype) if dtype is not None else draw(dtypes())
    shape = draw(shapes(rule.ranks))
    hyper = draw(hyperparameters(rule))
    grads = draw(gradient_sequences(shape, dtype, max_steps))
    schedule: list[float] = []
    if "lr" in hyper and (draw(st.booleans()) if scheduled is None else scheduled):
        schedule = draw(st.lists(learning_rates(), min_size=len(grads), max_size=len(grads)))
    return Trajectory(dtype, draw(weights(shape, dtype)), grads, hyper, schedule)
