"""Writes the quantized-operator test models used by tests/test_qops.cpp into OUT_DIR, plus OUT_DIR/cases.json.

usage: /usr/bin/python3 make_qop_cases.py OUT_DIR

Every model takes float inputs and quantizes them inside the graph (QuantizeLinear), so the C++ test feeds
deterministic random floats like tests/test_onnx.cpp. Each case in cases.json:
{"name": ..., "file": ..., "inputs": [[name, shape, low, high]], "lsb": [1, ...] (allowed difference per
output, in units of the output's last bit; for float outputs the absolute tolerance)}. A case onnxruntime
cannot run (a form ONNX allows and its CPU kernels refuse) has no inputs and lists "expected": .npy files of its
outputs computed here with numpy, which the test compares against instead.
Built with onnx.helper only (python3-onnx 1.12 predates opset 21's blocked DequantizeLinear).
"""
import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import helper as h
from onnx import numpy_helper as nh

OUT = sys.argv[1]
rng = np.random.default_rng(4321)
cases = []
IR = {13: 7, 17: 8, 21: 10}


def arr(name, values, dtype):
    return nh.from_array(np.asarray(values, dtype=dtype), name)


def f32(name, values):
    return arr(name, values, np.float32)


def add(name, opset, nodes, inputs, outputs, inits, tolerances, low=-1.0, high=1.0, ms=False, expected=None):
    """inputs: [(name, shape)] float32; outputs: [(name, TensorProto type)]; expected: numpy outputs (the
    reference instead of onnxruntime)."""
    vis = [h.make_tensor_value_info(n, TP.FLOAT, s) for n, s in inputs]
    outs = [h.make_tensor_value_info(o, t, None) for o, t in outputs]
    g = h.make_graph(nodes, name.replace("/", "_"), vis, outs, list(inits))
    imports = [h.make_opsetid("", opset)]
    if ms:
        imports.append(h.make_opsetid("com.microsoft", 1))
    m = h.make_model(g, opset_imports=imports, producer_name="make_qop_cases")
    m.ir_version = IR[opset]
    file = name.replace("/", "_") + ".onnx"
    onnx.save(m, os.path.join(OUT, file))
    case = {"name": name, "file": file, "inputs": [[n, s, low, high] for n, s in inputs], "lsb": tolerances}
    if expected is not None:
        case["expected"] = []
        for i, e in enumerate(expected):
            npy = name.replace("/", "_") + f"_expected{i}.npy"
            np.save(os.path.join(OUT, npy), e)
            case["expected"].append(npy)
    cases.append(case)


def qweights(shape, dtype=np.int8, lo=-127, hi=127):
    return rng.integers(lo, hi + 1, size=shape).astype(dtype)


# ---- QuantizeLinear / DequantizeLinear ------------------------------------------------------------------------

add("QuantizeLinear/per_tensor_uint8", 13,
    [h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])],
    [("x", [2, 3, 5])], [("y", TP.UINT8)], [f32("s", 0.0123), arr("z", 120, np.uint8)], [1], low=-2, high=2)
add("QuantizeLinear/per_tensor_int8_saturating", 13,
    [h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"])],
    [("x", [4, 7])], [("y", TP.INT8)], [f32("s", 0.01), arr("z", -3, np.int8)], [1], low=-3, high=3)
add("QuantizeLinear/no_zero_point", 13,
    [h.make_node("QuantizeLinear", ["x", "s"], ["y"])],
    [("x", [3, 4])], [("y", TP.UINT8)], [f32("s", 0.02)], [1], low=-1, high=4)
add("QuantizeLinear/per_axis", 13,
    [h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=1)],
    [("x", [2, 3, 4])], [("y", TP.UINT8)], [f32("s", [0.01, 0.02, 0.05]), arr("z", [0, 128, 17], np.uint8)], [1])
add("QuantizeLinear/blocked_opset21", 21,
    [h.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=1, block_size=4)],
    [("x", [3, 10])], [("y", TP.INT8)],
    [f32("s", rng.uniform(0.005, 0.02, size=(3, 3))), arr("z", rng.integers(-5, 5, size=(3, 3)), np.int8)], [1])
cases[-1]["export_opset"] = 21  # a blocked QuantizeLinear has no opset-17 form

w = qweights([4, 3, 3, 3])
add("DequantizeLinear/per_axis_weight_plus_input", 13,
    [h.make_node("DequantizeLinear", ["w", "s", "z"], ["wf"], axis=0), h.make_node("Add", ["wf", "x"], ["y"])],
    [("x", [4, 3, 3, 3])], [("y", TP.FLOAT)],
    [arr("w", w, np.int8), f32("s", [0.01, 0.02, 0.003, 0.1]), arr("z", [0, 0, 0, 0], np.int8)], [1e-6])
