#include "ui/views/lmevaluateview.h"

#include <QFormLayout>
#include <QFrame>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QDir>
#include <QSettings>
#include <QSpinBox>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>

#include "core/base/error.h"
#include "core/lm/corpus.h"
#include "core/lm/defaults.h"
#include "ui/charts/chartexport.h"
#include "ui/formatting.h"
#include "ui/views/lmtextcombo.h"
#include "ui/views/numberlabels.h"

namespace cw::ui {

namespace {
const char kTextKey[] = "lmEvaluate/text";
const char kContextKey[] = "lmEvaluate/context";
const char kChunksKey[] = "lmEvaluate/chunks";
} // namespace

LmEvaluateView::LmEvaluateView(QWidget *parent) : LmJobView(parent)
{
    setObjectName(QStringLiteral("lmEvaluateView"));
    buildUi();
    QSettings s;
    m_loading = true;
    m_chunksSpin->setValue(s.value(QLatin1String(kChunksKey), 0).toInt());
    m_loading = false;
    clearResult();
    updateControls();
}

void LmEvaluateView::buildUi()
{
    m_textCombo = new LmTextCombo(QLatin1String(kTextKey));
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

    const RunControls run = newRunControls(QStringLiteral("lmEvaluate"), tr("Evaluate"),
                                           tr("Stop after the chunk being evaluated (Esc)"), [this]() { evaluate(); });
    m_run = run.run;
    m_cancel = run.cancel;
    m_progress = run.progress;
    m_cluster = new QPushButton(tr("Run on Cluster…"));
    m_cluster->setObjectName(QStringLiteral("lmEvaluateCluster"));
    m_cluster->setToolTip(tr("Write this perplexity as a plan and a Slurm job array (its chunks in shards) into a "
                             "folder; File → Import Results brings the parts back"));
    connect(m_cluster, &QPushButton::clicked, this, &LmEvaluateView::clusterRequested);
    run.row->addWidget(m_cluster);

    auto *controls = new QGridLayout;
    controls->addWidget(new QLabel(tr("Text")), 0, 0);
    controls->addWidget(m_textCombo, 0, 1, 1, 3);
    controls->addWidget(new QLabel(tr("Context")), 1, 0);
    controls->addWidget(m_contextSpin, 1, 1);
    controls->addWidget(new QLabel(tr("Chunks")), 1, 2);
    controls->addWidget(m_chunksSpin, 1, 3);
    controls->addLayout(run.row, 2, 0, 1, 5);
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

    QLabel *intro = newIntro(tr("Perplexity as llama.cpp's <i>llama-perplexity</i> computes it: the text tokenized "
                                "whole, cut into chunks of the context, each evaluated from an empty cache with BOS "
                                "first, the second half of each chunk scored."));

    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 8, 8, 8);
    layout->addWidget(intro);
    layout->addLayout(controls);
    layout->addLayout(resultRow, 1);
}

void LmEvaluateView::setTextSpec(const QString &spec)
{
    m_textCombo->setTextSpec(spec);
}

QString LmEvaluateView::textSpec() const
{
    return m_textCombo->textSpec();
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
    const QString spec = textSpec();
    if (!mayStartOnText(spec))
        return false;
    PerplexityParams params;
    params.model = m_model;
    params.textSpec = spec.toStdString();
    params.ctx = m_contextSpin->value();
    params.chunks = m_chunksSpin->value() > 0 ? m_chunksSpin->value() : -1;
    auto *job = new PerplexityJob(std::move(params), this);
    clearResult();
    const QString text = LmTextCombo::displayName(spec);
    connect(job, &PerplexityJob::succeeded, this, [this, job, text]() {
        m_result = *job->result();
        showResult(*m_result);
        setStatus(tr("%1: %2 tokens of text.").arg(text, formatCount(m_result->textTokens)));
        emit evaluated(*m_result, text);
    });
    runTextJob(job, m_progress, tr("Cancelled; nothing is kept of the chunks done."),
               [job]() { return job->result().has_value(); });
    return true;
}

void LmEvaluateView::cancel()
{
    cancelJob();
}

std::optional<cw::cluster::SweepPlan> LmEvaluateView::clusterPlan()
{
    const QString spec = textSpec();
    if (!m_model || spec.isEmpty()) {
        setStatus(m_model ? tr("Choose a text to measure on.") : tr("Open a language model first."));
        return std::nullopt;
    }
    try {
        const std::string model = m_model->path(), text = spec.toStdString();
        cw::lm::PerplexityOptions o = cw::lm::defaultPerplexityOptions(*m_model);
        o.ctx = m_contextSpin->value();
        o.chunks = m_chunksSpin->value() > 0 ? m_chunksSpin->value() : -1;
        std::vector<std::string> command{"perplexity", model, "--text", text, "--ctx", std::to_string(o.ctx)};
        if (o.chunks > 0) {
            command.push_back("--chunks");
            command.push_back(std::to_string(o.chunks));
        }
        const int64_t chunks =
            cw::lm::perplexityChunks(int64_t(cw::lm::encodeText(*m_model, cw::lm::loadText(text)).size()), o);
        return cw::cluster::lmPerplexityPlan(command, model, text, chunks, QDir::currentPath().toStdString());
    } catch (const std::exception &e) {
        setStatus(tr("Cannot plan this perplexity for a cluster: %1").arg(QString::fromUtf8(e.what())));
        return std::nullopt;
    }
}

void LmEvaluateView::showImported(const cw::lm::PerplexityResult &result, int64_t ctx, const QString &textSpec,
                                  int parts)
{
    detachJob();
    m_result = PerplexityOutcome{result, 0, ctx};
    showResult(*m_result);
    const QString text = LmTextCombo::displayName(textSpec);
    setStatus(tr("%1: merged from %n part(s) computed on a cluster.", nullptr, parts).arg(text));
    emit evaluated(*m_result, text);
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
    m_cluster->setEnabled(!busy && m_model);
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
    const bool timed = r.seconds > 0; // not after a cluster's parts were merged
    m_values[QStringLiteral("Speed")]->setText(timed ? tr("%1 tokens/s").arg(locale.toString(r.tokensPerSecond, 'f', 1))
                                                     : tr("— (on a cluster)"));
    m_values[QStringLiteral("Time")]->setText(timed ? tr("%1 s").arg(locale.toString(r.seconds, 'f', 2)) : tr("—"));

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
