#!/usr/bin/env bash
# Channel pruning with and without reconstruction (prune.reconstruct) on the demo CNN: Fashion-MNIST test
# accuracy right after pruning, and after 2 epochs of fine-tuning (lr 0.001, as bench/distill.sh's recovery
# row) without and with the base as teacher (T 2, alpha 0.5), mean ± std over SEEDS (the fine-tuning's shuffling).
# Prints a markdown table (docs/results.md, "Channel pruning with reconstruction").
#
#   bench/reconstruct.sh [BUILD_DIR]        (SEEDS="1 2 3", RATIOS="0.5 0.75", SAMPLES=2048)
#
# The pruning removes RATIO of the channels of conv1, conv2 and fc1 (fc2 gives the logits); reconstruction
# refits conv2, fc1 and fc2 on the first SAMPLES training images (no labels used).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
cwb=$build/app/cwb
py=/usr/bin/python3
seeds=${SEEDS:-1 2 3}
ratios=${RATIOS:-0.5 0.75}
samples=${SAMPLES:-2048}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

accuracy() { # MODEL -> test accuracy in %
    "$cwb" eval "$1" --data fashion-mnist --json | "$py" -c 'import json, sys; print(100 * json.load(sys.stdin)["accuracy"])'
}

for ratio in $ratios; do
    for refit in false true; do
        prune="{\"method\": \"channel\", \"ratio\": $ratio, \"norm\": \"l1\", \"reconstruct\": $refit, \"reconstruct_samples\": $samples}"
        [ "$refit" = false ] && prune="{\"method\": \"channel\", \"ratio\": $ratio, \"norm\": \"l1\"}"
        name="$ratio-$refit"
        echo "{\"prune\": $prune, \"layers\": {\"fc2\": {\"prune\": null}}}" > "$work/$name.json"
        start=$EPOCHREALTIME
        "$cwb" compress demo --recipe "$work/$name.json" --train-data fashion-mnist:train --no-measure \
            -o "$work/$name.onnx" > /dev/null
        "$py" -c "print($EPOCHREALTIME - $start)" > "$work/$name.seconds"
        accuracy "$work/$name.onnx" > "$work/$name.acc"
        for s in $seeds; do
            for teacher in plain teacher; do
                distill=""
                [ "$teacher" = teacher ] && distill=', "distill": {"temperature": 2, "alpha": 0.5}'
                tuned="$name-$teacher-$s"
                echo "{\"prune\": $prune, \"finetune\": {\"epochs\": 2, \"lr\": 0.001, \"batch_size\": 64, \"seed\": $s$distill},
                       \"layers\": {\"fc2\": {\"prune\": null}}}" > "$work/$tuned.json"
                echo "== ratio $ratio, reconstruct $refit, seed $s, $teacher" >&2
                "$cwb" compress demo --recipe "$work/$tuned.json" --train-data fashion-mnist:train --no-measure \
                    -o "$work/$tuned.onnx" > /dev/null
                accuracy "$work/$tuned.onnx" > "$work/$tuned.acc"
            done
        done
    done
done

base=$(accuracy demo)
"$py" - "$work" "$base" "$ratios" "$seeds" <<'EOF'
import statistics, sys
work, base, ratios, seeds = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()
read = lambda name: float(open(f"{work}/{name}.acc").read())
def tuned(name, teacher):
    v = [read(f"{name}-{teacher}-{s}") for s in seeds]
    return f"{statistics.mean(v):.2f} ± {statistics.stdev(v) if len(v) > 1 else 0:.2f}"
print(f"Base (the demo cnn): {base:.2f} %.\n")
print("| channels removed | reconstruction | right after pruning | seconds (prune + refit) | 2 epochs | 2 epochs, base as teacher |")
print("|---|---|---|---|---|---|")
for r in ratios:
    for refit in ("false", "true"):
        name = f"{r}-{refit}"
        secs = float(open(f"{work}/{name}.seconds").read())
        print(f"| {float(r) * 100:.0f} % | {'yes' if refit == 'true' else 'no'} | {read(name):.2f} % | {secs:.1f} | "
              f"{tuned(name, 'plain')} % | {tuned(name, 'teacher')} % |")
EOF
