#include "core/runtime/onednn.h"

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/base/cpu.h"
#include "core/runtime/ops.h"

namespace cw::onednn {

ConvDims convDims(const ConvGeometry &g)
{
    ConvDims d;
    d.src = {g.batch, g.inChannels, g.inH, g.inW};
    d.dst = {g.batch, g.outChannels, g.outH, g.outW};
    d.strides = {g.strideH, g.strideW};
    d.dilates = {g.dilationH - 1, g.dilationW - 1}; // oneDNN counts the gaps, ONNX the step
    d.padL = {g.padTop, g.padLeft};
    d.padR = {g.padBottom, g.padRight};
    if (g.group == 1) {
        d.weights = {g.outChannels, g.inChannels, g.kH, g.kW};
        d.weightsTag = dnnl::memory::format_tag::oihw;
    } else {
        d.weights = {g.group, g.outChannels / g.group, g.inChannels / g.group, g.kH, g.kW};
        d.weightsTag = dnnl::memory::format_tag::goihw;
    }
    return d;
}

Slices sliceRows(int64_t n, int threads)
{
    if (n < 1)
        return {0, 0, 0};
    const int64_t slices = threads > 1 ? std::min<int64_t>(n, int64_t(threads) * 4) : 1;
    const int64_t size = (n + slices - 1) / slices;
    const int64_t count = (n + size - 1) / size;
    return {size, count, n - (count - 1) * size};
}

namespace {

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

dnnl::engine &cpuEngine()
{
    static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    return engine;
}

// oneDNN sizes its OpenMP team from omp_get_max_threads(), a per-thread setting: set it for the call.
class OmpThreads {
public:
    explicit OmpThreads(int threads) : m_previous(omp_get_max_threads())
    {
        if (threads != m_previous)
            omp_set_num_threads(threads);
    }
    ~OmpThreads()
    {
        if (omp_get_max_threads() != m_previous)
            omp_set_num_threads(m_previous);
    }
    OmpThreads(const OmpThreads &) = delete;
    OmpThreads &operator=(const OmpThreads &) = delete;

private:
    int m_previous;
};

// CW_ONEDNN_LAYOUT=plain|nhwc|any overrides the activation layout choice (for measurements).
std::string layoutOverride()
{
    static const std::string layout = [] {
        const char *v = std::getenv("CW_ONEDNN_LAYOUT");
        return std::string(v ? v : "");
    }();
    return layout;
}

// Primitives take their scratch memory from the caller. In oneDNN's default library mode, Debian's build
// (without DNNL_ENABLE_CONCURRENT_EXEC) shares one scratchpad between primitives, and two threads executing
// convolutions at once corrupted each other's buffers.
dnnl::primitive_attr userScratchpad()
{
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
}

// Slots of threadBuffer for a float convolution: its scratchpad and the blocked copies of its input and output.
// Allocating the blocked copies per call (as oneDNN does for a memory object without a handle) cost a page fault
// per 4 KiB on every call once they pass glibc's mmap threshold: a fifth of the time of imgly's network at
// 1024 x 1024.
enum Slot { kScratchpad = 0, kBlockedSrc = 1, kBlockedDst = 2 };

dnnl::memory threadMemory(Slot slot, const dnnl::memory::desc &desc)
{
    return dnnl::memory(desc, cpuEngine(), threadBuffer(slot, desc.get_size()));
}

dnnl::memory scratchpadFor(const dnnl::memory::desc &desc)
{
    return threadMemory(kScratchpad, desc);
}

std::string algorithmOverride()
{
    static const std::string name = [] {
        const char *v = std::getenv("CW_ONEDNN_ALG");
        return std::string(v ? v : "");
    }();
    return name;
}

int envMode()
{
    static const int mode = [] {
        const char *v = std::getenv("CW_ONEDNN");
        if (!v || !*v)
            return -1;
        return std::atoi(v) != 0 ? 1 : 0;
    }();
    return mode;
}

// The largest scratchpad a Winograd convolution may take before the direct algorithm is preferred (per thread).
constexpr size_t kWinogradScratchpad = size_t(128) << 20;

// The layouts of the caller's activation buffers (runtime/blocked.h): the input plain NCHW (srcBlock 0) or
// channel-blocked by srcBlock channels; the output plain, or (blockedDst) in the blocked layout the convolution
// computes in, when it computes in one.
struct Outer {
    int64_t srcBlock = 0;
    bool blockedDst = false;
};

// Everything that determines the primitive: geometry, bias presence, the fused activations, the thread count
// (oneDNN splits work by the thread count it sees at creation), whether Winograd may be chosen, and the layouts
// of the caller's buffers.
using ConvKey = std::vector<int64_t>;

ConvKey convKey(const ConvGeometry &g, bool bias, const std::vector<Activation> &activations, int threads,
                bool winograd, Outer outer)
{
    ConvKey key{g.batch,    g.inChannels, g.inH,     g.inW,      g.outChannels, g.outH,           g.outW,
                g.kH,       g.kW,         g.strideH, g.strideW,  g.dilationH,   g.dilationW,      g.padTop,
                g.padLeft,  g.padBottom,  g.padRight, g.group,   bias ? 1 : 0,  int64_t(threads), winograd ? 1 : 0,
                outer.srcBlock, outer.blockedDst ? 1 : 0};
    for (const Activation &a : activations) {
        uint32_t alpha, beta;
        std::memcpy(&alpha, &a.alpha, 4);
        std::memcpy(&beta, &a.beta, 4);
        key.insert(key.end(), {int64_t(a.kind), int64_t(alpha), int64_t(beta)});
    }
    return key;
}

// The activations as oneDNN post-ops, applied to the convolution's output before it is stored.
dnnl::post_ops postOps(const std::vector<Activation> &activations)
{
    using alg = dnnl::algorithm;
    dnnl::post_ops ops;
    for (const Activation &a : activations) {
        switch (a.kind) {
        case Activation::Kind::Relu: ops.append_eltwise(1.f, alg::eltwise_relu, 0.f, 0.f); break;
        case Activation::Kind::LeakyRelu: ops.append_eltwise(1.f, alg::eltwise_relu, a.alpha, 0.f); break;
        case Activation::Kind::Clip: ops.append_eltwise(1.f, alg::eltwise_clip, a.alpha, a.beta); break;
        case Activation::Kind::HardSwish: // oneDNN 2.6 ignores alpha and beta; later versions use them
            ops.append_eltwise(1.f, alg::eltwise_hardswish, 1.f / 6.f, 0.5f);
            break;
        case Activation::Kind::HardSigmoid:
            ops.append_eltwise(1.f, alg::eltwise_linear, a.alpha, a.beta);
            ops.append_eltwise(1.f, alg::eltwise_clip, 0.f, 1.f);
            break;
        case Activation::Kind::Sigmoid: ops.append_eltwise(1.f, alg::eltwise_logistic, 0.f, 0.f); break;
        case Activation::Kind::Tanh: ops.append_eltwise(1.f, alg::eltwise_tanh, 0.f, 0.f); break;
        }
    }
    return ops;
}

struct ConvEntry {
    // Distinct for every entry ever made (the memory objects of its executions are found by it: boundMemory).
    const uint64_t id = [] {
        static std::atomic<uint64_t> next{0};
        return ++next;
    }();
    bool ok = false; // false: oneDNN rejected the geometry; remembered so the fallback is immediate
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward conv;
    // The layouts of the caller's buffers (Outer), and the block of the output's (0: plain).
    dnnl::memory::desc srcOuter, dstOuter, weightsPlain, biasDesc;
    int64_t dstBlock = 0;
    bool reorderSrc = false, reorderDst = false;
    // Activations applied after the primitive, on the plain output, when it does not take them as post-ops
    // cheaply: oneDNN 2.6's gemm-based convolution (plain layouts) applies post-ops element by element in
    // reference code, ~14x the time of the convolution on the demos' first layer.
    std::vector<Activation> after;
    dnnl::reorder srcReorder, dstReorder;
    dnnl::memory::desc srcReorderScratchpad, dstReorderScratchpad;

