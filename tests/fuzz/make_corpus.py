"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/TARGET/, a few small valid files each.

    /usr/bin/python3 tests/fuzz/make_corpus.py [CWB]

CWB (default build/app/cwb) converts the ONNX seeds to the native .h5 format, so the h5_model seeds are what
the program itself writes, and makes the project seeds. Every seed must be accepted by its target: the CTest tests fuzz_corpus_TARGET
check that. The output is deterministic (fixed values, no random data), except the object timestamps HDF5
stores in the .h5 models cwb writes.
"""
import gzip
import json
import os
import shutil
import struct
import subprocess
import sys

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "tools"))
from image_reference import PNG_GREY, PNG_GREY_ALPHA, PNG_PALETTE, PNG_RGB, PNG_RGBA, write_png, write_pnm  # noqa: E402

CORPUS = os.path.join(HERE, "corpus")


def target_dir(name):
    d = os.path.join(CORPUS, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def pattern(shape, dtype=np.float32, scale=0.1):
    """Deterministic values of a shape: a small ramp, varied in sign."""
    n = int(np.prod(shape))
    return ((np.arange(n) % 7 - 3) * scale).reshape(shape).astype(dtype)


def save_model(graph, path, opset=13):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="make_corpus")
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, path)


def onnx_seeds(d):
    f32 = TensorProto.FLOAT
    # Gemm + Relu + Softmax: a classifier head.
    save_model(helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1),
         helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("Softmax", ["r"], ["y"], axis=1)],
        "gemm", [helper.make_tensor_value_info("x", f32, ["batch", 4])],
        [helper.make_tensor_value_info("y", f32, ["batch", 3])],
        [numpy_helper.from_array(pattern((3, 4)), "w"), numpy_helper.from_array(pattern((3,)), "b")]),
        os.path.join(d, "gemm.onnx"))
    # Conv + BatchNormalization + MaxPool + Flatten: a small CNN.
    save_model(helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["n"]),
         helper.make_node("MaxPool", ["n"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("Flatten", ["p"], ["y"])],
        "cnn", [helper.make_tensor_value_info("x", f32, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info("y", f32, ["N", 8])],
        [numpy_helper.from_array(pattern((2, 1, 3, 3)), "w"), numpy_helper.from_array(pattern((2,)), "b"),
         numpy_helper.from_array(np.ones(2, np.float32), "g"), numpy_helper.from_array(np.zeros(2, np.float32), "beta"),
         numpy_helper.from_array(np.zeros(2, np.float32), "mean"), numpy_helper.from_array(np.ones(2, np.float32), "var")]),
        os.path.join(d, "cnn.onnx"))
    # Shape arithmetic: Shape, Gather, Concat, Reshape; Range, ConstantOfShape and Expand sized by values.
    i64 = TensorProto.INT64
    save_model(helper.make_graph(
        [helper.make_node("Shape", ["x"], ["s"]),
         helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
         helper.make_node("Concat", ["n", "minus1"], ["target"], axis=0),
         helper.make_node("Reshape", ["x", "target"], ["flat"]),
         helper.make_node("Range", ["start", "limit", "delta"], ["r"]),
         helper.make_node("ConstantOfShape", ["three"], ["ones"], value=helper.make_tensor("v", f32, [1], [1.0])),
         helper.make_node("Expand", ["ones", "shape2"], ["e"]),
         helper.make_node("Add", ["flat", "e"], ["y"])],
        "shapes", [helper.make_tensor_value_info("x", f32, ["N", 3])],
        [helper.make_tensor_value_info("y", f32, ["N", 3]), helper.make_tensor_value_info("r", i64, [4])],
        [numpy_helper.from_array(np.array([0], np.int64), "zero"), numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
         numpy_helper.from_array(np.array(0, np.int64), "start"), numpy_helper.from_array(np.array(4, np.int64), "limit"),
         numpy_helper.from_array(np.array(1, np.int64), "delta"), numpy_helper.from_array(np.array([3], np.int64), "three"),
         numpy_helper.from_array(np.array([1, 3], np.int64), "shape2")]),
        os.path.join(d, "shapes.onnx"))
    # Quantized: DequantizeLinear of int8 weights into a MatMul.
    save_model(helper.make_graph(
        [helper.make_node("DequantizeLinear", ["wq", "scale", "zp"], ["w"]),
         helper.make_node("MatMul", ["x", "w"], ["y"])],
        "dq", [helper.make_tensor_value_info("x", f32, [1, 4])], [helper.make_tensor_value_info("y", f32, [1, 2])],
        [numpy_helper.from_array(np.arange(-4, 4, dtype=np.int8).reshape(4, 2), "wq"),
         numpy_helper.from_array(np.array(0.05, np.float32), "scale"), numpy_helper.from_array(np.array(0, np.int8), "zp")]),
        os.path.join(d, "dequantize.onnx"))
    # Layers inside If branches: a weight held by the branch (a Constant node) and one read from the main graph.
    then_branch = helper.make_graph(
        [helper.make_node("Constant", [], ["wt"], value=numpy_helper.from_array(pattern((2, 4)), "wt")),
         helper.make_node("Gemm", ["x", "wt"], ["yt"], transB=1)],
        "then", [], [helper.make_tensor_value_info("yt", f32, ["N", 2])])
    else_branch = helper.make_graph(
        [helper.make_node("Gemm", ["x", "we"], ["ye"], transB=1)],
        "else", [], [helper.make_tensor_value_info("ye", f32, ["N", 2])])
    save_model(helper.make_graph(
        [helper.make_node("Greater", ["s", "zero_f"], ["cond"]),
         helper.make_node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch)],
        "branches", [helper.make_tensor_value_info("x", f32, ["N", 4]), helper.make_tensor_value_info("s", f32, [])],
        [helper.make_tensor_value_info("y", f32, ["N", 2])],
        [numpy_helper.from_array(pattern((2, 4)), "we"), numpy_helper.from_array(np.array(0, np.float32), "zero_f")]),
        os.path.join(d, "branches.onnx"))
    # Sizes computed at load: reflection pads built from constants through a rank-2 Reshape and a Transpose (shape
    # inference runs those nodes' kernels), and an If on a size, as PyTorch exports them.
    keep = helper.make_graph([helper.make_node("Identity", ["padded"], ["kept"])], "keep", [],
                             [helper.make_tensor_value_info("kept", f32, ["N", 12])])
    unbatched = helper.make_graph([helper.make_node("Unsqueeze", ["padded", "axis0"], ["u"])], "unbatched", [],
                                  [helper.make_tensor_value_info("u", f32, [1, "N", 12])])
    save_model(helper.make_graph(
        [helper.make_node("Reshape", ["flat_pads", "two_by_two"], ["p2"]),
         helper.make_node("Transpose", ["p2"], ["pt"], perm=[1, 0]),
         helper.make_node("Reshape", ["pt", "minus1"], ["pads"]),
         helper.make_node("Pad", ["x", "pads"], ["padded"], mode="reflect"),
         helper.make_node("Shape", ["padded"], ["s"]),
         helper.make_node("Gather", ["s", "one"], ["t"], axis=0),
         helper.make_node("Equal", ["t", "twelve"], ["cond"]),
         helper.make_node("If", ["cond"], ["y"], then_branch=keep, else_branch=unbatched)],
        "computed_sizes", [helper.make_tensor_value_info("x", f32, ["N", 8])],
        [helper.make_tensor_value_info("y", f32, ["N", 12])],
        [numpy_helper.from_array(np.array([0, 0, 2, 2], np.int64), "flat_pads"),
         numpy_helper.from_array(np.array([2, 2], np.int64), "two_by_two"),
         numpy_helper.from_array(np.array([-1], np.int64), "minus1"),
         numpy_helper.from_array(np.array(1, np.int64), "one"), numpy_helper.from_array(np.array(12, np.int64), "twelve"),
         numpy_helper.from_array(np.array([0], np.int64), "axis0")]),
        os.path.join(d, "computed_sizes.onnx"), opset=13)
    # onnxruntime's dynamic quantization of a Conv (what the compression form turns back into float).
    save_model(helper.make_graph(
        [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
         helper.make_node("ConvInteger", ["xq", "wq", "xz", "wz"], ["acc"], pads=[1, 1, 1, 1]),
         helper.make_node("Cast", ["acc"], ["accf"], to=f32),
         helper.make_node("Mul", ["xs", "ws"], ["scale"]),
         helper.make_node("Mul", ["accf", "scale"], ["y"])],
        "dynamic", [helper.make_tensor_value_info("x", f32, ["N", 1, 4, 4])],
        [helper.make_tensor_value_info("y", f32, ["N", 2, 4, 4])],
        [numpy_helper.from_array((np.arange(18) * 13 % 256).astype(np.uint8).reshape(2, 1, 3, 3), "wq"),
         numpy_helper.from_array(np.array(128, np.uint8), "wz"), numpy_helper.from_array(np.array(0.01, np.float32), "ws")]),
        os.path.join(d, "dynamic.onnx"))
    # A group-wise weight as ONNX export writes it at opset 17 (blocked DequantizeLinear as arithmetic), and an
    # integer QLinearMatMul: the integer weights Inspect and the statistics read.
    save_model(helper.make_graph(
        [helper.make_node("Reshape", ["wq", "blocked"], ["wb"]),
         helper.make_node("Cast", ["wb"], ["wf"], to=f32),
         helper.make_node("Sub", ["wf", "zp"], ["wc"]),
         helper.make_node("Mul", ["wc", "scale"], ["ws"]),
         helper.make_node("Reshape", ["ws", "shape"], ["w"]),
         helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)],
        "blocked", [helper.make_tensor_value_info("x", f32, ["N", 8])], [helper.make_tensor_value_info("y", f32, ["N", 2])],
        [numpy_helper.from_array((np.arange(16) % 16).astype(np.uint8).reshape(2, 8), "wq"),
         numpy_helper.from_array(np.array([2, 2, 4], np.int64), "blocked"),
         numpy_helper.from_array(np.array([2, 8], np.int64), "shape"),
         numpy_helper.from_array(np.full((2, 2, 1), 8, np.float32), "zp"),
         numpy_helper.from_array(np.array([0.1, 0.2, 0.3, 0.4], np.float32).reshape(2, 2, 1), "scale")]),
        os.path.join(d, "blocked.onnx"))
    save_model(helper.make_graph(
        [helper.make_node("QLinearMatMul", ["xq", "xs", "xz", "wq", "ws", "wz", "ys", "yz"], ["y"])],
        "qlinear", [helper.make_tensor_value_info("xq", TensorProto.UINT8, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 2])],
        [numpy_helper.from_array(np.array(0.02, np.float32), "xs"), numpy_helper.from_array(np.array(128, np.uint8), "xz"),
         numpy_helper.from_array(np.arange(-4, 4, dtype=np.int8).reshape(4, 2), "wq"),
         numpy_helper.from_array(np.array([0.05, 0.1], np.float32), "ws"), numpy_helper.from_array(np.zeros(2, np.int8), "wz"),
         numpy_helper.from_array(np.array(0.1, np.float32), "ys"), numpy_helper.from_array(np.array(128, np.uint8), "yz")]),
        os.path.join(d, "qlinear.onnx"))


def h5_model_seeds(d, onnx_dir, cwb):
    for name in sorted(os.listdir(onnx_dir)):
        out = os.path.join(d, name.replace(".onnx", ".h5"))
        subprocess.run([cwb, "export", os.path.join(onnx_dir, name), "-o", out], check=True)


def project_seeds(d, onnx_dir, h5_dir, cwb):
    """Projects on an embedded seed model with a variant, on the built-in demo without one, and a language model's."""
    embedded = os.path.join(d, "embedded.cwproj")
    subprocess.run([cwb, "project", "new", embedded, os.path.join(onnx_dir, "cnn.onnx"), "--embed", "--max-drop", "1"],
                   check=True)
    subprocess.run([cwb, "project", "add", embedded, os.path.join(h5_dir, "gemm.h5"), "--name", "gemm"], check=True)
    subprocess.run([cwb, "project", "new", os.path.join(d, "demo.cwproj"), "demo", "--max-size", "100K"], check=True)
    # A language model's project: one matrix of demo-lm in Q4_0, measured, and a sensitivity sweep of two matrices.
    text = os.path.join(ROOT, "docs", "language-models.md")
    lm = os.path.join(d, "lm.cwproj")
    recipe = os.path.join(d, "lm-recipe.json")
    with open(recipe, "w") as f:
        json.dump({"name": "one-q4", "layers": {"blk.0.attn_qkv.weight": {"quantize": {"weights": {"format": "q4_0"}}}}}, f)
    subprocess.run([cwb, "compress", "demo-lm", "--recipe", recipe, "--data", text, "--limit", "1", "--project", lm],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cwb, "sensitivity", "demo-lm", "--data", text, "--limit", "1", "--bits", "4", "--prune", "", "--layer",
                    "blk.0.attn_qkv.weight", "--layer", "blk.1.ffn_up.weight", "--project", lm],
                   check=True, stdout=subprocess.DEVNULL)
    os.remove(recipe)
    for lock in [f for f in os.listdir(d) if f.endswith(".lock")]:
        os.remove(os.path.join(d, lock))


