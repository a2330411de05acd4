#include "core/lm/tokenizer.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <functional>
#include <limits>
#include <queue>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "core/base/error.h"
#include "core/io/gguf.h"

namespace cw::lm {

namespace {

// ---- Unicode classes -------------------------------------------------------------------------------------

// A code point's general category, folded as llama.cpp folds it (its unicode_cpt_flags), and whether it is
// White_Space.
enum Cat : uint8_t { kUndefined = 0, kLetter, kNumber, kPunct, kSymbol, kMark, kSeparator, kControl };
constexpr uint8_t kCatMask = 0x0f;
constexpr uint8_t kSpaceBit = 0x10;
constexpr uint32_t kMaxCodePoint = 0x10ffff;

const std::vector<uint8_t> &classTable()
{
    static const std::vector<uint8_t> table = [] {
        std::vector<uint8_t> t(kMaxCodePoint + 1);
        for (UChar32 c = 0; c <= UChar32(kMaxCodePoint); ++c) {
            uint8_t cat = kUndefined;
            switch (u_charType(c)) {
            case U_UPPERCASE_LETTER: case U_LOWERCASE_LETTER: case U_TITLECASE_LETTER: case U_MODIFIER_LETTER:
            case U_OTHER_LETTER: cat = kLetter; break;
            case U_NON_SPACING_MARK: case U_ENCLOSING_MARK: case U_COMBINING_SPACING_MARK: cat = kMark; break;
            case U_DECIMAL_DIGIT_NUMBER: case U_LETTER_NUMBER: case U_OTHER_NUMBER: cat = kNumber; break;
            case U_SPACE_SEPARATOR: case U_LINE_SEPARATOR: case U_PARAGRAPH_SEPARATOR: cat = kSeparator; break;
            case U_CONTROL_CHAR: case U_FORMAT_CHAR: case U_PRIVATE_USE_CHAR: case U_SURROGATE: cat = kControl; break;
            case U_DASH_PUNCTUATION: case U_START_PUNCTUATION: case U_END_PUNCTUATION: case U_CONNECTOR_PUNCTUATION:
            case U_OTHER_PUNCTUATION: case U_INITIAL_PUNCTUATION: case U_FINAL_PUNCTUATION: cat = kPunct; break;
            case U_MATH_SYMBOL: case U_CURRENCY_SYMBOL: case U_MODIFIER_SYMBOL: case U_OTHER_SYMBOL: cat = kSymbol; break;
            default: cat = kUndefined; break; // U_UNASSIGNED
            }
            t[size_t(c)] = uint8_t(cat | (u_hasBinaryProperty(c, UCHAR_WHITE_SPACE) ? kSpaceBit : 0));
        }
        return t;
    }();
    return table;
}

// ---- UTF-8 -----------------------------------------------------------------------------------------------

constexpr uint32_t kReplacement = 0xfffd;

// The length of the UTF-8 sequence a lead byte starts (1 for a continuation byte), as llama.cpp splits text
// into symbols.
size_t utf8Length(uint8_t lead)
{
    static constexpr uint8_t lengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lengths[lead >> 4];
}

// Code points of possibly invalid UTF-8, read as llama.cpp reads them: a byte that does not start a
// well-formed sequence (lead byte and continuation bytes; overlong forms are accepted) becomes U+FFFD and is
// skipped alone. Sequences beyond U+10FFFF become U+FFFD too (llama.cpp cannot write them back).
std::vector<uint32_t> decodeUtf8(std::string_view s)
{
    std::vector<uint32_t> out;
    out.reserve(s.size());
    const auto *p = reinterpret_cast<const uint8_t *>(s.data());
    const size_t n = s.size();
    auto cont = [&](size_t i) { return i < n && (p[i] & 0xc0) == 0x80; };
    size_t i = 0;
    while (i < n) {
        const uint8_t b = p[i];
        if (b < 0x80) {
            out.push_back(b);
            i += 1;
        } else if (!(b & 0x40)) {
            out.push_back(kReplacement);
            i += 1;
        } else if (!(b & 0x20)) {
            if (cont(i + 1)) {
                out.push_back(uint32_t(b & 0x1f) << 6 | (p[i + 1] & 0x3f));
                i += 2;
            } else {
                out.push_back(kReplacement);
                i += 1;
            }
        } else if (!(b & 0x10)) {
            if (cont(i + 1) && cont(i + 2)) {
                out.push_back(uint32_t(b & 0x0f) << 12 | uint32_t(p[i + 1] & 0x3f) << 6 | (p[i + 2] & 0x3f));
                i += 3;
            } else {
                out.push_back(kReplacement);
                i += 1;
            }
        } else if (!(b & 0x08)) {
            if (cont(i + 1) && cont(i + 2) && cont(i + 3)) {
                const uint32_t c = uint32_t(b & 0x07) << 18 | uint32_t(p[i + 1] & 0x3f) << 12 |
                                   uint32_t(p[i + 2] & 0x3f) << 6 | (p[i + 3] & 0x3f);
                out.push_back(c <= kMaxCodePoint ? c : kReplacement);
                i += 4;
            } else {
                out.push_back(kReplacement);
                i += 1;
            }
        } else {
            out.push_back(kReplacement);
            i += 1;
        }
    }
    return out;
}

void appendUtf8(std::string &s, uint32_t c)
{
    if (c < 0x80) {
        s += char(c);
    } else if (c < 0x800) {
        s += char(0xc0 | (c >> 6));
        s += char(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        s += char(0xe0 | (c >> 12));
        s += char(0x80 | ((c >> 6) & 0x3f));
        s += char(0x80 | (c & 0x3f));
    } else {
        s += char(0xf0 | (c >> 18));
        s += char(0x80 | ((c >> 12) & 0x3f));
        s += char(0x80 | ((c >> 6) & 0x3f));
        s += char(0x80 | (c & 0x3f));
    }
}

const std::string kSpaceMark = "\xe2\x96\x81"; // U+2581 ▁, SentencePiece's space

std::string replaceAll(std::string_view s, std::string_view from, std::string_view to)
{
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (true) {
        const size_t j = s.find(from, i);
        if (j == std::string_view::npos)
            break;
        out.append(s.substr(i, j - i));
        out.append(to);
        i = j + from.size();
    }
    out.append(s.substr(i));
    return out;
}

bool isAsciiSpace(uint8_t b) { return b == ' ' || (b >= 9 && b <= 13); }

// GPT-2's byte-level alphabet: every byte stands for a printable character (the printable Latin-1 bytes for
// themselves, the others for U+0100 onwards in byte order).
struct ByteLevel {
    std::array<std::string, 256> text;          // byte -> its character, UTF-8
    std::unordered_map<uint32_t, uint8_t> byte; // character -> byte

    ByteLevel()
    {
        auto printable = [](int b) { return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae); };
        uint32_t next = 0x100;
        for (int b = 0; b < 256; ++b) {
            const uint32_t c = printable(b) ? uint32_t(b) : next++;
            appendUtf8(text[size_t(b)], c);
            byte[c] = uint8_t(b);
        }
    }
};

const ByteLevel &byteLevel()
{
    static const ByteLevel b;
    return b;
}

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// ---- Pre-tokenizers --------------------------------------------------------------------------------------
//
// A pre-tokenizer is a list of passes over the text's code points. Each pass cuts every piece the previous
// passes left into smaller pieces (llama.cpp's unicode_regex_split). Two kinds of passes:
//  - splitters that cover a piece completely (llama.cpp's hand-written matchers of the GPT-2, Llama 3 and
//    Qwen patterns, and of "[^\n]+|[\n]+");
//  - searches for one regular expression: its leftmost matches become pieces and so do the stretches between
//    them (std::regex_iterator's behaviour). llama.cpp runs those with std::regex on a copy of the text in
//    which every code point >= 128 is one byte standing for its class (whitespace, letter, number, ...),
//    or, for expressions without \p{..}, on the code points with non-ASCII whitespace turned into U+000B;
//    the character tests below reproduce both views.

enum class Pass {
    Gpt2,          // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
    Llama3,        // (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    Qwen2,         // the same with \p{N} alone
    Qwen35,        // the same with [\p{L}\p{M}]+ for letters
    Newlines,      // [^\n]+|[\n]+
    PunctDefault,  // [\p{P}\$\+<=>\^~\|]+
    PunctFalcon,   // [\p{P}\$\+<=>\^~\|`]+
    Digit,         // \p{N}
    Digits,        // \p{N}+
    ThreeDigits,   // [0-9][0-9][0-9]
    LineBreak,     // [\r\n]
    SpaceLetters,  // \s?\p{L}+
    SpacePunct,    // \s?\p{P}+
    Cjk,           // [一-龥ࠀ-一가-퟿]+
    LatinLetters,  // \s?[A-Za-zµÀ-ÖØ-öø-ƺ...]+ (deepseek-llm's letters)
    AsciiPunct,    // \s?[!-/:-~！-／：-～‘-‟　-。]+
    TrailingSpace, // \s+$
};

// deepseek-llm's letter class, as code point ranges.
constexpr std::pair<uint32_t, uint32_t> kDeepseekLetters[] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA}, {0x1BC, 0x1BF},
    {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377}, {0x37B, 0x37D}, {0x37F, 0x37F},
    {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481},
    {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15}, {0x1F18, 0x1F1D},
    {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D},
    {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC}, {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC},
    {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102},
    {0x2107, 0x2107}, {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F}, {0x2145, 0x2149},
    {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4}, {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3},
    {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F}, {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF},
    {0xFB00, 0xFB06}, {0xFB13, 0xFB17}, {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F},
    {0x104B0, 0x104D3}, {0x104D8, 0x104FB}, {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF},
    {0x1E900, 0x1E943},
};