add("DequantizeLinear/per_tensor_uint8", 13,
    [h.make_node("DequantizeLinear", ["w", "s", "z"], ["wf"]), h.make_node("Add", ["wf", "x"], ["y"])],
    [("x", [6, 5])], [("y", TP.FLOAT)],
    [arr("w", qweights([6, 5], np.uint8, 0, 255), np.uint8), f32("s", 0.037), arr("z", 131, np.uint8)], [1e-6])
add("DequantizeLinear/blocked_opset21", 21,
    [h.make_node("DequantizeLinear", ["w", "s", "z"], ["wf"], axis=1, block_size=4),
     h.make_node("Add", ["wf", "x"], ["y"])],
    [("x", [5, 10])], [("y", TP.FLOAT)],
    [arr("w", qweights([5, 10], np.int8, -7, 7), np.int8), f32("s", rng.uniform(0.01, 0.1, size=(5, 3))),
     arr("z", rng.integers(-2, 3, size=(5, 3)), np.int8)], [1e-6])
add("DequantizeLinear/blocked_partial_last_block_conv_weight", 21,
    [h.make_node("DequantizeLinear", ["w", "s", "z"], ["wf"], axis=1, block_size=4),
     h.make_node("Add", ["wf", "x"], ["y"])],
    [("x", [3, 6, 2, 2])], [("y", TP.FLOAT)],
    [arr("w", qweights([3, 6, 2, 2], np.int8, -7, 7), np.int8), f32("s", rng.uniform(0.01, 0.1, size=(3, 2, 2, 2))),
     arr("z", rng.integers(-2, 3, size=(3, 2, 2, 2)), np.int8)], [1e-6])
add("DequantizeLinear/int32_bias", 13,
    [h.make_node("DequantizeLinear", ["b", "s"], ["bf"]), h.make_node("Add", ["bf", "x"], ["y"])],
    [("x", [2, 5])], [("y", TP.FLOAT)], [arr("b", [-70000, -3, 0, 5, 123456], np.int32), f32("s", 0.0004)], [1e-5])


# ---- QLinearConv -----------------------------------------------------------------------------------------------

def qconv(name, x_shape, w_shape, per_channel, x_zp, y_zp, bias, ydtype=np.uint8, xdtype=np.uint8, **attrs):
    m = w_shape[0]
    ws = rng.uniform(0.002, 0.02, size=m).astype(np.float32) if per_channel else np.float32(0.01)
    wz = np.zeros(m, np.int8) if per_channel else np.int8(0)
    inits = [f32("xs", 0.02), arr("xz", x_zp, xdtype), arr("w", qweights(w_shape), np.int8), f32("ws", ws),
             arr("wz", wz, np.int8), f32("ys", 0.05), arr("yz", y_zp, ydtype)]
    ins = ["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"]
    if bias:
        inits.append(arr("B", rng.integers(-2000, 2000, size=m), np.int32))
        ins.append("B")
    ytype = TP.UINT8 if ydtype == np.uint8 else TP.INT8
    add("QLinearConv/" + name, 13,
        [h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]), h.make_node("QLinearConv", ins, ["y"], **attrs)],
        [("x", x_shape)], [("y", ytype)], inits, [1], low=-2, high=2)


qconv("3x3_pad1_per_channel_bias", [1, 3, 8, 8], [6, 3, 3, 3], True, 128, 0, True, pads=[1, 1, 1, 1])
qconv("3x3_per_tensor_zp", [2, 4, 7, 9], [5, 4, 3, 3], False, 100, 128, True)
qconv("stride2_pad_asym", [1, 2, 9, 9], [4, 2, 3, 3], True, 128, 10, False, strides=[2, 2], pads=[0, 1, 1, 0])
qconv("grouped_dilated", [1, 4, 10, 10], [6, 2, 3, 3], True, 128, 0, True, group=2, dilations=[2, 2],
      pads=[2, 2, 2, 2])
qconv("1x1", [2, 16, 5, 5], [8, 16, 1, 1], True, 128, 0, True)
qconv("int8_activations", [1, 3, 6, 6], [4, 3, 3, 3], True, -4, -5, True, ydtype=np.int8, xdtype=np.int8,
      pads=[1, 1, 1, 1])
