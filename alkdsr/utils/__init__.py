"""Helpers every part of alkdsr uses: atomic files, images, checkpoints, options, devices, training runs."""
