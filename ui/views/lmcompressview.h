// LmCompressView: the Compress tab of a language model — a recipe (core/lm/compress.h) made in a form and per tensor,
// run as an LmCompressJob, and the variants it made compared: what `cwb compress MODEL.gguf --recipe R.json
// --train-data TEXT --data TEXT -o OUT.gguf` computes, kept side by side.
//
// The form: pruning (none, magnitude, 2:4 magnitude, Wanda, SparseGPT; a ratio, or N:M), quantization (none, round to
// nearest, GPTQ, AWQ; bits, scale per row / group of 32, 64, 128 / tensor, symmetric), the storage format (one of
// llama.cpp's, or none), importance-weighted formats, fine-tuning on the calibration text (windows, passes, batch,
// learning rate; with the base model as teacher: temperature and α), the calibration text (LmTextCombo,
// the Brown corpus's training split by default; off for recipes that need none) with the tokens calibration reads,
// and the evaluation text with its chunk limit. Load / Save read
// and write recipe JSON (cw::loadRecipe / cw::saveRecipe). The per-tensor table (LmRecipeTableModel) shows each
// matrix's setting, storage type and predicted bytes, and takes overrides from its context menu (Store as ▸, Keep as
// stored); the predicted bits per weight over the matrices follow every edit.
//
// Run checks the recipe (cw::lm::validateLmRecipe: a refusal is said in the status line), then the job opens a fresh
// copy of the checkpoint — the workspace's model, which the other tabs run, is never changed — measures the base
// once per evaluation setting (cached), compresses, and measures the variant's perplexity and speed. Cancel (Esc)
// stops between tensors or chunks and keeps the variants as they were. Each run adds a row to the variants table
// (recipe summary, bytes, bits per weight, perplexity and its change against the base, prompt and generation tokens
// per second) and a point to the chart of perplexity against bits per weight (the base a grey diamond, the Pareto
// points — no other point both smaller and better — joined and named) and, on a second tab, the selected variant's
// fine-tuning loss per step (drawn live while a run fine-tunes: the tab comes forward at its first step). Export… writes the selected variant as GGUF
// (its encoded tensors as measured: ExportGgufJob), Save Recipe… its recipe. Texts, chunks, calibration tokens and the last recipe
// folder are remembered.
#pragma once

#include <QString>

#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "core/cluster/sweep.h"
#include "core/compress/recipe.h"
#include "core/project/lm_project.h"
#include "ui/views/lmjobview.h"

class QCheckBox;
class QComboBox;
class QCustomPlot;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QStandardItemModel;
class QTableView;
class QTabWidget;

namespace cw::ui {

class LmRecipeTableModel;
class LmTextCombo;

class LmCompressView : public LmJobView {
    Q_OBJECT
public:
    // A measured variant: the compressed copy and what compressLanguageModel reported, with its measurements.
    struct Variant {
        QString name;
        cw::Recipe recipe;
        std::shared_ptr<cw::lm::LanguageModel> model;
        std::shared_ptr<const cw::lm::LmCompressResult> result;
        cw::lm::PerplexityResult perplexity;
        cw::lm::SpeedResult speed;
        double basePerplexity = 0;
        QString evaluation;     // the text's display name
        QString evaluationSpec; // the text as lm::loadText reads it
        cw::lm::SpeedResult baseSpeed;
        cw::Provenance provenance; // where and how it was made (the cwb command that makes it again)
    };
    // The unchanged model's measurements on one evaluation setting.
    struct Base {
        cw::lm::PerplexityResult perplexity;
        cw::lm::SpeedResult speed;
    };
    enum VariantColumn { NameColumn, RecipeColumn, BytesColumn, BpwColumn, PerplexityColumn, DeltaColumn,
                         PromptSpeedColumn, GenerationSpeedColumn, VariantColumnCount };
    // The prune and quantization choices of the form (their combos' item data).
    enum class Prune { None, Magnitude, NM, Wanda, SparseGpt, Channel, Heads, Block };
    enum class Quant { None, Rtn, Gptq, Awq };

    explicit LmCompressView(QWidget *parent = nullptr);
    ~LmCompressView() override;

    // Cancels a running job, forgets the variants and the cached base. nullptr: none.
    void setModel(LanguageModelPtr model);

