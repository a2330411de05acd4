// Knowledge distillation: each loss against its numeric gradient (the T^2 scaling included) and a hand-computed
// value, alpha = 0 as plain training step for step, the small-temperature limit, a student converging to its
// teacher, feature distillation through an adapter inside the trainer, unlabelled data, students, the job's
// cancel path and the recipe's distill block.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/analysis/fidelity.h"
#include "core/base/error.h"
#include "core/compress/compress.h"
#include "core/compress/distill.h"
#include "core/compress/recipe.h"
#include "core/runtime/session.h"
#include "core/train/demo_models.h"
#include "core/train/distill.h"
#include "core/train/train.h"
#include "testutil.h"

using namespace cw;
using testutil::blobs;
using testutil::sameWeights;
using testutil::twoConvs;

namespace {

// x [N, 2] -> fc1 (hidden) -> relu -> fc2 -> logits [N, 3].
Model mlp(int64_t hidden, unsigned seed)
{
    Model m;
    m.sourcePath = "mlp";
    Graph &g = m.graph;
    g.inputs = {ValueInfo{"x", DType::Float32, {-1, 2}, true}};
    g.outputs = {ValueInfo{"logits", DType::Float32, {-1, 3}, true}};
    g.initializers["W1"] = testutil::randomTensor({hidden, 2}, seed);
    g.initializers["b1"] = testutil::randomTensor({hidden}, seed + 1, -0.1f, 0.1f);
    g.initializers["W2"] = testutil::randomTensor({3, hidden}, seed + 2, -0.5f, 0.5f);
    g.initializers["b2"] = Tensor(DType::Float32, {3});
    Node fc1{"fc1", "Gemm", "", {"x", "W1", "b1"}, {"h"}, {{"transB", Attribute::makeInt(1)}}};
    Node relu{"relu", "Relu", "", {"h"}, {"r"}, {}};
    Node fc2{"fc2", "Gemm", "", {"r", "W2", "b2"}, {"logits"}, {{"transB", Attribute::makeInt(1)}}};
    g.nodes = {fc1, relu, fc2};
    return m;
}

// Random images [n, 1, 28, 28] in [0, 1] with random labels: enough to run the demo architectures.
Dataset images(int64_t n, unsigned seed)
{
    Dataset d;
    d.name = "random-images";
    d.x = testutil::randomTensor({n, 1, 28, 28}, seed, 0.f, 1.f);
    for (int64_t i = 0; i < n; ++i)
        d.labels.push_back((i * 7 + seed) % 10);
    return d;
}

// Central differences of f at every element of x (perturbed in place, restored), against `analytic`.
template <typename F> void checkGradient(Tensor &x, const Tensor &analytic, F f, float eps, double tol)
{
    QCOMPARE(analytic.shape(), x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) {
        const float saved = x.f32()[i];
        x.f32()[i] = saved + eps;
        const double up = f();
        x.f32()[i] = saved - eps;
        const double down = f();
        x.f32()[i] = saved;
        const double numeric = (up - down) / (2.0 * double(eps));
        const double a = analytic.f32()[i];
        if (std::abs(numeric - a) > tol * (1.0 + std::abs(numeric)))
            QFAIL(qPrintable(QStringLiteral("element %1: analytic %2, numeric %3").arg(i).arg(a).arg(numeric)));
    }
}

Dataset unlabelled(Dataset d)
{
    d.labels.clear();
    return d;
}

// Mean KL(teacher || student) of the two models' softmax outputs on x.
double meanKl(const Model &teacher, const Model &student, const Tensor &x)
{
    const Tensor t = Session(teacher).run(x), s = Session(student).run(x);
    const double soft = distillationLoss(s, t, nullptr, 1.f, 1.f);
    return soft; // alpha 1, T 1: exactly the mean KL
}

} // namespace

