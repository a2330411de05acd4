// Real models in the window, on the offscreen platform: a model with operators that have no kernel opens and
// shows which nodes block it (runs disabled, with the reason); a file that cannot be read leaves the open
// model open; the input-shape editor validates, is remembered per model file and feeds the jobs.
//
// Models (python3-onnx, built here):
//   blocked.onnx  x [batch, 1, 4, 4] → Conv "conv1" → Det "det1" → com.example Mystery "custom1"
//   dynamic.onnx  x [batch, 16], extra [batch, k], extra2 [batch, k] → Concat "join" (axis 1) → Relu "act":
//                 the concatenation has 16 + 2k values per sample, so a run shows which k it was given.
//   valued.onnx   x [batch, 16] (in [0, 1)), sr int64 [] → Mul "scale" (x * float(sr)): its largest value
//                 shows which sr it was given.
//   undeclared.onnx x [batch, 16], extra (no shape declared) → Add "add".
//   renamed.onnx  x [N, 16], state [d, 16] → Add "sum": d is the batch under another name (silero-vad's state).
#include <QAction>
#include <QDialogButtonBox>
#include <QFile>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include "core/io/model_io.h"
#include "testutil.h"
#include "ui/charts/histogramplot.h"
#include "ui/mainwindow.h"
#include "ui/models/layertablemodel.h"
#include "ui/views/blockednodespanel.h"
#include "ui/views/compressview.h"
#include "ui/views/inputsdialog.h"
#include "ui/views/inspectview.h"
#include "ui/views/sensitivityview.h"

using namespace cw::ui;

namespace {

const char *kMakeModels = R"PY(
import numpy as np, onnx
from onnx import helper as h, TensorProto as TP, numpy_helper as nh

def save(name, nodes, inputs, outputs, inits=(), opsets=(("", 13),)):
    g = h.make_graph(nodes, name, inputs, outputs, list(inits))
    m = h.make_model(g, opset_imports=[h.make_opsetid(d, v) for d, v in opsets], producer_name="test_gui_shapes")
    m.ir_version = 7
    onnx.save(m, name + ".onnx")

rng = np.random.RandomState(0)
save("blocked",
     [h.make_node("Conv", ["x", "w", "b"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
      h.make_node("Det", ["c1"], ["d"], name="det1"),
      h.make_node("Mystery", ["d"], ["y"], name="custom1", domain="com.example")],
     [h.make_tensor_value_info("x", TP.FLOAT, ["batch", 1, 4, 4])],
     [h.make_tensor_value_info("y", TP.FLOAT, None)],
     [nh.from_array(rng.randn(2, 1, 3, 3).astype(np.float32), "w"), nh.from_array(np.zeros(2, np.float32), "b")],
     opsets=(("", 13), ("com.example", 1)))
save("dynamic",
     [h.make_node("Concat", ["x", "extra", "extra2"], ["joined"], name="join", axis=1),
      h.make_node("Relu", ["joined"], ["out"], name="act")],
     [h.make_tensor_value_info("x", TP.FLOAT, ["batch", 16]),
      h.make_tensor_value_info("extra", TP.FLOAT, ["batch", "k"]),
      h.make_tensor_value_info("extra2", TP.FLOAT, ["batch", "k"])],
     [h.make_tensor_value_info("out", TP.FLOAT, None)])
save("valued",
     [h.make_node("Cast", ["sr"], ["srf"], name="cast", to=TP.FLOAT),
      h.make_node("Mul", ["x", "srf"], ["out"], name="scale")],
     [h.make_tensor_value_info("x", TP.FLOAT, ["batch", 16]), h.make_tensor_value_info("sr", TP.INT64, [])],
     [h.make_tensor_value_info("out", TP.FLOAT, None)])
save("undeclared", [h.make_node("Add", ["x", "extra"], ["out"], name="add")],
     [h.make_tensor_value_info("x", TP.FLOAT, ["batch", 16]), h.make_tensor_value_info("extra", TP.FLOAT, None)],
     [h.make_tensor_value_info("out", TP.FLOAT, None)])
save("renamed", [h.make_node("Add", ["x", "state"], ["out"], name="sum")],
     [h.make_tensor_value_info("x", TP.FLOAT, ["N", 16]), h.make_tensor_value_info("state", TP.FLOAT, ["d", 16])],
     [h.make_tensor_value_info("out", TP.FLOAT, None)])
save("old_opset", [h.make_node("Relu", ["x"], ["y"])], [h.make_tensor_value_info("x", TP.FLOAT, [4])],
     [h.make_tensor_value_info("y", TP.FLOAT, None)], opsets=(("", 7),))
np.savez("data.npz", x=rng.rand(40, 16).astype(np.float32), y=rng.randint(0, 4, 40).astype(np.int64))
)PY";

constexpr int kSamples = 40;

} // namespace

class TestGuiShapes : public QObject {
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();

