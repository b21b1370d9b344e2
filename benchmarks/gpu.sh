#!/usr/bin/env bash
# GPU figures for issue 6: the speed harness with a ResNet-18 on Split CIFAR-100-shaped synthetic data
# (3x32x32 uint8 images, 100 classes), then the Permuted Fashion-MNIST MLP cases, on one GPU.
#
# Run on the device machine from the repository root:
#   bash benchmarks/gpu.sh resnet     # ResNet-18, T = 5, 10
#   bash benchmarks/gpu.sh mlp        # MLP 784-256-256, T = 5, 10, 20
#   bash benchmarks/gpu.sh vit        # LwF on a random-init ViT-B/16 at 224 px, frozen and trainable
#   bash benchmarks/gpu.sh            # resnet and mlp (vit needs timm: see below)
# Each part is sized for one 10-minute command (each case is a fresh process: CUDA start-up included);
# the harness rewrites its JSON/Markdown after every case, so a part stopped at a limit keeps its rows.
# It needs no install and no network: the package runs from src/ with the machine's own python3 and torch.
# SMOKE=1 DEVICE=cpu bash benchmarks/gpu.sh checks the script itself on any machine (2 tasks, 64 samples;
# for vit: timm's test_vit at 32 px).
# vit: Split CIFAR-100-shaped synthetic data (10 tasks x 10 classes, 5000 training images per task),
# resized to 224 on the device; three cases in one run (frozen with features once, frozen recomputing
# them, trainable), bf16. It needs timm: installed, or unpacked into .vendor/ beside src/ (on a machine
# with pip: pip install --no-deps --target .vendor timm safetensors), which is put on PYTHONPATH.
# Results go to $OUT when that is set (the device tool brings them back), else benchmarks/results/.
# Fashion-MNIST is used when its idx files are in /usr/share/datasets/fashion-mnist; otherwise random
# images of the same shape (timings are the same; accuracies are then meaningless).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if [ -d .vendor ]; then export PYTHONPATH="$PYTHONPATH:$PWD/.vendor"; fi
PY="$(command -v python3 || command -v python)"
DEST="${OUT:-benchmarks/results}"
PART="${1:-all}"
DEVICE="${DEVICE:-cuda}"
if [ "${SMOKE:-0}" = 1 ]; then
  RESNET=(--tasks 2 --samples 64 --epochs 1); MLP=(--tasks 2 --samples 64 --epochs 1); VIT=(--tiny)
else
  RESNET=(--tasks 5,10 --samples 5000 --epochs 2); MLP=(--tasks 5,10,20 --samples 10000 --epochs 2)
  VIT=(--tasks 10 --samples 5000 --epochs 2 --batch-size 128 --precision bf16)
fi
case "$PART" in all|resnet|mlp|vit) ;; *) echo "usage: bash benchmarks/gpu.sh [all|resnet|mlp|vit]" >&2; exit 2 ;; esac
if [ "$PART" = vit ] && ! "$PY" -c 'import timm, safetensors' 2>/dev/null; then
  echo "gpu.sh vit needs timm and safetensors: pip install 'retain[timm]', or unpack them into .vendor/ (see the header)" >&2
  exit 2
fi
mkdir -p "$DEST"
{ nvidia-smi --query-gpu=name,memory.total --format=csv 2>/dev/null || echo "no nvidia-smi"; } | tee "$DEST/gpu_device.txt"
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$DEST/gpu_device.txt"
if [ "$PART" = vit ]; then
  "$PY" -m retain.bench.pretrained --device "$DEVICE" "${VIT[@]}" --threads 8 --out "$DEST/gpu_vit.json"
  exit 0
fi
if [ "$PART" != mlp ]; then
  "$PY" -m retain.bench.speed --device "$DEVICE" --benchmark synthetic_cifar100 --backbone resnet18 \
    "${RESNET[@]}" --batch-size 128 --threads 8 --out "$DEST/gpu_resnet18.json"
fi
if [ "$PART" != resnet ]; then
  if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then DATA=permuted_fmnist; else DATA=synthetic_fmnist; fi
  "$PY" -m retain.bench.speed --device "$DEVICE" --benchmark "$DATA" "${MLP[@]}" --threads 8 \
    --out "$DEST/gpu_mlp.json"
fi
