"""Lion: Chen et al. (NeurIPS 2023); optax ``lion`` / ``scale_by_lion``; lucidrains' lion-pytorch."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _state_array, _add_scaled_, _cautious_mask, _decay_scale

__all__ = ["lion"]


def lion(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-4,
    beta1: float = 0.9,
    beta2: float = 0.99,
    weight_decay: float = 1e-3,
    max_lr: float = 1e-4,
    cautious: bool = False,
    corrected_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Lion (EvoLved Sign Momentum), as optax's ``lion``.

    ::

        c = beta1 * m + (1 - beta1) * g                  # interpolation for the sign
        u = sign(c) * mask(sign(c) * g)                  # if cautious (timm's caution=True), else sign(c)
        params = params - lr * (u + weight_decay * params)
        m = beta2 * m + (1 - beta2) * g                  # the stored momentum

    torch has no Lion.  optax computes exactly this chain
    (``scale_by_lion``: ``sign((1 - b1) * g + b1 * m)``, then
    ``add_decayed_weights``: ``u + weight_decay * params``, then
    ``scale_by_learning_rate``: ``-lr * u``, then ``params + u``), and that is
    the evaluation order here.  lucidrains' lion-pytorch first decays,
    ``params * (1 - lr * weight_decay)``, then adds ``-lr * sign(c)``: the
    same in exact arithmetic, not necessarily in the last bit.  Every element
    moves by exactly ``lr`` when ``weight_decay = 0`` (and ``c != 0``).  The
    momentum is kept in ``state["exp_avg"]`` (lion-pytorch's name; optax's
    ``mu``), zeros before step 1.  The defaults are lion-pytorch's ``lr`` and
    optax's betas and decay.

    timm 1.0.31's ``Lion`` is this rule too (lion-pytorch's order, ``torch.lerp``
    for both interpolations); with ``caution=True`` it multiplies ``sign(c)`` by
    the cautious mask before the step, and decays the parameters apart from it:
    the mask never touches the decay.  With ``corrected_weight_decay=True``
    (timm's ``lionc``) this function follows timm's order: ``params * (1 -
    lr ** 2 / max_lr * weight_decay)`` first, then ``-lr * u``.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (unused: Lion
            corrects no bias).
        lr: learning rate.
        beta1: interpolation between momentum and gradient inside the sign.
        beta2: decay rate of the stored momentum.
        weight_decay: decoupled weight decay coefficient (scaled by ``lr``).
        cautious: multiply ``sign(c)`` by timm's cautious mask of ``sign(c) * grads``
            (:func:`symopt.reference._common._cautious_mask`), as timm's ``Lion(caution=True)``.
        max_lr: the learning rate timm's optimizer was built with (its
            ``max_lr_snapshot``); read only with ``corrected_weight_decay``.
        corrected_weight_decay: timm's corrected weight decay, the decay scaled by
            ``lr ** 2 / max_lr`` instead of ``lr`` ("Why Gradients Rapidly Increase
            Near the End of Training", arXiv 2506.02285).
        inplace: update ``params`` and the momentum in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = lion(np.array([1.0, 1.0]), np.array([3.0, -1e-9]), {}, 1, lr=0.25, weight_decay=0.0)
        >>> p, s["exp_avg"]          # each element moves by lr, whatever |g|
        (array([0.75, 1.25]), array([ 3.e-02, -1.e-11]))

    Reference:
        Chen et al., "Symbolic Discovery of Optimization Algorithms", NeurIPS
        2023, Program 1; optax ``lion`` and ``scale_by_lion``; lion-pytorch
        ``update_fn``.
    """
    lr, beta1, beta2 = float(lr), float(beta1), float(beta2)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently
        m = _state_array(state, "exp_avg", p)
        update = np.empty_like(p)
        work = np.empty_like(p)
        # optax: sign((1 - b1) * g + b1 * m), from the momentum before this step
        np.multiply(grads, 1.0 - beta1, out=update)
        np.multiply(m, beta1, out=work)
        np.add(update, work, out=update)
        np.sign(update, out=update)
        if cautious:  # timm: mask = (update * grad > 0), divided by its mean clamped at 1e-3
            update *= _cautious_mask(update, np.asarray(grads, dtype=p.dtype))
        if corrected_weight_decay:
            # timm: wd_scale = lr ** 2 / max_lr; param.mul_(1 - wd_scale * weight_decay), before the step
            np.multiply(p, 1.0 - _decay_scale(lr, max_lr, True) * weight_decay, out=p)
        elif weight_decay != 0.0:
            # optax add_decayed_weights: u + weight_decay * params
            np.multiply(p, weight_decay, out=work)
            np.add(update, work, out=update)
        # optax scale_by_learning_rate and apply_updates: params + (-lr) * u
        _add_scaled_(p, -lr, update, work)
        # optax tree_update_moment: (1 - b2) * g + b2 * m
        np.multiply(grads, 1.0 - beta2, out=work)
        np.multiply(m, beta2, out=m)
        np.add(work, m, out=m)
    return p, state



#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"lion": lion}
