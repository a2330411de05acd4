// SummaryPanel: the model at a glance (file, op count, parameters, bytes, opset, producer, metadata such
// as architecture / dataset / accuracy) and the last evaluation result; or a notice when no model is open.
#pragma once

#include <QString>
#include <QTextBrowser>

#include <optional>

#include "core/analysis/evaluate.h"
#include "core/graph/graph.h"

namespace cw::ui {

struct EvaluationSummary {
    cw::EvalResult result;
    QString dataset;   // as shown to the user ("Fashion-MNIST test set", a file name)
    qint64 elapsedMs = 0;
};

class SummaryPanel : public QTextBrowser {
    Q_OBJECT
public:
    explicit SummaryPanel(QWidget *parent = nullptr);

    // fileSize < 0 when the model has no file (built-in demo).
    // The window's model (the document's base), not a copy: valid until the next setModel or setNotice.
    void setModel(const cw::Model *model, const QString &displayName, qint64 fileSize);
    void setEvaluation(const std::optional<EvaluationSummary> &evaluation);
    // Shown instead of a model (no model open, the demo is missing, ...).
    void setNotice(const QString &title, const QString &text);

private:
    void render();

    const cw::Model *m_model = nullptr;
    QString m_displayName;
    qint64 m_fileSize = -1;
    std::optional<EvaluationSummary> m_evaluation;
    QString m_noticeTitle, m_noticeText;
};

} // namespace cw::ui
