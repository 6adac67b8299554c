"""BasicSR models (training/validation logic), registered in MODEL_REGISTRY on import."""

from alkdsr.models.alkdsr_model import ALKDSRModel, NonFiniteLossError

__all__ = ['ALKDSRModel', 'NonFiniteLossError']
