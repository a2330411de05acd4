// Training a language model: every layer's backward rule against its numeric gradient (layer norm, linear, causal
// attention, GELU, embeddings; the llama family's RMSNorm, rotary positions and SwiGLU; and the whole model's loss
// with the tied output, GPT-2 and llama with grouped-query attention), training that learns, and the trained
// model saved as GGUF and run by the workbench's runner with the trainer's own loss.
#include <QtTest>

#include <cmath>
#include <functional>
#include <random>

#include "core/base/error.h"
#include "core/lm/corpus.h"
#include "core/lm/gpt_train.h"
#include "core/lm/model.h"
#include "core/lm/perplexity.h"
#include "core/train/distill.h"
#include "tests/testutil.h"

namespace {

std::vector<float> randomVector(size_t n, unsigned seed, float lo = -1.f, float hi = 1.f)
{
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(lo, hi);
    std::vector<float> v(n);
    for (float &x : v)
        x = d(rng);
    return v;
}

// Checks the analytic gradient of f with respect to `param` against central differences: f(param) must
// return the scalar loss; analytic[i] is d loss / d param[i]. Every element is checked (the arrays are small).
QString gradientMismatch(std::vector<float> &param, const std::vector<float> &analytic, const std::function<double()> &f,
                         float eps = 1e-3f, double tol = 2e-2)
{
    for (size_t i = 0; i < param.size(); ++i) {
        const float keep = param[i];
        param[i] = keep + eps;
        const double up = f();
        param[i] = keep - eps;
        const double down = f();
        param[i] = keep;
        const double numeric = (up - down) / (2.0 * double(eps));
        if (std::abs(numeric - analytic[i]) > tol * (std::abs(numeric) + 1e-2))
            return QStringLiteral("element %1: analytic %2, numeric %3").arg(i).arg(analytic[i]).arg(numeric);
    }
    return {};
}

// loss = sum(r * y), so d loss / d y = r.
double dot(const std::vector<float> &r, const std::vector<float> &y)
{
    double s = 0;
    for (size_t i = 0; i < r.size(); ++i)
        s += double(r[i]) * y[i];
    return s;
}

} // namespace

class TestLmTrain : public QObject {
    Q_OBJECT

private slots:
    void layerNormGradient();
    void linearGradient();
    void attentionGradient();
    void geluGradient();
    void embeddingGradient();
    void rmsNormGradient();
    void rotaryGradient();
    void swigluGradient();
    void modelGradient_data();
    void modelGradient();
    void learnsASequence_data();
    void learnsASequence();
    void savedModelRunsWithTheSameLoss_data();
    void savedModelRunsWithTheSameLoss();
    void trainsALanguageModelFromText_data();
    void trainsALanguageModelFromText();
    void cancels();
    void brownTextIsPlainEnglish();
    void bpeLearnsTheMostFrequentPairs();
};

void TestLmTrain::layerNormGradient()
{
    const int64_t n = 3, d = 6;
    std::vector<float> x = randomVector(n * d, 1, -2, 2), w = randomVector(d, 2, 0.5, 1.5), b = randomVector(d, 3);
    const std::vector<float> r = randomVector(n * d, 4);
    auto f = [&] {
        std::vector<float> y(n * d), mean(n), rstd(n);
        cw::lm::gpt::layerNormForward(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), n, d, 1e-5f);
        return dot(r, y);
    };
    std::vector<float> y(n * d), mean(n), rstd(n), dx(n * d), dw(d), db(d);
    cw::lm::gpt::layerNormForward(x.data(), w.data(), b.data(), y.data(), mean.data(), rstd.data(), n, d, 1e-5f);
    cw::lm::gpt::layerNormBackward(r.data(), x.data(), w.data(), mean.data(), rstd.data(), dx.data(), dw.data(),
                                   db.data(), n, d);
    QString e = gradientMismatch(x, dx, f);
    QVERIFY2(e.isEmpty(), qPrintable("dx " + e));
    e = gradientMismatch(w, dw, f);
    QVERIFY2(e.isEmpty(), qPrintable("dw " + e));
    e = gradientMismatch(b, db, f);
    QVERIFY2(e.isEmpty(), qPrintable("db " + e));
}

