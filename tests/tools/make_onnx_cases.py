"""Writes the ONNX test models used by tests/test_onnx.cpp into OUT_DIR, plus OUT_DIR/cases.json.

usage: /usr/bin/python3 make_onnx_cases.py OUT_DIR

One small model per operator of the supported set, at the opsets where the operator's signature changed,
plus a small CNN and residual blocks whose weights come partly from Constant nodes. Each case in cases.json:
{"name": "Conv/opset11/depthwise", "file": "...onnx", "inputs": [[name, shape, low, high, dtype], ...],
 "export": true}, and "reference": a file onnxruntime runs instead of "file" (an equivalent graph, for forms it
does not implement, such as batch-first recurrent layers). Inputs are filled by the C++ test with deterministic
random values in [low, high], then cast to dtype ("float32", "float16", "int64", "bool" = uint8 0 / 1, ...),
which is the graph input's type.
Built with onnx.helper only (no onnx.checker at build time: python3-onnx 1.12 predates opsets 18-20).
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
rng = np.random.default_rng(1234)
cases = []
IR = {9: 4, 10: 5, 11: 6, 12: 7, 13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9}


def W(name, shape, scale=0.5):
    return nh.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def F(name, values, shape=None):
    a = np.array(values, dtype=np.float32)
    if shape is not None:
        a = a.reshape(shape)
    return nh.from_array(a, name)


def I64(name, values):
    return nh.from_array(np.array(values, dtype=np.int64), name)


def node(op, inputs, outputs, name=None, **attrs):
    return h.make_node(op, inputs, outputs, name=name if name is not None else "", **attrs)


DTYPE_NAMES = {TP.FLOAT: "float32", TP.FLOAT16: "float16", TP.BFLOAT16: "bfloat16", TP.INT64: "int64",
               TP.INT32: "int32", TP.INT8: "int8", TP.UINT8: "uint8", TP.BOOL: "bool"}


def add(name, opset, nodes, inputs, outputs, inits=(), out_types=None, low=-1.0, high=1.0, export=True,
        graph_inputs_include_inits=False, reference_nodes=None, in_types=None, tolerance=None, export_opset=17):
    """inputs: [(name, shape)] (a shape entry may be "N"), float32 unless in_types gives TensorProto types;
    outputs: [name]; reference_nodes: an equivalent graph that onnxruntime runs instead (for forms it does not
    implement), such a case is not exported; tolerance: relative and absolute tolerance against onnxruntime
    (default 1e-4 / 1e-5); export_opset: the opset the export is written at (17, or the model's own when a node
    has no opset-17 form)."""
    in_types = in_types or [TP.FLOAT] * len(inputs)
    vis = [h.make_tensor_value_info(n, t, s) for (n, s), t in zip(inputs, in_types)]
    if graph_inputs_include_inits:
        vis += [h.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    types = out_types or [TP.FLOAT] * len(outputs)
    outs = [h.make_tensor_value_info(o, t, None) for o, t in zip(outputs, types)]
    case = {"name": name}
    for key, graph_nodes in (("file", nodes), ("reference", reference_nodes)):
        if graph_nodes is None:
            continue
        g = h.make_graph(graph_nodes, name.replace("/", "_"), vis, outs, list(inits))
        m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)], producer_name="make_onnx_cases")
        m.ir_version = IR[opset]
        case[key] = name.replace("/", "_") + ("_reference" if key == "reference" else "") + ".onnx"
        onnx.save(m, os.path.join(OUT, case[key]))
    case["inputs"] = [[n, [1 if d == "N" else d for d in s], low, high, DTYPE_NAMES[t]]
                      for (n, s), t in zip(inputs, in_types)]
    case["export"] = export and reference_nodes is None
    case["export_opset"] = export_opset
    if tolerance is not None:
        case["tolerance"] = tolerance
    cases.append(case)


X4 = [("x", [2, 4, 7, 7])]

# ---- Gemm / MatMul ------------------------------------------------------------------------------------------
for opset in (9, 11, 13):
    add(f"Gemm/opset{opset}/transB_bias", opset, [node("Gemm", ["x", "w", "b"], ["y"], transB=1)],
        [("x", [3, 4])], ["y"], [W("w", [5, 4]), W("b", [5])])
add("Gemm/opset11/alpha_beta_transA", 11,
    [node("Gemm", ["x", "w", "b"], ["y"], transA=1, alpha=0.5, beta=2.0)],
    [("x", [4, 3])], ["y"], [W("w", [4, 5]), W("b", [1, 5])])
add("Gemm/opset13/no_bias", 13, [node("Gemm", ["x", "w"], ["y"])], [("x", [3, 4])], ["y"], [W("w", [4, 6])])
add("Gemm/opset13/matrix_bias", 13, [node("Gemm", ["x", "w", "b"], ["y"], transB=1)], [("x", [3, 4])], ["y"],
    [W("w", [5, 4]), W("b", [3, 5])])
add("MatMul/opset9/batched_weight", 9, [node("MatMul", ["x", "w"], ["y"])], [("x", [2, 3, 4])], ["y"],
    [W("w", [4, 5])])
add("MatMul/opset13/two_inputs", 13, [node("MatMul", ["a", "b"], ["y"])], [("a", [2, 3, 4]), ("b", [2, 4, 5])],
    ["y"])
add("MatMul/opset13/vector", 13, [node("MatMul", ["x", "w"], ["y"])], [("x", [3, 4])], ["y"], [W("w", [4])])

# ---- Conv / ConvTranspose / BatchNormalization ---------------------------------------------------------------
for opset in (9, 11, 17):
    add(f"Conv/opset{opset}/3x3_pad1", opset,
        [node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])], X4, ["y"],
        [W("w", [6, 4, 3, 3]), W("b", [6])])
add("Conv/opset11/no_bias", 11, [node("Conv", ["x", "w"], ["y"])], X4, ["y"], [W("w", [3, 4, 3, 3])])
add("Conv/opset11/groups2", 11, [node("Conv", ["x", "w", "b"], ["y"], group=2, pads=[1, 1, 1, 1])], X4, ["y"],
    [W("w", [6, 2, 3, 3]), W("b", [6])])
add("Conv/opset13/depthwise", 13, [node("Conv", ["x", "w", "b"], ["y"], group=4, pads=[1, 1, 1, 1])], X4, ["y"],
    [W("w", [4, 1, 3, 3]), W("b", [4])])
add("Conv/opset13/depthwise_multiplier2", 13, [node("Conv", ["x", "w"], ["y"], group=4)], X4, ["y"],
    [W("w", [8, 1, 3, 3])])
add("Conv/opset11/stride2_asym_pads", 11,
    [node("Conv", ["x", "w", "b"], ["y"], strides=[2, 2], pads=[0, 1, 1, 0])], X4, ["y"],
    [W("w", [5, 4, 3, 3]), W("b", [5])])
add("Conv/opset11/dilation2", 11, [node("Conv", ["x", "w"], ["y"], dilations=[2, 2], pads=[2, 2, 2, 2])], X4,
    ["y"], [W("w", [3, 4, 3, 3])])
add("Conv/opset11/rect_kernel_stride", 11, [node("Conv", ["x", "w"], ["y"], strides=[1, 2], pads=[0, 2, 0, 2])],
    X4, ["y"], [W("w", [3, 4, 1, 5])])
add("Conv/opset11/same_upper", 11, [node("Conv", ["x", "w"], ["y"], strides=[2, 2], auto_pad="SAME_UPPER")], X4,
    ["y"], [W("w", [3, 4, 3, 3])])
add("Conv/opset11/pointwise", 11, [node("Conv", ["x", "w", "b"], ["y"])], X4, ["y"],
    [W("w", [8, 4, 1, 1]), W("b", [8])])
add("Conv/opset13/conv1d", 13, [node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1], strides=[2])],
    [("x", [2, 3, 10])], ["y"], [W("w", [4, 3, 3]), W("b", [4])])
add("ConvTranspose/opset11/stride2", 11,
    [node("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1])], X4, ["y"],
    [W("w", [4, 3, 3, 3]), W("b", [3])])
add("ConvTranspose/opset13/output_padding", 13,
    [node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])], X4,
    ["y"], [W("w", [4, 2, 3, 3])])
add("ConvTranspose/opset13/groups2", 13, [node("ConvTranspose", ["x", "w"], ["y"], group=2, strides=[2, 2])], X4,
    ["y"], [W("w", [4, 3, 2, 2])])
add("ConvTranspose/opset17/kernel4_stride2_pad1", 17,
    [node("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1], kernel_shape=[4, 4])], X4,
    ["y"], [W("w", [4, 5, 4, 4]), W("b", [5])])


# ---- Control flow: If, Loop, Scan (subgraphs reading values of the enclosing graph) ---------------------------
def vi(name, elem=TP.FLOAT, shape=None):
    return h.make_tensor_value_info(name, elem, shape)


def graph(nodes, name, inputs, outputs, inits=()):
    return h.make_graph(nodes, name, inputs, outputs, list(inits))


def if_model(cond_nodes, then_g, else_g, outputs=("y",)):
    return cond_nodes + [node("If", ["cond"], list(outputs), then_branch=then_g, else_branch=else_g)]


# cond = ReduceSum(x) > 0; then: x * 2 (a subgraph initializer); else: x - relu(x) (an outer value).
cond_nodes = [node("ReduceSum", ["x"], ["s"], keepdims=0), node("Greater", ["s", "zero"], ["cond"]),
              node("Relu", ["x"], ["r"])]
then_g = graph([node("Mul", ["x", "two"], ["t"])], "then", [], [vi("t")], [F("two", 2.0, [])])
else_g = graph([node("Sub", ["x", "r"], ["e"])], "else", [], [vi("e")])
for branch, low, high in (("then", 0.1, 1.0), ("else", -1.0, -0.1)):
    add(f"If/opset11/outer_scope_{branch}", 11, if_model(cond_nodes, then_g, else_g), [("x", [2, 3])], ["y"],
        [F("zero", 0.0, [])], low=low, high=high)
# A nested If in the then branch, reading the outer x and r; two outputs of different shapes per branch.
inner = graph([node("If", ["cond"], ["u"],
                    then_branch=graph([node("Add", ["x", "r"], ["a"])], "inner_then", [], [vi("a")]),
                    else_branch=graph([node("Neg", ["r"], ["b"])], "inner_else", [], [vi("b")]))],
              "outer_then", [], [vi("u")])
add("If/opset16/nested", 16,
    cond_nodes + [node("If", ["cond"], ["y"], then_branch=inner,
                       else_branch=graph([node("Abs", ["x"], ["z"])], "outer_else", [], [vi("z")]))],
    [("x", [2, 3])], ["y"], [F("zero", 0.0, [])], low=0.1, high=1.0)
# Loop with a trip count: acc += x each iteration, scan output acc * acc.
body = graph([node("Add", ["acc", "x"], ["acc_out"]), node("Identity", ["c_in"], ["c_out"]),
              node("Mul", ["acc_out", "acc_out"], ["sq"])], "body",
             [vi("i", TP.INT64, []), vi("c_in", TP.BOOL, []), vi("acc", TP.FLOAT, [2, 3])],
             [vi("c_out", TP.BOOL, []), vi("acc_out", TP.FLOAT, [2, 3]), vi("sq", TP.FLOAT, [2, 3])])
add("Loop/opset13/trip_count_scan_output", 13, [node("Loop", ["M", "", "x"], ["y", "scan"], body=body)],
    [("x", [2, 3])], ["y", "scan"], [I64("M", 3)])
# Loop that stops on its condition: cond_out = i < 2, with M larger; the iteration number feeds the math.
body2 = graph([node("Less", ["i", "two"], ["c_out"]), node("Cast", ["i"], ["fi"], to=TP.FLOAT),
               node("Mul", ["acc", "fi"], ["m"]), node("Add", ["m", "x"], ["acc_out"])], "body2",
              [vi("i", TP.INT64, []), vi("c_in", TP.BOOL, []), vi("acc", TP.FLOAT, [3])],
              [vi("c_out", TP.BOOL, []), vi("acc_out", TP.FLOAT, [3])], [I64("two", 2)])
# (Not exported: a bool initializer is stored as uint8 and would be written back as uint8.)
add("Loop/opset16/condition", 16, [node("Loop", ["M", "go", "x"], ["y"], body=body2)], [("x", [3])], ["y"],
    [I64("M", 10), nh.from_array(np.array(True), "go")], export=False)
# Scan: running sums over the scan axis, forward and reversed, axis 0 and 1.
scan_body = graph([node("Add", ["s", "xi"], ["s_out"]), node("Mul", ["s_out", "k"], ["o"])], "scan_body",
                  [vi("s", TP.FLOAT, [3]), vi("xi", TP.FLOAT, [3])], [vi("s_out", TP.FLOAT, [3]), vi("o", TP.FLOAT, [3])])
for opset, axes, dirs, shape in ((11, [0], [0], [4, 3]), (16, [1], [1], [3, 5])):
    add(f"Scan/opset{opset}/axis{axes[0]}_dir{dirs[0]}", opset,
        [node("Scan", ["s0", "x"], ["s", "o"], body=scan_body, num_scan_inputs=1, scan_input_axes=axes,
              scan_input_directions=dirs, scan_output_directions=dirs, scan_output_axes=[0])],
        [("s0", [3]), ("x", shape)], ["s", "o"], [F("k", 0.5, [])])

def bn_inits(c):
    return [W("scale", [c]), W("bias", [c]),
            W("mean", [c]), nh.from_array((rng.random(c) + 0.5).astype(np.float32), "var")]


for opset in (9, 14, 15):
    add(f"BatchNormalization/opset{opset}/eps1e-3", opset,
        [node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"], epsilon=1e-3)], X4, ["y"],
        bn_inits(4))
add("BatchNormalization/opset13/2d_input", 13,
    [node("BatchNormalization", ["x", "scale", "bias", "mean", "var"], ["y"])], [("x", [3, 4])], ["y"],
    bn_inits(4))

# ---- activations ---------------------------------------------------------------------------------------------
for op, opsets, attrs in [("Relu", (9, 14), {}), ("LeakyRelu", (9, 16), {"alpha": 0.1}), ("Sigmoid", (9, 13), {}),
                          ("Tanh", (9, 13), {}), ("HardSigmoid", (9,), {"alpha": 0.3, "beta": 0.4}),
                          ("HardSigmoid", (13,), {}), ("HardSwish", (14,), {})]:
    for opset in opsets:
        variant = "attrs" if attrs else "default"
        add(f"{op}/opset{opset}/{variant}", opset, [node(op, ["x"], ["y"], **attrs)], [("x", [2, 3, 4, 5])],
            ["y"], low=-4, high=4)
add("Clip/opset9/attrs", 9, [node("Clip", ["x"], ["y"], min=-0.5, max=0.6)], [("x", [2, 3, 4])], ["y"])
add("Clip/opset9/relu6", 9, [node("Clip", ["x"], ["y"], min=0.0, max=6.0)], [("x", [2, 3, 4])], ["y"], low=-8,
    high=8)
add("Clip/opset11/inputs", 11, [node("Clip", ["x", "lo", "hi"], ["y"])], [("x", [2, 3, 4])], ["y"],
    [F("lo", -0.3, []), F("hi", 0.4, [])])
add("Clip/opset13/min_only", 13, [node("Clip", ["x", "lo"], ["y"])], [("x", [2, 3, 4])], ["y"], [F("lo", 0.1, [])])
add("Clip/opset13/max_only", 13, [node("Clip", ["x", "", "hi"], ["y"])], [("x", [2, 3, 4])], ["y"],
    [F("hi", 0.2, [])])
for approx in ("none", "tanh"):
    add(f"Gelu/opset20/{approx}", 20, [node("Gelu", ["x"], ["y"], approximate=approx)], [("x", [2, 3, 8])], ["y"],
        low=-4, high=4)
add("Softmax/opset11/axis1_rank3_coerced", 11, [node("Softmax", ["x"], ["y"], axis=1)], [("x", [2, 3, 4])], ["y"],
    low=-3, high=3)
add("Softmax/opset11/default_axis_rank4", 11, [node("Softmax", ["x"], ["y"])], [("x", [2, 3, 2, 2])], ["y"],
    low=-3, high=3)
add("Softmax/opset11/last_axis", 11, [node("Softmax", ["x"], ["y"], axis=2)], [("x", [2, 3, 4])], ["y"])
add("Softmax/opset13/axis1_rank3", 13, [node("Softmax", ["x"], ["y"], axis=1)], [("x", [2, 3, 4])], ["y"],
    low=-3, high=3)
add("Softmax/opset13/default_axis", 13, [node("Softmax", ["x"], ["y"])], [("x", [2, 3, 4])], ["y"], low=-3, high=3)
add("Softmax/opset9/2d", 9, [node("Softmax", ["x"], ["y"])], [("x", [3, 10])], ["y"], low=-5, high=5)

# ---- pooling -------------------------------------------------------------------------------------------------
X8 = [("x", [2, 3, 8, 8])]
add("MaxPool/opset9/k2s2", 9, [node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])], X8, ["y"])
add("MaxPool/opset11/k3s2_ceil", 11,
    [node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], X8, ["y"])
add("MaxPool/opset12/k3s2_pad1", 12,
    [node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])], X8, ["y"])
add("MaxPool/opset12/dilation2", 12,
    [node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], dilations=[2, 2])], X8, ["y"])
add("MaxPool/opset11/same_upper", 11,
    [node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")],
    [("x", [1, 2, 7, 7])], ["y"])
add("AveragePool/opset9/k2s2", 9, [node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2])], X8,
    ["y"])
add("AveragePool/opset11/pad1_exclude", 11,
    [node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])], X8, ["y"])
add("AveragePool/opset11/pad1_include", 11,
    [node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)], X8, ["y"])
add("AveragePool/opset11/k3s2_ceil", 11,
    [node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], X8, ["y"])
for opset in (9, 13):
    add(f"GlobalAveragePool/opset{opset}/nchw", opset, [node("GlobalAveragePool", ["x"], ["y"])], X8, ["y"])

# ---- shape operators -----------------------------------------------------------------------------------------
for opset, axis in ((9, 1), (11, 2), (13, 0), (13, -1)):
    add(f"Flatten/opset{opset}/axis{axis}", opset, [node("Flatten", ["x"], ["y"], axis=axis)], X4, ["y"])
add("Reshape/opset9/zero_and_minus1", 9, [node("Reshape", ["x", "s"], ["y"])], X4, ["y"], [I64("s", [0, -1])])
add("Reshape/opset14/explicit", 14, [node("Reshape", ["x", "s"], ["y"])], X4, ["y"], [I64("s", [2, 7, 28])])
add("Transpose/opset9/perm_nhwc", 9, [node("Transpose", ["x"], ["y"], perm=[0, 2, 3, 1])], X4, ["y"])
add("Transpose/opset13/default_reverse", 13, [node("Transpose", ["x"], ["y"])], [("x", [2, 3, 4])], ["y"])
add("Concat/opset11/axis1_with_weight", 11, [node("Concat", ["x", "c"], ["y"], axis=1)], X4, ["y"],
    [W("c", [2, 2, 7, 7])])
add("Concat/opset13/axis_neg1_two_inputs", 13, [node("Concat", ["a", "b"], ["y"], axis=-1)],
    [("a", [2, 3, 4]), ("b", [2, 3, 2])], ["y"])
add("Split/opset11/attr", 11, [node("Split", ["x"], ["y0", "y1"], axis=1, split=[1, 3])], X4, ["y0", "y1"])
add("Split/opset11/equal", 11, [node("Split", ["x"], ["y0", "y1"], axis=1)], X4, ["y0", "y1"])
add("Split/opset13/input", 13, [node("Split", ["x", "s"], ["y0", "y1", "y2"], axis=3)], X4, ["y0", "y1", "y2"],
    [I64("s", [2, 2, 3])])
add("Split/opset18/num_outputs_even", 18, [node("Split", ["x"], ["y0", "y1"], axis=1, num_outputs=2)], X4,
    ["y0", "y1"])
add("Split/opset18/num_outputs_uneven", 18, [node("Split", ["x"], ["y0", "y1", "y2"], axis=2, num_outputs=3)], X4,
    ["y0", "y1", "y2"])
add("Slice/opset9/attrs", 9, [node("Slice", ["x"], ["y"], starts=[1, 2], ends=[3, 100], axes=[1, 3])], X4, ["y"])
add("Slice/opset10/inputs", 10, [node("Slice", ["x", "st", "en", "ax"], ["y"])], X4, ["y"],
    [I64("st", [1, -4]), I64("en", [3, 1000]), I64("ax", [1, 2])])
add("Slice/opset13/steps_negative", 13, [node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], X4, ["y"],
    [I64("st", [-1, 0]), I64("en", [-1000, 7]), I64("ax", [3, 2]), I64("sp", [-2, 3])])
add("Slice/opset13/no_axes", 13, [node("Slice", ["x", "st", "en"], ["y"])], [("x", [5, 6])], ["y"],
    [I64("st", [1, 1]), I64("en", [4, -1])])
add("Squeeze/opset11/axes_attr", 11, [node("Squeeze", ["x"], ["y"], axes=[1, 3])], [("x", [2, 1, 3, 1])], ["y"])
add("Squeeze/opset13/axes_input", 13, [node("Squeeze", ["x", "a"], ["y"])], [("x", [2, 1, 3, 1])], ["y"],
    [I64("a", [-1])])
add("Squeeze/opset13/all", 13, [node("Squeeze", ["x"], ["y"])], [("x", [2, 1, 3, 1])], ["y"])
add("Unsqueeze/opset11/axes_attr", 11, [node("Unsqueeze", ["x"], ["y"], axes=[0, 3])], [("x", [2, 3])], ["y"])
add("Unsqueeze/opset13/axes_input", 13, [node("Unsqueeze", ["x", "a"], ["y"])], [("x", [2, 3])], ["y"],
    [I64("a", [1, -1])])

# ---- elementwise and reductions ------------------------------------------------------------------------------
for op in ("Add", "Sub", "Mul", "Div"):
    add(f"{op}/opset9/channel_broadcast", 9, [node(op, ["x", "c"], ["y"])], X4, ["y"],
        [nh.from_array((rng.random((4, 1, 1)) + 0.5).astype(np.float32), "c")])
    add(f"{op}/opset14/two_inputs_broadcast", 14, [node(op, ["a", "b"], ["y"])], [("a", [2, 3, 4]), ("b", [3, 1])],
        ["y"], low=0.5, high=2)
add("Add/opset13/scalar", 13, [node("Add", ["x", "c"], ["y"])], X4, ["y"], [F("c", 0.25, [])])
add("Pow/opset9/square", 9, [node("Pow", ["x", "e"], ["y"])], X4, ["y"], [F("e", 2.0, [])])
add("Pow/opset13/sqrt_exponent", 13, [node("Pow", ["x", "e"], ["y"])], X4, ["y"], [F("e", 0.5, [])], low=0.1,
    high=3)
add("Pow/opset15/two_inputs", 15, [node("Pow", ["a", "b"], ["y"])], [("a", [2, 3]), ("b", [2, 3])], ["y"], low=0.2,
    high=2)
for opset in (9, 13):
    add(f"Sqrt/opset{opset}/positive", opset, [node("Sqrt", ["x"], ["y"])], X4, ["y"], low=0.0, high=4)
add("ReduceMean/opset9/axes_keepdims", 9, [node("ReduceMean", ["x"], ["y"], axes=[2, 3])], X4, ["y"])
add("ReduceMean/opset13/no_keepdims", 13, [node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)], X4, ["y"])
add("ReduceMean/opset13/all_axes", 13, [node("ReduceMean", ["x"], ["y"])], X4, ["y"])
add("ReduceSum/opset11/axes_attr", 11, [node("ReduceSum", ["x"], ["y"], axes=[1, 3], keepdims=0)], X4, ["y"])
add("ReduceSum/opset13/axes_input", 13, [node("ReduceSum", ["x", "a"], ["y"])], X4, ["y"], [I64("a", [2])])
add("ReduceMean/opset18/axes_input", 18, [node("ReduceMean", ["x", "a"], ["y"], keepdims=1)], X4, ["y"],
    [I64("a", [-1, 2])])
# Axes computed in the graph have no opset-17 form (an attribute): exported at opset 18.
add("ReduceMax/opset18/computed_axes", 18,
    [node("Identity", ["a"], ["ac"]), node("ReduceMax", ["x", "ac"], ["y"], keepdims=0)], X4, ["y"],
    [I64("a", [1, 3])], export_opset=18)

# The Reduce family: axes as attribute (before opset 18; ReduceSum before 13) or as input 1, keepdims,
# noop_with_empty_axes, integer inputs (made in-graph by Cast). The exporter rewrites only ReduceSum / ReduceMean
# into their opset-17 form, so the other operators' input-axes cases are not exported.
X3 = [("x", [2, 3, 4])]


def reduce_case(op, opset, variant, axes=None, keepdims=None, noop=None, to=None, low=-1.0, high=1.0):
    axes_input = opset >= (13 if op == "ReduceSum" else 18)
    attrs, inits, ins, nodes = {}, [], ["x"], []
    if keepdims is not None:
        attrs["keepdims"] = keepdims
    if noop is not None:
        attrs["noop_with_empty_axes"] = noop
    if to is not None:
        nodes.append(node("Cast", ["x"], ["xc"], to=to))
        ins = ["xc"]
    if axes is not None and axes_input:
        inits.append(I64("axes", axes))
        ins.append("axes")
    elif axes is not None:
        attrs["axes"] = axes
    nodes.append(node(op, ins, ["y"], **attrs))
    add(f"{op}/opset{opset}/{variant}", opset, nodes, X3, ["y"], inits, out_types=[to or TP.FLOAT], low=low,
        high=high)


for op in ("ReduceMax", "ReduceMin"):
    reduce_case(op, 11, "axis1_no_keepdims", axes=[1], keepdims=0)
    reduce_case(op, 12, "negative_axis", axes=[-1])
    reduce_case(op, 13, "all_axes")
    reduce_case(op, 13, "int64_axes_0_2", axes=[0, 2], to=TP.INT64, low=-5, high=5)
    reduce_case(op, 18, "axes_input_non_adjacent", axes=[2, 0])
    reduce_case(op, 18, "int64_axes_input", axes=[1], keepdims=0, to=TP.INT64, low=-5, high=5)
    reduce_case(op, 18, "empty_axes_input_all", axes=[])
    reduce_case(op, 18, "empty_axes_noop", axes=[], noop=1)
reduce_case("ReduceMax", 13, "last_axis_no_keepdims", axes=[2], keepdims=0)
reduce_case("ReduceMax", 13, "all_axes_no_keepdims", keepdims=0)  # openwakeword's melspectrogram form
reduce_case("ReduceMax", 20, "axes_input", axes=[-2], keepdims=0)
reduce_case("ReduceMin", 20, "noop_without_axes", noop=1)
reduce_case("ReduceProd", 11, "axis1", axes=[1], low=0.5, high=1.5)
reduce_case("ReduceProd", 13, "all_axes_no_keepdims", keepdims=0, low=0.8, high=1.2)
reduce_case("ReduceProd", 13, "int64", axes=[2], to=TP.INT64, low=-3, high=3)
reduce_case("ReduceProd", 18, "axes_input", axes=[0, -1], low=0.5, high=1.5)
for op, low in (("ReduceL1", -1.0), ("ReduceL2", -1.0), ("ReduceLogSum", 0.1), ("ReduceLogSumExp", -5.0),
                ("ReduceSumSquare", -1.0)):
    high = 5.0 if op == "ReduceLogSumExp" else 1.0
    reduce_case(op, 11, "axes_0_2", axes=[0, 2], low=low, high=high)
    reduce_case(op, 13, "axis1_no_keepdims", axes=[1], keepdims=0, low=low, high=high)
    reduce_case(op, 13, "all_axes", low=low, high=high)
    reduce_case(op, 18, "axes_input_negative", axes=[-1], low=low, high=high)
    reduce_case(op, 18, "empty_axes_input_all", axes=[], keepdims=0, low=low, high=high)
reduce_case("ReduceL1", 13, "int64", axes=[1], to=TP.INT64, low=-5, high=5)
reduce_case("ReduceSumSquare", 13, "int64", axes=[0], to=TP.INT64, low=-5, high=5)
reduce_case("ReduceSum", 13, "int64_axes_input", axes=[-1, 0], keepdims=0, to=TP.INT64, low=-5, high=5)
reduce_case("ReduceSum", 13, "noop_without_axes", noop=1)
reduce_case("ReduceSum", 13, "empty_axes_input_all", axes=[])
reduce_case("ReduceMean", 18, "noop_without_axes", noop=1)

# ---- logical, element-wise and selection operators -----------------------------------------------------------
# Graph inputs are float: bools come from Greater(x, 0), integers from Cast (which truncates in both runtimes),
# ties from Floor. Bool results are cast to float so the files stay exportable (bool graph outputs would be
# written as uint8).
ZERO = F("zero", 0.0, [])


def gt0(x, out):
    return node("Greater", [x, "zero"], [out])


for op, opset in (("And", 9), ("Or", 13), ("Xor", 17)):
    add(f"{op}/opset{opset}/broadcast", opset,
        [gt0("a", "pa"), gt0("b", "pb"), node(op, ["pa", "pb"], ["r"]), node("Cast", ["r"], ["y"], to=TP.FLOAT)],
        [("a", [2, 3, 4]), ("b", [3, 1])], ["y"], [ZERO])
add("Not/opset13/of_and", 13,
    [gt0("a", "pa"), gt0("b", "pb"), node("And", ["pa", "pb"], ["r"]), node("Not", ["r"], ["n"]),
     node("Cast", ["n"], ["y"], to=TP.FLOAT)], [("a", [2, 3, 4]), ("b", [4])], ["y"], [ZERO])
add("Not/opset9/plain", 9, [gt0("x", "p"), node("Not", ["p"], ["n"]), node("Cast", ["n"], ["y"], to=TP.FLOAT)],
    [("x", [3, 5])], ["y"], [ZERO])
for opset in (9, 13):
    add(f"Sign/opset{opset}/float", opset, [node("Sign", ["x"], ["y"])], X4, ["y"])
add("Sign/opset13/int64", 13, [node("Cast", ["x"], ["i"], to=TP.INT64), node("Sign", ["i"], ["y"])], X4, ["y"],
    out_types=[TP.INT64], low=-3, high=3)
add("Softplus/opset9/wide_range", 9, [node("Softplus", ["x"], ["y"])], X4, ["y"], low=-30, high=30)
add("Softsign/opset9/plain", 9, [node("Softsign", ["x"], ["y"])], X4, ["y"], low=-5, high=5)
add("Selu/opset9/default", 9, [node("Selu", ["x"], ["y"])], X4, ["y"], low=-3, high=3)
add("Selu/opset13/attrs", 13, [node("Selu", ["x"], ["y"], alpha=2.0, gamma=0.5)], X4, ["y"], low=-3, high=3)
add("PRelu/opset9/channel_slope", 9, [node("PRelu", ["x", "s"], ["y"])], X4, ["y"], [W("s", [4, 1, 1])])
add("PRelu/opset16/scalar_slope", 16, [node("PRelu", ["x", "s"], ["y"])], X4, ["y"], [F("s", [0.2])])
add("PRelu/opset16/slope_input", 16, [node("PRelu", ["x", "s"], ["y"])], [("x", [2, 3, 5]), ("s", [5])], ["y"])
add("Mod/opset10/fmod_float", 10, [node("Mod", ["x", "d"], ["y"], fmod=1)], X4, ["y"],
    [F("d", [0.7, -1.3, 2.0, 0.45], [4, 1, 1])], low=-5, high=5)
for fmod in (0, 1):
    add(f"Mod/opset13/int64_fmod{fmod}", 13,
        [node("Cast", ["x"], ["i"], to=TP.INT64), node("Mod", ["i", "d"], ["y"], fmod=fmod)], [("x", [3, 4])], ["y"],
        [I64("d", [3, -3, 5, -7])], out_types=[TP.INT64], low=-20, high=20)
for opset in (9, 13):
    for op in ("Sum", "Mean"):
        add(f"{op}/opset{opset}/three_inputs_broadcast", opset, [node(op, ["a", "b", "c"], ["y"])],
            [("a", [2, 3, 4]), ("b", [3, 1]), ("c", [4])], ["y"])
add("Sum/opset13/one_input", 13, [node("Sum", ["x"], ["y"])], X4, ["y"])
add("Mean/opset13/with_weight", 13, [node("Mean", ["x", "w"], ["y"])], X4, ["y"], [W("w", [7])])
add("ArgMin/opset11/axis1", 11, [node("ArgMin", ["x"], ["y"], axis=1)], X4, ["y"], out_types=[TP.INT64])
add("ArgMin/opset12/ties_select_last", 12,
    [node("Floor", ["x"], ["f"]), node("ArgMin", ["f"], ["y"], axis=2, select_last_index=1)], X4, ["y"],
    out_types=[TP.INT64], low=-2, high=2)
add("ArgMin/opset13/ties_first_no_keepdims", 13,
    [node("Floor", ["x"], ["f"]), node("ArgMin", ["f"], ["y"], axis=-1, keepdims=0)], X4, ["y"],
    out_types=[TP.INT64], low=-2, high=2)
add("ArgMax/opset12/ties_select_last", 12,
    [node("Floor", ["x"], ["f"]), node("ArgMax", ["f"], ["y"], axis=0, select_last_index=1)], X4, ["y"],
    out_types=[TP.INT64], low=-2, high=2)
add("ArgMax/opset13/int64_ties", 13,
    [node("Cast", ["x"], ["i"], to=TP.INT64), node("ArgMax", ["i"], ["y"], axis=1, keepdims=0)], X4, ["y"],
    out_types=[TP.INT64], low=-3, high=3)
add("CumSum/opset11/axis1", 11, [node("CumSum", ["x", "ax"], ["y"])], X4, ["y"],
    [nh.from_array(np.array(1, dtype=np.int64), "ax")])
add("CumSum/opset14/exclusive", 14, [node("CumSum", ["x", "ax"], ["y"], exclusive=1)], X4, ["y"],
    [nh.from_array(np.array(3, dtype=np.int64), "ax")])
add("CumSum/opset14/reverse_int32_axis", 14, [node("CumSum", ["x", "ax"], ["y"], reverse=1)], X4, ["y"],
    [nh.from_array(np.array(-2, dtype=np.int32), "ax")])
add("CumSum/opset14/exclusive_reverse_axis0", 14, [node("CumSum", ["x", "ax"], ["y"], exclusive=1, reverse=1)], X4,
    ["y"], [I64("ax", [0])])
add("CumSum/opset14/int64", 14, [node("Cast", ["x"], ["i"], to=TP.INT64), node("CumSum", ["i", "ax"], ["y"])], X4,
    ["y"], [nh.from_array(np.array(2, dtype=np.int64), "ax")], out_types=[TP.INT64], low=-5, high=5)
# TopK: several k (onnxruntime picks k = 1, heap and sort paths by k), ties from Floor, both directions.
add("TopK/opset9/k_attribute", 9, [node("TopK", ["x"], ["v", "i"], k=3)], X4, ["v", "i"],
    out_types=[TP.FLOAT, TP.INT64])
add("TopK/opset10/k_input", 10, [node("TopK", ["x", "k"], ["v", "i"])], X4, ["v", "i"], [I64("k", [3])],
    out_types=[TP.FLOAT, TP.INT64])
for k, axis, largest in ((1, 1, 1), (2, -1, 0), (5, 2, 1), (7, 3, 0)):
    add(f"TopK/opset11/ties_k{k}_axis{axis}_largest{largest}", 11,
        [node("Floor", ["x"], ["f"]), node("TopK", ["f", "k"], ["v", "i"], axis=axis, largest=largest)], X4,
        ["v", "i"], [I64("k", [k])], out_types=[TP.FLOAT, TP.INT64], low=-3, high=3)
add("TopK/opset13/int64_values", 13,
    [node("Cast", ["x"], ["c"], to=TP.INT64), node("TopK", ["c", "k"], ["v", "i"], axis=1)], X4, ["v", "i"],
    [I64("k", [2])], out_types=[TP.INT64, TP.INT64], low=-5, high=5)
# sorted = 0 leaves the order open: compare the sets, each sorted again by a sorted TopK.
add("TopK/opset11/unsorted_as_sets", 11,
    [node("TopK", ["x", "k"], ["v", "i"], axis=-1, sorted=0), node("TopK", ["v", "k"], ["vs", "unused1"], axis=-1),
     node("Cast", ["i"], ["fi"], to=TP.FLOAT), node("TopK", ["fi", "k"], ["is", "unused2"], axis=-1)],
    [("x", [3, 40])], ["vs", "is"], [I64("k", [6])])
add("GatherElements/opset11/axis0", 11, [node("GatherElements", ["x", "i"], ["y"], axis=0)], [("x", [3, 4])], ["y"],
    [I64("i", [[2, -1, 0, 1], [-3, 0, 2, 2]])])
add("GatherElements/opset13/axis1_int32", 13, [node("GatherElements", ["x", "i"], ["y"], axis=-1)], [("x", [3, 4])],
    ["y"], [nh.from_array(np.array([[3, 0], [1, -4], [2, 2]], dtype=np.int32), "i")])
add("GatherElements/opset13/rank3", 13, [node("GatherElements", ["x", "i"], ["y"], axis=1)], [("x", [2, 3, 4])],
    ["y"], [I64("i", rng.integers(-3, 3, size=(2, 5, 3)).tolist())])
for opset in (9, 13, 19):
    add(f"Size/opset{opset}/scalar", opset, [node("Size", ["x"], ["y"])], X4, ["y"], out_types=[TP.INT64])
add("InstanceNormalization/opset9/eps1e-3", 9,
    [node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-3)], X4, ["y"], [W("s", [4]), W("b", [4])])
add("InstanceNormalization/opset13/3d", 13, [node("InstanceNormalization", ["x", "s", "b"], ["y"])],
    [("x", [2, 3, 10])], ["y"], [W("s", [3]), W("b", [3])], low=-3, high=5)
add("LayerNormalization/opset17/last_axis", 17, [node("LayerNormalization", ["x", "s", "b"], ["y"])],
    [("x", [2, 5, 7])], ["y"], [W("s", [7]), W("b", [7])])
add("LayerNormalization/opset17/axis1_all_outputs", 17,
    [node("LayerNormalization", ["x", "s"], ["y", "m", "inv"], axis=1, epsilon=1e-3)], X4, ["y", "m", "inv"],
    [W("s", [4, 7, 7])], low=-2, high=3)
add("LayerNormalization/opset18/axis_neg2_invstd_only", 18,
    [node("LayerNormalization", ["x", "s", "b"], ["y", "", "inv"], axis=-2)], X4, ["y", "inv"],
    [W("s", [7, 7]), W("b", [7, 7])])
add("LayerNormalization/opset20/broadcast_scale", 20,
    [node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-2)], X4, ["y"], [W("s", [1, 7]), W("b", [7])])
# Einsum: the forms exporters emit (matmul, batched matmul, attention scores, transposes, reductions).
EINSUM = [
    ("matmul", "ij,jk->ik", [[3, 4], [4, 5]]),
    ("implicit_matmul", "ij,jk", [[3, 4], [4, 5]]),
    ("implicit_order", "ba,bc", [[3, 4], [3, 2]]),
    ("batched", "bij,bjk->bik", [[2, 3, 4], [2, 4, 5]]),
    ("attention_scores", "bhid,bhjd->bhij", [[1, 2, 3, 4], [1, 2, 5, 4]]),
    ("attention_values", "bhij,bhjd->bihd", [[1, 2, 3, 5], [1, 2, 5, 4]]),
    ("transpose", "ij->ji", [[3, 4]]),
    ("permute3", "abc->cab", [[2, 3, 4]]),
    ("diagonal", "ii->i", [[4, 4]]),
    ("trace", "ii", [[4, 4]]),
    ("sum_all", "ij->", [[3, 4]]),
    ("sum_middle", "bij->bj", [[2, 3, 4]]),
    ("outer", "i,j->ij", [[3], [4]]),
    ("dot", "i,i", [[5], [5]]),
    ("rowwise_dot", "ij,ij->i", [[3, 4], [3, 4]]),
    ("ellipsis_broadcast", "...ij,...jk->...ik", [[3, 3, 4], [1, 4, 5]]),
    ("ellipsis_batch", "...ij,...jk", [[2, 2, 3, 4], [2, 1, 4, 5]]),
    ("summed_operand_label", "ijk,jl->il", [[2, 3, 4], [3, 5]]),
    ("three_operands", "ij,jk,kl->il", [[2, 3], [3, 4], [4, 5]]),
    ("bilinear", "bn,anm,bm->ba", [[2, 3], [4, 3, 5], [2, 5]]),
]
for opset in (12, 13):
    for variant, equation, shapes in EINSUM:
        if opset == 13 and variant not in ("matmul", "attention_scores", "ellipsis_batch", "three_operands"):
            continue
        names = [f"x{i}" for i in range(len(shapes))]
        add(f"Einsum/opset{opset}/{variant}", opset, [node("Einsum", names, ["y"], equation=equation)],
            list(zip(names, shapes)), ["y"])
add("Einsum/opset12/weight_operand", 12, [node("Einsum", ["x", "w"], ["y"], equation="bsd,hd->bsh")],
    [("x", [2, 3, 4])], ["y"], [W("w", [6, 4])])

# ---- recurrent layers -----------------------------------------------------------------------------------------
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


def rnn_case(op, opset, variant, S=5, B=3, I=4, H=3, direction="forward", layout=0, bias=True, lens=None,
             init_h=False, init_c=False, peep=False, outputs=("Y", "Y_h", "Y_c"), states_as_inputs=False, seed=None,
             **attrs):
    """One recurrent node; weights drawn from their own generator (seed) so several seeds cover one config."""
    g = np.random.default_rng(seed if seed is not None else len(cases))
    D = 2 if direction == "bidirectional" else 1
    G = GATES[op]

    def rand(name, shape, scale=0.6):
        return nh.from_array((g.standard_normal(shape) * scale).astype(np.float32), name)

    x_shape = [B, S, I] if layout else [S, B, I]
    state = [B, D, H] if layout else [D, B, H]
    inits = [rand("W", [D, G * H, I]), rand("R", [D, G * H, H])]
    ins = ["x", "W", "R", "B" if bias else "", "lens" if lens is not None else "", "", "", ""]
    if bias:
        inits.append(rand("B", [D, 2 * G * H], 0.3))
    if lens is not None:
        inits.append(nh.from_array(np.array(lens, dtype=np.int32), "lens"))
    graph_inputs = [("x", x_shape)]
    for flag, name, index in ((init_h, "h0", 5), (init_c, "c0", 6)):
        if flag:
            ins[index] = name
            if states_as_inputs:
                graph_inputs.append((name, state))
            else:
                inits.append(rand(name, state))
    if peep:
        ins[7] = "P"
        inits.append(rand("P", [D, 3 * H]))
    while ins and ins[-1] == "":
        ins.pop()
    names = {"Y": "y", "Y_h": "yh", "Y_c": "yc"}
    slots = ["Y", "Y_h", "Y_c"] if op == "LSTM" else ["Y", "Y_h"]
    outs = [names[o] if o in outputs else "" for o in slots]
    while outs and outs[-1] == "":
        outs.pop()
    if opset >= 14:
        attrs["layout"] = layout
    n = node(op, ins, outs, hidden_size=H, direction=direction, **attrs)
    reference = None
    if layout:
        # onnxruntime runs only layout 0: the reference transposes into and out of it.
        attrs["layout"] = 0
        pre = [node("Transpose", [i], [i + "_t"], perm=[1, 0, 2]) for i in ins[:1] + ins[5:7] if i]
        ref_ins = [i + "_t" if i and (k == 0 or k in (5, 6)) else i for k, i in enumerate(ins)]
        ref_outs = [o + "_t" if o else "" for o in outs]
        post = [node("Transpose", [o + "_t"], [o], perm=[2, 0, 1, 3] if k == 0 else [1, 0, 2])
                for k, o in enumerate(outs) if o]
        reference = pre + [node(op, ref_ins, ref_outs, hidden_size=H, direction=direction, **attrs)] + post
    add(f"{op}/opset{opset}/{variant}", opset, [n], graph_inputs, [o for o in outs if o], inits, low=-1.5, high=1.5,
        reference_nodes=reference)


for seed in (1, 2):
    rnn_case("LSTM", 9, f"forward_default_seed{seed}", seed=seed)
rnn_case("LSTM", 14, "reverse_initial_states", direction="reverse", init_h=True, init_c=True)
rnn_case("LSTM", 14, "bidirectional_lens_states", direction="bidirectional", lens=[3, 5, 1], init_h=True, init_c=True)
rnn_case("LSTM", 14, "peepholes", peep=True, init_c=True)
rnn_case("LSTM", 14, "input_forget_peepholes_reverse", direction="reverse", peep=True, input_forget=1, lens=[2, 5, 4])
rnn_case("LSTM", 14, "clip_bidirectional", direction="bidirectional", clip=0.7)
rnn_case("LSTM", 14, "layout1_bidirectional_lens", direction="bidirectional", layout=1, lens=[4, 2, 5], init_h=True,
         init_c=True, peep=True)
rnn_case("LSTM", 14, "no_bias_y_h_only", bias=False, outputs=("Y_h",))
rnn_case("LSTM", 14, "y_c_only_zero_length", lens=[0, 3, 5], init_h=True, init_c=True, outputs=("Y_c",))
rnn_case("LSTM", 14, "activations_alpha_beta", activations=["HardSigmoid", "Tanh", "Relu"], activation_alpha=[0.3],
         activation_beta=[0.45])
rnn_case("LSTM", 14, "activations_bidirectional", direction="bidirectional",
         activations=["Sigmoid", "Tanh", "Tanh", "Sigmoid", "LeakyRelu", "Softsign"], activation_alpha=[0.2])
# Silero VAD's form: batch 1, states fed as graph inputs, Y unused.
for opset in (15, 16):
    rnn_case("LSTM", opset, "silero_states_as_inputs", S=2, B=1, I=16, H=16, init_h=True, init_c=True,
             states_as_inputs=True, outputs=("Y_h", "Y_c"))
for seed in (1, 2):
    rnn_case("GRU", 9, f"forward_default_seed{seed}", seed=seed)
rnn_case("GRU", 14, "linear_before_reset_bidirectional", direction="bidirectional", linear_before_reset=1,
         lens=[5, 2, 3], init_h=True)
rnn_case("GRU", 14, "reverse_lens_initial_h", direction="reverse", lens=[1, 5, 3], init_h=True)
rnn_case("GRU", 14, "linear_before_reset_reverse", direction="reverse", linear_before_reset=1, init_h=True)
rnn_case("GRU", 14, "clip", clip=0.5, init_h=True)
rnn_case("GRU", 14, "clip_linear_before_reset", clip=0.5, linear_before_reset=1)
rnn_case("GRU", 14, "layout1_bidirectional", direction="bidirectional", layout=1, lens=[3, 5, 2], init_h=True)
rnn_case("GRU", 14, "no_bias_y_h_only", bias=False, outputs=("Y_h",), init_h=True)
rnn_case("GRU", 14, "zero_length", lens=[0, 4, 5], outputs=("Y", "Y_h"), init_h=True)
rnn_case("GRU", 14, "activations", activations=["Sigmoid", "Relu"])
rnn_case("GRU", 14, "activations_alpha_beta_bidirectional", direction="bidirectional",
         activations=["HardSigmoid", "Tanh", "Sigmoid", "LeakyRelu"], activation_alpha=[0.3, 0.1],
         activation_beta=[0.6])
for seed in (1, 2):
    rnn_case("RNN", 9, f"forward_default_seed{seed}", seed=seed)
rnn_case("RNN", 14, "reverse_bias_lens_initial_h", direction="reverse", lens=[4, 1, 5], init_h=True)
rnn_case("RNN", 14, "bidirectional_lens_clip", direction="bidirectional", lens=[2, 5, 3], clip=0.6, init_h=True)
rnn_case("RNN", 14, "layout1", layout=1, lens=[5, 3, 1], init_h=True)
rnn_case("RNN", 14, "layout1_bidirectional", direction="bidirectional", layout=1, init_h=True)
rnn_case("RNN", 14, "relu", activations=["Relu"])
rnn_case("RNN", 14, "sigmoid_y_h_only", activations=["Sigmoid"], outputs=("Y_h",))
rnn_case("RNN", 14, "affine_bidirectional", direction="bidirectional", activations=["Affine", "Affine"],
         activation_alpha=[0.5, 2.0], activation_beta=[0.1, -0.2])
rnn_case("RNN", 14, "leakyrelu_alpha", activations=["LeakyRelu"], activation_alpha=[0.3])

# ---- Resize / Pad --------------------------------------------------------------------------------------------
EMPTY = F("roi", np.zeros(0, dtype=np.float32))
SC2 = F("sc", [1, 1, 2, 2])
XR = [("x", [1, 2, 3, 4])]
add("Resize/opset10/nearest_x2", 10, [node("Resize", ["x", "sc"], ["y"], mode="nearest")], XR, ["y"],
    [F("sc", [1, 1, 2, 1.5])])
add("Resize/opset10/nearest_down", 10, [node("Resize", ["x", "sc"], ["y"], mode="nearest")], [("x", [1, 2, 8, 8])],
    ["y"], [F("sc", [1, 1, 0.6, 0.5])])
add("Resize/opset10/linear_x2", 10, [node("Resize", ["x", "sc"], ["y"], mode="linear")], XR, ["y"], [SC2])
add("Upsample/opset9/nearest", 9, [node("Upsample", ["x", "sc"], ["y"], mode="nearest")], XR, ["y"],
    [F("sc", [1, 1, 2, 1.5])])
add("Upsample/opset9/linear", 9, [node("Upsample", ["x", "sc"], ["y"], mode="linear")], XR, ["y"], [SC2])
add("Resize/opset11/nearest_x2", 11, [node("Resize", ["x", "roi", "sc"], ["y"], mode="nearest")], XR, ["y"],
    [EMPTY, SC2])
add("Resize/opset11/linear_half_pixel", 11, [node("Resize", ["x", "roi", "sc"], ["y"], mode="linear")], XR, ["y"],
    [EMPTY, SC2])
add("Resize/opset13/linear_align_corners", 13,
    [node("Resize", ["x", "", "sc"], ["y"], mode="linear", coordinate_transformation_mode="align_corners")], XR,
    ["y"], [SC2])
add("Resize/opset13/nearest_asymmetric_floor", 13,
    [node("Resize", ["x", "", "sc"], ["y"], mode="nearest", coordinate_transformation_mode="asymmetric",
          nearest_mode="floor")], XR, ["y"], [F("sc", [1, 1, 1.5, 2.5])])
add("Resize/opset13/sizes_linear", 13, [node("Resize", ["x", "", "", "sz"], ["y"], mode="linear")], XR, ["y"],
    [I64("sz", [1, 2, 5, 7])])
add("Resize/opset13/linear_downsample", 13, [node("Resize", ["x", "", "sc"], ["y"], mode="linear")],
    [("x", [1, 2, 8, 8])], ["y"], [F("sc", [1, 1, 0.5, 0.5])])
# Bilinear resizing agrees with onnxruntime to the bit (tolerance 0): a one-ulp difference is enough to move a
# DynamicQuantizeLinear range or a value at a rounding midpoint after it (imgly's small ISNet: 4-7% at the output).
EXACT = [0.0, 0.0]
add("Resize/opset13/linear_half_pixel_sizes_exact", 13, [node("Resize", ["x", "", "", "sz"], ["y"], mode="linear")],
    [("x", [1, 3, 9, 11])], ["y"], [I64("sz", [1, 3, 18, 22])], low=0, high=6, tolerance=EXACT)
add("Resize/opset13/linear_align_corners_exact", 13,
    [node("Resize", ["x", "", "sc"], ["y"], mode="linear", coordinate_transformation_mode="align_corners")],
    [("x", [2, 2, 7, 10])], ["y"], [F("sc", [1, 1, 1.7, 0.6])], low=-3, high=3, tolerance=EXACT)
add("Resize/opset13/linear_height_only_exact", 13,
    [node("Resize", ["x", "", "sc"], ["y"], mode="linear", coordinate_transformation_mode="pytorch_half_pixel")],
    [("x", [1, 2, 5, 6])], ["y"], [F("sc", [1, 1, 2.5, 1])], tolerance=EXACT)
add("Resize/opset13/linear_2d_exact", 13, [node("Resize", ["x", "", "", "sz"], ["y"], mode="linear")],
    [("x", [7, 9])], ["y"], [I64("sz", [12, 5])], low=-10, high=10, tolerance=EXACT)
add("Resize/opset19/nearest_x2", 19, [node("Resize", ["x", "", "sc"], ["y"], mode="nearest")], XR, ["y"], [SC2])
# half_pixel_symmetric (opset 19) differs from half_pixel when in * scale is not a whole number; opset 17 has no
# form of it, so these are exported at opset 19. The scales keep every nearest coordinate away from a rounding tie
# (at 0.6, width 7 puts one within an ulp of x.5, where float and exact arithmetic part ways).
for mode in ("linear", "nearest"):
    add(f"Resize/opset19/{mode}_half_pixel_symmetric", 19,
        [node("Resize", ["x", "", "sc"], ["y"], mode=mode, coordinate_transformation_mode="half_pixel_symmetric")],
        [("x", [1, 2, 5, 7])], ["y"], [F("sc", [1, 1, 1.7, 0.65])], export_opset=19)
add("Pad/opset9/attrs_constant", 9, [node("Pad", ["x"], ["y"], pads=[0, 0, 1, 2, 0, 0, 2, 1], value=0.5)], X4, ["y"])
add("Pad/opset11/inputs_constant", 11, [node("Pad", ["x", "p", "v"], ["y"])], X4, ["y"],
    [I64("p", [0, 0, 1, 0, 0, 0, 0, 2]), F("v", -1.0, [])])
add("Pad/opset13/reflect", 13, [node("Pad", ["x", "p"], ["y"], mode="reflect")], X4, ["y"],
    [I64("p", [0, 0, 2, 1, 0, 0, 1, 2])])
add("Pad/opset13/edge", 13, [node("Pad", ["x", "p"], ["y"], mode="edge")], X4, ["y"],
    [I64("p", [0, 0, 2, 1, 0, 0, 1, 2])])

# ---- Constant / Identity / Dropout / Cast / Shape / Gather ---------------------------------------------------
add("Constant/opset9/value_tensor", 9,
    [node("Constant", [], ["c"], value=W("unused", [4, 1, 1])), node("Mul", ["x", "c"], ["y"])], X4, ["y"])
add("Constant/opset12/value_float", 12,
    [node("Constant", [], ["c"], value_float=1.5), node("Add", ["x", "c"], ["y"])], X4, ["y"])
add("Constant/opset13/value_ints_reshape", 13,
    [node("Constant", [], ["s"], value_ints=[2, -1]), node("Reshape", ["x", "s"], ["y"])], X4, ["y"])
add("Constant/opset13/value_floats", 13,
    [node("Constant", [], ["c"], value_floats=[1.0, 2.0, 3.0]), node("Mul", ["x", "c"], ["y"])],
    [("x", [2, 3])], ["y"])
add("Constant/opset13/value_int_unsqueeze", 13,
    [node("Constant", [], ["a"], value_ints=[0]), node("Unsqueeze", ["x", "a"], ["y"])], [("x", [2, 3])], ["y"])
add("Identity/opset9/chain", 9, [node("Identity", ["x"], ["t"]), node("Relu", ["t"], ["y"])], X4, ["y"])
add("Identity/opset16/plain", 16, [node("Identity", ["x"], ["y"])], X4, ["y"])
add("Dropout/opset9/ratio_attr", 9, [node("Dropout", ["x"], ["y"], ratio=0.3)], X4, ["y"])
add("Dropout/opset13/ratio_input", 13, [node("Dropout", ["x", "r"], ["y"])], X4, ["y"], [F("r", 0.4, [])])
add("Cast/opset9/float_int32_float", 9,
    [node("Cast", ["x"], ["i"], to=TP.INT32), node("Cast", ["i"], ["y"], to=TP.FLOAT)], X4, ["y"], low=-5, high=5)
add("Cast/opset13/to_int64", 13, [node("Cast", ["x"], ["y"], to=TP.INT64)], X4, ["y"], out_types=[TP.INT64],
    low=-5, high=5)
add("Cast/opset19/float_int8_float", 19,
    [node("Cast", ["x"], ["i"], to=TP.INT8), node("Cast", ["i"], ["y"], to=TP.FLOAT)], X4, ["y"], low=-50, high=50)
add("Shape/opset9/full", 9, [node("Shape", ["x"], ["y"])], X4, ["y"], out_types=[TP.INT64])
add("Shape/opset15/start_end", 15, [node("Shape", ["x"], ["y"], start=1, end=-1)], X4, ["y"], out_types=[TP.INT64])
add("Gather/opset11/axis1_negative_index", 11, [node("Gather", ["x", "i"], ["y"], axis=1)], X4, ["y"],
    [I64("i", [2, -1, 0])])
add("Gather/opset13/embedding", 13, [node("Gather", ["w", "i"], ["y"], axis=0)], [("w", [6, 4])], ["y"],
    [I64("i", [[0, 5], [3, 3]])])
add("Gather/opset13/scalar_index", 13, [node("Gather", ["x", "i"], ["y"], axis=3)], X4, ["y"],
    [nh.from_array(np.array(4, dtype=np.int64), "i")])
# The flatten idiom of PyTorch exports: Shape -> Gather -> Unsqueeze -> Concat -> Reshape.
for opset in (11, 13):
    ax = {"axes": [0]} if opset < 13 else {}
    un_in = ["n"] if opset < 13 else ["n", "ax0"]
    inits = [nh.from_array(np.array(0, dtype=np.int64), "zero"), I64("minus1", [-1])]
    if opset >= 13:
        inits.append(I64("ax0", [0]))
    add(f"ShapeChain/opset{opset}/torch_flatten", opset,
        [node("Shape", ["x"], ["s"]), node("Gather", ["s", "zero"], ["n"], axis=0),
         node("Unsqueeze", un_in, ["nu"], **ax), node("Concat", ["nu", "minus1"], ["shape"], axis=0),
         node("Reshape", ["x", "shape"], ["y"])], X4, ["y"], inits)

# ---- float16 / bfloat16 storage: initializers (raw and typed), graph inputs and outputs, Cast, CastLike --------
def bf16_raw(name, values, shape):
    """A bfloat16 initializer in raw_data, rounded to nearest even from float32 (numpy has no bfloat16)."""
    bits = np.array(values, dtype=np.float32).reshape(shape).view(np.uint32).astype(np.uint64)
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    t = TP()
    t.name, t.data_type = name, TP.BFLOAT16
    t.dims.extend(shape)
    t.raw_data = bits.tobytes()
    return t


HALF_VALUES = [0.5, -1.25, 65504.0, 2.0 ** -24, -0.0, 3.0]
add("Cast/opset13/float_float16_float", 13,
    [node("Cast", ["x"], ["h"], to=TP.FLOAT16), node("Cast", ["h"], ["y"], to=TP.FLOAT)], X4, ["y"],
    low=-70000, high=70000)
# Subnormals: scaled by 2^24 afterwards (exactly) so that one unit of difference exceeds the comparison's tolerance.
add("Cast/opset13/float_float16_float_tiny", 13,
    [node("Cast", ["x"], ["h"], to=TP.FLOAT16), node("Cast", ["h"], ["f"], to=TP.FLOAT),
     node("Mul", ["f", "scale"], ["y"])], X4, ["y"], [F("scale", 2.0 ** 24, [])], low=-2e-4, high=2e-4)
add("Cast/opset13/float_bfloat16_float", 13,
    [node("Cast", ["x"], ["h"], to=TP.BFLOAT16), node("Cast", ["h"], ["y"], to=TP.FLOAT)], X4, ["y"],
    low=-3.4e38, high=3.4e38)
add("Cast/opset13/float_bfloat16_float_unit", 13,
    [node("Cast", ["x"], ["h"], to=TP.BFLOAT16), node("Cast", ["h"], ["y"], to=TP.FLOAT)], X4, ["y"])
add("Cast/opset13/float16_output", 13, [node("Cast", ["x"], ["y"], to=TP.FLOAT16)], X4, ["y"],
    out_types=[TP.FLOAT16], low=-10, high=10)
add("Cast/opset13/float16_to_bfloat16", 13,
    [node("Cast", ["x"], ["y"], to=TP.BFLOAT16), node("Cast", ["y"], ["z"], to=TP.FLOAT)], X4, ["z"],
    in_types=[TP.FLOAT16], low=-300, high=300)
add("Cast/opset19/float16_input_to_int32", 19, [node("Cast", ["x"], ["y"], to=TP.INT32)], X4, ["y"],
    out_types=[TP.INT32], in_types=[TP.FLOAT16], low=-100, high=100)
# Not exported: bool is stored as uint8, and a graph output is written back typed uint8.
add("Cast/opset13/float16_input_to_bool", 13, [node("Cast", ["x"], ["y"], to=TP.BOOL)], X4, ["y"],
    out_types=[TP.BOOL], in_types=[TP.FLOAT16], low=-0.001, high=0.001, export=False)
add("CastLike/opset15/to_float16", 15, [node("CastLike", ["x", "like"], ["y"])], X4, ["y"],
    [nh.from_array(np.zeros(1, np.float16), "like")], out_types=[TP.FLOAT16], low=-100, high=100)
add("CastLike/opset15/float16_to_float", 15, [node("CastLike", ["x", "like"], ["y"])], X4, ["y"],
    [F("like", [0.0])], in_types=[TP.FLOAT16])
add("Float16/opset13/initializers_raw_and_typed", 13,
    [node("Cast", [w], [w + "_f"], to=TP.FLOAT) for w in ("hr", "ht", "br", "bt")] +
    [node("Add", ["x", "hr_f"], ["s0"]), node("Add", ["s0", "ht_f"], ["s1"]), node("Add", ["s1", "br_f"], ["s2"]),
     node("Add", ["s2", "bt_f"], ["y"])],
    [("x", [2, 6])], ["y"],
    [nh.from_array(np.array(HALF_VALUES, np.float16), "hr"), h.make_tensor("ht", TP.FLOAT16, [6], HALF_VALUES),
     bf16_raw("br", HALF_VALUES[:4] + [-0.0, 3.0e38], [6]),
     h.make_tensor("bt", TP.BFLOAT16, [6], HALF_VALUES[:4] + [-0.0, 3.0e38])])
add("Float16/opset13/io_and_initializer", 13, [node("Concat", ["x", "w"], ["y"], axis=0)], [("x", ["N", 3])], ["y"],
    [nh.from_array(np.array([[1.5, -2.0, 1e-3]], np.float16), "w")], out_types=[TP.FLOAT16],
    in_types=[TP.FLOAT16])

# ---- float16 graphs: float32 kernels on widened values, outputs rounded back to float16 --------------------------
# onnxruntime runs these with Casts around its float32-only kernels and may keep float32 between two of them, so
# the outputs agree to about one float16 unit (2^-11 relative).
def H(name, shape, scale=0.5):
    return nh.from_array((rng.standard_normal(shape) * scale).astype(np.float16), name)


def HV(name, values, shape=None):
    a = np.array(values, dtype=np.float16)
    return nh.from_array(a.reshape(shape) if shape is not None else a, name)


F16 = TP.FLOAT16
HALF_TOL = [1e-3, 5e-4]
add("Float16/opset13/conv_relu", 13,
    [node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), node("Relu", ["c"], ["y"])], X4, ["y"],
    [H("w", [6, 4, 3, 3], 0.3), H("b", [6])], out_types=[F16], in_types=[F16], tolerance=HALF_TOL)
add("Float16/opset13/conv_groups_stride", 13,
    [node("Conv", ["x", "w"], ["y"], group=2, strides=[2, 2], pads=[1, 1, 1, 1])], X4, ["y"],
    [H("w", [4, 2, 3, 3], 0.3)], out_types=[F16], in_types=[F16], tolerance=HALF_TOL)
add("Float16/opset13/gemm_sigmoid", 13,
    [node("Gemm", ["x", "w", "b"], ["g"], transB=1), node("Sigmoid", ["g"], ["y"])], [("x", [3, 8])], ["y"],
    [H("w", [5, 8]), H("b", [5])], out_types=[F16], in_types=[F16], low=-3, high=3, tolerance=HALF_TOL)
add("Float16/opset13/matmul", 13, [node("MatMul", ["x", "w"], ["y"])], [("x", [2, 3, 8])], ["y"], [H("w", [8, 4])],
    out_types=[F16], in_types=[F16], tolerance=HALF_TOL)
add("Float16/opset14/add_broadcast", 14, [node("Add", ["x", "c"], ["y"])], X4, ["y"], [H("c", [4, 1, 1], 2.0)],
    out_types=[F16], in_types=[F16], low=-100, high=100, tolerance=HALF_TOL)
add("Float16/opset14/mul_two_inputs", 14, [node("Mul", ["a", "b"], ["y"])], [("a", [2, 3, 4]), ("b", [3, 1])], ["y"],
    out_types=[F16], in_types=[F16, F16], low=-30, high=30, tolerance=HALF_TOL)
add("Float16/opset13/resize_linear", 13, [node("Resize", ["x", "", "sc"], ["y"], mode="linear")], XR, ["y"], [SC2],
    out_types=[F16], in_types=[F16], tolerance=HALF_TOL)
add("Float16/opset13/resize_nearest_sizes", 13, [node("Resize", ["x", "", "", "sz"], ["y"], mode="nearest")], XR,
    ["y"], [I64("sz", [1, 2, 6, 7])], out_types=[F16], in_types=[F16], tolerance=HALF_TOL)
add("Float16/opset13/concat_transpose", 13,
    [node("Concat", ["x", "c"], ["k"], axis=1), node("Transpose", ["k"], ["y"], perm=[0, 2, 3, 1])], X4, ["y"],
    [H("c", [2, 2, 7, 7])], out_types=[F16], in_types=[F16], tolerance=HALF_TOL)
add("Float16/opset13/softmax_reduce", 13,
    [node("Softmax", ["x"], ["s"], axis=-1), node("ReduceMean", ["s"], ["y"], axes=[1], keepdims=0)],
    [("x", [2, 3, 5])], ["y"], out_types=[F16], in_types=[F16], low=-5, high=5, tolerance=HALF_TOL)
add("Float16/opset13/pool_batchnorm", 13,
    [node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"]),
     node("MaxPool", ["n"], ["p"], kernel_shape=[2, 2], strides=[2, 2]), node("GlobalAveragePool", ["p"], ["y"])],
    X8, ["y"], [H("s", [3]), H("b", [3]), H("m", [3], 0.1), HV("v", [0.5, 1.0, 2.0])], out_types=[F16],
    in_types=[F16], tolerance=HALF_TOL)
add("Float16/opset13/clip_pad", 13,
    [node("Clip", ["x", "lo", "hi"], ["c"]), node("Pad", ["c", "p", "pv"], ["y"])], X4, ["y"],
    [HV("lo", -0.5, []), HV("hi", 0.75, []), I64("p", [0, 0, 1, 1, 0, 0, 1, 1]), HV("pv", 0.25, [])],
    out_types=[F16], in_types=[F16], tolerance=HALF_TOL)
# A float16 network behind Casts, as converters write it (float32 in and out).
add("Float16/opset13/cast_in_out_cnn", 13,
    [node("Cast", ["x"], ["xh"], to=F16),
     node("Conv", ["xh", "c1w", "c1b"], ["c1"], pads=[1, 1, 1, 1]), node("Relu", ["c1"], ["r1"]),
     node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
     node("Resize", ["p1", "", "sc"], ["u1"], mode="linear"),
     node("Concat", ["u1", "r1"], ["k"], axis=1),
     node("Conv", ["k", "c2w"], ["c2"], pads=[1, 1, 1, 1]), node("Sigmoid", ["c2"], ["s2"]),
     node("Add", ["s2", "bias2"], ["a2"]),
     node("GlobalAveragePool", ["a2"], ["g"]), node("Flatten", ["g"], ["f"]),
     node("Gemm", ["f", "fcw", "fcb"], ["logits"], transB=1),
     node("Cast", ["logits"], ["y"], to=TP.FLOAT)],
    [("x", ["N", 3, 8, 8])], ["y"],
    [H("c1w", [4, 3, 3, 3], 0.4), H("c1b", [4]), SC2, H("c2w", [6, 8, 3, 3], 0.2), H("bias2", [6, 1, 1]),
     H("fcw", [5, 6]), H("fcb", [5])], tolerance=HALF_TOL)

# ---- int64 and bool graph inputs (bool fed as uint8 0 / 1; not exported: bool is written back as uint8) -------
add("Inputs/opset13/int64_and_bool", 13,
    [node("Gather", ["x", "idx"], ["g"], axis=1), node("Where", ["mask", "g", "zero"], ["y"]),
     node("Add", ["idx", "one"], ["idx1"]), node("Cast", ["mask"], ["nmf"], to=TP.FLOAT)],
    [("x", ["N", 4]), ("idx", [3]), ("mask", ["N", 3])], ["y", "idx1", "nmf"],
    [F("zero", -1.0, []), I64("one", [1])], out_types=[TP.FLOAT, TP.INT64, TP.FLOAT],
    in_types=[TP.FLOAT, TP.INT64, TP.BOOL], low=0, high=3.99, export=False)
add("Inputs/opset13/int64_shape_input", 13,
    [node("Reshape", ["x", "shape"], ["y"])], [("x", [2, 8]), ("shape", [2])], ["y"], low=4, high=4.5,
    in_types=[TP.FLOAT, TP.INT64])

# ---- small networks ------------------------------------------------------------------------------------------
def small_cnn(opset):
    nodes = [
        node("Conv", ["x", "c1w", "c1b"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("BatchNormalization", ["c1", "bn_s", "bn_b", "bn_m", "bn_v"], ["b1"], name="bn1"),
        node("Relu", ["b1"], ["r1"], name="relu1"),
        node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        node("Conv", ["p1", "c2w", "c2b"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        node("Relu", ["c2"], ["r2"], name="relu2"),
        node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
        node("Flatten", ["g"], ["f"], name="flatten"),
        node("Gemm", ["f", "fcw", "fcb"], ["logits"], name="fc", transB=1),
        node("Softmax", ["logits"], ["prob"], name="softmax", axis=1),
    ]
    inits = [W("c1w", [8, 1, 3, 3]), W("c1b", [8]), W("bn_s", [8]), W("bn_b", [8]), W("bn_m", [8], 0.1),
             nh.from_array((rng.random(8) + 0.5).astype(np.float32), "bn_v"), W("c2w", [16, 8, 3, 3], 0.2),
             W("c2b", [16]), W("fcw", [10, 16]), W("fcb", [10])]
    add(f"Network/opset{opset}/small_cnn", opset, nodes, [("x", ["N", 1, 12, 12])], ["prob"], inits)


for opset in (11, 13, 17):
    small_cnn(opset)


def residual(opset, unnamed):
    """A residual block; conv1's weight and the skip scale come from Constant nodes."""
    nm = (lambda n: "") if unnamed else (lambda n: n)
    nodes = [
        node("Constant", [], ["k1"], name=nm("k1_const"), value=W("k1", [4, 4, 3, 3], 0.3)),
        node("Conv", ["x", "k1", "b1"], ["c1"], name=nm("conv1"), pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], ["r1"], name=nm("relu1")),
        node("Conv", ["r1", "k2"], ["c2"], name=nm("conv2"), pads=[1, 1, 1, 1]),
        node("Constant", [], ["alpha"], name=nm("alpha_const"), value=F("alpha", 0.5, [])),
        node("Mul", ["c2", "alpha"], ["c2s"], name=nm("scale")),
        node("Add", ["c2s", "x"], ["sum"], name=nm("skip")),
        node("Relu", ["sum"], ["y"], name=nm("relu_out")),
    ]
    variant = "unnamed_nodes" if unnamed else "constant_weights"
    add(f"Network/opset{opset}/residual_{variant}", opset, nodes, [("x", ["N", 4, 6, 6])], ["y"],
        [W("b1", [4]), W("k2", [4, 4, 3, 3], 0.3)])