    // Weights in the primitive's layout. A Session's weights (`constant`: not written while it lives) are found
    // again by their buffer, which the entry keeps alive so that its address cannot come back holding other
    // weights, and the id the Session gave them or else a fingerprint of their bytes (weightFingerprint), as the
    // int8 kernels do: comparing every byte on each call was 13 % of silero-vad's run. Other callers may write
    // weights in place through a pointer they hold (training, gradient checks), so their entries keep the plain
    // values and a hit needs the same address and the same contents. A few entries are kept because sessions of different models
    // may share a geometry.
    struct Packed {
        const void *source = nullptr;
        std::vector<std::byte> plain; // the values packed (callers that may write in place)
        Tensor holder;                // the weight itself (a Session's)
        uint64_t fingerprint = 0;     // or the caller's id (WeightsIdentity)
        bool byId = false;
        dnnl::memory packed;
    };
    bool weightsPlainOk = false; // the primitive takes OIHW weights as they are
    std::mutex weightsMutex;
    std::deque<Packed> weights;
};

class ConvCache {
public:
    std::shared_ptr<ConvEntry> get(const ConvGeometry &g, bool bias, const std::vector<Activation> &activations,
                                   int threads, bool winograd, Outer outer = {})
    {
        const ConvKey key = convKey(g, bias, activations, threads, winograd, outer);
        {
            std::lock_guard lock(m_mutex);
            auto it = m_entries.find(key);
            if (it != m_entries.end())
                return it->second;
        }
        // Built outside the lock: primitive creation (JIT code generation) takes a while.
        std::shared_ptr<ConvEntry> entry = create(g, bias, activations, winograd, outer);
        std::lock_guard lock(m_mutex);
        if (m_entries.size() >= kMaxEntries)
            m_entries.clear(); // crude but bounded; a workload rarely has this many distinct convolutions
        return m_entries.emplace(key, entry).first->second;
    }

private:
    static constexpr size_t kMaxEntries = 512;

