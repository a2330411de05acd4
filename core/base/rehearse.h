// Crash isolation for a library the project does not own. Debian 12's libhdf5 1.10 crashes on some corrupt
// files (out-of-bounds reads in its local heaps and object headers, found by the fuzzers; docs/reliability.md),
// and a crash inside a library cannot be caught. So before the program reads a file the user gave with such a
// library, a helper process, cw-h5check (app/h5check.cpp, installed beside cwb), makes the same read and exits.
// If the helper dies (a signal, a sanitizer report), the read is refused with a cw::Error and the program goes
// on. If its read fails with a cw::Error, the program throws the same message without reading the file at all:
// libhdf5 1.10 keeps state from a corrupt file that can crash a later read of another file in the same process
// (tests/fuzz/findings/h5_model-libhdf5-carryover-*), so the program's own libhdf5 only reads files the helper
// read through without an error. Only then does the program read the file itself, with the same code on the
// same bytes.
//
// The helper is a fresh process (posix_spawn), not a fork: it inherits no lock another thread held and no
// thread pool, and it writes back nothing but an error message. It inherits the environment (CW_MEMORY_BUDGET included).
// Which helper: $CW_H5CHECK if set, else cw-h5check beside the running executable, else the one of the build
// tree this library was built in. Without any, reads are not rehearsed (nothing else changes).
// Cost: the file is read twice, plus the helper's start (a few milliseconds).
#pragma once

#include <string>

namespace cw {

enum class RehearsalKind {
    ModelFile,  // a native .h5 model, read from its file
    ModelImage, // a native .h5 model held in memory (readH5Bytes)
    Dataset,    // an HDF5 dataset file (x, y)
    BundleFile, // a bundle of models and a document (core/io/bundle.h: the project file), read from its file
    BundleImage, // the same held in memory
};

const char *rehearsalKindName(RehearsalKind kind); // "model-file", "model-image", "dataset", "bundle-file", ...

// The helper's exit status when its read failed with a cw::Error; the message is its standard output.
constexpr int kRehearsalReadFailed = 3;
// The helper's exit status when it could not make the read at all (its arguments, or the bytes not reaching it):
// the program reads unrehearsed, as without a helper.
constexpr int kRehearsalUnavailable = 4;

// Runs the helper on `path` and waits. Throws cw::Error("<what> (signal 11, Segmentation fault); the file is
// corrupt") when it did not end normally, the helper's message when its read failed; returns otherwise.
void rehearseRead(RehearsalKind kind, const std::string &path, const std::string &what);
// The same for bytes in memory: the helper reads them from an anonymous in-memory file; its error messages name
// them `sourceName`.
void rehearseReadBytes(RehearsalKind kind, const std::string &bytes, const std::string &sourceName,
                       const std::string &what);

// For the helper itself: its reads are the rehearsal and must not start another one.
void disableRehearsal();

} // namespace cw
