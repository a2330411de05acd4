// How a Session computes a float16 / bfloat16 model (SessionOptions::halfFloats, core/runtime/session.h).
//
// A model that declares 16-bit float values can be run two ways:
//   - Float32 (the default): the values between nodes are float32, and a value is rounded to its 16-bit type
//     only where the model asks for it with a Cast (or a CastLike to a 16-bit value) and where it leaves the
//     graph as a 16-bit output. This is what onnxruntime's CPU provider computes: it has no 16-bit Conv, Add,
//     Sigmoid, ..., wraps each in Casts to float32 and then removes the float32 → float16 → float32 pairs it
//     inserted, so a chain of such nodes runs in float32. It is also the fast way here: weights are widened
//     once, and every fusion of a float32 graph applies.
//   - Declared: every node's float output is rounded to the node's 16-bit type, as a device computing in
//     float16 does; the kernels widen their 16-bit inputs and round their results back (runtime/ops.h).
// The model itself (what is inspected, compressed and saved) keeps its 16-bit types either way.
#pragma once

#include <optional>

#include "core/graph/graph.h"

namespace cw {

enum class HalfFloats { Float32, Declared };

// The model rewritten for Float32 arithmetic: 16-bit initializers, Constant and ConstantOfShape values widened
// to float32; 16-bit graph inputs declared float32 (a Session widens 16-bit feeds to the declared type);
// a Cast to a 16-bit type followed by a Cast back to float32 (the rounding the model asks for, kept in float32);
// every 16-bit output of the main graph computed in float32 under an internal name and rounded by a final Cast;
// subgraphs (If, Loop, Scan) likewise, except that their outputs stay float32. nullopt when the model holds no
// 16-bit floats (nothing to rewrite). Value names are kept, so a caller can feed and ask for the same names as in
// the model. Without `keepRoundings`, the Casts and CastLikes to a 16-bit type inside the graph become Casts to
// float32 (no-ops): a model quantized to 8 bits (compress/compress.h) is coarser than those roundings anyway.
std::optional<Model> float32Arithmetic(const Model &model, bool keepRoundings = true);

} // namespace cw
