// LmWorkspace: what the window shows instead of the CNN views while a language model is open — four tabs over
// one cw::lm::LanguageModel: Overview (LmOverview), Inspect (LmInspectView, the tensor tree and one tensor's
// statistics), Evaluate (LmEvaluateView, perplexity on a text) and Generate (LmGenerateView). The tensor tree
// model is shared by the overview's chart and Inspect.
//
// Evaluate and Generate both load the weights into the runner, which one job at a time may do: while one runs,
// the other is off and says why. The tab in front is remembered.
#pragma once

#include <QTabWidget>

#include "ui/jobs/lmjobs.h"

namespace cw::ui {

class LmEvaluateView;
class LmGenerateView;
class LmInspectView;
class LmOverview;
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
    // An evaluation or a generation runs (a tensor's statistics, quick and read-only, do not count).
    bool isRunning() const;
    void cancelAll();
    // The last perplexity, for the status bar ("" before one).
    QString evaluationStatusText() const;

    LmOverview *overview() const { return m_overview; }
    LmInspectView *inspectView() const { return m_inspect; }
    LmEvaluateView *evaluateView() const { return m_evaluate; }
    LmGenerateView *generateView() const { return m_generate; }
    LmTensorModel *tensorModel() const { return m_tensors; }

signals:
    void evaluationChanged();
    void logged(const QString &line); // what the evaluations and generations said when they ended

private:
    LanguageModelPtr m_model;
    QString m_evaluationText;
    LmTensorModel *m_tensors = nullptr;
    LmOverview *m_overview = nullptr;
    LmInspectView *m_inspect = nullptr;
    LmEvaluateView *m_evaluate = nullptr;
    LmGenerateView *m_generate = nullptr;
};

} // namespace cw::ui
