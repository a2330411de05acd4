#include "core/lm/defaults.h"

#include <algorithm>

#include "core/base/error.h"

namespace cw::lm {

const Tokenizer &requireTokenizer(const LanguageModel &model)
{
    if (!model.tokenizer())
        throw Error("'" + model.path() + "' carries no tokenizer the workbench can read");
    return *model.tokenizer();
}

std::vector<int32_t> encodeText(const LanguageModel &model, const std::string &text)
{
    const Tokenizer &tok = requireTokenizer(model);
    return tok.encode(text, tok.addsBos());
}

PerplexityOptions defaultPerplexityOptions(const LanguageModel &model)
{
    PerplexityOptions o;
    const int64_t context = model.config().contextLength;
    o.ctx = context > 0 ? std::min<int64_t>(context, 512) : 512;
    const Tokenizer *tok = model.tokenizer();
    o.bos = tok && tok->addsBos() ? tok->bos() : -1;
    return o;
}

GenerateOptions defaultGenerateOptions(const LanguageModel &model)
{
    GenerateOptions o;
    o.stopToken = model.tokenizer() ? model.tokenizer()->eos() : -1;
    return o;
}

} // namespace cw::lm