void TestLmTrain::linearGradient()
{
    const int64_t n = 4, in = 5, out = 3;
    std::vector<float> x = randomVector(n * in, 5), w = randomVector(out * in, 6), b = randomVector(out, 7);
    const std::vector<float> r = randomVector(n * out, 8);
    auto f = [&] {
        std::vector<float> y(n * out);
        cw::lm::gpt::linearForward(x.data(), w.data(), b.data(), y.data(), n, in, out);
        return dot(r, y);
    };
    std::vector<float> dx(n * in), dw(out * in), db(out);
    cw::lm::gpt::linearBackward(r.data(), x.data(), w.data(), dx.data(), dw.data(), db.data(), n, in, out);
    for (auto [p, g, name] : {std::tuple{&x, &dx, "dx"}, {&w, &dw, "dw"}, {&b, &db, "db"}}) {
        const QString e = gradientMismatch(*p, *g, f);
        QVERIFY2(e.isEmpty(), qPrintable(QString(name) + " " + e));
    }
}

void TestLmTrain::attentionGradient()
{
    const int64_t B = 2, T = 4, D = 6, H = 2;
    std::vector<float> qkv = randomVector(B * T * 3 * D, 9, -1.5, 1.5);
    const std::vector<float> r = randomVector(B * T * D, 10);
    auto f = [&] {
        std::vector<float> out(B * T * D), att(B * H * T * T);
        cw::lm::gpt::attentionForward(qkv.data(), out.data(), att.data(), B, T, D, H, 1);
        return dot(r, out);
    };
    std::vector<float> out(B * T * D), att(B * H * T * T), dqkv(B * T * 3 * D);
    cw::lm::gpt::attentionForward(qkv.data(), out.data(), att.data(), B, T, D, H, 2);
    // Causal: no weight above the diagonal, rows sum to one.
    for (int64_t t = 0; t < T; ++t) {
        double sum = 0;
        for (int64_t u = 0; u < T; ++u) {
            if (u > t)
                QCOMPARE(att[size_t(t * T + u)], 0.f);
            sum += att[size_t(t * T + u)];
        }
        QVERIFY(std::abs(sum - 1) < 1e-5);
    }
    cw::lm::gpt::attentionBackward(r.data(), qkv.data(), att.data(), dqkv.data(), B, T, D, H, 2);
    const QString e = gradientMismatch(qkv, dqkv, f);
    QVERIFY2(e.isEmpty(), qPrintable(e));
}

void TestLmTrain::geluGradient()
{
    std::vector<float> x = randomVector(40, 11, -4, 4);
    const std::vector<float> r = randomVector(40, 12);
    auto f = [&] {
        std::vector<float> y(40);
        cw::lm::gpt::geluForward(x.data(), y.data(), 40);
        return dot(r, y);
    };
    std::vector<float> dx(40);
    cw::lm::gpt::geluBackward(r.data(), x.data(), dx.data(), 40);
    const QString e = gradientMismatch(x, dx, f);
    QVERIFY2(e.isEmpty(), qPrintable(e));
    // Hand-computed values: GELU(1) = 0.5 (1 + tanh(sqrt(2/pi) 1.044715)) = 0.841192, GELU(0) = 0.
    const float in[2] = {1.f, 0.f};
    float y[2];
    cw::lm::gpt::geluForward(in, y, 2);
    QVERIFY(std::abs(y[0] - 0.841192f) < 1e-5f);
    QCOMPARE(y[1], 0.f);
}

void TestLmTrain::embeddingGradient()
{
    const int64_t B = 2, T = 3, D = 4, V = 5;
    const int32_t tokens[B * T] = {1, 4, 1, 0, 3, 3}; // repeated tokens accumulate
    std::vector<float> wte = randomVector(V * D, 13), wpe = randomVector(T * D, 14);
    const std::vector<float> r = randomVector(B * T * D, 15);
    auto f = [&] {
        std::vector<float> x(B * T * D);
        cw::lm::gpt::embedForward(tokens, wte.data(), wpe.data(), x.data(), B, T, D);
        return dot(r, x);
    };
    std::vector<float> dwte(V * D), dwpe(T * D);
    cw::lm::gpt::embedBackward(r.data(), tokens, dwte.data(), dwpe.data(), B, T, D);
    QString e = gradientMismatch(wte, dwte, f);
    QVERIFY2(e.isEmpty(), qPrintable("wte " + e));
    e = gradientMismatch(wpe, dwpe, f);
    QVERIFY2(e.isEmpty(), qPrintable("wpe " + e));
}

