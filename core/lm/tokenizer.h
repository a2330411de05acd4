// Tokenizers of language models, built from a GGUF file's own vocabulary (llama.cpp's tokenizer.ggml.* keys).
//
// Encoding reproduces llama.cpp's llama_tokenize(text, add_special = false, parse_special = false) token for
// token; tests/test_tokenizer.cpp checks every pair of llama.cpp's test vocabularies (models/ggml-vocab-*.gguf
// with their .inp / .out vectors) and compares with llama.cpp's library on the Brown corpus and on a jumble of
// scripts, whitespace, emoji and invalid UTF-8. The tokenizer models (tokenizer.ggml.model):
//
//   spm   "llama": SentencePiece-style BPE. Spaces become U+2581 (▁), one space is put in front of the text
//         (tokenizer.ggml.add_space_prefix, on by default), then the adjacent pair whose joined text is the
//         token with the highest score is merged until none is left; characters without a token become
//         their bytes' <0xXX> tokens (the unknown token for a byte without one).
//   bpe   "gpt2": a pre-tokenizer (tokenizer.ggml.pre) cuts the text into words, each word's bytes become
//         GPT-2's byte-level characters, and the pair of lowest rank in tokenizer.ggml.merges is merged until
//         none is left. "gemma4" is the same on raw UTF-8 with ▁ for spaces and <0xXX> byte tokens.
//         A "llama" vocabulary that also carries tokenizer.ggml.merges and kHuggingFaceByteFallback (a
//         Hugging Face tokenizer.json with byte_fallback: Llama 2, Mistral, Gemma; core/lm/hf_tokenizer.h)
//         merges by those ranks instead, as Hugging Face's tokenizers do, on the same ▁-spelled text:
//         the pair of lowest rank, leftmost among equals, until none is left; a character without a token
//         becomes its bytes' <0xXX> tokens, or the unknown token (once for a run of them).
//   wpm   "bert": WordPiece (lower-cased, accents stripped, split at spaces and punctuation, longest token
//         first).
//
// Pre-tokenizers: default (also when the key is missing), gpt-2 (and its aliases phi-2, mpt, olmo, jais,
// roberta-bpe, ...), llama3 / llama-bpe (and dbrx, smaug-bpe, glm4, ...), qwen2 (stablelm2, hunyuan, ...),
// qwen35, starcoder / refact / command-r (smollm, codeshell, exaone, ...), falcon, deepseek-llm,
// deepseek-coder, gemma4. Unicode classes (\p{L}, \p{N}, \p{P}, \s, ...) come from ICU; each pre-tokenizer's
// regular expressions are matched by hand with the semantics llama.cpp gives them (its own splitters for
// the GPT-2, Llama 3 and Qwen patterns, std::regex's ECMAScript rules for the others).
//
// User-defined tokens (token type 4, e.g. "[PAD151646]", or mpt's runs of spaces) are cut out of the text
// before anything else, as llama.cpp does; control tokens written in the text ("<s>", "<|endoftext|>") are
// ordinary text. Any other model or pre-tokenizer is refused by fromGguf with a cw::Error naming it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cw::gguf {
class File;
}

namespace cw::lm {

// The metadata key (a bool) that marks a "llama" vocabulary as Hugging Face's byte-fallback BPE, tokenized by
// its merges' ranks. llama.cpp ignores it and tokenizes by the scores.
inline constexpr const char *kHuggingFaceByteFallback = "tokenizer.huggingface.byte_fallback_bpe";

// Immutable once built, cheap to copy (copies share the vocabulary), safe to use from several threads.
class Tokenizer {
public:
    Tokenizer() = default; // empty: only to be assigned a tokenizer from fromGguf
    // Builds the tokenizer a GGUF file describes. cw::Error naming the file on a missing or malformed
    // vocabulary (tokens, scores, token types, merges), a special token id outside the vocabulary, or a
    // tokenizer model / pre-tokenizer this class does not implement (the error names it).
    static Tokenizer fromGguf(const gguf::File &file);

    // Token ids of plain UTF-8 text (special tokens written in the text are not parsed). With addBos the
    // BOS token comes first (cw::Error when the vocabulary has none). Invalid UTF-8 is read as U+FFFD by the
    // bpe and wpm models, as llama.cpp reads it; spm encodes the bytes themselves.
    std::vector<int32_t> encode(const std::string &utf8, bool addBos) const;

    // The bytes a token stands for: ▁ as a space, <0x0A> as the byte 0x0A, GPT-2's byte-level characters as
    // their bytes; control, unknown and user-defined tokens as their text ("<s>"). cw::Error for an id
    // outside the vocabulary.
    std::string piece(int32_t id) const;
    // The text of a token sequence: the pieces joined, control and unknown tokens left out, and for a
    // vocabulary that puts a space in front of the text (spm) that one space removed again, so that
    // decode(encode(text)) == text for valid UTF-8 (for the bpe and spm models).
    std::string decode(const std::vector<int32_t> &ids) const;

    int64_t size() const;                // tokens in the vocabulary
    const std::string &text(int32_t id) const; // the token as the vocabulary spells it ("▁the", "Ġthe")
    int32_t bos() const;                 // -1 when absent
    int32_t eos() const;                 // -1 when absent
    int32_t unknown() const;             // -1 when absent
    int32_t padding() const;             // -1 when absent
    bool addsBos() const;                // whether llama.cpp puts BOS in front when asked for special tokens
    std::string model() const;           // "spm", "bpe" or "wpm"
    std::string preTokenizer() const;    // the bpe pre-tokenizer's name ("llama-bpe", "default"; "byte-fallback":
                                         // none, for Hugging Face's byte-fallback BPE); "" otherwise
    std::string kind() const;            // "spm", "bpe/llama-bpe", "wpm": for display

private:
    struct Impl;
    std::shared_ptr<const Impl> m;
};

// The words a bpe pre-tokenizer (a tokenizer.ggml.pre name: "gpt-2", "llama-bpe", "qwen2", ...) cuts UTF-8
// text into, as UTF-8 before the byte-level mapping: what a vocabulary's merges are learned from and applied
// to. Only the pre-tokenizer's split (no vocabulary: user-defined tokens are not cut out, gemma4's spaces are
// not turned into ▁). Invalid UTF-8 reads as U+FFFD. cw::Error naming a pre-tokenizer that is not supported.
std::vector<std::string> preTokenize(const std::string &utf8, const std::string &preTokenizer);

// GPT-2's byte-level character for a byte, as UTF-8 ("Ġ" for the space): how bpe vocabularies spell bytes.
const std::string &byteLevelCharacter(uint8_t byte);

} // namespace cw::lm
