// NumPy .npy and .npz reading and writing.
//
// .npy: versions 1.0 / 2.0 / 3.0 headers; little-endian (or byte-order-free) <f4 |i1 |u1 <i4 <i8 map to the
// Tensor dtypes directly. For convenience some neighbours are converted on read: <f8 and <f2 -> float32,
// |b1 -> uint8, <i2 <u2 -> int32, <u4 <u8 -> int64; big-endian ('>') variants are byte-swapped. Fortran-order
// arrays are rejected (we would have to transpose, and NumPy never writes them unless asked). Writing: float16
// tensors as <f2; bfloat16, which NumPy lacks, widened to <f4 (exact).
// .npz: a zip archive parsed here (central directory, zip64 extras, stored or deflated entries) so that no
// zip library is needed; np.savez writes entries with zip64 local headers, which is why zip64 is handled.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <zlib.h>

#include "core/base/atomic_file.h"
#include "core/base/error.h"
#include "core/io/dataset.h"
#include "core/io/npy.h"

namespace cw {

namespace {

enum class Kind { Float, Int, UInt, Bool };

struct NpyHeader {
    Kind kind = Kind::Float;
    int itemSize = 4;
    bool bigEndian = false;
    Shape shape;
    size_t dataOffset = 0; // bytes from the start of the .npy data
    std::string descr;
};

[[noreturn]] void fail(const std::string &path, const std::string &what)
{
    throw Error("'" + path + "': " + what);
}

uint16_t readLe16(const uint8_t *p) { return uint16_t(p[0] | (p[1] << 8)); }
uint32_t readLe32(const uint8_t *p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8) | (uint32_t(p[2]) << 16) | (uint32_t(p[3]) << 24); }
uint64_t readLe64(const uint8_t *p) { return uint64_t(readLe32(p)) | (uint64_t(readLe32(p + 4)) << 32); }

// [offset, offset + length) lies inside a buffer of `size` bytes (no wrap-around for any 64-bit values).
bool fits(uint64_t offset, uint64_t length, uint64_t size) { return offset <= size && length <= size - offset; }

// Small parser for the Python dict literal NumPy writes: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class DictParser {
public:
    DictParser(const std::string &text, const std::string &path) : m_s(text), m_path(path) {}

    void parse(NpyHeader &h)
    {
        bool haveDescr = false, haveShape = false;
        bool fortran = false;
        skipWs();
        expect('{');
        for (;;) {
            skipWs();
            if (peek() == '}')
                break;
            const std::string key = parseString();
            skipWs();
            expect(':');
            skipWs();
            if (key == "descr") {
                if (peek() == '[')
                    bad("structured dtypes are not supported");
                h.descr = parseString();
                haveDescr = true;
            } else if (key == "fortran_order") {
                fortran = parseBool();
            } else if (key == "shape") {
                h.shape = parseShape();
                haveShape = true;
            } else {
                skipValue();
            }
            skipWs();
            if (peek() == ',') {
                ++m_pos;
                continue;
            }
            skipWs();
            expect('}');
            --m_pos;
        }
        if (!haveDescr || !haveShape)
            bad("header lacks 'descr' or 'shape'");
        if (fortran)
            fail(m_path, "Fortran-order arrays are not supported (save with np.ascontiguousarray / order='C')");
    }

private:
    [[noreturn]] void bad(const std::string &what) { fail(m_path, "malformed .npy header (" + what + "): " + m_s); }
    char peek() const { return m_pos < m_s.size() ? m_s[m_pos] : '\0'; }
    void skipWs()
    {
        while (m_pos < m_s.size() && (m_s[m_pos] == ' ' || m_s[m_pos] == '\t' || m_s[m_pos] == '\n' || m_s[m_pos] == '\r'))
            ++m_pos;
    }
    void expect(char c)
    {
        if (peek() != c)
            bad(std::string("expected '") + c + "'");
        ++m_pos;
    }
    std::string parseString()
    {
        const char q = peek();
        if (q != '\'' && q != '"')
            bad("expected a string");
        ++m_pos;
        const size_t end = m_s.find(q, m_pos);
        if (end == std::string::npos)
            bad("unterminated string");
        std::string out = m_s.substr(m_pos, end - m_pos);
        m_pos = end + 1;
        return out;
    }
    bool parseBool()
    {
        if (m_s.compare(m_pos, 4, "True") == 0) {
            m_pos += 4;
            return true;
        }
        if (m_s.compare(m_pos, 5, "False") == 0) {
            m_pos += 5;
            return false;
        }
        bad("expected True or False");
    }
    Shape parseShape()
    {
        Shape shape;
        expect('(');
        for (;;) {
            skipWs();
            if (peek() == ')') {
                ++m_pos;
                break;
            }
            size_t digits = 0;
            int64_t v = 0;
            while (m_pos < m_s.size() && m_s[m_pos] >= '0' && m_s[m_pos] <= '9') {
                v = v * 10 + (m_s[m_pos] - '0');
                if (v > (int64_t(1) << 48))
                    bad("dimension too large");
                ++m_pos;
                ++digits;
            }
            if (m_pos < m_s.size() && m_s[m_pos] == 'L') // Python 2 longs
                ++m_pos;
            if (!digits)
                bad("expected a dimension");
            shape.push_back(v);
            skipWs();
            if (peek() == ',')
                ++m_pos;
            else if (peek() != ')')
                bad("expected ',' or ')' in shape");
        }
        return shape;
    }
    void skipValue()
    {
        int depth = 0;
        while (m_pos < m_s.size()) {
            const char c = m_s[m_pos];
            if (c == '\'' || c == '"') {
                parseString();
                continue;
            }
            if (c == '(' || c == '[' || c == '{')
                ++depth;
            else if (c == ')' || c == ']' || c == '}') {
                if (depth == 0)
                    return;
                --depth;
            } else if (c == ',' && depth == 0)
                return;
            ++m_pos;
        }
    }

