// Language models: the runner against llama.cpp itself. Small random-weight checkpoints of each supported
// architecture (llama with grouped-query attention, qwen2 with Q/K/V biases and split-half rotary pairs,
// GPT-2) carry a real vocabulary copied from llama.cpp's test vocabularies; llama.cpp (tests/tools/llama_ref,
// its prebuilt library) evaluates the same file on the same tokens, and every logit must agree to 1e-3 of the
// position's largest. Also: the KV cache (token by token = all at once), the Hugging Face safetensors layout
// of the same weights (same logits), perplexity as llama-perplexity computes it, and the errors of bad input.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/base/error.h"
#include "core/io/gguf.h"
#include "core/io/safetensors.h"
#include "core/compress/recipe.h"
#include "core/lm/allocate.h"
#include "core/lm/compress.h"
#include "core/lm/model.h"
#include "core/lm/corpus.h"
#include "core/lm/hf_tokenizer.h"
#include "core/lm/perplexity.h"
#include "core/lm/sensitivity.h"
#include "core/lm/stats.h"
#include "resources/demo_data.h"
#include "tests/lmtestutil.h"
#include "tests/testutil.h"

using lmtestutil::Spec;
using lmtestutil::writeRandomLm;

namespace {

// The Hugging Face layout of a llama model written by writeRandomLm: its tensor names, and the Q / K rows in
// split-half rotary order (llama.cpp's converter reorders them to adjacent pairs when it writes GGUF).
std::vector<std::pair<std::string, cw::Tensor>> hfLlamaTensors(const Spec &s, std::map<std::string, cw::Tensor> &w)
{
    const int64_t hd = s.headDim ? s.headDim : s.dim / s.heads;
    auto toHalves = [&](const cw::Tensor &t, int64_t heads) {
        cw::Tensor out = t.clone();
        const int64_t cols = t.shape()[1];
        for (int64_t h = 0; h < heads; ++h)
            for (int64_t i = 0; i < hd / 2; ++i)
                for (int64_t pair = 0; pair < 2; ++pair)
                    std::memcpy(out.data<float>() + (h * hd + pair * hd / 2 + i) * cols,
                                t.data<float>() + (h * hd + 2 * i + pair) * cols, size_t(cols) * 4);
        return out;
    };
    std::vector<std::pair<std::string, cw::Tensor>> hf{{"model.embed_tokens.weight", w["token_embd.weight"]},
                                                       {"model.norm.weight", w["output_norm.weight"]},
                                                       {"lm_head.weight", w["output.weight"]}};
    for (int64_t b = 0; b < s.layers; ++b) {
        const std::string p = "blk." + std::to_string(b) + ".", h = "model.layers." + std::to_string(b) + ".";
        hf.push_back({h + "input_layernorm.weight", w[p + "attn_norm.weight"]});
        hf.push_back({h + "self_attn.q_proj.weight", toHalves(w[p + "attn_q.weight"], s.heads)});
        hf.push_back({h + "self_attn.k_proj.weight", toHalves(w[p + "attn_k.weight"], s.kvHeads)});
        hf.push_back({h + "self_attn.v_proj.weight", w[p + "attn_v.weight"]});
        hf.push_back({h + "self_attn.o_proj.weight", w[p + "attn_output.weight"]});
        hf.push_back({h + "post_attention_layernorm.weight", w[p + "ffn_norm.weight"]});
        hf.push_back({h + "mlp.gate_proj.weight", w[p + "ffn_gate.weight"]});
        hf.push_back({h + "mlp.up_proj.weight", w[p + "ffn_up.weight"]});
        hf.push_back({h + "mlp.down_proj.weight", w[p + "ffn_down.weight"]});
    }
    return hf;
}

// Its config.json.
QByteArray hfLlamaConfig(const Spec &s)
{
    QJsonObject config{{"model_type", "llama"},
                       {"hidden_size", int(s.dim)},
                       {"num_hidden_layers", int(s.layers)},
                       {"num_attention_heads", int(s.heads)},
                       {"num_key_value_heads", int(s.kvHeads)},
                       {"intermediate_size", int(s.ffn)},
                       {"rms_norm_eps", 1e-6},
                       {"max_position_embeddings", int(s.ctx)}};
    if (s.headDim)
        config["head_dim"] = int(s.headDim);
    return QJsonDocument(config).toJson();
}

// Rewrites a GGUF file with the same metadata (but for `metadata`'s keys, replaced or added) and `weights`
// (float32), after replacing or (with a null tensor) dropping some of them.
void rewriteLm(const std::string &path, std::map<std::string, cw::Tensor> weights,
               const std::map<std::string, cw::Tensor> &changes, const std::vector<cw::gguf::WriteValue> &metadata = {})
{
    const cw::gguf::File f = cw::gguf::File::open(path);
    std::vector<cw::gguf::WriteValue> kv = metadata;
    for (const auto &[key, v] : f.metadata()) {
        const std::string &k = key;  // clang 14 cannot capture a structured binding
        if (k != "general.alignment" &&
            std::none_of(metadata.begin(), metadata.end(), [&](const cw::gguf::WriteValue &m) { return m.key == k; }))
            kv.push_back({k, v});
    }
    for (const auto &[name, t] : changes)
        weights[name] = t;
    std::vector<cw::gguf::WriteTensor> ts;
    for (const auto &[name, t] : weights)
        if (!t.isNull())
            ts.push_back({name, t, cw::ggml::F32});
    cw::gguf::write(path, kv, ts);
}

// Writes a Hugging Face tokenizer.json (vocab, merges as [a, b] pairs, added tokens) and tokenizer_config.json
// (BOS, added first) into `folder` holding the vocabulary of llama.cpp's test file `vocabGguf`; returns the
// tokenizer.json document.
QJsonObject writeHfTokenizer(const QString &folder, const QString &vocabGguf, const QByteArray &preTokenizer)
{
    const cw::gguf::File f = cw::gguf::File::open(vocabGguf.toStdString());
    const std::vector<std::string> &tokens = f.require("tokenizer.ggml.tokens").strings;
    const std::vector<int64_t> &types = f.require("tokenizer.ggml.token_type").integers;
    QVariantMap vocabMap; // a QJsonObject inserts in linear time: 151,643 qwen2 tokens took minutes under ASan
    QJsonArray added, merges;
    for (size_t i = 0; i < tokens.size(); ++i) {
        const QString text = QString::fromStdString(tokens[i]);
        if (types[i] == 3 || types[i] == 4)
            added.append(QJsonObject{{"id", int(i)}, {"content", text}, {"special", types[i] == 3}});
        else
            vocabMap[text] = int(i);
    }
    for (const std::string &m : f.require("tokenizer.ggml.merges").strings) {
        const QString s = QString::fromStdString(m);
        const qsizetype space = s.indexOf(' ', 1);
        merges.append(QJsonArray{s.left(space), s.mid(space + 1)});
    }
    QDir().mkpath(folder);
    QJsonObject json{{"version", "1.0"},
                     {"added_tokens", added},
                     {"pre_tokenizer", QJsonDocument::fromJson(preTokenizer).object()},
                     {"model", QJsonObject{{"type", "BPE"}, {"vocab", QJsonObject::fromVariantMap(vocabMap)}, {"merges", merges}}}};
    testutil::writeFile(folder + "/tokenizer.json", QJsonDocument(json).toJson());
    const int64_t bos = f.integer("tokenizer.ggml.bos_token_id", -1);
    testutil::writeFile(folder + "/tokenizer_config.json",
                        QJsonDocument(QJsonObject{{"bos_token", QString::fromStdString(tokens[size_t(bos)])},
                                                  {"add_bos_token", true}})
                            .toJson());
    return json;
}

QByteArray llama3PreTokenizer(); // Llama 3's pre-tokenizer as tokenizer.json spells it (after the class: moc)

std::vector<float> readFloats(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return {};
    const QByteArray b = f.readAll();
    std::vector<float> v(size_t(b.size()) / 4);
    std::memcpy(v.data(), b.data(), v.size() * 4);
    return v;
}

// The largest |ours - theirs| over a position's logits, relative to that position's largest |theirs|.
double worstRelative(const float *ours, const float *theirs, int64_t n, int64_t vocab)
{
    double worst = 0;
    for (int64_t i = 0; i < n; ++i) {
        double scale = 0, diff = 0;
        for (int64_t v = 0; v < vocab; ++v) {
            scale = std::max(scale, double(std::fabs(theirs[i * vocab + v])));
            diff = std::max(diff, double(std::fabs(ours[i * vocab + v] - theirs[i * vocab + v])));
        }
        worst = std::max(worst, diff / scale);
    }
    return worst;
}

} // namespace