void TestLmTrain::rmsNormGradient()
{
    const int64_t n = 3, d = 6;
    std::vector<float> x = randomVector(n * d, 31, -2, 2), w = randomVector(d, 32, 0.5, 1.5);
    const std::vector<float> r = randomVector(n * d, 33);
    auto f = [&] {
        std::vector<float> y(n * d), rstd(n);
        cw::lm::gpt::rmsNormForward(x.data(), w.data(), y.data(), rstd.data(), n, d, 1e-6f);
        return dot(r, y);
    };
    std::vector<float> y(n * d), rstd(n), dx(n * d), dw(d);
    cw::lm::gpt::rmsNormForward(x.data(), w.data(), y.data(), rstd.data(), n, d, 1e-6f);
    // By hand: x = (3, 4) has mean square 12.5, so y = x / sqrt(12.5) = (0.848528, 1.131371) with w = 1.
    const float x2[2] = {3.f, 4.f}, ones[2] = {1.f, 1.f};
    float y2[2], r2;
    cw::lm::gpt::rmsNormForward(x2, ones, y2, &r2, 1, 2, 0.f);
    QVERIFY(std::abs(y2[0] - 0.848528f) < 1e-5f && std::abs(y2[1] - 1.131371f) < 1e-5f);
    cw::lm::gpt::rmsNormBackward(r.data(), x.data(), w.data(), rstd.data(), dx.data(), dw.data(), n, d);
    QString e = gradientMismatch(x, dx, f);
    QVERIFY2(e.isEmpty(), qPrintable("dx " + e));
    e = gradientMismatch(w, dw, f);
    QVERIFY2(e.isEmpty(), qPrintable("dw " + e));
}

void TestLmTrain::rotaryGradient()
{
    // Both pairings: rotating is linear, so its gradient is the rotation back; a rotation keeps every pair's length,
    // and position 0 is not rotated.
    const int64_t B = 2, T = 3, heads = 2, hd = 4;
    for (bool halves : {false, true}) {
        std::vector<float> x = randomVector(B * T * heads * hd, 34);
        const std::vector<float> r = randomVector(x.size(), 35);
        auto f = [&] {
            std::vector<float> y = x;
            cw::lm::gpt::rotary(y.data(), B, T, heads, hd, 100.0, halves, false);
            return dot(r, y);
        };
        std::vector<float> dx = r;
        cw::lm::gpt::rotary(dx.data(), B, T, heads, hd, 100.0, halves, true);
        const QString e = gradientMismatch(x, dx, f);
        QVERIFY2(e.isEmpty(), qPrintable(QString(halves ? "halves " : "pairs ") + e));
        std::vector<float> y = x;
        cw::lm::gpt::rotary(y.data(), B, T, heads, hd, 100.0, halves, false);
        for (int64_t i = 0; i < heads * hd; ++i)
            QCOMPARE(y[size_t(i)], x[size_t(i)]);
        const size_t row = size_t((T + 1) * heads * hd); // sequence 1, position 1, head 0: pair 0 rotated by 1 radian
        const size_t a = row, b = halves ? row + 2 : row + 1;
        QVERIFY(std::abs(y[a] - (x[a] * std::cos(1.f) - x[b] * std::sin(1.f))) < 1e-6f);
        QVERIFY(std::abs(y[a] * y[a] + y[b] * y[b] - (x[a] * x[a] + x[b] * x[b])) < 1e-5f);
    }
}

void TestLmTrain::swigluGradient()
{
    std::vector<float> gate = randomVector(30, 36, -4, 4), up = randomVector(30, 37, -2, 2);
    const std::vector<float> r = randomVector(30, 38);
    auto f = [&] {
        std::vector<float> y(30);
        cw::lm::gpt::swigluForward(gate.data(), up.data(), y.data(), 30);
        return dot(r, y);
    };
    std::vector<float> dgate(30), dup(30);
    cw::lm::gpt::swigluBackward(r.data(), gate.data(), up.data(), dgate.data(), dup.data(), 30);
    QString e = gradientMismatch(gate, dgate, f);
    QVERIFY2(e.isEmpty(), qPrintable("dgate " + e));
    e = gradientMismatch(up, dup, f);
    QVERIFY2(e.isEmpty(), qPrintable("dup " + e));
    // By hand: silu(1) * 2 = 2 / (1 + e^-1) = 1.462117.
    const float g = 1.f, u = 2.f;
    float y;
    cw::lm::gpt::swigluForward(&g, &u, &y, 1);
    QVERIFY(std::abs(y - 1.462117f) < 1e-5f);
}

