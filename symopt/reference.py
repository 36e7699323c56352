"""Hand-written NumPy reference implementations of the optimizers symopt derives.

These are independent witnesses for the symbolic update rules: they were
written by hand from the papers and from the ``torch.optim`` documentation and
source (single-tensor, ``foreach=False`` code path), and deliberately share no
code with the symbolic derivations (no SymPy, nothing else from ``symopt``).
Tests compare the generated kernels against these functions, and these
functions against ``torch.optim`` itself.

Every optimizer has the same calling convention::

    params, state = step(params, grads, state, t, *, <hyperparameters>, inplace=False)

* ``params``, ``grads`` -- NumPy arrays of one shape (0-d and empty included),
  float32 or float64.  The dtype of ``params`` is kept.
* ``state`` -- a dict owned by the optimizer, ``{}`` before the first step.
  Keys follow ``torch.optim`` (``"momentum_buffer"``, ``"exp_avg"``,
  ``"exp_avg_sq"``).
* ``t`` -- the number of the step being taken, counting from 1.
* ``inplace`` -- with ``False`` (the default) the inputs are copied first and
  left untouched; with ``True`` ``params`` and the arrays in ``state`` are
  updated in place and the same objects are returned.  Either way the math
  runs through one in-place code path (``out=`` arguments, few preallocated
  temporaries), which is the performance baseline for the benchmarks.

``grads`` is never modified.  NaN and inf in the gradients propagate; nothing
is checked.

References:
    * torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW documentation and
      source (``_single_tensor_sgd``, ``_single_tensor_adam``), PyTorch 2.x.
    * D. P. Kingma and J. Ba, "Adam: A Method for Stochastic Optimization",
      ICLR 2015, Algorithm 1 and the efficient form at the end of Section 2.
    * I. Loshchilov and F. Hutter, "Decoupled Weight Decay Regularization",
      ICLR 2019 (AdamW).
    * optax ``scale_by_adam`` (``eps_root``) for epsilon inside the square root.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Tuple

import numpy as np

__all__ = ["sgd", "momentum", "adam", "adamw", "REFERENCES", "EPSILON_PLACEMENTS"]

#: The accepted values of the ``epsilon`` keyword of :func:`adam` and :func:`adamw`.
EPSILON_PLACEMENTS = ("outside", "inside", "hat")

State = Dict[str, Any]


def _prepare(params: np.ndarray, state: State | None, inplace: bool) -> Tuple[np.ndarray, State]:
    """Return the arrays the in-place code path may mutate.

    With ``inplace=False`` params and every array in state are copied, so the
    caller's objects stay untouched; with ``inplace=True`` they are returned
    as they are.
    """
    if state is None:
        state = {}
    if inplace:
        if not isinstance(params, np.ndarray):
            raise TypeError("inplace=True needs params to be a numpy.ndarray")
        return params, state
    params = np.array(params, copy=True)
    new_state: State = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            new_state[key] = np.array(value, copy=True)
        else:
            new_state[key] = copy.deepcopy(value)
    return params, new_state


def _l2_gradient(p: np.ndarray, g: np.ndarray, weight_decay: float) -> np.ndarray:
    """Return a new array ``g + weight_decay * p`` (torch: ``grad.add(param, alpha=wd)``).

    A new array, because the caller's gradient must never be modified.
    """
    out = np.empty_like(p)
    np.multiply(p, weight_decay, out=out)
    np.add(g, out, out=out)
    return out


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
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of SGD with (heavy-ball or Nesterov) momentum, as torch.optim.SGD.

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


def _check_epsilon(epsilon: str) -> None:
    if epsilon not in EPSILON_PLACEMENTS:
        raise ValueError(
            "epsilon must be one of 'outside', 'inside', 'hat'; got %r" % (epsilon,)
        )


def _adam_core(
    p: np.ndarray,
    g: np.ndarray,
    state: State,
    t: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled: bool,
    bias_correction: bool,
    epsilon: str,
) -> None:
    """The one in-place Adam/AdamW step, mirroring torch's ``_single_tensor_adam``."""
    m = state.get("exp_avg")
    if m is None:
        m = np.zeros_like(p)
        state["exp_avg"] = m
    v = state.get("exp_avg_sq")
    if v is None:
        v = np.zeros_like(p)
        state["exp_avg_sq"] = v

    work = np.empty_like(p)
    work2 = None
    if weight_decay != 0.0:
        if decoupled:
            # AdamW: the decay factor is formed in Python double, then applied once.
            np.multiply(p, 1.0 - lr * weight_decay, out=p)
        else:
            work2 = _l2_gradient(p, g, weight_decay)
            g = work2

    # m <- lerp(m, g, 1 - beta1), written as torch's lerp kernel evaluates it:
    # m + w*(g - m) for |w| < 0.5, else g - (g - m)*(1 - w) (with w in the
    # array's dtype), which is the more accurate form on each side.
    w = 1.0 - beta1
    np.subtract(g, m, out=work)
    if abs(w) < 0.5:
        np.multiply(work, w, out=work)
        np.add(m, work, out=m)
    else:
        one_minus_w = float(p.dtype.type(1.0) - p.dtype.type(w))
        np.multiply(work, one_minus_w, out=work)
        np.subtract(g, work, out=m)

    # v <- beta2*v + (1 - beta2)*g*g   (torch: mul_ then addcmul_, value*g*g)
    np.multiply(v, beta2, out=v)
    np.multiply(g, 1.0 - beta2, out=work)
    np.multiply(work, g, out=work)
    np.add(v, work, out=v)

    if bias_correction:
        bias_correction1 = 1.0 - beta1 ** t
        bias_correction2 = 1.0 - beta2 ** t
    else:
        bias_correction1 = bias_correction2 = 1.0

    # work <- denominator
    if epsilon == "outside":
        step_size = lr / bias_correction1
        np.sqrt(v, out=work)
        if bias_correction:
            np.divide(work, bias_correction2 ** 0.5, out=work)
        np.add(work, eps, out=work)
    elif epsilon == "inside":
        step_size = lr / bias_correction1
        if bias_correction:
            np.divide(v, bias_correction2, out=work)
            np.add(work, eps, out=work)
        else:
            np.add(v, eps, out=work)
        np.sqrt(work, out=work)
    else:  # "hat": Kingma & Ba's efficient form, eps added to the uncorrected sqrt(v)
        step_size = lr * bias_correction2 ** 0.5 / bias_correction1
        np.sqrt(v, out=work)
        np.add(work, eps, out=work)

    # torch: param.addcdiv_(exp_avg, denom, value=-step_size) = p + (value*m)/denom
    if work2 is None:
        work2 = np.empty_like(p)
    np.multiply(m, -step_size, out=work2)
    np.divide(work2, work, out=work2)
    np.add(p, work2, out=p)