def npy_seeds(d):
    np.save(os.path.join(d, "uint8_nhwc.npy"), np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1))
    np.save(os.path.join(d, "float32_nchw.npy"), pattern((3, 1, 2, 2)))
    np.save(os.path.join(d, "int64_rows.npy"), np.arange(6, dtype=np.int64).reshape(3, 2))
    np.save(os.path.join(d, "float16.npy"), pattern((2, 3), np.float16))
    np.save(os.path.join(d, "int8_flat.npy"), np.arange(-3, 3, dtype=np.int8))


def npz_seeds(d):
    x = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 1, 2, 2)
    np.savez(os.path.join(d, "stored_xy.npz"), x=x, y=np.array([0, 2, 1], np.int64))
    np.savez_compressed(os.path.join(d, "deflated_xy.npz"), x=pattern((2, 4)), y=np.array([1, 0], np.int32))
    np.savez(os.path.join(d, "onehot.npz"), images=pattern((2, 3)), labels=np.eye(2, dtype=np.float32))
    np.savez(os.path.join(d, "features_only.npz"), pattern((4, 2)))


def idx_bytes(type_code, shape, payload):
    return struct.pack(">BBBB", 0, 0, type_code, len(shape)) + b"".join(struct.pack(">I", s) for s in shape) + payload