class TestDistill : public QObject {
    Q_OBJECT

private slots:
    void handComputedSoftLoss()
    {
        // T = 2: teacher logits [2 ln 3, 0] give p_t = [3/4, 1/4]; student [0, 0] gives [1/2, 1/2].
        // KL = 3/4 ln 1.5 + 1/4 ln 0.5; soft = alpha T^2 KL; d/dz_s = alpha T (p_s - p_t) / N.
        const Tensor zs = Tensor::fromFloats({1, 2}, {0.f, 0.f});
        const Tensor zt = Tensor::fromFloats({1, 2}, {float(2 * std::log(3.0)), 0.f});
        Tensor grad;
        DistillLossParts parts;
        const double loss = distillationLoss(zs, zt, nullptr, 2.f, 1.f, &grad, &parts);
        const double kl = 0.75 * std::log(1.5) + 0.25 * std::log(0.5);
        QVERIFY(std::abs(loss - 4 * kl) < 1e-6);
        QVERIFY(std::abs(parts.soft - 4 * kl) < 1e-6);
        QCOMPARE(parts.hard, 0.0);
        QVERIFY(std::abs(grad.f32()[0] - (-0.5f)) < 1e-6f);
        QVERIFY(std::abs(grad.f32()[1] - 0.5f) < 1e-6f);
    }

    void logitLossGradient_data()
    {
        QTest::addColumn<float>("temperature");
        QTest::addColumn<float>("alpha");
        QTest::addColumn<bool>("labelled");
        QTest::newRow("T1 alpha0") << 1.f << 0.f << true;
        QTest::newRow("T4 alpha0.7") << 4.f << 0.7f << true;
        QTest::newRow("T2 alpha0.3") << 2.f << 0.3f << true;
        QTest::newRow("T8 alpha1 unlabelled") << 8.f << 1.f << false;
    }

    void logitLossGradient()
    {
        QFETCH(float, temperature);
        QFETCH(float, alpha);
        QFETCH(bool, labelled);
        Tensor zs = testutil::randomTensor({4, 5}, 3, -3.f, 3.f);
        const Tensor zt = testutil::randomTensor({4, 5}, 4, -3.f, 3.f);
        const std::vector<int64_t> labels{0, 3, 4, 1};
        const std::vector<int64_t> *l = labelled ? &labels : nullptr;
        Tensor grad;
        distillationLoss(zs, zt, l, temperature, alpha, &grad);
        checkGradient(zs, grad, [&] { return distillationLoss(zs, zt, l, temperature, alpha); }, 1e-2f, 2e-3);
    }

    void alphaOneSmallTemperatureIsCrossEntropyOnTheTeachersTopOne()
    {
        // At a temperature far below the teacher's logit gaps its distribution is one-hot at its top-1, and the
        // soft loss becomes T^2 CE(z_s / T, argmax z_t) (a constant entropy term vanishes).
        const Tensor zs = testutil::randomTensor({6, 4}, 5, -0.05f, 0.05f);
        Tensor zt = testutil::randomTensor({6, 4}, 6, -1.f, 1.f);
        std::vector<int64_t> top;
        for (int64_t n = 0; n < 6; ++n) {
            float *row = zt.f32() + n * 4;
            row[n % 4] = 3.f; // a clear winner, gaps >= 2
            top.push_back(n % 4);
        }
        const float T = 0.05f;
        Tensor scaled = Tensor(DType::Float32, zs.shape());
        for (int64_t i = 0; i < zs.numel(); ++i)
            scaled.f32()[i] = zs.f32()[i] / T;
        Tensor gradKd, gradCe;
        const double kd = distillationLoss(zs, zt, nullptr, T, 1.f, &gradKd);
        const double ce = softmaxCrossEntropy(scaled, top, &gradCe);
        QVERIFY2(std::abs(kd - double(T) * T * ce) < 1e-6 * (1 + ce), qPrintable(QString::number(kd - T * T * ce)));
        for (int64_t i = 0; i < zs.numel(); ++i) // d/dz_s of T^2 CE(z_s / T) = T * dCE/d(z_s / T)
            QVERIFY(std::abs(gradKd.f32()[i] - T * gradCe.f32()[i]) < 1e-6f);
    }