class TestLm : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void logitsMatchLlamaCpp_data();
    void logitsMatchLlamaCpp();
    void cacheGivesTheSameLogits();
    void safetensorsLayoutGivesTheSameLogits();
    void gpt2SafetensorsLayoutGivesTheSameLogits();
    void huggingFaceTokenizerEncodesLikeLlamaCpp_data();
    void huggingFaceTokenizerEncodesLikeLlamaCpp();
    void safetensorsExportsToGgufThatLlamaCppRuns_data();
    void safetensorsExportsToGgufThatLlamaCppRuns();
    void safetensorsRefusesCorruptFiles_data();
    void safetensorsRefusesCorruptFiles();
    void perplexityMatchesLlamaCpp();
    void demoLmMatchesLlamaCpp();
    void weightStatsFindOutlierChannels();
    void sensitivityMeasuresEachTensorAlone();
    void refusesBadInput();
    void opensA7BCheckpointWithoutReadingIt();

private:
    QString vocabPath(const std::string &file) const { return m_source + "/models/" + QString::fromStdString(file); }
    QTemporaryDir m_dir;
    QString m_source, m_llamaRef, m_corpus, m_skip;
    QString m_mistralTokenizer; // a real SentencePiece-style tokenizer.json
};

void TestLm::initTestCase()
{
    QVERIFY(m_dir.isValid());
    QString error;
    const QMap<QString, QString> paths = lmtestutil::referencePaths(&error);
    m_source = paths.value("llama.cpp-source");
    m_mistralTokenizer = paths.value("tokenizer-json-mistral");
    if (paths.contains("brown-corpus"))
        m_corpus = QFileInfo(paths["brown-corpus"]).path();
    if (m_source.isEmpty()) {
        m_skip = "llama.cpp's reference cannot be fetched (tests/tools/fetch_models.py): " + error;
        return;
    }
    m_llamaRef = QString::fromLocal8Bit(
                     testutil::runProcess("/bin/sh", {testutil::sourcePath("tests/tools/llama_ref.sh")}, &error, 600000))
                     .trimmed();
    QVERIFY2(error.isEmpty(), qPrintable(error));
}

void TestLm::logitsMatchLlamaCpp_data()
{
    QTest::addColumn<int>("arch"); // 0 llama, 1 llama F16, 2 qwen2, 3 gpt2, 4 llama with heads of 24 in a width of 64
    QTest::newRow("llama, GQA 4/2, F32") << 0;
    QTest::newRow("llama, attention.key_length 24 (4 heads, width 64)") << 4;
    QTest::newRow("llama, F16 weights") << 1;
    QTest::newRow("qwen2, QKV biases") << 2;
    QTest::newRow("gpt2") << 3;
}

void TestLm::logitsMatchLlamaCpp()
{
    if (m_llamaRef.isEmpty())
        QSKIP(qPrintable(m_skip));
    QFETCH(int, arch);
    Spec s;
    if (arch == 1)
        s.type = cw::ggml::F16;
    if (arch == 2) {
        s.arch = "qwen2";
        s.vocabFile = "ggml-vocab-qwen2.gguf";
        s.dim = 32;
        s.heads = 4;
        s.kvHeads = 1;
        s.biases = true;
    }
    if (arch == 3) {
        s.arch = "gpt2";
        s.vocabFile = "ggml-vocab-gpt-2.gguf";
        s.heads = 4;
        s.kvHeads = 4;
    }
    if (arch == 4)
        s.headDim = 24;
    const QString path = m_dir.filePath(QStringLiteral("random-%1.gguf").arg(arch));
    writeRandomLm(s, vocabPath(s.vocabFile).toStdString(), path.toStdString());

    auto model = cw::lm::LanguageModel::open(path.toStdString());
    QCOMPARE(model->config().layers, s.layers);
    QCOMPARE(model->config().headDim, s.headDim ? s.headDim : s.dim / s.heads);
    model->load();
    const int64_t vocab = model->config().vocab;
    std::vector<int32_t> ids;
    QStringList args{"logits", path, m_dir.filePath("ref.f32")};
    for (int i = 0; i < 24; ++i) {
        ids.push_back(int32_t((i * 7919 + 17) % vocab));
        args << QString::number(ids.back());
    }
    QString error;
    testutil::runReference(m_llamaRef, args, &error, 600000, 2); // args[2]: the logits file
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const std::vector<float> ref = readFloats(m_dir.filePath("ref.f32"));
    QCOMPARE(int64_t(ref.size()), int64_t(ids.size()) * vocab);

    cw::lm::Context ctx(model, 64);
    const cw::Tensor logits = ctx.eval(ids, true);
    const double worst = worstRelative(logits.data<float>(), ref.data(), int64_t(ids.size()), vocab);
    qInfo("largest logit difference relative to the position's largest logit: %.2e", worst);
    QVERIFY2(worst <= 1e-3, qPrintable(QString::number(worst)));
}

void TestLm::cacheGivesTheSameLogits()
{
    if (m_source.isEmpty())
        QSKIP(qPrintable(m_skip));
    Spec s;
    const QString path = m_dir.filePath("cache.gguf");
    writeRandomLm(s, vocabPath(s.vocabFile).toStdString(), path.toStdString());
    auto model = cw::lm::LanguageModel::open(path.toStdString());
    model->load();
    const std::vector<int32_t> ids{1, 500, 29871, 13, 2000, 7, 31999, 42};
    cw::lm::Context all(model, 16), one(model, 16);
    const cw::Tensor whole = all.eval(ids, true);
    const int64_t vocab = model->config().vocab;
    // A prompt of three, then one token at a time; and only the last row when asked.
    const cw::Tensor first = one.eval({ids[0], ids[1], ids[2]}, false);
    QCOMPARE(first.shape(), (cw::Shape{1, vocab}));
    QVERIFY(worstRelative(first.data<float>(), whole.data<float>() + 2 * vocab, 1, vocab) < 1e-5);
    for (size_t i = 3; i < ids.size(); ++i) {
        const cw::Tensor l = one.eval({ids[i]}, true);
        QVERIFY(worstRelative(l.data<float>(), whole.data<float>() + int64_t(i) * vocab, 1, vocab) < 1e-5);
    }
    QCOMPARE(one.position(), int64_t(ids.size()));
}

