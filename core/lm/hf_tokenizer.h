// The tokenizer of a Hugging Face checkpoint (tokenizer.json, with tokenizer_config.json and config.json for
// the special tokens), as a GGUF vocabulary: the same tokenizer then encodes both (core/lm/tokenizer.h), and
// GGUF export writes it for llama.cpp.
//
// Supported:
//   byte-level BPE (model "BPE" with a ByteLevel pre-tokenizer, alone — GPT-2 — or after a Split by GPT-2's,
//     Llama 3's or Qwen 2's pattern): a "gpt2" vocabulary, as llama.cpp's converter makes it;
//   SentencePiece-style BPE (byte_fallback, ▁ for spaces: Llama 2, Mistral, Gemma): a "llama" vocabulary whose
//     scores follow the merge ranks (for llama.cpp), with the merges and kHuggingFaceByteFallback, by which
//     this program merges by rank exactly as Hugging Face's tokenizers do. docs/language-models.md lists the
//     normalizer / pre-tokenizer spellings accepted.
// Unigram and WordPiece files, and any other normalizer or pre-tokenizer, are refused with a cw::Error naming
// what they are.
#pragma once

#include <string>
#include <vector>

#include "core/io/gguf.h"

namespace cw::lm {

// folder: the checkpoint's folder. cw::Error naming the file on anything unsupported or malformed; an empty
// vector when the folder has no tokenizer.json.
std::vector<gguf::WriteValue> huggingFaceVocabulary(const std::string &folder);

} // namespace cw::lm
