// Language models in the window, on the offscreen platform: random-weight GPT-2 checkpoints written with
// cw::gguf::write (the byte-level vocabulary of the fuzz seed tiny_gpt2.gguf) open on a worker thread and replace
// the CNN views; the Overview shows the configuration; Inspect's tree groups the tensors by block and shows
// cw::lm::weightStats of the selected one (an input channel scaled up shows as the outlier), cached; Evaluate's
// perplexity equals cw::lm::perplexity on the same tokens and its Cancel keeps nothing; Generate streams exactly
// the tokens cw::lm::generate makes (greedy and sampled) and Stop keeps what came; a corrupt or truncated .gguf is
// an error message, not a crash; a llama-7B-shaped checkpoint (13.5 GB, sparse) opens at once and Inspect reads one
// of its matrices on a worker thread; opening a CNN model brings the CNN views back; File → Export (Ctrl+E) writes
// a GGUF (float32, or float16 matrices, as the dialog's filter says) that opens and gives the original's logits,
// and an unwritable path is an error message. Compress (Ctrl+6): the form and the per-tensor overrides make the
// recipe its saved JSON reads back as; the table predicts the storage types and bytes compressLanguageModel reports
// (llama-quantize's fallback included); a run adds a variant with the core's bits per weight and perplexity, exports
// as GGUF, and reuses the base's measurement; Cancel of a GPTQ run keeps no variant; a refused recipe says why.
#include <QtTest>

#include <QAction>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QSpinBox>
#include <QStatusBar>
#include <QStackedWidget>
#include <QStandardItemModel>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTextEdit>
#include <QTimer>
#include <QTreeView>

#include <qcustomplot.h>

#include <cmath>

#include "core/compress/recipe.h"
#include "core/io/gguf.h"
#include "core/lm/compress.h"
#include "core/lm/defaults.h"
#include "core/lm/model.h"
#include "core/lm/perplexity.h"
#include "core/lm/sensitivity.h"
#include "core/lm/stats.h"
#include "core/base/sha256.h"
#include "core/project/lm_project.h"
#include "resources/demo_data.h"
#include "lmtestutil.h"
#include "guitestutil.h"
#include "testutil.h"
#include "ui/charts/channelprofileplot.h"
#include "ui/charts/histogramplot.h"
#include "ui/formatting.h"
#include "ui/mainwindow.h"
#include "ui/models/layertablemodel.h"
#include "ui/models/lmtensormodel.h"
#include "ui/projectdocument.h"
#include "ui/models/lmrecipetablemodel.h"
#include "ui/views/lmcompressview.h"
#include "ui/views/lmevaluateview.h"
#include "ui/views/lmgenerateview.h"
#include "ui/views/lminspectview.h"
#include "ui/views/lmoverview.h"
#include "ui/views/lmsensitivityview.h"
#include "ui/views/lmworkspace.h"
#include "ui/views/clusterdialog.h"
#include "core/cluster/sweep.h"
#include "core/lm/allocate.h"

using namespace cw::ui;

namespace {

constexpr int kJobTimeoutMs = 120000;
constexpr int64_t kOutlierColumn = 5;

struct Gpt2Shape {
    int64_t dim = 32, layers = 2, ctx = 64, ffn = 64;
};

// A random-weight GPT-2 with the byte-level vocabulary of tests/fuzz/corpus/gguf/tiny_gpt2.gguf (256 bytes, one
// merge, <|endoftext|>). Input channel kOutlierColumn of blk.0.attn_qkv.weight is 20 times the others.
void writeGpt2(const QString &path, const Gpt2Shape &s)
{
    const cw::gguf::File vocab = cw::gguf::File::open(testutil::sourcePath("tests/fuzz/corpus/gguf/tiny_gpt2.gguf").toStdString());
    std::vector<cw::gguf::WriteValue> kv = {
        {"general.architecture", cw::gguf::makeString("gpt2")},
        {"general.name", cw::gguf::makeString("random gpt2")},
        {"gpt2.context_length", cw::gguf::makeUInt32(uint32_t(s.ctx))},
        {"gpt2.embedding_length", cw::gguf::makeUInt32(uint32_t(s.dim))},
        {"gpt2.block_count", cw::gguf::makeUInt32(uint32_t(s.layers))},
        {"gpt2.feed_forward_length", cw::gguf::makeUInt32(uint32_t(s.ffn))},
        {"gpt2.attention.head_count", cw::gguf::makeUInt32(4)},
        {"gpt2.attention.layer_norm_epsilon", cw::gguf::makeFloat32(1e-5f)},
    };
    for (const auto &[key, value] : vocab.metadata())
        if (key.rfind("tokenizer.", 0) == 0)
            kv.push_back({key, value});
    const int64_t nVocab = int64_t(vocab.require("tokenizer.ggml.tokens").strings.size());
    unsigned seed = 1;
    std::vector<cw::gguf::WriteTensor> ts;
    const auto add = [&](const std::string &name, const cw::Shape &shape, float range) {
        ts.push_back({name, testutil::randomTensor(shape, seed++, -range, range)});
    };
    add("token_embd.weight", {nVocab, s.dim}, 1.f);
    add("position_embd.weight", {s.ctx, s.dim}, 0.5f);
    const float a = std::sqrt(3.f / float(s.dim));
    for (int64_t b = 0; b < s.layers; ++b) {
        const std::string p = "blk." + std::to_string(b) + ".";
        add(p + "attn_norm.weight", {s.dim}, 1.f);
        add(p + "attn_norm.bias", {s.dim}, 0.1f);
        add(p + "attn_qkv.weight", {3 * s.dim, s.dim}, a);
        add(p + "attn_qkv.bias", {3 * s.dim}, 0.1f);
        add(p + "attn_output.weight", {s.dim, s.dim}, a);
        add(p + "attn_output.bias", {s.dim}, 0.1f);
        add(p + "ffn_norm.weight", {s.dim}, 1.f);
        add(p + "ffn_norm.bias", {s.dim}, 0.1f);
        add(p + "ffn_up.weight", {s.ffn, s.dim}, a);
        add(p + "ffn_up.bias", {s.ffn}, 0.1f);
        add(p + "ffn_down.weight", {s.dim, s.ffn}, std::sqrt(3.f / float(s.ffn)));
        add(p + "ffn_down.bias", {s.dim}, 0.1f);
    }
    add("output_norm.weight", {s.dim}, 1.f);
    add("output_norm.bias", {s.dim}, 0.1f);
    add("output.weight", {nVocab, s.dim}, a);
    for (cw::gguf::WriteTensor &t : ts)
        if (t.name == "blk.0.attn_qkv.weight")
            for (int64_t r = 0; r < 3 * s.dim; ++r)
                t.value.f32()[r * s.dim + kOutlierColumn] *= 20.f;
    cw::gguf::write(path.toStdString(), kv, ts);
}

// The logits of a fixed token sequence, every position.
cw::Tensor logitsOf(const QString &path)
{
    const auto model = cw::lm::LanguageModel::open(path.toStdString());
    model->load();
    cw::lm::Context context(model, 16, 1);
    return context.eval({1, 72, 101, 108, 108, 111, 32, 119, 111, 114, 108, 100});
}

// Answers the next file dialog (a Qt widget dialog on the offscreen platform): picks `filter`, goes to `path`'s
// folder, types its name, accepts.
// The returned timer polls until the dialog is up; delete it once the call that opens the dialog has returned.
QTimer *answerFileDialog(const QString &path, const QString &filter)
{
    auto *timer = new QTimer;
    QObject::connect(timer, &QTimer::timeout, timer, [timer, path, filter]() {
        auto *dialog = qobject_cast<QFileDialog *>(QApplication::activeModalWidget());
        if (!dialog)
            return;
        timer->stop();
        dialog->selectNameFilter(filter);
        dialog->setDirectory(QFileInfo(path).absolutePath());
        // Typed into the name field (selectFile leaves a focused field alone).
        if (auto *name = dialog->findChild<QLineEdit *>(QStringLiteral("fileNameEdit")))
            name->setText(QFileInfo(path).fileName());
        static_cast<QDialog *>(dialog)->accept(); // QFileDialog::accept, protected there
    });
    timer->start(20);
    return timer;
}

QString readAll(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? QString::fromUtf8(f.readAll()) : QString();
}

} // namespace

class TestGuiLm : public QObject {
    Q_OBJECT
private slots:
    void initTestCase();
    void cleanup();

    void opensAndShowsOverview();
    void tensorTreeGroupsByBlock();
    void inspectShowsWeightStats();
    void evaluateMatchesPerplexity();
    void evaluateCancel();
    void sensitivityMatchesCore();
    void sensitivityTakesTurnsAndCancelRestoresWeights();
    void sensitivityOnClusterAndMixToABudget();
    void generateMatchesCore_data();
    void generateMatchesCore();
    void generateStop();
    void sevenBillionOpensWithoutReading();
    void corruptFilesAreErrors_data();
    void corruptFilesAreErrors();
    void cnnModelReplacesLanguageModel();
    void openingOffersLanguageModels();
    void exportWritesGguf_data();
    void exportWritesGguf();
    void exportToUnwritablePathIsAnError();
    void compressFormRoundTrips();
    void compressTablePredictsCore();
    void compressRunMatchesCore();
    void compressCancelKeepsVariants();
    void compressRefusedRecipeSaysWhy();
    void compressFinetunesWithTheBaseAsTeacher();
    void projectSavesAndReopens();
    void compressRunsOnCluster();
    void compressByMatrixOnCluster();
    void evaluateRunsOnCluster();

private:
    std::unique_ptr<MainWindow> openWindow(const QString &spec);

    QTemporaryDir m_dir;
    QString m_small, m_slow; // checkpoints: quick to run, and slow enough to cancel
    QString m_text, m_longText;
};

void TestGuiLm::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QCoreApplication::setOrganizationName(QStringLiteral("CompressionWorkbench"));
    QCoreApplication::setApplicationName(QStringLiteral("Compression Workbench LM Test"));
    QSettings().clear();
    QVERIFY(m_dir.isValid());
    m_small = m_dir.filePath(QStringLiteral("small.gguf"));
    m_slow = m_dir.filePath(QStringLiteral("slow.gguf"));
    writeGpt2(m_small, Gpt2Shape{});
    writeGpt2(m_slow, Gpt2Shape{256, 4, 2048, 1024});
    const QString paragraph = QStringLiteral(
        "The jury said it did find that many of the city's registration and election laws are outmoded or "
        "inadequate and often ambiguous. It recommended that the legislators act to have these laws studied. ");
    m_text = m_dir.filePath(QStringLiteral("text.txt"));
    QVERIFY(testutil::writeFile(m_text, paragraph.repeated(3).toUtf8()));
    m_longText = m_dir.filePath(QStringLiteral("long.txt"));
    QVERIFY(testutil::writeFile(m_longText, paragraph.repeated(400).toUtf8()));
}

void TestGuiLm::cleanup()
{
    QSettings().clear();
}

std::unique_ptr<MainWindow> TestGuiLm::openWindow(const QString &spec)
{
    auto window = std::make_unique<MainWindow>();
    window->setErrorDialogsEnabled(false);
    window->resize(1280, 720);
    window->show();
    QSignalSpy loaded(window.get(), &MainWindow::modelLoaded);
    if (!window->openModel(spec) || !loaded.wait(kJobTimeoutMs))
        return nullptr;
    return window;
}

// ---------------------------------------------------------------------------------------------------

