#include "core/ops/onednn.h"

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstddef>
#include <array>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace cw::onednn {
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

// Everything that determines the primitive: geometry, bias presence and the thread count (oneDNN splits
// work by the thread count it sees at creation).
using ConvKey = std::array<int64_t, 20>;

ConvKey convKey(const ConvGeometry &g, bool bias, int threads)
{
    return {g.batch,    g.inChannels, g.inH,    g.inW,      g.outChannels, g.outH,         g.outW,
            g.kH,       g.kW,         g.strideH, g.strideW, g.dilationH,   g.dilationW,   g.padTop,
            g.padLeft,  g.padBottom,  g.padRight, g.group,  bias ? 1 : 0,  int64_t(threads)};
}

struct ConvEntry {
    bool ok = false; // false: oneDNN rejected the geometry; remembered so the fallback is immediate
    dnnl::convolution_forward::primitive_desc pd;
    dnnl::convolution_forward conv;
    dnnl::memory::desc srcPlain, dstPlain, weightsPlain, biasDesc;
    bool reorderSrc = false, reorderDst = false;
    dnnl::reorder srcReorder, dstReorder;

    // Weights in the primitive's layout, with the plain values they were packed from. A hit needs the
    // same source address *and* the same contents: callers may write weights in place through a pointer
    // they hold (training, gradient checks, pruning), and a freed buffer's address can come back with
    // another model's weights. Comparing is a fraction of the cost of repacking. A few entries are kept
    // because sessions of different models may share a geometry.
    struct Packed {
        const void *source = nullptr;
        std::vector<std::byte> plain;
        dnnl::memory packed;
    };
    bool weightsPlainOk = false; // the primitive takes OIHW weights as they are
    std::mutex weightsMutex;
    std::deque<Packed> weights;
};

class ConvCache {
public:
    std::shared_ptr<ConvEntry> get(const ConvGeometry &g, bool bias, int threads)
    {
        const ConvKey key = convKey(g, bias, threads);
        {
            std::lock_guard lock(m_mutex);
            auto it = m_entries.find(key);
            if (it != m_entries.end())
                return it->second;
        }
        // Built outside the lock: primitive creation (JIT code generation) takes a while.
        std::shared_ptr<ConvEntry> entry = create(g, bias);
        std::lock_guard lock(m_mutex);
        if (m_entries.size() >= kMaxEntries)
            m_entries.clear(); // crude but bounded; a workload rarely has this many distinct convolutions
        return m_entries.emplace(key, entry).first->second;
    }

private:
    static constexpr size_t kMaxEntries = 512;

