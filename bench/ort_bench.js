// Times onnxruntime (CPU) on an ONNX file the same way `cwb bench` times the engine: random input with the
// first graph input's shape (batch replaced), warm-up runs, then timed runs; prints the same JSON keys.
// usage: node ort_bench.js MODEL.onnx --batch B --threads T --iterations N --warmup W [--input NAME=IN.npy ...]
'use strict';
const path = require('path');
const ort = require('onnxruntime-node');
const { readNpy } = require(path.join(__dirname, '..', 'tests', 'tools', 'ort_run.js'));

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main() {
  const model = process.argv[2];
  const batch = option('batch', 1), threads = option('threads', 1);
  const iterations = option('iterations', 100), warmup = option('warmup', 10);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  // --input NAME=PATH (repeatable): the inputs as .npy files, the same files `cwb bench --input` takes.
  const given = process.argv.map((a, i) => (a === '--input' ? process.argv[i + 1] : null)).filter(Boolean);
  const feeds = {};
  if (given.length) {
    const declared = {};
    for (const m of session.inputMetadata || []) if (m.isTensor) declared[m.name] = m.type;
    for (const p of given) {
      const eq = p.indexOf('=');
      feeds[p.slice(0, eq)] = readNpy(p.slice(eq + 1), declared[p.slice(0, eq)]);
    }
  } else {
    const meta = session.inputMetadata ? session.inputMetadata[0] : null;
    let dims = meta && meta.shape ? meta.shape.map((d, i) => (typeof d === 'number' && d > 0 && i > 0 ? d : batch)) : null;
    if (!dims) throw new Error('cannot read the input shape of ' + model);
    dims[0] = batch;
    const size = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; ++i) data[i] = Math.random();
    feeds[session.inputNames[0]] = new ort.Tensor('float32', data, dims);
  }
  for (let i = 0; i < warmup; ++i) await session.run(feeds);
  const times = [];
  for (let i = 0; i < iterations; ++i) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const rank = p => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(JSON.stringify({ p50_ms: rank(0.5), p90_ms: rank(0.9), mean_ms: mean, min_ms: sorted[0],
    throughput_per_s: batch * 1000 / mean, batch, threads, iterations,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024 }));
}

main().catch(e => { console.error(e.message || String(e)); process.exit(1); });