    const std::string &m_s;
    const std::string &m_path;
    size_t m_pos = 0;
};

void decodeDescr(NpyHeader &h, const std::string &path)
{
    const std::string &d = h.descr;
    if (d.size() < 3)
        fail(path, "unsupported dtype '" + d + "'");
    const char order = d[0];
    const char kind = d[1];
    const std::string sizeText = d.substr(2);
    // Item sizes are 1 to 8 bytes: more than two digits is no dtype this reader knows (and could overflow).
    if (sizeText.size() > 2)
        fail(path, "unsupported dtype '" + d + "'");
    int size = 0;
    for (char c : sizeText) {
        if (c < '0' || c > '9')
            fail(path, "unsupported dtype '" + d + "'");
        size = size * 10 + (c - '0');
    }
    if (order != '<' && order != '>' && order != '|' && order != '=')
        fail(path, "unsupported dtype '" + d + "'");
    h.bigEndian = order == '>' && size > 1;
    h.itemSize = size;
    bool ok = false;
    switch (kind) {
    case 'f': h.kind = Kind::Float; ok = size == 2 || size == 4 || size == 8; break;
    case 'i': h.kind = Kind::Int; ok = size == 1 || size == 2 || size == 4 || size == 8; break;
    case 'u': h.kind = Kind::UInt; ok = size == 1 || size == 2 || size == 4 || size == 8; break;
    case 'b': h.kind = Kind::Bool; ok = size == 1; break;
    default: break;
    }
    if (!ok)
        fail(path, "unsupported dtype '" + d + "' (supported: float16/32/64, int8/16/32/64, uint8/16/32/64, bool)");
}

// Parses the magic, version and header dict from the first bytes of a .npy. `need` receives the number of
// bytes required when `size` is too small for the whole header (then the function returns false).
bool parseNpyHeader(const uint8_t *p, size_t size, const std::string &path, NpyHeader &h, size_t *need)
{
    static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (size < 10) {
        if (need)
            *need = 12;
        if (!need)
            fail(path, "truncated .npy (no header)");
        return false;
    }
    if (std::memcmp(p, magic, 6) != 0)
        fail(path, "not a .npy file (bad magic)");
    const int major = p[6];
    size_t headerLen = 0, prefix = 0;
    if (major == 1) {
        headerLen = readLe16(p + 8);
        prefix = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) {
            if (!need)
                fail(path, "truncated .npy (no header)");
            *need = 12;
            return false;
        }
        headerLen = readLe32(p + 8);
        prefix = 12;
    } else {
        fail(path, "unsupported .npy version " + std::to_string(major) + "." + std::to_string(p[7]));
    }
    if (headerLen > (size_t(1) << 24))
        fail(path, "malformed .npy header (length " + std::to_string(headerLen) + ")");
    if (size < prefix + headerLen) {
        if (!need)
            fail(path, "truncated .npy header");
        *need = prefix + headerLen;
        return false;
    }
    const std::string text(reinterpret_cast<const char *>(p + prefix), headerLen);
    DictParser(text, path).parse(h);
    decodeDescr(h, path);
    h.dataOffset = prefix + headerLen;
    return true;
}

