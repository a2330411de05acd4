// LmSensitivityView: which weight matrices of a language model suffer most from quantization or pruning —
// cw::lm::analyzeSensitivity through an LmSensitivityJob, the computation `cwb sensitivity` makes on a language
// model: each matrix of the blocks alone quantized or magnitude-pruned, the rest unchanged, the perplexity of the
// first chunks of a text against the unchanged model's.
//
// Controls: the text (LmTextCombo, as Evaluate offers it), chunks per trial (the model's default context each),
// the bit-widths to try (8, 6, 4, 3, 2), the granularity (one scale per tensor, per row, or per group of 32 along
// a row), pruning ratios (comma-separated fractions, none by default) and llama.cpp formats (q6_k, q4_k, …; none
// by default). Run starts the job with a progress bar; Cancel (or Escape) stops it between measurements, the
// weights restored; Run on Cluster… writes the same sweep as a plan and a Slurm job (MainWindow, ClusterDialog), and
// File → Import Results shows the merged parts here. The result: the base perplexity, a heatmap of the relative
// perplexity change (%) with a row per tensor in block order and a column per setting, and a sortable table of
// every trial. The settings are remembered.
//
// A sweep over formats can be mixed to a bit budget (cw::lm::allocateFormats): a target in bits per weight and the
// matrices to keep at their largest format (name patterns, "blk.0.*"); each change shows the allocation — its bits
// per weight and predicted perplexity increase, the chosen cells outlined on the heatmap — and Compress with This
// Mix hands it as a recipe to the Compress tab (recipeMade).
//
// The job changes the loaded weights while it runs: the workspace keeps Evaluate and Generate off meanwhile, and
// this view off while they run (LmJobView::setBlockedReason).
#pragma once

#include <optional>
#include <vector>

#include "core/cluster/sweep.h"
#include "core/compress/recipe.h"
#include "core/lm/allocate.h"
#include "ui/views/lmjobview.h"

class QCheckBox;
class QComboBox;
class QCPItemRect;
class QDoubleSpinBox;
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
    // llama.cpp formats, e.g. "q6_k, q4_k, q2_k"; "" for none.
    void setFormatsText(const QString &text);
    // The options the controls describe (ctx 0: the model's default); false with the reason when they do not parse.
    bool options(cw::lm::SensitivityOptions &out, QString &error) const;

    // Starts an LmSensitivityJob with the controls' settings. False (the reason in statusText()) without a model or
    // tokenizer, while a job runs or the runner is busy, without a text or a setting. finished(ok) follows.
    bool run();
    void cancel();
    // The form's sweep as a plan for a cluster (core/cluster/sweep.h); nullopt with the reason in the status line.
    std::optional<cw::cluster::SweepPlan> clusterPlan();
    // A sweep merged from a cluster's parts (File → Import Results), shown as if it had run here.
    void showImported(const cw::lm::SensitivityResult &result, const QString &textSpec);
    // A sweep from a reopened project.
    void restoreResult(const cw::lm::SensitivityResult &result, const QString &textSpec);
    // The text the shown result was measured on ("" without a result).
    QString resultText() const { return m_result ? m_resultText : QString(); }

    // The allocation of the result's formats to the target (nullopt: no result with formats, or the target is out
    // of reach, the reason beside it).
    void setTargetBitsPerWeight(double bitsPerWeight);
    void setTargetFileMiB(double mebibytes); // the budget as the exported GGUF file's size
    void setLockText(const QString &patterns); // comma-separated tensor name patterns (* and ?)
    const std::optional<cw::lm::FormatAllocation> &allocation() const { return m_allocation; }
    // Emits recipeMade with the allocation as a recipe; false (the reason in the status line) without one.
    bool useAllocation();

    LmSensitivityJob *job() const { return qobject_cast<LmSensitivityJob *>(currentJob()); }
    const std::optional<LmSensitivityOutcome> &result() const { return m_result; }
    QString basePerplexityText() const;

    LmTextCombo *textCombo() const { return m_textCombo; }
    QSpinBox *chunksSpin() const { return m_chunksSpin; }
    QComboBox *granularityCombo() const { return m_granularity; }
    QLineEdit *pruneEdit() const { return m_pruneEdit; }
    QLineEdit *formatsEdit() const { return m_formatsEdit; }
    QCheckBox *blocksBox() const { return m_blocksBox; }
    QDoubleSpinBox *targetSpin() const { return m_target; }
    QComboBox *targetUnitCombo() const { return m_targetUnit; }
    QLineEdit *lockEdit() const { return m_lockEdit; }
    QLabel *allocationLabel() const { return m_allocationLabel; }
    QPushButton *useButton() const { return m_use; }
    QPushButton *clusterButton() const { return m_cluster; }
    const std::vector<QCPItemRect *> &choiceMarks() const { return m_marks; }
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

signals:
    void recipeMade(const cw::Recipe &recipe);
    void clusterRequested();
    // A new result: run here, imported or restored.
    void resultChanged();

private:
    void buildUi();
    void showResult(const LmSensitivityOutcome &outcome);
    void setResult(const cw::lm::SensitivityResult &result, const QString &textSpec);
    void clearResult();
    void updateControls() override;
    void writeSettings();
    void updateAllocation();
    void applyTargetUnit(); // the spin box for the chosen unit, with its value

    std::optional<LmSensitivityOutcome> m_result;
    QString m_resultText; // its text spec
    bool m_formatsSwept = false; // it tried formats (what a mix chooses among)
    std::optional<cw::lm::FormatAllocation> m_allocation;
    QStringList m_tensors, m_settings; // the heatmap's rows and columns
    bool m_loading = false;

    LmTextCombo *m_textCombo = nullptr;
    QSpinBox *m_chunksSpin = nullptr;
    std::vector<QCheckBox *> m_bitBoxes; // as kBitChoices
    QComboBox *m_granularity = nullptr;
    QLineEdit *m_pruneEdit = nullptr;
    QLineEdit *m_formatsEdit = nullptr;
    QDoubleSpinBox *m_target = nullptr;
    QComboBox *m_targetUnit = nullptr; // bits per weight, or MiB of the file
    QCheckBox *m_blocksBox = nullptr;  // whole blocks too
    double m_targetBpw = 4.5, m_targetMiB = 0;
    QLineEdit *m_lockEdit = nullptr;
    QLabel *m_allocationLabel = nullptr;
    QPushButton *m_use = nullptr;
    QPushButton *m_cluster = nullptr;
    std::vector<QCPItemRect *> m_marks; // the allocation's cells on the heatmap
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