    void blockedModelOpens();
    void blockedNodeSelectsLayer();
    void failedOpenKeepsBlockedModel_data();
    void failedOpenKeepsBlockedModel();
    void shapeEditorValidation_data();
    void shapeEditorValidation();
    void shapesRememberedPerModelFile();
    void runWithoutSizesAsksForThem();
    void activationsUseEditorShapes();
    void valueEditorValidation_data();
    void valueEditorValidation();
    void valuesRememberedAndFed();
    void undeclaredShapeGiven();
    void symbolOfAnothersSize();

private:
    QString path(const QString &name) const { return m_dir.filePath(name); }
    std::unique_ptr<MainWindow> openWindow(const QString &model);
    InputsDialog *editShapes(MainWindow &window, const QStringList &rows);

    QTemporaryDir m_dir;
};

void TestGuiShapes::initTestCase()
{
    // Settings go to the test location, never the user's.
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("CompressionWorkbench"));
    QCoreApplication::setApplicationName(QStringLiteral("Compression Workbench Shapes Test"));
    QSettings().clear();
    QVERIFY(m_dir.isValid());
    QString error;
    QVERIFY2(testutil::runPython(QString::fromUtf8(kMakeModels), m_dir.path(), &error), qPrintable(error));
    QFile bad(path("corrupt.onnx"));
    QVERIFY(bad.open(QIODevice::WriteOnly));
    bad.write("not a protobuf \x01\x02\x03 at all");
}

void TestGuiShapes::cleanup()
{
    QSettings().clear();
}

std::unique_ptr<MainWindow> TestGuiShapes::openWindow(const QString &model)
{
    auto window = std::make_unique<MainWindow>();
    window->setErrorDialogsEnabled(false);
    window->inspectView()->setAutoCollect(false);
    window->setDataset(path("data.npz"), 0);
    window->show();
    QSignalSpy loaded(window.get(), &MainWindow::modelLoaded);
    if (!window->openModel(model) || !loaded.wait(20000)) {
        qWarning("could not open %s: %s", qPrintable(model), qPrintable(window->lastError()));
        return nullptr;
    }
    return window;
}

// Opens Model → Input Shapes…, types one row per graph input (in order) and returns the dialog.
InputsDialog *TestGuiShapes::editShapes(MainWindow &window, const QStringList &rows)
{
    window.inputsAction()->trigger();
    auto *dialog = window.findChild<InputsDialog *>(QStringLiteral("inputsDialog"));
    if (!dialog)
        return nullptr;
    for (int r = 0; r < rows.size(); ++r)
        dialog->table()->item(r, InputsDialog::Shape)->setText(rows[r]);
    return dialog;
}

// ---------------------------------------------------------------------------------------------------
// Nodes without a kernel

