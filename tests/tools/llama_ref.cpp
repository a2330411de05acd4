// llama_ref: llama.cpp itself (its prebuilt libllama from npm @node-llama-cpp/linux-x64), the reference the
// language-model tests and benchmarks compare with. Built by tests/tools/llama_ref.sh against the headers of
// the same release (llama.cpp's source, from node-llama-cpp's bundle); never linked into the workbench.
//
// logits, tokenize and perplexity compute exactly: the KV cache in float32 and flash attention off (the CPU
// flash-attention kernel rounds through float16: with it on, llama.cpp's logits of a float32 model differ from a
// float64 evaluation by 3e-4 of their scale, with it off by 2e-7). bench runs llama.cpp as it runs by default
// (float16 cache, flash attention on): the speed a user gets.
//
//   llama_ref logits MODEL OUT.f32 ID...        every position's logits of one batch, float32 [n, vocab]
//   llama_ref tokenize MODEL TEXTFILE [--bos]   the token ids, one line, as llama.cpp's test-tokenizer-0 makes
//       them (llama_tokenize, parse_special = false); loads the vocabulary only, so llama.cpp's
//       models/ggml-vocab-*.gguf work too; stderr says how long the call took
//   llama_ref perplexity MODEL TEXTFILE CTX CHUNKS
//       perplexity as llama.cpp's llama-perplexity computes it (tokenized with BOS when the vocabulary adds
//       one; chunks of CTX tokens, each starting from an empty cache with its first token replaced by BOS;
//       the second half of each chunk scored): prints "ppl TOKENS_SCORED"
//   llama_ref bench MODEL PROMPT GEN THREADS    prompt processing and generation after one untimed prompt,
//       tokens/s: "pp T tg T"
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "llama.h"