    void featureLossGradient_data()
    {
        QTest::addColumn<int>("kind");
        QTest::addColumn<int>("teacherChannels");
        QTest::newRow("l2") << int(FeatureLoss::L2) << 3;
        QTest::newRow("cosine") << int(FeatureLoss::Cosine) << 3;
        QTest::newRow("attention, equal channels") << int(FeatureLoss::Attention) << 3;
        QTest::newRow("attention, other channels") << int(FeatureLoss::Attention) << 5;
    }

    void featureLossGradient()
    {
        QFETCH(int, kind);
        QFETCH(int, teacherChannels);
        Tensor s = testutil::randomTensor({2, 3, 4, 4}, 7);
        const Tensor t = testutil::randomTensor({2, int64_t(teacherChannels), 4, 4}, 8);
        Tensor grad;
        const FeatureLoss k = FeatureLoss(kind);
        const double loss = featureLoss(k, s, t, &grad);
        QVERIFY(loss > 0);
        checkGradient(s, grad, [&] { return featureLoss(k, s, t); }, 1e-2f, 3e-3);
        QVERIFY(featureLoss(k, t.shape() == s.shape() ? t : s, t.shape() == s.shape() ? t : s) < 1e-12);
    }

    void adapterGradient()
    {
        // L2 loss after a 1x1 adapter from 3 to 5 channels: gradients for the input, weight and bias.
        FeatureAdapter a;
        a.weight = testutil::randomTensor({5, 3}, 9);
        a.bias = testutil::randomTensor({5}, 10);
        Tensor x = testutil::randomTensor({2, 3, 3, 2}, 11);
        const Tensor t = testutil::randomTensor({2, 5, 3, 2}, 12);
        auto loss = [&] { return featureLoss(FeatureLoss::L2, a.forward(x), t); };
        Tensor dy;
        featureLoss(FeatureLoss::L2, a.forward(x), t, &dy);
        Tensor dW, db;
        const Tensor dx = a.backward(x, dy, &dW, &db);
        checkGradient(x, dx, loss, 1e-2f, 3e-3);
        checkGradient(a.weight, dW, loss, 1e-2f, 3e-3);
        checkGradient(a.bias, db, loss, 1e-2f, 3e-3);
        // Rank-2 features: the adapter is a linear layer.
        Tensor x2 = testutil::randomTensor({4, 3}, 13);
        const Tensor t2 = testutil::randomTensor({4, 5}, 14);
        Tensor dy2;
        featureLoss(FeatureLoss::Cosine, a.forward(x2), t2, &dy2);
        const Tensor dx2 = a.backward(x2, dy2, &dW, &db);
        checkGradient(x2, dx2, [&] { return featureLoss(FeatureLoss::Cosine, a.forward(x2), t2); }, 1e-2f, 3e-3);
    }

    void featureGradientThroughTheTrainer()
    {
        // The whole loss (hard + soft + feature through an adapter from the student's 6 hidden units to the
        // teacher's 16) against the numeric gradient of a student weight.
        Model teacher = mlp(16, 21), student = mlp(6, 31);
        TrainOptions options;
        options.teacher = &teacher;
        options.distill.alpha = 0.5f;
        options.distill.temperature = 2.f;
        options.distill.features = {"h"};
        options.distill.featureWeight = 0.7f;
        Trainer trainer(student, options);
        Distiller distiller(teacher, student, trainer, options.distill, options);
        const Dataset data = blobs(3, 1);
        auto lossAt = [&](std::map<std::string, Tensor> *seeds, DistillLossParts *parts) {
            trainer.forward(data.x, false);
            std::map<std::string, Tensor> local;
            return distiller.loss(data.x, trainer, &data.labels, seeds ? seeds : &local, parts, nullptr);
        };
        std::map<std::string, Tensor> seeds;
        DistillLossParts parts;
        lossAt(&seeds, &parts);
        QVERIFY(parts.hard > 0 && parts.soft > 0 && parts.feature > 0);
        QCOMPARE(seeds.size(), size_t(2)); // the logits and the feature
        trainer.backward(seeds);
        for (const char *name : {"W1", "b1", "W2"}) {
            const Tensor analytic = trainer.gradient(name).clone();
            checkGradient(student.graph.initializers.at(name), analytic, [&] { return lossAt(nullptr, nullptr); },
                          1e-2f, 5e-3);
        }
    }

