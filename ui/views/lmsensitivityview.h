// LmSensitivityView: which weight matrices of a language model suffer most from quantization or pruning —
// cw::lm::analyzeSensitivity through an LmSensitivityJob, the computation `cwb sensitivity` makes on a language
// model: each matrix of the blocks alone quantized or magnitude-pruned, the rest unchanged, the perplexity of the
// first chunks of a text against the unchanged model's.
//
// Controls: the text (LmTextCombo, as Evaluate offers it), chunks per trial (the model's default context each),
// the bit-widths to try (8, 6, 4, 3, 2), the granularity (one scale per tensor, per row, or per group of 32 along
// a row), and pruning ratios (comma-separated fractions, none by default). Run starts the job with a progress bar;
// Cancel (or Escape) stops it between measurements, the weights restored. The result: the base perplexity, a
// heatmap of the relative perplexity change (%) with a row per tensor in block order and a column per setting, and
// a sortable table of every trial. The settings are remembered.
//
// The job changes the loaded weights while it runs: the workspace keeps Evaluate and Generate off meanwhile, and
// this view off while they run (LmJobView::setBlockedReason).
#pragma once

#include <optional>
#include <vector>

#include "ui/views/lmjobview.h"

class QCheckBox;
class QComboBox;
class QCPColorMap;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QStandardItemModel;
class QTableView;

namespace cw::ui {

class LmTextCombo;

class LmSensitivityView : public LmJobView {
    Q_OBJECT
public:
    static constexpr int kBitChoices[] = {8, 6, 4, 3, 2};

    explicit LmSensitivityView(QWidget *parent = nullptr);

    // Cancels a running analysis and clears the result. nullptr: none.
    void setModel(LanguageModelPtr model);

    void setTextSpec(const QString &spec);
    QString textSpec() const;
    void setChunks(int chunks);
    int chunks() const;
    void setBits(const std::vector<int> &bits); // of kBitChoices; others are ignored
    std::vector<int> bits() const;              // checked, widest first
    void setGranularity(cw::Granularity granularity);
    cw::Granularity granularity() const;
    // Fractions in (0, 1), e.g. "0.5, 0.7"; "" for none.
    void setPruneText(const QString &text);
    // The options the controls describe (ctx 0: the model's default); false with the reason when they do not parse.
    bool options(cw::lm::SensitivityOptions &out, QString &error) const;

    // Starts an LmSensitivityJob with the controls' settings. False (the reason in statusText()) without a model or
    // tokenizer, while a job runs or the runner is busy, without a text or a setting. finished(ok) follows.
    bool run();
    void cancel();
    LmSensitivityJob *job() const { return qobject_cast<LmSensitivityJob *>(currentJob()); }
    const std::optional<LmSensitivityOutcome> &result() const { return m_result; }
    QString basePerplexityText() const;

    LmTextCombo *textCombo() const { return m_textCombo; }
    QSpinBox *chunksSpin() const { return m_chunksSpin; }
    QComboBox *granularityCombo() const { return m_granularity; }
    QLineEdit *pruneEdit() const { return m_pruneEdit; }
    QPushButton *runButton() const { return m_run; }
    QPushButton *cancelButton() const { return m_cancel; }
    QProgressBar *progressBar() const { return m_progress; }
    QCustomPlot *heatmap() const { return m_heat; }
    QCPColorMap *colorMap() const { return m_map; }
    QTableView *table() const { return m_table; }
    QStandardItemModel *tableModel() const { return m_tableModel; }

    // The table's columns.
    enum Column { TensorColumn, BlockColumn, RoleColumn, SettingColumn, PerplexityColumn, DeltaColumn,
                  RelativeColumn, SqnrColumn, ColumnCount };

private:
    void buildUi();
    void showResult(const LmSensitivityOutcome &outcome);
    void clearResult();
    void updateControls() override;
    void writeSettings();

    std::optional<LmSensitivityOutcome> m_result;
    bool m_loading = false;

    LmTextCombo *m_textCombo = nullptr;
    QSpinBox *m_chunksSpin = nullptr;
    std::vector<QCheckBox *> m_bitBoxes; // as kBitChoices
    QComboBox *m_granularity = nullptr;
    QLineEdit *m_pruneEdit = nullptr;
    QPushButton *m_run = nullptr;
    QPushButton *m_cancel = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_base = nullptr;
    QCustomPlot *m_heat = nullptr;
    QCPColorMap *m_map = nullptr;
    QStandardItemModel *m_tableModel = nullptr;
    QTableView *m_table = nullptr;
};

} // namespace cw::ui