void TestLm::safetensorsLayoutGivesTheSameLogits()
{
    if (m_source.isEmpty())
        QSKIP(qPrintable(m_skip));
    Spec s;
    const QString gguf = m_dir.filePath("hf.gguf");
    std::map<std::string, cw::Tensor> w = writeRandomLm(s, vocabPath(s.vocabFile).toStdString(), gguf.toStdString());
    // The Hugging Face layout of the same model: names, config.json, and Q / K rows in split-half rotary order
    // (llama.cpp's converter permutes them the other way when it writes GGUF).
    const std::vector<std::pair<std::string, cw::Tensor>> hf = hfLlamaTensors(s, w);
    const QString folder = m_dir.filePath("hf-llama");
    QVERIFY(QDir().mkpath(folder));
    // Two shards and an index, as large checkpoints come.
    std::vector<std::pair<std::string, cw::Tensor>> first(hf.begin(), hf.begin() + 5), second(hf.begin() + 5, hf.end());
    cw::safetensors::write((folder + "/model-00001-of-00002.safetensors").toStdString(), first, false);
    cw::safetensors::write((folder + "/model-00002-of-00002.safetensors").toStdString(), second, true);
    QJsonObject map;
    for (size_t i = 0; i < hf.size(); ++i)
        map[QString::fromStdString(hf[i].first)] = i < 5 ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors";
    QVERIFY(testutil::writeFile(folder + "/model.safetensors.index.json", QJsonDocument(QJsonObject{{"weight_map", map}}).toJson()));
    QVERIFY(testutil::writeFile(folder + "/config.json", hfLlamaConfig(s)));
    auto a = cw::lm::LanguageModel::open(gguf.toStdString());
    auto b = cw::lm::LanguageModel::open(folder.toStdString());
    QCOMPARE(b->config().format, std::string("safetensors"));
    QCOMPARE(b->config().vocab, a->config().vocab);
    a->load();
    b->load();
    const std::vector<int32_t> ids{1, 450, 4996, 17354, 1701, 432, 17204, 975, 278, 17366, 11203};
    cw::lm::Context ca(a, 16), cb(b, 16);
    const cw::Tensor la = ca.eval(ids), lb = cb.eval(ids);
    // The second shard holds float16: its rounding is the only difference.
    const double worst = worstRelative(lb.data<float>(), la.data<float>(), int64_t(ids.size()), a->config().vocab);
    QVERIFY2(worst < 5e-3, qPrintable(QString::number(worst)));
    // The tensor table names Hugging Face's tensors with llama.cpp's roles.
    bool found = false;
    for (const auto &e : b->tensors())
        if (e.name == "model.layers.1.mlp.down_proj.weight") {
            found = true;
            QCOMPARE(e.role, std::string("ffn_down"));
            QCOMPARE(e.block, 1);
            QCOMPARE(e.type, std::string("F16"));
        }
    QVERIFY(found);
}

void TestLm::gpt2SafetensorsLayoutGivesTheSameLogits()
{
    if (m_source.isEmpty())
        QSKIP(qPrintable(m_skip));
    // GPT-2 as Hugging Face stores it: Conv1D matrices [in, out], "transformer." prefixes, the output tied to
    // the token embedding (no lm_head), n_embd / n_head / n_layer in config.json.
    Spec s;
    s.arch = "gpt2";
    s.vocabFile = "ggml-vocab-gpt-2.gguf";
    s.kvHeads = s.heads;
    const QString gguf = m_dir.filePath("gpt2-hf.gguf");
    std::map<std::string, cw::Tensor> w = writeRandomLm(s, vocabPath(s.vocabFile).toStdString(), gguf.toStdString());
    // The GGUF file with the output tied too, so that both describe one model.
    rewriteLm(gguf.toStdString(), w, {{"output.weight", cw::Tensor()}});
    auto transposed = [](const cw::Tensor &t) {
        const int64_t r = t.shape()[0], c = t.shape()[1];
        cw::Tensor out(cw::DType::Float32, {c, r});
        for (int64_t i = 0; i < r; ++i)
            for (int64_t j = 0; j < c; ++j)
                out.data<float>()[j * r + i] = t.data<float>()[i * c + j];
        return out;
    };
    std::vector<std::pair<std::string, cw::Tensor>> hf{{"transformer.wte.weight", w["token_embd.weight"]},
                                                       {"transformer.wpe.weight", w["position_embd.weight"]},
                                                       {"transformer.ln_f.weight", w["output_norm.weight"]},
                                                       {"transformer.ln_f.bias", w["output_norm.bias"]}};
    for (int64_t b = 0; b < s.layers; ++b) {
        const std::string p = "blk." + std::to_string(b) + ".", h = "transformer.h." + std::to_string(b) + ".";
        hf.push_back({h + "ln_1.weight", w[p + "attn_norm.weight"]});
        hf.push_back({h + "ln_1.bias", w[p + "attn_norm.bias"]});
        hf.push_back({h + "attn.c_attn.weight", transposed(w[p + "attn_qkv.weight"])});
        hf.push_back({h + "attn.c_attn.bias", w[p + "attn_qkv.bias"]});
        hf.push_back({h + "attn.c_proj.weight", transposed(w[p + "attn_output.weight"])});
        hf.push_back({h + "attn.c_proj.bias", w[p + "attn_output.bias"]});
        hf.push_back({h + "ln_2.weight", w[p + "ffn_norm.weight"]});
        hf.push_back({h + "ln_2.bias", w[p + "ffn_norm.bias"]});
        hf.push_back({h + "mlp.c_fc.weight", transposed(w[p + "ffn_up.weight"])});
        hf.push_back({h + "mlp.c_fc.bias", w[p + "ffn_up.bias"]});
        hf.push_back({h + "mlp.c_proj.weight", transposed(w[p + "ffn_down.weight"])});
        hf.push_back({h + "mlp.c_proj.bias", w[p + "ffn_down.bias"]});
    }
    const QString folder = m_dir.filePath("hf-gpt2");
    QVERIFY(QDir().mkpath(folder));
    cw::safetensors::write((folder + "/model.safetensors").toStdString(), hf, false);
    QVERIFY(testutil::writeFile(folder + "/config.json",
                                QJsonDocument(QJsonObject{{"model_type", "gpt2"},
                                                          {"n_embd", int(s.dim)},
                                                          {"n_layer", int(s.layers)},
                                                          {"n_head", int(s.heads)},
                                                          {"n_inner", int(s.ffn)},
                                                          {"n_positions", int(s.ctx)},
                                                          {"layer_norm_epsilon", 1e-5}})
                                    .toJson()));
    auto a = cw::lm::LanguageModel::open(gguf.toStdString());
    auto b = cw::lm::LanguageModel::open(folder.toStdString());
    QCOMPARE(b->config().arch, cw::lm::Arch::Gpt2);
    QCOMPARE(b->config().ffn, s.ffn);
    a->load();
    b->load();
    const std::vector<int32_t> ids{464, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13};
    cw::lm::Context ca(a, 16), cb(b, 16);
    const cw::Tensor la = ca.eval(ids), lb = cb.eval(ids);
    const double worst = worstRelative(lb.data<float>(), la.data<float>(), int64_t(ids.size()), a->config().vocab);
    QVERIFY2(worst < 1e-5, qPrintable(QString::number(worst)));
    // A pruned variant exported as safetensors: the same names, shapes and Conv1D layout as the source, the
    // config and tokenizer beside it, and opened again it computes what the pruned model computes.
    {
        auto pruned = cw::lm::LanguageModel::open(folder.toStdString());
        pruned->load();
        cw::lm::compressLanguageModel(*pruned, cw::recipeFromJson(R"({"prune": {"method": "nm", "n": 2, "m": 4}})"), {});
        const QString outFolder = m_dir.filePath("hf-gpt2-pruned");
        cw::lm::exportSafetensors(*pruned, (outFolder + "/model.safetensors").toStdString(), false);
        QVERIFY(QFileInfo::exists(outFolder + "/config.json"));
        QVERIFY(testutil::errorOf([&] { cw::lm::exportSafetensors(*pruned, (folder + "/again.safetensors").toStdString(), false); })
                    .contains("source checkpoint's folder"));
        QVERIFY(testutil::errorOf([&] { cw::lm::exportSafetensors(*a, m_dir.filePath("x.safetensors").toStdString(), false); })
                    .contains("exports to GGUF"));
        const cw::safetensors::Checkpoint src = cw::safetensors::Checkpoint::open(folder.toStdString()),
                                          out = cw::safetensors::Checkpoint::open(outFolder.toStdString());
        QCOMPARE(out.tensors().size(), src.tensors().size());
        for (const auto &t : src.tensors())
            QCOMPARE(out.tensor(t.name)->shape, t.shape);
        const cw::Tensor fc = out.toFloat(*out.tensor("transformer.h.0.mlp.c_fc.weight")); // [in, out]
        int64_t zeros = 0;
        for (int64_t i = 0; i < fc.numel(); ++i)
            zeros += fc.data<float>()[i] == 0.f;
        QCOMPARE(zeros, fc.numel() / 2);
        auto reopened = cw::lm::LanguageModel::open(outFolder.toStdString());
        reopened->load();
        cw::lm::Context cp(pruned, 16), cr(reopened, 16);
        const cw::Tensor lp = cp.eval(ids), lr = cr.eval(ids);
        QVERIFY(std::memcmp(lp.data<float>(), lr.data<float>(), size_t(lp.numel()) * 4) == 0);
    }
    // MLP channels removed: the safetensors export declares the new width in config.json (n_inner), keeps the
    // Conv1D layout and reopens to the logits of the pruned model.
    {
        auto pruned = cw::lm::LanguageModel::open(folder.toStdString());
        pruned->load();
        cw::lm::compressLanguageModel(*pruned, cw::recipeFromJson(R"({"prune": {"method": "channel", "ratio": 0.5}})"), {});
        const int64_t kept = cw::lm::keptChannels(s.ffn, 0.5);
        QCOMPARE(pruned->config().ffn, kept);
        const QString outFolder = m_dir.filePath("hf-gpt2-channels");
        cw::lm::exportSafetensors(*pruned, (outFolder + "/model.safetensors").toStdString(), false);
        QFile configFile(outFolder + "/config.json");
        QVERIFY(configFile.open(QIODevice::ReadOnly));
        const QJsonObject config = QJsonDocument::fromJson(configFile.readAll()).object();
        QCOMPARE(config.value("n_inner").toInt(), int(kept));
        QCOMPARE(config.value("n_embd").toInt(), int(s.dim));
        const cw::safetensors::Checkpoint out = cw::safetensors::Checkpoint::open(outFolder.toStdString());
        QCOMPARE(out.tensor("transformer.h.0.mlp.c_fc.weight")->shape, (cw::Shape{s.dim, kept}));
        QCOMPARE(out.tensor("transformer.h.0.mlp.c_proj.weight")->shape, (cw::Shape{kept, s.dim}));
        auto reopened = cw::lm::LanguageModel::open(outFolder.toStdString());
        QCOMPARE(reopened->config().ffn, kept);
        reopened->load();
        cw::lm::Context cp(pruned, 16), cr(reopened, 16);
        const cw::Tensor lp = cp.eval(ids), lr = cr.eval(ids);
        QVERIFY(std::memcmp(lp.data<float>(), lr.data<float>(), size_t(lp.numel()) * 4) == 0);
    }
    // Statistics see the Conv1D matrix as the runner does: rows are the output channels.
    const cw::lm::WeightStats sa = cw::lm::weightStats(*a, "blk.0.ffn_up.weight");
    const cw::lm::WeightStats sb = cw::lm::weightStats(*b, "transformer.h.0.mlp.c_fc.weight");
    QCOMPARE(sb.shape, (cw::Shape{s.ffn, s.dim}));
    QCOMPARE(sb.rowMax, sa.rowMax);
    QCOMPARE(sb.columnAbsMax, sa.columnAbsMax);
}