void TestGuiShapes::blockedModelOpens()
{
    auto window = openWindow(path("blocked.onnx"));
    QVERIFY(window);
    // Everything that does not run the model is there.
    QCOMPARE(window->layerModel()->rowCount(), 3);
    QCOMPARE(window->model()->graph.parameterCount(), int64_t(2 * 9 + 2));

    // The banner lists the blocking nodes: name, op type, opset or domain.
    BlockedNodesPanel *panel = window->blockedNodesPanel();
    QVERIFY(panel->isVisible());
    QVERIFY2(panel->title().contains("2 nodes cannot run"), qPrintable(panel->title()));
    QCOMPARE(panel->list()->count(), 2);
    QCOMPARE(panel->list()->item(0)->text(), QStringLiteral("det1 — Det, opset 13"));
    QCOMPARE(panel->list()->item(1)->text(), QStringLiteral("custom1 — Mystery, domain com.example version 1"));
    QCOMPARE(window->blockingNodes().size(), size_t(2));
    // The layer table marks them too.
    LayerTableModel *layers = window->layerModel();
    const QModelIndex det = layers->index(layers->rowOfLayer("det1"), LayerTableModel::Name);
    const QModelIndex conv = layers->index(layers->rowOfLayer("conv1"), LayerTableModel::Name);
    QVERIFY(layers->data(det, Qt::ForegroundRole).isValid());
    QVERIFY(!layers->data(conv, Qt::ForegroundRole).isValid());
    QVERIFY2(layers->data(det, Qt::ToolTipRole).toString().contains("Cannot run: det1 (Det, opset 13)"),
             qPrintable(layers->data(det, Qt::ToolTipRole).toString()));

    // Every action that runs the model is off, saying why.
    const QString reason = window->runInputs().blocked;
    QVERIFY2(reason.startsWith("2 nodes cannot run: det1 (Det, opset 13), custom1 (Mystery, domain com.example version 1)"),
             qPrintable(reason));
    QVERIFY(!window->evaluateAction()->isEnabled());
    QCOMPARE(window->evaluateAction()->toolTip(), reason);
    auto *collect = window->inspectView()->findChild<QPushButton *>(QStringLiteral("collectActivations"));
    QVERIFY(collect);
    QVERIFY(!collect->isEnabled());
    QCOMPARE(collect->toolTip(), reason);
    QVERIFY(!window->sensitivityView()->runButton()->isEnabled());
    QCOMPARE(window->sensitivityView()->runButton()->toolTip(), reason);
    auto *compress = window->compressView()->findChild<QPushButton *>(QStringLiteral("compressButton"));
    QVERIFY(compress);
    QVERIFY(!compress->isEnabled());
    QCOMPARE(compress->toolTip(), reason);

    // Called anyway (a shortcut, a script), each refuses without starting a job or a dialog.
    QVERIFY(!window->evaluate());
    QVERIFY(!window->inspectView()->collectActivations());
    QVERIFY(!window->sensitivityView()->run());
    QCOMPARE(window->sensitivityView()->statusText(), reason);
    QVERIFY(!window->compressView()->compress());
    QVERIFY(!window->isBusy());
    QVERIFY(!window->findChild<QMessageBox *>());

    // A model that runs clears the banner and enables the runs again.
    QSignalSpy loaded(window.get(), &MainWindow::modelLoaded);
    QVERIFY(window->openModel(path("dynamic.onnx")));
    QVERIFY(loaded.wait(20000));
    QVERIFY(!panel->isVisible());
    QVERIFY(window->runInputs().blocked.isEmpty());
    QVERIFY(window->evaluateAction()->isEnabled());
    QVERIFY(collect->isEnabled());
    QVERIFY(window->sensitivityView()->runButton()->isEnabled());
    QVERIFY(compress->isEnabled());
}

void TestGuiShapes::blockedNodeSelectsLayer()
{
    auto window = openWindow(path("blocked.onnx"));
    QVERIFY(window);
    QListWidget *list = window->blockedNodesPanel()->list();
    for (const QString &name : {QStringLiteral("custom1"), QStringLiteral("det1")}) {
        QListWidgetItem *item = list->findItems(name + " —", Qt::MatchStartsWith).value(0);
        QVERIFY(item);
        const QPoint centre = list->visualItemRect(item).center();
        QTest::mouseClick(list->viewport(), Qt::LeftButton, {}, centre);
        QTest::mouseDClick(list->viewport(), Qt::LeftButton, {}, centre);
        QCOMPARE(window->selectedLayer(), name);
    }
}

void TestGuiShapes::failedOpenKeepsBlockedModel_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QStringList>("mustMention");
    QTest::newRow("not a model") << "corrupt.onnx" << QStringList{"corrupt.onnx"};
    QTest::newRow("missing file") << "missing.onnx" << QStringList{"missing.onnx", "no such file"};
    QTest::newRow("opset too old") << "old_opset.onnx" << QStringList{"old_opset.onnx", "opset 7"};
}

