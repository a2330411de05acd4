#include "core/base/tensor.h"

#include <immintrin.h>
#include <malloc.h>
#include <sys/resource.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <vector>
#include <mutex>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <sstream>
#include <type_traits>

#include "core/base/error.h"
#include "core/base/format.h"

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

std::string byteText(uint64_t bytes)
{
    std::string s = std::to_string(bytes) + " bytes";
    if (bytes >= (uint64_t(1) << 20)) {
        const bool gib = bytes >= (uint64_t(1) << 30);
        char buf[32];
        std::snprintf(buf, sizeof buf, " (%.1f %s)", double(bytes) / double(gib ? 1 << 30 : 1 << 20), gib ? "GiB" : "MiB");
        s += buf;
    }
    return s;
}

// Buffers from 32 MiB up come from mmap (above) and go back to the kernel when freed, so a model with large
// activations (imgly's network at 1024 x 1024: 256 MiB each) had every one of them page-faulted and zeroed by the
// kernel on every run, a third of its time. Freed buffers of that size are kept here for the next allocation of
// the same rounded size (a model's runs allocate the same sizes in the same order), up to a quarter of the memory
// budget and at most 2 GiB; beyond that the oldest go back to the system.
class LargeBuffers {
public:
    static constexpr size_t kMin = size_t(32) << 20;
    static size_t rounded(size_t bytes) { return (bytes + (size_t(1) << 20) - 1) >> 20 << 20; } // whole MiB

    std::byte *take(size_t size)
    {
        std::lock_guard lock(m_mutex);
        for (auto it = m_free.begin(); it != m_free.end(); ++it)
            if (it->first == size) {
                std::byte *p = it->second;
                m_cached -= size;
                m_free.erase(it);
                return p;
            }
        return nullptr;
    }
    // Called from a destructor: never throws (a buffer it cannot keep is freed).
    void give(std::byte *p, size_t size) noexcept
    {
        const size_t cap = size_t(std::min<uint64_t>(memoryBudget() / 4, uint64_t(2) << 30));
        std::lock_guard lock(m_mutex);
        try {
            if (size > cap)
                throw std::bad_alloc();
            m_free.emplace_back(size, p);
            m_cached += size;
        } catch (...) {
            std::free(p);
        }
        while (m_cached > cap) { // the oldest first
            std::free(m_free.front().second);
            m_cached -= m_free.front().first;
            m_free.erase(m_free.begin());
        }
    }
    // Frees every kept buffer (an allocation failed: the memory may be needed elsewhere).
    void flush() noexcept
    {
        std::lock_guard lock(m_mutex);
        for (const auto &entry : m_free)
            std::free(entry.second);
        m_free.clear();
        m_cached = 0;
    }

private:
    std::mutex m_mutex;
    std::vector<std::pair<size_t, std::byte *>> m_free; // oldest first
    size_t m_cached = 0;
};

LargeBuffers &largeBuffers()
{
    static LargeBuffers *cache = new LargeBuffers; // never destroyed: buffers may be freed during exit
    return *cache;
}

// An AddressSanitizer build frees every buffer at once, so that a use after free is caught.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
constexpr bool kAddressSanitizer = __has_feature(address_sanitizer);
#else
constexpr bool kAddressSanitizer = false;
#endif

// Buffers up to 64 KiB, per thread, by power-of-two size class: a small model's run allocates and frees a few
// tensors per node, and a 64-byte aligned allocation takes glibc's slow path (no per-thread cache for it): on
// a wake-word head of 20 µs a third of the run was malloc and free. Each class keeps at most 256 KiB (4 to 64
// buffers); the rest is freed, and so is everything when the thread ends.
class SmallBuffers {
public:
    static constexpr size_t kMax = size_t(64) << 10;
    static constexpr int kClasses = 11; // 64 B .. 64 KiB
    static int classOf(size_t rounded) // rounded: a multiple of 64, at most kMax
    {
        int k = 0;
        while ((size_t(64) << k) < rounded)
            ++k;
        return k;
    }
    static size_t classSize(int k) { return size_t(64) << k; }

    SmallBuffers()
    {
        for (int k = 0; k < kClasses; ++k)
            m_free[size_t(k)].reserve(limit(k));
    }
    ~SmallBuffers()
    {
        t_gone = true;
        for (auto &list : m_free)
            for (std::byte *p : list)
                std::free(p);
    }
    SmallBuffers(const SmallBuffers &) = delete;
    SmallBuffers &operator=(const SmallBuffers &) = delete;

