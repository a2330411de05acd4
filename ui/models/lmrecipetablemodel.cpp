#include "ui/models/lmrecipetablemodel.h"

#include <QBrush>
#include <QFont>

#include <algorithm>

#include "core/lm/compress.h"
#include "core/quant/ggml_blocks.h"
#include "ui/formatting.h"

namespace cw::ui {

namespace {

// The tensors a recipe compresses: the blocks' weight matrices, the token embedding and the output head
// (core/lm/compress.cpp's isMatrix; the position embedding and the vectors never change).
bool listed(const cw::lm::LanguageModel::TensorEntry &e)
{
    if (e.shape.size() != 2 || e.role.empty() || e.role.find(".bias") != std::string::npos)
        return false;
    return e.block >= 0 ? true : e.role == "embedding" || e.role == "output";
}

std::string layerJson(const cw::LayerConfig &c)
{
    cw::Recipe r;
    r.layers["x"] = c;
    return cw::recipeToJson(r, -1);
}

} // namespace

const QStringList &LmRecipeTableModel::formatChoices()
{
    static const QStringList formats = {QStringLiteral("f16"),  QStringLiteral("q8_0"), QStringLiteral("q6_k"),
                                        QStringLiteral("q5_k"), QStringLiteral("q5_1"), QStringLiteral("q5_0"),
                                        QStringLiteral("q4_k"), QStringLiteral("q4_1"), QStringLiteral("q4_0"),
                                        QStringLiteral("q3_k"), QStringLiteral("q2_k")};
    return formats;
}

LmRecipeTableModel::LmRecipeTableModel(QObject *parent) : QAbstractTableModel(parent) {}

bool LmRecipeTableModel::sameConfig(const cw::LayerConfig &a, const cw::LayerConfig &b)
{
    return layerJson(a) == layerJson(b);
}

void LmRecipeTableModel::setModel(const cw::lm::LanguageModel *model)
{
    beginResetModel();
    m_model = model;
    m_rows.clear();
    m_foreign.clear();
    if (m_model)
        for (const auto &e : m_model->tensors())
            if (listed(e)) {
                Row row;
                row.entry = &e;
                m_rows.push_back(row);
            }
    recompute();
    endResetModel();
    emit predictionChanged();
}

void LmRecipeTableModel::setDefaults(const cw::Recipe &defaults)
{
    m_defaults = defaults;
    m_defaults.layers.clear();
    recompute();
    rowsChanged();
}

void LmRecipeTableModel::setRecipe(const cw::Recipe &recipe)
{
    m_defaults = recipe;
    m_defaults.layers.clear();
    m_foreign.clear();
    for (Row &row : m_rows) {
        row.kind = Row::Override::None;
        row.format.clear();
    }
    for (const auto &[name, config] : recipe.layers) {
        const int r = rowOfTensor(QString::fromStdString(name));
        if (r < 0) {
            m_foreign[name] = config;
            continue;
        }
        Row &row = m_rows[size_t(r)];
        // What the table would write for a lock or a format; anything else stays as the recipe says it.
        row.kind = Row::Override::Locked;
        if (const auto locked = overrideConfig(row); locked && sameConfig(*locked, config))
            continue;
        row.kind = Row::Override::Format;
        row.format = config.weights ? config.weights->format : std::string();
        if (const auto formatted = overrideConfig(row); !row.format.empty() && formatted && sameConfig(*formatted, config))
            continue;
        row.kind = Row::Override::Custom;
        row.format.clear();
        row.custom = config;
    }
    recompute();
    rowsChanged();
}

std::optional<cw::LayerConfig> LmRecipeTableModel::overrideConfig(const Row &row) const
{
    cw::LayerConfig c;
    switch (row.kind) {
    case Row::Override::None: return std::nullopt;
    case Row::Override::Custom: return row.custom;
    case Row::Override::Locked:
        // As recipeFromJson merges {"skip": true} onto the defaults.
        c.prune = m_defaults.prune;
        c.weights = m_defaults.weights;
        c.skip = true;
        return c;
    case Row::Override::Format:
        if (row.entry->block >= 0) {
            c = cw::lm::tensorSettings(m_defaults, *row.entry).value_or(cw::LayerConfig{});
            c.weights = m_defaults.weights.value_or(cw::QuantSpec{});
        } else {
            c.weights = m_defaults.weights.value_or(cw::QuantSpec{});
            c.weights->method = cw::QuantMethod::Rtn;
        }
        c.weights->format = row.format;
        return c;
    }
    return std::nullopt;
}

cw::Recipe LmRecipeTableModel::recipe() const
{
    cw::Recipe r = m_defaults;
    r.layers = m_foreign;
    for (const Row &row : m_rows)
        if (const auto c = overrideConfig(row))
            r.layers[row.entry->name] = *c;
    return r;
}

void LmRecipeTableModel::recompute()
{
    for (Row &row : m_rows) {
        const auto &e = *row.entry;
        row.config = overrideConfig(row);
        if (!row.config)
            row.config = cw::lm::tensorSettings(m_defaults, e);
        row.fallbackNote.clear();
        const std::optional<cw::LayerConfig> &c = row.config;
        if (!c || c->skip || (!c->prune && !c->weights)) {
            row.type = 0;
            row.typeName = e.type;
            row.bytes = e.bytes;
            continue;
        }
        const cw::Shape shape = c->prune ? cw::lm::narrowedShape(m_model->config(), e, *c->prune) : e.shape;
        const int64_t rows = shape[0], cols = shape[1]; // MLP channels or heads removed
        // As compressLanguageModel stores it: pruned only in the checkpoint's float type (F16 for a block format),
        // quantized in its format after llama-quantize's fallback, or F16 for a grid without one.
        uint32_t type = e.type == "F32" ? cw::ggml::F32 : e.type == "BF16" ? cw::ggml::BF16 : cw::ggml::F16;
        if (c->weights) {
            type = cw::ggml::F16;
            if (!c->weights->format.empty()) {
                try {
                    const uint32_t asked = cw::ggml::typeFromName(c->weights->format);
                    type = cw::ggml::fallbackType(asked, cols);
                    if (type != asked)
                        row.fallbackNote = tr("Rows of %1 values are not whole blocks of %2: stored as %3, as "
                                              "llama-quantize falls back")
                                               .arg(cols)
                                               .arg(QString::fromStdString(cw::ggml::typeName(asked)))
                                               .arg(QString::fromStdString(cw::ggml::typeName(type)))
                                               .toStdString();
                } catch (const std::exception &) {
                    type = cw::ggml::F16; // a format the recipe parser would have refused
                }
            }
        }
        row.type = type;
        row.typeName = cw::ggml::typeName(type);
        try {
            row.bytes = uint64_t(rows * cw::ggml::rowBytes(type, cols));
        } catch (const std::exception &) {
            row.bytes = e.bytes;
        }
    }
}

void LmRecipeTableModel::rowsChanged()
{
    if (!m_rows.empty())
        emit dataChanged(index(0, 0), index(int(m_rows.size()) - 1, ColumnCount - 1));
    emit predictionChanged();
}

int LmRecipeTableModel::rowOfTensor(const QString &name) const
{
    const std::string n = name.toStdString();
    for (size_t i = 0; i < m_rows.size(); ++i)
        if (m_rows[i].entry->name == n)
            return int(i);
    return -1;
}

QString LmRecipeTableModel::tensorName(int row) const
{
    return row >= 0 && row < int(m_rows.size()) ? QString::fromStdString(m_rows[size_t(row)].entry->name) : QString();
}

void LmRecipeTableModel::setFormatOverride(int row, const QString &format)
{
    if (row < 0 || row >= int(m_rows.size()))
        return;
    Row &r = m_rows[size_t(row)];
    if (format.isEmpty()) {
        r.kind = Row::Override::None;
        r.format.clear();
    } else {
        r.kind = Row::Override::Format;
        r.format = format.toLower().toStdString();
    }
    recompute();
    rowsChanged();
}

void LmRecipeTableModel::setLocked(int row, bool locked)
{
    if (row < 0 || row >= int(m_rows.size()))
        return;
    Row &r = m_rows[size_t(row)];
    if (locked)
        r.kind = Row::Override::Locked;
    else if (r.kind == Row::Override::Locked)
        r.kind = Row::Override::None;
    r.format.clear();
    recompute();
    rowsChanged();
}

void LmRecipeTableModel::clearOverride(int row)
{
    if (row < 0 || row >= int(m_rows.size()))
        return;
    m_rows[size_t(row)].kind = Row::Override::None;
    m_rows[size_t(row)].format.clear();
    recompute();
    rowsChanged();
}

void LmRecipeTableModel::clearOverrides()
{
    for (Row &r : m_rows) {
        r.kind = Row::Override::None;
        r.format.clear();
    }
    m_foreign.clear();
    recompute();
    rowsChanged();
}

bool LmRecipeTableModel::isLocked(int row) const
{
    return row >= 0 && row < int(m_rows.size()) && m_rows[size_t(row)].kind == Row::Override::Locked;
}

QString LmRecipeTableModel::formatOverride(int row) const
{
    return row >= 0 && row < int(m_rows.size()) && m_rows[size_t(row)].kind == Row::Override::Format
               ? QString::fromStdString(m_rows[size_t(row)].format)
               : QString();
}

int LmRecipeTableModel::overrideCount() const
{
    return int(std::count_if(m_rows.begin(), m_rows.end(), [](const Row &r) { return r.kind != Row::Override::None; })) +
           int(m_foreign.size());
}

QString LmRecipeTableModel::predictedType(int row) const
{
    return row >= 0 && row < int(m_rows.size()) ? QString::fromStdString(m_rows[size_t(row)].typeName) : QString();
}

uint64_t LmRecipeTableModel::predictedBytes(int row) const
{
    return row >= 0 && row < int(m_rows.size()) ? m_rows[size_t(row)].bytes : 0;
}

int64_t LmRecipeTableModel::rowParams(int row) const
{
    return row >= 0 && row < int(m_rows.size()) ? m_rows[size_t(row)].entry->numel : 0;
}

uint64_t LmRecipeTableModel::predictedMatrixBytes() const
{
    uint64_t bytes = 0;
    for (const Row &r : m_rows)
        bytes += r.bytes;
    return bytes;
}

double LmRecipeTableModel::predictedBitsPerWeight() const
{
    int64_t params = 0;
    for (const Row &r : m_rows)
        params += r.entry->numel;
    return params ? double(predictedMatrixBytes()) * 8.0 / double(params) : 0.0;
}

uint64_t LmRecipeTableModel::predictedModelBytes() const
{
    if (!m_model)
        return 0;
    uint64_t bytes = predictedMatrixBytes();
    for (const auto &e : m_model->tensors())
        if (!listed(e)) // biases narrowed with their matrices
            bytes += m_defaults.prune && e.numel ? e.bytes / uint64_t(e.numel) *
                                                       uint64_t(cw::shapeNumel(cw::lm::narrowedShape(
                                                           m_model->config(), e, *m_defaults.prune)))
                                                 : e.bytes;
    return bytes;
}

int LmRecipeTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int LmRecipeTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant LmRecipeTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(m_rows.size()))
        return {};
    const Row &r = m_rows[size_t(index.row())];
    const auto &e = *r.entry;
    const int column = index.column();
    const bool overridden = r.kind != Row::Override::None;
    if (role == Qt::DisplayRole || role == SortRole) {
        const bool sort = role == SortRole;
        switch (column) {
        case Tensor: return sort ? QVariant(index.row()) : QVariant(QString::fromStdString(e.name));
        case Role: return QString::fromStdString(e.role);
        case Block: return sort ? QVariant(e.block) : e.block >= 0 ? QVariant(QString::number(e.block)) : QVariant(QString());
        case Params: return sort ? QVariant(qlonglong(e.numel)) : QVariant(formatCount(e.numel));
        case Setting:
            if (r.kind == Row::Override::Locked)
                return tr("kept as stored (locked)");
            return r.config ? QString::fromStdString(cw::layerSettingsLabel(*r.config)) : tr("as stored");
        case Type: return QString::fromStdString(r.typeName);
        case Bytes: return sort ? QVariant(qulonglong(r.bytes)) : QVariant(formatBytes(int64_t(r.bytes)));
        default: return {};
        }
    }
    if (role == Qt::TextAlignmentRole && (column == Block || column == Params || column == Bytes))
        return int(Qt::AlignRight | Qt::AlignVCenter);
    if (role == Qt::FontRole && ((column == Setting && overridden) || (column == Type && !r.fallbackNote.empty()))) {
        QFont f;
        f.setBold(column == Setting);
        f.setItalic(column == Type);
        return f;
    }
    if (role == Qt::ForegroundRole && column == Setting && !r.config)
        return QBrush(Qt::gray);
    if (role == Qt::ToolTipRole) {
        if (column == Type && !r.fallbackNote.empty())
            return QString::fromStdString(r.fallbackNote);
        if (column == Setting) {
            switch (r.kind) {
            case Row::Override::None:
                return r.config ? tr("The recipe's defaults (right-click: Store as, Keep as stored)")
                                : tr("Not compressed by the defaults (right-click: Store as)");
            case Row::Override::Format: return tr("Stored as %1 by an override of this tensor").arg(QString::fromStdString(r.format).toUpper());
            case Row::Override::Locked: return tr("Locked: the tensor stays exactly as the checkpoint stores it");
            case Row::Override::Custom: return tr("An override of the loaded recipe");
            }
        }
        if (column == Bytes)
            return tr("%1 bytes as stored (%2 bits per weight)")
                .arg(formatCount(int64_t(r.bytes)))
                .arg(displayLocale().toString(e.numel ? double(r.bytes) * 8.0 / double(e.numel) : 0.0, 'f', 2));
    }
    return {};
}

QVariant LmRecipeTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return {};
    if (role == Qt::DisplayRole) {
        switch (section) {
        case Tensor: return tr("Tensor");
        case Role: return tr("Role");
        case Block: return tr("Block");
        case Params: return tr("Parameters");
        case Setting: return tr("Setting");
        case Type: return tr("Stored as");
        case Bytes: return tr("Bytes");
        default: return {};
        }
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case Setting: return tr("The settings the recipe gives the tensor: its defaults or an override");
        case Type: return tr("The storage type in an export, with llama-quantize's fallback for rows that are not "
                             "whole blocks of the format (italic)");
        case Bytes: return tr("Predicted bytes as stored");
        default: return {};
        }
    }
    return {};
}

} // namespace cw::ui
