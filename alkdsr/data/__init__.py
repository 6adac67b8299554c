"""Datasets (``paired_image_dataset``, ``device_pairs``: BasicSR dataset classes, registered by
``alkdsr.training.registration``), the resumable training loader, and dataset preparation.

Nothing is imported here, so that the plain parts (``subimages``) are at hand without torch or BasicSR.
"""