    std::byte *take(int k)
    {
        auto &list = m_free[size_t(k)];
        if (list.empty())
            return nullptr;
        std::byte *p = list.back();
        list.pop_back();
        return p;
    }
    bool give(std::byte *p, int k) noexcept
    {
        auto &list = m_free[size_t(k)];
        if (list.size() >= limit(k))
            return false;
        list.push_back(p); // within the reserved capacity: no allocation
        return true;
    }
    // This thread's cache; nullptr while the thread ends (its cache is gone, buffers are freed directly).
    static SmallBuffers *mine()
    {
        if (kAddressSanitizer || t_gone)
            return nullptr;
        thread_local SmallBuffers cache;
        return &cache;
    }

private:
    static size_t limit(int k) { return std::clamp<size_t>((size_t(256) << 10) / classSize(k), 4, 64); }
    static thread_local bool t_gone;
    std::array<std::vector<std::byte *>, kClasses> m_free;
};

thread_local bool SmallBuffers::t_gone = false;

} // namespace

std::atomic<uint64_t> g_liveBytes{0}; // held by every tensor buffer alive

// A tensor buffer: its values, 64-byte aligned, and its bookkeeping. One of at most SmallBuffers::kMax bytes with
// its bookkeeping comes from the thread's cache as one block, the bookkeeping in the first 64 bytes; a larger one
// keeps its bookkeeping apart (a few bytes beside at least 64 KiB).
struct Tensor::Buffer : Tensor::BufferCount {
    static constexpr size_t kHeader = 64;

    static Buffer *make(size_t bytes, bool zeroFill)
    {
        static_assert(sizeof(Buffer) <= kHeader);
        keepFreedBuffersInHeap();
        // The budget holds for all tensors together too: many allocations within it one by one (a graph whose
        // every node makes a tensor just below it) end in a cw::Error, not in the kernel's out-of-memory kill.
        const uint64_t budget = memoryBudget(), before = g_liveBytes.fetch_add(bytes);
        if (before + bytes > budget) {
            g_liveBytes.fetch_sub(bytes);
            throw Error("a tensor of " + byteText(bytes) + " would bring the tensors in memory to " +
                        byteText(before + bytes) + ", more than the memory budget of " + byteText(budget) +
                        " (set CW_MEMORY_BUDGET to allow more)");
        }
        const size_t rounded = std::max<size_t>((bytes + 63) / 64 * 64, 64);
        Buffer *b = nullptr;
        if (rounded + kHeader <= SmallBuffers::kMax) {
            const int k = SmallBuffers::classOf(rounded + kHeader);
            SmallBuffers *cache = SmallBuffers::mine();
            std::byte *block = cache ? cache->take(k) : nullptr;
            if (!block) // under AddressSanitizer (no cache) just what the values take: a read past them is caught
                block = allocate(kAddressSanitizer ? kHeader + rounded : SmallBuffers::classSize(k));
            if (!block) {
                g_liveBytes.fetch_sub(bytes);
                throw Error("out of memory allocating " + byteText(bytes));
            }
            b = new (block) Buffer;
            b->ptr = block + kHeader;
            b->smallClass = k;
        } else {
            b = new (std::nothrow) Buffer;
            if (!b) {
                g_liveBytes.fetch_sub(bytes);
                throw Error("out of memory allocating " + byteText(bytes));
            }
            if (rounded >= LargeBuffers::kMin) {
                b->capacity = LargeBuffers::rounded(rounded);
                b->ptr = largeBuffers().take(b->capacity);
            }
            if (!b->ptr)
                b->ptr = allocate(b->capacity ? b->capacity : rounded);
            if (!b->ptr) {
                delete b;
                g_liveBytes.fetch_sub(bytes);
                throw Error("out of memory allocating " + byteText(bytes));
            }
        }
        b->size = bytes;
        if (zeroFill)
            std::memset(b->ptr, 0, rounded);
        return b;
    }
    static void destroy(Buffer *b) noexcept
    {
        g_liveBytes.fetch_sub(b->size);
        if (b->smallClass >= 0) {
            std::byte *block = b->ptr - kHeader;
            const int k = b->smallClass;
            b->~Buffer();
            SmallBuffers *cache = SmallBuffers::mine();
            if (!cache || !cache->give(block, k))
                std::free(block);
            return;
        }
        if (b->capacity)
            largeBuffers().give(b->ptr, b->capacity);
        else
            std::free(b->ptr);
        delete b;
    }