    // The recipe the form and the table describe.
    cw::Recipe recipe() const;
    // Puts a recipe into the form and the table (its layer overrides as table overrides).
    void setRecipe(const cw::Recipe &recipe);
    bool loadRecipeFile(const QString &path); // false with the reason in the status line
    bool saveRecipeFile(const QString &path);

    void setCalibrationSpec(const QString &spec); // "" switches calibration off
    QString calibrationSpec() const;              // "" when off
    void setEvaluationSpec(const QString &spec);
    QString evaluationSpec() const;
    void setChunks(int chunks); // 0: all
    int chunks() const;
    void setImportance(bool on);

    // Starts the job with the form's recipe. False (the reason in statusText()) without a model or tokenizer, while
    // a job runs or the runner is busy, without an evaluation text, or when the core refuses the recipe.
    // finished(ok) follows.
    bool run();
    // The variant of a recipe computed by matrix on a cluster (cw::cluster::mergeLmMatrices of the parts the plan
    // made), measured by a job as the plan's cwb compress command measures (its evaluation text, --limit, --ctx) and
    // added like Run's; False (the reason in statusText()) as run() refuses. finished(ok) follows.
    bool measureImported(const cw::cluster::SweepPlan &plan, const cw::LmProjectVariant &assembled);
    void cancel();
    LmCompressJob *job() const { return qobject_cast<LmCompressJob *>(currentJob()); }
    // Writes the selected variant (the last one when none is selected) as GGUF through an ExportGgufJob;
    // exportFinished(ok) follows. False when there is no variant or an export runs.
    bool exportVariant(int index, const QString &path);
    bool isExporting() const;

    const std::vector<Variant> &variants() const { return m_variants; }
    // The variants as a language model's project holds them, and back (a reopened project: their model is the
    // workspace's, their encoded tensors the project's; the base row shows the last one's base measurements).
    std::vector<cw::LmProjectVariant> projectVariants() const;
    void restoreVariants(const std::vector<cw::LmProjectVariant> &variants);
    // Adds variants made elsewhere (a cluster's, File → Import Results) after those shown.
    void appendVariants(const std::vector<cw::LmProjectVariant> &variants);
    // The form's recipe as a plan for a cluster (an "lm-recipes" plan of one item: the cwb compress command of the
    // job Run would start); nullopt with the reason in the status line.
    std::optional<cw::cluster::SweepPlan> clusterPlan();
    QPushButton *clusterButton() const { return m_cluster; }
    const std::optional<Base> &base() const { return m_shownBase; }
    int selectedVariant() const; // -1: none (or the base row)

    LmRecipeTableModel *tensorModel() const { return m_tensors; }
    QTableView *tensorTable() const { return m_tensorTable; }
    QStandardItemModel *variantModel() const { return m_variantModel; }
    QTableView *variantTable() const { return m_variantTable; }
    QCustomPlot *chart() const { return m_chart; }
    // The selected variant's (else the last one's) training loss per fine-tuning step; empty for none.
    QCustomPlot *lossChart() const { return m_lossChart; }
    QComboBox *pruneCombo() const { return m_prune; }
    QDoubleSpinBox *ratioSpin() const { return m_ratio; }
    QCheckBox *nmBox() const { return m_nm; }
    QSpinBox *nSpin() const { return m_n; }
    QSpinBox *mSpin() const { return m_m; }
    QComboBox *quantCombo() const { return m_quant; }
    QSpinBox *bitsSpin() const { return m_bits; }
    QComboBox *granularityCombo() const { return m_granularity; }
    QCheckBox *symmetricBox() const { return m_symmetric; }
    QComboBox *formatCombo() const { return m_format; }
    QCheckBox *importanceBox() const { return m_importance; }
    QCheckBox *independentBox() const { return m_independent; }
    QCheckBox *calibrateBox() const { return m_calibrate; }
    QSpinBox *calibrationTokensSpin() const { return m_calibrationTokens; }
    QCheckBox *finetuneBox() const { return m_finetune; }
    QSpinBox *windowsSpin() const { return m_windows; }
    QSpinBox *epochsSpin() const { return m_epochs; }
    QSpinBox *batchSpin() const { return m_batch; }
    QDoubleSpinBox *lrSpin() const { return m_lr; }
    QCheckBox *teacherBox() const { return m_teacher; }
    QDoubleSpinBox *temperatureSpin() const { return m_temperature; }
    QDoubleSpinBox *alphaSpin() const { return m_alpha; }
    QLineEdit *nameEdit() const { return m_name; }
    QPushButton *runButton() const { return m_run; }
    QPushButton *cancelButton() const { return m_cancel; }
    QPushButton *exportButton() const { return m_export; }
    QProgressBar *progressBar() const { return m_progress; }
    QString predictionText() const;

signals:
    void exportFinished(bool ok, const QString &message);
    // A variant was added (a run) or the variants were replaced (restoreVariants).
    void variantsChanged();
    void clusterRequested();

private:
    void buildUi();
    QWidget *buildForm();
    void formChanged();
    void updateFormEnabled();
    void updatePrediction();
    void addVariant(Variant variant);
    void showVariants();
    void showChart();
    void showLossChart();
    void updateControls() override;
    // The job Run would start for the form; nullopt with the reason in the status line.
    std::optional<LmCompressParams> formParams();
    void writeSettings();
    void tensorMenu(const QPoint &pos);
    static QString baseKey(const LmCompressParams &params); // what m_bases holds the base's measurement by
    // Starts the job; `provenance`: a variant made on a cluster (measureImported), else this run's.
    void startCompress(LmCompressParams params, const std::optional<cw::Provenance> &provenance);
    void chooseAndLoad();
    void chooseAndSave();
    void chooseAndExport();
    void saveSelectedRecipe();

