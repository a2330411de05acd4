#include "core/io/gguf.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "core/base/atomic_file.h"
#include "core/base/error.h"

namespace cw::gguf {

namespace {

constexpr uint32_t kMagic = 0x46554747; // "GGUF" little-endian
constexpr int kMaxDims = 4;             // GGML_MAX_DIMS

// ---- the reader -------------------------------------------------------------------------------------------

class Cursor {
public:
    Cursor(const MappedFile &f) : m_f(f) {}
    uint64_t pos() const { return m_pos; }
    template <typename T> T read(const char *what)
    {
        T v;
        std::memcpy(&v, need(sizeof(T), what), sizeof(T));
        m_pos += sizeof(T);
        return v;
    }
    std::string string(const char *what)
    {
        const uint64_t n = read<uint64_t>(what);
        std::string s(reinterpret_cast<const char *>(need(n, what)), size_t(n));
        m_pos += n;
        return s;
    }
    // The bytes at the cursor, after checking that n of them are in the file.
    const uint8_t *need(uint64_t n, const char *what) const
    {
        const uint8_t *base = m_f.data();
        if (!base || !m_f.contains(m_pos, n))
            throw Error("'" + m_f.path() + "': truncated at byte " + std::to_string(m_pos) + " (reading " + what +
                        ", " + std::to_string(n) + " bytes needed, the file has " + std::to_string(m_f.size()) +
                        ")");
        return base + m_pos;
    }
    uint64_t remaining() const { return m_f.size() - m_pos; }

private:
    const MappedFile &m_f;
    uint64_t m_pos = 0;
};

size_t scalarSize(ValueType t)
{
    switch (t) {
    case ValueType::UInt8: case ValueType::Int8: case ValueType::Bool: return 1;
    case ValueType::UInt16: case ValueType::Int16: return 2;
    case ValueType::UInt32: case ValueType::Int32: case ValueType::Float32: return 4;
    case ValueType::UInt64: case ValueType::Int64: case ValueType::Float64: return 8;
    default: return 0;
    }
}

bool isIntegerType(ValueType t)
{
    return t == ValueType::UInt8 || t == ValueType::Int8 || t == ValueType::UInt16 || t == ValueType::Int16 ||
           t == ValueType::UInt32 || t == ValueType::Int32 || t == ValueType::UInt64 || t == ValueType::Int64 ||
           t == ValueType::Bool;
}

// One scalar of type t at the cursor: integers (and bools) into *i, floats into *f.
void readScalar(Cursor &c, ValueType t, int64_t *i, double *f, const std::string &key, const std::string &path)
{
    const char *what = "a metadata value";
    switch (t) {
    case ValueType::UInt8: *i = c.read<uint8_t>(what); break;
    case ValueType::Int8: *i = c.read<int8_t>(what); break;
    case ValueType::UInt16: *i = c.read<uint16_t>(what); break;
    case ValueType::Int16: *i = c.read<int16_t>(what); break;
    case ValueType::UInt32: *i = c.read<uint32_t>(what); break;
    case ValueType::Int32: *i = c.read<int32_t>(what); break;
    case ValueType::Int64: *i = c.read<int64_t>(what); break;
    case ValueType::UInt64: {
        const uint64_t u = c.read<uint64_t>(what);
        if (u > uint64_t(INT64_MAX))
            throw Error("'" + path + "': metadata '" + key + "' holds " + std::to_string(u) + ", beyond int64");
        *i = int64_t(u);
        break;
    }
    case ValueType::Bool: {
        const uint8_t b = c.read<uint8_t>(what);
        if (b > 1)
            throw Error("'" + path + "': metadata '" + key + "' is a bool of value " + std::to_string(b));
        *i = b;
        break;
    }
    case ValueType::Float32: *f = c.read<float>(what); break;
    case ValueType::Float64: *f = c.read<double>(what); break;
    default: throw Error("'" + path + "': metadata '" + key + "' has an unknown type");
    }
}

bool knownValueType(uint32_t t) { return t <= uint32_t(ValueType::Float64); }

uint64_t alignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

} // namespace

const char *valueTypeName(ValueType type)
{
    static const char *names[] = {"uint8", "int8",  "uint16", "int16", "uint32", "int32", "float32",
                                  "bool",  "string", "array", "uint64", "int64", "float64"};
    return uint32_t(type) < std::size(names) ? names[uint32_t(type)] : "unknown";
}

bool Value::isInteger() const { return isIntegerType(type); }
bool Value::isFloat() const { return type == ValueType::Float32 || type == ValueType::Float64; }

size_t Value::arraySize() const
{
    if (type != ValueType::Array)
        return 0;
    return elementType == ValueType::String ? strings.size()
           : isIntegerType(elementType)     ? integers.size()
                                            : numbers.size();
}

std::string Value::summary(size_t maxItems) const
{
    auto quoted = [](const std::string &s) {
        std::string out = "\"";
        for (char c : s.substr(0, 40))
            out += (c == '\n') ? std::string("\\n") : std::string(1, c);
        return out + (s.size() > 40 ? "...\"" : "\"");
    };
    auto num = [](double v) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v);
        return std::string(buf);
    };
    if (type == ValueType::String)
        return quoted(text);
    if (isInteger())
        return type == ValueType::Bool ? (integer ? "true" : "false") : std::to_string(integer);
    if (isFloat())
        return num(number);
    const size_t n = arraySize();
    std::string out = "[";
    for (size_t i = 0; i < std::min(n, maxItems); ++i) {
        if (i)
            out += ", ";
        out += elementType == ValueType::String ? quoted(strings[i])
               : isIntegerType(elementType)     ? std::to_string(integers[i])
                                                : num(numbers[i]);
    }
    if (n > maxItems)
        out += ", ... " + std::to_string(n) + " items";
    return out + "]";
}

