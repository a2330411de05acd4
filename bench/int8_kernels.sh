#!/usr/bin/env bash
# The demo CNN fully int8 (bench/int8_cnn.cpp builds it by hand from the demo's weights: BN folded, int8
# per-channel weights, uint8 activations with max calibration) against the fp32 demo: accuracy on the
# Fashion-MNIST test set, file size, `cwb bench` latency at batch 1 and 64 on one thread, and onnxruntime
# (bench/ort_bench.js, same iterations) on the same models exported to ONNX, as a Markdown table.
# usage: bench/int8_kernels.sh [BUILD_DIR] [ITERATIONS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
iterations="${2:-2000}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cmake --build "$build" --target cwb >/dev/null
# cwb's link line, with cwb.cpp's object replaced by the builder's.
link=$(ninja -C "$build" -t commands app/cwb | tail -1 | sed -e 's/^: && //' -e 's/ && :$//')
c++ -O2 -DNDEBUG -std=c++20 -I"$root" -c "$root/bench/int8_cnn.cpp" -o "$tmp/int8_cnn.o"
(cd "$build" && eval "${link/app\/CMakeFiles\/cwb.dir\/cwb.cpp.o -o app\/cwb/$tmp/int8_cnn.o -o $tmp/int8_cnn}")
export OMP_WAIT_POLICY=PASSIVE
export NODE_PATH="$root/node_modules"
cwb="$build/app/cwb"
"$tmp/int8_cnn" "$tmp/demo_int8.h5" 500
"$cwb" export demo -o "$tmp/demo_fp32.h5" >/dev/null
acc() { "$cwb" eval "$1" --data fashion-mnist --json | /usr/bin/python3 -c 'import json,sys; print("%.2f" % (100*json.load(sys.stdin)["accuracy"]))'; }
p50() { "$cwb" bench "$1" --batch "$2" --threads 1 --iterations "$3" --warmup 50 --json | /usr/bin/python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["p50_ms"])'; }
ort() { node "$root/bench/ort_bench.js" "$1" --batch "$2" --threads 1 --iterations "$3" --warmup 50 | /usr/bin/python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["p50_ms"])'; }
size() { if [ -f "$1" ]; then stat -c %s "$1"; else echo "-"; fi; }
"$cwb" export demo -o "$tmp/demo_fp32.onnx" >/dev/null
"$cwb" export "$tmp/demo_int8.h5" -o "$tmp/demo_int8.onnx" >/dev/null
echo "| model | accuracy % | .h5 bytes | cwb batch 1 p50 ms | cwb batch 64 p50 ms | ort batch 1 p50 ms | ort batch 64 p50 ms |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for m in fp32 int8; do
  name=$([ "$m" = fp32 ] && echo "demo (fp32)" || echo "demo int8 (hand-built)")
  h5="$tmp/demo_$m.h5"; onnx="$tmp/demo_$m.onnx"
  echo "| $name | $(acc "$h5") | $(size "$h5") | $(p50 "$h5" 1 "$iterations") | $(p50 "$h5" 64 $((iterations / 20 + 10))) | $(ort "$onnx" 1 "$iterations") | $(ort "$onnx" 64 $((iterations / 20 + 10))) |"
done
