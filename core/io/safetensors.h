// safetensors (the Hugging Face checkpoint format), memory-mapped: an 8-byte header length, a JSON header
// naming each tensor's dtype, shape and byte range, then the data. Opening reads the header only.
//
// A checkpoint is one .safetensors file or a folder in the Hugging Face layout: model.safetensors, or shards
// listed by model.safetensors.index.json ("weight_map": tensor name -> shard file), with config.json (and
// tokenizer.json) beside them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/base/mapped_file.h"
#include "core/base/tensor.h"

namespace cw::safetensors {

struct TensorInfo {
    std::string name;
    std::string dtype; // "F32", "F16", "BF16", "I64", ...
    Shape shape;
    int64_t numel = 0;
    uint64_t offset = 0; // absolute, in its file
    uint64_t bytes = 0;
    int file = 0; // index into Checkpoint::files()
};

class Checkpoint {
public:
    // PATH: a .safetensors file, a model.safetensors.index.json, or a folder holding either. cw::Error naming
    // the file (and the tensor) when a header is malformed, a tensor's bytes do not match its dtype and
    // shape, or lie beyond the file.
    static Checkpoint open(const std::string &path);

    const std::string &folder() const { return m_folder; }
    const std::vector<MappedFile> &files() const { return m_files; }
    const std::vector<TensorInfo> &tensors() const { return m_tensors; }
    const TensorInfo *tensor(const std::string &name) const;
    // The "__metadata__" string pairs of the first file.
    const std::map<std::string, std::string> &metadata() const { return m_metadata; }

    // Rows [row0, row0 + count) of the tensor viewed as [rows, last dimension], as float32 (F32 / F16 / BF16).
    void readRows(const TensorInfo &t, int64_t row0, int64_t count, float *dst) const;
    Tensor toFloat(const TensorInfo &t) const;

private:
    void addFile(const std::string &path);
    std::string m_folder;
    std::vector<MappedFile> m_files;
    std::vector<TensorInfo> m_tensors;
    std::map<std::string, size_t> m_byName;
    std::map<std::string, std::string> m_metadata;
};

// Writes float32 tensors as one .safetensors file (dtype F32 or F16), atomically.
void write(const std::string &path, const std::vector<std::pair<std::string, Tensor>> &tensors, bool asF16,
           const std::map<std::string, std::string> &metadata = {});

} // namespace cw::safetensors
