// LmWorkspace: what the window shows instead of the CNN views while a language model is open — five tabs over
// one cw::lm::LanguageModel: Overview (LmOverview), Inspect (LmInspectView, the tensor tree and one tensor's
// statistics), Sensitivity (LmSensitivityView, each matrix alone quantized or pruned), Evaluate (LmEvaluateView,
// perplexity on a text), Generate (LmGenerateView) and Compress (LmCompressView, recipes run on copies of the model
// and their variants compared). The tensor tree model is shared by the overview's chart and Inspect.
//
// Sensitivity, Evaluate and Generate all load the weights into the runner (and Sensitivity changes them while it
// runs), which one job at a time may do: while one runs, the others are off and say why. Compress works on a copy
// of its own, but takes its turn as well, so that the speeds it measures are not shared with another job. The tab in
// front is remembered.
//
// What the tabs made — the sensitivity sweep and the compressed variants — is a language model's project
// (cw::LmProject): project() collects it, restoreProject() shows a reopened one, projectChanged() says it changed.
#pragma once

#include <QTabWidget>

#include "ui/jobs/lmjobs.h"

namespace cw::ui {

class LmCompressView;
class LmEvaluateView;
class LmGenerateView;
class LmInspectView;
class LmJobView;
class LmOverview;
class LmSensitivityView;
class LmTensorModel;

class LmWorkspace : public QTabWidget {
    Q_OBJECT
public:
    explicit LmWorkspace(QWidget *parent = nullptr);

    // Stops what runs on the previous model. nullptr: none. fileSize < 0 when the model has no single file.
    void setModel(LanguageModelPtr model, const QString &displayName, qint64 fileSize);
    const LanguageModelPtr &model() const { return m_model; }

    // Shows Evaluate and starts a perplexity run with its settings (false with the reason in its status).
    bool evaluate();
    // Shows Inspect with the tensor selected; false when the model has no such tensor.
    bool showInspect(const QString &tensor);
    // A sensitivity analysis, an evaluation, a generation or a compression runs (a tensor's statistics, quick and read-only, do not count).
    bool isRunning() const;
    void cancelAll();
    // The last perplexity, for the status bar ("" before one).
    QString evaluationStatusText() const;
    // `base` (a project's base record, its sweep and variants ignored) with the tabs' sweep and variants.
    cw::LmProject project(cw::LmProject base) const;
    // Shows a reopened project's sweep and variants (the model must be its base, already set).
    void restoreProject(const cw::LmProject &project);

    LmOverview *overview() const { return m_overview; }
    LmInspectView *inspectView() const { return m_inspect; }
    LmSensitivityView *sensitivityView() const { return m_sensitivity; }
    LmEvaluateView *evaluateView() const { return m_evaluate; }
    LmGenerateView *generateView() const { return m_generate; }
    LmCompressView *compressView() const { return m_compress; }
    LmTensorModel *tensorModel() const { return m_tensors; }

signals:
    void evaluationChanged();
    // A variant was added, or a sensitivity sweep arrived (run, imported or restored).
    void projectChanged();
    void logged(const QString &line); // what the analyses, evaluations and generations said when they ended

private:
    // While `view` runs, the others are off, saying the model is busy `doing`.
    void takeTurns(LmJobView *view, const QString &doing);

    LanguageModelPtr m_model;
    QString m_evaluationText;
    LmTensorModel *m_tensors = nullptr;
    LmOverview *m_overview = nullptr;
    LmInspectView *m_inspect = nullptr;
    LmSensitivityView *m_sensitivity = nullptr;
    LmEvaluateView *m_evaluate = nullptr;
    LmGenerateView *m_generate = nullptr;
    LmCompressView *m_compress = nullptr;
};

} // namespace cw::ui
