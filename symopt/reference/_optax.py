"""What the references of optax's rules share, written from optax 0.2.8's ``optax.tree`` helpers:
its moving average and bias correction, in its evaluation order."""

from __future__ import annotations

import numpy as np


def _moment_(m: np.ndarray, x: np.ndarray, decay: float, work: np.ndarray) -> None:
    """``m <- (1 - decay) * x + decay * m`` in place (optax ``tree.update_moment``, order 1)."""
    np.multiply(x, 1.0 - decay, out=work)
    np.multiply(m, decay, out=m)
    np.add(work, m, out=m)


def _corrected(m: np.ndarray, decay: float, t: int) -> np.ndarray:
    """``m / (1 - decay**t)``, a new array, the factor formed in double and divided in m's dtype
    (optax ``tree.bias_correction``)."""
    return m / m.dtype.type(1.0 - decay**t)


def _apply_lr_(p: np.ndarray, lr: float, update: np.ndarray, work: np.ndarray) -> None:
    """``p <- p + (-lr) * update`` (optax ``scale_by_learning_rate``, then ``apply_updates``)."""
    np.multiply(update, -lr, out=work)
    np.add(p, work, out=p)