def idx_seeds(d):
    images = idx_bytes(0x08, (2, 3, 3), bytes(range(18)))
    with open(os.path.join(d, "uint8-images-idx3-ubyte"), "wb") as f:
        f.write(images)
    with open(os.path.join(d, "uint8-images-idx3-ubyte.gz"), "wb") as f:
        f.write(gzip.compress(images, mtime=0))
    with open(os.path.join(d, "float32-idx2"), "wb") as f:
        f.write(idx_bytes(0x0D, (2, 2), pattern((2, 2)).astype(">f4").tobytes()))
    with open(os.path.join(d, "int16-idx2"), "wb") as f:
        f.write(idx_bytes(0x0B, (3, 2), np.arange(-3, 3, dtype=">i2").tobytes()))


def h5_dataset_seeds(d):
    with h5py.File(os.path.join(d, "uint8_xy.h5"), "w") as f:
        f["x"] = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 1, 4, 4)
        f["y"] = np.array([1, 0], np.int64)
    with h5py.File(os.path.join(d, "float_onehot.h5"), "w") as f:
        f["x"] = pattern((3, 2))
        f["y"] = np.eye(3, dtype=np.float32)
    with h5py.File(os.path.join(d, "x_only.h5"), "w") as f:
        f["x"] = pattern((2, 2, 2, 3))


