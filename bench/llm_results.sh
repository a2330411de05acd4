#!/usr/bin/env bash
# Language-model compression results (docs/results.md): `cwb compress` on one model with the weight-quantization
# and pruning methods side by side — RTN against GPTQ and AWQ at 3 and 4 bits, magnitude against Wanda and
# SparseGPT at 50 % and 2:4, llama.cpp's block formats — each variant's perplexity on held-out text, its size and
# bits per weight; then every GGUF variant evaluated by llama.cpp itself (tests/tools/llama_ref perplexity) beside
# ours; and a mix of formats allocated to uniform Q4_0's bits per weight from a sensitivity sweep. Calibration on
# --train-data, evaluation on --data; the same chunks for every variant. Last, the variants' speed against the
# float32 base (bench/lm_variant_speed.sh).
# usage: bench/llm_results.sh [BUILD_DIR] [MODEL] [CALIBRATION_TEXT] [EVAL_TEXT]   (Markdown to stdout)
#   defaults: build, demo-lm, brown:train, brown:heldout; CW_LLM_CHUNKS chunks of the model's context (default 0: the
#   whole text; differences between methods of a few tenths of a percent need the whole held-out split).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
model="${2:-demo-lm}"
calib="${3:-brown:train}"
evaltext="${4:-brown:heldout}"
chunks="${CW_LLM_CHUNKS:-0}"
cwb="$build/app/cwb"
ref="$("$root/tests/tools/llama_ref.sh")"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

# The evaluation text as a file (llama.cpp reads files), cut to the chunks measured.
ctx=$("$cwb" info "$model" --json | /usr/bin/python3 -c "import json,sys; c=json.load(sys.stdin)['context_length']; print(min(c, 512) if c else 512)")
"$cwb" text "$evaltext" -o "$tmp/eval.txt"

recipe() { # NAME JSON
  echo "$2" >"$tmp/$1.json"
}
recipe rtn-4-g32 '{"quantize": {"weights": {"bits": 4, "granularity": "group", "group_size": 32, "symmetric": false}}}'
recipe gptq-4-g32 '{"quantize": {"weights": {"bits": 4, "granularity": "group", "group_size": 32, "symmetric": false, "method": "gptq"}}}'
recipe awq-4-g32 '{"quantize": {"weights": {"bits": 4, "granularity": "group", "group_size": 32, "symmetric": false, "method": "awq"}}}'
recipe rtn-3-g32 '{"quantize": {"weights": {"bits": 3, "granularity": "group", "group_size": 32, "symmetric": false}}}'
recipe gptq-3-g32 '{"quantize": {"weights": {"bits": 3, "granularity": "group", "group_size": 32, "symmetric": false, "method": "gptq"}}}'
recipe awq-3-g32 '{"quantize": {"weights": {"bits": 3, "granularity": "group", "group_size": 32, "symmetric": false, "method": "awq"}}}'
recipe rtn-3-g128 '{"quantize": {"weights": {"bits": 3, "granularity": "group", "group_size": 128, "symmetric": false}}}'
recipe gptq-3-g128 '{"quantize": {"weights": {"bits": 3, "granularity": "group", "group_size": 128, "symmetric": false, "method": "gptq"}}}'
recipe awq-3-g128 '{"quantize": {"weights": {"bits": 3, "granularity": "group", "group_size": 128, "symmetric": false, "method": "awq"}}}'
recipe rtn-2-g32 '{"quantize": {"weights": {"bits": 2, "granularity": "group", "group_size": 32, "symmetric": false}}}'
recipe gptq-2-g32 '{"quantize": {"weights": {"bits": 2, "granularity": "group", "group_size": 32, "symmetric": false, "method": "gptq"}}}'
recipe awq-2-g32 '{"quantize": {"weights": {"bits": 2, "granularity": "group", "group_size": 32, "symmetric": false, "method": "awq"}}}'
recipe magnitude-50 '{"prune": {"method": "magnitude", "ratio": 0.5}}'
recipe wanda-50 '{"prune": {"method": "wanda", "ratio": 0.5}}'
recipe sparsegpt-50 '{"prune": {"method": "sparsegpt", "ratio": 0.5}}'
recipe magnitude-2of4 '{"prune": {"method": "nm", "n": 2, "m": 4}}'
recipe wanda-2of4 '{"prune": {"method": "wanda", "n": 2, "m": 4}}'
recipe sparsegpt-2of4 '{"prune": {"method": "sparsegpt", "n": 2, "m": 4}}'
recipe q8_0 '{"quantize": {"weights": {"format": "q8_0"}}}'
recipe q4_0 '{"quantize": {"weights": {"format": "q4_0"}}}'
recipe q4_1 '{"quantize": {"weights": {"format": "q4_1"}}}'
recipe q4_0-gptq '{"quantize": {"weights": {"format": "q4_0", "method": "gptq"}}}'
recipe q4_1-gptq '{"quantize": {"weights": {"format": "q4_1", "method": "gptq"}}}'
recipe q4_k '{"quantize": {"weights": {"format": "q4_k"}}}'
recipe q4_k-gptq '{"quantize": {"weights": {"format": "q4_k", "method": "gptq"}}}'
recipe q3_k '{"quantize": {"weights": {"format": "q3_k"}}}'
recipe q3_k-gptq '{"quantize": {"weights": {"format": "q3_k", "method": "gptq"}}}'
recipe q4_k-imatrix '{"quantize": {"weights": {"format": "q4_k"}}}'
recipe q2_k '{"quantize": {"weights": {"format": "q2_k"}}}'
# A mix to uniform Q4_0's 4.5 bits per weight over the blocks' matrices, allocated from a sweep over formats on the
# calibration text (core/lm/allocate.h).
"$cwb" sensitivity "$model" --data "$calib" --limit 16 --formats q8_0,q6_k,q5_k,q4_k,q3_k,q2_k --target-bpw 4.5 \
    --recipe-out "$tmp/mix-4.5bpw.json" >/dev/null 2>&1

