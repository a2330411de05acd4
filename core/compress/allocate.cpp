#include "core/compress/allocate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "core/analysis/stats.h"
#include "core/base/error.h"
#include "core/compress/prune.h"
#include "core/quant/quantize.h"

namespace cw {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double sqnrOf(double signal, double noise)
{
    if (noise <= 0)
        return kInf;
    if (signal <= 0)
        return -kInf;
    return 10.0 * std::log10(signal / noise);
}

// Moves `axis` to the front of a weight (a copy), so per-row helpers that expect the output channel or the
// reduction first can be used on any layout; inverse with the same call on the result's shape.
Tensor moveAxisToFront(const Tensor &w, int axis)
{
    if (axis == 0)
        return w.clone();
    const Shape &s = w.shape();
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i)
        outer *= s[size_t(i)];
    for (int i = axis + 1; i < int(s.size()); ++i)
        inner *= s[size_t(i)];
    const int64_t c = s[size_t(axis)];
    Shape t{c};
    for (int i = 0; i < int(s.size()); ++i)
        if (i != axis)
            t.push_back(s[size_t(i)]);
    Tensor out(DType::Float32, t);
    const float *src = w.f32();
    float *dst = out.f32();
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t i = 0; i < inner; ++i)
                dst[(ch * outer + o) * inner + i] = src[(o * c + ch) * inner + i];
    return out;
}

Tensor moveFrontToAxis(const Tensor &t, const Shape &original, int axis)
{
    if (axis == 0)
        return t;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < axis; ++i)
        outer *= original[size_t(i)];
    for (int i = axis + 1; i < int(original.size()); ++i)
        inner *= original[size_t(i)];
    const int64_t c = original[size_t(axis)];
    Tensor out(DType::Float32, original);
    const float *src = t.f32();
    float *dst = out.f32();
    for (int64_t o = 0; o < outer; ++o)
        for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t i = 0; i < inner; ++i)
                dst[(o * c + ch) * inner + i] = src[(ch * outer + o) * inner + i];
    return out;
}

int64_t channelsRemoved(int64_t channels, double ratio)
{
    return std::clamp<int64_t>(std::llround(ratio * double(channels)), 0, std::max<int64_t>(0, channels - 1));
}

} // namespace

