#include "core/lm/compress.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "core/base/error.h"
#include "core/base/parallel.h"
#include "core/compress/prune.h"
#include "core/compress/reconstruct.h"
#include "core/lm/gpt_train.h"
#include "core/quant/ggml_blocks.h"
#include "core/quant/quantize.h"
#include "core/train/distill.h"

namespace cw::lm {

namespace {

std::string lowerName(uint32_t type)
{
    std::string name = ggml::typeName(type);
    for (char &ch : name)
        ch = char(std::tolower(static_cast<unsigned char>(ch)));
    return name;
}

// The grid GPTQ and AWQ quantize on: the format's when the recipe names one (its bits, groups and symmetry; the
// legacy formats' float16 scales and, for GPTQ, the k-quants' super-blocks, so the result is one of their
// blocks), else the recipe's.
std::pair<QuantSpec, GroupGrid> gridOf(const QuantSpec &q)
{
    static const std::map<std::string, std::tuple<int, int64_t, bool, GroupGrid>> formats = {
        {"q8_0", {8, 32, true, GroupGrid::Float16}},     {"q5_0", {5, 32, true, GroupGrid::Float16}},
        {"q5_1", {5, 32, false, GroupGrid::Float16}},    {"q4_0", {4, 32, true, GroupGrid::Float16}},
        {"q4_1", {4, 32, false, GroupGrid::Float16}},    {"q6_k", {6, 16, true, GroupGrid::SuperBlock}},
        {"q5_k", {5, 32, false, GroupGrid::SuperBlock}}, {"q4_k", {4, 32, false, GroupGrid::SuperBlock}},
        {"q3_k", {3, 16, true, GroupGrid::SuperBlock}},  {"q2_k", {2, 16, false, GroupGrid::SuperBlock}}};
    const auto it = formats.find(q.format);
    if (it == formats.end())
        return {q, GroupGrid::MinMax};
    const auto &[bits, group, symmetric, grid] = it->second;
    return {groupQuantSpec(bits, group, symmetric), grid};
}

// W' quantized on a legacy format's float16 grid (groups of 32) packed into its blocks: the codes the grids give,
// checked to reproduce every value exactly.
std::string packOnGrid(uint32_t type, const Tensor &w, const LayerQuantResult &g)
{
    const int64_t rows = w.shape()[0], cols = w.shape()[1], blocks = rows * cols / 32;
    if (!g.superBlocks.empty()) { // a k-quant: llama.cpp's scales as GPTQ used them, GPTQ's codes
        std::string bytes(g.superBlocks.begin(), g.superBlocks.end());
        const int64_t superBlocks = cols / 256, blockBytes = ggml::typeTraits(type)->blockBytes;
        if (int64_t(bytes.size()) != rows * superBlocks * blockBytes || int64_t(g.grids.size()) != rows * g.groups)
            throw Error("internal: GPTQ's super-blocks are not the format's");
        const int64_t length = cols / g.groups;
        const float *v = w.data<float>();
        std::vector<int32_t> codes(256);
        for (int64_t r = 0; r < rows; ++r)
            for (int64_t sb = 0; sb < superBlocks; ++sb) {
                for (int64_t k = 0; k < 256; ++k) {
                    const int64_t c = sb * 256 + k;
                    const GroupLevels &lv = g.grids[size_t(r * g.groups + c / length)];
                    codes[size_t(k)] = lv.code(v[r * cols + c]);
                    if (lv.level(codes[size_t(k)]) != v[r * cols + c])
                        throw Error("internal: a GPTQ value is not on its sub-block's grid");
                }
                ggml::setSuperBlockCodes(type, reinterpret_cast<uint8_t *>(bytes.data()) + (r * superBlocks + sb) * blockBytes,
                                         codes.data());
            }
        return bytes;
    }
    if (g.groups * 32 != cols || int64_t(g.grids.size()) != blocks)
        throw Error("internal: GPTQ's groups are not the format's blocks of 32");
    const int32_t bias = type == ggml::Q4_0 ? 8 : type == ggml::Q5_0 ? 16 : 0; // symmetric: stored q = q + bias
    std::vector<int32_t> codes(size_t(rows * cols));
    const size_t nb = size_t(blocks);
    std::vector<float> d(nb), m(nb);
    const float *v = w.data<float>();
    for (int64_t b = 0; b < blocks; ++b) {
        const GroupLevels &lv = g.grids[size_t(b)];
        d[size_t(b)] = lv.grid.scale;
        m[size_t(b)] = lv.offset;
        for (int64_t j = 0; j < 32; ++j) {
            const int32_t q = lv.code(v[b * 32 + j]);
            if (lv.level(q) != v[b * 32 + j] || lv.grid.zeroPoint != 0)
                throw Error("internal: a GPTQ value is not on its group's grid");
            codes[size_t(b * 32 + j)] = q + bias;
        }
    }
    std::string bytes(size_t(rows * ggml::rowBytes(type, cols)), '\0');
    ggml::packBlocks(type, codes.data(), d.data(), m.data(), rows, cols, reinterpret_cast<uint8_t *>(bytes.data()));
    return bytes;
}

SparsityPattern patternOf(const PruneConfig &p)
{
    SparsityPattern s;
    s.ratio = p.ratio;
    if (p.nm) {
        s.n = p.n;
        s.m = p.m;
    }
    return s;
}

bool needsActivations(const LayerConfig &c, bool importance)
{
    if (c.skip)
        return false;
    const bool prune = c.prune && (c.prune->method == PruneMethod::Wanda || c.prune->method == PruneMethod::SparseGpt);
    const bool quant = c.weights && (c.weights->method != QuantMethod::Rtn || (importance && !c.weights->format.empty()));
    return prune || quant;
}

bool isMatrix(const LanguageModel::TensorEntry &e)
{
    return e.shape.size() == 2 && e.role.find(".bias") == std::string::npos && !e.role.empty() &&
           e.role != "position_embedding";
}

bool removesChannels(const LayerConfig &c)
{
    return !c.skip && c.prune && c.prune->method == PruneMethod::Channel;
}

bool removesHeads(const LayerConfig &c)
{
    return !c.skip && c.prune && c.prune->method == PruneMethod::Heads;
}

// Structured pruning narrows ffn_down's and attn_output's columns (their inputs), the other tensors' rows.
bool narrowsColumns(const std::string &role)
{
    return role == "ffn_down" || role == "attn_output";
}

// The tensors whose width follows a block's MLP channels (channel pruning), or its heads (head pruning): the
// matrices and their biases.
bool followsMlpWidth(const std::string &role)
{
    return isMlpMatrix(role) || role == "ffn_up.bias";
}
bool followsHeads(const std::string &role)
{
    return isAttentionMatrix(role) || role == "attn_q.bias" || role == "attn_k.bias" || role == "attn_v.bias";
}

// What structured pruning keeps of a tensor's narrowed axis (a block's MLP channels, or its heads' values): the
// indices, ascending, of `width` before.
struct KeptChannels {
    std::vector<int64_t> kept;
    int64_t width = 0;
};

// Copies the kept channels between a tensor at the full width and its narrow form (ffn_down: columns; the others:
// rows, one value each for a bias), from the full one to the narrow one, or back (the removed ones left as they are).
void copyChannels(const KeptChannels &k, bool columns, bool narrowing, const Tensor &from, Tensor &to)
{
    const Tensor &full = narrowing ? from : to;
    const int64_t keep = int64_t(k.kept.size());
    const int64_t rows = columns ? full.shape()[0] : 1, run = columns ? 1 : full.numel() / full.shape()[0];
    const float *src = from.data<float>();
    float *dst = to.data<float>();
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < keep; ++j) {
            const int64_t atFull = (r * k.width + k.kept[size_t(j)]) * run, atNarrow = (r * keep + j) * run;
            std::memcpy(dst + (narrowing ? atNarrow : atFull), src + (narrowing ? atFull : atNarrow), size_t(run) * 4);
        }
}

// The SQNR of a compressed tensor against its original, with removed channels counted as zeros.
double sqnrOf(const Tensor &original, const Tensor &current, const std::string &role,
              const std::map<std::string, KeptChannels> &removed, const std::string &name)
{
    const auto it = removed.find(name);
    if (it == removed.end() || current.shape() == original.shape())
        return weightError(original, current).sqnrDb;
    Tensor widened(DType::Float32, original.shape());
    copyChannels(it->second, narrowsColumns(role), false, current, widened);
    return weightError(original, widened).sqnrDb;
}

// How a tensor is stored, and so what fine-tuning trains it through: pruned weights kept at zero, a recipe's
// grid (stored F16), then the storage type's encoding.
struct Storage {
    uint32_t type = ggml::F32;
    std::vector<uint8_t> keep;     // pruning mask (empty: dense)
    std::optional<QuantSpec> grid; // round to nearest on this grid before encoding
    std::vector<float> importance; // the encoding's importance weights (empty: none)
    bool identity() const { return type == ggml::F32 && keep.empty() && !grid; }
};

// The values an encoding holds, into *decoded (shaped as the encoded tensor).
void decodeRows(const EncodedTensor &enc, Tensor *decoded)
{
    const int64_t cols = decoded->shape().back(), rows = decoded->numel() / cols, rowBytes = ggml::rowBytes(enc.type, cols);
    const uint8_t *bytes = reinterpret_cast<const uint8_t *>(enc.bytes.data());
    for (int64_t r = 0; r < rows; ++r)
        ggml::dequantizeRow(enc.type, bytes + r * rowBytes, decoded->data<float>() + r * cols, cols);
}

// The values' rows encoded in `type` (with importance weights when given); *decoded receives what they hold.
EncodedTensor encodeRows(uint32_t type, const Tensor &values, const std::vector<float> &importance, Tensor *decoded)
{
    const int64_t cols = values.shape().back(), rows = values.numel() / cols, rowBytes = ggml::rowBytes(type, cols);
    EncodedTensor enc;
    enc.type = type;
    enc.bytes.assign(size_t(rows * rowBytes), '\0');
    ggml::quantizeRows(type, values.data<float>(), reinterpret_cast<uint8_t *>(enc.bytes.data()), rows, cols,
                       importance.empty() ? nullptr : importance.data());
    decodeRows(enc, decoded);
    return enc;
}

// The runner computes with `decoded` (the values `enc` holds) as the tensor `name`, on enc's kernels for a block
// format (float storage runs on the float gemm).
void install(LanguageModel &model, const std::string &name, const Tensor &decoded, const EncodedTensor &enc)
{
    Tensor *w = model.loadedWeight(name);
    std::memcpy(w->data<float>(), decoded.data<float>(), size_t(w->numel()) * 4);
    if (w->shape().size() == 2 && ggml::typeTraits(enc.type)->blockSize > 1)
        model.setEncoded(name, enc);
}

// A master weight through its storage: the encoding, and the values it holds in *decoded.
EncodedTensor project(const Storage &s, const Tensor &master, Tensor *decoded)
{
    Tensor w = master.clone();
    float *v = w.data<float>();
    for (size_t i = 0; i < s.keep.size(); ++i)
        if (!s.keep[i])
            v[i] = 0.f;
    if (s.grid)
        w = fakeQuantize(w, *s.grid, 0).dequantized;
    return encodeRows(s.type, w, s.importance, decoded);
}

// Structured pruning of one block's MLP (recipe "prune": {"method": "channel"}): the `ratio` of its hidden
// channels that contribute least to its output are removed, rows of ffn_gate and ffn_up (and GPT-2's up bias),
// columns of ffn_down. A channel's score is ‖x_j‖ · ‖W_down[:, j]‖, x_j its activations on the calibration text
// (`hiddenNorms`; Wanda's |w| · ‖x‖ over the channel's outgoing weights), or without text ‖W_down[:, j]‖ times the
// norms of its incoming rows. The count kept is rounded to whole blocks of 32 (llama.cpp's formats' rows) when
// the width is.
KeptChannels removeChannels(LanguageModel &model, int block, double ratio, const std::vector<double> *hiddenNorms)
{
    std::map<std::string, std::string> names; // role -> tensor name
    for (const LanguageModel::TensorEntry &e : model.tensors())
        if (e.block == block && followsMlpWidth(e.role))
            names[e.role] = e.name;
    const Tensor &down = *std::as_const(model).loadedWeight(names.at("ffn_down"));
    const int64_t dim = down.shape()[0], F = down.shape()[1];
    std::vector<double> score(size_t(F), 0.0);
    const float *d = down.data<float>();
    for (int64_t r = 0; r < dim; ++r)
        for (int64_t j = 0; j < F; ++j)
            score[size_t(j)] += double(d[r * F + j]) * d[r * F + j];
    for (int64_t j = 0; j < F; ++j) {
        score[size_t(j)] = std::sqrt(score[size_t(j)]);
        if (hiddenNorms) {
            score[size_t(j)] *= (*hiddenNorms)[size_t(j)];
            continue;
        }
        for (const char *role : {"ffn_up", "ffn_gate"})
            if (names.count(role)) {
                const float *w = std::as_const(model).loadedWeight(names.at(role))->data<float>() + j * dim;
                double sq = 0;
                for (int64_t c = 0; c < dim; ++c)
                    sq += double(w[c]) * w[c];
                score[size_t(j)] *= std::sqrt(sq);
            }
    }
    const int64_t keep = keptChannels(F, ratio);
    KeptChannels k;
    k.width = F;
    k.kept.resize(size_t(F));
    std::iota(k.kept.begin(), k.kept.end(), 0);
    std::stable_sort(k.kept.begin(), k.kept.end(), [&](int64_t a, int64_t b) { return score[size_t(a)] > score[size_t(b)]; });
    k.kept.resize(size_t(keep));
    std::sort(k.kept.begin(), k.kept.end());
    for (const auto &[role, name] : names) {
        const Tensor &w = *std::as_const(model).loadedWeight(name);
        const bool columns = role == "ffn_down";
        Shape shape = w.shape();
        shape[columns ? 1 : 0] = keep;
        Tensor narrow(DType::Float32, shape);
        copyChannels(k, columns, true, w, narrow);
        model.resizeWeight(name, std::move(narrow));
    }
    return k;
}

// Structured pruning of one llama block's attention (recipe "prune": {"method": "heads"}): the `ratio` of its
// key / value heads, each with the query heads that read it, that contribute least to the block's output are
// removed — rows of attn_q, attn_k, attn_v (and their biases), columns of attn_output. A query head's contribution
// is ‖W_o,h A_h‖ over the calibration text, A_h the head's attention output, computed from its Gram matrix
// G_h = A_h^T A_h (`grams`, hd x hd per query head) as tr(W_o,h G_h W_o,h^T) — for a head of one value this is
// the MLP channels' ‖x_j‖ · ‖W[:, j]‖ — and without text ‖W_o,h‖² · ‖W_v,h‖², the outgoing and the value weights.
// A group's score is the sum of its query heads'. Returns what each resized tensor (by name) keeps.
std::map<std::string, KeptChannels> removeHeads(LanguageModel &model, int block, double ratio,
                                                const std::vector<std::vector<double>> *grams)
{
    std::map<std::string, std::string> names; // role -> tensor name
    for (const LanguageModel::TensorEntry &e : model.tensors())
        if (e.block == block && followsHeads(e.role))
            names[e.role] = e.name;
    const LanguageModel &m = model;
    const int64_t hd = m.config().headDim;
    const Tensor &o = *m.loadedWeight(names.at("attn_output")), &v = *m.loadedWeight(names.at("attn_v"));
    const int64_t dim = o.shape()[0], H = o.shape()[1] / hd, KVH = v.shape()[0] / hd, group = H / KVH;
    std::vector<double> score(size_t(KVH), 0.0);
    for (int64_t h = 0; h < H; ++h) {
        double s = 0;
        const float *w = o.data<float>() + h * hd;
        if (grams) {
            const std::vector<double> &G = (*grams)[size_t(h)];
            for (int64_t r = 0; r < dim; ++r)
                for (int64_t a = 0; a < hd; ++a) {
                    double row = 0;
                    for (int64_t b = 0; b < hd; ++b)
                        row += G[size_t(a * hd + b)] * w[r * H * hd + b];
                    s += double(w[r * H * hd + a]) * row;
                }
        } else {
            double out = 0, in = 0;
            for (int64_t r = 0; r < dim; ++r)
                for (int64_t a = 0; a < hd; ++a)
                    out += double(w[r * H * hd + a]) * w[r * H * hd + a];
            const float *vh = v.data<float>() + (h / group) * hd * dim;
            for (int64_t i = 0; i < hd * dim; ++i)
                in += double(vh[i]) * vh[i];
            s = out * in;
        }
        score[size_t(h / group)] += s;
    }
    std::vector<int64_t> groups(static_cast<size_t>(KVH));
    std::iota(groups.begin(), groups.end(), 0);
    std::stable_sort(groups.begin(), groups.end(), [&](int64_t a, int64_t b) { return score[size_t(a)] > score[size_t(b)]; });
    groups.resize(size_t(keptHeads(KVH, ratio)));
    std::sort(groups.begin(), groups.end());
    // The kept values of the query heads (attn_q, attn_output) and of the key / value heads.
    KeptChannels queries{{}, H * hd}, keys{{}, KVH * hd};
    for (const int64_t g : groups) {
        for (int64_t i = 0; i < hd; ++i)
            keys.kept.push_back(g * hd + i);
        for (int64_t i = 0; i < group * hd; ++i)
            queries.kept.push_back(g * group * hd + i);
    }
    std::map<std::string, KeptChannels> result;
    for (const auto &[role, name] : names) {
        const KeptChannels &k = role.rfind("attn_q", 0) == 0 || role == "attn_output" ? queries : keys;
        const Tensor &w = *m.loadedWeight(name);
        const bool columns = narrowsColumns(role);
        Shape shape = w.shape();
        shape[columns ? 1 : 0] = int64_t(k.kept.size());
        Tensor narrow(DType::Float32, shape);
        copyChannels(k, columns, true, w, narrow);
        model.resizeWeight(name, std::move(narrow));
        result[name] = k;
    }
    return result;
}

// What the calibration passes gather for one input site of the block being compressed.
struct SiteStats {
    std::optional<Hessian> hessian;
    AwqSample awq;
};

// The recipe's fine-tuning of the compressed model (see compress.h): trains a GPT of its weights through each
// tensor's storage, then writes the result into the model and `result` (encoded, tensors by name in `byName`).
// `base` holds the uncompressed weights (the teacher when distilling).
void finetuneCompressed(LanguageModel &model, const Recipe &recipe, const LmCompressOptions &o, int64_t ctx,
                        std::map<std::string, Storage> storage, const Gpt &base,
                        const std::map<std::string, KeptChannels> &removed, LmCompressResult &result,
                        std::map<std::string, LmTensorResult> &byName, const ProgressFn &progress,
                        const StopToken *stop)
{
    const FinetuneConfig &f = recipe.finetune;
    const int threads = resolveThreads(o.threads);
    Gpt student = Gpt::fromModel(model);
    // Every trained parameter's checkpoint tensor and storage (a tensor the recipe left alone: its stored type).
    std::map<std::string, const LanguageModel::TensorEntry *> entryOf; // by llama.cpp's name
    std::map<std::string, Storage> byRole;
    for (const LanguageModel::TensorEntry &e : model.tensors()) {
        const std::string role = model.llamaName(e.name);
        if (!student.parameters().count(role))
            continue;
        entryOf[role] = &e;
        auto it = storage.find(e.name);
        Storage s;
        if (it != storage.end())
            s = std::move(it->second);
        else
            s.type = ggml::typeFromName(e.type);
        byRole[role] = std::move(s);
    }
    std::map<std::string, EncodedTensor> last; // every projected parameter's latest encoding
    GptTrainHooks hooks;
    hooks.project = [&](const std::string &role, const Tensor &master, Tensor *effective) {
        const Storage &s = byRole.at(role);
        if (s.identity())
            return false;
        last[role] = project(s, master, effective);
        return true;
    };
    LmFinetuneResult fr;
    fr.distilled = f.distill.has_value();
    if (f.distill)
        hooks.batchLoss = [&](const Gpt &m, const int32_t *tokens, int64_t B, int64_t T,
                              std::map<std::string, Tensor> *grads) {
            const Tensor teacher = base.logits(tokens, B, T, threads);
            return m.loss(tokens, B, T, grads, threads,
                          [&](const Tensor &logits, const std::vector<int64_t> &targets, Tensor *dlogits) {
                              return distillationLoss(logits, teacher, &targets, f.distill->temperature,
                                                      f.distill->alpha, dlogits);
                          });
        };
    fr.windowTokens = std::min(ctx, student.shape().ctx);
    // Windows of windowTokens + 1 tokens, and one token more for the last window's random start.
    fr.windows = (int64_t(o.calibration.size()) - 1) / (fr.windowTokens + 1);
    if (fr.windows < 1)
        throw Error("the training text has " + std::to_string(o.calibration.size()) +
                    " tokens, fewer than one window of " + std::to_string(fr.windowTokens + 1) + " and one more");
    if (f.samples > 0)
        fr.windows = std::min(fr.windows, f.samples);
    GptTrainOptions to;
    to.ctx = fr.windowTokens;
    to.batch = std::max<int64_t>(1, std::min(f.batchSize, fr.windows));
    to.steps = std::max<int64_t>(1, (int64_t(f.epochs) * fr.windows + to.batch - 1) / to.batch);
    to.lr = f.lr;
    to.minLr = f.lr / 10;
    to.warmup = to.steps / 10;
    to.weightDecay = 0;
    to.seed = f.seed;
    to.threads = threads;
    to.evalEvery = 0;
    const std::vector<int32_t> text(o.calibration.begin(),
                                    o.calibration.begin() + fr.windows * (fr.windowTokens + 1) + 1);
    trainGpt(student, text, {}, to,
             [&](const GptTrainStep &s) {
                 fr.loss.push_back(s.loss);
                 fr.steps = s.step;
                 fr.seconds = s.seconds;
                 if (o.finetuneStep)
                     o.finetuneStep(s.step, s.steps, s.loss);
                 if (progress)
                     progress(double(s.step) / double(s.steps), "fine-tuning");
             },
             stop, hooks);

    // The trained tensors into the model and the result.
    for (const auto &[role, param] : student.parameters()) {
        const LanguageModel::TensorEntry &e = *entryOf.at(role);
        const Storage &s = byRole.at(role);
        EncodedTensor enc;
        if (s.identity()) {
            enc.type = ggml::F32;
            enc.bytes.assign(reinterpret_cast<const char *>(param.data<float>()), size_t(param.numel()) * 4);
        } else {
            enc = std::move(last.at(role));
        }
        install(model, e.name, param, enc);
        LmTensorResult &r = byName[e.name];
        if (!r.changed) {
            r.settings = "fine-tuned";
            r.type = ggml::typeName(enc.type);
            r.changed = true;
            r.ggmlType = enc.type;
            r.bytes = e.bytes;
        } else {
            r.settings += " · fine-tuned";
        }
        r.sqnrDb = sqnrOf(base.parameters().at(role), param, e.role, removed, e.name);
        r.zeros = std::count(param.data<float>(), param.data<float>() + param.numel(), 0.f);
        result.encoded[e.name] = std::move(enc);
    }
    result.finetune = std::move(fr);
}

} // namespace

