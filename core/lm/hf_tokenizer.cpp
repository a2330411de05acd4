#include "core/lm/hf_tokenizer.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/base/json_number.h"
#include "core/lm/tokenizer.h"

namespace cw::lm {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The Split patterns of the pre-tokenizers llama.cpp knows by name.
const std::map<std::string, std::string> &knownPatterns()
{
    static const std::map<std::string, std::string> p = {
        {R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)", "gpt-2"},
        {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
         "llama-bpe"},
        {R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)",
         "qwen2"},
    };
    return p;
}

json readJson(const fs::path &path)
{
    std::ifstream in(path);
    if (!in)
        throw Error("cannot open '" + path.string() + "'");
    try {
        return json::parse(in);
    } catch (const json::exception &e) {
        throw Error("'" + path.string() + "' is not valid JSON: " + e.what());
    }
}

// The pre-tokenizer's llama.cpp name, from tokenizer.json's "pre_tokenizer".
std::string preTokenizerName(const json &pre, const std::string &file)
{
    auto fail = [&](const std::string &what) {
        return Error("'" + file + "': pre-tokenizer " + what + " is not supported (GPT-2's ByteLevel, or a Split by " +
                     "GPT-2's, Llama 3's or Qwen 2's pattern before ByteLevel, are)");
    };
    if (!pre.is_object())
        throw fail("null");
    const std::string type = pre.value("type", "");
    if (type == "ByteLevel") {
        if (pre.value("add_prefix_space", false))
            throw fail("ByteLevel with add_prefix_space");
        return "gpt-2";
    }
    if (type != "Sequence" || !pre.contains("pretokenizers") || !pre["pretokenizers"].is_array())
        throw fail("'" + type + "'");
    const json &steps = pre["pretokenizers"];
    if (steps.size() != 2 || steps[0].value("type", "") != "Split" || steps[1].value("type", "") != "ByteLevel" ||
        steps[1].value("add_prefix_space", false))
        throw fail("sequence " + steps.dump().substr(0, 120));
    const json &pattern = steps[0].value("pattern", json::object());
    const std::string regex = pattern.is_object() ? pattern.value("Regex", "") : "";
    const auto it = knownPatterns().find(regex);
    if (it == knownPatterns().end())
        throw fail("Split by /" + regex.substr(0, 100) + "/");
    return it->second;
}

const std::string kSpaceMark = "\xe2\x96\x81"; // U+2581 ▁

// A SentencePiece-style BPE (byte_fallback) sees the text with every ' ' replaced by ▁, and with a ▁ put in
// front or not: whether it is, from the three ways tokenizer.json spells this —
//   Llama 2, Mistral:  normalizer Sequence [Prepend ▁, Replace ' ' → ▁], no pre-tokenizer;
//   Gemma:             normalizer Replace ' ' → ▁, no pre-tokenizer or a Split at ' ' (of which none is left);
//   newer conversions: no normalizer, pre-tokenizer Metaspace (▁, prepend_scheme, split false).
// Anything else is refused. A ▁ is put in front of the text and of the text after each added token; that is
// Metaspace's prepend_scheme "always", and "first" too when no added token is cut out of the text (cutOut).
bool spaceInFront(const json &t, bool cutOut, const std::string &file)
{
    auto fail = [&](const std::string &what) {
        return Error("'" + file + "': a SentencePiece-style BPE with " + what +
                     " is not supported (Llama 2's Prepend + Replace normalizer, Gemma's Replace, or a Metaspace "
                     "pre-tokenizer without split are)");
    };
    const json none;
    const json &norm = t.contains("normalizer") ? t["normalizer"] : none;
    const json &pre = t.contains("pre_tokenizer") ? t["pre_tokenizer"] : none;
    auto isReplace = [](const json &n) {
        return n.is_object() && n.value("type", "") == "Replace" && n.value("content", "") == kSpaceMark &&
               n.contains("pattern") && n["pattern"].is_object() && n["pattern"].value("String", "") == " ";
    };
    auto isPrepend = [](const json &n) {
        return n.is_object() && n.value("type", "") == "Prepend" && n.value("prepend", "") == kSpaceMark;
    };
    auto noOpSplit = [](const json &p) {
        return p.is_null() || (p.is_object() && p.value("type", "") == "Split" && p.contains("pattern") &&
                               p["pattern"].is_object() && p["pattern"].value("String", "") == " " &&
                               !p.value("invert", false));
    };
    if (norm.is_object() && norm.value("type", "") == "Sequence" && norm.contains("normalizers") &&
        norm["normalizers"].is_array() && norm["normalizers"].size() == 2 && pre.is_null()) {
        const json &a = norm["normalizers"][0], &b = norm["normalizers"][1];
        if ((isPrepend(a) && isReplace(b)) || (isReplace(a) && isPrepend(b)))
            return true;
    }
    if (isReplace(norm)) {
        if (!noOpSplit(pre))
            throw fail("the pre-tokenizer " + pre.dump().substr(0, 120));
        return false;
    }
    if (norm.is_null() && pre.is_object() && pre.value("type", "") == "Metaspace") {
        if (pre.value("replacement", "") != kSpaceMark || pre.value("split", true))
            throw fail("the pre-tokenizer " + pre.dump().substr(0, 120));
        const std::string scheme = pre.contains("prepend_scheme") ? pre.value("prepend_scheme", "")
                                   : pre.value("add_prefix_space", true) ? "always" : "never";
        if (scheme == "always" || (scheme == "first" && !cutOut))
            return true;
        if (scheme == "never")
            return false;
        throw fail("Metaspace's prepend_scheme \"" + scheme + "\" and added tokens");
    }
    throw fail("the normalizer " + norm.dump().substr(0, 120) + " and the pre-tokenizer " + pre.dump().substr(0, 120));
}

