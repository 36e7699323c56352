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
  ``"exp_avg_sq"``, ``"max_exp_avg_sq"``, ``"square_avg"``, ``"grad_avg"``,
  ``"sum"``, ``"exp_inf"``, ``"mu_product"``); torch's ``"step"`` is the
  ``t`` argument instead.  Every entry is an array shaped like ``params`` in
  its dtype, except NAdam's ``"mu_product"``, a 0-d float64 array (torch keeps
  it in its scalar dtype and reads it as a Python float).
* ``t`` -- the number of the step being taken, counting from 1.
* ``inplace`` -- with ``False`` (the default) the inputs are copied first and
  left untouched; with ``True`` ``params`` and the arrays in ``state`` are
  updated in place and the same objects are returned.  Either way the math
  runs through one in-place code path (``out=`` arguments, few preallocated
  temporaries), which is the performance baseline for the benchmarks.

``grads`` is never modified.  NaN and inf in the gradients propagate; nothing
is checked.

Where torch has the optimizer, the reference follows torch 2.13's
single-tensor code operation by operation (same scalar factors formed in
Python double, same evaluation order), so the two agree to an ulp or two;
the remaining differences come from torch's fused multiply-adds and SIMD
kernels.

References:
    * torch.optim.SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, NAdam, RAdam
      documentation and source (``_single_tensor_sgd``,
      ``_single_tensor_adam``, ``_single_tensor_rmsprop``,
      ``_single_tensor_adagrad``, ``_single_tensor_adamax``,
      ``_single_tensor_nadam``, ``_single_tensor_radam``), PyTorch 2.13.
    * D. P. Kingma and J. Ba, "Adam: A Method for Stochastic Optimization",
      ICLR 2015, Algorithm 1 and the efficient form at the end of Section 2.
    * I. Loshchilov and F. Hutter, "Decoupled Weight Decay Regularization",
      ICLR 2019 (AdamW).
    * optax ``scale_by_adam`` (``eps_root``) for epsilon inside the square root.
    * S. J. Reddi, S. Kale and S. Kumar, "On the Convergence of Adam and
      Beyond", ICLR 2018 (AMSGrad).
    * T. Tieleman and G. Hinton, Lecture 6.5 of "Neural Networks for Machine
      Learning", 2012 (RMSprop); A. Graves, "Generating Sequences With
      Recurrent Neural Networks", 2013, eq. 38-45 (centered RMSprop).
    * J. Duchi, E. Hazan and Y. Singer, "Adaptive Subgradient Methods for
      Online Learning and Stochastic Optimization", JMLR 2011 (Adagrad).
    * Kingma & Ba, ICLR 2015, Section 7.1 (AdaMax).
    * T. Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016
      workshop (NAdam).
    * L. Liu et al., "On the Variance of the Adaptive Learning Rate and
      Beyond", ICLR 2020 (RAdam).
    * X. Chen et al., "Symbolic Discovery of Optimization Algorithms",
      NeurIPS 2023 (Lion); optax ``lion`` / ``scale_by_lion``; lucidrains'
      lion-pytorch.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Tuple

import numpy as np

__all__ = [
    "sgd", "momentum", "adam", "adamw", "rmsprop", "adagrad", "adamax", "nadam", "radam",
    "lion", "REFERENCES", "EPSILON_PLACEMENTS",
]

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


def _decayed_gradient(p: np.ndarray, g: np.ndarray, lr: float, weight_decay: float,
                      decoupled: bool) -> np.ndarray:
    """Apply weight decay as torch's Adam family does; return the gradient to use.

    ``decoupled``: ``p *= 1 - lr * weight_decay`` in place (the factor formed
    in Python double) and ``g`` unchanged; otherwise the L2 gradient
    ``g + weight_decay * p`` (a new array).  Nothing happens for a zero decay.
    """
    if weight_decay == 0.0:
        return g
    if decoupled:
        np.multiply(p, 1.0 - lr * weight_decay, out=p)
        return g
    return _l2_gradient(p, g, weight_decay)


