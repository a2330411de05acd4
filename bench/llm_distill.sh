#!/usr/bin/env bash
# Recovering a compressed language model by fine-tuning (docs/results.md): `cwb compress` with a recipe's
# "finetune" stage — next-token cross-entropy alone, or the distillation loss on the token logits with the
# uncompressed model as teacher — on a 2-bit variant of the model, with plenty of training text (512 windows,
# one pass) and with little (64 windows, eight passes). Perplexity on held-out text by the workbench and, on the
# same exported GGUF file, by llama.cpp (tests/tools/llama_ref perplexity); fine-tuned variants over three seeds
# (which windows each step draws), mean ± sample standard deviation.
# usage: bench/llm_distill.sh [BUILD_DIR] [MODEL] [TRAIN_TEXT] [EVAL_TEXT]   (Markdown to stdout)
#   defaults: build, demo-lm, brown:train, brown:heldout; CW_LLM_CHUNKS (default 40) chunks of the model's context.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
model="${2:-demo-lm}"
train="${3:-brown:train}"
evaltext="${4:-brown:heldout}"
chunks="${CW_LLM_CHUNKS:-40}"
cwb="$build/app/cwb"
ref="$("$root/tests/tools/llama_ref.sh")"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

ctx=$("$cwb" info "$model" --json | /usr/bin/python3 -c "import json,sys; c=json.load(sys.stdin)['context_length']; print(min(c, 512) if c else 512)")
"$cwb" text "$evaltext" -o "$tmp/eval.txt"

# The compressed variant: the blocks' matrices at 2 bits and the token embedding (the tied output head) at 3 bits,
# groups of 32, round to nearest.
low='"quantize": {"weights": {"bits": 2, "granularity": "group", "group_size": 32, "symmetric": false}},
 "layers": {"token_embd.weight": {"quantize": {"weights": {"bits": 3, "granularity": "group", "group_size": 32, "symmetric": false}}}}'

run() { # NAME JSON -> "bytes bpw base_ppl variant_ppl llama_ppl seconds"
  echo "{$2}" >"$tmp/$1.json"
  "$cwb" compress "$model" --recipe "$tmp/$1.json" --train-data "$train" --data "$tmp/eval.txt" --ctx "$ctx" \
      --limit "$chunks" -o "$tmp/$1.gguf" --json 2>/dev/null >"$tmp/$1.out"
  read -r lppl _ < <("$ref" perplexity "$tmp/$1.gguf" "$tmp/eval.txt" "$ctx" "$chunks" 2>/dev/null)
  /usr/bin/python3 -c "
import json,sys; j=json.load(open(sys.argv[1])); b=j['base']; v=j['variant']; f=j.get('finetune') or {}
print(v['bytes'], '%.3f' % v['bits_per_weight'], b['perplexity'], v['perplexity'], sys.argv[2], f.get('seconds', 0))" \
      "$tmp/$1.out" "$lppl"
  rm -f "$tmp/$1.gguf"
}

row() { # LABEL FINETUNE_JSON (empty: none) -> a table row over seeds
  local label="$1" ft="$2" seeds=(1) out=()
  [ -n "$ft" ] && seeds=(1 2 3)
  for s in "${seeds[@]}"; do
    local json="$low"
    [ -n "$ft" ] && json="$low, \"finetune\": {${ft}, \"seed\": $s}"
    out+=("$(run "v$s" "$json")")
  done
  printf '%s\n' "${out[@]}" | /usr/bin/python3 -c "
import sys, statistics as st
rows = [l.split() for l in sys.stdin if l.strip()]
b, bpw, base = rows[0][0], rows[0][1], float(rows[0][2])
v = [float(r[3]) for r in rows]; l = [float(r[4]) for r in rows]; t = [float(r[5]) for r in rows]
def f(x): return '%.2f' % x[0] if len(x) == 1 else '%.2f ± %.2f' % (st.mean(x), st.stdev(x))
d = [100 * (x / base - 1) for x in v]
print('| %s | %s | %s | %s | %s | %s | %s |' % (sys.argv[1], b, bpw, f(v), f(d) + ' %', f(l), '%.0f' % st.mean(t) if t[0] else ''))
" "$label"
}

echo "| variant | bytes | bpw | perplexity (cwb) | Δ vs base | perplexity (llama.cpp, same file) | fine-tuning s |"
echo "|---|---:|---:|---:|---:|---:|---:|"
base=$("$cwb" perplexity "$model" --text "$tmp/eval.txt" --ctx "$ctx" --chunks "$chunks" --json | /usr/bin/python3 -c "import json,sys; print('%.2f' % json.load(sys.stdin)['perplexity'])")
echo "| base (float32) | | 32.000 | $base | | | |"
row "2-bit, not fine-tuned" ""
plenty='"epochs": 1, "samples": 512, "batch_size": 8, "lr": 3e-4'
scarce='"epochs": 8, "samples": 64, "batch_size": 8, "lr": 3e-4'
row "512 windows: cross-entropy" "$plenty"
row "512 windows: distillation α 1, T 1" "$plenty, \"distill\": {\"temperature\": 1, \"alpha\": 1}"
row "512 windows: distillation α 0.5, T 1" "$plenty, \"distill\": {\"temperature\": 1, \"alpha\": 0.5}"
row "512 windows: distillation α 0.5, T 2" "$plenty, \"distill\": {\"temperature\": 2, \"alpha\": 0.5}"
row "64 windows × 8: cross-entropy" "$scarce"
row "64 windows × 8: distillation α 1, T 1" "$scarce, \"distill\": {\"temperature\": 1, \"alpha\": 1}"
row "64 windows × 8: distillation α 0.5, T 1" "$scarce, \"distill\": {\"temperature\": 1, \"alpha\": 0.5}"
echo
echo "$model; training text $train, evaluation $evaltext (${chunks} chunks of $ctx tokens at most); $(date -u +%Y-%m-%d)."