qconv("relu_fused_zp0", [1, 32, 8, 8], [16, 32, 3, 3], True, 0, 0, True, pads=[1, 1, 1, 1])
qconv("1d", [1, 3, 12], [4, 3, 3], True, 128, 0, True, pads=[1, 1])

# The QDQ format (onnxruntime's quantize_static): DequantizeLinear before x, w and B, the Conv (and a Relu) in float,
# QuantizeLinear after; the engine runs it as one QLinearConv (runtime/fusion.h).
def qdqconv(name, x_shape, w_shape, per_channel, x_zp, y_zp, bias, relu, xdtype=np.uint8, **attrs):
    m = w_shape[0]
    ws = rng.uniform(0.002, 0.02, size=m).astype(np.float32) if per_channel else np.float32(0.01)
    xs = np.float32(0.02)
    inits = [f32("xs", xs), arr("xz", x_zp, xdtype), arr("w", qweights(w_shape), np.int8), f32("ws", ws),
             arr("wz", np.zeros(m, np.int8) if per_channel else np.int8(0), np.int8), f32("ys", 0.05),
             arr("yz", y_zp, xdtype)]
    nodes = [h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             h.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             h.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=0)]
    conv_in = ["xd", "wd"]
    if bias:
        inits += [arr("B", rng.integers(-2000, 2000, size=m), np.int32), f32("bs", xs * ws),
                  arr("bz", np.zeros(m, np.int32) if per_channel else np.int32(0), np.int32)]
        nodes.append(h.make_node("DequantizeLinear", ["B", "bs", "bz"], ["bd"], axis=0))
        conv_in.append("bd")
    nodes.append(h.make_node("Conv", conv_in, ["c"], **attrs))
    if relu == "Clip":  # ReLU6
        inits += [f32("lo", 0.0), f32("hi", 6.0)]
        nodes.append(h.make_node("Clip", ["c", "lo", "hi"], ["r"]))
    elif relu:
        nodes.append(h.make_node("Relu", ["c"], ["r"]))
    nodes.append(h.make_node("QuantizeLinear", ["r" if relu else "c", "ys", "yz"], ["y"]))
    add("QDQ/conv_" + name, 13, nodes, [("x", x_shape)], [("y", TP.UINT8 if xdtype == np.uint8 else TP.INT8)], inits,
        [1], low=-2, high=2)


qdqconv("per_channel_bias_relu", [1, 16, 9, 9], [24, 16, 3, 3], True, 128, 0, True, True, pads=[1, 1, 1, 1])
qdqconv("per_tensor_int8", [2, 3, 8, 7], [8, 3, 3, 3], False, -3, 5, False, False, xdtype=np.int8,
        strides=[2, 2], pads=[0, 1, 1, 0])
qdqconv("relu_int8_bias", [1, 8, 6, 6], [13, 8, 1, 1], True, 10, -20, True, True, xdtype=np.int8)
qdqconv("relu6", [1, 16, 7, 7], [16, 16, 3, 3], True, 128, 0, True, "Clip", pads=[1, 1, 1, 1])


def qdqproduct(name, op, a_shape, b_shape, out_axis, bias, relu, xdtype=np.uint8, **attrs):
    """Gemm or MatMul in the QDQ format, per-channel weights along out_axis of B."""
    n = b_shape[out_axis]
    ws = rng.uniform(0.002, 0.02, size=n).astype(np.float32)
    xs = np.float32(0.02)
    zp = 128 if xdtype == np.uint8 else 3
    inits = [f32("xs", xs), arr("xz", zp, xdtype), arr("w", qweights(b_shape), np.int8), f32("ws", ws),
             arr("wz", np.zeros(n, np.int8), np.int8), f32("ys", 0.1), arr("yz", zp, xdtype)]
    nodes = [h.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
             h.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
             h.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=out_axis)]
    ins = ["xd", "wd"]
    if bias:
        inits += [arr("B", rng.integers(-2000, 2000, size=n), np.int32), f32("bs", xs * ws),
                  arr("bz", np.zeros(n, np.int32), np.int32)]
        nodes.append(h.make_node("DequantizeLinear", ["B", "bs", "bz"], ["bd"], axis=0))
        ins.append("bd")
    nodes.append(h.make_node(op, ins, ["c"], **attrs))
    if relu:
        nodes.append(h.make_node("Relu", ["c"], ["r"]))
    nodes.append(h.make_node("QuantizeLinear", ["r" if relu else "c", "ys", "yz"], ["y"]))
    add("QDQ/" + name, 13, nodes, [("x", a_shape)], [("y", TP.UINT8 if xdtype == np.uint8 else TP.INT8)], inits,
        [1], low=-2, high=2)


