#include "core/project/compare.h"

#include <algorithm>
#include <cstdio>
#include <numeric>

#include "core/base/format.h"

namespace cw {

Quality variantQuality(const VariantMetrics &m)
{
    if (m.samples > 0)
        return {QualityKind::Accuracy, m.accuracy};
    if (!m.fidelity.empty()) {
        const OutputFidelity &f = m.fidelity.front();
        if (f.top1Agreement >= 0)
            return {QualityKind::Agreement, f.top1Agreement};
        return {QualityKind::Cosine, f.cosine};
    }
    return {};
}

QualityKind commonQuality(const std::vector<const VariantMetrics *> &variants)
{
    for (const VariantMetrics *m : variants)
        if (const Quality q = variantQuality(*m); q.kind != QualityKind::None)
            return q.kind;
    return QualityKind::None;
}

Quality baseQuality(const VariantMetrics &base, QualityKind kind)
{
    switch (kind) {
    case QualityKind::Accuracy: return base.samples > 0 ? Quality{kind, base.accuracy} : Quality{};
    case QualityKind::Agreement:
    case QualityKind::Cosine: return {kind, 1.0};
    case QualityKind::None: break;
    }
    return {};
}

std::string qualityName(QualityKind kind)
{
    switch (kind) {
    case QualityKind::Accuracy: return "accuracy";
    case QualityKind::Agreement: return "top-1 agreement";
    case QualityKind::Cosine: return "cosine";
    case QualityKind::None: break;
    }
    return "none";
}

std::optional<double> qualityDrop(const VariantMetrics &base, const VariantMetrics &variant)
{
    const Quality q = variantQuality(variant);
    const Quality b = baseQuality(base, q.kind);
    if (q.kind == QualityKind::None || b.kind != q.kind)
        return std::nullopt;
    return (b.value - q.value) * 100.0;
}

std::optional<double> speedup(const VariantMetrics &base, const VariantMetrics &variant)
{
    if (base.p50Batch1Ms <= 0 || variant.p50Batch1Ms <= 0)
        return std::nullopt;
    return base.p50Batch1Ms / variant.p50Batch1Ms;
}

std::string costName(Cost cost)
{
    switch (cost) {
    case Cost::FileBytes: return "file size";
    case Cost::LatencyBatch1: return "latency (batch 1)";
    case Cost::LatencyBatch64: return "latency (batch 64)";
    case Cost::PeakRss: return "peak memory (RSS)";
    }
    return {};
}

std::optional<double> variantCost(const VariantMetrics &m, Cost cost)
{
    switch (cost) {
    case Cost::FileBytes: return m.fileBytes > 0 ? std::optional<double>(double(m.fileBytes)) : std::nullopt;
    case Cost::LatencyBatch1: return m.p50Batch1Ms > 0 ? std::optional<double>(m.p50Batch1Ms) : std::nullopt;
    case Cost::LatencyBatch64:
        return m.batch64Skipped.empty() && m.p50Batch64Ms > 0 ? std::optional<double>(m.p50Batch64Ms) : std::nullopt;
    case Cost::PeakRss: return m.peakRssBytes > 0 ? std::optional<double>(double(m.peakRssBytes)) : std::nullopt;
    }
    return std::nullopt;
}

std::vector<size_t> paretoFrontier(const std::vector<TradeoffPoint> &points)
{
    std::vector<size_t> order(points.size());
    std::iota(order.begin(), order.end(), size_t(0));
    // By cost, and among equal costs the best first: a point is then dominated exactly when an earlier point
    // is at least as good and differs from it.
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        if (points[a].cost != points[b].cost)
            return points[a].cost < points[b].cost;
        return points[a].quality > points[b].quality;
    });
    std::vector<size_t> frontier;
    for (size_t i : order) {
        const TradeoffPoint &p = points[i];
        const bool dominated = std::any_of(frontier.begin(), frontier.end(), [&](size_t j) {
            const TradeoffPoint &q = points[j];
            return q.quality >= p.quality && (q.quality > p.quality || q.cost < p.cost);
        });
        if (!dominated)
            frontier.push_back(i);
    }
    return frontier;
}

std::vector<bool> onFrontier(const std::vector<const VariantMetrics *> &variants, Cost cost)
{
    std::vector<TradeoffPoint> points;
    std::vector<size_t> index;
    const QualityKind kind = commonQuality(variants);
    for (size_t i = 0; i < variants.size(); ++i) {
        const auto c = variantCost(*variants[i], cost);
        const Quality q = variantQuality(*variants[i]);
        if (c && q.kind != QualityKind::None && q.kind == kind) {
            points.push_back({*c, q.value});
            index.push_back(i);
        }
    }
    std::vector<bool> on(variants.size(), false);
    for (size_t k : paretoFrontier(points))
        on[index[k]] = true;
    return on;
}

