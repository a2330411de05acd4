// Tokenizers (core/lm/tokenizer), against llama.cpp: every input / output pair of llama.cpp's own test
// vocabularies (models/ggml-vocab-NAME.gguf with .inp / .out, produced by its tests/test-tokenizer-0 with
// add_special = false and parse_special = false), and the Brown corpus tokenized by llama.cpp's prebuilt
// library (tests/tools/llama_ref.sh, its tokenize command) for the main vocabularies. Also: decode and piece round trips,
// broken vocabularies refused with a message naming the file and the key, and `cwb tokenize`. Hugging Face's
// SentencePiece-style tokenizer.json files (Mistral's, Gemma 3's) against Hugging Face's own tokenizers library
// (tests/tools/hf_tokenize.js), and against llama.cpp reading them as this program exports them to GGUF.
#include <QElapsedTimer>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QRegularExpression>
#include <QStringDecoder>
#include <QTemporaryDir>
#include <QtTest>

#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/base/mapped_file.h"
#include "core/io/gguf.h"
#include "core/lm/hf_tokenizer.h"
#include "core/lm/tokenizer.h"
#include "tests/lmtestutil.h"
#include "tests/testutil.h"

namespace {

using Pair = lmtestutil::VocabPair;

// In a sanitizer build (testutil::kSanitized) the Brown corpus text is its first megabyte.
using testutil::kSanitized;

// Text for a failure message: control characters escaped.
QString shown(const std::string &s)
{
    QString out;
    for (QChar c : QString::fromUtf8(s.data(), qsizetype(s.size()))) {
        if (c == '\n')
            out += "\\n";
        else if (c == '\t')
            out += "\\t";
        else if (c == '\r')
            out += "\\r";
        else if (c.unicode() < 0x20)
            out += QString("\\x%1").arg(c.unicode(), 2, 16, QChar('0'));
        else
            out += c;
    }
    return "\"" + out + "\"";
}

QString shown(const std::vector<int32_t> &ids)
{
    QStringList s;
    for (int32_t id : ids)
        s << QString::number(id);
    return "[" + s.join(' ') + "]";
}

cw::lm::Tokenizer load(const QString &path) { return cw::lm::Tokenizer::fromGguf(cw::gguf::File::open(path.toStdString())); }

// Ids printed space-separated (llama_ref tokenize, hf_tokenize.js).
std::vector<int32_t> idsOf(const QByteArray &printed)
{
    std::vector<int32_t> ids;
    for (const QByteArray &id : printed.split(' '))
        if (!id.trimmed().isEmpty())
            ids.push_back(id.trimmed().toInt());
    return ids;
}

// Runs a reference tokenizer (llama_ref tokenize, node hf_tokenize.js; testutil::runReference, so its outputs are
// kept): the ids it prints into *ids, its standard error into *err; the file it writes to args[outputArg] (when
// given) is written there. Returns why it failed, "" when it did not.
QString runIds(const QString &program, const QStringList &args, std::vector<int32_t> *ids, QByteArray *err,
               int outputArg = -1)
{
    QString error;
    const QByteArray printed = testutil::runReference(program, args, &error, 600000, outputArg, err);
    *err = err->trimmed();
    if (error.isEmpty())
        *ids = idsOf(printed);
    return error;
}

// llama_ref (tests/tools/llama_ref.sh builds it on llama.cpp's prebuilt library); "" and *error if it cannot be.
QString llamaRef(QString *error)
{
    return QString::fromLocal8Bit(
               testutil::runProcess("/bin/sh", {testutil::sourcePath("tests/tools/llama_ref.sh")}, error, 600000))
        .trimmed();
}

// Where two encodings first differ, with the text around it: "" when they are the same.
QString firstDifference(const cw::lm::Tokenizer &tok, const std::vector<int32_t> &got,
                        const std::vector<int32_t> &expected)
{
    if (got == expected)
        return {};
    size_t i = 0;
    while (i < got.size() && i < expected.size() && got[i] == expected[i])
        ++i;
    const auto from = [&](const std::vector<int32_t> &v) {
        return std::vector<int32_t>(v.begin() + qsizetype(std::min(v.size(), i)),
                                    v.begin() + qsizetype(std::min(v.size(), i + 12)));
    };
    std::string context;
    for (size_t k = i >= 4 ? i - 4 : 0; k < std::min(got.size(), i + 8); ++k)
        context += tok.piece(got[k]);
    return QString("%1 vs %2 tokens; first difference at token %3, near %4:\n  expected %5\n  got      %6")
        .arg(got.size())
        .arg(expected.size())
        .arg(i)
        .arg(shown(context), shown(from(expected)), shown(from(got)));
}

// The vocabularies llama.cpp ships test pairs for, and what this class does with each: "" when it encodes
// them, else the words of the error that refuses it.
const std::vector<std::pair<const char *, const char *>> kVocabularies = {
    {"llama-spm", ""}, {"phi-3", ""}, {"gpt-2", ""}, {"llama-bpe", ""}, {"qwen2", ""}, {"qwen35", ""},
    {"falcon", ""}, {"starcoder", ""}, {"refact", ""}, {"deepseek-llm", ""}, {"deepseek-coder", ""},
    {"mpt", ""}, {"command-r", ""}, {"gemma-4", ""}, {"bert-bge", ""},
};

} // namespace