def recipe_seeds(d):
    recipes = {
        "empty.json": {},
        "int8.json": {"name": "int8-pc", "quantize": {
            "weights": {"bits": 8, "granularity": "channel", "symmetric": True},
            "activations": {"bits": 8, "calibration": "percentile", "samples": 64, "percentile": 99.9},
            "bias_correction": True}},
        "prune_finetune.json": {"name": "p", "prune": {"method": "magnitude", "ratio": 0.5, "scope": "global",
                                                      "steps": 3, "power": 3},
                                "finetune": {"epochs": 1, "lr": 0.001, "batch_size": 32, "samples": 100, "qat": False}},
        "layers.json": {"prune": {"method": "nm", "n": 2, "m": 4},
                        "quantize": {"weights": {"bits": 4, "granularity": "group", "group_size": 32}},
                        "layers": {"conv1": {"prune": None, "quantize": {"weights": {"bits": 8}}},
                                   "fc": {"skip": True}, "conv2": {"prune": {"method": "channel", "norm": "l2"}}}},
        "channel_reconstruct.json": {"prune": {"method": "channel", "ratio": 0.75, "norm": "l1", "reconstruct": True,
                                               "reconstruct_samples": 512},
                                     "layers": {"fc2": {"prune": None}}},
        "integer_layers.json": {"quantize": {"weights": {"bits": 8}, "activations": {"calibration": "percentile"}},
                                "layers": {"Conv_2": {"integer": True},
                                           "fc1": {"integer": False, "quantize": {"weights": {"bits": 6}}}}},
        "fidelity_floor.json": {"quantize": {"weights": {"bits": 8},
                                             "activations": {"calibration": "mse", "min_sqnr_db": 40.5}},
                                "layers": {"conv1": {"integer": False}}},
        "lm_gptq.json": {"name": "gptq", "sequential": False, "prune": {"method": "wanda", "n": 2, "m": 4},
                         "quantize": {"weights": {"bits": 4, "method": "gptq", "format": "q4_k"}}},
    }
    for name, recipe in recipes.items():
        with open(os.path.join(d, name), "w") as f:
            json.dump(recipe, f, indent=1)