bool inRanges(uint32_t c, const std::pair<uint32_t, uint32_t> *begin, const std::pair<uint32_t, uint32_t> *end)
{
    // The ranges are sorted and disjoint.
    const auto *it = std::upper_bound(begin, end, c, [](uint32_t v, const auto &r) { return v < r.first; });
    return it != begin && c <= (it - 1)->second;
}

// The code points of one text fragment with their classes.
struct Text {
    std::vector<uint32_t> cp;
    std::vector<uint8_t> cls; // Cat | kSpaceBit

    explicit Text(std::string_view utf8) : cp(decodeUtf8(utf8))
    {
        const std::vector<uint8_t> &table = classTable();
        cls.resize(cp.size());
        for (size_t i = 0; i < cp.size(); ++i)
            cls[i] = table[cp[i]];
    }
};

// One piece [b, e) of a Text seen through a splitter: positions at or past e are outside (no class at all).
struct View {
    const Text &t;
    size_t e;

    static constexpr uint32_t kOutside = 0xffffffff;
    uint32_t cp(size_t i) const { return i < e ? t.cp[i] : kOutside; }
    bool in(size_t i) const { return i < e; }
    bool letter(size_t i) const { return i < e && (t.cls[i] & kCatMask) == kLetter; }
    bool number(size_t i) const { return i < e && (t.cls[i] & kCatMask) == kNumber; }
    bool mark(size_t i) const { return i < e && (t.cls[i] & kCatMask) == kMark; }
    bool space(size_t i) const { return i < e && (t.cls[i] & kSpaceBit); }

    // What std::regex sees (see above): \s is ASCII whitespace or a non-ASCII White_Space code point; a
    // category class matches a code point of that category that is not whitespace.
    bool rxSpace(size_t i) const { return i < e && (t.cls[i] & kSpaceBit); }
    uint8_t rxCat(size_t i) const { return i < e && !(t.cls[i] & kSpaceBit) ? (t.cls[i] & kCatMask) : kUndefined; }
    // A code point as std::wregex compares it: non-ASCII whitespace reads as U+000B.
    uint32_t wchar(size_t i) const
    {
        if (i >= e)
            return kOutside;
        return t.cp[i] > 0x7f && (t.cls[i] & kSpaceBit) ? 0x0b : t.cp[i];
    }
};

bool isContraction1(uint32_t c) { return c == 's' || c == 't' || c == 'm' || c == 'd'; }
bool isContraction2(uint32_t c, uint32_t d)
{
    return (c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l');
}
uint32_t lower(uint32_t c) { return c <= kMaxCodePoint ? uint32_t(u_tolower(UChar32(c))) : c; }

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S), covering [b, e).
void splitGpt2(const View &v, size_t b, std::vector<size_t> &ends)
{
    size_t pos = b;
    while (pos < v.e) {
        const size_t start = pos;
        const uint32_t c = v.cp(pos);
        if (c == '\'' && pos + 1 < v.e) {
            const uint32_t n = v.cp(pos + 1);
            if (isContraction1(n)) {
                ends.push_back(pos + 2);
                pos += 2;
                continue;
            }
            if (pos + 2 < v.e && isContraction2(n, v.cp(pos + 2))) {
                ends.push_back(pos + 3);
                pos += 3;
                continue;
            }
        }
        const size_t q = c == ' ' ? pos + 1 : pos; // after the optional space
        if (v.letter(q)) {
            pos = q;
            while (v.letter(pos))
                ++pos;
        } else if (v.number(q)) {
            pos = q;
            while (v.number(pos))
                ++pos;
        } else if (v.in(q) && !v.space(q) && !v.letter(q) && !v.number(q)) {
            pos = q;
            while (v.in(pos) && !v.space(pos) && !v.letter(pos) && !v.number(pos))
                ++pos;
        } else {
            size_t k = 0;
            while (v.space(pos + k))
                ++k;
            if (k > 1 && v.in(pos + k))
                pos += k - 1; // \s+(?!\S): the last space goes with what follows
            else if (k > 0)
                pos += k;
            else
                pos += 1;
        }
        if (pos > start)
            ends.push_back(pos);
    }
}