void TestGuiLm::opensAndShowsOverview()
{
    auto window = openWindow(m_small);
    QVERIFY2(window, qPrintable(m_small));
    QVERIFY(window->languageModel());
    QVERIFY(!window->model()); // no CNN project behind it
    QCOMPARE(window->modelSpec(), m_small);
    auto *pages = window->findChild<QStackedWidget *>(QStringLiteral("pages"));
    QVERIFY(pages);
    QCOMPARE(pages->currentWidget(), window->languageModelView());
    QVERIFY(window->windowTitle().contains(QStringLiteral("gpt2 language model")));

    const auto model = cw::lm::LanguageModel::open(m_small.toStdString());
    const cw::lm::Config &c = model->config();
    LmOverview *overview = window->languageModelView()->overview();
    QCOMPARE(overview->value(QStringLiteral("Name")), QStringLiteral("random gpt2"));
    QCOMPARE(overview->value(QStringLiteral("Format")), QStringLiteral("GGUF"));
    QCOMPARE(overview->value(QStringLiteral("Architecture")), QStringLiteral("gpt2"));
    QCOMPARE(overview->value(QStringLiteral("Parameters")), formatCount(c.parameters));
    QVERIFY(overview->value(QStringLiteral("Stored")).startsWith(formatBytes(c.storedBytes)));
    QCOMPARE(overview->value(QStringLiteral("Vocabulary")), QStringLiteral("258 tokens (bpe/gpt-2)"));
    QCOMPARE(overview->value(QStringLiteral("Context")), QStringLiteral("64 tokens"));
    QCOMPARE(overview->value(QStringLiteral("Embedding")), QStringLiteral("32"));
    QCOMPARE(overview->value(QStringLiteral("Blocks")), QStringLiteral("2"));
    QCOMPARE(overview->value(QStringLiteral("Heads")), QStringLiteral("4 (4 key / value; 8 per head)"));
    QCOMPARE(overview->value(QStringLiteral("Feed-forward")), QStringLiteral("64"));
    QCOMPARE(overview->value(QStringLiteral("Tensor types")), QStringLiteral("F32 × %1").arg(model->tensors().size()));
    // The metadata, strings without their quotes.
    QCOMPARE(overview->value(QStringLiteral("general.name")), QStringLiteral("random gpt2"));
    QCOMPARE(overview->value(QStringLiteral("gpt2.block_count")), QStringLiteral("2"));
    // Where the parameters are: one stacked bar per group, the total the model's parameters.
    QCustomPlot *chart = overview->chart();
    double total = 0;
    for (int i = 0; i < chart->plottableCount(); ++i)
        for (auto it = static_cast<QCPBars *>(chart->plottable(i))->data()->constBegin();
             it != static_cast<QCPBars *>(chart->plottable(i))->data()->constEnd(); ++it)
            total += it->value;
    QCOMPARE(total, double(c.parameters));
    QCOMPARE(window->modelStatusText(), tr("%1 parameters · %2").arg(formatCount(c.parameters), formatBytes(c.storedBytes)));
    QVERIFY(window->recentFiles().contains(QFileInfo(m_small).absoluteFilePath()));

    // The View menu's tab shortcuts switch the language-model tabs.
    auto *viewMenu = window->findChild<QMenu *>(QStringLiteral("viewMenu"));
    QVERIFY(viewMenu);
    QAction *generateTab = nullptr, *compressTab = nullptr, *sensitivityTab = nullptr, *lmCompressTab = nullptr;
    for (QAction *a : viewMenu->actions()) {
        if (a->text() == QStringLiteral("Generate"))
            generateTab = a;
        if (a->text() == QStringLiteral("Sensitivity") && a->isVisible())
            sensitivityTab = a;
        if (a->text() == QStringLiteral("Compress"))
            (a->isVisible() ? lmCompressTab : compressTab) = a; // the CNN tab's is hidden
    }
    QVERIFY(generateTab && compressTab);
    QVERIFY(generateTab->isVisible() && !compressTab->isVisible());
    QCOMPARE(generateTab->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_5));
    generateTab->trigger();
    QCOMPARE(window->languageModelView()->currentWidget(), window->languageModelView()->generateView());
    QVERIFY(sensitivityTab);
    QCOMPARE(sensitivityTab->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_3));
    sensitivityTab->trigger();
    QCOMPARE(window->languageModelView()->currentWidget(), window->languageModelView()->sensitivityView());
    QVERIFY(lmCompressTab);
    QCOMPARE(lmCompressTab->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_6));
    lmCompressTab->trigger();
    QCOMPARE(window->languageModelView()->currentWidget(), window->languageModelView()->compressView());

    // Close Model: back to the CNN page, nothing open.
    QVERIFY(window->closeProject());
    QVERIFY(!window->languageModel());
    QCOMPARE(pages->currentWidget()->objectName(), QStringLiteral("mainSplitter"));
    QVERIFY(compressTab->isVisible() && !generateTab->isVisible() && !lmCompressTab->isVisible());
}

void TestGuiLm::tensorTreeGroupsByBlock()
{
    auto window = openWindow(m_small);
    QVERIFY(window);
    LmTensorModel *tree = window->languageModelView()->tensorModel();
    QCOMPARE(tree->rowCount(), 4); // embeddings, two blocks, output
    QCOMPARE(tree->index(0, LmTensorModel::Part).data().toString(), QStringLiteral("Embeddings"));
    QCOMPARE(tree->index(1, LmTensorModel::Part).data().toString(), QStringLiteral("Block 0"));
    QCOMPARE(tree->index(3, LmTensorModel::Part).data().toString(), QStringLiteral("Output"));
    // A block in the order data flows through it, each bias after its weight.
    const QModelIndex block = tree->index(2, 0);
    QStringList parts;
    for (int r = 0; r < tree->rowCount(block); ++r)
        parts << tree->index(r, LmTensorModel::Part, block).data().toString();
    QCOMPARE(parts, QStringList({"Attention norm", "Attention norm bias", "Attention QKV", "Attention QKV bias",
                                 "Attention output", "Attention output bias", "MLP norm", "MLP norm bias", "MLP up",
                                 "MLP up bias", "MLP down", "MLP down bias"}));
    QCOMPARE(tree->tensorName(tree->index(2, 0, block)), QStringLiteral("blk.1.attn_qkv.weight"));
    QCOMPARE(tree->index(2, LmTensorModel::Shape, block).data().toString(), QStringLiteral("[96, 32]"));
    // A group row sums its tensors.
    const auto model = window->languageModel();
    int64_t parameters = 0;
    for (const auto &t : model->tensors())
        if (t.block == 1)
            parameters += t.numel;
    QCOMPARE(tree->index(2, LmTensorModel::Parameters).data().toString(), formatCount(parameters));
    QVERIFY(tree->tensorName(block).isEmpty());
    QCOMPARE(tree->indexOfTensor(QStringLiteral("output.weight")).parent().row(), 3);
    QVERIFY(!tree->indexOfTensor(QStringLiteral("no.such.tensor")).isValid());

    // The filter keeps the groups of the tensors that match.
    LmInspectView *inspect = window->languageModelView()->inspectView();
    inspect->filterEdit()->setText(QStringLiteral("ffn_down.weight"));
    auto *proxy = qobject_cast<QSortFilterProxyModel *>(inspect->tree()->model());
    QVERIFY(proxy);
    QCOMPARE(proxy->rowCount(), 2);
    QCOMPARE(proxy->rowCount(proxy->index(0, 0)), 1);
}

void TestGuiLm::inspectShowsWeightStats()
{
    auto window = openWindow(m_small);
    QVERIFY(window);
    LmWorkspace *lm = window->languageModelView();
    LmInspectView *inspect = lm->inspectView();
    const QString name = QStringLiteral("blk.0.attn_qkv.weight");
    QSignalSpy finished(inspect, &LmInspectView::statsFinished);
    QVERIFY(!lm->showInspect(QStringLiteral("no.such.tensor")));
    QVERIFY(lm->showInspect(name));
    QCOMPARE(lm->currentWidget(), inspect);
    QVERIFY(inspect->isComputing()); // on a worker thread
    QVERIFY(finished.wait(kJobTimeoutMs));
    QCOMPARE(finished.last().at(0).toString(), name);
    QVERIFY(finished.last().at(1).toBool());

    const cw::lm::WeightStats expected =
        cw::lm::weightStats(*window->languageModel(), name.toStdString(), inspect->bins(), inspect->outlierFactor());
    const cw::lm::WeightStats *shown = inspect->shownStats();
    QVERIFY(shown);
    QCOMPARE(shown->histogram.counts, expected.histogram.counts);
    QCOMPARE(shown->rowMin, expected.rowMin);
    QCOMPARE(shown->columnAbsMax, expected.columnAbsMax);
    QCOMPARE(shown->outlierColumns, expected.outlierColumns);
    QCOMPARE(expected.outlierColumns, std::vector<int64_t>{kOutlierColumn}); // the column scaled up, alone
    QCOMPARE(inspect->numberText(QStringLiteral("Min")), displayLocale().toString(expected.all.min, 'g', 4));
    QCOMPARE(inspect->numberText(QStringLiteral("Max")), displayLocale().toString(expected.all.max, 'g', 4));
    QCOMPARE(inspect->numberText(QStringLiteral("Outliers")), QStringLiteral("1 of 32"));
    QVERIFY(inspect->headerText().contains(name));
    QCOMPARE(inspect->histogram()->histogram().counts, expected.histogram.counts);
    QCOMPARE(inspect->rowRangePlot()->channelCount(), 96);
    QCOMPARE(inspect->columnPlot()->channelCount(), 32);
    QCOMPARE(inspect->columnPlot()->markedOutliers(), 1);
    QTableView *outliers = inspect->outlierTable();
    QCOMPARE(outliers->model()->rowCount(), 1);
    QCOMPARE(outliers->model()->index(0, 0).data().toString(), QString::number(kOutlierColumn));

    // A vector: no channel plots, its values in the histogram.
    QVERIFY(lm->showInspect(QStringLiteral("blk.0.attn_norm.weight")));
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY(inspect->shownStats());
    QCOMPARE(inspect->columnPlot()->channelCount(), 0);
    QCOMPARE(inspect->numberText(QStringLiteral("Outliers")), QStringLiteral("—"));

    // Back to the matrix: from the cache, at once.
    QVERIFY(lm->showInspect(name));
    QVERIFY(!inspect->isComputing());
    QVERIFY(inspect->shownStats());
    QCOMPARE(inspect->shownStats()->outlierColumns, expected.outlierColumns);

    // A lower factor recomputes with it.
    inspect->setOutlierFactor(1.5);
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY(inspect->shownStats());
    QCOMPARE(inspect->shownStats()->outlierColumns,
             cw::lm::weightStats(*window->languageModel(), name.toStdString(), inspect->bins(), 1.5).outlierColumns);

    // A group row shows what the group holds.
    inspect->tree()->setCurrentIndex(inspect->tree()->model()->index(1, 0));
    QVERIFY(!inspect->shownStats());
    QVERIFY(inspect->headerText().contains(QStringLiteral("Block 0")));
}

void TestGuiLm::evaluateMatchesPerplexity()
{
    auto window = openWindow(m_small);
    QVERIFY(window);
    LmEvaluateView *view = window->languageModelView()->evaluateView();
    view->setTextSpec(m_text);
    QCOMPARE(view->textSpec(), QFileInfo(m_text).absoluteFilePath());
    view->setContext(16);
    view->setChunks(0);
    QSignalSpy finished(view, &LmEvaluateView::finished);
    // Model → Evaluate (Ctrl+R) runs it.
    QVERIFY(window->evaluateAction()->isEnabled());
    QCOMPARE(window->evaluateAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_R));
    window->evaluateAction()->trigger();
    QCOMPARE(window->languageModelView()->currentWidget(), view);
    QVERIFY(view->isRunning());
    QVERIFY(!view->evaluateButton()->isEnabled());
    QVERIFY(!window->languageModelView()->generateView()->generateButton()->isEnabled()); // one runner
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY2(finished.last().at(0).toBool(), qPrintable(view->statusText()));
    QVERIFY(window->languageModelView()->generateView()->generateButton()->isEnabled());

    // The same function on the same tokens.
    const auto model = cw::lm::LanguageModel::open(m_small.toStdString());
    model->load();
    const std::vector<int32_t> tokens = cw::lm::encodeText(*model, readAll(m_text).toStdString());
    cw::lm::PerplexityOptions options = cw::lm::defaultPerplexityOptions(*model);
    options.ctx = 16;
    const cw::lm::PerplexityResult expected = cw::lm::perplexity(model, tokens, options);
    QVERIFY(view->result());
    const cw::lm::PerplexityResult &got = view->result()->result;
    QVERIFY2(std::fabs(got.perplexity - expected.perplexity) <= 1e-9 * expected.perplexity,
             qPrintable(QStringLiteral("%1 vs %2").arg(got.perplexity, 0, 'g', 17).arg(expected.perplexity, 0, 'g', 17)));
    QCOMPARE(got.chunks, expected.chunks);
    QCOMPARE(got.scored, expected.scored);
    QCOMPARE(view->result()->textTokens, int64_t(tokens.size()));
    QCOMPARE(view->valueText(QStringLiteral("Perplexity")), displayLocale().toString(expected.perplexity, 'f', 3));
    QVERIFY(view->valueText(QStringLiteral("Speed")).endsWith(QStringLiteral("tokens/s")));
    QCOMPARE(view->chart()->graph(0)->dataCount(), int(expected.chunks));
    // The overview and the status bar tell it too.
    QCOMPARE(window->languageModelView()->overview()->value(QStringLiteral("Perplexity")),
             displayLocale().toString(expected.perplexity, 'f', 3));
    QVERIFY(window->evaluationStatusText().startsWith(QStringLiteral("Perplexity ")));

    // A text shorter than two chunks is refused with the core's reason.
    const QString shortText = m_dir.filePath(QStringLiteral("short.txt"));
    QVERIFY(testutil::writeFile(shortText, "Too short."));
    view->setTextSpec(shortText);
    QVERIFY(view->evaluate());
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY(!finished.last().at(0).toBool());
    QVERIFY2(view->statusText().contains(QStringLiteral("needs at least 32")), qPrintable(view->statusText()));
    QVERIFY(!view->result());
    view->setTextSpec(m_text);

    // The settings are remembered.
    LmEvaluateView again;
    QCOMPARE(again.textSpec(), QFileInfo(m_text).absoluteFilePath());
    QCOMPARE(again.chunks(), 0);
}