void TestGuiShapes::failedOpenKeepsBlockedModel()
{
    QFETCH(QString, file);
    QFETCH(QStringList, mustMention);
    auto window = openWindow(path("blocked.onnx"));
    QVERIFY(window);
    window->setErrorDialogsEnabled(true);
    QSignalSpy failed(window.get(), &MainWindow::modelLoadFailed);
    QVERIFY(window->openModel(path(file)));
    QVERIFY(failed.wait(20000));
    const QString error = failed.first().first().toString();
    for (const QString &word : mustMention)
        QVERIFY2(error.contains(word), qPrintable("'" + word + "' missing from: " + error));

    // The dialog names the reason; the open model, its banner and its disabled runs stay as they were.
    QTRY_VERIFY(window->findChild<QMessageBox *>(QStringLiteral("errorMessageBox")));
    auto *box = window->findChild<QMessageBox *>(QStringLiteral("errorMessageBox"));
    QCOMPARE(box->text(), error);
    box->close();
    QCOMPARE(window->modelSpec(), path("blocked.onnx"));
    QCOMPARE(window->layerModel()->rowCount(), 3);
    QVERIFY(window->blockedNodesPanel()->isVisible());
    QCOMPARE(window->blockedNodesPanel()->list()->count(), 2);
    QVERIFY(!window->evaluateAction()->isEnabled());
}

// ---------------------------------------------------------------------------------------------------
// Input shapes

void TestGuiShapes::shapeEditorValidation_data()
{
    QTest::addColumn<QStringList>("rows"); // x, extra, extra2
    QTest::addColumn<QString>("error");    // "" = valid
    QTest::newRow("valid") << QStringList{"1,16", "1,5", "1,5"} << "";
    QTest::newRow("spaces and another batch") << QStringList{" 8, 16", "2 ,5", "1,5 "} << "";
    QTest::newRow("a symbol left by name") << QStringList{"1,16", "1,k", "1,5"} << "extra: replace k with its size";
    QTest::newRow("not a number") << QStringList{"1,16", "1,five", "1,5"} << "extra: 'five' is not a size";
    QTest::newRow("zero") << QStringList{"1,16", "1,0", "1,0"} << "extra: '0' is not a size";
    QTest::newRow("negative") << QStringList{"1,16", "1,5", "1,-5"} << "extra2: '-5' is not a size";
    QTest::newRow("empty") << QStringList{"1,16", "", "1,5"} << "extra: '' is not a size";
    QTest::newRow("wrong rank") << QStringList{"1,16", "1,5,3", "1,5"} << "extra: the model declares 2 dimensions, [batch, k].";
    QTest::newRow("fixed size changed") << QStringList{"1,17", "1,5", "1,5"} << "x: dimension 1 is fixed at 16 by the model";
    QTest::newRow("one symbol, two sizes")
        << QStringList{"1,16", "1,5", "1,6"} << "dimension 'k' is 5 in the shape of input 'extra' but 6 in that of 'extra2'";
}

void TestGuiShapes::shapeEditorValidation()
{
    QFETCH(QStringList, rows);
    QFETCH(QString, error);
    const cw::Model model = cw::loadModel(path("dynamic.onnx").toStdString());
    InputsDialog dialog(model.graph, {});
    QTableWidget *table = dialog.table();
    QCOMPARE(table->rowCount(), 3);
    // Name, dtype, declaration; the editable shape starts from the declaration, batch 1, symbols by name.
    QCOMPARE(table->item(1, InputsDialog::Name)->text(), QStringLiteral("extra"));
    QCOMPARE(table->item(1, InputsDialog::Type)->text(), QStringLiteral("float32"));
    QCOMPARE(table->item(1, InputsDialog::Declared)->text(), QStringLiteral("[batch, k]"));
    QCOMPARE(table->item(1, InputsDialog::Shape)->text(), QStringLiteral("1,k"));
    QVERIFY(!dialog.error().isEmpty()); // k has no size yet
    QPushButton *ok = dialog.buttons()->button(QDialogButtonBox::Ok);
    QVERIFY(!ok->isEnabled());

    for (int r = 0; r < rows.size(); ++r)
        table->item(r, InputsDialog::Shape)->setText(rows[r]);
    if (error.isEmpty()) {
        QVERIFY2(dialog.error().isEmpty(), qPrintable(dialog.error()));
        QVERIFY(ok->isEnabled());
        QCOMPARE(dialog.inputs().shapes.size(), size_t(3));
        QCOMPARE(dialog.inputs().shapes.at("extra").back(), int64_t(5));
    } else {
        QVERIFY2(dialog.error().contains(error), qPrintable(dialog.error()));
        QVERIFY(!ok->isEnabled());
        QVERIFY(dialog.inputs().shapes.empty());
    }
}

