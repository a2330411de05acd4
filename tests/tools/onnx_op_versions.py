"""Prints the version history of every default-domain ONNX operator as JSON, for tests/test_opsets.cpp.

usage: /usr/bin/python3 onnx_op_versions.py

Output: {"max_opset": N, "ops": {"Relu": [1, 6, 13, 14], ...}}: each operator's since_versions up to opset N.
Versions up to the newest opset the installed onnx knows come from onnx.defs (Debian's python3-onnx 1.12:
opset 17). The later ones come from LATER below, copied from ONNX's docs/Changelog.md (opsets 18-22 came with ONNX
1.13-1.17): for each opset, the operators that got a new version in it. N is the last opset of LATER;
core/runtime/ops.h's kMaxOpset must not exceed it.
"""
import json
from collections import defaultdict

import onnx.defs

LATER = {
    18: "BitwiseAnd BitwiseNot BitwiseOr BitwiseXor CenterCropPad GroupNormalization LpPool Mish OptionalGetElement "
        "OptionalHasElement Pad ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd "
        "ReduceSumSquare Resize ScatterElements ScatterND Split",
    19: "AveragePool Cast CastLike Constant DeformConv DequantizeLinear Equal Identity If Loop Pad QuantizeLinear "
        "Reshape Resize Scan Shape Size",
    20: "AffineGrid ConstantOfShape DFT Gelu GridSample ImageDecoder IsInf IsNaN ReduceMax ReduceMin "
        "RegexFullMatch StringConcat StringSplit",
    21: "Cast CastLike Constant ConstantOfShape DequantizeLinear Flatten GroupNormalization Identity If Loop Pad "
        "QLinearMatMul QuantizeLinear Reshape Scan Shape Size Squeeze Transpose Unsqueeze",
    22: "Acos Acosh Asin Asinh Atan Atanh AveragePool Bernoulli Conv ConvTranspose Cos Cosh DeformConv Det Dropout "
        "Elu EyeLike GRU GlobalAveragePool GlobalLpPool GlobalMaxPool GridSample HardSigmoid HardSwish "
        "InstanceNormalization LSTM LpNormalization LpPool MaxPool MaxRoiPool MaxUnpool Mish Multinomial "
        "NegativeLogLikelihoodLoss RNN RandomNormal RandomNormalLike RandomUniform RandomUniformLike RoiAlign Round "
        "Selu Sin Sinh Softplus Softsign Tan ThresholdedRelu",
}

known = onnx.defs.onnx_opset_version()
ops = defaultdict(set)
for schema in onnx.defs.get_all_schemas_with_history():
    if schema.domain in ("", "ai.onnx") and schema.since_version <= max(LATER):
        ops[schema.name].add(schema.since_version)
for opset, names in LATER.items():
    if opset > known:
        for name in names.split():
            ops[name].add(opset)
print(json.dumps({"max_opset": max(LATER), "ops": {k: sorted(v) for k, v in sorted(ops.items())}}))