Shape TensorInfo::shape() const { return Shape(ne.rbegin(), ne.rend()); }

File File::open(const std::string &path) { return open(MappedFile(path)); }

File File::open(const MappedFile &bytes)
{
    const std::string &path = bytes.path();
    File f;
    f.m_file = bytes;
    Cursor c(f.m_file);
    auto fail = [&](const std::string &what) -> Error { return Error("'" + path + "': " + what); };
    if (f.m_file.size() < 4 || c.read<uint32_t>("the magic") != kMagic)
        throw fail("not a GGUF file (no 'GGUF' magic)");
    f.m_version = c.read<uint32_t>("the version");
    if (f.m_version == 1)
        throw fail("GGUF version 1 is not supported (versions 2 and 3 are)");
    if (f.m_version != 2 && f.m_version != 3)
        throw fail("unknown GGUF version " + std::to_string(f.m_version));
    const uint64_t nTensors = c.read<uint64_t>("the tensor count");
    const uint64_t nKv = c.read<uint64_t>("the metadata count");
    // Every key/value takes at least 12 bytes and every tensor info at least 24: counts beyond what the file
    // could hold are refused before anything is reserved.
    if (nKv > c.remaining() / 12 || nTensors > c.remaining() / 24)
        throw fail("declares " + std::to_string(nKv) + " metadata entries and " + std::to_string(nTensors) +
                   " tensors, more than its " + std::to_string(f.m_file.size()) + " bytes can hold");

    std::set<std::string> keys;
    f.m_metadata.reserve(size_t(nKv));
    for (uint64_t k = 0; k < nKv; ++k) {
        const uint64_t at = c.pos();
        std::string key = c.string("a metadata key");
        if (!keys.insert(key).second)
            throw fail("metadata key '" + key + "' appears twice (byte " + std::to_string(at) + ")");
        const uint32_t t = c.read<uint32_t>("a metadata type");
        if (!knownValueType(t))
            throw fail("metadata '" + key + "' has unknown type " + std::to_string(t) + " (byte " +
                       std::to_string(at) + ")");
        Value v;
        v.type = ValueType(t);
        if (v.type == ValueType::String) {
            v.text = c.string("a metadata string");
        } else if (v.type == ValueType::Array) {
            const uint32_t et = c.read<uint32_t>("an array type");
            if (!knownValueType(et) || ValueType(et) == ValueType::Array)
                throw fail("metadata '" + key + "' is an array of " +
                           (knownValueType(et) ? std::string("arrays (not supported)") : "unknown type " + std::to_string(et)));
            v.elementType = ValueType(et);
            const uint64_t n = c.read<uint64_t>("an array length");
            const uint64_t minBytes = v.elementType == ValueType::String ? 8 : scalarSize(v.elementType);
            if (n > c.remaining() / minBytes)
                throw fail("metadata '" + key + "' declares " + std::to_string(n) + " items at byte " +
                           std::to_string(c.pos()) + ", beyond the end of the file");
            if (v.elementType == ValueType::String) {
                v.strings.reserve(size_t(n));
                for (uint64_t i = 0; i < n; ++i)
                    v.strings.push_back(c.string("a metadata string"));
            } else if (isIntegerType(v.elementType)) {
                v.integers.resize(size_t(n));
                double unused;
                for (uint64_t i = 0; i < n; ++i)
                    readScalar(c, v.elementType, &v.integers[i], &unused, key, path);
            } else {
                v.numbers.resize(size_t(n));
                int64_t unused;
                for (uint64_t i = 0; i < n; ++i)
                    readScalar(c, v.elementType, &unused, &v.numbers[i], key, path);
            }
        } else {
            readScalar(c, v.type, &v.integer, &v.number, key, path);
        }
        f.m_metadata.emplace_back(std::move(key), std::move(v));
    }

    if (const Value *a = f.find("general.alignment")) {
        if (!a->isInteger() || a->integer <= 0 || (a->integer & (a->integer - 1)) || a->integer > (1 << 20))
            throw fail("general.alignment must be a power of two, not " + a->summary());
        f.m_alignment = uint64_t(a->integer);
    }

    std::set<std::string> names;
    f.m_tensors.reserve(size_t(nTensors));
    for (uint64_t i = 0; i < nTensors; ++i) {
        const uint64_t at = c.pos();
        TensorInfo t;
        t.name = c.string("a tensor name");
        if (!names.insert(t.name).second)
            throw fail("tensor '" + t.name + "' appears twice");
        const uint32_t nd = c.read<uint32_t>("a tensor's dimension count");
        if (nd > kMaxDims)
            throw fail("tensor '" + t.name + "' (byte " + std::to_string(at) + ") has " + std::to_string(nd) +
                       " dimensions, more than " + std::to_string(kMaxDims));
        int64_t numel = 1;
        for (uint32_t d = 0; d < nd; ++d) {
            const uint64_t n = c.read<uint64_t>("a tensor dimension");
            if (n > uint64_t(INT64_MAX))
                throw fail("tensor '" + t.name + "' has dimension " + std::to_string(n));
            t.ne.push_back(int64_t(n));
            try {
                numel = checkedMul(numel, int64_t(n));
            } catch (const Error &) {
                throw fail("tensor '" + t.name + "': its element count overflows");
            }
        }
        t.numel = numel;
        t.type = c.read<uint32_t>("a tensor type");
        const ggml::TypeTraits *tr = ggml::typeTraits(t.type);
        if (!tr)
            throw fail("tensor '" + t.name + "' has unknown ggml type " + std::to_string(t.type));
        if (t.rowLength() % tr->blockSize)
            throw fail("tensor '" + t.name + "': its rows of " + std::to_string(t.rowLength()) +
                       " values are not whole " + tr->name + " blocks of " + std::to_string(tr->blockSize));
        const uint64_t relative = c.read<uint64_t>("a tensor offset");
        if (relative % f.m_alignment)
            throw fail("tensor '" + t.name + "' at offset " + std::to_string(relative) + " is not aligned to " +
                       std::to_string(f.m_alignment) + " bytes");
        t.bytes = uint64_t(numel / tr->blockSize) * uint64_t(tr->blockBytes); // numel/blockSize <= 2^63
        t.offset = relative; // made absolute below
        f.m_tensors.push_back(std::move(t));
    }
    const uint64_t dataStart = alignUp(c.pos(), f.m_alignment);
    for (TensorInfo &t : f.m_tensors) {
        if (t.offset > UINT64_MAX - dataStart || !f.m_file.contains(dataStart + t.offset, t.bytes))
            throw fail("tensor '" + t.name + "' (" + std::to_string(t.bytes) + " bytes at offset " +
                       std::to_string(t.offset) + " of the data section, which starts at byte " +
                       std::to_string(dataStart) + ") lies beyond the end of the file (" +
                       std::to_string(f.m_file.size()) + " bytes): the file is truncated or corrupt");
        t.offset += dataStart;
    }
    return f;
}

