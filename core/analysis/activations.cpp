#include "core/analysis/activations.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/base/error.h"

namespace cw {

std::vector<ActivationSample> collectActivations(const Session &session, const Dataset &data, int64_t samples,
                                                 const std::vector<std::string> &valueNames,
                                                 const ActivationOptions &options, const StopToken *stop,
                                                 const ProgressFn &progress)
{
    if (valueNames.empty())
        throw Error("collectActivations: no value names given");
    if (data.size() == 0)
        throw Error("dataset '" + data.name + "' has no samples");
    const Model &model = session.model();
    if (model.graph.inputs.empty())
        throw Error("model has no graph input to feed the dataset to");
    for (const std::string &name : valueNames) {
        const bool known = model.graph.isInitializer(name) || model.graph.producer(name) != nullptr ||
                           std::any_of(model.graph.inputs.begin(), model.graph.inputs.end(),
                                       [&](const ValueInfo &v) { return v.name == name; });
        if (!known)
            throw Error("no value named '" + name + "' in the model");
    }

    const int64_t rows = samples <= 0 ? data.size() : std::min(samples, data.size());
    const int64_t batchSize = datasetBatchSize(model.graph, std::max<int64_t>(1, options.batchSize));
    const int64_t cap = std::max<int64_t>(1, options.maxValuesPerName);

    std::vector<ActivationSample> result(valueNames.size());
    for (size_t i = 0; i < valueNames.size(); ++i) {
        result[i].name = valueNames[i];
        result[i].min = std::numeric_limits<double>::infinity();
        result[i].max = -std::numeric_limits<double>::infinity();
    }
    std::vector<int64_t> nextKept(valueNames.size(), 0); // element index (over all rows) of the next kept value

    if (progress)
        progress(0.0, "collecting activations");
    for (int64_t begin = 0; begin < rows; begin += batchSize) {
        checkStop(stop);
        const int64_t count = std::min(batchSize, rows - begin);
        const std::map<std::string, Tensor> outputs =
            session.run(makeBatchFeeds(model.graph, options.inputs, data.batch(begin, count)), valueNames);
        for (size_t i = 0; i < valueNames.size(); ++i) {
            auto it = outputs.find(valueNames[i]);
            if (it == outputs.end())
                throw Error("value '" + valueNames[i] + "' was not computed");
            const Tensor t = it->second.dtype() == DType::Float32 ? it->second : it->second.castTo(DType::Float32);
            ActivationSample &s = result[i];
            const int64_t n = t.numel();
            if (s.total == 0) {
                // Stride from the expected total so the sample spans every row evenly.
                const int64_t perRow = std::max<int64_t>(1, n / std::max<int64_t>(1, count));
                const int64_t expected = perRow * rows;
                s.stride = std::max<int64_t>(1, (expected + cap - 1) / cap);
                s.values.reserve(size_t(std::min(expected, cap)));
            }
            const float *p = t.f32();
            for (int64_t j = 0; j < n; ++j) {
                const float v = p[j];
                if (std::isnan(v)) {
                    ++s.nanCount;
                    continue;
                }
                if (std::isinf(v)) {
                    ++s.infCount;
                    continue;
                }
                s.min = std::min(s.min, double(v));
                s.max = std::max(s.max, double(v));
            }
            // Kept values: every stride-th element counted over all rows.
            int64_t k = nextKept[i] - s.total;
            for (; k < n && int64_t(s.values.size()) < cap; k += s.stride)
                if (std::isfinite(p[k]))
                    s.values.push_back(p[k]);
            nextKept[i] = s.total + k;
            s.total += n;
        }
        if (progress)
            progress(double(begin + count) / double(rows), "collecting activations");
    }
    for (ActivationSample &s : result)
        if (s.total == s.nanCount + s.infCount)
            s.min = s.max = 0;
    return result;
}

} // namespace cw
