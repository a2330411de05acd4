#!/usr/bin/env bash
# 8-bit activations on the audio models' 1-D convolutions: fidelity and speed.
#
# The int8 recipe keeps a 1-D Conv's arithmetic float unless the recipe asks (layers.NAME.integer,
# docs/recipes.md). This measures why and what the request costs and gains, on the melspectrogram front end (its
# two STFT convolutions, one input channel, 512 taps) and silero-vad-16k-op15 (its STFT and its five other
# convolutions), each quantized three times by docs/recipes/int8.json: as it is, with every 1-D Conv asked to run on
# integer kernels, and with a fidelity floor (quantize.activations.min_sqnr_db: 40 dB for the melspectrogram front
# end, 20 dB for silero, which keeps 23.4 dB with float arithmetic on speech), where the data decides which layers
# run on integer kernels. Each is calibrated on 64 seeded frames (a fidelity floor is measured on 64 more), and its
# SQNR given on those 64 calibration frames and on 256 held-out frames of the same kind. Data of two kinds:
#   noise   uniform samples over the model's input range (the compression data of tests/real_models.json)
#   speech  speech-like frames: harmonics of a 100-220 Hz pitch falling as 1/h^1.5, levels spread evenly over
#           40 dB, plus a little noise (a frame of loud speech and one of quiet speech look alike to neither)
# Then interleaved rounds (one thread, pinned to the last core) of float32, both int8 variants, and onnxruntime on
# the float32 file and on the integer one, at batch 1 and 64. Prints two markdown tables (docs/models.md,
# docs/performance.md).
#
#   bench/int8_signals.sh [BUILD_DIR]        (ROUNDS=3)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$here/build}" && pwd)
cwb=$build/app/cwb
py=/usr/bin/python3
rounds=${ROUNDS:-3}
export NODE_PATH="$here/node_modules"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cpu=$(($(nproc) - 1))

declare -A file
while IFS=$'\t' read -r name path; do file[$name]=$path; done < <("$py" "$here/tests/tools/fetch_models.py" --paths)
mel=${file[oww-melspectrogram]}
vad=${file[silero-vad-16k-op15]}

"$py" - "$work" <<'EOF'
import sys
import numpy as np
work = sys.argv[1]

def speech(n, seed, peak):
    r = np.random.default_rng(seed)
    t = np.arange(n) / 16000
    f0 = r.uniform(100, 220)
    x = sum(h ** -1.5 * np.sin(2 * np.pi * f0 * h * t + r.uniform(0, 2 * np.pi)) for h in range(1, 40) if f0 * h < 7800)
    x *= peak / np.abs(x).max() * 10 ** r.uniform(-2, 0)  # the level: 0 to -40 dB
    return x + r.normal(0, peak * 3e-4, n)

for name, n, peak in (('mel', 1280, 8000.0), ('vad', 512, 1.0)):
    low, high = (-3000, 3000) if name == 'mel' else (-1, 1)
    # 128 frames: calibration takes the first 64, a fidelity floor is measured on the other 64; 256 more held out.
    for kind, make in (('speech', lambda seeds: np.stack([speech(n, s, peak) for s in seeds])),
                       ('noise', lambda seeds: np.random.default_rng(seeds[0]).uniform(low, high, (len(seeds), n)))):
        frames = make(range(128)).astype(np.float32)
        np.save(f'{work}/{name}.{kind}.npy', frames)
        np.save(f'{work}/{name}.{kind}.calibration.npy', frames[:64])
        np.save(f'{work}/{name}.{kind}.held.npy', make(range(1000, 1256)).astype(np.float32))
    r = np.random.default_rng(9)
    for b in (1, 64):
        np.save(f'{work}/{name}.b{b}.npy', r.uniform(low, high, (b, n)).astype(np.float32))
        np.save(f'{work}/state.b{b}.npy', np.zeros((2, b, 128), np.float32))
np.save(f'{work}/sr.npy', np.array(16000, np.int64))
EOF

# Recipe int8.json with the given nodes on integer kernels.
recipe() {
    "$py" - "$here/docs/recipes/int8.json" "$@" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
r['quantize']['activations']['samples'] = 64
r['layers'] = {n: {'integer': True} for n in sys.argv[2:]}
print(json.dumps(r))
EOF
}
floor() { # DB: int8.json with a fidelity floor
    recipe | "$py" -c 'import json, sys; r = json.load(sys.stdin); r["quantize"]["activations"]["min_sqnr_db"] = float(sys.argv[1]); print(json.dumps(r))' "$1"
}
recipe Conv_2 Conv_3 >"$work/mel.integer.json"
recipe /model/stft/Conv /model/encoder/{0,1,2,3}/reparam_conv/Conv /model/decoder/decoder/2/Conv >"$work/vad.integer.json"
recipe >"$work/mel.int8.json"
recipe >"$work/vad.int8.json"
declare -A floorDb=([mel]=40 [vad]=20)
floor "${floorDb[mel]}" >"$work/mel.floor.json"
floor "${floorDb[vad]}" >"$work/vad.floor.json"

