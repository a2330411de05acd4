// Recipe tests: every class of malformed recipe is refused with a message naming the key path (and the layer
// for overrides); defaults, key-by-key merging of overrides and the JSON round trip; validation against the
// demo model and the per-layer plan.
#include <QtTest>

#include <QTemporaryDir>

#include "core/base/error.h"
#include "core/compress/recipe.h"
#include "core/io/model_io.h"
#include "testutil.h"

using namespace cw;

namespace {

QString errorOf(const std::string &text)
{
    try {
        recipeFromJson(text);
    } catch (const Error &e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

} // namespace

class TestRecipe : public QObject {
    Q_OBJECT

private slots:
    void malformed_data()
    {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("expected"); // substrings of the message, '|'-separated
        QTest::newRow("not json") << R"({"prune": )" << "invalid JSON|line 1";
        QTest::newRow("top level array") << R"([1, 2])" << "expected an object";
        QTest::newRow("unknown top key") << R"({"prunning": {}})" << "recipe: prunning: unknown key";
        QTest::newRow("unknown nested key") << R"({"quantize": {"weights": {"bitz": 4}}})"
                                            << "quantize.weights.bitz: unknown key";
        QTest::newRow("bits as string") << R"({"quantize": {"weights": {"bits": "8"}}})"
                                        << "quantize.weights.bits: expected an integer in 2..8, got \"8\"";
        QTest::newRow("bits too many") << R"({"quantize": {"weights": {"bits": 9}}})"
                                       << "quantize.weights.bits: expected an integer in 2..8, got 9";
        QTest::newRow("bits too few") << R"({"quantize": {"weights": {"bits": 1}}})" << "quantize.weights.bits";
        QTest::newRow("bits fractional") << R"({"quantize": {"weights": {"bits": 4.5}}})" << "quantize.weights.bits";
        QTest::newRow("granularity unknown") << R"({"quantize": {"weights": {"granularity": "row"}}})"
                                             << "quantize.weights.granularity|\"row\"";
        QTest::newRow("group size zero") << R"({"quantize": {"weights": {"group_size": 0}}})"
                                         << "quantize.weights.group_size";
        QTest::newRow("symmetric as int") << R"({"quantize": {"weights": {"symmetric": 1}}})"
                                          << "quantize.weights.symmetric: expected true or false";
        QTest::newRow("activation bits 4") << R"({"quantize": {"weights": {}, "activations": {"bits": 4}}})"
                                           << "quantize.activations.bits: expected an integer in 8..8";
        QTest::newRow("calibration unknown") << R"({"quantize": {"weights": {}, "activations": {"calibration": "kl"}}})"
                                             << "quantize.activations.calibration|\"kl\"";
        QTest::newRow("calibration samples zero")
            << R"({"quantize": {"weights": {}, "activations": {"samples": 0}}})" << "quantize.activations.samples";
        QTest::newRow("percentile out of range")
            << R"({"quantize": {"weights": {}, "activations": {"percentile": 101}}})"
            << "quantize.activations.percentile";
        QTest::newRow("fidelity floor zero")
            << R"({"quantize": {"weights": {}, "activations": {"min_sqnr_db": 0}}})"
            << "quantize.activations.min_sqnr_db: expected a number of dB in (0, 200]";
        QTest::newRow("fidelity floor text")
            << R"({"quantize": {"weights": {}, "activations": {"min_sqnr_db": "40"}}})"
            << "quantize.activations.min_sqnr_db";
        QTest::newRow("activations without weights") << R"({"quantize": {"activations": {}}})"
                                                     << "quantize.activations: needs quantize.weights";
        QTest::newRow("bias correction string") << R"({"quantize": {"bias_correction": "yes"}})"
                                                << "quantize.bias_correction";
        QTest::newRow("prune method unknown") << R"({"prune": {"method": "random"}})" << "prune.method|\"random\"";
        QTest::newRow("prune ratio one") << R"({"prune": {"ratio": 1}})" << "prune.ratio: expected a number in [0, 1)";
        QTest::newRow("prune ratio negative") << R"({"prune": {"ratio": -0.1}})" << "prune.ratio";
        QTest::newRow("prune ratio string") << R"({"prune": {"ratio": "0.5"}})" << "prune.ratio";
        QTest::newRow("nm n not below m") << R"({"prune": {"method": "nm", "n": 4, "m": 4}})"
                                          << "prune: n must be smaller than m";
        QTest::newRow("scope unknown") << R"({"prune": {"scope": "model"}})" << "prune.scope";
        QTest::newRow("norm unknown") << R"({"prune": {"method": "channel", "norm": "linf"}})" << "prune.norm";
        QTest::newRow("steps zero") << R"({"prune": {"steps": 0}})" << "prune.steps";
        QTest::newRow("power zero") << R"({"prune": {"power": 0}})" << "prune.power";
        QTest::newRow("reconstruct not channel") << R"({"prune": {"reconstruct": true}})"
                                                 << "prune.reconstruct: only channel pruning|magnitude";
        QTest::newRow("reconstruct as int") << R"({"prune": {"method": "channel", "reconstruct": 1}})"
                                            << "prune.reconstruct";
        QTest::newRow("reconstruct samples zero")
            << R"({"prune": {"method": "channel", "reconstruct": true, "reconstruct_samples": 0}})"
            << "prune.reconstruct_samples";
        QTest::newRow("prune not object") << R"({"prune": 0.5})" << "recipe: prune: expected an object, got 0.5";
        QTest::newRow("finetune unknown key") << R"({"finetune": {"epoch": 1}})" << "finetune.epoch: unknown key";
        QTest::newRow("finetune lr zero") << R"({"finetune": {"lr": 0}})" << "finetune.lr";
        QTest::newRow("finetune epochs negative") << R"({"finetune": {"epochs": -1}})" << "finetune.epochs";
        QTest::newRow("finetune batch zero") << R"({"finetune": {"batch_size": 0}})" << "finetune.batch_size";
        QTest::newRow("qat without weights") << R"({"finetune": {"qat": true}})" << "finetune.qat";
        QTest::newRow("augment shift too far") << R"({"finetune": {"augment": {"shift": 65}}})"
                                               << "finetune.augment.shift: expected an integer in 0..64";
        QTest::newRow("augment flip string") << R"({"finetune": {"augment": {"flip": "yes"}}})" << "finetune.augment.flip";
        QTest::newRow("augment unknown key") << R"({"finetune": {"augment": {"rotate": 10}}})"
                                             << "finetune.augment.rotate: unknown key";
        QTest::newRow("name not string") << R"({"name": 3})" << "recipe: name: expected a string";
        QTest::newRow("layers not object") << R"({"layers": ["conv1"]})" << "recipe: layers: expected an object";
        QTest::newRow("layer not object") << R"({"layers": {"conv1": true}})" << "recipe: layers.conv1: expected an object";
        QTest::newRow("layer unknown key") << R"({"layers": {"fc1": {"bits": 4}}})" << "layers.fc1.bits: unknown key";
        QTest::newRow("layer bad bits") << R"({"layers": {"fc1": {"quantize": {"weights": {"bits": 12}}}}})"
                                        << "layers.fc1.quantize.weights.bits: expected an integer in 2..8, got 12";
        QTest::newRow("layer activations") << R"({"layers": {"fc1": {"quantize": {"activations": {}}}}})"
                                           << "layers.fc1.quantize.activations: unknown key";
        QTest::newRow("layer skip string") << R"({"layers": {"conv2": {"skip": "true"}}})"
                                           << "layers.conv2.skip: expected true or false";
        QTest::newRow("layer prune ratio") << R"({"layers": {"conv2": {"prune": {"ratio": 2}}}})"
                                           << "layers.conv2.prune.ratio";
    }
    void malformed()
    {
        QFETCH(QString, json);
        QFETCH(QString, expected);
        const QString message = errorOf(json.toStdString());
        QVERIFY2(!message.isEmpty(), "the recipe was accepted");
        QVERIFY2(message.startsWith("recipe: "), qPrintable(message));
        for (const QString &part : expected.split('|'))
            QVERIFY2(message.contains(part), qPrintable(message + "  (expected: " + part + ")"));
    }

    void defaults()
    {
        const Recipe r = recipeFromJson(R"({"quantize": {"weights": {}}, "prune": {}})");
        QVERIFY(r.weights.has_value());
        QCOMPARE(r.weights->bits, 8);
        QVERIFY(r.weights->granularity == Granularity::Channel);
        QVERIFY(r.weights->symmetric);
        QVERIFY(!r.activations.has_value());
        QVERIFY(r.biasCorrection);
        QVERIFY(r.prune.has_value());
        QVERIFY(r.prune->method == PruneMethod::Magnitude);
        QCOMPARE(r.prune->ratio, 0.5);
        QCOMPARE(r.finetune.epochs, 0);

        const Recipe empty = recipeFromJson("{}");
        QVERIFY(!empty.prune && !empty.weights && !empty.activations && empty.layers.empty());
        const Recipe nulls = recipeFromJson(R"({"prune": null, "quantize": null, "finetune": null, "layers": null})");
        QVERIFY(!nulls.prune && !nulls.weights);
    }

    void overridesMergeKeyByKey()
    {
        const Recipe r = recipeFromJson(R"({
            "prune": {"method": "nm", "n": 2, "m": 4},
            "quantize": {"weights": {"bits": 8, "granularity": "channel"}},
            "layers": {
                "conv1": {"skip": true},
                "conv2": {"quantize": {"weights": {"bits": 4}}},
                "fc1": {"prune": {"m": 8}, "quantize": {"weights": null}},
                "fc2": {"prune": null, "quantize": null}
            }})");
        QCOMPARE(int(r.layers.size()), 4);
        QVERIFY(r.layers.at("conv1").skip);
        QCOMPARE(r.layers.at("conv1").weights->bits, 8);
        const LayerConfig &conv2 = r.layers.at("conv2");
        QCOMPARE(conv2.weights->bits, 4);
        QVERIFY(conv2.weights->granularity == Granularity::Channel); // kept from the defaults
        QVERIFY(conv2.prune->method == PruneMethod::NM);
        const LayerConfig &fc1 = r.layers.at("fc1");
        QVERIFY(fc1.prune->method == PruneMethod::NM);
        QCOMPARE(fc1.prune->n, 2);
        QCOMPARE(fc1.prune->m, 8);
        QVERIFY(!fc1.weights);
        QVERIFY(!r.layers.at("fc2").prune && !r.layers.at("fc2").weights);
    }

    void roundTrip()
    {
        const std::string text = R"({"name": "mixed",
            "prune": {"method": "channel", "ratio": 0.25, "norm": "l2", "steps": 3, "power": 2, "reconstruct": true,
                      "reconstruct_samples": 500},
            "quantize": {"weights": {"bits": 6, "granularity": "group", "group_size": 32, "symmetric": false},
                         "activations": {"calibration": "percentile", "samples": 128, "percentile": 99.9,
                                         "min_sqnr_db": 35.5},
                         "bias_correction": false},
            "finetune": {"epochs": 2, "lr": 0.0001, "batch_size": 32, "samples": 1000, "qat": true,
                         "augment": {"shift": 2, "flip": true}},
            "layers": {"fc2": {"skip": true}, "conv1": {"quantize": {"weights": {"bits": 3}}}}})";
        const Recipe a = recipeFromJson(text);
        const std::string once = recipeToJson(a);
        const Recipe b = recipeFromJson(once);
        QCOMPARE(QString::fromStdString(recipeToJson(b)), QString::fromStdString(once));
        QCOMPARE(b.name, std::string("mixed"));
        QVERIFY(b.prune->method == PruneMethod::Channel);
        QVERIFY(b.prune->norm == ChannelNorm::L2);
        QCOMPARE(b.prune->steps, 3);
        QVERIFY(b.prune->reconstruct);
        QCOMPARE(b.prune->reconstructSamples, int64_t(500));
        QVERIFY(recipeToJson(recipeFromJson(R"({"prune": {"method": "channel"}})")).find("reconstruct") ==
                std::string::npos);
        const Recipe block =
            recipeFromJson(recipeToJson(recipeFromJson(R"({"prune": {"method": "block", "ratio": 0.75}})")));
        QVERIFY(block.prune->method == PruneMethod::Block);
        QCOMPARE(block.prune->ratio, 0.75);
        QCOMPARE(QString::fromStdString(recipeSummary(block)).section(" · ", 0, 0), QString("block 0.75"));
        QCOMPARE(QString::fromStdString(recipeSummary(b)).section(" · ", 0, 0), QString("channel 0.25 reconstructed"));
        QCOMPARE(b.weights->groupSize, int64_t(32));
        QVERIFY(!b.weights->symmetric);
        QVERIFY(b.activations->calibration == Calibration::Percentile);
        QCOMPARE(b.activations->percentile, 99.9);
        QCOMPARE(b.activations->samples, int64_t(128));
        QCOMPARE(b.activations->minSqnrDb, std::optional<double>(35.5));
        QVERIFY(recipeSummary(b).find("a8 percentile ≥ 35.5 dB") != std::string::npos);
        QVERIFY(!recipeFromJson(R"({"quantize": {"weights": {}, "activations": {}}})").activations->minSqnrDb);
        QVERIFY(!b.biasCorrection);
        QCOMPARE(b.finetune.lr, 1e-4f);
        QVERIFY(once.find("0.0001") != std::string::npos); // written as typed, not 9.99999974e-05
        QVERIFY(b.finetune.qat);
        QCOMPARE(b.finetune.samples, int64_t(1000));
        QCOMPARE(b.finetune.augment.shift, 2);
        QVERIFY(b.finetune.augment.flip);
        QCOMPARE(finetuneOptions(b.finetune, 1, nullptr).augment.shift, 2); // what the fine-tuning trains with
        QVERIFY(recipeToJson(recipeFromJson(R"({"finetune": {"epochs": 1}})")).find("augment") == std::string::npos);
        QVERIFY(b.layers.at("fc2").skip);
        QCOMPARE(b.layers.at("conv1").weights->bits, 3);
        QCOMPARE(b.layers.at("conv1").weights->groupSize, int64_t(32));
        QVERIFY(b.layers.at("conv1").prune->method == PruneMethod::Channel);