namespace {

// A small model for the whole-model checks: GPT-2, or llama with 4 query heads of 4 values sharing 2 key / value
// heads (adjacent rotary pairs), or qwen2-like (Q / K / V biases, split-half pairs).
cw::lm::GptShape tinyShape(const QString &arch)
{
    cw::lm::GptShape s;
    s.vocab = 11;
    s.ctx = 5;
    s.dim = 8;
    s.layers = 2;
    s.heads = 2;
    s.ffn = 12;
    if (arch != "gpt2") {
        s.arch = cw::lm::Arch::Llama;
        s.dim = 16;
        s.heads = 4;
        s.kvHeads = 2;
        s.ropeTheta = 50;
        s.normEps = 1e-6f;
        s.qkvBias = s.ropeHalves = arch == "qwen2";
        if (arch == "llama-hd") // heads of 6 values: the attention is 24 wide in a model of width 16
            s.headDim = 6;
    }
    return s;
}

} // namespace

void TestLmTrain::modelGradient_data()
{
    QTest::addColumn<QString>("arch");
    QTest::addColumn<QString>("parameter");
    QTest::addColumn<bool>("distill");
    for (const char *p : {"token_embd.weight", "position_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_qkv.weight",
                          "blk.0.attn_qkv.bias", "blk.1.attn_output.weight", "blk.1.ffn_up.weight", "blk.1.ffn_down.bias",
                          "blk.0.ffn_norm.bias", "output_norm.weight"})
        QTest::newRow(p) << "gpt2" << QString(p) << false;
    for (const char *p : {"token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_k.weight",
                          "blk.1.attn_v.weight", "blk.1.attn_output.weight", "blk.0.ffn_gate.weight", "blk.1.ffn_up.weight",
                          "blk.0.ffn_down.weight", "blk.1.ffn_norm.weight", "output_norm.weight"})
        QTest::newRow(qPrintable(QStringLiteral("llama %1").arg(p))) << "llama" << QString(p) << false;
    for (const char *p : {"blk.0.attn_q.weight", "blk.1.attn_k.weight", "blk.0.attn_q.bias", "blk.1.attn_k.bias",
                          "blk.0.attn_v.bias"})
        QTest::newRow(qPrintable(QStringLiteral("qwen2 %1").arg(p))) << "qwen2" << QString(p) << false;
    for (const char *p : {"blk.0.attn_q.weight", "blk.1.attn_k.weight", "blk.0.attn_v.weight", "blk.1.attn_output.weight"})
        QTest::newRow(qPrintable(QStringLiteral("llama, head dimension 6 %1").arg(p))) << "llama-hd" << QString(p) << false;
    // The llama family's optional biases, added to the model for the row.
    for (const char *p : {"blk.0.attn_output.bias", "blk.1.ffn_up.bias", "blk.0.ffn_down.bias"})
        QTest::newRow(qPrintable(QStringLiteral("llama %1").arg(p))) << "llama" << QString(p) << false;
    // The distillation loss on the token logits (fine-tuning a compressed model), through an untied output head.
    for (const char *p : {"token_embd.weight", "output.weight", "blk.1.attn_qkv.weight", "blk.0.ffn_down.weight"})
        QTest::newRow(qPrintable(QStringLiteral("distill %1").arg(p))) << "gpt2" << QString(p) << true;
    for (const char *p : {"output.weight", "blk.1.attn_k.weight"})
        QTest::newRow(qPrintable(QStringLiteral("distill llama %1").arg(p))) << "llama" << QString(p) << true;
}

