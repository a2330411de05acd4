"""Rewrites an ONNX model's int8 weights as uint8 for onnxruntime to run exactly.

usage: u8_weights.py IN.onnx OUT.onnx [IN.onnx OUT.onnx ...]

For QLinearConv, QLinearMatMul, QGemm, MatMulInteger and ConvInteger with uint8 activations and an int8 weight
initializer, the weight becomes w + 128 and its zero point z + 128 (128 when it had none), both uint8: the same
products (x - x_zp)(w - z), exactly. onnxruntime's u8 x s8 kernels add pairs of products in saturating int16 on
CPUs without VNNI (its quantization guide says so), so there they are no reference; its u8 x u8 kernels widen
to 16 bits before multiplying and never saturate. OUT is IN unchanged when nothing qualifies.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

# op: (activation index, its zero point's index, weight index, the weight zero point's index)
OPS = {'QLinearConv': (0, 2, 3, 5), 'QLinearMatMul': (0, 2, 3, 5), 'QGemm': (0, 2, 3, 5),
       'MatMulInteger': (0, 2, 1, 3), 'ConvInteger': (0, 2, 1, 3)}


def main(src, dst):
    m = onnx.load(src)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    types = {v.name: v.type.tensor_type.elem_type for v in list(g.input) + list(g.value_info) + list(g.output)}
    for i in g.initializer:
        types[i.name] = i.data_type
    for node in g.node:  # the quantizers' outputs: the activations' types
        if node.op_type == 'DynamicQuantizeLinear':
            types[node.output[0]] = types[node.output[2]] = TensorProto.UINT8
        elif node.op_type == 'QuantizeLinear':
            zp = node.input[2] if len(node.input) > 2 else ''
            types[node.output[0]] = types.get(zp, 0) if zp else TensorProto.UINT8
    for node in g.node:
        if node.op_type not in OPS:
            continue
        xi, xzi, wi, wzi = OPS[node.op_type]
        x = node.input[xi]
        xz = node.input[xzi] if len(node.input) > xzi else ''
        x_type = types.get(xz) if xz else types.get(x)
        w = node.input[wi]
        if x_type != TensorProto.UINT8 or w not in inits or inits[w].data_type != TensorProto.INT8:
            continue
        wz = node.input[wzi] if len(node.input) > wzi else ''
        if wz and (wz not in inits or inits[wz].data_type != TensorProto.INT8):
            continue
        shifted = (numpy_helper.to_array(inits[w]).astype(np.int16) + 128).astype(np.uint8)
        g.initializer.append(numpy_helper.from_array(shifted, w + '_u8'))
        zero = numpy_helper.to_array(inits[wz]).astype(np.int16) if wz else np.int16(0)
        g.initializer.append(numpy_helper.from_array(np.asarray(zero + 128).astype(np.uint8), w + '_u8_zp'))
        while len(node.input) <= wzi:
            node.input.append('')
        node.input[wi] = w + '_u8'
        node.input[wzi] = w + '_u8_zp'
    onnx.save(m, dst)


if __name__ == '__main__':
    for k in range(1, len(sys.argv) - 1, 2):
        main(sys.argv[k], sys.argv[k + 1])
