#include "core/base/tensor.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "core/base/error.h"

namespace cw {

namespace {

// Keeps freed tensor buffers in the process heap instead of returning them to the system. A session
// allocates each output while the inputs are alive and frees intermediates right after; with glibc's
// defaults every multi-megabyte buffer is a fresh mmap whose pages all fault on first touch, which made
// batch-64 element-wise ops several times slower than their arithmetic. 32 MiB is the largest mmap
// threshold glibc accepts; larger tensors still get their own mapping.
void keepFreedBuffersInHeap()
{
    static const bool done = [] {
        mallopt(M_MMAP_THRESHOLD, 32 << 20);
        mallopt(M_TRIM_THRESHOLD, 1 << 30);
        return true;
    }();
    (void)done;
}

} // namespace

struct Tensor::Buffer {
    Buffer(size_t bytes, bool zeroFill) : size(bytes)
    {
        keepFreedBuffersInHeap();
        const size_t rounded = (bytes + 63) / 64 * 64;
        ptr = static_cast<std::byte *>(std::aligned_alloc(64, rounded ? rounded : 64));
        if (!ptr)
            throw Error("out of memory allocating " + std::to_string(bytes) + " bytes");
        if (zeroFill)
            std::memset(ptr, 0, rounded ? rounded : 64);
    }
    ~Buffer() { std::free(ptr); }
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;
    std::byte *ptr = nullptr;
    size_t size = 0;
};

size_t dtypeSize(DType type)
{
    switch (type) {
    case DType::Float32: return 4;
    case DType::Int8: return 1;
    case DType::UInt8: return 1;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    }
    return 0;
}

const char *dtypeName(DType type)
{
    switch (type) {
    case DType::Float32: return "float32";
    case DType::Int8: return "int8";
    case DType::UInt8: return "uint8";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    }
    return "?";
}

bool dtypeFromName(const std::string &name, DType *out)
{
    for (DType t : {DType::Float32, DType::Int8, DType::UInt8, DType::Int32, DType::Int64}) {
        if (name == dtypeName(t)) {
            *out = t;
            return true;
        }
    }
    return false;
}

int64_t shapeNumel(const Shape &shape)
{
    int64_t n = 1;
    for (int64_t d : shape)
        n *= d;
    return n;
}

std::string shapeToString(const Shape &shape)
{
    std::ostringstream out;
    out << '[';
    for (size_t i = 0; i < shape.size(); ++i) {
        if (i)
            out << ", ";
        if (shape[i] < 0)
            out << 'N';
        else
            out << shape[i];
    }
    out << ']';
    return out.str();
}

Tensor::Tensor(DType type, Shape shape) : Tensor(type, std::move(shape), true) {}

Tensor::Tensor(DType type, Shape shape, bool zeroFill) : m_dtype(type), m_shape(std::move(shape))
{
    for (int64_t d : m_shape) {
        if (d < 0)
            throw Error("cannot allocate a tensor with a negative dimension " + shapeToString(m_shape));
    }
    m_buffer = std::make_shared<Buffer>(byteSize(), zeroFill);
}

Tensor Tensor::uninitialized(DType type, Shape shape)
{
    return Tensor(type, std::move(shape), false);
}

Tensor Tensor::fromFloats(Shape shape, const std::vector<float> &values)
{
    Tensor t = uninitialized(DType::Float32, std::move(shape));
    if (size_t(t.numel()) != values.size())
        throw Error("fromFloats: " + std::to_string(values.size()) + " values for shape " + shapeToString(t.shape()));
    std::memcpy(t.rawData(), values.data(), values.size() * sizeof(float));
    return t;
}

Tensor Tensor::fromInt64s(Shape shape, const std::vector<int64_t> &values)
{
    Tensor t = uninitialized(DType::Int64, std::move(shape));
    if (size_t(t.numel()) != values.size())
        throw Error("fromInt64s: " + std::to_string(values.size()) + " values for shape " + shapeToString(t.shape()));
    std::memcpy(t.rawData(), values.data(), values.size() * sizeof(int64_t));
    return t;
}

void *Tensor::rawData()
{
    return m_buffer ? m_buffer->ptr + m_offset : nullptr;
}

const void *Tensor::rawData() const
{
    return m_buffer ? m_buffer->ptr + m_offset : nullptr;
}

Tensor Tensor::reshaped(Shape shape) const
{
    if (shapeNumel(shape) != numel())
        throw Error("cannot reshape " + shapeToString(m_shape) + " to " + shapeToString(shape));
    Tensor t = *this;
    t.m_shape = std::move(shape);
    return t;
}

Tensor Tensor::clone() const
{
    if (isNull())
        return {};
    Tensor t = uninitialized(m_dtype, m_shape);
    std::memcpy(t.rawData(), rawData(), byteSize());
    return t;
}

namespace {
template <typename Src, typename Dst> void convert(const Src *src, Dst *dst, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        dst[i] = static_cast<Dst>(src[i]);
}

template <typename Src> void convertFrom(const Src *src, Tensor &dst, int64_t n)
{
    switch (dst.dtype()) {
    case DType::Float32: convert(src, dst.data<float>(), n); break;
    case DType::Int8: convert(src, dst.data<int8_t>(), n); break;
    case DType::UInt8: convert(src, dst.data<uint8_t>(), n); break;
    case DType::Int32: convert(src, dst.data<int32_t>(), n); break;
    case DType::Int64: convert(src, dst.data<int64_t>(), n); break;
    }
}
} // namespace

Tensor Tensor::castTo(DType type) const
{
    if (type == m_dtype)
        return *this;
    Tensor out = uninitialized(type, m_shape);
    const int64_t n = numel();
    switch (m_dtype) {
    case DType::Float32: convertFrom(data<float>(), out, n); break;
    case DType::Int8: convertFrom(data<int8_t>(), out, n); break;
    case DType::UInt8: convertFrom(data<uint8_t>(), out, n); break;
    case DType::Int32: convertFrom(data<int32_t>(), out, n); break;
    case DType::Int64: convertFrom(data<int64_t>(), out, n); break;
    }
    return out;
}

std::vector<int64_t> Tensor::toInt64Vector() const
{
    if (isNull())
        return {};
    Tensor t = castTo(DType::Int64);
    return std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.numel());
}

std::vector<float> Tensor::toFloatVector() const
{
    if (isNull())
        return {};
    Tensor t = castTo(DType::Float32);
    return std::vector<float>(t.f32(), t.f32() + t.numel());
}

} // namespace cw
