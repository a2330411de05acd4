#!/usr/bin/env bash
# One-step set-up on Debian 12: installs what is missing, builds, then either launches the GUI on the
# built-in demo (`setup.sh run`) or runs the whole test suite (`setup.sh test`). Idempotent: a second run
# installs nothing and rebuilds only what changed. Three more modes use build folders of their own
# (docs/reliability.md); the first and the last install clang, its sanitizer runtimes and libFuzzer:
#   setup.sh sanitize                  the whole test suite built with AddressSanitizer + UndefinedBehaviorSanitizer
#                                      (build-asan/); leaks in project code fail it, library noise is suppressed by
#                                      tests/sanitizers/lsan.supp;
#   setup.sh tsan                      the job, GUI and training tests (CTest label "threads") built with
#                                      ThreadSanitizer (gcc, build-tsan/); any report fails it;
#   setup.sh fuzz [SECONDS] [TARGET...] bench/fuzz.sh: every fuzz target for SECONDS (build-asan/).
set -euo pipefail

mode="${1:-run}"
case "$mode" in run|test|build|sanitize|tsan|fuzz) ;;
  *) echo "usage: $0 [run|test|build|sanitize|tsan|fuzz [SECONDS] [TARGET...]]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${CW_BUILD_DIR:-$root/build}"
jobs="$(nproc 2>/dev/null || echo 2)"

packages=(
  build-essential cmake ninja-build pkg-config ccache
  qt6-base-dev qt6-base-dev-tools qt6-svg-dev libgl-dev libqcustomplot-dev libqcustomplot2.1-qt6
  libeigen3-dev libdnnl-dev ocl-icd-opencl-dev libcli11-dev libhdf5-dev hdf5-tools libonnx-dev libprotobuf-dev protobuf-compiler
  nlohmann-json3-dev zlib1g-dev libpng-dev libturbojpeg0-dev libicu-dev libjpeg-turbo-progs git dataset-fashion-mnist
  python3-onnx python3-numpy python3-h5py python3-yaml xvfb xauth poppler-utils
)
# The sanitizer builds and the fuzzers only: the regular build and the tests do not need clang.
case "$mode" in sanitize|fuzz) packages+=(clang libclang-rt-14-dev libomp-14-dev) ;; esac
# The test suite's single-node Slurm cluster (tests/cluster/slurm_sweep.sh starts and stops its own daemons).
case "$mode" in test|sanitize) packages+=(munge slurmctld slurmd slurm-client) ;; esac
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# onnxruntime (CPU library inside the npm package) is the reference runtime for tests and benchmarks.
# --ignore-scripts: its install script would try to download, and it is not needed.
if [ ! -f "$root/node_modules/onnxruntime-node/package.json" ] ||
   [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
  echo "== npm install onnxruntime-node"
  (cd "$root" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

# The compiler cache lives beside the downloaded models (the folder a CI keeps between runs, so that a rerun
# does not fetch them again), and paths are taken relative to the source folder without hashing the build
# folder, so that another clone of the same commit hits it too.
export CCACHE_DIR="${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/compression-workbench/ccache}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$root}" CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"

[ "$mode" = fuzz ] && exec "$root/bench/fuzz.sh" "${@:2}"

if [ "$mode" = sanitize ]; then
  asan="${CW_ASAN_BUILD_DIR:-$root/build-asan}"
  [ -f "$asan/build.ninja" ] ||
    CC=clang CXX=clang++ cmake -S "$root" -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCW_FUZZ=ON
  cmake --build "$asan" -j "$jobs"
  echo "== the whole test suite with AddressSanitizer + UndefinedBehaviorSanitizer ($asan)"
  # Every test but test_real_models: its int8 reference convolutions on the real models take over half an hour
  # at -O1 with ASan (the regular build runs it). Qt Test's 5-minute limit per test function is raised too.
  (cd "$asan" &&
    ASAN_OPTIONS="detect_leaks=1" LSAN_OPTIONS="suppressions=$root/tests/sanitizers/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" QTEST_FUNCTION_TIMEOUT=1800000 \
    ctest --output-on-failure -j "$jobs" --timeout 1800 -E '^test_real_models$')
  exit 0
fi

if [ "$mode" = tsan ]; then
  tsan="${CW_TSAN_BUILD_DIR:-$root/build-tsan}"
  [ -f "$tsan/build.ninja" ] ||
    cmake -S "$root" -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCW_SANITIZE=thread
  mapfile -t targets < <(cd "$tsan" && ctest -N -L '^threads$' | sed -n 's/^ *Test *#[0-9]*: //p')
  ((${#targets[@]})) || { echo "no test is labelled 'threads' in $tsan" >&2; exit 1; }
  cmake --build "$tsan" -j "$jobs" --target "${targets[@]}" cwb cw-h5check compression-workbench
  echo "== the job, GUI and training tests with ThreadSanitizer ($tsan)"
  (cd "$tsan" &&
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:clear_shadow_mmap_threshold=1073741824:suppressions=$root/tests/sanitizers/tsan.supp" \
    QTEST_FUNCTION_TIMEOUT=1800000 ctest --output-on-failure -j "$jobs" --timeout 1800 -L '^threads$')
  exit 0
fi

if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build" -j "$jobs"

case "$mode" in
  build) ;;
  test)
    cd "$build"
    ctest --output-on-failure -j "$jobs" --timeout 1200
    ;;
  run)
    gui="$build/app/compression-workbench"
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
      echo "== no display: starting the workbench under Xvfb (screenshot: $build/demo.png)"
      exec xvfb-run -a -s "-screen 0 1600x1000x24" "$gui" --screenshot "$build/demo.png"
    fi
    exec "$gui"
    ;;
esac
