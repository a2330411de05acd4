#include "ui/models/recipetablemodel.h"

#include <QBrush>
#include <QColor>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QPalette>

#include <cmath>

#include "core/compress/prune.h"
#include "core/compress/integer_fallback.h"
#include "core/compress/qrewrite.h"
#include "ui/formatting.h"

namespace cw::ui {

namespace {

const QStringList kPruneOptions = {QStringLiteral("none"), QStringLiteral("magnitude"), QStringLiteral("block"),
                                   QStringLiteral("2:4"),  QStringLiteral("4:8"),       QStringLiteral("channel")};
const QStringList kBitsOptions = {QStringLiteral("float"), QStringLiteral("8"), QStringLiteral("7"), QStringLiteral("6"),
                                  QStringLiteral("5"),     QStringLiteral("4"), QStringLiteral("3"), QStringLiteral("2")};
const QStringList kGranularityOptions = {QStringLiteral("tensor"), QStringLiteral("channel"), QStringLiteral("group 32"),
                                         QStringLiteral("group 64"), QStringLiteral("group 128")};
const QStringList kArithmeticOptions = {QStringLiteral("auto"), QStringLiteral("integer"), QStringLiteral("float")};

bool samePrune(const std::optional<cw::PruneConfig> &a, const std::optional<cw::PruneConfig> &b)
{
    if (a.has_value() != b.has_value())
        return false;
    if (!a)
        return true;
    return a->method == b->method && a->ratio == b->ratio && a->n == b->n && a->m == b->m && a->scope == b->scope &&
           a->norm == b->norm && a->steps == b->steps && a->power == b->power;
}

bool sameWeights(const std::optional<cw::QuantSpec> &a, const std::optional<cw::QuantSpec> &b)
{
    if (a.has_value() != b.has_value())
        return false;
    if (!a)
        return true;
    return a->bits == b->bits && a->granularity == b->granularity && a->symmetric == b->symmetric &&
           (a->granularity != cw::Granularity::Group || a->groupSize == b->groupSize);
}

std::string settingsKey(const cw::LayerPlan &p)
{
    std::string key = p.node + '|' + p.weight + '|' + (p.config.skip ? "skip" : "");
    if (p.config.prune) {
        const cw::PruneConfig &c = *p.config.prune;
        key += "|p" + std::to_string(int(c.method)) + ':' + std::to_string(c.ratio) + ':' + std::to_string(c.n) + ':' +
               std::to_string(c.m) + ':' + std::to_string(int(c.norm));
    }
    if (p.config.weights) {
        const cw::QuantSpec &q = *p.config.weights;
        key += "|q" + std::to_string(q.bits) + ':' + std::to_string(int(q.granularity)) + ':' +
               std::to_string(q.groupSize) + ':' + (q.symmetric ? "s" : "a");
    }
    return key;
}

} // namespace

RecipeTableModel::RecipeTableModel(QObject *parent) : QAbstractTableModel(parent) {}

void RecipeTableModel::setModel(const cw::Model *model, const cw::Model *stored)
{
    beginResetModel();
    m_model = model;
    m_stored = stored;
    m_cache.clear();
    m_recipe = cw::Recipe{};
    recompute();
    endResetModel();
    emit predictionChanged();
}

void RecipeTableModel::setRecipe(const cw::Recipe &recipe)
{
    m_recipe = recipe;
    const size_t before = m_plan.size();
    recompute();
    if (m_plan.size() != before) {
        beginResetModel();
        endResetModel();
    } else if (!m_plan.empty()) {
        emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1));
    }
    emit predictionChanged();
}

void RecipeTableModel::recompute()
{
    m_plan.clear();
    m_prediction = {};
    if (!m_model)
        return;
    m_plan = cw::planLayers(m_recipe, *m_model);
    m_obstacles.assign(m_plan.size(), {});
    std::vector<cw::LayerPrediction> layers;
    layers.reserve(m_plan.size());
    for (size_t i = 0; i < m_plan.size(); ++i) {
        cw::LayerPlan p = m_plan[i];
        if (!p.config.skip && p.config.prune && p.config.prune->method == cw::PruneMethod::Channel) {
            m_obstacles[i] = QString::fromStdString(cw::channelPruneObstacle(*m_model, p.node, m_plan));
            if (!m_obstacles[i].isEmpty())
                p.config.prune.reset(); // the job will leave it whole: predict that
        }
        const std::string key = settingsKey(p);
        auto it = m_cache.find(key);
        if (it == m_cache.end())
            it = m_cache.emplace(key, cw::predictLayer(*m_model, p)).first;
        layers.push_back(it->second);
    }
    m_prediction = cw::summarizePrediction(*m_model, std::move(layers), m_stored);
}

