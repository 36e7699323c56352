"""Muon two ways: through torch.optim.Muon itself (Newton–Schulz in bfloat16, as torch computes it),
and a float64 NumPy step written from its docs (the same algorithm, no bfloat16 rounding)."""

import numpy as np


def torch_muon(params, grads, state, t, lr, weight_decay, momentum, eps, ns_a, ns_b, ns_c, ns_steps):
    """torch.optim.Muon (nesterov, adjust_lr_fn='original'), its optimizer kept in the state."""
    import torch

    optimizer = state.get("optimizer")
    if optimizer is None:
        param = torch.tensor(params, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.Muon([param], lr=lr, weight_decay=weight_decay, momentum=momentum, eps=eps,
                                     ns_coefficients=(ns_a, ns_b, ns_c), ns_steps=int(ns_steps))
        state = {"optimizer": optimizer, "param": param}
    param = state["param"]
    optimizer.param_groups[0]["lr"] = lr
    param.grad = torch.tensor(grads, dtype=torch.float64)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        optimizer.step()
    finally:
        torch.set_num_threads(previous)
    return param.detach().numpy().copy(), state


def float64_muon(params, grads, state, t, lr, weight_decay, momentum, eps, ns_a, ns_b, ns_c, ns_steps):
    """Muon with Nesterov momentum (torch's: an EMA buffer), Newton–Schulz in float64 on the wide
    orientation."""
    b = state.get("b", np.zeros_like(params))
    b = b + (1 - momentum) * (grads - b)
    u = grads + momentum * (b - grads)
    x = u.T if u.shape[0] > u.shape[1] else u
    x = x / max(np.linalg.norm(x), eps)
    for _ in range(int(ns_steps)):
        gram = x @ x.T
        x = ns_a * x + (ns_b * gram + ns_c * gram @ gram) @ x
    x = x.T if u.shape[0] > u.shape[1] else x
    scale = max(1.0, params.shape[0] / params.shape[1]) ** 0.5
    return params * (1 - lr * weight_decay) - lr * scale * x, {"b": b}
