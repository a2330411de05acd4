// llama_tokenize VOCAB TEXTFILE: the token ids llama.cpp's own tokenizer gives a text file, one line separated
// by spaces, with llama_tokenize(add_special = false, parse_special = false) as in llama.cpp's
// tests/test-tokenizer-0; stderr says how long the call took. It loads only the vocabulary, so the
// ggml-vocab-*.gguf files of llama.cpp's source work. Built by llama_tokenize.sh against llama.cpp's prebuilt
// libraries (tests/test_tokenizer compares core/lm/tokenizer with it on the Brown corpus).
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "llama.h"

namespace {
void quiet(enum ggml_log_level, const char *, void *) {}
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        std::fprintf(stderr, "usage: llama_tokenize VOCAB TEXTFILE\n");
        return 2;
    }
    llama_log_set(quiet, nullptr);
    std::ifstream in(argv[2], std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "llama_tokenize: cannot read %s\n", argv[2]);
        return 1;
    }
    std::stringstream s;
    s << in.rdbuf();
    const std::string text = s.str();

    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        std::fprintf(stderr, "llama_tokenize: cannot load %s\n", argv[1]);
        return 1;
    }
    const llama_vocab *vocab = llama_model_get_vocab(model);
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<llama_token> ids(text.size() + 16);
    int n = llama_tokenize(vocab, text.data(), int32_t(text.size()), ids.data(), int32_t(ids.size()), false, false);
    if (n < 0) {
        ids.resize(size_t(-n));
        n = llama_tokenize(vocab, text.data(), int32_t(text.size()), ids.data(), int32_t(ids.size()), false, false);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ids.resize(size_t(n < 0 ? 0 : n));
    std::string out;
    out.reserve(ids.size() * 6);
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i)
            out += ' ';
        out += std::to_string(ids[i]);
    }
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fprintf(stderr, "%d tokens in %.2f s\n", n, seconds);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