LayerPrediction predictLayer(const Model &model, const LayerPlan &plan, bool withError)
{
    const Graph &g = model.graph;
    const Node *node = findLayerNode(g, plan.node);
    if (!node)
        throw Error("prediction: no node named '" + plan.node + "'");
    auto it = g.initializers.find(plan.weight);
    if (it == g.initializers.end())
        throw Error("prediction: node '" + plan.node + "' has no weight '" + plan.weight + "'");
    const Tensor &w = it->second;
    if (w.dtype() != DType::Float32)
        throw Error("prediction: weight '" + plan.weight + "' of node '" + plan.node + "' is not float");

    LayerPrediction p;
    p.node = plan.node;
    p.op = plan.op.empty() ? node->opType : plan.op;
    p.weight = plan.weight;
    p.params = w.numel();
    p.kept = p.params;
    p.nonzeros = p.params;
    p.floatBytes = int64_t(w.byteSize());
    p.bytes = p.floatBytes;
    p.sqnrDb = kInf;

    const LayerConfig &c = plan.config;
    const bool prune = !c.skip && c.prune && c.prune->ratio > 0;
    const bool quant = !c.skip && c.weights.has_value();
    p.compressed = prune || quant;
    const int axis = w.rank() >= 2 ? outputChannelAxis(*node, w.shape()) : 0;

    // Shape of what is stored: channel pruning removes rows along the output-channel axis.
    Shape stored = w.shape();
    int64_t removed = 0;
    if (prune && c.prune->method == PruneMethod::Channel && w.rank() >= 2) {
        const int64_t channels = w.dim(axis);
        removed = channelsRemoved(channels, c.prune->ratio);
        stored[size_t(axis)] = channels - removed;
        p.kept = shapeNumel(stored);
    }
    p.nonzeros = p.kept;
    if (prune && (c.prune->method == PruneMethod::Magnitude || c.prune->method == PruneMethod::Block))
        p.nonzeros = p.kept - std::min<int64_t>(p.kept, std::llround(c.prune->ratio * double(p.kept)));
    else if (prune && c.prune->method == PruneMethod::NM && c.prune->m > 0)
        p.nonzeros = p.kept - (p.kept / c.prune->m) * std::max(0, c.prune->m - c.prune->n);
    p.bytes = quant ? quantizedBytes(stored, *c.weights, axis) : p.kept * int64_t(sizeof(float));
    // The .h5 stores a weight with enough zeros sparse: a bitmask of the nonzero positions plus the nonzero
    // values, when that beats the dense payload by more than its ~256 bytes of attributes (docs/formats.md).
    if (p.nonzeros < p.kept && p.kept >= 64) {
        const int64_t valueBits = quant ? c.weights->bits : 32;
        const int64_t dense = (p.kept * valueBits + 7) / 8;
        const int64_t sparse = (p.kept + 7) / 8 + (p.nonzeros * valueBits + 7) / 8;
        if (sparse + 256 < dense)
            p.bytes -= dense - sparse;
    }

    if (!withError || !p.compressed) {
        if (!p.compressed) {
            const float *d = w.f32();
            double s = 0;
            for (int64_t i = 0; i < p.params; ++i)
                s += double(d[i]) * double(d[i]);
            p.signalEnergy = s;
        }
        return p;
    }

    // The weight the recipe would leave, at the original shape (removed channels as zeros), so the error is
    // measured against everything the layer had.
    Tensor approx = w;
    if (prune) {
        switch (c.prune->method) {
        case PruneMethod::Magnitude:
            approx = pruneMagnitude(w, c.prune->ratio);
            break;
        case PruneMethod::Block:
            approx = pruneBlocks(w, c.prune->ratio, axis);
            break;
        case PruneMethod::NM: {
            // The reduction axes follow the output channel in the front-moved layout.
            const Tensor front = moveAxisToFront(w, axis);
            approx = moveFrontToAxis(pruneNM(front, c.prune->n, c.prune->m, 1), w.shape(), axis);
            break;
        }
        case PruneMethod::Channel: {
            if (removed > 0) {
                const std::vector<int64_t> order = rankChannels(w, axis, c.prune->norm);
                Tensor front = moveAxisToFront(w, axis);
                const int64_t rowSize = front.numel() / std::max<int64_t>(1, front.dim(0));
                for (int64_t k = 0; k < removed && k < int64_t(order.size()); ++k)
                    std::fill_n(front.f32() + order[size_t(k)] * rowSize, rowSize, 0.f);
                approx = moveFrontToAxis(front, w.shape(), axis);
            }
            break;
        }
        case PruneMethod::Wanda:
        case PruneMethod::SparseGpt:
        case PruneMethod::Heads:
            throw Error(toString(c.prune->method) + " prunes language models only");
        }
        int64_t nz = 0;
        const float *a = approx.f32();
        for (int64_t i = 0; i < approx.numel(); ++i)
            nz += a[i] != 0.f;
        p.nonzeros = std::min(nz, p.kept);
    }
    if (quant)
        approx = fakeQuantize(approx, *c.weights, axis).dequantized;

    double signal = 0, noise = 0;
    const float *o = w.f32();
    const float *a = approx.f32();
    for (int64_t i = 0; i < p.params; ++i) {
        const double d = double(o[i]) - double(a[i]);
        signal += double(o[i]) * double(o[i]);
        noise += d * d;
    }
    p.signalEnergy = signal;
    p.noiseEnergy = noise;
    p.sqnrDb = sqnrOf(signal, noise);
    p.relativeError = signal > 0 ? std::sqrt(noise / signal) : (noise > 0 ? kInf : 0.0);
    return p;
}