void TestLmTrain::modelGradient()
{
    // The whole model: the cross-entropy of next-token prediction through two blocks and the tied output; or the
    // distillation loss (T = 2, alpha = 0.6) against fixed teacher logits through an untied output head.
    QFETCH(QString, arch);
    QFETCH(QString, parameter);
    QFETCH(bool, distill);
    const cw::lm::GptShape s = tinyShape(arch);
    cw::lm::Gpt model(s, 3);
    if (!model.parameters().count(parameter.toStdString())) // an optional bias
        model.parameters()[parameter.toStdString()] =
            cw::Tensor(cw::DType::Float32, {parameter.contains("ffn_up") ? s.ffn : s.dim});
    if (distill)
        model.parameters()["output.weight"] = model.parameters().at("token_embd.weight").clone();
    // Larger weights than the initialisation, so that every path carries gradient.
    for (auto &[name, t] : model.parameters()) {
        const std::vector<float> v = randomVector(size_t(t.numel()), unsigned(qHash(QString::fromStdString(name))), -0.5, 0.5);
        for (int64_t i = 0; i < t.numel(); ++i)
            t.data<float>()[i] += v[size_t(i)];
    }
    const int32_t tokens[2 * 6] = {1, 5, 2, 10, 0, 3, 7, 7, 4, 9, 1, 2};
    cw::Tensor teacher(cw::DType::Float32, {10, s.vocab});
    const std::vector<float> t = randomVector(size_t(teacher.numel()), 17, -3, 3);
    std::copy(t.begin(), t.end(), teacher.data<float>());
    cw::lm::Gpt::LogitsLoss loss;
    if (distill)
        loss = [&](const cw::Tensor &logits, const std::vector<int64_t> &targets, cw::Tensor *dlogits) {
            return cw::distillationLoss(logits, teacher, &targets, 2.f, 0.6f, dlogits);
        };
    std::map<std::string, cw::Tensor> grads;
    model.loss(tokens, 2, 5, &grads, 1, loss);
    cw::Tensor &p = model.parameters().at(parameter.toStdString());
    std::vector<float> values(p.data<float>(), p.data<float>() + p.numel());
    const cw::Tensor &g = grads.at(parameter.toStdString());
    const std::vector<float> analytic(g.data<float>(), g.data<float>() + g.numel());
    auto f = [&] {
        std::copy(values.begin(), values.end(), p.data<float>());
        return model.loss(tokens, 2, 5, nullptr, 1, loss);
    };
    const QString e = gradientMismatch(values, analytic, f, 3e-3f, 3e-2);
    QVERIFY2(e.isEmpty(), qPrintable(e));
}

void TestLmTrain::learnsASequence_data()
{
    QTest::addColumn<QString>("arch");
    for (const char *a : {"gpt2", "llama"})
        QTest::newRow(a) << QString(a);
}

void TestLmTrain::learnsASequence()
{
    // A text that repeats a 7-token phrase: a model that learns drives the loss near zero (chance: log 13 = 2.56).
    QFETCH(QString, arch);
    cw::lm::GptShape s = tinyShape(arch);
    s.vocab = 13;
    s.ctx = 16;
    s.dim = 32;
    s.layers = 2;
    s.heads = 2;
    s.kvHeads = s.arch == cw::lm::Arch::Llama ? 1 : 0; // llama: both query heads share one key / value head
    s.ffn = 64;
    cw::lm::Gpt model(s, 1);
    std::vector<int32_t> text;
    for (int i = 0; i < 400; ++i)
        text.push_back(int32_t(std::vector<int>{3, 1, 4, 1, 5, 9, 2}[size_t(i % 7)]));
    cw::lm::GptTrainOptions o;
    o.steps = 150;
    o.batch = 8;
    o.lr = 3e-3f;
    o.warmup = 10;
    o.evalEvery = 50;
    o.evalBatches = 2;
    o.threads = 1;
    std::vector<cw::lm::GptTrainStep> log;
    cw::lm::trainGpt(model, text, text, o, [&](const cw::lm::GptTrainStep &st) { log.push_back(st); });
    QCOMPARE(int64_t(log.size()), o.steps);
    QVERIFY(log.front().loss > 2.0);
    QVERIFY2(log.back().heldOutLoss >= 0 && log.back().heldOutLoss < 0.1, qPrintable(QString::number(log.back().heldOutLoss)));
    QVERIFY(log[49].heldOutLoss >= 0 && log[48].heldOutLoss < 0); // measured every evalEvery steps only
}

void TestLmTrain::savedModelRunsWithTheSameLoss_data()
{
    QTest::addColumn<QString>("arch");
    QTest::addColumn<bool>("untied"); // llama: with an output head and the optional biases of every block
    for (const char *a : {"gpt2", "llama", "qwen2"})
        QTest::newRow(a) << QString(a) << false;
    QTest::newRow("llama, untied output head, output and MLP biases") << "llama" << true;
    QTest::newRow("llama, heads of 6 in a width of 16") << "llama-hd" << false;
}

