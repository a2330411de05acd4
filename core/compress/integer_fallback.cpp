#include "core/compress/integer_fallback.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/analysis/fidelity.h"
#include "core/compress/qrewrite.h"
#include "core/runtime/shape_inference.h"
#include "core/runtime/session.h"

namespace cw {

bool fidelityFloorDecides(const LayerPlan &p, const Graph &g)
{
    if (p.config.integer.has_value() || p.nested || !p.config.weights || p.config.skip)
        return false;
    const Node *node = g.findNode(p.node);
    return node && whyNotInteger(*node, g, p.config).empty();
}

std::vector<std::string> markFallbackCandidates(const Model &model, std::vector<LayerPlan> &plan)
{
    std::vector<std::string> candidates;
    for (LayerPlan &p : plan)
        if (fidelityFloorDecides(p, model.graph)) {
            p.config.integer = true;
            candidates.push_back(p.node);
        }
    return candidates;
}

namespace {

std::string dB(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f dB", v);
    return buf;
}

} // namespace

FallbackResult keepFidelityFloor(const Model &model, const Model &reference, std::vector<LayerPlan> &plan,
                                 const std::vector<std::string> &candidates,
                                 const std::map<std::string, ActivationRange> &ranges, const Dataset &data,
                                 const FallbackOptions &options, const ProgressFn &progress, const StopToken *stop,
                                 const std::function<void(const std::string &)> &log)
{
    const Session base(reference, SessionOptions{options.threads});
    // The rows after the calibration samples when there are as many again (the floor then holds on data the ranges
    // were not fitted to), else the calibration samples themselves.
    const int64_t calibration = std::min(options.samples, data.size());
    const bool heldOut = data.size() >= 2 * calibration;
    const Dataset after = heldOut ? data.rows(calibration, calibration) : Dataset{};
    const Dataset &measured = heldOut ? after : data;
    FidelityOptions fo;
    fo.limit = calibration;
    fo.inputs = options.inputs;
    const auto say = [&](const std::string &line) {
        if (log)
            log(line);
    };
    // Measurements: the variant as planned, one per candidate alone on float arithmetic, and one per step; the
    // bar counts the first two kinds and the worst case of the third.
    const double total = double(1 + 2 * candidates.size());
    int done = 0;
    const auto measure = [&](const std::vector<LayerPlan> &trialPlan) {
        checkStop(stop);
        Model trial = model.deepCopy();
        rewriteQuantized(trial, trialPlan, ranges);
        inferShapes(trial);
        const Session variant(trial, SessionOptions{options.threads});
        const std::vector<OutputFidelity> f =
            measureFidelity(base, variant, measured, fo, progressSlice(progress, done / total, (done + 1) / total, ""), stop);
        ++done;
        return f.empty() ? -INFINITY : f.front().sqnrDb;
    };
    const auto withFloat = [&](std::vector<LayerPlan> p, const std::string &node) {
        for (LayerPlan &lp : p)
            if (lp.node == node)
                lp.config.integer = false;
        return p;
    };

    FallbackResult r;
    r.floorDb = options.floorDb;
    r.initialSqnrDb = r.finalSqnrDb = measure(plan);
    say("fidelity floor: " + dB(r.initialSqnrDb) + " with " + std::to_string(candidates.size()) +
        " layer(s) on integer kernels, floor " + dB(r.floorDb) + " (first output, " +
        (heldOut ? "on the " + std::to_string(calibration) + " samples after the calibration samples)"
                 : "on the " + std::to_string(calibration) + " calibration samples: the data has fewer than " +
                       std::to_string(calibration) + " more)"));
    if (r.met() || candidates.empty()) {
        if (progress)
            progress(1.0, "");
        return r;
    }
    // Each candidate alone back on float arithmetic: the SQNR that gives orders them.
    std::vector<std::pair<double, std::string>> order;
    for (const std::string &c : candidates) {
        const double s = measure(withFloat(plan, c));
        say("fidelity floor: " + c + " alone on float arithmetic: " + dB(s));
        order.emplace_back(s, c);
    }
    std::stable_sort(order.begin(), order.end(), [](const auto &a, const auto &b) { return a.first > b.first; });
    for (const auto &[alone, node] : order) {
        plan = withFloat(plan, node);
        r.finalSqnrDb = measure(plan);
        r.floatLayers.push_back(node);
        say("fidelity floor: " + node + " keeps float arithmetic: " + dB(r.finalSqnrDb));
        if (r.met())
            break;
    }
    if (!r.met())
        say("fidelity floor: not met with every layer the recipe leaves to the quantizer on float arithmetic (" +
            dB(r.finalSqnrDb) + " < " + dB(r.floorDb) +
            "): the rest is the weights' quantization and the layers the recipe sets");
    if (progress)
        progress(1.0, "");
    return r;
}

} // namespace cw
