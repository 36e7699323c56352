"""AdaBelief, written as a user would, outside symopt: Adam whose second moment tracks (g - m)², the
"belief" in the gradient, instead of g² (Zhuang et al. 2020, Algorithm 2).

    symopt derive examples/adabelief.py:adabelief
    symopt verify examples/adabelief.py:adabelief --against examples/adabelief_step.py:step
"""

import sympy as sp

import symopt
from symopt import Assign, State, Transform, chain, rule
from symopt.hyperparameters import BETA1, BETA2, EPS, LR, WEIGHT_DECAY
from symopt.symbols import array, s, s_prev
from symopt.transforms import (FIRST_MOMENT, add_decayed_weights, bias_correction, moving_average,
                               scale_by_learning_rate)

shat = array("shat_t", nonnegative=True)  # the bias-corrected belief, a new symbol
BELIEF = State("s", s, s_prev, doc="moving average of (g - m)^2, plus eps: the belief in the gradient")


def scale_by_belief(beta1, beta2, eps):
    """The direction m̂/(√ŝ + ε), with s_t = β₂ s_{t-1} + (1 - β₂)(g_t - m_t)² + ε."""
    first = moving_average(FIRST_MOMENT, beta1)

    def apply(g):
        update_m, m = first.apply(g)
        b2 = beta2.symbol
        update_s = Assign(s, b2 * s_prev + (1 - b2) * (g - m) ** 2 + eps.symbol)
        correct_m, mhat = bias_correction(symopt.symbols.mhat, beta1).apply(m)
        correct_s, belief = bias_correction(shat, beta2).apply(s)
        return (*update_m, update_s, *correct_m, *correct_s), mhat / (sp.sqrt(belief) + eps.symbol)

    return Transform("scale_by_belief", apply, hypers=(beta1, beta2, eps), states=(FIRST_MOMENT, BELIEF))


def adabelief(decoupled: bool = True) -> symopt.Rule:
    """AdaBelief; with ``decoupled`` (its default) the weight decay is AdamW's, else L2 added to g."""
    decay = add_decayed_weights(WEIGHT_DECAY)
    belief = scale_by_belief(BETA1, BETA2, EPS)
    return rule(
        "my-adabelief",  # a name of its own: one of symopt's rule names is refused
        "AdaBelief: Adam with the second moment of g - m",
        "Zhuang et al. (2020), Algorithm 2",
        chain("adabelief", *((belief, decay) if decoupled else (decay, belief)), scale_by_learning_rate(LR)),
        decoupled=decoupled,
    )
