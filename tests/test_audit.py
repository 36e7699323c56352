"""symopt audit: a documented algorithm box read into rules and decided against a rule and the code.

The torch.optim audit itself runs once, in `derivations/audit-torch.md` (the documents' staleness test
regenerates it); these tests read that table, and audit small LaTeX files against named rules."""

from pathlib import Path

import pytest
from conftest import require

from symopt import audit
from symopt.errors import SymoptError

DOCUMENT = Path(__file__).parent.parent / "derivations" / "audit-torch.md"

# Loshchilov & Hutter (2019), Algorithm 2, the AdamW branch, in torch's box structure.
ADAMW_PAPER = r"""
\begin{aligned}
&\textbf{input} : \alpha \text{ (lr)}, \beta_1, \beta_2 \text{ (betas)}, \epsilon \text{ (epsilon)},
    \lambda \text{ (weight decay)}, \eta_t \text{ (schedule multiplier)} \\
&\textbf{initialize} : m_0 \leftarrow 0, v_0 \leftarrow 0 \\
&\textbf{for} \: t=1 \: \textbf{to} \: \ldots \: \textbf{do} \\
&\hspace{5mm} g_t \leftarrow \nabla f_t(\theta_{t-1}) \\
&\hspace{5mm} m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
&\hspace{5mm} v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g^2_t \\
&\hspace{5mm} \hat{m}_t \leftarrow m_t/(1 - \beta_1^t) \\
&\hspace{5mm} \hat{v}_t \leftarrow v_t/(1 - \beta_2^t) \\
&\hspace{5mm} \theta_t \leftarrow \theta_{t-1} - \eta_t \left(\alpha \hat{m}_t/(\sqrt{\hat{v}_t} + \epsilon)
    + \lambda \theta_{t-1}\right) \\
&\bf{return} \: \theta_t
\end{aligned}
"""

ADAM_BOX = r"""
\begin{aligned}
&\textbf{input} : \gamma \text{ (lr)}, \beta_1, \beta_2 \text{ (betas)}, \epsilon \text{ (epsilon)},
    \lambda \text{ (weight decay)} \\
&\textbf{for} \: t=1 \: \textbf{to} \: \ldots \: \textbf{do} \\
&\hspace{5mm} g_t \leftarrow g_t + \lambda \theta_{t-1} \\
&\hspace{5mm} m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
&\hspace{5mm} v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g^2_t \\
&\hspace{5mm} \widehat{m_t} \leftarrow m_t/\big(1-\beta_1^t \big) \\
&\hspace{5mm} \widehat{v_t} \leftarrow v_t/\big(1-\beta_2^t \big) \\
&\hspace{5mm} \theta_t \leftarrow \theta_{t-1} - \gamma \widehat{m_t}/\big(\sqrt{\widehat{v_t}} + \epsilon \big)
\end{aligned}
"""


def _audit(tmp_path, box, against, examples=3):
    path = tmp_path / "paper.tex"
    path.write_text(box, encoding="utf-8")
    return audit.audit_file(str(path), against, examples=examples)


def test_a_paper_algorithm_in_a_file_is_audited_against_a_named_rule(tmp_path):
    (mapped,) = _audit(tmp_path, ADAMW_PAPER, "adamw")
    assert mapped.verdict == audit.SAME_UNDER_MAP  # torch's λ is the paper's divided by its α
    assert any("weight_decay = weight_decay/lr" in line for line in mapped.detail)


def test_a_box_that_drifts_from_the_rule_is_DIFFERENT_naming_its_line(tmp_path):
    # the second moment left without its bias correction
    drifted = ADAM_BOX.replace(r"\widehat{v_t} \leftarrow v_t/\big(1-\beta_2^t \big)", r"\widehat{v_t} \leftarrow v_t")
    assert drifted != ADAM_BOX
    (finding,) = _audit(tmp_path, drifted, "adam", examples=audit.EXAMPLES)
    assert finding.verdict == audit.DIFFERENT
    assert r"\widehat{v_t} \leftarrow v_t" in finding.line and "1-\\beta_2" not in finding.line
    assert any("counterexample" in line for line in finding.detail)


def test_a_line_symopt_cannot_read_is_NOT_PARSED_naming_it(tmp_path):
    box = ADAM_BOX.replace(r"\gamma \widehat{m_t}", r"\gamma \operatorname{clip}(\widehat{m_t})")
    (finding,) = _audit(tmp_path, box, "adam")
    assert finding.verdict == audit.NOT_PARSED
    assert "clip" in finding.line and "clip" in " ".join(finding.detail)


def test_the_torch_table_has_a_verdict_for_every_class_and_names_muons_momentum_drift():
    require("torch", install="pip install torch==2.13.0")
    table = DOCUMENT.read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith("| `torch.optim.")]
    for cls in audit.torch_classes():
        mine = [r for r in rows if r.startswith(f"| `torch.optim.{cls}`")]
        assert mine and all(any(f"**{v}**" in r for v in (audit.SAME, audit.SAME_UNDER_MAP, audit.DIFFERENT,
                                                          audit.NOT_PARSED, audit.NOT_DECIDED)) for r in mine)
    for row in rows:  # every SAME is backed by equiv's proof and torch's code on generated cases
        if "**SAME**" in row:
            assert row.split("|")[5].strip() in ("SAME", "-") and "agrees on" in row.split("|")[6]
    for section in table.split("\n## ")[1:]:  # every DIFFERENT with its counterexample
        if section.splitlines()[0].endswith(": DIFFERENT"):
            assert "The line that differs" in section and "expected" in section and "step " in section
    muon = table[table.index("## torch.optim.Muon"):]
    assert "DIFFERENT" in muon.splitlines()[0]
    assert r"B_t \leftarrow \mu B_{t-1} + g_t" in muon and "step 1" in muon  # the sum, and a counterexample