qdqproduct("gemm_transB_bias_relu", "Gemm", [3, 64], [20, 64], 0, True, True, transB=1)
qdqproduct("gemm_int8", "Gemm", [2, 40], [40, 12], 1, True, False, xdtype=np.int8)
qdqproduct("matmul_3d", "MatMul", [2, 5, 48], [48, 16], 1, False, False)

# One integer product over the output positions as rows: an STFT's frames, 1-D with more positions than the
# packed few-row products take, and a 2-D convolution with 16 output positions.
qconv("1d_stft_frames", [1, 1, 1280], [40, 1, 512], True, 128, 0, True, strides=[160])
qconv("1d_36_positions_batch2", [2, 20, 40], [33, 20, 5], True, 100, 128, True, pads=[2, 2])
qconv("few_positions_3x3", [2, 8, 4, 4], [12, 8, 3, 3], True, 128, 3, True, pads=[1, 1, 1, 1])


# ---- QLinearMatMul and QGemm -------------------------------------------------------------------------------------

def qmatmul(name, a_shape, b_shape, per_column):
    n = b_shape[-1]
    bs = rng.uniform(0.002, 0.02, size=n).astype(np.float32) if per_column else np.float32(0.01)
    bz = np.zeros(n, np.int8) if per_column else np.int8(3)
    add("QLinearMatMul/" + name, 13,
        [h.make_node("QuantizeLinear", ["a", "as", "az"], ["aq"]),
         h.make_node("QLinearMatMul", ["aq", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])],
        [("a", a_shape)], [("y", TP.UINT8)],
        [f32("as", 0.02), arr("az", 128, np.uint8), arr("b", qweights(b_shape), np.int8), f32("bs", bs),
         arr("bz", bz, np.int8), f32("ys", 0.1), arr("yz", 128, np.uint8)], [1], low=-2, high=2)


qmatmul("2d_per_tensor", [3, 16], [16, 5], False)
qmatmul("2d_per_column", [4, 20], [20, 6], True)
qmatmul("batched_a", [2, 3, 8], [8, 4], False)


def qgemm(name, m, k, n, float_out, bias, trans_b=1, alpha=1.0, a_zp=128, y_zp=0):
    bshape = [n, k] if trans_b else [k, n]
    inits = [f32("as", 0.02), arr("az", a_zp, np.uint8), arr("b", qweights(bshape), np.int8),
             f32("bs", rng.uniform(0.002, 0.02, size=n)), arr("bz", np.zeros(n), np.int8)]
    ins = ["aq", "as", "az", "b", "bs", "bz"]
    if bias:
        inits.append(arr("c", rng.integers(-3000, 3000, size=n), np.int32))
        ins.append("c")
    else:
        ins.append("")
    outs = [("y", TP.FLOAT)]
    tol = [1e-4]
    if not float_out:
        inits += [f32("ys", 0.08), arr("yz", y_zp, np.uint8)]
        ins += ["ys", "yz"]
        outs = [("y", TP.UINT8)]
        tol = [1]
    add("QGemm/" + name, 13,
        [h.make_node("QuantizeLinear", ["a", "as", "az"], ["aq"]),
         h.make_node("QGemm", ins, ["y"], domain="com.microsoft", transB=trans_b, alpha=alpha)],
        [("a", [m, k])], outs, inits, tol, low=-2, high=2, ms=True)


qgemm("float_output_bias", 3, 24, 10, True, True)
qgemm("uint8_output_bias", 2, 32, 12, False, True)
qgemm("uint8_output_relu_zp0", 4, 50, 7, False, True, a_zp=0, y_zp=0)
qgemm("no_bias_transB0", 2, 16, 5, False, False, trans_b=0, y_zp=100)


# ---- dynamic quantization: DynamicQuantizeLinear → ConvInteger / MatMulInteger (int32 outputs, exact) ----------

DQL = h.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"])
add("DynamicQuantizeLinear/mixed_signs", 13, [h.make_node("DynamicQuantizeLinear", ["x"], ["y", "ys", "yz"])],
    [("x", [3, 7])], [("y", TP.UINT8), ("ys", TP.FLOAT), ("yz", TP.UINT8)], [], [0, 0, 0], low=-2, high=3)
add("DynamicQuantizeLinear/positive_only", 13, [h.make_node("DynamicQuantizeLinear", ["x"], ["y", "ys", "yz"])],
    [("x", [2, 9])], [("y", TP.UINT8), ("ys", TP.FLOAT), ("yz", TP.UINT8)], [], [0, 0, 0], low=0.5, high=3)
