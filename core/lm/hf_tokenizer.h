// The tokenizer of a Hugging Face checkpoint (tokenizer.json, with tokenizer_config.json and config.json for
// the special tokens), as the GGUF vocabulary llama.cpp's converter would make of it: the same tokenizer then
// encodes both (core/lm/tokenizer.h).
//
// Supported: byte-level BPE (model "BPE" with a ByteLevel pre-tokenizer, alone — GPT-2 — or after a Split by
// GPT-2's, Llama 3's or Qwen 2's pattern). SentencePiece-style BPE (byte_fallback, ▁ for spaces: Llama 2,
// Mistral), Unigram and WordPiece files are refused with a cw::Error naming what they are.
#pragma once

#include <string>
#include <vector>

#include "core/io/gguf.h"

namespace cw::lm {

// folder: the checkpoint's folder. cw::Error naming the file on anything unsupported or malformed; an empty
// vector when the folder has no tokenizer.json.
std::vector<gguf::WriteValue> huggingFaceVocabulary(const std::string &folder);

} // namespace cw::lm