// The Llama 3 / Qwen 2 / Qwen 3.5 patterns, covering [b, e). maxDigits: 3 (Llama 3) or 1; marks: letters
// take combining marks along (Qwen 3.5).
void splitLlama3(const View &v, size_t b, std::vector<size_t> &ends, size_t maxDigits, bool marks)
{
    auto wordChar = [&](size_t i) { return v.letter(i) || (marks && v.mark(i)); };
    size_t pos = b;
    while (pos < v.e) {
        const size_t start = pos;
        const uint32_t c = v.cp(pos);
        if (c == '\'' && pos + 1 < v.e) { // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            const uint32_t n = lower(v.cp(pos + 1));
            if (isContraction1(n)) {
                ends.push_back(pos + 2);
                pos += 2;
                continue;
            }
            if (pos + 2 < v.e && isContraction2(n, lower(v.cp(pos + 2)))) {
                ends.push_back(pos + 3);
                pos += 3;
                continue;
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if (!(c == '\r' || c == '\n' || v.number(pos)) && (wordChar(pos) || wordChar(pos + 1))) {
            ++pos;
            while (wordChar(pos))
                ++pos;
            ends.push_back(pos);
            continue;
        }
        // \p{N}{1,3}: runs of digits in groups of maxDigits
        if (v.number(pos)) {
            size_t group = pos;
            while (v.number(pos)) {
                ++pos;
                if (pos - group >= maxDigits) {
                    ends.push_back(pos);
                    group = pos;
                }
            }
            if (pos > group)
                ends.push_back(pos);
            continue;
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        const size_t q = c == ' ' ? pos + 1 : pos;
        auto other = [&](size_t i) { return !v.space(i) && !wordChar(i) && !v.number(i) && !(marks && v.mark(i)); };
        if (other(q)) { // also when q is past the end: a lone trailing space
            pos = q;
            while (v.in(pos) && other(pos))
                ++pos;
            while (v.cp(pos) == '\r' || v.cp(pos) == '\n')
                ++pos;
            ends.push_back(pos);
            continue;
        }
        size_t k = 0, afterLineBreak = 0;
        while (v.space(pos + k)) {
            const uint32_t s = v.cp(pos + k);
            if (s == '\r' || s == '\n')
                afterLineBreak = pos + k + 1;
            ++k;
        }
        if (afterLineBreak > 0) // \s*[\r\n]+
            pos = afterLineBreak;
        else if (k > 1 && v.in(pos + k)) // \s+(?!\S)
            pos += k - 1;
        else if (k > 0) // \s+
            pos += k;
        else
            pos += 1;
        if (pos > start)
            ends.push_back(pos);
    }
}

// The length of a match of a search pass starting at q (0: none). Every such expression here matches at q
// independently of what precedes it, so the leftmost match is the first q with a non-zero length.
size_t matchAt(Pass pass, const View &v, size_t q, size_t trailingSpace)
{
    auto run = [&](size_t from, auto &&in) {
        size_t i = from;
        while (v.in(i) && in(i))
            ++i;
        return i - q;
    };
    auto punct = [&](size_t i) { return v.rxCat(i) == kPunct; };
    auto letter = [&](size_t i) { return v.rxCat(i) == kLetter; };
    auto number = [&](size_t i) { return v.rxCat(i) == kNumber; };
    auto optionalSpaceThen = [&](auto &&in) -> size_t {
        if (v.rxSpace(q) && v.in(q + 1) && in(q + 1))
            return run(q + 1, in);
        return in(q) ? run(q, in) : 0;
    };
    switch (pass) {
    case Pass::PunctDefault:
    case Pass::PunctFalcon: {
        auto in = [&](size_t i) {
            const uint32_t c = v.cp(i);
            return punct(i) || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' || c == '~' ||
                   c == '|' || (pass == Pass::PunctFalcon && c == '`');
        };
        return in(q) ? run(q, in) : 0;
    }
    case Pass::Digit:
        return number(q) ? 1 : 0;
    case Pass::Digits:
        return number(q) ? run(q, number) : 0;
    case Pass::ThreeDigits: {
        auto digit = [&](size_t i) { return v.in(i) && v.cp(i) >= '0' && v.cp(i) <= '9'; };
        return digit(q) && digit(q + 1) && digit(q + 2) ? 3 : 0;
    }
    case Pass::LineBreak:
        return v.cp(q) == '\r' || v.cp(q) == '\n' ? 1 : 0;
    case Pass::SpaceLetters:
        return optionalSpaceThen(letter);
    case Pass::SpacePunct:
        return optionalSpaceThen(punct);
    case Pass::Cjk: {
        auto in = [&](size_t i) {
            const uint32_t c = v.wchar(i);
            return (c >= 0x800 && c <= 0x9fa5) || (c >= 0xac00 && c <= 0xd7ff);
        };
        return in(q) ? run(q, in) : 0;
    }
    case Pass::LatinLetters: {
        auto in = [&](size_t i) {
            return inRanges(v.wchar(i), std::begin(kDeepseekLetters), std::end(kDeepseekLetters));
        };
        return optionalSpaceThen(in);
    }
    case Pass::AsciiPunct: {
        auto in = [&](size_t i) {
            const uint32_t c = v.wchar(i);
            return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x7e) || (c >= 0xff01 && c <= 0xff0f) ||
                   (c >= 0xff1a && c <= 0xff5e) || (c >= 0x2018 && c <= 0x201f) || (c >= 0x3000 && c <= 0x3002);
        };
        return optionalSpaceThen(in);
    }
    case Pass::TrailingSpace:
        return q >= trailingSpace ? v.e - q : 0;
    default:
        return 0;
    }
}

// Cuts [b, e) with one pass; appends the ends of the pieces.
void applyPass(Pass pass, const Text &t, size_t b, size_t e, std::vector<size_t> &ends)
{
    const View v{t, e};
    switch (pass) {
    case Pass::Gpt2: splitGpt2(v, b, ends); return;
    case Pass::Llama3: splitLlama3(v, b, ends, 3, false); return;
    case Pass::Qwen2: splitLlama3(v, b, ends, 1, false); return;
    case Pass::Qwen35: splitLlama3(v, b, ends, 1, true); return;
    case Pass::Newlines: {
        size_t pos = b;
        while (pos < e) {
            const bool newline = t.cp[pos] == '\n';
            while (pos < e && (t.cp[pos] == '\n') == newline)
                ++pos;
            ends.push_back(pos);
        }
        return;
    }
    default: break;
    }
    size_t trailingSpace = e; // \s+$ matches from here on
    if (pass == Pass::TrailingSpace)
        while (trailingSpace > b && v.rxSpace(trailingSpace - 1))
            --trailingSpace;
    size_t last = b;
    for (size_t q = b; q < e;) {
        const size_t n = matchAt(pass, v, q, trailingSpace);
        if (n == 0) {
            ++q;
            continue;
        }
        if (q > last)
            ends.push_back(q);
        ends.push_back(q + n);
        q += n;
        last = q;
    }
    if (last < e)
        ends.push_back(e);
}

// ---- Token attributes (llama.cpp's llama_token_attr) -----------------------------------------------------

enum Attr : uint32_t {
    kAttrUnknown = 1u << 0,
    kAttrUnused = 1u << 1,
    kAttrNormal = 1u << 2,
    kAttrControl = 1u << 3,
    kAttrUserDefined = 1u << 4,
    kAttrByte = 1u << 5,
    kAttrLstrip = 1u << 7,
    kAttrRstrip = 1u << 8,
};

uint32_t attrOfType(int64_t type)
{
    switch (type) { // tokenizer.ggml.token_type: llama.cpp's llama_token_type
    case 1: return kAttrNormal;
    case 2: return kAttrUnknown;
    case 3: return kAttrControl;
    case 4: return kAttrUserDefined;
    case 5: return kAttrUnused;
    case 6: return kAttrByte;
    default: return 0; // undefined
    }
}

enum class Model { Spm, Bpe, Wpm };

// A pre-tokenizer's family: the passes it runs.
struct PreTokenizer {
    std::vector<Pass> passes;
    bool ignoreMerges = false; // a word that is a token is that token, whatever the merges would make
    bool addBos = false;
    bool noBos = false; // llama.cpp has no BOS for it (glm4)
};

// tokenizer.ggml.pre → passes, as llama.cpp's llama_vocab::impl::load and llm_tokenizer_bpe map them.
bool preTokenizerOf(const std::string &name, PreTokenizer &p)
{
    auto any = [&](std::initializer_list<const char *> names) {
        return std::any_of(names.begin(), names.end(), [&](const char *n) { return name == n; });
    };
    using P = Pass;
    if (name.empty() || name == "default") {
        p.passes = {P::PunctDefault, P::Gpt2, P::Digits, P::ThreeDigits};
    } else if (any({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
                    "jina-v5-nano"})) {
        p.passes = {P::Llama3};
        p.ignoreMerges = true;
        p.addBos = true;
    } else if (any({"dbrx", "smaug-bpe"})) {
        p.passes = {P::Llama3};
    } else if (any({"glm4", "chatglm-bpe"})) {
        p.passes = {P::Llama3};
        p.noBos = true;
    } else if (any({"qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open",
                    "grok-2"})) {
        p.passes = {P::Qwen2};
    } else if (name == "qwen35") {
        p.passes = {P::Qwen35};
    } else if (any({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0",
                    "mellum", "modern-bert", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4",
                    "jina-v1-en", "jina-v2-code", "roberta-bpe"})) {
        p.passes = {P::Gpt2};
    } else if (any({"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"})) {
        p.passes = {P::Digit, P::Gpt2};
    } else if (name == "falcon") {
        p.passes = {P::PunctFalcon, P::Gpt2, P::ThreeDigits};
    } else if (name == "deepseek-llm") {
        p.passes = {P::LineBreak, P::LatinLetters, P::AsciiPunct, P::TrailingSpace, P::Cjk, P::Digits};
    } else if (name == "deepseek-coder") {
        p.passes = {P::LineBreak, P::SpaceLetters, P::SpacePunct, P::Cjk, P::Digit};
    } else if (any({"gemma4", "granite-embed-multi-311m"})) {
        p.passes = {P::Newlines};
    } else {
        return false;
    }
    return true;
}

} // namespace

// ---- The vocabulary --------------------------------------------------------------------------------------

struct Tokenizer::Impl {
    std::string path;
    Model model = Model::Spm;
    std::string modelName; // tokenizer.ggml.model
    std::string preName;   // the pre-tokenizer as reported
    PreTokenizer pre;
    bool gemma4 = false; // raw-UTF-8 BPE with ▁ for spaces
    bool byteFallback = false; // Hugging Face's byte-fallback BPE: ▁ in front as spm puts it, unknown token

    std::vector<std::string> texts;
    std::vector<float> scores;
    std::vector<uint32_t> attrs;
    StringMap ids; // text -> token (the last token of that text, as llama.cpp keeps it)
    int32_t bosId = -1, eosId = -1, unkId = -1, padId = -1;
    bool addBos = false;
    bool addSpacePrefix = false;
    bool escapeWhitespace = false; // spaces as ▁ before the model sees the text
    bool byteEncode = false;       // GPT-2 byte-level characters
    bool lowercase = true, stripAccents = true; // wpm
    size_t maxTokenLength = 0;
    std::array<int32_t, 256> byteTokens{}; // <0xXX> (else the byte itself) per byte; -1 when absent
    // spm: ASCII characters that no token of two or more bytes contains. No merge reaches across one, so the
    // text is cut there and each stretch merged alone (the same result, with a small queue per stretch).
    std::array<bool, 128> spmBarrier{};

    // bpe: every token text and merge side interned as a symbol; merges keyed by (left, right) symbols.
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    StringMap symbols;
    std::vector<int32_t> symbolToken; // symbol -> token (-1: not a token)
    std::vector<uint8_t> mergeSide;   // symbol -> 1 when it is a side of some merge
    std::unordered_map<uint64_t, Merge> merges;
    std::array<int32_t, 256> byteSymbols{}; // byte-level: byte -> symbol of its character

    // User-defined tokens cut out of the text first, longest first, in a byte trie.
    std::vector<int32_t> cutTokens;
    std::unordered_map<uint64_t, int32_t> trieChildren; // node * 256 + byte -> node
    std::vector<int32_t> trieTerminal;                  // node -> index into cutTokens, -1

    struct Fragment {
        int32_t token; // -1: text [b, e)
        size_t b, e;
    };
    std::vector<Fragment> partition(const std::string &text) const;
    void encodeSpm(const std::string &text, std::vector<int32_t> &out) const;
    void encodeSpmStretch(std::string_view text, std::vector<int32_t> &out) const;
    void encodeBpe(const std::string &text, std::vector<int32_t> &out) const;
    void encodeBpeWord(const std::string &word, std::vector<int32_t> &out) const;
    void encodeWpm(const std::string &text, std::vector<int32_t> &out) const;
    std::string piece(int32_t id) const;
    void checkId(int32_t id) const;
    Error error(const std::string &what) const { return Error("'" + path + "': " + what); }
};

namespace {

int32_t findToken(const StringMap &ids, std::string_view text)
{
    const auto it = ids.find(text);
    return it == ids.end() ? -1 : it->second;
}

int32_t internSymbol(StringMap &symbols, std::vector<int32_t> &symbolToken, std::string text)
{
    const auto [it, added] = symbols.emplace(std::move(text), int32_t(symbolToken.size()));
    if (added)
        symbolToken.push_back(-1);
    return it->second;
}

std::string hexByteToken(uint8_t b)
{
    static const char *hex = "0123456789ABCDEF";
    return std::string{'<', '0', 'x', hex[b >> 4], hex[b & 15], '>'};
}

} // namespace

Tokenizer Tokenizer::fromGguf(const gguf::File &file)
{
    auto t = std::make_shared<Impl>();
    Impl &m = *t;
    m.path = file.path();
    using gguf::ValueType;

    // The model and its defaults (llama.cpp's llama_vocab::impl::load).
    const gguf::Value *modelValue = file.find("tokenizer.ggml.model");
    if (!modelValue)
        throw m.error("has no tokenizer (metadata 'tokenizer.ggml.model' is missing)");
    m.modelName = file.text("tokenizer.ggml.model");
    const std::string preKey = file.text("tokenizer.ggml.pre");
    int32_t bosDefault = -1, eosDefault = -1, unkDefault = -1, padDefault = -1;
    if (m.modelName == "llama") {
        m.byteFallback = file.integer(kHuggingFaceByteFallback, 0) != 0;
        m.model = m.byteFallback ? Model::Bpe : Model::Spm;
        m.preName = m.byteFallback ? "byte-fallback" : ""; // no pre-tokenizer: the text is one word
        bosDefault = 1, eosDefault = 2, unkDefault = 0;
        m.addSpacePrefix = true;
        m.escapeWhitespace = true;
        m.addBos = true;
    } else if (m.modelName == "gpt2" || m.modelName == "gemma4") {
        m.model = Model::Bpe;
        m.gemma4 = m.modelName == "gemma4";
        m.preName = m.gemma4 ? "gemma4" : preKey.empty() ? "default" : preKey;
        if (!preTokenizerOf(m.gemma4 ? "gemma4" : preKey, m.pre))
            throw m.error("the pre-tokenizer '" + preKey + "' (tokenizer.ggml.pre) is not supported");
        m.gemma4 = m.gemma4 || m.preName == "gemma4" || m.preName == "granite-embed-multi-311m";
        if (m.modelName == "gpt2")
            bosDefault = 11, eosDefault = 11; // llama.cpp's defaults for a gpt2 vocabulary without the keys
        m.escapeWhitespace = m.gemma4;
        m.byteEncode = !m.gemma4;
        m.addBos = m.pre.addBos;
        if (m.pre.noBos)
            bosDefault = -1;
    } else if (m.modelName == "bert") {
        m.model = Model::Wpm;
        bosDefault = 101, unkDefault = 100, padDefault = 0;
        m.addBos = true;
    } else {
        throw m.error("the tokenizer model '" + m.modelName +
                      "' (tokenizer.ggml.model) is not supported (supported: llama, gpt2, gemma4, bert)");
    }
    m.addSpacePrefix = file.integer("tokenizer.ggml.add_space_prefix", m.addSpacePrefix) != 0;

    // The tokens, their scores and types.
    const gguf::Value *tokens = file.find("tokenizer.ggml.tokens");
    if (!tokens)
        throw m.error("has no vocabulary (metadata 'tokenizer.ggml.tokens' is missing)");
    if (tokens->type != ValueType::Array || tokens->elementType != ValueType::String)
        throw m.error("metadata 'tokenizer.ggml.tokens' is not an array of strings");
    if (tokens->strings.empty())
        throw m.error("metadata 'tokenizer.ggml.tokens' is empty");
    if (tokens->strings.size() > size_t(std::numeric_limits<int32_t>::max()))
        throw m.error("metadata 'tokenizer.ggml.tokens' has more tokens than int32 ids can number");
    const size_t n = tokens->strings.size();
    m.texts = tokens->strings;
    for (size_t i = 0; i < n; ++i)
        if (m.texts[i].empty())
            m.texts[i] = "[EMPTY_" + std::to_string(i) + "]";

    m.scores.assign(n, 0.0f);
    if (const gguf::Value *s = file.find("tokenizer.ggml.scores")) {
        if (s->type != ValueType::Array || (s->elementType != ValueType::Float32 && s->elementType != ValueType::Int32))
            throw m.error("metadata 'tokenizer.ggml.scores' is not an array of float32 or int32");
        if (s->arraySize() < n)
            throw m.error("metadata 'tokenizer.ggml.scores' has " + std::to_string(s->arraySize()) +
                          " scores for " + std::to_string(n) + " tokens");
        for (size_t i = 0; i < n; ++i)
            m.scores[i] = s->elementType == ValueType::Float32 ? float(s->numbers[i]) : float(s->integers[i]);
    }
    m.attrs.assign(n, kAttrNormal);
    if (const gguf::Value *types = file.find("tokenizer.ggml.token_type")) {
        if (types->type != ValueType::Array || types->elementType != ValueType::Int32)
            throw m.error("metadata 'tokenizer.ggml.token_type' is not an array of int32");
        if (types->integers.size() < n)
            throw m.error("metadata 'tokenizer.ggml.token_type' has " + std::to_string(types->integers.size()) +
                          " types for " + std::to_string(n) + " tokens");
        for (size_t i = 0; i < n; ++i)
            m.attrs[i] = attrOfType(types->integers[i]);
    }
    m.ids.reserve(n);
    for (size_t i = 0; i < n; ++i) {
        m.ids[m.texts[i]] = int32_t(i);
        m.maxTokenLength = std::max(m.maxTokenLength, m.texts[i].size());
    }

    // Special tokens: the file's ids must lie in the vocabulary; a default outside it means none.
    auto specialId = [&](const char *key, int32_t fallback) -> int32_t {
        const gguf::Value *v = file.find(key);
        if (!v)
            return fallback >= 0 && size_t(fallback) < n ? fallback : -1;
        const int64_t id = file.integer(key, -1);
        if (id < 0 || uint64_t(id) >= n)
            throw m.error("metadata '" + std::string(key) + "' is token " + std::to_string(id) +
                          ", outside the vocabulary of " + std::to_string(n) + " tokens");
        return int32_t(id);
    };
    m.bosId = specialId("tokenizer.ggml.bos_token_id", bosDefault);
    m.eosId = specialId("tokenizer.ggml.eos_token_id", eosDefault);
    m.unkId = specialId("tokenizer.ggml.unknown_token_id", unkDefault);
    m.padId = specialId("tokenizer.ggml.padding_token_id", padDefault);
    m.addBos = file.integer("tokenizer.ggml.add_bos_token", m.addBos) != 0;
    if (m.preName == "gemma4" || m.preName == "granite-embed-multi-311m")
        m.addBos = true; // llama.cpp overrides the file for Gemma 4
    m.lowercase = file.integer("tokenizer.ggml.normalizer.lowercase", 1) != 0;
    m.stripAccents = file.integer("tokenizer.ggml.normalizer.strip_accents", m.lowercase) != 0;

    // Which tokens are cut out of the text: llama.cpp marks some tokens as control by their text (end of
    // turn, fill-in-the-middle, end of generation), which then stay plain text; user-defined ones are cut.
    // Hugging Face's byte-fallback BPE takes its added tokens as tokenizer.json has them.
    if (!m.byteFallback) {
        auto idOf = [&](const char *text) { return findToken(m.ids, text); };
        auto keyValid = [&](std::initializer_list<const char *> keys) {
            for (const char *key : keys) {
                const gguf::Value *v = file.find(key);
                if (v && v->isInteger() && v->integer >= 0 && uint64_t(v->integer) < n)
                    return true;
            }
            return false;
        };
        auto detect = [&](std::initializer_list<const char *> keys, std::initializer_list<const char *> candidates) {
            if (keyValid(keys))
                return;
            int32_t found = -1;
            for (const char *c : candidates) {
                const int32_t id = idOf(c);
                if (id >= 0 && (found < 0 || id < found))
                    found = id;
            }
            if (found >= 0)
                m.attrs[size_t(found)] |= kAttrControl;
        };
        detect({"tokenizer.ggml.eot_token_id"},
               {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>",
                "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"});
        detect({"tokenizer.ggml.eom_token_id"}, {"<|eom_id|>"});
        detect({"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"},
               {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>",
                "<|code_prefix|>", "<|prefix|>"});
        detect({"tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"},
               {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>",
                "<|code_suffix|>", "<|suffix|>"});
        detect({"tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"},
               {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>",
                "<|code_middle|>", "<|middle|>"});
        detect({"tokenizer.ggml.fim_pad_token_id"}, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"});
        detect({"tokenizer.ggml.fim_rep_token_id"},
               {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"});
        detect({"tokenizer.ggml.fim_sep_token_id"}, {"<|file_sep|>"});
        for (const char *text :
             {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
              "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
              "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
              "<｜end▁of▁sentence｜>", "[e~["}) {
            const int32_t id = idOf(text);
            if (id >= 0)
                m.attrs[size_t(id)] |= kAttrControl;
        }
        for (const char *text : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"})
            if (const int32_t id = idOf(text); id >= 0)
                m.attrs[size_t(id)] = kAttrUserDefined;
        // Every text below is in the end-of-generation list above: present means it ends generation.
        auto has = [&](const char *text) { return idOf(text) >= 0; };
        const bool call = has("<|call|>") || has("<|calls|>");
        if (has("<|end|>") && ((has("<|return|>") && call) || (call && has("<|flush|>"))))
            m.attrs[size_t(idOf("<|end|>"))] = kAttrUserDefined; // llama.cpp: <|end|> does not end a harmony turn
        if (has("<|tool_response>") && has("</s>"))
            m.attrs[size_t(idOf("</s>"))] = kAttrNormal; // llama.cpp's Gemma 4 workaround

        // Per-model strip attributes (llama.cpp sets them by name; the files do not carry them).
        std::string name = file.text("general.name");
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return char(std::tolower(c)); });
        const std::string arch = file.text("general.architecture");
        auto contains = [](const std::string &s, std::initializer_list<const char *> parts) {
            return std::any_of(parts.begin(), parts.end(), [&](const char *p) { return s.find(p) != std::string::npos; });
        };
        auto setAttr = [&](const char *text, uint32_t attr, bool on) {
            if (const int32_t id = idOf(text); id >= 0)
                m.attrs[size_t(id)] = on ? (m.attrs[size_t(id)] | attr) : (m.attrs[size_t(id)] & ~attr);
        };
        if (contains(preKey, {"jina-v2-de", "jina-v2-es", "jina-v2-code"}) ||
            contains(arch, {"nomic-bert-moe", "jina-bert-v3"})) {
            setAttr("<mask>", kAttrLstrip, true);
        } else if (contains(name, {"phi-3", "phi3"})) {
            for (size_t i = 0; i < n; ++i)
                if (m.attrs[i] & (kAttrControl | kAttrUserDefined | kAttrUnknown))
                    m.attrs[i] |= kAttrRstrip;
            setAttr("</s>", kAttrRstrip, true);
            for (const char *text : {"<unk>", "<s>", "<|endoftext|>"})
                setAttr(text, kAttrRstrip, false);
        } else if (contains(name, {"modern-bert"})) {
            setAttr("[MASK]", kAttrLstrip, true);
        }
    }
    {
        for (size_t i = 0; i < n; ++i)
            if ((m.attrs[i] & kAttrUserDefined) && !(m.attrs[i] & (kAttrControl | kAttrUnknown)))
                m.cutTokens.push_back(int32_t(i));
        std::stable_sort(m.cutTokens.begin(), m.cutTokens.end(), [&](int32_t a, int32_t b) {
            return m.texts[size_t(a)].size() > m.texts[size_t(b)].size();
        });
        m.trieTerminal.push_back(-1);
        for (size_t k = 0; k < m.cutTokens.size(); ++k) {
            int32_t node = 0;
            for (unsigned char c : m.texts[size_t(m.cutTokens[k])]) {
                const uint64_t key = uint64_t(node) * 256 + c;
                auto it = m.trieChildren.find(key);
                if (it == m.trieChildren.end()) {
                    it = m.trieChildren.emplace(key, int32_t(m.trieTerminal.size())).first;
                    m.trieTerminal.push_back(-1);
                }
                node = it->second;
            }
            if (m.trieTerminal[size_t(node)] < 0)
                m.trieTerminal[size_t(node)] = int32_t(k);
        }
    }

    // Byte tokens: <0xXX>, else the byte itself as a token.
    for (int b = 0; b < 256; ++b) {
        int32_t id = findToken(m.ids, hexByteToken(uint8_t(b)));
        if (id < 0 && m.model == Model::Spm)
            id = findToken(m.ids, std::string(1, char(b)));
        m.byteTokens[size_t(b)] = id;
    }

    if (m.model == Model::Spm) {
        m.spmBarrier.fill(true);
        for (const std::string &text : m.texts)
            if (text.size() > 1)
                for (unsigned char c : text)
                    if (c < 128)
                        m.spmBarrier[c] = false;
    }

    if (m.model == Model::Bpe) {
        const gguf::Value *merges = file.find("tokenizer.ggml.merges");
        if (!merges)
            throw m.error("has no BPE merges (metadata 'tokenizer.ggml.merges' is missing)");
        if (merges->type != ValueType::Array || merges->elementType != ValueType::String)
            throw m.error("metadata 'tokenizer.ggml.merges' is not an array of strings");
        m.symbols.reserve(n + merges->strings.size());
        m.symbolToken.reserve(n + merges->strings.size());
        for (const auto &[text, id] : m.ids) {
            const int32_t s = internSymbol(m.symbols, m.symbolToken, text);
            m.symbolToken[size_t(s)] = id;
        }
        m.merges.reserve(merges->strings.size());
        for (size_t rank = 0; rank < merges->strings.size(); ++rank) {
            if (rank > size_t(std::numeric_limits<int32_t>::max()))
                throw m.error("metadata 'tokenizer.ggml.merges' has too many merges");
            const std::string &merge = merges->strings[rank];
            // "left right", split at the first space after the first byte (a side may begin with a space).
            const size_t space = merge.size() > 1 ? merge.find(' ', 1) : std::string::npos;
            std::string left, right;
            if (space != std::string::npos) {
                left = merge.substr(0, space);
                right = merge.substr(space + 1);
            }
            const int32_t a = internSymbol(m.symbols, m.symbolToken, left);
            const int32_t b = internSymbol(m.symbols, m.symbolToken, right);
            const int32_t ab = internSymbol(m.symbols, m.symbolToken, left + right);
            m.merges.emplace(uint64_t(uint32_t(a)) << 32 | uint32_t(b), Impl::Merge{int32_t(rank), ab});
        }
        m.mergeSide.assign(m.symbolToken.size(), 0);
        for (const auto &[sides, merge] : m.merges)
            m.mergeSide[size_t(sides >> 32)] = m.mergeSide[size_t(uint32_t(sides))] = 1;
        const ByteLevel &bl = byteLevel();
        for (int b = 0; b < 256; ++b)
            m.byteSymbols[size_t(b)] = findToken(m.symbols, bl.text[size_t(b)]);
    }

    Tokenizer tok;
    tok.m = std::move(t);
    return tok;
}

// ---- Encoding --------------------------------------------------------------------------------------------

// Cuts the user-defined tokens out of the text, longest token first, each at its leftmost non-overlapping
// places in what is still text (llama.cpp's tokenizer_st_partition); a token marked to strip spaces takes the
// ASCII whitespace beside it along.
std::vector<Tokenizer::Impl::Fragment> Tokenizer::Impl::partition(const std::string &text) const
{
    const size_t n = text.size();
    if (n == 0)
        return {};
    if (cutTokens.empty())
        return {{-1, 0, n}};
    std::vector<std::pair<int32_t, size_t>> found; // (index into cutTokens, position)
    for (size_t i = 0; i < n; ++i) {
        int32_t node = 0;
        for (size_t j = i; j < n; ++j) {
            const auto it = trieChildren.find(uint64_t(node) * 256 + uint8_t(text[j]));
            if (it == trieChildren.end())
                break;
            node = it->second;
            if (trieTerminal[size_t(node)] >= 0)
                found.emplace_back(trieTerminal[size_t(node)], i);
        }
    }
    if (found.empty())
        return {{-1, 0, n}};
    std::sort(found.begin(), found.end());
    std::vector<uint8_t> taken(n, 0); // 1: a token's bytes, 2: whitespace a token stripped
    std::vector<std::pair<size_t, int32_t>> placed;
    for (size_t k = 0; k < found.size();) {
        const int32_t id = cutTokens[size_t(found[k].first)];
        const size_t len = texts[size_t(id)].size();
        const uint32_t attr = attrs[size_t(id)];
        size_t next = 0;
        size_t g = k;
        for (; g < found.size() && found[g].first == found[k].first; ++g) {
            const size_t pos = found[g].second;
            if (pos < next || std::any_of(taken.begin() + pos, taken.begin() + pos + len, [](uint8_t t) { return t; }))
                continue;
            std::fill(taken.begin() + pos, taken.begin() + pos + len, 1);
            placed.emplace_back(pos, id);
            if (attr & kAttrLstrip)
                for (size_t b = pos; b > 0 && !taken[b - 1] && isAsciiSpace(uint8_t(text[b - 1])); --b)
                    taken[b - 1] = 2;
            size_t end = pos + len;
            if (attr & kAttrRstrip)
                for (; end < n && !taken[end] && isAsciiSpace(uint8_t(text[end])); ++end)
                    taken[end] = 2;
            next = end;
        }
        k = g;
    }
    std::sort(placed.begin(), placed.end());
    std::vector<Fragment> fragments;
    size_t p = 0;
    for (size_t i = 0; i < n;) {
        if (p < placed.size() && placed[p].first == i) {
            fragments.push_back({placed[p].second, i, i + texts[size_t(placed[p].second)].size()});
            i += texts[size_t(placed[p].second)].size();
            ++p;
        } else if (taken[i]) {
            ++i;
        } else {
            size_t j = i;
            while (j < n && !taken[j])
                ++j;
            fragments.push_back({-1, i, j});
            i = j;
        }
    }
    return fragments;
}

// SentencePiece-style BPE over scores (llama.cpp's llm_tokenizer_spm_session): start from UTF-8 characters,
// repeatedly merge the adjacent pair whose joined text is the token of highest score (leftmost first among
// equals); what is left without a token is spelled in byte tokens.
void Tokenizer::Impl::encodeSpm(const std::string &text, std::vector<int32_t> &out) const
{
    // Characters as the merging sees them (a truncated sequence takes the bytes after it along, even a
    // barrier): cut only where a barrier is a character of its own.
    size_t b = 0;
    for (size_t i = 0; i < text.size();) {
        const auto c = uint8_t(text[i]);
        if (c < 128 && spmBarrier[c]) {
            encodeSpmStretch(std::string_view(text).substr(b, i - b), out);
            encodeSpmStretch(std::string_view(text).substr(i, 1), out);
            b = i + 1;
        }
        i += utf8Length(c);
    }
    if (b < text.size())
        encodeSpmStretch(std::string_view(text).substr(b), out);
}

void Tokenizer::Impl::encodeSpmStretch(std::string_view text, std::vector<int32_t> &out) const
{
    struct Symbol {
        uint32_t start, len;
        int32_t prev, next;
    };
    struct Bigram {
        float score;
        int32_t left, right;
        uint32_t size;
        bool operator<(const Bigram &o) const // priority_queue pops the largest
        {
            return score < o.score || (score == o.score && left > o.left);
        }
    };
    if (text.empty())
        return;
    std::vector<Symbol> sym;
    sym.reserve(text.size());
    for (size_t off = 0; off < text.size();) {
        const size_t len = std::min(utf8Length(uint8_t(text[off])), text.size() - off);
        sym.push_back({uint32_t(off), uint32_t(len), int32_t(sym.size()) - 1,
                       off + len == text.size() ? -1 : int32_t(sym.size()) + 1});
        off += len;
    }
    std::vector<Bigram> storage;
    storage.reserve(sym.size());
    std::priority_queue<Bigram> queue(std::less<Bigram>(), std::move(storage));
    auto tryAdd = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0)
            return;
        const uint32_t size = sym[size_t(l)].len + sym[size_t(r)].len;
        const int32_t id = findToken(ids, text.substr(sym[size_t(l)].start, size));
        if (id >= 0)
            queue.push({scores[size_t(id)], l, r, size});
    };
    for (size_t i = 1; i < sym.size(); ++i)
        tryAdd(int32_t(i - 1), int32_t(i));
    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol &l = sym[size_t(b.left)];
        Symbol &r = sym[size_t(b.right)];
        if (l.len == 0 || r.len == 0 || l.len + r.len != b.size)
            continue; // one side has changed since
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0)
            sym[size_t(r.next)].prev = b.left;
        tryAdd(l.prev, b.left);
        tryAdd(b.left, l.next);
    }
    for (int32_t i = 0; i != -1; i = sym[size_t(i)].next) {
        const Symbol &s = sym[size_t(i)];
        const int32_t id = findToken(ids, text.substr(s.start, s.len));
        if (id >= 0) {
            out.push_back(id);
            continue;
        }
        for (size_t k = 0; k < s.len; ++k) { // a merge always makes a token: this is one character
            const int32_t byte = byteTokens[uint8_t(text[s.start + k])];
            if (byte >= 0)
                out.push_back(byte);
            else if (unkId >= 0)
                out.push_back(unkId);
        }
    }
}

