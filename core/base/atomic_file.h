// Atomic saves: a file the program writes either appears whole or not at all, and the file it replaces stays
// intact until then.
//
// AtomicFile creates a temporary beside the target (same folder, so the final rename stays on one file
// system), the caller writes it — through write(), through fd(), or by letting a library open tempPath() —
// and commit() flushes it to the disk (fsync), renames it over the target and syncs the folder. Until
// commit() returns, the target is the old file (or absent); a destroyed, uncommitted AtomicFile (an
// exception, an error) removes its temporary. So after any failure the old file is untouched and nothing
// partial is left behind; only a process killed mid-save (SIGKILL, power loss) can leave a temporary.
//
// Temporaries are hidden files named ".NAME.cwtmp-PID-RANDOM" (NAME: the target's file name, PID: the
// writing process). The next save to the same target removes those whose process no longer exists on this
// machine; a folder shared between machines over a network file system may therefore keep a stale one.
//
// Contracts: the target's folder must exist and be writable; an existing target's permission bits are
// kept; a symbolic link as target is followed (the file it points to is replaced, the link stays).
// Every failure is a cw::Error naming the target (never the temporary); a full disk says
// "no space left on device".
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cw {

class AtomicFile {
public:
    // Creates the temporary (and removes stale temporaries of the same target, see above).
    explicit AtomicFile(const std::string &path);
    ~AtomicFile(); // removes the temporary unless committed
    AtomicFile(const AtomicFile &) = delete;
    AtomicFile &operator=(const AtomicFile &) = delete;

    const std::string &path() const { return m_path; }         // the target, as given
    const std::string &tempPath() const { return m_tempPath; } // where the bytes go until commit()
    // The temporary's open descriptor, for writers that take one (protobuf). A library may instead open
    // tempPath() itself, truncating it (HDF5): it is the same file, and commit() syncs it through this
    // descriptor.
    int fd() const { return m_fd; }

    void write(const void *data, size_t size);
    void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
    // fsync, rename over the target, fsync the folder. After it the temporary no longer exists.
    void commit();

    // Throws a cw::Error naming the target: "cannot write 'PATH': " + what, or the full-disk message when
    // errnum is ENOSPC / EDQUOT or the file system has no space left.
    [[noreturn]] void fail(const std::string &what, int errnum = 0) const;
    // For writers whose library throws its own errors (HDF5): throws the full-disk error if errnum (errno
    // after the failure) is ENOSPC / EDQUOT or the file system of the temporary is full, else returns.
    void failIfDiskFull(int errnum = 0) const;

private:
    std::string m_path;     // as given, for messages
    std::string m_target;   // the file renamed over (a symbolic link resolved)
    std::string m_tempPath;
    int m_fd = -1;
    bool m_committed = false;
};

// Writes `bytes` as the whole content of `path`, atomically.
void writeFileAtomically(const std::string &path, std::string_view bytes);

} // namespace cw
