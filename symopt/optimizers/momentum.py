"""Heavy-ball momentum in the note's form, which is torch.optim.SGD's, its Nesterov variant, and the
two other conventions: the learning rate inside the buffer (Sutskever et al.) and a moving average."""

from typing import Literal

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import DAMPENING, LR, MOMENTUM, WEIGHT_DECAY
from symopt.transforms import BUFFER, accumulate, add_decayed_weights, moving_average, scale_by_learning_rate, trace

NESTEROV_DAMPENING = DAMPENING.restricted(high=0.0, doc="dampening (Nesterov takes none, as in torch)")

Form = Literal["torch", "sutskever", "ema"]
FORMS: tuple[str, ...] = ("torch", "sutskever", "ema")


def momentum(nesterov: bool = False, form: Form = "torch") -> Rule:
    """SGD with heavy-ball momentum: ``b_t = ρ b_{t-1} + (1 - τ) g_t``, ``θ_t = θ_{t-1} - η b_t``.

    The learning rate multiplies the buffer, it is not inside it (torch.optim.SGD's form, not
    Sutskever et al.'s ``b_t = ρ b_{t-1} + η g_t``: the two differ when η changes). The buffer
    starts as the first gradient, undampened, as in torch. The default ρ is 0.9 (torch's is 0,
    which is plain ``sgd``).

    Args:
        nesterov: look ahead: the direction is the buffer's update applied once more to the new
            buffer (torch's ``g_t + ρ b_t``). torch refuses Nesterov with dampening, and so does
            this rule: its dampening's range is [0, 0].
        form: ``"torch"`` (above; optax's ``sgd`` with dampening 0), ``"sutskever"``
            (``b_t = ρ b_{t-1} + η g_t``, ``θ_t = θ_{t-1} - b_t``: the learning rate inside the
            buffer, Sutskever et al. 2013 and the note's velocity), or ``"ema"``
            (``b_t = ρ b_{t-1} + (1 - ρ) g_t`` from 0, ``θ_t = θ_{t-1} - η b_t``: a moving average,
            Keras-style "momentum as an EMA"). Neither of the two last has a dampening.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("momentum", nesterov=True).transforms
        ('add_decayed_weights', 'trace', 'scale_by_learning_rate')
        >>> symopt.get("momentum", form="sutskever").transforms
        ('add_decayed_weights', 'scale_by_learning_rate', 'accumulate')

    Reference: Polyak (1964); Sutskever et al. (2013), eq. 1-2; torch.optim.SGD.
    """
    if not isinstance(nesterov, bool):
        raise ValueError(f"nesterov must be True or False, not {nesterov!r}")
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(FORMS)}, not {form!r}")
    decay = add_decayed_weights(WEIGHT_DECAY)
    if form == "torch":
        transforms = (decay, trace(MOMENTUM, NESTEROV_DAMPENING if nesterov else DAMPENING, nesterov=nesterov),
                      scale_by_learning_rate(LR))
    elif form == "sutskever":
        transforms = (decay, scale_by_learning_rate(LR), accumulate(BUFFER, MOMENTUM, nesterov=nesterov))
    else:
        transforms = (decay, moving_average(BUFFER, MOMENTUM, nesterov=nesterov), scale_by_learning_rate(LR))
    summary = {"torch": "SGD with heavy-ball momentum",
               "sutskever": "SGD with momentum, the learning rate inside the buffer",
               "ema": "SGD with momentum as a moving average of the gradient"}[form]
    return rule(
        "momentum",
        summary + (", Nesterov form" if nesterov else ""),
        {"torch": "Polyak (1964); Sutskever et al. (2013); torch.optim.SGD (momentum, dampening, nesterov)",
         "sutskever": "Sutskever et al. (2013), eq. 1-2 (Nesterov: eq. 3-4 as a look-ahead)",
         "ema": "momentum as an exponential moving average of the gradient, started from 0"}[form],
        chain("momentum", *transforms),
        torch="SGD",
        nesterov=nesterov,
        form=form,
    )
