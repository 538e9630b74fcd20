#!/usr/bin/env node
// Headless-browser test of the page `visionrt serve` serves (web/index.html), in Debian's
// Chromium through playwright-core (never a downloaded browser).
//
//   node tests/web/page_test.js --url http://127.0.0.1:PORT --model NAME --image PATH \
//        --screenshot OUT.png [--expect-min N] [--video PATH | --record-video]
//   node tests/web/page_test.js --mock [--model NAME] [--image PATH] [--screenshot OUT.png] [--video PATH]
//
// Opens the page, picks NAME in #model, gives #file the image, waits for #status "done"
// (60 s; fails at once on "error" with the text of #error) and checks: the results table has at
// least N rows (default 1) and as many as the predict response has detections (for a semantic
// model: classes present), #overlay's natural size is the response's image size, and the
// full-page screenshot is not blank (decoded here with zlib: many colours or a large spread).
// --record-video records a short WebM in the browser (MediaRecorder) to use as the video.
// With --video, the video's frames are posted one by one: #status "done" after every frame
// sampled has an answer (one predict request each, #frames "frame N/N"). Last, a text file as
// input must end in #status "error" with a visible, non-empty #error.
// --mock runs tests/web/mock_server.js in-process (model yolov8n; a generated PNG, and a WebM
// recorded in the browser with MediaRecorder, unless --image / --video are given).
//
// playwright-core is resolved by require (NODE_PATH; CI sets it to
// $HOME/.cache/visionrt/web-test/node_modules, also tried when NODE_PATH misses it).
// Exit: 0 passed, 1 failed, 2 usage, 77 skipped (no playwright-core or no /usr/bin/chromium).
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const zlib = require("zlib");

const CHROMIUM = "/usr/bin/chromium";
const TIMEOUT_MS = 60000;

function usage(msg) {
  if (msg) console.error(`page_test: ${msg}`);
  console.error("usage: node tests/web/page_test.js --url URL --model NAME --image PATH " +
    "--screenshot OUT.png [--expect-min N] [--video PATH | --record-video]\n       node tests/web/page_test.js --mock " +
    "[--model NAME] [--image PATH] [--screenshot OUT.png] [--expect-min N]");
  process.exit(2);
}