const Value *File::find(const std::string &key) const
{
    for (const auto &[k, v] : m_metadata)
        if (k == key)
            return &v;
    return nullptr;
}

const Value &File::require(const std::string &key) const
{
    const Value *v = find(key);
    if (!v)
        throw Error("'" + path() + "' has no metadata '" + key + "'");
    return *v;
}

std::string File::text(const std::string &key, const std::string &fallback) const
{
    const Value *v = find(key);
    if (!v)
        return fallback;
    if (v->type != ValueType::String)
        throw Error("'" + path() + "': metadata '" + key + "' is " + valueTypeName(v->type) + ", not a string");
    return v->text;
}

int64_t File::integer(const std::string &key, int64_t fallback) const
{
    const Value *v = find(key);
    if (!v)
        return fallback;
    if (!v->isInteger())
        throw Error("'" + path() + "': metadata '" + key + "' is " + valueTypeName(v->type) + ", not an integer");
    return v->integer;
}

int64_t File::requireInteger(const std::string &key) const
{
    require(key);
    return integer(key, 0);
}

double File::number(const std::string &key, double fallback) const
{
    const Value *v = find(key);
    if (!v)
        return fallback;
    if (v->isInteger())
        return double(v->integer);
    if (!v->isFloat())
        throw Error("'" + path() + "': metadata '" + key + "' is " + valueTypeName(v->type) + ", not a number");
    return v->number;
}