add("DynamicQuantizeLinear/negative_only", 13, [h.make_node("DynamicQuantizeLinear", ["x"], ["y", "ys", "yz"])],
    [("x", [2, 9])], [("y", TP.UINT8), ("ys", TP.FLOAT), ("yz", TP.UINT8)], [], [0, 0, 0], low=-3, high=-0.5)
add("DynamicQuantizeLinear/large_4d", 13, [h.make_node("DynamicQuantizeLinear", ["x"], ["y", "ys", "yz"])],
    [("x", [4, 3, 33, 17])], [("y", TP.UINT8), ("ys", TP.FLOAT), ("yz", TP.UINT8)], [], [0, 0, 0], low=-1.3,
    high=0.7)
add("DynamicQuantizeLinear/all_zero", 13,
    [h.make_node("Mul", ["x", "zero"], ["x0"]), h.make_node("DynamicQuantizeLinear", ["x0"], ["y", "ys", "yz"])],
    [("x", [5])], [("y", TP.UINT8), ("ys", TP.FLOAT), ("yz", TP.UINT8)], [f32("zero", 0.0)], [0, 0, 0])


def conv_integer(name, x_shape, w_shape, wdtype=np.int8, w_zp=None, x_zp=True, **attrs):
    """DynamicQuantizeLinear(x) → ConvInteger(xq, w, xz, wz) → int32."""
    lo, hi = (-127, 127) if wdtype == np.int8 else (0, 255)
    inits = [arr("w", qweights(w_shape, wdtype, lo, hi), wdtype)]
    ins = ["xq", "w", "xz" if x_zp else ""]
    if w_zp is not None:
        inits.append(arr("wz", w_zp, wdtype))
        ins.append("wz")
    add("ConvInteger/" + name, 13, [DQL, h.make_node("ConvInteger", ins, ["y"], **attrs)], [("x", x_shape)],
        [("y", TP.INT32)], inits, [0], low=-2, high=1.5)


conv_integer("3x3_pad1_int8", [2, 3, 8, 8], [6, 3, 3, 3], pads=[1, 1, 1, 1])
conv_integer("3x3_int8_zero_zp", [1, 4, 7, 9], [5, 4, 3, 3], w_zp=0)
conv_integer("uint8_weights_zp", [1, 3, 6, 6], [4, 3, 3, 3], wdtype=np.uint8, w_zp=131, pads=[1, 1, 1, 1])
conv_integer("int8_weights_zp", [1, 3, 6, 6], [4, 3, 3, 3], w_zp=-3)
conv_integer("grouped_dilated", [1, 4, 10, 10], [6, 2, 3, 3], group=2, dilations=[2, 2], pads=[2, 2, 2, 2])
conv_integer("depthwise", [1, 4, 6, 6], [4, 1, 3, 3], group=4, pads=[1, 1, 1, 1])
conv_integer("stride2_asym_pads", [1, 2, 9, 9], [4, 2, 3, 3], strides=[2, 2], pads=[0, 1, 1, 0])
conv_integer("same_upper_stride2", [1, 3, 7, 8], [4, 3, 3, 3], strides=[2, 2], auto_pad="SAME_UPPER")
conv_integer("same_lower", [1, 3, 6, 6], [4, 3, 2, 2], auto_pad="SAME_LOWER")
conv_integer("valid_rect_kernel", [1, 3, 6, 7], [2, 3, 1, 3], auto_pad="VALID", strides=[1, 2])
conv_integer("no_x_zero_point", [1, 2, 5, 5], [3, 2, 3, 3], x_zp=False)
conv_integer("1d", [2, 3, 12], [4, 3, 3], pads=[1, 1], strides=[2])
conv_integer("pointwise_wide", [2, 32, 9, 9], [48, 32, 1, 1])
conv_integer("batch8_3x3", [8, 16, 12, 12], [24, 16, 3, 3], pads=[1, 1, 1, 1])


def matmul_integer(name, a_shape, b_shape, bdtype=np.int8, b_zp=None, a_zp=True):
    lo, hi = (-127, 127) if bdtype == np.int8 else (0, 255)
    inits = [arr("b", qweights(b_shape, bdtype, lo, hi), bdtype)]
    ins = ["xq", "b", "xz" if a_zp else ""]
    if b_zp is not None:
        inits.append(arr("bz", b_zp, bdtype))
        ins.append("bz")
    add("MatMulInteger/" + name, 13, [DQL, h.make_node("MatMulInteger", ins, ["y"])], [("x", a_shape)],
        [("y", TP.INT32)], inits, [0], low=-1, high=2)


