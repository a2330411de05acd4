#include "core/lm/sensitivity.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/base/json_number.h"

#include "core/base/error.h"
#include "core/compress/prune.h"
#include "core/quant/ggml_blocks.h"
#include "core/quant/quantize.h"

namespace cw::lm {

namespace {

// Copies the original back into the loaded weight when it goes out of scope.
class Restore {
public:
    Restore(Tensor &weight) : m_weight(weight), m_original(weight.clone()) {}
    ~Restore() { std::memcpy(m_weight.data<float>(), m_original.data<float>(), size_t(m_weight.numel()) * 4); }
    const Tensor &original() const { return m_original; }

private:
    Tensor &m_weight;
    Tensor m_original;
};

std::string percent(double r)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "prune %g%%", r * 100);
    return buf;
}

} // namespace

std::vector<std::string> sensitivityTensors(const LanguageModel &model)
{
    std::vector<std::string> names;
    for (const LanguageModel::TensorEntry &e : model.tensors())
        if (e.block >= 0 && e.shape.size() == 2 && e.role.find(".bias") == std::string::npos)
            names.push_back(e.name);
    return names;
}

SensitivityResult analyzeSensitivity(LanguageModel &model, const std::vector<int32_t> &tokens,
                                     const SensitivityOptions &o, const ProgressFn &progress, const StopToken *stop)
{
    if (!model.loaded())
        throw Error("the language model's weights are not loaded");
    for (int b : o.bits)
        if (b < 2 || b > 8)
            throw Error("sensitivity settings quantize to 2..8 bits, not " + std::to_string(b));
    for (double r : o.prune)
        if (!(r > 0 && r < 1))
            throw Error("a pruning ratio must lie in (0, 1), not " + std::to_string(r));
    for (const std::string &f : o.formats)
        ggml::typeFromName(f);
    if (o.bits.empty() && o.prune.empty() && o.formats.empty())
        throw Error("no sensitivity setting: give bit-widths, pruning ratios or formats");

    // The matrices to test: the blocks' 2-D weights, or the named ones.
    const std::vector<std::string> names = o.tensors.empty() ? sensitivityTensors(model) : o.tensors;
    std::vector<const LanguageModel::TensorEntry *> entries;
    for (const LanguageModel::TensorEntry &e : model.tensors())
        if (std::find(names.begin(), names.end(), e.name) != names.end())
            entries.push_back(&e);
    if (!o.tensors.empty() && entries.size() != o.tensors.size())
        throw Error("'" + model.path() + "' has no tensor among those named, or names one twice");

    std::shared_ptr<const LanguageModel> view(&model, [](const LanguageModel *) {}); // not owned
    const int64_t settings = int64_t(o.bits.size() + o.prune.size() + o.formats.size());
    // Block by block (the file's order within each): a block's trials share its cached input.
    std::stable_sort(entries.begin(), entries.end(),
                     [](const LanguageModel::TensorEntry *a, const LanguageModel::TensorEntry *b) { return a->block < b->block; });
    std::map<int, int> perBlock;
    for (const LanguageModel::TensorEntry *e : entries)
        ++perBlock[e->block];
    const int64_t wholeBlocks =
        o.blocks ? std::count_if(perBlock.begin(), perBlock.end(), [](const auto &b) { return b.first >= 0 && b.second > 1; })
                 : 0;
    const double steps = double(1 + (int64_t(entries.size()) + wholeBlocks) * settings);
    int64_t done = 0;
    // The residual stream entering `inputsBlock` for every chunk, on the unchanged model (cacheBlockInputs).
    int inputsBlock = -1;
    std::vector<Tensor> inputs;
    auto measure = [&](const std::string &what) {
        checkStop(stop);
        PerplexityResult r;
        if (inputsBlock < 0) {
            r = perplexity(view, tokens, o.perplexity, {}, stop);
        } else {
            Context ctx(view, o.perplexity.ctx, o.perplexity.threads);
            std::vector<ChunkScore> scores;
            for (size_t c = 0; c < inputs.size(); ++c) {
                checkStop(stop);
                ctx.reset();
                scores.push_back(scoreChunk(ctx.evalFrom(inputs[c], inputsBlock), tokens, int64_t(c), o.perplexity));
            }
            r = perplexityOf(scores);
        }
        ++done;
        if (progress)
            progress(double(done) / steps, what);
        return r;
    };
    SensitivityResult result;
    const PerplexityResult base = measure("the unchanged model");
    result.basePerplexity = base.perplexity;
    result.scored = base.scored;
    result.ctx = o.perplexity.ctx;
    // The settings, each a label and what it makes of a matrix (its values, and its bytes as stored).
    struct Setting {
        std::string label;
        std::function<Tensor(const Tensor &, const LanguageModel::TensorEntry &, uint64_t *)> apply;
    };
    std::vector<Setting> settingList;
    for (int b : o.bits) {
        QuantSpec spec;
        spec.bits = b;
        spec.granularity = o.granularity;
        spec.groupSize = o.groupSize;
        spec.symmetric = true;
        const std::string grid = o.granularity == Granularity::Group     ? " g" + std::to_string(o.groupSize)
                                 : o.granularity == Granularity::Channel ? " per row"
                                                                         : " per tensor";
        settingList.push_back({std::to_string(b) + "-bit" + grid, [spec](const Tensor &w, const auto &, uint64_t *bytes) {
                                   *bytes = uint64_t(quantizedBytes(w.shape(), spec, 0));
                                   return fakeQuantize(w, spec, 0).dequantized;
                               }});
    }
    for (double r : o.prune)
        settingList.push_back({percent(r), [r](const Tensor &w, const LanguageModel::TensorEntry &e, uint64_t *bytes) {
                                   *bytes = e.bytes;
                                   return pruneMagnitude(w, r);
                               }});
    for (const std::string &f : o.formats)
        settingList.push_back({ggml::typeName(ggml::typeFromName(f)), [f](const Tensor &w, const auto &, uint64_t *bytes) {
                                   const int64_t rows = w.shape()[0], cols = w.shape()[1];
                                   const uint32_t type = ggml::fallbackType(ggml::typeFromName(f), cols);
                                   const int64_t rowBytes = ggml::rowBytes(type, cols);
                                   std::vector<uint8_t> encoded(size_t(rows * rowBytes));
                                   ggml::quantizeRows(type, w.data<float>(), encoded.data(), rows, cols);
                                   Tensor decoded = Tensor::uninitialized(DType::Float32, w.shape());
                                   for (int64_t r = 0; r < rows; ++r)
                                       ggml::dequantizeRow(type, encoded.data() + r * rowBytes,
                                                           decoded.data<float>() + r * cols, cols);
                                   *bytes = uint64_t(encoded.size());
                                   return decoded;
                               }});

    // The trials of one block: each matrix alone, then (blocks) all of them together, at each setting. Tensors
    // outside the blocks (block -1: an embedding named in SensitivityOptions::tensors) run whole.
    auto trialsOf = [&](int block, const std::vector<const LanguageModel::TensorEntry *> &matrices) {
        inputs.clear();
        inputsBlock = -1;
        if (o.cacheBlockInputs && block >= 0) { // every weight is the checkpoint's here
            Context ctx(view, o.perplexity.ctx, o.perplexity.threads);
            const int64_t chunks = perplexityChunks(int64_t(tokens.size()), o.perplexity);
            for (int64_t c = 0; c < chunks; ++c) {
                checkStop(stop);
                inputs.push_back(ctx.residualBefore(chunkTokens(tokens, c, o.perplexity), block));
            }
            inputsBlock = block;
        }
        std::vector<Tensor *> weights;
        std::vector<std::unique_ptr<Restore>> restores;
        for (const LanguageModel::TensorEntry *e : matrices) {
            Tensor *w = model.loadedWeight(e->name);
            if (!w || w->shape().size() != 2)
                throw Error("tensor '" + e->name + "' is not a weight matrix the runner uses");
            weights.push_back(w);
            restores.push_back(std::make_unique<Restore>(*w));
        }
        // Changes matrices [first, last) by the setting, measures, and puts them back.
        auto trial = [&](size_t first, size_t last, const Setting &setting) {
            SensitivityRow row;
            double signal = 0, noise = 0;
            for (size_t i = first; i < last; ++i) {
                uint64_t bytes = 0;
                const Tensor &original = restores[i]->original();
                const Tensor changed = setting.apply(original, *matrices[i], &bytes);
                std::memcpy(weights[i]->data<float>(), changed.data<float>(), size_t(changed.numel()) * 4);
                row.bytes += bytes;
                const WeightError error = weightError(original, changed);
                signal += error.signal;
                noise += error.noise;
            }
            const bool alone = last - first == 1;
            row.tensor = alone ? matrices[first]->name : "blk." + std::to_string(block);
            row.role = alone ? matrices[first]->role : "block";
            row.block = block;
            row.setting = setting.label;
            row.sqnrDb = sqnrFromPowers(signal, noise);
            row.perplexity = measure(row.tensor + ", " + setting.label).perplexity;
            row.delta = row.perplexity - result.basePerplexity;
            row.relativeDelta = row.delta / result.basePerplexity;
            result.rows.push_back(row);
            for (size_t i = first; i < last; ++i)
                std::memcpy(weights[i]->data<float>(), restores[i]->original().data<float>(),
                            size_t(weights[i]->numel()) * 4);
        };
        for (size_t i = 0; i < matrices.size(); ++i)
            for (const Setting &setting : settingList)
                trial(i, i + 1, setting);
        if (o.blocks && block >= 0 && matrices.size() > 1)
            for (const Setting &setting : settingList)
                trial(0, matrices.size(), setting);
    };
    for (size_t i = 0; i < entries.size();) {
        size_t j = i;
        while (j < entries.size() && entries[j]->block == entries[i]->block)
            ++j;
        trialsOf(entries[i]->block, {entries.begin() + std::ptrdiff_t(i), entries.begin() + std::ptrdiff_t(j)});
        i = j;
    }
    return result;
}


