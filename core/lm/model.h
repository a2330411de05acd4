// LanguageModel: a decoder-only transformer checkpoint (GGUF or safetensors) and its runner.
//
// Architectures: the llama family (RMSNorm, rotary embeddings, SwiGLU MLP, grouped-query attention; qwen2's
// Q/K/V biases) and GPT-2 (LayerNorm, learned positions, GELU MLP, fused QKV with biases). open() reads the
// configuration and the tensor table only (GGUF metadata, or config.json beside the safetensors), checks that
// every tensor the architecture needs is there with the right shape, and maps the file: a 13 GB checkpoint
// opens in a fraction of a second. load() then reads the weights into float32 (dequantizing block formats as
// llama.cpp does); the runner computes in float32 with the engine's gemm, but a block-format matrix on its
// encoded form where the integer kernels are the faster (setEncoded).
//
// Context: a KV cache of n_ctx positions for one sequence. eval() takes a batch of tokens at the next
// positions (a prompt at once, or one token per generation step) and returns the logits of every token of
// the batch, or of the last only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/base/progress.h"
#include "core/base/tensor.h"
#include "core/io/gguf.h"
#include "core/lm/tokenizer.h"

namespace cw::lm {

// Whether a model spec names a language model: "demo-lm", a .gguf / .safetensors file, a file starting with
// GGUF's magic, or a folder with config.json (a Hugging Face checkpoint).
bool isLanguageModel(const std::string &spec);
// A GGUF file by spec: a path or a built-in model's name ("demo-lm").
gguf::File openGguf(const std::string &spec);

enum class Arch { Llama, Gpt2 };

struct Config {
    Arch arch = Arch::Llama;
    std::string archName; // as the file says: "llama", "qwen2", "gpt2", ...
    std::string format;   // "gguf" or "safetensors"
    std::string name;     // general.name, or the folder
    int64_t vocab = 0, contextLength = 0, dim = 0, layers = 0, heads = 0, kvHeads = 0;
    int64_t ffn = 0; // the MLP's hidden width (the widest block's while LanguageModel::resizeWeight is under way)
    // Values per attention head, of queries, keys and values alike: dim / heads unless the checkpoint says otherwise
    // (GGUF attention.key_length, config.json head_dim; llama family only), so the attention's width heads * headDim
    // may differ from dim.
    int64_t headDim = 0;
    double normEps = 1e-5;
    double ropeTheta = 10000;
    // Rotary pairs: false = adjacent (x[2i], x[2i+1]), llama.cpp's "norm" for GGUF llama (whose converter
    // permuted Q/K); true = halves (x[i], x[i + d/2]), the Hugging Face layout and qwen2 in GGUF.
    bool ropeHalves = false;
    int64_t parameters = 0;  // weight values in the checkpoint
    int64_t storedBytes = 0; // their bytes as stored
};

struct BlockWeights; // one transformer block, float32 after load()
} // namespace cw::lm
namespace cw::ggml {
class InterleavedRows;
}
namespace cw::lm {

// A tensor as a compressed checkpoint stores it: a ggml type (Q4_K, Q8_0, F16, ...) and its encoded rows, the
// matrix [out, in] in the runner's orientation (core/lm/compress.h makes them).
struct EncodedTensor {
    uint32_t type = 0;
    std::string bytes;
    // The tensor's shape in the runner's orientation when compression changed it (MLP channels removed:
    // LanguageModel::resizeWeight); empty when it is the checkpoint's.
    Shape shape;
};

class LanguageModel {
public:
    // PATH: a .gguf file, "demo-lm" (the built-in demo), or a safetensors checkpoint (a .safetensors file, an
    // index, or a Hugging Face folder) with config.json. cw::Error naming the file and what is missing or
    // unsupported.
    static std::shared_ptr<LanguageModel> open(const std::string &path);
    ~LanguageModel();

    const std::string &path() const { return m_path; }
    const Config &config() const { return m_config; }
    // The tokenizer the checkpoint carries (GGUF metadata, or a Hugging Face tokenizer.json: hf_tokenizer.h);
    // nullptr when it has none.
    const Tokenizer *tokenizer() const { return m_tokenizer.get(); }
    // Metadata to show (GGUF keys, or config.json's), as key -> short text.
    const std::vector<std::pair<std::string, std::string>> &metadata() const { return m_metadata; }

