// GGUF (llama.cpp's checkpoint format, versions 2 and 3), memory-mapped.
//
// Opening reads the header, the metadata key/values and the tensor infos, and checks every tensor's extent
// against the file; it never reads tensor data. Tensors are dequantized row by row on demand (readRows) by
// core/quant/ggml_blocks.h, exactly as llama.cpp's dequantize_row_* functions do: F32, F16, BF16, Q8_0, Q4_0,
// Q4_1, Q5_0, Q5_1 and the k-quants Q2_K ... Q6_K (and Q8_K). Other ggml types are named and listed but not
// dequantized. Tensor types are ggml's numbers (cw::ggml::Type).
//
// Shapes follow ggml: ne[0] is the innermost (contiguous) dimension. A 2-D weight with ne = {K, N} is N rows
// of K values, i.e. the row-major matrix [N, K] (shape() gives that order).
//
// writeGguf writes a file of F32 / F16 tensors and metadata that llama.cpp loads (export).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/mapped_file.h"
#include "core/base/tensor.h"
#include "core/quant/ggml_blocks.h"

namespace cw::gguf {

enum class ValueType : uint32_t {
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8,
    Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
};
const char *valueTypeName(ValueType type);

// A metadata value. Scalars: integers and bools in `integer` (uint64 above INT64_MAX is refused), floats in
// `number`, strings in `text`. Arrays (type Array, element type in elementType): strings in `strings`,
// integers and bools in `integers`, floats in `numbers`.
struct Value {
    ValueType type = ValueType::UInt8;
    ValueType elementType = ValueType::UInt8;
    int64_t integer = 0;
    double number = 0;
    std::string text;
    std::vector<std::string> strings;
    std::vector<int64_t> integers;
    std::vector<double> numbers;

    bool isInteger() const;
    bool isFloat() const;
    size_t arraySize() const;
    std::string summary(size_t maxItems = 8) const; // for display: "32", "[\"<unk>\", \"<s>\", ... 32000 items]"
};

struct TensorInfo {
    std::string name;
    std::vector<int64_t> ne; // ggml order, innermost first
    uint32_t type = ggml::F32;
    uint64_t offset = 0; // absolute, in the file
    uint64_t bytes = 0;
    int64_t numel = 0;

    int64_t rowLength() const { return ne.empty() ? 1 : ne[0]; }
    int64_t rows() const { return rowLength() ? numel / rowLength() : 0; }
    Shape shape() const; // row-major: the reverse of ne
};

class File {
public:
    // Reads the header, metadata and tensor infos. cw::Error naming the file (and the key or tensor, and the
    // byte offset) on anything malformed, truncated or beyond the file.
    static File open(const std::string &path);
    // The same over bytes already in memory (a built-in model, MappedFile::view), named in messages by its path().
    static File open(const MappedFile &bytes);

    const std::string &path() const { return m_file.path(); }
    uint32_t version() const { return m_version; }
    uint64_t alignment() const { return m_alignment; }
    uint64_t fileSize() const { return m_file.size(); }

    const std::vector<std::pair<std::string, Value>> &metadata() const { return m_metadata; }
    const Value *find(const std::string &key) const;
    // Typed lookups: the fallback when the key is absent; cw::Error when present with another type.
    std::string text(const std::string &key, const std::string &fallback = {}) const;
    int64_t integer(const std::string &key, int64_t fallback) const;
    double number(const std::string &key, double fallback) const; // integers are accepted too
    // Required variants: cw::Error naming the key when absent.
    int64_t requireInteger(const std::string &key) const;
    const Value &require(const std::string &key) const;

    const std::vector<TensorInfo> &tensors() const { return m_tensors; }
    const TensorInfo *tensor(const std::string &name) const;
    const uint8_t *data(const TensorInfo &t) const { return m_file.data() + t.offset; }

    // Rows [row0, row0 + count) of a tensor (each rowLength() values) as float32 into dst.
    void readRows(const TensorInfo &t, int64_t row0, int64_t count, float *dst) const;
    // The whole tensor as a float32 Tensor of shape t.shape() (held to the memory budget).
    Tensor toFloat(const TensorInfo &t) const;

private:
    MappedFile m_file;
    uint32_t m_version = 0;
    uint64_t m_alignment = 32;
    std::vector<std::pair<std::string, Value>> m_metadata;
    std::vector<TensorInfo> m_tensors;
};

// A tensor to write, of `shape` (row-major; written with ne = the reversed shape): float32 `value`s encoded as
// `type` (any type ggml::quantizeRows writes: F32, F16, BF16, Q8_0, Q4_K, ...), or, when `raw` is set, those bytes
// as they are, already of `type` (a tensor copied from another GGUF file; value then stays null).
struct WriteTensor {
    std::string name;
    Tensor value;
    uint32_t type = ggml::F32;
    std::string_view raw = {};
    Shape shape = {}; // with raw; otherwise value's
    const Shape &dims() const { return value.isNull() ? shape : value.shape(); }
};
struct WriteValue {
    std::string key;
    Value value;
};
// Writes a GGUF v3 file (alignment 32) atomically. cw::Error on an unsupported type or an I/O failure.
void write(const std::string &path, const std::vector<WriteValue> &metadata, const std::vector<WriteTensor> &tensors);
// The bytes of a GGUF file of metadata alone (a vocabulary, as llama.cpp's ggml-vocab-*.gguf), in memory.
std::string metadataOnly(const std::vector<WriteValue> &metadata);

// Value constructors for writing.
Value makeString(const std::string &s);
Value makeUInt32(uint32_t v);
Value makeInt32(int32_t v);
Value makeFloat32(float v);
Value makeBool(bool v);
Value makeStringArray(std::vector<std::string> v);
Value makeInt32Array(std::vector<int64_t> v);
Value makeFloat32Array(std::vector<double> v);

} // namespace cw::gguf
