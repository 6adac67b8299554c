"""Bridges from alkdsr's networks to the tools that load upscaling models (spandrel: chaiNNer, ComfyUI).

Each bridge is a submodule that imports its tool only when imported itself, so alkdsr does not
depend on any of them. ``inputs`` is what they share: the input check of the networks they hand out
(also used by ``hubconf.py``).
"""
