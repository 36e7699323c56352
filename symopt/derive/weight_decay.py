"""The effective per-parameter weight decay of a rule, derived from its equations.

λ_eff is the coefficient of ``-η θ_{t-1}`` in the part of the update that λ contributes, to first
order in λ: ``λ_eff = -λ/(η θ_{t-1}) · ∂θ_t/∂λ |_{λ=0}``. In these units AdamW's is λ. Nothing here
knows Adam: the derivative is taken through whatever equations the rule has, and split by the state
variable it flows through.
"""

from __future__ import annotations

import functools

import sympy as sp

from symopt import ops
from symopt import symbols as S
from symopt.core import Rule
from symopt.derive.analysis import (
    cases,
    expectation,
    factor,
    fixed_point,
    long_run,
    moment_aliases,
    moment_names,
    per_case,
    tangent,
)
from symopt.derive.base import (
    FIRST_ORDER,
    LONG_RUN,
    Derivation,
    Equation,
    Step,
    holds,
    need_elementwise,
    need_hypers,
    prose,
)
from symopt.errors import NotDerivable, SymoptError, UnknownNameError

FORMS = ("steady", "one-step")
DIRECT = "direct"

TITLE = "Effective weight decay"
REQUIRES = "a weight decay and a learning rate, in a rule that acts element by element"
BETWEEN = "between"  # λ_eff that flows from one state into another (v into RMSprop's buffer b)


def check(rule: Rule) -> None:
    """The derivation needs a weight decay and a learning rate, in an elementwise rule.

    Raises:
        NotDerivable: naming what the rule lacks.
    """
    need_hypers(rule, "weight_decay", "lr")
    need_elementwise(rule)


def applies(rule: Rule) -> bool:
    """The derivation needs a weight decay and a learning rate, in an elementwise rule."""
    return holds(check, rule)


def _symbols(rule: Rule) -> tuple[sp.Symbol, sp.Symbol]:
    if not applies(rule):
        raise SymoptError(f"{rule.name} has no weight decay and learning rate to derive λ_eff from")
    return rule.hyper("weight_decay").symbol, rule.hyper("lr").symbol


def _in_units_of_decay(rule: Rule, d_theta: sp.Expr) -> sp.Expr:
    """``-λ/(η θ_{t-1}) · dθ_t/dλ`` at λ = 0, factored so that η and θ_{t-1} cancel."""
    lam, eta = _symbols(rule)
    return per_case(d_theta, lambda d: factor(lam * d.subs(lam, 0) / (-eta * S.theta_prev)))


def one_step_tangents(rule: Rule, through: sp.Symbol | None = None) -> dict[sp.Symbol, sp.Expr]:
    """∂/∂λ of everything the rule assigns, in one step from a given state.

    Args:
        rule: the rule.
        through: a state's new symbol to keep (the other states are blocked), or None for all.
    """
    lam, _ = _symbols(rule)
    blocked = [s.new for s in rule.states if through is not None and s.new != through]
    return tangent(rule, lam, blocked=blocked)


def steady_tangents(rule: Rule, through: sp.Symbol | None = None) -> dict[sp.Symbol, sp.Expr]:
    """∂/∂λ of everything the rule assigns once the state has absorbed λθ_{t-1}, as t → ∞.

    The previous state's tangent is an unknown equal to the new state's (θ held fixed, so the
    moving averages reach their fixed point); the result is averaged over the gradient noise. A
    state that is a selection (AMSGrad's running maximum) settles in the case where it follows its
    new argument (:func:`held_cases`).
    """
    return _steady(rule, through)[0]


def held_cases(rule: Rule) -> tuple[sp.Basic, ...]:
    """The conditions the steady form assumes: for each state that may keep its previous value
    (``max(v̂_{t-1}, v_t)`` when the maximum is not exceeded), the case where it takes the new one.
    Where it keeps a past maximum, its tangent is the tangent that value had when it was set: the
    same, once θ has settled."""
    return _steady(rule, None)[1]


