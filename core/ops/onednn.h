// oneDNN back end for the forward kernels (not a public header).
//
// Conv runs on oneDNN's JIT convolutions (AVX2 / AVX-512 picked at run time), which are several times
// faster than im2col + Eigen gemm on the channel counts of small CNNs. Activations stay in the engine's
// plain NCHW layout at the kernel boundary (reordered to channel-blocked inside the call where that pays);
// oneDNN picks its own blocked layout for the weights, and the packed weights are cached together with the
// values they came from, so an unchanged weight is packed once. Primitives are cached by geometry and
// thread count in a small mutex-protected cache: a Session can run from several threads at once and oneDNN
// primitives may execute concurrently.
//
// oneDNN (Debian's build) threads with OpenMP: the kernel's thread budget is applied with
// omp_set_num_threads on the calling thread for the call.
#pragma once

#include "core/kernels.h"
#include "core/tensor.h"

namespace cw::onednn {

// y [N, M, H', W'] = conv(x, w) + bias for the geometry g (x, w and y plain NCHW / OIHW, bias [M] or null).
// Returns false, leaving y untouched, when oneDNN does not take this convolution (the caller falls back).
bool convForward(const ConvGeometry &g, const Tensor &x, const Tensor &w, const float *bias, float *y, int threads);

// Whether convForward is expected to beat the im2col path for this geometry (measured; see
// docs/performance.md). CW_ONEDNN=0 in the environment turns the oneDNN path off, CW_ONEDNN=1 forces it.
bool convPreferred(const ConvGeometry &g, int threads);

} // namespace cw::onednn