void TestLmTrain::savedModelRunsWithTheSameLoss()
{
    // The trainer's forward and the runner (core/lm/model.h) are separate code: the same weights through both
    // give the same next-token loss; and the model the runner loads is the trainer's again (fromModel).
    QFETCH(QString, arch);
    QFETCH(bool, untied);
    cw::lm::GptShape s = tinyShape(arch);
    s.vocab = 50;
    s.ctx = 24;
    s.dim = 16;
    s.ffn = 40;
    s.heads = 4;
    cw::lm::Gpt model(s, 5);
    if (untied) {
        model.parameters()["output.weight"] = cw::Tensor(cw::DType::Float32, {s.vocab, s.dim});
        for (int l = 0; l < s.layers; ++l)
            for (const char *b : {"attn_output", "ffn_up", "ffn_down"})
                model.parameters()["blk." + std::to_string(l) + "." + b + ".bias"] =
                    cw::Tensor(cw::DType::Float32, {std::string(b) == "ffn_up" ? s.ffn : s.dim});
    }
    for (auto &[name, t] : model.parameters()) {
        const std::vector<float> v = randomVector(size_t(t.numel()), 99, -0.3f, 0.3f);
        for (int64_t i = 0; i < t.numel(); ++i)
            t.data<float>()[i] += v[size_t(i)];
    }
    QTemporaryDir dir;
    const std::string path = dir.filePath("gpt.gguf").toStdString();
    model.save(path, {{"general.name", cw::gguf::makeString("test gpt")}}, false);
    std::vector<int32_t> ids;
    for (int i = 0; i < 25; ++i)
        ids.push_back((i * 17 + 3) % 50);
    const double trainerLoss = model.loss(ids.data(), 1, 24, nullptr, 1);
    auto lm = cw::lm::LanguageModel::open(path);
    QCOMPARE(lm->config().arch, s.arch);
    QCOMPARE(lm->config().archName, arch.section('-', 0, 0).toStdString());
    QCOMPARE(lm->config().headDim, s.headDimension());
    QCOMPARE(lm->config().parameters, model.parameterCount());
    lm->load();
    const cw::lm::Gpt again = cw::lm::Gpt::fromModel(*lm);
    QCOMPARE(again.shape().kvHeadCount(), s.kvHeadCount());
    QCOMPARE(again.shape().headDimension(), s.headDimension());
    QCOMPARE(again.shape().qkvBias, s.qkvBias);
    QCOMPARE(again.shape().ropeHalves, s.ropeHalves);
    QCOMPARE(again.parameterCount(), model.parameterCount());
    QCOMPARE(again.loss(ids.data(), 1, 24, nullptr, 1), trainerLoss);
    cw::lm::Context ctx(lm, 24);
    const cw::Tensor logits = ctx.eval(std::vector<int32_t>(ids.begin(), ids.begin() + 24));
    double nll = 0;
    for (int t = 0; t < 24; ++t) {
        const float *l = logits.data<float>() + t * 50;
        const float mx = *std::max_element(l, l + 50);
        double sum = 0;
        for (int v = 0; v < 50; ++v)
            sum += std::exp(double(l[v] - mx));
        nll -= double(l[ids[size_t(t + 1)]] - mx) - std::log(sum);
    }
    QVERIFY2(std::abs(nll / 24 - trainerLoss) < 1e-4, qPrintable(QString("%1 vs %2").arg(nll / 24).arg(trainerLoss)));
}

void TestLmTrain::trainsALanguageModelFromText_data()
{
    QTest::addColumn<QString>("arch");
    for (const char *a : {"gpt2", "llama"})
        QTest::newRow(a) << QString(a);
}

