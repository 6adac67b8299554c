"""The one place where alkdsr's classes enter BasicSR's registries.

BasicSR builds what an option file names from its registries (``network_g: type: ALKDNet``,
``model_type: ALKDSRModel``, ``datasets: train: type: ALKDSRPairedImageDataset``). The architectures are
plain torch and know only alkdsr's own ``ARCH_REGISTRY`` (``alkdsr.archs.registry``); the model and the
datasets subclass BasicSR's. :func:`register` adds them all, once; ``import alkdsr`` calls it as soon as
BasicSR has been imported (see ``alkdsr/__init__.py``), and the training loop before it reads its options.
"""

from __future__ import annotations


def register() -> None:
    """Add every alkdsr architecture, dataset and model class to BasicSR's registries (idempotent)."""
    from basicsr.utils import registry

    from alkdsr.archs import load_architectures
    from alkdsr.data.device_pairs import DevicePairedImageDataset
    from alkdsr.data.paired_image_dataset import ALKDSRPairedImageDataset
    from alkdsr.models.alkdsr_model import ALKDSRModel

    entries = (
        (registry.ARCH_REGISTRY, [cls for _, cls in load_architectures()]),
        (registry.DATASET_REGISTRY, [ALKDSRPairedImageDataset, DevicePairedImageDataset]),
        (registry.MODEL_REGISTRY, [ALKDSRModel]),
    )
    for basicsr_registry, classes in entries:
        for cls in classes:
            if cls.__name__ not in basicsr_registry:
                basicsr_registry.register(cls)
