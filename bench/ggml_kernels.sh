#!/usr/bin/env bash
# Builds bench/ggml_kernels.cpp against an existing build directory's engine (the same libraries cwb links) and
# runs it: the block-format kernels (core/quant/ggml_kernels.h) against the float32 gemm on dequantized weights
# and against llama.cpp's vec_dot on the same bytes (its prebuilt AVX2 CPU backend, fetched with the real models
# by tests/tools/fetch_models.py; left out when absent), n = 1 and 16, 1 and 2 threads, interleaved rounds,
# medians, as Markdown tables (docs/performance.md).
# usage: bench/ggml_kernels.sh [BUILD_DIR] [ROUNDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
rounds="${2:-15}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cmake --build "$build" --target cwb >/dev/null
# cwb's link line, with cwb.cpp's object replaced by the benchmark's.
link=$(ninja -C "$build" -t commands app/cwb | tail -1 | sed -e 's/^: && //' -e 's/ && :$//')
c++ -O3 -DNDEBUG -std=c++20 -I"$root" -c "$root/bench/ggml_kernels.cpp" -o "$tmp/ggml_kernels.o"
(cd "$build" && eval "${link/app\/CMakeFiles\/cwb.dir\/cwb.cpp.o -o app\/cwb/$tmp/ggml_kernels.o -ldl -o $tmp/ggml_kernels}")
lib=$(/usr/bin/python3 "$root/tests/tools/fetch_models.py" --paths 2>/dev/null | awk -F'\t' '$1 == "llama.cpp-lib" {print $2}' || true)
llama=()
if [ -n "$lib" ] && [ -f "$lib/libggml-cpu-haswell.so" ]; then llama=("$lib/libggml-cpu-haswell.so"); else
  echo "ggml_kernels: llama.cpp's library is not in the model cache; measuring without it" >&2; fi
OMP_WAIT_POLICY=PASSIVE "$tmp/ggml_kernels" "$rounds" "${llama[@]}"
