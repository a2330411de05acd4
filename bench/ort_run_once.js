// Loads an ONNX file in onnxruntime (CPU) and, with --run, runs it once on seeded random float32 data for
// every input (symbolic dimensions of 1), for peak-memory and load-time comparisons (bench/load_memory.sh).
// usage: node ort_run_once.js MODEL.onnx [--run]
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(process.argv[2], { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (process.argv.includes('--run')) {
    const feeds = {};
    let seed = 1;
    for (const name of session.inputNames) {
      const meta = session.inputMetadata ? session.inputMetadata.find(m => m.name === name) : null;
      const dims = meta.shape.map(d => (typeof d === 'number' && d > 0 ? d : 1));
      const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
      for (let i = 0; i < data.length; ++i) {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        data[i] = seed / 2147483648 * 2 - 1;
      }
      feeds[name] = new ort.Tensor('float32', data, dims);
    }
    await session.run(feeds);
  }
  console.log(JSON.stringify({ load_ms: loadMs }));
}

main().catch(e => { console.error(e.message); process.exit(1); });