const TensorInfo *File::tensor(const std::string &name) const
{
    for (const TensorInfo &t : m_tensors)
        if (t.name == name)
            return &t;
    return nullptr;
}

void File::readRows(const TensorInfo &t, int64_t row0, int64_t count, float *dst) const
{
    if (row0 < 0 || count < 0 || row0 > t.rows() || count > t.rows() - row0)
        throw Error("rows " + std::to_string(row0) + "+" + std::to_string(count) + " of tensor '" + t.name +
                    "' (" + std::to_string(t.rows()) + " rows)");
    if (count == 0) // also a tensor with no rows but a row length whose bytes no file could hold
        return;
    const int64_t rowBytes = ggml::rowBytes(t.type, t.rowLength()); // <= t.bytes, as count > 0
    for (int64_t r = 0; r < count; ++r)
        ggml::dequantizeRow(t.type, data(t) + (row0 + r) * rowBytes, dst + r * t.rowLength(), t.rowLength());
}

Tensor File::toFloat(const TensorInfo &t) const
{
    if (!ggml::typeTraits(t.type)->dequantizable)
        throw Error("tensor '" + t.name + "' of '" + path() + "' has type " + ggml::typeName(t.type) +
                    ", which the workbench cannot read yet");
    Tensor out = Tensor::uninitialized(DType::Float32, t.shape());
    readRows(t, 0, t.rows(), out.data<float>());
    return out;
}

