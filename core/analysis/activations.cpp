#include "core/analysis/activations.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/base/json_number.h"

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

std::string activationsToJson(const std::vector<ActivationSample> &samples, const std::string &dataset, int64_t rows)
{
    nlohmann::ordered_json j{{"dataset", dataset}, {"samples", rows}, {"values", nlohmann::ordered_json::array()}};
    for (const ActivationSample &s : samples) {
        if (s.values.empty() && s.binned.counts.empty())
            continue; // nothing finite kept
        const Histogram h = s.values.empty() ? s.binned
                                             : computeHistogram(s.values.data(), int64_t(s.values.size()),
                                                                kStoredActivationBins);
        j["values"].push_back({{"name", s.name}, {"total", s.total}, {"nan", s.nanCount}, {"inf", s.infCount},
                               {"min", s.min}, {"max", s.max}, {"stride", s.stride}, {"lo", h.lo}, {"hi", h.hi},
                               {"counts", h.counts}});
    }
    return j.dump();
}

StoredActivations activationsFromJson(const std::string &text)
{
    StoredActivations out;
    try {
        const nlohmann::json j = nlohmann::json::parse(text);
        out.dataset = j.at("dataset").get<std::string>();
        out.samples = integerFromJson(j, "samples");
        for (const nlohmann::json &v : j.at("values")) {
            ActivationSample s;
            s.name = v.at("name").get<std::string>();
            s.total = integerFromJson(v, "total");
            s.nanCount = integerFromJson(v, "nan");
            s.infCount = integerFromJson(v, "inf");
            s.min = v.at("min").get<double>();
            s.max = v.at("max").get<double>();
            s.stride = integerFromJson(v, "stride");
            s.binned.lo = v.at("lo").get<double>();
            s.binned.hi = v.at("hi").get<double>();
            s.binned.counts = integersFromJson(v.at("counts"));
            if (!std::isfinite(s.binned.lo) || !std::isfinite(s.binned.hi) || s.binned.hi < s.binned.lo ||
                s.binned.counts.empty() || s.binned.counts.size() > 4096)
                throw Error("value '" + s.name + "' has no valid histogram");
            out.values.push_back(std::move(s));
        }
    } catch (const nlohmann::json::exception &e) {
        throw Error(std::string("stored activations: ") + e.what());
    } catch (const Error &e) {
        throw Error(std::string("stored activations: ") + e.what());
    }
    return out;
}

} // namespace cw
