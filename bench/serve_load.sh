#!/usr/bin/env bash
# `visionrt serve` under load against the runtime without HTTP: starts the server on the model
# (as "m", 127.0.0.1, any free port), runs serve_load in binary mode (binary tensor extension both
# ways) and in JSON mode, each with --check (every reply's outputs must equal the first one's),
# stops the server with SIGTERM (it must exit 0), then runs `visionrt benchmark -hint throughput`
# for 10 s on the same model (after the server is gone, so that the two never share the cores),
# and prints server req/s against benchmark FPS and the server's p50/p99 latency.
# Usage: [BUILD=build] bench/serve_load.sh MODEL.onnx [REQUESTS (2000)] [CLIENTS (16)]
# Exit status: 1 if any request failed or the server did not stop cleanly.
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,9p' "$0"; exit 2; }
[ -f "$1" ] || { echo "serve_load.sh: $1: no such file" >&2; exit 2; }
model=$(realpath "$1") requests=${2:-2000} clients=${3:-16}
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
[[ "$requests" =~ ^[1-9][0-9]*$ && "$clients" =~ ^[1-9][0-9]*$ ]] ||
  { echo "serve_load.sh: REQUESTS and CLIENTS are positive integers" >&2; exit 2; }
for b in visionrt serve_load; do
  [ -x "$BUILD/$b" ] || { echo "serve_load.sh: $BUILD/$b missing (cmake --build $BUILD --target visionrt_cli serve_load)" >&2; exit 2; }
done
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$BUILD/visionrt" serve -m "m=$model" --host 127.0.0.1 --port 0 --port-file "$work/port" \
  2>"$work/server.log" &
pid=$!
for ((i = 0; i < 1200; i++)); do  # up to 120 s: a large model compiles first
  [ -s "$work/port" ] && break
  kill -0 "$pid" 2>/dev/null || { echo "serve_load.sh: the server exited:" >&2; cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/port" ] || { echo "serve_load.sh: the server did not start in 120 s" >&2; exit 1; }
url=http://127.0.0.1:$(cat "$work/port")

status=0
for mode in binary json; do
  echo "== serve_load --mode $mode ($requests requests, $clients clients)"
  "$BUILD/serve_load" --url "$url" --model m --mode "$mode" --requests "$requests" \
    --clients "$clients" --check --json "$work/$mode.json" || status=1
done

kill -TERM "$pid"
server_rc=0
wait "$pid" || server_rc=$?
pid=
if [ "$server_rc" != 0 ]; then
  echo "serve_load.sh: the server exited $server_rc after SIGTERM:" >&2
  tail -n 20 "$work/server.log" >&2
  status=1
fi

echo "== visionrt benchmark -hint throughput -t 10"
"$BUILD/visionrt" benchmark -m "$model" -hint throughput -t 10 >"$work/bench.txt" 2>&1 ||
  { cat "$work/bench.txt" >&2; exit 1; }
fps=$(sed -nE 's/^Throughput: *([0-9.]+) FPS.*/\1/p' "$work/bench.txt")
[ -n "$fps" ] || { echo "serve_load.sh: no Throughput line from visionrt benchmark:" >&2; cat "$work/bench.txt" >&2; exit 1; }
grep -E '^(Count|Duration|Throughput|Latency|  *Median)' "$work/bench.txt" || true

for mode in binary json; do
  [ -s "$work/$mode.json" ] || { echo "serve_load.sh: serve_load --mode $mode gave no numbers" >&2; exit 1; }
done
field() { sed -nE "s/.*\"$2\": *([0-9.eE+-]+).*/\1/p" "$work/$1.json"; }
lat() { printf '%.1f / %.1f' "$(field "$1" p50_ms)" "$(field "$1" p99_ms)"; }
echo
printf '%-20s %10s %10s %10s %9s %10s %15s %15s %6s\n' model "bin req/s" "JSON req/s" "bench FPS" \
  "bin/bench" "JSON/bench" "bin p50/p99 ms" "JSON p50/p99 ms" errors
awk -v m="$(basename "$model")" -v b="$(field binary throughput_rps)" -v j="$(field json throughput_rps)" \
  -v f="$fps" -v lb="$(lat binary)" -v lj="$(lat json)" \
  -v e="$(($(field binary errors) + $(field json errors)))" \
  'BEGIN {printf "%-20s %10.1f %10.1f %10.1f %9.2f %10.2f %15s %15s %6d\n", m, b, j, f, b / f, j / f, lb, lj, e}'
echo "server: SIGTERM -> exit $server_rc"
exit "$status"