    bool m_loading = false;
    std::vector<Variant> m_variants;
    std::map<QString, Base> m_bases; // by evaluation text, context and chunks
    std::optional<Base> m_shownBase; // of the last run
    cw::Recipe m_loaded;             // what the form does not show (prune scope, activations ...), kept as loaded
    QPointer<Job> m_exportJob;

    QLineEdit *m_name = nullptr;
    QComboBox *m_prune = nullptr;
    QDoubleSpinBox *m_ratio = nullptr;
    QCheckBox *m_nm = nullptr;
    QSpinBox *m_n = nullptr;
    QSpinBox *m_m = nullptr;
    QComboBox *m_quant = nullptr;
    QSpinBox *m_bits = nullptr;
    QComboBox *m_granularity = nullptr;
    QCheckBox *m_symmetric = nullptr;
    QComboBox *m_format = nullptr;
    QCheckBox *m_importance = nullptr;
    QCheckBox *m_independent = nullptr; // the recipe is not sequential
    QCheckBox *m_calibrate = nullptr;
    LmTextCombo *m_calibration = nullptr;
    QSpinBox *m_calibrationTokens = nullptr;
    QCheckBox *m_finetune = nullptr;
    QSpinBox *m_windows = nullptr;
    QSpinBox *m_epochs = nullptr;
    QSpinBox *m_batch = nullptr;
    QDoubleSpinBox *m_lr = nullptr;
    QCheckBox *m_teacher = nullptr;
    QDoubleSpinBox *m_temperature = nullptr;
    QDoubleSpinBox *m_alpha = nullptr;
    LmTextCombo *m_evaluation = nullptr;
    QSpinBox *m_chunks = nullptr;
    QLabel *m_prediction = nullptr;
    QPushButton *m_run = nullptr;
    QPushButton *m_cancel = nullptr;
    QProgressBar *m_progress = nullptr;
    LmRecipeTableModel *m_tensors = nullptr;
    QTableView *m_tensorTable = nullptr;
    QStandardItemModel *m_variantModel = nullptr;
    QTableView *m_variantTable = nullptr;
    QPushButton *m_export = nullptr;
    QPushButton *m_cluster = nullptr;
    QPushButton *m_saveVariantRecipe = nullptr;
    QCustomPlot *m_chart = nullptr;
    QCustomPlot *m_lossChart = nullptr;
    QTabWidget *m_charts = nullptr;
    // The running job's fine-tuning loss so far (drawn live on the loss chart), its recipe's name and step count.
    std::vector<double> m_liveLoss;
    QString m_liveName;
    int64_t m_liveSteps = 0;
};

} // namespace cw::ui