void TestLmTrain::trainsALanguageModelFromText()
{
    // `cwb train-lm` end to end on a small text: a vocabulary learned, a model of the chosen architecture trained,
    // saved with its tokenizer and provenance, and its held-out perplexity measured on the saved file (the value
    // the file records); it beats chance by far on text this repetitive.
    QFETCH(QString, arch);
    cw::lm::LanguageModelTraining o;
    const std::vector<std::string> sentences = {"The jury said the city was well run. ", "The cat sat on the mat. ",
                                                "A dog ran in the park and the cat sat still. "};
    for (int d = 0; d < 12; ++d) {
        std::string doc;
        for (int i = 0; i < 20; ++i)
            doc += sentences[size_t((d + i) % 3)];
        (d < 10 ? o.trainDocuments : o.heldOutDocuments).push_back(doc);
    }
    o.corpusName = "test sentences";
    o.vocabSize = 300;
    o.shape.dim = 16;
    o.shape.layers = 1;
    o.shape.heads = 2;
    o.shape.ffn = 32;
    o.shape.ctx = 16;
    if (arch == "llama") {
        o.shape.arch = cw::lm::Arch::Llama;
        o.shape.kvHeads = 1;
    }
    o.train.steps = 60;
    o.train.batch = 8;
    o.train.lr = 1e-2f;
    o.train.warmup = 5;
    o.train.threads = 1;
    o.command = "cwb train-lm (test)";
    QTemporaryDir dir;
    const std::string path = dir.filePath("trained.gguf").toStdString();
    const cw::lm::LanguageModelTrained r = cw::lm::trainLanguageModel(o, path);
    auto lm = cw::lm::LanguageModel::open(path);
    QCOMPARE(QString::fromStdString(lm->config().archName), arch);
    QCOMPARE(lm->config().kvHeads, arch == "llama" ? int64_t(1) : int64_t(2));
    QCOMPARE(lm->config().parameters, r.parameters);
    QVERIFY(lm->tokenizer());
    QCOMPARE(lm->config().vocab, int64_t(300));
    std::map<std::string, std::string> meta(lm->metadata().begin(), lm->metadata().end());
    QCOMPARE(QString::fromStdString(meta["workbench.heldout_perplexity"]), QString::asprintf("%.4f", r.heldOutPerplexity));
    qInfo("held-out perplexity %.2f after %lld steps", r.heldOutPerplexity, (long long)o.train.steps);
    QVERIFY(r.heldOutPerplexity > 1 && r.heldOutPerplexity < 20); // chance: 300
}

void TestLmTrain::cancels()
{
    cw::lm::GptShape s;
    s.vocab = 13;
    s.ctx = 8;
    s.dim = 8;
    s.layers = 1;
    s.heads = 1;
    s.ffn = 8;
    cw::lm::Gpt model(s, 1);
    std::vector<int32_t> text(100, 1);
    cw::StopToken stop;
    int steps = 0;
    cw::lm::GptTrainOptions o;
    o.steps = 1000;
    o.batch = 2;
    QVERIFY_THROWS_EXCEPTION(cw::Cancelled, cw::lm::trainGpt(model, text, text, o, [&](const cw::lm::GptTrainStep &) {
        if (++steps == 3)
            stop.requestStop();
    }, &stop));
    QCOMPARE(steps, 3);
    QVERIFY(testutil::errorOf([&] { cw::lm::trainGpt(model, {1, 2}, {}, o); }).contains("fewer than a context"));
}

void TestLmTrain::brownTextIsPlainEnglish()
{
    // Tags stripped, `` and '' as quotes, closing punctuation against its word, one sentence per line.
    const std::string tagged = "\n\n\tThe/at Fulton/np-tl jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ./.\n\n"
                               "\tIt/pps (/( was/bedz )/) good/jj ,/, he's/pps+hvz fine/jj ./.\n";
    QCOMPARE(cw::lm::brownPlainText(tagged),
             std::string("The Fulton jury said \"no evidence\".\nIt (was) good, he's fine.\n"));
}

void TestLmTrain::bpeLearnsTheMostFrequentPairs()
{
    // Hand-counted: "e s", "s t" and "w e" occur 4 times (ties go to the pair made of the earliest tokens: "e s"),
    // then "es t" 4 times, then five pairs 3 times, of which "e w" has the earliest tokens.
    const std::vector<std::string> words{"low", "low", "lower", "newest", "newest", "newest", "widest"};
    const cw::lm::BpeVocabulary v = cw::lm::trainBpe(words, 259);
    QCOMPARE(v.merges, (std::vector<std::string>{"e s", "es t", "e w"}));
    QCOMPARE(v.tokens.size(), size_t(259));
    QCOMPARE(v.tokens[256], std::string("es"));
    QCOMPARE(v.tokens[257], std::string("est"));
    QCOMPARE(v.tokens[' '], std::string("\xc4\xa0")); // GPT-2's stand-in for the space byte, U+0120
    // It stops when no pair occurs twice.
    QCOMPARE(cw::lm::trainBpe({"ab", "cd"}, 1000).merges.size(), size_t(0));
}

QTEST_GUILESS_MAIN(TestLmTrain)
#include "test_lm_train.moc"
