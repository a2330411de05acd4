#include "ui/views/lmevaluateview.h"

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QFrame>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QShortcut>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>

#include "core/base/error.h"
#include "core/lm/corpus.h"
#include "core/lm/defaults.h"
#include "ui/charts/chartexport.h"
#include "ui/formatting.h"
#include "ui/views/numberlabels.h"

namespace cw::ui {

namespace {
const char kTextKey[] = "lmEvaluate/text";
const char kRecentKey[] = "lmEvaluate/recentTexts";
const char kContextKey[] = "lmEvaluate/context";
const char kChunksKey[] = "lmEvaluate/chunks";
const char kDirKey[] = "lastDirs/lmText";
const char kBrown[] = "brown:heldout";
const char kChoose[] = "<choose>"; // the combo's last item: a file dialog
} // namespace

LmEvaluateView::LmEvaluateView(QWidget *parent) : LmJobView(parent)
{
    setObjectName(QStringLiteral("lmEvaluateView"));
    try {
        cw::lm::brownFolder();
    } catch (const std::exception &e) {
        m_brownError = QString::fromUtf8(e.what());
    }
    buildUi();
    QSettings s;
    m_loading = true;
    m_recentTexts = s.value(QLatin1String(kRecentKey)).toStringList();
    fillTextCombo(s.value(QLatin1String(kTextKey), m_brownError.isEmpty() ? QString::fromLatin1(kBrown) : QString()).toString());
    m_chunksSpin->setValue(s.value(QLatin1String(kChunksKey), 0).toInt());
    m_loading = false;
    clearResult();
    updateControls();
}

void LmEvaluateView::buildUi()
{
    m_textCombo = new QComboBox;
    m_textCombo->setObjectName(QStringLiteral("lmTextCombo"));
    m_textCombo->setMinimumContentsLength(28);
    m_textCombo->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    connect(m_textCombo, &QComboBox::activated, this, [this](int index) {
        if (m_textCombo->itemData(index).toString() == QLatin1String(kChoose))
            chooseTextFile();
        else
            m_lastTextIndex = index;
        writeSettings();
    });
    m_contextSpin = new QSpinBox;
    m_contextSpin->setObjectName(QStringLiteral("lmContextSpin"));
    m_contextSpin->setRange(4, 4096);
    m_contextSpin->setSuffix(tr(" tokens"));
    m_contextSpin->setToolTip(tr("Tokens per chunk: each chunk is evaluated from an empty cache and its second half "
                                 "scored, as llama-perplexity does"));
    m_chunksSpin = new QSpinBox;
    m_chunksSpin->setObjectName(QStringLiteral("lmChunksSpin"));
    m_chunksSpin->setRange(0, 1000000);
    m_chunksSpin->setSpecialValueText(tr("all"));
    m_chunksSpin->setToolTip(tr("At most this many chunks of the text (all: every whole chunk)"));
    connect(m_contextSpin, &QSpinBox::valueChanged, this, [this]() { writeSettings(); });
    connect(m_chunksSpin, &QSpinBox::valueChanged, this, [this]() { writeSettings(); });

    m_run = new QPushButton(tr("Evaluate"));
    m_run->setObjectName(QStringLiteral("lmEvaluateRun"));
    connect(m_run, &QPushButton::clicked, this, [this]() { evaluate(); });
    m_cancel = new QPushButton(tr("Cancel"));
    m_cancel->setObjectName(QStringLiteral("lmEvaluateCancel"));
    m_cancel->setToolTip(tr("Stop after the chunk being evaluated (Esc)"));
    connect(m_cancel, &QPushButton::clicked, this, &LmEvaluateView::cancel);
    auto *escape = new QShortcut(QKeySequence(Qt::Key_Escape), this, this, &LmEvaluateView::cancel);
    escape->setContext(Qt::WidgetWithChildrenShortcut);
    m_progress = new QProgressBar;
    m_progress->setObjectName(QStringLiteral("lmEvaluateProgress"));
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    m_progress->setTextVisible(false);
    m_progress->setMaximumWidth(200);
    m_status = new QLabel;
    m_status->setObjectName(QStringLiteral("lmEvaluateStatus"));
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto *controls = new QGridLayout;
    controls->addWidget(new QLabel(tr("Text")), 0, 0);
    controls->addWidget(m_textCombo, 0, 1, 1, 3);
    controls->addWidget(new QLabel(tr("Context")), 1, 0);
    controls->addWidget(m_contextSpin, 1, 1);
    controls->addWidget(new QLabel(tr("Chunks")), 1, 2);
    controls->addWidget(m_chunksSpin, 1, 3);
    auto *buttons = new QHBoxLayout;
    buttons->addWidget(m_run);
    buttons->addWidget(m_cancel);
    buttons->addWidget(m_progress);
    buttons->addWidget(m_status, 1);
    controls->addLayout(buttons, 2, 0, 1, 5);
    controls->setColumnStretch(4, 1);

    // The numbers, large.
    auto *numbers = new QFrame;
    numbers->setObjectName(QStringLiteral("lmEvaluateNumbers"));
    numbers->setFrameShape(QFrame::StyledPanel);
    numbers->setMinimumWidth(210);
    auto *numbersLayout = new QVBoxLayout(numbers);
    const std::pair<const char *, const char *> values[] = {
        {QT_TR_NOOP("Perplexity"), QT_TR_NOOP("exp of the mean negative log-likelihood of the scored tokens: lower is better")},
        {QT_TR_NOOP("NLL"), QT_TR_NOOP("Mean negative log-likelihood, nats per token")},
        {QT_TR_NOOP("Scored"), QT_TR_NOOP("Tokens scored (the second half of each chunk) and chunks")},
        {QT_TR_NOOP("Speed"), QT_TR_NOOP("Tokens evaluated (chunks × context) per second")},
        {QT_TR_NOOP("Time"), QT_TR_NOOP("Seconds of evaluation (the weights' reading excluded)")},
    };
    for (const auto &[label, tip] : values) {
        QLabel *value = newValueLabel(QStringLiteral("lmValue") + QString::fromLatin1(label));
        addNumber(numbersLayout, tr(label), value, tr(tip));
        m_values[QString::fromLatin1(label)] = value;
    }
    numbersLayout->addStretch(1);

    m_chart = new QCustomPlot;
    m_chart->setObjectName(QStringLiteral("lmPerplexityChart"));
    enableChartExport(m_chart, QStringLiteral("perplexity"));
    m_chart->xAxis->setLabel(tr("Chunk"));
    m_chart->yAxis->setLabel(tr("Perplexity so far"));
    m_chart->yAxis->grid()->setSubGridVisible(false);
    QCPGraph *running = m_chart->addGraph();
    running->setPen(QPen(QColor(70, 130, 180), 2));
    running->setName(tr("Running perplexity"));
    QCPGraph *final = m_chart->addGraph();
    final->setPen(QPen(QColor(200, 60, 30), 1.2, Qt::DashLine));
    final->setName(tr("Final"));
    m_chart->legend->setVisible(true);
    m_chart->legend->setBrush(QColor(255, 255, 255, 220));
    m_chart->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);
    auto *ticker = new QCPAxisTickerFixed;
    ticker->setTickStep(1.0);
    ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
    m_chart->xAxis->setTicker(QSharedPointer<QCPAxisTicker>(ticker));