// Skips the test function when llama.cpp's source with its test vocabularies is missing (a macro: QSKIP returns
// from the function it is written in).
#define REQUIRE_SOURCE()                                                                                            \
    do {                                                                                                            \
        if (m_source.isEmpty())                                                                                     \
            QSKIP(qPrintable(m_skip));                                                                              \
    } while (false)

class TestTokenizer : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void matchesLlamaCppVectors_data();
    void matchesLlamaCppVectors();
    void otherVocabularies_data();
    void otherVocabularies();
    void roundTrips_data();
    void roundTrips();
    void pieces();
    void specialTokens();
    void brokenVocabularies_data();
    void brokenVocabularies();
    void corpusMatchesLlamaCpp_data();
    void corpusMatchesLlamaCpp();
    void huggingFaceByteFallback_data();
    void huggingFaceByteFallback();
    void byteFallbackForms_data();
    void byteFallbackForms();
    void cliTokenize();

private:
    QString vocab(const QString &name) const { return m_source + "/models/ggml-vocab-" + name + ".gguf"; }
    QString corpusText(); // the Brown corpus as plain text (part-of-speech tags stripped), written once
    QString mixedText();  // the mixed text, written once

    QTemporaryDir m_dir;
    QString m_source, m_corpus, m_corpusText, m_mixedText, m_skip;
    QMap<QString, QString> m_paths; // tests/tools/fetch_models.py --paths
};

void TestTokenizer::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QString error;
    m_paths = lmtestutil::referencePaths(&error);
    m_source = m_paths.value("llama.cpp-source");
    if (m_paths.contains("brown-corpus"))
        m_corpus = QFileInfo(m_paths["brown-corpus"]).path();
    if (m_source.isEmpty() || !QFileInfo::exists(m_source + "/models/ggml-vocab-gpt-2.gguf"))
        m_skip = "llama.cpp's source with its test vocabularies cannot be fetched (tests/tools/fetch_models.py): " +
                 error;
    if (m_skip.size())
        m_source.clear();
}

void TestTokenizer::matchesLlamaCppVectors_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("refusal");
    for (const auto &[name, refusal] : kVocabularies)
        QTest::newRow(name) << QString(name) << QString(refusal);
}

// Every pair of a vocabulary's .inp / .out; the first mismatch is reported with its input, the expected and
// the produced ids.
void TestTokenizer::matchesLlamaCppVectors()
{
    REQUIRE_SOURCE();
    QFETCH(QString, name);
    QFETCH(QString, refusal);
    if (!refusal.isEmpty()) {
        const QString error = testutil::errorOf([&] { load(vocab(name)); });
        QVERIFY2(error.contains(refusal) && error.contains("ggml-vocab-" + name), qPrintable(error));
        return;
    }
    QString error;
    const std::vector<Pair> pairs = lmtestutil::readVocabPairs(vocab(name), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY(pairs.size() >= 40);
    const cw::lm::Tokenizer tok = load(vocab(name));
    int failed = 0;
    QString first;
    for (size_t i = 0; i < pairs.size(); ++i) {
        const std::vector<int32_t> got = tok.encode(pairs[i].text, false);
        if (got != pairs[i].ids) {
            if (failed++ == 0)
                first = QString("pair %1, input %2:\n  expected %3\n  got      %4")
                            .arg(i)
                            .arg(shown(pairs[i].text), shown(pairs[i].ids), shown(got));
        }
    }
    QVERIFY2(failed == 0, qPrintable(QString("%1 of %2 pairs differ; the first: %3").arg(failed).arg(pairs.size()).arg(first)));
}

void TestTokenizer::otherVocabularies_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("refusal");
    // Without test pairs: they load (or are refused by name), and encode the pairs of a vocabulary of the
    // same family without failing.
    QTest::newRow("aquila (no pre-tokenizer: default)") << "aquila" << "bpe/default" << "";
    QTest::newRow("gpt-neox (no pre-tokenizer: default)") << "gpt-neox" << "bpe/default" << "";
    QTest::newRow("baichuan") << "baichuan" << "spm" << "";
    QTest::newRow("nomic-bert-moe (t5 / Unigram)") << "nomic-bert-moe" << "" << "tokenizer model 't5'";
}

void TestTokenizer::otherVocabularies()
{
    REQUIRE_SOURCE();
    QFETCH(QString, name);
    QFETCH(QString, kind);
    QFETCH(QString, refusal);
    if (!refusal.isEmpty()) {
        const QString error = testutil::errorOf([&] { load(vocab(name)); });
        QVERIFY2(error.contains(refusal) && error.contains("ggml-vocab-" + name + ".gguf"), qPrintable(error));
        return;
    }
    const cw::lm::Tokenizer tok = load(vocab(name));
    QCOMPARE(QString::fromStdString(tok.kind()), kind);
    QString error;
    for (const Pair &p : lmtestutil::readVocabPairs(vocab("llama-spm"), &error)) {
        const std::vector<int32_t> ids = tok.encode(p.text, false);
        QCOMPARE(tok.decode(ids), p.text);
    }
    QVERIFY2(error.isEmpty(), qPrintable(error));
}

