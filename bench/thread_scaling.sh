#!/usr/bin/env bash
# Two threads against one at batch 64 (issue 11: at least 1.7x the throughput of one on the demos and on every
# convolutional model of the set): `cwb bench MODEL --batch 64 --threads 1` and `--threads 2` alternating for
# CW_BENCH_ROUNDS rounds (default 3) of runs lasting about a second each (20 to 500 runs), the median p50 of each,
# and their ratio (the speed-up). The models: the
# demos and every model of tests/real_models.json with a Conv (in a subgraph too), except the large ones (imgly's networks: one
# 1024 x 1024 image is already seconds). Inputs are seeded random data; the manifest's fixed values (sr, zero
# states) and, for the first input, the sizes of its other dimensions (the sequence length) are given as there.
# usage: bench/thread_scaling.sh [BUILD_DIR]          (a Markdown table on stdout)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
cwb="$build/app/cwb"
rounds="${CW_BENCH_ROUNDS:-3}"
paths="$(/usr/bin/python3 "$root/tests/tools/fetch_models.py" --paths)"

# One line per model: NAME FILE and its cwb bench arguments.
models="$(/usr/bin/python3 - "$root/tests/real_models.json" "$paths" "$cwb" <<'EOF'
import json, os, subprocess, sys
import onnx
manifest, cwb = json.load(open(sys.argv[1])), sys.argv[3]

def convolutional(graph):  # a Conv anywhere, control-flow subgraphs included
    return any(n.op_type == 'Conv' or any(a.type == onnx.AttributeProto.GRAPH and convolutional(a.g)
                                          for a in n.attribute) for n in graph.node)

paths = dict(line.split('\t') for line in sys.argv[2].splitlines())
print('demo demo')
print('demo-resnet demo-resnet')
for m in manifest['models']:
    path = paths[m['name']]
    if os.path.getsize(path) > 20000000:
        continue
    if not convolutional(onnx.load(path).graph):
        continue
    info = json.loads(subprocess.run([cwb, 'info', path, '--json'], capture_output=True, check=True).stdout)
    c = m.get('compress', {})
    args = [f'--value={n}={v}' for n, v in c.get('values', {}).items()]
    args += [f'--shape={n}={v}' for n, v in c.get('same_size', {}).items()]
    first = info['inputs'][0]
    given = m['variants'][0][first['name']]['shape']
    for d, symbol in enumerate(first['shape'][1:], start=1):
        if isinstance(symbol, str):
            args.append(f'--shape={symbol}={given[d]}')
    print(m['name'], path, *args)
EOF
)"

# Each timed run lasts about a second: 20 runs of the ~2 ms silero models were too few to tell one thread from two.
p50() { "$cwb" bench "$@" --batch 64 --iterations "$its" --warmup 3 --json 2>/dev/null |
          /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['p50_ms'])"; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

echo "| model | batch 64, 1 thread: p50 ms | 2 threads: p50 ms | speed-up |"
echo "|---|---:|---:|---:|"
while read -r name file args; do
  read -ra extra <<<"$args"
  one=(); two=()
  its=5
  its=$(/usr/bin/python3 -c "print(max(20, min(500, int(1000 / $(p50 "$file" --threads 1 "${extra[@]}")))))")
  for ((r = 0; r < rounds; ++r)); do
    one+=("$(p50 "$file" --threads 1 "${extra[@]}")")
    two+=("$(p50 "$file" --threads 2 "${extra[@]}")")
  done
  t1=$(median "${one[@]}"); t2=$(median "${two[@]}")
  echo "| $name | $t1 | $t2 | $(/usr/bin/python3 -c "print('%.2f' % ($t1 / $t2))") |"
done <<<"$models"