// One pre-tokenized word through the merges (llama.cpp's llm_tokenizer_bpe_session): start from the word's
// characters (byte-level: one per byte), repeatedly merge the adjacent pair of lowest rank (leftmost first
// among equals).
void Tokenizer::Impl::encodeBpeWord(const std::string &word, std::vector<int32_t> &out) const
{
    const ByteLevel &bl = byteLevel();
    if (pre.ignoreMerges) {
        std::string spelled;
        if (byteEncode) {
            for (unsigned char c : word)
                spelled += bl.text[c];
        }
        const int32_t id = findToken(ids, byteEncode ? spelled : word);
        if (id >= 0) {
            out.push_back(id);
            return;
        }
    }
    if (gemma4 && word.find_first_not_of('\n') == std::string::npos) {
        if (const int32_t id = findToken(ids, word); id >= 0) {
            out.push_back(id);
            return;
        }
    }
    struct Symbol {
        uint32_t start, len; // bytes of the word
        int32_t sym;         // interned text, -1 when the text is in no token or merge
        int32_t prev, next;
    };
    std::vector<Symbol> s;
    s.reserve(word.size());
    for (size_t off = 0; off < word.size();) {
        const size_t len = byteEncode ? 1 : std::min(utf8Length(uint8_t(word[off])), word.size() - off);
        const int32_t sym = byteEncode ? byteSymbols[uint8_t(word[off])]
                                       : findToken(symbols, std::string_view(word.data() + off, len));
        s.push_back({uint32_t(off), uint32_t(len), sym, int32_t(s.size()) - 1,
                     off + len == word.size() ? -1 : int32_t(s.size()) + 1});
        off += len;
    }
    struct Bigram {
        int32_t rank, left, right, leftSym, rightSym, result;
        bool operator<(const Bigram &o) const // priority_queue pops the largest: invert
        {
            return rank > o.rank || (rank == o.rank && left > o.left);
        }
    };
    std::priority_queue<Bigram> queue;
    auto tryAdd = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0 || s[size_t(l)].sym < 0 || s[size_t(r)].sym < 0)
            return;
        const auto it = merges.find(uint64_t(uint32_t(s[size_t(l)].sym)) << 32 | uint32_t(s[size_t(r)].sym));
        if (it != merges.end())
            queue.push({it->second.rank, l, r, s[size_t(l)].sym, s[size_t(r)].sym, it->second.result});
    };
    // A character that is no merge's side never merges, so the merging on either side of it is independent:
    // the stretches between such characters are merged one after the other (the same result as all at once,
    // with a small queue; a byte-fallback text is one word of megabytes).
    auto barrier = [&](size_t i) { return s[i].sym < 0 || !mergeSide[size_t(s[i].sym)]; };
    for (size_t from = 0; from < s.size();) {
        size_t to = from + 1;
        while (to < s.size() && !barrier(to))
            ++to;
        for (size_t i = from + 1; i < to; ++i)
            tryAdd(int32_t(i - 1), int32_t(i));
        from = to;
        while (!queue.empty()) {
            const Bigram b = queue.top();
            queue.pop();
            Symbol &l = s[size_t(b.left)];
            Symbol &r = s[size_t(b.right)];
            if (l.len == 0 || r.len == 0 || l.sym != b.leftSym || r.sym != b.rightSym)
                continue; // outdated
            l.len += r.len;
            l.sym = b.result;
            r.len = 0;
            l.next = r.next;
            if (r.next >= 0)
                s[size_t(r.next)].prev = b.left;
            tryAdd(l.prev, b.left);
            tryAdd(b.left, l.next);
        }
    }
    bool unknown = false; // the last token out is the unknown token of a byte without one (byte fallback)
    for (const Symbol &x : s) {
        if (x.len == 0)
            continue;
        const int32_t id = x.sym >= 0 ? symbolToken[size_t(x.sym)] : -1;
        if (id >= 0) {
            out.push_back(id);
            unknown = false;
            continue;
        }
        if (byteFallback) { // the character's bytes, or one unknown token for a run of characters without
            const bool spelled = std::all_of(word.begin() + x.start, word.begin() + x.start + x.len,
                                             [&](char c) { return byteTokens[uint8_t(c)] >= 0; });
            if (spelled)
                for (uint32_t k = x.start; k < x.start + x.len; ++k)
                    out.push_back(byteTokens[uint8_t(word[k])]);
            else if (!unknown && unkId >= 0)
                out.push_back(unkId);
            unknown = !spelled;
            continue;
        }
        // No token: each byte of the symbol's spelling as a one-byte token (byte-level; llama.cpp's fallback),
        // or as a <0xXX> token.
        for (uint32_t k = x.start; k < x.start + x.len; ++k) {
            if (byteEncode) {
                for (char c : bl.text[uint8_t(word[k])])
                    if (const int32_t b = findToken(ids, std::string_view(&c, 1)); b >= 0)
                        out.push_back(b);
            } else if (const int32_t b = byteTokens[uint8_t(word[k])]; b >= 0) {
                out.push_back(b);
            }
        }
    }
}