bool isMlpMatrix(const std::string &role)
{
    return role == "ffn_up" || role == "ffn_gate" || role == "ffn_down";
}

bool isAttentionMatrix(const std::string &role)
{
    return role == "attn_q" || role == "attn_k" || role == "attn_v" || role == "attn_output";
}

std::optional<LayerConfig> tensorSettings(const Recipe &recipe, const LanguageModel::TensorEntry &e)
{
    const auto it = recipe.layers.find(e.name);
    if (it != recipe.layers.end())
        return it->second;
    if (e.block >= 0 && isMatrix(e) && (recipe.prune || recipe.weights)) {
        LayerConfig c;
        // Channel pruning removes hidden channels of the MLPs, head pruning heads of the attention; the other
        // matrices keep their shapes.
        const bool structured = recipe.prune && (recipe.prune->method == PruneMethod::Channel ||
                                                 recipe.prune->method == PruneMethod::Heads);
        if (!structured || (recipe.prune->method == PruneMethod::Channel ? isMlpMatrix(e.role) : isAttentionMatrix(e.role)))
            c.prune = recipe.prune;
        c.weights = recipe.weights;
        if (!c.prune && !c.weights)
            return std::nullopt;
        return c;
    }
    return std::nullopt;
}

int64_t keptChannels(int64_t width, double ratio)
{
    int64_t keep = width - std::llround(ratio * double(width));
    if (width % 32 == 0 && keep > 32)
        keep = (keep + 16) / 32 * 32;
    return std::clamp<int64_t>(keep, 1, width);
}

