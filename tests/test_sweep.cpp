// Sweeps beyond one machine (core/cluster): plans (JSON round trip, strict reading), shards (round robin, every
// item once), parts (bundle round trip), the merge — equal to the sweep computed at once, and refusing parts of
// another plan, a missing or repeated shard, an item twice, another tool — the checks a shard makes before it
// computes (tool, model and data hashes), and the Slurm scripts. The CLI end to end (cwb sensitivity --plan,
// cwb sweep --shard, cwb merge --project) against cwb sensitivity, and the same for a language model's sweep with
// its allocation to a bit budget; a real Slurm cluster runs in tests/cluster/slurm_sweep.sh.
#include <QTemporaryDir>
#include <QJsonDocument>
#include <QJsonArray>
#include <QJsonObject>
#include <QtTest>

#include <fstream>
#include <sstream>

#include "core/base/error.h"
#include "core/base/sha256.h"
#include "core/base/version.h"
#include "core/cluster/slurm.h"
#include "core/cluster/sweep.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "core/project/lm_project.h"
#include "tests/testutil.h"

namespace {

using cw::cluster::SweepPart;
using cw::cluster::SweepPlan;

std::string fileText(const QString &path)
{
    std::ifstream in(path.toStdString(), std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// The message of a merged figure that must equal the one-process run's to the last bit: both, with 17 digits.
QString lastBitMismatch(const char *key, const QJsonObject &merged, const QJsonObject &alone)
{
    return QStringLiteral("%1: merged %2, one process %3")
        .arg(key)
        .arg(merged[key].toDouble(), 0, 'g', 17)
        .arg(alone[key].toDouble(), 0, 'g', 17);
}

// The result's JSON without its wall time (which no two runs share).
QString withoutSeconds(const cw::SensitivityResult &r)
{
    cw::SensitivityResult c = r;
    c.seconds = 0;
    return QString::fromStdString(cw::sensitivityToJson(c, 1));
}

} // namespace

class TestSweep : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void planRoundTrips();
    void planRefusals_data();
    void planRefusals();
    void shardsCoverEveryItemOnce();
    void mergeEqualsTheWholeSweep();
    void mergeRefusals();
    void shardChecksItsInputs();
    void slurmScripts();
    void commandOfAGuiSweep();
    void cliRecipesPlan();
    void cliPlanShardsMerge();
    void cliLanguageModelPlan();
    void folderModelDigest();
    void cliLanguageModelRecipes();
    void cliLanguageModelByMatrix();
    void cliEvaluationPlans();

private:
    // A plan of the demo's sensitivity on the first 200 test images, and the whole sweep computed at once.
    SweepPlan demoPlan() const;
    SweepPart partOf(const SweepPlan &plan, int shard, int shards,
                     cw::SensitivityMetric metric = cw::SensitivityMetric::Auto) const;
    cw::SensitivityOptions m_options;
    cw::Model m_demo;
    cw::Dataset m_data;
    cw::SensitivityResult m_whole;
    QTemporaryDir m_dir;
};

void TestSweep::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_demo = cw::loadModel("demo");
    m_options.limit = 200;
    m_options.threads = 1;
    m_options.pruneRatios = {0.5, 0.9};
    m_options.bits = {4, 2};
    m_data = cw::loadDataset("fashion-mnist", {}, m_options.limit);
    m_whole = cw::analyzeSensitivity(m_demo, m_data, m_options);
}

SweepPlan TestSweep::demoPlan() const
{
    SweepPlan p;
    p.tool = cw::toolDescription();
    p.directory = m_dir.path().toStdString();
    p.command = {"sensitivity", "demo", "--data", "fashion-mnist", "--limit", "200", "--prune", "0.5,0.9", "--bits",
                 "4,2", "--threads", "1"};
    p.modelSpec = "demo";
    p.model = cw::modelDigest("demo");
    p.data.push_back(cw::datasetRecord("evaluation", "fashion-mnist"));
    p.items = cw::sensitivityLayers(m_demo);
    return p;
}

SweepPart TestSweep::partOf(const SweepPlan &plan, int shard, int shards, cw::SensitivityMetric metric) const
{
    cw::SensitivityOptions o = m_options;
    o.metric = metric;
    o.layers = cw::cluster::shardItems(plan, shard, shards);
    cw::SensitivityResult r = cw::analyzeSensitivity(m_demo, m_data, o);
    r.options.layers.clear();
    SweepPart part;
    part.plan = plan;
    part.shard = shard;
    part.shards = shards;
    part.tool = cw::toolDescription();
    part.result = cw::sensitivityToJson(r);
    return part;
}

void TestSweep::planRoundTrips()
{
    const SweepPlan p = demoPlan();
    QCOMPARE(p.items, (std::vector<std::string>{"conv1", "conv2", "fc1", "fc2"}));
    const QString path = m_dir.filePath("plan.json");
    cw::cluster::savePlan(p, path.toStdString());
    const SweepPlan back = cw::cluster::loadPlan(path.toStdString());
    QCOMPARE(QString::fromStdString(cw::cluster::planToJson(back)), QString::fromStdString(cw::cluster::planToJson(p)));
    QCOMPARE(cw::cluster::planDigest(back), cw::cluster::planDigest(p));
    QCOMPARE(back.data.front().files.size(), size_t(2)); // the test images and labels
    // Any change is another plan.
    SweepPlan other = p;
    other.command.back() = "2";
    QVERIFY(cw::cluster::planDigest(other) != cw::cluster::planDigest(p));
}

void TestSweep::planRefusals_data()
{
    QTest::addColumn<QString>("edit");
    QTest::addColumn<QString>("message");
    QTest::newRow("format") << R"("format": "x")" << "not a sweep plan";
    QTest::newRow("kind") << R"("kind": "grid")" << "this cwb sweeps \"sensitivity\"";
    QTest::newRow("students") << R"("kind": "distill")" << "a distillation plan has one item";
    QTest::newRow("no items") << R"("items": [])" << "the plan has no items";
    QTest::newRow("twice") << R"("items": ["a", "a"])" << "names an item twice";
    QTest::newRow("newer") << R"("version": 9)" << "newer format version";
    QTest::newRow("type") << R"("items": "conv1")" << "not a valid sweep plan";
    QTest::newRow("ranges") << R"("kind": "evaluate")" << "'conv1' is not a range B:E of samples or chunks";
}

