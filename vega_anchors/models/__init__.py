"""The reference model and its configuration."""

from .config import FUSED, HeadConfig, LossSwitches, LossWeights, SamplerConfig, VEGAConfig
from .dual_branch import DualBranchVEGA, VEGALoss, VEGAOutput

__all__ = [
    "FUSED",
    "DualBranchVEGA",
    "HeadConfig",
    "LossSwitches",
    "LossWeights",
    "SamplerConfig",
    "VEGAConfig",
    "VEGALoss",
    "VEGAOutput",
]