void TestGuiLm::evaluateCancel()
{
    auto window = openWindow(m_slow);
    QVERIFY(window);
    LmEvaluateView *view = window->languageModelView()->evaluateView();
    view->setTextSpec(m_longText);
    view->setContext(512);
    view->setChunks(0);
    QSignalSpy finished(view, &LmEvaluateView::finished);
    QVERIFY(view->evaluate());
    QSignalSpy progress(view->job(), &Job::progress);
    QTRY_VERIFY_WITH_TIMEOUT(!progress.isEmpty() && progress.last().at(1).toString().startsWith(QStringLiteral("chunk")),
                             kJobTimeoutMs);
    QVERIFY(window->anyJobRunning());
    QTest::mouseClick(view->cancelButton(), Qt::LeftButton);
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY(!finished.last().at(0).toBool());
    QVERIFY(!view->result());
    QVERIFY2(view->statusText().startsWith(QStringLiteral("Cancelled")), qPrintable(view->statusText()));
    QCOMPARE(view->valueText(QStringLiteral("Perplexity")), QStringLiteral("—"));
    QVERIFY(view->evaluateButton()->isEnabled());
    QVERIFY(!view->cancelButton()->isEnabled());
    QVERIFY(!window->anyJobRunning());
}

void TestGuiLm::sensitivityMatchesCore()
{
    auto window = openWindow(m_small);
    QVERIFY(window);
    LmWorkspace *lm = window->languageModelView();
    LmSensitivityView *view = lm->sensitivityView();
    QCOMPARE(lm->indexOf(view), 2); // after Inspect
    // The defaults: 16 chunks, 4 and 2 bits per group, no pruning.
    QCOMPARE(view->chunks(), 16);
    QCOMPARE(view->bits(), (std::vector<int>{4, 2}));
    QVERIFY(view->granularity() == cw::Granularity::Group);
    QVERIFY(view->pruneEdit()->text().isEmpty());

    view->setTextSpec(m_text);
    view->setChunks(2);
    view->setBits({8, 2});
    view->setGranularity(cw::Granularity::Channel);
    view->setPruneText(QStringLiteral("0.5"));
    view->blocksBox()->setChecked(true); // each block whole too (measured here, not on a cluster)
    QVERIFY(!view->clusterButton()->isEnabled());
    QSignalSpy finished(view, &LmJobView::finished);
    QTest::mouseClick(view->runButton(), Qt::LeftButton);
    QVERIFY(view->isRunning());
    QVERIFY(!lm->evaluateView()->evaluateButton()->isEnabled()); // one runner
    QVERIFY(!lm->generateView()->generateButton()->isEnabled());
    QVERIFY(lm->evaluateView()->evaluateButton()->toolTip().contains(QStringLiteral("busy analysing sensitivity")));
    QVERIFY(window->anyJobRunning());
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY2(finished.last().at(0).toBool(), qPrintable(view->statusText()));
    QVERIFY(lm->evaluateView()->evaluateButton()->isEnabled());
    QVERIFY(lm->generateView()->generateButton()->isEnabled());

    // The same function on the same tokens and options.
    const auto model = cw::lm::LanguageModel::open(m_small.toStdString());
    model->load();
    const std::vector<int32_t> tokens = cw::lm::encodeText(*model, readAll(m_text).toStdString());
    cw::lm::SensitivityOptions options;
    options.bits = {8, 2};
    options.granularity = cw::Granularity::Channel;
    options.prune = {0.5};
    options.perplexity = cw::lm::defaultPerplexityOptions(*model);
    options.perplexity.chunks = 2;
    options.blocks = true;
    const cw::lm::SensitivityResult expected = cw::lm::analyzeSensitivity(*model, tokens, options);
    QVERIFY(view->result());
    const cw::lm::SensitivityResult &got = view->result()->result;
    auto close = [](double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::fabs(b)); };
    QVERIFY(close(got.basePerplexity, expected.basePerplexity));
    QCOMPARE(got.scored, expected.scored);
    QVERIFY(view->basePerplexityText() == displayLocale().toString(expected.basePerplexity, 'f', 3));
    QStandardItemModel *table = view->tableModel();
    QCOMPARE(table->rowCount(), int(expected.rows.size()));
    QCOMPARE(expected.rows.size(), size_t(2 * (4 + 1) * 3)); // 2 blocks × (4 matrices, the whole) × 3 settings
    constexpr int kSort = Qt::UserRole + 1;
    for (int i = 0; i < table->rowCount(); ++i) {
        const cw::lm::SensitivityRow &e = expected.rows[size_t(i)];
        QCOMPARE(table->item(i, LmSensitivityView::TensorColumn)->text(), QString::fromStdString(e.tensor));
        QCOMPARE(table->item(i, LmSensitivityView::BlockColumn)->text(), QString::number(e.block));
        QCOMPARE(table->item(i, LmSensitivityView::RoleColumn)->text(), QString::fromStdString(e.role));
        QCOMPARE(table->item(i, LmSensitivityView::SettingColumn)->text(), QString::fromStdString(e.setting));
        QCOMPARE(table->item(i, LmSensitivityView::PerplexityColumn)->text(), displayLocale().toString(e.perplexity, 'f', 4));
        const std::pair<int, double> numbers[] = {{LmSensitivityView::PerplexityColumn, e.perplexity},
                                                  {LmSensitivityView::DeltaColumn, e.delta},
                                                  {LmSensitivityView::RelativeColumn, e.relativeDelta},
                                                  {LmSensitivityView::SqnrColumn, e.sqnrDb}};
        for (const auto &[column, value] : numbers)
            QVERIFY2(close(table->item(i, column)->data(kSort).toDouble(), value),
                     qPrintable(QStringLiteral("row %1 column %2: %3 vs %4")
                                    .arg(i)
                                    .arg(column)
                                    .arg(table->item(i, column)->data(kSort).toDouble(), 0, 'g', 17)
                                    .arg(value, 0, 'g', 17)));
    }
    // The heatmap: a row per tensor, a column per setting, the relative change in % (0 at least).
    QCOMPARE(view->colorMap()->data()->keySize(), 3);
    QCOMPARE(view->colorMap()->data()->valueSize(), 10);
    QCOMPARE(view->colorMap()->data()->cell(2, 0), std::max(0.0, expected.rows[2].relativeDelta * 100));
    // Sorted by Δ %, the worst trial first.
    view->table()->sortByColumn(LmSensitivityView::RelativeColumn, Qt::DescendingOrder);
    double worst = -1e300;
    for (const cw::lm::SensitivityRow &e : expected.rows)
        worst = std::max(worst, e.relativeDelta);
    QVERIFY(close(view->table()->model()->index(0, LmSensitivityView::RelativeColumn).data(kSort).toDouble(), worst));

    // The settings are remembered.
    LmSensitivityView again;
    QCOMPARE(again.textSpec(), QFileInfo(m_text).absoluteFilePath());
    QCOMPARE(again.chunks(), 2);
    QCOMPARE(again.bits(), (std::vector<int>{8, 2}));
    QVERIFY(again.granularity() == cw::Granularity::Channel);
    QCOMPARE(again.pruneEdit()->text(), QStringLiteral("0.5"));
}

