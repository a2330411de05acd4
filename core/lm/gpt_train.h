// Training a decoder-only language model: a small GPT-2 from scratch (the demo language model), and the
// fine-tuning of a compressed checkpoint of either architecture the runner knows (GPT-2 and the llama family:
// core/lm/compress.h). The differentiable layers with their backward rules, a trainer over token sequences
// (Adam, warm-up then cosine learning rate, gradient clipping), and the model as a GGUF file that both the
// workbench's runner (core/lm/model.h) and llama.cpp load.
//
// The layers are plain functions over row-major float arrays, exposed so that each has its gradient check
// (tests/test_lm_train.cpp). Backward functions accumulate (+=) into the gradients they are given.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/base/progress.h"
#include "core/base/tensor.h"
#include "core/io/gguf.h"
#include "core/lm/model.h"

namespace cw::lm {

namespace gpt {

// y = (x - mean) / sqrt(var + eps) * w + b over rows of d; keeps mean and 1/std per row for the backward.
void layerNormForward(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd, int64_t n,
                      int64_t d, float eps);
void layerNormBackward(const float *dy, const float *x, const float *w, const float *mean, const float *rstd,
                       float *dx, float *dw, float *db, int64_t n, int64_t d);
// y[n, out] = x[n, in] W[out, in]^T + b (b may be null).
void linearForward(const float *x, const float *w, const float *b, float *y, int64_t n, int64_t in, int64_t out);
void linearBackward(const float *dy, const float *x, const float *w, float *dx, float *dw, float *db, int64_t n,
                    int64_t in, int64_t out);
// Causal multi-head self-attention of width A (heads of A / H each). qkv: [B, T, 3A] (queries, keys, values);
// out: [B, T, A]; att: [B, H, T, T] the attention probabilities (zero above the diagonal), kept for the backward.
void attentionForward(const float *qkv, float *out, float *att, int64_t B, int64_t T, int64_t A, int64_t H, int threads);
void attentionBackward(const float *dout, const float *qkv, const float *att, float *dqkv, int64_t B, int64_t T,
                       int64_t A, int64_t H, int threads);
// GELU, tanh approximation (GPT-2's, and llama.cpp's for gpt2).
void geluForward(const float *x, float *y, int64_t n);
void geluBackward(const float *dy, const float *x, float *dx, int64_t n);
// The llama family's layers. y = x / sqrt(mean(x^2) + eps) * w over rows of d; keeps 1/rms per row.
void rmsNormForward(const float *x, const float *w, float *y, float *rstd, int64_t n, int64_t d, float eps);
void rmsNormBackward(const float *dy, const float *x, const float *w, const float *rstd, float *dx, float *dw, int64_t n,
                     int64_t d);
// Rotary position embedding in place over B sequences of T rows of `heads` head vectors of hd values (row t at
// position t), as the runner rotates: pairs (x[2i], x[2i+1]), or (x[i], x[i + hd/2]) with halves, by the angle
// t * theta^(-2i/hd). A rotation's backward is its inverse: inverse rotates the gradient back.
void rotary(float *x, int64_t B, int64_t T, int64_t heads, int64_t hd, double theta, bool halves, bool inverse);
// y = silu(gate) * up, elementwise.
void swigluForward(const float *gate, const float *up, float *y, int64_t n);
void swigluBackward(const float *dy, const float *gate, const float *up, float *dgate, float *dup, int64_t n);
// x[b, t] = wte[token] + wpe[t] (wpe may be null: the llama family has no learned positions).
void embedForward(const int32_t *tokens, const float *wte, const float *wpe, float *x, int64_t B, int64_t T, int64_t D);
void embedBackward(const float *dx, const int32_t *tokens, float *dwte, float *dwpe, int64_t B, int64_t T, int64_t D);

} // namespace gpt

struct GptShape {
    int64_t vocab = 4096, ctx = 128, dim = 128, layers = 4, heads = 4, ffn = 512;
    // GPT-2 (LayerNorm, learned positions, GELU, fused QKV with biases) or the llama family (RMSNorm, rotary
    // positions, SwiGLU, separate Q / K / V with grouped-query attention).
    Arch arch = Arch::Gpt2;
    int64_t kvHeads = 0;     // llama: key / value heads (0: as many as query heads)
    int64_t headDim = 0;     // llama: values per head (0: dim / heads); GPT-2's heads span dim
    bool qkvBias = false;    // llama: biases on Q, K and V (qwen2)
    bool ropeHalves = false; // llama: rotary pairs as halves (qwen2, Hugging Face) rather than adjacent
    double ropeTheta = 10000;
    float normEps = 1e-5f;
    int64_t kvHeadCount() const { return kvHeads > 0 ? kvHeads : heads; }
    int64_t headDimension() const { return headDim > 0 ? headDim : heads > 0 ? dim / heads : 0; }
};

class LanguageModel;

// A trainable model of either architecture (the name is the demo's: GPT-2), its parameters by llama.cpp's tensor
// names ("token_embd.weight", "blk.0.attn_qkv.weight" or "blk.0.attn_q.weight", ...); the output projection is
// tied to the token embedding unless the parameters have an "output.weight".
class Gpt {
public:
    // GPT-2's initialisation: weights N(0, 0.02), residual projections N(0, 0.02 / sqrt(2 * layers)), biases 0,
    // norms 1; seeded.
    Gpt(const GptShape &shape, uint64_t seed);
    // The model a loaded LanguageModel runs (a copy of its float32 weights, an untied output head and the llama
    // family's optional biases included): the student and the teacher of fine-tuning a compressed checkpoint
    // (core/lm/compress.h). Its context is the checkpoint's (a llama-family model without one: unbounded, and
    // save() then writes none). cw::Error naming a weight the runner uses that training does not cover.
    static Gpt fromModel(const LanguageModel &model);
    const GptShape &shape() const { return m_shape; }
    std::map<std::string, Tensor> &parameters() { return m_params; }
    const std::map<std::string, Tensor> &parameters() const { return m_params; }
    int64_t parameterCount() const;

