// oneDNN back end for the forward kernels (not a public header).
//
// Conv runs on oneDNN's JIT convolutions (AVX2 / AVX-512 picked at run time), which are several times
// faster than im2col + Eigen gemm on the channel counts of small CNNs. Activations cross the kernel boundary
// in the engine's plain NCHW layout (reordered to channel-blocked inside the call where that pays) or, between
// layers that all compute on it, in oneDNN's channel-blocked layout (runtime/blocked.h);
// oneDNN picks its own blocked layout for the weights, and the packed weights are cached together with the
// values they came from, so an unchanged weight is packed once. Primitives are cached by geometry and
// thread count in a small mutex-protected cache: a Session can run from several threads at once and oneDNN
// primitives may execute concurrently.
//
// Threads: with a thread budget above one, the batch is cut into slices claimed through cw::parallelFor
// (kernels.h), each run by a single-threaded oneDNN. Debian's oneDNN threads with OpenMP, whose barriers
// wait for team members the OS has not scheduled; on a loaded two-core machine that made two threads
// several times slower than one. With fewer images than threads, a convolution runs on a oneDNN team of its
// own; convolutions under ~1M multiply-adds per thread run on one thread. Scratch memory is per calling thread (user scratchpad mode): Debian's build
// shares the library scratchpad between primitives, which is unsafe for concurrent execution.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <unordered_map>

#include "core/base/parallel.h"
#include "core/base/tensor.h"
#include "core/runtime/fusion.h"
#include "core/runtime/kernels.h"

namespace cw {
struct OpContext; // ops.h
}