    static std::shared_ptr<ConvEntry> create(const ConvGeometry &g, bool bias, const std::vector<Activation> &activations,
                                             bool winograd, Outer outer)
    {
        auto e = std::make_shared<ConvEntry>();
        const auto [src, dst, weights, strides, dilates, padL, padR, weightsTag] = convDims(g);
        const auto blockTag = [](int64_t block) { return block == 16 ? tag::nChw16c : tag::nChw8c; };
        e->srcOuter = dnnl::memory::desc(src, dt::f32, outer.srcBlock ? blockTag(outer.srcBlock) : tag::nchw);
        const dnnl::memory::desc dstPlain(dst, dt::f32, tag::nchw);
        e->weightsPlain = dnnl::memory::desc(weights, dt::f32, weightsTag);
        e->biasDesc = bias ? dnnl::memory::desc({g.outChannels}, dt::f32, tag::x) : dnnl::memory::desc();
        // Activation layouts to try, best first. Channel-blocked (nChw16c) activations run oneDNN's direct
        // JIT convolution, which with the two reorders is still ~2x faster than the plain-layout path once
        // there are 16 input channels per group; with fewer, the plain layout (oneDNN's im2col + JIT gemm)
        // wins because a blocked input would be mostly padding. On a CPU without AVX-512, oneDNN's direct
        // convolution (jit:avx2) takes blocks of 8 channels and has only a reference implementation for 16:
        // nChw8c there (openwakeword's embedding model on an AVX2 machine: 5.5 -> 3.6 ms, where every
        // convolution had fallen back to the gemm path). Reference implementations are refused: the engine's
        // own im2col path is faster than them. A convolution with few input channels reads them plain and
        // writes the blocked layout oneDNN picks (its direct "first layer" kernel): on openwakeword's embedding
        // model (1 -> 24 channels, 3 x 3 on 76 x 32) that is 0.05 ms against 0.71 ms for im2col + gemm.
        struct Layouts {
            tag src, dst;
        };
        std::vector<Layouts> layouts;
        const std::string forced = layoutOverride();
        if (forced == "plain")
            layouts = {{tag::nchw, tag::nchw}};
        else if (forced == "nhwc")
            layouts = {{tag::nhwc, tag::nhwc}};
        else if (forced == "any")
            layouts = {{tag::any, tag::any}};
        else if (g.inChannels / g.group >= 16)
            layouts = {{tag::nChw16c, tag::nChw16c}, {tag::nChw8c, tag::nChw8c}, {tag::nchw, tag::nchw}};
        else
            layouts = {{tag::nchw, tag::any}, {tag::nchw, tag::nchw}};
        // Algorithms to try, best first. convolution_auto takes Winograd F(4x4, 3x3) on its own only for small
        // images; asked for explicitly, it is also faster on large ones (imgly's network at 1024 x 1024:
        // 1.66 s -> 1.11 s) and within 1e-6 of the direct result at the demo models' scale, at the price of a
        // scratchpad that grows with the image (taken while that stays under kWinogradScratchpad) and of
        // transformed weights about four times the plain ones: a caller that runs once (`winograd` false,
        // SessionOptions::runOnce) gets the direct algorithm, which is faster for one call and keeps `cwb run`'s
        // peak memory below onnxruntime's. CW_ONEDNN_ALG=direct / winograd force one.
        using alg = dnnl::algorithm;
        std::vector<alg> algorithms{alg::convolution_auto};
        const bool winogradShape = g.kH == 3 && g.kW == 3 && g.strideH == 1 && g.strideW == 1 && g.dilationH == 1 &&
                                   g.dilationW == 1 && g.group == 1;
        if (algorithmOverride() == "direct")
            algorithms = {alg::convolution_direct};
        else if (algorithmOverride() == "winograd")
            algorithms = {alg::convolution_winograd};
        else if (winogradShape && winograd)
            algorithms = {alg::convolution_winograd, alg::convolution_auto};
        // The plain layout runs on oneDNN's gemm-based convolution: its activations are applied afterwards.
        for (const Layouts layout : layouts) {
            const bool postOpsHere = layout.dst != tag::nchw;
            for (alg algorithm : algorithms) {
            try {
                const dnnl::memory::desc srcDesc(src, dt::f32, layout.src);
                const dnnl::memory::desc dstDesc(dst, dt::f32, layout.dst);
                const dnnl::memory::desc weightsAny(weights, dt::f32, tag::any);
                const auto kind = dnnl::prop_kind::forward_inference;
                const dnnl::convolution_forward::desc desc =
                    bias ? dnnl::convolution_forward::desc(kind, algorithm, srcDesc, weightsAny, e->biasDesc, dstDesc,
                                                           strides, dilates, padL, padR)
                         : dnnl::convolution_forward::desc(kind, algorithm, srcDesc, weightsAny, dstDesc, strides,
                                                           dilates, padL, padR);
                dnnl::primitive_attr attr = userScratchpad();
                if (!activations.empty() && postOpsHere)
                    attr.set_post_ops(postOps(activations));
                dnnl::convolution_forward::primitive_desc pd(desc, attr, cpuEngine());
                const std::string impl = pd.impl_info_str();
                if (impl.rfind("ref", 0) == 0 || (postOpsHere && impl.find("gemm") != std::string::npos))
                    continue;
                if (algorithm == alg::convolution_winograd && algorithms.size() > 1 &&
                    pd.scratchpad_desc().get_size() > kWinogradScratchpad)
                    continue;
                e->pd = pd;
                e->conv = dnnl::convolution_forward(e->pd);
                e->after = postOpsHere ? std::vector<Activation>() : activations;
                e->weightsPlainOk = e->pd.weights_desc() == e->weightsPlain;
                e->dstOuter = dstPlain;
                for (int64_t block : {8, 16})
                    if (outer.blockedDst && g.outChannels % block == 0 &&
                        e->pd.dst_desc() == dnnl::memory::desc(dst, dt::f32, blockTag(block))) {
                        e->dstOuter = e->pd.dst_desc();
                        e->dstBlock = block;
                    }
                e->reorderSrc = e->pd.src_desc() != e->srcOuter;
                e->reorderDst = e->pd.dst_desc() != e->dstOuter;
                if (e->reorderSrc) {
                    const dnnl::reorder::primitive_desc rpd(cpuEngine(), e->srcOuter, cpuEngine(), e->pd.src_desc(),
                                                            userScratchpad());
                    e->srcReorder = dnnl::reorder(rpd);
                    e->srcReorderScratchpad = rpd.scratchpad_desc();
                }
                if (e->reorderDst) {
                    const dnnl::reorder::primitive_desc rpd(cpuEngine(), e->pd.dst_desc(), cpuEngine(), e->dstOuter,
                                                            userScratchpad());
                    e->dstReorder = dnnl::reorder(rpd);
                    e->dstReorderScratchpad = rpd.scratchpad_desc();
                }
                e->ok = true;
                break;
            } catch (const dnnl::error &) {
                e->ok = false;
            }
            }
            if (e->ok)
                break;
        }
        return e;
    }