void TestTokenizer::roundTrips_data()
{
    QTest::addColumn<QString>("name");
    for (const char *name : {"llama-spm", "phi-3", "gpt-2", "llama-bpe", "qwen2", "qwen35", "falcon", "starcoder",
                             "deepseek-llm", "deepseek-coder", "command-r", "gemma-4"})
        QTest::newRow(name) << QString(name);
}

// decode(encode(text)) is the text, and the pieces joined are the text (for spm with the space it put in
// front); with BOS asked for, BOS comes first and the rest is unchanged.
void TestTokenizer::roundTrips()
{
    REQUIRE_SOURCE();
    QFETCH(QString, name);
    const cw::lm::Tokenizer tok = load(vocab(name));
    QString error;
    const std::vector<Pair> pairs = lmtestutil::readVocabPairs(vocab(name), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    for (const Pair &p : pairs) {
        const std::vector<int32_t> ids = tok.encode(p.text, false);
        QVERIFY2(tok.decode(ids) == p.text, qPrintable("decode of " + shown(p.text) + ": " + shown(tok.decode(ids))));
        std::string joined;
        for (int32_t id : ids)
            joined += tok.piece(id);
        const std::string expected = tok.model() == "spm" && !p.text.empty() ? " " + p.text : p.text;
        QVERIFY2(joined == expected, qPrintable("pieces of " + shown(p.text) + ": " + shown(joined)));
        if (tok.bos() >= 0) {
            std::vector<int32_t> withBos = tok.encode(p.text, true);
            QCOMPARE(withBos.front(), tok.bos());
            withBos.erase(withBos.begin());
            QCOMPARE(withBos, ids);
            QVERIFY(tok.decode(tok.encode(p.text, true)) == p.text);
        }
    }
}

void TestTokenizer::pieces()
{
    REQUIRE_SOURCE();
    const cw::lm::Tokenizer spm = load(vocab("llama-spm"));
    QCOMPARE(spm.kind(), std::string("spm"));
    QCOMPARE(spm.text(13), std::string("<0x0A>"));
    QCOMPARE(spm.piece(13), std::string("\n"));           // a byte token
    QCOMPARE(spm.piece(15043), std::string(" Hello"));    // "▁Hello"
    QCOMPARE(spm.piece(1), std::string("<s>"));           // control: its text
    QCOMPARE(spm.decode({1, 15043, 2}), std::string("Hello")); // control tokens left out, the front space too
    const cw::lm::Tokenizer gpt2 = load(vocab("gpt-2"));
    QCOMPARE(gpt2.kind(), std::string("bpe/gpt-2"));
    QCOMPARE(gpt2.text(995), std::string("\xc4\xa0world")); // "Ġworld"
    QCOMPARE(gpt2.piece(995), std::string(" world"));
    QCOMPARE(gpt2.piece(198), std::string("\n"));            // "Ċ"
    QCOMPARE(gpt2.piece(50256), std::string("<|endoftext|>"));
    // Control tokens written in the text are text.
    const std::vector<int32_t> ids = gpt2.encode("<|endoftext|>", false);
    QVERIFY(ids.size() > 1);
    QCOMPARE(gpt2.decode(ids), std::string("<|endoftext|>"));
    // Ids outside the vocabulary.
    for (int32_t bad : {-1, 50257, 1 << 30}) {
        QVERIFY(testutil::errorOf([&] { gpt2.piece(bad); }).contains("outside the vocabulary of 50257 tokens"));
        QVERIFY(testutil::errorOf([&] { gpt2.decode({bad}); }).contains("ggml-vocab-gpt-2.gguf"));
    }
    // Invalid UTF-8 does not crash: spm spells the bytes, bpe reads U+FFFD as llama.cpp does.
    const std::string invalid = "a\xff\xc3(b\xe2\x82";
    QCOMPARE(spm.decode(spm.encode(invalid, false)), invalid);
    QCOMPARE(gpt2.decode(gpt2.encode(invalid, false)), std::string("a\xef\xbf\xbd\xef\xbf\xbd(b\xef\xbf\xbd\xef\xbf\xbd"));
}

void TestTokenizer::specialTokens()
{
    REQUIRE_SOURCE();
    struct Expect {
        const char *name;
        int32_t bos, eos;
        bool addsBos;
        int64_t size;
    };
    for (const Expect &e : {Expect{"llama-spm", 1, 2, true, 32000}, Expect{"phi-3", 1, 32000, true, 32064},
                            Expect{"llama-bpe", 128000, 128001, true, 128256},
                            Expect{"gpt-2", 50256, 50256, false, 50257},
                            Expect{"qwen2", 151643, 151643, false, 151936},
                            Expect{"command-r", 5, 255001, true, 256000}, Expect{"gemma-4", 2, 1, true, 262144},
                            Expect{"bert-bge", 101, -1, true, 30522}}) {
        const cw::lm::Tokenizer tok = load(vocab(e.name));
        QVERIFY2(tok.bos() == e.bos && tok.eos() == e.eos && tok.addsBos() == e.addsBos && tok.size() == e.size,
                 qPrintable(QString("%1: bos %2 eos %3 adds %4 size %5")
                                .arg(e.name)
                                .arg(tok.bos())
                                .arg(tok.eos())
                                .arg(tok.addsBos())
                                .arg(tok.size())));
        QCOMPARE(tok.encode("", true), std::vector<int32_t>{e.bos});
        QCOMPARE(tok.encode("", false), std::vector<int32_t>{});
    }
}

void TestTokenizer::brokenVocabularies_data()
{
    QTest::addColumn<QString>("broken");
    QTest::addColumn<QString>("message");
    QTest::newRow("no tokenizer model") << "model:" << "has no tokenizer (metadata 'tokenizer.ggml.model' is missing)";
    QTest::newRow("unknown model") << "model:rwkv" << "the tokenizer model 'rwkv' (tokenizer.ggml.model) is not supported";
    QTest::newRow("unknown pre-tokenizer") << "pre:tekken" << "the pre-tokenizer 'tekken' (tokenizer.ggml.pre) is not supported";
    QTest::newRow("no tokens") << "tokens:" << "has no vocabulary (metadata 'tokenizer.ggml.tokens' is missing)";
    QTest::newRow("tokens not strings") << "tokens:ints" << "metadata 'tokenizer.ggml.tokens' is not an array of strings";
    QTest::newRow("empty tokens") << "tokens:empty" << "metadata 'tokenizer.ggml.tokens' is empty";
    QTest::newRow("short scores") << "scores:short" << "metadata 'tokenizer.ggml.scores' has 3 scores for 6 tokens";
    QTest::newRow("short token types") << "types:short" << "metadata 'tokenizer.ggml.token_type' has 2 types for 6 tokens";
    QTest::newRow("no merges") << "merges:" << "has no BPE merges (metadata 'tokenizer.ggml.merges' is missing)";
    QTest::newRow("bos out of range") << "bos:6" << "metadata 'tokenizer.ggml.bos_token_id' is token 6, outside the vocabulary of 6 tokens";
    QTest::newRow("eos negative") << "eos:-1" << "metadata 'tokenizer.ggml.eos_token_id' is token -1, outside the vocabulary of 6 tokens";
    QTest::newRow("unknown out of range") << "unk:1000000" << "metadata 'tokenizer.ggml.unknown_token_id' is token 1000000";
    QTest::newRow("model not a string") << "model:int" << "metadata 'tokenizer.ggml.model' is int32, not a string";
}

// Small GGUF files written with cw::gguf::write, one thing wrong in each.
void TestTokenizer::brokenVocabularies()
{
    QFETCH(QString, broken);
    QFETCH(QString, message);
    using namespace cw::gguf;
    const QString what = broken.section(':', 0, 0), value = broken.section(':', 1);
    std::vector<WriteValue> meta;
    auto set = [&](const std::string &key, Value v) {
        for (WriteValue &w : meta)
            if (w.key == key) {
                w.value = std::move(v);
                return;
            }
        meta.push_back({key, std::move(v)});
    };
    auto drop = [&](const std::string &key) {
        meta.erase(std::remove_if(meta.begin(), meta.end(), [&](const WriteValue &w) { return w.key == key; }), meta.end());
    };
    const bool bpe = what == "merges" || what == "pre";
    set("tokenizer.ggml.model", makeString(bpe ? "gpt2" : "llama"));
    if (bpe) {
        set("tokenizer.ggml.pre", makeString("gpt-2"));
        set("tokenizer.ggml.merges", makeStringArray({"a b", "ab c"}));
    }
    set("tokenizer.ggml.tokens", makeStringArray({"<unk>", "<s>", "</s>", "a", "b", "ab"}));
    set("tokenizer.ggml.scores", makeFloat32Array({0, 0, 0, -1, -2, -0.5}));
    set("tokenizer.ggml.token_type", makeInt32Array({2, 3, 3, 1, 1, 1}));
    set("tokenizer.ggml.bos_token_id", makeUInt32(1));
    set("tokenizer.ggml.eos_token_id", makeUInt32(2));
    if (what == "model") {
        if (value.isEmpty())
            drop("tokenizer.ggml.model");
        else if (value == "int")
            set("tokenizer.ggml.model", makeInt32(3));
        else
            set("tokenizer.ggml.model", makeString(value.toStdString()));
    } else if (what == "pre") {
        set("tokenizer.ggml.pre", makeString(value.toStdString()));
    } else if (what == "tokens") {
        if (value.isEmpty())
            drop("tokenizer.ggml.tokens");
        else if (value == "ints")
            set("tokenizer.ggml.tokens", makeInt32Array({1, 2, 3}));
        else
            set("tokenizer.ggml.tokens", makeStringArray({}));
    } else if (what == "scores") {
        set("tokenizer.ggml.scores", makeFloat32Array({0, 0, 0}));
    } else if (what == "types") {
        set("tokenizer.ggml.token_type", makeInt32Array({2, 3}));
    } else if (what == "merges") {
        drop("tokenizer.ggml.merges");
    } else if (what == "bos") {
        set("tokenizer.ggml.bos_token_id", makeUInt32(value.toUInt()));
    } else if (what == "eos") {
        set("tokenizer.ggml.eos_token_id", makeInt32(value.toInt()));
    } else if (what == "unk") {
        set("tokenizer.ggml.unknown_token_id", makeUInt32(value.toUInt()));
    }
    const QString path = m_dir.filePath("broken-" + what + ".gguf");
    write(path.toStdString(), meta, {});
    const QString error = testutil::errorOf([&] { load(path); });
    QVERIFY2(error.contains(message) && error.contains(path), qPrintable(error));

    // The same file without the defect encodes.
    if (what == "bos") {
        set("tokenizer.ggml.bos_token_id", makeUInt32(1));
        write(path.toStdString(), meta, {});
        const cw::lm::Tokenizer tok = load(path);
        // "▁ab▁a": ▁ has no token and its bytes none either: one unknown token per byte.
        QCOMPARE(tok.encode("ab a", true), (std::vector<int32_t>{1, 0, 0, 0, 5, 0, 0, 0, 3}));
    }
}

// Texts through llama.cpp's own tokenizer (its prebuilt library, `llama_ref tokenize`, tests/tools/llama_ref.sh) and through
// this one: the same ids, and the time each takes. "brown": the Brown corpus (6 MB of English); "mixed": a
// seeded jumble of scripts, combining marks, digits of several systems, punctuation and symbols, emoji,
// every kind of whitespace, control and format characters, user-defined and control tokens' texts and
// invalid UTF-8, for every vocabulary.
void TestTokenizer::corpusMatchesLlamaCpp_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("text");
    for (const char *name : {"llama-spm", "llama-bpe", "gpt-2", "qwen2", "phi-3", "deepseek-llm", "command-r"})
        QTest::addRow("%s, brown", name) << QString(name) << "brown";
    for (const auto &[name, refusal] : kVocabularies)
        if (!*refusal)
            QTest::addRow("%s, mixed", name) << QString(name) << "mixed";
}