    static std::shared_ptr<ConvEntry> create(const ConvGeometry &g, bool bias)
    {
        auto e = std::make_shared<ConvEntry>();
        const dnnl::memory::dims src = {g.batch, g.inChannels, g.inH, g.inW};
        const dnnl::memory::dims dst = {g.batch, g.outChannels, g.outH, g.outW};
        const dnnl::memory::dims strides = {g.strideH, g.strideW};
        const dnnl::memory::dims dilates = {g.dilationH - 1, g.dilationW - 1};
        const dnnl::memory::dims padL = {g.padTop, g.padLeft}, padR = {g.padBottom, g.padRight};
        dnnl::memory::dims weights;
        tag weightsTag;
        if (g.group == 1) {
            weights = {g.outChannels, g.inChannels, g.kH, g.kW};
            weightsTag = tag::oihw;
        } else {
            weights = {g.group, g.outChannels / g.group, g.inChannels / g.group, g.kH, g.kW};
            weightsTag = tag::goihw;
        }
        e->srcPlain = dnnl::memory::desc(src, dt::f32, tag::nchw);
        e->dstPlain = dnnl::memory::desc(dst, dt::f32, tag::nchw);
        e->weightsPlain = dnnl::memory::desc(weights, dt::f32, weightsTag);
        e->biasDesc = bias ? dnnl::memory::desc({g.outChannels}, dt::f32, tag::x) : dnnl::memory::desc();
        // Activation layouts to try, best first. Channel-blocked (nChw16c) activations run oneDNN's direct
        // JIT convolution, which with the two reorders is still ~2x faster than the plain-layout path once
        // there are 16 input channels per group; with fewer, the plain layout (oneDNN's im2col + JIT gemm)
        // wins because a blocked input would be mostly padding. Reference implementations are refused:
        // the engine's own im2col path is faster than them.
        std::vector<tag> layouts;
        const std::string forced = layoutOverride();
        if (forced == "plain")
            layouts = {tag::nchw};
        else if (forced == "nhwc")
            layouts = {tag::nhwc};
        else if (forced == "any")
            layouts = {tag::any};
        else if (g.inChannels / g.group >= 16)
            layouts = {tag::nChw16c, tag::nchw};
        else
            layouts = {tag::nchw};
        for (tag layout : layouts) {
            try {
                const dnnl::memory::desc srcDesc(src, dt::f32, layout);
                const dnnl::memory::desc dstDesc(dst, dt::f32, layout);
                const dnnl::memory::desc weightsAny(weights, dt::f32, tag::any);
                const auto kind = dnnl::prop_kind::forward_inference;
                // convolution_auto lets oneDNN take Winograd F(4x4, 3x3) for 3x3 stride-1 convolutions with
                // enough channels: ~1.4x faster here, and within 1e-6 of the direct result at the demo
                // models' scale. CW_ONEDNN_ALG=direct turns it off.
                const auto alg = algorithmOverride() == "direct" ? dnnl::algorithm::convolution_direct
                                                                  : dnnl::algorithm::convolution_auto;
                const dnnl::convolution_forward::desc desc =
                    bias ? dnnl::convolution_forward::desc(kind, alg, srcDesc, weightsAny, e->biasDesc, dstDesc,
                                                           strides, dilates, padL, padR)
                         : dnnl::convolution_forward::desc(kind, alg, srcDesc, weightsAny, dstDesc, strides, dilates,
                                                           padL, padR);
                dnnl::convolution_forward::primitive_desc pd(desc, cpuEngine());
                if (std::string(pd.impl_info_str()).rfind("ref", 0) == 0)
                    continue;
                e->pd = pd;
                e->conv = dnnl::convolution_forward(e->pd);
                e->weightsPlainOk = e->pd.weights_desc() == e->weightsPlain;
                e->reorderSrc = e->pd.src_desc() != e->srcPlain;
                e->reorderDst = e->pd.dst_desc() != e->dstPlain;
                if (e->reorderSrc)
                    e->srcReorder = dnnl::reorder(
                        dnnl::reorder::primitive_desc(cpuEngine(), e->srcPlain, cpuEngine(), e->pd.src_desc()));
                if (e->reorderDst)
                    e->dstReorder = dnnl::reorder(
                        dnnl::reorder::primitive_desc(cpuEngine(), e->pd.dst_desc(), cpuEngine(), e->dstPlain));
                e->ok = true;
                break;
            } catch (const dnnl::error &) {
                e->ok = false;
            }
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

dnnl::memory packedWeights(ConvEntry &e, const Tensor &w, dnnl::stream &stream)
{
    if (e.weightsPlainOk)
        return dnnl::memory(e.weightsPlain, cpuEngine(), const_cast<void *>(w.rawData()));
    constexpr size_t kEntries = 4;
    const auto *bytes = static_cast<const std::byte *>(w.rawData());
    const size_t size = w.byteSize();
    std::lock_guard lock(e.weightsMutex);
    for (const ConvEntry::Packed &p : e.weights)
        if (p.source == bytes && p.plain.size() == size && std::memcmp(p.plain.data(), bytes, size) == 0)
            return p.packed;
    ConvEntry::Packed p;
    p.source = bytes;
    p.plain.assign(bytes, bytes + size);
    p.packed = dnnl::memory(e.pd.weights_desc(), cpuEngine());
    dnnl::memory plain(e.weightsPlain, cpuEngine(), p.plain.data());
    dnnl::reorder(plain, p.packed).execute(stream, plain, p.packed);
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
    // Depthwise convolutions have a direct loop in ops/conv.cpp; everything else is measured to win.
    if (g.group > 1 && g.inChannels == g.group)
        return false;
    return true;
}

bool convForward(const ConvGeometry &g, const Tensor &x, const Tensor &w, const float *bias, float *y, int threads)
{
    // A thread has to get a few million multiply-adds before waking it pays: at batch 1 the demo models'
    // convolutions (0.1-2M each) ran 1.5-5x slower on two threads than on one.
    constexpr double kMacsPerThread = 4e6;
    const double macs = double(g.batch) * double(g.outChannels) * double(g.outH * g.outW) *
                        double(g.inChannels / g.group) * double(g.kH * g.kW);
    threads = std::clamp(int(macs / kMacsPerThread), 1, std::max(1, threads));
    OmpThreads ompThreads(threads);
    std::shared_ptr<ConvEntry> e;
    try {
        e = convCache().get(g, bias != nullptr, threads);
        if (!e->ok)
            return false;
        dnnl::stream &stream = threadStream();
        dnnl::memory weights = packedWeights(*e, w, stream);
        dnnl::memory src(e->srcPlain, cpuEngine(), const_cast<void *>(x.rawData()));
        dnnl::memory dst(e->dstPlain, cpuEngine(), y);
        std::unordered_map<int, dnnl::memory> args;
        if (e->reorderSrc) {
            dnnl::memory blocked(e->pd.src_desc(), cpuEngine());
            e->srcReorder.execute(stream, src, blocked);
            src = blocked;
        }
        dnnl::memory out = e->reorderDst ? dnnl::memory(e->pd.dst_desc(), cpuEngine()) : dst;
        args[DNNL_ARG_SRC] = src;
        args[DNNL_ARG_WEIGHTS] = weights;
        args[DNNL_ARG_DST] = out;
        if (bias)
            args[DNNL_ARG_BIAS] = dnnl::memory(e->biasDesc, cpuEngine(), const_cast<float *>(bias));
        e->conv.execute(stream, args);
        if (e->reorderDst)
            e->dstReorder.execute(stream, out, dst);
        stream.wait();
    } catch (const dnnl::error &) {
        return false;
    }
    return true;
}

} // namespace cw::onednn
