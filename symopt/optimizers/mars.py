"""MARS, as timm 1.0.31 writes it (``timm.optim.Mars``): variance reduction by the change of the
gradient, with its norm clipped over the whole tensor, under AdamW's or Lion's step."""

from typing import Literal

from symopt.core import TIMM_SOURCE, Rule, chain, rule
from symopt.hyperparameters import BETA1, BETA1_1D, BETA2, BETA2_1D, EPS, LR, LR_1D_FACTOR, MARS_GAMMA, WEIGHT_DECAY
from symopt.transforms import CAUTION_REFERENCE, Cautious, caution, mars_step, scale_by_learning_rate, scale_by_mars

MarsType = Literal["adamw", "lion"]
STEPS = {"adamw": "AdamW", "lion": "Lion"}


def mars(mars_type: MarsType = "adamw", optimize_1d: bool = False, cautious: Cautious = False) -> Rule:
    """MARS: ``c_t = g_t + γβ₁/(1 - β₁)(g_t - g_{t-1})`` (g_1 at the first step),
    ``c̃_t = c_t/max(1, ‖c_t‖)`` with the norm of the whole tensor, ``m_t = β₁ m_{t-1} + (1 - β₁)c̃_t``,
    and the step ``θ_t = θ_{t-1} - η(m̂_t/(√v̂_t + ε) + λθ_{t-1})`` with v_t the moving average of c̃_t²
    (``mars_type="adamw"``) or ``θ_t = θ_{t-1} - η(sign(m_t) + λθ_{t-1})`` (``"lion"``).

    The paper's MARS-AdamW (Algorithm 1, exact variant) is this with γ its scaling of the correction;
    timm (as the authors' code) takes g_1 for the correction of the first step, where there is no
    previous gradient, and, unless ``optimize_1d``, runs AdamW on g itself for parameters of fewer
    than two dimensions, with their own ``betas_1d`` and ``lr_1d_factor``.

    Args:
        mars_type: the step taken on the corrected momentum, timm's ``mars_type``.
        optimize_1d: MARS for every parameter; ``False`` (timm's default) gives vectors and numbers
            AdamW's step on g_t, η scaled by κ, with ``beta1_1d``, ``beta2_1d`` (timm's ``betas_1d``).
        cautious: keep the momentum m_t only where it agrees in sign with the gradient g_t (not c_t),
            rescaled by the fraction that agrees (:func:`symopt.transforms.cautious_mask`), before the
            step is formed from it and the decay added, as timm's ``Mars(caution=True)`` masks
            ``exp_avg`` (in both branches); under Lion's step the rescaling vanishes in the sign. The
            state keeps the unmasked m_t.

    Returns:
        The rule.

    Example:
        >>> import symopt
        >>> symopt.get("mars").transforms
        ('scale_by_mars', 'mars_step', 'scale_by_learning_rate')

    Reference: Yuan et al. (2024), "MARS: Unleashing the Power of Variance Reduction for Training Large
    Models", Algorithms 1-3; timm ``Mars`` (``_mars_single_tensor_step``).
    """
    if mars_type not in ("adamw", "lion"):
        raise ValueError(f"mars_type must be 'adamw' or 'lion', not {mars_type!r}")
    if not isinstance(optimize_1d, bool):
        raise ValueError(f"optimize_1d must be True or False, not {optimize_1d!r}")
    beta2 = BETA2.restricted(default=0.99)
    one_d = None if optimize_1d else (BETA1_1D, BETA2_1D, LR_1D_FACTOR)
    return rule(
        "mars",
        f"MARS, the gradient corrected by its change, norm-clipped, under {STEPS[mars_type]}'s step"
        + (", cautious" if cautious else ""),
        "Yuan et al. (2024), Algorithm 1; timm Mars (c_1 = g_1; AdamW on g for 1-D parameters unless optimize_1d)"
        + (CAUTION_REFERENCE if cautious else ""),
        chain("mars", scale_by_mars(BETA1, beta2, MARS_GAMMA, mars_type, one_d),
              *caution(cautious),  # timm masks exp_avg before the step and the decay are formed from it
              mars_step(BETA1, beta2, EPS, WEIGHT_DECAY, mars_type, one_d),
              scale_by_learning_rate(LR.restricted(default=3e-3, special=(3e-3, 0.0)))),
        source=TIMM_SOURCE,
        library=("timm.optim.mars", "Mars"),
        mars_type=mars_type,
        optimize_1d=optimize_1d,
        cautious=cautious,
    )