@functools.lru_cache(maxsize=128)
def _steady(rule: Rule, through: sp.Symbol | None) -> tuple[dict, tuple]:
    lam, _ = _symbols(rule)
    states = [s for s in rule.states if through is None or s.new == through]
    unknowns = {s.new: sp.Dummy(f"d{s.name}") for s in states}
    blocked = [s.new for s in rule.states if s not in states]
    d = tangent(rule, lam, seeds={s.prev: unknowns[s.new] for s in states}, blocked=blocked)
    d = {k: long_run(v, rule) for k, v in d.items()}
    assumed = []
    for state, unknown in unknowns.items():
        value = d[state]
        if not isinstance(value, sp.Piecewise):
            continue
        moving = [(v, c) for v, c in value.args if v != unknown]
        if len(moving) == 1 and len(moving) < len(value.args):  # keeps its previous value otherwise
            condition = moving[0][1]
            assumed.append(condition)
            d = {k: cases(v.xreplace({condition: sp.true})) for k, v in d.items()}
    # The state's tangent settles at the average of what feeds it (2 g_t θ feeds v: 2 E[g_t] θ).
    new = {s: _average(d[s]) for s in unknowns}
    if any(v.has(sp.Piecewise) for v in new.values()):
        raise NotDerivable("the state's tangent splits into cases, and SymPy solves no fixed point per case")
    point = fixed_point(rule, new, unknowns)
    return {k: _average(v.xreplace(point)) for k, v in d.items()}, tuple(assumed)


def _average(expr: sp.Expr) -> sp.Expr:
    """E[expr] over the gradient noise, case by case where the cases are on the step counter or the
    hyperparameters (a case on g_t itself, Adamax's selection, cannot be averaged this way)."""
    expr = cases(expr)
    if isinstance(expr, sp.Piecewise):
        if any(cond.free_symbols & S.ARRAYS for _, cond in expr.args):
            used = ", ".join(op.name for op in ops.used(expr)) or "a case split"
            raise NotDerivable(f"the average over the gradient noise needs a polynomial in g_t, and this rule "
                               f"passes g_t through {used}")
        return per_case(expr, expectation)
    return expectation(expr)


@functools.lru_cache(maxsize=64)
def paths(rule: Rule, form: str) -> dict[str, sp.Expr]:
    """λ_eff split by the state variable the decay flows through, the ``"direct"`` part, and the
    ``"between"`` remainder: what flows from one state into another (RMSprop's v into its buffer
    b), which no single state carries. The terms add up to the total derivative.

    Args:
        rule: the rule.
        form: ``"one-step"`` or ``"steady"`` (before any assumption on E[g_t]).

    Returns:
        ``{"direct": ..., "m": ..., "v": ..., "between": ...}``, each term of λ_eff; terms that
        vanish are left out.

    Raises:
        NotDerivable: for the steady form of a rule whose state has no fixed point, or whose
            tangents cannot be averaged over the noise.
    """
    derive = one_step_tangents if form == "one-step" else steady_tangents
    direct = derive(rule, through=sp.S.Zero)[S.theta]  # no state matches: every state blocked
    out = {DIRECT: _in_units_of_decay(rule, direct)}
    through = {}
    for state in rule.states:
        through[state.name] = derive(rule, through=state.new)[S.theta] - direct
        out[state.name] = _in_units_of_decay(rule, through[state.name])
    out[BETWEEN] = _in_units_of_decay(rule, total_tangent(rule, form) - direct - sp.Add(*through.values()))
    if form == "steady":
        names, aliases = moment_names(rule), moment_aliases(rule)
        out = {k: per_case(v.xreplace(aliases).xreplace(names), factor) for k, v in out.items()}
    return {k: v for k, v in out.items() if v != 0}


def total_tangent(rule: Rule, form: str) -> sp.Expr:
    """∂θ_t/∂λ with nothing blocked: every path of the decay at once."""
    return (one_step_tangents if form == "one-step" else steady_tangents)(rule)[S.theta]