namespace {

// The ends of the pieces a pre-tokenizer's passes cut a text into.
std::vector<size_t> pieceEnds(const Text &t, const std::vector<Pass> &passes)
{
    std::vector<size_t> ends{t.cp.size()}, next;
    for (Pass pass : passes) {
        next.clear();
        size_t b = 0;
        for (size_t e : ends) {
            if (e > b)
                applyPass(pass, t, b, e, next);
            b = e;
        }
        ends.swap(next);
    }
    return ends;
}

} // namespace

const std::string &byteLevelCharacter(uint8_t byte) { return byteLevel().text[byte]; }

std::vector<std::string> preTokenize(const std::string &utf8, const std::string &preTokenizer)
{
    PreTokenizer pre;
    if (!preTokenizerOf(preTokenizer, pre))
        throw Error("the pre-tokenizer '" + preTokenizer + "' is not supported");
    const Text t(utf8);
    std::vector<std::string> words;
    size_t b = 0;
    for (size_t e : pieceEnds(t, pre.passes)) {
        std::string word;
        for (size_t i = b; i < e; ++i)
            appendUtf8(word, t.cp[i]);
        if (!word.empty())
            words.push_back(std::move(word));
        b = e;
    }
    return words;
}

void Tokenizer::Impl::encodeBpe(const std::string &text, std::vector<int32_t> &out) const
{
    const Text t(text);
    const std::vector<size_t> ends = pieceEnds(t, pre.passes);
    std::string word;
    size_t b = 0;
    for (size_t e : ends) {
        word.clear();
        for (size_t i = b; i < e; ++i)
            appendUtf8(word, t.cp[i]);
        b = e;
        if (!word.empty())
            encodeBpeWord(word, out);
    }
}