    std::mutex m_mutex;
    std::map<ConvKey, std::shared_ptr<ConvEntry>> m_entries;
};

ConvCache &convCache()
{
    static ConvCache cache;
    return cache;
}

dnnl::stream &threadStream()
{
    thread_local dnnl::stream stream(cpuEngine());
    return stream;
}

dnnl::memory packedWeights(ConvEntry &e, const Tensor &w, WeightsIdentity identity, dnnl::stream &stream)
{
    if (e.weightsPlainOk)
        return dnnl::memory(e.weightsPlain, cpuEngine(), const_cast<void *>(w.rawData()));
    constexpr size_t kEntries = 4;
    const auto *bytes = static_cast<const std::byte *>(w.rawData());
    const size_t size = w.byteSize();
    const bool constant = identity.constant, byId = constant && identity.id != 0;
    const uint64_t print = byId ? identity.id : constant ? weightFingerprint(w) : 0;
    std::lock_guard lock(e.weightsMutex);
    for (const ConvEntry::Packed &p : e.weights) {
        if (p.source != bytes)
            continue;
        if (constant ? !p.holder.isNull() && p.holder.byteSize() == size && p.byId == byId && p.fingerprint == print
                     : p.holder.isNull() && p.plain.size() == size && std::memcmp(p.plain.data(), bytes, size) == 0)
            return p.packed;
    }
    ConvEntry::Packed p;
    p.source = bytes;
    if (constant) {
        p.holder = w;
        p.byId = byId;
        p.fingerprint = print;
    } else {
        p.plain.assign(bytes, bytes + size);
    }
    p.packed = dnnl::memory(e.pd.weights_desc(), cpuEngine());
    dnnl::memory plain(e.weightsPlain, cpuEngine(), constant ? const_cast<std::byte *>(bytes) : p.plain.data());
    const dnnl::reorder::primitive_desc rpd(cpuEngine(), e.weightsPlain, cpuEngine(), e.pd.weights_desc(),
                                            userScratchpad());
    dnnl::reorder(rpd).execute(stream, {{DNNL_ARG_FROM, plain},
                                        {DNNL_ARG_TO, p.packed},
                                        {DNNL_ARG_SCRATCHPAD, scratchpadFor(rpd.scratchpad_desc())}});
    stream.wait();
    if (e.weights.size() >= kEntries)
        e.weights.pop_front();
    e.weights.push_back(std::move(p));
    return e.weights.back().packed;
}

} // namespace

bool convPreferred(const ConvGeometry &g, int threads)
{
    const int mode = envMode();
    if (mode >= 0)
        return mode == 1;
    // Depthwise convolutions have a direct loop in ops/conv.cpp.
    if (g.group > 1 && g.inChannels == g.group)
        return false;
    // With AVX-512, a short reduction over many output positions whose im2col matrix stays small (oww-embedding's
    // first three layers: 1 -> 24 3 x 3, 24 -> 24 1 x 3 and 3 x 1, at 74 x 32): oneDNN's direct convolution, which
    // computes 16 channels at a time there, ran at 10-24 multiply-adds per ns, im2col and one gemm 1.5-2.6 times as
    // fast. Its AVX2 kernels, 8 channels at a time, did not lose (docs/performance.md, "Short reductions").
    constexpr int64_t kShortReduction = 72, kManyPositions = 1024, kSmallColumns = int64_t(1) << 20;
    const int64_t K = g.colRows(), P = g.colCols();
    if (K <= kShortReduction && P >= kManyPositions && K * P <= kSmallColumns && cpuHas(CpuFeature::Avx512Bw))
        return false;
    // Everything else is measured to win.
    return true;
}

namespace {

// The memory objects and argument lists of an entry's executions on one thread, made once and pointed at each
// call's buffers: making them per call (up to nine memory objects and three hash maps) was ~6 % of silero-vad's
// run, which executes three dozen small convolutions.
struct BoundMemory {
    dnnl::memory src, dst, blockedSrc, blockedDst, bias, scratchpad, srcScratchpad, dstScratchpad;
    std::unordered_map<int, dnnl::memory> conv, srcReorder, dstReorder;
};

BoundMemory &boundMemory(const ConvEntry &e)
{
    return threadBound<BoundMemory>(e.id, [&](BoundMemory &b) {
        const auto none = [](const dnnl::memory::desc &desc) {
            return dnnl::memory(desc, cpuEngine(), DNNL_MEMORY_NONE);
        };
        b.src = none(e.srcOuter);
        b.dst = none(e.dstOuter);
        b.scratchpad = none(e.pd.scratchpad_desc());
        b.conv = {{DNNL_ARG_SRC, b.src}, {DNNL_ARG_DST, b.dst}, {DNNL_ARG_SCRATCHPAD, b.scratchpad}};
        if (!e.biasDesc.is_zero()) {
            b.bias = none(e.biasDesc);
            b.conv[DNNL_ARG_BIAS] = b.bias;
        }
        if (e.reorderSrc) {
            b.blockedSrc = none(e.pd.src_desc());
            b.srcScratchpad = none(e.srcReorderScratchpad);
            b.srcReorder = {
                {DNNL_ARG_FROM, b.src}, {DNNL_ARG_TO, b.blockedSrc}, {DNNL_ARG_SCRATCHPAD, b.srcScratchpad}};
            b.conv[DNNL_ARG_SRC] = b.blockedSrc;
        }
        if (e.reorderDst) {
            b.blockedDst = none(e.pd.dst_desc());
            b.dstScratchpad = none(e.dstReorderScratchpad);
            b.dstReorder = {
                {DNNL_ARG_FROM, b.blockedDst}, {DNNL_ARG_TO, b.dst}, {DNNL_ARG_SCRATCHPAD, b.dstScratchpad}};
            b.conv[DNNL_ARG_DST] = b.blockedDst;
        }
    });
}

// One oneDNN execution of an entry's convolution on the calling thread's stream.
void execute(ConvEntry &e, const float *x, const dnnl::memory &weights, const float *bias, float *y)
{
    dnnl::stream &stream = threadStream();
    BoundMemory &b = boundMemory(e);
    pointAt(b.src, const_cast<float *>(x));
    pointAt(b.dst, y);
    if (bias)
        pointAt(b.bias, const_cast<float *>(bias));
    b.conv[DNNL_ARG_WEIGHTS] = weights;
    // The scratchpads and blocked copies live in this thread's buffers (threadBuffer), which move when they grow.
    if (e.reorderSrc) {
        pointAtThreadBuffer(b.blockedSrc, kBlockedSrc);
        pointAtThreadBuffer(b.srcScratchpad, kScratchpad);
        e.srcReorder.execute(stream, b.srcReorder);
    }
    if (e.reorderDst)
        pointAtThreadBuffer(b.blockedDst, kBlockedDst);
    pointAtThreadBuffer(b.scratchpad, kScratchpad);
    e.conv.execute(stream, b.conv);
    if (e.reorderDst) {
        pointAtThreadBuffer(b.dstScratchpad, kScratchpad);
        e.dstReorder.execute(stream, b.dstReorder);
    }
    stream.wait();
    if (!e.after.empty())
        applyActivations(e.after, y, int64_t(e.dstOuter.get_size() / sizeof(float)));
}

} // namespace

void pointAt(dnnl::memory &m, void *data)
{
    if (m.get_data_handle() != data)
        m.set_data_handle(data);
}

void pointAtThreadBuffer(dnnl::memory &m, int slot)
{
    pointAt(m, threadBuffer(slot, m.get_desc().get_size()));
}

void *threadBuffer(int slot, size_t size)
{
    struct Free {
        void operator()(void *p) const { std::free(p); }
    };
    struct Buffer {
        std::unique_ptr<void, Free> data;
        size_t capacity = 0;
    };
    thread_local std::array<Buffer, kThreadBufferSlots> buffers;
    Buffer &b = buffers[size_t(slot)];
    size = std::max<size_t>(size, 64);
    if (size > b.capacity) {
        const size_t rounded = (size + 4095) / 4096 * 4096;
        b.data.reset(); // the old one first: the peak is the new size, not both
        b.capacity = 0;
        b.data.reset(std::aligned_alloc(64, rounded));
        if (!b.data)
            throw std::bad_alloc();
        b.capacity = rounded;
    }
    return b.data.get();
}

bool int8PairsSaturate()
{
    static const bool saturate = [] {
        switch (dnnl::get_effective_cpu_isa()) {
        case dnnl::cpu_isa::avx2_vnni:
        case dnnl::cpu_isa::avx512_core_vnni:
        case dnnl::cpu_isa::avx512_core_bf16:
        case dnnl::cpu_isa::avx512_core_amx: return false;
        default: return true;
        }
    }();
    return saturate;
}

bool int8WeightsSplit(const int8_t *w, int64_t count)
{
    return int8PairsSaturate() && std::any_of(w, w + count, [](int8_t v) { return v < -64 || v > 64; });
}

uint64_t newWeightsId()
{
    static std::atomic<uint64_t> next{1};
    return next++;
}

WeightsIdentity weightsIdentity(OpContext &ctx, int index)
{
    struct Id {
        uint64_t value;
    };
    if (const Id *id = ctx.preparedFromConstants<Id>({index}, [] { return Id{newWeightsId()}; }))
        return {true, id->value};
    return {ctx.constantInputs, 0};
}

uint64_t weightFingerprint(const Tensor &w)
{
    // Eight bytes at a time: the first and last 64, and 256 samples between, gathered first (independent loads)
    // and hashed in four interleaved chains so that the multiplies overlap. Far below the cost of the small
    // products it guards.
    const auto *b = static_cast<const unsigned char *>(w.rawData());
    const size_t n = w.byteSize();
    std::array<uint64_t, 280> words{}; // 16 + at most 257 samples, then zeros up to a multiple of four
    size_t count = 0;
    const auto take = [&](size_t i) { // the word at i, or the bytes from i to the end
        std::memcpy(&words[count++], b + i, std::min<size_t>(8, n - i));
    };
    for (size_t i = 0; i < std::min<size_t>(n, 64); i += 8)
        take(i);
    for (size_t i = n > 64 ? n - 64 : 0; i < n; i += 8)
        take(i);
    const size_t step = std::max<size_t>(8, n / 256);
    for (size_t i = step / 2; i < n && count < 276; i += step)
        take(i);
    uint64_t h[4] = {1469598103934665603ULL ^ n, 0x9e3779b97f4a7c15ULL, 0xc2b2ae3d27d4eb4fULL, 0x165667b19e3779f9ULL};
    for (size_t j = 0; j < count; j += 4)
        for (size_t l = 0; l < 4; ++l) { // words past `count` are zero
            h[l] = (h[l] ^ words[j + l]) * 1099511628211ULL;
            h[l] ^= h[l] >> 29;
        }
    return ((h[0] * 31 + h[1]) * 31 + h[2]) * 31 + h[3];
}

int64_t convOutputBlock(const ConvGeometry &g, bool bias, const std::vector<Activation> &activations, bool winograd,
                        int64_t srcBlock)
{
    if (srcBlock != 0 && srcBlock != 8 && srcBlock != 16)
        return -1;
    OmpThreads single(1);
    try {
        const std::shared_ptr<ConvEntry> e = convCache().get(g, bias, activations, 1, winograd, {srcBlock, !g.oneD});
        return e->ok ? e->dstBlock : -1;
    } catch (const dnnl::error &) {
        return -1;
    }
}

bool convSlice(const ConvGeometry &g, const float *x, int64_t srcBlock, const Tensor &w, WeightsIdentity weights,
               const float *bias, const std::vector<Activation> &activations, float *y, bool winograd)
{
    OmpThreads single(1);
    try {
        const std::shared_ptr<ConvEntry> e =
            convCache().get(g, bias != nullptr, activations, 1, winograd, {srcBlock, !g.oneD});
        if (!e->ok)
            return false;
        execute(*e, x, packedWeights(*e, w, weights, threadStream()), bias, y);
        return true;
    } catch (const dnnl::error &) {
        return false;
    }
}

bool convStreamsAlignedOutput(const ConvGeometry &g, bool bias, const std::vector<Activation> &activations,
                              bool winograd, int64_t srcBlock)
{
    OmpThreads single(1);
    try {
        const std::shared_ptr<ConvEntry> e = convCache().get(g, bias, activations, 1, winograd, {srcBlock, !g.oneD});
        return e->ok && !e->reorderDst && std::string(e->pd.impl_info_str()).rfind("jit_wino_4x3:avx512", 0) == 0;
    } catch (const dnnl::error &) {
        return false;
    }
}

std::string convImplementation(const ConvGeometry &g, bool winograd)
{
    const std::shared_ptr<ConvEntry> e = convCache().get(g, false, {}, 1, winograd, {});
    return e->ok ? e->pd.impl_info_str() : "";
}

bool convForward(const ConvGeometry &g, const Tensor &x, int64_t srcBlock, const Tensor &w, WeightsIdentity weights,
                 const float *bias, const std::vector<Activation> &activations, Tensor &y, int threads, bool winograd,
                 bool blockedDst)
{
    if (srcBlock != 0 && srcBlock != 8 && srcBlock != 16)
        return false;
    Outer outer{srcBlock, blockedDst && !g.oneD};
    // The output, plain or in the entry's blocked layout.
    const auto allocate = [&](const ConvEntry &e) {
        const int64_t b = e.dstBlock;
        y = Tensor::uninitialized(DType::Float32, b ? Shape{g.batch, g.outChannels / b, g.outH, g.outW, b}
                                                    : g.outputShape());
        return y.f32();
    };
    // A thread has to get about a million multiply-adds before waking it pays. On the AVX-512 machine of
    // 2026-11 the demos' convolutions (0.1-2M each) ran 1.5-5x slower on two threads than on one below 4M per
    // thread; on the AVX2 machine of 2026-12-02, 1M per thread took openwakeword's embedding model (2-4M per
    // convolution) on two threads from 2.9 to 2.1-2.4 ms and left the demos as they were.
    constexpr double kMacsPerThread = 1e6;
    const double macs = double(g.batch) * double(g.outChannels) * double(g.outH * g.outW) *
                        double(g.inChannels / g.group) * double(g.kH * g.kW);
    threads = std::clamp(int(macs / kMacsPerThread), 1, std::max(1, threads));
    // Several threads split the batch into slices (about four per thread) claimed through cw::parallelFor,
    // each run by a single-threaded oneDNN, rather than oneDNN's OpenMP team: a team waits at every barrier for
    // members the OS has not scheduled, which on a loaded machine made two threads far slower than one. With
    // fewer images than threads (one image of imgly's network at 1024 x 1024) the batch cannot be split, and a
    // convolution with work for every thread runs on a team of oneDNN's own (entries made for that team size).
    if (threads > 1 && g.batch < threads) {
        OmpThreads team(threads);
        try {
            const std::shared_ptr<ConvEntry> e =
                convCache().get(g, bias != nullptr, activations, threads, winograd, outer);
            if (!e->ok)
                return false;
            const dnnl::memory packed = packedWeights(*e, w, weights, threadStream());
            execute(*e, x.f32(), packed, bias, allocate(*e));
            return true;
        } catch (const dnnl::error &) {
            return false;
        }
    }
    const Slices slices = sliceRows(g.batch, threads);
    const int64_t sliceBatch = slices.size, sliceCount = slices.count, lastBatch = slices.last;
    if (sliceCount == 0) // an empty batch: the reference loops produce the empty output
        return false;
    OmpThreads ompThreads(1);
    try {
        ConvGeometry full = g, last = g;
        full.batch = sliceBatch;
        last.batch = lastBatch;
        std::shared_ptr<ConvEntry> e, eLast;
        const auto entries = [&] {
            e = convCache().get(full, bias != nullptr, activations, 1, winograd, outer);
            eLast = lastBatch == sliceBatch ? e : convCache().get(last, bias != nullptr, activations, 1, winograd, outer);
        };
        entries();
        if (e->ok && eLast->ok && e->dstBlock != eLast->dstBlock) { // slices must agree on the output's layout
            outer.blockedDst = false;
            entries();
        }
        if (!e->ok || !eLast->ok)
            return false;
        const dnnl::memory packed = packedWeights(*e, w, weights, threadStream());
        const dnnl::memory packedLast = eLast == e ? packed : packedWeights(*eLast, w, weights, threadStream());
        const int64_t inImage = g.inChannels * g.inH * g.inW, outImage = g.outChannels * g.outH * g.outW;
        const float *px = x.f32();
        float *py = allocate(*e);
        std::atomic<bool> failed{false};
        parallelFor(threads, sliceCount, [&](int64_t i) {
            OmpThreads single(1); // helper threads have their own OpenMP setting
            const bool isLast = i == sliceCount - 1;
            try {
                execute(isLast ? *eLast : *e, px + i * sliceBatch * inImage, isLast ? packedLast : packed, bias,
                        py + i * sliceBatch * outImage);
            } catch (const dnnl::error &) {
                failed = true;
            }
        });
        return !failed;
    } catch (const dnnl::error &) {
        return false;
    }
}

} // namespace cw::onednn