    std::byte *ptr = nullptr;
    size_t size = 0;
    size_t capacity = 0; // a large buffer's allocated size (LargeBuffers), else 0
    int smallClass = -1; // a small block's size class (SmallBuffers), else -1

private:
    // 64-byte aligned; once more after freeing the kept large buffers when the first attempt fails.
    static std::byte *allocate(size_t bytes)
    {
        auto *p = static_cast<std::byte *>(std::aligned_alloc(64, bytes));
        if (!p) {
            largeBuffers().flush();
            p = static_cast<std::byte *>(std::aligned_alloc(64, bytes));
        }
        return p;
    }
};

Tensor::Buffer *Tensor::BufferRef::get() const { return static_cast<Buffer *>(m_p); }

void Tensor::BufferRef::release(BufferCount *buffer) noexcept { Buffer::destroy(static_cast<Buffer *>(buffer)); }

size_t dtypeSize(DType type)
{
    switch (type) {
    case DType::Float32: return 4;
    case DType::Int8: return 1;
    case DType::UInt8: return 1;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::Float16: return 2;
    case DType::BFloat16: return 2;
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
    case DType::Float16: return "float16";
    case DType::BFloat16: return "bfloat16";
    }
    return "?";
}

bool dtypeFromName(const std::string &name, DType *out)
{
    for (DType t : {DType::Float32, DType::Int8, DType::UInt8, DType::Int32, DType::Int64, DType::Float16,
                    DType::BFloat16}) {
        if (name == dtypeName(t)) {
            *out = t;
            return true;
        }
    }
    return false;
}

// ---- 16-bit floats -------------------------------------------------------------------------------------------

namespace {
uint32_t bitsOf(float f)
{
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}
float floatOf(uint32_t u)
{
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
} // namespace

float float16ToFloat(uint16_t h)
{
    const uint32_t sign = uint32_t(h & 0x8000) << 16;
    const uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    if (exponent == 0x1f) // Inf / NaN (payload kept)
        return floatOf(sign | 0x7f800000 | (mantissa << 13));
    if (exponent == 0) { // zero / subnormal: mantissa * 2^-24, exact in float
        const float v = float(mantissa) * 0x1p-24f;
        return sign ? -v : v;
    }
    return floatOf(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

uint16_t floatToFloat16(float value)
{
    const uint32_t x = bitsOf(value);
    const uint16_t sign = uint16_t((x >> 16) & 0x8000);
    const uint32_t a = x & 0x7fffffff;
    if (a >= 0x7f800000) // Inf, or NaN made quiet with the top of its payload
        return uint16_t(sign | (a > 0x7f800000 ? 0x7e00 | ((a >> 13) & 0x3ff) : 0x7c00));
    if (a >= 0x477ff000) // >= 65520 = 65504 + half an ulp: rounds to Inf
        return uint16_t(sign | 0x7c00);
    if (a < 0x38800000) { // below 2^-14: a subnormal (unit 2^-24) or zero
        if (a < 0x33000000) // below 2^-25 (half the smallest subnormal; 2^-25 itself ties to 0)
            return sign;
        const uint32_t exponent = a >> 23, mantissa = (a & 0x7fffff) | 0x800000;
        const uint32_t shift = 126 - exponent; // 14..24
        uint32_t r = mantissa >> shift;
        const uint32_t rest = mantissa & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rest > half || (rest == half && (r & 1)))
            ++r;
        return uint16_t(sign | r);
    }
    const uint32_t v = a - 0x38000000; // rebias the exponent from 127 to 15
    uint32_t r = v >> 13;
    const uint32_t rest = v & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (r & 1)))
        ++r; // a carry into the exponent is the right result
    return uint16_t(sign | r);
}

float bfloat16ToFloat(uint16_t bits)
{
    return floatOf(uint32_t(bits) << 16);
}

uint16_t floatToBFloat16(float value)
{
    const uint32_t x = bitsOf(value);
    if ((x & 0x7fffffff) > 0x7f800000)
        return uint16_t((x >> 16) | 0x40); // NaN: keep it a (quiet) NaN whatever the low payload bits were
    // Round to nearest even on the low 16 bits; overflow carries into the exponent and ends at Inf.
    return uint16_t((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

void float16ToFloat(const uint16_t *src, float *dst, int64_t n)
{
    int64_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(src + i))));
#endif
    for (; i < n; ++i)
        dst[i] = float16ToFloat(src[i]);
}

