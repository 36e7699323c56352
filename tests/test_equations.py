"""A rule from its equations: every registered rule reads back from its own printed equations, text
and LaTeX, as the same optimizer (equiv's proof and generated cases); paper algorithm boxes read as
the rules they are; bad input is a one-line error naming where, and nothing is evaluated."""

import random

import pytest
import sympy as sp
from hypothesis import given, settings

from symopt import equations as E
from symopt import equiv, ops
from symopt import symbols as S
from symopt.errors import SymoptError
from symopt.optimizers import RULES, get, variants
from symopt.strategies import equation_texts

SAMPLED_VARIANTS = 3  # per rule, besides the default: a fixed-seed sample (benchmarks/ has no sweep: all are cheap)


def _sampled(name):
    rest = variants(name)[1:]
    return [variants(name)[0], *random.Random(name).sample(rest, min(SAMPLED_VARIANTS, len(rest)))]


def _read(rule, latex):
    return E.rule_from_equations(E.source(rule, latex), hypers=rule.hypers, states=rule.states,
                                 name=f"{rule.name}-read", latex=latex, evaluate=rule.evaluate)


@pytest.mark.parametrize("name", RULES)
def test_every_rule_reads_back_from_its_printed_equations_or_is_refused_in_one_line(name):
    for variant in _sampled(name):
        rule = get(name, **variant)
        for latex in (False, True):
            reason = E.expressible(rule, latex)
            if reason is not None:
                with pytest.raises(SymoptError, match="not expressible as equations") as refused:
                    E.source(rule, latex)
                assert "\n" not in str(refused.value) and reason in str(refused.value)
                # the refusal is right: what the printed equations say is another rule, or nothing
                printed = rule.latex() if latex else str(rule)
                try:
                    read = E.rule_from_equations(printed, hypers=rule.hypers, states=rule.states, latex=latex)
                except SymoptError as exc:
                    assert "\n" not in str(exc)
                else:
                    assert read.step_map() != rule.step_map()
                continue
            read = _read(rule, latex)
            assert str(read) == str(rule) and read.latex() == rule.latex()  # printing gives back the equations
            assert read.step_map() == rule.step_map()
            assert [s.name for s in read.states] == [s.name for s in rule.states]


@pytest.mark.parametrize("name", [n for n in RULES if E.expressible(get(n)) is None])
def test_the_rule_read_from_its_latex_is_the_same_optimizer_by_equiv(name):
    rule = get(name)
    verdict = equiv.equivalent(_read(rule, latex=True), rule, examples=3)
    assert verdict.kind == equiv.EQUIVALENT, verdict.reason
    assert all(str(expr) == keyword for keyword, expr in verdict.hypers.items())  # the identity map


def test_some_registered_rule_is_refused_and_the_reason_names_the_operation():
    # Muon's NS_k(B̃ₜ) hides its coefficients; the refusal names the operation, whichever rule it is
    refused = [E.expressible(get(n)) for n in RULES if E.expressible(get(n)) is not None]
    assert refused
    for reason in refused:
        assert any(op.name in reason for op in ops.OPERATIONS)


KINGMA_BA = """
# Kingma & Ba (2015), Algorithm 1, in ASCII
m_t = beta1*m_{t-1} + (1 - beta1)*g_t
v_t = beta2*v_{t-1} + (1 - beta2)*g_t^2
mhat_t = m_t/(1 - beta1^t)
vhat_t = v_t/(1 - beta2^t)
theta_t = theta_{t-1} - lr*mhat_t/(sqrt(vhat_t) + eps)
"""

KINGMA_BA_LATEX = r"""
\begin{aligned}
g_t &\gets \nabla_{\theta} f_t(\theta_{t-1}) \\
m_t &\gets \beta_1 \cdot m_{t-1} + (1-\beta_1) \cdot g_t \\
v_t &\gets \beta_2 \cdot v_{t-1} + (1-\beta_2) \cdot g_t^2 \\
\hat{m}_t &\gets m_t / (1-\beta_1^t) \\
\hat{v}_t &\gets v_t / (1-\beta_2^t) \\
\theta_t &\gets \theta_{t-1} - \alpha \cdot \hat{m}_t / (\sqrt{\hat{v}_t} + \epsilon)
\end{aligned}
"""