// ---- the writer -------------------------------------------------------------------------------------------

namespace {

struct Buffer {
    std::string bytes;
    template <typename T> void put(T v) { bytes.append(reinterpret_cast<const char *>(&v), sizeof(T)); }
    void str(const std::string &s)
    {
        put<uint64_t>(s.size());
        bytes += s;
    }
    void pad(uint64_t alignment) { bytes.resize(size_t(alignUp(bytes.size(), alignment)), '\0'); }
};

void putScalar(Buffer &b, ValueType t, int64_t i, double f)
{
    switch (t) {
    case ValueType::UInt8: b.put<uint8_t>(uint8_t(i)); break;
    case ValueType::Int8: b.put<int8_t>(int8_t(i)); break;
    case ValueType::UInt16: b.put<uint16_t>(uint16_t(i)); break;
    case ValueType::Int16: b.put<int16_t>(int16_t(i)); break;
    case ValueType::UInt32: b.put<uint32_t>(uint32_t(i)); break;
    case ValueType::Int32: b.put<int32_t>(int32_t(i)); break;
    case ValueType::UInt64: b.put<uint64_t>(uint64_t(i)); break;
    case ValueType::Int64: b.put<int64_t>(i); break;
    case ValueType::Bool: b.put<uint8_t>(i ? 1 : 0); break;
    case ValueType::Float32: b.put<float>(float(f)); break;
    case ValueType::Float64: b.put<double>(f); break;
    default: throw Error("cannot write a GGUF value of type " + std::string(valueTypeName(t)));
    }
}

} // namespace

namespace {

constexpr uint64_t kWriteAlignment = 32;

// The header, metadata and tensor infos of a GGUF v3 file (padded to the alignment); *offsets: each tensor's
// offset in the data section.
// The header, and each tensor's offset in the data section and its bytes.
std::string header(const std::vector<WriteValue> &metadata, const std::vector<WriteTensor> &tensors,
                   std::vector<uint64_t> *offsets, std::vector<uint64_t> *sizes)
{
    constexpr uint64_t alignment = kWriteAlignment;
    Buffer h;
    h.put<uint32_t>(kMagic);
    h.put<uint32_t>(3);
    h.put<uint64_t>(tensors.size());
    h.put<uint64_t>(metadata.size());
    for (const WriteValue &kv : metadata) {
        if (kv.key == "general.alignment")
            throw Error("general.alignment is set by the writer");
        h.str(kv.key);
        const Value &v = kv.value;
        h.put<uint32_t>(uint32_t(v.type));
        if (v.type == ValueType::String) {
            h.str(v.text);
        } else if (v.type == ValueType::Array) {
            h.put<uint32_t>(uint32_t(v.elementType));
            h.put<uint64_t>(v.arraySize());
            if (v.elementType == ValueType::String)
                for (const std::string &s : v.strings)
                    h.str(s);
            else if (isIntegerType(v.elementType))
                for (int64_t i : v.integers)
                    putScalar(h, v.elementType, i, 0);
            else
                for (double x : v.numbers)
                    putScalar(h, v.elementType, 0, x);
        } else {
            putScalar(h, v.type, v.integer, v.number);
        }
    }
    uint64_t offset = 0;
    for (const WriteTensor &t : tensors) {
        const ggml::TypeTraits *tr = ggml::typeTraits(t.type);
        if (!tr || (t.raw.empty() && !tr->quantizable))
            throw Error("tensor '" + t.name + "': the GGUF writer does not encode " + ggml::typeName(t.type));
        if (t.raw.empty() && (t.value.isNull() || t.value.dtype() != DType::Float32))
            throw Error("tensor '" + t.name + "' to write is not float32");
        const Shape &s = t.dims();
        if (s.size() > size_t(kMaxDims))
            throw Error("tensor '" + t.name + "' has more than 4 dimensions");
        const int64_t rowLength = s.empty() ? 1 : s.back();
        const uint64_t bytes = uint64_t(shapeNumel(s) / std::max<int64_t>(rowLength, 1)) *
                               uint64_t(rowLength ? ggml::rowBytes(t.type, rowLength) : 0);
        if (!t.raw.empty() && t.raw.size() != bytes)
            throw Error("tensor '" + t.name + "': " + std::to_string(t.raw.size()) + " bytes given for " +
                        std::to_string(bytes) + " of " + ggml::typeName(t.type));
        h.str(t.name);
        h.put<uint32_t>(uint32_t(s.size()));
        for (auto it = s.rbegin(); it != s.rend(); ++it)
            h.put<uint64_t>(uint64_t(*it));
        h.put<uint32_t>(t.type);
        h.put<uint64_t>(offset);
        offsets->push_back(offset);
        sizes->push_back(bytes);
        offset = alignUp(offset + bytes, alignment);
    }
    h.pad(alignment);
    return std::move(h.bytes);
}

} // namespace