def effective_weight_decay(name: str | Rule, form: str = "steady") -> sp.Expr:
    """The effective per-parameter weight decay λ_eff of a rule, derived from its equations.

    Args:
        name: a rule name or a :class:`~symopt.core.Rule`.
        form: ``"steady"`` (default): once the moving averages have absorbed λθ_{t-1} (θ changes
            slowly, t → ∞), to first order in λ, for zero-mean gradient noise E[g_t] = 0;
            ``"one-step"``: the exact first-order effect of λ on one step from a given state.

    Returns:
        A SymPy expression in the rule's symbols, in units where AdamW's is λ.

    Example:
        >>> import symopt
        >>> symopt.effective_weight_decay("adam")
        lamda/(epsilon + sqrt(vhat_t))
        >>> symopt.effective_weight_decay("adamw")
        lamda

    Reference: Loshchilov & Hutter (2019), Section 2 (the coupling of L2 and adaptive gradients).
    """
    from symopt.optimizers import get

    if form not in FORMS:
        raise UnknownNameError("form", form, FORMS)
    rule = get(name)
    _symbols(rule)
    terms = paths(rule, form)
    total = _sum(terms)
    if form == "steady":
        # E[g_t] = 0, and so is the rule's own steady-state estimate of it (m̂_t for Adam).
        zero = {S.Mean(S.g): sp.S.Zero}
        if _mean_symbol(rule) is not None:
            zero[_mean_symbol(rule)] = sp.S.Zero
        total = total.xreplace(zero)
    return total


def _sum(terms: dict[str, sp.Expr]) -> sp.Expr:
    """The paths added up; where paths split into cases, one case split whose cases add up the paths."""
    split = [term for term in terms.values() if isinstance(term, sp.Piecewise)]
    if not split:
        return sp.Add(*terms.values())
    conditions = [c for _, c in split[0].args]
    if any([c for _, c in term.args] != conditions for term in split):
        return cases(sp.Add(*terms.values()))
    return sp.Piecewise(*((sp.Add(*(t.args[i][0] if isinstance(t, sp.Piecewise) else t for t in terms.values())), c)
                          for i, c in enumerate(conditions)))


def _mean_symbol(rule: Rule) -> sp.Symbol | None:
    """The rule's own estimate of E[g_t] (m̂_t for Adam), if it keeps one."""
    return moment_names(rule).get(S.Mean(S.g))