# Loshchilov & Hutter (2019), Algorithm 2: lines 6-12, the AdamW branch and the Adam (L2) one.
LOSHCHILOV_HUTTER = r"""
g_t \leftarrow \nabla f_t(\theta_{t-1}) {L2}\\
m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g^2_t \\
\hat{m}_t \leftarrow m_t/(1 - \beta_1^t) \\
\hat{v}_t \leftarrow v_t/(1 - \beta_2^t) \\
\theta_t \leftarrow \theta_{t-1} - \eta_t \left(\alpha \hat{m}_t/(\sqrt{\hat{v}_t} + \epsilon) {DECOUPLED}\right)
"""
PAPER_HYPERS = ["lr", "schedule_multiplier", "beta1", "beta2", "eps", "weight_decay"]


def test_kingma_and_ba_algorithm_1_is_torch_adam_without_weight_decay():
    text = E.rule_from_equations(KINGMA_BA, name="kingma-ba")
    tex = E.rule_from_equations(KINGMA_BA_LATEX, name="kingma-ba-tex", aliases={r"\alpha": "lr"})
    assert text.step_map() == tex.step_map()
    assert [h.name for h in text.hypers] == ["lr", "beta1", "beta2", "eps"]
    verdict = equiv.equivalent(tex, "adam", examples=3, conditions=False)
    # every trajectory of the paper's Adam is torch's with weight_decay = 0, and not conversely
    assert verdict.special_case is not None and verdict.special_case["weight_decay"] == 0
    assert all(str(verdict.special_case[k]) == k for k in ("lr", "beta1", "beta2", "eps"))


@pytest.mark.parametrize("branch,rule,l2,decoupled", [
    ("AdamW", "adamw(decay='paper')", "", r"+ \lambda \theta_{t-1}"),
    ("Adam", "adam", r"+ \lambda \theta_{t-1}", ""),
])
def test_loshchilov_and_hutter_algorithm_2_reads_as_the_rule_it_describes(branch, rule, l2, decoupled):
    box = LOSHCHILOV_HUTTER.replace("{L2}", l2).replace("{DECOUPLED}", decoupled)
    read = E.rule_from_equations(box, hypers=PAPER_HYPERS, aliases={r"\alpha": "lr"}, name=f"paper-{branch}")
    verdict = equiv.equivalent(read, rule, examples=3)
    assert verdict.kind == equiv.EQUIVALENT, verdict.reason


def test_states_intermediates_and_initial_values_are_found_from_the_notation():
    rule = E.rule_from_equations("p_0 = 1\np_t = beta1*p_{t-1}\nq_t = g_t/(1 - p_t)\ntheta_t = theta_{t-1} - lr*q_t",
                                 name="mine")
    (state,) = rule.states
    assert (state.name, state.init, state.scalar) == ("p", 1, True)  # a product of scalars is one number
    assert rule.equations[1].lhs in S.ARRAYS  # q_t reads the gradient: one value per parameter
    kernel = rule.kernel()
    import numpy as np

    params, grads = np.array([1.0, -2.0]), np.array([0.5, 0.25])
    state_ = kernel.init(params)
    new, _ = kernel.step(params, grads, state_, t=1, lr=0.1, beta1=0.5)
    assert np.allclose(new, params - 0.1 * grads / (1 - 0.5))


@pytest.mark.parametrize("text,where,what", [
    ("theta_t = theta_{t-1} - lr*h_t", "line 1, column 28", "unknown symbol 'h_t'"),
    ("m_t = m_{t-1} + g_t\ntheta_t = theta_{t-1} - floor(m_t)", "line 2, column 25", "floor"),
    ("theta_t = theta_{t-1} - lr*NS_k(g_t)", "line 1, column 28", "Newton–Schulz"),
    ("theta_t = theta_{t-1} - lr*u_{t-1}", "line 1, column 28", "u_t is never assigned"),
    ("theta_t = theta_{t-1} - lr*(g_t", "line 1, column 32", "expected ')'"),
    ("theta_t = theta_{t-1} - lr*g_t)", "line 1, column 31", "unexpected ')'"),
    ("m_t = g_t", "", "the last equation must assign θ_t"),
    ("theta_t = theta_{t-1} - lr*g_t ? 2", "line 1, column 32", "unexpected character '?'"),
    ("t = 2\ntheta_t = theta_{t-1} - lr*g_t", "line 1", "cannot be assigned"),
    ("theta_t = theta_{t-1} - __import__(os)", "line 1, column 25", "found '_'"),
    ("theta_t = theta_{t-1} - eval(g_t)", "line 1, column 25", "unknown symbol 'eval'"),
])
def test_bad_equations_are_one_line_errors_naming_where(text, where, what):
    with pytest.raises(SymoptError) as error:
        E.rule_from_equations(text, name="bad")
    message = str(error.value)
    assert "\n" not in message and where in message and what in message


