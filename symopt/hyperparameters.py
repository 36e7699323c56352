"""The hyperparameters rules are built from: symbol, keyword, torch.optim default, valid range.

Rules take these and change a default where their reference does (``adamw`` decays by default,
``adam`` does not). Keywords are torch.optim's, so that a kernel's ``step`` reads like a
``torch.optim`` constructor.
"""

import math

from symopt import symbols as S
from symopt.core import Hyper

inf = math.inf

LR = Hyper(S.eta, "lr", 1e-3, 0.0, inf, doc="learning rate")
MOMENTUM = Hyper(S.rho, "momentum", 0.9, 0.0, 1.0, low_open=True, doc="momentum factor (0 is plain sgd)")
DAMPENING = Hyper(S.tau, "dampening", 0.0, 0.0, 1.0, high_open=False, doc="dampening of the gradient")
BETA1 = Hyper(S.beta1, "beta1", 0.9, 0.0, 1.0, doc="decay of the first moment")
BETA2 = Hyper(S.beta2, "beta2", 0.999, 0.0, 1.0, doc="decay of the second moment")
EPS = Hyper(S.epsilon, "eps", 1e-8, 0.0, inf, low_open=True, doc="keeps the denominator from zero")
WEIGHT_DECAY = Hyper(S.lam, "weight_decay", 0.0, 0.0, inf, doc="weight decay", skip_when_zero=True)

# The order hyperparameters are listed in, whatever the order of the transforms that own them.
ORDER = ("lr", "momentum", "dampening", "beta1", "beta2", "eps", "weight_decay")
