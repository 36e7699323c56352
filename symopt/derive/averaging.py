"""Iterate averaging (Schedule-Free): x_T as a weighted average of z_1..z_T, with the weights in closed
form, and what the parameters y do, derived from the rule's own equations.

For a rule with a sequence ``z_t`` and its running average ``x_t = (1 - c_t) x_{t-1} + c_t z_t``
whose coefficient is ``c_t = w_t / W_t``, ``W_t = W_{t-1} + w_t`` (Schedule-Free SGD and AdamW):

- by induction, with the rule's equations for c_t and W_t substituted and SymPy checking the
  step, ``x_T = Σ_t (w_t / W_T) z_t``: each z_t enters with weight w_t/W_T;
- the weights in closed form from the rule's w_t, after warmup and during it (where they grow as
  ``t^(r+p)``: why warmup changes the averaging, schedule_free#15), and normalised: without warmup
  ``η^p t^r / Σ η^p s^r``; with one, the sum holds the warmup's weights, and the form without warmup
  holds only at p = 0;
- r = 0, no warmup and a constant η: the uniform (Polyak) average; β = 0 and β = 1 as
  Polyak–Ruppert and primal averaging;
- y's step as a momentum method: the coefficient of each past gradient, and the settled step under
  a constant gradient;
- where the weight decay enters, and what ``eval()`` and ``train()`` compute.
"""

from __future__ import annotations

import sympy as sp

from symopt import symbols as S
from symopt.core import Rule
from symopt.derive.analysis import factor, tangent
from symopt.derive.base import (
    Derivation,
    Equation,
    Private,
    Step,
    holds,
    need_hypers,
    prose,
)
from symopt.errors import NotDerivable

TITLE = "Iterate averaging (Schedule-Free)"
REQUIRES = "a sequence z and its running average x with coefficient c_t = w_t/W_t"

T = Private("T", integer=True, positive=True)  # the step at which x is read
s_ = Private("s", integer=True, positive=True)  # the step a gradient was taken at
X, Y, Z, G = (sp.IndexedBase(name) for name in "xyzg")  # the sequences by step: x_T, y_T, z_t, g_s
W_T = Private("W_T", nonnegative=True)
A = sp.Function("a")  # a(s): the coefficient of g_s


def _equations(rule: Rule) -> dict[sp.Symbol, sp.Expr]:
    return {eq.lhs: eq.rhs for eq in rule.equations}


def check(rule: Rule) -> None:
    """A state holding z and x, with x the running average the module describes.

    Raises:
        NotDerivable: naming what is missing.
    """
    eqs = _equations(rule)
    missing = [s for s in (S.z, S.x, S.average_coefficient, S.weight_sum, S.weight) if s not in eqs]
    if missing:
        from symopt.printing import text

        raise NotDerivable(f"{rule.name} assigns no {', '.join(text(s) for s in missing)}: it keeps no running "
                           "average x of a sequence z with weights w_t/W_t")
    c = S.average_coefficient
    if sp.expand(eqs[S.x] - ((1 - c) * S.x_prev + c * S.z)) != 0:
        raise NotDerivable(f"{rule.name}'s x is not the running average (1 - c_t) x_(t-1) + c_t z_t")
    for name in ("lr", "r", "weight_lr_power", "warmup_steps"):
        need_hypers(rule, name)


def applies(rule: Rule) -> bool:
    """Any rule whose state holds z and x, with x the running average the module describes."""
    return holds(check, rule)


def _interpolation(rule: Rule) -> sp.Symbol:
    """β, the symbol y interpolates with: θ_t = (1 - β) z_t + β x_t."""
    final = _equations(rule)[S.theta]
    beta = sp.diff(final, S.x)
    if sp.expand(final - ((1 - beta) * S.z + beta * S.x)) != 0 or not beta.is_Symbol:
        raise NotDerivable("its parameters are not an interpolation of z and x")
    return beta