DType targetType(const NpyHeader &h)
{
    switch (h.kind) {
    case Kind::Float: return DType::Float32;
    case Kind::Bool: return DType::UInt8;
    case Kind::Int:
        return h.itemSize == 1 ? DType::Int8 : h.itemSize <= 4 ? DType::Int32 : DType::Int64;
    case Kind::UInt:
        return h.itemSize == 1 ? DType::UInt8 : h.itemSize == 2 ? DType::Int32 : DType::Int64;
    }
    return DType::Float32;
}

// Bytes of the payload the header declares (checked), after making sure the file holds them (`available`) and
// that the array fits the memory budget: a 128-byte file cannot make us allocate gigabytes.
// The bytes of the payload to read: all of it, or its first `rows` rows (`rows` > 0, fewer than the array has). The
// file must hold the whole payload either way; the memory budget counts what is read.
size_t declaredBytes(const NpyHeader &h, uint64_t available, const std::string &path, int64_t rows)
{
    size_t bytes = 0, target = 0;
    try {
        bytes = size_t(checkedMul(shapeNumel(h.shape), h.itemSize));
        target = shapeByteSize(h.shape, targetType(h));
    } catch (const Error &) {
        fail(path, "impossible .npy shape " + shapeToString(h.shape) + " for " + h.descr + " (the file is corrupt)");
    }
    if (bytes > available)
        fail(path, "truncated .npy data: expected " + std::to_string(bytes) + " bytes for " + h.descr + " " +
                       shapeToString(h.shape) + ", found " + std::to_string(available));
    if (rows > 0) {
        bytes = bytes / size_t(h.shape[0]) * size_t(rows);
        target = target / size_t(h.shape[0]) * size_t(rows);
    }
    checkMemoryBudget(std::max(bytes, target), "'" + path + "': array " + h.descr + " " + shapeToString(h.shape));
    return bytes;
}

bool isDirect(const NpyHeader &h)
{
    if (h.bigEndian)
        return false;
    const DType t = targetType(h);
    return int(dtypeSize(t)) == h.itemSize && h.kind != Kind::Bool && !(h.kind == Kind::UInt && h.itemSize == 8);
}

