#!/usr/bin/env bash
# What a lent GPU machine runs for alkdsr (the device tool copies the repository there).
#
#   bash benchmarks/gpu_session.sh bench          # inference + training speed tables (~5 min)
#   bash benchmarks/gpu_session.sh train ITERS    # issue 8: short ALKDNet x4 run on the 291 images
#
# Expects, beside the repository copy: .whl/ (basicsr 1.4.2 and the pure-Python packages the
# GPU image lacks) and .gpu/data/{train,benchmark} (the 291 training images and Set5/Set14).
# Writes logs, JSON and the trained weights to $OUT (or ./gpu_out).
set -euo pipefail
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)" | tee -a "$OUT/gpu.txt"

case "${1:-bench}" in
bench)
    python3 benchmarks/bench_infer.py --scale 4 --json "$OUT/infer_x4.json" 2>&1 | grep -v '^20' | tee "$OUT/bench.log"
    python3 benchmarks/bench_infer.py --scale 2 --json "$OUT/infer_x2.json" \
        --paths 'eager fp32 (reference)' 'fused+cudagraph fp16' 'fused+compile+cudagraph fp16' \
        2>&1 | grep -v '^20' | tee -a "$OUT/bench.log"
    python3 benchmarks/bench_train.py --json "$OUT/train_speed.json" 2>&1 | grep -v '^20' | tee -a "$OUT/bench.log"
    ;;
train)
    ITERS=${2:?number of iterations}
    DATA=/tmp/data291
    python3 -m alkdsr.cli.main prepare .gpu/data/train "$DATA" --scales 4 --workers 16 \
        --subimages --crop-size 192 --step 64 --thresh-size 0 2>&1 | tail -3
    python3 alkdsr/train.py -opt options/train_ALKDNet_x4_291_short.yml --force_yml \
        "datasets:train:dataroot_gt=$DATA/HR_sub" "datasets:train:dataroot_lq=$DATA/LR_bicubic_sub/X4" \
        "datasets:val:dataroot_gt=.gpu/data/benchmark/Set5/HR" \
        "datasets:val:dataroot_lq=.gpu/data/benchmark/Set5/LR_bicubic/X4" \
        "train:total_iter=$ITERS" "train:scheduler:periods=[$ITERS]" 2>&1 | tee "$OUT/train.log" | grep -E 'Validation|psnr|ssim|iter:.*(000|500),|Error|error' || true
    EXP=experiments/ALKDNet_x4_291_short
    python3 -m alkdsr.cli.main benchmark --weights "$EXP/models/net_g_latest.pth" --data-root .gpu/data/benchmark \
        --sets Set5 Set14 --device cuda --json "$OUT/benchmark_x4.json" 2>&1 | tee "$OUT/benchmark.log"
    python3 -c "import alkdsr, sys; alkdsr.save_checkpoint(alkdsr.load_model(sys.argv[1]), sys.argv[2])" \
        "$EXP/models/net_g_latest.pth" "$OUT/alkdnet_x4_alkdsr.safetensors"
    tar czf "$OUT/experiment.tgz" -C experiments ALKDNet_x4_291_short/train_ALKDNet_x4_291_short.yml \
        $(cd experiments && ls ALKDNet_x4_291_short/*.log) tb_logger 2>/dev/null || true
    ;;
esac