QString TestTokenizer::mixedText()
{
    if (!m_mixedText.isEmpty())
        return m_mixedText;
    static const char *const words[] = {
        "Hello", "world", "it's", "I'LL", "we've", "'re", "'D", "don't", "na\u00efve", "caf\u00e9", "Stra\u00dfe",
        "e\u0301", "a\u0308\u0304", "n\u0303o", "\u03bb\u03cc\u03b3\u03bf\u03c2", "\u043f\u0440\u0438\u0432\u0435\u0442",
        "\u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438", "\u0532\u0561\u0580\u0565\u0582",
        "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8", "\u6211\u60f3\u5728", "\u5de5\u4f5c",
        "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0", "\u30ab\u30bf\u30ab\u30ca", "\ud55c\uad6d\uc5b4",
        "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22",
        "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u05e2\u05d1\u05e8\u05d9\u05ea",
        "\u1780\u17b6\u1793\u17cb\u178f\u17c2", "3", "33", "1234567", "\u0663\u0664\u0665", "\uff11\uff12\uff13",
        "\u2154", "\u00b2", "3.14", "1,000,000", "...", "!?", "\u00ab\u00bb", "\u201cquoted\u201d", "\u2014",
        "\u2026", "\u3002", "\uff0c", "\u3001", "$", "+=", "<=>", "^", "`", "|", "~", "\u20ac", "\u00a9", "\u00b1",
        "\u2192", "\u2211", "(", ")", "[x]", "{y}", "#", "@", "&", "%", "*", "_", "\\", "/", "\"", "'", "''''", "```",
        "\U0001f999", "\U0001f680", "\U0001f636\u200d\U0001f32b\ufe0f", "\U0001f44d\U0001f3fd", "\u2705",
        "\U0001f1eb\U0001f1f7", "\x01", "\x1f", "\x7f", "\u200b", "\u200d", "\ufeff", "\ue000", "\u00f5", "\u00f7",
        "[PAD151646]", "<|endoftext|>", "<s>", "</s>", "<|im_start|>", "<unk>", "<0x0A>", "\xff", "\xc3(", "\xe2\x82",
        "\xed\xa0\x80", "\xc0\x80", "\x80\x80",
    };
    static const char *const spaces[] = {" ", " ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\v", "\f",
                                         "\u00a0", "\u2009", "\u3000", "\u0085", "\u2028", " \n ", "", ""};
    QRandomGenerator random(20240614);
    std::string text;
    for (int i = 0; i < 6000; ++i) {
        text += words[random.bounded(int(std::size(words)))];
        text += spaces[random.bounded(int(std::size(spaces)))];
    }
    const QString path = m_dir.filePath("mixed.txt");
    if (testutil::writeFile(path, QByteArray::fromStdString(text)))
        m_mixedText = path;
    return m_mixedText;
}

