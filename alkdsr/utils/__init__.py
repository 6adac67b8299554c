"""Helpers every part of alkdsr uses: errors, atomic files, images, checkpoints, options, devices, training runs."""
