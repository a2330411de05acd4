#include "core/base/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "core/base/progress.h"

extern char **environ;

namespace cw {
namespace {

bool executable(const std::string &path)
{
    return !path.empty() && access(path.c_str(), X_OK) == 0;
}

std::vector<char *> pointers(std::vector<std::string> &strings)
{
    std::vector<char *> p;
    for (std::string &s : strings)
        p.push_back(s.data());
    p.push_back(nullptr);
    return p;
}

// Kills the child and reaps it, so that no zombie stays behind a cancelled run.
void killChild(pid_t pid)
{
    kill(pid, SIGKILL);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
}

} // namespace

std::string siblingExecutable(const std::string &name, const char *envVar, const std::string &buildPath)
{
    if (const char *env = envVar ? std::getenv(envVar) : nullptr; env && *env)
        return env;
    char self[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        std::string dir(self, size_t(n));
        dir.erase(dir.find_last_of('/') + 1);
        if (executable(dir + name))
            return dir + name;
    }
    return executable(buildPath) ? buildPath : std::string();
}

ProcessResult runProcess(const std::vector<std::string> &argv, const ProcessOptions &options)
{
    ProcessResult result;
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    const bool captureOut = !options.discardStdout;
    const bool captureErr = options.stderrTo == ProcessOptions::Stderr::Capture;
    if ((captureOut && pipe2(out, O_CLOEXEC) != 0) || (captureErr && pipe2(err, O_CLOEXEC) != 0)) {
        result.spawnError = errno;
        for (int fd : {out[0], out[1], err[0], err[1]})
            if (fd >= 0)
                close(fd);
        return result;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (captureOut)
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    else
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    if (captureErr)
        posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    else if (options.stderrTo == ProcessOptions::Stderr::Discard)
        posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    std::vector<std::string> args = argv, env = options.env;
    std::vector<char *> argp = pointers(args), envp = pointers(env);
    pid_t pid = 0;
    char **childEnv = options.env.empty() ? environ : envp.data();
    const int rc = options.searchPath ? posix_spawnp(&pid, args.at(0).c_str(), &actions, nullptr, argp.data(), childEnv)
                                      : posix_spawn(&pid, args.at(0).c_str(), &actions, nullptr, argp.data(), childEnv);
    posix_spawn_file_actions_destroy(&actions);
    for (int fd : {out[1], err[1]})
        if (fd >= 0)
            close(fd);
    if (rc != 0) {
        result.spawnError = rc;
        for (int fd : {out[0], err[0]})
            if (fd >= 0)
                close(fd);
        return result;
    }
    result.started = true;

    // Both streams until they close, polling the stop token between reads.
    struct Stream {
        int fd;
        std::string *text;
    };
    std::vector<Stream> open;
    if (out[0] >= 0)
        open.push_back({out[0], &result.output});
    if (err[0] >= 0)
        open.push_back({err[0], &result.errors});
    const auto stopped = [&] { return options.stop && options.stop->stopRequested(); };
    const auto cancel = [&] {
        for (const Stream &s : open)
            close(s.fd);
        killChild(pid);
        throw Cancelled();
    };
    char buffer[4096];
    while (!open.empty()) {
        if (stopped())
            cancel();
        std::vector<pollfd> fds;
        for (const Stream &s : open)
            fds.push_back({s.fd, POLLIN, 0});
        const int ready = poll(fds.data(), fds.size(), options.stop ? 50 : -1);
        if (ready < 0 && errno != EINTR)
            break;
        for (size_t i = fds.size(); i-- > 0;) {
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            const ssize_t n = read(fds[i].fd, buffer, sizeof buffer);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close(fds[i].fd);
                open.erase(open.begin() + std::ptrdiff_t(i));
                continue;
            }
            if (open[i].text->size() < options.maxOutput)
                open[i].text->append(buffer, std::min(size_t(n), options.maxOutput - open[i].text->size()));
        }
    }
    for (const Stream &s : open)
        close(s.fd);
    open.clear();

    int status = 0;
    for (;;) {
        const pid_t r = waitpid(pid, &status, options.stop ? WNOHANG : 0);
        if (r == pid)
            break;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) { // no status to collect (SIGCHLD ignored)
            result.statusKnown = false;
            return result;
        }
        if (stopped())
            cancel();
        usleep(20000);
    }
    result.exited = WIFEXITED(status);
    result.exitCode = result.exited ? WEXITSTATUS(status) : -1;
    result.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return result;
}

std::string describeEnd(const ProcessResult &result)
{
    if (!result.started)
        return std::string("did not start: ") + std::strerror(result.spawnError);
    if (!result.statusKnown)
        return "ended with an unknown status";
    if (result.signal)
        return "signal " + std::to_string(result.signal) + ", " + strsignal(result.signal);
    return "exit status " + std::to_string(result.exitCode);
}

} // namespace cw