QString TestTokenizer::corpusText()
{
    if (!m_corpusText.isEmpty() || m_corpus.isEmpty())
        return m_corpusText;
    QDir dir(m_corpus);
    QString text;
    const QRegularExpression space("\\s+");
    for (const QString &file : dir.entryList({"c[a-r][0-9][0-9]"}, QDir::Files, QDir::Name)) {
        QFile f(dir.filePath(file));
        if (!f.open(QIODevice::ReadOnly))
            return {};
        // Paragraphs are lines; each word is WORD/TAG.
        for (const QString &line : QString::fromUtf8(f.readAll()).split('\n')) {
            QStringList words;
            for (const QString &w : line.split(space, Qt::SkipEmptyParts))
                words << w.section('/', 0, -2);
            if (!words.isEmpty())
                text += words.join(' ') + '\n';
        }
        // Under the sanitizers, the first megabyte (whole files): the same code paths as the 6 MB on a sixth of
        // the text; the regular build compares all of it. Encoding all of it took 93 s under AddressSanitizer (nine
        // rows), 17 s in the regular build.
        if (kSanitized && text.size() > 1000000)
            break;
    }
    const QString path = m_dir.filePath("brown.txt");
    if (!testutil::writeFile(path, text.toUtf8()))
        return {};
    m_corpusText = path;
    return m_corpusText;
}

