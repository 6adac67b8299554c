"""Datasets (registered in BasicSR's DATASET_REGISTRY on import) and dataset preparation."""

from alkdsr.data.device_pairs import DevicePairedImageDataset
from alkdsr.data.paired_image_dataset import ALKDSRPairedImageDataset, TrainingDataError

__all__ = ['ALKDSRPairedImageDataset', 'DevicePairedImageDataset', 'TrainingDataError']