def sweep_seeds(d, cwb):
    """Plans of a small sensitivity sweep, a recipe list, a distillation and an evaluation on the demo, of a sweep, a
    recipe list, a recipe by matrix and a perplexity of the demo language model, and the documents of their parts."""
    work = os.path.join(d, "work")
    os.makedirs(work)
    subprocess.run([cwb, "sensitivity", "demo", "--data", "fashion-mnist", "--limit", "50", "--prune", "0.5",
                    "--bits", "4", "--plan", "plan.json"], cwd=work, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cwb, "sweep", "plan.json", "--shard", "0/1", "-o", "part.h5"], cwd=work, check=True,
                   stdout=subprocess.DEVNULL)
    recipe = os.path.join(ROOT, "docs", "recipes", "int8.json")
    subprocess.run([cwb, "compress", "demo", "--recipe", recipe, "--data", "fashion-mnist", "--limit", "50",
                    "--train-limit", "50", "--iterations", "1", "--plan", "recipes.json"], cwd=work, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([cwb, "sweep", "recipes.json", "--shard", "0/1", "-o", "recipes-part.h5"], cwd=work, check=True,
                   stdout=subprocess.DEVNULL)
    text = os.path.join(ROOT, "docs", "language-models.md")
    subprocess.run([cwb, "sensitivity", "demo-lm", "--data", text, "--limit", "1", "--formats", "q4_0", "--bits", "4",
                    "--layer", "blk.0.attn_qkv.weight", "--layer", "blk.3.ffn_down.weight", "--plan", "lm.json"],
                   cwd=work, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cwb, "sweep", "lm.json", "--shard", "0/1", "-o", "lm-part.h5"], cwd=work, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([cwb, "distill", "demo", "--data", "fashion-mnist", "--limit", "20", "--train-limit", "32",
                    "--epochs", "1", "--arch", "cnn", "--width", "0.25", "--iterations", "1", "--plan", "distill.json"],
                   cwd=work, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cwb, "sweep", "distill.json", "--shard", "0/1", "-o", "distill-part.h5"], cwd=work, check=True,
                   stdout=subprocess.DEVNULL)
    recipe = os.path.join(work, "one-q4.json")
    with open(recipe, "w") as f:
        json.dump({"layers": {"blk.0.attn_qkv.weight": {"quantize": {"weights": {"format": "q4_0"}}}}}, f)
    subprocess.run([cwb, "compress", "demo-lm", "--recipe", recipe, "--data", text, "--limit", "1", "--plan",
                    "lm-recipes.json"], cwd=work, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cwb, "sweep", "lm-recipes.json", "--shard", "0/1", "-o", "lm-recipes-part.h5"], cwd=work,
                   check=True, stdout=subprocess.DEVNULL)
    recipe = os.path.join(work, "gptq.json")
    with open(recipe, "w") as f:
        json.dump({"name": "gptq", "sequential": False,
                   "layers": {"blk.0.attn_qkv.weight": {"quantize": {"weights": {"method": "gptq", "format": "q4_0"}}},
                              "blk.1.ffn_up.weight": {"quantize": {"weights": {"format": "q8_0"}}}}}, f)
    subprocess.run([cwb, "compress", "demo-lm", "--recipe", recipe, "--data", text, "--train-data", text,
                    "--train-limit", "256", "--limit", "1", "--plan", "lm-matrices.json", "--by-matrix"], cwd=work,
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cwb, "sweep", "lm-matrices.json", "--shard", "0/1", "-o", "lm-matrices-part.h5"], cwd=work,
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cwb, "eval", "demo", "--data", "fashion-mnist", "--limit", "40", "--batch", "16", "--plan",
                    "evaluate.json"], cwd=work, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cwb, "perplexity", "demo-lm", "--text", text, "--ctx", "64", "--chunks", "3", "--plan",
                    "perplexity.json"], cwd=work, check=True, stdout=subprocess.DEVNULL)
    for name in ("evaluate", "perplexity"):
        subprocess.run([cwb, "sweep", name + ".json", "--shard", "0/1", "-o", name + "-part.h5"], cwd=work,
                       check=True, stdout=subprocess.DEVNULL)
    for plan, part in (("plan.json", "part"), ("recipes.json", "recipes-part"), ("lm.json", "lm-part"),
                       ("distill.json", "distill-part"), ("lm-recipes.json", "lm-recipes-part"),
                       ("lm-matrices.json", "lm-matrices-part"), ("evaluate.json", "evaluate-part"),
                       ("perplexity.json", "perplexity-part")):
        shutil.copy(os.path.join(work, plan), os.path.join(d, plan))
        with h5py.File(os.path.join(work, part + ".h5"), "r") as f:
            document = f["document"][()]
        with open(os.path.join(d, part + ".json"), "wb") as f:
            f.write(document if isinstance(document, bytes) else document.encode())
    shutil.rmtree(work)


