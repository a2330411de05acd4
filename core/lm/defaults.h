// The choices a front end makes the same way whenever it runs a language model on text: which tokenizer, how
// text becomes tokens, and the options that follow from the model. cwb and the GUI's jobs both take them from
// here, so a perplexity or a generation in the window is the one `cwb perplexity` / `cwb generate` computes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/lm/model.h"
#include "core/lm/perplexity.h"
#include "core/lm/tokenizer.h"

namespace cw::lm {

// The model's tokenizer; cw::Error naming the file when it carries none the workbench can read.
const Tokenizer &requireTokenizer(const LanguageModel &model);
// Text as perplexity and generation read it: tokenized whole, BOS first when the vocabulary adds one.
std::vector<int32_t> encodeText(const LanguageModel &model, const std::string &text);
// ctx: the model's context, at most 512 (512 when it declares none); bos: the vocabulary's BOS when it adds one.
PerplexityOptions defaultPerplexityOptions(const LanguageModel &model);
// stopToken: the vocabulary's end of sequence.
GenerateOptions defaultGenerateOptions(const LanguageModel &model);

} // namespace cw::lm
