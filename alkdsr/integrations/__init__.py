"""Bridges from alkdsr's networks to the tools that load upscaling models (spandrel: chaiNNer, ComfyUI).

Each bridge is a submodule that imports its tool only when imported itself, so alkdsr does not
depend on any of them.
"""