int64_t keptHeads(int64_t kvHeads, double ratio)
{
    return std::clamp<int64_t>(kvHeads - std::llround(ratio * double(kvHeads)), 1, kvHeads);
}

Shape narrowedShape(const Config &c, const LanguageModel::TensorEntry &e, const PruneConfig &prune)
{
    Shape s = e.shape;
    if (e.block < 0 || s.empty())
        return s;
    int64_t &axis = narrowsColumns(e.role) && s.size() == 2 ? s[1] : s[0];
    if (prune.method == PruneMethod::Channel && followsMlpWidth(e.role))
        axis = keptChannels(axis, prune.ratio);
    else if (prune.method == PruneMethod::Heads && followsHeads(e.role))
        axis = axis / c.kvHeads * keptHeads(c.kvHeads, prune.ratio); // the values of a key / value head's group
    return s;
}

std::vector<std::string> recipeTensors(const Recipe &recipe, const LanguageModel &model)
{
    std::vector<std::string> names;
    for (const LanguageModel::TensorEntry &e : model.tensors())
        if (const std::optional<LayerConfig> cfg = tensorSettings(recipe, e); cfg && !cfg->skip && (cfg->prune || cfg->weights))
            names.push_back(e.name);
    return names;
}

void applyEncoded(LanguageModel &model, const std::map<std::string, EncodedTensor> &encoded)
{
    if (!model.loaded())
        throw Error("the language model's weights are not loaded");
    // Shapes with MLP channels or attention heads removed, checked before anything changes: each block's MLP
    // tensors must agree on a width no larger than before; its queries (attn_q, its bias, attn_output) on one
    // width, its keys and values on another, both in whole heads, no larger than before and in the checkpoint's
    // proportion (the query heads that read each key / value head).
    const Config &c = model.config();
    std::map<std::pair<int, int>, std::pair<int64_t, std::string>> widths; // (block, kind) -> a width and its tensor
    for (const LanguageModel::TensorEntry &e : model.tensors()) {
        const Tensor *w = std::as_const(model).loadedWeight(e.name);
        const bool mlp = followsMlpWidth(e.role);
        const bool queries = e.role == "attn_q" || e.role == "attn_q.bias" || e.role == "attn_output";
        const bool keys = followsHeads(e.role) && !queries;
        const auto it = encoded.find(e.name);
        const Shape &shape = it != encoded.end() && !it->second.shape.empty() ? it->second.shape : w ? w->shape() : Shape{};
        const bool resizable = e.block >= 0 && (mlp || ((queries || keys) && c.arch == Arch::Llama));
        if (w && shape != w->shape() && !resizable)
            throw Error("tensor '" + e.name + "' keeps its shape " + shapeToString(w->shape()) + " (" +
                        shapeToString(shape) + " given)");
        if (!resizable || !w)
            continue;
        const bool columns = narrowsColumns(e.role) && shape.size() == 2;
        const int64_t width = columns ? shape.back() : shape.front(), before = columns ? w->shape().back() : w->shape().front();
        const std::string what = mlp ? "MLP" : queries ? "query" : "key / value";
        const auto [at, first] = widths.try_emplace({e.block, mlp ? 0 : queries ? 1 : 2}, width, e.name);
        if (width > before || at->second.first != width || (!mlp && width % c.headDim != 0))
            throw Error("tensor '" + e.name + "' would have " + std::to_string(width) + " " +
                        (mlp ? "hidden channels" : "values of heads") + ", block " + std::to_string(e.block) +
                        "'s other " + what + " tensors " + std::to_string(at->second.first) + " (at most " +
                        std::to_string(before) + (mlp ? "" : ", in heads of " + std::to_string(c.headDim)) + ")");
    }
    for (const auto &[key, queries] : widths) {
        const auto keys = widths.find({key.first, 2});
        if (key.second == 1 && keys != widths.end() && queries.first * c.kvHeads != keys->second.first * c.heads)
            throw Error("tensor '" + queries.second + "' would have " + std::to_string(queries.first / c.headDim) +
                        " heads for the " + std::to_string(keys->second.first / c.headDim) + " key / value heads of '" +
                        keys->second.second + "' (the checkpoint's proportion is " + std::to_string(c.heads) + " to " +
                        std::to_string(c.kvHeads) + ")");
    }
    for (const auto &[name, enc] : encoded) {
        const Tensor *w = model.loadedWeight(name);
        const ggml::TypeTraits *traits = ggml::typeTraits(enc.type);
        if (!w || w->shape().empty() || !traits || !traits->dequantizable)
            throw Error("tensor '" + name + "' is not a weight the runner uses, or its type " + std::to_string(enc.type) +
                        " is unknown");
        Tensor decoded(DType::Float32, enc.shape.empty() ? w->shape() : enc.shape);
        const int64_t cols = decoded.shape().back();
        if (cols % traits->blockSize != 0 ||
            int64_t(enc.bytes.size()) != decoded.numel() / cols * ggml::rowBytes(enc.type, cols))
            throw Error("tensor '" + name + "': " + std::to_string(enc.bytes.size()) + " bytes of " +
                        ggml::typeName(enc.type) + " do not hold its " + std::to_string(decoded.numel()) + " values");
        decodeRows(enc, &decoded);
        if (decoded.shape() != w->shape())
            model.resizeWeight(name, decoded.clone()); // MLP channels or heads removed
        install(model, name, decoded, enc);
    }
}