residual(11, False)
residual(17, False)
residual(13, True)
# Old exporters list the initializers among the graph inputs as well.
add("Network/opset9/inits_listed_as_inputs", 9,
    [node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), node("Relu", ["c"], ["y"])], X4, ["y"],
    [W("w", [3, 4, 3, 3]), W("b", [3])], graph_inputs_include_inits=True)

# ---- models for the import / error tests (not in cases.json) -------------------------------------------------
def save_special(file, nodes, inputs, outputs, inits=(), opset=13, out_types=None, extra_inputs=(), **kw):
    vis = [h.make_tensor_value_info(n, TP.FLOAT, s) for n, s in inputs] + list(extra_inputs)
    types = out_types or [TP.FLOAT] * len(outputs)
    outs = [h.make_tensor_value_info(o, t, None) for o, t in zip(outputs, types)]
    g = h.make_graph(nodes, file.split(".")[0], vis, outs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)], producer_name="make_onnx_cases")
    m.ir_version = IR.get(opset, 3)
    onnx.save(m, os.path.join(OUT, file), **kw)
    return m


# Typed (non-raw) tensor fields and dtypes that are converted on import.
typed_inits = [
    h.make_tensor("w", TP.FLOAT, [5, 4], [0.25 * i - 2 for i in range(20)]),
    h.make_tensor("d", TP.DOUBLE, [5], [0.1, -0.2, 0.3, 1e-3, 2.5]),
    h.make_tensor("q", TP.INT8, [5], [-128, -1, 0, 1, 127]),
    h.make_tensor("u", TP.UINT8, [5], [0, 1, 128, 200, 255]),
    h.make_tensor("i32", TP.INT32, [5], [-70000, -1, 0, 1, 70000]),
    h.make_tensor("i64", TP.INT64, [5], [-(2 ** 40), -1, 0, 1, 2 ** 40]),
    h.make_tensor("flag", TP.BOOL, [5], [True, False, True, True, False]),
    nh.from_array(np.array([-3, 0, 3, 100, -100], dtype=np.int8), "q_raw"),
    nh.from_array(np.array([1.5, -2.5, 0, 1e30, -1e-30], dtype=np.float64), "d_raw"),
]
typed_nodes = [node("Gemm", ["x", "w"], ["g"], transB=1)]
prev = "g"
for k, name in enumerate(["d", "q", "u", "flag", "q_raw", "d_raw"]):
    typed_nodes += [node("Cast", [name], [name + "_f"], to=TP.FLOAT), node("Add", [prev, name + "_f"], [f"s{k}"])]
    prev = f"s{k}"