def _state_array(state: State, key: str, p: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Return ``state[key]``, first creating it as an array like ``p`` filled with ``fill``."""
    value = state.get(key)
    if value is None:
        value = np.full_like(p, fill)
        state[key] = value
    return value


def _lerp_(m: np.ndarray, g: np.ndarray, w: float, work: np.ndarray) -> None:
    """``m <- lerp(m, g, w)`` in place, written as torch's lerp kernel evaluates it.

    ``m + w*(g - m)`` for ``|w| < 0.5``, else ``g - (g - m)*(1 - w)`` (with
    ``w`` in the array's dtype), which is the more accurate form on each side.
    ``work`` is scratch space.
    """
    np.subtract(g, m, out=work)
    if abs(w) < 0.5:
        np.multiply(work, w, out=work)
        np.add(m, work, out=m)
    else:
        one_minus_w = float(m.dtype.type(1.0) - m.dtype.type(w))
        np.multiply(work, one_minus_w, out=work)
        np.subtract(g, work, out=m)


def _ema_square_(v: np.ndarray, g: np.ndarray, beta: float, work: np.ndarray) -> None:
    """``v <- beta*v + (1 - beta)*g*g`` in place (torch: ``v.mul_(beta).addcmul_(g, g, value=1-beta)``,
    whose scalar kernel evaluates ``v + ((1-beta)*g)*g``; its SIMD kernels fuse the last
    multiply-add).  ``work`` is scratch space."""
    np.multiply(v, beta, out=v)
    np.multiply(g, 1.0 - beta, out=work)
    np.multiply(work, g, out=work)
    np.add(v, work, out=v)


def _addcdiv_(p: np.ndarray, value: float, num: np.ndarray, den: np.ndarray, work: np.ndarray) -> None:
    """``p <- p + (value*num)/den`` in place: torch's ``p.addcdiv_(num, den, value=value)``
    in its kernel's evaluation order.  ``work`` is scratch space, distinct from ``den``."""
    np.multiply(num, value, out=work)
    np.divide(work, den, out=work)
    np.add(p, work, out=p)


def _add_scaled_(p: np.ndarray, alpha: float, x: np.ndarray, work: np.ndarray) -> None:
    """``p <- p + alpha*x`` in place (torch: ``p.add_(x, alpha=alpha)``); ``work`` is scratch."""
    np.multiply(x, alpha, out=work)
    np.add(p, work, out=p)


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
    amsgrad: bool,
    bias_correction: bool,
    epsilon: str,
) -> None:
    """The one in-place Adam/AdamW step, mirroring torch's ``_single_tensor_adam``."""
    m = _state_array(state, "exp_avg", p)
    v = _state_array(state, "exp_avg_sq", p)
    v_max = _state_array(state, "max_exp_avg_sq", p) if amsgrad else None

    grads = g
    g = _decayed_gradient(p, g, lr, weight_decay, decoupled)
    work = np.empty_like(p)
    _lerp_(m, g, 1.0 - beta1, work)
    _ema_square_(v, g, beta2, work)
    if v_max is not None:
        # AMSGrad: the running maximum of the raw (uncorrected) v takes v's
        # place in the denominator; every epsilon placement then applies to it.
        np.maximum(v_max, v, out=v_max)
        v = v_max

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

    # The L2 gradient is a private array no longer needed: reuse it as scratch.
    scratch = g if g is not grads else np.empty_like(p)
    _addcdiv_(p, -step_size, m, work, scratch)


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
    amsgrad: bool = False,
    bias_correction: bool = True,
    epsilon: str = "outside",
    eps_root: float = 0.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adam (torch.optim.Adam), L2 weight decay, optionally AMSGrad.

    ``epsilon="both"`` (optax's ``eps`` and ``eps_root``) and
    ``amsgrad="corrected"`` (optax's maximum of the corrected v) are
    computed by :func:`adam_convention`.

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

    ``amsgrad=True`` (Reddi et al.) keeps ``v_max = max(v_max, v)``, the
    elementwise running maximum of the raw ``v`` (not bias corrected; zeros
    before step 1), in ``state["max_exp_avg_sq"]``, and uses it in place of
    ``v`` in the denominator, as torch does: ``v`` itself, and ``m``, are
    unchanged.  The ``bias_correction`` and ``epsilon`` choices then apply to
    ``v_max`` exactly as they would to ``v`` (e.g. ``epsilon="outside"`` gives
    torch's ``sqrt(v_max) / sqrt(1 - beta2**t) + eps``).

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
        amsgrad: normalise by the running maximum of ``v`` (AMSGrad).
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
        >>> p, s = adam(np.array([1.0]), np.array([2.0]), {}, 1, amsgrad=True, beta2=0.75)
        >>> p, s = adam(p, np.array([0.0]), s, 2, amsgrad=True, beta2=0.75)
        >>> s["exp_avg_sq"], s["max_exp_avg_sq"]     # v decays, its maximum stays
        (array([0.75]), array([1.]))

    Reference:
        Kingma & Ba, ICLR 2015, Algorithm 1 and Section 2; torch.optim.Adam
        documentation and ``_single_tensor_adam``; optax ``scale_by_adam``;
        Reddi, Kale & Kumar, ICLR 2018 (AMSGrad).
    """
    if epsilon == "both" or amsgrad == "corrected":
        return adam_convention(params, grads, state, t, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                               eps_root=eps_root, weight_decay=weight_decay, amsgrad=amsgrad,
                               bias_correction=bias_correction, epsilon=epsilon, decay="l2",
                               inplace=inplace)
    _check_epsilon(epsilon)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        _adam_core(
            p, grads, state, t,
            float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
            False, bool(amsgrad), bool(bias_correction), epsilon,
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
    amsgrad: bool = False,
    bias_correction: bool = True,
    epsilon: str = "outside",
    eps_root: float = 0.0,
    decay: str = "lr",
    schedule_multiplier: float = 1.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of AdamW (torch.optim.AdamW), optionally AMSGrad.

    ``decay="paper"`` (Loshchilov & Hutter's Algorithm 2, with
    ``schedule_multiplier`` their η_t) and ``decay="independent"``
    (TF-Addons), ``epsilon="both"`` and ``amsgrad="corrected"`` are computed
    by :func:`adam_convention`.

    Decoupled weight decay: ``params = params * (1 - lr * weight_decay)``
    first, then the :func:`adam` step on the raw gradient (no L2 term).  The
    ``amsgrad``, ``epsilon`` and ``bias_correction`` keywords mean what they
    mean for :func:`adam` (AMSGrad: the running maximum of the raw ``v``,
    ``state["max_exp_avg_sq"]``, replaces ``v`` in the denominator).

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
        amsgrad: normalise by the running maximum of ``v`` (AMSGrad).
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
        ``decoupled_weight_decay=True``; Reddi, Kale & Kumar, ICLR 2018.
    """
    if epsilon == "both" or amsgrad == "corrected" or decay != "lr":
        return adam_convention(params, grads, state, t, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                               eps_root=eps_root, weight_decay=weight_decay, amsgrad=amsgrad,
                               bias_correction=bias_correction, epsilon=epsilon, decay=decay,
                               schedule_multiplier=schedule_multiplier, inplace=inplace)
    _check_epsilon(epsilon)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        _adam_core(
            p, grads, state, t,
            float(lr), float(beta1), float(beta2), float(eps), float(weight_decay),
            True, bool(amsgrad), bool(bias_correction), epsilon,
        )
    return p, state


def rmsprop(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    epsilon: str = "outside",
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of RMSprop, as torch.optim.RMSprop.

    ``epsilon="inside"`` (TensorFlow, optax) is :func:`rmsprop_convention`.

    With ``g = grads + weight_decay * params``::

        square_avg = alpha * square_avg + (1 - alpha) * g**2
        grad_avg   = alpha * grad_avg + (1 - alpha) * g            # centered only
        avg = sqrt(square_avg - grad_avg**2) + eps                 # centered
        avg = sqrt(square_avg) + eps                               # not centered
        buf = momentum * buf + g / avg;  params = params - lr * buf    # momentum > 0
        params = params - lr * g / avg                                 # momentum == 0

    eps is added outside the square root.  The state arrays
    ``state["square_avg"]``, ``state["grad_avg"]`` (only when ``centered``) and
    ``state["momentum_buffer"]`` (only when ``momentum > 0``) are zeros before
    step 1, as in torch (unlike SGD's buffer, which starts as the gradient).
    ``grad_avg`` is updated with torch's lerp; the operation order is that of
    ``_single_tensor_rmsprop``.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (unused: RMSprop
            corrects no bias).
        lr: learning rate.
        alpha: decay rate of the averages.
        eps: added to the root of the (centered) second moment.
        weight_decay: L2 penalty coefficient added to the gradient.
        momentum: momentum factor; the buffer exists only when it is > 0.
        centered: normalise by an estimate of the variance instead of the
            second moment.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = rmsprop(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, alpha=0.75, eps=0.0)
        >>> s["square_avg"], p      # square_avg = 0.25 * 4 = 1; p = 1 - 0.1 * 2 / 1
        (array([1.]), array([0.8]))

    Reference:
        Tieleman & Hinton, Lecture 6.5, 2012; Graves, 2013 (centered form);
        torch.optim.RMSprop documentation and ``_single_tensor_rmsprop``.
    """
    if epsilon != "outside":
        return rmsprop_convention(params, grads, state, t, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                  momentum=momentum, centered=centered, epsilon=epsilon, inplace=inplace)
    lr, alpha, eps = float(lr), float(alpha), float(eps)
    weight_decay, mu = float(weight_decay), float(momentum)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        square_avg = _state_array(state, "square_avg", p)
        grad_avg = _state_array(state, "grad_avg", p) if centered else None
        buf = _state_array(state, "momentum_buffer", p) if mu > 0.0 else None
        g = _decayed_gradient(p, grads, lr, weight_decay, False)
        work = np.empty_like(p)
        avg = np.empty_like(p)

        _ema_square_(square_avg, g, alpha, work)
        if grad_avg is not None:
            _lerp_(grad_avg, g, 1.0 - alpha, work)
            # torch: square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
            np.multiply(grad_avg, grad_avg, out=avg)
            np.subtract(square_avg, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(square_avg, out=avg)
        np.add(avg, eps, out=avg)

        if buf is not None:
            # torch: buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
            np.multiply(buf, mu, out=buf)
            _addcdiv_(buf, 1.0, g, avg, work)
            _add_scaled_(p, -lr, buf, work)
        else:
            _addcdiv_(p, -lr, g, avg, work)
    return p, state


def adagrad(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    initial_accumulator_value: float = 0.0,
    eps: float = 1e-10,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adagrad, as torch.optim.Adagrad (dense gradients).

    With ``g = grads + weight_decay * params``::

        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g**2
        params = params - clr * g / (sqrt(sum) + eps)

    ``state["sum"]`` starts at ``initial_accumulator_value`` everywhere;
    torch creates it in the constructor, this function on the first step
    (when the state has no ``"sum"``).

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (sets the decayed
            learning rate).
        lr: learning rate.
        lr_decay: learning-rate decay per step.
        weight_decay: L2 penalty coefficient added to the gradient.
        initial_accumulator_value: starting value of the sum of squares.
        eps: added to the root of the sum.
        inplace: update ``params`` and the sum in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = adagrad(np.array([1.0]), np.array([3.0]), {}, 1, lr=0.5, eps=0.0,
        ...                initial_accumulator_value=16.0)
        >>> s["sum"], p            # sum = 16 + 9; p = 1 - 0.5 * 3 / 5
        (array([25.]), array([0.7]))

    Reference:
        Duchi, Hazan & Singer, JMLR 2011; torch.optim.Adagrad documentation
        and ``_single_tensor_adagrad``.
    """
    lr, lr_decay, eps = float(lr), float(lr_decay), float(eps)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        total = _state_array(state, "sum", p, float(initial_accumulator_value))
        g = _decayed_gradient(p, grads, lr, weight_decay, False)
        clr = lr / (1 + (t - 1) * lr_decay)
        work = np.empty_like(p)
        std = np.empty_like(p)
        # torch: state_sum.addcmul_(grad, grad, value=1); std = state_sum.sqrt().add_(eps)
        np.multiply(g, g, out=work)
        np.add(total, work, out=total)
        np.sqrt(total, out=std)
        np.add(std, eps, out=std)
        _addcdiv_(p, -clr, g, std, work)
    return p, state


def adamax(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 2e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of AdaMax (Adam with the infinity norm), as torch.optim.Adamax.

    With ``g = grads + weight_decay * params``::

        m = beta1 * m + (1 - beta1) * g
        u = max(beta2 * u, |g| + eps)            # eps inside the max
        params = params - (lr / (1 - beta1**t)) * m / u

    ``m`` and ``u`` are kept in ``state["exp_avg"]`` and ``state["exp_inf"]``
    (zeros before step 1).  ``u`` needs no bias correction.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate.
        beta1: decay rate of the first-moment estimate.
        beta2: decay rate of the infinity norm.
        eps: added to ``|g|`` inside the maximum.
        weight_decay: L2 penalty coefficient added to the gradient.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = adamax(np.array([1.0, 1.0]), np.array([4.0, -0.5]), {}, 1, lr=0.1, eps=0.0)
        >>> s["exp_inf"], p        # the first step is lr * sign(g)
        (array([4. , 0.5]), array([0.9, 1.1]))

    Reference:
        Kingma & Ba, ICLR 2015, Algorithm 2 (Section 7.1); torch.optim.Adamax
        documentation and ``_single_tensor_adamax``.
    """
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        m = _state_array(state, "exp_avg", p)
        u = _state_array(state, "exp_inf", p)
        g = _decayed_gradient(p, grads, lr, weight_decay, False)
        work = np.empty_like(p)
        _lerp_(m, g, 1.0 - beta1, work)
        # torch: torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps), out=exp_inf)
        np.multiply(u, beta2, out=u)
        np.abs(g, out=work)
        np.add(work, eps, out=work)
        np.maximum(u, work, out=u)
        clr = lr / (1 - beta1 ** t)
        _addcdiv_(p, -clr, m, u, work)
    return p, state


def _mu_product(state: State) -> np.ndarray:
    """NAdam's running product of the momentum coefficients as a 0-d array (1.0 before step 1).

    A 0-d float64 array, so that ``inplace=True`` can update it in place; a
    Python float (e.g. torch's state read with ``.item()``) is converted.
    """
    value = state.get("mu_product")
    if not isinstance(value, np.ndarray):
        value = np.array(1.0 if value is None else value, dtype=np.float64)
        state["mu_product"] = value
    return value


def nadam(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 2e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
    decoupled_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of NAdam (Adam with Nesterov momentum), as torch.optim.NAdam.

    Weight decay first: ``params *= 1 - lr * weight_decay`` if
    ``decoupled_weight_decay`` (NAdamW), else ``g = grads + weight_decay *
    params``.  Then, with Dozat's momentum schedule::

        mu_t     = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))
        mu_next  = beta1 * (1 - 0.5 * 0.96**((t + 1) * momentum_decay))
        mu_product = mu_product * mu_t                   # prod of mu_1 .. mu_t
        m = beta1 * m + (1 - beta1) * g                  # note: beta1, not mu_t
        v = beta2 * v + (1 - beta2) * g**2
        denom = sqrt(v / (1 - beta2**t)) + eps
        params += (-lr * (1 - mu_t) / (1 - mu_product)) * g / denom
        params += (-lr * mu_next / (1 - mu_product * mu_next)) * m / denom

    as two separate ``addcdiv`` steps in this order, the two scalar factors
    formed in Python double.  ``mu_t`` and ``mu_next`` are both computed from
    the formula (``mu_next`` is not carried over: it is recomputed as the
    next step's ``mu_t``), and ``mu_product * mu_next`` is not stored.
    ``state["exp_avg"]`` and ``state["exp_avg_sq"]`` are zeros before step 1;
    ``state["mu_product"]`` is a 0-d float64 array starting at 1.0 whatever
    the dtype of ``params`` (torch keeps it in its scalar dtype and reads it
    as a Python float).

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate.
        beta1: decay rate of the first-moment estimate and scale of ``mu_t``.
        beta2: decay rate of the second-moment estimate.
        eps: the epsilon term of the denominator (outside the root).
        weight_decay: weight decay coefficient (L2 or decoupled).
        momentum_decay: psi in ``0.96**(t * psi)``.
        decoupled_weight_decay: decay the parameters (NAdamW) instead of
            adding an L2 term to the gradient.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = nadam(np.array([1.0]), np.array([2.0]), {}, 1, momentum_decay=0.0, eps=0.0)
        >>> float(s["mu_product"])   # momentum_decay=0: every mu_t is beta1 / 2
        0.45
        >>> p     # v/(1-beta2) = 4, denom 2: 1 - 0.002 * (0.55/0.55 * 2/2 + 0.45/(1 - 0.45**2) * 0.2/2)
        array([0.99788715])

    Reference:
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016
        workshop; torch.optim.NAdam documentation and ``_single_tensor_nadam``.
    """
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    weight_decay, psi = float(weight_decay), float(momentum_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        mu_product = _mu_product(state)
        g = _decayed_gradient(p, grads, lr, weight_decay, bool(decoupled_weight_decay))

        mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
        np.multiply(mu_product, mu, out=mu_product)
        product = float(mu_product)
        product_next = product * mu_next

        work = np.empty_like(p)
        _lerp_(m, g, 1.0 - beta1, work)
        _ema_square_(v, g, beta2, work)
        # torch: denom = exp_avg_sq.div(bias_correction2).sqrt(); denom.add_(eps)
        denom = np.empty_like(p)
        np.divide(v, 1 - beta2 ** t, out=denom)
        np.sqrt(denom, out=denom)
        np.add(denom, eps, out=denom)
        _addcdiv_(p, (-lr * (1.0 - mu)) / (1.0 - product), g, denom, work)
        _addcdiv_(p, (-lr * mu_next) / (1.0 - product_next), m, denom, work)
    return p, state


def radam(
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
    decoupled_weight_decay: bool = False,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of RAdam (rectified Adam), as torch.optim.RAdam.

    Weight decay first: ``params *= 1 - lr * weight_decay`` if
    ``decoupled_weight_decay``, else ``g = grads + weight_decay * params``.
    Then::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        mhat = m / (1 - beta1**t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 t beta2**t / (1 - beta2**t)
        if rho_t > 5:                               # variance is tractable
            r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            params -= mhat * lr * (sqrt(1 - beta2**t) / (sqrt(v) + eps)) * r
        else:                                       # un-adapted: SGD with momentum
            params -= mhat * lr

    eps is added to the uncorrected ``sqrt(v)``, and the bias correction of
    ``v`` multiplies the adaptive factor (torch evaluates
    ``sqrt(1 - beta2**t) / denom`` as ``denom.reciprocal() * sqrt(1 - beta2**t)``,
    which is what is done here); the products are formed left to right as in
    ``_single_tensor_radam``.  ``rho_t`` rises from 1 at ``t = 1`` towards
    ``rho_inf``, so the first steps (about five for any beta2 near 1) take the
    un-adapted branch.  ``state["exp_avg"]`` and ``state["exp_avg_sq"]`` are
    zeros before step 1.

    Args:
        params: parameters, float32 or float64 array of any shape.
        grads: gradient of the loss at ``params``, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate.
        beta1: decay rate of the first-moment estimate.
        beta2: decay rate of the second-moment estimate.
        eps: added to ``sqrt(v)`` in the adaptive branch.
        weight_decay: weight decay coefficient (L2 or decoupled).
        decoupled_weight_decay: decay the parameters (as AdamW) instead of
            adding an L2 term to the gradient.
        inplace: update ``params`` and the moments in place instead of copies.

    Returns:
        ``(params, state)`` after the step.

    Example:
        >>> import numpy as np
        >>> p, s = radam(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1)
        >>> p                       # rho_1 = 1 <= 5: p - lr * mhat = 1 - 0.1 * 2
        array([0.8])

    Reference:
        Liu et al., "On the Variance of the Adaptive Learning Rate and
        Beyond", ICLR 2020, Algorithm 2; torch.optim.RAdam documentation and
        ``_single_tensor_radam``.
    """
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        g = _decayed_gradient(p, grads, lr, weight_decay, bool(decoupled_weight_decay))
        work = np.empty_like(p)
        _lerp_(m, g, 1.0 - beta1, work)
        _ema_square_(v, g, beta2, work)

        bias_correction1 = 1 - beta1 ** t
        bias_correction2 = 1 - beta2 ** t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2 ** t) / bias_correction2

        # work <- bias_corrected_exp_avg * lr
        np.divide(m, bias_correction1, out=work)
        np.multiply(work, lr, out=work)
        if rho_t > 5.0:
            adaptive = np.empty_like(p)
            np.sqrt(v, out=adaptive)
            np.add(adaptive, eps, out=adaptive)
            np.reciprocal(adaptive, out=adaptive)
            np.multiply(adaptive, bias_correction2 ** 0.5, out=adaptive)
            rect = (
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            ) ** 0.5
            np.multiply(work, adaptive, out=work)
            np.multiply(work, rect, out=work)
        # torch: param.add_(update, alpha=-1.0)
        np.subtract(p, work, out=p)
    return p, state


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
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Lion (EvoLved Sign Momentum), as optax's ``lion``.

    ::

        c = beta1 * m + (1 - beta1) * g                  # interpolation for the sign
        params = params - lr * (sign(c) + weight_decay * params)
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
        if weight_decay != 0.0:
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


#: The reference step functions by optimizer name.
REFERENCES: Dict[str, Callable[..., Tuple[np.ndarray, State]]] = {
    "sgd": sgd,
    "momentum": momentum,
    "adam": adam,
    "adamw": adamw,
    "rmsprop": rmsprop,
    "adagrad": adagrad,
    "adamax": adamax,
    "nadam": nadam,
    "radam": radam,
    "lion": lion,
}


# --------------------------------------------------------------------------
# Schedule-Free SGD and AdamW (Defazio et al. 2024; the ``schedulefree`` package)
# --------------------------------------------------------------------------


def _schedule_free_scalars(
    state: State, t: int, lr: float, warmup_steps: int, r: float, weight_lr_power: float,
) -> Tuple[float, float]:
    """Advance the Schedule-Free scalars in ``state``; return ``(lr_k, ckp1)``.

    Python doubles, in the package's order (``k = t - 1``)::

        sched  = (k + 1) / warmup_steps  if k < warmup_steps  else 1.0
        lr_k   = lr * sched
        lr_max = max(lr_k, lr_max)                       # lr_max starts at -1.0
        weight = (k + 1)**r * lr_max**weight_lr_power
        weight_sum = weight_sum + weight                 # starts at 0.0
        ckp1   = weight / weight_sum   (0 when weight_sum is 0)
    """
    k = int(t) - 1
    warmup_steps = int(warmup_steps)
    sched = (k + 1) / warmup_steps if k < warmup_steps else 1.0
    lr_k = lr * sched
    lr_max = max(lr_k, float(state.get("lr_max", -1.0)))
    weight = ((k + 1) ** r) * (lr_max ** weight_lr_power)
    weight_sum = float(state.get("weight_sum", 0.0)) + weight
    try:
        ckp1 = weight / weight_sum
    except ZeroDivisionError:  # the package's fallback, e.g. for lr = 0
        ckp1 = 0.0
    state["lr_max"] = lr_max
    state["weight_sum"] = weight_sum
    return lr_k, ckp1


def _state_clone(state: State, key: str, p: np.ndarray) -> np.ndarray:
    """Return ``state[key]``, first creating it as a copy of ``p`` (the package's ``torch.clone(p)``)."""
    value = state.get(key)
    if value is None:
        value = np.array(p, copy=True)
        state[key] = value
    return value


def _schedule_free_core(
    p: np.ndarray, g: np.ndarray, state: State, lr_k: float, ckp1: float, beta: float,
    work: np.ndarray,
) -> None:
    """The y, z and x updates shared by Schedule-Free SGD and AdamW, from the step direction ``g``.

    ``p`` (y) and the ``z`` and ``x`` in ``state`` are updated in place;
    ``work`` is scratch space distinct from ``g``.
    """
    z = state["z"]
    x = state["x"]
    # The package updates y in place from y and z, without x:
    # y.lerp_(end=z, weight=ckp1); y.add_(g, alpha=lr*(beta*(1-ckp1)-1))
    _lerp_(p, z, ckp1, work)
    _add_scaled_(p, lr_k * (beta * (1.0 - ckp1) - 1.0), g, work)
    # z.sub_(g, alpha=lr), i.e. z + (-lr) * g
    _add_scaled_(z, -lr_k, g, work)
    # x carried as its own running average, as the package's *Reference
    # classes do: x.mul_(1-ckp1).add_(z, alpha=ckp1)
    np.multiply(x, 1.0 - ckp1, out=x)
    _add_scaled_(x, ckp1, z, work)


def schedule_free_sgd(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1.0,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Schedule-Free SGD, as ``schedulefree.SGDScheduleFree`` 1.4.1 in train mode.

    Three sequences: ``z`` (the SGD iterates), ``x`` (their weighted average,
    the point to evaluate) and ``y = (1 - momentum) * z + momentum * x`` (the
    point the gradient is taken at).  ``params`` passed in and returned are
    **y**, which is what the package's parameters hold in train mode.  With
    ``beta = momentum`` and ``k = t - 1``, the scalars (Python doubles)::

        lr_k   = lr * min(1, (k + 1) / warmup_steps)     # lr when warmup_steps = 0
        lr_max = max(lr_max, lr_k)
        w      = (k + 1)**r * lr_max**weight_lr_power
        W      = W + w
        c      = w / W                                   # 0 if W = 0 (e.g. lr = 0)

    then, in the package's order (``g`` is a new array; ``grads`` is not
    modified, whereas the package adds the decay to ``p.grad`` in place)::

        g = grads + weight_decay * y                     # L2 penalty, at y
        y = lerp(y, z, c)                                # torch's lerp kernel
        y = y + lr_k * (beta * (1 - c) - 1) * g
        z = z - lr_k * g
        x = (1 - c) * x + c * z

    The first two y lines equal ``y = (1 - beta) * z_new + beta * x_new``.
    ``x`` is kept in ``state["x"]`` as its own running average, as the
    package's ``SGDScheduleFreeReference`` keeps it, rather than recovered as
    ``(y - (1 - beta) * z) / beta`` the way ``SGDScheduleFree.eval()`` does
    (:func:`schedule_free_eval`): the recovery is 0/0 at ``beta = 0`` and
    amplifies rounding by about ``1/beta`` for small ``beta``.  The package
    itself requires ``0 < momentum < 1``; here ``momentum = 0`` (``y = z``
    exactly: SGD at z with Polyak-Ruppert averaging) and ``momentum = 1``
    (``y = x``: primal averaging) work too.

    State: ``"z"`` and ``"x"``, arrays like ``params`` that start as copies
    of the first ``params``; ``"weight_sum"`` (W, starts at 0.0) and
    ``"lr_max"`` (starts at -1.0), Python floats.

    Args:
        params: y, float32 or float64 array of any shape.
        grads: gradient of the loss at y, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1 (the package's
            ``k`` is ``t - 1``).
        lr: learning rate (the peak one, reached after warmup).
        momentum: interpolation beta between z and x that gives y.
        weight_decay: L2 penalty coefficient added to the gradient at y.
        warmup_steps: linear warmup length; 0 for none.
        r: power of the polynomial weighting ``(k + 1)**r`` of the average.
        weight_lr_power: power of ``lr_max`` in the averaging weights.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step; ``params`` is the new y.

    Example:
        >>> import numpy as np
        >>> y, s = schedule_free_sgd(np.array([1.0]), np.array([1.0]), {}, 1, lr=0.5)
        >>> y, s["z"], s["x"], s["weight_sum"]        # c = 1: all three move to z
        (array([0.5]), array([0.5]), array([0.5]), 0.25)
        >>> y, s = schedule_free_sgd(y, np.array([1.0]), s, 2, lr=0.5)
        >>> s["z"], s["x"], y                          # c = 1/2; y = 0.1 z + 0.9 x
        (array([0.]), array([0.25]), array([0.225]))

    Reference:
        A. Defazio, X. Yang, H. Mehta, K. Mishchenko, A. Khaled and A.
        Cutkosky, "The Road Less Scheduled", NeurIPS 2024, Algorithm 1;
        ``schedulefree`` 1.4.1, ``sgd_schedulefree.py`` (``SGDScheduleFree``)
        and ``sgd_schedulefree_reference.py``.
    """
    lr, beta, weight_decay = float(lr), float(momentum), float(weight_decay)
    p, state = _prepare(params, state, inplace)
    lr_k, ckp1 = _schedule_free_scalars(state, t, lr, warmup_steps, float(r), float(weight_lr_power))
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        _state_clone(state, "z", p)
        _state_clone(state, "x", p)
        g = _l2_gradient(p, grads, weight_decay) if weight_decay != 0.0 else grads
        _schedule_free_core(p, g, state, lr_k, ckp1, beta, np.empty_like(p))
    return p, state


def schedule_free_adamw(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 0.0025,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    r: float = 0.0,
    weight_lr_power: float = 2.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Schedule-Free AdamW, as ``schedulefree.AdamWScheduleFree`` 1.4.1 in train mode.

    :func:`schedule_free_sgd` with the gradient normalised by Adam's second
    moment (there is no first moment: ``beta1`` is the y interpolation, the
    momentum of Schedule-Free SGD).  The scalars ``lr_k``, ``lr_max``, ``W``
    and ``c`` are formed exactly as there; then, with ``k = t - 1``::

        v     = beta2 * v + (1 - beta2) * grads**2
        denom = sqrt(v / (1 - beta2**(k + 1))) + eps     # bias correction inside the root,
                                                         # eps outside; none on lr
        g     = grads / denom + weight_decay * y         # decay at y, after normalising
        y = lerp(y, z, c)
        y = y + lr_k * (beta1 * (1 - c) - 1) * g
        z = z - lr_k * g
        x = (1 - c) * x + c * z

    The weight decay enters both the y and the z step unnormalised, so z
    takes the decoupled step ``-lr_k * weight_decay * y``.  ``grads`` is not
    modified (the package overwrites ``p.grad`` with ``g``).  ``x`` is
    carried in the state as in :func:`schedule_free_sgd` (``beta1 = 0``
    works: ``y = z`` exactly, where the package's ``eval()`` divides by
    zero).

    State: ``"z"`` and ``"x"`` (copies of the first ``params``), ``"v"`` (the
    package's ``exp_avg_sq``, zeros before step 1), all arrays like
    ``params``; ``"weight_sum"`` and ``"lr_max"``, Python floats starting at
    0.0 and -1.0.

    Args:
        params: y, float32 or float64 array of any shape.
        grads: gradient of the loss at y, same shape.
        state: optimizer state, ``{}`` on the first step.
        t: number of the step being taken, counting from 1.
        lr: learning rate (the peak one, reached after warmup).
        beta1: interpolation between z and x that gives y.
        beta2: decay rate of the second-moment estimate.
        eps: added to the bias-corrected root of ``v``.
        weight_decay: coefficient of ``weight_decay * y``, added to the
            normalised gradient.
        warmup_steps: linear warmup length; 0 for none.
        r: power of the polynomial weighting ``(k + 1)**r`` of the average.
        weight_lr_power: power of ``lr_max`` in the averaging weights.
        inplace: update ``params`` and the state in place instead of copies.

    Returns:
        ``(params, state)`` after the step; ``params`` is the new y.

    Example:
        >>> import numpy as np
        >>> y, s = schedule_free_adamw(np.array([1.0, 1.0]), np.array([0.5, -2.0]), {}, 1,
        ...                            lr=0.1, eps=0.0)
        >>> y, s["x"]          # the first step is lr * sign(g), and c = 1
        (array([0.9, 1.1]), array([0.9, 1.1]))

    Reference:
        Defazio et al., "The Road Less Scheduled", NeurIPS 2024, Algorithm 1
        with the AdamW base step; ``schedulefree`` 1.4.1,
        ``adamw_schedulefree.py`` (``AdamWScheduleFree``) and
        ``adamw_schedulefree_reference.py``.
    """
    lr, beta1, beta2, eps = float(lr), float(beta1), float(beta2), float(eps)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    lr_k, ckp1 = _schedule_free_scalars(state, t, lr, warmup_steps, float(r), float(weight_lr_power))
    bias_correction2 = 1 - beta2 ** t
    with np.errstate(all="ignore"):  # NaN/inf propagate silently, as in torch
        _state_clone(state, "z", p)
        _state_clone(state, "x", p)
        v = _state_array(state, "v", p)
        work = np.empty_like(p)
        _ema_square_(v, grads, beta2, work)
        # denom = exp_avg_sq.div(bias_correction2).sqrt_().add_(eps)
        denom = np.empty_like(p)
        np.divide(v, bias_correction2, out=denom)
        np.sqrt(denom, out=denom)
        np.add(denom, eps, out=denom)
        # grad.div_(denom), into a new array; then grad.add_(y, alpha=decay)
        g = denom
        np.divide(grads, denom, out=g)
        if weight_decay != 0.0:
            np.multiply(p, weight_decay, out=work)
            np.add(g, work, out=g)
        _schedule_free_core(p, g, state, lr_k, ckp1, beta1, work)
    return p, state


def schedule_free_eval(params: np.ndarray, state: State, momentum: float) -> np.ndarray:
    """Return x as the package's ``eval()`` computes it from y (``params``) and ``state["z"]``.

    ``p.lerp_(end=z, weight=1 - 1/momentum)``, i.e. ``x = (y - (1 - beta) * z) / beta``
    through torch's lerp kernel, into a new array (the inputs are untouched).
    The Schedule-Free step functions carry x in ``state["x"]`` as well; this
    is the package's recovery, for comparison.  ``momentum`` is the SGD
    ``momentum`` or the AdamW ``beta1``.

    Raises:
        ZeroDivisionError: ``momentum`` is 0, where y = z and x cannot be
            recovered from them (read ``state["x"]``), as the package's
            ``eval()`` raises.

    Example:
        >>> import numpy as np
        >>> y, s = schedule_free_sgd(np.array([1.0]), np.array([1.0]), {}, 1, lr=0.5)
        >>> y, s = schedule_free_sgd(y, np.array([1.0]), s, 2, lr=0.5)
        >>> schedule_free_eval(y, s, 0.9), s["x"]
        (array([0.25]), array([0.25]))

    Reference:
        ``schedulefree`` 1.4.1, ``SGDScheduleFree.eval`` and
        ``AdamWScheduleFree.eval``.
    """
    beta = float(momentum)
    if beta == 0.0:
        raise ZeroDivisionError("momentum = 0: y = z, so x cannot be recovered from them; "
                                "read state['x']")
    x = np.array(params, copy=True)
    with np.errstate(all="ignore"):
        _lerp_(x, state["z"], 1.0 - 1.0 / beta, np.empty_like(x))
    return x


__all__ += ["schedule_free_sgd", "schedule_free_adamw", "schedule_free_eval"]

REFERENCES.update({
    "schedule-free-sgd": schedule_free_sgd,
    "schedule-free-adamw": schedule_free_adamw,
})


# --------------------------------------------------------------------------
# The conventions other libraries and papers write the same optimizers in
# --------------------------------------------------------------------------


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


def adam_convention(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    amsgrad: Any = False,
    bias_correction: bool = True,
    epsilon: str = "outside",
    decay: str = "l2",
    schedule_multiplier: float = 1.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adam in any of the conventions libraries write it in, plainly.

    Written from Kingma & Ba's Algorithm 1, optax's ``scale_by_adam`` and
    ``scale_by_amsgrad``, and Loshchilov & Hutter's Algorithm 2::

        g = grads + weight_decay * params                  # decay="l2" only
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g**2
        v = vmax = max(vmax, v)                            # amsgrad=True (torch)
        mhat = m / (1 - beta1**t);  vhat = v / (1 - beta2**t)   # bias_correction
        vhat = vmax = max(vmax, vhat)                      # amsgrad="corrected" (optax)
        d = mhat / (sqrt(vhat) + eps)                      # epsilon="outside"
            mhat / sqrt(vhat + eps)                        # "inside"
            mhat / (sqrt(vhat) + eps / sqrt(1 - beta2**t)) # "hat" (Keras, TF1)
            mhat / (sqrt(vhat + eps_root) + eps)           # "both" (optax)
        params = params - lr * d                           # decay="l2"
        params = params - lr * d - lr * weight_decay * params        # "lr" (torch, optax)
        params = params - schedule_multiplier * (lr * d + weight_decay * params)  # "paper"
        params = params - lr * d - weight_decay * params   # "independent" (TF-Addons)

    Example:
        >>> import numpy as np
        >>> p, s = adam_convention(np.array([1.0]), np.array([0.0]), {}, 1, lr=0.1,
        ...                        weight_decay=0.5, decay="paper", schedule_multiplier=0.5)
        >>> p          # zero gradient: the decay 0.5 * 0.5, not scaled by lr
        array([0.75])

    Reference:
        Kingma & Ba, ICLR 2015, Algorithm 1 and Section 2; optax
        ``scale_by_adam`` (eps, eps_root) and ``scale_by_amsgrad``;
        Loshchilov & Hutter, ICLR 2019, Algorithm 2; tfa.optimizers.AdamW.
    """
    if epsilon not in EPSILON_PLACEMENTS + ("both",):
        raise ValueError("epsilon must be one of 'outside', 'inside', 'hat', 'both'; got %r" % (epsilon,))
    if decay not in ("l2", "lr", "paper", "independent"):
        raise ValueError("decay must be 'l2', 'lr', 'paper' or 'independent'; got %r" % (decay,))
    lr, beta1, beta2, eps, eps_root = float(lr), float(beta1), float(beta2), float(eps), float(eps_root)
    weight_decay, multiplier = float(weight_decay), float(schedule_multiplier)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = _l2_gradient(p, grads, weight_decay) if decay == "l2" and weight_decay != 0.0 else grads
        m = _state_array(state, "exp_avg", p)
        v = _state_array(state, "exp_avg_sq", p)
        m[...] = beta1 * m + (1.0 - beta1) * g
        v[...] = beta2 * v + (1.0 - beta2) * (g * g)
        second = v
        if amsgrad is True:
            v_max = _state_array(state, "max_exp_avg_sq", p)
            np.maximum(v_max, v, out=v_max)
            second = v_max
        c1 = 1.0 - beta1 ** t if bias_correction else 1.0
        c2 = 1.0 - beta2 ** t if bias_correction else 1.0
        mhat, vhat = m / c1, second / c2
        if amsgrad == "corrected":
            v_max = _state_array(state, "max_exp_avg_sq", p)
            np.maximum(v_max, vhat, out=v_max)
            vhat = v_max
        if epsilon == "outside":
            d = mhat / (np.sqrt(vhat) + eps)
        elif epsilon == "inside":
            d = mhat / np.sqrt(vhat + eps)
        elif epsilon == "hat":
            d = mhat / (np.sqrt(vhat) + eps / c2 ** 0.5)
        else:
            d = mhat / (np.sqrt(vhat + eps_root) + eps)
        if decay == "l2":
            step = lr * d
        elif decay == "lr":
            step = lr * d + (lr * weight_decay) * p if weight_decay != 0.0 else lr * d
        elif decay == "paper":
            step = multiplier * (lr * d + weight_decay * p) if weight_decay != 0.0 else multiplier * (lr * d)
        else:
            step = lr * d + weight_decay * p if weight_decay != 0.0 else lr * d
        p -= step.astype(p.dtype, copy=False)
    return p, state


def rmsprop_convention(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    epsilon: str = "inside",
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of RMSprop with eps under the square root (TensorFlow; optax's
    ``scale_by_rms(eps_in_sqrt=True)``), otherwise as :func:`rmsprop`::

        g = grads + weight_decay * params
        square_avg = alpha * square_avg + (1 - alpha) * g**2
        grad_avg = alpha * grad_avg + (1 - alpha) * g                # centered
        d = g / sqrt(square_avg - grad_avg**2 + eps)                 # centered
        d = g / sqrt(square_avg + eps)                               # not centered
        buf = momentum * buf + d;  params = params - lr * buf        # momentum > 0
        params = params - lr * d                                     # momentum == 0

    Example:
        >>> import numpy as np
        >>> p, s = rmsprop_convention(np.array([1.0]), np.array([2.0]), {}, 1, lr=0.1, alpha=0.75, eps=3.0)
        >>> p      # square_avg = 1; 1 - 0.1 * 2 / sqrt(1 + 3)
        array([0.9])

    Reference:
        tf.keras.optimizers.RMSprop; optax ``scale_by_rms`` and
        ``scale_by_stddev`` with ``eps_in_sqrt=True``.
    """
    if epsilon == "outside":
        return globals()["rmsprop"](params, grads, state, t, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                    momentum=momentum, centered=centered, inplace=inplace)
    if epsilon != "inside":
        raise ValueError("epsilon must be 'outside' or 'inside'; got %r" % (epsilon,))
    lr, alpha, eps = float(lr), float(alpha), float(eps)
    weight_decay, mu = float(weight_decay), float(momentum)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = _l2_gradient(p, grads, weight_decay) if weight_decay != 0.0 else grads
        square_avg = _state_array(state, "square_avg", p)
        square_avg[...] = alpha * square_avg + (1.0 - alpha) * (g * g)
        second = square_avg
        if centered:
            grad_avg = _state_array(state, "grad_avg", p)
            grad_avg[...] = alpha * grad_avg + (1.0 - alpha) * g
            second = square_avg - grad_avg * grad_avg
        d = g / np.sqrt(second + eps)
        if mu > 0.0:
            buf = _state_array(state, "momentum_buffer", p)
            buf[...] = mu * buf + d
            d = buf
        p -= (lr * d).astype(p.dtype, copy=False)
    return p, state


__all__ += ["momentum_convention", "adam_convention", "rmsprop_convention"]


# --- rules on whole matrices --------------------------------------------------------------------------
def _orthogonalize(x: np.ndarray, a: float, b: float, c: float, steps: int, eps: float) -> np.ndarray:
    """torch's ``_zeropower_via_newtonschulz`` in the array's own dtype (torch runs it in bfloat16).

    The iteration runs on the wide orientation, where ``X @ X.T`` is the smaller Gram matrix, and
    ``X`` starts divided by its Frobenius norm (at least ``eps``), so its singular values are ≤ 1.
    """
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    norm = np.sqrt(np.sum(x * x)) if x.size else x.dtype.type(0.0)
    x = x / max(norm, x.dtype.type(eps))
    for _ in range(steps):
        gram = x @ x.T
        gram_update = b * gram + c * (gram @ gram)  # torch.addmm(gram, gram, gram, beta=b, alpha=c)
        x = a * x + gram_update @ x  # torch.addmm(x, gram_update, x, beta=a)
    return x.T if tall else x


def muon(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-3,
    weight_decay: float = 0.1,
    momentum: float = 0.95,
    eps: float = 1e-7,
    ns_a: float = 3.4445,
    ns_b: float = -4.7750,
    ns_c: float = 2.0315,
    ns_steps: int = 5,
    nesterov: bool = True,
    adjust_lr_fn: str = "original",
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Muon, as torch.optim.Muon (2.13, ``_single_tensor_muon``), in the params' dtype.

    ::

        buf = lerp(buf, g, 1 - momentum)                 # an EMA, not torch's documented sum
        update = lerp(g, buf, momentum) if nesterov else buf
        O = NS(update)                                   # Newton–Schulz, ns_steps steps
        params = params * (1 - lr * weight_decay) - lr * s(A, B) * O

    with ``s = sqrt(max(1, A/B))`` ("original") or ``0.2 * sqrt(max(A, B))``
    ("match_rms_adamw") for an A×B matrix.  torch computes ``NS`` in bfloat16;
    this reference computes it in the parameters' dtype.  The buffer is
    ``state["momentum_buffer"]``.

    Raises:
        ValueError: for parameters that are not a matrix (torch refuses them too).

    Example:
        >>> import numpy as np
        >>> p, s = muon(np.eye(2), np.eye(2), {}, 1, lr=0.1, weight_decay=0.0)
        >>> bool(np.allclose(p, 0.9 * np.eye(2), atol=0.1))  # singular values near 1, not exactly
        True

    Reference:
        K. Jordan et al., "Muon: An optimizer for hidden layers in neural
        networks", 2024 (``muon.py``); J. Liu et al., "Muon is Scalable for LLM
        Training", 2025 (match_rms_adamw); torch.optim.Muon.
    """
    if np.ndim(params) != 2:
        raise ValueError(f"Muon takes 2-D parameters, not shape {np.shape(params)}")
    if adjust_lr_fn not in ("original", "match_rms_adamw"):
        raise ValueError(f"unknown adjust_lr_fn {adjust_lr_fn!r}")
    lr, weight_decay, momentum = float(lr), float(weight_decay), float(momentum)
    p, state = _prepare(params, state, inplace)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        buf = _state_array(state, "momentum_buffer", p)
        work = np.empty_like(p)
        _lerp_(buf, g, 1.0 - momentum, work)  # torch: buf.lerp_(grad, 1 - momentum)
        update = buf
        if nesterov:  # torch: grad.lerp(buf, momentum)
            update = g.copy()
            _lerp_(update, buf, momentum, work)
        o = _orthogonalize(update, float(ns_a), float(ns_b), float(ns_c), int(ns_steps), float(eps))
        rows, cols = p.shape
        if adjust_lr_fn == "original":
            adjusted = lr * float(np.sqrt(max(1.0, rows / cols))) if cols else lr
        else:
            adjusted = lr * 0.2 * float(np.sqrt(max(rows, cols)))
        p *= 1.0 - lr * weight_decay
        p -= adjusted * o
    return p, state


def adafactor(
    params: np.ndarray,
    grads: np.ndarray,
    state: State,
    t: int,
    *,
    lr: float = 1e-2,
    beta2_decay: float = -0.8,
    eps1: float | None = None,
    eps2: float = 1e-3,
    d: float = 1.0,
    weight_decay: float = 0.0,
    inplace: bool = False,
) -> Tuple[np.ndarray, State]:
    """One step of Adafactor, as torch.optim.Adafactor (2.13, ``_single_tensor_adafactor``).

    ::

        w = t ** beta2_decay                             # the new value's weight, 1 - beta2_t
        rho = min(lr, 1 / sqrt(t));  alpha = max(eps2, RMS(params)) * rho
        params *= 1 - lr * weight_decay
        if params.ndim >= 2:                             # factored over the last two dimensions
            row_var = lerp(row_var, mean(g², axis=-1), w);  col_var = lerp(col_var, mean(g², axis=-2), w)
            V = row_var @ col_var / max(mean(row_var, axis=-2), eps1)
        else:
            variance = lerp(variance, g², w);  V = variance
        U = g / sqrt(max(V, eps1²))
        params -= alpha / max(1, RMS(U) / d) * U

    ``eps1`` defaults to the dtype's machine epsilon, as torch's ``None``.
    The state keys are torch's: ``"row_var"`` (shape ``(..., A, 1)``),
    ``"col_var"`` (``(..., 1, B)``), ``"variance"``.

    Example:
        >>> import numpy as np
        >>> p, s = adafactor(np.ones((2, 3)), np.ones((2, 3)), {}, 1, lr=0.5)
        >>> p                      # alpha = RMS(1) * min(0.5, 1) and U = 1 everywhere
        array([[0.5, 0.5, 0.5],
               [0.5, 0.5, 0.5]])
        >>> s["row_var"].shape, s["col_var"].shape
        ((2, 1), (1, 3))

    Reference:
        N. Shazeer and M. Stern, "Adafactor: Adaptive Learning Rates with
        Sublinear Memory Cost", ICML 2018, Algorithms 4-5; torch.optim.Adafactor.
    """
    lr, beta2_decay, eps2, d = float(lr), float(beta2_decay), float(eps2), float(d)
    weight_decay = float(weight_decay)
    p, state = _prepare(params, state, inplace)
    eps1 = float(np.finfo(p.dtype).eps) if eps1 is None else float(eps1)
    with np.errstate(all="ignore"):
        g = np.asarray(grads, dtype=p.dtype)
        w = float(t) ** beta2_decay
        rho = min(lr, 1.0 / float(t) ** 0.5)
        numel = max(p.size, 1)
        alpha = max(eps2, float(np.sqrt(np.sum(p * p))) / numel ** 0.5) * rho
        if weight_decay != 0.0:
            p *= 1.0 - lr * weight_decay
        if p.ndim >= 2:
            shape = p.shape
            row_var = state.setdefault("row_var", np.zeros((*shape[:-1], 1), dtype=p.dtype))
            col_var = state.setdefault("col_var", np.zeros((*shape[:-2], 1, shape[-1]), dtype=p.dtype))
            g2 = g * g
            row_mean = g2.sum(axis=-1, keepdims=True) / max(shape[-1], 1)
            col_mean = g2.sum(axis=-2, keepdims=True) / max(shape[-2], 1)
            _lerp_(row_var, row_mean, w, np.empty_like(row_var))  # torch: row_var.lerp_(row_mean, w)
            _lerp_(col_var, col_mean, w, np.empty_like(col_var))
            row_var_mean = row_var.sum(axis=-2, keepdims=True) / max(shape[-2], 1)
            estimate = (row_var @ col_var) / np.maximum(row_var_mean, eps1)
        else:
            variance = _state_array(state, "variance", p)
            _lerp_(variance, g * g, w, np.empty_like(variance))
            estimate = variance.copy()
        update = g / np.sqrt(np.maximum(estimate, eps1 * eps1))
        denom = max(1.0, float(np.sqrt(np.sum(update * update))) / (numel ** 0.5 * d))
        p -= (alpha / denom) * update
    return p, state


REFERENCES.update({
    "muon": muon,
    "adafactor": adafactor,
})
