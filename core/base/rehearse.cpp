#include "core/base/rehearse.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "core/base/error.h"
#include "core/base/process.h"

namespace cw {
namespace {

std::atomic<bool> g_disabled{false};

// Runs `helper KIND PATH NAME` ($CW_H5CHECK, else cw-h5check beside the running executable, else the build
// tree's). Its standard output (the message of a read that failed) comes back; its standard error (a sanitizer's
// report) is kept.
void runHelper(RehearsalKind kind, const std::string &path, const std::string &sourceName, const std::string &what)
{
    if (g_disabled.load())
        return;
    const std::string helper = siblingExecutable("cw-h5check", "CW_H5CHECK", CW_H5CHECK_BUILD_PATH);
    if (helper.empty())
        return;
    ProcessOptions options;
    options.maxOutput = 65536;
    const ProcessResult r = runProcess({helper, rehearsalKindName(kind), path, sourceName}, options);
    if (!r.started)
        return; // no descriptor or process to spare: read unrehearsed
    if (!r.statusKnown) {
        if (!r.output.empty()) // no status (SIGCHLD ignored), but the helper said why the read fails
            throw Error(r.output);
        return;
    }
    if (r.exited && (r.exitCode == 0 || r.exitCode == kRehearsalUnavailable))
        return;
    if (r.exited && r.exitCode == kRehearsalReadFailed && !r.output.empty())
        throw Error(r.output);
    throw Error(what + " (" + describeEnd(r) + "); the file is corrupt");
}

} // namespace

const char *rehearsalKindName(RehearsalKind kind)
{
    switch (kind) {
    case RehearsalKind::ModelFile: return "model-file";
    case RehearsalKind::ModelImage: return "model-image";
    case RehearsalKind::Dataset: return "dataset";
    case RehearsalKind::BundleFile: return "bundle-file";
    case RehearsalKind::BundleImage: return "bundle-image";
    }
    return "";
}

void rehearseRead(RehearsalKind kind, const std::string &path, const std::string &what)
{
    runHelper(kind, path, path, what);
}

void rehearseReadBytes(RehearsalKind kind, const std::string &bytes, const std::string &sourceName,
                       const std::string &what)
{
    if (g_disabled.load())
        return;
    // An anonymous in-memory file, inherited by the helper (no close-on-exec) and named by its descriptor.
    const int fd = memfd_create("cw-rehearsal", 0);
    if (fd < 0)
        return;
    size_t done = 0;
    while (done < bytes.size()) {
        const ssize_t w = write(fd, bytes.data() + done, bytes.size() - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += size_t(w);
    }
    try {
        if (done == bytes.size())
            runHelper(kind, "/proc/self/fd/" + std::to_string(fd), sourceName, what);
    } catch (...) {
        close(fd);
        throw;
    }
    close(fd);
}

void disableRehearsal()
{
    g_disabled.store(true);
}

} // namespace cw