void validateLmRecipe(const Recipe &recipe, const LanguageModel &model, bool haveCalibration)
{
    if (recipe.activations)
        throw Error("recipe: quantize.activations: a language model's activations stay float (weights only)");
    if (recipe.finetune.epochs > 0) {
        if (recipe.finetune.distill && !recipe.finetune.distill->features.empty())
            throw Error("recipe: finetune.distill.features: a language model distils its token logits only");
        if (recipe.finetune.augment.active())
            throw Error("recipe: finetune.augment: augmentation shifts and mirrors images, not text");
        if (!haveCalibration)
            throw Error("recipe: finetune: fine-tuning a language model needs training text (the calibration text)");
    }
    for (const auto &[key, layer] : recipe.layers) {
        const std::string &name = key; // (clang 14 cannot capture a structured binding)
        const auto &entries = model.tensors();
        const auto it = std::find_if(entries.begin(), entries.end(),
                                     [&](const LanguageModel::TensorEntry &e) { return e.name == name; });
        if (it == entries.end())
            throw Error("recipe: layers." + name + ": '" + model.path() + "' has no tensor '" + name + "'");
        if (!isMatrix(*it) && !layer.skip && (layer.prune || layer.weights))
            throw Error("recipe: layers." + name + ": only weight matrices are compressed, and '" + name +
                        "' is a vector");
        InputSite site;
        if (!inputSiteOf(it->role, &site) && needsActivations(layer, false))
            throw Error("recipe: layers." + name + ": " +
                        (layer.prune && (layer.prune->method == PruneMethod::Wanda ||
                                         layer.prune->method == PruneMethod::SparseGpt)
                             ? toString(layer.prune->method)
                             : toString(layer.weights->method)) +
                        " needs the inputs of a block's matrix; use rtn, magnitude or a format for '" + name + "'");
    }
    // Structured pruning: the same share of every block's MLP channels, or of its heads (a GGUF file declares one
    // feed-forward width and one head count).
    auto sameShare = [&](bool (*removes)(const LayerConfig &), bool (*reaches)(const std::string &), const char *kind,
                         const std::string &refusal, const std::string &what) {
        std::optional<double> firstRatio;
        std::string first, firstLabel;
        for (const LanguageModel::TensorEntry &e : model.tensors()) {
            const std::optional<LayerConfig> c = tensorSettings(recipe, e);
            const bool structured = c && removes(*c);
            if (structured && !reaches(e.role))
                throw Error("recipe: layers." + e.name + ": " + refusal + "; '" + e.name + "' is not one of them");
            if (!reaches(e.role) || e.block < 0)
                continue;
            // llama.cpp reads heads whose values do not span the width (attention.key_length) in its llama
            // architecture only: its GPT-2 and qwen2 shape the attention's matrices by the width.
            const Config &mc = model.config();
            if (structured && reaches == isAttentionMatrix &&
                (mc.arch != Arch::Llama || (mc.format == "gguf" ? mc.archName != "llama" : mc.archName == "qwen2")))
                throw Error("recipe: prune: heads are removed from llama models (GGUF architecture llama), not from " +
                            mc.archName + ", whose heads llama.cpp computes across the whole width");
            const std::optional<double> ratio = structured ? std::optional<double>(c->prune->ratio) : std::nullopt;
            const std::string label = structured ? layerSettingsLabel(*c) : std::string("no ") + kind;
            if (first.empty()) {
                firstRatio = ratio;
                first = e.name;
                firstLabel = label;
            } else if (ratio != firstRatio) {
                throw Error("recipe: prune: " + std::string(kind) + " removes the same share of every block's " + what +
                            ": '" + e.name + "' has " + label + ", '" + first + "' " + firstLabel);
            }
        }
    };
    sameShare(removesChannels, isMlpMatrix, "channel pruning",
              "channel pruning of a language model removes hidden channels of its MLPs (ffn_gate, ffn_up, ffn_down)",
              "MLP channels (a GGUF file declares one feed-forward width)");
    sameShare(removesHeads, isAttentionMatrix, "head pruning",
              "head pruning removes whole heads of a block's attention (attn_q, attn_k, attn_v, attn_output)",
              "attention heads (a GGUF file declares one head count)");
    for (const LanguageModel::TensorEntry &e : model.tensors()) {
        const std::optional<LayerConfig> c = tensorSettings(recipe, e);
        if (!c || c->skip)
            continue;
        if (c->weights && c->weights->method != QuantMethod::Rtn && c->weights->format.empty() &&
            c->weights->granularity == Granularity::Tensor)
            throw Error("recipe: '" + e.name + "': " + toString(c->weights->method) +
                        " quantizes per row or per group, not per tensor");
        if (!haveCalibration && needsActivations(*c, false))
            throw Error("recipe: '" + e.name + "' (" + layerSettingsLabel(*c) + ") needs calibration text");
    }
}

