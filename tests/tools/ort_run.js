// Reference runner: executes an ONNX model with onnxruntime (CPU) on .npy inputs and writes .npy outputs.
// usage: node ort_run.js MODEL.onnx OUT_DIR NAME=IN.npy [NAME=IN.npy ...]
// Each graph output is written to OUT_DIR/<index>.npy (index in graph output order).
// float16 travels as <f2 (its bit patterns in a Uint16Array, which onnxruntime-node takes for float16 where the
// JavaScript engine has no Float16Array); bool as |b1, or as |u1 0 / 1 when the model declares the input bool
// (the engine under test stores bool as uint8).
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const DTYPES = { '<f4': 'float32', '|i1': 'int8', '|u1': 'uint8', '<i4': 'int32', '<i8': 'int64', '<f2': 'float16',
                 '|b1': 'bool' };
const ARRAYS = { float32: Float32Array, int8: Int8Array, uint8: Uint8Array, int32: Int32Array, int64: BigInt64Array,
                 float16: Uint16Array, bool: Uint8Array };

function readNpy(file, declaredType) {
  const buf = fs.readFileSync(file);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const shape = shapeText.split(',').map(s => s.trim()).filter(s => s.length).map(Number);
  let type = DTYPES[descr];
  if (!type) throw new Error(`unsupported npy dtype ${descr} in ${file}`);
  if (type === 'uint8' && declaredType === 'bool') type = 'bool';
  const data = buf.subarray(start + headerLen);
  const Arr = ARRAYS[type];
  const copy = new Uint8Array(data.length);
  copy.set(data);
  return new ort.Tensor(type, new Arr(copy.buffer, 0, data.length / Arr.BYTES_PER_ELEMENT), shape);
}

function writeNpy(file, tensor) {
  const descr = Object.keys(DTYPES).find(k => DTYPES[k] === tensor.type);
  // Float16Array data (a JavaScript engine that has one) is written as its bit patterns.
  if (tensor.type === 'float16' && !(tensor.data instanceof Uint16Array)) {
    tensor = { type: 'float16', dims: tensor.dims, data: new Uint16Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.length) };
  }
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
  const declared = {};
  for (const m of session.inputMetadata || []) if (m.isTensor) declared[m.name] = m.type;
  const feeds = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    const name = p.slice(0, eq);
    feeds[name] = readNpy(p.slice(eq + 1), declared[name]);
  }
  const results = await session.run(feeds);
  session.outputNames.forEach((name, i) => writeNpy(path.join(outDir, `${i}.npy`), results[name]));
}

module.exports = { readNpy, writeNpy };

if (require.main === module)
  main().catch(e => { console.error(e.message || String(e)); process.exit(1); });
