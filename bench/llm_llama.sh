#!/usr/bin/env bash
# The llama-family demo (docs/results.md, "A llama-family model"): demo-lm's recipe trained as a llama model —
# RMSNorm, rotary positions, SwiGLU, 4 query heads sharing 2 key / value heads — by `cwb train-lm --arch llama`,
# kept in the model cache (about 40 minutes on two cores, once), then on it the compression table
# (bench/llm_results.sh: RTN / GPTQ / AWQ, magnitude / Wanda / SparseGPT, llama.cpp's formats, each variant also
# evaluated by llama.cpp) and the recovery by distillation (bench/llm_distill.sh).
# usage: bench/llm_llama.sh [BUILD_DIR]   (Markdown to stdout)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build}"
cwb="$build/app/cwb"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/compression-workbench/models"
# The name changes with the trainer, so that a model trained by an older one is not reused (v2: AdamW's decoupled
# weight decay).
model="$cache/demo-lm-llama-v2.gguf"
if [ ! -f "$model" ]; then
  mkdir -p "$cache"
  "$cwb" train-lm --arch llama --kv-heads 2 --ffn 384 --steps 4000 --lr 2e-3 --warmup 200 --eval-every 500 --seed 1 \
      --threads 2 -o "$model.part" >&2
  mv "$model.part" "$model"
fi
ref="$("$root/tests/tools/llama_ref.sh")"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
"$cwb" text brown:heldout -o "$tmp/heldout.txt"
ours=$("$cwb" perplexity "$model" --text "$tmp/heldout.txt" --json | /usr/bin/python3 -c "import json,sys; print('%.4f' % json.load(sys.stdin)['perplexity'])")
read -r theirs _ < <("$ref" perplexity "$model" "$tmp/heldout.txt" 128 0 2>/dev/null)
echo "$(basename "$model"): held-out perplexity $ours (the workbench), $theirs (llama.cpp, same file and text)"
echo
"$root/bench/llm_results.sh" "$build" "$model"
echo
"$root/bench/llm_distill.sh" "$build" "$model"
