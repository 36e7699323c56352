"""Each library's form of a rule, and whether it is the same optimizer: ``derivations/conventions.md``.

Which form a library uses is data, read from the libraries' source (``symopt verify --against
torch``, ``--against optax`` and ``--against timm`` run the libraries the tests install through
exactly these forms). Everything else in the table is computed when
it is made: each form's equations are printed from its rule, and each verdict, with its
hyperparameter map or the condition under which the forms agree, is :func:`symopt.equivalent`'s.

Example:
    >>> [family.rule for family in FAMILIES]  # doctest: +NORMALIZE_WHITESPACE
    ['momentum', 'adamw', 'adam', 'rmsprop', 'adam(amsgrad=True)', 'nadam',
     "nadam(convention='optax', decoupled_weight_decay=True)", 'adamax', 'rprop', 'adamw', 'momentum', 'sign_sgd',
     'momentum', 'adan', 'rmsprop', 'lamb', 'adafactor']
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace

import sympy as sp

#: Generated trajectories each verdict confirms its map on, or looks for a counterexample in.
EXAMPLES = 20


@dataclass(frozen=True)
class Family:
    """One rule as several libraries write it: ``forms`` are (who writes it so, spec), the first
    the form the others are compared with."""

    title: str
    question: str
    forms: tuple[tuple[str, str], ...]

    @property
    def rule(self) -> str:
        return self.forms[0][1]


FAMILIES = (
    Family("SGD with momentum", "Where does the learning rate go, and is the buffer an average?", (
        ("torch.optim.SGD, optax.sgd", "momentum"),
        ("Sutskever et al. (2013), Keras SGD: the learning rate inside the buffer", "momentum(form='sutskever')"),
        ("an exponential moving average, as Adam's, Lion's and Muon's first moment", "momentum(form='ema')"),
    )),
    Family("AdamW's decay", "What multiplies λ?", (
        ("torch.optim.AdamW, optax.adamw, Keras AdamW: θ(1 − ηλ)", "adamw"),
        ("Loshchilov & Hutter (2019), Algorithm 2: a schedule multiplier η_t", "adamw(decay='paper')"),
        ("TF-Addons AdamW: nothing", "adamw(decay='independent')"),
        # equiv compares under every learning-rate schedule: λ' = λη/η_max maps the two only while η is constant
        (("timm AdamWLegacy(corrected_weight_decay=True), after arXiv 2506.02285: η²/η_max, η_max the peak "
          "learning rate (θ(1 − η²λ/η_max); AdamW's with λ' = λη/η_max while η is constant)"),
         "adamw(corrected_weight_decay=True)"),
    )),
    Family("Adam's ε", "Where does ε go?", (
        ("torch.optim.Adam: outside the root", "adam"),
        ("optax.adam: eps outside, eps_root inside", "adam(epsilon='both')"),
        ("Keras / TensorFlow: ε̂, before the bias correction", "adam(epsilon='hat')"),
        ("inside the root only", "adam(epsilon='inside')"),
        ("torch.optim.SparseAdam: ε̂, no weight decay (on the elements a sparse gradient touches)", "sparse-adam"),
    )),
    Family("RMSprop's ε", "Inside or outside the root?", (
        ("torch.optim.RMSprop: outside", "rmsprop"),
        ("optax.rmsprop, Keras / TensorFlow: inside", "rmsprop(epsilon='inside')"),
    )),
    Family("AMSGrad's maximum", "The maximum of which second moment?", (
        ("torch.optim.Adam(amsgrad=True): the raw v", "adam(amsgrad=True)"),
        ("optax.amsgrad: the bias-corrected v̂", "adam(amsgrad='corrected')"),
    )),
    Family("NAdam's momentum", "Does the momentum factor follow a schedule?", (
        ("torch.optim.NAdam: μ_t = β₁(1 − ½·0.96^(tψ)), rising to β₁", "nadam"),
        ("optax.nadam: μ_t = β₁ at every step, and eps_root", "nadam(convention='optax')"),
        ("timm NAdamW: μ_t = β₁ at every step, (β₁m_t + (1 − β₁)g_t)/(1 − β₁ᵗ); no L2 decay (λ = 0)",
         "nadam(convention='timm')"),
    )),
    Family("NAdamW's look-ahead", "Which bias correction does the look-ahead take?", (
        ("optax.nadamw: β₁m_t/(1 − β₁ᵗ⁺¹) + (1 − β₁)g_t/(1 − β₁ᵗ), and eps_root",
         "nadam(convention='optax', decoupled_weight_decay=True)"),
        ("timm NAdamW: (β₁m_t + (1 − β₁)g_t)/(1 − β₁ᵗ), both terms by this step's",
         "nadam(convention='timm', decoupled_weight_decay=True)"),
    )),
    Family("Adamax's decay", "Added to the gradient, or decoupled?", (
        ("torch.optim.Adamax, optax.adamax: L2, added to the gradient", "adamax"),
        ("optax.adamaxw: decoupled, θ(1 − ηλ)", "adamax(decoupled_weight_decay=True)"),
    )),
    Family("Rprop's step", "Which step does it apply, and what does it compare the gradient's sign with?", (
        ("torch.optim.Rprop: this step's Γ_t sign(g̃_t), g_t compared with the kept gradient g̃_{t-1}",
         "rprop"),
        (("optax.rprop: the previous step's δ_{t-1} = Γ_{t-1} sign(g_{t-1}), g_t compared with it; "
          "the first step does not move"), "rprop(convention='optax')"),
    )),
    # Rules of their own that read as AdamW, momentum or signSGD with something added: is any of them
    # the other with some hyperparameters? (ADOPT against Adam, Yogi, AdaBelief, AdamP and SGDP are
    # left out: their verdicts take 4-10 s of CPU each, or 20 generated cases leave them undecided.)
    Family("AdamW's relatives", "Is it AdamW with other hyperparameters?", (
        ("torch.optim.AdamW", "adamw"),
        ("timm LaProp: g_t/√v̂_t averaged, η inside the average, the decay after the step", "laprop"),
        ("optax.lamb: AdamW's update times a trust ratio ‖θ‖/‖Δ‖ per tensor", "lamb"),
        ("pytorch-optimizer AdEMAMix: a slow average of g_t added, α times", "ademamix(weight_decouple=True)"),
        ("optax.adan: averages of g_t and of its differences", "adan"),
        ("timm Mars: g_t corrected by its change, its norm clipped", "mars"),
        ("optax.novograd: one second moment per tensor, the decay inside the momentum", "novograd"),
    )),
    Family("LARS", "Is it SGD with momentum with other hyperparameters?", (
        ("torch.optim.SGD", "momentum"),
        ("optax.lars: g_t times a trust ratio ‖θ‖/‖g‖ per tensor, η inside the buffer", "lars"),
    )),
    Family("The sign of what?", "Which average does the step take the sign of?", (
        ("optax.sign_sgd: of g_t", "sign_sgd"),
        ("optax.signum: of a moving average of g_t", "signum"),
        ("optax.lion: of an interpolation of g_t and a moving average, with decoupled decay", "lion"),
    )),
    Family("SGD's decay", "Added to the gradient, or decoupled?", (
        ("torch.optim.SGD: L2, added to the gradient (the buffer sums it)", "momentum"),
        ("timm SGDW: decoupled, θ(1 − ηλ) before the step", "sgdw"),
    )),
    # timm's no_prox form is left out of the table: each Adan verdict is about 11 s of CPU (the map search
    # over Adan's equations), and the proximal decay is no_prox's with η' = η/(1 + ηλ) (README)
    Family("Adan's differences and decay", "How much of Δg_t, and is θ decayed before the step or divided after it?", (
        ("optax.adan: (1 − β₂)Δg_t, ε_root under the root, θ(1 − ηλ) before the step", "adan"),
        ("timm Adan (the paper's weight of Δg_t and its proximal step): β₂Δg_t, no ε_root, θ divided by 1 + ηλ after the step",
         "adan(convention='timm')"),
    )),
    Family("RMSprop as TensorFlow writes it", "Where is ε, where does v start, and where does the learning rate go?", (
        ("torch.optim.RMSprop: ε outside the root, v from 0, η outside the buffer", "rmsprop"),
        ("timm RMSpropTF, TensorFlow 1's RMSPropOptimizer: ε inside, v from 1, η inside the buffer", "rmsproptf"),
    )),
    Family("LAMB", "When is the trust ratio applied, and where does the decay go?", (
        ("optax.lamb: ε_root inside the root, the trust ratio at every step", "lamb"),
        ("timm Lamb (max_grad_norm=None): the trust ratio only where λ ≠ 0", "lamb(convention='timm')"),
        ("timm Lamb(decoupled_decay=True): θ(1 − ηλ), the ratio of the decayed θ's norm",
         "lamb(convention='timm', decoupled_decay=True)"),
    )),
    Family("Adafactor", "Where does ε go, which matrices are factored, and what scales the decay?", (
        ("torch.optim.Adafactor: max(V̂_t, ε₁²) under the root, every matrix factored, θ(1 − ηλ)", "adafactor"),
        (("timm Adafactor (fairseq's, lr=None): ε₁ added to g² before the averages, a matrix factored where both "
          "sides exceed min_dim_size_to_factor, θ(1 − α̂_tλ) with the relative step α̂_t"),
         "adafactor(convention='timm')"),
        ("timm cadafactor (betas=(0.9, 0.999), caution=True): a moving average of the step, masked",
         "adafactor(convention='timm', first_moment=True, cautious=True)"),
        ("timm AdafactorBigVision (big_vision): η times a momentum of the update, ε added to g², β₂ capped, "
         "a matrix factored where its smaller side is at least min_dim_size_to_factor", "adafactorbv"),
    )),
)


@functools.lru_cache(maxsize=None)
def verdict(a: str, b: str):
    """:func:`symopt.equivalent` for two specs, computed once per process, with no time budget: the
    table is the same however busy the machine that makes it. The table prints verdicts and maps, not
    counterexamples, so the first counterexample found is not shrunk (`symopt equiv` shrinks it)."""
    from symopt.equiv import equivalent

    return equivalent(a, b, examples=EXAMPLES, budget=math.inf, shrink=False)


def _map_text(v, whose: str = "the first form's") -> str:
    """The non-trivial part of a verdict's map: ``weight_decay = lr'·weight_decay; b = lr·b``."""
    parts = [f"`{name} = {sp.sstr(expr).replace('*', '·')}`" for name, expr in v.hypers.items()
             if sp.sstr(expr) != name]
    parts += [f"state `{name}` = `{sp.sstr(expr).replace('*', '·')}` × {whose}" for name, expr in v.states.items()]
    return "; ".join(parts) or "the same hyperparameters"


def row(family: Family, who: str, spec: str) -> str:
    """One line of a family's table: the form, and its verdict against the family's first form."""
    if spec == family.rule:
        return f"| {who} | `{spec}` | (the form compared with) | |"
    from symopt.equiv import NOT_EQUIVALENT, when

    v = verdict(family.rule, spec)
    if v.equivalent:
        answer = "**the same optimizer**"
        detail = _map_text(v)
        if v.assumptions:
            detail += f" (where {' and '.join(v.assumptions)})"
    elif v.special_case is not None:  # the first form is a special case of this one
        answer = (f"**a different optimizer**: every `{family.rule}` is this form with "
                  f"{_map_text(replace(v, hypers=v.special_case, states={}))}, but not conversely")
        mapped = _map_text(v, whose="this form's")
        detail = (f"agree {when(v.conditions)}, with {mapped}" if v.conditions
                  else "no map and no condition found")
        if v.kind != NOT_EQUIVALENT:
            answer = f"**{v.kind}**: {v.reason}; " + answer
    else:
        answer = ("**a different optimizer**: " if v.kind == NOT_EQUIVALENT else f"**{v.kind}**: ") + v.reason
        detail = (f"agree {when(v.conditions)}, with {_map_text(v)}" if v.conditions
                  else "no map and no condition found")
    return f"| {who} | `{spec}` | {answer} | {detail} |"


def markdown(generated: str = "") -> str:
    """``derivations/conventions.md``: per family, each library's form, its equations and verdict."""
    from symopt import printing
    from symopt.spec import rule_from_spec

    lines = [*([generated, ""] if generated else []), "# Conventions: is my optimizer the same as theirs?", "",
             "The same name stands for different update rules in different libraries. Each table compares "
             "one library's form with the others by `symopt equiv FIRST OTHER`: **the same optimizer** when "
             "a map of the hyperparameters (and, where needed, a rescaling of the state) makes the two "
             "step maps equal for every gradient sequence and every learning-rate schedule, and a map back "
             "does too, printed (a keyword with a prime, `lr'`, is the other form's own, free to choose); "
             "a form whose every trajectory is one of the other's, but not conversely, is a different "
             "optimizer; otherwise the condition under which they agree, if one exists. `symopt equiv` also prints a shrunk "
             "counterexample that both compiled kernels confirm. The verdicts are computed when this file "
             "is generated; which form each library uses is read from its source, and "
             "`symopt verify --against torch` and `--against optax` check the forms of those two libraries.",
             ""]
    for family in FAMILIES:
        lines += [f"## {family.title}", "", family.question, "",
                  "| who writes it so | form | against the first | map, or when they agree |",
                  "| --- | --- | --- | --- |"]
        lines += [row(family, who, spec) for who, spec in family.forms]
        for who, spec in family.forms:
            rule = rule_from_spec(spec)
            lines += ["", f"`{spec}`:", "", "$$\n" + printing.latex_aligned(rule.equations) + "\n$$"]
        lines.append("")
    return "\n".join(lines)