ModelPrediction summarizePrediction(const Model &model, std::vector<LayerPrediction> layers, const Model *stored)
{
    ModelPrediction m;
    m.baseBytes = int64_t((stored ? *stored : model).graph.parameterBytes());
    if (stored) {
        const Graph &g = stored->graph;
        for (LayerPrediction &l : layers) {
            auto same = g.initializers.find(l.weight); // a widened weight: narrowed back unless compressed
            const Node *integer = same == g.initializers.end() ? g.findNode(l.node) : nullptr;
            if (same != g.initializers.end()) {
                if (!l.compressed)
                    l.bytes = int64_t(same->second.byteSize());
                l.floatBytes = int64_t(same->second.byteSize());
            } else if (integer && integer->inputs.size() > 1 && g.isInitializer(integer->inputs[1])) {
                // A dequantized integer layer: stored as its integer weight; left uncompressed, it stays float.
                l.floatBytes = int64_t(g.initializers.at(integer->inputs[1]).byteSize());
            }
        }
    }
    m.bytes = m.baseBytes;
    double signal = 0, noise = 0;
    // A weight shared by several nodes is stored once: the first plan entry for it decides.
    std::map<std::string, bool> seen;
    for (const LayerPrediction &l : layers) {
        if (seen[l.weight])
            continue;
        seen[l.weight] = true;
        m.bytes += l.bytes - l.floatBytes;
        signal += l.signalEnergy;
        noise += l.noiseEnergy;
    }
    m.ratio = m.bytes > 0 ? double(m.baseBytes) / double(m.bytes) : 0;
    m.sqnrDb = sqnrOf(signal, noise);
    m.relativeError = signal > 0 ? std::sqrt(noise / signal) : 0;
    m.layers = std::move(layers);
    return m;
}

ModelPrediction predictModel(const Model &model, const std::vector<LayerPlan> &plan, bool withError)
{
    std::vector<LayerPrediction> layers;
    layers.reserve(plan.size());
    for (const LayerPlan &p : plan)
        layers.push_back(predictLayer(model, p, withError));
    return summarizePrediction(model, std::move(layers));
}

// ---------------------------------------------------------------------------------------------------
// Allocation