def derivation(rule: Rule) -> Derivation:
    """The whole derivation of λ_eff for ``rule``: tangents, one-step and steady-state forms."""
    lam, eta = _symbols(rule)
    d_theta = sp.Derivative(S.theta, lam)
    definition = Equation(S.lam_eff, -lam / (eta * S.theta_prev) * d_theta)

    one = one_step_tangents(rule)
    tangent_lines = tuple(
        Equation(sp.Derivative(eq.lhs, lam), one[eq.lhs].subs(lam, 0))
        for eq in rule.equations
        if one[eq.lhs] != 0
    )
    one_paths = paths(rule, "one-step")
    try:
        steady_paths = paths(rule, "steady")
        headline = effective_weight_decay(rule, "steady")
        no_steady = ""
    except NotDerivable as exc:
        steady_paths, headline, no_steady = {}, None, str(exc)
    mean = _mean_symbol(rule)
    names = moment_names(rule)

    def by_path(terms):
        return tuple(Equation(_path_symbol(k), v) for k, v in terms.items())

    steps = [
        Step(
            prose(
                "Definition: the coefficient of ", -eta * S.theta_prev,
                " in the part of the update that ", lam, " contributes, to first order in ", lam, ".",
            ),
            (definition,),
        ),
        Step(prose("Differentiate each equation of the rule by ", lam, ", in order, at ", sp.Eq(lam, 0), ":"),
             tangent_lines),
        Step(
            prose("One step from a given state, split by the state the decay flows through (",
                  _path_symbol(BETWEEN), ": from one state into another); the terms add up to ",
                  d_theta, ":"),
            (*by_path(one_paths), Equation(S.lam_eff, _sum(one_paths))),
        ),
    ]
    if no_steady:
        steps.append(Step(prose(f"No steady state is derived: {no_steady}.")))
    else:
        reading = [part for mean_, symbol in names.items() for part in (", ", sp.Eq(symbol, mean_))]
        steps.append(Step(
            prose(
                "Steady state: the state's tangents at their fixed point (the moving averages have "
                "absorbed ", lam * S.theta_prev, "), ", S.Tends(S.t, sp.oo), ", averaged over the gradient noise",
                *(["; read the rule's settled averages as moments of the gradient"] + reading if names else []), ":",
            ),
            (*by_path(steady_paths), Equation(S.lam_eff, _sum(steady_paths))),
        ))
    assumptions = [
        prose("first order in ", lam, ": ", lam * S.theta_prev, " is small against the gradient ", S.g),
    ]
    if not no_steady:
        assumptions += [
            prose(S.theta_prev, " changes slowly against the averaging horizons, so the state has absorbed ",
                  lam * S.theta_prev),
            prose(S.Tends(S.t, sp.oo), ": powers such as ", S.beta1**S.t, " of hyperparameters in [0, 1) have vanished"),
        ]
    # every operation differentiated by the derivative the table declares for it, with its caveat
    selections = {op.name: op for eq in rule.equations for op in ops.used(eq.rhs) if op.derivative is not None}
    if any(p.exp == sp.S.Half for eq in rule.equations for p in eq.rhs.atoms(sp.Pow)):
        selections = {"sqrt": ops.by_name("sqrt"), **selections}
    assumptions += [prose(f"{op.name}: {op.derivations}") for op in selections.values()]
    if not no_steady:
        assumptions += [prose("steady form: ", condition, " (the state follows its new value; where it keeps a past "
                              "maximum its tangent is the one that value had when set, the same once ", S.theta_prev,
                              " has settled)") for condition in held_cases(rule)]
    if mean is not None and headline is not None:
        steps.append(
            Step(
                prose("With zero-mean gradient noise, ", sp.Eq(S.Mean(S.g), 0), " (", sp.Eq(mean, 0), "):"),
                (Equation(S.lam_eff, headline),),
            )
        )
        assumptions.append(prose(
            "for the headline only: zero-mean gradient noise, ", sp.Eq(S.Mean(S.g), 0), " (the loss carries no "
            "signal); with a signal the general form above holds and the headline overstates the decay"))
    assumptions.append(prose(
        "units: ", lam, " is whatever the rule multiplies by ", S.theta_prev, " (per unit of gradient when it is "
        "added to the gradient, per step and learning rate when decoupled); only ratios of ", S.lam_eff,
        " between parameters under one rule are unit-free"))
    positive_lr = prose(eta, " > 0 (", S.lam_eff, " is per unit of ", eta, ")")
    assumptions.insert(1, positive_lr)
    if headline is not None:
        when = (FIRST_ORDER(lam), LONG_RUN(), prose(S.theta_prev, " changes slowly (the state has absorbed ",
                                                   lam * S.theta_prev, ")"),
                *((prose("zero-mean gradient noise, ", sp.Eq(S.Mean(S.g), 0)),) if mean is not None else ()),
                *(prose(c) for c in held_cases(rule)), positive_lr)
    else:  # the one-step form: the exact derivative at λ = 0, from any state, at any t
        when = (FIRST_ORDER(lam), positive_lr)
    result = headline if headline is not None else _sum(one_paths)
    peak = rule.hyper("max_lr")
    if peak is not None:  # timm's corrected weight decay: what dividing by the peak learning rate changes
        eta_max = peak.symbol
        steps.append(Step(
            prose("timm's corrected weight decay scales the decay by ", eta**2 / eta_max, " where the uncorrected rule "
                  "scales it by ", eta, ": the decay per step, ", eta * S.lam_eff, ", is ", factor(eta * result), "; under a "
                  "schedule ", sp.Le(eta, eta_max, evaluate=False), " it is ", eta / eta_max, " of the uncorrected "
                  "rule's, and at the peak, ", sp.Eq(eta, eta_max, evaluate=False), ", it is the uncorrected rule's:"),
            (Equation(S.lam_eff, factor(result.subs(eta_max, eta))),),
        ))
        assumptions.append(prose(
            eta_max, " > 0: the peak of the learning-rate schedule, the learning rate timm's class was built with "
            "(its max_lr_snapshot), read at every step; ", eta, " is this step's"))
    return Derivation(
        key="effective-weight-decay",
        title=TITLE,
        rule=rule.name,
        summary=prose(
            "How strongly ", lam, " pulls each parameter towards zero, in units where AdamW's pull is ", lam,
            ": a ", S.lam_eff, " that depends on a parameter's own gradient history is the coupling problem.",
        ),
        assumptions=tuple(assumptions),
        steps=tuple(steps),
        results=(Equation(S.lam_eff, result, when=when),),
        values={"steady": headline, "one-step": _sum(one_paths), "paths": steady_paths,
                "one-step paths": one_paths},
    )


def _path_symbol(path: str) -> sp.Symbol:
    return S.lam_eff_through(path)