def image_seeds(d):
    grey = (np.arange(5 * 6) * 8 % 256).reshape(5, 6)
    rgb = np.stack([grey, grey[::-1], 255 - grey], axis=-1)
    write_png(os.path.join(d, "grey.png"), grey, PNG_GREY)
    write_png(os.path.join(d, "rgb16.png"), rgb * 257, PNG_RGB, bit_depth=16)
    write_png(os.path.join(d, "grey_alpha.png"), np.stack([grey, 255 - grey], axis=-1), PNG_GREY_ALPHA)
    write_png(os.path.join(d, "rgba.png"), np.concatenate([rgb, grey[..., None]], axis=-1), PNG_RGBA)
    write_png(os.path.join(d, "palette.png"), grey % 4, PNG_PALETTE,
              palette=[[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]], trns=[255, 128])
    write_png(os.path.join(d, "grey2bit.png"), grey % 4, PNG_GREY, bit_depth=2)
    tmp = os.path.join(d, "tmp.pnm")
    for name, pixels, extra in [("grey.jpg", grey, []), ("rgb.jpg", rgb, []), ("progressive.jpg", rgb, ["-progressive"])]:
        write_pnm(tmp, pixels)
        subprocess.run(["cjpeg", "-quality", "90", *extra, "-outfile", os.path.join(d, name), tmp], check=True)
    os.remove(tmp)


def gguf_bytes(kv, tensors):
    """A GGUF v3 file: kv is [(key, type code, packed value bytes)], tensors [(name, ne, ggml type, data bytes)]."""
    def s(text):
        b = text.encode()
        return struct.pack("<Q", len(b)) + b
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv))
    for key, code, value in kv:
        out += s(key) + struct.pack("<I", code) + value
    offset, data = 0, b""
    for name, ne, gtype, payload in tensors:
        out += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", n) for n in ne)
        out += struct.pack("<IQ", gtype, offset)
        padded = payload + b"\0" * (-len(payload) % 32)
        data += padded
        offset += len(padded)
    return out + b"\0" * (-len(out) % 32) + data


