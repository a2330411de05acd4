#include "core/lm/hf_tokenizer.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/base/error.h"

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

// A special token as tokenizer_config.json spells it: a string, or {"content": ...}.
std::string tokenText(const json &j)
{
    if (j.is_string())
        return j.get<std::string>();
    if (j.is_object() && j.contains("content") && j["content"].is_string())
        return j["content"].get<std::string>();
    return {};
}

} // namespace

std::vector<gguf::WriteValue> huggingFaceVocabulary(const std::string &folder)
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
                    " is not supported (byte-level BPE is)");
    if (model.value("byte_fallback", false))
        throw Error("'" + file + "': a SentencePiece-style BPE (byte_fallback) read from tokenizer.json is not "
                                 "supported yet; its GGUF conversion works");
    const std::string pre = preTokenizerName(t.value("pre_tokenizer", json()), file);

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
            const int64_t id = a.value("id", int64_t(-1));
            const std::string content = a.value("content", "");
            if (id < 0 || id > (1 << 24) || content.empty())
                throw Error("'" + file + "': an added token without id or content");
            byId[id] = content;
            types[id] = a.value("special", false) ? 3 : 4;
        }
    const int64_t n = byId.empty() ? 0 : byId.rbegin()->first + 1;
    if (int64_t(byId.size()) != n)
        throw Error("'" + file + "': token ids are not contiguous (" + std::to_string(byId.size()) + " tokens, largest id " +
                    std::to_string(n - 1) + ")");
    std::vector<std::string> tokens;
    std::vector<int64_t> tokenTypes;
    std::map<std::string, int64_t> idOf;
    for (const auto &[id, text] : byId) {
        tokens.push_back(text);
        tokenTypes.push_back(types.count(id) ? types[id] : 1);
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

    std::vector<gguf::WriteValue> kv{
        {"tokenizer.ggml.model", gguf::makeString("gpt2")},
        {"tokenizer.ggml.pre", gguf::makeString(pre)},
        {"tokenizer.ggml.tokens", gguf::makeStringArray(std::move(tokens))},
        {"tokenizer.ggml.token_type", gguf::makeInt32Array(std::move(tokenTypes))},
        {"tokenizer.ggml.merges", gguf::makeStringArray(std::move(merges))},
        {"tokenizer.ggml.add_bos_token", gguf::makeBool(addBos)},
    };
    if (bos >= 0)
        kv.push_back({"tokenizer.ggml.bos_token_id", gguf::makeUInt32(uint32_t(bos))});
    if (eos >= 0)
        kv.push_back({"tokenizer.ggml.eos_token_id", gguf::makeUInt32(uint32_t(eos))});
    return kv;
}

} // namespace cw::lm
