#include "core/lm/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "core/base/error.h"

namespace cw::lm {

namespace {

double secondsSince(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// log softmax(logits)[token], in double as llama.cpp accumulates it.
double logProbability(const float *logits, int64_t vocab, int32_t token)
{
    float mx = logits[0];
    for (int64_t v = 1; v < vocab; ++v)
        mx = std::max(mx, logits[v]);
    double sum = 0;
    for (int64_t v = 0; v < vocab; ++v)
        sum += std::exp(double(logits[v]) - mx);
    return double(logits[token]) - mx - std::log(sum);
}

} // namespace

int64_t perplexityChunks(int64_t tokens, const PerplexityOptions &o)
{
    if (o.ctx < 4)
        throw Error("a perplexity context of " + std::to_string(o.ctx) + " tokens (at least 4)");
    if (tokens < 2 * o.ctx)
        throw Error("the text has " + std::to_string(tokens) + " tokens; perplexity with a context of " +
                    std::to_string(o.ctx) + " needs at least " + std::to_string(2 * o.ctx));
    const int64_t available = tokens / o.ctx;
    return o.chunks > 0 ? std::min(o.chunks, available) : available;
}

std::vector<int32_t> chunkTokens(const std::vector<int32_t> &tokens, int64_t c, const PerplexityOptions &o)
{
    std::vector<int32_t> chunk(tokens.begin() + c * o.ctx, tokens.begin() + (c + 1) * o.ctx);
    if (o.bos >= 0)
        chunk[0] = o.bos;
    return chunk;
}

ChunkScore scoreChunk(const Tensor &logits, const std::vector<int32_t> &tokens, int64_t c, const PerplexityOptions &o)
{
    const int64_t vocab = logits.shape()[1];
    ChunkScore s;
    for (int64_t i = o.ctx / 2; i < o.ctx - 1; ++i) {
        s.nll -= logProbability(logits.data<float>() + i * vocab, vocab, tokens[size_t(c * o.ctx + i + 1)]);
        ++s.scored;
    }
    return s;
}

std::vector<ChunkScore> scoreChunks(const std::shared_ptr<const LanguageModel> &model, const std::vector<int32_t> &tokens,
                                    const PerplexityOptions &o, int64_t begin, int64_t end, const ProgressFn &progress,
                                    const StopToken *stop)
{
    const int64_t chunks = perplexityChunks(int64_t(tokens.size()), o);
    if (begin < 0 || end > chunks || begin > end)
        throw Error("chunks " + std::to_string(begin) + " to " + std::to_string(end) + " of " + std::to_string(chunks));
    Context ctx(model, o.ctx, o.threads);
    std::vector<ChunkScore> scores;
    for (int64_t c = begin; c < end; ++c) {
        checkStop(stop);
        ctx.reset();
        scores.push_back(scoreChunk(ctx.eval(chunkTokens(tokens, c, o), true), tokens, c, o));
        if (progress)
            progress(double(c + 1 - begin) / double(end - begin),
                     "chunk " + std::to_string(c + 1 - begin) + " of " + std::to_string(end - begin));
    }
    return scores;
}

PerplexityResult perplexityOf(const std::vector<ChunkScore> &chunks)
{
    PerplexityResult r;
    double nll = 0;
    for (const ChunkScore &c : chunks) {
        nll += c.nll;
        r.scored += c.scored;
        r.chunkPerplexity.push_back(std::exp(nll / double(r.scored)));
    }
    r.chunks = int64_t(chunks.size());
    r.nll = r.scored ? nll / double(r.scored) : 0.0;
    r.perplexity = std::exp(r.nll);
    return r;
}

PerplexityResult perplexity(const std::shared_ptr<const LanguageModel> &model, const std::vector<int32_t> &tokens,
                            const PerplexityOptions &o, const ProgressFn &progress, const StopToken *stop)
{
    const auto t0 = std::chrono::steady_clock::now();
    const int64_t chunks = perplexityChunks(int64_t(tokens.size()), o);
    PerplexityResult r = perplexityOf(scoreChunks(model, tokens, o, 0, chunks, progress, stop));
    r.seconds = secondsSince(t0);
    r.tokensPerSecond = r.seconds > 0 ? double(chunks * o.ctx) / r.seconds : 0;
    return r;
}

SpeedResult variantSpeed(const std::shared_ptr<const LanguageModel> &model, int threads)
{
    int64_t prompt = 128, generate = 32;
    if (const int64_t ctx = model->config().contextLength; ctx > 0 && prompt + generate > ctx) {
        generate = std::min<int64_t>(generate, std::max<int64_t>(1, ctx / 4));
        prompt = ctx - generate;
    }
    return speed(model, prompt, generate, threads);
}

SpeedResult speed(const std::shared_ptr<const LanguageModel> &model, int64_t prompt, int64_t generate, int threads,
                  int rounds)
{
    if (prompt < 1 || generate < 0)
        throw Error("speed needs a prompt of at least one token");
    const int64_t vocab = model->config().vocab;
    std::vector<int32_t> ids(static_cast<size_t>(prompt));
    for (int64_t i = 0; i < prompt; ++i)
        ids[size_t(i)] = int32_t((i * 7919 + 13) % vocab);
    Context ctx(model, prompt + generate, threads);
    SpeedResult r;
    r.promptTokens = prompt;
    r.generatedTokens = generate;
    // One untimed pass first (first-call set-up of the kernels, page faults of the weights).
    ctx.eval(ids, false);
    ctx.eval({ids.back()}, false);
    std::vector<double> promptRates, generationRates;
    double timed = 0;
    const auto more = [&] {
        const int done = int(promptRates.size());
        return rounds > 0 ? done < rounds : done == 0 || (timed < 1.0 && done < 21);
    };
    while (more()) {
        ctx.reset();
        auto t0 = std::chrono::steady_clock::now();
        ctx.eval(ids, false);
        double s = secondsSince(t0);
        timed += s;
        promptRates.push_back(double(prompt) / s);
        t0 = std::chrono::steady_clock::now();
        for (int64_t i = 0; i < generate; ++i)
            ctx.eval({ids.back()}, false);
        s = secondsSince(t0);
        timed += s;
        if (generate)
            generationRates.push_back(double(generate) / s);
    }
    const auto median = [](std::vector<double> v) {
        if (v.empty())
            return 0.0;
        std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
        return v[v.size() / 2];
    };
    r.rounds = int(promptRates.size());
    r.promptTokensPerSecond = median(promptRates);
    r.generationTokensPerSecond = median(generationRates);
    return r;
}

std::vector<int32_t> generate(const std::shared_ptr<const LanguageModel> &model, const std::vector<int32_t> &prompt,
                              const GenerateOptions &o, const std::function<bool(int32_t)> &onToken,
                              const StopToken *stop)
{
    if (prompt.empty())
        throw Error("generation needs a prompt of at least one token");
    int64_t capacity = int64_t(prompt.size()) + o.maxTokens;
    if (model->config().contextLength > 0)
        capacity = std::min(capacity, model->config().contextLength);
    if (int64_t(prompt.size()) >= capacity)
        throw Error("the prompt fills the model's context of " + std::to_string(capacity) + " tokens");
    Context ctx(model, capacity, o.threads);
    std::mt19937_64 rng(o.seed);
    std::vector<int32_t> out;
    Tensor logits = ctx.eval(prompt, false);
    const int64_t vocab = model->config().vocab;
    while (int64_t(out.size()) < o.maxTokens && ctx.position() < capacity) {
        checkStop(stop);
        const float *l = logits.data<float>();
        int32_t next = 0;
        if (o.temperature <= 0) {
            next = int32_t(std::max_element(l, l + vocab) - l);
        } else {
            const float mx = *std::max_element(l, l + vocab);
            std::vector<double> p(static_cast<size_t>(vocab));
            for (int64_t v = 0; v < vocab; ++v)
                p[size_t(v)] = std::exp((double(l[v]) - mx) / o.temperature);
            std::discrete_distribution<int32_t> pick(p.begin(), p.end());
            next = pick(rng);
        }
        out.push_back(next);
        if ((onToken && !onToken(next)) || next == o.stopToken || ctx.position() >= capacity)
            break;
        logits = ctx.eval({next}, false);
    }
    return out;
}

} // namespace cw::lm
