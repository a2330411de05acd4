// GGUF: the tokenizer the metadata describes (encoding a short text), the language model it describes, then the
// file itself: header, metadata and tensor infos (gguf::File::open) and every tensor dequantized. The file's
// parse comes last, so that it is what the replay of a seed reports.
#include "core/io/gguf.h"
#include "core/lm/model.h"
#include "core/lm/tokenizer.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(gguf)
{
    const std::string path = cwfuzz::writeInput(data, size, "x.gguf");
    cwfuzz::parse([&] {
        const cw::lm::Tokenizer t = cw::lm::Tokenizer::fromGguf(cw::gguf::File::open(path));
        t.decode(t.encode("Hello, wörld 123 \xf0\x9f\xa6\x99\n", t.bos() >= 0));
    });
    cwfuzz::parse([&] {
        const auto model = cw::lm::LanguageModel::open(path);
        if (model->config().parameters > (1 << 20))
            return;
        model->load();
        cw::lm::Context ctx(model, 2);
        ctx.eval({0, int32_t(model->config().vocab - 1)});
    });
    cwfuzz::parse([&] {
        const cw::gguf::File f = cw::gguf::File::open(path);
        for (const cw::gguf::TensorInfo &t : f.tensors())
            if (cw::ggml::typeTraits(t.type)->dequantizable)
                f.toFloat(t);
        for (const auto &[key, value] : f.metadata())
            value.summary();
    });
    return 0;
}
