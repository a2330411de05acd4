#include "core/lm/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>

#include <Eigen/Core>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/base/json_number.h"
#include "core/base/parallel.h"
#include "core/io/gguf.h"
#include "core/io/safetensors.h"
#include "core/lm/hf_tokenizer.h"
#include "core/quant/ggml_kernels.h"
#include "core/runtime/kernels.h"
#include "core/runtime/ops/common.h"
#include "resources/demo_data.h"

namespace cw::lm {

namespace fs = std::filesystem;

// One block's weights, every matrix [out, in] row-major. Absent tensors stay null (isNull()).
struct BlockWeights {
    Tensor attnNorm, attnNormB, q, k, v, qB, kB, vB, qkv, qkvB, o, oB;
    Tensor ffnNorm, ffnNormB, gate, up, upB, down, downB;
};

// ---- the checkpoint behind a model: GGUF or safetensors, under one naming ------------------------------------
//
// Tensors are addressed by role (llama.cpp's names: "token_embd", "blk.N.attn_q.weight", ...); a safetensors
// checkpoint's Hugging Face names are mapped onto them at open.

namespace {

// [r, c] -> [c, r]
Tensor transpose2d(const Tensor &t)
{
    const int64_t r = t.shape()[0], c = t.shape()[1];
    Tensor out = Tensor::uninitialized(DType::Float32, {c, r});
    const float *s = t.data<float>();
    float *d = out.data<float>();
    for (int64_t i = 0; i < r; ++i)
        for (int64_t j = 0; j < c; ++j)
            d[j * r + i] = s[i * c + j];
    return out;
}

} // namespace

struct LanguageModel::Source {
    std::optional<gguf::File> gguf;
    std::optional<safetensors::Checkpoint> st;
    std::map<std::string, std::string> fileName; // role name -> the name in the file
    std::map<std::string, Shape> shapes;         // role name -> row-major shape as stored
    bool transposed = false;                     // GPT-2's Conv1D matrices are stored [in, out]

