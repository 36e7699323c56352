"""Schedule-Free SGD and AdamW: Defazio et al. (2024), the ``schedulefree`` package
(``SGDScheduleFreeReference``, ``AdamWScheduleFreeReference``)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from symopt.reference._common import (
    State, _prepare, _l2_gradient, _state_array, _lerp_, _ema_square_, _add_scaled_,
)

__all__ = ["schedule_free_sgd", "schedule_free_adamw", "schedule_free_eval"]


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



#: The reference of each rule this module witnesses, by its registered name.
REFERENCES = {"schedule-free-sgd": schedule_free_sgd, "schedule-free-adamw": schedule_free_adamw}
