"""SGD with momentum: torch.optim.SGD (``_single_tensor_sgd``), and the conventions other libraries
write it in."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import State, _prepare, _l2_gradient, _state_array

__all__ = ["momentum", "momentum_convention"]


def momentum(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    momentum: float = 0.9,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    form: str = "torch",
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of SGD with (heavy-ball or Nesterov) momentum, as torch.optim.SGD.

    ``form="sutskever"`` and ``form="ema"`` are the two other conventions
    (:func:`momentum_convention`); ``"torch"`` is the one below.

    With ``g = grads + weight_decay * params``::

        buf = g                                         # first step (no dampening)
        buf = momentum * buf + (1 - dampening) * g      # later steps
        g   = g + momentum * buf  if nesterov else buf
        params = params - lr * g

    The buffer is kept in ``state["momentum_buffer"]``; it does not exist
    before the first step.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (the first step is
            recognised by the missing buffer, as in torch).
        lr: learning rate.
        momentum: momentum factor.
        dampening: dampening of the gradient added to the buffer (not applied
            on the first step).
        weight_decay: L2 penalty coefficient added to the gradient.
        nesterov: use Nesterov momentum.
        inplace: update ``params`` and the buffer in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = momentum(np.array([1.0]), np.array([1.0]), {}, 1, lr=0.1)
        >>> p, s["momentum_buffer"]
        (array([0.9]), array([1.]))
        >>> p, s = momentum(p, np.array([1.0]), s, 2, lr=0.1)
        >>> p, s["momentum_buffer"]
        (array([0.71]), array([1.9]))

    Reference:
        torch.optim.SGD documentation and ``_single_tensor_sgd``; Sutskever et
        al., "On the importance of initialization and momentum in deep
        learning", ICML 2013.
    """
    if form != "torch":
        return momentum_convention(params, grads, state, t, lr=lr, momentum=momentum, dampening=dampening,
                                   weight_decay=weight_decay, nesterov=nesterov, form=form, inplace=inplace)
    lr = float(lr)
    mu = float(momentum)
    dampening = float(dampening)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        g = grads
        if weight_decay != 0.0:
            g = _l2_gradient(p, grads, weight_decay)

        work = np.empty_like(p)
        buf = state.get("momentum_buffer")
        if buf is None:
            # torch: buf = clone(grad) on the first step, so dampening is not applied.
            buf = np.empty_like(p)
            np.copyto(buf, g)
            state["momentum_buffer"] = buf
        else:
            np.multiply(buf, mu, out=buf)
            alpha = 1.0 - dampening
            if alpha == 1.0:
                # 1 * g is exact; skip the pass.
                np.add(buf, g, out=buf)
            else:
                np.multiply(g, alpha, out=work)
                np.add(buf, work, out=buf)

        if nesterov:
            np.multiply(buf, mu, out=work)
            np.add(g, work, out=work)
            np.multiply(work, -lr, out=work)
        else:
            np.multiply(buf, -lr, out=work)
        # torch: param.add_(grad, alpha=-lr), i.e. p + (-lr) * g.
        np.add(p, work, out=p)
    return p, state


def momentum_convention(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    momentum: float = 0.9,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    form: str = "sutskever",
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of momentum SGD with the learning rate inside the buffer, or as a moving average.

    With ``g = grads + weight_decay * params`` and the buffer ``b`` zeros
    before the first step::

        form="sutskever":  b = momentum * b + lr * g          (Sutskever et al. 2013, eq. 1)
                           params = params - (momentum * b + lr * g  if nesterov else b)
        form="ema":        b = momentum * b + (1 - momentum) * g
                           params = params - lr * (momentum * b + (1 - momentum) * g  if nesterov else b)

    Neither has a dampening (``dampening`` is accepted and must be 0 to mean
    anything; it is ignored).  ``form="torch"`` is :func:`momentum`.

    Example:
        >>> import numpy as np
        >>> p, s = momentum_convention(np.array([1.0]), np.array([1.0]), {}, 1, lr=0.1, momentum=0.5)
        >>> p, s = momentum_convention(p, np.array([1.0]), s, 2, lr=0.1, momentum=0.5)
        >>> p, s["momentum_buffer"]          # b = 0.1, then 0.5 * 0.1 + 0.1
        (array([0.75]), array([0.15]))

    Reference:
        Sutskever, Martens, Dahl & Hinton, "On the importance of
        initialization and momentum in deep learning", ICML 2013, eq. 1-4.
    """
    if form == "torch":
        return globals()["momentum"](params, grads, state, t, lr=lr, momentum=momentum, dampening=dampening,
                                     weight_decay=weight_decay, nesterov=nesterov, inplace=inplace)
    if form not in ("sutskever", "ema"):
        raise ValueError("form must be 'torch', 'sutskever' or 'ema'; got %r" % (form,))
    lr, mu, weight_decay = float(lr), float(momentum), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = _l2_gradient(p, grads, weight_decay) if weight_decay != 0.0 else grads
        buf = _state_array(state, "momentum_buffer", p)
        scale = lr if form == "sutskever" else 1.0 - mu  # what multiplies the gradient in the buffer
        fresh = scale * g
        buf[...] = mu * buf + fresh
        direction = mu * buf + fresh if nesterov else buf.copy()
        if form == "ema":
            direction = lr * direction
        p -= direction
    return p, state



#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"momentum": momentum}
