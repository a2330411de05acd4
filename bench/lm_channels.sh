#!/usr/bin/env bash
# Structured removal of MLP channels or attention heads on a language model (docs/results.md, "Removing MLP
# channels and attention heads"): `cwb compress` with "prune": {"method": "channel"} at 25 % and 50 % of every
# block's hidden channels, or (CW_STRUCTURE=heads, llama models) {"method": "heads"} at CW_RATIOS of its key / value
# heads; scored by their activations on calibration text (channels ‖x_j‖ · ‖W_down[:, j]‖, heads their output) or,
# without text, by their weights alone; each also fine-tuned with the base as teacher. Per variant: the file's
# bytes, perplexity on held-out text by the workbench and by llama.cpp on the same file, and generation speed
# against the float32 base (`cwb bench`, one thread, interleaved rounds whose order rotates, medians).
# usage: bench/lm_channels.sh [BUILD_DIR] [MODEL] [CALIBRATION_TEXT] [EVAL_TEXT]   (Markdown to stdout)
#   defaults: build, demo-lm, brown:train, brown:heldout; CW_LLM_CHUNKS chunks (default 0: the whole text);
#   CW_STRUCTURE channel (default) or heads; CW_RATIOS percentages (default "25 50")
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
model="${2:-demo-lm}"
calib="${3:-brown:train}"
evaltext="${4:-brown:heldout}"
chunks="${CW_LLM_CHUNKS:-0}"
rounds="${CW_BENCH_ROUNDS:-3}"
structure="${CW_STRUCTURE:-channel}"
ratios="${CW_RATIOS:-25 50}"
cwb="$build/app/cwb"
ref="$("$root/tests/tools/llama_ref.sh")"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT

ctx=$("$cwb" info "$model" --json | /usr/bin/python3 -c "import json,sys; c=json.load(sys.stdin)['context_length']; print(min(c, 512) if c else 512)")
"$cwb" text "$evaltext" -o "$tmp/eval.txt"
"$cwb" export "$model" -o "$tmp/base.gguf" >/dev/null
finetune='"finetune": {"epochs": 1, "samples": 512, "batch_size": 8, "lr": 3e-4, "distill": {"temperature": 1, "alpha": 0.5}}'

names=(base)
for r in $ratios; do
  prune="\"prune\": {\"method\": \"$structure\", \"ratio\": 0.$r}"
  echo "{$prune}" >"$tmp/$structure-$r.json"
  cp "$tmp/$structure-$r.json" "$tmp/$structure-$r-weights.json"
  echo "{$prune, $finetune}" >"$tmp/$structure-$r-distilled.json"
  names+=("$structure-$r-weights" "$structure-$r" "$structure-$r-distilled")
done
for n in "${names[@]:1}"; do
  calibration=(--train-data "$calib")
  case "$n" in *-weights) calibration=() ;; esac
  "$cwb" compress "$model" --recipe "$tmp/$n.json" "${calibration[@]}" --data "$tmp/eval.txt" --ctx "$ctx" \
      --limit "$chunks" -o "$tmp/$n.gguf" --json 2>/dev/null >"$tmp/$n.out"
done
for n in "${names[@]}"; do
  "$ref" perplexity "$tmp/$n.gguf" "$tmp/eval.txt" "$ctx" "$chunks" 2>/dev/null | awk '{print $1}' >"$tmp/$n.llama"
  : >"$tmp/$n.speed"
done
for r in $(seq "$rounds"); do
  for k in "${!names[@]}"; do
    n="${names[$(( (k + r) % ${#names[@]} ))]}"
    "$cwb" bench "$tmp/$n.gguf" --prompt-tokens 96 --gen-tokens 32 --threads 1 --json |
      /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['generation_tokens_per_s'])" >>"$tmp/$n.speed"
  done
done

/usr/bin/python3 - "$tmp" "${names[@]}" <<'EOF'
import json, os, statistics, sys
tmp, names = sys.argv[1], sys.argv[2:]
base = json.load(open(f'{tmp}/{names[1]}.out'))['base']['perplexity']
speed = {n: statistics.median(float(x) for x in open(f'{tmp}/{n}.speed') if x.strip()) for n in names}
label = {'weights': 'scored by weights (no text)', 'distilled': 'scored by activations, then distilled from the base'}
print('| variant | file bytes | × base | perplexity (cwb) | Δ vs base | perplexity (llama.cpp, same file) | '
      'generation tok/s | × base |')
print('|---|---:|---:|---:|---:|---:|---:|---:|')
for n in names:
    size = os.path.getsize(f'{tmp}/{n}.gguf')
    ppl = base if n == 'base' else json.load(open(f'{tmp}/{n}.out'))['variant']['perplexity']
    theirs = open(f'{tmp}/{n}.llama').read().strip()
    parts = n.split('-')
    what = 'MLP channels' if parts[0] == 'channel' else 'key / value heads (with their query heads)'
    name = 'float32 (base)' if n == 'base' else \
        f'{parts[1]} % of the {what}, ' + label.get(parts[-1], 'scored by activations')
    delta = '' if n == 'base' else f'{100 * (ppl / base - 1):+.2f} %'
    print(f'| {name} | {size} | {size / os.path.getsize(tmp + "/base.gguf"):.2f} | {ppl:.4f} | {delta} | {theirs} | '
          f'{speed[n]:.0f} | {speed[n] / speed["base"]:.2f} |')
EOF