void TestSweep::planRefusals()
{
    QFETCH(QString, edit);
    QFETCH(QString, message);
    // The plan with one key replaced.
    std::string text = cw::cluster::planToJson(demoPlan());
    const std::string key = edit.toStdString().substr(0, edit.indexOf(':'));
    const size_t at = text.find(key + ":");
    QVERIFY(at != std::string::npos);
    size_t end = text.find(",\n", at);
    if (key == "\"items\"")
        end = text.find(']', at) + 1;
    text.replace(at, end - at, edit.toStdString());
    const QString e = testutil::errorOf([&] { cw::cluster::planFromJson(text, "p.json"); });
    QVERIFY2(e.startsWith("'p.json': ") && e.contains(message), qPrintable(e));
}

void TestSweep::shardsCoverEveryItemOnce()
{
    SweepPlan p = demoPlan();
    p.items = {"a", "b", "c", "d", "e", "f", "g"};
    for (int n = 1; n <= 7; ++n) {
        std::multiset<std::string> seen;
        for (int i = 0; i < n; ++i)
            for (const std::string &item : cw::cluster::shardItems(p, i, n))
                seen.insert(item);
        QCOMPARE(seen, std::multiset<std::string>(p.items.begin(), p.items.end()));
    }
    QCOMPARE(cw::cluster::shardItems(p, 1, 3), (std::vector<std::string>{"b", "e"}));
    QCOMPARE(cw::cluster::parseShard("2/4"), std::make_pair(2, 4));
    for (const char *bad : {"4/4", "1", "-1/4", "1/0", "a/b", "1/4/5", ""})
        QVERIFY2(testutil::errorOf([&] { cw::cluster::parseShard(bad); }).contains("expects I/N"), bad);
}

void TestSweep::mergeEqualsTheWholeSweep()
{
    // Parts written and read back, given in any order: the merge is the sweep computed at once, bit for bit.
    const SweepPlan plan = demoPlan();
    for (int shards : {1, 3, 4}) {
        std::vector<std::pair<std::string, SweepPart>> parts;
        for (int s = shards - 1; s >= 0; --s) {
            const QString path = m_dir.filePath(QStringLiteral("part-%1-%2.h5").arg(shards).arg(s));
            cw::cluster::writePart(partOf(plan, s, shards), path.toStdString());
            parts.emplace_back(path.toStdString(), cw::cluster::readPart(path.toStdString()));
        }
        const cw::SensitivityResult merged = cw::cluster::mergeSensitivity(parts);
        QCOMPARE(withoutSeconds(merged), withoutSeconds(m_whole));
    }
    // A fidelity sweep (no accuracy, no loss: NaN baselines) merges too.
    cw::SensitivityOptions fidelity = m_options;
    fidelity.metric = cw::SensitivityMetric::Fidelity;
    const cw::SensitivityResult whole = cw::analyzeSensitivity(m_demo, m_data, fidelity);
    const cw::SensitivityResult merged = cw::cluster::mergeSensitivity(
        {{"a.h5", partOf(plan, 0, 2, fidelity.metric)}, {"b.h5", partOf(plan, 1, 2, fidelity.metric)}});
    QCOMPARE(withoutSeconds(merged), withoutSeconds(whole));
}

void TestSweep::mergeRefusals()
{
    const SweepPlan plan = demoPlan();
    const SweepPart p0 = partOf(plan, 0, 2), p1 = partOf(plan, 1, 2);
    auto error = [&](std::vector<std::pair<std::string, SweepPart>> parts) {
        return testutil::errorOf([&] { cw::cluster::mergeSensitivity(parts); });
    };
    QVERIFY(error({{"a.h5", p0}}).contains("shard 1 of 2 is missing (its items: conv2, fc2)"));
    QVERIFY(error({{"a.h5", p0}, {"b.h5", p0}}).contains("shard 0 is given twice: 'a.h5' and 'b.h5'"));
    SweepPlan otherPlan = plan;
    otherPlan.command.push_back("--no-cache");
    SweepPart foreign = p1;
    foreign.plan = otherPlan;
    QVERIFY(error({{"a.h5", p0}, {"b.h5", foreign}}).contains("'b.h5' belongs to another sweep than 'a.h5'"));
    SweepPart otherTool = p1;
    otherTool.tool = "compression-workbench 0.0.9 (old)";
    QVERIFY(error({{"a.h5", p0}, {"b.h5", otherTool}}).contains("'b.h5' was computed by compression-workbench 0.0.9"));
    SweepPart threes = partOf(plan, 1, 3);
    QVERIFY(error({{"a.h5", p0}, {"b.h5", threes}}).contains("'b.h5' is a shard of 3, 'a.h5' of 2"));
    // A part that holds another shard's layer.
    SweepPart wrong = p1;
    wrong.result = p0.result;
    QVERIFY(error({{"a.h5", p0}, {"b.h5", wrong}}).contains("'b.h5' holds 'conv1', which is not an item of its shard"));
    // A part without one of its items.
    cw::SensitivityResult r = cw::sensitivityFromJson(p1.result);
    r.layers.pop_back();
    SweepPart partial = p1;
    partial.result = cw::sensitivityToJson(r);
    QVERIFY(error({{"a.h5", p0}, {"b.h5", partial}}).contains("the item 'fc2' is in no part (shard 1 should hold it)"));
    // A part measured on other data (another baseline).
    r = cw::sensitivityFromJson(p1.result);
    r.baselineAccuracy += 0.01;
    SweepPart baseline = p1;
    baseline.result = cw::sensitivityToJson(r);
    QVERIFY(error({{"a.h5", p0}, {"b.h5", baseline}}).contains("measured another baseline"));
    // Not a part at all.
    QVERIFY(testutil::errorOf([&] { cw::cluster::readPart(m_dir.filePath("nothing.h5").toStdString()); }).contains("nothing.h5"));
    const QString model = m_dir.filePath("model.h5");
    cw::saveModel(m_demo, model.toStdString());
    QVERIFY(!testutil::errorOf([&] { cw::cluster::readPart(model.toStdString()); }).isEmpty());
}