namespace cw::onednn {

// A convolution geometry in oneDNN's terms (plain NCHW activations; OIHW weights, GOIHW when grouped), shared by
// the float convolutions here and the int8 ones in ops/quant.cpp.
struct ConvDims {
    dnnl::memory::dims src, dst, weights, strides, dilates, padL, padR;
    dnnl::memory::format_tag weightsTag;
};
ConvDims convDims(const ConvGeometry &g);

// n rows (images of a batch, rows of a product) cut for `threads` workers: about four slices per thread so
// parallelFor can balance them, one slice when single-threaded. `count` slices of `size` rows, the last `last`;
// none when n is 0.
struct Slices {
    int64_t size, count, last;
};
Slices sliceRows(int64_t n, int threads);

// y [N, M, H', W'] = activations(conv(x, w) + bias) for the geometry g (w OIHW, bias [M] or null; the
// activations as oneDNN post-ops). x is plain NCHW (srcBlock 0) or a blocked activation of srcBlock channels
// (runtime/blocked.h); y is made here, plain, or with `blockedDst` in the blocked layout the convolution computes
// in when it computes in one (y is then [N, M / b, H', W', b]). `weights` says how w's packed form is found again
// (WeightsIdentity). `winograd`: Winograd may be chosen (3x3 stride-1 layers; faster from the second call on, but its
// transformed weights take about four times the weight's memory and transforming them makes the first call
// slower). Returns false when oneDNN does not take this convolution (the caller falls back).
// How a convolution finds its weights packed in oneDNN's layout on an earlier call again. Other callers may write
// weights in place through a pointer they hold (training, gradient checks): by default a hit needs the same
// address and the same bytes.
struct WeightsIdentity {
    // w is not written in place while it lives (a Session's weights): found again by its buffer and a fingerprint
    // of its bytes (weightFingerprint).
    bool constant = false;
    // Nonzero (with constant): an id given to these weights alone while they live (newWeightsId(); a Session keeps
    // one per node whose weight is its own constant), which stands for the fingerprint: 3.4 % of silero-vad's
    // samples under perf.
    uint64_t id = 0;
};
uint64_t newWeightsId();
// The identity of the weight at input `index` of ctx's node: a weight that is the Session's own constant gets an id
// once per Session (OpContext::preparedFromConstants), which spares fingerprinting its bytes on every call.
WeightsIdentity weightsIdentity(OpContext &ctx, int index);

bool convForward(const ConvGeometry &g, const Tensor &x, int64_t srcBlock, const Tensor &w, WeightsIdentity weights,
                 const float *bias, const std::vector<Activation> &activations, Tensor &y, int threads,
                 bool winograd = true, bool blockedDst = false);

// A convolution run a few images at a time by its caller (a Conv with a MaxPool fused into it, ops/conv.cpp),
// single-threaded on the calling thread. convOutputBlock: the layout such a convolution of geometry g writes,
// the blocked one it computes in when it does (its block, 8 or 16) or plain (0); -1 when oneDNN does not take it.
// convSlice: one execution on raw buffers, x plain or blocked by srcBlock, y in that layout; false when oneDNN
// fails.
int64_t convOutputBlock(const ConvGeometry &g, bool bias, const std::vector<Activation> &activations, bool winograd,
                        int64_t srcBlock);
bool convSlice(const ConvGeometry &g, const float *x, int64_t srcBlock, const Tensor &w, WeightsIdentity weights,
               const float *bias, const std::vector<Activation> &activations, float *y, bool winograd);
// Whether convSlice's convolution writes y with streaming (non-temporal) stores when y is 64-byte aligned: oneDNN
// 2.6's AVX-512 Winograd kernel does, which sends the output to memory rather than to the cache. A caller that
// reads the output back at once passes y off that alignment.
bool convStreamsAlignedOutput(const ConvGeometry &g, bool bias, const std::vector<Activation> &activations,
                              bool winograd, int64_t srcBlock);

// The implementation oneDNN runs a convolution of geometry g with (no bias, no activations, one thread), as its
// name ("jit:avx512_core", "jit_wino_4x3:avx512_core", ...); "" when oneDNN does not take it.
std::string convImplementation(const ConvGeometry &g, bool winograd);

// The calling thread's 64-byte-aligned buffer number `slot` (< kThreadBufferSlots), grown to at least `bytes`
// and kept for the thread's lifetime, so that a warm call allocates nothing: scratchpads, reordered operands,
// accumulators, a fused pool's convolution output (kPooledSlot). A slot's contents last until the thread's next
// call for that slot.
constexpr int kThreadBufferSlots = 5;
constexpr int kPooledSlot = 4;
void *threadBuffer(int slot, size_t bytes);

// A cached primitive's memory objects and argument maps are made once per thread and pointed at each call's buffers
// (making them per call was a tenth of a small convolution): threadBound gives the calling thread's T for the
// primitive `id`, made by make(T &) on its first call (at most 256 are kept, all dropped then: a primitive evicted
// from its cache leaves its own behind); pointAt points a memory object at `data` (moved only when it changed),
// pointAtThreadBuffer at the thread's buffer `slot`, grown to the object's size.
void pointAt(dnnl::memory &m, void *data);
void pointAtThreadBuffer(dnnl::memory &m, int slot);
template <typename T, typename Make> T &threadBound(uint64_t id, Make make)
{
    thread_local std::unordered_map<uint64_t, T> bound;
    if (auto it = bound.find(id); it != bound.end())
        return it->second;
    if (bound.size() >= 256)
        bound.clear();
    T &made = bound[id];
    make(made);
    return made;
}

// Whether oneDNN's int8 kernels add pairs of u8 x s8 products in saturating int16 (vpmaddubsw): so on every CPU
// without VNNI (AVX2, AVX-512 before Cascade Lake, AMD before Zen 4). Two products of 255 and a weight above 64 in
// magnitude then overflow, and the accumulators would differ from the reference's. On those CPUs int8 weights
// with a value beyond [-64, 64] are split, w = h + l with h = floor(w / 2) and l = w - h (both within [-64, 64],
// so a pair sum stays below 32767): the product runs once per half and the two int32 accumulators are added,
// exact again at twice the work (int8WeightsSplit). Weights within [-64, 64], such as 7-bit symmetric ones
// (levels up to 63), run as one product. With VNNI (vpdpbusd adds every product in int32) one product suffices.
bool int8PairsSaturate();
bool int8WeightsSplit(const int8_t *w, int64_t count);

// A hash of a weight's size, first and last 64 bytes and 256 evenly spaced bytes: how the packed-weight caches
// tell a weight written in place from the one they packed, without comparing every byte.
uint64_t weightFingerprint(const Tensor &w);

// Whether convForward is expected to beat the im2col path for this geometry (measured; see
// docs/performance.md). CW_ONEDNN=0 in the environment turns the oneDNN path off, CW_ONEDNN=1 forces it.
bool convPreferred(const ConvGeometry &g, int threads);

} // namespace cw::onednn