void TestGuiLm::sensitivityOnClusterAndMixToABudget()
{
    // A sweep over formats, written by Run on Cluster… as a plan and a Slurm job, computed in two shards by cwb (as
    // the array tasks would) and brought back by File → Import Results: the same trials as the sweep run in the
    // window. Its formats mixed to a bit budget are cw::lm::allocateFormats' choice, outlined on the heatmap, and
    // become the Compress tab's recipe.
    QTemporaryDir dir(QDir::tempPath() + QStringLiteral("/cw-lm-cluster-XXXXXX")); // #SBATCH lines: no spaces
    QVERIFY(dir.isValid());
    auto window = openWindow(m_small);
    QVERIFY(window);
    LmWorkspace *lm = window->languageModelView();
    LmSensitivityView *view = lm->sensitivityView();
    view->setTextSpec(m_text);
    view->setChunks(2);
    view->setBits({});
    view->setFormatsText(QStringLiteral("q8_0, Q4_0, q2_k"));
    QVERIFY(view->clusterButton()->isEnabled());
    QVERIFY(!view->targetSpin()->isEnabled()); // nothing to mix yet
    view->clusterButton()->click();
    const QString folder = dir.filePath(QStringLiteral("sweep"));
    QString written;
    const std::optional<cw::cluster::SweepPlan> job =
        guitestutil::writeClusterJob(window->clusterDialog(), folder, &written, 2);
    QVERIFY2(job, qPrintable(written));
    const cw::cluster::SweepPlan &plan = *job;
    QCOMPARE(plan.kind, std::string("lm-sensitivity"));
    QCOMPARE(plan.modelSpec, m_small.toStdString());
    QString error;
    testutil::runShards(QStringLiteral(CW_CWB_PATH), folder, 2, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY2(window->importResults({folder}), qPrintable(window->lastError()));
    QCOMPARE(lm->currentWidget(), view);
    QVERIFY(view->result());
    const cw::lm::SensitivityResult imported = view->result()->result;
    QCOMPARE(view->tableModel()->rowCount(), int(imported.rows.size()));
    QCOMPARE(imported.rows.size(), plan.items.size() * 3);

    // The same sweep run here.
    QSignalSpy finished(view, &LmJobView::finished);
    QVERIFY(view->run());
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY2(finished.last().at(0).toBool(), qPrintable(view->statusText()));
    const cw::lm::SensitivityResult &local = view->result()->result;
    QCOMPARE(local.rows.size(), imported.rows.size());
    for (size_t i = 0; i < local.rows.size(); ++i) {
        QCOMPARE(local.rows[i].tensor, imported.rows[i].tensor);
        QCOMPARE(local.rows[i].setting, imported.rows[i].setting);
        QVERIFY(std::fabs(local.rows[i].perplexity - imported.rows[i].perplexity) <= 1e-9 * local.rows[i].perplexity);
    }

    // The mix: a budget between the smallest and the largest formats, the first block kept.
    QVERIFY(view->targetSpin()->isEnabled());
    view->setLockText(QStringLiteral("blk.0.*"));
    view->setTargetBitsPerWeight(7.0);
    QVERIFY2(view->allocation(), qPrintable(view->allocationLabel()->text()));
    const auto model = cw::lm::LanguageModel::open(m_small.toStdString());
    std::set<std::string> locked;
    for (const std::string &t : plan.items)
        if (t.rfind("blk.0.", 0) == 0)
            locked.insert(t);
    QVERIFY(!locked.empty());
    const cw::lm::FormatAllocation expected = cw::lm::allocateFormats(local, *model, 7.0, locked);
    QCOMPARE(view->allocation()->choices.size(), expected.choices.size());
    for (size_t i = 0; i < expected.choices.size(); ++i) {
        QCOMPARE(view->allocation()->choices[i].format, expected.choices[i].format);
        if (locked.count(expected.choices[i].tensor))
            QCOMPARE(expected.choices[i].format, std::string("Q8_0"));
    }
    QCOMPARE(view->allocation()->bitsPerWeight, expected.bitsPerWeight);
    QVERIFY(expected.bitsPerWeight <= 7.0 && expected.bitsPerWeight < 8.5); // below Q8_0 everywhere
    QCOMPARE(view->choiceMarks().size(), expected.choices.size());
    QVERIFY2(view->allocationLabel()->text().contains(displayLocale().toString(expected.bitsPerWeight, 'f', 3)),
             qPrintable(view->allocationLabel()->text()));
    // The budget as the GGUF file's size (about that of the mix above: the checkpoint's file with the swept matrices
    // in their chosen formats), as the spin box holds it: the core's allocation for that size.
    int64_t mixBytes = QFileInfo(m_small).size() + 32 * int64_t(expected.choices.size());
    for (const cw::lm::FormatChoice &c : expected.choices)
        for (const auto &e : model->tensors())
            if (e.name == c.tensor)
                mixBytes += int64_t(c.bytes) - int64_t(e.bytes);
    view->setTargetFileMiB(double(mixBytes + 2048) / 1048576.0); // above it by more than the box's rounding
    QCOMPARE(view->targetUnitCombo()->currentData().toInt(), 1);
    QVERIFY2(view->allocation(), qPrintable(view->allocationLabel()->text()));
    const cw::lm::FormatAllocation sized = cw::lm::allocateFormats(
        local, *model,
        cw::lm::bitsPerWeightForFileSize(local, *model, uint64_t(view->targetSpin()->value() * 1048576.0)), locked);
    QCOMPARE(view->allocation()->bitsPerWeight, sized.bitsPerWeight);
    QVERIFY(sized.bitsPerWeight > 2.0);
    QCOMPARE(QSettings().value(QStringLiteral("lmSensitivity/targetUnit")).toInt(), 1);
    view->setTargetFileMiB(0.01); // less than the rest of the file
    QVERIFY(!view->allocation());
    QVERIFY2(view->allocationLabel()->text().contains(QStringLiteral("the rest of")),
             qPrintable(view->allocationLabel()->text()));
    // Out of reach: said, and nothing to use.
    view->setTargetBitsPerWeight(1.0);
    QVERIFY(!view->allocation());
    QVERIFY(view->choiceMarks().empty());
    QVERIFY2(view->allocationLabel()->text().contains(QStringLiteral("below")), qPrintable(view->allocationLabel()->text()));
    QVERIFY(!view->useButton()->isEnabled());
    QVERIFY(!view->useAllocation());
    view->setTargetBitsPerWeight(7.0);
    QVERIFY(view->useButton()->isEnabled());
    view->useButton()->click();
    QCOMPARE(lm->currentWidget(), lm->compressView());
    const cw::Recipe recipe = lm->compressView()->recipe();
    QCOMPARE(QString::fromStdString(cw::recipeToJson(recipe)),
             QString::fromStdString(cw::recipeToJson(cw::lm::recipeFromAllocation(expected))));
    QCOMPARE(QSettings().value(QStringLiteral("lmSensitivity/formats")).toString(), QStringLiteral("q8_0, Q4_0, q2_k"));

    // The parts of a CNN's sweep are refused by what they are.
    const QString cnn = dir.filePath(QStringLiteral("cnn.json"));
    testutil::runProcess(QStringLiteral(CW_CWB_PATH),
                         {QStringLiteral("sensitivity"), QStringLiteral("demo"), QStringLiteral("--data"),
                          QStringLiteral("fashion-mnist"), QStringLiteral("--limit"), QStringLiteral("20"),
                          QStringLiteral("--layer"), QStringLiteral("fc2"), QStringLiteral("--plan"), cnn},
                         &error, 60000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    testutil::runProcess(QStringLiteral(CW_CWB_PATH),
                         {QStringLiteral("sweep"), cnn, QStringLiteral("--shard"), QStringLiteral("0/1"),
                          QStringLiteral("-o"), dir.filePath(QStringLiteral("cnn-part.h5"))},
                         &error, 60000);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY(!window->importResults({dir.filePath(QStringLiteral("cnn-part.h5"))}));
    QVERIFY2(window->lastError().contains(QStringLiteral("not a language model's sweep")), qPrintable(window->lastError()));
}

void TestGuiLm::sensitivityTakesTurnsAndCancelRestoresWeights()
{
    auto window = openWindow(m_slow);
    QVERIFY(window);
    LmWorkspace *lm = window->languageModelView();
    LmEvaluateView *evaluate = lm->evaluateView();
    LmSensitivityView *view = lm->sensitivityView();
    evaluate->setTextSpec(m_longText);
    evaluate->setContext(512);
    QSignalSpy evaluated(evaluate, &LmJobView::finished);

    // While Evaluate runs, Sensitivity is off and says why.
    evaluate->setChunks(0);
    QVERIFY(evaluate->evaluate());
    QVERIFY(!view->runButton()->isEnabled());
    QVERIFY2(view->runButton()->toolTip().contains(QStringLiteral("busy evaluating")), qPrintable(view->runButton()->toolTip()));
    QVERIFY(!view->run());
    QVERIFY2(view->statusText().contains(QStringLiteral("busy evaluating")), qPrintable(view->statusText()));
    evaluate->cancel();
    QVERIFY(evaluated.wait(kJobTimeoutMs));
    QVERIFY(view->runButton()->isEnabled());

    // The perplexity before.
    evaluate->setChunks(2);
    QVERIFY(evaluate->evaluate());
    QVERIFY(evaluated.wait(kJobTimeoutMs));
    QVERIFY2(evaluated.last().at(0).toBool(), qPrintable(evaluate->statusText()));
    const double before = evaluate->result()->result.perplexity;

    // Cancelled in the middle of a trial: the weights it changed are put back.
    view->setTextSpec(m_longText);
    view->setChunks(8);
    view->setBits({2});
    view->setPruneText(QString());
    QSignalSpy finished(view, &LmJobView::finished);
    QVERIFY(view->run());
    QVERIFY(!evaluate->evaluateButton()->isEnabled());
    QSignalSpy progress(view->job(), &Job::progress);
    QTRY_VERIFY_WITH_TIMEOUT(!progress.isEmpty() && progress.last().at(1).toString().startsWith(QStringLiteral("blk.")),
                             kJobTimeoutMs);
    QTest::mouseClick(view->cancelButton(), Qt::LeftButton);
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY(!finished.last().at(0).toBool());
    QVERIFY(!view->result());
    QVERIFY2(view->statusText().startsWith(QStringLiteral("Cancelled")), qPrintable(view->statusText()));
    QCOMPARE(view->tableModel()->rowCount(), 0);
    QVERIFY(view->runButton()->isEnabled());
    QVERIFY(!view->cancelButton()->isEnabled());
    QVERIFY(!window->anyJobRunning());

    QVERIFY(evaluate->evaluate());
    QVERIFY(evaluated.wait(kJobTimeoutMs));
    QVERIFY2(evaluated.last().at(0).toBool(), qPrintable(evaluate->statusText()));
    QCOMPARE(evaluate->result()->result.perplexity, before);
}

void TestGuiLm::generateMatchesCore_data()
{
    QTest::addColumn<double>("temperature");
    QTest::addColumn<int>("seed");
    QTest::newRow("greedy") << 0.0 << 1;
    QTest::newRow("temperature 0.8, seed 7") << 0.8 << 7;
}

void TestGuiLm::generateMatchesCore()
{
    QFETCH(double, temperature);
    QFETCH(int, seed);
    auto window = openWindow(m_small);
    QVERIFY(window);
    LmGenerateView *view = window->languageModelView()->generateView();
    const QString prompt = QStringLiteral("The jury said");
    view->setPrompt(prompt);
    view->setMaxTokens(20);
    view->setTemperature(temperature);
    view->setSeed(seed);
    QSignalSpy finished(view, &LmGenerateView::finished);
    QVERIFY(view->generate());
    QSignalSpy tokens(view->job(), &GenerateJob::tokenGenerated);
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY2(finished.last().at(0).toBool(), qPrintable(view->statusText()));

    const auto model = cw::lm::LanguageModel::open(m_small.toStdString());
    model->load();
    cw::lm::GenerateOptions options = cw::lm::defaultGenerateOptions(*model);
    options.maxTokens = 20;
    options.temperature = temperature;
    options.seed = uint64_t(seed);
    const std::vector<int32_t> expected =
        cw::lm::generate(model, cw::lm::encodeText(*model, prompt.toStdString()), options);
    QCOMPARE(view->generatedTokens(), expected);
    QCOMPARE(tokens.size(), int(expected.size())); // streamed one by one
    std::string pieces;
    for (int32_t id : expected)
        if (id != options.stopToken)
            pieces += model->tokenizer()->piece(id);
    // Shown as the pieces' bytes decode (random weights make invalid UTF-8 too).
    QCOMPARE(view->generatedText(), QString::fromUtf8(pieces));
    QVERIFY(view->output()->toPlainText().startsWith(prompt));
    QVERIFY2(view->statusText().contains(QStringLiteral("%1 new").arg(expected.size())), qPrintable(view->statusText()));
}

void TestGuiLm::generateStop()
{
    auto window = openWindow(m_slow);
    QVERIFY(window);
    LmGenerateView *view = window->languageModelView()->generateView();
    window->languageModelView()->setCurrentWidget(view);
    window->activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(window.get()));
    view->setPrompt(QStringLiteral("The jury"));
    view->setMaxTokens(2000);
    view->setTemperature(0);
    QSignalSpy finished(view, &LmGenerateView::finished);
    view->promptEdit()->setFocus();
    QTest::keyClick(view->promptEdit(), Qt::Key_Return, Qt::ControlModifier); // Generate
    QVERIFY(view->isRunning());
    QCOMPARE(view->promptEdit()->toPlainText(), QStringLiteral("The jury")); // no newline typed
    QVERIFY(!window->languageModelView()->evaluateView()->evaluateButton()->isEnabled()); // one runner
    QSignalSpy tokens(view->job(), &GenerateJob::tokenGenerated);
    QVERIFY(tokens.wait(kJobTimeoutMs));
    QTest::keyClick(view->promptEdit(), Qt::Key_Escape); // Stop
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY2(!finished.last().at(0).toBool(), qPrintable(view->statusText()));
    const size_t kept = view->generatedTokens().size();
    QVERIFY(kept >= 1 && kept < 2000);
    QVERIFY2(view->statusText().endsWith(QStringLiteral("stopped")), qPrintable(view->statusText()));
    QVERIFY(view->output()->toPlainText().startsWith(QStringLiteral("The jury")));
    QVERIFY(view->generateButton()->isEnabled());
    QVERIFY(window->languageModelView()->evaluateView()->evaluateButton()->isEnabled());
    // What came stays, and it is what greedy decoding makes.
    const auto model = cw::lm::LanguageModel::open(m_slow.toStdString());
    model->load();
    cw::lm::GenerateOptions options = cw::lm::defaultGenerateOptions(*model);
    options.maxTokens = int64_t(kept);
    const std::vector<int32_t> expected = cw::lm::generate(model, cw::lm::encodeText(*model, "The jury"), options);
    QCOMPARE(view->generatedTokens(), expected);
}

void TestGuiLm::sevenBillionOpensWithoutReading()
{
    // llama-2-7B's tensors in F16 as a sparse file: the header is all there is on disk.
    std::vector<lmtestutil::HandValue> kv = {lmtestutil::handString("general.architecture", "llama"),
                                             lmtestutil::handString("general.name", "llama-7b-shaped")};
    for (const auto &[key, value] : std::vector<std::pair<std::string, uint32_t>>{
             {"context_length", 4096}, {"embedding_length", 4096}, {"block_count", 32}, {"feed_forward_length", 11008},
             {"attention.head_count", 32}, {"attention.head_count_kv", 32}})
        kv.push_back(lmtestutil::handUInt32("llama." + key, value));
    uint64_t data = 0;
    const std::string header = lmtestutil::handHeader(kv, lmtestutil::llama7bTensors(), &data);
    const QString path = m_dir.filePath(QStringLiteral("llama-7b-shaped.gguf"));
    QVERIFY(lmtestutil::writeSparse(path, header, data));

    QElapsedTimer timer;
    timer.start();
    auto window = openWindow(path);
    QVERIFY(window);
    QVERIFY2(timer.elapsed() < 10000, qPrintable(QStringLiteral("opening took %1 ms").arg(timer.elapsed())));
    LmWorkspace *lm = window->languageModelView();
    QCOMPARE(lm->overview()->value(QStringLiteral("Parameters")), formatCount(6738415616));
    QCOMPARE(lm->overview()->value(QStringLiteral("Blocks")), QStringLiteral("32"));
    QCOMPARE(lm->overview()->value(QStringLiteral("Tensor types")), QStringLiteral("F16 × 226, F32 × 65"));
    QCOMPARE(lm->tensorModel()->rowCount(), 34); // embeddings, 32 blocks, output
    // No tokenizer in it: nothing to read text with, and the buttons say so.
    QVERIFY(!lm->evaluateView()->evaluateButton()->isEnabled());
    QVERIFY(lm->evaluateView()->evaluateButton()->toolTip().contains(QStringLiteral("no tokenizer")));
    QVERIFY(!lm->generateView()->generateButton()->isEnabled());
    QVERIFY(!lm->evaluateView()->evaluate());
    QVERIFY(lm->evaluateView()->statusText().contains(QStringLiteral("no tokenizer")));

    // One 4096 × 4096 matrix read (zeros: the file's hole) and measured off the GUI thread.
    LmInspectView *inspect = lm->inspectView();
    QSignalSpy finished(inspect, &LmInspectView::statsFinished);
    QVERIFY(lm->showInspect(QStringLiteral("blk.31.attn_q.weight")));
    QVERIFY(inspect->isComputing());
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY(finished.last().at(1).toBool());
    QCOMPARE(inspect->numberText(QStringLiteral("Zeros")), formatPercent(1.0));
    QCOMPARE(inspect->rowRangePlot()->channelCount(), 4096);
    QCOMPARE(inspect->numberText(QStringLiteral("Outliers")), QStringLiteral("0 of 4,096"));
}

void TestGuiLm::corruptFilesAreErrors_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QByteArray>("bytes");
    const auto read = [](const QString &path) {
        QFile f(path);
        return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    };
    QTest::newRow("garbage after the magic") << "garbage.gguf" << QByteArrayLiteral("GGUF\x03\x00\x00\x00 not a real header at all");
    const QByteArray small = read(m_small);
    QTest::newRow("truncated") << "truncated.gguf" << small.left(small.size() / 2);
    QTest::newRow("no architecture") << "metadata_only.gguf"
                                     << read(testutil::sourcePath("tests/fuzz/corpus/gguf/metadata_only.gguf"));
}

