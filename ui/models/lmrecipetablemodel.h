// LmRecipeTableModel: a language-model recipe (core/lm/compress.h) per weight matrix, with the storage each matrix
// would get and its predicted bytes — what cw::lm::compressLanguageModel will report, before it runs.
//
// One row per weight matrix of the blocks, in file order, then the token embedding and the output head when the
// checkpoint has them (tied heads have none). Columns: tensor, role, block, parameters, setting (the effective
// settings, cw::layerSettingsLabel; "as stored" when nothing applies), stored type (the recipe's format after
// llama-quantize's fallback for rows that are not whole blocks, cw::ggml::fallbackType; F16 for a grid without a
// format; the checkpoint's float type for a matrix only pruned; the checkpoint's type when unchanged) and bytes.
//
// The recipe is the form's defaults (setDefaults) plus per-tensor overrides, which the table edits:
//   format    "Store as ▸ Q6_K": the defaults with this storage format (the embedding and the output head: round to
//             nearest in the format, nothing pruned — the methods that read activations apply to block matrices only);
//   locked    "Keep as stored": skip, the tensor exactly as the checkpoint has it;
//   custom    an override of a loaded recipe that is neither, kept as it is.
// Format and lock overrides follow the defaults as they change. recipe() is the defaults with the overrides as
// merged layer settings, exactly what recipeFromJson reads back from its JSON; setRecipe() splits a recipe the
// same way (overrides of tensors the table does not list are kept and passed on, for validateLmRecipe to judge).
#pragma once

#include <QAbstractTableModel>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/compress/recipe.h"
#include "core/lm/model.h"

namespace cw::ui {

class LmRecipeTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Tensor, Role, Block, Params, Setting, Type, Bytes, ColumnCount };
    static constexpr int SortRole = Qt::UserRole + 1;

    // The storage formats offered per tensor ("f16", "q8_0" ... "q2_k"), widest first.
    static const QStringList &formatChoices();

    explicit LmRecipeTableModel(QObject *parent = nullptr);

    // The model must outlive its use here (the workspace keeps it); nullptr clears the table and the overrides.
    void setModel(const cw::lm::LanguageModel *model);
    // The form's recipe (its layers are ignored): the overrides follow it.
    void setDefaults(const cw::Recipe &defaults);
    // A whole recipe: its settings become the defaults, its layers the overrides.
    void setRecipe(const cw::Recipe &recipe);
    cw::Recipe recipe() const;

    int rowOfTensor(const QString &name) const;
    QString tensorName(int row) const;
    // Overrides by row. A format of formatChoices() (lower case); "" clears the override.
    void setFormatOverride(int row, const QString &format);
    void setLocked(int row, bool locked);
    void clearOverride(int row);
    void clearOverrides();
    bool isLocked(int row) const;
    QString formatOverride(int row) const; // "" when none
    int overrideCount() const;

    // The prediction for a row: ggml type name and bytes as stored.
    QString predictedType(int row) const;
    uint64_t predictedBytes(int row) const;
    int64_t rowParams(int row) const;
    // Over the table's matrices: Σ bytes · 8 / Σ values.
    double predictedBitsPerWeight() const;
    uint64_t predictedMatrixBytes() const;
    // The whole checkpoint as stored with the recipe (vectors and tensors outside the table as they are).
    uint64_t predictedModelBytes() const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // Two layer settings alike (as their JSON says them).
    static bool sameConfig(const cw::LayerConfig &a, const cw::LayerConfig &b);

signals:
    // Any change of the prediction: defaults, overrides, model.
    void predictionChanged();

private:
    struct Row {
        const cw::lm::LanguageModel::TensorEntry *entry = nullptr;
        enum class Override { None, Format, Locked, Custom } kind = Override::None;
        std::string format;              // Format
        cw::LayerConfig custom;          // Custom
        // Derived (recompute):
        std::optional<cw::LayerConfig> config; // effective settings; nullopt: as stored
        uint32_t type = 0;
        std::string typeName, fallbackNote;
        uint64_t bytes = 0;
    };
    std::optional<cw::LayerConfig> overrideConfig(const Row &row) const;
    void recompute();
    void rowsChanged();

    const cw::lm::LanguageModel *m_model = nullptr;
    cw::Recipe m_defaults;                            // without layers
    std::map<std::string, cw::LayerConfig> m_foreign; // overrides of tensors not in the table
    std::vector<Row> m_rows;
};

} // namespace cw::ui