void TestTokenizer::corpusMatchesLlamaCpp()
{
    REQUIRE_SOURCE();
    QFETCH(QString, name);
    QFETCH(QString, text);
    const QString textPath = text == "brown" ? corpusText() : mixedText();
    if (textPath.isEmpty())
        QSKIP("the Brown corpus is not in the model cache (tests/tools/fetch_models.py)");
    QString error;
    const QString reference = llamaRef(&error);
    if (!error.isEmpty())
        QSKIP(qPrintable("llama.cpp's library is not available: " + error));
    std::vector<int32_t> expected;
    QByteArray err;
    const QString failure = runIds(reference, {"tokenize", vocab(name), textPath}, &expected, &err);
    QVERIFY2(failure.isEmpty(), qPrintable(failure));

    QFile f(textPath);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const std::string bytes = f.readAll().toStdString();
    const cw::lm::Tokenizer tok = load(vocab(name));
    QElapsedTimer timer;
    timer.start();
    const std::vector<int32_t> got = tok.encode(bytes, false);
    const double seconds = timer.nsecsElapsed() * 1e-9;
    qInfo("%s, %s: %.2f MB, %zu tokens in %.2f s (%.1f MB/s); llama.cpp: %s", qPrintable(name), qPrintable(text),
          bytes.size() / 1e6, got.size(), seconds, bytes.size() / 1e6 / seconds, err.constData());
    const QString difference = firstDifference(tok, got, expected);
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
    QVERIFY2(seconds < 60, "encoding the corpus takes too long");
}

void TestTokenizer::huggingFaceByteFallback_data()
{
    QTest::addColumn<QString>("name");
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("spaceInFront");
    for (const auto &[name, space] : {std::pair{"mistral", true}, {"gemma3", false}})
        for (const char *text : {"brown", "mixed"})
            QTest::addRow("%s, %s", name, text) << QString(name) << QString(text) << space;
}

// A SentencePiece-style tokenizer.json (byte_fallback BPE, ▁ for spaces) encodes as Hugging Face's tokenizers
// library encodes (special tokens written in the text being text), and decodes back to the text. llama.cpp,
// given the vocabulary as GGUF export writes it (scores from the merge ranks), encodes the same.
void TestTokenizer::huggingFaceByteFallback()
{
    QFETCH(QString, name);
    QFETCH(QString, text);
    QFETCH(bool, spaceInFront);
    const QString file = m_paths.value("tokenizer-json-" + name), library = m_paths.value("hf-tokenizers");
    if (file.isEmpty() || library.isEmpty())
        QSKIP("the tokenizer.json files and Hugging Face's tokenizers library cannot be fetched "
              "(tests/tools/fetch_models.py)");
    const QString textPath = text == "brown" ? corpusText() : mixedText();
    if (textPath.isEmpty())
        QSKIP("the Brown corpus is not in the model cache (tests/tools/fetch_models.py)");
    const QString used = m_dir.filePath(name + "-" + text + ".txt");
    std::vector<int32_t> expected;
    QByteArray nodeErr;
    const QString failure =
        runIds("node", {testutil::sourcePath("tests/tools/hf_tokenize.js"), QFileInfo(library).path(), file, textPath, used},
               &expected, &nodeErr, 4);
    QVERIFY2(failure.isEmpty(), qPrintable(failure));
    QFile f(used);
    QVERIFY(f.open(QIODevice::ReadOnly));
    const std::string bytes = f.readAll().toStdString();

    // As GGUF export writes it (llama.cpp needs an architecture to load even a vocabulary).
    std::vector<cw::gguf::WriteValue> kv = cw::lm::huggingFaceVocabulary(QFileInfo(file).path().toStdString());
    kv.insert(kv.begin(), {"general.architecture", cw::gguf::makeString("llama")});
    const std::string vocabulary = cw::gguf::metadataOnly(kv);
    const cw::lm::Tokenizer tok = cw::lm::Tokenizer::fromGguf(
        cw::gguf::File::open(cw::MappedFile::view(file.toStdString(), vocabulary.data(), vocabulary.size())));
    QCOMPARE(QString::fromStdString(tok.kind()), QString("bpe/byte-fallback"));
    QElapsedTimer timer;
    timer.start();
    const std::vector<int32_t> got = tok.encode(bytes, false);
    const double seconds = timer.nsecsElapsed() * 1e-9;
    qInfo("%s, %s: %.2f MB, %zu tokens in %.2f s (%.1f MB/s); Hugging Face's: %s", qPrintable(name), qPrintable(text),
          bytes.size() / 1e6, got.size(), seconds, bytes.size() / 1e6 / seconds, nodeErr.constData());
    const QString difference = firstDifference(tok, got, expected);
    QVERIFY2(difference.isEmpty(), qPrintable(difference));
    const std::string decoded = tok.decode(got);
    const size_t at = std::mismatch(decoded.begin(), decoded.end(), bytes.begin(), bytes.end()).first - decoded.begin();
    QVERIFY2(decoded == bytes, qPrintable(QString("decoded differs at byte %1: %2 for %3")
                                              .arg(at)
                                              .arg(shown(decoded.substr(at, 30)), shown(bytes.substr(at, 30)))));
    QCOMPARE(tok.text(tok.encode("a", false)[0]).rfind("\xe2\x96\x81", 0) == 0, spaceInFront); // ▁ in front

    // llama.cpp reads the exported vocabulary as a "llama" one and merges by the scores: the same ids for the
    // corpus' first megabyte (whole lines). Not for the mixed text: llama.cpp makes some added tokens control
    // tokens by their text (Gemma 3's "</s>"), which it then leaves as text.
    if (text != "brown")
        return;
    const std::string head = bytes.substr(0, bytes.find('\n', 1 << 20) + 1);
    const QString headPath = m_dir.filePath(name + "-head.txt");
    QVERIFY(testutil::writeFile(headPath, QByteArray::fromStdString(head)));
    const QString gguf = m_dir.filePath(name + ".gguf");
    QVERIFY(testutil::writeFile(gguf, QByteArray::fromStdString(vocabulary)));
    QString error;
    const QString reference = llamaRef(&error);
    if (!error.isEmpty())
        QSKIP(qPrintable("llama.cpp's library is not available: " + error));
    std::vector<int32_t> llamaIds;
    QByteArray err;
    const QString llamaFailure = runIds(reference, {"tokenize", gguf, headPath}, &llamaIds, &err);
    QVERIFY2(llamaFailure.isEmpty(), qPrintable(llamaFailure));
    const QString llama = firstDifference(tok, llamaIds, tok.encode(head, false));
    QVERIFY2(llama.isEmpty(), qPrintable("llama.cpp: " + llama));
}

