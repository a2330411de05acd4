// Control flow. Each subgraph runs in a Session of its own (built once by the enclosing Session, see
// OpContext::subgraphs) fed with the subgraph's own inputs and the values it reads from the enclosing graph.
//
//   If:    cond (bool scalar) → the outputs of then_branch or else_branch (both take no inputs of their own).
//   Loop:  M (optional int64 trip count), cond (optional bool), v_initial... → v_final..., scan_outputs...;
//          the body takes (iteration_num, condition, v...) and returns (condition, v..., scan values...);
//          it runs while iteration < M and the condition holds; each scan output stacks the body's per-
//          iteration values along a new leading axis.
//   Scan:  (opset >= 9) initial states..., scan inputs... → final states..., scan outputs...; attributes
//          num_scan_inputs, scan_input_axes, scan_input_directions (1 = last slice first), scan_output_axes,
//          scan_output_directions. The body takes (states..., one slice of each scan input, the scan axis
//          removed) and returns (states..., one slice of each scan output).
#include <cstring>
#include <limits>

#include "core/base/error.h"
#include "core/runtime/ops/common.h"
#include "core/runtime/session.h"

namespace cw {

namespace {

using namespace ops;

const Session &subgraph(const OpContext &ctx, const std::string &key)
{
    if (!ctx.subgraphs)
        ctx.fail("has no subgraphs (control flow runs inside a Session)");
    auto it = ctx.subgraphs->find(key);
    if (it == ctx.subgraphs->end())
        ctx.fail("has no subgraph attribute '" + key + "'");
    return *it->second;
}

bool truth(const OpContext &ctx, const Tensor &t, const char *what)
{
    if (t.numel() != 1)
        ctx.fail(std::string(what) + " must hold one value, got shape " + shapeToString(t.shape()));
    return t.toFloatVector()[0] != 0.f;
}

// Slice `index` of x along `axis`, that axis removed.
Tensor sliceAt(const Tensor &x, int axis, int64_t index)
{
    Shape shape = x.shape();
    const int64_t n = shape[size_t(axis)];
    shape.erase(shape.begin() + axis);
    Tensor out = Tensor::uninitialized(x.dtype(), shape);
    int64_t outer = 1, inner = int64_t(dtypeSize(x.dtype()));
    for (int d = 0; d < axis; ++d)
        outer *= x.dim(d);
    for (int d = axis + 1; d < x.rank(); ++d)
        inner *= x.dim(d);
    const auto *src = static_cast<const char *>(x.rawData());
    auto *dst = static_cast<char *>(out.rawData());
    for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dst + o * inner, src + (o * n + index) * inner, size_t(inner));
    return out;
}

// The slices stacked along a new `axis` (all of one shape and dtype); reversed when `reverse`.
Tensor stack(const OpContext &ctx, const std::vector<Tensor> &slices, int axis, bool reverse, const char *what)
{
    if (slices.empty())
        return Tensor(DType::Float32, {0});
    const Tensor &first = slices.front();
    for (const Tensor &s : slices)
        if (s.shape() != first.shape() || s.dtype() != first.dtype())
            ctx.fail(std::string(what) + " changes shape between iterations: " + shapeToString(first.shape()) +
                     " and " + shapeToString(s.shape()));
    if (axis < 0)
        axis += first.rank() + 1;
    if (axis < 0 || axis > first.rank())
        ctx.fail(std::string(what) + ": axis out of range");
    Shape shape = first.shape();
    const int64_t n = int64_t(slices.size());
    shape.insert(shape.begin() + axis, n);
    Tensor out = Tensor::uninitialized(first.dtype(), shape);
    int64_t outer = 1, inner = int64_t(dtypeSize(first.dtype()));
    for (int d = 0; d < axis; ++d)
        outer *= first.dim(d);
    for (int d = axis; d < first.rank(); ++d)
        inner *= first.dim(d);
    auto *dst = static_cast<char *>(out.rawData());
    for (int64_t k = 0; k < n; ++k) {
        const auto *src = static_cast<const char *>(slices[size_t(reverse ? n - 1 - k : k)].rawData());
        for (int64_t o = 0; o < outer; ++o)
            std::memcpy(dst + (o * n + k) * inner, src + o * inner, size_t(inner));
    }
    return out;
}

void ifOp(OpContext &ctx)
{
    const bool cond = truth(ctx, ctx.input(0), "the condition");
    std::vector<Tensor> out = runSubgraph(subgraph(ctx, cond ? "then_branch" : "else_branch"), {}, ctx.outerValues);
    if (out.size() != ctx.outputs.size())
        ctx.fail(std::string(cond ? "then_branch" : "else_branch") + " returns " + str(int64_t(out.size())) +
                 " values for " + str(int64_t(ctx.outputs.size())) + " outputs");
    for (size_t o = 0; o < out.size(); ++o)
        ctx.outputs[o] = std::move(out[o]);
}

void loopOp(OpContext &ctx)
{
    const Session &body = subgraph(ctx, "body");
    const size_t carried = ctx.inputs.size() > 2 ? ctx.inputs.size() - 2 : 0;
    const size_t bodyOutputs = body.model().graph.outputs.size();
    if (bodyOutputs < 1 + carried || ctx.outputs.size() != bodyOutputs - 1)
        ctx.fail("body returns " + str(int64_t(bodyOutputs)) + " values; expected the condition, " +
                 str(int64_t(carried)) + " loop-carried values and the scan outputs");
    const size_t scans = bodyOutputs - 1 - carried;
    int64_t maxTrips = std::numeric_limits<int64_t>::max();
    if (ctx.hasInput(0)) {
        const std::vector<int64_t> m = ctx.input(0).toInt64Vector();
        if (m.size() != 1)
            ctx.fail("the trip count M must hold one value");
        maxTrips = m[0];
    }
    bool cond = ctx.hasInput(1) ? truth(ctx, ctx.input(1), "the condition") : true;
    std::vector<Tensor> state;
    for (size_t k = 0; k < carried; ++k)
        state.push_back(ctx.input(int(k) + 2));
    std::vector<std::vector<Tensor>> scanned(scans);
    for (int64_t i = 0; i < maxTrips && cond; ++i) {
        std::vector<Tensor> feeds{Tensor::fromInt64s({}, {i}), Tensor::fromInt64s({}, {cond ? 1 : 0}).castTo(DType::UInt8)};
        feeds.insert(feeds.end(), state.begin(), state.end());
        std::vector<Tensor> out = runSubgraph(body, feeds, ctx.outerValues);
        cond = truth(ctx, out[0], "the body's condition");
        for (size_t k = 0; k < carried; ++k)
            state[k] = std::move(out[1 + k]);
        for (size_t k = 0; k < scans; ++k)
            scanned[k].push_back(std::move(out[1 + carried + k]));
    }
    for (size_t k = 0; k < carried; ++k)
        ctx.outputs[k] = state[k];
    for (size_t k = 0; k < scans; ++k)
        ctx.outputs[carried + k] = stack(ctx, scanned[k], 0, false, "a scan output");
}

void scanOp(OpContext &ctx)
{
    if (nodeOpset(ctx.node) < 9)
        ctx.fail("Scan before opset 9 (with a batch axis) is not supported");
    const Session &body = subgraph(ctx, "body");
    const int64_t m = ctx.node.attrInt("num_scan_inputs", -1);
    const size_t inputs = ctx.inputs.size();
    if (m < 1 || size_t(m) > inputs)
        ctx.fail("num_scan_inputs must be between 1 and the number of inputs");
    const size_t states = inputs - size_t(m);
    const size_t scanOutputs = ctx.outputs.size() - std::min(ctx.outputs.size(), states);
    auto listOr = [&](const char *key, size_t n) {
        std::vector<int64_t> v = ctx.node.attrInts(key, std::vector<int64_t>(n, 0));
        if (v.size() != n)
            ctx.fail(std::string(key) + " has " + str(int64_t(v.size())) + " values for " + str(int64_t(n)));
        return v;
    };
    const std::vector<int64_t> inAxes = listOr("scan_input_axes", size_t(m));
    const std::vector<int64_t> inDirs = listOr("scan_input_directions", size_t(m));
    const std::vector<int64_t> outAxes = listOr("scan_output_axes", scanOutputs);
    const std::vector<int64_t> outDirs = listOr("scan_output_directions", scanOutputs);
    int64_t length = -1;
    std::vector<int> axes(static_cast<size_t>(m));
    for (int64_t k = 0; k < m; ++k) {
        const Tensor &x = ctx.input(int(states + size_t(k)));
        const int64_t a = inAxes[size_t(k)] < 0 ? inAxes[size_t(k)] + x.rank() : inAxes[size_t(k)];
        if (a < 0 || a >= x.rank())
            ctx.fail("scan input " + str(k) + ": axis " + str(inAxes[size_t(k)]) + " out of range");
        axes[size_t(k)] = int(a);
        if (length >= 0 && x.dim(int(a)) != length)
            ctx.fail("scan inputs differ in length: " + str(length) + " and " + str(x.dim(int(a))));
        length = x.dim(int(a));
    }
    std::vector<Tensor> state;
    for (size_t k = 0; k < states; ++k)
        state.push_back(ctx.input(int(k)));
    std::vector<std::vector<Tensor>> scanned(scanOutputs);
    for (int64_t t = 0; t < length; ++t) {
        std::vector<Tensor> feeds = state;
        for (int64_t k = 0; k < m; ++k)
            feeds.push_back(sliceAt(ctx.input(int(states + size_t(k))), axes[size_t(k)],
                                    inDirs[size_t(k)] ? length - 1 - t : t));
        std::vector<Tensor> out = runSubgraph(body, feeds, ctx.outerValues);
        if (out.size() != states + scanOutputs)
            ctx.fail("body returns " + str(int64_t(out.size())) + " values for " + str(int64_t(states + scanOutputs)));
        for (size_t k = 0; k < states; ++k)
            state[k] = std::move(out[k]);
        for (size_t k = 0; k < scanOutputs; ++k)
            scanned[k].push_back(std::move(out[states + k]));
    }
    for (size_t k = 0; k < states && k < ctx.outputs.size(); ++k)
        ctx.outputs[k] = state[k];
    for (size_t k = 0; k < scanOutputs; ++k)
        ctx.outputs[states + k] = stack(ctx, scanned[k], int(outAxes[k]), outDirs[k] != 0, "a scan output");
}

} // namespace

void registerControlOps(KernelTable &table)
{
    table["If"] = {ifOp, {1, 11, 13, 16, 19, 21}};
    table["Loop"] = {loopOp, {1, 11, 13, 16, 19, 21}};
    table["Scan"] = {scanOp, {9, 11, 16, 19, 21}};
}

} // namespace cw
