#!/usr/bin/env bash
# The real models of tests/real_models.json against onnxruntime, in one run: operators, file size, whether the
# engine loads the model, the largest relative L2 error over its outputs (first input variant of the
# manifest, seeded), and the latency of `cwb bench` and onnxruntime on the same input files (one thread, batch
# 1 unless set below), alternating between the two for 3 rounds (median p50). Ratios below 1 mean cwb is faster. Peak RSS: the
# median over the same rounds of each process's peak resident set (cwb bench; node running onnxruntime-node,
# whose figure includes node's own, about 40 MB: `node -e ''` alone peaks near that).
# CW_BENCH_BATCH=B runs every model with B samples (its batch dimension, and the dimensions of other inputs
# named as that one or sized like it by the manifest's same_size, set to B; a model without a batch dimension,
# and the large models, are left out); CW_BENCH_THREADS=T gives both engines T threads; CW_BENCH_ROUNDS=R
# alternates R rounds (the median is reported). The int8 variant (docs/recipes/int8.json, or the recipe
# CW_BENCH_INT8_RECIPE names, e.g. docs/recipes/int8-w7.json; calibrated on the manifest's compression data) is
# timed in the same rounds, by both engines on the same QDQ file; so is the sparse variant (docs/recipes/sparse90.json:
# 90 % of every layer's weights zero by magnitude; or the recipe CW_BENCH_SPARSE_RECIPE names, without fine-tuning,
# since the models come without labels): its columns give the share of zeros among the float weights, the output
# SQNR and both engines' times on the pruned file (onnxruntime multiplies the zeros). Off the defaults (batch 1,
# one thread) the int8 and sparse columns are left out.
# usage: bench/real_models.sh [BUILD_DIR]          (a Markdown table on stdout; docs/models.md keeps it)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
cwb="$build/app/cwb"
iterations="${CW_BENCH_ITERATIONS:-50}"
batch="${CW_BENCH_BATCH:-1}"
threads="${CW_BENCH_THREADS:-1}"
rounds="${CW_BENCH_ROUNDS:-3}"
int8_recipe="${CW_BENCH_INT8_RECIPE:-$root/docs/recipes/int8.json}"
sparse_recipe="${CW_BENCH_SPARSE_RECIPE:-$root/docs/recipes/sparse90.json}"
export NODE_PATH="$root/node_modules"
paths="$(/usr/bin/python3 "$root/tests/tools/fetch_models.py" --paths)"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

# Per model: NAME FILE and the input files of its first variant (NAME=PATH ...), one line each; and in
# $tmp/NAME.compress the arguments of its int8 compression (--data PATH --value NAME=V --shape S=OTHER ...) or, for a model
# whose compression is pending, the reason.
/usr/bin/python3 - "$root/tests/real_models.json" "$paths" "$tmp" "$cwb" "$batch" >"$tmp/models" <<'EOF'
import json, os, subprocess, sys
import numpy as np
manifest, tmp, cwb, batch = json.load(open(sys.argv[1])), sys.argv[3], sys.argv[4], int(sys.argv[5])
paths = dict(line.split('\t') for line in sys.argv[2].splitlines())
for k, m in enumerate(manifest['models']):
    shapes = {name: spec['shape'] for name, spec in m['variants'][0].items()}
    if batch > 1:
        # The batch symbol: the first input's first dimension, and the symbols the manifest sizes like it.
        if os.path.getsize(paths[m['name']]) > 20000000:
            continue
        info = json.loads(subprocess.run([cwb, 'info', paths[m['name']], '--json'], capture_output=True,
                                         check=True).stdout)
        declared = {i['name']: i['shape'] for i in info['inputs']}
        first = info['inputs'][0]['shape']
        if not first or not isinstance(first[0], str):
            continue
        symbols = {first[0]} | {s for s, o in m.get('compress', {}).get('same_size', {}).items() if o == first[0]}
        shapes = {name: [batch if d < len(declared.get(name, [])) and declared[name][d] in symbols else n
                         for d, n in enumerate(shape)] for name, shape in shapes.items()}
    c = m.get('compress', {})
    with open(os.path.join(tmp, m['name'] + '.compress'), 'w') as f:
        if 'data' in c:
            spec = c['data']
            data = np.random.default_rng(100 + k).uniform(spec['low'], spec['high'], spec['shape']).astype(np.float32)
            np.save(os.path.join(tmp, m['name'] + '.data.npy'), data)
            f.write(' '.join(['--data', os.path.join(tmp, m['name'] + '.data.npy')] +
                             [f'--value={n}={v}' for n, v in c.get('values', {}).items()] +
                             [f'--shape={n}={v}' for n, v in c.get('same_size', {}).items()]))
        else:
            f.write('pending: ' + c.get('pending', 'no compression data in the manifest'))
    args = []
    rng = np.random.default_rng(k + 1)
    for name, spec in m['variants'][0].items():
        dtype = {'int64': np.int64, 'int32': np.int32, 'uint8': np.uint8}.get(spec.get('dtype', 'float32'), np.float32)
        if 'value' in spec:
            a = np.full(shapes[name], spec['value'], dtype=dtype)
        else:
            a = rng.uniform(spec.get('low', -1), spec.get('high', 1), shapes[name]).astype(dtype)
        path = os.path.join(tmp, f'{m["name"]}.{len(args)}.npy')
        np.save(path, a)
        args.append(f'{name}={path}')
    print(m['name'], paths[m['name']], *args)
