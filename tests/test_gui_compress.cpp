// The Compress tab on the demo CNN: in-place edits and global controls change the recipe and the predicted
// size, and undo / redo (the stack and the Ctrl+Z / Ctrl+Shift+Z shortcuts) walk them back and forth; recipe
// files round-trip and a bad one is reported without changing anything; "Distribute by sensitivity" meets
// the target from a stored analysis and says so when there is none; a compression job on a small evaluation
// subset adds a measured variant that can be exported; queued jobs run in order and can be removed; a
// cancelled job leaves the model and the variants exactly as they were; the GUI thread never stalls for
// 50 ms while a job runs (a QTimer probe); the controls are remembered.
#include <QtTest>

#include <QCheckBox>
#include <QComboBox>
#include <QCryptographicHash>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFile>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QThread>
#include <QToolTip>
#include <QUndoStack>

#include <qcustomplot.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>

#include "core/compress/allocate.h"
#include "core/compress/recipe.h"
#include "core/compress/sensitivity.h"
#include "core/io/model_io.h"
#include "core/runtime/onednn.h"
#include "core/train/demo_models.h"
#include "testutil.h"
#include "ui/formatting.h"
#include "ui/mainwindow.h"
#include "ui/models/recipetablemodel.h"
#include "ui/views/compressview.h"

using namespace cw;
using namespace cw::ui;

namespace {

constexpr int kJobTimeoutMs = 600000;

// Everything that makes up the project's model: graph, weights (bit for bit), metadata and analysis.
QByteArray fingerprint(const Model &m)
{
    QCryptographicHash h(QCryptographicHash::Sha256);
    for (const Node &n : m.graph.nodes) {
        h.addData(QByteArray::fromStdString(n.name + "/" + n.opType));
        for (const std::string &i : n.inputs)
            h.addData(QByteArray::fromStdString(i));
    }
    for (const auto &[name, t] : m.graph.initializers) {
        h.addData(QByteArray::fromStdString(name));
        h.addData(QByteArrayView(static_cast<const char *>(t.rawData()), qsizetype(t.byteSize())));
    }
    for (const auto &[k, v] : m.metadata)
        h.addData(QByteArray::fromStdString(k + "=" + v));
    for (const auto &[k, v] : m.analysis)
        h.addData(QByteArray::fromStdString(k + "=" + v));
    return h.result();
}

// Fast jobs: a few latency iterations, a small evaluation subset.
CompressOptions fastOptions()
{
    CompressOptions o;
    o.benchIterations = 3;
    return o;
}

void prepare(CompressView &view, const Model &model, int evalLimit = 200)
{
    view.setModel(&model);
    view.setEvaluationLimit(evalLimit);
    view.setCompressOptions(fastOptions());
}

QModelIndex cell(CompressView &view, int row, int column)
{
    return view.tableModel()->index(row, column);
}

} // namespace

