// LmEvaluateView: the perplexity of a language model on a text, as llama.cpp's llama-perplexity computes it
// (cw::lm::perplexity through a PerplexityJob, the same computation as `cwb perplexity`).
//
// Controls: the text (LmTextCombo: the Brown corpus's held-out split, a text file chosen by the user, or one of the
// recent ones), the context (tokens per chunk; the model's default from
// cw::lm::defaultPerplexityOptions) and the number of chunks (0: every whole chunk). Evaluate runs the job with a
// progress bar (reading the text, the weights, then chunk by chunk); Cancel (or Escape) stops it between chunks.
// The result: perplexity, mean negative log-likelihood, tokens scored, tokens per second, time, and a chart of the
// running perplexity after each chunk, the final value dashed. Text, context and chunks are remembered.
#pragma once

#include <map>
#include <optional>

#include "core/cluster/sweep.h"
#include "ui/views/lmjobview.h"

class QCustomPlot;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace cw::ui {

class LmTextCombo;

class LmEvaluateView : public LmJobView {
    Q_OBJECT
public:
    explicit LmEvaluateView(QWidget *parent = nullptr);

    // Cancels a running evaluation and clears the result. nullptr: none.
    void setModel(LanguageModelPtr model);

    // The text (LmTextCombo): "brown:heldout" or a path to a UTF-8 text file (added to the recent ones).
    void setTextSpec(const QString &spec);
    QString textSpec() const;
    void setContext(int tokens);
    int context() const;
    void setChunks(int chunks); // 0: all
    int chunks() const;

    // Starts a PerplexityJob with the controls' settings. False (the reason in statusText()) without a model or
    // tokenizer, while a job runs or the runner is busy, or without a text. finished(ok) follows: ok when it
    // succeeded, false when it failed or was cancelled.
    bool evaluate();
    void cancel();
    PerplexityJob *job() const { return qobject_cast<PerplexityJob *>(currentJob()); }
    const std::optional<PerplexityOutcome> &result() const { return m_result; }
    // The controls' perplexity as a plan for a cluster (an "lm-perplexity" plan: the cwb perplexity command, its
    // chunks in ranges; the text is tokenized to count them); nullopt with the reason in the status line.
    std::optional<cw::cluster::SweepPlan> clusterPlan();
    // The merged parts of such a plan (File → Import Results), shown as a result (no speed or time: the cluster's).
    void showImported(const cw::lm::PerplexityResult &result, int64_t ctx, const QString &textSpec, int parts);
    QPushButton *clusterButton() const { return m_cluster; }
    // A result value as shown ("Perplexity", "NLL", "Scored", "Speed", "Time").
    QString valueText(const QString &label) const;

    LmTextCombo *textCombo() const { return m_textCombo; }
    QSpinBox *contextSpin() const { return m_contextSpin; }
    QSpinBox *chunksSpin() const { return m_chunksSpin; }
    QPushButton *evaluateButton() const { return m_run; }
    QPushButton *cancelButton() const { return m_cancel; }
    QProgressBar *progressBar() const { return m_progress; }
    QCustomPlot *chart() const { return m_chart; }

signals:
    // After a successful run (or an import): the outcome and the text's display name.
    void evaluated(const PerplexityOutcome &outcome, const QString &text);
    void clusterRequested();

private:
    void buildUi();
    void showResult(const PerplexityOutcome &outcome);
    void clearResult();
    void updateControls() override;
    void writeSettings();

    std::optional<PerplexityOutcome> m_result;
    bool m_loading = false;

    LmTextCombo *m_textCombo = nullptr;
    QSpinBox *m_contextSpin = nullptr;
    QSpinBox *m_chunksSpin = nullptr;
    QPushButton *m_run = nullptr;
    QPushButton *m_cancel = nullptr;
    QPushButton *m_cluster = nullptr;
    QProgressBar *m_progress = nullptr;
    std::map<QString, QLabel *> m_values;
    QCustomPlot *m_chart = nullptr;
};

} // namespace cw::ui
