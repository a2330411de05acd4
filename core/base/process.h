// Child processes of the program's own executables: the HDF5 rehearsal helper (rehearse.h), the report renderer
// that `cwb report` starts, and the `cwb bench` that measures a variant's peak memory in a process of its own
// (compress.h). Fresh processes (posix_spawn, not fork): a child inherits no lock another thread held and no
// thread pool.
#pragma once

#include <string>
#include <vector>

namespace cw {

class StopToken;

// One of the program's executables: $<envVar> when set, else `name` beside the running executable, else
// `buildPath` (the build tree's, for executables that do not sit beside it: the tests). "" when none of them is
// executable.
std::string siblingExecutable(const std::string &name, const char *envVar, const std::string &buildPath);

struct ProcessOptions {
    enum class Stderr { Inherit, Capture, Discard };
    Stderr stderrTo = Stderr::Inherit; // Inherit: the child writes to this process's standard error
    bool discardStdout = false;     // the child's standard output goes to /dev/null instead of `output`
    bool searchPath = false;        // argv[0] without a slash is looked up in $PATH
    std::vector<std::string> env;   // the child's environment as NAME=VALUE; empty: this process's
    size_t maxOutput = 1 << 20;     // bytes of each captured stream kept (the rest is read and dropped)
    const StopToken *stop = nullptr; // when set, the child is killed (SIGKILL) and cw::Cancelled thrown
};

struct ProcessResult {
    bool started = false;   // false: no pipe, process or wait status to spare (spawnError says why)
    int spawnError = 0;     // errno of the failed step when !started
    bool exited = false;    // the child ended normally; then exitCode
    int exitCode = -1;
    int signal = 0;         // the signal that ended it, else 0
    bool statusKnown = true; // false when the wait status was lost (SIGCHLD ignored)
    std::string output;     // its standard output
    std::string errors;     // its standard error, with Stderr::Capture
};

// Runs argv[0] with arguments argv and waits for it. Throws cw::Cancelled (after killing and reaping the child)
// when options.stop is set while it runs; returns otherwise, whatever the child did.
ProcessResult runProcess(const std::vector<std::string> &argv, const ProcessOptions &options = {});

// "exit status 3", "signal 11, Segmentation fault", or why it did not start.
std::string describeEnd(const ProcessResult &result);

} // namespace cw
