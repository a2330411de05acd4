#!/usr/bin/env bash
# Latency of `cwb bench` against onnxruntime on the same exported ONNX files, in one run, as ratios
# (cwb / onnxruntime; below 1 means cwb is faster). Machines are noisy: compare ratios, not milliseconds.
# usage: bench/bench_vs_ort.sh [BUILD_DIR]        (writes a Markdown table to stdout)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
cwb="$build/app/cwb"
iterations="${CW_BENCH_ITERATIONS:-200}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
export NODE_PATH="$root/node_modules"

field() { /usr/bin/python3 -c "import json,sys; print('%.4f' % json.load(sys.stdin)['$1'])"; }

echo "| model | batch | threads | cwb p50 ms | onnxruntime p50 ms | ratio (cwb / ort) |"
echo "|---|---:|---:|---:|---:|---:|"
for model in demo demo-resnet; do
  "$cwb" export "$model" -o "$tmp/$model.onnx"
  for batch in 1 64; do
    for threads in 1 2; do
      its=$iterations; [ "$batch" -gt 1 ] && its=$((iterations / 4))
      c=$("$cwb" bench "$tmp/$model.onnx" --batch "$batch" --threads "$threads" --iterations "$its" --warmup 10 --json | field p50_ms)
      o=$(node "$root/bench/ort_bench.js" "$tmp/$model.onnx" --batch "$batch" --threads "$threads" --iterations "$its" --warmup 10 | field p50_ms)
      r=$(/usr/bin/python3 -c "print('%.2f' % ($c / $o))")
      echo "| $model | $batch | $threads | $c | $o | $r |"
    done
  done
done
