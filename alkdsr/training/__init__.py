"""Training and testing on BasicSR's own parts: the loop, its run folder, stopping and resuming, and the one
place that puts alkdsr's classes into BasicSR's registries (``registration``)."""
