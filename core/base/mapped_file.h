// MappedFile: a whole file mapped read-only into memory (mmap), for checkpoints far larger than the memory a
// program should hold (a 7B-class language model is 13-15 GB). Opening reads nothing; pages come in when a
// tensor is touched and the kernel may drop them again, so the resident size follows what is being used.
// Copies share the mapping; it is unmapped with the last copy.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace cw {

class MappedFile {
public:
    MappedFile() = default;
    // cw::Error naming the path when the file cannot be opened or mapped. An empty file maps to size 0.
    explicit MappedFile(const std::string &path);
    // Bytes the program already holds (a built-in model), under a name for messages; not copied, not unmapped.
    static MappedFile view(const std::string &name, const void *data, uint64_t size);

    const uint8_t *data() const { return m_map ? m_map->data : nullptr; }
    uint64_t size() const { return m_map ? m_map->size : 0; }
    const std::string &path() const { return m_path; }

    // [offset, offset + bytes) lies inside the file (no overflow).
    bool contains(uint64_t offset, uint64_t bytes) const { return offset <= size() && bytes <= size() - offset; }

private:
    struct Mapping {
        const uint8_t *data = nullptr;
        uint64_t size = 0;
        bool owned = true;
        ~Mapping();
    };
    std::shared_ptr<Mapping> m_map;
    std::string m_path;
};

} // namespace cw