namespace {

void quiet(enum ggml_log_level, const char *, void *) {}

void die(const std::string &what)
{
    std::fprintf(stderr, "llama_ref: %s\n", what.c_str());
    std::exit(1);
}

std::string readText(const char *path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        die(std::string("cannot read ") + path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

struct Session {
    llama_model *model = nullptr;
    llama_context *ctx = nullptr;
    const llama_vocab *vocab = nullptr;
    Session(const char *path, int nCtx, int threads, bool exact = true)
    {
        ggml_backend_load_all();
        llama_model_params mp = llama_model_default_params();
        model = llama_model_load_from_file(path, mp);
        if (!model)
            die(std::string("cannot load ") + path);
        vocab = llama_model_get_vocab(model);
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = uint32_t(nCtx);
        cp.n_batch = uint32_t(nCtx);
        cp.n_ubatch = uint32_t(nCtx);
        cp.n_threads = threads;
        cp.n_threads_batch = threads;
        cp.no_perf = true;
        if (exact) {
            cp.type_k = GGML_TYPE_F32;
            cp.type_v = GGML_TYPE_F32;
            cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
        }
        ctx = llama_init_from_model(model, cp);
        if (!ctx)
            die("cannot create a context");
    }
    ~Session()
    {
        llama_free(ctx);
        llama_model_free(model);
    }
    std::vector<llama_token> tokenize(const std::string &text, bool bos) const
    {
        std::vector<llama_token> ids(text.size() + 16);
        int n = llama_tokenize(vocab, text.data(), int32_t(text.size()), ids.data(), int32_t(ids.size()), bos, false);
        if (n < 0) {
            ids.resize(size_t(-n));
            n = llama_tokenize(vocab, text.data(), int32_t(text.size()), ids.data(), int32_t(ids.size()), bos, false);
        }
        ids.resize(size_t(n));
        return ids;
    }
    // Evaluates ids from position 0 of an empty cache; every position's logits stay readable.
    void evalAll(std::vector<llama_token> ids)
    {
        llama_memory_clear(llama_get_memory(ctx), true);
        llama_batch batch = llama_batch_init(int32_t(ids.size()), 0, 1);
        for (size_t i = 0; i < ids.size(); ++i) {
            batch.token[i] = ids[i];
            batch.pos[i] = llama_pos(i);
            batch.n_seq_id[i] = 1;
            batch.seq_id[i][0] = 0;
            batch.logits[i] = 1;
        }
        batch.n_tokens = int32_t(ids.size());
        if (llama_decode(ctx, batch) != 0)
            die("llama_decode failed");
        llama_batch_free(batch);
    }
};

} // namespace

int main(int argc, char **argv)
{
    if (argc < 3)
        die("usage: llama_ref logits|tokenize|perplexity|bench MODEL ...");
    llama_backend_init();
    const std::string cmd = argv[1];
    if (cmd == "logits" && argc >= 5) {
        std::vector<llama_token> ids;
        for (int i = 4; i < argc; ++i)
            ids.push_back(std::atoi(argv[i]));
        Session s(argv[2], int(ids.size()), 1);
        s.evalAll(ids);
        const int nv = llama_vocab_n_tokens(s.vocab);
        std::ofstream out(argv[3], std::ios::binary);
        for (size_t i = 0; i < ids.size(); ++i)
            out.write(reinterpret_cast<const char *>(llama_get_logits_ith(s.ctx, int32_t(i))), std::streamsize(nv) * 4);
        return out ? 0 : 1;
    }
    if (cmd == "tokenize" && argc >= 4) {
        llama_log_set(quiet, nullptr);
        llama_model_params mp = llama_model_default_params();
        mp.vocab_only = true;
        llama_model *model = llama_model_load_from_file(argv[2], mp);
        if (!model)
            die(std::string("cannot load ") + argv[2]);
        const llama_vocab *vocab = llama_model_get_vocab(model);
        const std::string text = readText(argv[3]);
        const bool bos = argc >= 5 && std::string(argv[4]) == "--bos";
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<llama_token> ids(text.size() + 16);
        int n = llama_tokenize(vocab, text.data(), int32_t(text.size()), ids.data(), int32_t(ids.size()), bos, false);
        if (n < 0) {
            ids.resize(size_t(-n));
            n = llama_tokenize(vocab, text.data(), int32_t(text.size()), ids.data(), int32_t(ids.size()), bos, false);
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ids.resize(size_t(n < 0 ? 0 : n));
        std::string out;
        for (size_t i = 0; i < ids.size(); ++i)
            out += (i ? " " : "") + std::to_string(ids[i]);
        out += '\n';
        std::fwrite(out.data(), 1, out.size(), stdout);
        std::fprintf(stderr, "%d tokens in %.2f s\n", n, seconds);
        llama_model_free(model);
        return 0;
    }
    if (cmd == "perplexity" && argc >= 6) {
        const int nCtx = std::atoi(argv[4]), maxChunks = std::atoi(argv[5]);
        Session s(argv[2], nCtx, 1);
        std::vector<llama_token> tokens = s.tokenize(readText(argv[3]), llama_vocab_get_add_bos(s.vocab));
        const int nChunk = std::min(int(tokens.size()) / nCtx, maxChunks > 0 ? maxChunks : 1 << 30);
        const int nv = llama_vocab_n_tokens(s.vocab);
        const int first = nCtx / 2;
        double nll = 0;
        long count = 0;
        for (int c = 0; c < nChunk; ++c) {
            std::vector<llama_token> chunk(tokens.begin() + c * nCtx, tokens.begin() + (c + 1) * nCtx);
            if (llama_vocab_get_add_bos(s.vocab))
                chunk[0] = llama_vocab_bos(s.vocab);
            s.evalAll(chunk);
            for (int i = first; i < nCtx - 1; ++i) {
                const float *l = llama_get_logits_ith(s.ctx, i);
                float mx = l[0];
                for (int v = 1; v < nv; ++v)
                    mx = std::max(mx, l[v]);
                double sum = 0;
                for (int v = 0; v < nv; ++v)
                    sum += std::exp(double(l[v]) - mx);
                nll -= double(l[tokens[size_t(c * nCtx + i + 1)]]) - mx - std::log(sum);
                ++count;
            }
        }
        std::printf("%.9g %ld\n", std::exp(nll / double(count)), count);
        return 0;
    }
    if (cmd == "bench" && argc >= 6) {
        const int prompt = std::atoi(argv[3]), gen = std::atoi(argv[4]), threads = std::atoi(argv[5]);
        Session s(argv[2], prompt + gen, threads, false);
        std::vector<llama_token> ids(static_cast<size_t>(prompt));
        for (int i = 0; i < prompt; ++i)
            ids[size_t(i)] = (i * 7919 + 13) % llama_vocab_n_tokens(s.vocab);
        // One untimed pass first, as cwb bench does.
        llama_memory_clear(llama_get_memory(s.ctx), true);
        if (llama_decode(s.ctx, llama_batch_get_one(ids.data(), int32_t(ids.size()))) != 0)
            die("llama_decode failed");
        llama_memory_clear(llama_get_memory(s.ctx), true);
        auto t0 = std::chrono::steady_clock::now();
        if (llama_decode(s.ctx, llama_batch_get_one(ids.data(), int32_t(ids.size()))) != 0)
            die("llama_decode failed");
        auto t1 = std::chrono::steady_clock::now();
        llama_token next = ids.back();
        for (int i = 0; i < gen; ++i)
            if (llama_decode(s.ctx, llama_batch_get_one(&next, 1)) != 0)
                die("llama_decode failed");
        auto t2 = std::chrono::steady_clock::now();
        std::printf("pp %.3f tg %.3f\n", prompt / std::chrono::duration<double>(t1 - t0).count(),
                    gen / std::chrono::duration<double>(t2 - t1).count());
        return 0;
    }
    die("unknown command or missing arguments: " + cmd);
}