EOF

field() { /usr/bin/python3 -c "import json,sys; print('%.4f' % json.load(open(sys.argv[1]))['$1'])" "$2"; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

echo "int8: $(basename "$int8_recipe"), sparse: $(basename "$sparse_recipe")"
echo
echo "| model | operators | file MB | loads | max rel. L2 error vs onnxruntime | cwb p50 ms | onnxruntime p50 ms | ratio (cwb / ort) | peak RSS MB, cwb / ort | int8: output SQNR dB, size ratio | int8 cwb p50 ms (× its float32) | int8 onnxruntime p50 ms (cwb / ort) | sparse: zeros, output SQNR dB | sparse cwb p50 ms (× float32) | sparse onnxruntime p50 ms (cwb / ort) |"
echo "|---|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---:|"
while read -r name file inputs; do
  read -ra pairs <<<"$inputs"
  size=$(/usr/bin/python3 -c "import os; print('%.1f' % (os.path.getsize('$file') / 1e6))")
  if ! "$cwb" info "$file" --json >"$tmp/info.json" 2>"$tmp/err"; then
    echo "| $name | | $size | no: $(head -c 120 "$tmp/err") | | | | | | | | | | | |"
    continue
  fi
  ops=$(/usr/bin/python3 -c "import json; print(len(json.load(open('$tmp/info.json'))['nodes']))")
  # Every output of both engines, compared by relative L2.
  outs=(); k=0
  mapfile -t names < <(/usr/bin/python3 -c "import json; print('\n'.join(o['name'] for o in json.load(open('$tmp/info.json'))['outputs']))")
  for o in "${names[@]}"; do
    outs+=(-o "$o=$tmp/mine.$k.npy"); k=$((k + 1))
  done
  in_args=(); ort_in=()
  for p in "${pairs[@]}"; do in_args+=(--input "$p"); done
  mkdir -p "$tmp/ort"
  "$cwb" run "$file" "${in_args[@]}" "${outs[@]}" --threads 1
  node "$root/tests/tools/ort_run.js" "$file" "$tmp/ort" "${pairs[@]}"
  err=$(/usr/bin/python3 -c "
import numpy as np
worst = 0.0
for k in range($k):
    a = np.load('$tmp/mine.%d.npy' % k).astype(np.float64); b = np.load('$tmp/ort/%d.npy' % k).astype(np.float64)
    worst = max(worst, np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))
print('%.1e' % worst)")
  # The int8 variant, calibrated on the manifest's compression data, and the sparse one: made before the rounds,
  # timed in them. A variant's description: its output SQNR against the base and its size over the original's
  # (int8), or its share of zero weights (sparse).
  compress=$(cat "$tmp/$name.compress")
  declare -A made=([int8]="—" [sparse]="—"); variants=()
  if [ "$batch" = 1 ] && [ "$threads" = 1 ]; then
    for v in int8 sparse; do
      if [[ "$compress" == pending:* ]]; then
        made[$v]="${compress}"; continue
      fi
      read -ra cargs <<<"$compress"
      recipe="$int8_recipe"; [ "$v" = sparse ] && recipe="$sparse_recipe"
      "$cwb" compress "$file" --recipe "$recipe" -o "$tmp/$v.onnx" --no-measure "${cargs[@]}" >/dev/null
      made[$v]=$("$cwb" eval "$tmp/$v.onnx" --reference "$file" "${cargs[@]}" --json | /usr/bin/python3 -c "
import json, os, sys
import onnx, numpy as np
from onnx import numpy_helper
sqnr = float(json.load(sys.stdin)['outputs'][0]['sqnr_db'])
if '$v' == 'int8':
    print('%.1f, %.2f' % (sqnr, os.path.getsize('$tmp/$v.onnx') / os.path.getsize('$file')))
else:
    # The share of zeros among the weights of two or more dimensions, in the graph and its subgraphs: float
    # initializers, and the integer ones a DequantizeLinear reads (zero where they equal its zero point).
    def graphs(g):
        yield g
        for n in g.node:
            for a in n.attribute:
                for sub in ([a.g] if a.HasField('g') else []) + list(a.graphs):
                    yield from graphs(sub)
    zeros = total = 0
    for g in graphs(onnx.load('$tmp/$v.onnx').graph):
        inits = {t.name: t for t in g.initializer}
        arrays = {name: numpy_helper.to_array(t) for name, t in inits.items() if len(t.dims) >= 2}
        for n in g.node:
            if n.op_type == 'DequantizeLinear' and n.input[0] in arrays:
                q = arrays.pop(n.input[0])
                zp = numpy_helper.to_array(inits[n.input[2]]) if len(n.input) > 2 and n.input[2] in inits else 0
                if np.ndim(zp) == 1 and np.size(zp) > 1:
                    axis = next((a.i for a in n.attribute if a.name == 'axis'), 1) % q.ndim
                    zp = zp.reshape([-1 if d == axis else 1 for d in range(q.ndim)])
                zeros += int((q == zp).sum()); total += q.size
        for a in arrays.values():
            if a.dtype in (np.float32, np.float16):
                zeros += int((a == 0).sum()); total += a.size
    zeros /= max(total, 1)
    print('%.0f %%, %.1f' % (100 * zeros, sqnr))")
      variants+=("$v")
    done
  fi
  # Large models (the 1024x1024 background removal: seconds per run) get fewer iterations.
  its=$iterations; warm=5
  if [ "$(stat -c %s "$file")" -gt 20000000 ]; then its=3; warm=1; fi
  c=(); o=(); crss=(); orss=(); declare -A vc=() vo=()
  for _ in $(seq "$rounds"); do
    "$cwb" bench "$file" "${in_args[@]}" --threads "$threads" --iterations "$its" --warmup "$warm" --json >"$tmp/c.json"
    node "$root/bench/ort_bench.js" "$file" "${in_args[@]}" --threads "$threads" --iterations "$its" --warmup "$warm" >"$tmp/o.json"
    c+=("$(field p50_ms "$tmp/c.json")"); crss+=("$(field peak_rss_bytes "$tmp/c.json")")
    o+=("$(field p50_ms "$tmp/o.json")"); orss+=("$(field peak_rss_bytes "$tmp/o.json")")
    for v in "${variants[@]}"; do
      "$cwb" bench "$tmp/$v.onnx" "${in_args[@]}" --threads "$threads" --iterations "$its" --warmup "$warm" \
        --json >"$tmp/c.json"
      vc[$v]+=" $(field p50_ms "$tmp/c.json")"
      if node "$root/bench/ort_bench.js" "$tmp/$v.onnx" "${in_args[@]}" --threads "$threads" --iterations "$its" \
          --warmup "$warm" >"$tmp/o.json" 2>"$tmp/$v.err"; then
        vo[$v]+=" $(field p50_ms "$tmp/o.json")"
      fi
    done
  done
  cm=$(median "${c[@]}"); om=$(median "${o[@]}")
  rss=$(/usr/bin/python3 -c "print('%.0f / %.0f' % ($(median "${crss[@]}") / 1e6, $(median "${orss[@]}") / 1e6))")
  # Per variant: its p50 (× the base's float32 p50), and onnxruntime's on the same file (cwb / onnxruntime).
  declare -A times=([int8]="— | —" [sparse]="— | —")
  for v in "${variants[@]}"; do
    # shellcheck disable=SC2086
    mine=$(median ${vc[$v]})
    cell=$(/usr/bin/python3 -c "print('%s (%.2f)' % ('$mine', $mine / $cm))")
    if [ -n "${vo[$v]:-}" ]; then
      # shellcheck disable=SC2086
      theirs=$(median ${vo[$v]})
      cell+=" | $(/usr/bin/python3 -c "print('%s (%.2f)' % ('$theirs', $mine / $theirs))")"
    else
      cell+=" | fails: $(head -c 100 "$tmp/$v.err" | tr '\n|' '  ')"
    fi
    times[$v]="$cell"
  done
  echo "| $name | $ops | $size | yes | $err | $cm | $om | $(/usr/bin/python3 -c "print('%.2f' % ($cm / $om))") | $rss |" \
    "${made[int8]} | ${times[int8]} | ${made[sparse]} | ${times[sparse]} |"
done <"$tmp/models"
