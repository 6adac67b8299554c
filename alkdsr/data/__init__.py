"""Datasets and dataset preparation."""

from . import device_pairs  # noqa: E402,F401  (registers DevicePairedImageDataset)
