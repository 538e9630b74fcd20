#!/usr/bin/env node
// ONNX Runtime's own per-node profile of one model, to set beside visionrt's
// (`visionrt run MODEL --random --threads T --repeat N --pc`): which layers the peer runs faster
// is a measurement, not a guess. ORT renames the nodes it fuses (".._nchwc" for its blocked
// convolutions), so nodes are matched by op and shape by eye, not by name.
//
// Usage: node bench/ort_profile.js MODEL.onnx [--runs N] [--threads T] [--top K]
// Prints the median model_run time, per-op totals and the K slowest nodes (median over the runs
// after the first 10, in microseconds). Inputs are 0.5 everywhere, as ../shared/peers/ort_bench.js.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const args = process.argv.slice(2);
const o = { model: null, runs: 100, threads: 1, top: 25 };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--runs') o.runs = Number(args[++i]);
  else if (a === '--threads') o.threads = Number(args[++i]);
  else if (a === '--top') o.top = Number(args[++i]);
  else if (a.startsWith('-')) { console.error(`ort_profile.js: unknown option ${a}`); process.exit(2); }
  else o.model = a;
}
if (!o.model || !(o.runs > 10) || !(o.threads >= 1) || !(o.top >= 1)) {
  console.error('usage: node bench/ort_profile.js MODEL.onnx [--runs N>10] [--threads T] [--top K]');
  process.exit(2);
}
if (!fs.existsSync(o.model)) { console.error(`ort_profile.js: ${o.model}: no such file`); process.exit(2); }
const peers = process.env.VISIONRT_PEERS || path.join(os.homedir(), '.cache/visionrt-peers');
const ort = require(path.join(peers, 'node_modules', 'onnxruntime-node'));

const median = v => { const s = [...v].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };

(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort_profile_'));
  try {
    const sess = await ort.InferenceSession.create(path.resolve(o.model), {
      intraOpNumThreads: o.threads, interOpNumThreads: 1, executionMode: 'sequential',
      graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: path.join(dir, 'p') });
    const feeds = {};
    for (const name of sess.inputNames) {
      const meta = (sess.inputMetadata || []).find(m => m.name === name);
      const shape = meta.shape.map(d => (typeof d === 'number' && d > 0 ? d : 1));
      feeds[name] = new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.5), shape);
    }
    for (let i = 0; i < o.runs; ++i) await sess.run(feeds);
    sess.endProfiling();
    const file = fs.readdirSync(dir).filter(f => f.endsWith('.json')).map(f => path.join(dir, f))[0];
    if (!file) throw new Error('ONNX Runtime wrote no profile');
    const events = JSON.parse(fs.readFileSync(file, 'utf8'));
    const runs = events.filter(e => e.name === 'model_run').map(e => e.dur).slice(10);
    const nodes = new Map();
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const n = e.name.slice(0, -'_kernel_time'.length);
      if (!nodes.has(n)) nodes.set(n, { op: e.args.op_name, dur: [] });
      nodes.get(n).dur.push(e.dur);
    }
    const rows = [...nodes].map(([name, v]) => ({ name, op: v.op, us: median(v.dur.slice(10)) }))
      .sort((a, b) => b.us - a.us);
    const byOp = new Map();
    for (const r of rows) byOp.set(r.op, (byOp.get(r.op) || 0) + r.us);
    const total = rows.reduce((s, r) => s + r.us, 0);
    console.log(`${path.basename(o.model)}: ORT ${o.threads} thread(s), ${o.runs} runs: model_run median ` +
                `${(median(runs) / 1000).toFixed(3)} ms, node medians sum ${(total / 1000).toFixed(3)} ms, ${rows.length} nodes`);
    console.log('op                          us per run      %');
    for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]))
      console.log(`${op.padEnd(24)} ${us.toFixed(0).padStart(10)} ${(100 * us / total).toFixed(2).padStart(6)}`);
    console.log('\nnode                                                          op              us');
    for (const r of rows.slice(0, o.top))
      console.log(`${r.name.slice(-60).padEnd(60)}  ${r.op.padEnd(14)} ${r.us.toFixed(0).padStart(6)}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
})().catch(e => { console.error(`ort_profile.js: ${e.message || e}`); process.exit(1); });
