"""Common mistakes in optimizer implementations, each written as the rule it actually computes.

A mistake is a variant of a rule built from the same transforms: decay after the learning-rate
scale instead of before it, the learning rate moved inside the momentum buffer, ε in another place.
``symopt check`` names a mistake when a user's implementation follows its rule exactly where it
departs from the correct one. Each of these has shipped in real code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, DAMPENING, EPS, LR, MOMENTUM, WEIGHT_DECAY
from symopt.optimizers import get
from symopt.transforms import add_decayed_weights, scale_by_adam, scale_by_learning_rate, trace


@dataclass(frozen=True)
class Mistake:
    """A named mistake: which rule it breaks, what it is, and the rule it computes instead."""

    key: str
    rule: str
    description: str
    build: Callable[[], Rule]

    def differences(self) -> list:
        """The equations of the mistaken rule that the correct rule does not have."""
        correct = get(self.rule).equations
        return [eq for eq in self.build().equations if eq not in correct]


def _decay_after_learning_rate(name: str, head) -> Callable[[], Rule]:
    def build() -> Rule:
        decay = WEIGHT_DECAY.with_default(get(name).hyper("weight_decay").default)
        return rule(f"{name}-decay-not-scaled", "decay not multiplied by the learning rate", "mistake",
                    chain("mistake", *head(), scale_by_learning_rate(LR), add_decayed_weights(decay)))

    return build


def _momentum_lr_inside() -> Rule:
    return rule("momentum-lr-inside", "learning rate inside the buffer", "mistake",
                chain("mistake", add_decayed_weights(WEIGHT_DECAY), scale_by_learning_rate(LR), trace(MOMENTUM, DAMPENING)))


def _momentum_dampened_first_step() -> Rule:
    return rule("momentum-dampened-first-step", "dampening applied on the first step", "mistake",
                chain("mistake", add_decayed_weights(WEIGHT_DECAY), trace(MOMENTUM, DAMPENING, dampen_first_step=True),
                      scale_by_learning_rate(LR)))


def _adamw_as_l2() -> Rule:
    l2 = chain("mistake", add_decayed_weights(WEIGHT_DECAY.with_default(1e-2)), scale_by_adam(BETA1, BETA2, EPS),
               scale_by_learning_rate(LR))
    return rule("adamw-as-l2", "decay applied through the gradient as L2", "mistake", l2)


MISTAKES: dict[str, tuple[Mistake, ...]] = {
    "sgd": (
        Mistake("decay-not-scaled-by-lr", "sgd", "weight decay not multiplied by the learning rate",
                _decay_after_learning_rate("sgd", lambda: ())),
    ),
    "momentum": (
        Mistake("dampening-on-first-step", "momentum",
                "dampening applied on the first step (torch starts the buffer at the first gradient, undampened)",
                _momentum_dampened_first_step),
        Mistake("lr-inside-buffer", "momentum",
                "the learning rate inside the buffer: the same as torch's form only while the learning rate "
                "is constant",
                _momentum_lr_inside),
    ),
    "adam": (
        Mistake("eps-inside-sqrt", "adam", "epsilon inside the square root",
                lambda: get("adam", epsilon="inside")),
        Mistake("eps-before-bias-correction", "adam",
                "epsilon added before the bias correction (Kingma & Ba's efficient form with their "
                "epsilon-hat set to epsilon)",
                lambda: get("adam", epsilon="hat")),
        Mistake("no-bias-correction", "adam", "bias correction missing",
                lambda: get("adam", bias_correction=False)),
    ),
    "adamw": (
        Mistake("decay-not-scaled-by-lr", "adamw", "weight decay not multiplied by the learning rate",
                _decay_after_learning_rate("adamw", lambda: (scale_by_adam(BETA1, BETA2, EPS),))),
        Mistake("decay-as-l2", "adamw", "weight decay applied through the gradient as L2 (that is Adam, not AdamW)",
                _adamw_as_l2),
    ),
}


def mistakes(name: str) -> tuple[Mistake, ...]:
    """The known mistakes for the rule called ``name`` (empty if none are listed)."""
    return MISTAKES.get(name, ())
