#!/usr/bin/env bash
# How fast a language model's compressed variants run against its float32 base: `cwb bench` (each call the median
# of its own rounds) on the base exported as GGUF and on variants made by `cwb compress` — Q8_0 and Q4_0 with the
# token embedding (the tied output head) included, and Q4_0 of the blocks' matrices alone (the default recipe) —
# in interleaved rounds whose order rotates, medians, tokens/s and the ratio to the base of the same run; then
# llama.cpp (tests/tools/llama_ref bench) on the same files, for its own ratios.
# usage: bench/lm_variant_speed.sh [BUILD_DIR] [MODEL]   (MODEL: demo-lm or a .gguf; Markdown to stdout)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
model="${2:-demo-lm}"
rounds="${CW_BENCH_ROUNDS:-5}"
cwb="$build/app/cwb"
ref="$("$root/tests/tools/llama_ref.sh")"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

"$cwb" export "$model" -o "$tmp/float32.gguf" >/dev/null
variant() { # NAME FORMAT EMBEDDING(yes|no)
  local layers=""
  [ "$3" = yes ] && layers=", \"layers\": {\"token_embd.weight\": {\"quantize\": {\"weights\": {\"format\": \"$2\"}}}}"
  echo "{\"quantize\": {\"weights\": {\"format\": \"$2\"}}$layers}" >"$tmp/$1.json"
  "$cwb" compress "$model" --recipe "$tmp/$1.json" --data brown:heldout --limit 1 -o "$tmp/$1.gguf" >/dev/null 2>&1
}
variant q8_0 q8_0 yes
variant q4_0 q4_0 yes
variant q4_0-blocks q4_0 no
names=(float32 q8_0 q4_0 q4_0-blocks)
ctx=$("$cwb" info "$tmp/float32.gguf" --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['context_length'])")
gen=32
prompt=$(( ctx > 0 && ctx < 128 + gen ? ctx - gen : 128 ))

for threads in 1 2; do
  for n in "${names[@]}"; do : >"$tmp/$n.$threads.cwb"; : >"$tmp/$n.$threads.llama"; done
  for r in $(seq "$rounds"); do
    for k in "${!names[@]}"; do
      n="${names[$(( (k + r) % ${#names[@]} ))]}"
      "$cwb" bench "$tmp/$n.gguf" --prompt-tokens "$prompt" --gen-tokens "$gen" --threads "$threads" --json |
        /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); print(j['prompt_tokens_per_s'], j['generation_tokens_per_s'])" \
        >>"$tmp/$n.$threads.cwb"
      "$ref" bench "$tmp/$n.gguf" "$prompt" "$gen" "$threads" 2>/dev/null | awk '{print $2, $4}' >>"$tmp/$n.$threads.llama"
    done
  done
done

/usr/bin/python3 - "$tmp" "$rounds" "$prompt" "$gen" "$model" "${names[@]}" <<'EOF'
import os, statistics, sys
tmp, rounds, prompt, gen, model, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
label = {'float32': 'float32 (base)', 'q8_0': 'Q8_0, embedding included', 'q4_0': 'Q4_0, embedding included',
         'q4_0-blocks': "Q4_0, the blocks' matrices (embedding float32)"}
def med(path, col):
    return statistics.median(float(line.split()[col]) for line in open(path) if line.strip())
print('| variant | file bytes | threads | cwb prompt tok/s | × base | cwb generation tok/s | × base | '
      'llama.cpp generation tok/s | × base |')
print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
for threads in (1, 2):
    bp, bg = med(f'{tmp}/float32.{threads}.cwb', 0), med(f'{tmp}/float32.{threads}.cwb', 1)
    lg = med(f'{tmp}/float32.{threads}.llama', 1)
    for n in names:
        p, g, l = med(f'{tmp}/{n}.{threads}.cwb', 0), med(f'{tmp}/{n}.{threads}.cwb', 1), med(f'{tmp}/{n}.{threads}.llama', 1)
        size = os.path.getsize(f'{tmp}/{n}.gguf')
        print(f'| {label[n]} | {size} | {threads} | {p:.0f} | {p / bp:.2f} | {g:.0f} | **{g / bg:.2f}** | {l:.0f} | {l / lg:.2f} |')
print()
print(f'{model}: a prompt of {prompt} tokens, then {gen} generated; median of {rounds} interleaved rounds.')
EOF
