#include "core/base/rehearse.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/base/error.h"

extern char **environ;

namespace cw {
namespace {

std::atomic<bool> g_disabled{false};

bool executable(const std::string &path)
{
    return !path.empty() && access(path.c_str(), X_OK) == 0;
}

// $CW_H5CHECK, else beside the running executable, else the build tree's (CW_H5CHECK_BUILD_PATH).
std::string helperPath()
{
    if (const char *env = std::getenv("CW_H5CHECK"); env && *env)
        return env;
    char self[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        std::string dir(self, size_t(n));
        dir.erase(dir.find_last_of('/') + 1);
        if (executable(dir + "cw-h5check"))
            return dir + "cw-h5check";
    }
#ifdef CW_H5CHECK_BUILD_PATH
    if (executable(CW_H5CHECK_BUILD_PATH))
        return CW_H5CHECK_BUILD_PATH;
#endif
    return {};
}

// Runs `helper KIND PATH NAME`. Its standard output (the message of a read that failed) comes back through a
// pipe; its standard error (a sanitizer's report) is kept.
void runHelper(RehearsalKind kind, const std::string &path, const std::string &sourceName, const std::string &what)
{
    if (g_disabled.load())
        return;
    const std::string helper = helperPath();
    if (helper.empty())
        return;
    std::vector<std::string> args{helper, rehearsalKindName(kind), path, sourceName};
    std::vector<char *> argv;
    for (std::string &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0)
        return; // no descriptor to spare: read unrehearsed
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, helper.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    std::string message;
    if (rc == 0) {
        char buffer[4096];
        for (;;) {
            const ssize_t n = read(out[0], buffer, sizeof buffer);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            if (message.size() < 65536)
                message.append(buffer, size_t(n));
        }
    }
    close(out[0]);
    if (rc != 0)
        return; // no process to spare (the process limit): read unrehearsed
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno == EINTR)
            continue;
        if (!message.empty()) // no status (SIGCHLD ignored), but the helper said why the read fails
            throw Error(message);
        return;
    }
    if (WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == kRehearsalUnavailable))
        return;
    if (WIFEXITED(status) && WEXITSTATUS(status) == kRehearsalReadFailed && !message.empty())
        throw Error(message);
    const std::string how = WIFSIGNALED(status)
                                ? "signal " + std::to_string(WTERMSIG(status)) + ", " + strsignal(WTERMSIG(status))
                                : "exit status " + std::to_string(WEXITSTATUS(status));
    throw Error(what + " (" + how + "); the file is corrupt");
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