    void alphaZeroIsPlainTrainingStepForStep()
    {
        const Dataset data = blobs(20, 2);
        Model teacher = mlp(16, 41);
        Model plain = mlp(8, 51), distilled = mlp(8, 51);
        TrainOptions options;
        options.epochs = 3;
        options.batchSize = 16;
        options.lr = 0.02f;
        options.threads = 1;
        train(plain, data, options);
        options.teacher = &teacher;
        options.distill.alpha = 0.f;
        options.distill.temperature = 4.f;
        train(distilled, data, options);
        QVERIFY(sameWeights(plain, distilled));
    }

    void studentConvergesToTeacher()
    {
        // The teacher as the only target, on its own outputs, with no labels at all: a student of the same
        // shape from other initial weights converges to the teacher's distribution.
        Model teacher = mlp(16, 61), student = mlp(16, 71);
        Dataset data = blobs(30, 3);
        data.labels.clear();
        const double before = meanKl(teacher, student, data.x);
        TrainOptions options;
        options.epochs = 200;
        options.batchSize = 30;
        options.lr = 0.01f;
        options.threads = 1;
        options.teacher = &teacher;
        options.distill.alpha = 1.f;
        options.distill.temperature = 1.f;
        const TrainResult r = train(student, data, options);
        const double after = meanKl(teacher, student, data.x);
        QVERIFY2(before > 0.05, qPrintable(QString::number(before)));
        QVERIFY2(after < 0.01 * before && after < 2e-3, qPrintable(QStringLiteral("KL %1 -> %2").arg(before).arg(after)));
        QVERIFY(r.epochs.back().accuracy > 0.9); // agreement with the teacher's top-1
        QCOMPARE(r.epochs.back().parts.hard, 0.0);
    }

    // An output that is not logits (an embedding map [N, C, H, W]): the teacher's output is the target by mean
    // squared error, the gradient is that loss's, labels and alpha < 1 are refused, and training on it brings a
    // student's output to the teacher's without counting a top-1.
    void outputMatchedWhenNotLogits()
    {
        Tensor ys = testutil::randomTensor({2, 3, 4, 4}, 90);
        const Tensor yt = testutil::randomTensor({2, 3, 4, 4}, 91);
        Tensor grad;
        DistillLossParts parts;
        int64_t correct = 0;
        const double loss = distillationLoss(ys, yt, nullptr, 4.f, 1.f, &grad, &parts, &correct);
        QCOMPARE(loss, featureLoss(FeatureLoss::L2, ys, yt));
        QCOMPARE(parts.soft, loss);
        QCOMPARE(correct, int64_t(-1));
        checkGradient(ys, grad, [&] { return distillationLoss(ys, yt, nullptr, 4.f, 1.f); }, 1e-2f, 2e-3);
        try {
            distillationLoss(ys, yt, nullptr, 4.f, 0.7f);
            QFAIL("alpha 0.7 on an output that is not logits");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("is not logits [N, classes]"), e.what());
        }