def test_declared_hyperparameters_are_the_only_ones():
    with pytest.raises(SymoptError, match="unknown hyperparameter, state or intermediate 'eps'"):
        E.rule_from_equations("theta_t = theta_{t-1} - lr*g_t/eps", hypers=["lr"])


@settings(max_examples=60, deadline=None)
@given(equation_texts(tuple(str(get(n)) for n in RULES) + tuple(get(n).latex() for n in RULES)))
def test_any_text_is_a_rule_or_a_one_line_error(text):
    try:
        rule = E.rule_from_equations(text)
    except SymoptError as exc:
        assert "\n" not in str(exc).strip()
    else:
        assert rule.equations[-1].lhs == S.theta


def test_a_file_of_equations_is_a_rule_argument_of_every_command(runner, tmp_path):
    from symopt import cli

    path = tmp_path / "kingma-ba.txt"
    path.write_text(KINGMA_BA, encoding="utf-8")
    result = runner.invoke(cli.main, ["derive", str(path), "--only", "moving-averages"])
    assert result.exit_code == 0, result.output
    assert "θₜ = θₜ₋₁ - η·m̂ₜ/(√v̂ₜ + ε)" in result.output and "kingma-ba.txt" in result.output
    bad = tmp_path / "bad.tex"
    bad.write_text(r"\theta_t \gets \theta_{t-1} - \iota g_t", encoding="utf-8")  # ι: no symbol of symopt
    result = runner.invoke(cli.main, ["derive", str(bad)])
    assert result.exit_code == 2 and "bad.tex: line 1" in result.output and "\\iota" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("text,latex", [(r"\Delta x_t", True), ("Δx_t", False)])
def test_delta_before_a_name_is_one_quantity_and_delta_alone_is_its_own_name(text, latex):
    # torch's Adadelta writes its update Δx_t: the increment of x, one name (not Δ times x_t)
    assert E.ident_of(text, latex).key == ("Deltax", "t")
    assert E.ident_of(r"\Delta_t" if latex else "Δ_t", latex).key == ("Delta", "t")
    box = rf"{text} \leftarrow 2 g_t \\ \theta_t \leftarrow \theta_{{t-1}} - \gamma {text}" if latex else \
        f"{text} = 2*g_t\ntheta_t = theta_{{t-1}} - lr*{text}"
    rule = E.rule_from_equations(box, latex=latex, aliases={r"\gamma": "lr"}, name="delta")
    assert rule.step_map()[S.theta] == S.theta_prev - 2 * S.eta * S.g  # one intermediate, read once


def test_a_case_split_on_an_array_value_is_the_value_of_the_case_taken_elementwise():
    import numpy as np

    rule = E.rule_from_equations("u_t = 2*g_t if g_t > 0 else 3*g_t if g_t < 0 else 5\n"
                                 "theta_t = theta_{t-1} - lr*u_t", name="cases")
    assert not any(eq.rhs.has(sp.Piecewise) for eq in rule.equations)  # a rule branches only on scalars
    kernel = rule.kernel()
    params, grads = np.zeros(3), np.array([0.5, -0.25, 0.0])
    new, _ = kernel.step(params, grads, kernel.init(params), t=1, lr=1.0)
    assert np.allclose(new, -np.where(grads > 0, 2 * grads, np.where(grads < 0, 3 * grads, 5.0)))


@pytest.mark.parametrize("condition", ["(t >= 2) & (t <= 3)", "t >= 2 & t <= 3", "t >= 2 ∧ (t - 1) <= 2",
                                       "((t - 1) >= 1) & (3 >= t)"])
def test_a_case_on_a_conjunction_takes_it_only_where_both_hold(condition):
    # SymPy prints a conjunction (D >= 2) & (n <= min(A, B)) (AdafactorBigVision's factored branch); a
    # parenthesis that opens a side of a comparison, (t - 1) <= 2, is not taken for the conjunct's
    import numpy as np

    rule = E.rule_from_equations(f"u_t = g_t if {condition} else 0\ntheta_t = theta_{{t-1}} - lr*u_t", name="both")
    kernel = rule.kernel()
    params, grads = np.zeros(2), np.array([1.0, -2.0])
    state = kernel.init(params)
    for t in range(1, 6):
        new, state = kernel.step(params, grads, state, t=t, lr=1.0)
        assert np.array_equal(new, params - grads * (2 <= t <= 3)), t
        params = new