        // Files: save / load, and a load error names the file.
        QTemporaryDir dir;
        const std::string path = dir.filePath("r.json").toStdString();
        saveRecipe(a, path);
        QCOMPARE(QString::fromStdString(recipeToJson(loadRecipe(path))), QString::fromStdString(once));
        const std::string bad = dir.filePath("bad.json").toStdString();
        {
            std::FILE *f = std::fopen(bad.c_str(), "w");
            std::fputs(R"({"quantize": {"weights": {"bits": 0}}})", f);
            std::fclose(f);
        }
        try {
            loadRecipe(bad);
            QFAIL("accepted");
        } catch (const Error &e) {
            QVERIFY2(QString(e.what()).contains("bad.json") && QString(e.what()).contains("quantize.weights.bits"),
                     e.what());
        }
        QVERIFY_THROWS_EXCEPTION(Error, loadRecipe(dir.filePath("missing.json").toStdString()));
    }

    void exampleRecipesParse_data()
    {
        QTest::addColumn<QString>("file");
        const QDir dir(testutil::sourcePath("docs/recipes"));
        for (const QString &f : dir.entryList({"*.json"}, QDir::Files))
            QTest::newRow(qPrintable(f)) << dir.filePath(f);
    }
    void exampleRecipesParse()
    {
        QFETCH(QString, file);
        const Recipe r = loadRecipe(file.toStdString());
        validateRecipe(r, loadModel("demo"));
        QVERIFY(!r.name.empty());
    }

    void validation_data()
    {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("expected");
        QTest::newRow("unknown layer") << R"({"layers": {"conv9": {"skip": true}}})"
                                       << "layers.conv9: the model has no node 'conv9'|conv1, conv2, fc1, fc2";
        QTest::newRow("layer without weight") << R"({"layers": {"relu1": {"skip": true}}})"
                                              << "layers.relu1: node 'relu1' (Relu) has no float weight";
        QTest::newRow("batchnorm is not a layer") << R"({"layers": {"bn1": {"skip": true}}})"
                                                  << "node 'bn1' (BatchNormalization)";
    }
    void validation()
    {
        QFETCH(QString, json);
        QFETCH(QString, expected);
        const Model demo = loadModel("demo");
        const Recipe r = recipeFromJson(json.toStdString());
        try {
            validateRecipe(r, demo);
            QFAIL("validated");
        } catch (const Error &e) {
            for (const QString &part : expected.split('|'))
                QVERIFY2(QString(e.what()).contains(part), e.what());
        }
    }

    void plan()
    {
        const Model demo = loadModel("demo");
        const Recipe r = recipeFromJson(R"({"quantize": {"weights": {"bits": 8}},
            "layers": {"conv1": {"skip": true}, "fc2": {"quantize": {"weights": {"bits": 4}}}}})");
        validateRecipe(r, demo);
        const std::vector<LayerPlan> plan = planLayers(r, demo);
        QCOMPARE(int(plan.size()), 4);
        QCOMPARE(plan[0].node, std::string("conv1"));
        QCOMPARE(plan[0].op, std::string("Conv"));
        QVERIFY(plan[0].config.skip);
        QCOMPARE(plan[1].node, std::string("conv2"));
        QVERIFY(!plan[1].config.skip);
        QCOMPARE(plan[1].config.weights->bits, 8);
        QCOMPARE(plan[2].node, std::string("fc1"));
        QCOMPARE(plan[2].op, std::string("Gemm"));
        QCOMPARE(plan[3].config.weights->bits, 4);
        QCOMPARE(plan[3].weight, demo.graph.findNode("fc2")->inputs[1]);
        QVERIFY(!plan[3].config.prune);
    }

    void enumNames()
    {
        for (PruneMethod m : {PruneMethod::Magnitude, PruneMethod::NM, PruneMethod::Channel})
            QVERIFY(parsePruneMethod(toString(m)) == m);
        for (Calibration c : {Calibration::MinMax, Calibration::Percentile, Calibration::Mse, Calibration::Entropy})
            QVERIFY(parseCalibration(toString(c)) == c);
        for (Granularity g : {Granularity::Tensor, Granularity::Channel, Granularity::Group})
            QVERIFY(parseGranularity(toString(g)) == g);
        QVERIFY_THROWS_EXCEPTION(Error, parseCalibration("KL"));
    }
};

QTEST_GUILESS_MAIN(TestRecipe)
#include "test_recipe.moc"