    // The tensors as the checkpoint names them, in file order, with their row-major shapes and stored types.
    struct TensorEntry {
        std::string name;
        Shape shape;
        std::string type; // "F32", "Q4_K", "BF16", ...
        int64_t numel = 0;
        uint64_t bytes = 0;
        std::string role; // "attn_q", "ffn_down", "embedding", "norm", ... ("" when unused)
        int block = -1;   // the transformer block, -1 outside the blocks
    };
    const std::vector<TensorEntry> &tensors() const { return m_entries; }
    // A tensor's values as float32 (read on demand from the map), a weight matrix as [out, in] — the runner's
    // orientation, also for Hugging Face GPT-2's Conv1D matrices, which the file stores [in, out].
    Tensor readTensor(const std::string &name) const;

    // Reads every weight the runner needs into float32 memory (held to the memory budget). Idempotent.
    void load(const ProgressFn &progress = {}, const StopToken *stop = nullptr);
    bool loaded() const { return m_loaded; }
    // The float32 weight the runner uses for a tensor of the checkpoint (by its name in the file), after load();
    // nullptr for a tensor the runner does not use. Changing its values changes what the runner computes (a
    // what-if: core/lm/sensitivity.h); a tied output is the embedding itself.
    Tensor *loadedWeight(const std::string &name);
    const Tensor *loadedWeight(const std::string &name) const;
    // llama.cpp's name of a checkpoint tensor the runner uses ("h.0.attn.c_attn.weight" -> "blk.0.attn_qkv.weight",
    // a GGUF file's names as they are); "" for one it does not use.
    std::string llamaName(const std::string &name) const;
    // The runner computes this weight matrix (by its name in the checkpoint) from `encoded`, rows of a ggml type
    // that decode to the loaded weight, on the block-format kernels (core/quant/ggml_kernels.h: the activations
    // rounded to 8 bits per block, as llama.cpp computes) when it has a million weights or more; a smaller one,
    // which stays in cache, runs faster on the float32 gemm of its decoded values — except that the legacy formats,
    // which setEncoded also lays out as ggml::InterleavedRows, run on that kernel for up to 16 rows of x
    // (generation: one), whatever their size, where it is the faster. core/lm/compress.h sets it for every matrix it
    // compresses, load() for the block-quantized matrices of a GGUF file. The non-const loadedWeight() drops it
    // (the caller may change the weight). cw::Error for a tensor that is no weight matrix, or bytes that are not
    // its rows.
    void setEncoded(const std::string &name, EncodedTensor encoded);
    // Replaces a loaded weight of a block's MLP by values of another width: channels of its hidden layer removed
    // (ffn_gate and ffn_up rows, GPT-2's ffn_up.bias, ffn_down columns; the other axis keeps the model's width);
    // or of a llama block's attention, heads removed (attn_q, attn_k, attn_v rows and their biases, attn_output
    // columns, in whole heads). The tensor table, the feed-forward width and the head counts follow
    // (config().parameters and storedBytes stay the checkpoint's); while the blocks differ (a removal under way),
    // config().ffn, heads and kvHeads are the widest block's. The runner takes each block's heads from its
    // attn_q and attn_k. cw::Error for another tensor or a shape that does not fit.
    void resizeWeight(const std::string &name, Tensor values);
    const EncodedTensor *encodedFor(const Tensor &weight) const; // nullptr: computed in float32
    // The encoded matrix in the interleaved layout (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0); nullptr for other types or none.
    const ggml::InterleavedRows *interleavedFor(const Tensor &weight) const;

private:
    LanguageModel();
    friend class Context;
    friend void exportGguf(const LanguageModel &model, const std::string &path, bool f16,
                           const std::map<std::string, EncodedTensor> &compressed);
    friend void exportSafetensors(const LanguageModel &model, const std::string &path, bool f16);
    struct Source;
    std::string m_path;
    Config m_config;
    std::vector<TensorEntry> m_entries;
    std::vector<std::pair<std::string, std::string>> m_metadata;
    std::shared_ptr<const Tokenizer> m_tokenizer;
    std::unique_ptr<Source> m_source;
    bool m_loaded = false;
    // after load()
    Tensor m_tokenEmbedding, m_positionEmbedding, m_outputNorm, m_outputNormBias, m_output; // [rows, cols]
    std::vector<BlockWeights> m_blocks;
    struct Encoded {
        EncodedTensor rows;
        std::shared_ptr<const ggml::InterleavedRows> interleaved; // the legacy formats
    };
    std::map<const Tensor *, Encoded> m_encoded; // weights the runner computes from their encoded rows
    Tensor *roleWeight(const std::string &role);       // by llama.cpp's name; nullptr when absent
};

// Writes a GGUF checkpoint of the model with F32 (or, with f16, F16 matrices and F32 vectors) tensors, which
// llama.cpp loads. With `compressed` (tensor name in the checkpoint -> its encoded form), those tensors are
// written as encoded and every other one as the checkpoint stores it (a GGUF source's bytes copied; a
// safetensors source's in its float type, BF16 / F16 / F32). A GGUF source keeps its names and metadata. A safetensors source is converted as llama.cpp's
// converter does: llama.cpp's tensor names and configuration keys, the tokenizer.json as its GGUF vocabulary
// (hf_tokenizer.h; cw::Error without one), GPT-2's Conv1D matrices as [out, in], and for llama / mistral the
// rows of Q and K (and their biases) reordered from split-half to adjacent rotary pairs (qwen2 keeps halves).
void exportGguf(const LanguageModel &model, const std::string &path, bool f16,
                const std::map<std::string, EncodedTensor> &compressed = {});

// Writes a safetensors checkpoint's weights — the loaded ones when the model is loaded (a pruned model's), the
// file's otherwise — under its own names and layout (Hugging Face GPT-2's Conv1D matrices [in, out] again) as one
// file, F32 (with f16, F16), and copies config.json and the tokenizer files beside it: a folder Hugging Face and
// the workbench open. cw::Error for a GGUF source (it exports to GGUF) or when the target folder is the source's.
void exportSafetensors(const LanguageModel &model, const std::string &path, bool f16);

// Where a weight matrix of a block reads its input: the attention's input (Q, K, V or GPT-2's fused QKV), the
// attention's output (attn_output), the MLP's input (gate and up) and the MLP's hidden layer (ffn_down).
enum class InputSite { Attention, AttentionOutput, Mlp, MlpHidden };
// The site of a block tensor's role ("attn_q" -> Attention, ...); false for a role that is not a block matrix.
bool inputSiteOf(const std::string &role, InputSite *site);

class Context {
public:
    // A cache of nCtx positions (at most the model's context length, when it has one). The model must be loaded.
    Context(std::shared_ptr<const LanguageModel> model, int64_t nCtx, int threads = 0);
    ~Context();