// WordPiece (llama.cpp's llm_tokenizer_wpm_session): lower-case and strip accents, split at whitespace,
// punctuation and CJK ideographs, then take each word's longest token from the left ("▁" marks a word's
// start); a word that cannot be spelled so becomes the unknown token.
void Tokenizer::Impl::encodeWpm(const std::string &text, std::vector<int32_t> &out) const
{
    const std::vector<uint8_t> &table = classTable();
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2 *nfd = icu::Normalizer2::getNFDInstance(status);
    auto chinese = [](uint32_t c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
               (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
               (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    };
    std::vector<std::string> words(1);
    for (uint32_t c : decodeUtf8(text)) {
        if (stripAccents && U_SUCCESS(status)) { // the first code point of the canonical decomposition
            icu::UnicodeString d;
            if (nfd->getDecomposition(UChar32(c), d) && d.length() > 0)
                c = uint32_t(d.char32At(0));
        }
        const uint8_t cls = table[c];
        const uint8_t cat = cls & kCatMask;
        if (cls & kSpaceBit) {
            if (!words.back().empty())
                words.emplace_back();
            continue;
        }
        if (c == 0 || c == kReplacement || cat == kControl || (stripAccents && cat == kMark))
            continue;
        std::string s;
        appendUtf8(s, lowercase ? lower(c) : c);
        if (cat == kPunct || (c < 0x7f && cat == kSymbol) || chinese(c)) {
            if (!words.back().empty())
                words.emplace_back();
            words.back() = s;
            words.emplace_back();
        } else {
            words.back() += s;
        }
    }
    for (const std::string &w : words) {
        if (w.empty())
            continue;
        const std::string word = kSpaceMark + w;
        const size_t before = out.size();
        for (size_t i = 0; i < word.size(); ++i) {
            bool matched = false;
            for (size_t j = std::min(word.size(), i + maxTokenLength + 1); j > i; --j) {
                const int32_t id = findToken(ids, std::string_view(word.data() + i, j - i));
                if (id >= 0) {
                    out.push_back(id);
                    matched = true;
                    i = j - 1;
                    break;
                }
            }
            if (!matched) {
                out.resize(before);
                break;
            }
        }
        if (out.size() == before && unkId >= 0)
            out.push_back(unkId);
    }
}

std::vector<int32_t> Tokenizer::encode(const std::string &utf8, bool addBos) const
{
    const Impl &m = *this->m;
    if (utf8.size() > size_t(std::numeric_limits<int32_t>::max() / 4))
        throw m.error("a text of " + std::to_string(utf8.size()) + " bytes is more than one call tokenizes (512 MiB)");
    std::vector<int32_t> out;
    if (addBos) {
        if (m.bosId < 0)
            throw m.error("the vocabulary has no BOS token");
        out.push_back(m.bosId);
    }
    bool afterSpecial = true; // spm puts a space in front of the text and of text after a special token
    for (const Impl::Fragment &f : m.partition(utf8)) {
        if (f.token >= 0) {
            out.push_back(f.token);
            afterSpecial = true;
            continue;
        }
        std::string text = utf8.substr(f.b, f.e - f.b);
        switch (m.model) {
        case Model::Spm:
            if (m.addSpacePrefix && afterSpecial)
                text.insert(text.begin(), ' ');
            m.encodeSpm(replaceAll(text, " ", kSpaceMark), out);
            break;
        case Model::Bpe:
            if (m.byteFallback && m.addSpacePrefix && afterSpecial)
                text.insert(text.begin(), ' ');
            m.encodeBpe(m.escapeWhitespace ? replaceAll(text, " ", kSpaceMark) : text, out);
            break;
        case Model::Wpm:
            m.encodeWpm(text, out);
            break;
        }
        afterSpecial = false;
    }
    return out;
}

// ---- Decoding --------------------------------------------------------------------------------------------

void Tokenizer::Impl::checkId(int32_t id) const
{
    if (id < 0 || size_t(id) >= texts.size())
        throw error("token " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(texts.size()) +
                    " tokens");
}

std::string Tokenizer::Impl::piece(int32_t id) const
{
    checkId(id);
    const std::string &text = texts[size_t(id)];
    const uint32_t attr = attrs[size_t(id)];
    if (byteFallback && (attr & kAttrUserDefined))
        return replaceAll(text, kSpaceMark, " "); // Hugging Face decodes added tokens as the others
    if (attr & (kAttrUnknown | kAttrControl | kAttrUserDefined))
        return text;
    if (attr & kAttrByte) { // <0xXX>
        if (text.size() == 6 && text.compare(0, 3, "<0x") == 0 && std::isxdigit(uint8_t(text[3])) &&
            std::isxdigit(uint8_t(text[4])))
            return std::string(1, char(std::stoi(text.substr(3, 2), nullptr, 16)));
        return text;
    }
    if (!(attr & kAttrNormal))
        return {}; // unused or undefined tokens stand for nothing (as in llama.cpp)
    if (model != Model::Bpe || escapeWhitespace)
        return replaceAll(text, kSpaceMark, " ");
    // Byte-level characters back to bytes; a character outside the alphabet is kept as it is.
    const ByteLevel &bl = byteLevel();
    std::string out;
    for (uint32_t c : decodeUtf8(text)) {
        const auto it = bl.byte.find(c);
        if (it != bl.byte.end())
            out += char(it->second);
        else
            appendUtf8(out, c);
    }
    return out;
}

std::string Tokenizer::piece(int32_t id) const { return m->piece(id); }

std::string Tokenizer::decode(const std::vector<int32_t> &ids) const
{
    std::string out;
    bool first = true;
    for (int32_t id : ids) {
        m->checkId(id);
        if (m->attrs[size_t(id)] & (kAttrUnknown | kAttrControl))
            continue;
        std::string p = m->piece(id);
        if (first && m->addSpacePrefix && !p.empty() && p[0] == ' ')
            p.erase(0, 1);
        first = false;
        out += p;
    }
    return out;
}

// ---- Facts -----------------------------------------------------------------------------------------------

int64_t Tokenizer::size() const { return int64_t(m->texts.size()); }
const std::string &Tokenizer::text(int32_t id) const
{
    m->checkId(id);
    return m->texts[size_t(id)];
}
int32_t Tokenizer::bos() const { return m->bosId; }
int32_t Tokenizer::eos() const { return m->eosId; }
int32_t Tokenizer::unknown() const { return m->unkId; }
int32_t Tokenizer::padding() const { return m->padId; }
bool Tokenizer::addsBos() const { return m->addBos; }
std::string Tokenizer::model() const
{
    switch (m->model) {
    case Model::Spm: return "spm";
    case Model::Bpe: return "bpe";
    case Model::Wpm: return "wpm";
    }
    return {};
}
std::string Tokenizer::preTokenizer() const { return m->model == Model::Bpe ? m->preName : std::string(); }
std::string Tokenizer::kind() const
{
    return m->model == Model::Bpe ? model() + "/" + m->preName : model();
}

} // namespace cw::lm