int RecipeTableModel::rowOfLayer(const QString &name) const
{
    const std::string n = name.toStdString();
    for (size_t i = 0; i < m_plan.size(); ++i)
        if (m_plan[i].node == n)
            return int(i);
    return -1;
}

int RecipeTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_plan.size());
}

int RecipeTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString RecipeTableModel::pruneText(const std::optional<cw::PruneConfig> &prune)
{
    if (!prune)
        return QStringLiteral("none");
    switch (prune->method) {
    case cw::PruneMethod::Magnitude:
        return prune->scope == cw::PruneScope::Global ? QStringLiteral("magnitude (global)") : QStringLiteral("magnitude");
    case cw::PruneMethod::NM:
        return QStringLiteral("%1:%2").arg(prune->n).arg(prune->m);
    case cw::PruneMethod::Channel:
        return QStringLiteral("channel");
    case cw::PruneMethod::Block:
        return QStringLiteral("block");
    case cw::PruneMethod::Wanda:
    case cw::PruneMethod::SparseGpt:
    case cw::PruneMethod::Heads:
        return QString::fromStdString(cw::pruneLabel(*prune));
    }
    return {};
}

QString RecipeTableModel::bitsText(const std::optional<cw::QuantSpec> &weights)
{
    return weights ? QString::number(weights->bits) : QStringLiteral("float");
}

QString RecipeTableModel::granularityText(const cw::QuantSpec &spec)
{
    QString text = spec.granularity == cw::Granularity::Tensor    ? QStringLiteral("tensor")
                   : spec.granularity == cw::Granularity::Channel ? QStringLiteral("channel")
                                                                  : QStringLiteral("group %1").arg(spec.groupSize);
    if (!spec.symmetric)
        text += QStringLiteral(" (asym)");
    return text;
}

RecipeTableModel::LayerArithmetic RecipeTableModel::arithmetic(const cw::LayerPlan &p) const
{
    LayerArithmetic a;
    a.applies = m_recipe.activations && p.config.weights && !p.config.skip;
    if (!a.applies || !m_model)
        return a;
    const cw::Graph &g = m_model->graph;
    const cw::Node *node = g.findNode(p.node);
    if (!node) {
        a.why = tr("it is inside an If / Loop / Scan subgraph");
        return a;
    }
    a.byFloor = m_recipe.activations->minSqnrDb && cw::fidelityFloorDecides(p, g);
    a.integer = a.byFloor || cw::runsOnIntegerKernels(*node, g, p.config);
    if (a.integer)
        return a;
    if (p.config.integer == false)
        a.why = tr("the recipe keeps it float");
    else if (const std::string why = cw::whyNotInteger(*node, g, p.config); !why.empty())
        a.why = QString::fromStdString(why);
    else
        a.why = tr("a 1-D convolution keeps float arithmetic unless asked: audio spans more loudness than the 48 dB "
                   "of an 8-bit grid (docs/models.md)");
    return a;
}

