// Temporary + fsync + rename (see atomic_file.h).
#include "core/base/atomic_file.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <random>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/base/error.h"

namespace cw {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kTempTag = ".cwtmp-";

std::string folderOf(const std::string &path)
{
    const fs::path parent = fs::path(path).parent_path();
    return parent.empty() ? std::string(".") : parent.string();
}

// ".NAME.cwtmp-" for the target NAME.
std::string tempPrefix(const std::string &target)
{
    std::string prefix = ".";
    prefix += fs::path(target).filename().string();
    prefix += kTempTag;
    return prefix;
}

std::string randomSuffix()
{
    static std::atomic<uint64_t> counter{std::random_device{}()};
    static constexpr char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    uint64_t v = counter.fetch_add(0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
    std::string s;
    for (int i = 0; i < 8; ++i, v /= 36)
        s += digits[v % 36];
    return s;
}

// Temporaries of `target` left by processes that no longer run (killed mid-save).
void removeStaleTemporaries(const std::string &target)
{
    const std::string prefix = tempPrefix(target);
    std::error_code ec;
    for (fs::directory_iterator it(folderOf(target), ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!name.starts_with(prefix))
            continue;
        const char *pidText = name.c_str() + prefix.size();
        char *rest = nullptr;
        const long pid = std::strtol(pidText, &rest, 10);
        if (rest == pidText || *rest != '-' || pid <= 0)
            continue;
        if (::kill(pid_t(pid), 0) != 0 && errno == ESRCH) {
            std::error_code ignored;
            fs::remove(it->path(), ignored);
        }
    }
}

} // namespace

AtomicFile::AtomicFile(const std::string &path) : m_path(path), m_target(path)
{
    std::error_code ec;
    if (fs::is_symlink(path, ec)) {
        const fs::path resolved = fs::weakly_canonical(path, ec);
        if (!ec)
            m_target = resolved.string();
    }
    removeStaleTemporaries(m_target);
    const std::string base = (fs::path(folderOf(m_target)) / tempPrefix(m_target)).string() + std::to_string(::getpid()) + "-";
    for (int attempt = 0; attempt < 100 && m_fd < 0; ++attempt) {
        m_tempPath = base + randomSuffix();
        m_fd = ::open(m_tempPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (m_fd < 0 && errno != EEXIST)
            break;
    }
    if (m_fd < 0) {
        const int err = errno;
        m_tempPath.clear();
        fail("cannot create a file in its folder", err);
    }
    // Replacing a file keeps its permissions (a new one gets 0666 minus the umask, like any other).
    struct stat st;
    if (::stat(m_target.c_str(), &st) == 0)
        ::fchmod(m_fd, st.st_mode & 07777);
}

AtomicFile::~AtomicFile()
{
    if (m_fd >= 0)
        ::close(m_fd);
    if (!m_committed && !m_tempPath.empty())
        ::unlink(m_tempPath.c_str());
}

void AtomicFile::write(const void *data, size_t size)
{
    const char *p = static_cast<const char *>(data);
    while (size > 0) {
        const ssize_t n = ::write(m_fd, p, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fail("write error", errno);
        }
        p += n;
        size -= size_t(n);
    }
}

void AtomicFile::commit()
{
    if (::fsync(m_fd) != 0)
        fail("cannot flush the file to the disk", errno);
    const int fd = m_fd;
    m_fd = -1;
    if (::close(fd) != 0)
        fail("cannot close the file", errno);
    if (::rename(m_tempPath.c_str(), m_target.c_str()) != 0)
        fail("cannot replace the file", errno);
    m_committed = true;
    // Makes the rename itself durable. The new file is already in place, so a folder that cannot be
    // synced (some file systems refuse fsync on directories) is not an error.
    const int dir = ::open(folderOf(m_target).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
}

void AtomicFile::failIfDiskFull(int errnum) const
{
    bool full = errnum == ENOSPC || errnum == EDQUOT;
    if (!full) {
        struct statvfs st;
        const int status = m_fd >= 0 ? ::fstatvfs(m_fd, &st) : ::statvfs(folderOf(m_target).c_str(), &st);
        // root may use the blocks reserved for it, other users only the available ones.
        full = status == 0 && (::geteuid() == 0 ? st.f_bfree : st.f_bavail) == 0;
    }
    if (full)
        throw Error("cannot write '" + m_path + "': " +
                    (errnum == EDQUOT ? "disk quota exceeded" : "no space left on device"));
}

void AtomicFile::fail(const std::string &what, int errnum) const
{
    failIfDiskFull(errnum);
    throw Error("cannot write '" + m_path + "': " + what + (errnum ? std::string(": ") + std::strerror(errnum) : ""));
}

void writeFileAtomically(const std::string &path, std::string_view bytes)
{
    AtomicFile file(path);
    file.write(bytes);
    file.commit();
}

} // namespace cw