namespace {
// Llama 3's pre-tokenizer as tokenizer.json spells it. Defined after the class: moc's lexer loses the class
// declaration after a raw string holding quotes.
QByteArray llama3PreTokenizer()
{
    return R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})";
}
} // namespace

void TestLm::huggingFaceTokenizerEncodesLikeLlamaCpp_data()
{
    QTest::addColumn<QString>("vocab");
    QTest::addColumn<QByteArray>("preTokenizer"); // tokenizer.json's "pre_tokenizer", as the real files spell it
    QTest::newRow("gpt-2") << "gpt-2" << QByteArray(R"({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true})");
    QTest::newRow("llama-bpe") << "llama-bpe" << llama3PreTokenizer();
    QTest::newRow("qwen2")
        << "qwen2"
        << QByteArray(R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]})");
}

void TestLm::huggingFaceTokenizerEncodesLikeLlamaCpp()
{
    // A Hugging Face tokenizer.json (vocab, merges — as [a, b] pairs —, added tokens) and tokenizer_config.json
    // holding the same vocabulary as llama.cpp's test file: every one of llama.cpp's test pairs encodes alike.
    if (m_source.isEmpty())
        QSKIP(qPrintable(m_skip));
    QFETCH(QString, vocab);
    QFETCH(QByteArray, preTokenizer);
    const QString base = m_source + "/models/ggml-vocab-" + vocab + ".gguf";
    const QString folder = m_dir.filePath("hf-tok-" + vocab);
    QJsonObject json = writeHfTokenizer(folder, base, preTokenizer);
    const cw::gguf::File f = cw::gguf::File::open(base.toStdString());
    const int64_t bos = f.integer("tokenizer.ggml.bos_token_id", -1);
    const std::string bytes = cw::gguf::metadataOnly(cw::lm::huggingFaceVocabulary(folder.toStdString()));
    const cw::lm::Tokenizer tok =
        cw::lm::Tokenizer::fromGguf(cw::gguf::File::open(cw::MappedFile::view("tokenizer.json", bytes.data(), bytes.size())));
    QCOMPARE(tok.bos(), int32_t(bos));
    QVERIFY(tok.addsBos());
    // llama.cpp's test pairs.
    QString error;
    const std::vector<lmtestutil::VocabPair> pairs = lmtestutil::readVocabPairs(base, &error);
    QVERIFY2(error.isEmpty() && pairs.size() > 30, qPrintable(error));
    for (const lmtestutil::VocabPair &p : pairs)
        QVERIFY2(tok.encode(p.text, false) == p.ids, p.text.c_str());
    // A Unigram file is refused by name.
    json["model"] = QJsonObject{{"type", "Unigram"}};
    QVERIFY(testutil::writeFile(folder + "/tokenizer.json", QJsonDocument(json).toJson()));
    const QString e = testutil::errorOf([&] { cw::lm::huggingFaceVocabulary(folder.toStdString()); });
    QVERIFY2(e.contains("a Unigram tokenizer is not supported"), qPrintable(e));
}

void TestLm::safetensorsExportsToGgufThatLlamaCppRuns_data()
{
    QTest::addColumn<QString>("tokenizer");
    QTest::newRow("Llama 3 tokenizer.json: byte-level BPE") << "llama3";
    QTest::newRow("Mistral's tokenizer.json: SentencePiece-style BPE, head_dim 16 in a width of 32") << "mistral";
}