float halfToFloat(uint16_t h)
{
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1F;
    const uint32_t mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { // subnormal: normalise
            int e = -1;
            uint32_t m = mant;
            do {
                ++e;
                m <<= 1;
            } while (!(m & 0x400));
            bits = sign | uint32_t(127 - 15 - e) << 23 | (m & 0x3FF) << 13;
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000 | mant << 13;
    } else {
        bits = sign | (exp + 127 - 15) << 23 | mant << 13;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// Converts `count` raw elements (in the file's dtype and byte order) into `out` (already of targetType).
void convertElements(const NpyHeader &h, const uint8_t *raw, Tensor &out, const std::string &path)
{
    const int64_t n = out.numel();
    if (n == 0) // `raw` may be an empty vector's null data: no memcpy from it, even of 0 bytes
        return;
    const int sz = h.itemSize;
    std::vector<uint8_t> swapped;
    if (h.bigEndian) {
        swapped.assign(raw, raw + size_t(n) * size_t(sz));
        for (int64_t i = 0; i < n; ++i) {
            uint8_t *e = swapped.data() + i * sz;
            for (int a = 0, b = sz - 1; a < b; ++a, --b)
                std::swap(e[a], e[b]);
        }
        raw = swapped.data();
    }
    if (isDirect(h)) {
        std::memcpy(out.rawData(), raw, out.byteSize());
        return;
    }
    auto load = [&](int64_t i, auto tag) {
        decltype(tag) v;
        std::memcpy(&v, raw + i * sz, sizeof v);
        return v;
    };
    switch (h.kind) {
    case Kind::Float: {
        float *dst = out.f32();
        for (int64_t i = 0; i < n; ++i)
            dst[i] = sz == 8 ? float(load(i, double())) : sz == 2 ? halfToFloat(load(i, uint16_t())) : load(i, float());
        break;
    }
    case Kind::Bool: {
        uint8_t *dst = out.data<uint8_t>();
        for (int64_t i = 0; i < n; ++i)
            dst[i] = raw[i] ? 1 : 0;
        break;
    }
    case Kind::Int:
        if (out.dtype() == DType::Int32) {
            int32_t *dst = out.data<int32_t>();
            for (int64_t i = 0; i < n; ++i)
                dst[i] = sz == 2 ? load(i, int16_t()) : load(i, int32_t());
        } else if (out.dtype() == DType::Int64) {
            std::memcpy(out.rawData(), raw, out.byteSize());
        } else {
            std::memcpy(out.rawData(), raw, out.byteSize());
        }
        break;
    case Kind::UInt:
        if (out.dtype() == DType::Int32) {
            int32_t *dst = out.data<int32_t>();
            for (int64_t i = 0; i < n; ++i)
                dst[i] = load(i, uint16_t());
        } else if (out.dtype() == DType::Int64) {
            int64_t *dst = out.data<int64_t>();
            for (int64_t i = 0; i < n; ++i) {
                if (sz == 4) {
                    dst[i] = load(i, uint32_t());
                } else {
                    const uint64_t v = load(i, uint64_t());
                    if (v > uint64_t(INT64_MAX))
                        fail(path, "uint64 value " + std::to_string(v) + " does not fit int64");
                    dst[i] = int64_t(v);
                }
            }
        } else {
            std::memcpy(out.rawData(), raw, out.byteSize());
        }
        break;
    }
}

// Builds a tensor from a complete in-memory .npy image.
Tensor npyFromMemory(const uint8_t *p, size_t size, const std::string &path)
{
    NpyHeader h;
    parseNpyHeader(p, size, path, h, nullptr);
    declaredBytes(h, size - h.dataOffset, path, 0);
    Tensor out(targetType(h), h.shape);
    convertElements(h, p + h.dataOffset, out, path);
    return out;
}

std::string npyDescr(DType t)
{
    switch (t) {
    case DType::Float32: return "<f4";
    case DType::Int8: return "|i1";
    case DType::UInt8: return "|u1";
    case DType::Int32: return "<i4";
    case DType::Int64: return "<i8";
    case DType::Float16: return "<f2";
    case DType::BFloat16: return "<f4"; // written widened (writeNpy)
    }
    return "";
}

struct FileCloser {
    void operator()(std::FILE *f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

FilePtr openFile(const std::string &path, const char *mode)
{
    FilePtr f(std::fopen(path.c_str(), mode));
    if (!f)
        fail(path, std::string("cannot open: ") + std::strerror(errno));
    struct stat st;
    if (fstat(fileno(f.get()), &st) == 0 && S_ISDIR(st.st_mode))
        fail(path, "is a directory, not a file");
    return f;
}

std::vector<uint8_t> readWholeFile(const std::string &path)
{
    FilePtr f = openFile(path, "rb");
    std::vector<uint8_t> data;
    if (std::fseek(f.get(), 0, SEEK_END) == 0) {
        const long size = std::ftell(f.get());
        if (size > 0)
            data.resize(size_t(size));
        std::fseek(f.get(), 0, SEEK_SET);
    }
    if (!data.empty() && std::fread(data.data(), 1, data.size(), f.get()) != data.size())
        fail(path, "read error");
    return data;
}

} // namespace

Tensor readNpy(const std::string &path)
{
    return readNpyRows(path, 0);
}

Tensor readNpyRows(const std::string &path, int64_t maxRows, int64_t *declaredRows)
{
    FilePtr f = openFile(path, "rb");
    // Read the header first, then the payload straight into the tensor: a 200 MB array is not copied twice.
    std::vector<uint8_t> head(12);
    size_t have = std::fread(head.data(), 1, head.size(), f.get());
    NpyHeader h;
    size_t need = 0;
    while (!parseNpyHeader(head.data(), have, path, h, &need)) {
        if (need <= have)
            fail(path, "truncated .npy header");
        head.resize(need);
        const size_t got = std::fread(head.data() + have, 1, need - have, f.get());
        if (got != need - have)
            fail(path, have < 10 ? "truncated .npy (no header)" : "truncated .npy header");
        have = need;
    }
    struct stat st;
    uint64_t available = UINT64_MAX; // a pipe: the size is unknown, only the memory budget bounds it
    if (fstat(fileno(f.get()), &st) == 0 && S_ISREG(st.st_mode))
        available = uint64_t(st.st_size) > h.dataOffset ? uint64_t(st.st_size) - h.dataOffset : 0;
    if (declaredRows)
        *declaredRows = h.shape.empty() ? 0 : h.shape[0];
    Shape shape = h.shape;
    const bool fewer = maxRows > 0 && !shape.empty() && shape[0] > maxRows; // the rows are contiguous (C order)
    if (fewer)
        shape[0] = maxRows;
    const size_t bytes = declaredBytes(h, available, path, fewer ? maxRows : 0);
    Tensor out(targetType(h), shape);
    // Bytes of the payload that were read together with the header.
    const size_t already = have > h.dataOffset ? have - h.dataOffset : 0;
    std::vector<uint8_t> raw;
    auto *dst = static_cast<uint8_t *>(out.rawData());
    if (!isDirect(h)) {
        raw.resize(bytes);
        dst = raw.data();
    }
    const size_t first = std::min(already, bytes);
    if (first)
        std::memcpy(dst, head.data() + h.dataOffset, first);
    const size_t got = bytes > first ? std::fread(dst + first, 1, bytes - first, f.get()) : 0;
    if (first + got != bytes)
        fail(path, "truncated .npy data: expected " + std::to_string(bytes) + " bytes for " + h.descr + " " +
                       shapeToString(h.shape) + ", found " + std::to_string(first + got));
    if (!isDirect(h))
        convertElements(h, raw.data(), out, path);
    return out;
}

void writeNpy(const Tensor &tensor, const std::string &path)
{
    if (tensor.isNull())
        fail(path, "cannot write an empty (null) tensor as .npy");
    if (tensor.dtype() == DType::BFloat16)
        return writeNpy(tensor.castTo(DType::Float32), path);
    std::string shape = "(";
    for (size_t i = 0; i < tensor.shape().size(); ++i) {
        shape += std::to_string(tensor.shape()[i]);
        if (tensor.shape().size() == 1 || i + 1 < tensor.shape().size())
            shape += ",";
        if (i + 1 < tensor.shape().size())
            shape += " ";
    }
    shape += ")";
    std::string header = "{'descr': '" + npyDescr(tensor.dtype()) + "', 'fortran_order': False, 'shape': " + shape + ", }";
    // NumPy pads the header with spaces so the data starts on a 64-byte boundary, ending with '\n'.
    const bool v2 = header.size() + 1 + 10 > 65535;
    const size_t prefix = v2 ? 12 : 10;
    const size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
    header.append(total - prefix - header.size() - 1, ' ');
    header += '\n';
    std::string out("\x93NUMPY", 6);
    out += char(v2 ? 2 : 1);
    out += char(0);
    const uint32_t len = uint32_t(header.size());
    out += char(len & 0xFF);
    out += char((len >> 8) & 0xFF);
    if (v2) {
        out += char((len >> 16) & 0xFF);
        out += char((len >> 24) & 0xFF);
    }
    out += header;
    AtomicFile file(path);
    file.write(out);
    file.write(tensor.rawData(), tensor.byteSize());
    file.commit();
}

std::vector<std::pair<std::string, Tensor>> readNpz(const std::string &path)
{
    const std::vector<uint8_t> file = readWholeFile(path);
    const size_t size = file.size();
    const uint8_t *p = file.data();
    // End of central directory: 22 bytes + up to 65535 bytes of comment, searched from the end.
    if (size < 22)
        fail(path, "not a .npz (zip) archive: file too short");
    size_t eocd = std::string::npos;
    for (size_t i = size - 22 + 1; i-- > 0 && size - i <= 22 + 65535;) {
        if (readLe32(p + i) == 0x06054b50) {
            eocd = i;
            break;
        }
    }
    if (eocd == std::string::npos)
        fail(path, readLe32(p) == 0x04034b50 ? "truncated .npz archive (no central directory)"
                                             : "not a .npz (zip) archive");
    uint64_t entries = readLe16(p + eocd + 10);
    uint64_t cdSize = readLe32(p + eocd + 12);
    uint64_t cdOffset = readLe32(p + eocd + 16);
    if (entries == 0xFFFF || cdOffset == 0xFFFFFFFF || cdSize == 0xFFFFFFFF) {
        // Zip64: the locator sits just before the end record and points at the zip64 end record.
        if (eocd < 20 || readLe32(p + eocd - 20) != 0x07064b50)
            fail(path, "malformed zip64 archive (no locator)");
        const uint64_t z64 = readLe64(p + eocd - 20 + 8);
        if (!fits(z64, 56, size) || readLe32(p + z64) != 0x06064b50)
            fail(path, "malformed zip64 archive (bad end record)");
        entries = readLe64(p + z64 + 32);
        cdSize = readLe64(p + z64 + 40);
        cdOffset = readLe64(p + z64 + 48);
    }
    if (!fits(cdOffset, cdSize, size))
        fail(path, "truncated .npz archive (central directory out of bounds)");

    std::vector<std::pair<std::string, Tensor>> out;
    size_t pos = size_t(cdOffset);
    for (uint64_t e = 0; e < entries; ++e) {
        if (!fits(pos, 46, size) || readLe32(p + pos) != 0x02014b50)
            fail(path, "malformed .npz central directory");
        const uint16_t flags = readLe16(p + pos + 8);
        const uint16_t method = readLe16(p + pos + 10);
        const uint32_t crc = readLe32(p + pos + 16);
        uint64_t csize = readLe32(p + pos + 20);
        uint64_t usize = readLe32(p + pos + 24);
        const uint16_t nameLen = readLe16(p + pos + 28);
        const uint16_t extraLen = readLe16(p + pos + 30);
        const uint16_t commentLen = readLe16(p + pos + 32);
        uint64_t localOffset = readLe32(p + pos + 42);
        if (!fits(pos, 46 + uint64_t(nameLen) + extraLen + commentLen, size))
            fail(path, "malformed .npz central directory");
        std::string name(reinterpret_cast<const char *>(p + pos + 46), nameLen);
        // Zip64 extended information: present fields follow the order usize, csize, offset, only for those
        // whose 32-bit field is saturated.
        const uint8_t *extra = p + pos + 46 + nameLen;
        for (size_t x = 0; x + 4 <= extraLen;) {
            const uint16_t id = readLe16(extra + x);
            const uint16_t len = readLe16(extra + x + 2);
            if (x + 4 + len > extraLen)
                break;
            if (id == 0x0001) {
                size_t f = x + 4;
                auto take = [&](uint64_t &v) {
                    if (v == 0xFFFFFFFF && f + 8 <= x + 4 + len) {
                        v = readLe64(extra + f);
                        f += 8;
                    }
                };
                take(usize);
                take(csize);
                take(localOffset);
            }
            x += 4 + len;
        }
        pos += 46 + size_t(nameLen) + extraLen + commentLen;

        if (flags & 1)
            fail(path, "entry '" + name + "' is encrypted");
        if (!fits(localOffset, 30, size) || readLe32(p + localOffset) != 0x04034b50)
            fail(path, "malformed .npz: bad local header for '" + name + "'");
        const uint64_t dataStart = localOffset + 30 + readLe16(p + localOffset + 26) + readLe16(p + localOffset + 28);
        if (!fits(dataStart, csize, size))
            fail(path, "truncated .npz: entry '" + name + "' extends past the end of the file");
        const uint8_t *data = p + dataStart;
        const std::string entryPath = path + ":" + name;

        std::vector<uint8_t> inflated;
        const uint8_t *npy = data;
        size_t npySize = size_t(csize);
        if (method == 8) {
            // Deflate expands at most 1032:1; a larger declared size is a lie, and the budget bounds the rest.
            if (usize / 1032 > csize + 1)
                fail(path, "malformed .npz: entry '" + name + "' claims " + std::to_string(usize) +
                               " bytes from " + std::to_string(csize) + " compressed bytes");
            checkMemoryBudget(usize, "'" + path + "': entry '" + name + "'");
            inflated.resize(size_t(usize));
            z_stream zs{};
            if (inflateInit2(&zs, -15) != Z_OK)
                fail(path, "zlib initialisation failed");
            zs.next_in = const_cast<Bytef *>(data);
            zs.avail_in = uInt(csize);
            zs.next_out = inflated.data();
            zs.avail_out = uInt(usize);
            const int rc = inflate(&zs, Z_FINISH);
            const uint64_t produced = zs.total_out;
            inflateEnd(&zs);
            if (rc != Z_STREAM_END || produced != usize)
                fail(path, "corrupt deflate data in entry '" + name + "'");
            npy = inflated.data();
            npySize = inflated.size();
        } else if (method != 0) {
            fail(path, "entry '" + name + "' uses unsupported zip compression method " + std::to_string(method));
        } else if (csize != usize) {
            fail(path, "malformed .npz: stored entry '" + name + "' has mismatched sizes");
        }
        if (uint32_t(crc32(0L, npy, uInt(npySize))) != crc)
            fail(path, "CRC mismatch in entry '" + name + "' (corrupt archive)");
        if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0)
            name.resize(name.size() - 4);
        out.emplace_back(name, npyFromMemory(npy, npySize, entryPath));
    }
    return out;
}

} // namespace cw
