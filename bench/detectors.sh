#!/usr/bin/env bash
# torchvision's detectors exported with their post-processing (bench/detectors_export.py: random
# weights, opset 11, If/Loop/NonMaxSuppression/RoiAlign/TopK inside): visionrt's detections
# against PyTorch's on the same image, and speed against ONNX Runtime (same file, same input).
#
# Usage: bench/detectors.sh [--out DIR] [--models a,b] [--threads "1 2"] [--seconds S] [--no-export]
#   --out DIR   model cache and results (default ${VISIONRT_CACHE:-$HOME/.cache/visionrt}/detectors)
#   --models    names from bench/detectors_export.py --list (default: all)
# Parity: detections compared in order (boxes, scores, labels: max |difference|); "ties" when
# PyTorch's scores repeat (random weights often tie; the order among ties is then arbitrary and
# the comparison weak). Needs python3-torchvision (export), numpy, node and ../shared/peers.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${VISIONRT_CACHE:-$HOME/.cache/visionrt}
out=$cache/detectors models="" threads="1 2" seconds=5 do_export=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --no-export) do_export=0; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "detectors.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "detectors.sh: --seconds takes a positive integer" >&2; exit 2; }
py=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "detectors.sh: needs python3 with numpy" >&2; exit 2; }
mkdir -p "$out"
names=$(IFS=,; echo ${models:-})
if [ "$do_export" = 1 ]; then
  tpy=""
  for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torchvision' 2>/dev/null; then tpy=$p; break; fi
  done
  [ -n "$tpy" ] || { echo "detectors.sh: no python3 with torchvision (apt install python3-torchvision)" >&2; exit 2; }
  todo=()
  for n in ${names:-$("$tpy" bench/detectors_export.py --list)}; do
    [ -f "$out/$n.onnx" ] || todo+=("$n")
  done
  [ ${#todo[@]} -eq 0 ] || "$tpy" bench/detectors_export.py "$out" "${todo[@]}"
fi
[ -n "$names" ] || names=$(find "$out" -maxdepth 1 -name '*.onnx' -printf '%f\n' | sed 's/\.onnx$//' | sort)
peers=$(bash ../shared/peers/install.sh)
export VISIONRT_PEERS=$peers NODE_PATH=$peers/node_modules
field() { sed -nE "s/.*\"$1\":([0-9.]+).*/\1/p"; }
printf '%-40s %-34s' model "parity vs PyTorch"
for t in $threads; do printf ' | %8s %8s %5s' "vrt@$t" "ort@$t" ratio; done
echo
for n in $names; do
  m=$out/$n.onnx
  [ -f "$m" ] || { echo "$n: no $m"; continue; }
  rm -rf "$out/$n.vrt"
  if ! build/visionrt run "$m" --input "image=$out/${n}_in.npy" --precision f32 \
      --save-outputs "$out/$n.vrt" >"$out/$n.log" 2>&1; then
    echo "$n: visionrt failed: $(tail -1 "$out/$n.log")"; continue
  fi
  parity=$("$py" - "$out" "$n" <<'PY'
import glob, os, sys
import numpy as np
out, n = sys.argv[1], sys.argv[2]
ref = {os.path.basename(f)[len(n) + 7:-4]: np.load(f) for f in glob.glob(f"{out}/{n}_torch_*.npy")}
vrt = {k: np.load(f"{out}/{n}.vrt/{k}.npy") for k in ref if os.path.exists(f"{out}/{n}.vrt/{k}.npy")}
if set(vrt) != set(ref):
    print("missing outputs", sorted(set(ref) - set(vrt))); sys.exit()
cnt = f"{len(vrt['scores'])}/{len(ref['scores'])} dets"
if vrt["scores"].shape != ref["scores"].shape:
    print(cnt, "count differs"); sys.exit()
ties = np.unique(ref["scores"]).size < ref["scores"].size
d = {k: float(np.abs(vrt[k].astype(np.float64) - ref[k].astype(np.float64)).max(initial=0)) for k in ("boxes", "scores")}
lab = float((vrt["labels"] == ref["labels"]).mean()) if ref["labels"].size else 1.0
print(f"{cnt} box {d['boxes']:.1e} score {d['scores']:.1e} labels {lab:.0%}{' ties' if ties else ''}")
PY
)
  printf '%-40s %-34s' "$n" "$parity"
  for t in $threads; do
    v=$(build/visionrt run "$m" --input "image=$out/${n}_in.npy" --precision f32 --threads "$t" \
        --seconds "$seconds" --json 2>/dev/null | tail -1 | field median_ms)
    o=$(node ../shared/peers/ort_bench.js "$m" --threads "$t" --parallel 1 --seconds "$seconds" \
        "image=$out/${n}_in.npy" 2>/dev/null | tail -1 | field median_ms)
    printf ' | %8.1f %8.1f %5s' "${v:-0}" "${o:-0}" \
      "$(awk -v a="${v:-0}" -v b="${o:-0}" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", b / a; else print "-" }')"
  done
  echo
done
