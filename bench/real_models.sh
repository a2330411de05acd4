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
# timed in the same rounds, by both engines on the same QDQ file; off the defaults
# (batch 1, one thread) the int8 columns are left out.
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

echo "int8: $(basename "$int8_recipe")"
echo
echo "| model | operators | file MB | loads | max rel. L2 error vs onnxruntime | cwb p50 ms | onnxruntime p50 ms | ratio (cwb / ort) | peak RSS MB, cwb / ort | int8: output SQNR dB, size ratio | int8 cwb p50 ms (× its float32) | int8 onnxruntime p50 ms (cwb / ort) |"
echo "|---|---:|---:|---|---:|---:|---:|---:|---:|---|---:|---:|"
while read -r name file inputs; do
  read -ra pairs <<<"$inputs"
  size=$(/usr/bin/python3 -c "import os; print('%.1f' % (os.path.getsize('$file') / 1e6))")
  if ! "$cwb" info "$file" --json >"$tmp/info.json" 2>"$tmp/err"; then
    echo "| $name | | $size | no: $(head -c 120 "$tmp/err") | | | | | | | | |"
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
  # The int8 variant, calibrated on the manifest's compression data (made before the rounds, timed in them).
  compress=$(cat "$tmp/$name.compress")
  int8="—"; int8c="—"; int8o="—"; int8file=""
  if [ "$batch" = 1 ] && [ "$threads" = 1 ]; then
    if [[ "$compress" == pending:* ]]; then
      int8="${compress}"
    else
      read -ra cargs <<<"$compress"
      int8file="$tmp/int8.onnx"
      "$cwb" compress "$file" --recipe "$int8_recipe" -o "$int8file" --no-measure "${cargs[@]}" >/dev/null
      int8=$("$cwb" eval "$tmp/int8.onnx" --reference "$file" "${cargs[@]}" --json | /usr/bin/python3 -c "
import json, os, sys
f = json.load(sys.stdin)['outputs'][0]
print('%.1f, %.2f' % (float(f['sqnr_db']), os.path.getsize('$tmp/int8.onnx') / os.path.getsize('$file')))")
    fi
  fi
  # Large models (the 1024x1024 background removal: seconds per run) get fewer iterations.
  its=$iterations; warm=5
  if [ "$(stat -c %s "$file")" -gt 20000000 ]; then its=3; warm=1; fi
  c=(); o=(); crss=(); orss=(); c8=(); o8=()
  for _ in $(seq "$rounds"); do
    "$cwb" bench "$file" "${in_args[@]}" --threads "$threads" --iterations "$its" --warmup "$warm" --json >"$tmp/c.json"
    node "$root/bench/ort_bench.js" "$file" "${in_args[@]}" --threads "$threads" --iterations "$its" --warmup "$warm" >"$tmp/o.json"
    c+=("$(field p50_ms "$tmp/c.json")"); crss+=("$(field peak_rss_bytes "$tmp/c.json")")
    o+=("$(field p50_ms "$tmp/o.json")"); orss+=("$(field peak_rss_bytes "$tmp/o.json")")
    if [ -n "$int8file" ]; then
      "$cwb" bench "$int8file" "${in_args[@]}" --threads "$threads" --iterations "$its" --warmup "$warm" --json >"$tmp/c.json"
      c8+=("$(field p50_ms "$tmp/c.json")")
      if node "$root/bench/ort_bench.js" "$int8file" "${in_args[@]}" --threads "$threads" --iterations "$its" \
          --warmup "$warm" >"$tmp/o.json" 2>"$tmp/err"; then
        o8+=("$(field p50_ms "$tmp/o.json")")
      fi
    fi
  done
  cm=$(median "${c[@]}"); om=$(median "${o[@]}")
  rss=$(/usr/bin/python3 -c "print('%.0f / %.0f' % ($(median "${crss[@]}") / 1e6, $(median "${orss[@]}") / 1e6))")
  if [ "${#c8[@]}" -gt 0 ]; then
    cm8=$(median "${c8[@]}")
    int8c=$(/usr/bin/python3 -c "print('%s (%.2f)' % ('$cm8', $cm8 / $cm))")
    if [ "${#o8[@]}" -gt 0 ]; then
      int8o=$(/usr/bin/python3 -c "print('%s (%.2f)' % ('$(median "${o8[@]}")', $cm8 / $(median "${o8[@]}")))")
    else
      int8o="fails: $(head -c 100 "$tmp/err" | tr '\n|' '  ')"
    fi
  fi
  echo "| $name | $ops | $size | yes | $err | $cm | $om | $(/usr/bin/python3 -c "print('%.2f' % ($cm / $om))") | $rss | $int8 | $int8c | $int8o |"
done <"$tmp/models"
