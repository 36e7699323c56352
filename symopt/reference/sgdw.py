"""SGDW: timm 1.0.31 ``timm.optim.sgdw.SGDW`` (``_single_tensor_sgdw``): torch's SGD with momentum,
the weight decay decoupled from the gradient; with ``caution=True`` timm's ``csgdw``, with
``corrected_weight_decay=True`` its ``sgdc``."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _add_scaled_, _cautious_mask, _decay_scale, _prepare

__all__ = ["sgdw"]


def sgdw(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    momentum: float = 0.9,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    max_lr: float = 1e-3,
    nesterov: bool = False,
    cautious: bool = False,
    corrected_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of SGDW, as timm's ``_single_tensor_sgdw``.

    ::

        params = params * (1 - lr * weight_decay)         # decoupled: the buffer never sees it
                                                          # (lr ** 2 / max_lr for lr if corrected_weight_decay)
        buf = grads                                       # first step (a clone, no dampening)
        buf = momentum * buf + (1 - dampening) * grads    # later steps
        d   = grads + momentum * buf  if nesterov else buf
        d   = d * mask(d * grads)                         # if cautious (timm's caution=True)
        params = params - lr * d

    With ``momentum == 0`` timm keeps no buffer and masks nothing, ``d = grads``,
    and so does this function (symopt's rule takes momentum in (0, 1]).  The
    buffer is kept in ``state["momentum_buffer"]``; it does not exist before the
    first step.  timm's ``maximize`` is not written here.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (the first step is
            recognised by the missing buffer, as in timm).
        lr: learning rate.
        momentum: momentum factor.
        dampening: dampening of the gradient added to the buffer (not applied
            on the first step).
        weight_decay: decoupled weight decay coefficient (scaled by ``lr``).
        max_lr: the learning rate timm's optimizer was built with (its
            ``max_lr_snapshot``); read only with ``corrected_weight_decay``.
        nesterov: use Nesterov momentum, ``grads + momentum * buf``.
        cautious: multiply the direction by timm's cautious mask of
            ``direction * grads`` (:func:`symopt.reference._common._cautious_mask`),
            after the Nesterov correction.
        corrected_weight_decay: scale the decay by ``lr ** 2 / max_lr``
            instead of ``lr`` (timm's ``corrected_weight_decay=True``, after
            "Why Gradients Rapidly Increase Near the End of Training", arXiv
            2506.02285).
        inplace: update ``params`` and the buffer in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = sgdw(np.array([1.0]), np.array([1.0]), {}, 1, lr=0.1, weight_decay=0.5)
        >>> p, s["momentum_buffer"]          # 1 * (1 - 0.05) - 0.1 * 1
        (array([0.85]), array([1.]))
        >>> p, s = sgdw(p, np.array([1.0]), s, 2, lr=0.1, weight_decay=0.5)
        >>> p, s["momentum_buffer"]          # 0.85 * 0.95 - 0.1 * 1.9
        (array([0.6175]), array([1.9]))

    Reference:
        timm 1.0.31, ``timm/optim/sgdw.py``, ``_single_tensor_sgdw``;
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR
        2019, Algorithm 1; Liang et al., "Cautious Optimizers", 2024.
    """
    lr, mu = float(lr), float(momentum)
    dampening, weight_decay = float(dampening), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        # timm: wd_scale = lr if max_lr is None else lr ** 2 / max_lr;
        # param.mul_(1. - wd_scale * weight_decay), the factor formed in Python double
        np.multiply(p, 1.0 - _decay_scale(lr, max_lr, corrected_weight_decay) * weight_decay, out=p)
        work = np.empty_like(p)
        direction = grads
        if mu != 0.0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # timm: buf = torch.clone(grad), so dampening is not applied on the first step
                buf = np.empty_like(p)
                np.copyto(buf, grads)
                state["momentum_buffer"] = buf
            else:
                # timm: buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                np.multiply(buf, mu, out=buf)
                alpha = 1.0 - dampening
                if alpha == 1.0:
                    np.add(buf, grads, out=buf)
                else:
                    np.multiply(grads, alpha, out=work)
                    np.add(buf, work, out=buf)
            if nesterov:
                # timm: grad.add(buf, alpha=momentum), a new tensor
                np.multiply(buf, mu, out=work)
                np.add(grads, work, out=work)
                direction = work
            else:
                direction = buf
            if cautious:
                # timm: mask = (buf * grad > 0) / mean clamped at 1e-3; grad = buf * mask (buf untouched)
                mask = _cautious_mask(direction, np.asarray(grads, dtype=p.dtype))
                np.multiply(direction, mask, out=work)
                direction = work
        # timm: param.add_(grad, alpha=-lr)
        _add_scaled_(p, -lr, direction, work)
    return p, state


#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"sgdw": sgdw}
