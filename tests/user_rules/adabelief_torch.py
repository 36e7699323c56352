"""AdaBelief as a torch.optim.Optimizer, the way a user writes one: a witness for
`symopt verify examples/adabelief.py:adabelief --against tests/user_rules/adabelief_torch.py:AdaBelief`."""

import torch


class AdaBelief(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=True):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decoupled=decoupled))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                state = self.state[p]
                if not state:
                    state["t"], state["m"], state["s"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                state["t"] += 1
                t, g = state["t"], p.grad
                if not group["decoupled"]:
                    g = g + group["weight_decay"] * p
                state["m"].mul_(beta1).add_((1 - beta1) * g)
                state["s"].mul_(beta2).add_((1 - beta2) * (g - state["m"]) ** 2 + group["eps"])
                direction = (state["m"] / (1 - beta1**t)) / ((state["s"] / (1 - beta2**t)).sqrt() + group["eps"])
                if group["decoupled"]:
                    direction = direction + group["weight_decay"] * p
                p.sub_(group["lr"] * direction)


class NotAnOptimizer:
    def __init__(self, params, lr=1e-3):
        pass
