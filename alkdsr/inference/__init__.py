"""Running a trained network on images: tiling, pixels (channels, bit depth, alpha), folder jobs, ONNX and ncnn
export, and the choice of the fastest path (``fast.runner``).

Importing this package before torch sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is set: the CPU path runs its
kernels on threads of its own between OpenMP's convolutions, and OpenMP threads that spin after each
convolution (the default) take those threads' cores; on a loaded machine one 128x128 image then took up to
ten times longer. OpenMP reads the setting when torch loads, so it cannot be changed later.
"""

import os
import sys

if 'torch' not in sys.modules:
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')

# what the command line offers before torch is loaded
TILE_MODES = ('fast', 'seamless')  # tiling.py: independent tiles, or tiles with the whole image's statistics
BACKENDS = ('auto', 'torch', 'onnxruntime')  # fast.py: how the network runs
MIN_OPSET = 17  # onnx_util.py: the oldest ONNX opset the export supports
