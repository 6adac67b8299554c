"""BasicSR models (training/validation logic), registered in MODEL_REGISTRY by ``alkdsr.training.registration``."""