void TestLm::safetensorsExportsToGgufThatLlamaCppRuns()
{
    // A llama checkpoint in Hugging Face's layout (split-half Q / K rows, a Llama 3 tokenizer.json written from
    // llama.cpp's test vocabulary, or Mistral's own) exported to GGUF: llama.cpp tokenizes a text to the same
    // ids and computes the same logits as the workbench on the original folder.
    QFETCH(QString, tokenizer);
    if (m_llamaRef.isEmpty())
        QSKIP(qPrintable(m_skip));
    const bool mistral = tokenizer == "mistral";
    if (mistral && m_mistralTokenizer.isEmpty())
        QSKIP("Mistral's tokenizer.json cannot be fetched (tests/tools/fetch_models.py)");
    Spec s;
    s.vocabFile = mistral ? "ggml-vocab-llama-spm.gguf" : "ggml-vocab-llama-bpe.gguf"; // 32,000 tokens as Mistral
    s.dim = 32;
    s.heads = 4;
    s.kvHeads = 2;
    s.biases = false;
    if (mistral) // as Mistral NeMo's config.json: head_dim apart from hidden_size / num_attention_heads
        s.headDim = 16;
    const QString gguf = m_dir.filePath("export-src.gguf");
    std::map<std::string, cw::Tensor> w = writeRandomLm(s, vocabPath(s.vocabFile).toStdString(), gguf.toStdString());
    const std::vector<std::pair<std::string, cw::Tensor>> hf = hfLlamaTensors(s, w);
    const QString folder = m_dir.filePath("hf-" + tokenizer);
    if (mistral) {
        QVERIFY(QDir().mkpath(folder));
        for (const char *file : {"tokenizer.json", "tokenizer_config.json"})
            QVERIFY(QFile::copy(QFileInfo(m_mistralTokenizer).dir().filePath(file), folder + "/" + file));
    } else {
        writeHfTokenizer(folder, vocabPath(s.vocabFile), llama3PreTokenizer());
    }
    cw::safetensors::write((folder + "/model.safetensors").toStdString(), hf, false);
    QVERIFY(testutil::writeFile(folder + "/config.json", hfLlamaConfig(s)));
    auto model = cw::lm::LanguageModel::open(folder.toStdString());
    QVERIFY(model->tokenizer());
    const QString out = m_dir.filePath("exported.gguf");
    cw::lm::exportGguf(*model, out.toStdString(), false);
    model->load();

    const std::string text = "The Fulton County Grand Jury said Friday an investigation of 1962's primary election "
                             "produced \"no evidence\" that any irregularities took place. Caf\xc3\xa9  \xf0\x9f\xa6\x99\n";
    const QString textPath = m_dir.filePath("sentence.txt");
    QVERIFY(testutil::writeFile(textPath, QByteArray::fromStdString(text)));
    const std::vector<int32_t> ids = model->tokenizer()->encode(text, true);
    QString error;
    const QStringList theirs =
        QString::fromLocal8Bit(testutil::runReference(m_llamaRef, {"tokenize", out, textPath, "--bos"}, &error))
            .split(' ', Qt::SkipEmptyParts);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(qsizetype(ids.size()), theirs.size());
    for (size_t i = 0; i < ids.size(); ++i)
        QCOMPARE(ids[i], theirs[qsizetype(i)].toInt());
    QStringList args{"logits", out, m_dir.filePath("exported.f32")};
    for (int32_t id : ids)
        args << QString::number(id);
    testutil::runReference(m_llamaRef, args, &error, 600000, 2); // args[2]: the logits file
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const std::vector<float> ref = readFloats(m_dir.filePath("exported.f32"));
    const int64_t vocab = model->config().vocab;
    QCOMPARE(int64_t(ref.size()), int64_t(ids.size()) * vocab);
    cw::lm::Context ctx(model, 64);
    const cw::Tensor logits = ctx.eval(ids);
    const double worst = worstRelative(logits.data<float>(), ref.data(), int64_t(ids.size()), vocab);
    qInfo("exported from safetensors: largest logit difference %.2e of the position's largest", worst);
    QVERIFY2(worst <= 1e-3, qPrintable(QString::number(worst)));
    if (mistral)
        return;
    // MLP channels (SwiGLU's gate with them) or heads removed: the converted file declares the new width, or the
    // head counts and head size, and llama.cpp computes the pruned model's logits; a safetensors export declares
    // them in config.json and reopens to the same logits.
    for (const QString method : {"channel", "heads"}) {
        auto pruned = cw::lm::LanguageModel::open(folder.toStdString());
        pruned->load();
        const cw::lm::LmCompressResult r = cw::lm::compressLanguageModel(
            *pruned, cw::recipeFromJson(R"({"prune": {"method": ")" + method.toStdString() + R"(", "ratio": 0.5}})"), {});
        const QString prunedOut = m_dir.filePath("exported-" + method + ".gguf");
        cw::lm::exportGguf(*pruned, prunedOut.toStdString(), false, r.encoded);
        const cw::lm::Config c = cw::lm::LanguageModel::open(prunedOut.toStdString())->config();
        QCOMPARE(c.ffn, method == "channel" ? cw::lm::keptChannels(s.ffn, 0.5) : s.ffn);
        QCOMPARE(c.heads, method == "heads" ? s.heads / 2 : s.heads);
        QCOMPARE(c.kvHeads, method == "heads" ? s.kvHeads / 2 : s.kvHeads);
        QCOMPARE(c.headDim, s.dim / s.heads);
        args[1] = prunedOut;
        args[2] = m_dir.filePath("exported-" + method + ".f32");
        testutil::runReference(m_llamaRef, args, &error, 600000, 2);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const std::vector<float> prunedRef = readFloats(args[2]);
        QCOMPARE(int64_t(prunedRef.size()), int64_t(ids.size()) * vocab);
        cw::lm::Context prunedCtx(pruned, 64);
        const cw::Tensor prunedLogits = prunedCtx.eval(ids);
        QVERIFY(std::memcmp(prunedLogits.data<float>(), logits.data<float>(), size_t(logits.numel()) * 4) != 0);
        const double prunedWorst = worstRelative(prunedLogits.data<float>(), prunedRef.data(), int64_t(ids.size()), vocab);
        QVERIFY2(prunedWorst <= 1e-3, qPrintable(QString::number(prunedWorst)));
        const QString hfOut = m_dir.filePath("hf-pruned-" + method);
        cw::lm::exportSafetensors(*pruned, hfOut.toStdString(), false);
        auto again = cw::lm::LanguageModel::open(hfOut.toStdString());
        QCOMPARE(again->config().heads, c.heads);
        QCOMPARE(again->config().kvHeads, c.kvHeads);
        QCOMPARE(again->config().headDim, c.headDim);
        QCOMPARE(again->config().ffn, c.ffn);
        again->load();
        cw::lm::Context againCtx(again, 64);
        const cw::Tensor againLogits = againCtx.eval(ids);
        QVERIFY(std::memcmp(againLogits.data<float>(), prunedLogits.data<float>(), size_t(logits.numel()) * 4) == 0);
    }
}

void TestLm::safetensorsRefusesCorruptFiles_data()
{
    QTest::addColumn<QByteArray>("header"); // the JSON header; the data section is 64 zero bytes
    QTest::addColumn<QString>("error");
    QTest::newRow("not JSON") << QByteArray("{\"a\": ") << "not valid JSON";
    QTest::newRow("not an object") << QByteArray("[1, 2]") << "not a JSON object";
    QTest::newRow("bytes do not match")
        << QByteArray(R"({"w": {"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 32]}})")
        << "tensor 'w' of F32 shape holds 9 values but 32 bytes";
    QTest::newRow("beyond the end")
        << QByteArray(R"({"w": {"dtype": "F32", "shape": [32], "data_offsets": [0, 128]}})")
        << "tensor 'w' (bytes 0 to 128 of the data";
    QTest::newRow("overlap") << QByteArray(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                              "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}})")
                             << "two tensors overlap";
    QTest::newRow("unknown dtype") << QByteArray(R"({"w": {"dtype": "F7", "shape": [1], "data_offsets": [0, 1]}})")
                                   << "unknown dtype 'F7'";
    QTest::newRow("negative dimension")
        << QByteArray(R"({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})") << "negative dimension";
    QTest::newRow("no offsets") << QByteArray(R"({"w": {"dtype": "F32", "shape": [1]}})") << "tensor 'w'";
    QTest::newRow("header beyond the file") << QByteArray() << "beyond the end of the file";
}

