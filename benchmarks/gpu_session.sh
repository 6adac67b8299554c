#!/usr/bin/env bash
# What a lent GPU machine runs for alkdsr (the device tool copies the repository there):
#
#   bash benchmarks/gpu_session.sh [BUDGET_S] [--train-only]
#
# Plan a call with its start in mind: on 2026-11-26 starting the machine and sending the
# working tree (about 50 MB) took about 6 of the session's 15 minutes of device time.
#
# 1. inference and training speed tables (benchmarks/bench_infer.py, bench_train.py);
# 2. issue 8: ALKDNet x4 from scratch on the 291 images with the fastest measured training
#    switches, for as many iterations as fit in what is left of BUDGET_S (default 570 s),
#    a cosine schedule over exactly those iterations, continuing from
#    weights/alkdnet_x4_alkdsr.safetensors when it exists; then `alkdsr benchmark` on Set5/Set14.
#    Commit the result as the new weights only if it measures better (weights/README.md).
#
# Issue 16's training session (profile, every training configuration, data loaders, the
# 2,000-iteration curve comparison, x4 from scratch) is benchmarks/gpu_train_session.py.
#
# Expects .whl/ (basicsr 1.4.2 and pure-Python packages the GPU image lacks) and
# .gpu/data/{train,benchmark} (the 291 training images and Set5/Set14) beside the repository.
# Everything it measures goes to $OUT (or ./gpu_out).
set -uo pipefail
START=$(date +%s)
BUDGET=${1:-570}
TRAIN_ONLY=${2:-}
OUT=${OUT:-$PWD/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD
LOG="$OUT/session.log"
{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
    python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
} 2>&1 | tee "$LOG"
elapsed() { echo $(($(date +%s) - START)); }

# the training data, prepared on the CPU while the GPU is benchmarked
DATA=/tmp/data291
python3 -m alkdsr.cli.main prepare .gpu/data/train/*/ "$DATA" --scales 4 --workers 6 \
    --subimages --crop-size 192 --step 64 --thresh-size 0 >/tmp/prepare.log 2>&1 &
PREP=$!

quiet() { grep -v -E '^(20[0-9]{2}-|\s+#|\s*$|.*Warning|  warnings.warn)'; }
if [ -z "$TRAIN_ONLY" ]; then
timeout 170 python3 benchmarks/bench_infer.py --scale 4 --json "$OUT/infer_x4.json" 2>&1 | quiet | tee -a "$LOG"
timeout 60 python3 benchmarks/bench_infer.py --scale 2 --json "$OUT/infer_x2.json" \
    --paths 'eager fp32 (reference)' 'fused+cudagraph fp16' 2>&1 | quiet | tee -a "$LOG"
timeout 150 python3 benchmarks/bench_train.py --json "$OUT/train_speed.json" 2>&1 | quiet | tee -a "$LOG"
echo "benchmarks done at $(elapsed) s" | tee -a "$LOG"
fi

wait $PREP
tail -3 /tmp/prepare.log | tee -a "$LOG"
# fastest measured switches, and the iterations that fit (120 s kept for compile warm-up, evaluation, saving)
read -r ITERS SWITCHES < <(python3 benchmarks/pick_train_config.py "$OUT/train_speed.json" $((BUDGET - $(elapsed) - 120)) 2>>"$LOG")
echo "training $ITERS iterations with: $SWITCHES" | tee -a "$LOG"
EXP=experiments/ALKDNet_x4_291_short
# continue from the committed weights when there are some (a fresh cosine schedule each run)
START_FROM=()
if [ -f weights/alkdnet_x4_alkdsr.safetensors ]; then
    START_FROM=("path:pretrain_network_g=weights/alkdnet_x4_alkdsr.safetensors")
    echo "starting from weights/alkdnet_x4_alkdsr.safetensors" | tee -a "$LOG"
fi
python3 alkdsr/train.py -opt options/train_ALKDNet_x4_291_short.yml --force_yml \
    "datasets:train:dataroot_gt=$DATA/HR_sub" "datasets:train:dataroot_lq=$DATA/LR_bicubic_sub/X4" \
    "datasets:val:dataroot_gt=.gpu/data/benchmark/Set5/HR" \
    "datasets:val:dataroot_lq=.gpu/data/benchmark/Set5/LR_bicubic/X4" \
    "train:total_iter=$ITERS" "train:scheduler:periods=[$ITERS]" $SWITCHES "${START_FROM[@]}" >"$OUT/train.log" 2>&1
grep -E 'Validation|# psnr|iter:.*(000|500),|rror' "$OUT/train.log" | tail -40 | tee -a "$LOG"
echo "training done at $(elapsed) s" | tee -a "$LOG"
WEIGHTS=$(ls -t "$EXP"/models/*.pth 2>/dev/null | head -1)  # net_g_latest.pth unless training was cut short
echo "evaluating $WEIGHTS" | tee -a "$LOG"
python3 -m alkdsr.cli.main benchmark --weights "$WEIGHTS" --data-root .gpu/data/benchmark \
    --sets Set5 Set14 --device cuda --json "$OUT/benchmark_x4.json" 2>&1 | tr '\r' '\n' | grep -v 'img/s' | tee -a "$LOG"
python3 -c "import alkdsr, sys; alkdsr.save_checkpoint(alkdsr.load_model(sys.argv[1]), sys.argv[2])" \
    "$WEIGHTS" "$OUT/alkdnet_x4_alkdsr.safetensors" 2>&1 | tee -a "$LOG"
tar czf "$OUT/experiment.tgz" "$EXP"/*.yml "$EXP"/*.log tb_logger 2>/dev/null
echo "all done at $(elapsed) s" | tee -a "$LOG"