    int64_t position() const { return m_pos; } // tokens in the cache
    int64_t capacity() const { return m_nCtx; }
    void reset() { m_pos = 0; }

    // Evaluates tokens at positions [position(), position() + n); returns logits [n, vocab] (allLogits) or
    // [1, vocab] (the last token's). cw::Error when the cache would overflow or a token id is out of range.
    Tensor eval(const std::vector<int32_t> &tokens, bool allLogits = true);

    // Runs tokens through blocks 0 ... lastBlock only, for the input observer (calibration of that block needs
    // nothing after it); the later blocks' caches are not filled, so the context is left reset.
    void observeThrough(const std::vector<int32_t> &tokens, int lastBlock);
    // The residual stream entering `block` (the embedded tokens through the blocks before it), [n, dim], from an
    // empty cache, which is left empty. With evalFrom, a what-if of one block's weights skips the blocks before it
    // (core/lm/sensitivity.h): evalFrom(residualBefore(tokens, b), b) computes eval(tokens) exactly while the
    // blocks before b are unchanged.
    Tensor residualBefore(const std::vector<int32_t> &tokens, int block);
    // eval() of the tokens whose residual stream entering `block` is x [n, dim], from an empty cache; the blocks
    // before it are not run (nor their caches filled: continue with reset()).
    Tensor evalFrom(const Tensor &x, int block, bool allLogits = true);

    // Called during eval() with the input of the weight matrices of every block at every site, before they are
    // applied: x is [n, width] row-major (the batch's tokens). Calibration of GPTQ, AWQ, Wanda and SparseGPT
    // (core/lm/compress.h) reads activations this way. An empty function switches it off.
    using InputObserver = std::function<void(int block, InputSite site, const float *x, int64_t n, int64_t width)>;
    void setInputObserver(InputObserver observer) { m_observer = std::move(observer); }

private:
    std::shared_ptr<const LanguageModel> m_model;
    int64_t m_nCtx = 0, m_pos = 0;
    int m_threads = 1;
    std::vector<std::vector<float>> m_k, m_v; // per layer: [nCtx, kvHeads * headDim]
    InputObserver m_observer;

    Tensor run(const std::vector<int32_t> &tokens, const Tensor *xIn, bool allLogits, int64_t firstBlock,
               int64_t lastBlock, Tensor *xOut);
};

} // namespace cw::lm