void TestSweep::shardChecksItsInputs()
{
    SweepPlan plan = demoPlan();
    cw::cluster::checkPlanInputs(plan); // as written
    SweepPlan tool = plan;
    tool.tool = "compression-workbench 0.0.9 (old)";
    QVERIFY(testutil::errorOf([&] { cw::cluster::checkPlanInputs(tool); }).contains("the plan was written by compression-workbench 0.0.9"));
    // A model file changed after the plan was written.
    const QString model = m_dir.filePath("changing.h5");
    cw::saveModel(m_demo, model.toStdString());
    SweepPlan file = plan;
    file.modelSpec = "changing.h5";
    file.model = cw::modelDigest(model.toStdString());
    file.model.path = "changing.h5"; // relative to the plan's directory
    cw::cluster::checkPlanInputs(file);
    cw::Model changed = m_demo;
    changed.metadata["note"] = "changed";
    cw::saveModel(changed, model.toStdString());
    QVERIFY(testutil::errorOf([&] { cw::cluster::checkPlanInputs(file); }).contains("the model 'changing.h5' changed"));
    // A data file with another hash.
    SweepPlan data = plan;
    data.data.front().files.front().sha256 = std::string(64, '0');
    QVERIFY(testutil::errorOf([&] { cw::cluster::checkPlanInputs(data); }).contains("changed since the plan was written"));
}

void TestSweep::slurmScripts()
{
    const SweepPlan plan = demoPlan();
    cw::cluster::SlurmOptions o;
    o.shards = 3;
    o.cpus = 2;
    o.arrayLimit = 2;
    o.partition = "short";
    o.time = "00:30:00";
    o.project = "/shared/p.cwproj";
    o.cwb = CW_CWB_PATH;
    const QString dir = m_dir.filePath("slurm");
    const cw::cluster::SlurmJob job = cw::cluster::writeSlurmJob(plan, dir.toStdString(), o);
    QCOMPARE(cw::cluster::planDigest(cw::cluster::loadPlan(job.plan)), cw::cluster::planDigest(plan));
    const QString shards = QString::fromStdString(fileText(QString::fromStdString(job.shardScript)));
    for (const QString &line : {QStringLiteral("#SBATCH --array=0-2%2"), QStringLiteral("#SBATCH --cpus-per-task=2"),
                                QStringLiteral("#SBATCH --partition=short"), QStringLiteral("#SBATCH --time=00:30:00"),
                                QStringLiteral("#SBATCH --output=%1/logs/shard-%a.log").arg(dir),
                                QStringLiteral(" --shard \"${SLURM_ARRAY_TASK_ID}/3\" ")})
        QVERIFY2(shards.contains(line), qPrintable(line + " not in\n" + shards));
    QVERIFY(shards.startsWith("#!/bin/bash\n"));
    const QString merge = QString::fromStdString(fileText(QString::fromStdString(job.mergeScript)));
    QVERIFY2(merge.contains(QStringLiteral(" merge %1/part-0.h5 %1/part-1.h5 %1/part-2.h5 --project /shared/p.cwproj -o "
                                           "%1/merged.json")
                                .arg(dir)),
             qPrintable(merge));
    QVERIFY(QFileInfo(QString::fromStdString(job.shardScript)).isExecutable());
    QVERIFY(QFileInfo(dir + "/logs").isDir());
    // Refusals.
    o.shards = 5;
    QVERIFY(testutil::errorOf([&] { cw::cluster::writeSlurmJob(plan, dir.toStdString(), o); }).contains("the plan has 4 items"));
    o.shards = 2;
    o.cwb = "cwb";
    QVERIFY(testutil::errorOf([&] { cw::cluster::writeSlurmJob(plan, dir.toStdString(), o); }).contains("absolute path"));
    o.cwb = CW_CWB_PATH;
    QVERIFY(testutil::errorOf([&] { cw::cluster::writeSlurmJob(plan, m_dir.filePath("with space").toStdString(), o); })
                .contains("spaces"));
    // An evaluation's merge writes its result only.
    const SweepPlan evaluation = cw::cluster::evaluatePlan({"eval", "demo", "--data", "fashion-mnist"}, "demo",
                                                           "fashion-mnist", 1000, 256, m_dir.path().toStdString());
    QVERIFY(testutil::errorOf([&] { cw::cluster::writeSlurmJob(evaluation, dir.toStdString(), o); })
                .contains("the merge of an \"evaluate\" plan writes its result, not a project"));
    o.project.clear();
    const QString merged = QString::fromStdString(
        fileText(QString::fromStdString(cw::cluster::writeSlurmJob(evaluation, dir.toStdString(), o).mergeScript)));
    QVERIFY2(!merged.contains("--project") && merged.contains("merged.json"), qPrintable(merged));
}