void TestLm::safetensorsRefusesCorruptFiles()
{
    QFETCH(QByteArray, header);
    QFETCH(QString, error);
    QByteArray bytes;
    const uint64_t n = header.isEmpty() ? 1u << 20 : uint64_t(header.size());
    bytes.append(reinterpret_cast<const char *>(&n), 8);
    bytes += header + QByteArray(64, '\0');
    const QString path = m_dir.filePath("corrupt.safetensors");
    QVERIFY(testutil::writeFile(path, bytes));
    const QString got = testutil::errorOf([&] { cw::safetensors::Checkpoint::open(path.toStdString()); });
    QVERIFY2(got.contains(error) && got.contains(path), qPrintable(got));
    // A shard index that names a file outside its folder, or a tensor its shard does not hold.
    const QString folder = m_dir.filePath("bad-index");
    QVERIFY(QDir().mkpath(folder));
    cw::safetensors::write((folder + "/a.safetensors").toStdString(), {{"x", testutil::randomTensor({2}, 1)}}, false);
    QVERIFY(testutil::writeFile(folder + "/model.safetensors.index.json", R"({"weight_map": {"x": "../a.safetensors"}})"));
    QVERIFY(testutil::errorOf([&] { cw::safetensors::Checkpoint::open(folder.toStdString()); }).contains("not a file beside the index"));
    QVERIFY(testutil::writeFile(folder + "/model.safetensors.index.json", R"({"weight_map": {"y": "a.safetensors"}})"));
    QVERIFY(testutil::errorOf([&] { cw::safetensors::Checkpoint::open(folder.toStdString()); }).contains("which does not hold it"));
}

void TestLm::perplexityMatchesLlamaCpp()
{
    if (m_llamaRef.isEmpty() || m_corpus.isEmpty())
        QSKIP(qPrintable(m_skip));
    Spec s;
    const QString path = m_dir.filePath("ppl.gguf");
    writeRandomLm(s, vocabPath(s.vocabFile).toStdString(), path.toStdString());
    // A page of the Brown corpus as plain text (its part-of-speech tags stripped).
    QFile page(m_corpus + "/ca01");
    QVERIFY(page.open(QIODevice::ReadOnly));
    QString text;
    for (const QString &word : QString::fromUtf8(page.readAll()).split(QRegularExpression("\\s+"), Qt::SkipEmptyParts))
        text += word.section('/', 0, 0) + ' ';
    const QString textPath = m_dir.filePath("ca01.txt");
    QVERIFY(testutil::writeFile(textPath, text.toUtf8()));
    QString error;
    const QStringList tokens = QString::fromLocal8Bit(testutil::runReference(m_llamaRef, {"tokenize", path, textPath, "--bos"}, &error))
                                   .split(' ', Qt::SkipEmptyParts);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QStringList ref =
        QString::fromLocal8Bit(testutil::runReference(m_llamaRef, {"perplexity", path, textPath, "64", "4"}, &error))
            .split(' ', Qt::SkipEmptyParts);
    QVERIFY2(error.isEmpty() && ref.size() == 2, qPrintable(error));
    std::vector<int32_t> ids;
    for (const QString &t : tokens)
        ids.push_back(t.toInt());
    auto model = cw::lm::LanguageModel::open(path.toStdString());
    model->load();
    cw::lm::PerplexityOptions o;
    o.ctx = 64;
    o.chunks = 4;
    o.bos = 1;
    int calls = 0;
    const cw::lm::PerplexityResult r = cw::lm::perplexity(model, ids, o, [&](double, std::string_view) { ++calls; });
    qInfo("perplexity %.4f, llama.cpp %s (%lld tokens scored)", r.perplexity, qPrintable(ref[0]), (long long)r.scored);
    QCOMPARE(r.scored, ref[1].toLongLong());
    QCOMPARE(calls, 4);
    QVERIFY2(std::fabs(r.perplexity / ref[0].toDouble() - 1) <= 0.005, qPrintable(QString::number(r.perplexity)));
    // Cancel between chunks.
    cw::StopToken stop;
    stop.requestStop();
    QVERIFY_THROWS_EXCEPTION(cw::Cancelled, cw::lm::perplexity(model, ids, o, {}, &stop));
    // Too short a text for the context.
    o.ctx = int64_t(ids.size());
    QVERIFY(testutil::errorOf([&] { cw::lm::perplexity(model, ids, o); }).contains("needs at least"));
}

void TestLm::demoLmMatchesLlamaCpp()
{
    // The built-in demo language model, as llama.cpp evaluates the same file: the same tokens for the held-out
    // text, the same logits, the same perplexity.
    const std::string_view bytes = cw::demoModelBytes("demo-lm");
    if (bytes.empty())
        QSKIP("demo-lm is not built in (resources/demo_lm.gguf is missing)");
    if (m_llamaRef.isEmpty() || m_corpus.isEmpty())
        QSKIP(qPrintable(m_skip));
    const QString path = m_dir.filePath("demo-lm.gguf");
    QVERIFY(testutil::writeFile(path, QByteArray(bytes.data(), qsizetype(bytes.size()))));
    qputenv("CW_BROWN_CORPUS", m_corpus.toLocal8Bit());
    const std::string text = cw::lm::loadText("brown:heldout");
    const QString textPath = m_dir.filePath("heldout.txt");
    QVERIFY(testutil::writeFile(textPath, QByteArray::fromStdString(text)));

    auto model = cw::lm::LanguageModel::open("demo-lm");
    QVERIFY(model->tokenizer());
    model->load();
    const cw::lm::Tokenizer &tok = *model->tokenizer();
    const std::vector<int32_t> ids = tok.encode(text, tok.addsBos());
    QString error;
    const QStringList theirs =
        QString::fromLocal8Bit(testutil::runReference(m_llamaRef, {"tokenize", path, textPath, "--bos"}, &error))
            .split(' ', Qt::SkipEmptyParts);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QCOMPARE(qsizetype(ids.size()), theirs.size());
    for (size_t i = 0; i < ids.size(); ++i)
        if (ids[i] != theirs[qsizetype(i)].toInt())
            QFAIL(qPrintable(QStringLiteral("token %1: %2, llama.cpp %3").arg(i).arg(ids[i]).arg(theirs[qsizetype(i)])));

    // Logits of the first 64 tokens.
    const int64_t vocab = model->config().vocab, n = 64;
    QStringList args{"logits", path, m_dir.filePath("demo.f32")};
    for (int64_t i = 0; i < n; ++i)
        args << QString::number(ids[size_t(i)]);
    testutil::runReference(m_llamaRef, args, &error, 600000, 2); // args[2]: the logits file
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const std::vector<float> ref = readFloats(m_dir.filePath("demo.f32"));
    QCOMPARE(int64_t(ref.size()), n * vocab);
    cw::lm::Context ctx(model, n);
    const cw::Tensor logits = ctx.eval(std::vector<int32_t>(ids.begin(), ids.begin() + n));
    const double worst = worstRelative(logits.data<float>(), ref.data(), n, vocab);
    qInfo("demo-lm logits: largest difference %.2e of the position's largest logit", worst);
    QVERIFY2(worst <= 1e-3, qPrintable(QString::number(worst)));

    // Perplexity over the first 40 chunks of the model's context.
    const QString ctxText = QString::number(model->config().contextLength);
    const QStringList ppl =
        QString::fromLocal8Bit(testutil::runReference(m_llamaRef, {"perplexity", path, textPath, ctxText, "40"}, &error))
            .split(' ', Qt::SkipEmptyParts);
    QVERIFY2(error.isEmpty() && ppl.size() == 2, qPrintable(error));
    cw::lm::PerplexityOptions o;
    o.ctx = model->config().contextLength;
    o.chunks = 40;
    o.bos = tok.bos();
    const cw::lm::PerplexityResult r = cw::lm::perplexity(model, ids, o);
    qInfo("demo-lm perplexity %.4f, llama.cpp %s (%lld tokens)", r.perplexity, qPrintable(ppl[0]), (long long)r.scored);
    QCOMPARE(r.scored, ppl[1].toLongLong());
    QVERIFY2(std::fabs(r.perplexity / ppl[0].toDouble() - 1) <= 0.005, qPrintable(QString::number(r.perplexity)));
}

