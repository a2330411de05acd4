// Tensor: a typed, shaped, reference-counted buffer.
//
// Storage is float32 for the math, int8 / uint8 / int32 / int64 for quantized weights and shape
// computations, and float16 / bfloat16 for models stored in half precision (kept as bit patterns; kernels
// compute on them in float32, see ops.h). Bool is uint8 0 / 1. Copies are shallow (they share the buffer, like an OrtValue); clone() makes a deep copy.
// Kernels never write into their inputs, so sharing is safe: Reshape, Flatten and Identity return views.
// Buffers are 64-byte aligned so Eigen maps and SIMD loads are aligned.
//
// Tensor(type, shape) zero-fills; Tensor::uninitialized() does not, for kernel outputs that are written
// in full (a zero-fill of a batch-64 activation costs as much as the element-wise op that follows it).
//
// Sizes from untrusted input (a file's header, a graph's shape computation) go through the checked helpers
// below: shapeNumel / shapeByteSize / checkedMul / checkedAdd throw cw::Error on a negative dimension or an
// int64 overflow instead of wrapping. Every allocation of a tensor is also held to the memory budget
// (memoryBudget(): the largest single allocation allowed and the most all tensors alive may hold together, by
// default half of the physical memory, set with the environment variable CW_MEMORY_BUDGET, e.g. "512M" or
// "8G"); readers check sizes a file declares against the bytes the file holds and against the budget before
// they allocate, so that the error names the file.
#pragma once

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cw {

enum class DType { Float32, Int8, UInt8, Int32, Int64, Float16, BFloat16 };

// The two 16-bit float formats, as their bit patterns: IEEE 754 binary16 (1 sign, 5 exponent, 10 mantissa
// bits) and bfloat16 (the upper half of a float32: 1, 8, 7). No arithmetic: convert to float and back.
struct Float16 {
    uint16_t bits;
};
struct BFloat16 {
    uint16_t bits;
};

// Exact widening, and narrowing with round-to-nearest-even. Overflow becomes +-Inf (float16: |x| >= 65520),
// results below the smallest normal become subnormals (float16) or keep float32's (bfloat16), NaN stays a
// (quiet) NaN with its sign.
float float16ToFloat(uint16_t bits);
uint16_t floatToFloat16(float value);
float bfloat16ToFloat(uint16_t bits);
uint16_t floatToBFloat16(float value);
// The same over arrays (vectorised where the CPU has F16C).
void float16ToFloat(const uint16_t *src, float *dst, int64_t n);
void floatToFloat16(const float *src, uint16_t *dst, int64_t n);
void bfloat16ToFloat(const uint16_t *src, float *dst, int64_t n);
void floatToBFloat16(const float *src, uint16_t *dst, int64_t n);

inline bool isFloatType(DType type)
{
    return type == DType::Float32 || type == DType::Float16 || type == DType::BFloat16;
}
inline bool isHalfType(DType type) // the 16-bit float types
{
    return type == DType::Float16 || type == DType::BFloat16;
}

using Shape = std::vector<int64_t>;

size_t dtypeSize(DType type);
const char *dtypeName(DType type);          // "float32", "int8", ..., "float16", "bfloat16"
bool dtypeFromName(const std::string &name, DType *out);
// The element count; cw::Error when a dimension is negative or the count overflows int64.
int64_t shapeNumel(const Shape &shape);
// The bytes of a tensor of that shape and type; cw::Error as shapeNumel, or when the bytes overflow int64.
size_t shapeByteSize(const Shape &shape, DType type);
// a * b and a + b of sizes; cw::Error ("size overflow") when the result does not fit int64.
int64_t checkedMul(int64_t a, int64_t b);
int64_t checkedAdd(int64_t a, int64_t b);
// ceil(a / b) for a >= 0 and b > 0, without the overflow of (a + b - 1) / b when b comes from a file (a
// block_size, stride, dilation or step of 2^63 - 1). stepMagnitude(s): |s| of a nonzero step, 2^63 - 1 for
// -2^63 (whose magnitude does not fit; no size is that large, so counts come out the same).
inline int64_t ceilDiv(int64_t a, int64_t b) { return a / b + (a % b != 0); }
inline int64_t stepMagnitude(int64_t s) { return s > 0 ? s : s == INT64_MIN ? INT64_MAX : -s; }

// The memory budget: the most bytes one allocation driven by a declared size may take, and the most all tensors
// alive together may hold (a tensor allocation beyond it throws cw::Error). The default is half of the
// physical memory; CW_MEMORY_BUDGET (bytes, or with a K / M / G / T suffix, powers of 1024) overrides it, and so
// does setMemoryBudget (0 restores the default). Read once, then cached; safe from any thread.
uint64_t memoryBudget();
void setMemoryBudget(uint64_t bytes);
// Bytes held by all tensor buffers alive now (what the budget's total counts).
uint64_t liveTensorBytes();
// The process's peak resident set size so far, in bytes (VmHWM of /proc/self/status): what `cwb bench` reports.
uint64_t peakRssBytes();
// cw::Error "<what> needs N bytes, more than the memory budget of M bytes (...)" when bytes > memoryBudget().
void checkMemoryBudget(uint64_t bytes, const std::string &what);
std::string shapeToString(const Shape &shape); // "[1, 3, 224, 224]"; dynamic dims (-1) print as "N"

template <typename T> constexpr DType dtypeOf();
template <> constexpr DType dtypeOf<float>() { return DType::Float32; }
template <> constexpr DType dtypeOf<int8_t>() { return DType::Int8; }
template <> constexpr DType dtypeOf<uint8_t>() { return DType::UInt8; }
template <> constexpr DType dtypeOf<int32_t>() { return DType::Int32; }
template <> constexpr DType dtypeOf<int64_t>() { return DType::Int64; }
template <> constexpr DType dtypeOf<Float16>() { return DType::Float16; }
template <> constexpr DType dtypeOf<BFloat16>() { return DType::BFloat16; }

class Tensor {
public:
    Tensor() = default;
    // Zero-initialised. cw::Error for a negative dimension, an overflowing size or one above memoryBudget().
    Tensor(DType type, Shape shape);
    // Contents unspecified: every element must be written before it is read.
    static Tensor uninitialized(DType type, Shape shape);

    static Tensor fromFloats(Shape shape, const std::vector<float> &values);
    static Tensor fromInt64s(Shape shape, const std::vector<int64_t> &values);
    static Tensor scalar(float value) { return fromFloats({}, {value}); }

    bool isNull() const { return !m_buffer; }
    DType dtype() const { return m_dtype; }
    const Shape &shape() const { return m_shape; }
    int rank() const { return int(m_shape.size()); }
    int64_t dim(int axis) const { return m_shape[size_t(axis < 0 ? axis + rank() : axis)]; }
    int64_t numel() const // unchecked: the shape was checked when the tensor was made
    {
        int64_t n = 1;
        for (int64_t d : m_shape)
            n *= d;
        return n;
    }
    size_t byteSize() const { return size_t(numel()) * dtypeSize(m_dtype); }

    template <typename T> T *data()
    {
        assert(dtypeOf<T>() == m_dtype);
        return reinterpret_cast<T *>(rawData());
    }
    template <typename T> const T *data() const
    {
        assert(dtypeOf<T>() == m_dtype);
        return reinterpret_cast<const T *>(rawData());
    }
    float *f32() { return data<float>(); }
    const float *f32() const { return data<float>(); }
    void *rawData();
    const void *rawData() const;

    // A view with another shape over the same buffer (same element count).
    Tensor reshaped(Shape shape) const;
    Tensor clone() const;
    // Element-wise conversion (float -> int truncates toward zero, as ONNX Cast does; to float16 / bfloat16
    // rounds to nearest even; integers reach the 16-bit floats through float32).
    Tensor castTo(DType type) const;
    // Values of an integer (or float) tensor as int64, for shape-computation inputs.
    std::vector<int64_t> toInt64Vector() const;
    std::vector<float> toFloatVector() const;

private:
    // The buffer counts the tensors that share it itself, so that a tensor is one allocation (a small one's count
    // and bookkeeping sit in front of its values, in the same block): a small model's run makes a tensor or two
    // per node, and a separate count (a shared_ptr's control block) was a malloc and a free of each.
    struct BufferCount {
        std::atomic<int64_t> refs{1};
    };
    struct Buffer;
    class BufferRef {
    public:
        BufferRef() = default;
        explicit BufferRef(BufferCount *buffer) : m_p(buffer) {}
        BufferRef(const BufferRef &o) noexcept : m_p(o.m_p)
        {
            if (m_p)
                m_p->refs.fetch_add(1, std::memory_order_relaxed);
        }
        BufferRef(BufferRef &&o) noexcept : m_p(std::exchange(o.m_p, nullptr)) {}
        BufferRef &operator=(const BufferRef &o) noexcept
        {
            BufferRef(o).swap(*this);
            return *this;
        }
        BufferRef &operator=(BufferRef &&o) noexcept
        {
            BufferRef(std::move(o)).swap(*this);
            return *this;
        }
        ~BufferRef()
        {
            if (m_p && m_p->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)
                release(m_p);
        }
        void swap(BufferRef &o) noexcept { std::swap(m_p, o.m_p); }
        explicit operator bool() const { return m_p != nullptr; }
        Buffer *get() const;

    private:
        static void release(BufferCount *buffer) noexcept; // the last reference went
        BufferCount *m_p = nullptr;
    };
    Tensor(DType type, Shape shape, bool zeroFill);
    DType m_dtype = DType::Float32;
    Shape m_shape;
    BufferRef m_buffer;
    size_t m_offset = 0; // bytes; views created by reshaped() keep offset 0, reserved for slicing views
};

} // namespace cw