void TestGuiShapes::shapesRememberedPerModelFile()
{
    const QString file = path("remembered.onnx");
    QFile::remove(file);
    QVERIFY(QFile::copy(path("dynamic.onnx"), file));
    {
        auto window = openWindow(file);
        QVERIFY(window);
        QVERIFY(window->inputsAction()->isEnabled());
        QVERIFY(window->modelInputs().shapes.empty());
        InputsDialog *dialog = editShapes(*window, {"1,16", "1,7", "1,7"});
        QVERIFY(dialog);
        QVERIFY2(dialog->error().isEmpty(), qPrintable(dialog->error()));
        dialog->buttons()->button(QDialogButtonBox::Ok)->click();
        QCOMPARE(window->modelInputs().shapes.at("extra"), (cw::Shape{1, 7}));
        QCOMPARE(window->runInputs().feeds.shapes.at("k"), (cw::Shape{7}));
        QCOMPARE(window->runInputs().feeds.shapes.count("batch"), size_t(0)); // the jobs size the batch
    }
    {
        // Reopened: the same shapes, and the editor starts from them.
        auto window = openWindow(file);
        QVERIFY(window);
        QCOMPARE(window->modelInputs().shapes.size(), size_t(3));
        QCOMPARE(window->modelInputs().shapes.at("extra2"), (cw::Shape{1, 7}));
        QCOMPARE(window->runInputs().feeds.shapes.at("k"), (cw::Shape{7}));
        InputsDialog *dialog = window->openInputs();
        QVERIFY(dialog);
        QCOMPARE(dialog->table()->item(1, InputsDialog::Shape)->text(), QStringLiteral("1,7"));
        dialog->reject();

        // Another model has its own (none).
        QSignalSpy loaded(window.get(), &MainWindow::modelLoaded);
        QVERIFY(window->openModel(path("dynamic.onnx")));
        QVERIFY(loaded.wait(20000));
        QVERIFY(window->modelInputs().shapes.empty());
        QVERIFY(window->runInputs().feeds.shapes.empty());
    }
    {
        // The file changed since: its old shapes no longer apply.
        QFile f(file);
        QVERIFY(f.open(QIODevice::ReadWrite));
        QVERIFY(f.setFileTime(f.fileTime(QFileDevice::FileModificationTime).addSecs(-60), QFileDevice::FileModificationTime));
        f.close();
        auto window = openWindow(file);
        QVERIFY(window);
        QVERIFY(window->modelInputs().shapes.empty());
    }
    {
        // Fixed inputs (besides the batch) need no editor.
        auto window = openWindow(path("blocked.onnx"));
        QVERIFY(window);
        QVERIFY(!window->inputsAction()->isEnabled());
        QVERIFY(!window->openInputs());
    }
}

void TestGuiShapes::runWithoutSizesAsksForThem()
{
    auto window = openWindow(path("dynamic.onnx"));
    QVERIFY(window);
    QSignalSpy asked(window->inspectView(), &InspectView::inputsNeeded);
    QVERIFY(!window->inspectView()->collectActivations());
    QCOMPARE(asked.size(), 1);
    QVERIFY2(asked.first().first().toString().contains("a size for k"), qPrintable(asked.first().first().toString()));
    QVERIFY(!window->isBusy());
    auto *dialog = window->findChild<InputsDialog *>(QStringLiteral("inputsDialog"));
    QVERIFY(dialog);
    QTRY_VERIFY(dialog->isVisible());
    auto *reason = dialog->findChild<QLabel *>(QStringLiteral("inputsReason"));
    QVERIFY(reason && reason->isVisible());
    QVERIFY2(reason->text().contains("a size for k"), qPrintable(reason->text()));
    dialog->reject();

    // Evaluate and Compress ask the same way; Sensitivity refuses with the message too.
    QVERIFY(!window->evaluate());
    QTRY_VERIFY(window->findChild<InputsDialog *>(QStringLiteral("inputsDialog")));
    window->findChild<InputsDialog *>(QStringLiteral("inputsDialog"))->reject();
    QSignalSpy compressAsked(window->compressView(), &CompressView::inputsNeeded);
    QVERIFY(!window->compressView()->compress());
    QCOMPARE(compressAsked.size(), 1);
    QVERIFY(!window->sensitivityView()->run());
    QVERIFY2(window->sensitivityView()->statusText().contains("a size for k"), qPrintable(window->sensitivityView()->statusText()));
    QVERIFY(!window->isBusy());
}

