"""Datasets (registered in BasicSR's DATASET_REGISTRY when their modules load) and dataset preparation.

The names below load their modules on first use, so that the plain parts (``subimages``) are at
hand without torch or BasicSR.
"""

import importlib

_HOMES = {
    'ALKDSRPairedImageDataset': 'paired_image_dataset',
    'TrainingDataError': 'paired_image_dataset',
    'DevicePairedImageDataset': 'device_pairs',
}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f'{__name__}.{_HOMES[name]}'), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')


__all__ = list(_HOMES)
