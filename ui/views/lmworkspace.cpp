#include "ui/views/lmworkspace.h"

#include <QSettings>

#include "ui/formatting.h"
#include "ui/models/lmtensormodel.h"
#include "ui/views/lmcompressview.h"
#include "ui/views/lmevaluateview.h"
#include "ui/views/lmgenerateview.h"
#include "ui/views/lminspectview.h"
#include "ui/views/lmoverview.h"
#include "ui/views/lmsensitivityview.h"

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
    m_sensitivity = new LmSensitivityView;
    m_evaluate = new LmEvaluateView;
    m_generate = new LmGenerateView;
    m_compress = new LmCompressView;
    addTab(m_overview, tr("Overview"));
    addTab(m_inspect, tr("Inspect"));
    addTab(m_sensitivity, tr("Sensitivity"));
    addTab(m_evaluate, tr("Evaluate"));
    addTab(m_generate, tr("Generate"));
    addTab(m_compress, tr("Compress"));
    setCurrentIndex(QSettings().value(QLatin1String(kTabKey), 0).toInt());
    connect(this, &QTabWidget::currentChanged, this, [](int index) { QSettings().setValue(QLatin1String(kTabKey), index); });

    // One runner: an analysis, an evaluation and a generation do not run at once.
    takeTurns(m_sensitivity, tr("analysing sensitivity"));
    takeTurns(m_evaluate, tr("evaluating"));
    takeTurns(m_generate, tr("generating"));
    takeTurns(m_compress, tr("compressing a copy"));
    connect(m_evaluate, &LmEvaluateView::evaluated, this, [this](const PerplexityOutcome &outcome, const QString &text) {
        m_overview->setPerplexity(outcome, text);
        m_evaluationText = tr("Perplexity %1 on %2 · %3 tokens/s")
                               .arg(displayLocale().toString(outcome.result.perplexity, 'f', 3), text,
                                    displayLocale().toString(outcome.result.tokensPerSecond, 'f', 1));
        emit evaluationChanged();
    });
    connect(m_sensitivity, &LmSensitivityView::resultChanged, this, &LmWorkspace::projectChanged);
    connect(m_compress, &LmCompressView::variantsChanged, this, &LmWorkspace::projectChanged);
    connect(m_sensitivity, &LmSensitivityView::recipeMade, this, [this](const cw::Recipe &recipe) {
        m_compress->setRecipe(recipe);
        setCurrentWidget(m_compress);
    });
    connect(m_sensitivity, &LmSensitivityView::finished, this,
            [this]() { emit logged(tr("sensitivity: %1").arg(m_sensitivity->statusText())); });
    connect(m_evaluate, &LmEvaluateView::finished, this,
            [this]() { emit logged(tr("perplexity: %1").arg(m_evaluate->statusText())); });
    connect(m_generate, &LmGenerateView::finished, this,
            [this]() { emit logged(tr("generate: %1").arg(m_generate->statusText())); });
    connect(m_compress, &LmCompressView::finished, this,
            [this]() { emit logged(tr("compress: %1").arg(m_compress->statusText())); });
}

void LmWorkspace::takeTurns(LmJobView *view, const QString &doing)
{
    connect(view, &LmJobView::runningChanged, this, [this, view, doing](bool running) {
        const QString reason =
            running ? tr("The model is busy %1; wait until it is done (or cancel it)").arg(doing) : QString();
        for (LmJobView *other : std::initializer_list<LmJobView *>{m_sensitivity, m_evaluate, m_generate, m_compress})
            if (other != view)
                other->setBlockedReason(reason);
    });
}

void LmWorkspace::setModel(LanguageModelPtr model, const QString &displayName, qint64 fileSize)
{
    m_model = std::move(model);
    m_evaluationText.clear();
    m_tensors->setModel(m_model.get());
    m_overview->setModel(m_model.get(), displayName, fileSize, m_tensors);
    m_inspect->setModel(m_model);
    m_sensitivity->setModel(m_model);
    m_evaluate->setModel(m_model);
    m_generate->setModel(m_model);
    m_compress->setModel(m_model);
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
    return m_sensitivity->isRunning() || m_evaluate->isRunning() || m_generate->isRunning() ||
           m_compress->isRunning();
}

void LmWorkspace::cancelAll()
{
    m_sensitivity->cancel();
    m_evaluate->cancel();
    m_generate->stop();
    m_compress->cancel();
}

QString LmWorkspace::evaluationStatusText() const
{
    return m_evaluationText;
}

cw::LmProject LmWorkspace::project(cw::LmProject base) const
{
    base.sensitivity.reset();
    base.sensitivityText.clear();
    if (const auto &r = m_sensitivity->result()) {
        base.sensitivity = r->result;
        base.sensitivityText = m_sensitivity->resultText().toStdString();
    }
    base.variants = m_compress->projectVariants();
    return base;
}

void LmWorkspace::restoreProject(const cw::LmProject &project)
{
    if (project.sensitivity)
        m_sensitivity->restoreResult(*project.sensitivity, QString::fromStdString(project.sensitivityText));
    m_compress->restoreVariants(project.variants);
}

} // namespace cw::ui