@pytest.mark.parametrize("args,message", [
    ([], "give one of"),
    (["torch.optim.Adma"], "closest: 'Adam'"),
    (["paper.tex"], "--against RULE"),
])
def test_bad_audit_arguments_are_one_line_errors(runner, args, message):
    from symopt import cli

    result = runner.invoke(cli.main, ["audit", *args])
    assert result.exit_code == 2 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_unknown_class_is_refused_without_torch_work():
    with pytest.raises(SymoptError, match="unknown torch.optim class"):
        audit.audit_class("Nonesuch")


# torch's Rprop box, cut down: an elementwise loop, an else-if chain, a state x_prev kept after θ
CHAIN_BOX = r"""
\begin{aligned}
&\textbf{input} : \eta_{+/-} \text{ (etaplus, etaminus)}, \Gamma_{max/min} \text{ (step sizes)} \\
&\textbf{initialize} : g^0_{prev} \leftarrow 0, \: \eta_0 \leftarrow \text{lr (learning rate)} \\
&\textbf{for} \: t=1 \: \textbf{to} \: \ldots \: \textbf{do} \\
&\hspace{5mm} \textbf{for} \text{  } i = 0, 1, \ldots, d-1 \: \mathbf{do} \\
&\hspace{10mm} \textbf{if} \: g^i_{prev} g^i_t > 0 \\
&\hspace{15mm} \eta^i_t \leftarrow \mathrm{min}(\eta^i_{t-1} \eta_{+}, \Gamma_{max}) \\
&\hspace{10mm} \textbf{else if} \: g^i_{prev} g^i_t < 0 \\
&\hspace{15mm} \eta^i_t \leftarrow \mathrm{max}(\eta^i_{t-1} \eta_{-}, \Gamma_{min}) \\
&\hspace{15mm} g^i_t \leftarrow 0 \\
&\hspace{10mm} \textbf{else} \: \\
&\hspace{15mm} \eta^i_t \leftarrow \eta^i_{t-1} \\
&\hspace{5mm}\theta_t \leftarrow \theta_{t-1}- \eta_t \mathrm{sign}(g_t) \\
&\hspace{5mm}g_{prev} \leftarrow g_t
\end{aligned}
"""


def test_an_else_if_chain_nests_and_a_stray_else_is_NOT_PARSED_naming_it():
    box = audit.read_box(audit.extract(CHAIN_BOX))
    (chain, *_) = [s for s in box.body if s.is_if]
    (inner,) = chain.otherwise
    assert chain.condition.endswith("> 0") and inner.condition.endswith("< 0") and len(inner.then) == 2
    assert [s.text for s in inner.otherwise] == [r"\eta_t \leftarrow \eta_{t-1}"]  # the index i dropped
    stray = CHAIN_BOX.replace(r"\textbf{if} \: g^i_{prev} g^i_t > 0", r"\eta^i_t \leftarrow \eta^i_{t-1}")
    with pytest.raises(audit.NotParsed, match="an else if without its if"):
        audit.read_box(audit.extract(stray))


def test_a_box_that_clamps_one_side_per_branch_differs_from_rprop_where_the_step_size_leaves_its_bounds():
    # read as symopt's rule where Γ_min ≤ η ≤ Γ_max; torch's box (and this one) clamps only one side
    # per branch, so a step size that starts below Γ_min stays there: a counterexample, not a proof
    from symopt.optimizers import get

    rprop = get("rprop")
    box = audit.read_box(audit.extract(CHAIN_BOX))
    (branch,) = audit.branches(box)
    made = audit.branch_rule(box, branch, rprop, "rprop-doc")
    assert sorted(s.name for s in made.states) == sorted(s.name for s in rprop.states)
    # its array η_t is not a scalar η_t read afterwards (Adagrad's decayed learning rate)
    from symopt import equations as E
    from symopt import symbols as S

    later = E.rule_from_equations("eta_t = lr/t\ntheta_t = theta_{t-1} - eta_t*g_t", name="later")
    assert later.equations[0].lhs not in S.ARRAYS
    point = {"lr": 0.0, "step_size_min": 1e-6, "step_size_max": 50.0, "etaplus": 1.2, "etaminus": 0.5}
    mine, theirs = (rule.kernel() for rule in (made, rprop))
    import numpy as np

    params, grads = np.zeros(2), np.array([-1.0, 2.0])
    ours, _ = mine.step(params, grads, mine.init(params, **point), t=1, **point)
    torch_like, _ = theirs.step(params, grads, theirs.init(params, **point), t=1, **point)
    assert np.allclose(ours, 0.0) and np.allclose(torch_like, -1e-6 * np.sign(grads))
