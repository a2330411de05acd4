#!/usr/bin/env bash
# Batch-1 single-thread latency of pruned demo models against the unpruned demo, measured by `cwb bench`
# on saved files: channel pruning at 0.5 (smaller layers), and unstructured magnitude pruning at 0.9 / 0.95
# (the Gemm layers then run the CSR kernel). bench/prune_model.cpp writes the pruned files. Runs alternate
# between the models (ROUNDS rounds) so a change in machine load hits all of them; the table gives the
# median p50 over the rounds and its ratio to the unpruned model's.
# usage: bench/prune_latency.sh [BUILD_DIR] [ROUNDS] [MODEL]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
rounds="${2:-5}"
model="${3:-demo}"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
cmake --build "$build" --target cwb >/dev/null
link=$(ninja -C "$build" -t commands app/cwb | tail -1 | sed -e 's/^: && //' -e 's/ && :$//')
c++ -O3 -DNDEBUG -std=c++20 -I"$root" -c "$root/bench/prune_model.cpp" -o "$tmp/prune_model.o"
(cd "$build" && eval "${link/app\/CMakeFiles\/cwb.dir\/cwb.cpp.o -o app\/cwb/$tmp/prune_model.o -o $tmp/prune_model}")
cwb="$build/app/cwb"
"$cwb" export "$model" -o "$tmp/base.h5" >/dev/null
"$tmp/prune_model" "$model" channel 0.5 "$tmp/channel50.h5" >/dev/null
"$tmp/prune_model" "$model" magnitude 0.9 "$tmp/magnitude90.h5" >/dev/null
"$tmp/prune_model" "$model" magnitude 0.95 "$tmp/magnitude95.h5" >/dev/null
names=(base channel50 magnitude90 magnitude95)
declare -A p50
for ((r = 0; r < rounds; ++r)); do
  for n in "${names[@]}"; do
    v=$(OMP_WAIT_POLICY=PASSIVE "$cwb" bench "$tmp/$n.h5" --batch 1 --threads 1 --iterations 500 --warmup 50 --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["p50_ms"])')
    p50[$n]="${p50[$n]:-} $v"
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=$(echo "${p50[base]}" | median)
echo "| model ($model) | file bytes | p50 ms (median of $rounds) | vs unpruned |"
echo "|---|---:|---:|---:|"
for n in "${names[@]}"; do
  m=$(echo "${p50[$n]}" | median)
  printf "| %s | %d | %.4f | %.2f |\n" "$n" "$(stat -c %s "$tmp/$n.h5")" "$m" "$(echo "$m / $base" | bc -l)"
done