void TestSweep::commandOfAGuiSweep()
{
    // The arguments that sweep as the GUI's options do (the GUI's Run on Cluster: test_gui_sensitivity runs them).
    cw::SensitivityOptions o = m_options;
    o.layers = {"fc1"};
    o.granularity = cw::Granularity::Tensor;
    o.inputs.values["sr"] = 16000;
    o.inputs.shapes["N"] = {8};
    cw::Preprocess pre;
    pre.mean = {0.5f};
    pre.std = {0.25f};
    pre.layout = cw::Preprocess::Layout::NHWC;
    const std::vector<std::string> a = cw::cluster::sensitivityCommand("demo", "fashion-mnist", pre, o);
    std::string line;
    for (const std::string &s : a)
        line += (line.empty() ? "" : " ") + s;
    for (const char *part : {"sensitivity demo --data fashion-mnist --limit 200 --batch 250 --prune 0.5,0.9 --bits 4,2 "
                             "--granularity tensor --metric auto --threads 1 --layer fc1 --scale ",
                             " --mean 0.5 --std 0.25 --layout nhwc --value sr=16000 --shape N=8"})
        QVERIFY2(line.find(part) != std::string::npos, line.c_str());
    // A scale that reads back as the same float.
    const auto scale = std::find(a.begin(), a.end(), "--scale");
    QCOMPARE(std::strtof(scale[1].c_str(), nullptr), pre.scale);
    o.inputs.tensors["x"] = cw::Tensor(cw::DType::Float32, {1});
    QVERIFY(testutil::errorOf([&] { cw::cluster::sensitivityCommand("demo", "fashion-mnist", pre, o); })
                .contains("'x' is fed from memory"));
}

