"""Running a trained network on images: tiling, pixels (channels, bit depth, alpha), folder jobs, ONNX."""

# what the command line offers before torch is loaded
TILE_MODES = ('fast', 'seamless')  # tiling.py: independent tiles, or tiles with the whole image's statistics
MIN_OPSET = 17  # onnx_util.py: the oldest ONNX opset the export supports
