#!/usr/bin/env bash
# Acceptance figures of the compression recipes on the demo CNN (Fashion-MNIST test set), written to
# docs/results.md.
#
#   bench/results.sh [BUILD_DIR] [OUT.md]        (defaults: build, docs/results.md)
#
# For every recipe in docs/recipes/ (in the order below): `cwb compress demo --recipe R --data fashion-mnist`
# (calibration and fine-tuning on the training split), which measures accuracy, top-5, loss and the saved .h5
# size of the variant and of the fp32 base. Latency is then measured separately, interleaved: ROUNDS rounds,
# each timing the fp32 .h5 and every variant with `cwb bench` at batch 1 and batch 64 on one thread; the
# table reports the median over rounds of each model's p50, and its ratio to the fp32 median (ratios, not
# absolute times: the machine is shared and noisy).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
out=${2:-$here/docs/results.md}
cwb=$build/app/cwb
rounds=${ROUNDS:-5}
iterations=${ITERATIONS:-300}
py=/usr/bin/python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

recipes=(int8 magnitude50-int8 nm24-finetune channel50-finetune w4a8-qat block75-fc1-finetune)

"$cwb" export demo -o "$work/fp32.h5"
for r in "${recipes[@]}"; do
    echo "== $r" >&2
    start=$(date +%s)
    "$cwb" compress demo --recipe "$here/docs/recipes/$r.json" --data fashion-mnist -o "$work/$r.h5" --json \
        > "$work/$r.json"
    echo $(( $(date +%s) - start )) > "$work/$r.seconds"
done

models=(fp32 "${recipes[@]}")
for round in $(seq "$rounds"); do
    echo "== latency round $round/$rounds" >&2
    for m in "${models[@]}"; do
        for batch in 1 64; do
            iters=$iterations
            [ "$batch" = 64 ] && iters=$(( iterations / 10 ))
            "$cwb" bench "$work/$m.h5" --batch "$batch" --threads 1 --iterations "$iters" --json \
                > "$work/bench-$m-$batch-$round.json"
        done
    done
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
"$py" - "$work" "$out" "$rounds" "$cpu" "${recipes[@]}" <<'EOF'
import json, os, statistics, sys

work, out, rounds, cpu, recipes = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:]

def latency(model, batch):
    return statistics.median(json.load(open(f"{work}/bench-{model}-{batch}-{r}.json"))["p50_ms"]
                             for r in range(1, rounds + 1))

targets = {
    "int8": (0.5, 0.27, "b1 <= 0.6x fp32"),
    "magnitude50-int8": (1.0, None, None),
    "nm24-finetune": (1.0, None, None),
    "channel50-finetune": (2.0, None, "b1 <= 0.6x unpruned"),
    "w4a8-qat": (2.0, 0.20, None),
}
fp32_bytes = os.path.getsize(f"{work}/fp32.h5")
fp32_b1, fp32_b64 = latency("fp32", 1), latency("fp32", 64)

rows, checks = [], []
base = None
for r in recipes:
    result = json.load(open(f"{work}/{r}.json"))
    base = result["base"]
    v = result["variant"]
    drop = 100 * (base["accuracy"] - v["accuracy"])
    size_ratio = os.path.getsize(f"{work}/{r}.h5") / fp32_bytes
    b1, b64 = latency(r, 1), latency(r, 64)
    seconds = int(open(f"{work}/{r}.seconds").read())
    rows.append(f"| `{r}` | {100 * v['accuracy']:.2f} | {drop:+.2f} | {100 * v['top5']:.2f} | {v['loss']:.4f} | "
                f"{os.path.getsize(f'{work}/{r}.h5'):,} | {size_ratio:.3f} | {b1:.4f} ({b1 / fp32_b1:.2f}x) | "
                f"{b64:.3f} ({b64 / fp32_b64:.2f}x) | {seconds} |")
    if r not in targets:  # a recipe the compression issue set no target for
        continue
    max_drop, max_size, lat = targets[r]
    verdict = [f"drop {drop:.2f} <= {max_drop}: {'yes' if drop <= max_drop else 'NO'}"]
    if max_size is not None:
        verdict.append(f"size {size_ratio:.3f}x <= {max_size}x: {'yes' if size_ratio <= max_size else 'NO'}")
    if lat is not None:
        verdict.append(f"batch-1 latency {b1 / fp32_b1:.2f}x <= 0.6x: {'yes' if b1 / fp32_b1 <= 0.6 else 'NO'}")
    checks.append(f"- `{r}`: " + "; ".join(verdict))

# bench/distill.sh owns the "Knowledge distillation" section at the end of the file: keep it.
marker = "## Knowledge distillation"
try:
    kept = marker + open(out).read().split(marker, 1)[1]
except (FileNotFoundError, IndexError):
    kept = ""
with open(out, "w") as f:
    f.write(f"""# Compression results on the demo CNN

Measured by `bench/results.sh` (recipes in [docs/recipes/](recipes/), schema in [recipes.md](recipes.md)) on the
Fashion-MNIST test set (10,000 images); calibration and fine-tuning use the training split. Drop is in
accuracy points against the fp32 demo. Size is the byte size of the saved .h5 file; the ratio is against the
fp32 demo saved the same way ({fp32_bytes:,} bytes). Latency is `cwb bench` p50 on one thread, the median of
{rounds} interleaved rounds, with its ratio to the fp32 model in the same run (machine: {cpu}).

fp32 demo: accuracy {100 * base['accuracy']:.2f} %, top-5 {100 * base['top5']:.2f} %, loss {base['loss']:.4f};
p50 {fp32_b1:.4f} ms at batch 1, {fp32_b64:.3f} ms at batch 64.

| recipe | accuracy % | drop (points) | top-5 % | loss | file bytes | size vs fp32 | p50 batch 1, ms | p50 batch 64, ms | run, s |
|---|---|---|---|---|---|---|---|---|---|
""")
    f.write("\n".join(rows) + "\n\nAgainst the targets of the compression issue:\n\n" + "\n".join(checks) + "\n")
    if kept:
        f.write("\n" + kept)
print(open(out).read())
EOF