    auto *resultRow = new QHBoxLayout;
    resultRow->addWidget(numbers);
    auto *chartBox = new QVBoxLayout;
    chartBox->addWidget(new QLabel(tr("<b>Running perplexity after each chunk</b>")));
    chartBox->addWidget(m_chart, 1);
    resultRow->addLayout(chartBox, 1);

    auto *intro = new QLabel(tr("Perplexity as llama.cpp's <i>llama-perplexity</i> computes it: the text tokenized "
                                "whole, cut into chunks of the context, each evaluated from an empty cache with BOS "
                                "first, the second half of each chunk scored."));
    intro->setWordWrap(true);
    intro->setStyleSheet(QStringLiteral("QLabel { color: #666; }"));

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 8, 8, 8);
    layout->addWidget(intro);
    layout->addLayout(controls);
    layout->addLayout(resultRow, 1);
}

QString LmEvaluateView::textDisplayName(const QString &spec)
{
    if (spec == QLatin1String(kBrown))
        return tr("Brown corpus, held-out split");
    return QFileInfo(spec).fileName();
}

void LmEvaluateView::fillTextCombo(const QString &select)
{
    m_textCombo->clear();
    m_textCombo->addItem(textDisplayName(QString::fromLatin1(kBrown)), QString::fromLatin1(kBrown));
    if (!m_brownError.isEmpty()) {
        // Offered, but off, with how to get it.
        auto *items = qobject_cast<QStandardItemModel *>(m_textCombo->model());
        items->item(0)->setEnabled(false);
        m_textCombo->setItemData(0, m_brownError, Qt::ToolTipRole);
        m_textCombo->setItemText(0, tr("Brown corpus (not found)"));
    }
    for (const QString &path : m_recentTexts) {
        m_textCombo->addItem(QFileInfo(path).fileName(), path);
        m_textCombo->setItemData(m_textCombo->count() - 1, QDir::toNativeSeparators(path), Qt::ToolTipRole);
    }
    m_textCombo->insertSeparator(m_textCombo->count());
    m_textCombo->addItem(tr("Choose a text file…"), QString::fromLatin1(kChoose));
    const int index = m_textCombo->findData(select);
    const bool usable = index >= 0 && !(index == 0 && !m_brownError.isEmpty());
    // Nothing usable: the chooser shows, and Evaluate asks for a text.
    m_lastTextIndex = usable ? index : m_textCombo->count() - 1;
    m_textCombo->setCurrentIndex(m_lastTextIndex);
}

