#!/usr/bin/env bash
# Load time and peak memory of large real models: `cwb info` (load only) and `cwb run` (load + one run on
# seeded random input, one thread) against onnxruntime creating a session and running it once
# (bench/ort_run_once.js), interleaved, median of 3 runs each. Peak RSS is /usr/bin/time's "Maximum
# resident set size" of the whole process (node's own ~40 MB included for onnxruntime).
# The models: imgly's float16 "medium" background-removal network as shipped, and the same network with
# float32 weights (176 MB; bench/make_fp32_model.py writes it), the size the issue measured.
# usage: bench/load_memory.sh [BUILD_DIR]         (a Markdown table on stdout)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
cwb="$build/app/cwb"
export NODE_PATH="$root/node_modules"
medium="$(/usr/bin/python3 "$root/tests/tools/fetch_models.py" --paths | awk -F'\t' '$1 == "imgly-medium" { print $2 }')"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$root/bench/make_fp32_model.py" "$medium" "$tmp/medium_fp32.onnx"
/usr/bin/python3 -c "import numpy as np; np.save('$tmp/in.npy', np.random.default_rng(1).uniform(-1, 1, (1, 3, 1024, 1024)).astype(np.float32))"

# peak KiB and wall seconds of a command: "KIB SECONDS"
measure() {
  /usr/bin/time -f "%M %e" -o "$tmp/time" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  cat "$tmp/time"
}
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }

echo "| model | file MB | cwb info peak MB | cwb info s | ort load peak MB | ort load s | cwb run peak MB | ort run peak MB | run peak ratio (cwb / ort) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for model in "$medium" "$tmp/medium_fp32.onnx"; do
  ci=(); cs=(); oi=(); os=(); cr=(); orr=()
  for _ in 1 2 3; do
    read -r k s < <(measure "$cwb" info "$model"); ci+=("$k"); cs+=("$s")
    read -r k s < <(measure node "$root/bench/ort_run_once.js" "$model"); oi+=("$k"); os+=("$s")
    read -r k s < <(measure "$cwb" run "$model" --input "input=$tmp/in.npy" -o "output=$tmp/out.npy" --threads 1); cr+=("$k")
    read -r k s < <(measure node "$root/bench/ort_run_once.js" "$model" --run); orr+=("$k")
  done
  mb() { /usr/bin/python3 -c "print('%.0f' % ($1 / 1024))"; }
  size=$(/usr/bin/python3 -c "import os; print('%.0f' % (os.path.getsize('$model') / 1e6))")
  a=$(median "${cr[@]}"); b=$(median "${orr[@]}")
  echo "| $(basename "$model") | $size | $(mb "$(median "${ci[@]}")") | $(median "${cs[@]}") | $(mb "$(median "${oi[@]}")") | $(median "${os[@]}") | $(mb "$a") | $(mb "$b") | $(/usr/bin/python3 -c "print('%.2f' % ($a / $b))") |"
done
