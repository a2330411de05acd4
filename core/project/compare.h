// Comparing variants: the quality each one is judged by, the Pareto frontier of quality against a cost (file size
// or latency), and the variant to recommend under a user's constraints, with a red / amber / green verdict for
// every variant. The Compare tab, `cwb project show` and the report use these and nothing else.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/compress/compress.h"

namespace cw {

// What a variant is judged by: accuracy on labelled data; without labels, its top-1 agreement with the base (a
// classifier's first output), else the cosine similarity of its first output to the base's.
enum class QualityKind { None, Accuracy, Agreement, Cosine };
struct Quality {
    QualityKind kind = QualityKind::None;
    double value = 0; // a fraction: 0.912 for 91.2 %
};
Quality variantQuality(const VariantMetrics &metrics);
// The measure a set of variants is compared by: that of the first one measured (None without any).
QualityKind commonQuality(const std::vector<const VariantMetrics *> &variants);
// The base model's quality under the same measure (accuracy, or 1: it agrees with itself).
Quality baseQuality(const VariantMetrics &base, QualityKind kind);
std::string qualityName(QualityKind kind); // "accuracy", "top-1 agreement", "cosine", "none"
// The base's quality minus the variant's, in percentage points (negative: the variant scored higher); nullopt
// when either was not measured that way.
std::optional<double> qualityDrop(const VariantMetrics &base, const VariantMetrics &variant);
// How many times as fast as the base at batch 1 (p50); nullopt when either was not timed.
std::optional<double> speedup(const VariantMetrics &base, const VariantMetrics &variant);

enum class Cost { FileBytes, LatencyBatch1, LatencyBatch64, PeakRss };
// "file size", "latency (batch 1)", "latency (batch 64)", "peak memory (RSS)"
std::string costName(Cost cost);
// The cost of a measured variant; nullopt when it was not measured (batch 64 skipped, say).
std::optional<double> variantCost(const VariantMetrics &metrics, Cost cost);

struct TradeoffPoint {
    double cost = 0;    // smaller is better
    double quality = 0; // larger is better
};
// Indices of the points no other point dominates (another is at most as costly and at least as good, and
// better in one), ordered by cost. Equal points are all on the frontier.
std::vector<size_t> paretoFrontier(const std::vector<TradeoffPoint> &points);

// Which of `variants` lie on the frontier of quality against `cost` (only those with both measured, by the
// common quality, can).
std::vector<bool> onFrontier(const std::vector<const VariantMetrics *> &variants, Cost cost);

// What a variant must meet to ship; unset limits do not apply.
struct Constraints {
    std::optional<int64_t> maxBytes;     // file size
    std::optional<double> maxLatencyMs;  // p50 at batch 1
    std::optional<double> maxDropPoints; // quality drop from the base, in percentage points
    bool any() const { return maxBytes || maxLatencyMs || maxDropPoints; }
    bool operator==(const Constraints &) const = default;
};

// "file at most 300.00 KiB, quality drop at most 1.5 pt", or "none set".
std::string describeConstraints(const Constraints &constraints);

enum class Verdict { Green, Amber, Red };
std::string verdictName(Verdict verdict); // "green", "amber", "red"

struct Assessment {
    Verdict verdict = Verdict::Green;
    std::string reason; // "meets every limit", "size 279.47 within 10% of 300.00 KiB", "drop 2.31 > 1.00 points"
};

struct Recommendation {
    int best = -1;      // index of the recommended variant, -1 when none meets the constraints
    std::string reason; // why it (or nothing) was chosen
    std::vector<Assessment> assessments; // one per variant
};

// Red: breaks a limit, was not measured (for a limited quantity, or at all), or was measured by another quality
// than the rest (commonQuality); amber: meets every limit, but one with less than 10 % to spare; green: meets
// all with room. The best: the highest quality among the variants that are not red, then the smallest file, then
// the lowest latency. Without constraints every measured variant is green and the best is the one of highest
// quality.
Recommendation recommend(const VariantMetrics &base, const std::vector<const VariantMetrics *> &variants,
                         const Constraints &constraints);

} // namespace cw