void TestGuiShapes::activationsUseEditorShapes()
{
    auto window = openWindow(path("dynamic.onnx"));
    QVERIFY(window);
    InputsDialog *dialog = editShapes(*window, {"1,16", "1,5", "1,5"});
    QVERIFY(dialog);
    dialog->buttons()->button(QDialogButtonBox::Ok)->click();
    QCOMPARE(window->runInputs().feeds.shapes.at("k"), (cw::Shape{5}));

    InspectView *inspect = window->inspectView();
    inspect->setActivationSamples(kSamples);
    QVERIFY(window->showInspect(QStringLiteral("join")));
    QSignalSpy done(inspect, &InspectView::activationsFinished);
    QVERIFY(inspect->collectActivations());
    QVERIFY(done.wait(60000));
    QVERIFY(inspect->hasActivations());
    // The concatenation of x [40, 16] with two random inputs of the editor's [*, 5]: 40 × 26 values.
    const cw::Histogram &h = inspect->activationPlot()->histogram();
    int64_t values = 0;
    for (int64_t c : h.counts)
        values += c;
    QCOMPARE(values, int64_t(kSamples * (16 + 2 * 5)));
}


// ---------------------------------------------------------------------------------------------------
// Values and undeclared shapes

void TestGuiShapes::valueEditorValidation_data()
{
    QTest::addColumn<QString>("text"); // the Data cell of sr (int64)
    QTest::addColumn<QString>("error"); // "" = valid
    QTest::addColumn<double>("value");  // NaN: random
    QTest::newRow("random") << "random" << "" << qQNaN();
    QTest::newRow("empty is random") << " " << "" << qQNaN();
    QTest::newRow("a rate") << "16000" << "" << 16000.0;
    QTest::newRow("negative") << "-3" << "" << -3.0;
    QTest::newRow("fraction for an integer") << "16000.5" << "sr is int64: give a whole number" << 0.0;
    QTest::newRow("text") << "fast" << "sr: 'fast' is not a value" << 0.0;
    QTest::newRow("infinite") << "inf" << "sr: 'inf' is not a value" << 0.0;
}

void TestGuiShapes::valueEditorValidation()
{
    QFETCH(QString, text);
    QFETCH(QString, error);
    QFETCH(double, value);
    const cw::Model model = cw::loadModel(path("valued.onnx").toStdString());
    InputsDialog dialog(model.graph, {});
    QTableWidget *table = dialog.table();
    // The first input takes the dataset: its data is not editable; sr starts random; no shape to give.
    QCOMPARE(table->item(0, InputsDialog::Data)->text(), QStringLiteral("dataset"));
    QVERIFY(!(table->item(0, InputsDialog::Data)->flags() & Qt::ItemIsEditable));
    QCOMPARE(table->item(1, InputsDialog::Data)->text(), QStringLiteral("random"));
    QVERIFY(table->item(1, InputsDialog::Data)->flags() & Qt::ItemIsEditable);
    QVERIFY(!(table->item(1, InputsDialog::Shape)->flags() & Qt::ItemIsEditable));
    QVERIFY(dialog.error().isEmpty());

    table->item(1, InputsDialog::Data)->setText(text);
    QPushButton *ok = dialog.buttons()->button(QDialogButtonBox::Ok);
    if (error.isEmpty()) {
        QVERIFY2(dialog.error().isEmpty(), qPrintable(dialog.error()));
        QVERIFY(ok->isEnabled());
        if (qIsNaN(value))
            QVERIFY(dialog.inputs().values.empty());
        else
            QCOMPARE(dialog.inputs().values.at("sr"), value);
    } else {
        QVERIFY2(dialog.error().contains(error), qPrintable(dialog.error()));
        QVERIFY(!ok->isEnabled());
        QVERIFY(dialog.inputs().empty());
    }
}