namespace {

struct Point {
    double x = 0; // amount of compression: pruning ratio, or bits removed below maxBits
    double d = 0; // accuracy drop
};

// Non-negative, non-decreasing in x, starting at (0, d0), defined up to xMax (cut or extended linearly).
std::vector<Point> dropCurve(std::vector<Point> pts, double xMax)
{
    std::sort(pts.begin(), pts.end(), [](const Point &a, const Point &b) { return a.x < b.x; });
    std::vector<Point> out;
    for (Point p : pts) {
        if (!std::isfinite(p.d))
            continue;
        p.d = std::max(0.0, p.d);
        if (!out.empty() && p.d < out.back().d)
            p.d = out.back().d;
        if (!out.empty() && p.x == out.back().x) {
            out.back().d = std::max(out.back().d, p.d);
            continue;
        }
        out.push_back(p);
    }
    if (out.empty() || out.front().x > 0)
        out.insert(out.begin(), Point{0, 0});
    // Cut at xMax (interpolating), or extend with the steeper of the last segment and the mean slope so far.
    std::vector<Point> cut;
    for (size_t i = 0; i < out.size(); ++i) {
        if (out[i].x <= xMax) {
            cut.push_back(out[i]);
            continue;
        }
        const Point &a = out[i - 1], &b = out[i];
        cut.push_back({xMax, a.d + (b.d - a.d) * (xMax - a.x) / (b.x - a.x)});
        break;
    }
    if (cut.back().x < xMax) {
        const Point last = cut.back();
        double slope = last.x > 0 ? last.d / last.x : 0;
        if (cut.size() >= 2) {
            const Point &a = cut[cut.size() - 2];
            slope = std::max(slope, (last.d - a.d) / (last.x - a.x));
        }
        cut.push_back({xMax, last.d + slope * (xMax - last.x)});
    }
    return cut;
}

double interpolate(const std::vector<Point> &curve, double x)
{
    if (x <= curve.front().x)
        return curve.front().d;
    for (size_t i = 1; i < curve.size(); ++i)
        if (x <= curve[i].x) {
            const Point &a = curve[i - 1], &b = curve[i];
            return a.d + (b.d - a.d) * (x - a.x) / (b.x - a.x);
        }
    return curve.back().d;
}

// Lower convex hull (monotone chain) of a curve sorted by x; collinear points are dropped.
std::vector<Point> lowerHull(const std::vector<Point> &c)
{
    std::vector<Point> h;
    for (const Point &p : c) {
        while (h.size() >= 2) {
            const Point &a = h[h.size() - 2], &b = h.back();
            const double u = (b.x - a.x) * (p.d - a.d), v = (b.d - a.d) * (p.x - a.x);
            // Nearly collinear counts as collinear, so an extension along the last slope is one segment.
            if (u - v > 1e-12 * (std::abs(u) + std::abs(v)))
                break;
            h.pop_back();
        }
        h.push_back(p);
    }
    return h;
}

struct Segment {
    size_t layer = 0;
    double x0 = 0, x1 = 0;
    double cost = 0; // drop per parameter-unit of compression
};

bool sameCost(double a, double b)
{
    return std::abs(a - b) <= 1e-12 * std::max({1e-300, std::abs(a), std::abs(b)});
}

// Hull segments of every layer, cheapest first; within a layer the hull's slopes increase, so the order
// respects each layer's sequence.
std::vector<Segment> orderedSegments(const std::vector<std::vector<Point>> &curves, const std::vector<double> &params)
{
    std::vector<Segment> segs;
    for (size_t l = 0; l < curves.size(); ++l) {
        const std::vector<Point> h = lowerHull(curves[l]);
        for (size_t i = 1; i < h.size(); ++i) {
            if (h[i].x <= h[i - 1].x)
                continue;
            const double cost = (h[i].d - h[i - 1].d) / ((h[i].x - h[i - 1].x) * std::max(1.0, params[l]));
            segs.push_back({l, h[i - 1].x, h[i].x, cost});
        }
    }
    std::stable_sort(segs.begin(), segs.end(), [](const Segment &a, const Segment &b) {
        return a.cost < b.cost && !sameCost(a.cost, b.cost);
    });
    return segs;
}

std::vector<size_t> coveredBy(const std::vector<AllocationLayer> &layers, const SensitivityResult *s, bool prune,
                              std::vector<const LayerSensitivity *> &found)
{
    std::vector<size_t> missing;
    found.assign(layers.size(), nullptr);
    if (!s)
        return missing;
    std::map<std::string, const LayerSensitivity *> byName;
    for (const LayerSensitivity &l : s->layers)
        byName[l.name] = &l;
    const size_t settings = prune ? s->options.pruneRatios.size() : s->options.bits.size();
    for (size_t i = 0; i < layers.size(); ++i) {
        auto it = byName.find(layers[i].node);
        if (it != byName.end() && settings > 0 &&
            (prune ? it->second->prune.size() : it->second->bits.size()) == settings)
            found[i] = it->second;
        else
            missing.push_back(i);
    }
    return missing;
}

std::string missingNote(const std::vector<AllocationLayer> &layers, const std::vector<size_t> &missing)
{
    std::string note = "no measurements for ";
    for (size_t k = 0; k < missing.size() && k < 3; ++k)
        note += (k ? ", " : "") + layers[missing[k]].node;
    if (missing.size() > 3)
        note += " and " + std::to_string(missing.size() - 3) + " more";
    return note + " (given the uniform setting)";
}

void checkLayers(const std::vector<AllocationLayer> &layers)
{
    if (layers.empty())
        throw Error("allocation: no layers to distribute over");
    for (const AllocationLayer &l : layers)
        if (l.params <= 0)
            throw Error("allocation: layer '" + l.node + "' has no parameters");
}

// Pruning over a subset with given curves: exact mean ratio = target.
void distributeRatios(const std::vector<size_t> &subset, const std::vector<AllocationLayer> &layers,
                      const std::vector<std::vector<Point>> &curves, double target, std::vector<double> &ratios)
{
    if (subset.empty())
        return;
    std::vector<std::vector<Point>> c;
    std::vector<double> p;
    double total = 0;
    for (size_t i : subset) {
        c.push_back(curves[i]);
        p.push_back(double(layers[i].params));
        total += double(layers[i].params);
    }
    double remaining = target * total; // parameters still to prune
    std::vector<double> x(subset.size(), 0.0);
    const std::vector<Segment> segs = orderedSegments(c, p);
    for (size_t i = 0; i < segs.size() && remaining > 0;) {
        size_t j = i;
        double capacity = 0;
        while (j < segs.size() && sameCost(segs[j].cost, segs[i].cost)) {
            capacity += (segs[j].x1 - segs[j].x0) * p[segs[j].layer];
            ++j;
        }
        // Equal cost: every segment of the group advances by the same fraction of its length.
        const double f = capacity > remaining ? remaining / capacity : 1.0;
        // A layer's segments are consecutive from 0, so its ratio is the length taken of them so far.
        for (size_t k = i; k < j; ++k)
            x[segs[k].layer] += f * (segs[k].x1 - segs[k].x0);
        remaining -= f * capacity;
        i = j;
    }
    for (size_t k = 0; k < subset.size(); ++k)
        ratios[subset[k]] = x[k];
}

} // namespace