void LmEvaluateView::setTextSpec(const QString &spec)
{
    if (spec != QLatin1String(kBrown) && !spec.isEmpty()) {
        const QString path = QFileInfo(spec).absoluteFilePath();
        m_recentTexts.removeAll(path);
        m_recentTexts.prepend(path);
        while (m_recentTexts.size() > kMaxRecentTexts)
            m_recentTexts.removeLast();
        fillTextCombo(path);
    } else {
        fillTextCombo(spec);
    }
    writeSettings();
}

QString LmEvaluateView::textSpec() const
{
    const QString spec = m_textCombo->currentData().toString();
    if (spec == QLatin1String(kChoose) || (spec == QLatin1String(kBrown) && !m_brownError.isEmpty()))
        return {};
    return spec;
}

void LmEvaluateView::chooseTextFile()
{
    QString dir = QSettings().value(QLatin1String(kDirKey)).toString();
    if (dir.isEmpty() || !QFileInfo(dir).isDir())
        dir = QDir::homePath();
    const QString path = QFileDialog::getOpenFileName(this, tr("Text for Perplexity"), dir,
                                                      tr("Text files (*.txt *.md *.text);;All files (*)"));
    if (path.isEmpty()) {
        m_textCombo->setCurrentIndex(m_lastTextIndex);
        return;
    }
    QSettings().setValue(QLatin1String(kDirKey), QFileInfo(path).absolutePath());
    setTextSpec(path);
}

void LmEvaluateView::setContext(int tokens)
{
    m_contextSpin->setValue(tokens);
}

int LmEvaluateView::context() const
{
    return m_contextSpin->value();
}

void LmEvaluateView::setChunks(int chunks)
{
    m_chunksSpin->setValue(chunks);
}

int LmEvaluateView::chunks() const
{
    return m_chunksSpin->value();
}

void LmEvaluateView::writeSettings()
{
    if (m_loading)
        return;
    QSettings s;
    const QString spec = textSpec();
    if (!spec.isEmpty())
        s.setValue(QLatin1String(kTextKey), spec);
    s.setValue(QLatin1String(kRecentKey), m_recentTexts);
    if (m_model)
        s.setValue(QLatin1String(kContextKey), m_contextSpin->value());
    s.setValue(QLatin1String(kChunksKey), m_chunksSpin->value());
}

void LmEvaluateView::setModel(LanguageModelPtr model)
{
    detachJob();
    m_model = std::move(model);
    clearResult();
    setStatus(QString());
    if (m_model) {
        // The remembered context, within what this model takes; its default the first time.
        m_loading = true;
        const int64_t declared = m_model->config().contextLength;
        m_contextSpin->setMaximum(declared > 0 ? int(std::min<int64_t>(declared, 1 << 20)) : 1 << 20);
        const int fallback = int(cw::lm::defaultPerplexityOptions(*m_model).ctx);
        m_contextSpin->setValue(QSettings().value(QLatin1String(kContextKey), fallback).toInt());
        m_loading = false;
    }
    updateControls();
}

