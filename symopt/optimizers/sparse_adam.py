"""SparseAdam, as torch.optim.SparseAdam: Adam's update of the elements a sparse gradient touches."""

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, EPS, LR
from symopt.transforms import scale_by_adam, scale_by_learning_rate


def sparse_adam() -> Rule:
    """SparseAdam: on each element a sparse gradient touches, Adam's moments (written as torch computes
    them, ``m_t = m_{t-1} + (1 - β₁)(g_t - m_{t-1})``) and the step
    ``η m̂_t/(√v̂_t + ε/√(1 - β₂ᵗ))`` (torch adds ε to √v_t and multiplies by √(1 - β₂ᵗ) after:
    Kingma & Ba's efficient form, ε̂, as ``adam(epsilon='hat')``), no weight decay; the elements it
    does not touch keep θ, m and v, while t counts the parameter's steps.

    What the rule covers: the update of a touched element, the same whatever the others. A dense
    kernel step is SparseAdam with a gradient that touches every element (a 0 in it is touched: its
    moments decay and θ moves, as torch does with a materialised 0). SparseAdam on a gradient that
    touches some rows is the kernel stepped on those rows alone with the parameter's step count t,
    their θ, m and v gathered and scattered back (tests/test_sparse_and_averaged.py checks it against
    torch with random rows).

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("sparse-adam").transforms
        ('scale_by_adam', 'scale_by_learning_rate')

    Reference: Kingma & Ba (2015), Algorithm 1 and Section 2's efficient form; torch.optim.SparseAdam
    (``torch.optim._functional.sparse_adam``).
    """
    return rule(
        "sparse-adam",
        "SparseAdam, Adam (epsilon added before the bias correction) on the elements a sparse gradient touches",
        "Kingma & Ba (2015); torch.optim.SparseAdam",
        chain(
            "sparse-adam",
            # the moments as torch computes them: m_t = m_{t-1} + (1 - β₁)(g_t - m_{t-1})
            scale_by_adam(BETA1, BETA2, EPS, epsilon="hat", increment=True),
            # torch refuses lr = 0
            scale_by_learning_rate(LR.restricted(low_open=True, special=(1e-3,))),
        ),
        torch="SparseAdam",
        sparse=True,
    )
