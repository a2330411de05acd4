#include "core/lm/allocate.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>
#include <map>

#include "core/base/error.h"
#include "core/quant/ggml_blocks.h"

namespace cw::lm {

namespace {

// Whether a sweep row is one matrix in a storage format ("Q4_K"), not bits, pruning or a whole block.
bool isFormatRow(const SensitivityRow &row)
{
    if (row.role == "block")
        return false;
    try {
        ggml::typeFromName(row.setting);
        return true;
    } catch (const Error &) {
        return false;
    }
}

} // namespace

FormatAllocation allocateFormats(const SensitivityResult &sweep, const LanguageModel &model, double target,
                                 const std::set<std::string> &locked)
{
    if (!(target > 0))
        throw Error("a target of " + std::to_string(target) + " bits per weight");
    // Each swept tensor's format options, largest first.
    struct Option {
        std::string format;
        uint64_t bytes;
        double delta;
    };
    std::vector<std::string> order;
    std::map<std::string, std::vector<Option>> options;
    for (const SensitivityRow &row : sweep.rows) {
        if (!isFormatRow(row))
            continue;
        if (!options.count(row.tensor))
            order.push_back(row.tensor);
        options[row.tensor].push_back({row.setting, row.bytes, std::max(0.0, row.delta)});
    }
    if (order.empty())
        throw Error("the sensitivity sweep has no format settings to allocate (sweep with formats)");
    std::map<std::string, int64_t> params;
    for (const LanguageModel::TensorEntry &e : model.tensors())
        params[e.name] = e.numel;

    FormatAllocation a;
    std::vector<size_t> at(order.size(), 0); // each tensor's current option
    uint64_t bytes = 0;
    int64_t values = 0;
    uint64_t floor = 0;
    for (size_t i = 0; i < order.size(); ++i) {
        std::vector<Option> &o = options[order[i]];
        std::stable_sort(o.begin(), o.end(), [](const Option &x, const Option &y) { return x.bytes > y.bytes; });
        for (size_t k = 1; k < o.size(); ++k) // smaller formats never measure better
            o[k].delta = std::max(o[k].delta, o[k - 1].delta);
        bytes += o[0].bytes;
        floor += locked.count(order[i]) ? o[0].bytes : o.back().bytes;
        if (!params.count(order[i]))
            throw Error("tensor '" + order[i] + "' of the sweep is not in '" + model.path() + "'");
        values += params[order[i]];
    }
    const double budget = target * double(values) / 8.0;
    if (double(floor) > budget) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%.3f bits per weight is below the %.3f the smallest formats swept give",
                      target, 8.0 * double(floor) / double(values));
        throw Error(buf);
    }
    while (double(bytes) > budget) {
        size_t best = order.size();
        double bestCost = std::numeric_limits<double>::infinity();
        for (size_t i = 0; i < order.size(); ++i) {
            const std::vector<Option> &o = options[order[i]];
            if (locked.count(order[i]) || at[i] + 1 >= o.size())
                continue;
            const Option &now = o[at[i]], &next = o[at[i] + 1];
            if (next.bytes >= now.bytes) {
                // no saving: step over it for free
                best = i;
                bestCost = -1;
                break;
            }
            const double cost = (next.delta - now.delta) / double(now.bytes - next.bytes);
            if (cost < bestCost) {
                bestCost = cost;
                best = i;
            }
        }
        if (best == order.size())
            break; // cannot happen: the floor is within the budget
        const std::vector<Option> &o = options[order[best]];
        bytes -= o[at[best]].bytes - o[at[best] + 1].bytes;
        ++at[best];
    }
    for (size_t i = 0; i < order.size(); ++i) {
        const Option &o = options[order[i]][at[i]];
        a.choices.push_back({order[i], o.format, o.bytes, params[order[i]], o.delta});
        a.predictedDelta += o.delta;
    }
    a.bitsPerWeight = 8.0 * double(bytes) / double(values);
    return a;
}

double bitsPerWeightForFileSize(const SensitivityResult &sweep, const LanguageModel &model, uint64_t fileBytes)
{
    if (model.config().format != "gguf")
        throw Error("a target file size applies to a GGUF checkpoint ('" + model.path() +
                    "' is converted on export); give a target in bits per weight");
    std::set<std::string> swept;
    for (const SensitivityRow &row : sweep.rows)
        if (isFormatRow(row))
            swept.insert(row.tensor);
    if (swept.empty())
        throw Error("the sensitivity sweep has no format settings to allocate (sweep with formats)");
    // The checkpoint's file without the swept matrices' bytes (their padding to the alignment stays counted).
    uint64_t rest = openGguf(model.path()).fileSize();
    int64_t values = 0;
    for (const LanguageModel::TensorEntry &e : model.tensors())
        if (swept.count(e.name)) {
            rest -= e.bytes;
            values += e.numel;
        }
    rest += 32 * swept.size(); // each rewritten matrix padded again
    if (fileBytes <= rest || values == 0)
        throw Error("a file of " + std::to_string(fileBytes) + " bytes: the rest of '" + model.path() + "' takes " +
                    std::to_string(rest) + " bytes beside the " + std::to_string(swept.size()) + " matrices swept");
    return 8.0 * double(fileBytes - rest) / double(values);
}

Recipe recipeFromAllocation(const FormatAllocation &allocation, const std::string &name)
{
    Recipe r;
    r.name = name;
    if (r.name.empty()) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "mix-%.2fbpw", allocation.bitsPerWeight);
        r.name = buf;
    }
    for (const FormatChoice &c : allocation.choices) {
        LayerConfig layer;
        QuantSpec q;
        q.format = c.format;
        for (char &ch : q.format)
            ch = char(std::tolower(static_cast<unsigned char>(ch)));
        layer.weights = q;
        r.layers[c.tensor] = layer;
    }
    return r;
}

} // namespace cw::lm
