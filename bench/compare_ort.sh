#!/usr/bin/env bash
# Side-by-side latency of visionrt and ONNX Runtime on the same model file and the same thread
# budget, alternating the runtimes (A B A B ...) and quoting medians and the ratio, as
# ../shared/peers/README.md asks (this VM is shared and noisy: single absolute times mean little).
# Usage: bench/compare_ort.sh [--threads T] [--rounds R] [--seconds S] MODEL.onnx...
#        (default: every model under ../shared/models, 1 thread, 3 rounds of ~5 s per runtime)
# Prints one line per model: model, threads, visionrt median ms, ORT median ms, ratio ORT/visionrt
# (> 1 means visionrt is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
threads=1 rounds=3 seconds=5 models=()
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    -*) echo "compare_ort.sh: unknown option $1" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
[[ "$threads" =~ ^[1-9][0-9]*$ && "$rounds" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[1-9][0-9]*$ ]] ||
  { echo "compare_ort.sh: --threads/--rounds/--seconds take positive integers" >&2; exit 2; }
if [ ${#models[@]} -eq 0 ]; then
  [ -d ../shared/models ] || { echo "compare_ort.sh: no models given and ../shared/models is absent" >&2; exit 2; }
  mapfile -t models < <(find ../shared/models -name '*.onnx' -not -path '*/sources/*' | sort)
fi
[ -x build/visionrt ] || { echo "compare_ort.sh: build first (scripts/setup)" >&2; exit 2; }
peers=$(bash ../shared/peers/install.sh)
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
printf '%-48s %7s %12s %12s %8s\n' model threads visionrt_ms ort_ms ratio
for m in "${models[@]}"; do
  name=${m#../shared/models/}
  # The peer's bench script feeds float32 to every input: compare only such models.
  if build/visionrt info "$m" | awk '/^inputs:/ {f=1; next} /^outputs:/ {f=0} f && $2 != "f32" {bad=1} END {exit !bad}'; then
    printf '%-48s skipped: ORT bench feeds float32 only, this model has other input types\n' "$name"
    continue
  fi
  ours=() theirs=()
  for ((r = 0; r < rounds; r++)); do
    # visionrt: enough repeats to take about as long as the ORT window (first run excluded).
    first=$(build/visionrt run "$m" --threads "$threads" | awk '/first run/ {print $3}')
    reps=$(awk -v s="$seconds" -v f="$first" 'BEGIN {n = int(s * 1000 / (f > 0 ? f : 1)); print (n < 3 ? 3 : n)}')
    ours+=("$(build/visionrt run "$m" --threads "$threads" --repeat "$reps" | awk '/median/ {print $6}')")
    theirs+=("$(VISIONRT_PEERS="$peers" node ../shared/peers/ort_bench.js "$m" --threads "$threads" --seconds "$seconds" |
      sed -E 's/.*"median_ms":([0-9.]+).*/\1/')")
  done
  a=$(printf '%s\n' "${ours[@]}" | median)
  b=$(printf '%s\n' "${theirs[@]}" | median)
  printf '%-48s %7s %12.2f %12.2f %8.2f\n' "$name" "$threads" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN {print b / a}')"
done
