"""SOAP: Adam in the eigenbasis of Shampoo's preconditioner, for 2-D parameters (pytorch-optimizer 4.1.0)."""

from symopt.core import Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA2, EPS, LR, PRECONDITION_FREQUENCY, SHAMPOO_BETA, WEIGHT_DECAY
from symopt.transforms import add_decayed_stepped_weights, scale_by_learning_rate, scale_by_soap, skip_first_step

SOAP_SOURCE = "pytorch-optimizer 4.1.0"
# pytorch-optimizer's SOAP defaults: lr 3e-3, betas (0.95, 0.95), weight decay 1e-2.
SOAP_LR = LR.with_default(3e-3)
SOAP_BETA1 = BETA1.restricted(default=0.95, special=(0.95, 0.0, 0.9))
SOAP_BETA2 = BETA2.restricted(default=0.95, special=(0.95, 0.0, 0.999))


def soap(correct_bias: bool = True) -> Rule:
    """SOAP, as pytorch-optimizer 4.1.0's ``SOAP`` for a matrix (both sides at most
    ``max_precondition_dim``, ``merge_dims``, ``precondition_1d`` and ``normalize_gradient`` at
    their defaults): Adam's moments in the eigenbasis Q^L, Q^R of Shampoo's Kronecker factors
    L, R, the step rotated back, and decoupled weight decay after it:
    ``θ_t = (θ_{t-1} - η c_t Q^L (Q^Lᵀ m_t Q^R/(√v̄_t + ε)) Q^Rᵀ)(1 - ηλ)``, c_t = √(1 - β₂ᵗ⁻¹)/(1 - β₁ᵗ⁻¹).
    The first step only computes the eigenbases; every ``precondition_frequency`` steps after it they
    take one step of power iteration and a QR decomposition (in float32, as the package computes it).

    Args:
        correct_bias: the bias corrections c_t (the package's ``correct_bias``); ``False``: c_t = 1.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("soap").transforms
        ('scale_by_soap', 'scale_by_learning_rate', 'add_decayed_stepped_weights', 'skip_first_step')

    Reference: N. Vyas et al., "SOAP: Improving and Stabilizing Shampoo using Adam" (2024),
    Algorithm 3; pytorch-optimizer 4.1.0, ``pytorch_optimizer/optimizer/soap.py``.
    """
    if not isinstance(correct_bias, bool):
        raise ValueError(f"correct_bias must be True or False, not {correct_bias!r}")
    lr = SOAP_LR
    return rule(
        "soap",
        "Adam in the eigenbasis of Shampoo's Kronecker factors, refreshed by power iteration and QR",
        "Vyas et al. (2024), SOAP, Algorithm 3; pytorch-optimizer 4.1.0 SOAP (no step at t = 1, decay after the step, "
        "QR in float32)",
        chain(
            "soap",
            scale_by_soap(SOAP_BETA1, SOAP_BETA2, SHAMPOO_BETA, EPS, PRECONDITION_FREQUENCY,
                          correct_bias=correct_bias),
            scale_by_learning_rate(lr),
            add_decayed_stepped_weights(WEIGHT_DECAY.with_default(1e-2), lr),
            skip_first_step(),
        ),
        library=("pytorch_optimizer", "SOAP"),
        source=SOAP_SOURCE,
        ranks=(2,),
        correct_bias=correct_bias,
    )