def adam(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    bias_correction: bool = True,
    epsilon: str = "outside",
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adam (torch.optim.Adam with amsgrad=False), L2 weight decay.

    With ``g = grads + weight_decay * params``::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        mhat = m / (1 - beta1**t),  vhat = v / (1 - beta2**t)
        params = params - lr * mhat / (sqrt(vhat) + eps)       # epsilon="outside"
        params = params - lr * mhat / sqrt(vhat + eps)         # epsilon="inside"
        params = params - lr_t * m / (sqrt(v) + eps),          # epsilon="hat"
            lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)

    ``bias_correction=False`` drops both corrections (``mhat = m``,
    ``vhat = v``, ``lr_t = lr``).  ``m`` and ``v`` are kept in
    ``state["exp_avg"]`` and ``state["exp_avg_sq"]`` (zeros before step 1).
    The operation order is torch's single-tensor one:
    ``step_size = lr / bias_correction1``,
    ``denom = sqrt(v) / sqrt(bias_correction2) + eps``,
    ``p += (-step_size * m) / denom``.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate.
        beta1: decay rate of the first-moment estimate.
        beta2: decay rate of the second-moment estimate.
        eps: the epsilon term of the denominator.
        weight_decay: L2 penalty coefficient added to the gradient.
        bias_correction: apply the ``1 - beta**t`` corrections.
        epsilon: where eps goes: ``"outside"`` (torch, Kingma & Ba Algorithm 1),
            ``"inside"`` (under the square root, optax's ``eps_root``) or
            ``"hat"`` (Kingma & Ba's efficient form / TF1 "epsilon hat").
        inplace: update ``params`` and the moments in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Raises:
        ValueError: ``epsilon`` is not one of ``"outside"``, ``"inside"``, ``"hat"``.

    Example:
        >>> import numpy as np
        >>> p, s = adam(np.array([1.0, 1.0]), np.array([0.5, -2.0]), {}, 1, lr=0.1, eps=0.0)
        >>> p          # the first bias-corrected step is lr * sign(g)
        array([0.9, 1.1])

    Reference:
        Kingma & Ba, ICLR 2015, Algorithm 1 and Section 2; torch.optim.Adam
        documentation and ``_single_tensor_adam``; optax ``scale_by_adam``.
    """
    _check_epsilon(epsilon)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        _adam_core(
            p, grads, state, t,
            float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
            False, bool(bias_correction), epsilon,
        )
    return p, state


def adamw(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    bias_correction: bool = True,
    epsilon: str = "outside",
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of AdamW (torch.optim.AdamW with amsgrad=False).

    Decoupled weight decay: ``params = params * (1 - lr * weight_decay)``
    first, then the :func:`adam` step on the raw gradient (no L2 term).  The
    ``epsilon`` and ``bias_correction`` keywords mean what they mean for
    :func:`adam`.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate (also scales the decay, as in torch).
        beta1: decay rate of the first-moment estimate.
        beta2: decay rate of the second-moment estimate.
        eps: the epsilon term of the denominator.
        weight_decay: decoupled weight decay coefficient.
        bias_correction: apply the ``1 - beta**t`` corrections.
        epsilon: ``"outside"``, ``"inside"`` or ``"hat"``; see :func:`adam`.
        inplace: update ``params`` and the moments in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Raises:
        ValueError: ``epsilon`` is not one of ``"outside"``, ``"inside"``, ``"hat"``.

    Example:
        >>> import numpy as np
        >>> p, s = adamw(np.array([1.0]), np.array([0.0]), {}, 1, lr=0.1, weight_decay=0.5)
        >>> p          # zero gradient: only the decay 1 - 0.1*0.5 acts
        array([0.95])

    Reference:
        Loshchilov & Hutter, "Decoupled Weight Decay Regularization", ICLR
        2019; torch.optim.AdamW documentation and ``_single_tensor_adam`` with
        ``decoupled_weight_decay=True``.
    """
    _check_epsilon(epsilon)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        _adam_core(
            p, grads, state, t,
            float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
            True, bool(bias_correction), epsilon,
        )
    return p, state


#: The reference step functions by optimizer name.
REFERENCES: Dict[str, Callable[..., Tuple[np.ndarray, State]]] = {
    "sgd": sgd,
    "momentum": momentum,
    "adam": adam,
    "adamw": adamw,
}
