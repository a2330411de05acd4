#include "ui/views/lmworkspace.h"

#include <QSettings>

#include "ui/formatting.h"
#include "ui/models/lmtensormodel.h"
#include "ui/views/lmevaluateview.h"
#include "ui/views/lmgenerateview.h"
#include "ui/views/lminspectview.h"
#include "ui/views/lmoverview.h"

namespace cw::ui {

namespace {
const char kTabKey[] = "lmWorkspace/tab";
}

LmWorkspace::LmWorkspace(QWidget *parent) : QTabWidget(parent)
{
    setObjectName(QStringLiteral("lmWorkspace"));
    setDocumentMode(true);
    m_tensors = new LmTensorModel(this);
    m_overview = new LmOverview;
    m_inspect = new LmInspectView(m_tensors);
    m_evaluate = new LmEvaluateView;
    m_generate = new LmGenerateView;
    addTab(m_overview, tr("Overview"));
    addTab(m_inspect, tr("Inspect"));
    addTab(m_evaluate, tr("Evaluate"));
    addTab(m_generate, tr("Generate"));
    setCurrentIndex(QSettings().value(QLatin1String(kTabKey), 0).toInt());
    connect(this, &QTabWidget::currentChanged, this, [](int index) { QSettings().setValue(QLatin1String(kTabKey), index); });

    // One runner: an evaluation and a generation do not run at once.
    connect(m_evaluate, &LmEvaluateView::runningChanged, m_generate, [this](bool running) {
        m_generate->setBlockedReason(running ? tr("The model is busy evaluating; generate when it is done (or cancel it)")
                                             : QString());
    });
    connect(m_generate, &LmGenerateView::runningChanged, m_evaluate, [this](bool running) {
        m_evaluate->setBlockedReason(running ? tr("The model is busy generating; evaluate when it is done (or stop it)")
                                             : QString());
    });
    connect(m_evaluate, &LmEvaluateView::evaluated, this, [this](const PerplexityOutcome &outcome, const QString &text) {
        m_overview->setPerplexity(outcome, text);
        m_evaluationText = tr("Perplexity %1 on %2 · %3 tokens/s")
                               .arg(displayLocale().toString(outcome.result.perplexity, 'f', 3), text,
                                    displayLocale().toString(outcome.result.tokensPerSecond, 'f', 1));
        emit evaluationChanged();
    });
    connect(m_evaluate, &LmEvaluateView::finished, this,
            [this]() { emit logged(tr("perplexity: %1").arg(m_evaluate->statusText())); });
    connect(m_generate, &LmGenerateView::finished, this,
            [this]() { emit logged(tr("generate: %1").arg(m_generate->statusText())); });
}

void LmWorkspace::setModel(LanguageModelPtr model, const QString &displayName, qint64 fileSize)
{
    m_model = std::move(model);
    m_evaluationText.clear();
    m_tensors->setModel(m_model.get());
    m_overview->setModel(m_model.get(), displayName, fileSize, m_tensors);
    m_inspect->setModel(m_model);
    m_evaluate->setModel(m_model);
    m_generate->setModel(m_model);
    emit evaluationChanged();
}

bool LmWorkspace::evaluate()
{
    setCurrentWidget(m_evaluate);
    return m_evaluate->evaluate();
}

bool LmWorkspace::showInspect(const QString &tensor)
{
    if (!m_inspect->selectTensor(tensor))
        return false;
    setCurrentWidget(m_inspect);
    return true;
}

bool LmWorkspace::isRunning() const
{
    return m_evaluate->isRunning() || m_generate->isRunning();
}

void LmWorkspace::cancelAll()
{
    m_evaluate->cancel();
    m_generate->stop();
}

QString LmWorkspace::evaluationStatusText() const
{
    return m_evaluationText;
}

} // namespace cw::ui