declare -A model=([mel]=$mel [vad]=$vad) args=([mel]="" [vad]="--value state=0 --value sr=16000")
sqnr() { # NAME RECIPE DATA -> SQNR of the first output in dB on the calibration frames / on the held-out frames
    # shellcheck disable=SC2086
    "$cwb" compress "${model[$1]}" --recipe "$work/$1.$2.json" --data "$work/$1.$3.npy" ${args[$1]} --threads 1 \
        --no-measure -o "$work/$1.$2.$3.onnx" >/dev/null 2>&1
    local part out=()
    for part in calibration held; do
        # shellcheck disable=SC2086
        out+=("$("$cwb" eval "$work/$1.$2.$3.onnx" --reference "${model[$1]}" --data "$work/$1.$3.$part.npy" ${args[$1]} \
            --threads 1 --json | "$py" -c 'import json, sys; print("%.1f" % json.load(sys.stdin)["outputs"][0]["sqnr_db"])')")
    done
    echo "${out[0]} / ${out[1]} dB"
}
integerConvs() { # ONNX -> its QLinearConv nodes
    "$cwb" info "$1" --json | "$py" -c 'import json, sys; print(sum(n["op"] == "QLinearConv" for n in json.load(sys.stdin)["nodes"]))'
}
echo "SQNR of the first output: on the 64 calibration frames / on 256 held-out frames"
echo
echo "| model | data | int8 (1-D convolutions float) | int8, 1-D convolutions on integer kernels | int8 with a fidelity floor | its 1-D convolutions on integer kernels |"
echo "|---|---|---:|---:|---:|---:|"
for name in mel vad; do
    for data in noise speech; do
        echo "| ${model[$name]##*/} | $data | $(sqnr "$name" int8 "$data") | $(sqnr "$name" integer "$data") |" \
            "$(sqnr "$name" floor "$data") (floor ${floorDb[$name]} dB) | $(integerConvs "$work/$name.floor.$data.onnx") of $(integerConvs "$work/$name.integer.$data.onnx") |"
    done
done
echo

inputs() { # NAME BATCH -> the graph inputs as .npy files
    echo "--input input=$work/$1.b$2.npy"
    [ "$1" = vad ] && echo "--input state=$work/state.b$2.npy --input sr=$work/sr.npy"
    return 0
}
cwbTime() { # MODEL NAME BATCH -> p50 ms
    # shellcheck disable=SC2046
    taskset -c "$cpu" "$cwb" bench "$1" $(inputs "$2" "$3") --threads 1 --iterations "$its" --warmup 50 --json |
        "$py" -c 'import json, sys; print(json.load(sys.stdin)["p50_ms"])'
}
ortTime() {
    # shellcheck disable=SC2046
    taskset -c "$cpu" node "$here/bench/ort_bench.js" "$1" $(inputs "$2" "$3") --threads 1 --iterations "$its" \
        --warmup 50 | "$py" -c 'import json, sys; print(json.load(sys.stdin)["p50_ms"])'
}
for r in $(seq "$rounds"); do
    for name in mel vad; do
        for b in 1 64; do
            its=$([ "$b" = 1 ] && echo 3000 || echo 200)
            base=${model[$name]} int8=$work/$name.int8.noise.onnx integer=$work/$name.integer.noise.onnx
            echo "$name $b $(cwbTime "$base" $name $b) $(cwbTime "$int8" $name $b) $(cwbTime "$integer" $name $b)" \
                "$(ortTime "$base" $name $b) $(ortTime "$integer" $name $b)" >>"$work/times"
        done
    done
done
"$py" - "$work/times" "$mel" "$vad" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault((f[0], int(f[1])), []).append([float(x) for x in f[2:]])
names = {'mel': sys.argv[2].rsplit('/', 1)[1], 'vad': sys.argv[3].rsplit('/', 1)[1]}
print('| model | batch | float32 ms | int8 ms (1-D float) | int8 ms, 1-D on integer kernels | integer / float32 | '
      'onnxruntime float32 ms | onnxruntime, integer file ms | cwb / onnxruntime, integer file |')
print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
for (name, b), runs in rows.items():
    med = [statistics.median(r[i] for r in runs) for i in range(len(runs[0]))]
    print(f'| {names[name]} | {b} | {med[0]:.4f} | {med[1]:.4f} | {med[2]:.4f} | {med[2] / med[0]:.2f} | '
          f'{med[3]:.4f} | {med[4]:.4f} | {med[2] / med[4]:.2f} |')
EOF