function parseArgs(argv) {
  const o = { expectMin: 1, mock: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`));
    if (a === "--url") o.url = val();
    else if (a === "--model") o.model = val();
    else if (a === "--image") o.image = val();
    else if (a === "--screenshot") o.screenshot = val();
    else if (a === "--video") o.video = val();
    else if (a === "--expect-min") {
      o.expectMin = Number(val());
      if (!Number.isInteger(o.expectMin) || o.expectMin < 0) usage("--expect-min takes an integer >= 0");
    } else if (a === "--mock") o.mock = true;
    else if (a === "--record-video") o.recordVideo = true;
    else if (a === "-h" || a === "--help") usage();
    else usage(`unknown argument ${a}`);
  }
  if (o.mock) {
    if (o.url) usage("--mock and --url exclude each other");
    o.model = o.model || "yolov8n";
  } else {
    for (const k of ["url", "model", "image", "screenshot"]) if (!o[k]) usage(`--${k} is required`);
  }
  return o;
}

function loadPlaywright() {
  const tries = ["playwright-core",
    path.join(os.homedir(), ".cache", "visionrt", "web-test", "node_modules", "playwright-core")];
  let first;
  for (const t of tries) {
    try { return require(t); } catch (e) { first = first || e; }
  }
  return { error: first };
}

// ---- PNG: a minimal encoder (test input) and decoder (screenshot check) over zlib ----
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();
function crc32(buf) {
  let c = -1;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "latin1");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}
function encodePng(w, h, rgb) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) rgb.copy(raw, y * (w * 3 + 1) + 1, y * w * 3, (y + 1) * w * 3);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB, deflate, no filter method, no interlace
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr), chunk("IDAT", zlib.deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}
// A colourful test picture: gradients plus a few solid shapes.
function testPicture(w, h) {
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      let r = (x * 255) / (w - 1), g = (y * 255) / (h - 1), b = 128 + 100 * Math.sin((x + y) / 17);
      if ((x - w * 0.3) ** 2 + (y - h * 0.5) ** 2 < (h * 0.2) ** 2) [r, g, b] = [230, 40, 40];
      if (x > w * 0.6 && x < w * 0.85 && y > h * 0.2 && y < h * 0.6) [r, g, b] = [30, 60, 200];
      const i = (y * w + x) * 3;
      rgb[i] = r; rgb[i + 1] = g; rgb[i + 2] = b;
    }
  return encodePng(w, h, rgb);
}

// Decodes an 8-bit, non-interlaced greyscale / grey+alpha / RGB / RGBA PNG to
// {width, height, channels, data} (unfiltered rows, no padding).
function decodePng(buf) {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (buf.length < 8 || !sig.every((b, i) => buf[i] === b)) throw new Error("not a PNG file");
  let pos = 8, ihdr = null;
  const idat = [];
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32BE(pos), type = buf.toString("latin1", pos + 4, pos + 8);
    const data = buf.subarray(pos + 8, pos + 8 + len);
    if (data.length !== len) throw new Error(`PNG chunk ${type} is truncated`);
    if (type === "IHDR") ihdr = data;
    else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    pos += 12 + len;
  }
  if (!ihdr) throw new Error("PNG has no IHDR");
  const width = ihdr.readUInt32BE(0), height = ihdr.readUInt32BE(4);
  const depth = ihdr[8], ctype = ihdr[9], interlace = ihdr[12];
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[ctype];
  if (depth !== 8 || !channels) throw new Error(`PNG bit depth ${depth} / colour type ${ctype} not supported`);
  if (interlace !== 0) throw new Error("interlaced PNG not supported");
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const bpp = channels, stride = width * bpp;
  if (raw.length < (stride + 1) * height) throw new Error("PNG image data is short");
  const out = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const ft = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = out.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? out.subarray((y - 1) * stride, y * stride) : null;
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? row[i - bpp] : 0;
      const b = prev ? prev[i] : 0;
      const c = prev && i >= bpp ? prev[i - bpp] : 0;
      let v;
      switch (ft) {
        case 0: v = src[i]; break;
        case 1: v = src[i] + a; break;
        case 2: v = src[i] + b; break;
        case 3: v = src[i] + ((a + b) >> 1); break;
        case 4: {
          const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          v = src[i] + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
          break;
        }
        default: throw new Error(`PNG row ${y}: bad filter type ${ft}`);
      }
      row[i] = v & 0xff;
    }
  }
  return { width, height, channels, data: out };
}

// Distinct RGB colours and the standard deviation of all colour samples.
function pictureStats(img) {
  const { width, height, channels, data } = img;
  const seen = new Set();
  let sum = 0, sum2 = 0, n = 0;
  for (let p = 0; p < width * height; p++) {
    const i = p * channels;
    const r = data[i], g = channels >= 3 ? data[i + 1] : r, b = channels >= 3 ? data[i + 2] : r;
    seen.add((r << 16) | (g << 8) | b);
    sum += r + g + b;
    sum2 += r * r + g * g + b * b;
    n += 3;
  }
  const mean = sum / n;
  return { colours: seen.size, std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)) };
}

// A 2 s, 320x240 VP8 WebM recorded from an animated canvas in the browser itself.
async function recordTestVideo(browser, file) {
  const page = await browser.newPage();
  try {
    const b64 = await page.evaluate(async () => {
      const c = document.createElement("canvas");
      c.width = 320; c.height = 240;
      const ctx = c.getContext("2d");
      const rec = new MediaRecorder(c.captureStream(25), { mimeType: "video/webm;codecs=vp8" });
      const parts = [];
      rec.ondataavailable = (e) => parts.push(e.data);
      const stopped = new Promise((r) => (rec.onstop = r));
      rec.start(100);
      const t0 = performance.now();
      await new Promise((resolve) => {
        (function draw() {
          const t = (performance.now() - t0) / 1000;
          const g = ctx.createLinearGradient(0, 0, 320, 240);
          g.addColorStop(0, `hsl(${t * 90}, 80%, 50%)`);
          g.addColorStop(1, `hsl(${t * 90 + 180}, 80%, 50%)`);
          ctx.fillStyle = g;
          ctx.fillRect(0, 0, 320, 240);
          ctx.fillStyle = "#fff";
          ctx.beginPath();
          ctx.arc(40 + t * 100, 120, 30, 0, 7);
          ctx.fill();
          if (t < 2) requestAnimationFrame(draw); else resolve();
        })();
      });
      rec.stop();
      await stopped;
      const u = new Uint8Array(await new Blob(parts).arrayBuffer());
      let s = "";
      for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
      return btoa(s);
    });
    fs.writeFileSync(file, Buffer.from(b64, "base64"));
  } finally {
    await page.close();
  }
}

const statusDoneOrError = () => {
  const s = document.getElementById("status").textContent.trim();
  return s === "done" || s === "error" ? s : false;
};

// ---- the test ----
async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const pw = loadPlaywright();
  if (pw.error) {
    console.log(`SKIP: playwright-core cannot be required (${pw.error.message.split("\n")[0]}); ` +
      "install it with: mkdir -p ~/.cache/visionrt/web-test && cd ~/.cache/visionrt/web-test && " +
      "npm install --no-audit --no-fund playwright-core@1");
    process.exit(77);
  }
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`SKIP: ${CHROMIUM} is absent (apt-get install chromium)`);
    process.exit(77);
  }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "visionrt-web-"));
  let mock = null;
  if (opt.mock) {
    mock = await require("./mock_server.js").start({ port: 0 });
    opt.url = mock.url;
    if (!opt.image) {
      opt.image = path.join(tmp, "picture.png");
      fs.writeFileSync(opt.image, testPicture(320, 240));
    }
    opt.screenshot = opt.screenshot || path.join(tmp, "page.png");
  }
  if (!fs.existsSync(opt.image)) usage(`--image ${opt.image}: no such file`);

  let passed = 0;
  const failures = [];
  const check = (name, ok, detail) => {
    if (ok) { passed++; console.log(`ok   ${name}${detail ? ` (${detail})` : ""}`); }
    else { failures.push(name); console.log(`FAIL ${name}${detail ? `: ${detail}` : ""}`); }
    return ok;
  };

  const browser = await pw.chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const pageErrors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on("pageerror", (e) => pageErrors.push(e.message));
    let predictPosts = 0;
    page.on("request", (r) => { if (/\/predict(\?|$)/.test(r.url()) && r.method() === "POST") predictPosts++; });
    page.on("console", (m) => { if (process.env.VERBOSE) console.log(`console.${m.type()}: ${m.text()}`); });

    const base = opt.url.replace(/\/+$/, "") + "/";
    const nav = await page.goto(base, { waitUntil: "load" });
    if (!check("page loads", nav && nav.ok(), nav ? `HTTP ${nav.status()}` : "no response")) throw new Error("stop");
    check("title is visionrt serve", (await page.textContent("h1")).trim() === "visionrt serve");

    // The model list comes from /v2/repository/index after load.
    let listed = false;
    try {
      await page.waitForFunction((name) => {
        const s = document.getElementById("model");
        return s && Array.from(s.options).some((o) => o.value === name);
      }, opt.model, { timeout: 30000 });
      listed = true;
    } catch (e) { /* reported below */ }
    const options = await page.$$eval("#model option", (os) => os.map((o) => o.value + (o.disabled ? " (disabled)" : "")));
    if (!check(`#model lists ${opt.model}`, listed, `options: ${options.join(", ") || "none"}`)) throw new Error("stop");
    const disabled = await page.$eval("#model", (s, n) => Array.from(s.options).find((o) => o.value === n).disabled, opt.model);
    if (!check(`${opt.model} is selectable`, !disabled, disabled ? "disabled option: not READY or no vision task" : "")) throw new Error("stop");
    await page.selectOption("#model", opt.model);
    const server = (await page.innerText("#server")).replace(/\s+/g, " ").trim();
    check("header shows the server", /visionrt/.test(server), server);

    // The image: wait for the predict response and for #status "done" (or "error").
    // The body is read as soon as the response arrives: Chromium may drop it from the
    // inspector's cache once the page has consumed it.
    const respWait = page.waitForResponse((r) => /\/predict(\?|$)/.test(r.url()) && r.request().method() === "POST",
      { timeout: TIMEOUT_MS }).then(async (r) => ({ r, text: await r.text() }));
    respWait.catch(() => {});
    const t0 = Date.now();
    await page.setInputFiles("#file", opt.image);
    const status = await page.waitForFunction(statusDoneOrError, null, { timeout: TIMEOUT_MS })
      .then((h) => h.jsonValue());
    if (status === "error") {
      const err = (await page.textContent("#error")).trim();
      check("image prediction", false, `#status is "error", #error: ${err || "(empty)"}`);
      throw new Error("stop");
    }
    check("image prediction", true, `#status done after ${Date.now() - t0} ms`);
    const { r: resp, text: respText } = await respWait;
    check("predict answers 200", resp.status() === 200, `HTTP ${resp.status()} ${resp.url()}`);
    const q = new URL(resp.url()).searchParams;
    check("predict query has conf, iou, draw=1", q.get("conf") === "0.25" && q.get("iou") === "0.7" && q.get("draw") === "1",
      new URL(resp.url()).search);
    const json = JSON.parse(respText);
    const dets = Array.isArray(json.detections) ? json.detections : [];
    let expected = dets.length, what = "detections";
    if (json.task === "semantic") {
      const cls = (json.labels && json.labels.classes) || [];
      expected = new Set(cls).size;
      what = "classes present";
    }
    const rows = await page.$$eval("#results tbody tr", (r) => r.length);
    check(`results table has >= ${opt.expectMin} rows`, rows >= opt.expectMin, `${rows} rows`);
    check(`one row per ${what}`, rows === expected, `${rows} rows, response has ${expected} ${what}`);
    const nat = await page.$eval("#overlay", (i) => ({ w: i.naturalWidth, h: i.naturalHeight, complete: i.complete }));
    const img = json.image || {};
    check("#overlay is the response's image size", nat.complete && nat.w === img.width && nat.h === img.height,
      `overlay ${nat.w}x${nat.h}, response image ${img.width}x${img.height}`);
    if (dets.length && rows === dets.length && json.task !== "semantic") {
      const first = await page.$$eval("#results tbody tr:first-child td", (t) => t.map((c) => c.textContent));
      check("first row shows label and score", first.some((c) => c.includes(String(dets[0].label))) &&
        first.includes(dets[0].score.toFixed(3)), first.join(" | "));
    }
    const lat = (await page.innerText("#latency")).replace(/\s+/g, " ").trim();
    check("#latency shows server and round-trip ms", /ms/.test(lat) && /round trip/.test(lat), lat);

    fs.mkdirSync(path.dirname(path.resolve(opt.screenshot)), { recursive: true });
    await page.screenshot({ path: opt.screenshot, fullPage: true });
    const png = decodePng(fs.readFileSync(opt.screenshot));
    const st = pictureStats(png);
    check("screenshot is not blank", st.colours > 1000 || st.std > 40,
      `${opt.screenshot}: ${png.width}x${png.height}, ${st.colours} colours, std ${st.std.toFixed(1)}`);

    // Video: every sampled frame posted in turn, the last overlay shown, then "done".
    if ((opt.mock || opt.recordVideo) && !opt.video) {
      opt.video = path.join(tmp, "clip.webm");
      await recordTestVideo(browser, opt.video);
    }
    if (opt.video) {
      predictPosts = 0;
      const vt0 = Date.now();
      await page.setInputFiles("#file", opt.video);
      const vs = await page.waitForFunction(statusDoneOrError, null, { timeout: 4 * TIMEOUT_MS })
        .then((h) => h.jsonValue());
      const frames = (await page.textContent("#frames")).trim();
      if (vs === "error") {
        check("video prediction", false, `#status is "error", #error: ${(await page.textContent("#error")).trim()}`);
      } else {
        const fm = /frame (\d+)\/(\d+)/.exec(frames);
        check("video prediction", !!fm && +fm[1] === +fm[2] && +fm[1] >= 1,
          `#frames "${frames}" after ${Date.now() - vt0} ms`);
        check("one predict request per frame", !!fm && predictPosts === +fm[2], `${predictPosts} requests`);
        const vlat = (await page.innerText("#latency")).replace(/\s+/g, " ");
        check("#latency shows the video average", /average/.test(vlat), vlat);
        const vn = await page.$eval("#overlay", (i) => i.naturalWidth);
        check("video overlay shown", vn > 0, `naturalWidth ${vn}`);
      }
    }

    // Bad input: a text file must end in "error" with the server's message shown.
    const bad = path.join(tmp, "not-an-image.txt");
    fs.writeFileSync(bad, "this is not an image\n");
    const badWait = page.waitForResponse((r) => /\/predict(\?|$)/.test(r.url()), { timeout: TIMEOUT_MS });
    await page.setInputFiles("#file", bad);
    const badStatus = await page.waitForFunction(statusDoneOrError, null, { timeout: TIMEOUT_MS }).then((h) => h.jsonValue()).catch((e) => `timeout (${e.message.split("\n")[0]})`);
    // "done" can only be stale here if the page never started the new request.
    const badResp = await badWait;
    check("bad input is refused by the server", badResp.status() >= 400 && badResp.status() < 600, `HTTP ${badResp.status()}`);
    check("bad input ends in #status error", badStatus === "error", `#status ${badStatus}`);
    const errText = (await page.textContent("#error")).trim();
    const errVisible = await page.isVisible("#error");
    const colour = await page.$eval("#error", (e) => getComputedStyle(e).color);
    const [r, g] = (colour.match(/\d+/g) || []).map(Number);
    check("#error shows the message, visible and red", errText.length > 0 && errVisible && r > 150 && g < 100,
      `"${errText}", colour ${colour}`);
    check("no uncaught page errors", pageErrors.length === 0, pageErrors.join("; "));
  } catch (e) {
    if (e.message !== "stop") failures.push(`exception: ${e.message.split("\n")[0]}`) && console.log(`FAIL ${e.stack}`);
  } finally {
    await browser.close().catch(() => {});
    if (mock) mock.server.close();
    // The temporary folder goes, unless the screenshot was written into it (--mock default).
    if (path.resolve(opt.screenshot).startsWith(tmp + path.sep)) {
      for (const f of ["not-an-image.txt", "picture.png", "clip.webm"]) fs.rmSync(path.join(tmp, f), { force: true });
    }
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`page_test: ${passed} passed, ${failures.length} failed`);
  if (failures.length) {
    console.log(`failed: ${failures.join("; ")}`);
    process.exit(1);
  }
  process.exit(0);
}

const watchdog = setTimeout(() => {
  console.log("FAIL web page test: overall timeout (240 s)");
  process.exit(1);
}, 240000);
watchdog.unref();

main().catch((e) => {
  console.log(`FAIL web page test: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
