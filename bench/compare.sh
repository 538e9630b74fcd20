#!/usr/bin/env bash
# visionrt against ONNX Runtime and OpenCV DNN on the same model file and the same input, in one
# run, alternating the runtimes (A B C A B C ...) and quoting medians and ratios, as
# ../shared/peers/README.md asks (this VM is shared and noisy: single absolute times mean little).
#
# Usage: bench/compare.sh [--rounds R] [--seconds S] [--configs "1x1 2x1 1x2"] [--no-opencv]
#                         [MODEL.onnx...]
#   default models: every model under ../shared/models plus the SSD300-VGG16 network visionrt
#   builds itself (written to a temporary folder); default 2 rounds of 3 s per runtime/config.
#   Configs TxP: T intra-op threads per request, P parallel requests (ORT: P sessions in P
#   worker threads; visionrt: P InferRequests in P threads; OpenCV: P nets, one shared pool).
# Columns: for P = 1 the median latency in ms and the ratio peer/visionrt (> 1: visionrt is
# faster); for P > 1 the throughput in FPS and the ratio visionrt/peer. Peak RSS (MiB) of each
# process, and visionrt's load-to-first-inference (read + compile + first run).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=2 seconds=3 configs="1x1 2x1 1x2" opencv=1 models=()
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --configs) configs=$2; shift 2 ;;
    --no-opencv) opencv=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[1-9][0-9]*$ ]] ||
  { echo "compare.sh: --rounds/--seconds take positive integers" >&2; exit 2; }
for c in $configs; do
  [[ "$c" =~ ^[1-9][0-9]*x[1-9][0-9]*$ ]] || { echo "compare.sh: config '$c' is not TxP" >&2; exit 2; }
done
[ -x build/visionrt ] || { echo "compare.sh: build first (scripts/setup)" >&2; exit 2; }
command -v /usr/bin/time >/dev/null || { echo "compare.sh: needs GNU time (apt install time)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ ${#models[@]} -eq 0 ]; then
  if [ -d ../shared/models ]; then
    mapfile -t models < <(find ../shared/models -name '*.onnx' -not -path '*/sources/*' | sort)
  fi
  build/visionrt demo-model --kind ssd300-vgg16 "$work/ssd300_vgg16.onnx" >/dev/null
  models+=("$work/ssd300_vgg16.onnx")
fi
peers=$(bash ../shared/peers/install.sh)
[ "$opencv" = 1 ] && [ ! -x build/opencv_dnn_bench ] && { echo "compare.sh: build/opencv_dnn_bench missing (libopencv-dev); OpenCV column skipped" >&2; opencv=0; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { sed -nE "s/.*\"$1\":([0-9.]+).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "nan" || b == "nan" || a + 0 == 0) print "-"; else printf "%.2f", b / a}'; }
# run NAME OUTFILE CMD...: runs CMD under GNU time; appends "<json> rss=<KiB>" to OUTFILE.
run() {
  local out=$2; shift 2
  local json
  json=$(/usr/bin/time -f '%M' -o "$work/rss" "$@" 2>"$work/err" | tail -1) || json='{"error":1}'
  echo "$json rss=$(tail -1 "$work/rss")" >>"$out"
}

printf '%-34s %-5s %10s %10s %6s %10s %6s %8s %8s %8s\n' model TxP visionrt ort ratio opencv ratio rss_vrt rss_ort load_ms
for m in "${models[@]}"; do
  name=$(basename "$m" .onnx)
  inputs=$(mktemp -d -p "$work")
  if ! VISIONRT_PEERS="$peers" node ../shared/peers/ort_run.js "$m" "$inputs" --random 1 >/dev/null 2>&1; then
    printf '%-34s skipped: ONNX Runtime cannot run it\n' "$name"; continue
  fi
  feeds=() vfeeds=()
  for f in "$inputs"/input_*.npy; do
    n=$(basename "$f" .npy); n=${n#input_}
    feeds+=("$n=$f"); vfeeds+=(--input "$n=$f")
  done
  for c in $configs; do
    t=${c%x*} p=${c#*x}
    : >"$work/v" ; : >"$work/o" ; : >"$work/c"
    for ((r = 0; r < rounds; r++)); do
      run visionrt "$work/v" build/visionrt run "$m" "${vfeeds[@]}" --threads "$t" --parallel "$p" \
        --seconds "$seconds" --json --precision f32
      run ort "$work/o" env VISIONRT_PEERS="$peers" node ../shared/peers/ort_bench.js "$m" \
        --threads "$t" --parallel "$p" --seconds "$seconds" "${feeds[@]}"
      [ "$opencv" = 1 ] && run opencv "$work/c" build/opencv_dnn_bench "$m" --threads "$t" \
        --parallel "$p" --seconds "$seconds" "${feeds[@]}"
    done
    key=median_ms; [ "$p" -gt 1 ] && key=fps
    v=$(field "$key" <"$work/v" | median) o=$(field "$key" <"$work/o" | median)
    cv=$(field "$key" <"$work/c" | median)
    if [ "$p" -gt 1 ]; then r1=$(ratio "$o" "$v") r2=$(ratio "$cv" "$v"); else r1=$(ratio "$v" "$o") r2=$(ratio "$v" "$cv"); fi
    rv=$(sed -nE 's/.*rss=([0-9]+).*/\1/p' "$work/v" | median) ro=$(sed -nE 's/.*rss=([0-9]+).*/\1/p' "$work/o" | median)
    load=$(field load_ms <"$work/v" | median)
    printf '%-34s %-5s %10s %10s %6s %10s %6s %8.0f %8.0f %8s\n' "${name:0:34}" "$c" "$v" "$o" "$r1" \
      "${cv/nan/-}" "$r2" "$(awk -v k="$rv" 'BEGIN {print k / 1024}')" "$(awk -v k="$ro" 'BEGIN {print k / 1024}')" "$load"
  done
done
