#!/usr/bin/env bash
# Training speed: visionrt-train's libtorch YOLOv8 against the same network in eager PyTorch
# (Debian's python3-torch, bench/train_speed.py), the same training step, threads and batch.
# Usage: bench/train_speed.sh [--scale n] [--imgsz 320] [--batch 16] [--steps 10] [--threads 2]
set -euo pipefail
cd "$(dirname "$0")/.."
scale=n imgsz=320 batch=16 steps=10 threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale=$2; shift 2 ;;
    --imgsz) imgsz=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "train_speed.sh: unknown flag $1" >&2; exit 2 ;;
  esac
done
[ -x build/visionrt-train ] || { echo "build/visionrt-train absent (libtorch-dev not installed?)" >&2; exit 1; }
py=""
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "no python3 with torch (apt install python3-torch)" >&2; exit 1; }
v=$(build/visionrt-train --bench "$steps" --scale "$scale" --imgsz "$imgsz" --batch "$batch" --threads "$threads" | tail -1)
t=$("$py" bench/train_speed.py --scale "$scale" --imgsz "$imgsz" --batch "$batch" --steps "$steps" --threads "$threads" | tail -1)
echo "visionrt: $v"
echo "pytorch:  $t"
"$py" - "$v" "$t" <<'PY'
import json, sys
v, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert v["parameters"] == t["parameters"], "the two networks differ"
print(f"same network ({v['parameters']} parameters); step {v['ms_per_step']} ms vs {t['ms_per_step']} ms: "
      f"visionrt {t['ms_per_step'] / v['ms_per_step']:.2f}x eager PyTorch per image; "
      f"with YOLOv8's loss {v['full_step_ms']} ms")
PY