void TestLm::weightStatsFindOutlierChannels()
{
    if (m_source.isEmpty())
        QSKIP(qPrintable(m_skip));
    // Input channels 7 and 30 of one block's query matrix scaled up 20x and 10x: the statistics name them, the
    // largest first, and no other tensor has any.
    Spec s;
    const QString path = m_dir.filePath("outliers.gguf");
    std::map<std::string, cw::Tensor> w = writeRandomLm(s, vocabPath(s.vocabFile).toStdString(), path.toStdString());
    cw::Tensor q = w["blk.1.attn_q.weight"].clone();
    for (int64_t r = 0; r < q.shape()[0]; ++r) {
        q.data<float>()[r * s.dim + 7] *= 20.f;
        q.data<float>()[r * s.dim + 30] *= 10.f;
    }
    rewriteLm(path.toStdString(), w, {{"blk.1.attn_q.weight", q}});
    auto model = cw::lm::LanguageModel::open(path.toStdString());
    for (const auto &e : model->tensors()) {
        const cw::lm::WeightStats st = cw::lm::weightStats(*model, e.name);
        if (e.name == "blk.1.attn_q.weight") {
            QCOMPARE(st.outlierColumns, (std::vector<int64_t>{7, 30}));
            QCOMPARE(int64_t(st.rowMin.size()), s.dim);
            QCOMPARE(int64_t(st.columnAbsMax.size()), s.dim);
            QCOMPARE(st.all.count, s.dim * s.dim);
        } else {
            QVERIFY2(st.outlierColumns.empty(), e.name.c_str());
        }
    }
    QVERIFY(testutil::errorOf([&] { cw::lm::weightStats(*model, "nope"); }).contains("has no tensor 'nope'"));
}

void TestLm::sensitivityMeasuresEachTensorAlone()
{
    if (m_source.isEmpty())
        QSKIP(qPrintable(m_skip));
    Spec s;
    const QString path = m_dir.filePath("sensitivity.gguf");
    writeRandomLm(s, vocabPath(s.vocabFile).toStdString(), path.toStdString());
    auto model = cw::lm::LanguageModel::open(path.toStdString());
    model->load();
    std::vector<int32_t> ids;
    for (int i = 0; i < 200; ++i)
        ids.push_back(int32_t((i * 7919 + 5) % model->config().vocab));
    cw::lm::SensitivityOptions o;
    o.bits = {2, 8};
    o.prune = {0.5};
    o.perplexity.ctx = 32;
    o.perplexity.chunks = 3;
    o.tensors = {"blk.1.ffn_down.weight", "blk.0.attn_k.weight"};
    int calls = 0;
    const cw::lm::SensitivityResult r =
        cw::lm::analyzeSensitivity(*model, ids, o, [&](double, std::string_view) { ++calls; });
    QCOMPARE(calls, 1 + 2 * 3);
    QCOMPARE(r.rows.size(), size_t(6));
    const double base = cw::lm::perplexity(model, ids, o.perplexity).perplexity;
    QCOMPARE(r.basePerplexity, base); // and the weights are back as they were
    // The 2-bit row of ffn_down equals the model with that one weight quantized by hand.
    auto other = cw::lm::LanguageModel::open(path.toStdString());
    other->load();
    cw::Tensor *w = other->loadedWeight("blk.1.ffn_down.weight");
    QVERIFY(w);
    cw::QuantSpec spec;
    spec.bits = 2;
    spec.granularity = cw::Granularity::Group;
    spec.groupSize = 32;
    const cw::Tensor q = cw::fakeQuantize(*w, spec, 0).dequantized;
    std::memcpy(w->data<float>(), q.data<float>(), size_t(q.numel()) * 4);
    const double byHand = cw::lm::perplexity(other, ids, o.perplexity).perplexity;
    bool found = false;
    for (const cw::lm::SensitivityRow &row : r.rows)
        if (row.tensor == "blk.1.ffn_down.weight" && row.setting == "2-bit g32") {
            found = true;
            QCOMPARE(row.perplexity, byHand);
            QVERIFY(row.perplexity != base);
            QCOMPARE(row.block, 1);
            QCOMPARE(row.role, std::string("ffn_down"));
            QVERIFY(row.sqnrDb > 0 && row.sqnrDb < 20);
        }
    QVERIFY(found);
    // 8 bits hurts less than 2 on the same tensor.
    QVERIFY(std::fabs(r.rows[1].delta) < std::fabs(r.rows[0].delta));
    // The trials run from their block's input, computed once per block: the same numbers as whole runs, bit for
    // bit — as a residual stream fed to its block gives the whole model's logits (GPT-2 with its positions too).
    o.cacheBlockInputs = false;
    const cw::lm::SensitivityResult whole = cw::lm::analyzeSensitivity(*model, ids, o);
    QCOMPARE(whole.rows.size(), r.rows.size());
    for (size_t i = 0; i < r.rows.size(); ++i)
        QVERIFY2(whole.rows[i].perplexity == r.rows[i].perplexity, r.rows[i].tensor.c_str());
    o.cacheBlockInputs = true;
    // A block whole: its matrices tested together, after each alone; the row equals the model with both changed by
    // hand, its bytes their sum. An allocation of formats reads the matrices' rows only.
    o.tensors = {"blk.0.attn_q.weight", "blk.0.ffn_down.weight"};
    o.bits = {2};
    o.prune = {};
    o.formats = {"q8_0", "q4_0"};
    o.blocks = true;
    const cw::lm::SensitivityResult blocks = cw::lm::analyzeSensitivity(*model, ids, o);
    QCOMPARE(blocks.rows.size(), size_t(3 * 3));
    const cw::lm::SensitivityRow &blockRow = blocks.rows[6];
    QCOMPARE(blockRow.tensor, std::string("blk.0"));
    QCOMPARE(blockRow.role, std::string("block"));
    QCOMPARE(blockRow.setting, std::string("2-bit g32"));
    QCOMPARE(blockRow.bytes, blocks.rows[0].bytes + blocks.rows[3].bytes);
    auto both = cw::lm::LanguageModel::open(path.toStdString());
    both->load();
    for (const char *name : {"blk.0.attn_q.weight", "blk.0.ffn_down.weight"}) {
        cw::Tensor *t = both->loadedWeight(name);
        const cw::Tensor q2 = cw::fakeQuantize(*t, spec, 0).dequantized;
        std::memcpy(t->data<float>(), q2.data<float>(), size_t(q2.numel()) * 4);
    }
    QVERIFY(blockRow.perplexity == cw::lm::perplexity(both, ids, o.perplexity).perplexity);
    QVERIFY(blockRow.delta > blocks.rows[0].delta && blockRow.delta > blocks.rows[3].delta);
    QCOMPARE(cw::lm::allocateFormats(blocks, *model, 8.0).choices.size(), size_t(2));
    // A tensor outside the blocks (the output head) runs through the whole model, beside a block's cached ones.
    o.tensors = {"output.weight", "blk.1.attn_v.weight"};
    const cw::lm::SensitivityResult head = cw::lm::analyzeSensitivity(*model, ids, o);
    QCOMPARE(head.rows.size(), size_t(2 * 3));
    QCOMPARE(head.rows[0].tensor, std::string("output.weight"));
    o.cacheBlockInputs = false;
    const cw::lm::SensitivityResult headWhole = cw::lm::analyzeSensitivity(*model, ids, o);
    for (size_t i = 0; i < head.rows.size(); ++i)
        QVERIFY(head.rows[i].perplexity == headWhole.rows[i].perplexity);
    o.cacheBlockInputs = true;
    o.blocks = false;
    auto demo = cw::lm::LanguageModel::open("demo-lm");
    demo->load();
    for (const auto &m : {std::shared_ptr<cw::lm::LanguageModel>(model), demo}) {
        std::vector<int32_t> chunk;
        for (int i = 0; i < 32; ++i)
            chunk.push_back(int32_t(ids[size_t(i)] % m->config().vocab));
        cw::lm::Context ctx(m, 32, 1);
        const cw::Tensor full = ctx.eval(chunk);
        for (int b = 0; b < int(m->config().layers); ++b) {
            ctx.reset();
            const cw::Tensor x = ctx.residualBefore(chunk, b);
            QCOMPARE(x.shape(), (cw::Shape{32, m->config().dim}));
            QCOMPARE(ctx.position(), int64_t(0));
            const cw::Tensor from = ctx.evalFrom(x, b);
            QVERIFY(from.shape() == full.shape() &&
                    std::memcmp(from.data<float>(), full.data<float>(), size_t(full.numel()) * 4) == 0);
        }
        QVERIFY(testutil::errorOf([&] { ctx.evalFrom(cw::Tensor(cw::DType::Float32, {4, 7}), 0); }).contains("residual"));
    }
    // Cancel: the weights are restored.
    cw::StopToken stop;
    int seen = 0;
    QVERIFY_THROWS_EXCEPTION(cw::Cancelled, cw::lm::analyzeSensitivity(*model, ids, o, [&](double, std::string_view) {
        if (++seen == 3)
            stop.requestStop();
    }, &stop));
    QCOMPARE(cw::lm::perplexity(model, ids, o.perplexity).perplexity, base);
    o.bits = {9};
    QVERIFY(testutil::errorOf([&] { cw::lm::analyzeSensitivity(*model, ids, o); }).contains("2..8 bits"));
    o.bits = {4};
    o.tensors = {"nope"};
    QVERIFY(testutil::errorOf([&] { cw::lm::analyzeSensitivity(*model, ids, o); }).contains("no tensor"));
}