QVariant RecipeTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount())
        return {};
    const cw::LayerPlan &p = m_plan[size_t(index.row())];
    const cw::LayerConfig &c = p.config;
    const cw::LayerPrediction &pred = m_prediction.layers[size_t(index.row())];
    const int col = index.column();

    if (role == Qt::CheckStateRole && col == Skip)
        return c.skip ? Qt::Checked : Qt::Unchecked;
    if (role == OptionsRole) {
        if (col == Prune)
            return kPruneOptions;
        if (col == Bits)
            return kBitsOptions;
        if (col == Granularity)
            return kGranularityOptions;
        if (col == Arithmetic)
            return kArithmeticOptions;
        return {};
    }
    if (role == Qt::TextAlignmentRole)
        return col == Params || col == Ratio || col == Bits || col == Bytes || col == Sqnr
                   ? QVariant(Qt::AlignRight | Qt::AlignVCenter)
                   : QVariant(Qt::AlignLeft | Qt::AlignVCenter);
    if (role == Qt::ForegroundRole) {
        // Settings a skipped layer ignores, and cells that do not apply, are greyed.
        const bool inactive = (c.skip && col >= Prune && col <= Granularity) ||
                              (col == Ratio && (!c.prune || c.prune->method == cw::PruneMethod::NM)) ||
                              (col == Granularity && !c.weights) || (col == Arithmetic && !arithmetic(p).applies);
        if (inactive)
            return QBrush(QPalette().color(QPalette::Disabled, QPalette::Text));
        if (col == Prune && !m_obstacles[size_t(index.row())].isEmpty())
            return QBrush(QColor(0xb3, 0x5c, 0x00)); // a warning: the setting will not take effect
        return {};
    }
    if (role == Qt::ToolTipRole) {
        if (col == Bytes)
            return tr("Predicted %1 (now %2); %3 of %4 weights non-zero.\nA prediction: the job measures the saved "
                      "file.")
                .arg(formatBytes(pred.bytes), formatBytes(pred.floatBytes), formatCount(pred.nonzeros),
                     formatCount(pred.params));
        if (col == Sqnr)
            return tr("Proxy error of the weight after pruning and quantization: SQNR %1, relative error %2")
                .arg(std::isinf(pred.sqnrDb) ? QStringLiteral("∞") : QString::number(pred.sqnrDb, 'f', 1) + " dB",
                     formatPercent(pred.relativeError));
        if (col == Layer)
            return QString::fromStdString(p.node + " (" + p.weight + ")");
        if (col == Arithmetic) {
            const LayerArithmetic a = arithmetic(p);
            if (!a.applies)
                return tr("Float: the recipe has no 8-bit activations, or the layer's weights stay float");
            if (a.byFloor)
                return tr("Integer kernels unless the variant's first output (on the samples after the calibration "
                          "samples) falls below the fidelity floor (%1 dB): then the layers whose integer arithmetic "
                          "costs most go back to float arithmetic, until it holds")
                    .arg(*m_recipe.activations->minSqnrDb);
            return a.integer ? tr("Integer kernels on 8-bit activations (QLinearConv / QGemm)")
                             : tr("Float arithmetic behind the quantized weights: %1").arg(a.why);
        }
        if (col == Prune && !m_obstacles[size_t(index.row())].isEmpty())
            return tr("Channel pruning will leave this layer whole: %1.\nIts size and error are predicted "
                      "without pruning.")
                .arg(m_obstacles[size_t(index.row())]);
        return {};
    }
    if (role == SortRole) {
        switch (col) {
        case Params: return qint64(pred.params);
        case Bytes: return qint64(pred.bytes);
        case Sqnr: return std::isinf(pred.sqnrDb) ? 1e9 : pred.sqnrDb;
        default: break;
        }
        return data(index, Qt::DisplayRole);
    }
    if (role != Qt::DisplayRole && role != Qt::EditRole)
        return {};

    switch (col) {
    case Layer: return QString::fromStdString(p.node);
    case Op: return QString::fromStdString(p.op);
    case Params: return formatCount(pred.params);
    case Prune:
        return role == Qt::DisplayRole && !m_obstacles[size_t(index.row())].isEmpty()
                   ? tr("%1 (left whole)").arg(pruneText(c.prune))
                   : pruneText(c.prune);
    case Ratio:
        if (!c.prune)
            return role == Qt::EditRole ? QVariant(0.0) : QVariant(QStringLiteral("—"));
        if (c.prune->method == cw::PruneMethod::NM)
            return role == Qt::EditRole ? QVariant(1.0 - double(c.prune->n) / c.prune->m)
                                        : QVariant(QString::number(1.0 - double(c.prune->n) / c.prune->m, 'f', 2));
        return role == Qt::EditRole ? QVariant(c.prune->ratio) : QVariant(QString::number(c.prune->ratio, 'g', 3));
    case Bits: return bitsText(c.weights);
    case Granularity: return c.weights ? granularityText(*c.weights) : QStringLiteral("—");
    case Arithmetic: {
        if (role == Qt::EditRole)
            return c.integer ? kArithmeticOptions[*c.integer ? 1 : 2] : kArithmeticOptions[0];
        const LayerArithmetic a = arithmetic(p);
        if (!a.applies)
            return QStringLiteral("—");
        if (a.byFloor)
            return tr("auto: fidelity");
        const QString kind = a.integer ? tr("integer") : tr("float");
        return c.integer ? kind : tr("auto: %1").arg(kind);
    }
    case Skip: return {};
    case Bytes: return formatBytes(pred.bytes);
    case Sqnr:
        if (!pred.compressed)
            return QStringLiteral("—");
        return std::isinf(pred.sqnrDb) ? QStringLiteral("∞") : QString::number(pred.sqnrDb, 'f', 1) + QStringLiteral(" dB");
    default: break;
    }
    return {};
}

