#include "core/base/mapped_file.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/error.h"

namespace cw {

MappedFile::Mapping::~Mapping()
{
    if (owned && data && size)
        munmap(const_cast<uint8_t *>(data), size);
}

MappedFile MappedFile::view(const std::string &name, const void *data, uint64_t size)
{
    MappedFile f;
    f.m_path = name;
    f.m_map = std::make_shared<Mapping>();
    f.m_map->data = static_cast<const uint8_t *>(data);
    f.m_map->size = size;
    f.m_map->owned = false;
    return f;
}

MappedFile::MappedFile(const std::string &path) : m_path(path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw Error("cannot open '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        const int err = errno;
        ::close(fd);
        throw Error("'" + path + "' is not a regular file" + (err ? std::string(": ") + std::strerror(err) : ""));
    }
    auto map = std::make_shared<Mapping>();
    map->size = uint64_t(st.st_size);
    if (map->size) {
        void *p = mmap(nullptr, map->size, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            throw Error("cannot map '" + path + "': " + std::strerror(err));
        }
        map->data = static_cast<const uint8_t *>(p);
    }
    ::close(fd);
    m_map = std::move(map);
}

} // namespace cw