void TestGuiLm::corruptFilesAreErrors()
{
    QFETCH(QString, file);
    QFETCH(QByteArray, bytes);
    const QString path = m_dir.filePath(file);
    QVERIFY(!bytes.isEmpty());
    QVERIFY(testutil::writeFile(path, bytes));

    auto window = openWindow(m_small);
    QVERIFY(window);
    QSignalSpy failed(window.get(), &MainWindow::modelLoadFailed), errors(window.get(), &MainWindow::errorOccurred);
    QVERIFY(window->openModel(path));
    QVERIFY(failed.wait(kJobTimeoutMs));
    const QString error = failed.first().first().toString();
    QVERIFY2(error.contains(file), qPrintable(error)); // the message names the file
    QCOMPARE(errors.size(), 1);
    QCOMPARE(window->lastError(), error);
    // The model that was open stays.
    QCOMPARE(window->modelSpec(), m_small);
    QVERIFY(window->languageModel());
    QCOMPARE(window->languageModelView()->overview()->value(QStringLiteral("Name")), QStringLiteral("random gpt2"));
    QVERIFY(!window->recentFiles().contains(QFileInfo(path).absoluteFilePath()));
}

void TestGuiLm::cnnModelReplacesLanguageModel()
{
    auto window = openWindow(m_small);
    QVERIFY(window);
    auto *pages = window->findChild<QStackedWidget *>(QStringLiteral("pages"));
    QSignalSpy loaded(window.get(), &MainWindow::modelLoaded);
    QVERIFY(window->openModel(QStringLiteral("demo")));
    QVERIFY(loaded.wait(kJobTimeoutMs));
    QVERIFY(window->model());
    QVERIFY(!window->languageModel());
    QCOMPARE(window->modelSpec(), QStringLiteral("demo"));
    QCOMPARE(pages->currentWidget()->objectName(), QStringLiteral("mainSplitter"));
    QVERIFY(window->layerModel()->rowCount() > 0);
    QVERIFY(!window->windowTitle().contains(QStringLiteral("language model")));

    // And back: the CNN project goes, the language model comes.
    QVERIFY(window->openModel(m_small));
    QVERIFY(loaded.wait(kJobTimeoutMs));
    QVERIFY(!window->model());
    QVERIFY(!window->document()->hasProject());
    QCOMPARE(pages->currentWidget(), window->languageModelView());
}

void TestGuiLm::openingOffersLanguageModels()
{
    QVERIFY(MainWindow::openFilter().contains(QStringLiteral("*.gguf")));
    QVERIFY(MainWindow::openFilter().contains(QStringLiteral("*.safetensors")));
    QVERIFY(MainWindow::isModelFile(m_small)); // dropped files
    QVERIFY(MainWindow::isModelFile(m_dir.filePath(QStringLiteral("model.safetensors"))));
    const QString folder = m_dir.filePath(QStringLiteral("hf"));
    QVERIFY(QDir().mkpath(folder));
    QVERIFY(!MainWindow::isModelFile(folder));
    QVERIFY(testutil::writeFile(QDir(folder).filePath(QStringLiteral("config.json")), "{}"));
    QVERIFY(MainWindow::isModelFile(folder)); // a Hugging Face folder
    QVERIFY(!MainWindow::isModelFile(m_text));

    // File → Open Demo (Language Model), offered when the demo is built in.
    MainWindow window;
    QAction *demo = window.findChild<QAction *>(QStringLiteral("openDemoLmAction"));
    QVERIFY(demo);
    const bool builtIn = !cw::demoModelBytes("demo-lm").empty();
    QCOMPARE(demo->isEnabled(), builtIn);
    if (!builtIn)
        QSKIP("this build has no demo language model (resources/demo_lm.gguf)");
    window.setErrorDialogsEnabled(false);
    QSignalSpy loaded(&window, &MainWindow::modelLoaded);
    demo->trigger();
    QVERIFY(loaded.wait(kJobTimeoutMs));
    QVERIFY(window.languageModel());
    QVERIFY(window.windowTitle().startsWith(QStringLiteral("Built-in demo (language model)")));
    QVERIFY(window.recentFiles().isEmpty()); // not a file
    bool provenance = false;
    for (const auto &[key, value] : window.languageModel()->metadata())
        provenance = provenance || key.rfind("workbench.", 0) == 0;
    QVERIFY(provenance);
}

void TestGuiLm::exportWritesGguf_data()
{
    QTest::addColumn<bool>("f16");
    QTest::newRow("float32") << false;
    QTest::newRow("float16 matrices") << true;
}

void TestGuiLm::exportWritesGguf()
{
    QFETCH(bool, f16);
    auto window = openWindow(m_small);
    QVERIFY(window);
    auto *exportAct = window->findChild<QAction *>(QStringLiteral("exportAction"));
    QVERIFY(exportAct);
    QVERIFY(exportAct->isEnabled());
    QCOMPARE(exportAct->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_E));
    const QStringList filters = MainWindow::exportFilter(true).split(QStringLiteral(";;"));
    QCOMPARE(filters, QStringList({QStringLiteral("GGUF, float32 (*.gguf)"),
                                   QStringLiteral("GGUF, float16 matrices (*.gguf)")}));

    // File → Export, the dialog answered with a name without extension: the filter's is added.
    const QString folder = m_dir.filePath(f16 ? QStringLiteral("export16") : QStringLiteral("export32"));
    QVERIFY(QDir().mkpath(folder));
    const QString out = QDir(folder).filePath(QStringLiteral("exported.gguf"));
    QSignalSpy finished(window.get(), &MainWindow::exportFinished);
    std::unique_ptr<QTimer> answer(
        answerFileDialog(QDir(folder).filePath(QStringLiteral("exported")), filters.at(f16 ? 1 : 0)));
    exportAct->trigger();
    QVERIFY(window->isBusy()); // a job, with the progress bar and Cancel
    QVERIFY(window->progressBar()->isVisible());
    QVERIFY(window->cancelButton()->isVisible());
    QVERIFY(!exportAct->isEnabled());
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY2(finished.first().first().toBool(), qPrintable(window->lastError()));
    QVERIFY2(window->statusBar()->currentMessage().startsWith(QStringLiteral("Exported ") + out),
             qPrintable(window->statusBar()->currentMessage()));
    QCOMPARE(QSettings().value(QStringLiteral("lastDirs/export")).toString(), QFileInfo(folder).absoluteFilePath());
    QVERIFY(exportAct->isEnabled());

    // Matrices in the chosen precision, vectors float32.
    const cw::gguf::File file = cw::gguf::File::open(out.toStdString());
    int matrices = 0;
    for (const cw::gguf::TensorInfo &t : file.tensors()) {
        const uint32_t expected = f16 && t.ne.size() >= 2 ? uint32_t(cw::ggml::F16) : uint32_t(cw::ggml::F32);
        QVERIFY2(t.type == expected, t.name.c_str());
        matrices += t.ne.size() >= 2;
    }
    QVERIFY(matrices > 0);

    // It opens and gives the original's logits (float16 matrices: within their rounding).
    const cw::Tensor expected = logitsOf(m_small), got = logitsOf(out);
    QVERIFY(got.shape() == expected.shape());
    double worst = 0, scale = 0;
    for (int64_t i = 0; i < expected.numel(); ++i) {
        worst = std::max(worst, double(std::fabs(got.f32()[i] - expected.f32()[i])));
        scale = std::max(scale, double(std::fabs(expected.f32()[i])));
    }
    const double budget = f16 ? 1e-2 * scale : 1e-6 * scale;
    QVERIFY2(worst <= budget, qPrintable(QStringLiteral("max |diff| %1 > %2").arg(worst).arg(budget)));
}

void TestGuiLm::exportToUnwritablePathIsAnError()
{
    auto window = openWindow(m_small);
    QVERIFY(window);
    QSignalSpy finished(window.get(), &MainWindow::exportFinished), errors(window.get(), &MainWindow::errorOccurred);
    const QString out = m_dir.filePath(QStringLiteral("no such folder/unwritable.gguf"));
    QVERIFY(window->exportModel(out, MainWindow::ggufF16Filter()));
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY(!finished.first().first().toBool());
    QCOMPARE(errors.size(), 1);
    QVERIFY2(window->lastError().contains(QStringLiteral("unwritable.gguf")), qPrintable(window->lastError()));
    QVERIFY(!QFileInfo::exists(out));
    // The model stays open, and the next export goes.
    QVERIFY(window->languageModel());
    QVERIFY(!window->isBusy());
    QVERIFY(window->findChild<QAction *>(QStringLiteral("exportAction"))->isEnabled());
}

// ---------------------------------------------------------------------------------------------------
// Compress