QVariant RecipeTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case Bytes: return tr("Predicted bytes of the weight as stored (the job measures the real file)");
        case Sqnr: return tr("Signal-to-quantization-noise ratio of the compressed weight (higher is better)");
        case Ratio:
            return tr("Pruning ratio: fraction of weights (magnitude), of blocks of 16 outputs (block) or of output "
                      "channels (channel) removed");
        case Skip: return tr("Leave this layer exactly as it is");
        case Arithmetic:
            return tr("With 8-bit activations: integer kernels or float arithmetic behind the quantized weights (auto: "
                      "the quantizer picks, or the fidelity floor decides)");
        default: return {};
        }
    }
    if (role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Layer: return tr("Layer");
    case Op: return tr("Op");
    case Params: return tr("Params");
    case Prune: return tr("Prune");
    case Ratio: return tr("Ratio");
    case Bits: return tr("Bits");
    case Granularity: return tr("Granularity");
    case Arithmetic: return tr("Arithmetic");
    case Skip: return tr("Skip");
    case Bytes: return tr("Predicted");
    case Sqnr: return tr("SQNR");
    default: return {};
    }
}

Qt::ItemFlags RecipeTableModel::flags(const QModelIndex &index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable;
    const cw::LayerConfig &c = m_plan[size_t(index.row())].config;
    switch (index.column()) {
    case Prune:
    case Bits: f |= Qt::ItemIsEditable; break;
    case Ratio:
        if (c.prune && c.prune->method != cw::PruneMethod::NM)
            f |= Qt::ItemIsEditable;
        break;
    case Granularity:
        if (c.weights)
            f |= Qt::ItemIsEditable;
        break;
    case Arithmetic:
        if (arithmetic(m_plan[size_t(index.row())]).applies)
            f |= Qt::ItemIsEditable;
        break;
    case Skip: f |= Qt::ItemIsUserCheckable; break;
    default: break;
    }
    return f;
}

bool RecipeTableModel::setData(const QModelIndex &index, const QVariant &value, int role)
{
    if (!index.isValid() || index.row() >= rowCount())
        return false;
    const cw::LayerPlan &p = m_plan[size_t(index.row())];
    cw::LayerConfig c = p.config;
    const QString layer = QString::fromStdString(p.node);
    QString description;
    const int col = index.column();
    if (col == Skip && role == Qt::CheckStateRole) {
        c.skip = value.toInt() == Qt::Checked;
        description = c.skip ? tr("Skip %1").arg(layer) : tr("Compress %1").arg(layer);
    } else if (role != Qt::EditRole) {
        return false;
    } else if (col == Prune) {
        const QString text = value.toString();
        if (!kPruneOptions.contains(text))
            return false;
        if (text == QLatin1String("none")) {
            c.prune.reset();
        } else {
            cw::PruneConfig prune = c.prune ? *c.prune : m_recipe.prune.value_or(cw::PruneConfig{});
            if (text == QLatin1String("magnitude")) {
                prune.method = cw::PruneMethod::Magnitude;
            } else if (text == QLatin1String("channel")) {
                prune.method = cw::PruneMethod::Channel;
            } else if (text == QLatin1String("block")) {
                prune.method = cw::PruneMethod::Block;
            } else {
                prune.method = cw::PruneMethod::NM;
                prune.n = text.section(':', 0, 0).toInt();
                prune.m = text.section(':', 1, 1).toInt();
            }
            if (prune.method != cw::PruneMethod::NM && !(prune.ratio > 0))
                prune.ratio = 0.5;
            c.prune = prune;
        }
        description = tr("Prune %1: %2").arg(layer, text);
    } else if (col == Ratio) {
        bool ok = false;
        const double ratio = value.toDouble(&ok);
        if (!ok || !c.prune || c.prune->method == cw::PruneMethod::NM || ratio < 0 || ratio > 0.95)
            return false;
        c.prune->ratio = ratio;
        description = tr("Ratio %1: %2").arg(layer, QString::number(ratio, 'g', 3));
    } else if (col == Bits) {
        const QString text = value.toString();
        if (!kBitsOptions.contains(text))
            return false;
        if (text == QLatin1String("float")) {
            c.weights.reset();
        } else {
            cw::QuantSpec spec = c.weights ? *c.weights : m_recipe.weights.value_or(cw::QuantSpec{});
            spec.bits = text.toInt();
            c.weights = spec;
        }
        description = tr("Bits %1: %2").arg(layer, text);
    } else if (col == Granularity) {
        const QString text = value.toString();
        if (!c.weights || !kGranularityOptions.contains(text))
            return false;
        if (text == QLatin1String("tensor")) {
            c.weights->granularity = cw::Granularity::Tensor;
        } else if (text == QLatin1String("channel")) {
            c.weights->granularity = cw::Granularity::Channel;
        } else {
            c.weights->granularity = cw::Granularity::Group;
            c.weights->groupSize = text.section(' ', 1, 1).toLongLong();
        }
        description = tr("Granularity %1: %2").arg(layer, text);
    } else if (col == Arithmetic) {
        const QString text = value.toString();
        const cw::Node *node = m_model ? m_model->graph.findNode(p.node) : nullptr;
        if (!kArithmeticOptions.contains(text) || !arithmetic(p).applies || !node)
            return false;
        if (text == QLatin1String("auto")) {
            c.integer.reset();
        } else {
            c.integer = text == QLatin1String("integer");
            if (*c.integer && !cw::whyNotInteger(*node, m_model->graph, c).empty())
                return false; // the tooltip says why
        }
        description = tr("Arithmetic %1: %2").arg(layer, text);
    } else {
        return false;
    }
    if (sameConfig(c, p.config))
        return false;
    emit editRequested(withLayer(m_recipe, p.node, c), description);
    return true;
}