void TestTokenizer::byteFallbackForms_data()
{
    QTest::addColumn<QByteArray>("normalizer");    // tokenizer.json's, as the files spell it
    QTest::addColumn<QByteArray>("preTokenizer");
    QTest::addColumn<QByteArray>("addedToken");    // one more added token after <unk>, <s> and </s>, or ""
    QTest::addColumn<QString>("ids");              // of "ab ab é<x>ab", hand-computed; or the refusal's words
    const QByteArray prepend = R"({"type": "Prepend", "prepend": "\u2581"})";
    const QByteArray replace = R"({"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"})";
    const QByteArray sequence = R"({"type": "Sequence", "normalizers": [)" + prepend + "," + replace + "]}";
    const QByteArray cut = R"({"id": 265, "content": "<x>", "special": false, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false})";
    // ▁ab ▁ab ▁ <0xC3> <0xA9> ab: "é" has no token, so its two bytes; Gemma's form puts no ▁ in front.
    QTest::newRow("llama 2: Prepend + Replace") << sequence << QByteArray("null") << QByteArray() << "264 264 259 198 172 263";
    QTest::newRow("gemma: Replace, Split at spaces")
        << replace << QByteArray(R"({"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false})")
        << QByteArray() << "263 264 259 198 172 263";
    QTest::newRow("Metaspace, always") << QByteArray("null")
        << QByteArray(R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": false})")
        << QByteArray() << "264 264 259 198 172 263";
    // A cut-out added token: the text after it gets a ▁ in front again (each section is normalized alone).
    QTest::newRow("added token cut out") << sequence << QByteArray("null") << cut << "264 264 259 198 172 265 264";
    QTest::newRow("Metaspace, first, no added token") << QByteArray("null")
        << QByteArray(R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": false})")
        << QByteArray() << "264 264 259 198 172 263";
    QTest::newRow("Metaspace, first, an added token") << QByteArray("null")
        << QByteArray(R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": false})")
        << cut << "prepend_scheme \"first\" and added tokens";
    QTest::newRow("Metaspace with split") << QByteArray("null")
        << QByteArray(R"({"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": true})")
        << QByteArray() << "the pre-tokenizer";
    QTest::newRow("a Lowercase normalizer") << QByteArray(R"({"type": "Lowercase"})") << QByteArray("null")
        << QByteArray() << "the normalizer";
    QTest::newRow("a normalized added token") << sequence << QByteArray("null")
        << QByteArray(cut).replace(R"("normalized": false)", R"("normalized": true)")
        << "is matched after normalization";
}

