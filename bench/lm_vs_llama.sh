#!/usr/bin/env bash
# Language-model speed of `cwb bench` against llama.cpp (its prebuilt library, tests/tools/llama_ref bench) on the
# same GGUF file, in one run, interleaved, as ratios of tokens/s (cwb / llama.cpp; above 1 means cwb is faster):
# prompt processing (a prompt evaluated at once) and generation (one token at a time). llama.cpp runs as it runs
# by default (float16 KV cache, flash attention). Machines are noisy: compare ratios of the same run.
# usage: bench/lm_vs_llama.sh [BUILD_DIR] [MODEL]     (MODEL: a .gguf file or demo-lm; writes Markdown to stdout)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
model="${2:-demo-lm}"
rounds="${CW_BENCH_ROUNDS:-3}"
cwb="$build/app/cwb"
ref="$("$root/tests/tools/llama_ref.sh")"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
file="$model"
if [ "$model" = demo-lm ]; then
  file="$tmp/demo-lm.gguf"
  "$cwb" export demo-lm -o "$file"
fi
ctx=$("$cwb" info "$file" --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['context_length'])")
gen=32
prompt=$(( ctx > 0 && ctx < 128 + gen ? ctx - gen : 128 ))
median() { /usr/bin/python3 -c "import statistics,sys; print('%.1f' % statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

echo "| threads | cwb prompt tok/s | llama.cpp prompt tok/s | ratio | cwb generation tok/s | llama.cpp generation tok/s | ratio |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for threads in 1 2; do
  cp=(); cg=(); lp=(); lg=()
  for _ in $(seq "$rounds"); do
    read -r a b < <("$cwb" bench "$file" --prompt-tokens "$prompt" --gen-tokens "$gen" --threads "$threads" --json |
      /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); print(j['prompt_tokens_per_s'], j['generation_tokens_per_s'])")
    cp+=("$a"); cg+=("$b")
    read -r _ a _ b < <("$ref" bench "$file" "$prompt" "$gen" "$threads" 2>/dev/null)
    lp+=("$a"); lg+=("$b")
  done
  mcp=$(median "${cp[@]}"); mcg=$(median "${cg[@]}"); mlp=$(median "${lp[@]}"); mlg=$(median "${lg[@]}")
  echo "| $threads | $mcp | $mlp | $(/usr/bin/python3 -c "print('%.2f' % ($mcp / $mlp))") | $mcg | $mlg | $(/usr/bin/python3 -c "print('%.2f' % ($mcg / $mlg))") |"
done
echo
echo "Prompt of $prompt tokens, $gen generated, median of $rounds interleaved rounds; $(basename "$file"), $(date -u +%Y-%m-%d)."