# Where the witness evaluates the weights: the last iterate at T = 40 after a warmup of 10 steps.
WITNESS = {"T": 40, "T_w": 10, "r": 1.5}


def _witness(after, during, warmed, plain, eta, r, p, warm, power: float) -> dict:
    """The last iterate's weight at :data:`WITNESS` (p at the rule's default), with the warmup and by
    the form without it, both from the derived expressions (their sums done by SymPy)."""
    values = {T: WITNESS["T"], warm: WITNESS["T_w"], r: sp.nsimplify(WITNESS["r"]), eta: 1, p: sp.nsimplify(power)}
    at = {"T": WITNESS["T"], "T_w": WITNESS["T_w"], "r": WITNESS["r"], "p": power}
    with_warmup = float(warmed.xreplace({S.t: WITNESS["T"]}).xreplace(values).doit())
    without = float(plain.xreplace({S.t: WITNESS["T"]}).xreplace(values).doit())
    return {"at": at, "warmup": with_warmup, "no warmup": without}


def derivation(rule: Rule) -> Derivation:
    """The averaging weights, the special cases, y as a momentum method, decay, eval and train."""
    eqs = _equations(rule)
    beta = _interpolation(rule)
    c_of = eqs[S.average_coefficient]
    c_value = next(v for v, cond in c_of.args if cond is sp.true) if isinstance(c_of, sp.Piecewise) else c_of
    w = eqs[S.weight]
    hyper = {h.name: h for h in rule.hypers}
    eta, r, p, warm = hyper["lr"].symbol, hyper["r"].symbol, hyper["weight_lr_power"].symbol, hyper["warmup_steps"].symbol
    steps: list[Step] = []

    # 1. Induction: x_{T-1} = Σ_{t<T} w_t z_t / W_{T-1}  ⇒  x_T = Σ_{t≤T} w_t z_t / W_T.
    partial = Private("Sigma_tm1", real=True)  # Σ_{t<T} w_t z_t
    hypothesis = partial / S.weight_sum_prev
    x_new = eqs[S.x].xreplace({S.x_prev: hypothesis, S.average_coefficient: c_value})
    x_new = x_new.xreplace({S.weight_sum: eqs[S.weight_sum]})
    claim = (partial + S.weight * S.z) / (S.weight_sum_prev + S.weight)
    if sp.simplify(x_new - claim) != 0:
        raise NotDerivable("its average is not the weighted average of z that the weights describe")
    w_of = sp.IndexedBase("w")
    average = sp.Sum(w_of[S.t] * Z[S.t], (S.t, 1, T)) / sp.Sum(w_of[S.t], (S.t, 1, T))
    steps.append(Step(
        prose("Suppose ", sp.Eq(S.x_prev, hypothesis), " with ", partial, " the weighted sum of ", S.z, " up to t - 1. The "
              "rule's update, with its ", S.average_coefficient, " and ", S.weight_sum, ", gives (SymPy checks "
              "the two sides equal); from ", sp.Eq(S.weight_sum, 0), " at the start, by induction:"),
        (Equation(S.x, claim), Equation(X[T], average)),
    ))

    # 2. The weights in closed form, from the rule's w_t.
    after = factor(w.xreplace({S.lr_max: eta}))
    during = factor(w.xreplace({S.lr_max: eta * S.t / warm}))
    steps.append(Step(
        prose("The weight is the rule's ", sp.Eq(S.weight, w), ". Once the learning rate has reached a constant ",
              eta, " (", sp.Eq(S.lr_max, eta), "):"),
        (Equation(S.weight, after),),
    ))
    steps.append(Step(
        prose("During a linear warmup (", sp.Le(S.t, warm), ", ", sp.Eq(S.lr_max, eta * S.t / warm), "):"),
        (Equation(S.weight, during),),
    ))
    uniform = sp.simplify(after.subs(r, 0) / sp.summation(after.subs({r: 0, S.t: s_}), (s_, 1, T)))
    general = after / sp.summation(after.subs(S.t, s_), (s_, 1, T))
    # With warmup the sum W_T holds the warmup's weights too: for T ≥ T_w, the first T_w terms are
    # the weights during warmup, the rest those after it.
    total = sp.Sum(during.subs(S.t, s_), (s_, 1, warm)) + sp.Sum(after.subs(S.t, s_), (s_, warm + 1, T))
    warmed = {"during": during / total, "after": after / total}
    if sp.simplify((during - after).subs(p, 0)) != 0:
        raise NotDerivable("its weights during warmup differ from those after it even with p = 0")
    steps.append(Step(
        prose("Without warmup (", sp.Eq(warm, 0), ") every ", S.z, " enters ", X[T], " with weight ", S.t ** r,
              " over the sum of them:"),
        (Equation(S.weight / W_T, general),),
    ))
    steps.append(Step(
        prose("With a warmup of ", warm, " steps the sum holds the warmup's weights too, which grow as ",
              S.t ** (r + p), " (the first iterates count for little, and how little depends on ", p, "). "
              "For ", sp.GreaterThan(T, warm, evaluate=False), ", the weight of an iterate taken during warmup (",
              sp.LessThan(S.t, warm, evaluate=False), ") and after it:"),
        (Equation(S.weight / W_T, warmed["during"]), Equation(S.weight / W_T, warmed["after"])),
    ))
    witness = _witness(after, during, warmed["after"], general, eta, r, p, warm, hyper["weight_lr_power"].default)
    steps.append(Step(prose(
        "So the form without warmup holds after a warmup only where the two weights agree, at ", sp.Eq(p, 0),
        " (SymPy: the weights during and after warmup are then equal). Otherwise it is off: at ",
        ", ".join(f"{k} = {v:g}" for k, v in witness["at"].items()), ", the last iterate's weight is "
        f"{witness['warmup']:.4f} with the warmup, {witness['no warmup']:.4f} by the form without it.")))
    steps.append(Step(
        prose("With ", sp.Eq(r, 0), " and no warmup every ", S.z, " has the same weight, whatever ", p,
              ": the uniform (Polyak) average:"),
        (Equation(S.weight / W_T, uniform),),
    ))

    # 3. β = 0 and β = 1.
    y = eqs[S.theta]
    steps.append(Step(
        prose("The gradient is taken at ", S.theta, " = y. With ", sp.Eq(beta, 0), " it is taken at ", S.z,
              " and ", S.x, " only averages (Polyak-Ruppert averaging); with ", sp.Eq(beta, 1), " it is taken at "
              "the average itself (primal averaging):"),
        (Equation(S.theta, y.subs(beta, 0)), Equation(S.theta, y.subs(beta, 1))),
    ))

    # 4. y as a momentum method (r = 0, no warmup, constant η, for SGD's direction g_s).
    z_coefficient = -eta  # g_s enters z_t for every t ≥ s, with -η
    x_coefficient = sp.summation(uniform.subs(S.t, S.t) * z_coefficient, (S.t, s_, T))
    y_coefficient = factor(sp.simplify((1 - beta) * z_coefficient + beta * x_coefficient))
    step_coefficient = factor(sp.simplify(y_coefficient - y_coefficient.subs(T, T - 1)))
    latest = factor(sp.simplify(y_coefficient.subs(s_, T)))
    constant = sp.limit(sp.summation(step_coefficient, (s_, 1, T - 1)) + latest, T, sp.oo)
    steps.append(Step(
        prose("As a momentum method (", sp.Eq(r, 0), ", no warmup, constant ", eta, ", the direction the "
              "gradient ", G[s_], " taken at step ", s_, "): its coefficient ", A(s_), " in ", Y[T], ":"),
        (Equation(A(s_), y_coefficient),),
    ))
    steps.append(Step(
        prose("In the step ", Y[T] - Y[T - 1], ", the coefficient of an old gradient (", s_, " < ", T,
              ") and of the newest one:"),
        (Equation(A(s_), step_coefficient), Equation(A(T), latest)),
    ))
    settled = sp.Limit((Y[T] - Y[T - 1]) / G[1], T, sp.oo)
    steps.append(Step(
        prose("Under a constant gradient (every ", sp.Eq(G[s_], G[1]), ") the step settles at this many times "
              "the gradient: the average contributes half of the share ", beta, " gives it, as the average of a line does:"),
        (Equation(settled, factor(constant)),),
    ))

    # 5. Weight decay: where it enters, and what reaches x.
    decay = hyper.get("weight_decay")
    constant_lr = prose("a learning rate that no longer changes (", sp.Eq(S.lr_max, eta), ")")
    results = [Equation(X[T], average, when=(prose("the rule's own c_t, W_t and w_t, from ", sp.Eq(S.weight_sum, 0),
                                                     " at the start"),)),
               Equation(S.weight / W_T, general, when=(prose("no warmup, ", sp.Eq(warm, 0)), constant_lr)),
               Equation(S.weight / W_T, warmed["after"],
                        when=(prose("an iterate taken after the warmup, ", sp.StrictGreaterThan(S.t, warm, evaluate=False)),
                              prose(sp.GreaterThan(T, warm, evaluate=False), ", the rule's linear warmup"), constant_lr))]
    if decay is not None:
        d = tangent(rule, decay.symbol)
        steps.append(Step(
            prose("Weight decay enters the direction at ", S.theta_prev, " = y, so it moves ", S.z,
                  " by the learning rate (decay and learning rate are coupled: schedule_free#47), and reaches ",
                  S.x, " only through ", S.z, ", with weight ", S.average_coefficient, ":"),
            (Equation(sp.Derivative(S.z, decay.symbol), d[S.z].subs(decay.symbol, 0)),
             Equation(sp.Derivative(S.x, decay.symbol), d[S.x].subs(decay.symbol, 0))),
        ))

    # 6. eval() and train().
    x_from = sp.solve(sp.Eq(S.theta, y), S.x)[0]
    steps.append(Step(
        prose("The parameters hold y while training. eval() puts x in them, computed from y = ", S.theta,
              " and z (which divides by ", beta, ": it fails at ", sp.Eq(beta, 0), ", where x must be kept), and "
              "train() puts y back:"),
        (Equation(S.x, factor(x_from)), Equation(S.theta, y)),
    ))
    results.append(Equation(settled, factor(constant), when=(
        prose(sp.Eq(r, 0), ", no warmup, constant ", eta), prose("the direction is the gradient itself (SGD's)"),
        prose("a constant gradient"), prose(S.Tends(T, sp.oo)))))
    return Derivation(
        key="iterate-averaging",
        title=TITLE,
        rule=rule.name,
        summary=prose(
            "Which sequence the parameters hold, how the average ", S.x, " weights the iterates ", S.z,
            ", and what the step of ", S.theta, " = y is, computed from the rule's equations."),
        assumptions=(
            prose("the weights, sums and coefficient are the rule's (", sp.Eq(S.average_coefficient, c_value), ")"),
            prose("closed forms after warmup assume a learning rate that no longer changes (", S.lr_max, " = ", eta,
                  "); the normalised weights with warmup assume ", sp.GreaterThan(T, warm, evaluate=False),
                  " and the rule's linear warmup"),
            prose("the momentum form: ", sp.Eq(r, 0), ", no warmup, constant ", eta,
                  ", and the direction is the gradient itself (SGD; AdamW's is normalised first)"),
        ),
        steps=tuple(steps),
        results=tuple(results),
        values={"weight": w, "weight after warmup": after, "weight during warmup": during,
                "normalised weight": general, "normalised weight with warmup": warmed, "warmup witness": witness,
                "momentum coefficient": y_coefficient,
                "constant-gradient step": constant, "beta": beta},
    )