        // A 1x1 convolution learns another's output.
        const auto conv = [](unsigned seed) {
            Model m;
            m.sourcePath = "conv";
            m.graph.inputs = {ValueInfo{"x", DType::Float32, {-1, 2, 3, 3}, true}};
            m.graph.outputs = {ValueInfo{"y", DType::Float32, {-1, 4, 3, 3}, true}};
            m.graph.initializers["W"] = testutil::randomTensor({4, 2, 1, 1}, seed);
            m.graph.nodes = {Node{"conv", "Conv", "", {"x", "W"}, {"y"}, {}}};
            return m;
        };
        Model teacher = conv(92), student = conv(93);
        Dataset data;
        data.name = "maps";
        data.x = testutil::randomTensor({16, 2, 3, 3}, 94);
        const auto distance = [&] {
            return featureLoss(FeatureLoss::L2, Session(student).run(data.x), Session(teacher).run(data.x));
        };
        const double before = distance();
        TrainOptions options;
        options.epochs = 100;
        options.batchSize = 16;
        options.lr = 0.05f;
        options.threads = 1;
        options.teacher = &teacher;
        options.distill.alpha = 1.f;
        const TrainResult r = train(student, data, options);
        QVERIFY2(distance() < 0.01 * before, qPrintable(QStringLiteral("%1 -> %2").arg(before).arg(distance())));
        QVERIFY(std::isnan(r.epochs.back().accuracy));
    }

    void unlabelledDataNeedsAlphaOne()
    {
        Model teacher = mlp(16, 81), student = mlp(8, 82);
        Dataset data = blobs(10, 4);
        data.labels.clear();
        TrainOptions options;
        options.epochs = 1;
        options.teacher = &teacher;
        options.distill.alpha = 0.5f;
        try {
            train(student, data, options);
            QFAIL("training on unlabelled data with alpha < 1 did not fail");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("alpha = 1"), e.what());
        }
        options.teacher = nullptr; // and plain training refuses it as before
        QVERIFY_THROWS_EXCEPTION(Error, train(student, data, options));
    }

    void badFeatureNamesAreNamed()
    {
        Model teacher = mlp(16, 91), student = mlp(8, 92);
        TrainOptions options;
        options.epochs = 1;
        options.teacher = &teacher;
        options.distill.features = {"nope"};
        try {
            train(student, blobs(4, 5), options);
            QFAIL("an unknown feature name was accepted");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("'nope'"), e.what());
        }
        options.distill.features = {"x"}; // the input carries no gradient
        QVERIFY_THROWS_EXCEPTION(Error, train(student, blobs(4, 5), options));
        options.distill.features = {"fc1=relu"}; // node names stand for their first output, pairs may differ
        train(student, blobs(4, 5), options);
    }

    void students()
    {
        const Model teacher = buildDemoModel("cnn", 1);
        const Model slim = makeStudent(teacher, {StudentKind::Slim, 0.5});
        QCOMPARE(slim.graph.initializers.at("conv1.weight").dim(0), int64_t(16));
        QCOMPARE(slim.graph.initializers.at("conv2.weight").dim(0), int64_t(32));
        QCOMPARE(slim.graph.initializers.at("fc1.weight").shape(), (Shape{64, 32 * 49}));
        QCOMPARE(slim.graph.initializers.at("fc2.weight").shape(), (Shape{10, 64}));
        // Slim students keep the teacher's strongest channels; fresh ones are re-initialised.
        StudentSpec fresh{StudentKind::Slim, 0.5};
        fresh.fresh = true;
        const Model freshSlim = makeStudent(teacher, fresh);
        QVERIFY(!sameWeights(slim, freshSlim));
        StudentSpec arch{StudentKind::Arch};
        arch.arch = "cnn";
        arch.width = 0.25;
        const Model tiny = makeStudent(teacher, arch);
        QVERIFY(tiny.graph.parameterCount() * 8 <= teacher.graph.parameterCount());
        QVERIFY_THROWS_EXCEPTION(Error, makeStudent(teacher, {StudentKind::Slim, 1.0}));
        // Residual blocks with an identity shortcut go whole; the projection-shortcut block stays.
        const Model resnet = buildDemoModel("resnet", 1);
        StudentSpec blocks{StudentKind::Slim, 1.0};
        blocks.dropBlocks = true;
        std::vector<std::string> notes;
        const Model shallow = makeStudent(resnet, blocks, &notes);
        QCOMPARE(notes.size(), size_t(1));
        QVERIFY(QString::fromStdString(notes[0]).contains("block1.add"));
        for (const Node &n : shallow.graph.nodes)
            QVERIFY2(n.name.rfind("block1.", 0) != 0 || n.name == "block1.relu", n.name.c_str());
        QVERIFY(!shallow.graph.initializers.count("block1.conv1.weight"));
        QVERIFY(shallow.graph.initializers.count("block2.conv1.weight"));
        const Tensor x = testutil::randomTensor({2, 1, 28, 28}, 3, 0.f, 1.f);
        QCOMPARE(Session(shallow).run(x).shape(), (Shape{2, 10}));
        blocks.factor = 0.5; // both: blocks removed, the rest slimmed
        QVERIFY(makeStudent(resnet, blocks).graph.parameterCount() < shallow.graph.parameterCount() / 2);
        StudentSpec noBlocks{StudentKind::Slim, 1.0};
        noBlocks.dropBlocks = true;
        QVERIFY_THROWS_EXCEPTION(Error, makeStudent(teacher, noBlocks)); // the cnn has none
        // A student whose output does not fit.
        try {
            distill(teacher, mlp(4, 1), images(8, 1), nullptr, {});
            QFAIL("a student with another input was accepted");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("does not fit"), e.what());
        }
    }

    void distillJobWithFeaturesAndCancel()
    {
        const Model teacher = buildDemoModel("cnn", 2);
        const Model student = makeStudent(teacher, {StudentKind::Slim, 0.5});
        const Model teacherBefore = teacher.deepCopy(), studentBefore = student.deepCopy();
        DistillJobOptions options;
        options.distill.features = {"conv2"};
        options.distill.featureLoss = FeatureLoss::L2;
        options.train.epochs = 2;
        options.train.batchSize = 16;
        options.train.threads = 1;
        options.measure.measure = false;
        options.measure.threads = 1;
        const Dataset data = images(48, 3), eval = images(32, 4);
        std::vector<StepStats> steps;
        std::vector<DistillEpoch> epochs;
        const DistillResult r = distill(teacher, student, data, &eval, options, {}, nullptr, {},
                                        [&](const StepStats &s) { steps.push_back(s); },
                                        [&](const DistillEpoch &e) { epochs.push_back(e); });
        QCOMPARE(steps.size(), size_t(6));
        QCOMPARE(epochs.size(), size_t(2));
        QVERIFY(steps.front().parts.feature > 0 && steps.front().parts.soft > 0 && steps.front().parts.hard > 0);
        QVERIFY(r.measure == ValidationMeasure::Accuracy);
        QVERIFY(*epochs.back().validation >= 0 && *epochs.back().validation <= 1);
        QVERIFY(r.teacherValidation && *r.teacherValidation >= 0);
        QVERIFY(r.variant.model.analysis.count(kDistillationKey));
        QVERIFY(!sameWeights(r.variant.model, student));

        // Cancel after the second step: cw::Cancelled, and neither model changed.
        StopToken stop;
        QVERIFY_THROWS_EXCEPTION(Cancelled, distill(teacher, student, data, &eval, options, {}, &stop, {},
                                                    [&](const StepStats &s) {
                                                        if (s.step == 2)
                                                            stop.requestStop();
                                                    }));
        QVERIFY(sameWeights(teacher, teacherBefore));
        QVERIFY(sameWeights(student, studentBefore));
    }

    // Without labels, a student of a model whose output is not logits is validated by that output's SQNR against
    // the teacher's: the job's figure is the one measureFidelity gives the returned student, and it grows.
    void validationOfAnOutputThatIsNotLogits()
    {
        const Model teacher = twoConvs(95);
        const Model student = makeStudent(teacher, {StudentKind::Slim, 0.5});
        QCOMPARE(student.graph.initializers.at("W1").dim(0), int64_t(4));
        Dataset data, eval;
        data.name = "maps";
        data.x = testutil::randomTensor({64, 2, 3, 3}, 96);
        eval.name = "held-out maps";
        eval.x = testutil::randomTensor({32, 2, 3, 3}, 97);
        DistillJobOptions options;
        options.distill.alpha = 1.f;
        options.train.epochs = 8;
        options.train.batchSize = 16;
        options.train.lr = 0.05f;
        options.train.threads = 1;
        options.measure.measure = false;
        options.measure.threads = 1;
        std::vector<std::string> lines;
        const DistillResult r = distill(teacher, student, data, &eval, options, {}, nullptr,
                                        [&](const std::string &line) { lines.push_back(line); });
        QVERIFY(r.measure == ValidationMeasure::SqnrDb);
        QVERIFY(!r.teacherValidation);
        QCOMPARE(r.epochs.size(), size_t(8));
        for (const DistillEpoch &e : r.epochs) {
            QVERIFY(e.measure == ValidationMeasure::SqnrDb);
            QVERIFY(e.validation && std::isfinite(*e.validation));
            QVERIFY(!e.teacherValidation);
        }
        const std::vector<OutputFidelity> f =
            measureFidelity(Session(teacher), Session(r.variant.model), eval);
        QCOMPARE(f.size(), size_t(1));
        QCOMPARE(*r.epochs.back().validation, f.front().sqnrDb);
        QVERIFY2(*r.epochs.back().validation > *r.epochs.front().validation + 1.0,
                 qPrintable(QStringLiteral("%1 dB -> %2 dB").arg(*r.epochs.front().validation).arg(*r.epochs.back().validation)));
        QVERIFY(std::any_of(lines.begin(), lines.end(), [](const std::string &l) {
            return l.find("validation SQNR against the teacher") != std::string::npos && l.find(" dB") != std::string::npos;
        }));
        const std::string doc = r.variant.model.analysis.at(kDistillationKey);
        QVERIFY2(doc.find(R"("validation":"sqnr_db")") != std::string::npos, doc.c_str());
        QVERIFY2(doc.find(R"("teacher_validation":null)") != std::string::npos, doc.c_str());

        // A classifier on the same unlabelled data: top-1 agreement, the teacher at 1.
        const Model cnn = buildDemoModel("cnn", 2);
        options.train.epochs = 1;
        const Dataset heldOut = unlabelled(images(16, 6));
        const DistillResult c =
            distill(cnn, makeStudent(cnn, {StudentKind::Slim, 0.5}), unlabelled(images(32, 5)), &heldOut, options);
        QVERIFY(c.measure == ValidationMeasure::Agreement);
        QCOMPARE(c.teacherValidation.value_or(-1), 1.0);
        QVERIFY(*c.epochs.back().validation >= 0 && *c.epochs.back().validation <= 1);
    }

    void recipeDistillBlock_data()
    {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("expected");
        QTest::newRow("alpha out of range") << R"({"finetune": {"epochs": 1, "distill": {"alpha": 2}}})"
                                            << "finetune.distill.alpha";
        QTest::newRow("unknown key") << R"({"finetune": {"epochs": 1, "distill": {"temprature": 4}}})"
                                     << "finetune.distill.temprature";
        QTest::newRow("features not a list") << R"({"finetune": {"epochs": 1, "distill": {"features": "conv2"}}})"
                                             << "finetune.distill.features";
        QTest::newRow("bad feature loss") << R"({"finetune": {"epochs": 1, "distill": {"feature_loss": "kl"}}})"
                                          << "finetune.distill.feature_loss";
        QTest::newRow("no epochs") << R"({"finetune": {"distill": {}}})" << "finetune.distill";
        QTest::newRow("temperature zero") << R"({"finetune": {"epochs": 1, "distill": {"temperature": 0}}})"
                                          << "finetune.distill.temperature";
    }

    void recipeDistillBlock()
    {
        QFETCH(QString, json);
        QFETCH(QString, expected);
        try {
            recipeFromJson(json.toStdString());
            QFAIL("a malformed distill block was accepted");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains(expected), e.what());
        }
    }

    void recipeRoundTrip()
    {
        const Recipe r = recipeFromJson(
            R"({"finetune": {"epochs": 2, "lr": 0.001, "distill": {"temperature": 3, "alpha": 0.6, "features": ["conv2"], "feature_loss": "attention", "feature_weight": 50}}})");
        QVERIFY(r.finetune.distill);
        const Recipe back = recipeFromJson(recipeToJson(r));
        QVERIFY(back.finetune.distill);
        QCOMPARE(back.finetune.distill->temperature, 3.f);
        QCOMPARE(back.finetune.distill->alpha, 0.6f);
        QCOMPARE(back.finetune.distill->features, std::vector<std::string>{"conv2"});
        QCOMPARE(int(back.finetune.distill->featureLoss), int(FeatureLoss::Attention));
        QCOMPARE(back.finetune.distill->featureWeight, 50.f);
    }

    void compressionRecoversWithTheBaseAsTeacher_data()
    {
        QTest::addColumn<QString>("json");
        QTest::newRow("channel pruning") << R"({"prune": {"method": "channel", "ratio": 0.5},
            "finetune": {"epochs": 1, "lr": 0.001, "distill": {"features": ["conv2"]}}})";
        QTest::newRow("iterative magnitude") << R"({"prune": {"method": "magnitude", "ratio": 0.6, "steps": 2},
            "finetune": {"epochs": 1, "lr": 0.001, "distill": {"alpha": 1}}})";
        QTest::newRow("4-bit qat") << R"({"quantize": {"weights": {"bits": 4, "granularity": "channel"}},
            "finetune": {"epochs": 1, "lr": 0.001, "qat": true, "distill": {"features": ["conv2"]}}})";
        QTest::newRow("fine-tune only") << R"({"finetune": {"epochs": 1, "lr": 0.001, "distill": {"temperature": 2}}})";
    }

    void compressionRecoversWithTheBaseAsTeacher()
    {
        QFETCH(QString, json);
        const Model base = buildDemoModel("cnn", 3);
        const Dataset data = images(32, 5);
        CompressOptions options;
        options.measure = false;
        options.threads = 1;
        std::vector<std::string> log;
        const Variant v = compress(base, recipeFromJson(json.toStdString()), &data, nullptr, options, {}, nullptr,
                                   [&](const std::string &line) { log.push_back(line); });
        bool said = false;
        for (const std::string &line : log)
            said = said || line.rfind("distill:", 0) == 0;
        QVERIFY(said);
        QVERIFY(!sameWeights(v.model, base));
    }

    // CompressOptions::teacher (cwb compress --teacher): another model teaches the recipe's fine-tuning. The base
    // given as that teacher trains the same weights as no teacher given; another teacher pulls the variant towards
    // its own outputs; a teacher that does not fit, or one given to a recipe that does not distil, is refused.
    void anotherTeacherTeachesTheRecipe()
    {
        const Model base = buildDemoModel("cnn", 3);
        const Model other = buildDemoModel("cnn", 11, 0.5);
        const Dataset data = images(64, 5);
        const Recipe recipe = recipeFromJson(
            R"({"finetune": {"epochs": 4, "lr": 0.003, "batch_size": 8, "distill": {"temperature": 1, "alpha": 1}}})");
        CompressOptions options;
        options.measure = false;
        options.threads = 1;
        const Variant byBase = compress(base, recipe, &data, nullptr, options);
        options.teacher = &base;
        QVERIFY(sameWeights(compress(base, recipe, &data, nullptr, options).model, byBase.model));
        options.teacher = &other;
        std::vector<std::string> log;
        const Variant byOther = compress(base, recipe, &data, nullptr, options, {}, nullptr,
                                         [&](const std::string &line) { log.push_back(line); });
        const std::string said = "distill: the given teacher (" + std::to_string(other.graph.parameterCount()) +
                                 " parameters) teaches every fine-tuning stage (T 1, alpha 1)";
        QVERIFY(std::find(log.begin(), log.end(), said) != log.end());
        const double toOther = meanKl(other, byOther.model, data.x), fromBase = meanKl(other, byBase.model, data.x);
        QVERIFY2(toOther < 0.5 * fromBase, qPrintable(QStringLiteral("KL %1 against %2").arg(toOther).arg(fromBase)));
        const Model misfit = mlp(4, 1);
        options.teacher = &misfit;
        QVERIFY(testutil::errorOf([&] { compress(base, recipe, &data, nullptr, options); }).contains("does not fit"));
        options.teacher = &other;
        const Recipe plain = recipeFromJson(R"({"finetune": {"epochs": 1}})");
        QVERIFY(testutil::errorOf([&] { compress(base, plain, &data, nullptr, options); })
                    .contains("the recipe does not distil"));
    }
};

QTEST_MAIN(TestDistill)
#include "test_distill.moc"
