#!/usr/bin/python3
"""Writes a GGUF reference file for tests/test_gguf.cpp: one tensor of every block format the workbench reads,
filled with seeded random blocks, and beside each its values as llama.cpp itself dequantizes them.

usage: /usr/bin/python3 make_gguf_reference.py LLAMA_CPP_SOURCE LLAMA_CPP_LIB OUT.gguf

The file is written by llama.cpp's own Python writer (LLAMA_CPP_SOURCE/gguf-py), not by the workbench. The
expected values come from the dequantize_row_* functions (and ggml_fp16_to_fp32_row / ggml_bf16_to_fp32_row)
of llama.cpp's prebuilt libggml-base.so in LLAMA_CPP_LIB, called through ctypes. Tensor "T" (ggml type T,
ne = [512, 3]) holds the raw blocks; "T.expected" (F32, same ne) what ggml makes of them. Scale fields are set
to finite float16 values, so every expected value is finite. Metadata of every GGUF value type is written too
(keys "test.*"; the test checks them against the values below).
"""
import ctypes
import os
import sys

import numpy as np

SRC, LIB, OUT = sys.argv[1:4]
sys.path.insert(0, os.path.join(SRC, 'gguf-py'))
import gguf  # noqa: E402

ggml = ctypes.CDLL(os.path.join(LIB, 'libggml-base.so'))
Q = gguf.GGMLQuantizationType
ROW, ROWS = 512, 3
rng = np.random.default_rng(20261130)


def halves(n, low, high):
    """n random finite float16 values in [low, high) as uint16 bit patterns."""
    return rng.uniform(low, high, n).astype(np.float16).view(np.uint16)


def blocks(qtype):
    """ROWS rows of random blocks of qtype, with its float16 scale fields set to finite values."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    nblocks = ROW * ROWS // block_size
    b = rng.integers(0, 256, (nblocks, type_size), dtype=np.uint8)
    # byte offsets of the float16 scale fields of each block format (ggml-common.h)
    fields = {Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0],
              Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208]}
    for off in fields.get(qtype, []):
        b[:, off:off + 2] = halves(nblocks, -0.05, 0.05).view(np.uint8).reshape(nblocks, 2)
    if qtype == Q.Q8_K:  # float32 d
        b[:, 0:4] = rng.uniform(-0.05, 0.05, nblocks).astype(np.float32).view(np.uint8).reshape(nblocks, 4)
    return b


def dequantize(func, raw, n):
    out = np.zeros(n, dtype=np.float32)
    f = getattr(ggml, func)
    f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    f.restype = None
    f(raw.ctypes.data, out.ctypes.data, n)
    return out


w = gguf.GGUFWriter(OUT, 'test')
w.add_uint8('test.uint8', 200)
w.add_int8('test.int8', -100)
w.add_uint16('test.uint16', 60000)
w.add_int16('test.int16', -30000)
w.add_uint32('test.uint32', 4000000000)
w.add_int32('test.int32', -2000000000)
w.add_uint64('test.uint64', 2**62)
w.add_int64('test.int64', -2**62)
w.add_float32('test.float32', 0.25)
w.add_float64('test.float64', -1.5e300)
w.add_bool('test.bool', True)
w.add_string('test.string', 'Grüße, 🦙')
w.add_array('test.strings', ['a', '', 'ünï'])
w.add_array('test.ints', [1, -2, 3])
w.add_array('test.floats', [0.5, -0.25])

n = ROW * ROWS
raw = rng.uniform(-2, 2, n).astype(np.float32)
w.add_tensor('F32', raw.reshape(ROWS, ROW))
w.add_tensor('F32.expected', raw.reshape(ROWS, ROW))
raw = halves(n, -100, 100)
w.add_tensor('F16', raw.view(np.float16).reshape(ROWS, ROW))
w.add_tensor('F16.expected', dequantize('ggml_fp16_to_fp32_row', raw, n).reshape(ROWS, ROW))
raw = (rng.uniform(-3, 3, n).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
w.add_tensor('BF16', raw.reshape(ROWS, ROW), raw_dtype=Q.BF16, raw_shape=(ROWS, ROW))
w.add_tensor('BF16.expected', dequantize('ggml_bf16_to_fp32_row', raw, n).reshape(ROWS, ROW))
for qtype in [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K, Q.Q8_K]:
    b = blocks(qtype)
    w.add_tensor(qtype.name, b.reshape(ROWS, -1), raw_dtype=qtype)
    w.add_tensor(qtype.name + '.expected',
                 dequantize('dequantize_row_' + qtype.name.lower().replace('_k', '_K'), b, n).reshape(ROWS, ROW))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
