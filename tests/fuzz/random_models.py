"""Random small ONNX models over every operator the engine has, run through the onnx fuzz target.

    /usr/bin/python3 tests/fuzz/random_models.py CWB FUZZ_REPLAY [--seed S] [--count N] [--keep DIR]

Loading a model runs kernels: shape inference computes the nodes whose inputs are small constants with their
kernels (core/runtime/shape_inference.cpp, evaluateConstant). libFuzzer reaches those kernels only by chance
from the seed corpus (the operators are built without its coverage callbacks in the sanitizer build, which
would slow the test suite), so this generator aims at them: one node, or a chain of up to five, of operators
named by `CWB ops --json`, reading constants of random types and small shapes (empty ones included), a graph
input with symbolic sizes and each other's outputs, with attributes drawn from those the operators read,
at ordinary and extreme values. Each model must load or be refused with an error: FUZZ_REPLAY (the regular or
the sanitizer build's) runs them in chunks; a chunk that fails is rerun file by file, and each file that crashes
is named and kept in DIR (default: a temporary folder) as a reproducer. The models are the same for a seed
and an operator list. Exit status 1 when one crashed.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper

TYPES = [(TensorProto.FLOAT, np.float32), (TensorProto.INT64, np.int64), (TensorProto.INT32, np.int32),
         (TensorProto.UINT8, np.uint8), (TensorProto.INT8, np.int8), (TensorProto.BOOL, np.bool_),
         (TensorProto.FLOAT16, np.float16)]
EXTREME = [0, 1, 2, 3, -1, -2, -3, 4, 5, 7, 8, 16, 100, -100, 2**31, -2**31, 2**62, 2**63 - 1, -2**63]


class Generator:
    def __init__(self, seed, ops):
        self.r = random.Random(seed)
        self.np = np.random.default_rng(seed)
        self.ops = ops
        r = self.r
        small = lambda: [r.choice([0, 1, 2, 3, -1, -2, 4]) for _ in range(r.randint(0, 5))]
        extreme = lambda: [r.choice(EXTREME) for _ in range(r.randint(0, 5))]
        some = lambda: r.choice([small(), extreme()])
        flag = lambda: r.randint(0, 1)
        self.attrs = {
            'axis': lambda: r.choice([r.choice(EXTREME), r.randint(-4, 4)]), 'axes': some,
            'perm': lambda: r.choice([small(), [int(v) for v in self.np.permutation(r.randint(0, 4))]]),
            'keepdims': flag, 'to': lambda: r.choice([0, 1, 2, 3, 6, 7, 9, 10, 11, 16, 20, 99]),
            'mode': lambda: r.choice(['constant', 'reflect', 'edge', 'wrap', 'linear', 'nearest', 'cubic', 'DCR', '']),
            'pads': some, 'kernel_shape': some, 'strides': some, 'dilations': some, 'output_padding': small,
            'output_shape': small, 'group': lambda: r.choice(EXTREME),
            'alpha': lambda: r.choice([0.0, 1.0, -1.0, 1e30, float('nan'), float('inf')]),
            'beta': lambda: r.choice([0.0, 1.0, -1.0, 1e30]), 'transA': flag, 'transB': flag,
            'starts': extreme, 'ends': extreme, 'split': small, 'k': lambda: r.choice(EXTREME), 'largest': flag,
            'sorted': flag, 'exclusive': flag, 'reverse': flag, 'epsilon': lambda: r.choice([0.0, 1e-5, -1.0]),
            'equation': lambda: r.choice(['ij,jk->ik', 'i,i->', 'ii->i', '...ij,...jk->...ik', 'ab', 'ij->ji',
                                          'bij,bjk->bik', '->', 'i->', '', ',->', 'i,j->ij', 'iij->j']),
            'direction': lambda: r.choice(['forward', 'reverse', 'bidirectional', 'x']),
            'hidden_size': lambda: r.choice(EXTREME), 'layout': flag,
            'auto_pad': lambda: r.choice(['NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID', 'x']), 'ceil_mode': flag,
            'count_include_pad': flag, 'select_last_index': flag, 'noop_with_empty_axes': flag, 'allowzero': flag,
            'batch_dims': lambda: r.choice(EXTREME),
            'coordinate_transformation_mode': lambda: r.choice(['half_pixel', 'asymmetric', 'align_corners',
                                                                'pytorch_half_pixel', 'tf_crop_and_resize']),
            'nearest_mode': lambda: r.choice(['round_prefer_floor', 'floor', 'ceil', 'round_prefer_ceil']),
            'scales': lambda: [r.choice([0.5, 1.0, 2.0, 0.0, -1.0, 1e9]) for _ in range(r.randint(0, 4))],
            'saturate': flag, 'block_size': lambda: r.choice(EXTREME), 'linear_before_reset': flag,
            'activations': lambda: [r.choice(['Sigmoid', 'Tanh', 'Relu', 'X']) for _ in range(r.randint(0, 6))],
            'clip': lambda: r.choice([0.0, 1.0, -1.0]), 'input_forget': flag,
            'approximate': lambda: r.choice(['none', 'tanh', 'x']), 'stash_type': lambda: r.choice([0, 1, 2]),
            'fmod': flag, 'exclude_outside': flag, 'antialias': flag, 'storage_order': flag,
            'min': lambda: r.choice([-1.0, 0.0]), 'max': lambda: r.choice([1.0, 6.0]), 'value': None,
        }

    def tensor(self, name):
        r = self.r
        code, dtype = r.choice(TYPES)
        shape = [r.choice([0, 1, 1, 2, 2, 3, 4]) for _ in range(r.choice([0, 1, 1, 1, 2, 2, 3, 4]))]
        if r.random() < 0.3:
            values = self.np.integers(-3, 5, size=shape)
        else:
            values = self.np.standard_normal(shape) * r.choice([1, 10, 1000])
        return numpy_helper.from_array(np.asarray(values).astype(dtype), name)

    def attributes(self, most):
        chosen = self.r.sample(sorted(self.attrs), self.r.randint(0, most))
        return {key: self.tensor('value') if key == 'value' else self.attrs[key]() for key in chosen}

    def model(self):
        r = self.r
        constants = [self.tensor('c%d' % k) for k in range(r.randint(0, 4) if r.random() < 0.5 else r.randint(0, 9))]
        available = [t.name for t in constants]
        inputs = []
        if r.random() < 0.4:
            shape = [r.choice(['batch', 'n', 1, 2, 3, None]) for _ in range(r.randint(1, 4))]
            inputs.append(helper.make_tensor_value_info('x', r.choice([TensorProto.FLOAT, TensorProto.INT64]), shape))
            available.append('x')
        if not available:
            constants.append(self.tensor('c0'))
            available.append('c0')
        nodes = []
        # Shape and the shape-building operators again, so chains often compute sizes.
        choices = self.ops + ['Shape', 'Gather', 'Concat', 'Unsqueeze', 'Reshape', 'Slice', 'Cast']
        for k in range(1 if r.random() < 0.5 else r.randint(2, 5)):
            domain, _, op = r.choice(choices).rpartition(':')
            names = [r.choice(available) if r.random() > 0.05 else '' for _ in range(r.randint(1, 5))]
            outputs = ['n%d_%d' % (k, j) for j in range(r.randint(1, 3))]
            nodes.append(helper.make_node(op, names, outputs, domain=domain or None, **self.attributes(6)))
            available += outputs
        graph = helper.make_graph(nodes, 'random', inputs,
                                  [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, None)],
                                  initializer=constants)
        opsets = [helper.make_opsetid('', r.choice([11, 13, 15, 17, 18, 19, 21])), helper.make_opsetid('com.microsoft', 1)]
        return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def replay(fuzz_replay, files):
    return subprocess.run([fuzz_replay, 'onnx', '--rejections-ok'] + files, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, errors='replace')


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('cwb')
    p.add_argument('fuzz_replay')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--count', type=int, default=4000)
    p.add_argument('--keep', help='folder for the models that crash (default: a temporary one)')
    a = p.parse_args()
    ops = sorted({o['op'] if o['domain'] == 'ai.onnx' else o['domain'] + ':' + o['op']
                  for o in json.loads(subprocess.run([a.cwb, 'ops', '--json'], capture_output=True, check=True,
                                                     text=True).stdout)})
    generator = Generator(a.seed, ops)
    with tempfile.TemporaryDirectory() as work:
        keep = a.keep or work
        os.makedirs(keep, exist_ok=True)
        files = []
        for i in range(a.count):
            path = os.path.join(work, 'random-%d-%05d.onnx' % (a.seed, i))
            with open(path, 'wb') as f:
                f.write(generator.model())
            files.append(path)
        crashed = []
        for start in range(0, len(files), 250):
            chunk = files[start:start + 250]
            if replay(a.fuzz_replay, chunk).returncode == 0:
                continue
            for path in chunk:
                result = replay(a.fuzz_replay, [path])
                if result.returncode != 0:
                    kept = os.path.join(keep, os.path.basename(path))
                    if kept != path:
                        os.replace(path, kept)
                    report = [line for line in result.stderr.splitlines()
                              if 'ERROR' in line or 'runtime error' in line or ' in cw::' in line][:3]
                    crashed.append(kept)
                    print('CRASH %s\n  %s' % (kept, '\n  '.join(report) or result.stderr[-2000:]))
        print('%d models of %d operators (seed %d): %d crashed' % (len(files), len(ops), a.seed, len(crashed)))
        if crashed and not a.keep:
            print('(rerun with --keep DIR to keep them)')
    return 1 if crashed else 0


if __name__ == '__main__':
    sys.exit(main())
