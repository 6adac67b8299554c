"""BasicSR models (training/validation logic), registered in MODEL_REGISTRY on import."""
