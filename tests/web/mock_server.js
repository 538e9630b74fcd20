#!/usr/bin/env node
// A stand-in for `visionrt serve` (no dependencies) to develop and test web/index.html without
// the C++ server: serves the page at / and /index.html and answers /v2, /v2/health/*,
// /v2/repository/index and /v2/models/{name}/predict with canned answers that follow the
// server's contract. predict decodes nothing: a body starting with the PNG or JPEG magic gets a
// fixed detection list scaled to the size in its IHDR / SOF header, and the upload itself comes
// back as the overlay; anything else is a 400 {"error": ...}.
//
//   node tests/web/mock_server.js [--port N] [--host 127.0.0.1]     (port 0 = any free port)
//
// Prints "mock server listening on http://HOST:PORT" once it accepts connections.
// require('./mock_server.js').start({port, host}) does the same in-process and resolves to
// {server, url}.
"use strict";

const http = require("http");
const fs = require("fs");
const path = require("path");

const PAGE = path.join(__dirname, "..", "..", "web", "index.html");
const MAX_BODY = 64 << 20;

const MODELS = [
  { name: "yolov8n", version: "1", state: "READY", reason: "", task: "detect", family: "yolov8" },
  { name: "yolov8n-seg", version: "1", state: "READY", reason: "", task: "segment", family: "yolov8" },
  { name: "deeplabv3", version: "1", state: "READY", reason: "", task: "semantic", family: "deeplab" },
  { name: "ppocr-det", version: "1", state: "READY", reason: "", task: "text", family: "dbnet" },
  { name: "raw-net", version: "1", state: "READY", reason: "", task: null, family: null },
  { name: "broken", version: "1", state: "UNAVAILABLE", reason: "cannot read /mnt/models/broken.onnx",
    task: "detect", family: "yolov8" },
];

// Fixed detections in fractions of the image: [x1, y1, x2, y2], score, class id, label.
const CANNED = [
  [[0.10, 0.15, 0.45, 0.80], 0.912, 0, "person"],
  [[0.50, 0.40, 0.90, 0.75], 0.674, 2, "car"],
  [[0.60, 0.05, 0.80, 0.30], 0.418, 16, "dog"],
  [[0.05, 0.05, 0.15, 0.12], 0.120, 39, "bottle"], // below the default conf 0.25
];