std::string describeConstraints(const Constraints &c)
{
    if (!c.any())
        return "none set";
    std::string out;
    auto add = [&](const std::string &part) { out += (out.empty() ? "" : ", ") + part; };
    char buf[64];
    if (c.maxBytes)
        add("file at most " + humanBytes(double(*c.maxBytes)));
    if (c.maxLatencyMs) {
        std::snprintf(buf, sizeof buf, "batch-1 latency at most %g ms", *c.maxLatencyMs);
        add(buf);
    }
    if (c.maxDropPoints) {
        std::snprintf(buf, sizeof buf, "quality drop at most %g pt", *c.maxDropPoints);
        add(buf);
    }
    return out;
}

std::string verdictName(Verdict verdict)
{
    switch (verdict) {
    case Verdict::Green: return "green";
    case Verdict::Amber: return "amber";
    case Verdict::Red: return "red";
    }
    return {};
}

namespace {

std::string format(const char *fmt, double a, double b)
{
    char buf[160];
    std::snprintf(buf, sizeof buf, fmt, a, b);
    return buf;
}

// The limits a variant is held to, each as (value, limit, what) with "less is better".
struct Check {
    std::optional<double> value;
    double limit;
    const char *unit;     // for the messages: "KiB", "ms", "points"
    double scale;         // value / scale in the messages
    const char *name;     // "size", "latency", "drop"
};

} // namespace

Recommendation recommend(const VariantMetrics &base, const std::vector<const VariantMetrics *> &variants,
                         const Constraints &c)
{
    Recommendation r;
    std::vector<Quality> quality;
    const QualityKind kind = commonQuality(variants);
    for (const VariantMetrics *m : variants) {
        const Quality q = variantQuality(*m);
        quality.push_back(q);
        if (q.kind != QualityKind::None && q.kind != kind) { // accuracy and agreement do not rank together
            r.assessments.push_back({Verdict::Red, "measured by " + qualityName(q.kind) + ", the others by " +
                                                       qualityName(kind) + ": not comparable"});
            continue;
        }
        std::vector<Check> checks;
        if (c.maxBytes)
            checks.push_back({variantCost(*m, Cost::FileBytes), double(*c.maxBytes), "KiB", 1024.0, "size"});
        if (c.maxLatencyMs)
            checks.push_back({variantCost(*m, Cost::LatencyBatch1), *c.maxLatencyMs, "ms", 1.0, "batch-1 latency"});
        if (c.maxDropPoints) {
            std::optional<double> drop = qualityDrop(base, *m);
            if (drop)
                *drop = std::max(0.0, *drop); // a variant that scores higher has no drop
            checks.push_back({drop, *c.maxDropPoints, "points", 1.0, "drop"});
        }
        Assessment a;
        std::string amber;
        for (const Check &k : checks) {
            if (!k.value) {
                a.verdict = Verdict::Red;
                a.reason = std::string("no ") + k.name + " measured";
                break;
            }
            if (*k.value > k.limit) {
                a.verdict = Verdict::Red;
                a.reason = k.name + format(" %.2f > %.2f ", *k.value / k.scale, k.limit / k.scale) + k.unit;
                break;
            }
            if (amber.empty() && *k.value > 0.9 * k.limit)
                amber = k.name + format(" %.2f within 10%% of %.2f ", *k.value / k.scale, k.limit / k.scale) + k.unit;
        }
        if (a.verdict != Verdict::Red) {
            if (!amber.empty()) {
                a.verdict = Verdict::Amber;
                a.reason = amber;
            } else if (q.kind == QualityKind::None && m->fileBytes == 0) {
                a.verdict = Verdict::Red;
                a.reason = "not measured";
            } else {
                a.reason = c.any() ? "meets every limit" : "no limits set";
            }
        }
        r.assessments.push_back(a);
    }

    for (size_t i = 0; i < variants.size(); ++i) {
        if (r.assessments[i].verdict == Verdict::Red)
            continue;
        if (r.best < 0) {
            r.best = int(i);
            continue;
        }
        const VariantMetrics &a = *variants[i], &b = *variants[size_t(r.best)];
        const double qa = quality[i].value, qb = quality[size_t(r.best)].value;
        if (qa != qb ? qa > qb
                     : a.fileBytes != b.fileBytes ? a.fileBytes < b.fileBytes : a.p50Batch1Ms < b.p50Batch1Ms)
            r.best = int(i);
    }
    const size_t passing = size_t(std::count_if(r.assessments.begin(), r.assessments.end(),
                                                [](const Assessment &a) { return a.verdict != Verdict::Red; }));
    if (variants.empty())
        r.reason = "no variants yet";
    else if (r.best < 0)
        r.reason = c.any() ? "no variant meets the limits" : "no variant was measured";
    else {
        const Quality &q = quality[size_t(r.best)];
        char buf[200];
        std::snprintf(buf, sizeof buf, "the highest %s (%.2f%%) of the %zu variant%s %s", qualityName(q.kind).c_str(),
                      q.value * 100.0, passing, passing == 1 ? "" : "s",
                      !c.any() ? "measured (no limits set)" : passing == 1 ? "that meets the limits" : "that meet the limits");
        r.reason = buf;
    }
    return r;
}

} // namespace cw