bool LmEvaluateView::evaluate()
{
    if (!mayStart(tr("This model carries no tokenizer the workbench can read, so it cannot read text.")))
        return false;
    const QString spec = textSpec();
    if (spec.isEmpty()) {
        setStatus(tr("Choose a text first."));
        return false;
    }
    PerplexityParams params;
    params.model = m_model;
    params.textSpec = spec.toStdString();
    params.ctx = m_contextSpin->value();
    params.chunks = m_chunksSpin->value() > 0 ? m_chunksSpin->value() : -1;
    auto *job = new PerplexityJob(std::move(params), this);
    clearResult();
    const QString text = textDisplayName(spec);
    connect(job, &Job::progress, this, [this](double fraction, const QString &stage) {
        m_progress->setValue(int(fraction * 1000));
        QString label = stage;
        if (!label.isEmpty())
            label[0] = label[0].toUpper();
        setStatus(label + QStringLiteral("…"));
    });
    connect(job, &PerplexityJob::succeeded, this, [this, job, text]() {
        m_result = *job->result();
        showResult(*m_result);
        setStatus(tr("%1: %2 tokens of text.").arg(text, formatCount(m_result->textTokens)));
        emit evaluated(*m_result, text);
    });
    connect(job, &Job::failed, this, [this](const QString &error) { setStatus(tr("Failed: %1").arg(error)); });
    connect(job, &Job::cancelled, this, [this]() { setStatus(tr("Cancelled; nothing is kept of the chunks done.")); });
    runJob(job, tr("Starting…"), [this, job]() {
        const bool ok = job->result().has_value();
        m_progress->setValue(ok ? 1000 : 0);
        return ok;
    });
    return true;
}

void LmEvaluateView::cancel()
{
    if (Job *job = currentJob()) {
        job->cancel();
        setStatus(tr("Cancelling…"));
    }
}

QString LmEvaluateView::valueText(const QString &label) const
{
    const auto it = m_values.find(label);
    return it == m_values.end() ? QString() : it->second->text();
}

void LmEvaluateView::updateControls()
{
    const bool busy = isRunning();
    const QString why = whyNot();
    m_run->setEnabled(!busy && why.isEmpty());
    m_run->setToolTip(why.isEmpty() ? tr("Measure the perplexity (Ctrl+R)") : why);
    m_cancel->setEnabled(busy);
    m_textCombo->setEnabled(!busy);
    m_contextSpin->setEnabled(!busy);
    m_chunksSpin->setEnabled(!busy);
}

void LmEvaluateView::clearResult()
{
    m_result.reset();
    for (auto &[label, value] : m_values)
        value->setText(QStringLiteral("—"));
    m_chart->graph(0)->data()->clear();
    m_chart->graph(1)->data()->clear();
    m_chart->xAxis->setRange(0.5, 4.5);
    m_chart->yAxis->setRange(0, 10);
    m_chart->replot(QCustomPlot::rpQueuedReplot);
}

void LmEvaluateView::showResult(const PerplexityOutcome &outcome)
{
    const cw::lm::PerplexityResult &r = outcome.result;
    const QLocale locale = displayLocale();
    m_values[QStringLiteral("Perplexity")]->setText(locale.toString(r.perplexity, 'f', 3));
    m_values[QStringLiteral("NLL")]->setText(locale.toString(r.nll, 'f', 4));
    m_values[QStringLiteral("Scored")]->setText(
        tr("%1 in %n chunk(s) of %2", nullptr, int(r.chunks)).arg(formatCount(r.scored), formatCount(outcome.ctx)));
    m_values[QStringLiteral("Speed")]->setText(tr("%1 tokens/s").arg(locale.toString(r.tokensPerSecond, 'f', 1)));
    m_values[QStringLiteral("Time")]->setText(tr("%1 s").arg(locale.toString(r.seconds, 'f', 2)));

    QVector<double> x, y;
    double lo = r.perplexity, hi = r.perplexity;
    for (size_t i = 0; i < r.chunkPerplexity.size(); ++i) {
        x << double(i + 1);
        y << r.chunkPerplexity[i];
        lo = std::min(lo, r.chunkPerplexity[i]);
        hi = std::max(hi, r.chunkPerplexity[i]);
    }
    m_chart->graph(0)->setData(x, y, true);
    // A marker per chunk while they can be told apart.
    m_chart->graph(0)->setScatterStyle(r.chunkPerplexity.size() <= 100
                                           ? QCPScatterStyle(QCPScatterStyle::ssCircle, QColor(70, 130, 180), Qt::white, 6)
                                           : QCPScatterStyle(QCPScatterStyle::ssNone));
    const double n = double(r.chunkPerplexity.size());
    m_chart->graph(1)->setData({0.5, n + 0.5}, {r.perplexity, r.perplexity}, true);
    m_chart->graph(1)->setName(tr("Final: %1").arg(locale.toString(r.perplexity, 'f', 3)));
    const double pad = std::max(0.1 * (hi - lo), 0.02 * hi);
    m_chart->xAxis->setRange(0.5, std::max(n, 4.0) + 0.5);
    m_chart->yAxis->setRange(std::max(0.0, lo - pad), hi + 2.5 * pad);
    m_chart->replot(QCustomPlot::rpQueuedReplot);
}

} // namespace cw::ui