// A special token as tokenizer_config.json spells it: a string, or {"content": ...}.
std::string tokenText(const json &j)
{
    if (j.is_string())
        return j.get<std::string>();
    if (j.is_object() && j.contains("content") && j["content"].is_string())
        return j["content"].get<std::string>();
    return {};
}

// The vocabulary's metadata with the special tokens' ids that are known.
std::vector<gguf::WriteValue> vocabulary(std::vector<gguf::WriteValue> kv, int64_t bos, int64_t eos, int64_t unk)
{
    for (const auto &[key, id] : {std::pair{"tokenizer.ggml.bos_token_id", bos}, {"tokenizer.ggml.eos_token_id", eos},
                                  {"tokenizer.ggml.unknown_token_id", unk}})
        if (id >= 0)
            kv.push_back({key, gguf::makeUInt32(uint32_t(id))});
    return kv;
}

std::vector<gguf::WriteValue> vocabularyOf(const std::string &folder)
{
    const fs::path path = fs::path(folder) / "tokenizer.json";
    std::error_code ec;
    if (!fs::exists(path, ec))
        return {};
    const std::string file = path.string();
    const json t = readJson(path);
    if (!t.is_object() || !t.contains("model") || !t["model"].is_object())
        throw Error("'" + file + "' has no \"model\"");
    const json &model = t["model"];
    const std::string type = model.value("type", "");
    if (type != "BPE")
        throw Error("'" + file + "': a " + (type.empty() ? std::string("model without a type") : type + " tokenizer") +
                    " is not supported (BPE is, byte-level or SentencePiece-style)");
    const bool byteFallback = model.value("byte_fallback", false);
    if (byteFallback)
        for (const char *key : {"dropout", "continuing_subword_prefix", "end_of_word_suffix"})
            if (model.contains(key) && !model[key].is_null())
                throw Error("'" + file + "': a SentencePiece-style BPE with \"" + key + "\" is not supported");
    if (byteFallback && model.value("ignore_merges", false))
        throw Error("'" + file + "': a SentencePiece-style BPE with \"ignore_merges\" is not supported");
    const std::string pre = byteFallback ? "" : preTokenizerName(t.value("pre_tokenizer", json()), file);

    // Tokens by id: the vocabulary, then the added tokens (which may also be in it).
    if (!model.contains("vocab") || !model["vocab"].is_object())
        throw Error("'" + file + "' has no BPE vocabulary");
    std::map<int64_t, std::string> byId;
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
        if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > (1 << 24))
            throw Error("'" + file + "': token '" + it.key() + "' has no valid id");
        byId[it->get<int64_t>()] = it.key();
    }
    std::map<int64_t, int64_t> types; // id -> GGUF token type (1 normal, 3 control, 4 user-defined)
    if (t.contains("added_tokens") && t["added_tokens"].is_array())
        for (const json &a : t["added_tokens"]) {
            const int64_t id = integerFromJson(a, "id", int64_t(-1));
            const std::string content = a.value("content", "");
            if (id < 0 || id > (1 << 24) || content.empty())
                throw Error("'" + file + "': an added token without id or content");
            const bool special = a.value("special", false);
            // Cut out of the raw text, as the tokenizer does with user-defined tokens; one matched after the
            // normalizer (spaces already ▁) or stripping the spaces beside it is not.
            if (byteFallback && !special &&
                (a.value("normalized", true) || a.value("lstrip", false) || a.value("rstrip", false) ||
                 a.value("single_word", false)))
                throw Error("'" + file + "': the added token '" + content +
                            "' is matched after normalization or strips the spaces beside it, which is not supported");
            byId[id] = content;
            types[id] = special ? 3 : 4;
        }
    const int64_t n = byId.empty() ? 0 : byId.rbegin()->first + 1;
    if (int64_t(byId.size()) != n)
        throw Error("'" + file + "': token ids are not contiguous (" + std::to_string(byId.size()) + " tokens, largest id " +
                    std::to_string(n - 1) + ")");
    const std::string unk = model.value("unk_token", json()).is_string() ? model["unk_token"].get<std::string>() : "";
    std::vector<std::string> tokens;
    std::vector<int64_t> tokenTypes;
    std::map<std::string, int64_t> idOf;
    for (const auto &[id, text] : byId) {
        tokens.push_back(text);
        int64_t tokenType = types.count(id) ? types[id] : 1;
        if (byteFallback && tokenType == 1 && text == unk)
            tokenType = 2; // unknown
        else if (byteFallback && tokenType == 1 && text.size() == 6 && text.compare(0, 3, "<0x") == 0 &&
                 std::isxdigit(uint8_t(text[3])) && std::isxdigit(uint8_t(text[4])) && text[5] == '>')
            tokenType = 6; // byte
        tokenTypes.push_back(tokenType);
        idOf.emplace(text, id);
    }
    // Merges: "a b" strings, or [a, b] pairs in newer files.
    std::vector<std::string> merges;
    if (model.contains("merges") && model["merges"].is_array())
        for (const json &m : model["merges"]) {
            if (m.is_string())
                merges.push_back(m.get<std::string>());
            else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
                merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
            else
                throw Error("'" + file + "': a merge that is neither \"a b\" nor [a, b]");
        }

    // Special tokens: tokenizer_config.json names them, config.json numbers them.
    int64_t bos = -1, eos = -1;
    bool addBos = false;
    const fs::path configPath = fs::path(folder) / "tokenizer_config.json";
    if (fs::exists(configPath, ec)) {
        const json c = readJson(configPath);
        if (c.is_object()) {
            if (c.contains("bos_token") && idOf.count(tokenText(c["bos_token"])))
                bos = idOf[tokenText(c["bos_token"])];
            if (c.contains("eos_token") && idOf.count(tokenText(c["eos_token"])))
                eos = idOf[tokenText(c["eos_token"])];
            addBos = c.value("add_bos_token", false);
        }
    }
    const fs::path modelConfig = fs::path(folder) / "config.json";
    if ((bos < 0 || eos < 0) && fs::exists(modelConfig, ec)) {
        const json c = readJson(modelConfig);
        if (bos < 0 && c.is_object() && c.contains("bos_token_id") && c["bos_token_id"].is_number_integer())
            bos = c["bos_token_id"].get<int64_t>();
        if (eos < 0 && c.is_object() && c.contains("eos_token_id") && c["eos_token_id"].is_number_integer())
            eos = c["eos_token_id"].get<int64_t>();
    }

    if (!byteFallback)
        return vocabulary({{"tokenizer.ggml.model", gguf::makeString("gpt2")},
                           {"tokenizer.ggml.pre", gguf::makeString(pre)},
                           {"tokenizer.ggml.tokens", gguf::makeStringArray(std::move(tokens))},
                           {"tokenizer.ggml.token_type", gguf::makeInt32Array(std::move(tokenTypes))},
                           {"tokenizer.ggml.merges", gguf::makeStringArray(std::move(merges))},
                           {"tokenizer.ggml.add_bos_token", gguf::makeBool(addBos)}},
                          bos, eos, -1);

    // SentencePiece-style: llama.cpp's "llama" vocabulary, whose tokenizer merges the adjacent pair of highest
    // score. A token's score is minus the rank of the first merge that makes it, and lower than every merge's
    // for the others, so that llama.cpp's order follows the merges. This tokenizer merges by the ranks
    // themselves, as Hugging Face's does (kHuggingFaceByteFallback).
    std::vector<double> scores(tokens.size(), -double(merges.size()) - 1);
    for (size_t rank = merges.size(); rank-- > 0;) {
        const std::string &m = merges[rank];
        const size_t space = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
        if (space == std::string::npos)
            throw Error("'" + file + "': the merge \"" + m + "\" has no two sides");
        const auto it = idOf.find(m.substr(0, space) + m.substr(space + 1));
        if (it != idOf.end())
            scores[size_t(it->second)] = -double(rank);
    }
    bool cutOut = false;
    for (int64_t type : tokenTypes)
        cutOut = cutOut || type == 4;
    const bool prefix = spaceInFront(t, cutOut, file);
    const int64_t unkId = idOf.count(unk) ? idOf[unk] : -1;
    return vocabulary({{"tokenizer.ggml.model", gguf::makeString("llama")},
                       {"tokenizer.ggml.tokens", gguf::makeStringArray(std::move(tokens))},
                       {"tokenizer.ggml.scores", gguf::makeFloat32Array(std::move(scores))},
                       {"tokenizer.ggml.token_type", gguf::makeInt32Array(std::move(tokenTypes))},
                       {"tokenizer.ggml.merges", gguf::makeStringArray(std::move(merges))},
                       {kHuggingFaceByteFallback, gguf::makeBool(true)},
                       {"tokenizer.ggml.add_space_prefix", gguf::makeBool(prefix)},
                       {"tokenizer.ggml.add_bos_token", gguf::makeBool(addBos)}},
                      bos, eos, unkId);
}

} // namespace

std::vector<gguf::WriteValue> huggingFaceVocabulary(const std::string &folder)
{
    try {
        return vocabularyOf(folder);
    } catch (const json::exception &e) { // json's value() and get() on a value of another type
        const std::string what = e.what();
        const size_t tag = what.find("] ");
        throw Error("'" + (fs::path(folder) / "tokenizer.json").string() +
                    "' (or the tokenizer_config.json or config.json beside it) holds a value of the wrong type: " +
                    (tag == std::string::npos ? what : what.substr(tag + 2)));
    }
}

} // namespace cw::lm
