// RecipeTableModel: the per-layer configuration of a compression recipe as an editable table, with the
// predicted bytes and proxy error of each layer (core/compress/allocate.h).
//
// One row per compressible layer (cw::planLayers, execution order). Columns: layer, op, parameters, pruning
// (none / magnitude / 2:4 / 4:8 / channel; a layer channel pruning would leave whole says so, with the reason
// as tooltip), ratio, weight bits (float, 8 … 2), granularity (tensor, channel,
// group 32 / 64 / 128), arithmetic with 8-bit activations (auto / integer / float: whether the layer runs on integer
// kernels; auto shows what the quantizer picks), skip (a check box), predicted bytes and SQNR of the weight. The model never changes
// the recipe itself: setData() works out the recipe the edit would give and emits editRequested(recipe,
// description); the owner pushes that onto its QUndoStack, whose commands call setRecipe(). So every edit
// — in place, global, or allocated — is one undoable step.
//
// Predictions are recomputed on setRecipe() for the layers whose settings changed (a cache keyed by the
// layer's settings); a layer's prediction is a fake-quantization of one weight, milliseconds on the GUI
// thread for the demo models.
#pragma once

#include <QAbstractTableModel>
#include <QStringList>
#include <QStyledItemDelegate>

#include <map>
#include <string>
#include <vector>

#include "core/compress/allocate.h"
#include "core/compress/recipe.h"
#include "core/graph/graph.h"

namespace cw::ui {

class RecipeTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Layer, Op, Params, Prune, Ratio, Bits, Granularity, Arithmetic, Skip, Bytes, Sqnr, ColumnCount };
    // Editor choices for a combo-box column (QStringList; the display texts).
    static constexpr int OptionsRole = Qt::UserRole + 1;
    static constexpr int SortRole = Qt::UserRole + 2;

    explicit RecipeTableModel(QObject *parent = nullptr);

    // `model`: the compressionForm (core/compress/recipe.h) of `stored`, the model as saved, which sizes the
    // bytes now; both must outlive their use here (the owner keeps them); nullptr clears the table.
    void setModel(const cw::Model *model, const cw::Model *stored = nullptr);
    // Replaces the recipe (called by the undo commands); recomputes the plan and the predictions.
    void setRecipe(const cw::Recipe &recipe);
    const cw::Recipe &recipe() const { return m_recipe; }
    const std::vector<cw::LayerPlan> &plan() const { return m_plan; }
    const cw::ModelPrediction &prediction() const { return m_prediction; }
    int rowOfLayer(const QString &name) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    bool setData(const QModelIndex &index, const QVariant &value, int role = Qt::EditRole) override;

    // The recipe with one layer's settings replaced (an override that equals the defaults is dropped).
    static cw::Recipe withLayer(const cw::Recipe &recipe, const std::string &node, const cw::LayerConfig &config);
    // Drops overrides that say the same as the defaults.
    static void compact(cw::Recipe &recipe);
    static bool sameConfig(const cw::LayerConfig &a, const cw::LayerConfig &b);
    static QString pruneText(const std::optional<cw::PruneConfig> &prune);
    static QString bitsText(const std::optional<cw::QuantSpec> &weights);
    static QString granularityText(const cw::QuantSpec &spec);

signals:
    void editRequested(const cw::Recipe &recipe, const QString &description);
    void predictionChanged();

private:
    void recompute();
    // The layer's arithmetic with the recipe's 8-bit activations: whether it applies (activations on, the layer's
    // weights quantized), whether the layer runs on integer kernels, and why not.
    struct LayerArithmetic {
        bool applies = false, integer = false;
        bool byFloor = false; // left to the recipe's fidelity floor (core/compress/integer_fallback.h)
        QString why;
    };
    LayerArithmetic arithmetic(const cw::LayerPlan &p) const;

    const cw::Model *m_model = nullptr;
    const cw::Model *m_stored = nullptr;
    cw::Recipe m_recipe;
    std::vector<cw::LayerPlan> m_plan;
    cw::ModelPrediction m_prediction;
    std::map<std::string, cw::LayerPrediction> m_cache; // node + settings -> prediction
    // Per row: why channel pruning would leave the layer whole (cw::channelPruneObstacle), "" otherwise. Such a
    // row shows "channel (left whole)" with the reason as tooltip, and is predicted unpruned.
    std::vector<QString> m_obstacles;
};

// In-place editors for the table: combo boxes for pruning, bits and granularity (committing on selection),
// a spin box for the ratio.
class RecipeDelegate : public QStyledItemDelegate {
    Q_OBJECT
public:
    using QStyledItemDelegate::QStyledItemDelegate;
    QWidget *createEditor(QWidget *parent, const QStyleOptionViewItem &option, const QModelIndex &index) const override;
    void setEditorData(QWidget *editor, const QModelIndex &index) const override;
    void setModelData(QWidget *editor, QAbstractItemModel *model, const QModelIndex &index) const override;
};

} // namespace cw::ui

Q_DECLARE_METATYPE(cw::Recipe)
