// LmOverview: a language model at a glance. Left, the facts: name, file, format, architecture, parameters and
// stored bytes (bits per weight, tensor types); the shape of the network (vocabulary and tokenizer, context,
// embedding, blocks, heads / key-value heads, feed-forward, norm and rotary settings); the last perplexity
// measured; how the workbench trained it (the workbench.* keys cwb train-lm writes: command, seed, corpus, held-out
// perplexity); and the rest of the checkpoint's metadata (GGUF keys or config.json's). Right, where the parameters are: a stacked bar per group of the tensor tree
// (embeddings, each block, output), split into attention, MLP, norms and embeddings / head.
#pragma once

#include <QWidget>

#include <optional>

#include "core/lm/model.h"
#include "ui/jobs/lmjobs.h"

class QCustomPlot;
class QTextBrowser;

namespace cw::ui {

class LmTensorModel;

class LmOverview : public QWidget {
    Q_OBJECT
public:
    explicit LmOverview(QWidget *parent = nullptr);

    // The window's model (nullptr: none), shown under `displayName`; fileSize < 0 when it has no file of its own
    // (the built-in demo) or is a folder. `tensors` is the model's tensor tree (the bars follow its groups).
    void setModel(const cw::lm::LanguageModel *model, const QString &displayName, qint64 fileSize,
                  const LmTensorModel *tensors);
    // The last perplexity measured on the model (shown under "Evaluation"); nullopt clears it.
    void setPerplexity(const std::optional<PerplexityOutcome> &outcome, const QString &text);

    QTextBrowser *text() const { return m_text; }
    QCustomPlot *chart() const { return m_chart; }
    // The rows of the facts table as shown (label → plain text), for tests.
    QString value(const QString &label) const;

private:
    void render();
    void updateChart(const LmTensorModel *tensors);

    QTextBrowser *m_text = nullptr;
    QCustomPlot *m_chart = nullptr;
    const cw::lm::LanguageModel *m_model = nullptr;
    QString m_displayName;
    qint64 m_fileSize = -1;
    std::optional<PerplexityOutcome> m_perplexity;
    QString m_perplexityText;
    QList<QPair<QString, QString>> m_rows; // the facts as shown
};

} // namespace cw::ui