typed_nodes += [node("Cast", ["i32"], ["i32_f"], to=TP.FLOAT), node("Mul", [prev, "i32_f"], ["m0"]),
                node("Cast", ["i64"], ["i64_f"], to=TP.FLOAT), node("Add", ["m0", "i64_f"], ["y"])]
save_special("typed_fields.onnx", typed_nodes, [("x", [3, 4])], ["y"], typed_inits)
cases.append({"name": "Typed/opset13/raw_and_typed_fields", "file": "typed_fields.onnx", "inputs": [["x", [3, 4], -1, 1]],
              "export": True})

save_special("unsupported_op.onnx", [node("Det", ["x"], ["y"], name="mystery")], [("x", [3, 3])], ["y"])
save_special("two_unsupported_ops.onnx", [node("Det", ["x"], ["d"], name="first"), node("Relu", ["d"], ["r"]),
                                         node("Det", ["x"], ["e"], name="second"), node("Add", ["r", "e"], ["y"])],
             [("x", [3, 3])], ["y"])
save_special("uint16_weight.onnx", [node("Cast", ["wide_weight"], ["wf"], to=TP.FLOAT), node("Add", ["x", "wf"], ["y"])],
             [("x", [4])], ["y"], [nh.from_array(np.ones(4, dtype=np.uint16), "wide_weight")])