bool RecipeTableModel::sameConfig(const cw::LayerConfig &a, const cw::LayerConfig &b)
{
    return a.skip == b.skip && a.integer == b.integer && samePrune(a.prune, b.prune) &&
           sameWeights(a.weights, b.weights);
}

cw::Recipe RecipeTableModel::withLayer(const cw::Recipe &recipe, const std::string &node, const cw::LayerConfig &config)
{
    cw::Recipe r = recipe;
    r.layers[node] = config;
    compact(r);
    return r;
}

void RecipeTableModel::compact(cw::Recipe &recipe)
{
    cw::LayerConfig defaults;
    defaults.prune = recipe.prune;
    defaults.weights = recipe.weights;
    for (auto it = recipe.layers.begin(); it != recipe.layers.end();) {
        if (sameConfig(it->second, defaults))
            it = recipe.layers.erase(it);
        else
            ++it;
    }
}

// ---------------------------------------------------------------------------------------------------
// Delegate

QWidget *RecipeDelegate::createEditor(QWidget *parent, const QStyleOptionViewItem &option, const QModelIndex &index) const
{
    const QStringList options = index.data(RecipeTableModel::OptionsRole).toStringList();
    if (!options.isEmpty()) {
        auto *combo = new QComboBox(parent);
        combo->addItems(options);
        // One click picks the value: commit and close at once rather than on focus loss.
        connect(combo, &QComboBox::activated, this, [this, combo]() {
            auto *self = const_cast<RecipeDelegate *>(this);
            emit self->commitData(combo);
            emit self->closeEditor(combo);
        });
        return combo;
    }
    if (index.column() == RecipeTableModel::Ratio) {
        auto *spin = new QDoubleSpinBox(parent);
        spin->setRange(0.0, 0.95);
        spin->setSingleStep(0.05);
        spin->setDecimals(3);
        return spin;
    }
    return QStyledItemDelegate::createEditor(parent, option, index);
}

void RecipeDelegate::setEditorData(QWidget *editor, const QModelIndex &index) const
{
    if (auto *combo = qobject_cast<QComboBox *>(editor)) {
        QString text = index.data(Qt::EditRole).toString();
        text = text.section(QLatin1String(" ("), 0, 0); // "magnitude (global)", "group 64 (asym)"
        combo->setCurrentIndex(std::max(0, int(combo->findText(text))));
        return;
    }
    if (auto *spin = qobject_cast<QDoubleSpinBox *>(editor)) {
        spin->setValue(index.data(Qt::EditRole).toDouble());
        return;
    }
    QStyledItemDelegate::setEditorData(editor, index);
}

void RecipeDelegate::setModelData(QWidget *editor, QAbstractItemModel *model, const QModelIndex &index) const
{
    if (auto *combo = qobject_cast<QComboBox *>(editor)) {
        model->setData(index, combo->currentText(), Qt::EditRole);
        return;
    }
    if (auto *spin = qobject_cast<QDoubleSpinBox *>(editor)) {
        spin->interpretText();
        model->setData(index, spin->value(), Qt::EditRole);
        return;
    }
    QStyledItemDelegate::setModelData(editor, model, index);
}

} // namespace cw::ui