// Width and height from a PNG IHDR or a JPEG SOFn header; null if neither is found.
function imageSize(buf) {
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (buf.length >= 24 && png.every((b, i) => buf[i] === b) && buf.toString("latin1", 12, 16) === "IHDR")
    return { kind: "png", width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
  if (buf.length >= 4 && buf[0] === 0xff && buf[1] === 0xd8) {
    let i = 2;
    while (i + 4 <= buf.length) {
      if (buf[i] !== 0xff) { i++; continue; }
      const m = buf[i + 1];
      if (m === 0xff) { i++; continue; }
      if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
      const len = buf.readUInt16BE(i + 2);
      const sof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
      if (sof && i + 9 <= buf.length)
        return { kind: "jpeg", width: buf.readUInt16BE(i + 7), height: buf.readUInt16BE(i + 5) };
      if (m === 0xd9 || m === 0xda) break; // end of image / start of scan before any SOF
      i += 2 + len;
    }
    return { kind: "jpeg", width: 0, height: 0 };
  }
  return null;
}

// COCO's compressed RLE string for a w x h mask that is 1 inside the box (column-major runs).
function rleBox(w, h, [x1, y1, x2, y2]) {
  const cx1 = Math.max(0, Math.floor(x1)), cx2 = Math.min(w, Math.ceil(x2));
  const cy1 = Math.max(0, Math.floor(y1)), cy2 = Math.min(h, Math.ceil(y2));
  const runs = [];
  let cur = 0, n = 0;
  for (let x = 0; x < w; x++)
    for (let y = 0; y < h; y++) {
      const v = x >= cx1 && x < cx2 && y >= cy1 && y < cy2 ? 1 : 0;
      if (v !== cur) { runs.push(n); n = 0; cur = v; }
      n++;
    }
  runs.push(n);
  let s = "";
  for (let i = 0; i < runs.length; i++) {
    let x = runs[i];
    if (i > 2) x -= runs[i - 2];
    for (let more = true; more;) {
      let c = x & 0x1f;
      x >>= 5;
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

function predictBody(model, body, query) {
  const size = imageSize(body);
  if (!size || !size.width || !size.height)
    return [400, { error: `cannot decode the image (${body.length} bytes)` }];
  const conf = query.has("conf") ? Number(query.get("conf")) : 0.25;
  const iou = query.has("iou") ? Number(query.get("iou")) : 0.7;
  if (!(conf >= 0 && conf <= 1) || !(iou >= 0 && iou <= 1))
    return [400, { error: "conf and iou must be numbers in [0, 1]" }];
  const { width: w, height: h } = size;
  const out = {
    model_name: model.name, task: model.task, family: model.family,
    image: { width: w, height: h }, detections: [],
  };
  for (const [f, score, class_id, label] of CANNED) {
    if (score < conf) continue;
    const box = [f[0] * w, f[1] * h, f[2] * w, f[3] * h].map((v) => Math.round(v * 100) / 100);
    const d = { box, score, class_id, label };
    if (model.task === "segment") d.mask = { size: [h, w], counts: rleBox(w, h, box) };
    if (model.task === "text") {
      d.label = "text";
      d.class_id = 0;
      d.polygon = [[box[0], box[1]], [box[2], box[1]], [box[2], box[3]], [box[0], box[3]]];
    }
    if (model.task !== "semantic") out.detections.push(d);
  }
  if (model.task === "semantic") {
    // As the server: the classes present (ascending), their names and pixel counts.
    const person = Math.round(w * h * 0.3), car = Math.round(w * h * 0.1);
    out.labels = { size: [h, w], classes: [0, 7, 15], names: ["background", "car", "person"],
      pixels: [w * h - person - car, car, person] };
  }
  out.timing_ms = { decode: 0.5, preprocess: 1.25, inference: 12.5, postprocess: 0.75, total: 15 };
  if (query.get("draw") === "1")
    out.overlay = `data:image/${size.kind};base64,${body.toString("base64")}`;
  return [200, out];
}

function sendJson(res, code, obj) {
  const s = JSON.stringify(obj);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(s) });
  res.end(s);
}

function handle(req, res) {
  const url = new URL(req.url, "http://x");
  const p = url.pathname;
  const chunks = [];
  let size = 0, tooBig = false;
  req.on("data", (c) => {
    size += c.length;
    if (size > MAX_BODY) tooBig = true;
    else chunks.push(c);
  });
  req.on("end", () => {
    if (tooBig) return sendJson(res, 413, { error: `request body over ${MAX_BODY} bytes` });
    const body = Buffer.concat(chunks);
    if (req.method === "GET" && (p === "/" || p === "/index.html")) {
      let html;
      try { html = fs.readFileSync(PAGE); } catch (e) { return sendJson(res, 500, { error: String(e) }); }
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Content-Length": html.length });
      return res.end(html);
    }
    if (req.method === "GET" && p === "/v2")
      return sendJson(res, 200, { name: "visionrt", version: "0.1.0",
        extensions: ["binary_tensor_data", "model_repository"] });
    if (req.method === "GET" && (p === "/v2/health/live" || p === "/v2/health/ready")) {
      res.writeHead(200, { "Content-Length": 0 });
      return res.end();
    }
    if (p === "/v2/repository/index") {
      if (req.method !== "POST") return sendJson(res, 405, { error: "use POST" });
      return sendJson(res, 200, MODELS);
    }
    const m = /^\/v2\/models\/([^/]+)\/predict$/.exec(p);
    if (m) {
      if (req.method !== "POST") return sendJson(res, 405, { error: "use POST" });
      const name = decodeURIComponent(m[1]);
      const model = MODELS.find((x) => x.name === name);
      if (!model) return sendJson(res, 404, { error: `unknown model '${name}'` });
      if (model.state !== "READY")
        return sendJson(res, 503, { error: `model '${name}' is not ready: ${model.reason}` });
      if (!model.task)
        return sendJson(res, 400, { error: `model '${name}' has no vision task; use /v2/models/${name}/infer` });
      const [code, obj] = predictBody(model, body, url.searchParams);
      return sendJson(res, code, obj);
    }
    sendJson(res, 404, { error: `no route for ${req.method} ${p}` });
  });
}

function start({ port = 0, host = "127.0.0.1" } = {}) {
  return new Promise((resolve, reject) => {
    const server = http.createServer(handle);
    server.on("error", reject);
    server.listen(port, host, () => {
      resolve({ server, url: `http://${host}:${server.address().port}` });
    });
  });
}

module.exports = { start, imageSize, rleBox, MODELS };

if (require.main === module) {
  const args = process.argv.slice(2);
  const opt = {};
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--port") opt.port = Number(args[++i]);
    else if (args[i] === "--host") opt.host = args[++i];
    else { console.error(`usage: node ${path.basename(__filename)} [--port N] [--host ADDR]`); process.exit(2); }
  }
  start(opt).then(({ url }) => console.log(`mock server listening on ${url}`),
    (e) => { console.error(`mock server: ${e.message}`); process.exit(1); });
}