// A value given in the editor is remembered for the file and reaches the jobs: activation statistics of
// x * sr on data in [0, 1) reach above 500 only with sr = 1000 (random sr is at most 9).
void TestGuiShapes::valuesRememberedAndFed()
{
    const QString file = path("valued-remembered.onnx");
    QFile::remove(file);
    QVERIFY(QFile::copy(path("valued.onnx"), file));
    {
        auto window = openWindow(file);
        QVERIFY(window);
        QVERIFY(window->inputsAction()->isEnabled()); // no symbol to size, but an input to give a value
        window->inputsAction()->trigger();
        auto *dialog = window->findChild<InputsDialog *>(QStringLiteral("inputsDialog"));
        QVERIFY(dialog);
        dialog->table()->item(1, InputsDialog::Data)->setText(QStringLiteral("1000"));
        dialog->buttons()->button(QDialogButtonBox::Ok)->click();
        QCOMPARE(window->runInputs().feeds.values.at("sr"), 1000.0);
    }
    auto window = openWindow(file);
    QVERIFY(window);
    QCOMPARE(window->modelInputs().values.at("sr"), 1000.0);
    QCOMPARE(window->runInputs().feeds.values.at("sr"), 1000.0);
    InputsDialog *dialog = window->openInputs();
    QVERIFY(dialog);
    QCOMPARE(dialog->table()->item(1, InputsDialog::Data)->text(), QStringLiteral("1000"));
    dialog->reject();

    InspectView *inspect = window->inspectView();
    inspect->setActivationSamples(kSamples);
    QVERIFY(window->showInspect(QStringLiteral("scale")));
    QSignalSpy done(inspect, &InspectView::activationsFinished);
    QVERIFY(inspect->collectActivations());
    QVERIFY(done.wait(60000));
    const cw::Histogram &h = inspect->activationPlot()->histogram();
    QVERIFY2(h.hi > 500 && h.hi < 1000, qPrintable(QString::number(h.hi)));
    QVERIFY(h.lo >= 0);

    // The preprocessing chosen for the dataset reaches the jobs: [-1, 1] maps x from [0, 1) below zero.
    PreprocessChoice symmetric;
    symmetric.normalization = cw::Normalization::Symmetric;
    window->setPreprocessing(symmetric);
    QVERIFY(inspect->collectActivations());
    QVERIFY(done.wait(60000));
    const cw::Histogram &shifted = inspect->activationPlot()->histogram();
    QVERIFY2(shifted.lo < -500, qPrintable(QString::number(shifted.lo)));
}

// An input after the first that declares no shape needs one before a run, and runs with it.
void TestGuiShapes::undeclaredShapeGiven()
{
    auto window = openWindow(path("undeclared.onnx"));
    QVERIFY(window);
    InspectView *inspect = window->inspectView();
    QSignalSpy asked(inspect, &InspectView::inputsNeeded);
    QVERIFY(!inspect->collectActivations());
    QCOMPARE(asked.size(), 1);
    QVERIFY2(asked.first().first().toString().contains("a shape for input 'extra'"),
             qPrintable(asked.first().first().toString()));
    auto *dialog = window->findChild<InputsDialog *>(QStringLiteral("inputsDialog"));
    QVERIFY(dialog);
    QVERIFY(dialog->table()->item(1, InputsDialog::Shape)->flags() & Qt::ItemIsEditable);
    QVERIFY2(dialog->error().contains("extra: the model does not declare its shape"), qPrintable(dialog->error()));
    dialog->table()->item(1, InputsDialog::Shape)->setText(QStringLiteral("1,16,2"));
    QVERIFY(dialog->error().isEmpty()); // any shape: nothing to check it against before a run
    dialog->table()->item(1, InputsDialog::Shape)->setText(QStringLiteral("16"));
    QVERIFY(dialog->error().isEmpty());
    dialog->buttons()->button(QDialogButtonBox::Ok)->click();
    QCOMPARE(window->runInputs().feeds.shapes.at("extra"), (cw::Shape{16}));

    inspect->setActivationSamples(kSamples);
    QVERIFY(window->showInspect(QStringLiteral("add")));
    QSignalSpy done(inspect, &InspectView::activationsFinished);
    QVERIFY(inspect->collectActivations());
    QVERIFY(done.wait(60000));
    int64_t values = 0;
    for (int64_t c : inspect->activationPlot()->histogram().counts)
        values += c;
    QCOMPARE(values, int64_t(kSamples * 16));
}

