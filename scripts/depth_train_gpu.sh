#!/usr/bin/env bash
# One prepared StereoAdapter pretraining run for a lent GPU machine, in a single call of the device `run` tool:
#
#   run(command="bash scripts/depth_train_gpu.sh 5", timeout_s=480,
#       carry=["runs/depth_sim_train12.npz", "runs/depth_sim_val.npz"])
#
# The device has torch with CUDA but no MuJoCo, so both sim caches travel with the call (build them here first:
# a short CPU training run writes the first, `python -m groundfm_training.depth.quick_eval` the second).
# It continues from the shipped weights for MINUTES on the GPU with background data workers, then runs quick_eval;
# model.safetensors, metrics.jsonl and quick_eval.jsonl come back under $OUT. Benchmark them here before shipping.
# Knobs (environment): DEVICE, WORKERS, BATCH, CROP ("H W"), ITERS, LR, MAX_DISP, SEED, PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-5}  # leaves room in a 480 s call for start-up, the final save and quick_eval
OUT_DIR=${OUT:-runs/depth_gpu}
PY=${PYTHON:-python3}
export PYTHONPATH=src/groundfm:src/groundfm_training
for cache in runs/depth_sim_train12.npz runs/depth_sim_val.npz; do
  [[ -f $cache ]] || { echo "missing $cache: carry it (the device has no MuJoCo to render it)" >&2; exit 2; }
done
carried=$(du -cb runs/depth_sim_train12.npz runs/depth_sim_val.npz | tail -n1 | cut -f1)
(( carried < 60 * 1024 * 1024 )) || { echo "sim caches are $carried bytes, over the 64 MiB carry limit" >&2; exit 2; }
"$PY" -c 'import cv2, safetensors, skimage, tqdm, torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
mkdir -p "$OUT_DIR"
# shellcheck disable=SC2086  # CROP is two numbers
"$PY" -m groundfm_training.depth.train --stage pretrain --device "${DEVICE:-cuda}" --workers "${WORKERS:-12}" \
  --out "$OUT_DIR/run" --init models/stereo_adapter_small/model.safetensors --crop ${CROP:-160 320} \
  --iters "${ITERS:-8}" --batch "${BATCH:-16}" --lr "${LR:-2e-4}" --corr-weight 10 \
  --flying-max-disp "${MAX_DISP:-96}" --sim-houses 12 --sim-cache runs/depth_sim_train12.npz --sim-fraction 0.2 \
  --time-budget-min "$MINUTES" --save-every 500 --seed "${SEED:-20}" --threads 4 --steps 10000000
"$PY" -m groundfm_training.depth.quick_eval "$OUT_DIR/run/model.safetensors" --iterations 8 --threads 4 \
  --sim-cache runs/depth_sim_val.npz --log "$OUT_DIR/quick_eval.jsonl"