void floatToFloat16(const float *src, uint16_t *dst, int64_t n)
{
    int64_t i = 0;
#ifdef __F16C__
    // The immediate rounding mode overrides MXCSR; the hardware quiets NaNs the same way as the scalar code.
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128(reinterpret_cast<__m128i *>(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
    for (; i < n; ++i)
        dst[i] = floatToFloat16(src[i]);
}

void bfloat16ToFloat(const uint16_t *src, float *dst, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        dst[i] = bfloat16ToFloat(src[i]);
}

void floatToBFloat16(const float *src, uint16_t *dst, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        dst[i] = floatToBFloat16(src[i]);
}

int64_t checkedMul(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        throw Error("size overflow: " + std::to_string(a) + " * " + std::to_string(b) + " does not fit 64 bits");
    return r;
}

int64_t checkedAdd(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        throw Error("size overflow: " + std::to_string(a) + " + " + std::to_string(b) + " does not fit 64 bits");
    return r;
}

int64_t shapeNumel(const Shape &shape)
{
    // The product of the non-zero dimensions must fit too, so that an empty tensor's strides (the products of
    // trailing dimensions) do not overflow either: [0, 2^62, 4] holds nothing but is refused.
    int64_t n = 1;
    bool empty = false;
    for (int64_t d : shape) {
        if (d < 0)
            throw Error("shape " + shapeToString(shape) + " has a negative dimension");
        if (d == 0)
            empty = true;
        else if (__builtin_mul_overflow(n, d, &n))
            throw Error("shape " + shapeToString(shape) + " has dimensions whose product does not fit 64 bits");
    }
    return empty ? 0 : n;
}

size_t shapeByteSize(const Shape &shape, DType type)
{
    int64_t bytes;
    if (__builtin_mul_overflow(shapeNumel(shape), int64_t(dtypeSize(type)), &bytes))
        throw Error("a " + std::string(dtypeName(type)) + " tensor of shape " + shapeToString(shape) +
                    " has more bytes than fit 64 bits");
    return size_t(bytes);
}

namespace {

std::atomic<uint64_t> g_budget{0}; // 0: not read yet

uint64_t defaultMemoryBudget()
{
    if (const char *env = std::getenv("CW_MEMORY_BUDGET"); env && *env) {
        if (const uint64_t bytes = parseByteSize(env))
            return bytes;
    }
    const long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGE_SIZE);
    if (pages <= 0 || pageSize <= 0)
        return uint64_t(8) << 30;
    return uint64_t(pages) * uint64_t(pageSize) / 2;
}

} // namespace

uint64_t memoryBudget()
{
    uint64_t b = g_budget.load(std::memory_order_relaxed);
    if (b == 0) {
        b = defaultMemoryBudget();
        g_budget.store(b, std::memory_order_relaxed);
    }
    return b;
}

void setMemoryBudget(uint64_t bytes)
{
    g_budget.store(bytes, std::memory_order_relaxed);
}

uint64_t liveTensorBytes()
{
    return g_liveBytes.load(std::memory_order_relaxed);
}

// VmHWM, the high-water mark of this process's own address space. Not getrusage's ru_maxrss: Linux carries that
// across execve from the address space it replaces, which for a child started by posix_spawn (vfork semantics)
// is the parent's, so a small child of a large program would report the program's peak.
uint64_t peakRssBytes()
{
    if (FILE *status = std::fopen("/proc/self/status", "r")) {
        char line[256];
        unsigned long long kib = 0;
        bool found = false;
        while (!found && std::fgets(line, sizeof line, status))
            found = std::sscanf(line, "VmHWM: %llu kB", &kib) == 1;
        std::fclose(status);
        if (found)
            return uint64_t(kib) * 1024;
    }
    rusage usage{};
    return getrusage(RUSAGE_SELF, &usage) == 0 ? uint64_t(usage.ru_maxrss) * 1024 : 0; // ru_maxrss is in KiB
}

void checkMemoryBudget(uint64_t bytes, const std::string &what)
{
    const uint64_t budget = memoryBudget();
    if (bytes > budget)
        throw Error(what + " needs " + byteText(bytes) + ", more than the memory budget of " + byteText(budget) +
                    " (set CW_MEMORY_BUDGET to allow more)");
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
    const size_t bytes = shapeByteSize(m_shape, m_dtype);
    if (bytes > memoryBudget()) // the message only when it is needed: this runs for every tensor made
        checkMemoryBudget(bytes, "a " + std::string(dtypeName(m_dtype)) + " tensor of shape " + shapeToString(m_shape));
    m_buffer = BufferRef(Buffer::make(bytes, zeroFill));
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
    if (!values.empty()) // memcpy from an empty vector's null data is undefined even for 0 bytes
        std::memcpy(t.rawData(), values.data(), values.size() * sizeof(float));
    return t;
}

Tensor Tensor::fromInt64s(Shape shape, const std::vector<int64_t> &values)
{
    Tensor t = uninitialized(DType::Int64, std::move(shape));
    if (size_t(t.numel()) != values.size())
        throw Error("fromInt64s: " + std::to_string(values.size()) + " values for shape " + shapeToString(t.shape()));
    if (!values.empty())
        std::memcpy(t.rawData(), values.data(), values.size() * sizeof(int64_t));
    return t;
}

void *Tensor::rawData()
{
    return m_buffer ? m_buffer.get()->ptr + m_offset : nullptr;
}

const void *Tensor::rawData() const
{
    return m_buffer ? m_buffer.get()->ptr + m_offset : nullptr;
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
// Floating point to integer saturates to the integer type's range and maps NaN to 0: a plain conversion of a
// value outside the range (an infinity, a float16 overflow) is undefined behaviour in C++.
template <typename Src, typename Dst> void convert(const Src *src, Dst *dst, int64_t n)
{
    if constexpr (std::is_floating_point_v<Src> && std::is_integral_v<Dst>) {
        constexpr Dst lo = std::numeric_limits<Dst>::lowest(), hi = std::numeric_limits<Dst>::max();
        for (int64_t i = 0; i < n; ++i) {
            const Src v = src[i];
            dst[i] = v != v ? Dst(0) : v <= Src(lo) ? lo : v >= Src(hi) ? hi : static_cast<Dst>(v);
        }
    } else {
        for (int64_t i = 0; i < n; ++i)
            dst[i] = static_cast<Dst>(src[i]);
    }
}

template <typename Src> void convertFrom(const Src *src, Tensor &dst, int64_t n)
{
    switch (dst.dtype()) {
    case DType::Float32: convert(src, dst.data<float>(), n); break;
    case DType::Int8: convert(src, dst.data<int8_t>(), n); break;
    case DType::UInt8: convert(src, dst.data<uint8_t>(), n); break;
    case DType::Int32: convert(src, dst.data<int32_t>(), n); break;
    case DType::Int64: convert(src, dst.data<int64_t>(), n); break;
    case DType::Float16:
    case DType::BFloat16: assert(false && "16-bit floats are converted through float32"); break;
    }
}
} // namespace

Tensor Tensor::castTo(DType type) const
{
    if (type == m_dtype)
        return *this;
    const int64_t n = numel();
    // The 16-bit floats go through float32: widening is exact, and float32 -> 16 bits rounds once.
    if (isHalfType(m_dtype)) {
        Tensor wide = uninitialized(DType::Float32, m_shape);
        const auto *bits = static_cast<const uint16_t *>(rawData());
        if (m_dtype == DType::Float16)
            float16ToFloat(bits, wide.f32(), n);
        else
            bfloat16ToFloat(bits, wide.f32(), n);
        return type == DType::Float32 ? wide : wide.castTo(type);
    }
    if (isHalfType(type)) {
        const Tensor wide = castTo(DType::Float32);
        Tensor out = uninitialized(type, m_shape);
        auto *bits = static_cast<uint16_t *>(out.rawData());
        if (type == DType::Float16)
            floatToFloat16(wide.f32(), bits, n);
        else
            floatToBFloat16(wide.f32(), bits, n);
        return out;
    }
    Tensor out = uninitialized(type, m_shape);
    switch (m_dtype) {
    case DType::Float32: convertFrom(data<float>(), out, n); break;
    case DType::Int8: convertFrom(data<int8_t>(), out, n); break;
    case DType::UInt8: convertFrom(data<uint8_t>(), out, n); break;
    case DType::Int32: convertFrom(data<int32_t>(), out, n); break;
    case DType::Int64: convertFrom(data<int64_t>(), out, n); break;
    case DType::Float16:
    case DType::BFloat16: break; // handled above
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
