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

Where each reference comes from is in its module's docstring; the papers and sources:
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

The package mirrors :mod:`symopt.optimizers`: one module per rule module, each defining its step
functions and ``REFERENCES``, the mapping from the registered names it witnesses to them. This
module gathers them; adding a rule's reference is adding its module, nothing here names a rule.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Dict, Tuple

import numpy as np

from symopt.reference._common import State

#: The reference step functions by registered rule name.
REFERENCES: Dict[str, Callable[..., Tuple[np.ndarray, State]]] = {}

__all__ = ["REFERENCES"]

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    if _info.name.startswith("_"):
        continue
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    REFERENCES.update(_module.REFERENCES)
    for _name in _module.__all__:
        globals()[_name] = getattr(_module, _name)
    __all__ += _module.__all__
del _info, _module, _name