matmul_integer("2d_int8", [3, 16], [16, 5])
matmul_integer("2d_uint8_zp", [4, 20], [20, 6], bdtype=np.uint8, b_zp=128)
matmul_integer("per_column_zp", [4, 20], [20, 6], bdtype=np.uint8, b_zp=rng.integers(100, 156, size=6))
matmul_integer("batched_a", [2, 3, 8], [8, 4])
matmul_integer("batched_both", [2, 3, 8], [2, 8, 4], b_zp=3)
matmul_integer("broadcast_batches", [2, 1, 3, 8], [4, 8, 5])
matmul_integer("per_batch_column_zp", [2, 3, 8], [2, 8, 4], bdtype=np.uint8,
               b_zp=rng.integers(120, 136, size=(2, 1, 4)))
matmul_integer("vector_a", [8], [8, 4])
matmul_integer("vector_b", [3, 8], [8])
matmul_integer("no_a_zero_point", [3, 8], [8, 4], a_zp=False)
matmul_integer("large_fast_path", [2, 40, 256], [256, 96])


# Forms onnxruntime's CPU kernels refuse, against numpy: all operands are initializers (no graph input).
def int_matmul_ref(a, b, az, bz):
    a = a.astype(np.int64) - az
    b = b.astype(np.int64) - bz
    return np.matmul(a, b).astype(np.int32)


A = qweights([2, 3, 8], np.uint8, 0, 255)
B = qweights([8, 5], np.int8)
AZ = rng.integers(100, 156, size=(2, 3, 1)).astype(np.uint8)
add("MatMulInteger/per_row_a_zp", 13, [h.make_node("MatMulInteger", ["a", "b", "az"], ["y"])], [], [("y", TP.INT32)],
    [arr("a", A, np.uint8), arr("b", B, np.int8), arr("az", AZ, np.uint8)], [0],
    expected=[int_matmul_ref(A, B, AZ, 0)])
A2 = qweights([3, 8], np.uint8, 0, 255)
AZ2 = rng.integers(100, 156, size=3).astype(np.uint8)
def int_conv_ref(x, w, xz, wz, pads, stride=1, group=1):
    """ConvInteger in numpy: (x - xz) padded with zeros, correlated with (w - wz[m])."""
    x = x.astype(np.int64) - xz
    w = w.astype(np.int64) - np.asarray(wz, np.int64).reshape(-1, 1, 1, 1)
    n, _, _, _ = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh, ow = (xp.shape[2] - kh) // stride + 1, (xp.shape[3] - kw) // stride + 1
    mg = m // group
    y = np.zeros((n, m, oh, ow), np.int64)
    for g in range(group):
        xs, ws = xp[:, g * cg:(g + 1) * cg], w[g * mg:(g + 1) * mg]
        for i in range(oh):
            for j in range(ow):
                win = xs[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                y[:, g * mg:(g + 1) * mg, i, j] = np.einsum("nckl,mckl->nm", win, ws)
    return y.astype(np.int32)


X = qweights([1, 3, 6, 6], np.uint8, 0, 255)
W = qweights([4, 3, 3, 3], np.uint8, 0, 255)
WZ = np.array([120, 128, 131, 140], np.uint8)
add("ConvInteger/per_channel_w_zp", 13, [h.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], pads=[1, 1, 1, 1])],
    [], [("y", TP.INT32)], [arr("x", X, np.uint8), arr("w", W, np.uint8), arr("xz", 7, np.uint8), arr("wz", WZ, np.uint8)],
    [0], expected=[int_conv_ref(X, W, 7, WZ, [1, 1, 1, 1])])
X2 = qweights([2, 4, 7, 7], np.int8)
W2 = qweights([6, 2, 3, 3], np.int8)
WZ2 = rng.integers(-4, 5, size=6).astype(np.int8)
add("ConvInteger/per_channel_w_zp_int8_grouped_stride2", 13,
    [h.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], pads=[1, 0, 1, 0], strides=[2, 2], group=2)], [],
    [("y", TP.INT32)], [arr("x", X2, np.int8), arr("w", W2, np.int8), arr("xz", -3, np.int8), arr("wz", WZ2, np.int8)],
    [0], expected=[int_conv_ref(X2, W2, -3, WZ2, [1, 0, 1, 0], stride=2, group=2)])
add("MatMulInteger/per_row_a_zp_1d", 13, [h.make_node("MatMulInteger", ["a", "b", "az"], ["y"])], [],
    [("y", TP.INT32)], [arr("a", A2, np.uint8), arr("b", B, np.int8), arr("az", AZ2, np.uint8)], [0],
    expected=[int_matmul_ref(A2, B, AZ2.reshape(3, 1), 0)])