Allocation allocatePruneRatios(const std::vector<AllocationLayer> &layers, double targetRatio,
                               const SensitivityResult *sensitivity, double maxRatio)
{
    checkLayers(layers);
    if (!(maxRatio > 0 && maxRatio <= 1))
        throw Error("allocation: the largest per-layer pruning ratio must be in (0, 1]");
    if (!(targetRatio >= 0 && targetRatio <= maxRatio))
        throw Error("allocation: target pruning ratio " + std::to_string(targetRatio) + " is outside [0, " +
                    std::to_string(maxRatio) + "]");
    std::vector<const LayerSensitivity *> found;
    const std::vector<size_t> missing = coveredBy(layers, sensitivity, true, found);

    Allocation a;
    a.ratios.assign(layers.size(), targetRatio);
    std::vector<std::vector<Point>> curves(layers.size());
    std::vector<size_t> known;
    for (size_t i = 0; i < layers.size(); ++i) {
        if (!found[i]) {
            curves[i] = {{0, 0}, {maxRatio, 0}};
            continue;
        }
        std::vector<Point> pts;
        for (size_t k = 0; k < sensitivity->options.pruneRatios.size(); ++k)
            pts.push_back({sensitivity->options.pruneRatios[k], found[i]->prune[k].drop});
        curves[i] = dropCurve(pts, maxRatio);
        known.push_back(i);
    }
    // Layers without measurements keep the uniform target; the measured ones share the same mean among them.
    distributeRatios(known, layers, curves, targetRatio, a.ratios);
    a.fromSensitivity = !known.empty();
    if (!sensitivity)
        a.note = "no sensitivity analysis: the same ratio for every layer";
    else if (known.empty())
        a.note = "the sensitivity analysis has no pruning trials for these layers: the same ratio for every layer";
    else if (!missing.empty())
        a.note = missingNote(layers, missing);
    double pruned = 0, total = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
        pruned += a.ratios[i] * double(layers[i].params);
        total += double(layers[i].params);
        if (found[i])
            a.predictedDrop += interpolate(curves[i], a.ratios[i]);
    }
    a.achieved = pruned / total;
    return a;
}