    // The loss of a batch from its logits [B * T, vocab] and next-token targets; fills *dlogits (d loss / d logits)
    // when given.
    using LogitsLoss =
        std::function<double(const Tensor &logits, const std::vector<int64_t> &targets, Tensor *dlogits)>;
    // Mean cross-entropy (or logitsLoss) of predicting tokens[b, t + 1] from tokens[b, 0..t], over B sequences of
    // T + 1 tokens (T <= ctx). With grads, accumulates the gradient of that loss into grads (same names and shapes).
    double loss(const int32_t *tokens, int64_t B, int64_t T, std::map<std::string, Tensor> *grads, int threads,
                const LogitsLoss &logitsLoss = {}) const;
    // The logits [B * T, vocab] of B sequences of T + 1 tokens (the last token of each is not read).
    Tensor logits(const int32_t *tokens, int64_t B, int64_t T, int threads) const;

    // Writes the model as a GGUF "gpt2" or "llama" checkpoint (float32 or float16 matrices) with the given metadata
    // besides the architecture's own (the tokenizer's keys, the training provenance); a llama-family model with
    // split-half rotary pairs as "qwen2", which needs the Q / K / V biases (cw::Error without them).
    void save(const std::string &path, const std::vector<gguf::WriteValue> &metadata, bool f16) const;

private:
    Gpt() = default;
    GptShape m_shape;
    std::map<std::string, Tensor> m_params;
};

struct GptTrainOptions {
    int64_t steps = 2000, batch = 16;
    float lr = 1e-3f, minLr = 1e-4f, weightDecay = 0.1f, clip = 1.f; // weight decay: AdamW's, on matrices
    int64_t warmup = 100;
    uint64_t seed = 1;
    int threads = 0;
    int64_t evalEvery = 200; // steps between held-out evaluations (0: only at the end)
    int64_t evalBatches = 8;
    int64_t ctx = 0; // tokens per training window (0: the model's context)
};

struct GptTrainStep {
    int64_t step = 0, steps = 0;
    double loss = 0, lr = 0, seconds = 0;
    double heldOutLoss = -1; // when measured at this step
};

// What fine-tuning changes in training (core/lm/compress.h).
struct GptTrainHooks {
    // The loss of a training batch instead of the model's cross-entropy (a distillation loss): returns it and
    // accumulates its gradient into grads.
    std::function<double(const Gpt &model, const int32_t *tokens, int64_t B, int64_t T,
                         std::map<std::string, Tensor> *grads)>
        batchLoss;
    // Parameters trained through a projection (quantization-aware training with the straight-through
    // estimator): the model computes with project(name, master, &effective) and the gradient it gets updates the
    // master, whose first value is the model's parameter. Returns false for a parameter trained as it is.
    std::function<bool(const std::string &name, const Tensor &master, Tensor *effective)> project;
};

// Trains on random windows of T + 1 tokens of `train` (T: options.ctx, else the model's context; seeded),
// measuring the held-out loss (cross-entropy) on fixed windows of `heldOut`. onStep after every step; Cancel
// between steps.
void trainGpt(Gpt &model, const std::vector<int32_t> &train, const std::vector<int32_t> &heldOut,
              const GptTrainOptions &options, const std::function<void(const GptTrainStep &)> &onStep = {},
              const StopToken *stop = nullptr, const GptTrainHooks &hooks = {});

// A language model from a corpus, end to end (`cwb train-lm`, which made the built-in demo-lm): a byte-level
// BPE vocabulary of vocabSize tokens (GPT-2's pre-tokenizer, <|endoftext|> between documents and as BOS)
// learned on the training split, the GPT trained on it, its held-out perplexity measured as `cwb perplexity`
// measures it (chunks of the model's context), and the GGUF written with the tokenizer and the provenance
// (workbench.* keys: the command, the seed, the corpus, the held-out perplexity).
struct LanguageModelTraining {
    std::vector<std::string> trainDocuments, heldOutDocuments;
    std::string corpusName;
    int64_t vocabSize = 4096;
    GptShape shape;
    GptTrainOptions train;
    bool f16 = false;
    std::string command; // recorded in the file
};
struct LanguageModelTrained {
    int64_t parameters = 0, trainTokens = 0, heldOutTokens = 0;
    double heldOutPerplexity = 0, seconds = 0;
};
LanguageModelTrained trainLanguageModel(const LanguageModelTraining &options, const std::string &output,
                                        const std::function<void(const GptTrainStep &)> &onStep = {},
                                        const ProgressFn &progress = {}, const StopToken *stop = nullptr);

} // namespace cw::lm