    bool has(const std::string &role) const { return fileName.count(role) > 0; }
    // Whether the file stores this role's matrix [in, out] (Hugging Face GPT-2's Conv1D), not [out, in].
    bool storedTransposed(const std::string &role, size_t rank) const
    {
        return transposed && rank == 2 && role.find(".weight") != std::string::npos &&
               role.find("embd") == std::string::npos && role.rfind("output.", 0) != 0;
    }
    // The role's values as float32, a matrix as [out, in].
    Tensor read(const std::string &role) const
    {
        const std::string &name = fileName.at(role);
        Tensor t = gguf ? gguf->toFloat(*gguf->tensor(name)) : st->toFloat(*st->tensor(name));
        return storedTransposed(role, t.shape().size()) ? transpose2d(t) : t;
    }
};

namespace {

std::string blockRole(int b, const std::string &role) { return "blk." + std::to_string(b) + "." + role; }

// Hugging Face names -> llama.cpp's (the same map as llama.cpp's converter, for the architectures supported).
std::optional<std::pair<std::string, int>> hfToRole(const std::string &hf, Arch arch)
{
    static const std::regex llamaBlock(R"(^model\.layers\.(\d+)\.(.+)$)");
    static const std::regex gptBlock(R"(^(?:transformer\.)?h\.(\d+)\.(.+)$)");
    static const std::map<std::string, std::string> llamaInBlock = {
        {"input_layernorm.weight", "attn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},
        {"self_attn.k_proj.weight", "attn_k.weight"},
        {"self_attn.v_proj.weight", "attn_v.weight"},
        {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.bias", "attn_v.bias"},
        {"self_attn.o_proj.weight", "attn_output.weight"},
        {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},
        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    static const std::map<std::string, std::string> gptInBlock = {
        {"ln_1.weight", "attn_norm.weight"},     {"ln_1.bias", "attn_norm.bias"},
        {"attn.c_attn.weight", "attn_qkv.weight"}, {"attn.c_attn.bias", "attn_qkv.bias"},
        {"attn.c_proj.weight", "attn_output.weight"}, {"attn.c_proj.bias", "attn_output.bias"},
        {"ln_2.weight", "ffn_norm.weight"},      {"ln_2.bias", "ffn_norm.bias"},
        {"mlp.c_fc.weight", "ffn_up.weight"},    {"mlp.c_fc.bias", "ffn_up.bias"},
        {"mlp.c_proj.weight", "ffn_down.weight"}, {"mlp.c_proj.bias", "ffn_down.bias"},
    };
    std::smatch m;
    if (arch == Arch::Llama) {
        if (hf == "model.embed_tokens.weight")
            return std::pair<std::string, int>{"token_embd.weight", -1};
        if (hf == "model.norm.weight")
            return std::pair<std::string, int>{"output_norm.weight", -1};
        if (hf == "lm_head.weight")
            return std::pair<std::string, int>{"output.weight", -1};
        if (std::regex_match(hf, m, llamaBlock)) {
            const auto it = llamaInBlock.find(m[2]);
            if (it != llamaInBlock.end())
                return std::pair<std::string, int>{it->second, std::stoi(m[1])};
        }
        return std::nullopt;
    }
    std::string name = hf;
    if (name.rfind("transformer.", 0) == 0)
        name = name.substr(12);
    if (name == "wte.weight")
        return std::pair<std::string, int>{"token_embd.weight", -1};
    if (name == "wpe.weight")
        return std::pair<std::string, int>{"position_embd.weight", -1};
    if (name == "ln_f.weight")
        return std::pair<std::string, int>{"output_norm.weight", -1};
    if (name == "ln_f.bias")
        return std::pair<std::string, int>{"output_norm.bias", -1};
    if (name == "lm_head.weight")
        return std::pair<std::string, int>{"output.weight", -1};
    if (std::regex_match(hf, m, gptBlock)) {
        const auto it = gptInBlock.find(m[2]);
        if (it != gptInBlock.end())
            return std::pair<std::string, int>{it->second, std::stoi(m[1])};
    }
    return std::nullopt;
}

// "blk.3.attn_q.weight" -> role "attn_q", block 3; "token_embd.weight" -> "embedding".
void describe(const std::string &role, std::string *what, int *block)
{
    static const std::regex re(R"(^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$)");
    std::smatch m;
    if (std::regex_match(role, m, re)) {
        *block = std::stoi(m[1]);
        *what = std::string(m[2]) + (m[3] == "bias" ? ".bias" : "");
        return;
    }
    *block = -1;
    if (role == "token_embd.weight")
        *what = "embedding";
    else if (role == "position_embd.weight")
        *what = "position_embedding";
    else if (role == "output.weight")
        *what = "output";
    else if (role.rfind("output_norm", 0) == 0)
        *what = role == "output_norm.bias" ? "output_norm.bias" : "output_norm";
    else
        *what = "";
}

// The head size when heads span the width (0 when they cannot).
int64_t spanningHeadDim(const Config &c)
{
    return c.heads > 0 && c.dim % c.heads == 0 ? c.dim / c.heads : 0;
}

int64_t jsonInt(const nlohmann::json &j, const char *key, int64_t fallback, const std::string &path)
{
    try {
        return integerFromJson(j, key, fallback);
    } catch (const Error &e) {
        throw Error("'" + path + "': " + e.what());
    }
}

double jsonNumber(const nlohmann::json &j, const char *key, double fallback, const std::string &path)
{
    if (!j.contains(key) || j[key].is_null())
        return fallback;
    if (!j[key].is_number())
        throw Error("'" + path + "': \"" + key + "\" is not a number");
    return j[key].get<double>();
}

} // namespace

bool isLanguageModel(const std::string &spec)
{
    if (!demoModelBytes(spec).empty())
        return spec == "demo-lm";
    const fs::path p(spec);
    std::error_code ec;
    if (fs::is_directory(p, ec))
        return fs::exists(p / "config.json", ec);
    const std::string ext = p.extension().string();
    if (ext == ".gguf" || ext == ".safetensors" || p.filename() == "model.safetensors.index.json")
        return true;
    std::ifstream in(spec, std::ios::binary);
    char magic[4] = {};
    return in.read(magic, 4) && std::string(magic, 4) == "GGUF";
}

gguf::File openGguf(const std::string &spec)
{
    const std::string_view builtIn = demoModelBytes(spec);
    if (!builtIn.empty())
        return gguf::File::open(MappedFile::view(spec, builtIn.data(), builtIn.size()));
    return gguf::File::open(spec);
}

LanguageModel::LanguageModel() = default;
LanguageModel::~LanguageModel() = default;

std::shared_ptr<LanguageModel> LanguageModel::open(const std::string &path)
{
    std::shared_ptr<LanguageModel> model(new LanguageModel);
    model->m_path = path;
    model->m_source = std::make_unique<Source>();
    Source &src = *model->m_source;
    Config &c = model->m_config;
    auto fail = [&](const std::string &what) { return Error("'" + path + "': " + what); };

    // A built-in model by name, a .gguf file (or any file that starts with GGUF's magic), else safetensors.
    std::error_code ec;
    const bool isGguf = isLanguageModel(path) && !fs::is_directory(path, ec) &&
                        fs::path(path).extension() != ".safetensors" && fs::path(path).extension() != ".json";
    if (isGguf) {
        src.gguf = openGguf(path);
        const gguf::File &f = *src.gguf;
        c.format = "gguf";
        c.archName = f.text("general.architecture");
        if (c.archName.empty())
            throw fail("has no general.architecture: not a language model");
        const std::string a = c.archName + ".";
        if (c.archName == "llama" || c.archName == "qwen2" || c.archName == "mistral") {
            c.arch = Arch::Llama;
            c.ropeHalves = c.archName == "qwen2"; // llama.cpp's rope type NEOX for qwen2, NORM for llama
            c.normEps = f.number(a + "attention.layer_norm_rms_epsilon", 1e-5);
        } else if (c.archName == "gpt2") {
            c.arch = Arch::Gpt2;
            c.normEps = f.number(a + "attention.layer_norm_epsilon", 1e-5);
        } else {
            throw fail("architecture '" + c.archName + "' is not supported (llama, qwen2, mistral and gpt2 are)");
        }
        c.name = f.text("general.name", fs::path(path).stem().string());
        c.contextLength = f.integer(a + "context_length", 0);
        c.dim = f.requireInteger(a + "embedding_length");
        c.layers = f.requireInteger(a + "block_count");
        c.ffn = f.requireInteger(a + "feed_forward_length");
        c.heads = f.requireInteger(a + "attention.head_count");
        c.kvHeads = f.integer(a + "attention.head_count_kv", c.heads);
        c.ropeTheta = f.number(a + "rope.freq_base", 10000);
        // llama.cpp's defaults: width / heads for both.
        c.headDim = f.integer(a + "attention.key_length", spanningHeadDim(c));
        if (f.integer(a + "attention.value_length", spanningHeadDim(c)) != c.headDim)
            throw fail("heads whose keys and values differ in size (attention.key_length, value_length) are not supported");
        if (f.integer(a + "rope.dimension_count", c.headDim) != c.headDim)
            throw fail("rotary embeddings over part of each head (rope.dimension_count) are not supported");
        for (const auto &[key, value] : f.metadata())
            if (key.rfind("tokenizer.ggml.", 0) != 0 || value.type != gguf::ValueType::Array)
                model->m_metadata.emplace_back(key, value.type == gguf::ValueType::String ? value.text.substr(0, 400)
                                                                                         : value.summary(4));
        if (f.find("tokenizer.ggml.model"))
            model->m_tokenizer = std::make_shared<const Tokenizer>(Tokenizer::fromGguf(f));
        for (const gguf::TensorInfo &t : f.tensors()) {
            src.fileName[t.name] = t.name;
            src.shapes[t.name] = t.shape();
            model->m_entries.push_back({t.name, t.shape(), ggml::typeName(t.type), t.numel, t.bytes, "", -1});
        }
    } else {
        src.st = safetensors::Checkpoint::open(path);
        const safetensors::Checkpoint &ck = *src.st;
        c.format = "safetensors";
        const std::string configPath = (fs::path(ck.folder()) / "config.json").string();
        std::ifstream in(configPath);
        if (!in)
            throw fail("has no config.json beside it (" + configPath + "): the architecture is unknown");
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception &e) {
            throw Error("'" + configPath + "' is not valid JSON: " + e.what());
        }
        for (auto it = j.begin(); it != j.end(); ++it)
            if (!it->is_object() && !it->is_array())
                model->m_metadata.emplace_back(it.key(), it->dump());
        const std::vector<gguf::WriteValue> vocabulary = huggingFaceVocabulary(ck.folder());
        if (!vocabulary.empty()) {
            const std::string bytes = gguf::metadataOnly(vocabulary);
            const std::string name = (fs::path(ck.folder()) / "tokenizer.json").string();
            model->m_tokenizer = std::make_shared<const Tokenizer>(
                Tokenizer::fromGguf(gguf::File::open(MappedFile::view(name, bytes.data(), bytes.size()))));
        }
        c.archName = j.value("model_type", "");
        c.name = fs::path(ck.folder()).filename().string();
        if (c.archName == "llama" || c.archName == "mistral" || c.archName == "qwen2") {
            c.arch = Arch::Llama;
            c.ropeHalves = true;
            c.dim = jsonInt(j, "hidden_size", 0, configPath);
            c.layers = jsonInt(j, "num_hidden_layers", 0, configPath);
            c.heads = jsonInt(j, "num_attention_heads", 0, configPath);
            c.kvHeads = jsonInt(j, "num_key_value_heads", c.heads, configPath);
            c.headDim = jsonInt(j, "head_dim", spanningHeadDim(c), configPath);
            c.ffn = jsonInt(j, "intermediate_size", 0, configPath);
            c.normEps = jsonNumber(j, "rms_norm_eps", 1e-6, configPath);
            c.ropeTheta = jsonNumber(j, "rope_theta", 10000, configPath);
            c.contextLength = jsonInt(j, "max_position_embeddings", 0, configPath);
            if (j.contains("rope_scaling") && !j["rope_scaling"].is_null())
                throw Error("'" + configPath + "': rope_scaling is not supported");
        } else if (c.archName == "gpt2") {
            c.arch = Arch::Gpt2;
            src.transposed = true;
            c.dim = jsonInt(j, "n_embd", 0, configPath);
            c.layers = jsonInt(j, "n_layer", 0, configPath);
            c.heads = jsonInt(j, "n_head", 0, configPath);
            c.kvHeads = c.heads;
            c.headDim = spanningHeadDim(c);
            c.ffn = jsonInt(j, "n_inner", 4 * c.dim, configPath);
            c.normEps = jsonNumber(j, "layer_norm_epsilon", 1e-5, configPath);
            c.contextLength = jsonInt(j, "n_positions", 0, configPath);
        } else {
            throw Error("'" + configPath + "': model_type '" + c.archName +
                        "' is not supported (llama, mistral, qwen2 and gpt2 are)");
        }
        for (const safetensors::TensorInfo &t : ck.tensors()) {
            const auto role = hfToRole(t.name, c.arch);
            std::string roleName;
            if (role) {
                roleName = role->second >= 0 ? blockRole(role->second, role->first) : role->first;
                src.fileName[roleName] = t.name;
                Shape s = t.shape;
                if (src.storedTransposed(roleName, s.size()))
                    std::reverse(s.begin(), s.end());
                src.shapes[roleName] = s;
            }
            model->m_entries.push_back({t.name, t.shape, t.dtype, t.numel, t.bytes, "", -1});
            if (role)
                model->m_entries.back().role = roleName; // replaced by the role below
        }
    }

    // The roles of the entries, for grouping in the views.
    for (TensorEntry &e : model->m_entries) {
        const std::string role = isGguf ? e.name : e.role;
        describe(role, &e.role, &e.block);
        if (!role.empty() && !src.has(role))
            e.role.clear();
        c.parameters += e.numel;
        c.storedBytes += int64_t(e.bytes);
    }

    // The shapes the architecture needs.
    // GPT-2's fused QKV is three blocks of dim: its heads span the width. The llama family rotates pairs.
    // (Heads and their size are bounded so that their products cannot overflow before the shapes are checked.)
    constexpr int64_t kMaxHeads = int64_t(1) << 20;
    if (c.dim <= 0 || c.layers <= 0 || c.heads <= 0 || c.kvHeads <= 0 || c.ffn <= 0 || c.headDim <= 0 ||
        c.heads > kMaxHeads || c.headDim > kMaxHeads || c.heads % c.kvHeads ||
        (c.arch == Arch::Gpt2 && c.heads * c.headDim != c.dim) || (c.arch == Arch::Llama && c.headDim % 2))
        throw fail("inconsistent configuration: dim " + std::to_string(c.dim) + ", layers " +
                   std::to_string(c.layers) + ", heads " + std::to_string(c.heads) + " (kv " +
                   std::to_string(c.kvHeads) + ", head dimension " + std::to_string(c.headDim) + "), ffn " +
                   std::to_string(c.ffn));
    if (!src.has("token_embd.weight"))
        throw fail("has no token embedding (token_embd.weight / model.embed_tokens.weight / wte.weight)");
    const Shape &emb = src.shapes["token_embd.weight"];
    if (emb.size() != 2 || emb[1] != c.dim)
        throw fail("the token embedding's shape does not match the embedding length " + std::to_string(c.dim));
    c.vocab = emb[0];
    const int64_t hd = c.headDim;
    auto expect = [&](const std::string &role, const Shape &shape, bool required = true) {
        if (!src.has(role)) {
            if (required)
                throw fail("has no tensor " + role + " (" + c.archName + " needs it)");
            return;
        }
        if (src.shapes[role] != shape) {
            std::string got, want;
            for (int64_t d : src.shapes[role])
                got += (got.empty() ? "" : "x") + std::to_string(d);
            for (int64_t d : shape)
                want += (want.empty() ? "" : "x") + std::to_string(d);
            throw fail("tensor " + src.fileName[role] + " is " + got + ", " + c.archName + " needs " + want);
        }
    };
    expect("output_norm.weight", {c.dim});
    expect("output.weight", {c.vocab, c.dim}, false);
    if (c.arch == Arch::Gpt2) {
        expect("output_norm.bias", {c.dim});
        if (c.contextLength <= 0) { // the learned positions say how many there are
            const Shape pos = src.has("position_embd.weight") ? src.shapes["position_embd.weight"] : Shape{};
            if (pos.size() != 2)
                throw fail("has neither gpt2.context_length nor a position embedding of shape [positions, " +
                           std::to_string(c.dim) + "]");
            c.contextLength = pos[0];
        }
        expect("position_embd.weight", {c.contextLength, c.dim});
    }
    for (int b = 0; b < c.layers; ++b) {
        auto r = [&](const char *role) { return blockRole(b, role); };
        expect(r("attn_norm.weight"), {c.dim});
        expect(r("attn_output.weight"), {c.dim, c.heads * hd});
        expect(r("ffn_norm.weight"), {c.dim});
        expect(r("ffn_up.weight"), {c.ffn, c.dim});
        expect(r("ffn_down.weight"), {c.dim, c.ffn});
        if (c.arch == Arch::Llama) {
            expect(r("attn_q.weight"), {c.heads * hd, c.dim});
            expect(r("attn_k.weight"), {c.kvHeads * hd, c.dim});
            expect(r("attn_v.weight"), {c.kvHeads * hd, c.dim});
            expect(r("attn_q.bias"), {c.heads * hd}, false);
            expect(r("attn_k.bias"), {c.kvHeads * hd}, false);
            expect(r("attn_v.bias"), {c.kvHeads * hd}, false);
            expect(r("ffn_gate.weight"), {c.ffn, c.dim});
        } else {
            expect(r("attn_norm.bias"), {c.dim});
            expect(r("attn_qkv.weight"), {3 * c.dim, c.dim});
            expect(r("attn_qkv.bias"), {3 * c.dim});
            expect(r("attn_output.bias"), {c.dim});
            expect(r("ffn_norm.bias"), {c.dim});
            expect(r("ffn_up.bias"), {c.ffn});
            expect(r("ffn_down.bias"), {c.dim});
        }
    }
    return model;
}

Tensor LanguageModel::readTensor(const std::string &name) const
{
    for (const auto &[role, inFile] : m_source->fileName)
        if (inFile == name)
            return m_source->read(role);
    if (m_source->gguf) {
        const gguf::TensorInfo *t = m_source->gguf->tensor(name);
        if (!t)
            throw Error("'" + m_path + "' has no tensor '" + name + "'");
        return m_source->gguf->toFloat(*t);
    }
    const safetensors::TensorInfo *t = m_source->st->tensor(name);
    if (!t)
        throw Error("'" + m_path + "' has no tensor '" + name + "'");
    return m_source->st->toFloat(*t);
}

const Tensor *LanguageModel::loadedWeight(const std::string &name) const
{
    if (!m_loaded)
        return nullptr;
    const std::string role = llamaName(name);
    return role.empty() ? nullptr : const_cast<LanguageModel *>(this)->roleWeight(role);
}

std::string LanguageModel::llamaName(const std::string &name) const
{
    for (const auto &[role, inFile] : m_source->fileName)
        if (inFile == name)
            return role;
    return {};
}

Tensor *LanguageModel::loadedWeight(const std::string &name)
{
    Tensor *w = const_cast<Tensor *>(static_cast<const LanguageModel *>(this)->loadedWeight(name));
    // The caller may change it: the runner computes it in float32 from now on (also the tied output head).
    if (w) {
        m_encoded.erase(w);
        if (w == &m_tokenEmbedding && !m_source->has("output.weight"))
            m_encoded.erase(&m_output);
    }
    return w;
}

void LanguageModel::setEncoded(const std::string &name, EncodedTensor encoded)
{
    const Tensor *w = static_cast<const LanguageModel *>(this)->loadedWeight(name);
    if (!w || w->shape().size() != 2 || w->isNull())
        throw Error("tensor '" + name + "' is not a weight matrix the runner uses");
    const int64_t rows = w->shape()[0], cols = w->shape()[1];
    if (int64_t(encoded.bytes.size()) != rows * ggml::rowBytes(encoded.type, cols))
        throw Error("tensor '" + name + "': " + std::to_string(encoded.bytes.size()) + " bytes are not " +
                    std::to_string(rows) + " rows of " + std::to_string(cols) + " values in " + ggml::typeName(encoded.type));
    Encoded e;
    if (ggml::InterleavedRows::supports(encoded.type))
        e.interleaved = std::make_shared<const ggml::InterleavedRows>(
            encoded.type, reinterpret_cast<const uint8_t *>(encoded.bytes.data()), rows, cols);
    e.rows = std::move(encoded);
    if (w == &m_tokenEmbedding && !m_source->has("output.weight"))
        m_encoded[&m_output] = e; // the tied output head computes with it
    m_encoded[w] = std::move(e);
}

void LanguageModel::resizeWeight(const std::string &name, Tensor values)
{
    const std::string role = llamaName(name);
    std::string what;
    int block = -1;
    describe(role, &what, &block);
    const bool mlp = what == "ffn_down" || what == "ffn_up" || what == "ffn_gate" || what == "ffn_up.bias";
    const bool attention = m_config.arch == Arch::Llama && (what == "attn_output" || what == "attn_q" || what == "attn_k" ||
                                                            what == "attn_v" || what == "attn_q.bias" ||
                                                            what == "attn_k.bias" || what == "attn_v.bias");
    if (block < 0 || !(mlp || attention))
        throw Error("tensor '" + name + "': only the matrices of a block's MLP (and GPT-2's ffn_up.bias) and a llama "
                    "block's attention change width");
    Tensor *w = loadedWeight(name); // computed in float32 from now on
    if (!w)
        throw Error("tensor '" + name + "' is not loaded");
    const Shape shape = values.shape();
    // The narrowed axis: ffn_down's and attn_output's columns, the others' rows; attention in whole heads.
    const bool columns = what == "ffn_down" || what == "attn_output";
    const int64_t narrowed = shape.empty() ? 0 : columns && shape.size() == 2 ? shape[1] : shape[0];
    const bool fits = values.dtype() == DType::Float32 && shape.size() == w->shape().size() && narrowed >= 1 &&
                      (!attention || narrowed % m_config.headDim == 0) &&
                      (shape.size() == 1 || shape[columns ? 0 : 1] == m_config.dim);
    if (!fits)
        throw Error("tensor '" + name + "': " + shapeToString(shape) + " does not fit " + shapeToString(w->shape()) +
                    (attention ? " with fewer heads" : " with fewer hidden channels"));
    *w = std::move(values);
    for (TensorEntry &e : m_entries)
        if (e.name == name) {
            e.shape = m_source->storedTransposed(role, shape.size()) ? Shape{shape[1], shape[0]} : shape;
            e.numel = shapeNumel(shape);
            const uint32_t type = ggml::typeFromName(e.type);
            const int64_t cols = e.shape.back();
            e.bytes = cols % ggml::typeTraits(type)->blockSize == 0 ? uint64_t(e.numel / cols * ggml::rowBytes(type, cols))
                                                                     : uint64_t(e.numel) * 4;
        }
    // While the blocks differ (a removal under way), the widest block's.
    int64_t widest = 0, heads = 0, kvHeads = 0;
    for (const BlockWeights &b : m_blocks) {
        widest = std::max(widest, b.up.shape()[0]);
        if (m_config.arch == Arch::Llama) {
            heads = std::max(heads, b.q.shape()[0] / m_config.headDim);
            kvHeads = std::max(kvHeads, b.k.shape()[0] / m_config.headDim);
        }
    }
    m_config.ffn = widest;
    if (m_config.arch == Arch::Llama) {
        m_config.heads = heads;
        m_config.kvHeads = kvHeads;
    }
}

const EncodedTensor *LanguageModel::encodedFor(const Tensor &weight) const
{
    const auto it = m_encoded.find(&weight);
    return it == m_encoded.end() ? nullptr : &it->second.rows;
}

const ggml::InterleavedRows *LanguageModel::interleavedFor(const Tensor &weight) const
{
    const auto it = m_encoded.find(&weight);
    return it == m_encoded.end() ? nullptr : it->second.interleaved.get();
}

Tensor *LanguageModel::roleWeight(const std::string &role)
{
    if (role == "token_embd.weight")
        return &m_tokenEmbedding;
    if (role == "position_embd.weight")
        return &m_positionEmbedding;
    if (role == "output_norm.weight")
        return &m_outputNorm;
    if (role == "output_norm.bias")
        return &m_outputNormBias;
    if (role == "output.weight")
        return &m_output;
    int block = -1;
    std::string what;
    describe(role, &what, &block);
    if (block < 0 || block >= int(m_blocks.size()))
        return nullptr;
    BlockWeights &w = m_blocks[size_t(block)];
    const std::map<std::string, Tensor *> fields = {
        {"attn_norm", &w.attnNorm}, {"attn_norm.bias", &w.attnNormB}, {"attn_q", &w.q},
        {"attn_k", &w.k},           {"attn_v", &w.v},                 {"attn_q.bias", &w.qB},
        {"attn_k.bias", &w.kB},     {"attn_v.bias", &w.vB},           {"attn_qkv", &w.qkv},
        {"attn_qkv.bias", &w.qkvB}, {"attn_output", &w.o},            {"attn_output.bias", &w.oB},
        {"ffn_norm", &w.ffnNorm},   {"ffn_norm.bias", &w.ffnNormB},   {"ffn_gate", &w.gate},
        {"ffn_up", &w.up},          {"ffn_up.bias", &w.upB},          {"ffn_down", &w.down},
        {"ffn_down.bias", &w.downB}};
    const auto it = fields.find(what);
    return it == fields.end() || it->second->isNull() ? nullptr : it->second;
}

namespace {

// Split-half rotary rows (Hugging Face) to adjacent pairs (llama.cpp's llama): row h*d + 2i + p of the result is
// row h*d + p*d/2 + i of the source, for each of `heads` heads of d rows; rows of rowBytes bytes each.
std::string halvesToPairs(const uint8_t *rows, int64_t count, int64_t rowBytes, int64_t heads)
{
    const int64_t d = count / heads;
    std::string out(size_t(count * rowBytes), '\0');
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < d / 2; ++i)
            for (int64_t p = 0; p < 2; ++p)
                std::memcpy(out.data() + (h * d + 2 * i + p) * rowBytes, rows + (h * d + p * d / 2 + i) * rowBytes,
                            size_t(rowBytes));
    return out;
}

// The same for a float tensor (a vector, a bias, is one column).
Tensor halvesToPairs(const Tensor &t, int64_t heads)
{
    const int64_t rows = t.shape()[0], cols = t.shape().size() == 2 ? t.shape()[1] : 1;
    const std::string moved = halvesToPairs(reinterpret_cast<const uint8_t *>(t.data<float>()), rows, cols * 4, heads);
    Tensor out = Tensor::uninitialized(DType::Float32, t.shape());
    std::memcpy(out.data<float>(), moved.data(), moved.size());
    return out;
}

} // namespace

void exportGguf(const LanguageModel &model, const std::string &path, bool f16,
                const std::map<std::string, EncodedTensor> &compressed)
{
    auto type = [&](const Tensor &t) { return f16 && t.shape().size() >= 2 ? uint32_t(ggml::F16) : uint32_t(ggml::F32); };
    // A compressed tensor's bytes, after checking they fit its shape.
    auto encoded = [&](const std::string &name, const Shape &shape) -> const EncodedTensor & {
        const EncodedTensor &e = compressed.at(name);
        const int64_t cols = shape.back();
        if (int64_t(e.bytes.size()) != shapeNumel(shape) / cols * ggml::rowBytes(e.type, cols))
            throw Error("tensor '" + name + "': the compressed bytes do not match its shape " + shapeToString(shape));
        return e;
    };
    // A compressed tensor's shape: its own when channels were removed, else the checkpoint's.
    auto shapeOf = [&](const std::string &name, const Shape &stored) {
        const auto it = compressed.find(name);
        return it == compressed.end() || it->second.shape.empty() ? stored : it->second.shape;
    };
    // The widths the file declares, one for every block: the rows of the compressed `role` tensors when they were
    // narrowed (0: the checkpoint's) — the MLPs' hidden channels, the query and key / value heads' values.
    auto narrowedRows = [&](const std::string &role, const std::string &what) {
        int64_t rows = 0;
        for (const auto &[name, e] : compressed) {
            std::string r;
            int block = -1;
            describe(model.llamaName(name), &r, &block);
            if (r != role || e.shape.empty())
                continue;
            if (rows && rows != e.shape[0])
                throw Error("the blocks' " + what + " differ (" + std::to_string(rows) + " and " +
                            std::to_string(e.shape[0]) + "): a GGUF file declares one for all blocks");
            rows = e.shape[0];
        }
        return rows;
    };
    const Config &c = model.config();
    const int64_t ffn = narrowedRows("ffn_up", "MLP widths");
    const int64_t heads = narrowedRows("attn_q", "attention heads") / c.headDim;
    const int64_t kvHeads = narrowedRows("attn_k", "key / value heads") / c.headDim;
    // Keys a GGUF source's metadata changes to (by their suffix after the architecture's prefix).
    std::map<std::string, int64_t> declared;
    if (ffn)
        declared[".feed_forward_length"] = ffn;
    if (heads) {
        declared[".attention.head_count"] = heads;
        declared[".attention.head_count_kv"] = kvHeads;
        // llama.cpp's default head size is width / heads, no longer this model's.
        declared[".attention.key_length"] = declared[".attention.value_length"] = c.headDim;
    }
    std::vector<gguf::WriteValue> kv;
    std::vector<gguf::WriteTensor> tensors;
    std::optional<gguf::File> source; // mapped until the file is written: unchanged tensors are copied from it
    std::deque<std::string> moved;    // compressed Q / K rows reordered to pairs, until the file is written
    if (model.config().format == "gguf") {
        const gguf::File &f = source.emplace(openGguf(model.path()));
        const std::string arch = f.text("general.architecture");
        for (const auto &[key, value] : f.metadata())
            if (!(key.rfind(arch, 0) == 0 && declared.count(key.substr(arch.size()))) && key != "general.alignment" &&
                key != "general.file_type")
                kv.push_back({key, value});
        for (const auto &[suffix, value] : declared)
            kv.push_back({arch + suffix, gguf::makeUInt32(uint32_t(value))});
        for (const gguf::TensorInfo &t : f.tensors()) {
            if (compressed.count(t.name)) {
                const Shape shape = shapeOf(t.name, t.shape());
                const EncodedTensor &e = encoded(t.name, shape);
                tensors.push_back({t.name, Tensor(), e.type, e.bytes, shape});
            } else if (!compressed.empty()) {
                const std::string_view raw(reinterpret_cast<const char *>(f.data(t)), size_t(t.bytes));
                tensors.push_back({t.name, Tensor(), t.type, raw, t.shape()});
            } else {
                Tensor v = f.toFloat(t);
                tensors.push_back({t.name, v, type(v)});
            }
        }
    } else {
        const LanguageModel::Source &src = *model.m_source;
        std::vector<gguf::WriteValue> vocabulary = huggingFaceVocabulary(src.st->folder());
        if (vocabulary.empty())
            throw Error("'" + model.path() + "' has no tokenizer.json to carry over into the GGUF file");
        const std::string arch = c.arch == Arch::Gpt2 ? "gpt2" : c.archName == "qwen2" ? "qwen2" : "llama";
        const std::string a = arch + ".";
        kv = {{"general.architecture", gguf::makeString(arch)},
              {"general.name", gguf::makeString(c.name)},
              {a + "context_length", gguf::makeUInt32(uint32_t(std::max<int64_t>(c.contextLength, 0)))},
              {a + "embedding_length", gguf::makeUInt32(uint32_t(c.dim))},
              {a + "block_count", gguf::makeUInt32(uint32_t(c.layers))},
              {a + "feed_forward_length", gguf::makeUInt32(uint32_t(ffn ? ffn : c.ffn))},
              {a + "attention.head_count", gguf::makeUInt32(uint32_t(c.heads))}};
        if (c.arch == Arch::Gpt2) {
            kv.push_back({a + "attention.layer_norm_epsilon", gguf::makeFloat32(float(c.normEps))});
        } else {
            kv.push_back({a + "attention.head_count_kv", gguf::makeUInt32(uint32_t(c.kvHeads))});
            kv.push_back({a + "attention.layer_norm_rms_epsilon", gguf::makeFloat32(float(c.normEps))});
            kv.push_back({a + "rope.freq_base", gguf::makeFloat32(float(c.ropeTheta))});
            if (c.heads * c.headDim != c.dim) // llama.cpp's default is dim / heads
                for (const char *key : {"attention.key_length", "attention.value_length"})
                    kv.push_back({a + key, gguf::makeUInt32(uint32_t(c.headDim))});
        }
        kv.insert(kv.end(), std::make_move_iterator(vocabulary.begin()), std::make_move_iterator(vocabulary.end()));
        const bool toPairs = arch == "llama";
        for (const auto &[role, inFile] : src.fileName) {
            Tensor v = src.read(role);
            int block = -1;
            std::string what;
            describe(role, &what, &block);
            const int64_t heads = !toPairs                                      ? 0
                                  : what == "attn_q" || what == "attn_q.bias" ? c.heads
                                  : what == "attn_k" || what == "attn_k.bias" ? c.kvHeads
                                                                              : 0;
            if (compressed.count(inFile)) {
                const Shape shape = shapeOf(inFile, v.shape());
                const EncodedTensor &e = encoded(inFile, shape);
                const int64_t rows = shape[0], rowBytes = int64_t(e.bytes.size()) / rows;
                const std::string &bytes = heads ? moved.emplace_back(halvesToPairs(
                                                       reinterpret_cast<const uint8_t *>(e.bytes.data()), rows, rowBytes, heads))
                                                 : e.bytes;
                tensors.push_back({role, Tensor(), e.type, bytes, shape});
                continue;
            }
            if (heads)
                v = halvesToPairs(v, heads);
            uint32_t t = type(v);
            if (!compressed.empty()) {
                const std::string &stored = src.st->tensor(inFile)->dtype;
                t = stored == "BF16" ? ggml::BF16 : stored == "F16" ? ggml::F16 : ggml::F32;
            }
            tensors.push_back({role, v, t});
        }
    }
    // llama.cpp's ALL_F32 / MOSTLY_F16; a compressed model's mix is left for llama.cpp to guess.
    if (compressed.empty())
        kv.push_back({"general.file_type", gguf::makeUInt32(f16 ? 1 : 0)});
    gguf::write(path, kv, tensors);
}


void exportSafetensors(const LanguageModel &model, const std::string &path, bool f16)
{
    const LanguageModel::Source &src = *model.m_source;
    if (!src.st)
        throw Error("'" + model.path() + "' is a GGUF checkpoint: it exports to GGUF");
    const fs::path folder = fs::absolute(fs::path(path)).parent_path();
    std::error_code ec;
    if (fs::equivalent(folder, fs::path(src.st->folder()), ec))
        throw Error("'" + path + "' is in the source checkpoint's folder: choose another folder");
    std::vector<std::pair<std::string, Tensor>> tensors;
    for (const safetensors::TensorInfo &t : src.st->tensors()) {
        std::string role;
        for (const auto &[r, inFile] : src.fileName)
            if (inFile == t.name)
                role = r;
        const Tensor *w = role.empty() ? nullptr : model.loadedWeight(t.name);
        if (!w || w->isNull()) {
            tensors.push_back({t.name, src.st->toFloat(t)});
            continue;
        }
        tensors.push_back({t.name, src.storedTransposed(role, w->shape().size()) ? transpose2d(*w) : w->clone()});
    }
    fs::create_directories(folder, ec);
    safetensors::write(path, tensors, f16, src.st->metadata());
    for (const char *name : {"config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                             "generation_config.json", "vocab.json", "merges.txt"}) {
        const fs::path from = fs::path(src.st->folder()) / name;
        if (fs::exists(from, ec))
            fs::copy_file(from, folder / name, fs::copy_options::overwrite_existing);
    }
    // The MLPs' width and the heads as the weights have them (channels or heads removed:
    // LanguageModel::resizeWeight). The source's config.json was read when the model was opened.
    const Config &c = model.config();
    const fs::path configPath = folder / "config.json";
    nlohmann::json config = nlohmann::json::parse(std::ifstream(configPath), nullptr, false);
    if (!config.is_object())
        return;
    bool changed = false;
    auto declare = [&](const char *key, int64_t fallback, int64_t value) {
        if (jsonInt(config, key, fallback, path) != value) {
            config[key] = value;
            changed = true;
        }
    };
    if (c.arch == Arch::Gpt2) {
        declare("n_inner", 4 * c.dim, c.ffn);
    } else {
        declare("intermediate_size", 0, c.ffn);
        if (jsonInt(config, "num_attention_heads", 0, path) != c.heads) { // heads removed
            config["num_attention_heads"] = c.heads;
            config["num_key_value_heads"] = c.kvHeads;
            config["head_dim"] = c.headDim; // no longer width / heads
            changed = true;
        }
    }
    if (changed)
        std::ofstream(configPath) << config.dump(2) << "\n";
}

void LanguageModel::load(const ProgressFn &progress, const StopToken *stop)
{
    if (m_loaded)
        return;
    const Source &src = *m_source;
    const Config &c = m_config;
    int64_t done = 0;
    auto get = [&](const std::string &role) -> Tensor {
        checkStop(stop);
        if (!src.has(role))
            return Tensor();
        Tensor t = src.read(role);
        done += t.numel();
        if (progress)
            progress(double(done) / double(std::max<int64_t>(c.parameters, 1)), "reading weights");
        return t;
    };
    m_tokenEmbedding = get("token_embd.weight");
    m_positionEmbedding = get("position_embd.weight");
    m_outputNorm = get("output_norm.weight");
    m_outputNormBias = get("output_norm.bias");
    m_output = src.has("output.weight") ? get("output.weight") : m_tokenEmbedding; // tied embeddings
    std::vector<BlockWeights> blocks(size_t(c.layers));
    for (int b = 0; b < c.layers; ++b) {
        BlockWeights &w = blocks[size_t(b)];
        auto r = [&](const char *role) { return get(blockRole(b, role)); };
        w.attnNorm = r("attn_norm.weight");
        w.attnNormB = r("attn_norm.bias");
        w.q = r("attn_q.weight");
        w.k = r("attn_k.weight");
        w.v = r("attn_v.weight");
        w.qB = r("attn_q.bias");
        w.kB = r("attn_k.bias");
        w.vB = r("attn_v.bias");
        w.qkv = r("attn_qkv.weight");
        w.qkvB = r("attn_qkv.bias");
        w.o = r("attn_output.weight");
        w.oB = r("attn_output.bias");
        w.ffnNorm = r("ffn_norm.weight");
        w.ffnNormB = r("ffn_norm.bias");
        w.gate = r("ffn_gate.weight");
        w.up = r("ffn_up.weight");
        w.upB = r("ffn_up.bias");
        w.down = r("ffn_down.weight");
        w.downB = r("ffn_down.bias");
    }
    m_blocks = std::move(blocks);
    m_loaded = true;
    // A GGUF file's block-quantized matrices run as they are stored, as llama.cpp runs them.
    if (src.gguf) {
        for (const auto &[role, inFile] : src.fileName) {
            const gguf::TensorInfo *t = src.gguf->tensor(inFile);
            const ggml::TypeTraits *tr = ggml::typeTraits(t->type);
            Tensor *w = roleWeight(role);
            if (w && w->shape().size() == 2 && tr->blockSize > 1 && !src.storedTransposed(role, 2))
                setEncoded(inFile, {t->type, std::string(reinterpret_cast<const char *>(src.gguf->data(*t)), size_t(t->bytes)), {}});
        }
    }
}

// ---- the runner ----------------------------------------------------------------------------------------------

namespace {

// y[n, out] = x[n, in] * W[out, in]^T (+ bias), split over `threads` by parallelFor like the engine's layers (an
// OpenMP team's spinning threads would starve the attention's parallelFor on a busy machine).
// A weight with an encoded form (LanguageModel::encodedFor) runs on the block-format kernels.
void linear(int threads, const float *x, int64_t n, const Tensor &w, const Tensor &bias, float *y,
            const LanguageModel &m)
{
    // Below about a million weights a matrix stays in cache and the float32 gemm is the faster one for the row
    // layout (bench/ggml_kernels.sh, one row of x: 0.65-1.5x sgemm's speed at 384 x 128 and 4096 x 128, 2.4-2.9x
    // at 4096 x 4096), but not for the interleaved one up to 16 rows of x (1.3-4.4x there; 1.5-2.1x the row
    // kernel at 4096 x 4096). Longer prompts keep the row kernel, which reads the activations once per group of
    // rows that fills 64 KiB, not once per eight rows.
    constexpr int64_t kKernelMinWeights = int64_t(1) << 20, kInterleavedMaxRows = 16;
    const int64_t out = w.shape()[0], in = w.shape()[1];
    const EncodedTensor *encoded = m.encodedFor(w);
    const ggml::InterleavedRows *interleaved = encoded ? m.interleavedFor(w) : nullptr;
    const bool large = out * in >= kKernelMinWeights;
    if (interleaved && n <= kInterleavedMaxRows)
        interleaved->gemm(x, n, y, threads);
    else if (encoded && large)
        ggml::gemm(encoded->type, reinterpret_cast<const uint8_t *>(encoded->bytes.data()), out, in, x, n, y, threads);
    else
        ops::parallelGemm(threads, false, true, n, out, in, 1.f, x, in, w.data<float>(), in, 0.f, y, out);
    if (!bias.isNull()) {
        const float *b = bias.data<float>();
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < out; ++j)
                y[i * out + j] += b[j];
    }
}

// Σ f(x[j]) in double, as four interleaved partial sums: one chain of dependent double additions would be bound
// by their latency, four lanes vectorise.
template <class F> double sumOf(const float *x, int64_t n, F f)
{
    double s[4] = {};
    int64_t j = 0;
    for (; j + 4 <= n; j += 4)
        for (int k = 0; k < 4; ++k)
            s[k] += f(x[j + k]);
    for (; j < n; ++j)
        s[0] += f(x[j]);
    return (s[0] + s[1]) + (s[2] + s[3]);
}

// Eight floats as one vector (GCC's vector extension: AVX registers in this build, pairs of SSE ones without).
typedef float Float8 __attribute__((vector_size(32)));

inline Float8 load8(const float *p)
{
    Float8 v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

// Σ a[k] b[k] over eight lanes of partial sums, added in a fixed order: the same bits wherever the rows lie.
float dot(const float *a, const float *b, int64_t n)
{
    Float8 s = {};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        s += load8(a + k) * load8(b + k);
    float tail = 0;
    for (; k < n; ++k)
        tail += a[k] * b[k];
    return (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) + tail;
}

// y[d] = Σ_t s[t] v[t · stride + d] for d < n: 32 columns at a time in four registers (four independent chains
// of multiply-adds), then eight.
void weightedRows(const float *s, const float *v, int64_t rows, int64_t n, int64_t stride, float *y)
{
    int64_t d0 = 0;
    for (; d0 + 32 <= n; d0 += 32) {
        Float8 a[4] = {};
        for (int64_t t = 0; t < rows; ++t)
            for (int j = 0; j < 4; ++j)
                a[j] += s[t] * load8(v + t * stride + d0 + 8 * j);
        std::memcpy(y + d0, a, sizeof a);
    }
    for (; d0 + 8 <= n; d0 += 8) {
        Float8 a = {};
        for (int64_t t = 0; t < rows; ++t)
            a += s[t] * load8(v + t * stride + d0);
        std::memcpy(y + d0, &a, sizeof a);
    }
    for (; d0 < n; ++d0) {
        float a = 0;
        for (int64_t t = 0; t < rows; ++t)
            a += s[t] * v[t * stride + d0];
        y[d0] = a;
    }
}

void rmsNorm(const float *x, int64_t n, int64_t dim, const Tensor &w, double eps, float *y)
{
    const float *g = w.data<float>();
    for (int64_t i = 0; i < n; ++i) {
        const float *xi = x + i * dim;
        const double sum = sumOf(xi, dim, [](float v) { return double(v) * v; });
        const float scale = 1.f / std::sqrt(float(sum / double(dim)) + float(eps));
        for (int64_t j = 0; j < dim; ++j)
            y[i * dim + j] = xi[j] * scale * g[j];
    }
}

void layerNorm(const float *x, int64_t n, int64_t dim, const Tensor &w, const Tensor &b, double eps, float *y)
{
    const float *g = w.data<float>(), *bb = b.data<float>();
    for (int64_t i = 0; i < n; ++i) {
        const float *xi = x + i * dim;
        const float mean = float(sumOf(xi, dim, [](float v) { return double(v); }) / double(dim));
        const double var = sumOf(xi, dim, [mean](float v) { return double(v - mean) * double(v - mean); });
        const float scale = 1.f / std::sqrt(float(var / double(dim)) + float(eps));
        for (int64_t j = 0; j < dim; ++j)
            y[i * dim + j] = (xi[j] - mean) * scale * g[j] + bb[j];
    }
}

// Query rows per block of the attention's matrix products (Context::eval).
constexpr int64_t kAttentionRows = 64;

// The rotary angles' cosines and sines of positions [pos0, pos0 + n): [n, hd/2] each, computed once per
// evaluation and applied to every head of every layer.
void ropeTable(int64_t pos0, int64_t n, int64_t hd, double theta, std::vector<float> *cosines, std::vector<float> *sines)
{
    const int64_t half = hd / 2;
    cosines->resize(size_t(n * half));
    sines->resize(size_t(n * half));
    for (int64_t i = 0; i < half; ++i) {
        const double freq = std::pow(theta, -2.0 * double(i) / double(hd));
        for (int64_t t = 0; t < n; ++t) {
            const double a = double(pos0 + t) * freq;
            (*cosines)[size_t(t * half + i)] = float(std::cos(a));
            (*sines)[size_t(t * half + i)] = float(std::sin(a));
        }
    }
}

// Rotary embedding of one head vector, with its position's row of the table.
void rope(float *v, int64_t hd, const float *cosines, const float *sines, bool halves)
{
    const int64_t half = hd / 2;
    for (int64_t i = 0; i < half; ++i) {
        const float cs = cosines[i], sn = sines[i];
        float *x0 = halves ? v + i : v + 2 * i;
        float *x1 = halves ? v + i + half : v + 2 * i + 1;
        const float a0 = *x0, a1 = *x1;
        *x0 = a0 * cs - a1 * sn;
        *x1 = a0 * sn + a1 * cs;
    }
}

// GELU, tanh approximation, in place over n values (Eigen's vectorised tanh: a scalar std::tanh per value cost
// as much as the matrix products of a small model's prompt).
void geluTanh(float *x, int64_t n)
{
    Eigen::Map<Eigen::ArrayXf> v(x, n);
    v = 0.5f * v * (1.f + (0.7978845608028654f * (v + 0.044715f * v * v * v)).tanh());
}

} // namespace

bool inputSiteOf(const std::string &role, InputSite *site)
{
    static const std::map<std::string, InputSite> sites = {
        {"attn_q", InputSite::Attention},         {"attn_k", InputSite::Attention},
        {"attn_v", InputSite::Attention},         {"attn_qkv", InputSite::Attention},
        {"attn_output", InputSite::AttentionOutput}, {"ffn_gate", InputSite::Mlp},
        {"ffn_up", InputSite::Mlp},               {"ffn_down", InputSite::MlpHidden}};
    const auto it = sites.find(role);
    if (it == sites.end())
        return false;
    *site = it->second;
    return true;
}

Context::Context(std::shared_ptr<const LanguageModel> model, int64_t nCtx, int threads)
    : m_model(std::move(model)), m_threads(resolveThreads(threads))
{
    if (!m_model->loaded())
        throw Error("the language model's weights are not loaded");
    const Config &c = m_model->config();
    if (nCtx <= 0)
        throw Error("a context of " + std::to_string(nCtx) + " tokens");
    if (c.contextLength > 0 && nCtx > c.contextLength && c.arch == Arch::Gpt2)
        throw Error("a context of " + std::to_string(nCtx) + " tokens is beyond the model's " +
                    std::to_string(c.contextLength) + " learned positions");
    m_nCtx = nCtx;
    const int64_t row = c.kvHeads * c.headDim;
    checkedMul(checkedMul(nCtx, row), c.layers * 8);
    m_k.assign(size_t(c.layers), std::vector<float>(size_t(nCtx * row)));
    m_v.assign(size_t(c.layers), std::vector<float>(size_t(nCtx * row)));
}

Context::~Context() = default;

Tensor Context::eval(const std::vector<int32_t> &tokens, bool allLogits)
{
    return run(tokens, nullptr, allLogits, 0, m_model->config().layers - 1, nullptr);
}

void Context::observeThrough(const std::vector<int32_t> &tokens, int lastBlock)
{
    run(tokens, nullptr, false, 0, std::clamp<int64_t>(lastBlock, 0, m_model->config().layers - 1), nullptr);
}

Tensor Context::residualBefore(const std::vector<int32_t> &tokens, int block)
{
    if (block < 0 || block >= m_model->config().layers)
        throw Error("the model has no block " + std::to_string(block));
    if (m_pos != 0)
        throw Error("a residual stream is taken from an empty cache");
    Tensor x;
    run(tokens, nullptr, false, 0, block - 1, &x);
    return x;
}

Tensor Context::evalFrom(const Tensor &x, int block, bool allLogits)
{
    const Config &c = m_model->config();
    if (block < 0 || block >= c.layers)
        throw Error("the model has no block " + std::to_string(block));
    if (x.dtype() != DType::Float32 || x.rank() != 2 || x.shape()[1] != c.dim || m_pos != 0)
        throw Error("a residual stream [tokens, " + std::to_string(c.dim) + "] is evaluated from an empty cache, not " +
                    shapeToString(x.shape()));
    return run({}, &x, allLogits, block, c.layers - 1, nullptr);
}

// The blocks firstBlock ... lastBlock on the embedded tokens (firstBlock 0) or on the residual stream xIn; with
// lastBlock the last block, the logits (eval()); otherwise the residual stream after lastBlock into *xOut (when
// given), and the context reset.
Tensor Context::run(const std::vector<int32_t> &tokens, const Tensor *xIn, bool allLogits, int64_t firstBlock,
                    int64_t lastBlock, Tensor *xOut)
{
    const LanguageModel &m = *m_model;
    const Config &c = m.config();
    const int64_t n = xIn ? xIn->shape()[0] : int64_t(tokens.size());
    if (n == 0)
        throw Error("no tokens to evaluate");
    if (m_pos + n > m_nCtx)
        throw Error("the context holds " + std::to_string(m_nCtx) + " tokens; " + std::to_string(m_pos) + " + " +
                    std::to_string(n) + " do not fit");
    for (int32_t t : tokens)
        if (t < 0 || t >= c.vocab)
            throw Error("token id " + std::to_string(t) + " is outside the vocabulary of " + std::to_string(c.vocab));

    const int64_t dim = c.dim, hd = c.headDim;
    std::vector<float> x(size_t(n * dim)), h(size_t(n * dim)), q(size_t(n * c.heads * hd)), att(size_t(n * c.heads * hd));
    std::vector<float> qkv, up(size_t(n * c.ffn)), gate;
    if (c.arch == Arch::Gpt2)
        qkv.resize(size_t(n * 3 * dim));
    else
        gate.resize(size_t(n * c.ffn));

    const float *emb = m.m_tokenEmbedding.data<float>();
    if (xIn)
        std::memcpy(x.data(), xIn->data<float>(), x.size() * 4);
    for (int64_t i = 0; i < n && !xIn; ++i) {
        std::memcpy(&x[size_t(i * dim)], emb + int64_t(tokens[size_t(i)]) * dim, size_t(dim) * 4);
        if (c.arch == Arch::Gpt2) {
            const float *pe = m.m_positionEmbedding.data<float>() + (m_pos + i) * dim;
            for (int64_t j = 0; j < dim; ++j)
                x[size_t(i * dim + j)] += pe[j];
        }
    }

    const int64_t T = m_pos + n; // keys visible to the last query
    const float scale = 1.f / std::sqrt(float(hd));
    std::vector<float> cosines, sines;
    if (c.arch == Arch::Llama)
        ropeTable(m_pos, n, hd, c.ropeTheta, &cosines, &sines);
    auto observe = [&](int64_t l, InputSite site, const float *in, int64_t width) {
        if (m_observer)
            m_observer(int(l), site, in, n, width);
    };
    for (int64_t l = firstBlock; l <= lastBlock; ++l) {
        const BlockWeights &w = m.m_blocks[size_t(l)];
        // Each block's own heads (a llama block's may be fewer, whole groups of them removed: resizeWeight).
        const int64_t H = c.arch == Arch::Llama ? w.q.shape()[0] / hd : c.heads;
        const int64_t KVH = c.arch == Arch::Llama ? w.k.shape()[0] / hd : c.kvHeads, group = H / KVH, kvRow = KVH * hd;
        float *kc = m_k[size_t(l)].data(), *vc = m_v[size_t(l)].data();
        if (c.arch == Arch::Llama) {
            rmsNorm(x.data(), n, dim, w.attnNorm, c.normEps, h.data());
            observe(l, InputSite::Attention, h.data(), dim);
            linear(m_threads, h.data(), n, w.q, w.qB, q.data(), m);
            linear(m_threads, h.data(), n, w.k, w.kB, kc + m_pos * kvRow, m);
            linear(m_threads, h.data(), n, w.v, w.vB, vc + m_pos * kvRow, m);
            for (int64_t i = 0; i < n; ++i) {
                const float *cs = &cosines[size_t(i * hd / 2)], *sn = &sines[size_t(i * hd / 2)];
                for (int64_t hh = 0; hh < H; ++hh)
                    rope(&q[size_t((i * H + hh) * hd)], hd, cs, sn, c.ropeHalves);
                for (int64_t hh = 0; hh < KVH; ++hh)
                    rope(kc + (m_pos + i) * kvRow + hh * hd, hd, cs, sn, c.ropeHalves);
            }
        } else {
            layerNorm(x.data(), n, dim, w.attnNorm, w.attnNormB, c.normEps, h.data());
            observe(l, InputSite::Attention, h.data(), dim);
            linear(m_threads, h.data(), n, w.qkv, w.qkvB, qkv.data(), m);
            for (int64_t i = 0; i < n; ++i) {
                const float *r = &qkv[size_t(i * 3 * dim)];
                std::memcpy(&q[size_t(i * dim)], r, size_t(dim) * 4);
                std::memcpy(kc + (m_pos + i) * kvRow, r + dim, size_t(dim) * 4);
                std::memcpy(vc + (m_pos + i) * kvRow, r + 2 * dim, size_t(dim) * 4);
            }
        }
        // Causal attention, one head at a time, in blocks of query rows: scores = Q K^T / sqrt(d) and their
        // softmax-weighted sum of V are two matrix products; each row's softmax covers its visible keys and
        // gives the later ones weight 0. A block sees the keys up to its last row, and its scores stay in cache.
        // One query row (generation) takes two plain matrix-vector products, where a gemm call's set-up would
        // cost more than the arithmetic.
        parallelFor(m_threads, H, [&](int64_t hh) {
            ops::GemmThreads single(1);
            const int64_t kvh = hh / group;
            const float *kh = kc + kvh * hd, *vh = vc + kvh * hd;
            thread_local std::vector<float> s;
            s.resize(std::max(s.size(), size_t(std::min(n, kAttentionRows) * T)));
            for (int64_t i0 = 0; i0 < n; i0 += kAttentionRows) {
                const int64_t rows = std::min(kAttentionRows, n - i0), keys = m_pos + i0 + rows;
                const float *qi = &q[size_t((i0 * H + hh) * hd)];
                float *ai = &att[size_t((i0 * H + hh) * hd)];
                if (rows == 1)
                    for (int64_t t = 0; t < keys; ++t)
                        s[size_t(t)] = scale * dot(qi, kh + t * kvRow, hd);
                else
                    gemm(false, true, rows, keys, hd, scale, qi, H * hd, kh, kvRow, 0.f, s.data(), keys);
                for (int64_t r = 0; r < rows; ++r) {
                    float *sr = s.data() + r * keys;
                    const int64_t visible = m_pos + i0 + r + 1;
                    const float mx = *std::max_element(sr, sr + visible);
                    double sum = 0;
                    for (int64_t t = 0; t < visible; ++t) {
                        sr[t] = std::exp(sr[t] - mx);
                        sum += sr[t];
                    }
                    const float inv = float(1.0 / sum);
                    for (int64_t t = 0; t < visible; ++t)
                        sr[t] *= inv;
                    std::fill(sr + visible, sr + keys, 0.f);
                }
                if (rows == 1)
                    weightedRows(s.data(), vh, keys, hd, kvRow, ai);
                else
                    gemm(false, false, rows, hd, keys, 1.f, s.data(), keys, vh, kvRow, 0.f, ai, H * hd);
            }
        });
        observe(l, InputSite::AttentionOutput, att.data(), H * hd);
        linear(m_threads, att.data(), n, w.o, w.oB, h.data(), m);
        for (int64_t i = 0; i < n * dim; ++i)
            x[size_t(i)] += h[size_t(i)];

        const int64_t ffn = w.up.shape()[0]; // each block's own while channels are being removed
        if (c.arch == Arch::Llama) {
            rmsNorm(x.data(), n, dim, w.ffnNorm, c.normEps, h.data());
            observe(l, InputSite::Mlp, h.data(), dim);
            linear(m_threads, h.data(), n, w.gate, Tensor(), gate.data(), m);
            linear(m_threads, h.data(), n, w.up, w.upB, up.data(), m);
            for (int64_t i = 0; i < n * ffn; ++i) {
                const float g = gate[size_t(i)];
                up[size_t(i)] *= g / (1.f + std::exp(-g));
            }
        } else {
            layerNorm(x.data(), n, dim, w.ffnNorm, w.ffnNormB, c.normEps, h.data());
            observe(l, InputSite::Mlp, h.data(), dim);
            linear(m_threads, h.data(), n, w.up, w.upB, up.data(), m);
            geluTanh(up.data(), n * ffn);
        }
        observe(l, InputSite::MlpHidden, up.data(), ffn);
        linear(m_threads, up.data(), n, w.down, w.downB, h.data(), m);
        for (int64_t i = 0; i < n * dim; ++i)
            x[size_t(i)] += h[size_t(i)];
    }
    if (lastBlock + 1 < c.layers) {
        if (xOut) {
            *xOut = Tensor::uninitialized(DType::Float32, {n, dim});
            std::memcpy(xOut->data<float>(), x.data(), x.size() * 4);
        }
        m_pos = 0;
        return Tensor();
    }
    m_pos += n;

    const int64_t rows = allLogits ? n : 1;
    const float *last = x.data() + (n - rows) * dim;
    if (c.arch == Arch::Llama)
        rmsNorm(last, rows, dim, m.m_outputNorm, c.normEps, h.data());
    else
        layerNorm(last, rows, dim, m.m_outputNorm, m.m_outputNormBias, c.normEps, h.data());
    Tensor logits = Tensor::uninitialized(DType::Float32, {rows, c.vocab});
    linear(m_threads, h.data(), rows, m.m_output, Tensor(), logits.data<float>(), m);
    return logits;
}

} // namespace cw::lm