def gguf_seeds(d):
    """Metadata of every value type and a tensor of every block format (bytes a ramp, scales 0x3c00 = 1.0)."""
    def s(text):
        b = text.encode()
        return struct.pack("<Q", len(b)) + b
    kv = [("general.architecture", 8, s("llama")), ("u8", 0, b"\x07"), ("i8", 1, b"\xf9"), ("u16", 2, b"\x01\x02"),
          ("i16", 3, b"\xff\xff"), ("u32", 4, struct.pack("<I", 7)), ("i32", 5, struct.pack("<i", -7)),
          ("f32", 6, struct.pack("<f", 0.5)), ("bool", 7, b"\x01"), ("u64", 10, struct.pack("<Q", 9)),
          ("i64", 11, struct.pack("<q", -9)), ("f64", 12, struct.pack("<d", 2.5)),
          ("strings", 9, struct.pack("<IQ", 8, 2) + s("<s>") + s("a")),
          ("ints", 9, struct.pack("<IQ", 5, 2) + struct.pack("<ii", 1, 2))]
    # ggml type: (values per block, bytes per block, byte offsets of float16 scales)
    formats = {0: (1, 4, []), 1: (1, 2, []), 30: (1, 2, []), 2: (32, 18, [0]), 3: (32, 20, [0, 2]), 6: (32, 22, [0]),
               7: (32, 24, [0, 2]), 8: (32, 34, [0]), 10: (256, 84, [80, 82]), 11: (256, 110, [108]),
               12: (256, 144, [0, 2]), 13: (256, 176, [0, 2]), 14: (256, 210, [208])}
    tensors = []
    for gtype, (block, size, scales) in formats.items():
        blk = bytearray(i % 251 for i in range(size))
        for off in scales:
            blk[off:off + 2] = b"\x00\x3c"
        if block == 1:
            blk = bytearray(struct.pack("<f", 0.25) if size == 4 else b"\x00\x3c")
        tensors.append((f"t{gtype}", [block, 2], gtype, bytes(blk) * 2))
    with open(os.path.join(d, "every_type.gguf"), "wb") as f:
        f.write(gguf_bytes(kv, tensors))
    with open(os.path.join(d, "metadata_only.gguf"), "wb") as f:
        f.write(gguf_bytes(kv[:3], []))
    # A one-block GPT-2 of width 4 with a byte-level vocabulary (256 bytes, one merge, <|endoftext|>).
    def u32(v):
        return struct.pack("<I", v)
    def f32(v):
        return struct.pack("<f", v)
    def str_array(items):
        return struct.pack("<IQ", 8, len(items)) + b"".join(s(t) for t in items)
    def byte_char(b):
        printable = 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255
        return chr(b) if printable else chr(256 + sum(1 for x in range(b) if not (33 <= x <= 126 or 161 <= x <= 172 or 174 <= x <= 255)))
    tokens = [byte_char(b) for b in range(256)] + ["\u0120t", "<|endoftext|>"]
    lm_kv = [("general.architecture", 8, s("gpt2")), ("gpt2.context_length", 4, u32(8)),
             ("gpt2.embedding_length", 4, u32(4)), ("gpt2.feed_forward_length", 4, u32(8)),
             ("gpt2.block_count", 4, u32(1)), ("gpt2.attention.head_count", 4, u32(1)),
             ("gpt2.attention.layer_norm_epsilon", 6, f32(1e-5)), ("tokenizer.ggml.model", 8, s("gpt2")),
             ("tokenizer.ggml.pre", 8, s("gpt-2")), ("tokenizer.ggml.tokens", 9, str_array(tokens)),
             ("tokenizer.ggml.merges", 9, str_array(["\u0120 t"])),
             ("tokenizer.ggml.bos_token_id", 4, u32(257)), ("tokenizer.ggml.eos_token_id", 4, u32(257))]
    def weights(*shape):
        return pattern(shape).tobytes()
    lm_tensors = [("token_embd.weight", [4, 258], 0, weights(258, 4)), ("position_embd.weight", [4, 8], 0, weights(8, 4)),
                  ("output_norm.weight", [4], 0, weights(4)), ("output_norm.bias", [4], 0, weights(4))]
    for name, ne in [("attn_norm.weight", [4]), ("attn_norm.bias", [4]), ("attn_qkv.weight", [4, 12]),
                     ("attn_qkv.bias", [12]), ("attn_output.weight", [4, 4]), ("attn_output.bias", [4]),
                     ("ffn_norm.weight", [4]), ("ffn_norm.bias", [4]), ("ffn_up.weight", [4, 8]), ("ffn_up.bias", [8]),
                     ("ffn_down.weight", [8, 4]), ("ffn_down.bias", [4])]:
        lm_tensors.append(("blk.0." + name, ne, 0, weights(*reversed(ne))))
    with open(os.path.join(d, "tiny_gpt2.gguf"), "wb") as f:
        f.write(gguf_bytes(lm_kv, lm_tensors))


