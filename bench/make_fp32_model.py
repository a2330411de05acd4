#!/usr/bin/python3
"""Writes a float32 copy of a float16 ONNX model: float16 initializers and Constant values become float32,
Cast-to-float16 becomes Cast-to-float32 and float16 value types become float32. Used by the benchmarks to
have imgly's background-removal network at its float32 size (176 MB).
usage: /usr/bin/python3 make_fp32_model.py IN.onnx OUT.onnx"""
import sys

import numpy as np
import onnx
from onnx import TensorProto as TP
from onnx import numpy_helper as nh


def widen(t):
    return nh.from_array(nh.to_array(t).astype(np.float32), t.name)


def fix(graph):
    for i, t in enumerate(graph.initializer):
        if t.data_type == TP.FLOAT16:
            graph.initializer[i].CopyFrom(widen(t))
    for n in graph.node:
        for a in n.attribute:
            if n.op_type == 'Cast' and a.name == 'to' and a.i == TP.FLOAT16:
                a.i = TP.FLOAT
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TP.FLOAT16:
                a.t.CopyFrom(widen(a.t))
            if a.type == onnx.AttributeProto.GRAPH:
                fix(a.g)
    for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
        if vi.type.tensor_type.elem_type == TP.FLOAT16:
            vi.type.tensor_type.elem_type = TP.FLOAT


model = onnx.load(sys.argv[1])
fix(model.graph)
onnx.save(model, sys.argv[2])
