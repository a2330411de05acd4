// Shared by the fuzz targets (tests/fuzz/fuzz_*.cpp), one per parser; docs/reliability.md says how to run them.
//
// A target is written once, as
//     CW_FUZZ_TARGET(name) { ...parse data[0..size)...; return 0; }
// and built two ways:
//   - fuzzers (cmake -DCW_FUZZ=ON with clang): each target its own executable around libFuzzer's main, with
//     AddressSanitizer and UndefinedBehaviorSanitizer (bench/fuzz.sh builds and runs them);
//   - replay (every build, any compiler, CW_FUZZ_REPLAY): all targets in one executable, fuzz_replay, whose
//     CTest tests run each target's checked-in seed corpus (tests/fuzz/corpus/NAME/) through it.
// Inside a target, parse() runs the parser: a cw::Error is the expected answer to a malformed input and is
// swallowed (the replay records it: every seed must parse); anything else that escapes — another exception,
// a crash, a sanitizer report — is a finding.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include <unistd.h>

#include "core/base/error.h"

namespace cwfuzz {

using Target = int (*)(const uint8_t *data, size_t size);

// The outcome of the last parse(): "" when the input was accepted, else the cw::Error message.
inline std::string &lastError()
{
    static std::string error;
    return error;
}

inline void parse(const std::function<void()> &body)
{
    // A memory budget well below libFuzzer's -malloc_limit_mb=2048 (bench/fuzz.sh): an input that declares more
    // is refused by the readers, the expected error, instead of an out-of-memory finding. Through the
    // environment, so the HDF5 rehearsal helper (core/base/rehearse.h) has the same budget.
    [[maybe_unused]] static const bool budget = [] {
        ::setenv("CW_MEMORY_BUDGET", "512M", 1);
        return true;
    }();
    lastError().clear();
    try {
        body();
    } catch (const cw::Error &e) {
        lastError() = e.what();
        if (lastError().empty())
            lastError() = "(empty error message)";
    }
}

// A property that must hold for every accepted input (a saved recipe reads back, ...): a violation aborts,
// which libFuzzer records as a crash with its input.
inline void require(bool condition, const char *what)
{
    if (!condition) {
        std::fprintf(stderr, "fuzz property violated: %s\n", what);
        std::abort();
    }
}

// Writes the input to `fileName` in a folder of this process (readers that take a path; the name carries the
// extension the reader dispatches on). The folder is removed at exit.
inline std::filesystem::path inputDir()
{
    return std::filesystem::temp_directory_path() / ("cwfuzz-" + std::to_string(::getpid()));
}

inline std::string writeInput(const uint8_t *data, size_t size, const std::string &fileName)
{
    [[maybe_unused]] static const bool created = [] {
        std::filesystem::create_directories(inputDir());
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(inputDir(), ec);
        });
        return true;
    }();
    const std::string path = (inputDir() / fileName).string();
    std::FILE *f = std::fopen(path.c_str(), "wb");
    if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
        std::perror(path.c_str());
        std::abort();
    }
    return path;
}

#ifdef CW_FUZZ_REPLAY
bool registerTarget(const char *name, Target target); // replay_main.cpp
#endif

} // namespace cwfuzz

#ifdef CW_FUZZ_REPLAY
#define CW_FUZZ_TARGET(name)                                                                                   \
    static int cwFuzz_##name(const uint8_t *data, size_t size);                                                \
    [[maybe_unused]] static const bool cwFuzzRegistered_##name = cwfuzz::registerTarget(#name, cwFuzz_##name); \
    static int cwFuzz_##name(const uint8_t *data, size_t size)
#else
#define CW_FUZZ_TARGET(name) extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif
