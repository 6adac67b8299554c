"""Measuring networks: the benchmark protocol (PSNR/SSIM), Multi-Adds, the paper's Table 4, comparison figures."""
