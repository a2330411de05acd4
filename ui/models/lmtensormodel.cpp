#include "ui/models/lmtensormodel.h"

#include <QFont>

#include <algorithm>
#include <map>

#include "ui/formatting.h"

namespace cw::ui {

namespace {

// The order of a block's tensors: the data path through the block, each bias after its weight.
int roleOrder(const std::string &role)
{
    static const std::vector<std::string> order = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output",
                                                   "ffn_norm", "ffn_gate", "ffn_up", "ffn_down", "embedding",
                                                   "position_embedding", "output_norm", "output"};
    const bool bias = role.size() > 5 && role.compare(role.size() - 5, 5, ".bias") == 0;
    const std::string base = bias ? role.substr(0, role.size() - 5) : role;
    const auto it = std::find(order.begin(), order.end(), base);
    return int(it - order.begin()) * 2 + (bias ? 1 : 0);
}

constexpr quintptr noParent = 0; // the internal id of a group row; a tensor row's is its group's index + 1

} // namespace

LmTensorModel::LmTensorModel(QObject *parent) : QAbstractItemModel(parent) {}

QString LmTensorModel::partLabel(const std::string &role)
{
    static const std::map<std::string, const char *> labels = {
        {"attn_norm", QT_TR_NOOP("Attention norm")}, {"attn_q", QT_TR_NOOP("Attention Q")},
        {"attn_k", QT_TR_NOOP("Attention K")},       {"attn_v", QT_TR_NOOP("Attention V")},
        {"attn_qkv", QT_TR_NOOP("Attention QKV")},   {"attn_output", QT_TR_NOOP("Attention output")},
        {"ffn_norm", QT_TR_NOOP("MLP norm")},        {"ffn_gate", QT_TR_NOOP("MLP gate")},
        {"ffn_up", QT_TR_NOOP("MLP up")},            {"ffn_down", QT_TR_NOOP("MLP down")},
        {"embedding", QT_TR_NOOP("Token embedding")}, {"position_embedding", QT_TR_NOOP("Position embedding")},
        {"output_norm", QT_TR_NOOP("Output norm")},  {"output", QT_TR_NOOP("Output (LM head)")},
    };
    const bool bias = role.size() > 5 && role.compare(role.size() - 5, 5, ".bias") == 0;
    const auto it = labels.find(bias ? role.substr(0, role.size() - 5) : role);
    if (it == labels.end())
        return role.empty() ? tr("Unused by the runner") : QString::fromStdString(role);
    return bias ? tr("%1 bias").arg(tr(it->second)) : tr(it->second);
}

void LmTensorModel::setModel(const cw::lm::LanguageModel *model)
{
    beginResetModel();
    m_model = model;
    m_groups.clear();
    if (model) {
        const auto &tensors = model->tensors();
        Group embeddings{tr("Embeddings"), -1, {}, 0, 0}, output{tr("Output"), -1, {}, 0, 0}, other{tr("Other"), -1, {}, 0, 0};
        std::vector<Group> blocks(size_t(std::max<int64_t>(model->config().layers, 0)));
        for (size_t b = 0; b < blocks.size(); ++b)
            blocks[b] = {tr("Block %1").arg(b), int(b), {}, 0, 0};
        for (size_t i = 0; i < tensors.size(); ++i) {
            const auto &t = tensors[i];
            Group *g = &other;
            if (t.block >= 0 && size_t(t.block) < blocks.size())
                g = &blocks[size_t(t.block)];
            else if (t.role == "embedding" || t.role == "position_embedding")
                g = &embeddings;
            else if (t.role == "output" || t.role.rfind("output_norm", 0) == 0)
                g = &output;
            g->tensors.push_back(i);
            g->parameters += t.numel;
            g->bytes += int64_t(t.bytes);
        }
        const auto add = [this, &tensors](Group g) {
            if (g.tensors.empty())
                return;
            std::stable_sort(g.tensors.begin(), g.tensors.end(),
                             [&](size_t a, size_t b) { return roleOrder(tensors[a].role) < roleOrder(tensors[b].role); });
            m_groups.push_back(std::move(g));
        };
        add(std::move(embeddings));
        for (Group &g : blocks)
            add(std::move(g));
        add(std::move(output));
        add(std::move(other));
    }
    endResetModel();
}

