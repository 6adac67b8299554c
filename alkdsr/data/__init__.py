"""Datasets (registered in BasicSR's DATASET_REGISTRY when their modules load: ``paired_image_dataset``,
``device_pairs``), the resumable training loader, and dataset preparation.

Nothing is imported here, so that the plain parts (``subimages``) are at hand without torch or BasicSR.
"""
