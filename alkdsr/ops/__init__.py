"""Optional fused kernels for fast inference (Triton on CUDA)."""