QModelIndex LmTensorModel::indexOfTensor(const QString &name) const
{
    if (!m_model)
        return {};
    const std::string wanted = name.toStdString();
    for (size_t g = 0; g < m_groups.size(); ++g)
        for (size_t r = 0; r < m_groups[g].tensors.size(); ++r)
            if (m_model->tensors()[m_groups[g].tensors[r]].name == wanted)
                return createIndex(int(r), 0, quintptr(g + 1));
    return {};
}

QString LmTensorModel::tensorName(const QModelIndex &index) const
{
    return index.isValid() ? index.siblingAtColumn(Name).data(TensorNameRole).toString() : QString();
}

QModelIndex LmTensorModel::index(int row, int column, const QModelIndex &parent) const
{
    if (column < 0 || column >= ColumnCount || row < 0)
        return {};
    if (!parent.isValid())
        return row < int(m_groups.size()) ? createIndex(row, column, noParent) : QModelIndex();
    if (parent.internalId() != noParent || parent.row() >= int(m_groups.size()))
        return {};
    const Group &g = m_groups[size_t(parent.row())];
    return row < int(g.tensors.size()) ? createIndex(row, column, quintptr(parent.row() + 1)) : QModelIndex();
}

QModelIndex LmTensorModel::parent(const QModelIndex &child) const
{
    if (!child.isValid() || child.internalId() == noParent)
        return {};
    return createIndex(int(child.internalId() - 1), 0, noParent);
}

int LmTensorModel::rowCount(const QModelIndex &parent) const
{
    if (!parent.isValid())
        return int(m_groups.size());
    if (parent.internalId() != noParent || parent.column() != 0)
        return 0;
    return int(m_groups[size_t(parent.row())].tensors.size());
}

int LmTensorModel::columnCount(const QModelIndex &) const
{
    return ColumnCount;
}

QVariant LmTensorModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || !m_model)
        return {};
    const int column = index.column();
    if (index.internalId() == noParent) {
        const Group &g = m_groups[size_t(index.row())];
        switch (role) {
        case Qt::DisplayRole:
            switch (column) {
            case Part: return g.title;
            case Parameters: return formatCount(g.parameters);
            case Bytes: return formatBytes(g.bytes);
            case Shape: return tr("%n tensor(s)", nullptr, int(g.tensors.size()));
            default: return {};
            }
        case TensorNameRole: return QString();
        case Qt::FontRole: {
            QFont f;
            f.setBold(true);
            return f;
        }
        case Qt::TextAlignmentRole:
            return column == Parameters || column == Bytes ? QVariant(Qt::AlignRight | Qt::AlignVCenter) : QVariant();
        default: return {};
        }
    }
    const Group &g = m_groups[size_t(index.internalId() - 1)];
    const auto &t = m_model->tensors()[g.tensors[size_t(index.row())]];
    switch (role) {
    case Qt::DisplayRole:
        switch (column) {
        case Part: return partLabel(t.role);
        case Shape: return formatShape(t.shape);
        case Type: return QString::fromStdString(t.type);
        case Parameters: return formatCount(t.numel);
        case Bytes: return formatBytes(int64_t(t.bytes));
        case Name: return QString::fromStdString(t.name);
        default: return {};
        }
    case TensorNameRole: return QString::fromStdString(t.name);
    case Qt::ToolTipRole:
        return tr("%1\n%2 %3, %4 parameters, %5")
            .arg(QString::fromStdString(t.name), formatShape(t.shape), QString::fromStdString(t.type),
                 formatCount(t.numel), formatBytes(int64_t(t.bytes)));
    case Qt::TextAlignmentRole:
        return column == Parameters || column == Bytes ? QVariant(Qt::AlignRight | Qt::AlignVCenter) : QVariant();
    default: return {};
    }
}

QVariant LmTensorModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Part: return tr("Tensor");
    case Shape: return tr("Shape");
    case Type: return tr("Type");
    case Bytes: return tr("Bytes");
    case Parameters: return tr("Parameters");
    case Name: return tr("Name in the file");
    default: return {};
    }
}

} // namespace cw::ui