std::string sensitivityToJson(const SensitivityResult &r, int indent)
{
    using ojson = nlohmann::ordered_json;
    ojson rows = ojson::array();
    for (const SensitivityRow &row : r.rows)
        rows.push_back({{"tensor", row.tensor}, {"role", row.role}, {"block", row.block}, {"setting", row.setting},
                        {"perplexity", jsonNumber(row.perplexity)}, {"delta", jsonNumber(row.delta)},
                        {"relative_delta", jsonNumber(row.relativeDelta)}, {"sqnr_db", jsonNumber(row.sqnrDb)},
                        {"bytes", row.bytes}});
    return ojson{{"base_perplexity", jsonNumber(r.basePerplexity)}, {"scored", r.scored}, {"ctx", r.ctx}, {"rows", rows}}
        .dump(indent);
}

SensitivityResult sensitivityFromJson(const std::string &text, const std::string &source)
{
    try {
        const nlohmann::json j = nlohmann::json::parse(text);
        SensitivityResult r;
        r.basePerplexity = numberFromJson(j, "base_perplexity");
        r.scored = integerFromJson(j, "scored");
        r.ctx = integerFromJson(j, "ctx");
        for (const nlohmann::json &row : j.at("rows")) {
            SensitivityRow s;
            s.tensor = row.at("tensor").get<std::string>();
            s.role = row.at("role").get<std::string>();
            s.block = integerFromJson<int>(row, "block");
            s.setting = row.at("setting").get<std::string>();
            s.perplexity = numberFromJson(row, "perplexity");
            s.delta = numberFromJson(row, "delta");
            s.relativeDelta = numberFromJson(row, "relative_delta");
            s.sqnrDb = numberFromJson(row, "sqnr_db");
            s.bytes = integerFromJson<uint64_t>(row, "bytes");
            r.rows.push_back(std::move(s));
        }
        return r;
    } catch (const nlohmann::json::exception &e) {
        throw Error("'" + source + "': not a language model's sensitivity sweep (" + e.what() + ")");
    } catch (const Error &e) {
        throw Error("'" + source + "': " + e.what());
    }
}

} // namespace cw::lm