class TestGuiCompress : public QObject {
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("CompressionWorkbench"));
        QCoreApplication::setApplicationName(QStringLiteral("Compression Workbench Compress Test"));
        QSettings().clear();
        m_model = loadModel("demo");
        m_layers = int(planLayers(Recipe{}, m_model).size());
        QVERIFY(m_layers >= 3);
    }

    // Every test starts from the default controls (a view writes its controls to the settings when it goes).
    void init() { QSettings().clear(); }

    void defaultRecipeFromControls()
    {
        CompressView view;
        view.setModel(&m_model);
        QCOMPARE(view.tableModel()->rowCount(), m_layers);
        // Defaults: 8-bit per-channel weights, no pruning, float activations, no fine-tuning.
        QVERIFY(view.recipe().weights.has_value());
        QCOMPARE(view.recipe().weights->bits, 8);
        QVERIFY(view.recipe().weights->granularity == Granularity::Channel);
        QVERIFY(!view.recipe().prune);
        QVERIFY(!view.recipe().activations);
        QCOMPARE(view.undoStack()->count(), 0);
        // The whole-model prediction is the core's prediction of the plan.
        const ModelPrediction expected = predictModel(m_model, planLayers(view.recipe(), m_model));
        QCOMPARE(view.prediction().bytes, expected.bytes);
        QCOMPARE(view.prediction().baseBytes, int64_t(m_model.graph.parameterBytes()));
        QVERIFY(view.prediction().ratio > 3.5 && view.prediction().ratio < 4.0);
    }

    void editsUndoRedo()
    {
        CompressView view;
        view.resize(1000, 700);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.setModel(&m_model);
        RecipeTableModel *table = view.tableModel();
        const std::string first = table->plan()[0].node, second = table->plan()[1].node;
        const std::string initial = recipeToJson(view.recipe());
        const int64_t bytes0 = view.prediction().bytes;

        // Four edits in place, each one step on the stack.
        QVERIFY(table->setData(cell(view, 0, RecipeTableModel::Bits), QStringLiteral("4")));
        QCOMPARE(view.recipe().layers.at(first).weights->bits, 4);
        const int64_t bytes1 = view.prediction().bytes;
        QVERIFY(bytes1 < bytes0);
        QVERIFY(table->setData(cell(view, 1, RecipeTableModel::Prune), QStringLiteral("channel")));
        QVERIFY(view.recipe().layers.at(second).prune->method == PruneMethod::Channel);
        QVERIFY(table->setData(cell(view, 1, RecipeTableModel::Ratio), 0.25));
        QCOMPARE(view.recipe().layers.at(second).prune->ratio, 0.25);
        QVERIFY(table->setData(cell(view, 0, RecipeTableModel::Skip), Qt::Checked, Qt::CheckStateRole));
        QVERIFY(view.recipe().layers.at(first).skip);
        QCOMPARE(view.undoStack()->count(), 4);
        // A skipped layer is predicted at its float size, with no error.
        QCOMPARE(view.prediction().layers[0].bytes, view.prediction().layers[0].floatBytes);
        QVERIFY(!view.prediction().layers[0].compressed);
        // An edit that changes nothing is not a step; an invalid value is refused.
        QVERIFY(!table->setData(cell(view, 1, RecipeTableModel::Ratio), 0.25));
        QVERIFY(!table->setData(cell(view, 1, RecipeTableModel::Ratio), 0.99));
        QVERIFY(!table->setData(cell(view, 0, RecipeTableModel::Bits), QStringLiteral("9")));
        QCOMPARE(view.undoStack()->count(), 4);
        const std::string edited = recipeToJson(view.recipe());

        // Undo by the shortcut, then by the stack; redo likewise.
        view.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&view));
        view.table()->setFocus();
        QTest::keyClick(view.table(), Qt::Key_Z, Qt::ControlModifier);
        QVERIFY(!view.recipe().layers.count(first) || !view.recipe().layers.at(first).skip);
        QCOMPARE(view.undoStack()->index(), 3);
        for (int i = 0; i < 3; ++i)
            view.undoStack()->undo();
        QCOMPARE(recipeToJson(view.recipe()), initial);
        QCOMPARE(view.prediction().bytes, bytes0);
        QTest::keyClick(view.table(), Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
        QCOMPARE(view.recipe().layers.at(first).weights->bits, 4);
        QCOMPARE(view.prediction().bytes, bytes1);
        for (int i = 0; i < 3; ++i)
            view.undoStack()->redo();
        QCOMPARE(recipeToJson(view.recipe()), edited);
    }

    // A layer channel pruning would leave whole says so in the table before any run (the other side of a
    // residual Add is not channel-pruned), and is predicted unpruned; pruning both sides clears it.
    void channelObstacleShownInTable()
    {
        const Model resnet = loadModel("demo-resnet");
        CompressView view;
        view.setModel(&resnet);
        RecipeTableModel *table = view.tableModel();
        const int conv2 = table->rowOfLayer(QStringLiteral("block2.conv2"));
        const int shortcut = table->rowOfLayer(QStringLiteral("block2.shortcut.conv"));
        QVERIFY(conv2 >= 0 && shortcut >= 0);
        const int64_t unpruned = view.prediction().layers[size_t(conv2)].bytes;
        QVERIFY(table->setData(cell(view, conv2, RecipeTableModel::Prune), QStringLiteral("channel")));
        QCOMPARE(cell(view, conv2, RecipeTableModel::Prune).data().toString(), QStringLiteral("channel (left whole)"));
        QCOMPARE(cell(view, conv2, RecipeTableModel::Prune).data(Qt::EditRole).toString(), QStringLiteral("channel"));
        const QString tip = cell(view, conv2, RecipeTableModel::Prune).data(Qt::ToolTipRole).toString();
        QVERIFY2(tip.contains(QStringLiteral("'block2.shortcut.conv'")), qPrintable(tip));
        QCOMPARE(view.prediction().layers[size_t(conv2)].bytes, unpruned);

        QVERIFY(table->setData(cell(view, shortcut, RecipeTableModel::Prune), QStringLiteral("channel")));
        QCOMPARE(cell(view, conv2, RecipeTableModel::Prune).data().toString(), QStringLiteral("channel"));
        QVERIFY(cell(view, conv2, RecipeTableModel::Prune).data(Qt::ToolTipRole).toString().isEmpty());
        QVERIFY(view.prediction().layers[size_t(conv2)].bytes < unpruned);
    }

    void delegatesEditInPlace()
    {
        CompressView view;
        view.resize(1000, 700);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.setModel(&m_model);
        const std::string node = view.tableModel()->plan()[2].node;

        // Bits: a combo box with float and 8 … 2; picking an entry commits at once.
        const QModelIndex bits = cell(view, 2, RecipeTableModel::Bits);
        view.table()->setCurrentIndex(bits);
        view.table()->edit(bits);
        auto *combo = view.table()->viewport()->findChild<QComboBox *>();
        QVERIFY(combo);
        QCOMPARE(combo->count(), 8);
        QCOMPARE(combo->currentText(), QStringLiteral("8"));
        combo->setCurrentText(QStringLiteral("3"));
        emit combo->activated(combo->currentIndex());
        QCOMPARE(view.recipe().layers.at(node).weights->bits, 3);
        QCOMPARE(view.undoStack()->count(), 1);
        QTRY_VERIFY(!view.table()->viewport()->findChild<QComboBox *>() ||
                    !view.table()->viewport()->findChild<QComboBox *>()->isVisible());

        // Pruning method, then the ratio in a spin box committed with Enter.
        const QModelIndex prune = cell(view, 2, RecipeTableModel::Prune);
        view.table()->setCurrentIndex(prune);
        view.table()->edit(prune);
        combo = nullptr;
        for (QComboBox *c : view.table()->viewport()->findChildren<QComboBox *>())
            if (c->isVisible())
                combo = c;
        QVERIFY(combo);
        combo->setCurrentText(QStringLiteral("magnitude"));
        emit combo->activated(combo->currentIndex());
        QVERIFY(view.recipe().layers.at(node).prune->method == PruneMethod::Magnitude);
        const QModelIndex ratio = cell(view, 2, RecipeTableModel::Ratio);
        view.table()->setCurrentIndex(ratio);
        view.table()->edit(ratio);
        auto *spin = view.table()->viewport()->findChild<QDoubleSpinBox *>();
        QVERIFY(spin);
        spin->setValue(0.35);
        QTest::keyClick(spin, Qt::Key_Return);
        QTRY_COMPARE(view.recipe().layers.at(node).prune->ratio, 0.35);
        QCOMPARE(view.undoStack()->count(), 3);
    }

    // The Arithmetic column: shown with 8-bit activations, "auto: integer" / "auto: float" for what the quantizer
    // picks, integer or float per layer as undoable edits, and why a layer keeps float arithmetic as its tooltip.
    void arithmeticColumn()
    {
        CompressView view;
        view.resize(1000, 700);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        view.setModel(&m_model);
        RecipeTableModel *table = view.tableModel();
        const std::string first = table->plan()[0].node;
        QVERIFY(view.table()->isColumnHidden(RecipeTableModel::Arithmetic));
        QCOMPARE(cell(view, 0, RecipeTableModel::Arithmetic).data().toString(), QStringLiteral("—"));
        QVERIFY(!(table->flags(cell(view, 0, RecipeTableModel::Arithmetic)) & Qt::ItemIsEditable));
        QVERIFY(!table->setData(cell(view, 0, RecipeTableModel::Arithmetic), QStringLiteral("float")));

        auto *activations = view.findChild<QCheckBox *>(QStringLiteral("activations"));
        QVERIFY(activations);
        activations->setChecked(true);
        QVERIFY(!view.table()->isColumnHidden(RecipeTableModel::Arithmetic));
        QCOMPARE(cell(view, 0, RecipeTableModel::Arithmetic).data().toString(), QStringLiteral("auto: integer"));
        QCOMPARE(cell(view, 0, RecipeTableModel::Arithmetic).data(Qt::EditRole).toString(), QStringLiteral("auto"));
        const int steps = view.undoStack()->count();
        QVERIFY(table->setData(cell(view, 0, RecipeTableModel::Arithmetic), QStringLiteral("float")));
        QCOMPARE(view.recipe().layers.at(first).integer, std::optional<bool>(false));
        QCOMPARE(cell(view, 0, RecipeTableModel::Arithmetic).data().toString(), QStringLiteral("float"));
        QVERIFY(cell(view, 0, RecipeTableModel::Arithmetic).data(Qt::ToolTipRole).toString().contains(
            QStringLiteral("the recipe keeps it float")));
        QCOMPARE(view.undoStack()->count(), steps + 1);
        view.undoStack()->undo();
        QVERIFY(!view.recipe().layers.count(first)); // back to the defaults: no override
        QVERIFY(!table->setData(cell(view, 0, RecipeTableModel::Arithmetic), QStringLiteral("auto"))); // no change

        // A 1-D convolution: float unless asked, and asked it runs on integer kernels.
        Model signal;
        Graph &g = signal.graph;
        g.inputs = {ValueInfo{"x", DType::Float32, {-1, 3, 20}, true, {"N"}}};
        g.outputs = {ValueInfo{"y", DType::Float32, {-1, 8, 20}, true, {"N"}}};
        g.initializers["W"] = Tensor::fromFloats({8, 3, 3}, std::vector<float>(72, 0.1f));
        Node conv;
        conv.name = "conv1d";
        conv.opType = "Conv";
        conv.inputs = {"x", "W"};
        conv.outputs = {"y"};
        conv.attrs["pads"] = Attribute::makeInts({1, 1});
        g.nodes = {conv};
        RecipeTableModel model;
        model.setModel(&signal);
        model.setRecipe(recipeFromJson(R"({"quantize": {"weights": {"bits": 8}, "activations": {}}})"));
        const QModelIndex oneD = model.index(0, RecipeTableModel::Arithmetic);
        QCOMPARE(oneD.data().toString(), QStringLiteral("auto: float"));
        QVERIFY(oneD.data(Qt::ToolTipRole).toString().contains(QStringLiteral("1-D convolution")));
        Recipe asked;
        int edits = 0;
        connect(&model, &RecipeTableModel::editRequested, this, [&](const Recipe &r) {
            asked = r;
            ++edits;
        });
        QVERIFY(model.setData(oneD, QStringLiteral("integer")));
        QCOMPARE(edits, 1);
        QCOMPARE(asked.layers.at("conv1d").integer, std::optional<bool>(true));
        model.setRecipe(asked);
        QCOMPARE(oneD.data().toString(), QStringLiteral("integer"));
        // With a fidelity floor, auto is decided by measurement, for the 1-D convolution too.
        model.setRecipe(recipeFromJson(R"({"quantize": {"weights": {"bits": 8}, "activations": {"min_sqnr_db": 35}}})"));
        QCOMPARE(oneD.data().toString(), QStringLiteral("auto: fidelity"));
        QVERIFY(oneD.data(Qt::ToolTipRole).toString().contains(QStringLiteral("fidelity floor (35 dB)")));
    }

    // Chart labels: the '/'-separated parts all names share at their start and end left out, never a name emptied.
    void distinctiveNames_data()
    {
        QTest::addColumn<QStringList>("names");
        QTest::addColumn<QStringList>("expected");
        QTest::newRow("TensorFlow export") << QStringList{"model/conv2d/Conv2D", "model/conv2d_12/Conv2D"}
                                           << QStringList{"conv2d", "conv2d_12"};
        QTest::newRow("PyTorch export") << QStringList{"/features/features.0/Conv", "/classifier/Gemm"}
                                        << QStringList{"features/features.0/Conv", "classifier/Gemm"};
        QTest::newRow("no separators") << QStringList{"conv1", "conv2", "fc"} << QStringList{"conv1", "conv2", "fc"};
        QTest::newRow("a name that is all shared") << QStringList{"a/b/c", "a/c"} << QStringList{"b/c", "c"};
        QTest::newRow("one name") << QStringList{"model/dense/MatMul"} << QStringList{"model/dense/MatMul"};
        QTest::newRow("alike") << QStringList{"x/y", "x/y"} << QStringList{"y", "y"};
    }

    void distinctiveNames()
    {
        QFETCH(QStringList, names);
        QFETCH(QStringList, expected);
        QCOMPARE(cw::ui::distinctiveNames(names), expected);
    }

    // The weight-bytes chart of a model with many long layer names: the axis names what sets them apart, as many as
    // fit without running into each other; the pointer over a bar names its layer in full.
    void bytesChartOfManyLayers()
    {
        Model chain;
        Graph &g = chain.graph;
        const int layers = 30;
        g.inputs = {ValueInfo{"x", DType::Float32, {-1, 4, 8, 8}, true, {"N"}}};
        std::string previous = "x";
        for (int i = 0; i < layers; ++i) {
            const std::string name = "model/conv2d_" + std::to_string(i) + "/Conv2D";
            g.initializers[name + "/w"] = testutil::randomTensor({4, 4, 1, 1}, unsigned(i + 1));
            Node conv;
            conv.name = name;
            conv.opType = "Conv";
            conv.inputs = {previous, name + "/w"};
            conv.outputs = {name + ":0"};
            g.nodes.push_back(conv);
            previous = conv.outputs[0];
        }
        g.outputs = {ValueInfo{previous, DType::Float32, {-1, 4, 8, 8}, true, {"N"}}};
        CompressView view;
        view.resize(1400, 800);
        view.setModel(&chain);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        auto *chart = view.findChild<QCustomPlot *>(QStringLiteral("predictionChart"));
        QVERIFY(chart);
        chart->replot();
        // At this width, and again when the chart is wider (the splitter moved) and narrower.
        const int line = QFontMetrics(chart->xAxis->tickLabelFont()).height();
        for (const int width : {0, 700, 150}) {
            if (width > 0) {
                chart->resize(width, chart->height());
                chart->replot();
            }
            auto ticker = chart->xAxis->ticker().dynamicCast<QCPAxisTickerText>();
            QVERIFY(ticker);
            const QMap<double, QString> &ticks = ticker->ticks();
            QVERIFY2(ticks.size() >= 2 && ticks.size() <= layers, qPrintable(QString::number(ticks.size())));
            QCOMPARE(ticks.first(), QStringLiteral("conv2d_0"));
            const double apart = chart->xAxis->coordToPixel(ticks.keys()[1]) - chart->xAxis->coordToPixel(ticks.keys()[0]);
            if (chart->xAxis->tickLabelRotation() == 90)
                QVERIFY2(apart >= line && apart < 3 * line, qPrintable(QString::number(apart)));
            else // slanted: every bar named, two lines of room each
                QVERIFY2(ticks.size() == layers && apart >= 2 * line, qPrintable(QString::number(apart)));
        }
        // The pointer over the last bar.
        const QPoint at(int(chart->xAxis->coordToPixel(layers - 1)), int(chart->yAxis->coordToPixel(100)));
        QMouseEvent move(QEvent::MouseMove, at, chart->mapToGlobal(at), Qt::NoButton, Qt::NoButton, Qt::NoModifier);
        QCoreApplication::sendEvent(chart, &move);
        QVERIFY2(QToolTip::text().contains(QStringLiteral("model/conv2d_29/Conv2D")), qPrintable(QToolTip::text()));
    }

    // The fidelity floor control sets quantize.activations.min_sqnr_db as an undoable edit, follows the recipe, and
    // is remembered.
    void fidelityFloorControl()
    {
        {
            CompressView view;
            view.setModel(&m_model);
            auto *activations = view.findChild<QCheckBox *>(QStringLiteral("activations"));
            auto *floor = view.findChild<QDoubleSpinBox *>(QStringLiteral("fidelityFloor"));
            QVERIFY(activations && floor);
            QVERIFY(!floor->isEnabled()); // the calibration settings wait for 8-bit activations
            activations->setChecked(true);
            QVERIFY(floor->isEnabled());
            QVERIFY(!view.recipe().activations->minSqnrDb);
            QCOMPARE(floor->text(), QStringLiteral("no fidelity floor"));
            const int steps = view.undoStack()->count();
            floor->setValue(30);
            QCOMPARE(view.recipe().activations->minSqnrDb, std::optional<double>(30));
            QCOMPARE(view.undoStack()->count(), steps + 1);
            QCOMPARE(cell(view, 0, RecipeTableModel::Arithmetic).data().toString(), QStringLiteral("auto: fidelity"));
            view.undoStack()->undo();
            QVERIFY(!view.recipe().activations->minSqnrDb);
            QCOMPARE(floor->value(), 0.0);
            view.undoStack()->redo();
            QCOMPARE(floor->value(), 30.0);
        }
        CompressView view; // remembered
        view.setModel(&m_model);
        QCOMPARE(view.findChild<QDoubleSpinBox *>(QStringLiteral("fidelityFloor"))->value(), 30.0);
        QCOMPARE(view.recipe().activations->minSqnrDb, std::optional<double>(30));
    }

    void globalControls()
    {
        CompressView view;
        view.setModel(&m_model);
        // Per-layer override first; "all layers" replaces it.
        QVERIFY(view.tableModel()->setData(cell(view, 0, RecipeTableModel::Bits), QStringLiteral("3")));
        view.bitsCombo()->setCurrentText(QStringLiteral("4"));
        view.granularityCombo()->setCurrentText(QStringLiteral("tensor"));
        view.applyBitsToAll();
        for (const LayerPlan &p : view.tableModel()->plan()) {
            QCOMPARE(p.config.weights->bits, 4);
            QVERIFY(p.config.weights->granularity == Granularity::Tensor);
        }
        QVERIFY(view.recipe().layers.empty()); // overrides equal to the defaults are dropped
        // Without VNNI the bit-width list says that 8-bit integer layers run as two products.
        QCOMPARE(view.bitsCombo()->toolTip().contains(QStringLiteral("no VNNI")), onednn::int8PairsSaturate());
        const int64_t four = view.prediction().bytes;
        view.bitsCombo()->setCurrentText(QStringLiteral("float"));
        view.applyBitsToAll();
        QCOMPARE(view.prediction().bytes, view.prediction().baseBytes);
        QVERIFY(std::isinf(view.prediction().sqnrDb));
        view.undoStack()->undo();
        QCOMPARE(view.prediction().bytes, four);
        QVERIFY(view.predictionText().contains(QStringLiteral("Predicted size")));

        // Reconstruction is channel pruning's: the switch is off for other methods, and with channel pruning it
        // sets the recipe's prune.reconstruct, undoably.
        auto *reconstruct = view.findChild<QCheckBox *>(QStringLiteral("pruneReconstruct"));
        QVERIFY(reconstruct);
        view.pruneMethodCombo()->setCurrentText(QStringLiteral("magnitude"));
        QVERIFY(!reconstruct->isEnabled());
        view.pruneMethodCombo()->setCurrentText(QStringLiteral("channel"));
        QVERIFY(reconstruct->isEnabled());
        reconstruct->setChecked(true);
        view.applyPruneToAll();
        QVERIFY(view.recipe().prune && view.recipe().prune->reconstruct);
        reconstruct->setChecked(false);
        QVERIFY(!view.recipe().prune->reconstruct);
        view.undoStack()->undo();
        QVERIFY(view.recipe().prune->reconstruct);
        QVERIFY(reconstruct->isChecked()); // the control follows the recipe
        view.undoStack()->undo();
        reconstruct->setChecked(false);

        // Block pruning for every layer: the method and the ratio reach the recipe and the table.
        view.pruneMethodCombo()->setCurrentText(QStringLiteral("block"));
        view.pruneRatioSpin()->setValue(0.75);
        view.applyPruneToAll();
        for (const LayerPlan &p : view.tableModel()->plan()) {
            QVERIFY(p.config.prune->method == PruneMethod::Block);
            QCOMPARE(p.config.prune->ratio, 0.75);
        }
        QCOMPARE(view.tableModel()->data(cell(view, 0, RecipeTableModel::Prune)).toString(), QStringLiteral("block"));
        view.pruneMethodCombo()->setCurrentText(QStringLiteral("magnitude"));
        view.pruneRatioSpin()->setValue(0.6);
        view.applyPruneToAll();
        for (const LayerPlan &p : view.tableModel()->plan())
            QCOMPARE(p.config.prune->ratio, 0.6);
        // Activations and fine-tuning are recipe-wide and undoable too.
        const int steps = view.undoStack()->count();
        view.activationsCheck()->setChecked(true);
        QVERIFY(view.recipe().activations.has_value());
        view.epochsSpin()->setValue(2);
        QCOMPARE(view.recipe().finetune.epochs, 2);
        QCOMPARE(view.undoStack()->count(), steps + 2);
        view.undoStack()->undo();
        view.undoStack()->undo();
        QVERIFY(!view.recipe().activations);
        QVERIFY(!view.activationsCheck()->isChecked()); // the control follows the recipe
        QCOMPARE(view.epochsSpin()->value(), 0);
        // So is the augmentation of the fine-tuning batches; its controls follow the recipe too.
        auto *shift = view.findChild<QSpinBox *>(QStringLiteral("finetuneAugmentShift"));
        auto *flip = view.findChild<QCheckBox *>(QStringLiteral("finetuneAugmentFlip"));
        QVERIFY(shift && flip && shift->isEnabled() && flip->isEnabled());
        shift->setValue(2);
        flip->setChecked(true);
        QCOMPARE(view.recipe().finetune.augment.shift, 2);
        QVERIFY(view.recipe().finetune.augment.flip);
        view.undoStack()->undo();
        QVERIFY(!view.recipe().finetune.augment.flip);
        QVERIFY(!flip->isChecked());
        QCOMPARE(shift->value(), 2);
        view.undoStack()->undo();
        QVERIFY(!view.recipe().finetune.augment.active());
        QCOMPARE(shift->value(), 0);
        // The chart shows now / predicted bytes for every layer.
        QCOMPARE(view.chart()->plottableCount(), 2);
        QCOMPARE(view.chart()->plottable(1)->interface1D()->dataCount(), m_layers);
    }

    void recipeFileRoundTrip()
    {
        QTemporaryDir dir;
        const QString path = dir.filePath("mixed.json");
        std::string saved;
        {
            CompressView view;
            view.setModel(&m_model);
            QVERIFY(view.tableModel()->setData(cell(view, 0, RecipeTableModel::Granularity), QStringLiteral("group 32")));
            QVERIFY(view.tableModel()->setData(cell(view, 1, RecipeTableModel::Prune), QStringLiteral("2:4")));
            QVERIFY(view.tableModel()->setData(cell(view, 3, RecipeTableModel::Prune), QStringLiteral("block")));
            QVERIFY(view.tableModel()->setData(cell(view, 2, RecipeTableModel::Bits), QStringLiteral("float")));
            view.epochsSpin()->setValue(1);
            view.findChild<QSpinBox *>(QStringLiteral("finetuneAugmentShift"))->setValue(1);
            QVERIFY(view.saveRecipeFile(path));
            saved = recipeToJson(view.recipe());
        }
        // The file is what core/compress/recipe.h reads (and what cwb compress --recipe takes).
        QCOMPARE(recipeToJson(loadRecipe(path.toStdString())), saved);
        CompressView view;
        view.setModel(&m_model);
        QVERIFY(view.loadRecipeFile(path));
        QCOMPARE(recipeToJson(view.recipe()), saved);
        QCOMPARE(view.epochsSpin()->value(), 1);
        QCOMPARE(view.recipe().finetune.augment.shift, 1);
        QCOMPARE(view.findChild<QSpinBox *>(QStringLiteral("finetuneAugmentShift"))->value(), 1);
        QCOMPARE(view.tableModel()->data(cell(view, 1, RecipeTableModel::Prune)).toString(), QStringLiteral("2:4"));
        QCOMPARE(view.tableModel()->data(cell(view, 3, RecipeTableModel::Prune)).toString(), QStringLiteral("block"));
        QCOMPARE(view.tableModel()->data(cell(view, 2, RecipeTableModel::Bits)).toString(), QStringLiteral("float"));
        // Loading is one undoable step.
        view.undoStack()->undo();
        QVERIFY(recipeToJson(view.recipe()) != saved);
    }

    void badRecipeFileShowsError_data()
    {
        QTest::addColumn<QByteArray>("content");
        QTest::addColumn<QString>("mentions");
        QTest::newRow("not JSON") << QByteArray("{ prune: ") << QString();
        QTest::newRow("wrong type") << QByteArray(R"({"prune": {"ratio": "half"}})") << QStringLiteral("ratio");
        QTest::newRow("unknown key") << QByteArray(R"({"quantize": {"weights": {"bitz": 4}}})") << QStringLiteral("bitz");
        QTest::newRow("unknown layer") << QByteArray(R"({"layers": {"no_such_layer": {"skip": true}}})")
                                       << QStringLiteral("no_such_layer");
    }
    void badRecipeFileShowsError()
    {
        QFETCH(QByteArray, content);
        QFETCH(QString, mentions);
        QTemporaryDir dir;
        const QString path = dir.filePath("bad.json");
        QFile f(path);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(content);
        f.close();
        CompressView view;
        view.setModel(&m_model);
        const std::string before = recipeToJson(view.recipe());
        QSignalSpy errors(&view, &CompressView::errorOccurred);
        QVERIFY(!view.loadRecipeFile(path));
        QCOMPARE(errors.count(), 1);
        QVERIFY2(view.statusText().contains(QStringLiteral("Could not load the recipe")), qPrintable(view.statusText()));
        if (!mentions.isEmpty())
            QVERIFY2(view.statusText().contains(mentions), qPrintable(view.statusText()));
        QCOMPARE(recipeToJson(view.recipe()), before);
        QCOMPARE(view.undoStack()->count(), 0);
        QVERIFY(!view.loadRecipeFile(dir.filePath("missing.json")));
    }

    void distributeBySensitivity()
    {
        // A stored analysis in which the first layer is fragile and the rest robust.
        const std::vector<std::string> names = sensitivityLayers(m_model);
        SensitivityResult s;
        s.options.pruneRatios = {0.3, 0.5, 0.7, 0.9};
        s.options.bits = {8, 4, 2};
        s.samples = 500;
        s.baselineAccuracy = 0.9;
        for (size_t i = 0; i < names.size(); ++i) {
            LayerSensitivity l;
            l.name = names[i];
            const double scale = i == 0 ? 1.0 : 0.01;
            for (double r : s.options.pruneRatios)
                l.prune.push_back(SensitivityTrial{0, 0, scale * r * r, 0, 0, 0});
            for (int b : s.options.bits)
                l.bits.push_back(SensitivityTrial{0, 0, scale * (8 - b) * 0.02, 0, 0, 0});
            s.layers.push_back(l);
        }
        Model withAnalysis = m_model;
        withAnalysis.analysis[kSensitivityKey] = sensitivityToJson(s);

        CompressView view;
        view.setModel(&withAnalysis);
        view.targetKindCombo()->setCurrentIndex(0);
        view.targetSpin()->setValue(0.6);
        QVERIFY(view.distributeBySensitivity());
        QCOMPARE(view.undoStack()->count(), 1);
        const auto &plan = view.tableModel()->plan();
        double pruned = 0, total = 0;
        for (const LayerPlan &p : plan) {
            const double n = double(m_model.graph.initializers.at(p.weight).numel());
            pruned += p.config.prune->ratio * n;
            total += n;
        }
        QVERIFY(std::abs(pruned / total - 0.6) < 1e-6);
        QVERIFY(plan[0].config.prune->ratio < 0.6); // the fragile layer is spared
        QVERIFY2(view.statusText().contains(QStringLiteral("sensitivity analysis")), qPrintable(view.statusText()));

        view.targetKindCombo()->setCurrentIndex(1);
        view.targetSpin()->setValue(4.0);
        QVERIFY(view.distributeBySensitivity());
        double bits = 0;
        for (const LayerPlan &p : view.tableModel()->plan())
            bits += p.config.weights->bits * double(m_model.graph.initializers.at(p.weight).numel());
        QVERIFY(bits / total <= 4.0 + 1e-9);
        QVERIFY(view.tableModel()->plan()[0].config.weights->bits > 4);

        // Without an analysis: uniform, and the user is told where to get one.
        CompressView plain;
        plain.setModel(&m_model);
        plain.targetSpin()->setValue(0.4);
        QVERIFY(plain.distributeBySensitivity());
        for (const LayerPlan &p : plain.tableModel()->plan())
            QVERIFY(std::abs(p.config.prune->ratio - 0.4) < 1e-12);
        QVERIFY2(plain.statusText().contains(QStringLiteral("Sensitivity tab")), qPrintable(plain.statusText()));
    }

    void compressAddsVariantAndExports()
    {
        CompressView view;
        prepare(view, m_model);
        QSignalSpy added(&view, &CompressView::variantAdded);
        QSignalSpy finished(&view, &CompressView::jobFinished);
        QVERIFY(view.compress(QStringLiteral("int8-weights")));
        QVERIFY(view.isRunning());
        QVERIFY(finished.wait(kJobTimeoutMs));
        QVERIFY2(finished.first().first().toBool(), qPrintable(view.statusText()));
        QCOMPARE(added.count(), 1);
        QCOMPARE(view.variants().size(), size_t(1));
        const Variant &v = view.variants().front().variant;
        QCOMPARE(QString::fromStdString(v.name), QStringLiteral("int8-weights"));
        QVERIFY(v.measured);
        QCOMPARE(v.metrics.samples, int64_t(200));
        QVERIFY2(v.metrics.accuracy > 0.8, qPrintable(QString::number(v.metrics.accuracy)));
        QVERIFY(v.metrics.fileBytes > 0 && v.metrics.compressionRatio > 2.0);
        QVERIFY(view.baseMetrics().has_value());
        QCOMPARE(view.baseMetrics()->samples, int64_t(200));
        // Base row + the variant, with the drop against the base in points.
        QCOMPARE(view.variantModel()->rowCount(), 2);
        QCOMPARE(view.variantModel()->item(1, 0)->text(), QStringLiteral("int8-weights"));
        QVERIFY(view.variantModel()->item(1, 3)->text().endsWith(QStringLiteral(" pt")));
        // Fidelity to the base: the logits' SQNR, every output's figures in the tooltip.
        QVERIFY2(view.variantModel()->item(1, 4)->text().endsWith(QStringLiteral(" dB")),
                 qPrintable(view.variantModel()->item(1, 4)->text()));
        QVERIFY(view.variantModel()->item(1, 4)->toolTip().contains(QStringLiteral("logits: SQNR")));
        QCOMPARE(view.variantModel()->item(0, 4)->text(), QStringLiteral("—"));
        // The peak memory of a run of each, measured in a cwb process of its own, in the last column.
        QVERIFY(v.metrics.peakRssBytes > 0 && view.baseMetrics()->peakRssBytes > 0);
        const int rss = view.variantModel()->columnCount() - 1;
        QCOMPARE(view.variantModel()->horizontalHeaderItem(rss)->text(), QStringLiteral("Peak RSS"));
        QCOMPARE(view.variantModel()->item(1, rss)->text(), formatBytes(v.metrics.peakRssBytes));
        QVERIFY(view.variantModel()->item(1, rss)->text().endsWith(QStringLiteral("MiB")));
        QVERIFY(!view.logPanel()->toPlainText().isEmpty());
        QCOMPARE(view.progressBar()->value(), 1000);

        QTemporaryDir dir;
        const QString path = dir.filePath("int8.h5");
        QSignalSpy exported(&view, &CompressView::exportFinished);
        QVERIFY(view.exportVariant(0, path));
        QVERIFY(exported.wait(60000));
        QCOMPARE(exported.first().first().toBool(), true);
        const Model reloaded = loadModel(path.toStdString());
        QVERIFY(reloaded.analysis.count(kRecipeKey));
        QVERIFY(!view.exportVariant(5, path));
    }

    void queueRunsInOrder()
    {
        CompressView view;
        prepare(view, m_model, 100);
        QStringList started;
        connect(&view, &CompressView::jobStarted, this, [&started](const QString &name) { started << name; });
        QSignalSpy finished(&view, &CompressView::jobFinished);
        QVERIFY(view.compress(QStringLiteral("A")));
        QVERIFY(view.compress(QStringLiteral("B")));
        QVERIFY(view.compress(QStringLiteral("C")));
        QVERIFY(view.compress(QStringLiteral("D")));
        QCOMPARE(view.queuedNames(), (QStringList{"B", "C", "D"}));
        QCOMPARE(view.queueList()->count(), 4); // the running job and three waiting
        QVERIFY(view.removeQueued(1));          // C
        QVERIFY(!view.removeQueued(7));
        QCOMPARE(view.queuedNames(), (QStringList{"B", "D"}));
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 3, kJobTimeoutMs);
        QCOMPARE(started, (QStringList{"A", "B", "D"}));
        QCOMPARE(view.variants().size(), size_t(3));
        QCOMPARE(QString::fromStdString(view.variants()[2].variant.name), QStringLiteral("D"));
        QVERIFY(view.queuedNames().isEmpty());
        QVERIFY(!view.isRunning());
    }

    void cancelLeavesProjectUntouched()
    {
        MainWindow window;
        window.setErrorDialogsEnabled(false);
        QSignalSpy loaded(&window, &MainWindow::modelLoaded);
        QVERIFY(window.openModel(QStringLiteral("demo")));
        QVERIFY(loaded.wait(60000));
        CompressView *view = window.compressView();
        QVERIFY(window.analysisTabs()->indexOf(view) >= 0);
        view->setEvaluationLimit(100);
        view->setCompressOptions(fastOptions());
        QSignalSpy finished(view, &CompressView::jobFinished);
        QVERIFY(view->compress(QStringLiteral("kept")));
        QVERIFY(finished.wait(kJobTimeoutMs));
        QCOMPARE(view->variants().size(), size_t(1));
        const std::string keptName = view->variants().front().variant.name;
        const QByteArray modelBefore = fingerprint(*window.model());
        const QByteArray variantBefore = fingerprint(view->variants().front().variant.model);
        const int rowsBefore = view->variantModel()->rowCount();
        const std::string recipeBefore = recipeToJson(view->recipe());

        // A job with more to do (all 10,000 test samples), cancelled once it is under way.
        view->setEvaluationLimit(0);
        QSignalSpy progress(view->progressBar(), &QProgressBar::valueChanged);
        QSignalSpy added(view, &CompressView::variantAdded);
        QVERIFY(view->compress(QStringLiteral("cancelled")));
        QVERIFY(progress.wait(60000));
        view->cancel();
        QVERIFY(finished.wait(kJobTimeoutMs));
        QCOMPARE(finished.last().first().toBool(), false);
        QCOMPARE(added.count(), 0);
        QVERIFY(view->statusText().contains(QStringLiteral("cancelled")));
        QCOMPARE(fingerprint(*window.model()), modelBefore);
        QCOMPARE(fingerprint(m_model), modelBefore); // the demo as loaded here
        QCOMPARE(view->variants().size(), size_t(1));
        QCOMPARE(view->variants().front().variant.name, keptName);
        QCOMPARE(fingerprint(view->variants().front().variant.model), variantBefore);
        QCOMPARE(view->variantModel()->rowCount(), rowsBefore);
        QCOMPARE(recipeToJson(view->recipe()), recipeBefore);
        QVERIFY(!view->isRunning());
    }

    // The one timed test the issue asks for: while a job runs, a 10 ms timer on the GUI thread never waits
    // 50 ms for its next tick. The job leaves a core to the GUI (compressThreads()).
    //
    // A gap has three parts: the timer's own wait, time the GUI thread spent running or blocked (the app's
    // doing), and time it was ready to run while the cores were busy (its run-queue wait, from the thread's
    // /proc schedstat). On a loaded machine (a CI run with other tests beside this one) other processes can
    // hold both cores for longer than 50 ms; such a gap is excused only when the kernel counted more runnable
    // tasks than this process's two (GUI and job) plus the cores, and the gap without its run-queue wait is
    // under 50 ms. Everything else fails, including a job that took the GUI thread's core itself.
    void guiThreadNeverStalls()
    {
        CompressView view;
        view.resize(1000, 700);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        prepare(view, m_model, 1000);
        const auto runQueueWaitMs = []() -> double {
            std::ifstream in("/proc/thread-self/schedstat");
            double run = 0, wait = 0;
            return (in >> run >> wait) ? wait / 1e6 : 0.0;
        };
        const auto runnableTasks = []() -> int {
            std::ifstream in("/proc/loadavg");
            std::string a, b, c, tasks;
            return (in >> a >> b >> c >> tasks) ? std::atoi(tasks.c_str()) : 0; // "running/total"
        };
        const int cores = QThread::idealThreadCount();
        QElapsedTimer clock;
        qint64 last = -1;
        double lastWait = 0, worstGap = 0, worstCounted = 0, waitTotal = 0;
        int ticks = 0, excused = 0;
        QTimer probe;
        probe.setTimerType(Qt::PreciseTimer);
        probe.setInterval(10);
        connect(&probe, &QTimer::timeout, this, [&]() {
            const qint64 now = clock.elapsed();
            const double wait = runQueueWaitMs();
            if (last >= 0 && view.isRunning()) {
                const double gap = double(now - last), queued = wait - lastWait;
                worstGap = std::max(worstGap, gap);
                waitTotal += queued;
                if (gap >= 50 && gap - queued < 50 && runnableTasks() > cores + 2)
                    ++excused;
                else
                    worstCounted = std::max(worstCounted, gap);
            }
            last = now;
            lastWait = wait;
            ++ticks;
        });
        QSignalSpy finished(&view, &CompressView::jobFinished);
        clock.start();
        probe.start();
        QVERIFY(view.compress(QStringLiteral("probe")));
        QVERIFY(finished.wait(kJobTimeoutMs));
        probe.stop();
        const qint64 jobMs = clock.elapsed();
        QVERIFY2(finished.first().first().toBool(), qPrintable(view.statusText()));
        QVERIFY2(ticks > 20, qPrintable(QStringLiteral("%1 ticks").arg(ticks)));
        qInfo("job %lld ms, %d probe ticks, largest gap %.0f ms (%.0f ms counting only gaps not caused by other "
              "processes; %d excused), run-queue wait %.0f ms in all, job threads %d",
              jobMs, ticks, worstGap, worstCounted, excused, waitTotal, compressThreads());
        QVERIFY2(worstCounted < 50, qPrintable(QStringLiteral("GUI thread stalled for %1 ms").arg(worstCounted)));
    }

    // Another model as teacher (cwb compress --teacher): the job loads it and the recipe's fine-tuning learns
    // from it; the variant's command names it; a cluster plan refuses it; the choice is remembered.
    void otherTeacher()
    {
        QTemporaryDir dir;
        const QString teacherPath = dir.filePath(QStringLiteral("teacher.h5"));
        saveModel(buildDemoModel("cnn", 5, 0.5), teacherPath.toStdString());
        const QString recipePath = dir.filePath(QStringLiteral("kd.json"));
        QVERIFY(testutil::writeFile(recipePath, R"({"finetune": {"epochs": 1, "samples": 256,
            "distill": {"temperature": 2, "alpha": 0.5}}})"));
        {
            CompressView view;
            prepare(view, m_model, 100);
            QVERIFY(view.loadRecipeFile(recipePath));
            QVERIFY(view.teacherCheck()->isChecked());
            QVERIFY(view.teacherModelCombo()->isEnabled());
            QCOMPARE(view.teacherModel(), QString());
            view.setTeacherModel(teacherPath);
            QCOMPARE(view.teacherModel(), teacherPath);
            QCOMPARE(view.teacherModelCombo()->currentText(), QStringLiteral("teacher.h5"));
            QVERIFY(!view.clusterPlan());
            QVERIFY2(view.statusText().contains(QStringLiteral("not a teacher")), qPrintable(view.statusText()));
            QSignalSpy finished(&view, &CompressView::jobFinished);
            QVERIFY(view.compress(QStringLiteral("kd-other")));
            QVERIFY(finished.wait(kJobTimeoutMs));
            QVERIFY2(finished.first().first().toBool(), qPrintable(view.statusText()));
            const QString log = view.logPanel()->toPlainText();
            QVERIFY2(log.contains(QStringLiteral("distill: the given teacher (")), qPrintable(log));
            const QString command = QString::fromStdString(view.variants().back().provenance.command);
            QVERIFY2(command.contains(QStringLiteral("--teacher ")) && command.contains(teacherPath), qPrintable(command));
        }
        CompressView again;
        QCOMPARE(again.teacherModel(), teacherPath);
        again.setTeacherModel({});
        QCOMPARE(again.teacherModelCombo()->currentText(), QStringLiteral("base model"));
        QCOMPARE(again.teacherModelCombo()->count(), 2);
        again.teacherCheck()->setChecked(false);
        again.epochsSpin()->setValue(0);
    }

    void settingsRemembered()
    {
        {
            CompressView view;
            view.pruneMethodCombo()->setCurrentText(QStringLiteral("channel"));
            view.pruneRatioSpin()->setValue(0.35);
            view.bitsCombo()->setCurrentText(QStringLiteral("6"));
            view.granularityCombo()->setCurrentText(QStringLiteral("group 64"));
            view.epochsSpin()->setValue(3);
            view.findChild<QCheckBox *>(QStringLiteral("finetuneAugmentFlip"))->setChecked(true);
            view.setEvaluationLimit(777);
        }
        CompressView view;
        QCOMPARE(view.pruneMethodCombo()->currentText(), QStringLiteral("channel"));
        QCOMPARE(view.pruneRatioSpin()->value(), 0.35);
        QCOMPARE(view.bitsCombo()->currentText(), QStringLiteral("6"));
        QCOMPARE(view.granularityCombo()->currentText(), QStringLiteral("group 64"));
        QCOMPARE(view.epochsSpin()->value(), 3);
        QCOMPARE(view.evaluationLimit(), qint64(777));
        // A model opened now starts from these settings.
        view.setModel(&m_model);
        QVERIFY(view.recipe().prune && view.recipe().prune->method == PruneMethod::Channel);
        QCOMPARE(view.recipe().weights->bits, 6);
        QCOMPARE(view.recipe().finetune.epochs, 3);
        QVERIFY(view.recipe().finetune.augment.flip);
        QSettings().clear();
    }

private:
    Model m_model;
    int m_layers = 0;
};

QTEST_MAIN(TestGuiCompress)
#include "test_gui_compress.moc"