void TestGuiLm::compressFormRoundTrips()
{
    auto window = openWindow(QStringLiteral("demo-lm"));
    QVERIFY(window);
    LmCompressView *view = window->languageModelView()->compressView();
    QCOMPARE(window->languageModelView()->indexOf(view), 5); // Ctrl+6
    LmRecipeTableModel *table = view->tensorModel();
    // The blocks' matrices; demo-lm ties its output head to the embedding, which is listed once.
    QCOMPARE(table->rowCount(), 4 * 4 + 1);
    QVERIFY(table->rowOfTensor(QStringLiteral("token_embd.weight")) >= 0);
    QCOMPARE(table->rowOfTensor(QStringLiteral("position_embd.weight")), -1);
    QCOMPARE(table->rowOfTensor(QStringLiteral("blk.0.attn_norm.weight")), -1);

    // Wanda 2:4, GPTQ 3 bit in groups of 64, asymmetric, stored as F16; one matrix as Q6_K, one locked, the embedding Q8_0.
    view->nameEdit()->setText(QStringLiteral("round trip"));
    view->pruneCombo()->setCurrentIndex(view->pruneCombo()->findData(int(LmCompressView::Prune::Wanda)));
    view->nmBox()->setChecked(true);
    view->nSpin()->setValue(2);
    view->mSpin()->setValue(4);
    view->quantCombo()->setCurrentIndex(view->quantCombo()->findData(int(LmCompressView::Quant::Gptq)));
    view->formatCombo()->setCurrentIndex(0);
    view->bitsSpin()->setValue(3);
    view->granularityCombo()->setCurrentIndex(view->granularityCombo()->findData(QStringLiteral("group:64")));
    view->symmetricBox()->setChecked(false);
    const int down = table->rowOfTensor(QStringLiteral("blk.0.ffn_down.weight"));
    const int qkv = table->rowOfTensor(QStringLiteral("blk.1.attn_qkv.weight"));
    const int embd = table->rowOfTensor(QStringLiteral("token_embd.weight"));
    table->setFormatOverride(down, QStringLiteral("q6_k"));
    table->setLocked(qkv, true);
    table->setFormatOverride(embd, QStringLiteral("q8_0"));
    QCOMPARE(table->overrideCount(), 3);

    const cw::Recipe built = view->recipe();
    QCOMPARE(built.name, std::string("round trip"));
    QVERIFY(built.prune && built.prune->method == cw::PruneMethod::Wanda && built.prune->nm);
    QVERIFY(built.weights && built.weights->method == cw::QuantMethod::Gptq && built.weights->bits == 3);
    QVERIFY(built.weights->granularity == cw::Granularity::Group && built.weights->groupSize == 64);
    QVERIFY(!built.weights->symmetric && built.weights->format.empty());
    QCOMPARE(built.layers.size(), size_t(3));
    QCOMPARE(built.layers.at("blk.0.ffn_down.weight").weights->format, std::string("q6_k"));
    QVERIFY(built.layers.at("blk.1.attn_qkv.weight").skip);
    QVERIFY(!built.layers.at("token_embd.weight").prune); // the embedding: its format alone
    QVERIFY(built.layers.at("token_embd.weight").weights->method == cw::QuantMethod::Rtn);
    QCOMPARE(table->index(qkv, LmRecipeTableModel::Setting).data().toString(), QStringLiteral("kept as stored (locked)"));
    QCOMPARE(table->predictedType(qkv), QStringLiteral("F32"));
    QCOMPARE(table->index(down, LmRecipeTableModel::Setting).data().toString(),
             QString::fromStdString(cw::layerSettingsLabel(built.layers.at("blk.0.ffn_down.weight"))));
    // The core takes it (with calibration text).
    cw::lm::validateLmRecipe(built, *window->languageModel(), true);

    // Saved, the JSON reads back as the same recipe.
    const QString path = m_dir.filePath(QStringLiteral("roundtrip.json"));
    QVERIFY2(view->saveRecipeFile(path), qPrintable(view->statusText()));
    const cw::Recipe read = cw::recipeFromJson(readAll(path).toStdString());
    QCOMPARE(QString::fromStdString(cw::recipeToJson(read)), QString::fromStdString(cw::recipeToJson(built)));

    // Loaded into a fresh form: the same recipe, the overrides in the table again; a change of the defaults carries
    // the format override along.
    view->setRecipe(cw::Recipe{});
    QCOMPARE(table->overrideCount(), 0);
    QVERIFY(view->loadRecipeFile(path));
    QCOMPARE(QString::fromStdString(cw::recipeToJson(view->recipe())), QString::fromStdString(cw::recipeToJson(built)));
    QCOMPARE(view->pruneCombo()->currentData().toInt(), int(LmCompressView::Prune::Wanda));
    QVERIFY(view->nmBox()->isChecked());
    QCOMPARE(view->bitsSpin()->value(), 3);
    QVERIFY(table->isLocked(qkv));
    QCOMPARE(table->formatOverride(down), QStringLiteral("q6_k"));
    QCOMPARE(table->formatOverride(embd), QStringLiteral("q8_0"));
    view->bitsSpin()->setValue(5);
    QCOMPARE(view->recipe().layers.at("blk.0.ffn_down.weight").weights->bits, 5);

    // The form is remembered (without the overrides, which name this model's tensors).
    LmCompressView again;
    QCOMPARE(again.recipe().weights->bits, 5);
    QVERIFY(again.recipe().layers.empty());
}

void TestGuiLm::compressTablePredictsCore()
{
    QString spec = QStringLiteral("demo-lm");
    auto window = openWindow(spec);
    QVERIFY(window);
    LmCompressView *view = window->languageModelView()->compressView();
    LmRecipeTableModel *table = view->tensorModel();
    // What the table predicts for a recipe against what the core makes of it.
    auto check = [&](const cw::Recipe &recipe) {
        view->setRecipe(recipe);
        const auto model = cw::lm::LanguageModel::open(spec.toStdString());
        model->load();
        const cw::lm::LmCompressResult expected = cw::lm::compressLanguageModel(*model, recipe, {});
        int64_t params = 0;
        uint64_t bytes = 0;
        for (const cw::lm::LmTensorResult &t : expected.tensors) {
            const int row = table->rowOfTensor(QString::fromStdString(t.name));
            if (row < 0) {
                QVERIFY2(!t.changed || t.name.find("ffn_up.bias") != std::string::npos, t.name.c_str());
                continue;
            }
            QCOMPARE(table->predictedType(row), QString::fromStdString(t.type));
            QCOMPARE(table->predictedBytes(row), t.bytes);
            params += table->rowParams(row); // the checkpoint's, as bits per weight counts
            bytes += t.bytes;
        }
        QVERIFY(std::fabs(table->predictedBitsPerWeight() - double(bytes) * 8.0 / double(params)) < 1e-12);
        QCOMPARE(table->predictedModelBytes(), expected.bytes);
        QVERIFY(view->predictionText().contains(displayLocale().toString(table->predictedBitsPerWeight(), 'f', 3)));
    };
    // Half of every MLP's channels removed (the attention's matrices keep their shapes), the rest Q4_0.
    check(cw::recipeFromJson(R"({"prune": {"method": "channel", "ratio": 0.5}, "quantize": {"weights": {"format": "q4_0"}}})"));
    QCOMPARE(view->pruneCombo()->currentData().toInt(), int(LmCompressView::Prune::Channel));
    QCOMPARE(table->predictedBytes(table->rowOfTensor(QStringLiteral("blk.0.ffn_up.weight"))), uint64_t(256 * 72));
    QCOMPARE(table->predictedBytes(table->rowOfTensor(QStringLiteral("blk.0.attn_qkv.weight"))), uint64_t(384 * 72));

    check(cw::recipeFromJson(R"({"quantize": {"weights": {"format": "q4_k"}},
        "layers": {"token_embd.weight": {"quantize": {"weights": {"format": "q6_k"}}}}})"));
    int fallbacks = 0;
    for (int row = 0; row < table->rowCount(); ++row)
        fallbacks += table->predictedType(row) != QStringLiteral("Q4_K") && table->tensorName(row).startsWith("blk.");
    QVERIFY(fallbacks > 0); // rows of 128 are not whole Q4_K blocks: Q5_0, as llama-quantize stores them
    QCOMPARE(table->predictedType(table->rowOfTensor(QStringLiteral("blk.0.ffn_down.weight"))), QStringLiteral("Q4_K"));
    QCOMPARE(table->predictedType(table->rowOfTensor(QStringLiteral("blk.0.ffn_up.weight"))), QStringLiteral("Q5_0"));

    // An edit changes the prediction at once.
    const double before = table->predictedBitsPerWeight();
    table->setLocked(table->rowOfTensor(QStringLiteral("blk.0.ffn_down.weight")), true);
    QVERIFY(table->predictedBitsPerWeight() > before);
    QCOMPARE(table->predictedType(table->rowOfTensor(QStringLiteral("blk.0.ffn_down.weight"))), QStringLiteral("F32"));

    // A llama of 4 heads reading 2 key / value heads of 16 values (the demo's vocabulary), half its heads removed,
    // the rest Q4_0: attn_q and attn_output at 2 heads, attn_k and attn_v at 1; the MLPs keep their shapes.
    spec = m_dir.filePath(QStringLiteral("heads-llama.gguf"));
    lmtestutil::writeRandomLm(lmtestutil::Spec{}, CW_SOURCE_DIR "/resources/demo_lm.gguf", spec.toStdString());
    window = openWindow(spec);
    QVERIFY(window);
    view = window->languageModelView()->compressView();
    table = view->tensorModel();
    check(cw::recipeFromJson(R"({"prune": {"method": "heads", "ratio": 0.5}, "quantize": {"weights": {"format": "q4_0"}}})"));
    QCOMPARE(view->pruneCombo()->currentData().toInt(), int(LmCompressView::Prune::Heads));
    const uint64_t row64 = 36, row32 = 18; // Q4_0 rows of 64 and 32 values
    QCOMPARE(table->predictedBytes(table->rowOfTensor(QStringLiteral("blk.0.attn_q.weight"))), 32 * row64);
    QCOMPARE(table->predictedBytes(table->rowOfTensor(QStringLiteral("blk.0.attn_k.weight"))), 16 * row64);
    QCOMPARE(table->predictedBytes(table->rowOfTensor(QStringLiteral("blk.0.attn_output.weight"))), 64 * row32);
    QCOMPARE(table->predictedBytes(table->rowOfTensor(QStringLiteral("blk.0.ffn_up.weight"))), 96 * row64);
}

void TestGuiLm::compressRunMatchesCore()
{
    auto window = openWindow(QStringLiteral("demo-lm"));
    QVERIFY(window);
    LmWorkspace *lm = window->languageModelView();
    LmCompressView *view = lm->compressView();
    const cw::Recipe recipe = cw::recipeFromJson(R"({"name": "q8", "quantize": {"weights": {"format": "q8_0"}}})");
    view->setRecipe(recipe);
    view->setCalibrationSpec(QString());
    view->setEvaluationSpec(m_longText);
    view->setChunks(2);
    QSignalSpy finished(view, &LmJobView::finished);
    QVERIFY2(view->run(), qPrintable(view->statusText()));
    QVERIFY(view->isRunning());
    QVERIFY(view->job()->params().measureBase);
    QVERIFY(!lm->evaluateView()->evaluateButton()->isEnabled()); // taking turns
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY2(finished.last().at(0).toBool(), qPrintable(view->statusText()));
    QCOMPARE(view->variants().size(), size_t(1));
    QVERIFY(!window->languageModel()->loaded()); // the workspace's model was not touched

    // The core on the same recipe and text.
    const auto model = cw::lm::LanguageModel::open("demo-lm");
    model->load();
    const std::vector<int32_t> tokens = cw::lm::encodeText(*model, readAll(m_longText).toStdString());
    cw::lm::PerplexityOptions options = cw::lm::defaultPerplexityOptions(*model);
    options.chunks = 2;
    const double base = cw::lm::perplexity(model, tokens, options).perplexity;
    const cw::lm::LmCompressResult expected = cw::lm::compressLanguageModel(*model, recipe, {});
    const double after = cw::lm::perplexity(model, tokens, options).perplexity;
    const LmCompressView::Variant &v = view->variants().front();
    QCOMPARE(v.name, QStringLiteral("q8"));
    QCOMPARE(v.result->bytes, expected.bytes);
    QCOMPARE(v.result->bitsPerWeight(), expected.bitsPerWeight());
    QVERIFY2(std::fabs(v.perplexity.perplexity - after) <= 1e-9 * after,
             qPrintable(QStringLiteral("%1 vs %2").arg(v.perplexity.perplexity, 0, 'g', 17).arg(after, 0, 'g', 17)));
    QVERIFY(view->base());
    QVERIFY(std::fabs(view->base()->perplexity.perplexity - base) <= 1e-9 * base);
    QVERIFY(v.speed.promptTokensPerSecond > 0 && v.speed.generationTokensPerSecond > 0);
    // The table: the base and the variant; the chart: both points.
    QCOMPARE(view->variantModel()->rowCount(), 2);
    QCOMPARE(view->variantModel()->item(1, LmCompressView::PerplexityColumn)->text(),
             displayLocale().toString(after, 'f', 3));
    QCOMPARE(view->variantModel()->item(1, LmCompressView::BpwColumn)->text(),
             displayLocale().toString(expected.bitsPerWeight(), 'f', 3));
    QCOMPARE(view->selectedVariant(), 0);
    int points = 0;
    for (int i = 0; i < view->chart()->graphCount(); ++i)
        if (view->chart()->graph(i)->name() == QStringLiteral("base") || view->chart()->graph(i)->name() == QStringLiteral("variant"))
            points += view->chart()->graph(i)->dataCount();
    QCOMPARE(points, 2);

    // Export: the variant's tensors as measured.
    const QString out = m_dir.filePath(QStringLiteral("q8-variant.gguf"));
    QSignalSpy exported(view, &LmCompressView::exportFinished);
    QVERIFY(view->exportVariant(0, out));
    QVERIFY(exported.wait(kJobTimeoutMs));
    QVERIFY2(exported.last().at(0).toBool(), qPrintable(exported.last().at(1).toString()));
    const auto written = cw::lm::LanguageModel::open(out.toStdString());
    for (const auto &t : written->tensors())
        if (t.name == "blk.0.ffn_up.weight")
            QCOMPARE(t.type, std::string("Q8_0"));
    uint64_t writtenBytes = 0;
    for (const auto &t : written->tensors())
        writtenBytes += t.bytes;
    QCOMPARE(writtenBytes, expected.bytes);

    // A second run reuses the base measured for this text.
    const double first = v.perplexity.perplexity; // (v goes when the variants grow)
    QVERIFY(view->run());
    QVERIFY(!view->job()->params().measureBase);
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY2(finished.last().at(0).toBool(), qPrintable(view->statusText()));
    QCOMPARE(view->variants().size(), size_t(2));
    QCOMPARE(view->variants()[1].name, QStringLiteral("q8 (2)"));
    QCOMPARE(view->variants()[1].perplexity.perplexity, first);
}

