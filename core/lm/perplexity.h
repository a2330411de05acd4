// Measurements of a language model: perplexity on a text as llama.cpp's llama-perplexity computes it, the
// speed of prompt processing and generation, and text generation itself.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/base/progress.h"
#include "core/lm/model.h"

namespace cw::lm {

struct PerplexityOptions {
    int64_t ctx = 512;   // tokens per chunk
    int64_t chunks = -1; // at most this many chunks (-1: every whole chunk of the text)
    int32_t bos = -1;    // >= 0: each chunk's first token is replaced by it (the vocabulary adds BOS)
    int threads = 0;
};

struct PerplexityResult {
    double perplexity = 0;     // exp(mean negative log-likelihood)
    double nll = 0;            // the mean negative log-likelihood, nats per token
    int64_t scored = 0;        // tokens scored: (ctx - 1 - ctx / 2) per chunk
    int64_t chunks = 0;
    std::vector<double> chunkPerplexity; // running perplexity after each chunk (llama.cpp prints these)
    double seconds = 0;
    double tokensPerSecond = 0; // evaluated tokens (chunks * ctx) per second
};

// tokens: the whole text tokenized (with BOS first when the vocabulary adds one). Chunks of ctx tokens, each
// from an empty cache with its first token replaced by options.bos; the second half of each chunk is scored
// (the logits at position i predict token i + 1, for i in [ctx/2, ctx - 1)). cw::Error when the text holds
// fewer than 2 * ctx tokens, as llama-perplexity refuses. Progress per chunk; Cancel between chunks.
PerplexityResult perplexity(const std::shared_ptr<const LanguageModel> &model, const std::vector<int32_t> &tokens,
                            const PerplexityOptions &options, const ProgressFn &progress = {},
                            const StopToken *stop = nullptr);

// The pieces of a perplexity (a cluster's shards compute some chunks each, core/cluster/sweep.h):
struct ChunkScore {
    double nll = 0;      // summed negative log-likelihood of the chunk's scored tokens
    int64_t scored = 0;
};
// The chunks perplexity() measures of a text of `tokens` tokens (cw::Error as perplexity() refuses).
int64_t perplexityChunks(int64_t tokens, const PerplexityOptions &options);
// Chunks [begin, end) of the text, each scored as perplexity() scores it. Progress per chunk; Cancel between them.
std::vector<ChunkScore> scoreChunks(const std::shared_ptr<const LanguageModel> &model, const std::vector<int32_t> &tokens,
                                    const PerplexityOptions &options, int64_t begin, int64_t end,
                                    const ProgressFn &progress = {}, const StopToken *stop = nullptr);
// Chunk c of the text as perplexity() evaluates it (BOS first when options.bos >= 0), and its score from the logits
// [ctx, vocab] of all its positions (the second half scored, as llama-perplexity scores).
std::vector<int32_t> chunkTokens(const std::vector<int32_t> &tokens, int64_t c, const PerplexityOptions &options);
ChunkScore scoreChunk(const Tensor &logits, const std::vector<int32_t> &tokens, int64_t c, const PerplexityOptions &options);
// The perplexity of the chunks in order (each chunk's sum added as one number): perplexity() exactly when they are
// all its chunks (seconds and tokens per second are left 0).
PerplexityResult perplexityOf(const std::vector<ChunkScore> &chunks);

struct SpeedResult {
    int64_t promptTokens = 0, generatedTokens = 0;
    double promptTokensPerSecond = 0, generationTokensPerSecond = 0; // medians over the rounds
    int rounds = 0;
};
// A prompt of `prompt` tokens evaluated at once, then `generate` tokens one at a time (the same token ids as
// llama_ref bench uses, so both measure the same work), after one untimed pass; repeated `rounds` times from an
// empty context, each rate the median of its rounds. rounds <= 0: as many as fit in about a second of timed work
// (at least one, at most 21), so a small model is timed over many rounds and a large one once.
SpeedResult speed(const std::shared_ptr<const LanguageModel> &model, int64_t prompt, int64_t generate, int threads,
                  int rounds = 0);
// The speed a compressed variant is listed with (the Compress tab, a project's variants): a prompt of 128 tokens
// and 32 generated, as `cwb bench` measures by default, fitted into the model's context.
SpeedResult variantSpeed(const std::shared_ptr<const LanguageModel> &model, int threads);

struct GenerateOptions {
    int64_t maxTokens = 64;
    double temperature = 0; // 0: greedy
    uint64_t seed = 1;
    int32_t stopToken = -1; // end of sequence
    int threads = 0;
};
// Continues `prompt`; onToken(id) for every new token (return false to stop). Returns the new tokens.
std::vector<int32_t> generate(const std::shared_ptr<const LanguageModel> &model, const std::vector<int32_t> &prompt,
                              const GenerateOptions &options, const std::function<bool(int32_t)> &onToken = {},
                              const StopToken *stop = nullptr);

} // namespace cw::lm
