"""Heavy-ball momentum in the note's form, which is torch.optim.SGD's, and its Nesterov variant."""

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import DAMPENING, LR, MOMENTUM, WEIGHT_DECAY
from symopt.transforms import add_decayed_weights, scale_by_learning_rate, trace

NESTEROV_DAMPENING = DAMPENING.restricted(high=0.0, doc="dampening (Nesterov takes none, as in torch)")


def momentum(nesterov: bool = False) -> Rule:
    """SGD with heavy-ball momentum: ``b_t = ρ b_{t-1} + (1 - τ) g_t``, ``θ_t = θ_{t-1} - η b_t``.

    The learning rate multiplies the buffer, it is not inside it (torch.optim.SGD's form, not
    Sutskever et al.'s ``b_t = ρ b_{t-1} + η g_t``: the two differ when η changes). The buffer
    starts as the first gradient, undampened, as in torch. The default ρ is 0.9 (torch's is 0,
    which is plain ``sgd``).

    Args:
        nesterov: use torch's Nesterov form, whose direction is ``g_t + ρ b_t``. torch refuses
            Nesterov with dampening, and so does this rule: its dampening's range is [0, 0].

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("momentum", nesterov=True).transforms
        ('add_decayed_weights', 'trace', 'scale_by_learning_rate')

    Reference: Polyak (1964); Sutskever et al. (2013); torch.optim.SGD.
    """
    if not isinstance(nesterov, bool):
        raise ValueError(f"nesterov must be True or False, not {nesterov!r}")
    return rule(
        "momentum",
        "SGD with heavy-ball momentum" + (", Nesterov form" if nesterov else ""),
        "Polyak (1964); Sutskever et al. (2013); torch.optim.SGD (momentum, dampening, nesterov)",
        chain(
            "momentum",
            add_decayed_weights(WEIGHT_DECAY),
            trace(MOMENTUM, NESTEROV_DAMPENING if nesterov else DAMPENING, nesterov=nesterov),
            scale_by_learning_rate(LR),
        ),
        torch="SGD",
        nesterov=nesterov,
    )