void TestGuiLm::compressCancelKeepsVariants()
{
    auto window = openWindow(m_slow);
    QVERIFY(window);
    LmCompressView *view = window->languageModelView()->compressView();
    view->setRecipe(cw::recipeFromJson(R"({"quantize": {"weights": {"format": "q4_0", "method": "gptq"}}})"));
    view->setCalibrationSpec(m_longText);
    view->setEvaluationSpec(m_longText);
    view->setChunks(1);
    QSignalSpy finished(view, &LmJobView::finished);
    QVERIFY2(view->run(), qPrintable(view->statusText()));
    QSignalSpy progress(view->job(), &Job::progress);
    // Cancelled while it calibrates or quantizes the blocks.
    QTRY_VERIFY_WITH_TIMEOUT(!progress.isEmpty() && (progress.last().at(1).toString().startsWith(QStringLiteral("calibration")) ||
                                                     progress.last().at(1).toString().startsWith(QStringLiteral("blk."))),
                             kJobTimeoutMs);
    QTest::mouseClick(view->cancelButton(), Qt::LeftButton);
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY(!finished.last().at(0).toBool());
    QVERIFY2(view->statusText().startsWith(QStringLiteral("Cancelled")), qPrintable(view->statusText()));
    QVERIFY(view->variants().empty());
    QCOMPARE(view->variantModel()->rowCount(), 0);
    QVERIFY(view->runButton()->isEnabled());
    QVERIFY(!view->cancelButton()->isEnabled());
    QVERIFY(!window->anyJobRunning());
    QVERIFY(window->languageModelView()->evaluateView()->evaluateButton()->isEnabled());
}

void TestGuiLm::compressRefusedRecipeSaysWhy()
{
    auto window = openWindow(QStringLiteral("demo-lm"));
    QVERIFY(window);
    LmCompressView *view = window->languageModelView()->compressView();
    view->setEvaluationSpec(m_longText);
    QSignalSpy finished(view, &LmJobView::finished);
    // GPTQ without calibration text.
    view->setRecipe(cw::recipeFromJson(R"({"quantize": {"weights": {"format": "q4_k", "method": "gptq"}}})"));
    view->setCalibrationSpec(QString());
    QVERIFY(!view->run());
    QVERIFY2(view->statusText().contains(QStringLiteral("needs calibration text")), qPrintable(view->statusText()));
    // Channel pruning of an attention matrix (it removes MLP channels only).
    view->setRecipe(cw::recipeFromJson(R"({"layers": {"blk.0.attn_qkv.weight": {"prune": {"method": "channel", "ratio": 0.25}}}})"));
    QVERIFY(!view->run());
    QVERIFY2(view->statusText().contains(QStringLiteral("removes hidden channels of its MLPs")),
             qPrintable(view->statusText()));
    // Heads removed from GPT-2 (llama.cpp computes its heads across the width).
    view->setRecipe(cw::recipeFromJson(R"({"prune": {"method": "heads", "ratio": 0.25}})"));
    QVERIFY(!view->run());
    QVERIFY2(view->statusText().contains(QStringLiteral("heads are removed from llama models")),
             qPrintable(view->statusText()));
    // An override of a tensor the model does not have.
    view->setRecipe(cw::recipeFromJson(R"({"layers": {"blk.9.ffn_up.weight": {"quantize": {"weights": {"format": "q8_0"}}}}})"));
    QVERIFY(!view->run());
    QVERIFY2(view->statusText().contains(QStringLiteral("has no tensor 'blk.9.ffn_up.weight'")), qPrintable(view->statusText()));
    // A recipe file that does not parse.
    const QString bad = m_dir.filePath(QStringLiteral("bad.json"));
    QVERIFY(testutil::writeFile(bad, R"({"quantize": {"weights": {"bits": 9}}})"));
    QVERIFY(!view->loadRecipeFile(bad));
    QVERIFY2(view->statusText().contains(QStringLiteral("quantize.weights.bits")), qPrintable(view->statusText()));
    QVERIFY(!view->isRunning());
    QCOMPARE(finished.size(), 0);
    QVERIFY(view->variants().empty());
}

void TestGuiLm::compressFinetunesWithTheBaseAsTeacher()
{
    auto window = openWindow(QStringLiteral("demo-lm"));
    QVERIFY(window);
    LmCompressView *view = window->languageModelView()->compressView();
    view->setRecipe(cw::recipeFromJson(R"({"name": "q4 distilled", "quantize": {"weights": {"format": "q4_0"}}})"));
    QVERIFY(!view->finetuneBox()->isChecked());
    QVERIFY(!view->recipe().finetune.epochs);
    QVERIFY(!view->epochsSpin()->isEnabled() && !view->teacherBox()->isEnabled() && !view->alphaSpin()->isEnabled());

    // The form's fine-tuning: 4 windows, one pass, 2 per step, with the base as teacher at T 2, α 0.7.
    view->finetuneBox()->setChecked(true);
    QVERIFY(view->epochsSpin()->isEnabled() && view->teacherBox()->isEnabled() && !view->alphaSpin()->isEnabled());
    view->windowsSpin()->setValue(4);
    view->epochsSpin()->setValue(1);
    view->batchSpin()->setValue(2);
    view->lrSpin()->setValue(0.0005);
    view->teacherBox()->setChecked(true);
    QVERIFY(view->alphaSpin()->isEnabled() && view->temperatureSpin()->isEnabled());
    view->temperatureSpin()->setValue(2);
    view->alphaSpin()->setValue(0.7);
    const cw::Recipe built = view->recipe();
    QCOMPARE(built.finetune.epochs, 1);
    QCOMPARE(built.finetune.samples, int64_t(4));
    QCOMPARE(built.finetune.batchSize, int64_t(2));
    QCOMPARE(built.finetune.lr, 0.0005f);
    QVERIFY(built.finetune.distill);
    QCOMPARE(built.finetune.distill->temperature, 2.f);
    QCOMPARE(built.finetune.distill->alpha, 0.7f);
    // Into a fresh form and back.
    view->setRecipe(cw::Recipe{});
    QVERIFY(!view->finetuneBox()->isChecked() && !view->recipe().finetune.distill);
    view->setRecipe(built);
    QCOMPARE(QString::fromStdString(cw::recipeToJson(view->recipe())), QString::fromStdString(cw::recipeToJson(built)));

    // Without calibration text the core refuses it, and the status line says why.
    view->setCalibrationSpec(QString());
    view->setEvaluationSpec(m_longText);
    view->setChunks(2);
    QVERIFY(!view->run());
    QVERIFY2(view->statusText().contains(QStringLiteral("needs training text")), qPrintable(view->statusText()));

    // Run: the variant is the core's on the same recipe and text, fine-tuned in 2 steps; calibration reads the
    // tokens the form says (remembered).
    view->setCalibrationSpec(m_longText);
    view->calibrationTokensSpin()->setValue(2048);
    QCOMPARE(QSettings().value(QStringLiteral("lmCompress/calibrationTokens")).toInt(), 2048);
    QSignalSpy finished(view, &LmJobView::finished);
    QVERIFY2(view->run(), qPrintable(view->statusText()));
    QCOMPARE(view->job()->params().calibrationTokens, int64_t(2048));
    // The loss is drawn while it trains: the chart's tab comes forward at the first step, titled with the progress.
    QSignalSpy steps(view->job(), &LmCompressJob::finetuneStep);
    QVERIFY(steps.wait(kJobTimeoutMs));
    QCOMPARE(steps.first().at(1).toLongLong(), qint64(2));
    QCOMPARE(view->lossChart()->graphCount(), 1);
    QCOMPARE(view->lossChart()->graph(0)->dataCount(), 1);
    QCOMPARE(view->lossChart()->graph(0)->data()->at(0)->value, steps.first().at(2).toDouble());
    QCOMPARE(view->findChild<QTabWidget *>(QStringLiteral("lmCompressCharts"))->currentWidget(), view->lossChart());
    QVERIFY(!finished.isEmpty() || finished.wait(kJobTimeoutMs));
    QVERIFY2(finished.last().at(0).toBool(), qPrintable(view->statusText()));
    QCOMPARE(view->variants().size(), size_t(1));
    const LmCompressView::Variant &v = view->variants().front();
    QVERIFY(v.result->finetune && v.result->finetune->distilled);
    QCOMPARE(v.result->finetune->steps, int64_t(2));
    QVERIFY(view->variantModel()->item(1, LmCompressView::RecipeColumn)->text().contains(QStringLiteral("distilled")));
    // Its training loss per step on the chart's second tab.
    QCOMPARE(view->lossChart()->graphCount(), 1);
    QCOMPARE(view->lossChart()->graph(0)->dataCount(), 2);
    QCOMPARE(view->lossChart()->graph(0)->data()->at(1)->value, v.result->finetune->loss[1]);
    const auto model = cw::lm::LanguageModel::open("demo-lm");
    model->load();
    const std::vector<int32_t> tokens = cw::lm::encodeText(*model, readAll(m_longText).toStdString());
    cw::lm::LmCompressOptions o;
    o.calibration = tokens;
    cw::lm::compressLanguageModel(*model, built, o);
    cw::lm::PerplexityOptions po = cw::lm::defaultPerplexityOptions(*model);
    po.chunks = 2;
    const double after = cw::lm::perplexity(model, tokens, po).perplexity;
    QVERIFY2(std::fabs(v.perplexity.perplexity - after) <= 1e-9 * after,
             qPrintable(QStringLiteral("%1 vs %2").arg(v.perplexity.perplexity, 0, 'g', 17).arg(after, 0, 'g', 17)));
}