LmCompressResult compressLanguageModel(LanguageModel &model, const Recipe &recipe, const LmCompressOptions &o,
                                       const ProgressFn &progress, const StopToken *stop)
{
    if (!model.loaded())
        throw Error("the language model's weights are not loaded");
    const bool haveCalibration = !o.calibration.empty();
    validateLmRecipe(recipe, model, haveCalibration);
    if (o.importance && !haveCalibration)
        throw Error("importance-weighted formats need calibration text");
    const Config &c = model.config();

    // The plan: every tensor's settings, grouped by block (-1: outside the blocks).
    struct Item {
        const LanguageModel::TensorEntry *entry;
        LayerConfig config;
    };
    std::map<int, std::vector<Item>> byBlock;
    int64_t work = 0;
    std::set<std::string> only(o.only.begin(), o.only.end());
    for (const LanguageModel::TensorEntry &e : model.tensors())
        if (const std::optional<LayerConfig> cfg = tensorSettings(recipe, e); cfg && !cfg->skip && (cfg->prune || cfg->weights)) {
            if (!o.only.empty() && !only.erase(e.name))
                continue;
            byBlock[e.block].push_back({&e, *cfg});
            ++work;
        }
    if (!only.empty())
        throw Error("tensor '" + *only.begin() + "' is not one the recipe compresses");
    if (!o.only.empty() && std::any_of(byBlock.begin(), byBlock.end(), [](const auto &b) {
            return std::any_of(b.second.begin(), b.second.end(),
                               [](const Item &it) { return removesChannels(it.config) || removesHeads(it.config); });
        }))
        throw Error("channel and head pruning change a block's MLP or attention matrices together: they are not "
                    "compressed apart");
    if (!o.only.empty() && (recipe.sequential || recipe.finetune.epochs > 0))
        throw Error(recipe.sequential ? "a part of a recipe's matrices is compressed alone only when the recipe is not "
                                        "sequential (\"sequential\": false)"
                                      : "a part of a recipe's matrices cannot be fine-tuned alone");
    // Sequential: the blocks in order, each calibrated on the blocks before it as compressed. Otherwise the last
    // block first, so that every calibration pass sees the unchanged blocks before it (and the tensors outside the
    // blocks, the embedding among them, last).
    std::vector<int> order;
    for (const auto &entry : byBlock)
        order.push_back(entry.first);
    if (!recipe.sequential)
        std::sort(order.begin(), order.end(), [](int a, int b) { return (a < 0) != (b < 0) ? b < 0 : a > b; });

    // Calibration chunks: ctx tokens each, at most maxTokens in all.
    std::vector<std::vector<int32_t>> chunks;
    const int64_t ctx = std::max<int64_t>(2, std::min<int64_t>(o.ctx, c.contextLength > 0 ? c.contextLength : o.ctx));
    for (int64_t at = 0; at + ctx <= int64_t(o.calibration.size()) && at + ctx <= o.maxTokens; at += ctx)
        chunks.emplace_back(o.calibration.begin() + at, o.calibration.begin() + at + ctx);
    if (haveCalibration && chunks.empty())
        throw Error("the calibration text has " + std::to_string(o.calibration.size()) +
                    " tokens, fewer than one chunk of " + std::to_string(ctx));
    int64_t passes = 0;
    for (const auto &[block, items] : byBlock) {
        passes += block >= 0 && std::any_of(items.begin(), items.end(), [&](const Item &it) {
                      return needsActivations(it.config, o.importance);
                  });
        for (bool (*removes)(const LayerConfig &) : {removesChannels, removesHeads})
            passes += block >= 0 && haveCalibration &&
                      std::any_of(items.begin(), items.end(), [&](const Item &it) { return removes(it.config); });
    }
    const double steps = double(work + passes);
    double done = 0;
    // With fine-tuning, compression takes the first fifth of the progress bar.
    const bool finetune = recipe.finetune.epochs > 0;
    const double compressShare = finetune ? 0.2 : 1.0;
    auto step = [&](const std::string &what) {
        checkStop(stop);
        if (progress)
            progress(compressShare * done / std::max(steps, 1.0), what);
    };
    std::optional<Gpt> base; // the uncompressed weights, when fine-tuning (its teacher when distilling)
    if (finetune) {
        // Refused before any work when it cannot fit beside the loaded model: six float32 copies of the parameters
        // (the teacher, the student, its gradients, Adam's two moments, the quantized tensors' float masters), and
        // a step's activations: per block about 8 · dim + 3 · ffn values per token and the attention's T² per head
        // and window, for the student and the teacher, and three [tokens, vocab] logits.
        const int64_t params = model.config().parameters;
        const int64_t T = ctx, B = std::max<int64_t>(1, recipe.finetune.batchSize), N = B * T;
        const uint64_t activations =
            uint64_t(2 * c.layers * (N * (8 * c.dim + 3 * c.ffn) + B * c.heads * T * T) + 3 * N * c.vocab);
        checkMemoryBudget(liveTensorBytes() + (uint64_t(params) * 6 + activations) * 4,
                          "fine-tuning '" + model.path() + "' (six float32 copies of its " + std::to_string(params) +
                          " parameters and the activations of " + std::to_string(B) + " windows of " + std::to_string(T) +
                          " tokens, beside the loaded model; fewer windows per step (finetune.batch_size) or a shorter "
                          "context need less)");
        base.emplace(Gpt::fromModel(model));
    }
    std::map<std::string, Storage> storage; // every compressed matrix's

    LmCompressResult result;
    std::shared_ptr<const LanguageModel> view(&model, [](const LanguageModel *) {}); // not owned
    std::map<std::string, LmTensorResult> byName;
    std::map<std::string, KeptChannels> removed; // the tensors whose hidden channels were removed
    // One calibration pass: the chunks through blocks 0 ... block (nothing after it changes its inputs), the inputs
    // of that block's matrices handed to `observer`.
    auto observeBlock = [&](int block, const std::function<void(InputSite, const float *, int64_t, int64_t)> &observer) {
        Context context(view, ctx, o.threads);
        context.setInputObserver([&](int b, InputSite site, const float *x, int64_t n, int64_t width) {
            if (b == block)
                observer(site, x, n, width);
        });
        for (const std::vector<int32_t> &chunk : chunks) {
            checkStop(stop);
            context.reset();
            context.observeThrough(chunk, block);
        }
        done += 1;
    };
    // A bias structured pruning narrowed (no matrix of the recipe): stored in its checkpoint type at its new width.
    auto storeNarrowedBias = [&](const LanguageModel::TensorEntry &e, const std::string &settings) {
        Tensor values = std::as_const(model).loadedWeight(e.name)->clone();
        const EncodedTensor &enc = result.encoded[e.name] = encodeRows(ggml::typeFromName(e.type), values, {}, &values);
        install(model, e.name, values, enc);
        LmTensorResult &r = byName[e.name];
        r.settings = settings;
        r.type = e.type;
        r.changed = true;
        r.ggmlType = enc.type;
        r.bytes = e.bytes;
        r.sqnrDb = sqnrOf(model.readTensor(e.name), values, e.role, removed, e.name);
    };
    for (const int block : order) {
        const std::vector<Item> &items = byBlock.at(block);
        // Structured pruning first: the block's attention loses heads, its MLP channels, then its matrices are
        // compressed at their width.
        const auto headItem =
            std::find_if(items.begin(), items.end(), [](const Item &it) { return removesHeads(it.config); });
        if (block >= 0 && headItem != items.end()) {
            std::optional<std::vector<std::vector<double>>> grams; // of each query head's attention output
            if (haveCalibration) {
                step("head importance of block " + std::to_string(block));
                const int64_t hd = c.headDim;
                observeBlock(block, [&](InputSite site, const float *x, int64_t n, int64_t width) {
                    if (site != InputSite::AttentionOutput)
                        return;
                    std::vector<std::vector<double>> &g = grams ? *grams : grams.emplace(size_t(width / hd),
                                                                                        std::vector<double>(size_t(hd * hd)));
                    parallelFor(resolveThreads(o.threads), width / hd, [&](int64_t h) {
                        double *G = g[size_t(h)].data();
                        for (int64_t i = 0; i < n; ++i) {
                            const float *a = x + i * width + h * hd;
                            for (int64_t p = 0; p < hd; ++p)
                                for (int64_t q = 0; q < hd; ++q)
                                    G[p * hd + q] += double(a[p]) * a[q];
                        }
                    });
                });
            }
            for (auto &[name, kept] : removeHeads(model, block, headItem->config.prune->ratio, grams ? &*grams : nullptr))
                removed[name] = std::move(kept);
            for (const LanguageModel::TensorEntry &e : model.tensors())
                if (e.block == block && removed.count(e.name) && !isAttentionMatrix(e.role)) // Q / K / V biases
                    storeNarrowedBias(e, layerSettingsLabel(headItem->config) + " (the block's attention)");
        }
        const auto channelItem =
            std::find_if(items.begin(), items.end(), [](const Item &it) { return removesChannels(it.config); });
        if (block >= 0 && channelItem != items.end()) {
            std::optional<std::vector<double>> norms; // of the hidden channels' activations
            if (haveCalibration) {
                step("channel importance of block " + std::to_string(block));
                std::vector<double> &sq = norms.emplace();
                observeBlock(block, [&](InputSite site, const float *x, int64_t n, int64_t width) {
                    if (site != InputSite::MlpHidden)
                        return;
                    sq.resize(size_t(width));
                    for (int64_t i = 0; i < n; ++i)
                        for (int64_t j = 0; j < width; ++j)
                            sq[size_t(j)] += double(x[i * width + j]) * x[i * width + j];
                });
                for (double &v : sq)
                    v = std::sqrt(v);
            }
            const KeptChannels kept = removeChannels(model, block, channelItem->config.prune->ratio, norms ? &*norms : nullptr);
            for (const LanguageModel::TensorEntry &e : model.tensors()) {
                if (e.block != block || !followsMlpWidth(e.role))
                    continue;
                removed[e.name] = kept;
                if (e.role == "ffn_up.bias") // GPT-2's
                    storeNarrowedBias(e, layerSettingsLabel(channelItem->config) + " (the block's MLP)");
            }
        }
        // The inputs of this block's matrices, with the blocks before it already compressed.
        std::map<InputSite, SiteStats> stats;
        const bool calibrate = block >= 0 && std::any_of(items.begin(), items.end(), [&](const Item &it) {
                                   return needsActivations(it.config, o.importance);
                               });
        if (calibrate) {
            // Only what the block's methods read: AWQ its input sample, every other method the Hessian (whose
            // rank-k update per token is the calibration's cost).
            bool awq = false, hessian = false;
            for (const Item &it : items) {
                const LayerConfig &c = it.config;
                awq = awq || (c.weights && c.weights->method == QuantMethod::Awq);
                hessian = hessian ||
                          (c.prune && (c.prune->method == PruneMethod::Wanda || c.prune->method == PruneMethod::SparseGpt)) ||
                          (c.weights && (c.weights->method == QuantMethod::Gptq ||
                                         (o.importance && !c.weights->format.empty())));
            }
            step("calibration activations of block " + std::to_string(block));
            observeBlock(block, [&](InputSite site, const float *x, int64_t n, int64_t width) {
                SiteStats &s = stats[site];
                if (hessian) {
                    if (!s.hessian)
                        s.hessian.emplace(width);
                    s.hessian->add(x, n);
                }
                if (awq)
                    s.awq.add(x, n, width);
            });
            result.calibrationTokens = int64_t(chunks.size()) * ctx;
        }
        for (const Item &item : items) {
            const LanguageModel::TensorEntry &e = *item.entry;
            step(e.name);
            Tensor *w = model.loadedWeight(e.name);
            if (!w || w->shape().size() != 2)
                throw Error("tensor '" + e.name + "' is not a weight matrix the runner uses");
            const Tensor original = removed.count(e.name) ? model.readTensor(e.name) : w->clone();
            const SiteStats *site = nullptr;
            if (InputSite s; inputSiteOf(e.role, &s) && stats.count(s))
                site = &stats.at(s);
            Tensor current = w->clone();
            LayerConfig cfg = item.config;
            std::string fallbackNote;
            if (cfg.weights && !cfg.weights->format.empty()) {
                const uint32_t asked = ggml::typeFromName(cfg.weights->format);
                const uint32_t stored = ggml::fallbackType(asked, e.shape[1]);
                if (stored != asked) {
                    cfg.weights->format = lowerName(stored);
                    fallbackNote = " (rows of " + std::to_string(e.shape[1]) + ": " + ggml::typeName(asked) +
                                   " falls back to " + ggml::typeName(stored) + ")";
                }
            }
            Storage &store = storage[e.name];
            if (cfg.prune) {
                const PruneConfig &p = *cfg.prune;
                switch (p.method) {
                case PruneMethod::Magnitude: current = pruneMagnitude(current, p.ratio); break;
                case PruneMethod::NM: current = pruneNM(current, p.n, p.m, 1); break;
                case PruneMethod::Block: current = pruneBlocks(current, p.ratio, 0); break;
                case PruneMethod::Wanda:
                    current = wandaPrune(current, site->hessian->columnNorms(), patternOf(p)).pruned;
                    break;
                case PruneMethod::SparseGpt: {
                    SparseGptOptions so;
                    so.pattern = patternOf(p);
                    so.percdamp = o.damping;
                    current = sparseGptPrune(current, *site->hessian, so, {}, stop).pruned;
                    break;
                }
                case PruneMethod::Channel:
                case PruneMethod::Heads: break; // the block's channels or heads are removed above
                }
                if (p.method != PruneMethod::Channel && p.method != PruneMethod::Heads) {
                    const float *v = current.data<float>();
                    store.keep.resize(size_t(current.numel()));
                    for (size_t i = 0; i < store.keep.size(); ++i)
                        store.keep[i] = v[i] != 0.f;
                }
            }
            // Pruned only: stored in the checkpoint's float type (F16 for a block format); quantized: F16 or the format.
            uint32_t storage = e.type == "F32" ? ggml::F32 : e.type == "BF16" ? ggml::BF16 : ggml::F16;
            std::optional<LayerQuantResult> onGrid; // GPTQ's grids when they are a legacy format's
            if (cfg.weights) {
                storage = ggml::F16;
                const QuantSpec &q = *cfg.weights;
                if (q.method == QuantMethod::Gptq) {
                    GptqOptions go;
                    std::tie(go.spec, go.grid) = gridOf(q);
                    if (go.grid == GroupGrid::SuperBlock)
                        go.superBlockType = ggml::typeFromName(q.format);
                    go.percdamp = o.damping;
                    go.actOrder = o.actOrder;
                    LayerQuantResult g = gptqQuantize(current, *site->hessian, go, {}, stop);
                    current = g.dequantized;
                    if (go.grid != GroupGrid::MinMax)
                        onGrid = std::move(g);
                } else if (q.method == QuantMethod::Awq) {
                    AwqOptions ao;
                    std::tie(ao.spec, ao.grid) = gridOf(q);
                    if (ao.grid == GroupGrid::SuperBlock) // AWQ searches its own grids; llama.cpp's quantizer packs
                        ao.grid = GroupGrid::MinMax;
                    current = awqQuantize(current, site->awq, ao, {}, stop).dequantized;
                } else if (q.format.empty()) {
                    current = fakeQuantize(current, q, 0).dequantized;
                }
                if (!q.format.empty())
                    storage = ggml::typeFromName(q.format);
                else
                    store.grid = gridOf(q).first;
            }
            store.type = storage;
            if (o.importance && site && cfg.weights && !cfg.weights->format.empty())
                store.importance = site->hessian->meanSquares();
            // Encoded once; the runner computes with what the encoding holds. Values GPTQ left on a legacy format's
            // own grid are packed as they are; everything else goes through llama.cpp's quantizer.
            {
                EncodedTensor &enc = result.encoded[e.name];
                if (onGrid) {
                    enc = {storage, packOnGrid(storage, current, *onGrid), {}};
                    decodeRows(enc, &current);
                } else {
                    enc = encodeRows(storage, current, store.importance, &current);
                }
                install(model, e.name, current, enc);
            }
            LmTensorResult &r = byName[e.name];
            r.settings = layerSettingsLabel(cfg) + (cfg.weights && cfg.weights->format.empty() ? " (stored F16)" : "") +
                         fallbackNote;
            r.type = ggml::typeName(storage);
            r.changed = true;
            r.ggmlType = storage;
            r.sqnrDb = sqnrOf(original, current, e.role, removed, e.name);
            const float *v = current.data<float>();
            r.zeros = std::count(v, v + current.numel(), 0.f);
            r.bytes = uint64_t(e.shape[0] * ggml::rowBytes(storage, e.shape[1]));
            done += 1;
        }
    }

    if (finetune) {
        finetuneCompressed(model, recipe, o, ctx, std::move(storage), *base, removed, result, byName,
                           [&](double fraction, std::string_view what) {
                               if (progress)
                                   progress(compressShare + (1 - compressShare) * fraction, what);
                           },
                           stop);
    }
    for (const auto &entry : removed)
        result.encoded.at(entry.first).shape = std::as_const(model).loadedWeight(entry.first)->shape();

    // Every tensor, the unchanged ones as the checkpoint stores them.
    for (const LanguageModel::TensorEntry &e : model.tensors()) {
        LmTensorResult r;
        if (const auto it = byName.find(e.name); it != byName.end()) {
            r = it->second;
        } else {
            r.settings = "unchanged";
            r.type = e.type;
            r.bytes = e.bytes;
            r.sqnrDb = std::numeric_limits<double>::infinity();
        }
        r.name = e.name;
        r.role = e.role;
        r.block = e.block;
        r.params = e.numel;
        result.bytes += r.bytes;
        result.params += r.params;
        const auto cut = removed.find(e.name);
        result.baseParams += cut == removed.end() ? e.numel : e.numel / int64_t(cut->second.kept.size()) * cut->second.width;
        result.tensors.push_back(r);
    }
    if (progress)
        progress(1.0, "done");
    return result;
}

} // namespace cw::lm
