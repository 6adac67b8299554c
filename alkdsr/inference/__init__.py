"""Running a trained network on images: tiling, pixels (channels, bit depth, alpha), folder jobs, ONNX."""