void TestLm::refusesBadInput()
{
    if (m_source.isEmpty())
        QSKIP(qPrintable(m_skip));
    // A vocabulary file is a GGUF without a model: the error says what is missing.
    QString e = testutil::errorOf([&] { cw::lm::LanguageModel::open(vocabPath("ggml-vocab-llama-spm.gguf").toStdString()); });
    QVERIFY2(e.contains("has no token embedding"), qPrintable(e));
    Spec s;
    const QString path = m_dir.filePath("bad.gguf");
    std::map<std::string, cw::Tensor> w = writeRandomLm(s, vocabPath(s.vocabFile).toStdString(), path.toStdString());
    auto model = cw::lm::LanguageModel::open(path.toStdString());
    e = testutil::errorOf([&] { cw::lm::Context(model, 8); });
    QVERIFY2(e.contains("not loaded"), qPrintable(e));
    model->load();
    cw::lm::Context ctx(model, 4);
    e = testutil::errorOf([&] { ctx.eval({1, 2, 3, 4, 5}); });
    QVERIFY2(e.contains("do not fit"), qPrintable(e));
    e = testutil::errorOf([&] { ctx.eval({40000}); });
    QVERIFY2(e.contains("outside the vocabulary"), qPrintable(e));
    // A wrong shape names the tensor and both shapes.
    rewriteLm(path.toStdString(), w, {{"blk.1.ffn_up.weight", testutil::randomTensor({95, 64}, 1)}});
    e = testutil::errorOf([&] { cw::lm::LanguageModel::open(path.toStdString()); });
    QVERIFY2(e.contains("blk.1.ffn_up.weight is 95x64, llama needs 96x64"), qPrintable(e));
    // A head size the tensors do not have; keys and values of different sizes; rotary over part of a head.
    const auto u32 = [](const char *key, uint32_t v) { return cw::gguf::WriteValue{key, cw::gguf::makeUInt32(v)}; };
    rewriteLm(path.toStdString(), w, {}, {u32("llama.attention.key_length", 32), u32("llama.attention.value_length", 32)});
    e = testutil::errorOf([&] { cw::lm::LanguageModel::open(path.toStdString()); });
    QVERIFY2(e.contains("blk.0.attn_output.weight is 64x64, llama needs 64x128"), qPrintable(e));
    rewriteLm(path.toStdString(), w, {}, {u32("llama.attention.key_length", 16), u32("llama.attention.value_length", 32)});
    e = testutil::errorOf([&] { cw::lm::LanguageModel::open(path.toStdString()); });
    QVERIFY2(e.contains("keys and values differ in size"), qPrintable(e));
    rewriteLm(path.toStdString(), w, {},
              {u32("llama.attention.key_length", 16), u32("llama.attention.value_length", 16),
               u32("llama.rope.dimension_count", 8)});
    e = testutil::errorOf([&] { cw::lm::LanguageModel::open(path.toStdString()); });
    QVERIFY2(e.contains("rotary embeddings over part of each head"), qPrintable(e));
}

void TestLm::opensA7BCheckpointWithoutReadingIt()
{
    // The configuration and tensor table of a llama-2-7B checkpoint (F16, 13.5 GB) as a sparse file: open()
    // checks every tensor's shape, maps the file and reads none of it.
    const int64_t vocab = 32000;
    uint64_t data = 0;
    const std::string header = lmtestutil::handHeader({lmtestutil::handString("general.architecture", "llama"),
                                                       lmtestutil::handUInt32("llama.context_length", 4096),
                                                       lmtestutil::handUInt32("llama.embedding_length", 4096),
                                                       lmtestutil::handUInt32("llama.block_count", 32),
                                                       lmtestutil::handUInt32("llama.feed_forward_length", 11008),
                                                       lmtestutil::handUInt32("llama.attention.head_count", 32)},
                                                      lmtestutil::llama7bTensors(), &data);
    const QString path = m_dir.filePath("llama-7b.gguf");
    QVERIFY(lmtestutil::writeSparse(path, header, data));
    QElapsedTimer timer;
    timer.start();
    auto model = cw::lm::LanguageModel::open(path.toStdString());
    QVERIFY2(timer.elapsed() < 2000, qPrintable(QString("open took %1 ms").arg(timer.elapsed())));
    QCOMPARE(model->config().parameters, int64_t(6738415616));
    QCOMPARE(model->config().kvHeads, int64_t(32));
    QCOMPARE(model->config().vocab, vocab);
    QVERIFY(model->config().storedBytes > 13'000'000'000LL);
    // The views group the tensors by block and role.
    QCOMPARE(model->tensors()[3 + 9 * 5 + 4].role, std::string("ffn_gate"));
    QCOMPARE(model->tensors()[3 + 9 * 5 + 4].block, 5);
}

QTEST_GUILESS_MAIN(TestLm)
#include "test_lm.moc"