void TestSweep::cliPlanShardsMerge()
{
    // cwb sensitivity --plan, two shards by hand, cwb merge into a project: the project's sensitivity is what
    // cwb sensitivity computes at once (the same threads).
    const QString dir = m_dir.filePath("cli");
    QVERIFY(QDir().mkpath(dir));
    QString error;
    const QStringList sweep{"demo", "--data", "fashion-mnist", "--limit", "200", "--prune", "0.5,0.9", "--bits", "4,2",
                            "--threads", "1"};
    testutil::runProcess(CW_CWB_PATH, QStringList{"sensitivity"} + sweep + QStringList{"--plan", dir + "/plan.json"},
                         &error, 60000, dir);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    testutil::runShards(CW_CWB_PATH, dir, 2, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    testutil::runProcess(CW_CWB_PATH,
                         {"merge", dir + "/part-0.h5", dir + "/part-1.h5", "--project", dir + "/p.cwproj", "-o",
                          dir + "/merged.json"},
                         &error, 60000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QByteArray local =
        testutil::runProcess(CW_CWB_PATH, QStringList{"sensitivity"} + sweep + QStringList{"--json"}, &error, 120000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const cw::SensitivityResult merged = cw::sensitivityFromJson(fileText(dir + "/merged.json"));
    QCOMPARE(withoutSeconds(merged), withoutSeconds(cw::sensitivityFromJson(local.toStdString())));
    const cw::Project project = cw::loadProject((dir + "/p.cwproj").toStdString());
    QCOMPARE(withoutSeconds(cw::sensitivityFromJson(project.base.analysis.at(cw::kSensitivityKey))),
             withoutSeconds(merged));
    QCOMPARE(project.baseSpec, std::string("demo"));
    QCOMPARE(project.datasets.size(), size_t(1));
    // A missing part is named.
    testutil::runProcess(CW_CWB_PATH, {"merge", dir + "/part-0.h5"}, &error, 60000);
    QVERIFY2(error.contains("shard 1 of 2 is missing"), qPrintable(error));
}

void TestSweep::cliRecipesPlan()
{
    // cwb compress --recipe A --recipe B --recipe C --plan: three recipes, two shards, merged into a project as three
    // variants in plan order, each measured as cwb compress measures it alone (accuracy and file size; latency is
    // a timing). A part of it does not merge as a sensitivity sweep.
    const QString dir = m_dir.filePath("recipes");
    QVERIFY(QDir().mkpath(dir));
    const QString recipes = QStringLiteral(CW_SOURCE_DIR) + "/docs/recipes/";
    const QStringList common{"demo", "--data", "fashion-mnist", "--limit", "300", "--train-limit", "600",
                             "--iterations", "3", "--threads", "1"};
    QString error;
    testutil::runProcess(CW_CWB_PATH,
                         QStringList{"compress"} + common +
                             QStringList{"--recipe", recipes + "int8.json", "--recipe", recipes + "w4-weights.json",
                                         "--recipe", recipes + "magnitude50-int8.json", "--plan", dir + "/plan.json"},
                         &error, 120000, dir);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const SweepPlan plan = cw::cluster::loadPlan((dir + "/plan.json").toStdString());
    QCOMPARE(plan.kind, std::string("recipes"));
    QCOMPARE(plan.items, (std::vector<std::string>{"int8", "w4-weights", "magnitude50-int8"}));
    QCOMPARE(plan.data.size(), size_t(2)); // evaluation and (by default) training
    testutil::runShards(CW_CWB_PATH, dir, 2, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    testutil::runProcess(CW_CWB_PATH, {"merge", dir + "/part-0.h5", dir + "/part-1.h5", "--project", dir + "/p.cwproj"},
                         &error, 60000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const cw::Project project = cw::loadProject((dir + "/p.cwproj").toStdString());
    QCOMPARE(project.variants.size(), size_t(3));
    QVERIFY(project.baseMetrics);
    for (size_t i = 0; i < 3; ++i) {
        const cw::ProjectVariant &v = project.variants[i];
        QCOMPARE(v.variant.name, plan.items[i]);
        QCOMPARE(v.origin, std::string("compress"));
        QVERIFY(v.variant.measured);
        QVERIFY2(v.provenance.command.find("cwb compress demo --data fashion-mnist") == 0, v.provenance.command.c_str());
        const QByteArray alone = testutil::runProcess(
            CW_CWB_PATH,
            QStringList{"compress"} + common +
                QStringList{"--recipe", recipes + QStringList{"int8.json", "w4-weights.json", "magnitude50-int8.json"}[int(i)],
                            "-o", dir + "/alone.h5", "--json"},
            &error, 300000);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const QJsonObject measured = QJsonDocument::fromJson(alone).object()["variant"].toObject();
        QCOMPARE(v.variant.metrics.accuracy, measured["accuracy"].toDouble());
        QCOMPARE(double(v.variant.metrics.fileBytes), measured["file_bytes"].toDouble());
    }
    // Parts of a recipes sweep are not a sensitivity sweep's.
    std::vector<std::pair<std::string, SweepPart>> parts;
    for (int s = 0; s < 2; ++s) {
        const std::string path = (dir + QStringLiteral("/part-%1.h5").arg(s)).toStdString();
        parts.emplace_back(path, cw::cluster::readPart(path));
    }
    QVERIFY(testutil::errorOf([&] { cw::cluster::mergeSensitivity(parts); }).contains("is a part of a \"recipes\" sweep"));
    parts.pop_back();
    QVERIFY(testutil::errorOf([&] { cw::cluster::mergeVariants(parts); }).contains("shard 1 of 2 is missing (its items: w4-weights)"));
}

void TestSweep::cliLanguageModelPlan()
{
    // A language model's sweep over formats and a bit-width (the bit-width given, so swept beside the formats), in
    // three shards merged: the rows equal cwb sensitivity's at once, bit for bit, and so does the recipe of the
    // allocation to a budget that cwb merge writes.
    const QString dir = m_dir.filePath("lm");
    QVERIFY(QDir().mkpath(dir));
    const QString text = QStringLiteral(CW_SOURCE_DIR) + "/docs/language-models.md";
    const QStringList sweep{"demo-lm", "--data", text, "--limit", "2", "--formats", "q8_0,q4_0,q2_k", "--bits", "3"};
    QString error;
    testutil::runProcess(CW_CWB_PATH, QStringList{"sensitivity"} + sweep + QStringList{"--plan", dir + "/plan.json"},
                         &error, 60000, dir);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const SweepPlan plan = cw::cluster::loadPlan((dir + "/plan.json").toStdString());
    QCOMPARE(plan.kind, std::string("lm-sensitivity"));
    QCOMPARE(plan.items.size(), size_t(16)); // 4 blocks × (attn_qkv, attn_output, ffn_up, ffn_down)
    QCOMPARE(plan.data.size(), size_t(1));
    QCOMPARE(plan.data[0].role, std::string("text"));
    QCOMPARE(plan.data[0].files.size(), size_t(1));
    QCOMPARE(plan.model.path, std::string()); // built in: named, not a path
    const QStringList parts = testutil::runShards(CW_CWB_PATH, dir, 3, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    testutil::runProcess(CW_CWB_PATH,
                         QStringList{"merge"} + parts +
                             QStringList{"-o", dir + "/merged.json", "--target-bpw", "5", "--recipe-out",
                                         dir + "/merged-mix.json"},
                         &error, 60000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QByteArray local = testutil::runProcess(
        CW_CWB_PATH,
        QStringList{"sensitivity"} + sweep + QStringList{"--json", "--target-bpw", "5", "--recipe-out", dir + "/mix.json"},
        &error, 120000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const cw::lm::SensitivityResult merged = cw::lm::sensitivityFromJson(fileText(dir + "/merged.json"), "merged");
    QCOMPARE(merged.rows.size(), size_t(16 * 4));
    QCOMPARE(merged.rows[0].setting, std::string("3-bit per row")); // bit-widths first, then the formats
    QCOMPARE(QString::fromStdString(cw::lm::sensitivityToJson(merged)),
             QString::fromStdString(cw::lm::sensitivityToJson(cw::lm::sensitivityFromJson(local.toStdString(), "local"))));
    QCOMPARE(fileText(dir + "/merged-mix.json"), fileText(dir + "/mix.json"));
    // The budget as the GGUF file's size: the file cwb compress writes by the recipe fits it.
    testutil::runProcess(CW_CWB_PATH,
                         QStringList{"merge"} + parts +
                             QStringList{"-o", dir + "/merged-again.json", "--target-size", "2.8MiB", "--recipe-out",
                                         dir + "/sized-mix.json"},
                         &error, 60000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    testutil::runProcess(CW_CWB_PATH,
                         {"compress", "demo-lm", "--recipe", dir + "/sized-mix.json", "--no-measure", "-o",
                          dir + "/sized.gguf"},
                         &error, 120000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY(QFileInfo(dir + "/sized.gguf").size() <= qint64(2.8 * 1048576));
    QVERIFY(QFileInfo(dir + "/sized.gguf").size() > qint64(2.7 * 1048576));
    // The plan a GUI sweep writes has these arguments.
    cw::lm::SensitivityOptions o;
    o.bits = {3};
    o.formats = {"q8_0", "q4_0", "q2_k"};
    o.perplexity.ctx = 0;
    o.perplexity.chunks = 2;
    std::string line;
    for (const std::string &a : cw::cluster::lmSensitivityCommand("demo-lm", "brown:heldout", o))
        line.append(line.empty() ? "" : " ").append(a);
    QCOMPARE(line, std::string("sensitivity demo-lm --data brown:heldout --limit 2 --bits 3 --granularity group "
                               "--prune  --formats q8_0,q4_0,q2_k"));
    o.perplexity.ctx = 64;
    QVERIFY(testutil::errorOf([&] { cw::cluster::lmSensitivityCommand("demo-lm", "x.txt", o); }).contains("context"));
    // Merged into a language model's project: its sensitivity, beside a variant cwb compress adds; cwb project show
    // lists both.
    testutil::runProcess(CW_CWB_PATH, QStringList{"merge"} + parts + QStringList{"--project", dir + "/p.cwproj"}, &error,
                         60000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    testutil::runProcess(CW_CWB_PATH,
                         {"compress", "demo-lm", "--recipe", dir + "/mix.json", "--data", text, "--limit", "2",
                          "--project", dir + "/p.cwproj"},
                         &error, 120000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const cw::LmProject project = cw::loadLmProject((dir + "/p.cwproj").toStdString());
    QVERIFY(project.sensitivity);
    QCOMPARE(QString::fromStdString(cw::lm::sensitivityToJson(*project.sensitivity)),
             QString::fromStdString(cw::lm::sensitivityToJson(merged)));
    QCOMPARE(project.sensitivityText, text.toStdString());
    QCOMPARE(project.variants.size(), size_t(1));
    QVERIFY(project.variants[0].perplexity.perplexity > 0 && project.variants[0].speed.generationTokensPerSecond > 0);
    QVERIFY(project.variants[0].result->bitsPerWeight() < 32);
    const QByteArray shown = testutil::runProcess(CW_CWB_PATH, {"project", "show", dir + "/p.cwproj", "--json"}, &error,
                                                  60000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QJsonObject doc = QJsonDocument::fromJson(shown).object();
    QCOMPARE(doc["variants"].toArray().size(), 1);
    QVERIFY(!doc["variants"].toArray()[0].toObject().contains("encoded")); // the bytes stay in the file
    // Refusals: a missing shard, a project of another model, a part of another kind.
    testutil::runProcess(CW_CWB_PATH, {"merge", parts[0], parts[2]}, &error, 60000);
    QVERIFY2(error.contains("shard 1 of 3 is missing (its items: blk.0.attn_qkv.weight"), qPrintable(error));
    cw::saveLmProject(cw::newLmProject(text.toStdString()), (dir + "/other.cwproj").toStdString());
    testutil::runProcess(CW_CWB_PATH, QStringList{"merge"} + parts + QStringList{"--project", dir + "/other.cwproj"},
                         &error, 60000);
    QVERIFY2(error.contains("is not the project's base model"), qPrintable(error));
    std::vector<std::pair<std::string, SweepPart>> read;
    for (const QString &part : parts)
        read.emplace_back(part.toStdString(), cw::cluster::readPart(part.toStdString()));
    QVERIFY(testutil::errorOf([&] { cw::cluster::mergeSensitivity(read); }).contains("\"lm-sensitivity\" sweep"));
    // The text changed since the plan: a shard refuses to compute.
    QFile::copy(text, dir + "/text.md");
    testutil::runProcess(CW_CWB_PATH,
                         {"sensitivity", "demo-lm", "--data", "text.md", "--limit", "2", "--bits", "3", "--plan",
                          dir + "/plan2.json"},
                         &error, 60000, dir);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QFile f(dir + "/text.md");
    QVERIFY(f.open(QIODevice::Append));
    f.write("more\n");
    f.close();
    testutil::runProcess(CW_CWB_PATH, {"sweep", dir + "/plan2.json", "--shard", "0/2", "-o", dir + "/x.h5"}, &error,
                         60000);
    QVERIFY2(error.contains("changed since the plan was written"), qPrintable(error));
}

void TestSweep::folderModelDigest()
{
    // A Hugging Face folder is hashed by its files' relative names and hashes (sorted), so that a plan notices a
    // changed weight file or config; its bytes are the files' sum.
    const QString dir = m_dir.filePath("hf");
    QVERIFY(QDir().mkpath(dir + "/sub"));
    QVERIFY(testutil::writeFile(dir + "/config.json", "{}"));
    QVERIFY(testutil::writeFile(dir + "/sub/model.safetensors", "0123456789"));
    const cw::FileDigest d = cw::modelDigest(dir.toStdString());
    const std::string listing = "config.json " + cw::digestFile((dir + "/config.json").toStdString()).sha256 +
                                "\nsub/model.safetensors " +
                                cw::digestFile((dir + "/sub/model.safetensors").toStdString()).sha256 + "\n";
    QCOMPARE(d.sha256, cw::sha256Hex(listing));
    QCOMPARE(d.bytes, int64_t(12));
    QCOMPARE(d.path, QDir(dir).absolutePath().toStdString());
    QVERIFY(testutil::writeFile(dir + "/sub/model.safetensors", "0123456780"));
    QVERIFY(cw::modelDigest(dir.toStdString()).sha256 != d.sha256);
    // The built-in language model is named, not a file.
    QCOMPARE(cw::modelDigest("demo-lm").path, std::string());
    QVERIFY(cw::modelDigest("demo-lm").bytes > 0);
}

void TestSweep::cliLanguageModelRecipes()
{
    // cwb compress demo-lm --recipe A --recipe B --recipe C --plan: three recipes in two shards, merged into a
    // language model's project in plan order; each variant measures as cwb compress measures it alone (perplexity
    // and bytes exactly; tokens per second are timings) and its command makes it again.
    const QString dir = m_dir.filePath("lm-recipes");
    QVERIFY(QDir().mkpath(dir));
    const QString text = QStringLiteral(CW_SOURCE_DIR) + "/docs/language-models.md";
    QStringList recipes;
    for (const char *format : {"q8_0", "q4_0", "q2_k"}) {
        recipes << dir + "/" + format + ".json";
        QVERIFY(testutil::writeFile(recipes.back(),
                                    QStringLiteral(R"({"quantize": {"weights": {"format": "%1"}}})").arg(format).toUtf8()));
    }
    const QStringList common{"demo-lm", "--data", text, "--limit", "2"};
    QString error;
    testutil::runProcess(CW_CWB_PATH,
                         QStringList{"compress"} + common +
                             QStringList{"--recipe", recipes[0], "--recipe", recipes[1], "--recipe", recipes[2], "--plan",
                                         dir + "/plan.json"},
                         &error, 60000, dir);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const SweepPlan plan = cw::cluster::loadPlan((dir + "/plan.json").toStdString());
    QCOMPARE(plan.kind, std::string("lm-recipes"));
    QCOMPARE(plan.items, (std::vector<std::string>{"q8_0", "q4_0", "q2_k"}));
    QCOMPARE(plan.data.size(), size_t(1));
    QCOMPARE(plan.data[0].role, std::string("evaluation"));
    const QStringList parts = testutil::runShards(CW_CWB_PATH, dir, 2, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    testutil::runProcess(CW_CWB_PATH, QStringList{"merge"} + parts + QStringList{"--project", dir + "/p.cwproj"}, &error,
                         60000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const cw::LmProject project = cw::loadLmProject((dir + "/p.cwproj").toStdString());
    QCOMPARE(project.variants.size(), size_t(3));
    for (size_t i = 0; i < 3; ++i) {
        const cw::LmProjectVariant &v = project.variants[i];
        QCOMPARE(v.name, plan.items[i]);
        QVERIFY2(v.provenance.command.find("cwb compress demo-lm --data") == 0 &&
                     v.provenance.command.find("--recipe " + plan.items[i] + ".json") != std::string::npos,
                 v.provenance.command.c_str());
        QVERIFY(v.speed.generationTokensPerSecond > 0 && v.baseSpeed.generationTokensPerSecond > 0);
        const QByteArray alone = testutil::runProcess(
            CW_CWB_PATH, QStringList{"compress"} + common + QStringList{"--recipe", recipes[int(i)], "--json"}, &error,
            120000);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        const QJsonObject doc = QJsonDocument::fromJson(alone).object();
        QCOMPARE(v.perplexity.perplexity, doc["variant"].toObject()["perplexity"].toDouble());
        QCOMPARE(v.basePerplexity, doc["base"].toObject()["perplexity"].toDouble());
        QCOMPARE(double(v.result->bytes), doc["variant"].toObject()["bytes"].toDouble());
    }
    // A part of it is not a sensitivity sweep's, nor a CNN's recipes; a missing shard is named.
    std::vector<std::pair<std::string, SweepPart>> read;
    for (const QString &part : parts)
        read.emplace_back(part.toStdString(), cw::cluster::readPart(part.toStdString()));
    QVERIFY(testutil::errorOf([&] { cw::cluster::mergeVariants(read); }).contains("\"lm-recipes\" sweep"));
    read.pop_back();
    QVERIFY(testutil::errorOf([&] { cw::cluster::mergeLmVariants(read); }).contains("shard 1 of 2 is missing (its items: q4_0)"));
}

void TestSweep::cliLanguageModelByMatrix()
{
    // cwb compress demo-lm --recipe R --plan --by-matrix: one GPTQ recipe that is not sequential, its matrices in
    // three shards; the merge assembles and measures the variant, which equals cwb compress of the same recipe in
    // one process: the same encoded bytes of every tensor, the same perplexity.
    const QString dir = m_dir.filePath("lm-matrices");
    QVERIFY(QDir().mkpath(dir));
    const QString text = QStringLiteral(CW_SOURCE_DIR) + "/docs/language-models.md";
    const QString recipe = dir + "/gptq.json";
    QVERIFY(testutil::writeFile(recipe, R"({"name": "gptq-q4", "sequential": false,
        "quantize": {"weights": {"bits": 4, "method": "gptq", "format": "q4_0"}},
        "layers": {"blk.0.ffn_down.weight": {"prune": {"method": "sparsegpt", "ratio": 0.5}}}})"));
    const QStringList common{"demo-lm", "--data", text, "--train-data", text, "--train-limit", "1024", "--limit", "2",
                             "--threads", "1"};
    QString error;
    testutil::runProcess(CW_CWB_PATH,
                         QStringList{"compress"} + common +
                             QStringList{"--recipe", recipe, "--plan", dir + "/plan.json", "--by-matrix"},
                         &error, 60000, dir);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const SweepPlan plan = cw::cluster::loadPlan((dir + "/plan.json").toStdString());
    QCOMPARE(plan.kind, std::string("lm-matrices"));
    QCOMPARE(plan.items.size(), size_t(16)); // 4 blocks × qkv, output, up, down
    QCOMPARE(plan.items.front(), std::string("blk.0.attn_output.weight")); // in file order
    QCOMPARE(plan.recipes.size(), size_t(1));
    QVERIFY(std::find(plan.command.begin(), plan.command.end(), "--by-matrix") == plan.command.end());
    const QStringList parts = testutil::runShards(CW_CWB_PATH, dir, 3, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    testutil::runProcess(CW_CWB_PATH, QStringList{"merge"} + parts + QStringList{"--project", dir + "/p.cwproj"},
                         &error, 120000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    testutil::runProcess(CW_CWB_PATH,
                         QStringList{"compress"} + common + QStringList{"--recipe", recipe, "--project", dir + "/one.cwproj"},
                         &error, 120000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const cw::LmProject merged = cw::loadLmProject((dir + "/p.cwproj").toStdString());
    const cw::LmProject alone = cw::loadLmProject((dir + "/one.cwproj").toStdString());
    QCOMPARE(merged.variants.size(), size_t(1));
    const cw::LmProjectVariant &m = merged.variants.front(), &a = alone.variants.front();
    QCOMPARE(m.name, std::string("gptq-q4"));
    QVERIFY(!m.recipe.sequential);
    QVERIFY2(m.provenance.command.find("--recipe gptq-q4.json") != std::string::npos, m.provenance.command.c_str());
    QCOMPARE(m.result->encoded.size(), size_t(16));
    for (const auto &[name, enc] : a.result->encoded) {
        QVERIFY2(m.result->encoded.count(name), name.c_str());
        QCOMPARE(m.result->encoded.at(name).type, enc.type);
        QVERIFY2(m.result->encoded.at(name).bytes == enc.bytes, name.c_str());
    }
    QCOMPARE(m.result->bytes, a.result->bytes);
    QCOMPARE(m.result->calibrationTokens, a.result->calibrationTokens);
    QCOMPARE(m.result->tensors.size(), a.result->tensors.size());
    for (size_t i = 0; i < a.result->tensors.size(); ++i) {
        QCOMPARE(m.result->tensors[i].name, a.result->tensors[i].name);
        QCOMPARE(m.result->tensors[i].settings, a.result->tensors[i].settings);
        QCOMPARE(m.result->tensors[i].zeros, a.result->tensors[i].zeros);
    }
    QCOMPARE(m.perplexity.perplexity, a.perplexity.perplexity);
    QCOMPARE(m.basePerplexity, a.basePerplexity);

    // A missing shard is named; a sequential recipe, several recipes and a CNN are refused.
    std::vector<std::pair<std::string, SweepPart>> read;
    for (const QString &part : parts)
        read.emplace_back(part.toStdString(), cw::cluster::readPart(part.toStdString()));
    read.erase(read.begin() + 1);
    QVERIFY(testutil::errorOf([&] { cw::cluster::mergeLmMatrices(read); })
                .contains("shard 1 of 3 is missing (its items: blk.0.attn_qkv.weight, blk.1.attn_output.weight"));
    QVERIFY(testutil::writeFile(dir + "/sequential.json", R"({"name": "s", "quantize": {"weights": {"method": "gptq", "format": "q4_0"}}})"));
    testutil::runProcess(CW_CWB_PATH,
                         QStringList{"compress"} + common +
                             QStringList{"--recipe", dir + "/sequential.json", "--plan", dir + "/s.json", "--by-matrix"},
                         &error, 60000, dir);
    QVERIFY2(error.contains("not sequential (\"sequential\": false)"), qPrintable(error));
    testutil::runProcess(CW_CWB_PATH,
                         QStringList{"compress"} + common +
                             QStringList{"--recipe", recipe, "--recipe", recipe, "--plan", dir + "/s.json", "--by-matrix"},
                         &error, 60000, dir);
    QVERIFY2(error.contains("give one --recipe"), qPrintable(error));
    testutil::runProcess(CW_CWB_PATH,
                         QStringList{"compress", "demo", "--recipe", recipe, "--plan", dir + "/s.json", "--by-matrix"},
                         &error, 60000, dir);
    QVERIFY2(error.contains("not a language model"), qPrintable(error));
    testutil::runProcess(CW_CWB_PATH, QStringList{"compress"} + common + QStringList{"--recipe", recipe, "--by-matrix"},
                         &error, 60000, dir);
    QVERIFY2(error.contains("--by-matrix writes a plan"), qPrintable(error));
}

void TestSweep::cliEvaluationPlans()
{
    // cwb eval … --plan and cwb perplexity … --plan: the samples (the chunks) as ranges of whole batches, computed in
    // shards and merged into what the command prints in one process, bit for bit.
    const QString dir = m_dir.filePath("evaluations");
    QVERIFY(QDir().mkpath(dir));
    QString error;
    auto json = [&](const QStringList &args) {
        const QByteArray out = testutil::runProcess(CW_CWB_PATH, args, &error, 120000, dir);
        return QJsonDocument::fromJson(out).object();
    };
    const QStringList eval{"eval", "demo", "--data", "fashion-mnist", "--limit", "1000", "--batch", "64", "--threads", "1"};
    const QJsonObject alone = json(eval + QStringList{"--json"});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    json(eval + QStringList{"--plan", dir + "/plan.json"});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    SweepPlan plan = cw::cluster::loadPlan((dir + "/plan.json").toStdString());
    QCOMPARE(plan.kind, std::string("evaluate"));
    QCOMPARE(plan.items.size(), size_t(16)); // 1000 samples in batches of 64
    QCOMPARE(plan.items[1], std::string("64:128"));
    QCOMPARE(plan.items.back(), std::string("960:1000"));
    QStringList parts = testutil::runShards(CW_CWB_PATH, dir, 3, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QJsonObject merged = json(QStringList{"merge"} + parts + QStringList{"--json", "-o", dir + "/merged.json"});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    for (const char *key : {"accuracy", "top5", "loss", "samples"})
        QVERIFY2(merged[key].toDouble() == alone[key].toDouble(), qPrintable(lastBitMismatch(key, merged, alone)));
    QVERIFY(QFile::exists(dir + "/merged.json"));
    std::vector<std::pair<std::string, SweepPart>> read;
    for (const QString &part : parts)
        read.emplace_back(part.toStdString(), cw::cluster::readPart(part.toStdString()));
    QVERIFY(testutil::errorOf([&] { cw::cluster::mergePerplexity(read); }).contains("\"evaluate\" sweep, not \"lm-perplexity\""));
    read.pop_back();
    QVERIFY(testutil::errorOf([&] { cw::cluster::mergeEvaluation(read); }).contains("shard 2 of 3 is missing (its items: 128:192"));
    json(QStringList{"merge"} + parts + QStringList{"--project", dir + "/p.cwproj"});
    QVERIFY2(error.contains("writes its result, not a project"), qPrintable(error));
    json(eval + QStringList{"--reference", "demo", "--plan", dir + "/r.json"});
    QVERIFY2(error.contains("--reference is not planned"), qPrintable(error));
    // Ranges must follow each other from 0.
    plan.items = {"0:64", "128:192"};
    QVERIFY(testutil::errorOf([&] { cw::cluster::planFromJson(cw::cluster::planToJson(plan), "p"); })
                .contains("'128:192' does not follow"));

    const QString text = QStringLiteral(CW_SOURCE_DIR) + "/docs/language-models.md";
    const QStringList perplexity{"perplexity", "demo-lm", "--text", text, "--ctx", "64", "--threads", "1"};
    const QJsonObject whole = json(perplexity + QStringList{"--json"});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY(QDir(dir).removeRecursively() && QDir().mkpath(dir));
    json(perplexity + QStringList{"--plan", dir + "/plan.json"});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    plan = cw::cluster::loadPlan((dir + "/plan.json").toStdString());
    QCOMPARE(plan.kind, std::string("lm-perplexity"));
    QVERIFY(plan.items.size() <= 256); // 299 chunks in ranges of 2
    QCOMPARE(qint64(cw::cluster::parseRange(plan.items.back()).second), qint64(whole["chunks"].toInteger()));
    parts = testutil::runShards(CW_CWB_PATH, dir, 2, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    const QJsonObject joined = json(QStringList{"merge"} + parts + QStringList{"--json"});
    QVERIFY2(error.isEmpty(), qPrintable(error));
    for (const char *key : {"perplexity", "nll", "scored", "chunks", "ctx"})
        QVERIFY2(joined[key].toDouble() == whole[key].toDouble(), qPrintable(lastBitMismatch(key, joined, whole)));
    QCOMPARE(joined["chunk_perplexity"].toArray(), whole["chunk_perplexity"].toArray());
}

QTEST_GUILESS_MAIN(TestSweep)
#include "test_sweep.moc"
