"""An Rprop-like rule (torch.optim.Rprop without its clamp), written in NumPy from torch's docs: the
previous gradient is zeroed after a change of sign, so that the next step's product is an exact 0.
`verify` must compare those elements, not excuse them as rounding residues."""

import numpy as np

UP, DOWN = 1.2, 0.5


def rprop(params, grads, state, t, lr, zeroing=True):
    previous = state.get("previous", np.zeros_like(grads))
    step = state.get("step", np.full_like(grads, lr))
    s = np.sign(grads * previous)
    step = step * np.where(s > 0, UP, np.where(s < 0, DOWN, 1.0))
    if zeroing:
        grads = np.where(s < 0, 0.0, grads)
    return params - step * np.sign(grads), {"previous": grads, "step": step}


def rprop_without_zeroing(params, grads, state, t, lr):
    """A different algorithm: the gradient is kept after a change of sign."""
    return rprop(params, grads, state, t, lr, zeroing=False)
