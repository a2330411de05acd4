#include "core/analysis/fidelity.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/base/error.h"
#include "core/base/json_number.h"

namespace cw {

void FidelityAccumulator::add(const std::string &name, const Tensor &base, const Tensor &variant)
{
    if (base.shape() != variant.shape())
        throw Error("output '" + name + "': the variant gives shape " + shapeToString(variant.shape()) +
                    ", the base " + shapeToString(base.shape()));
    auto [it, fresh] = m_sums.try_emplace(name);
    if (fresh)
        m_order.push_back(name);
    Sums &s = it->second;
    const std::vector<float> a = base.toFloatVector(), b = variant.toFloatVector();
    for (size_t i = 0; i < a.size(); ++i) {
        const double x = a[i], y = b[i], d = x - y;
        s.signal += x * x;
        s.noise += std::isfinite(d) ? d * d : std::numeric_limits<double>::infinity();
        s.dot += x * y;
        s.variantEnergy += y * y;
        s.maxAbs = std::isfinite(d) ? std::max(s.maxAbs, std::abs(d)) : std::numeric_limits<double>::infinity();
    }
    s.elements += int64_t(a.size());
    // A class distribution per row: [N, C], C >= 2.
    s.classes = s.classes && base.rank() == 2 && base.dim(1) >= 2;
    if (s.classes) {
        const int64_t rows = base.dim(0), cols = base.dim(1);
        for (int64_t r = 0; r < rows; ++r) {
            const auto ra = a.begin() + r * cols, rb = b.begin() + r * cols;
            s.agreeing += std::max_element(ra, ra + cols) - ra == std::max_element(rb, rb + cols) - rb;
        }
        s.rows += rows;
    }
}

std::vector<OutputFidelity> FidelityAccumulator::results() const
{
    std::vector<OutputFidelity> out;
    for (const std::string &name : m_order) {
        const Sums &s = m_sums.at(name);
        OutputFidelity f;
        f.name = name;
        f.elements = s.elements;
        f.sqnrDb = s.noise == 0 ? std::numeric_limits<double>::infinity()
                   : s.signal == 0 ? -std::numeric_limits<double>::infinity()
                                   : 10.0 * std::log10(s.signal / s.noise);
        const double norms = std::sqrt(s.signal * s.variantEnergy);
        f.cosine = norms > 0 ? s.dot / norms : (s.signal == 0 && s.variantEnergy == 0 ? 1.0 : 0.0);
        f.maxAbsError = s.maxAbs;
        f.top1Agreement = s.classes && s.rows > 0 ? double(s.agreeing) / double(s.rows) : -1.0;
        out.push_back(f);
    }
    return out;
}

std::vector<OutputFidelity> measureFidelity(const Session &base, const Session &variant, const Dataset &data,
                                            const FidelityOptions &options, const ProgressFn &progress,
                                            const StopToken *stop)
{
    const Graph &g = base.model().graph;
    if (g.inputs.empty())
        throw Error("the base model has no graph input");
    std::vector<std::string> outputs;
    for (const ValueInfo &v : g.outputs)
        outputs.push_back(v.name);
    const int64_t total = options.limit > 0 ? std::min(options.limit, data.size()) : data.size();
    if (total <= 0)
        throw Error("the dataset has no samples to compare the models on");
    const int64_t batch = datasetBatchSize(g, options.batchSize > 0 ? options.batchSize : 64);
    FidelityAccumulator acc;
    for (int64_t begin = 0; begin < total; begin += batch) {
        checkStop(stop);
        const int64_t count = std::min(batch, total - begin);
        const std::map<std::string, Tensor> feeds = makeBatchFeeds(g, options.inputs, data.batch(begin, count));
        const auto a = base.run(feeds, outputs);
        const auto b = variant.run(feeds, outputs);
        for (const std::string &o : outputs)
            acc.add(o, a.at(o), b.at(o));
        if (progress)
            progress(double(begin + count) / double(total), "comparing with the base");
    }
    return acc.results();
}

std::string fidelityToJson(const std::vector<OutputFidelity> &outputs)
{
    auto number = [](double v) -> nlohmann::json {
        if (std::isinf(v))
            return v > 0 ? "inf" : "-inf";
        if (std::isnan(v))
            return "nan";
        return v;
    };
    nlohmann::ordered_json j;
    j["outputs"] = nlohmann::ordered_json::array();
    for (const OutputFidelity &f : outputs)
        j["outputs"].push_back({{"name", f.name},
                                {"sqnr_db", number(f.sqnrDb)},
                                {"cosine", number(f.cosine)},
                                {"max_abs_error", number(f.maxAbsError)},
                                {"top1_agreement", f.top1Agreement < 0 ? nlohmann::json(nullptr) : number(f.top1Agreement)},
                                {"elements", f.elements}});
    return j.dump();
}

std::vector<OutputFidelity> fidelityFromJson(const std::string &text)
{
    auto number = [](const nlohmann::json &v) {
        if (v.is_string()) {
            const std::string s = v.get<std::string>();
            return s == "inf" ? std::numeric_limits<double>::infinity()
                   : s == "-inf" ? -std::numeric_limits<double>::infinity()
                                 : std::numeric_limits<double>::quiet_NaN();
        }
        return v.get<double>();
    };
    std::vector<OutputFidelity> out;
    try {
        const nlohmann::json doc = nlohmann::json::parse(text); // kept alive: range-for over a temporary's member dangles
        for (const nlohmann::json &o : doc.at("outputs")) {
            OutputFidelity f;
            f.name = o.at("name").get<std::string>();
            f.sqnrDb = number(o.at("sqnr_db"));
            f.cosine = number(o.at("cosine"));
            f.maxAbsError = number(o.at("max_abs_error"));
            f.top1Agreement = o.at("top1_agreement").is_null() ? -1.0 : number(o.at("top1_agreement"));
            f.elements = integerFromJson(o, "elements");
            out.push_back(f);
        }
    } catch (const nlohmann::json::exception &e) {
        throw Error(std::string("fidelity: ") + e.what());
    }
    return out;
}

} // namespace cw
