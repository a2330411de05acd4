// Reference runner: executes an ONNX model with onnxruntime (CPU) on .npy inputs and writes .npy outputs.
// usage: node ort_run.js MODEL.onnx OUT_DIR NAME=IN.npy [NAME=IN.npy ...]
// Each graph output is written to OUT_DIR/<index>.npy (index in graph output order).
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const DTYPES = { '<f4': 'float32', '|i1': 'int8', '|u1': 'uint8', '<i4': 'int32', '<i8': 'int64' };
const ARRAYS = { float32: Float32Array, int8: Int8Array, uint8: Uint8Array, int32: Int32Array, int64: BigInt64Array };

function readNpy(file) {
  const buf = fs.readFileSync(file);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const shape = shapeText.split(',').map(s => s.trim()).filter(s => s.length).map(Number);
  const type = DTYPES[descr];
  if (!type) throw new Error(`unsupported npy dtype ${descr} in ${file}`);
  const data = buf.subarray(start + headerLen);
  const Arr = ARRAYS[type];
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return new ort.Tensor(type, new Arr(copy.buffer, 0, data.length / Arr.BYTES_PER_ELEMENT), shape);
}

function writeNpy(file, tensor) {
  const descr = Object.keys(DTYPES).find(k => DTYPES[k] === tensor.type);
  if (!descr) throw new Error(`unsupported output type ${tensor.type}`);
  const dims = tensor.dims.length === 1 ? `${tensor.dims[0]},` : tensor.dims.join(', ');
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
}

async function main() {
  const [model, outDir, ...pairs] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, graphOptimizationLevel: 'disabled' });
  const feeds = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    feeds[p.slice(0, eq)] = readNpy(p.slice(eq + 1));
  }
  const results = await session.run(feeds);
  session.outputNames.forEach((name, i) => writeNpy(path.join(outDir, `${i}.npy`), results[name]));
}

main().catch(e => { console.error(e.message || String(e)); process.exit(1); });
