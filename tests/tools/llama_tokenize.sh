#!/bin/sh
# Builds tests/tools/llama_tokenize.cpp against llama.cpp's prebuilt libraries and the headers of the same
# release, both fetched with the real models (tests/tools/fetch_models.py), into the cache beside them, once.
# Prints the binary's path; exits 1 with a message when the reference is not available.
set -e
here=$(cd "$(dirname "$0")" && pwd)
paths=$(/usr/bin/python3 "$here/fetch_models.py" --paths) || { echo "llama_tokenize: fetch_models.py failed" >&2; exit 1; }
src=$(printf '%s\n' "$paths" | awk -F'\t' '$1 == "llama.cpp-source" {print $2}')
lib=$(printf '%s\n' "$paths" | awk -F'\t' '$1 == "llama.cpp-lib" {print $2}')
[ -n "$src" ] && [ -n "$lib" ] || { echo "llama_tokenize: llama.cpp is not in the model cache" >&2; exit 1; }
out="$lib/llama_tokenize"
if [ ! -x "$out" ] || [ "$here/llama_tokenize.cpp" -nt "$out" ]; then
  g++ -std=c++17 -O2 -o "$out.tmp" "$here/llama_tokenize.cpp" -I"$src/include" -I"$src/ggml/include" \
    "$lib/libllama.v0.4.0.so" "$lib/libggml.v0.4.0.so" "$lib/libggml-base.so" -Wl,-rpath,"$lib" >&2
  mv "$out.tmp" "$out"
fi
echo "$out"
