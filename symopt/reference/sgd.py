"""SGD: torch.optim.SGD without momentum (``_single_tensor_sgd``)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _l2_gradient

__all__ = ["sgd"]


def sgd(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of plain stochastic gradient descent (torch.optim.SGD, momentum=0).

    ``g = grads + weight_decay * params`` (L2 penalty folded into the
    gradient), then ``params = params - lr * g``.  SGD keeps no state; the
    state dict is returned as it was (copied unless ``inplace``).

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state (unused by SGD), ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (unused by SGD).
        lr: learning rate.
        weight_decay: L2 penalty coefficient added to the gradient.
        inplace: update ``params`` in place instead of a copy.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = sgd(np.array([1.0, 2.0]), np.array([0.5, -1.0]), {}, 1, lr=0.1)
        >>> p
        array([0.95, 2.1 ])

    Reference:
        torch.optim.SGD documentation and ``_single_tensor_sgd``.
    """
    lr = float(lr)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        if weight_decay != 0.0:
            work = _l2_gradient(p, grads, weight_decay)
            np.multiply(work, -lr, out=work)
        else:
            work = np.empty_like(p)
            np.multiply(grads, -lr, out=work)
        # torch: param.add_(grad, alpha=-lr), i.e. p + (-lr) * g.
        np.add(p, work, out=p)
    return p, state



#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"sgd": sgd}