void TestGuiLm::projectSavesAndReopens()
{
    // What the tabs made — a sensitivity sweep and a compressed variant — is the language model's project: the
    // window marks it modified, File → Save Project writes it, and opening the file (after another model) shows
    // both again without recomputing; the reopened variant exports the checkpoint the live one exported.
    auto window = openWindow(m_small);
    QVERIFY(window);
    LmWorkspace *lm = window->languageModelView();
    QVERIFY(!window->isWindowModified());
    LmSensitivityView *sensitivity = lm->sensitivityView();
    sensitivity->setTextSpec(m_text);
    sensitivity->setChunks(2);
    sensitivity->setBits({4});
    sensitivity->setFormatsText(QStringLiteral("q8_0"));
    QSignalSpy swept(sensitivity, &LmJobView::finished);
    QVERIFY(sensitivity->run());
    QVERIFY(swept.wait(kJobTimeoutMs));
    QVERIFY2(swept.last().at(0).toBool(), qPrintable(sensitivity->statusText()));
    QVERIFY(window->isWindowModified());
    LmCompressView *compress = lm->compressView();
    compress->setRecipe(cw::recipeFromJson(R"({"name": "q8", "quantize": {"weights": {"format": "q8_0"}}})"));
    compress->setCalibrationSpec(QString());
    compress->setEvaluationSpec(m_longText);
    compress->setChunks(2);
    QSignalSpy compressed(compress, &LmJobView::finished);
    QVERIFY(compress->run());
    QVERIFY(compressed.wait(kJobTimeoutMs));
    QVERIFY2(compressed.last().at(0).toBool(), qPrintable(compress->statusText()));
    const LmCompressView::Variant live = compress->variants().front();
    QVERIFY(live.provenance.command.find("cwb compress") == 0);
    const QString liveOut = m_dir.filePath(QStringLiteral("live-q8.gguf"));
    QSignalSpy exported(compress, &LmCompressView::exportFinished);
    QVERIFY(compress->exportVariant(0, liveOut));
    QVERIFY(exported.wait(kJobTimeoutMs));
    const cw::lm::SensitivityResult sweep = sensitivity->result()->result;

    const QString path = m_dir.filePath(QStringLiteral("small.cwproj"));
    QVERIFY2(window->saveProject(path), qPrintable(window->lastError()));
    QVERIFY(!window->isWindowModified());
    QVERIFY(window->windowTitle().contains(QStringLiteral("small.cwproj")));
    QVERIFY(cw::isLmProjectFile(path.toStdString()));

    // Another model, then the project.
    QSignalSpy loaded(window.get(), &MainWindow::modelLoaded);
    QVERIFY(window->openModel(QStringLiteral("demo-lm")));
    QVERIFY(loaded.wait(kJobTimeoutMs));
    QVERIFY(compress->variants().empty() && !sensitivity->result());
    QVERIFY(window->openModel(path));
    QVERIFY(loaded.wait(kJobTimeoutMs));
    QCOMPARE(QString::fromStdString(lm->model()->path()), m_small);
    QVERIFY(!window->isWindowModified());
    QVERIFY(window->windowTitle().contains(QStringLiteral("small.cwproj")));
    QVERIFY(sensitivity->result());
    QCOMPARE(QString::fromStdString(cw::lm::sensitivityToJson(sensitivity->result()->result)),
             QString::fromStdString(cw::lm::sensitivityToJson(sweep)));
    QCOMPARE(sensitivity->resultText(), m_text);
    QCOMPARE(compress->variants().size(), size_t(1));
    const LmCompressView::Variant &back = compress->variants().front();
    QCOMPARE(back.name, live.name);
    QCOMPARE(back.perplexity.perplexity, live.perplexity.perplexity);
    QCOMPARE(back.speed.generationTokensPerSecond, live.speed.generationTokensPerSecond);
    QCOMPARE(back.evaluationSpec, m_longText);
    QCOMPARE(back.provenance.command, live.provenance.command);
    QCOMPARE(compress->variantModel()->rowCount(), 2); // the base and the variant
    QCOMPARE(compress->variantModel()->item(1, LmCompressView::PerplexityColumn)->text(),
             displayLocale().toString(live.perplexity.perplexity, 'f', 3));
    QCOMPARE(compress->variantModel()->item(0, LmCompressView::PerplexityColumn)->text(),
             displayLocale().toString(live.basePerplexity, 'f', 3));
    const QString backOut = m_dir.filePath(QStringLiteral("reopened-q8.gguf"));
    QVERIFY(compress->exportVariant(0, backOut));
    QVERIFY(exported.wait(kJobTimeoutMs));
    QVERIFY2(exported.last().at(0).toBool(), qPrintable(exported.last().at(1).toString()));
    QCOMPARE(cw::sha256File(backOut.toStdString()), cw::sha256File(liveOut.toStdString()));
    // A change marks it again; Save (Ctrl+S) writes the same file.
    QVERIFY(compress->run());
    QVERIFY(compressed.wait(kJobTimeoutMs));
    QVERIFY(window->isWindowModified());
    QVERIFY(window->saveProject());
    QCOMPARE(cw::loadLmProject(path.toStdString()).variants.size(), size_t(2));
}

void TestGuiLm::compressRunsOnCluster()
{
    // Compress → Run on Cluster… writes the form's recipe as an "lm-recipes" plan (the job's cwb compress command);
    // the node's variant, imported, is the one Run makes here: the same perplexity, bytes and encoded tensors.
    QTemporaryDir dir(QDir::tempPath() + QStringLiteral("/cw-lm-recipes-XXXXXX"));
    QVERIFY(dir.isValid());
    auto window = openWindow(m_small);
    QVERIFY(window);
    LmCompressView *compress = window->languageModelView()->compressView();
    compress->setRecipe(cw::recipeFromJson(R"({"name": "q4", "quantize": {"weights": {"format": "q4_0"}}})"));
    compress->setCalibrationSpec(QString());
    compress->setEvaluationSpec(m_longText);
    compress->setChunks(2);
    QVERIFY(compress->clusterButton()->isEnabled());
    compress->clusterButton()->click();
    const QString folder = dir.filePath(QStringLiteral("sweep"));
    QString written;
    const std::optional<cw::cluster::SweepPlan> job =
        guitestutil::writeClusterJob(window->clusterDialog(), folder, &written);
    QVERIFY2(job, qPrintable(written));
    const cw::cluster::SweepPlan &plan = *job;
    QCOMPARE(plan.kind, std::string("lm-recipes"));
    QCOMPARE(plan.items, std::vector<std::string>{"q4"});
    QString error;
    testutil::runShards(QStringLiteral(CW_CWB_PATH), folder, 1, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));

    QSignalSpy finished(compress, &LmJobView::finished);
    QVERIFY(compress->run());
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY2(finished.last().at(0).toBool(), qPrintable(compress->statusText()));
    QVERIFY2(window->importResults({folder}), qPrintable(window->lastError()));
    QCOMPARE(compress->variants().size(), size_t(2));
    const LmCompressView::Variant &here = compress->variants()[0], &there = compress->variants()[1];
    QCOMPARE(there.name, QStringLiteral("q4"));
    QCOMPARE(there.perplexity.perplexity, here.perplexity.perplexity);
    QCOMPARE(there.basePerplexity, here.basePerplexity);
    QCOMPARE(there.result->bytes, here.result->bytes);
    QCOMPARE(there.result->encoded.size(), here.result->encoded.size());
    for (const auto &[name, e] : here.result->encoded)
        QVERIFY2(there.result->encoded.at(name).bytes == e.bytes, name.c_str());
    QVERIFY(window->isWindowModified());
}

void TestGuiLm::compressByMatrixOnCluster()
{
    // A GPTQ recipe that calibrates on the unchanged model (the form's "calibrate on the unchanged
    // model") goes to a cluster by matrix: an "lm-matrices" plan whose items are the matrices. The parts, imported,
    // are assembled and measured on the Compress tab by a job, and equal Run of the same form here: the same
    // encoded tensors and perplexity; the variant's command is the plan's.
    QTemporaryDir dir(QDir::tempPath() + QStringLiteral("/cw-lm-matrices-XXXXXX"));
    QVERIFY(dir.isValid());
    auto window = openWindow(m_small);
    QVERIFY(window);
    LmCompressView *compress = window->languageModelView()->compressView();
    compress->setRecipe(cw::recipeFromJson(
        R"({"name": "gptq", "sequential": false, "quantize": {"weights": {"method": "gptq", "format": "q4_0"}}})"));
    QVERIFY(compress->independentBox()->isChecked());
    compress->independentBox()->setChecked(false);
    QVERIFY(compress->recipe().sequential);
    compress->independentBox()->setChecked(true);
    QVERIFY(!compress->recipe().sequential);
    compress->setCalibrationSpec(m_longText);
    compress->calibrationTokensSpin()->setValue(512);
    compress->setEvaluationSpec(m_longText);
    compress->setChunks(2);
    compress->clusterButton()->click();
    const QString folder = dir.filePath(QStringLiteral("sweep"));
    QString written;
    const std::optional<cw::cluster::SweepPlan> job =
        guitestutil::writeClusterJob(window->clusterDialog(), folder, &written);
    QVERIFY2(job, qPrintable(written));
    const cw::cluster::SweepPlan &plan = *job;
    QCOMPARE(plan.kind, std::string("lm-matrices"));
    QCOMPARE(plan.items, cw::lm::recipeTensors(compress->recipe(), *window->languageModelView()->model()));
    QVERIFY(plan.items.size() >= 4);
    QString error;
    testutil::runShards(QStringLiteral(CW_CWB_PATH), folder, 3, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));

    QSignalSpy finished(compress, &LmJobView::finished);
    QVERIFY(compress->run());
    QVERIFY(finished.wait(kJobTimeoutMs));
    QVERIFY2(finished.last().at(0).toBool(), qPrintable(compress->statusText()));
    QVERIFY2(window->importResults({folder}), qPrintable(window->lastError()));
    QVERIFY(finished.wait(kJobTimeoutMs)); // the imported variant's measurement
    QVERIFY2(finished.last().at(0).toBool(), qPrintable(compress->statusText()));
    QCOMPARE(compress->variants().size(), size_t(2));
    const LmCompressView::Variant &here = compress->variants()[0], &there = compress->variants()[1];
    QCOMPARE(there.name, QStringLiteral("gptq (2)"));
    QCOMPARE(there.perplexity.perplexity, here.perplexity.perplexity);
    QCOMPARE(there.basePerplexity, here.basePerplexity);
    QCOMPARE(there.result->bytes, here.result->bytes);
    QCOMPARE(there.result->encoded.size(), plan.items.size());
    for (const auto &[name, e] : here.result->encoded)
        QVERIFY2(there.result->encoded.at(name).bytes == e.bytes, name.c_str());
    QVERIFY2(there.provenance.command.find("--recipe gptq.json") != std::string::npos, there.provenance.command.c_str());
    QCOMPARE(there.provenance.trainData, m_longText.toStdString()); // the calibration text
    QVERIFY(window->isWindowModified());
}

void TestGuiLm::evaluateRunsOnCluster()
{
    // Evaluate → Run on Cluster… writes the tab's perplexity as an "lm-perplexity" plan (text, context, chunks); its
    // shards, imported, show the perplexity Evaluate computes here, chunk by chunk, without a speed of their own.
    QTemporaryDir dir(QDir::tempPath() + QStringLiteral("/cw-lm-perplexity-XXXXXX"));
    QVERIFY(dir.isValid());
    auto window = openWindow(m_small);
    QVERIFY(window);
    LmEvaluateView *evaluate = window->languageModelView()->evaluateView();
    evaluate->setTextSpec(m_longText);
    evaluate->setContext(32);
    evaluate->setChunks(5);
    QSignalSpy finished(evaluate, &LmJobView::finished);
    QVERIFY(evaluate->evaluate());
    QVERIFY(finished.wait(kJobTimeoutMs));
    const cw::lm::PerplexityResult here = evaluate->result()->result;
    QVERIFY(evaluate->clusterButton()->isEnabled());
    evaluate->clusterButton()->click();
    QVERIFY(window->clusterDialog() && !window->clusterDialog()->projectEdit()->isEnabled()); // a measurement
    const QString folder = dir.filePath(QStringLiteral("sweep"));
    QString written;
    const std::optional<cw::cluster::SweepPlan> job =
        guitestutil::writeClusterJob(window->clusterDialog(), folder, &written);
    QVERIFY2(job, qPrintable(written));
    const cw::cluster::SweepPlan &plan = *job;
    QCOMPARE(plan.kind, std::string("lm-perplexity"));
    QCOMPARE(plan.items.size(), size_t(5));
    QString error;
    testutil::runShards(QStringLiteral(CW_CWB_PATH), folder, 2, &error);
    QVERIFY2(error.isEmpty(), qPrintable(error));
    QVERIFY2(window->importResults({folder}), qPrintable(window->lastError()));
    const cw::lm::PerplexityResult there = evaluate->result()->result;
    QCOMPARE(there.chunks, here.chunks);
    QCOMPARE(there.scored, here.scored);
    QVERIFY(std::abs(there.perplexity - here.perplexity) <= 1e-9 * here.perplexity);
    QCOMPARE(there.chunkPerplexity.size(), here.chunkPerplexity.size());
    QVERIFY(evaluate->valueText(QStringLiteral("Speed")).contains(QStringLiteral("cluster")));
    QCOMPARE(evaluate->result()->ctx, int64_t(32));
}

QTEST_MAIN(TestGuiLm)
#include "test_gui_lm.moc"
