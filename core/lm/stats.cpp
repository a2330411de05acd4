#include "core/lm/stats.h"

#include <algorithm>
#include <cmath>

namespace cw::lm {

WeightStats weightStats(const LanguageModel &model, const std::string &name, int bins, double outlierFactor)
{
    WeightStats s;
    s.name = name;
    for (const LanguageModel::TensorEntry &e : model.tensors())
        if (e.name == name)
            s.type = e.type;
    const Tensor t = model.readTensor(name);
    s.shape = t.shape();
    const float *v = t.data<float>();
    const int64_t n = t.numel();
    s.all = computeTensorStats(v, n);
    s.histogram = computeHistogram(v, n, bins);
    const int64_t cols = s.shape.size() >= 2 ? s.shape.back() : n;
    const int64_t rows = cols ? n / cols : 0;
    s.rowMin.assign(size_t(rows), INFINITY);
    s.rowMax.assign(size_t(rows), -INFINITY);
    if (s.shape.size() >= 2)
        s.columnAbsMax.assign(size_t(cols), 0.f);
    for (int64_t r = 0; r < rows; ++r) {
        const float *row = v + r * cols;
        float lo = INFINITY, hi = -INFINITY;
        for (int64_t c = 0; c < cols; ++c) {
            if (!std::isfinite(row[c]))
                continue;
            lo = std::min(lo, row[c]);
            hi = std::max(hi, row[c]);
            if (!s.columnAbsMax.empty())
                s.columnAbsMax[size_t(c)] = std::max(s.columnAbsMax[size_t(c)], std::fabs(row[c]));
        }
        s.rowMin[size_t(r)] = lo;
        s.rowMax[size_t(r)] = hi;
    }
    if (!s.columnAbsMax.empty()) {
        std::vector<float> sorted = s.columnAbsMax;
        std::nth_element(sorted.begin(), sorted.begin() + int64_t(sorted.size() / 2), sorted.end());
        s.typicalColumnAbsMax = sorted[sorted.size() / 2];
        for (int64_t c = 0; c < cols; ++c)
            if (s.columnAbsMax[size_t(c)] > outlierFactor * s.typicalColumnAbsMax)
                s.outlierColumns.push_back(c);
        std::sort(s.outlierColumns.begin(), s.outlierColumns.end(), [&](int64_t a, int64_t b) {
            return s.columnAbsMax[size_t(a)] > s.columnAbsMax[size_t(b)];
        });
    }
    return s;
}

} // namespace cw::lm
