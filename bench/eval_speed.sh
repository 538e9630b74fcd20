#!/usr/bin/env bash
# COCO bbox evaluation speed on ../shared/eval-golden/bench_bbox_5k (5,000 images, 37,344 GT,
# 187,998 detections): `visionrt eval` wall time (load + evaluate + accumulate + summarize,
# median of R runs) against pycocotools' 29.4 s recorded for the same files on this kind of
# machine (README of eval-golden). The goal is under one fifth of it.
# Usage: bench/eval_speed.sh [--runs R]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
[ "${1:-}" = "--runs" ] && runs=$2
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "eval_speed.sh: --runs takes a positive integer" >&2; exit 2; }
case=../shared/eval-golden/bench_bbox_5k
[ -f "$case/gt.json.gz" ] || { echo "eval_speed.sh: $case is absent" >&2; exit 2; }
[ -x build/visionrt ] || { echo "eval_speed.sh: build first (scripts/setup)" >&2; exit 2; }
times=()
for ((r = 0; r < runs; r++)); do
  s=$(date +%s.%N)
  build/visionrt eval --gt "$case/gt.json.gz" --dt "$case/dt.json.gz" >/dev/null
  times+=("$(awk -v a="$s" -v b="$(date +%s.%N)" 'BEGIN {print b - a}')")
done
med=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
awk -v m="$med" 'BEGIN {printf "visionrt eval bench_bbox_5k: median %.2f s; pycocotools 29.4 s; ratio %.1fx (goal >= 5x)\n", m, 29.4 / m}'