save_special("old_opset.onnx", [node("Relu", ["x"], ["y"])], [("x", [4])], ["y"], opset=7)
big = nh.from_array(np.ones((64, 64), dtype=np.float32), "big_weight")
save_special("external_data.onnx", [node("MatMul", ["x", "big_weight"], ["y"])], [("x", [2, 64])], ["y"], [big],
             save_as_external_data=True, all_tensors_to_one_file=True, location="external_data.bin",
             size_threshold=0)
then_g = h.make_graph([node("Det", ["x"], ["t"], name="inner")], "then", [],
                      [h.make_tensor_value_info("t", TP.FLOAT, None)])
else_g = h.make_graph([node("Neg", ["x"], ["e"])], "else", [], [h.make_tensor_value_info("e", TP.FLOAT, None)])
save_special("control_flow.onnx", [node("If", ["c"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)],
             [("x", [4])], ["y"], [nh.from_array(np.array(True), "c")])
# A scalar int64 graph input, as in voice-activity models that take the sample rate 'sr' (16000 or 8000).
save_special("scalar_int64_input.onnx",
             [node("Cast", ["sr"], ["srf"], to=TP.FLOAT), node("Mul", ["x", "srf"], ["scaled"]),
              node("Equal", ["sr", "sr16k"], ["is16k"]), node("Where", ["is16k", "scaled", "x"], ["y"]),
              node("Identity", ["sr"], ["sr_out"])],
             [("x", [2, 3])], ["y", "sr_out"], [I64("sr16k", 16000)], out_types=[TP.FLOAT, TP.INT64],
             extra_inputs=[h.make_tensor_value_info("sr", TP.INT64, [])])
# Metadata and a dim_param batch for the export checks.
m = save_special("with_metadata.onnx", [node("Relu", ["x"], ["y"], name="act")], [("x", ["batch", 3])], ["y"])
onnx.helper.set_model_props(m, {"author": "tests", "license": "MIT"})
onnx.save(m, os.path.join(OUT, "with_metadata.onnx"))

with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump(cases, f, indent=1)
print(len(cases))