# ---- integer data movement and a chain -----------------------------------------------------------------------

add("MaxPool/uint8_2x2", 13,
    [h.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
     h.make_node("MaxPool", ["xq"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
    [("x", [1, 3, 8, 8])], [("y", TP.UINT8)], [f32("s", 0.02), arr("z", 128, np.uint8)], [0])
add("MaxPool/uint8_2x2_wide_rows", 13,
    [h.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
     h.make_node("MaxPool", ["xq"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
    [("x", [2, 3, 6, 31])], [("y", TP.UINT8)], [f32("s", 0.02), arr("z", 128, np.uint8)], [0])
add("MaxPool/int8_3x3_pad", 13,
    [h.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
     h.make_node("MaxPool", ["xq"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])],
    [("x", [2, 2, 7, 7])], [("y", TP.INT8)], [f32("s", 0.02), arr("z", 0, np.int8)], [0])

# Quantize → conv (ReLU fused) → pool → flatten → QGemm (uint8) → QGemm (float logits): the int8 CNN pattern.
c1w = qweights([8, 1, 3, 3])
f1w = qweights([16, 8 * 4 * 4])
f2w = qweights([5, 16])
add("Chain/cnn_int8", 13,
    [h.make_node("QuantizeLinear", ["x", "xs", "zu"], ["xq"]),
     h.make_node("QLinearConv", ["xq", "xs", "zu", "c1w", "c1s", "c1z", "a1s", "zu", "c1b"], ["c1"], pads=[1, 1, 1, 1]),
     h.make_node("MaxPool", ["c1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
     h.make_node("Flatten", ["p1"], ["fl"], axis=1),
     h.make_node("QGemm", ["fl", "a1s", "zu", "f1w", "f1s", "f1z", "f1b", "a2s", "zu"], ["h1"], domain="com.microsoft",
                 transB=1),
     h.make_node("QGemm", ["h1", "a2s", "zu", "f2w", "f2s", "f2z", "f2b"], ["y"], domain="com.microsoft", transB=1)],
    [("x", [2, 1, 8, 8])], [("y", TP.FLOAT)],
    [f32("xs", 1 / 255), arr("zu", 0, np.uint8), arr("c1w", c1w, np.int8), f32("c1s", rng.uniform(0.002, 0.01, 8)),
     arr("c1z", np.zeros(8), np.int8), arr("c1b", rng.integers(-100, 100, 8), np.int32), f32("a1s", 0.01),
     arr("f1w", f1w, np.int8), f32("f1s", rng.uniform(0.001, 0.003, 16)), arr("f1z", np.zeros(16), np.int8),
     arr("f1b", rng.integers(-500, 500, 16), np.int32), f32("a2s", 0.02), arr("f2w", f2w, np.int8),
     f32("f2s", rng.uniform(0.002, 0.01, 5)), arr("f2z", np.zeros(5), np.int8),
     arr("f2b", rng.integers(-500, 500, 5), np.int32)],
    [0.05], low=0, high=1, ms=True)

# ---- com.microsoft QOperator family (onnxruntime's static quantizer, QOperator format) -------------------------
# Float inputs are quantized in the graph; the operator under test reads them with its own (per-tensor)
# parameters. Budget: bit-exact, except 1 LSB for QLinearMul (onnxruntime multiplies the dequantized operands in
# float, the workbench requantizes the exact integer product) and QLinearAveragePool (a float sum in another
# order), whose values near a rounding midpoint may land on either side.

QT = {np.uint8: TP.UINT8, np.int8: TP.INT8}


def qop(name, op, shapes, dtype, params, out_params, low=-1.0, high=1.0, layout=None, lsb=0, **attrs):
    """shapes: the float inputs x0, x1, ...; params: (scale, zero point) of each; out_params: Y's, or None for
    operators with no output parameters of their own. layout(quantized names, scale names, zp names) gives the
    operator's input list; by default each input is (X, X_scale, X_zp) followed by (Y_scale, Y_zp)."""
    nodes, inits, qs, ss, zs = [], [], [], [], []
    for i, (shape, (scale, zp)) in enumerate(zip(shapes, params)):
        inits += [f32(f"s{i}", scale), arr(f"z{i}", zp, dtype)]
        nodes.append(h.make_node("QuantizeLinear", [f"x{i}", f"s{i}", f"z{i}"], [f"q{i}"]))
        qs.append(f"q{i}"), ss.append(f"s{i}"), zs.append(f"z{i}")
    if out_params is not None:
        inits += [f32("sy", out_params[0]), arr("zy", out_params[1], dtype)]
    ins = layout(qs, ss, zs) if layout else [v for t in zip(qs, ss, zs) for v in t] + ["sy", "zy"]
    nodes.append(h.make_node(op, ins, ["y"], domain="com.microsoft", **attrs))
    add(op + "/" + name, 13, nodes, [(f"x{i}", s) for i, s in enumerate(shapes)], [("y", QT[dtype])], inits, [lsb],
        low=low, high=high, ms=True)


for dt, tag, zp in ((np.uint8, "uint8", 128), (np.int8, "int8", 3)):
    qop(f"{tag}_same_shape", "QLinearAdd", [[2, 3, 4], [2, 3, 4]], dt, [(0.01, zp), (0.02, zp - 5)], (0.025, zp + 2))
    qop(f"{tag}_broadcast_channel", "QLinearAdd", [[2, 3, 4, 5], [1, 3, 1, 1]], dt, [(0.008, zp), (0.01, zp)],
        (0.015, zp - 1))
    qop(f"{tag}_scalar_b", "QLinearMul", [[3, 7], []], dt, [(0.01, zp), (0.02, zp)], (0.004, zp), lsb=1)
    qop(f"{tag}_broadcast_rows", "QLinearMul", [[4, 1, 6], [5, 1]], dt, [(0.02, zp), (0.015, zp + 4)], (0.003, zp),
        lsb=1)
    qop(f"{tag}", "QLinearLeakyRelu", [[2, 3, 5, 5]], dt, [(0.02, zp)], (0.015, zp - 10), low=-2, high=2, alpha=0.1)
    qop(f"{tag}", "QLinearSigmoid", [[2, 4, 9]], dt, [(0.05, zp)], (1 / 256, zp - 128 if dt == np.uint8 else -128),
        low=-6, high=6)
    qop(f"{tag}_nchw", "QLinearGlobalAveragePool", [[2, 3, 5, 7]], dt, [(0.02, zp)], (0.01, zp))
    qop(f"{tag}_channels_last", "QLinearGlobalAveragePool", [[2, 6, 4, 5]], dt, [(0.02, zp)], (0.005, zp - 3),
        channels_last=1)
    qop(f"{tag}_3x3_pad", "QLinearAveragePool", [[2, 3, 7, 7]], dt, [(0.02, zp)], (0.01, zp), kernel_shape=[3, 3],
        pads=[1, 1, 1, 1], lsb=1)
    qop(f"{tag}_3x3_pad_count_include_pad_stride2_ceil", "QLinearAveragePool", [[1, 4, 8, 8]], dt, [(0.02, zp)],
        (0.01, zp), kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1, ceil_mode=1, lsb=1)
    qop(f"{tag}_channels_last_2x2", "QLinearAveragePool", [[2, 6, 6, 5]], dt, [(0.02, zp)], (0.03, zp + 1),
        kernel_shape=[2, 2], strides=[2, 2], channels_last=1, lsb=1)
    # Y's parameters first, then each input; the middle input shares Y's and is copied.
    qop(f"{tag}_three_inputs_axis1", "QLinearConcat", [[2, 3, 4], [2, 1, 4], [2, 5, 4]], dt,
        [(0.01, zp), (0.02, zp + 1), (0.03, zp - 7)], (0.02, zp + 1), axis=1,
        layout=lambda q, s, z: ["sy", "zy"] + [v for t in zip(q, s, z) for v in t])
    qop(f"{tag}_negative_axis", "QLinearConcat", [[3, 2], [3, 4]], dt, [(0.05, zp), (0.01, zp)], (0.02, zp), axis=-1,
        layout=lambda q, s, z: ["sy", "zy"] + [v for t in zip(q, s, z) for v in t])
    qop(f"{tag}_last_axis", "QLinearSoftmax", [[3, 4, 10]], dt, [(0.05, zp)], (1 / 256, 0 if dt == np.uint8 else -128),
        low=-4, high=4, opset=13)
    qop(f"{tag}_middle_axis", "QLinearSoftmax", [[2, 6, 5]], dt, [(0.04, zp)], (1 / 256, 0 if dt == np.uint8 else -128),
        low=-4, high=4, opset=13, axis=1)
    qop(f"{tag}_opset12_coerced", "QLinearSoftmax", [[2, 3, 4]], dt, [(0.05, zp)],
        (1 / 256, 0 if dt == np.uint8 else -128), low=-4, high=4, opset=12, axis=1)

with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
