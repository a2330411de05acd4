#!/usr/bin/env bash
# Builds the fuzz targets (tests/fuzz: one per parser) with clang, libFuzzer, AddressSanitizer and
# UndefinedBehaviorSanitizer in build-asan/ (the sanitizer build of installers/setup.sh sanitize), then runs
# each for SECONDS (default 60) on a working copy of its seed corpus, CW_FUZZ_JOBS targets at a time (default 2).
# Fork mode with crashes, out-of-memory and timeouts ignored, so one finding does not end a target's run: every
# input that crashed, leaked, ran out of the memory limit or timed out is saved under build-asan/findings/TARGET/
# (crash-*, leak-*, oom-*, timeout-*; emptied at the start of the target's next run) and counted in the summary.
# The working corpus, build-asan/corpus/TARGET/, grows from run to run.
#   bench/fuzz.sh [SECONDS] [TARGET...]        (targets: every tests/fuzz/fuzz_TARGET.cpp: onnx, h5_model, gguf, ...)
# Reproduce one finding: build-asan/tests/fuzz/fuzz_TARGET FILE; before the summary each finding is printed with
# its input in base64 and a rerun's report, so that a log alone (CI's) reproduces it. Leaks inside libraries are
# suppressed by tests/sanitizers/lsan.supp. Needs clang, libclang-rt-14-dev and libomp-14-dev (installers/setup.sh fuzz
# installs them). Exit status 1 when any target found something.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
shift || true
build="${CW_ASAN_BUILD_DIR:-$root/build-asan}"
jobs="${CW_FUZZ_JOBS:-2}"
targets=("$@")
if ((${#targets[@]} == 0)); then
  for src in "$root"/tests/fuzz/fuzz_*.cpp; do
    name="$(basename "$src" .cpp)"
    targets+=("${name#fuzz_}")
  done
fi

command -v clang++ >/dev/null || { echo "clang++ not found: run installers/setup.sh fuzz" >&2; exit 2; }
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCW_FUZZ=ON
fi
cmake --build "$build" -j "$jobs" --target "${targets[@]/#/fuzz_}"

export OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
export LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0"
# One target: its run, then one summary line in findings/TARGET.summary.
fuzz_one() {
  local t="$1"
  local corpus="$build/corpus/$t" findings="$build/findings/$t"
  rm -rf "$findings"
  mkdir -p "$corpus" "$findings"
  local log="$build/findings/$t.log"
  echo "== fuzz_$t for ${seconds}s (log: $log)"
  # New inputs go into the first folder (the working corpus); the checked-in seeds are only read.
  (cd "$findings" && "$build/tests/fuzz/fuzz_$t" "$corpus" "$root/tests/fuzz/corpus/$t" \
      -max_total_time="$seconds" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 \
      -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -artifact_prefix="$findings/" -print_final_stats=1) \
      >"$log" 2>&1 || true
  local execs runs n_crash n_leak n_oom n_timeout
  execs="$(grep -oE 'exec/s:? [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)"
  runs="$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#' || echo 0)"
  n_crash="$(find "$findings" -maxdepth 1 -name 'crash-*' | wc -l)"
  n_leak="$(find "$findings" -maxdepth 1 -name 'leak-*' | wc -l)"
  n_oom="$(find "$findings" -maxdepth 1 -name 'oom-*' | wc -l)"
  n_timeout="$(find "$findings" -maxdepth 1 -name 'timeout-*' | wc -l)"
  printf '%-11s %10s runs %7s exec/s   crash %d  leak %d  oom %d  timeout %d\n' \
      "$t" "${runs:-0}" "${execs:-0}" "$n_crash" "$n_leak" "$n_oom" "$n_timeout" >"$build/findings/$t.summary"
}

# CW_FUZZ_JOBS targets at a time (default 2), each on one core.
mkdir -p "$build/findings"
running=0
for t in "${targets[@]}"; do
  fuzz_one "$t" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
# Each finding in full, so that a run whose folder is gone (CI's) still tells how to reproduce it: the input in
# base64 (up to 64 KiB) and the last 30 lines of a rerun on it (the sanitizer's report, or a line saying that the
# input alone runs clean), then the summary.
for t in "${targets[@]}"; do
  for f in "$build/findings/$t"/crash-* "$build/findings/$t"/leak-* "$build/findings/$t"/oom-* \
           "$build/findings/$t"/timeout-*; do
    [ -f "$f" ] || continue
    echo
    echo "== finding: fuzz_$t $(basename "$f") ($(stat -c %s "$f") bytes)"
    if [ "$(stat -c %s "$f")" -le 65536 ]; then
      echo "== the input (base64 -d > $(basename "$f")):"
      base64 -w 120 "$f"
    fi
    echo "== a rerun on it:"
    status=0
    rerun="$(cd "$build/findings/$t" && timeout 60 "$build/tests/fuzz/fuzz_$t" -rss_limit_mb=2048 \
        -malloc_limit_mb=2048 "$f" 2>&1)" || status=$?
    printf '%s\n' "$rerun" | tail -n 30
    # A crash that needs the inputs run before it in the same process (fork mode runs many per process).
    if ((status == 0)); then
      echo "== the rerun ends normally: this input does not reproduce the finding alone"
    fi
  done
done
echo
echo "== summary (${seconds}s per target; findings in $build/findings/)"
found=0
for t in "${targets[@]}"; do
  cat "$build/findings/$t.summary"
  grep -qE 'crash 0  leak 0  oom 0  timeout 0' "$build/findings/$t.summary" || found=1
done
exit "$found"