def safetensors_seeds(d):
    """A float32, a float16 and a bfloat16 tensor with metadata; an empty checkpoint."""
    def write(path, tensors, metadata=None):
        header, data = {}, b""
        if metadata:
            header["__metadata__"] = metadata
        for name, dtype, shape, payload in tensors:
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
            data += payload
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + data)
    write(os.path.join(d, "three_dtypes.safetensors"),
          [("a", "F32", [2, 3], pattern((2, 3)).tobytes()),
           ("b", "F16", [4], pattern((4,), np.float16).tobytes()),
           ("c", "BF16", [2, 2], (pattern((2, 2)).view(np.uint32) >> 16).astype(np.uint16).tobytes())],
          {"format": "pt"})
    write(os.path.join(d, "empty.safetensors"), [])


def tokenizer_json_seeds(d):
    """A byte-level BPE (GPT-2's ByteLevel pre-tokenizer) and SentencePiece-style ones (byte_fallback) in each
    spelling of the ▁ normalization, small vocabularies with merges, added tokens and a tokenizer_config.json
    the reader never sees (it reads the one beside the input, which does not exist)."""
    def added(i, text, special):
        return {"id": i, "content": text, "special": special, "normalized": False, "lstrip": False,
                "rstrip": False, "single_word": False}
    byte_level = "".join(chr(c) for c in range(ord("!"), ord("~") + 1))
    vocab = {c: i for i, c in enumerate(byte_level)}
    vocab.update({"\u0120": len(vocab), "\u0120a": len(vocab) + 1, "ab": len(vocab) + 2})
    gpt2 = {"version": "1.0", "added_tokens": [added(len(vocab), "<|endoftext|>", True)],
            "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False},
            "model": {"type": "BPE", "vocab": vocab, "merges": ["\u0120 a", "a b"]}}
    sp_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    sp_vocab.update({"<0x%02X>" % b: 3 + b for b in range(256)})
    sp_vocab.update({"\u2581": 259, "a": 260, "b": 261, "\u2581a": 262, "ab": 263, "\u2581ab": 264})
    sp_model = {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True, "vocab": sp_vocab,
                "merges": [["\u2581", "a"], ["a", "b"], ["\u2581a", "b"]]}
    specials = [added(0, "<unk>", True), added(1, "<s>", True), added(2, "</s>", True)]
    replace = {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}
    forms = {
        "llama2": ({"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}, replace]}, None),
        "gemma": (replace, {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious",
                            "invert": False}),
        "metaspace": (None, {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                             "split": False}),
    }
    for name, (normalizer, pre) in forms.items():
        doc = {"version": "1.0", "added_tokens": specials + [added(265, "<x>", False)], "normalizer": normalizer,
               "pre_tokenizer": pre, "model": sp_model}
        with open(os.path.join(d, name + ".json"), "w") as f:
            json.dump(doc, f, ensure_ascii=False)
    with open(os.path.join(d, "gpt2.json"), "w") as f:
        json.dump(gpt2, f, ensure_ascii=False)


def main():
    cwb = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build", "app", "cwb")
    onnx_seeds(target_dir("onnx"))
    h5_model_seeds(target_dir("h5_model"), os.path.join(CORPUS, "onnx"), cwb)
    project_seeds(target_dir("project"), os.path.join(CORPUS, "onnx"), os.path.join(CORPUS, "h5_model"), cwb)
    npy_seeds(target_dir("npy"))
    npz_seeds(target_dir("npz"))
    idx_seeds(target_dir("idx"))
    h5_dataset_seeds(target_dir("h5_dataset"))
    recipe_seeds(target_dir("recipe"))
    image_seeds(target_dir("image"))
    gguf_seeds(target_dir("gguf"))
    safetensors_seeds(target_dir("safetensors"))
    tokenizer_json_seeds(target_dir("tokenizer_json"))
    sweep_seeds(target_dir("sweep"), cwb)


if __name__ == "__main__":
    main()
