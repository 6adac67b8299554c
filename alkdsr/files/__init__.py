"""Files: images (``images``: every reader and writer, one list of formats), atomic writes and the check of
where writing would fail (``fileio``), outputs that are inputs (``output_guard``), and locks (``locks``).

Nothing is imported here; each module imports torch-free libraries only (Pillow, OpenCV, filelock).
"""