Allocation allocateBitWidths(const std::vector<AllocationLayer> &layers, double targetBits,
                             const SensitivityResult *sensitivity, int minBits, int maxBits)
{
    checkLayers(layers);
    if (minBits < 2 || maxBits > 8 || minBits > maxBits)
        throw Error("allocation: bit-widths must lie within 2..8");
    if (!(targetBits >= minBits && targetBits <= maxBits))
        throw Error("allocation: target of " + std::to_string(targetBits) + " bits per weight is outside " +
                    std::to_string(minBits) + ".." + std::to_string(maxBits));
    std::vector<const LayerSensitivity *> found;
    const std::vector<size_t> missing = coveredBy(layers, sensitivity, false, found);
    const double span = double(maxBits - minBits);

    // Curves over x = maxBits - bits, at whole bits only (interpolated between the measured widths).
    std::vector<std::vector<Point>> curves(layers.size());
    std::vector<size_t> known, unknown;
    for (size_t i = 0; i < layers.size(); ++i) {
        std::vector<Point> raw;
        if (found[i]) {
            for (size_t k = 0; k < sensitivity->options.bits.size(); ++k)
                raw.push_back({double(maxBits - sensitivity->options.bits[k]), found[i]->bits[k].drop});
            known.push_back(i);
        } else {
            unknown.push_back(i);
        }
        const std::vector<Point> dense = dropCurve(raw, span);
        for (int x = 0; x <= maxBits - minBits; ++x)
            curves[i].push_back({double(x), found[i] ? interpolate(dense, x) : 0.0});
    }

    Allocation a;
    std::vector<int> removed(layers.size(), 0);
    for (const std::vector<size_t> *subset : {&known, &unknown}) {
        if (subset->empty())
            continue;
        std::vector<std::vector<Point>> c;
        std::vector<double> p;
        double total = 0;
        for (size_t i : *subset) {
            c.push_back(curves[i]);
            p.push_back(double(layers[i].params));
            total += double(layers[i].params);
        }
        // Bits to remove (parameters x bits) so the average reaches the target; a little slack for rounding.
        const double need = (double(maxBits) - targetBits) * total - 1e-9 * total;
        double done = 0;
        std::vector<int> x(subset->size(), 0);
        const std::vector<Segment> segs = orderedSegments(c, p);
        // One bit at a time; a group of equal cost is walked round-robin, so equal layers stay within a bit
        // of each other and a larger target only ever extends the sequence.
        for (size_t i = 0; i < segs.size() && done < need;) {
            size_t j = i;
            while (j < segs.size() && sameCost(segs[j].cost, segs[i].cost))
                ++j;
            bool moved = true;
            while (moved && done < need) {
                moved = false;
                for (size_t k = i; k < j && done < need; ++k) {
                    const size_t l = segs[k].layer;
                    if (x[l] >= int(std::lround(segs[k].x1)) || x[l] < int(std::lround(segs[k].x0)))
                        continue;
                    ++x[l];
                    done += p[l];
                    moved = true;
                }
            }
            i = j;
        }
        for (size_t k = 0; k < subset->size(); ++k)
            removed[(*subset)[k]] = x[k];
    }
    a.bits.resize(layers.size());
    double bitsTotal = 0, total = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
        a.bits[i] = maxBits - removed[i];
        bitsTotal += double(a.bits[i]) * double(layers[i].params);
        total += double(layers[i].params);
        if (found[i])
            a.predictedDrop += curves[i][size_t(removed[i])].d;
    }
    a.achieved = bitsTotal / total;
    a.fromSensitivity = !known.empty();
    if (!sensitivity)
        a.note = "no sensitivity analysis: the same bit-width for every layer (one bit more for some to fill the budget)";
    else if (known.empty())
        a.note = "the sensitivity analysis has no bit-width trials for these layers: uniform bit-widths";
    else if (!missing.empty())
        a.note = missingNote(layers, missing);
    return a;
}

std::vector<AllocationLayer> allocationLayers(const Model &model, const std::vector<LayerPlan> &plan)
{
    std::vector<AllocationLayer> out;
    for (const LayerPlan &p : plan) {
        if (p.config.skip)
            continue;
        auto it = model.graph.initializers.find(p.weight);
        out.push_back({p.node, it == model.graph.initializers.end() ? 0 : it->second.numel()});
    }
    return out;
}

namespace {

template <typename Apply>
void applyAllocation(Recipe &recipe, const std::vector<LayerPlan> &plan, const std::vector<AllocationLayer> &layers,
                     size_t count, Apply apply)
{
    if (count != layers.size())
        throw Error("allocation: the allocation does not match the layer list");
    std::map<std::string, const LayerPlan *> byNode;
    for (const LayerPlan &p : plan)
        byNode[p.node] = &p;
    for (size_t i = 0; i < layers.size(); ++i) {
        auto it = byNode.find(layers[i].node);
        if (it == byNode.end())
            throw Error("allocation: layer '" + layers[i].node + "' is not in the plan");
        LayerConfig config = it->second->config;
        apply(config, i);
        recipe.layers[layers[i].node] = config;
    }
}

} // namespace

void applyPruneAllocation(Recipe &recipe, const std::vector<LayerPlan> &plan, const std::vector<AllocationLayer> &layers,
                          const Allocation &allocation)
{
    applyAllocation(recipe, plan, layers, allocation.ratios.size(), [&](LayerConfig &c, size_t i) {
        if (!c.prune)
            c.prune = recipe.prune.value_or(PruneConfig{});
        c.prune->ratio = allocation.ratios[i];
    });
}

void applyBitAllocation(Recipe &recipe, const std::vector<LayerPlan> &plan, const std::vector<AllocationLayer> &layers,
                        const Allocation &allocation)
{
    applyAllocation(recipe, plan, layers, allocation.bits.size(), [&](LayerConfig &c, size_t i) {
        if (!c.weights)
            c.weights = recipe.weights.value_or(QuantSpec{});
        c.weights->bits = allocation.bits[i];
    });
}

} // namespace cw