std::string metadataOnly(const std::vector<WriteValue> &metadata)
{
    std::vector<uint64_t> offsets, sizes;
    return header(metadata, {}, &offsets, &sizes);
}

void write(const std::string &path, const std::vector<WriteValue> &metadata, const std::vector<WriteTensor> &tensors)
{
    constexpr uint64_t alignment = kWriteAlignment;
    std::vector<uint64_t> offsets, sizes;
    const std::string h = header(metadata, tensors, &offsets, &sizes);
    AtomicFile out(path);
    out.write(h);
    uint64_t written = 0;
    std::vector<uint8_t> encoded;
    static const char zeros[alignment] = {};
    for (size_t i = 0; i < tensors.size(); ++i) {
        const WriteTensor &t = tensors[i];
        out.write(zeros, size_t(offsets[i] - written));
        if (!t.raw.empty()) {
            out.write(t.raw.data(), t.raw.size());
        } else if (t.type == ggml::F32) {
            out.write(t.value.data<float>(), size_t(sizes[i]));
        } else if (sizes[i] > 0) {
            const int64_t rowLength = t.dims().empty() ? 1 : t.dims().back();
            encoded.resize(size_t(sizes[i]));
            ggml::quantizeRows(t.type, t.value.data<float>(), encoded.data(), t.value.numel() / rowLength, rowLength);
            out.write(encoded.data(), encoded.size());
        }
        written = offsets[i] + sizes[i];
    }
    out.write(zeros, size_t(alignUp(written, alignment) - written));
    out.commit();
}

namespace {

Value scalar(ValueType type, int64_t integer, double number)
{
    Value v;
    v.type = type;
    v.integer = integer;
    v.number = number;
    return v;
}

Value array(ValueType elementType)
{
    Value v;
    v.type = ValueType::Array;
    v.elementType = elementType;
    return v;
}

} // namespace

Value makeString(const std::string &s)
{
    Value v = scalar(ValueType::String, 0, 0);
    v.text = s;
    return v;
}
Value makeUInt32(uint32_t x) { return scalar(ValueType::UInt32, x, 0); }
Value makeInt32(int32_t x) { return scalar(ValueType::Int32, x, 0); }
Value makeFloat32(float x) { return scalar(ValueType::Float32, 0, x); }
Value makeBool(bool x) { return scalar(ValueType::Bool, x, 0); }
Value makeStringArray(std::vector<std::string> x)
{
    Value v = array(ValueType::String);
    v.strings = std::move(x);
    return v;
}
Value makeInt32Array(std::vector<int64_t> x)
{
    Value v = array(ValueType::Int32);
    v.integers = std::move(x);
    return v;
}
Value makeFloat32Array(std::vector<double> x)
{
    Value v = array(ValueType::Float32);
    v.numbers = std::move(x);
    return v;
}

} // namespace cw::gguf