echo "| variant | bytes | bpw | perplexity (cwb) | Δ vs base | perplexity (llama.cpp, same file) |"
echo "|---|---:|---:|---:|---:|---:|"
base_done=0
for name in rtn-4-g32 gptq-4-g32 awq-4-g32 rtn-3-g32 gptq-3-g32 awq-3-g32 rtn-3-g128 gptq-3-g128 awq-3-g128 \
            rtn-2-g32 gptq-2-g32 awq-2-g32 magnitude-50 wanda-50 sparsegpt-50 magnitude-2of4 wanda-2of4 sparsegpt-2of4 \
            q8_0 q4_0 q4_0-gptq q4_1 q4_1-gptq q4_k q4_k-gptq q4_k-imatrix q3_k q3_k-gptq q2_k mix-4.5bpw; do
  extra=()
  case "$name" in *-imatrix) extra=(--importance) ;; esac
  "$cwb" compress "$model" --recipe "$tmp/$name.json" --train-data "$calib" --data "$tmp/eval.txt" "${extra[@]}" \
      --ctx "$ctx" --limit "$chunks" -o "$tmp/$name.gguf" --json 2>/dev/null >"$tmp/$name.out"
  read -r bb bbpw bppl vb vbpw vppl < <(/usr/bin/python3 -c "
import json,sys; j=json.load(open(sys.argv[1])); b=j['base']; v=j['variant']
print(b['bytes'], '%.3f' % b['bits_per_weight'], '%.4f' % b['perplexity'], v['bytes'], '%.3f' % v['bits_per_weight'], '%.4f' % v['perplexity'])" "$tmp/$name.out")
  if [ "$base_done" = 0 ]; then
    echo "| base | $bb | $bbpw | $bppl | | |"
    base_done=1
  fi
  read -r lppl _ < <("$ref" perplexity "$tmp/$name.gguf" "$tmp/eval.txt" "$ctx" "$chunks" 2>/dev/null)
  delta=$(/usr/bin/python3 -c "print('%+.2f %%' % (100 * ($vppl / $bppl - 1)))")
  echo "| $name | $vb | $vbpw | $vppl | $delta | $lppl |"
done
echo
echo "$model; calibration $calib, evaluation $evaltext ($([ "$chunks" = 0 ] && echo "the whole text" || echo "$chunks chunks") in chunks of $ctx tokens); $(date -u +%Y-%m-%d), commit $(git -C "$root" rev-parse --short HEAD)."
echo
"$root/bench/lm_variant_speed.sh" "$build" "$model"