// A small byte-fallback tokenizer.json in each form: the ids are hand-computed from the merges' ranks
// ("▁ a" first, so "a b" never applies after a ▁; then "▁a b"), or the file is refused naming what it has.
void TestTokenizer::byteFallbackForms()
{
    QFETCH(QByteArray, normalizer);
    QFETCH(QByteArray, preTokenizer);
    QFETCH(QByteArray, addedToken);
    QFETCH(QString, ids);
    QByteArray vocab = R"("<unk>": 0, "<s>": 1, "</s>": 2)";
    for (int b = 0; b < 256; ++b)
        vocab += ", \"<0x" + QByteArray::number(b, 16).rightJustified(2, '0').toUpper() + ">\": " + QByteArray::number(3 + b);
    vocab += R"(, "\u2581": 259, "a": 260, "b": 261, "\u2581a": 262, "ab": 263, "\u2581ab": 264)";
    QByteArray added = R"({"id": 0, "content": "<unk>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
        {"id": 1, "content": "<s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
        {"id": 2, "content": "</s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false})";
    if (!addedToken.isEmpty())
        added += "," + addedToken;
    const QByteArray json = R"({"version": "1.0", "added_tokens": [)" + added + R"(], "normalizer": )" + normalizer +
                            R"(, "pre_tokenizer": )" + preTokenizer +
                            R"(, "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true, "vocab": {)" +
                            vocab + R"(}, "merges": ["\u2581 a", "a b", "\u2581a b"]}})";
    QTemporaryDir folder;
    QVERIFY(testutil::writeFile(folder.filePath("tokenizer.json"), json));
    QVERIFY2(QJsonDocument::fromJson(json).isObject(), json.constData());
    std::vector<cw::gguf::WriteValue> kv;
    const QString error = testutil::errorOf([&] { kv = cw::lm::huggingFaceVocabulary(folder.path().toStdString()); });
    if (!ids.front().isDigit()) {
        QVERIFY2(error.contains(ids) && error.contains("tokenizer.json"), qPrintable(error));
        return;
    }
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const std::string bytes = cw::gguf::metadataOnly(kv);
    const cw::lm::Tokenizer tok =
        cw::lm::Tokenizer::fromGguf(cw::gguf::File::open(cw::MappedFile::view("tokenizer.json", bytes.data(), bytes.size())));
    const std::string text = "ab ab \xc3\xa9" + std::string(addedToken.isEmpty() ? "ab" : "<x>ab");
    const std::vector<int32_t> got = tok.encode(text, false);
    QCOMPARE(shown(got), "[" + ids + "]");
    // Decoded, the ▁ put in front of the text is taken off again; the one after an added token is not.
    QCOMPARE(tok.decode(got), addedToken.isEmpty() ? text : "ab ab \xc3\xa9<x> ab");
}

// `cwb tokenize` prints the ids and pieces; --json as {"ids": [...], "pieces": [...]}, the same as the vector.
void TestTokenizer::cliTokenize()
{
    REQUIRE_SOURCE();
    QString error;
    const std::vector<Pair> pairs = lmtestutil::readVocabPairs(vocab("gpt-2"), &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const cw::lm::Tokenizer tok = load(vocab("gpt-2"));
    for (size_t i : {size_t(9), size_t(17), size_t(18), size_t(24), size_t(pairs.size() - 1)}) {
        const Pair &p = pairs[i];
        const testutil::ProcessResult r = testutil::runCwb({"tokenize", vocab("gpt-2"), "--text", QString::fromStdString(p.text), "--json"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QJsonObject j = QJsonDocument::fromJson(r.out).object();
        std::vector<int32_t> ids;
        for (const QJsonValue &v : j["ids"].toArray())
            ids.push_back(v.toInt());
        QVERIFY2(ids == p.ids, qPrintable(shown(p.text) + ": " + shown(ids) + " != " + shown(p.ids)));
        const QJsonArray pieces = j["pieces"].toArray();
        QCOMPARE(pieces.size(), qsizetype(ids.size()));
        for (qsizetype k = 0; k < pieces.size(); ++k) {
            // A piece that is part of a character (an emoji's first bytes) shows U+FFFD in JSON.
            const std::string piece = tok.piece(ids[size_t(k)]);
            QStringDecoder utf8(QStringDecoder::Utf8, QStringDecoder::Flag::Stateless);
            const QString decoded = utf8(QByteArray::fromStdString(piece));
            if (utf8.hasError())
                QVERIFY(pieces[k].toString().contains(QChar(0xfffd)));
            else
                QCOMPARE(pieces[k].toString(), decoded);
        }
    }
    // Plain output: id<TAB>piece per line, control characters escaped; --bos puts BOS first.
    testutil::ProcessResult r = testutil::runCwb({"tokenize", vocab("llama-spm"), "--text", "Hello\n\tworld", "--bos"});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    QCOMPARE(QString::fromUtf8(r.out), QString("1\t<s>\n15043\t Hello\n13\t\\n\n12\t\\t\n11526\tworld\n"));
    // Errors: one line naming the file.
    r = testutil::runCwb({"tokenize", m_dir.filePath("missing.gguf"), "--text", "x"});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.startsWith("cwb tokenize: ") && r.err.contains("missing.gguf"), r.err.constData());
    r = testutil::runCwb({"tokenize", vocab("gpt-2")});
    QCOMPARE(r.exitCode, 1);
    QVERIFY2(r.err.contains("--text"), r.err.constData());
}

QTEST_GUILESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