// A dimension given as another symbol's name has that size in every run: the state follows the data's batch.
void TestGuiShapes::symbolOfAnothersSize()
{
    const QString file = path("renamed-remembered.onnx");
    QFile::remove(file);
    QVERIFY(QFile::copy(path("renamed.onnx"), file));
    {
        auto window = openWindow(file);
        QVERIFY(window);
        InspectView *inspect = window->inspectView();
        QVERIFY(!inspect->collectActivations()); // d has no size: the editor opens
        auto *dialog = window->findChild<InputsDialog *>(QStringLiteral("inputsDialog"));
        QVERIFY(dialog);
        QCOMPARE(dialog->table()->item(1, InputsDialog::Shape)->text(), QStringLiteral("d,16"));
        dialog->table()->item(1, InputsDialog::Shape)->setText(QStringLiteral("M,16"));
        QVERIFY2(dialog->error().contains("'M' is not a size"), qPrintable(dialog->error()));
        dialog->table()->item(1, InputsDialog::Shape)->setText(QStringLiteral("N,17"));
        QVERIFY2(dialog->error().contains("dimension 1 is fixed at 16"), qPrintable(dialog->error()));
        dialog->table()->item(1, InputsDialog::Shape)->setText(QStringLiteral("N, 16"));
        QVERIFY2(dialog->error().isEmpty(), qPrintable(dialog->error()));
        QCOMPARE(dialog->inputs().sameSize.at("d"), std::string("N"));
        dialog->buttons()->button(QDialogButtonBox::Ok)->click();
        QCOMPARE(window->runInputs().feeds.sameSize.at("d"), std::string("N"));
        QVERIFY(window->runInputs().missingSizes(cw::loadModel(file.toStdString()).graph, true).isEmpty());
    }
    auto window = openWindow(file);
    QVERIFY(window);
    QCOMPARE(window->modelInputs().sameSize.at("d"), std::string("N"));
    InputsDialog *dialog = window->openInputs();
    QVERIFY(dialog);
    QCOMPARE(dialog->table()->item(1, InputsDialog::Shape)->text(), QStringLiteral("N,16"));
    dialog->reject();
    InspectView *inspect = window->inspectView();
    inspect->setActivationSamples(kSamples);
    QVERIFY(window->showInspect(QStringLiteral("sum")));
    QSignalSpy done(inspect, &InspectView::activationsFinished);
    QVERIFY(inspect->collectActivations());
    QVERIFY(done.wait(60000));
    int64_t values = 0;
    for (int64_t c : inspect->activationPlot()->histogram().counts)
        values += c;
    QCOMPARE(values, int64_t(kSamples * 16)); // x + state, both [batch, 16]

    // A row naming another symbol leaves its batch dimension to the jobs, and one symbol takes one other's size.
    cw::Graph g;
    g.inputs = {cw::ValueInfo{"x", cw::DType::Float32, {-1, 16}, true, {"N"}},
                cw::ValueInfo{"state", cw::DType::Float32, {2, -1, -1, -1}, true, {"", "N", "d", "e"}}};
    InputsDialog editor(g, {});
    QCOMPARE(editor.table()->item(1, InputsDialog::Shape)->text(), QStringLiteral("2,1,d,e"));
    editor.table()->item(1, InputsDialog::Shape)->setText(QStringLiteral("2,1,N,5"));
    QVERIFY2(editor.error().isEmpty(), qPrintable(editor.error()));
    QCOMPARE(editor.inputs().sameSize.at("d"), std::string("N"));
    QCOMPARE(editor.inputs().sizes, (std::map<std::string, int64_t>{{"e", 5}})); // no size for the batch
}

QTEST_MAIN(TestGuiShapes)
#include "test_gui_shapes.moc"
