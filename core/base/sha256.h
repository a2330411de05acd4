// SHA-256 (FIPS 180-4) of bytes and of files, as lowercase hex: the content hashes a project keeps of its base
// model and its datasets (core/project/project.h), so a reopened project can tell when a file has changed.
// Files are streamed in 1 MiB blocks; nothing is held whole in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace cw {

class Sha256 {
public:
    Sha256();
    void update(const void *data, size_t size);
    void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }
    std::string hexDigest(); // finishes the hash; the object is then spent

private:
    void block(const uint8_t *p);
    uint32_t m_h[8];
    uint8_t m_buffer[64];
    size_t m_buffered = 0;
    uint64_t m_length = 0; // bytes hashed so far
};

std::string sha256Hex(std::string_view bytes);
// Throws cw::Error naming the file when it cannot be read.
std::string sha256File(const std::string &path);

} // namespace cw
