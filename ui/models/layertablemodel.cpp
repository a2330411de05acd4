#include "ui/models/layertablemodel.h"

#include <QColor>

#include "ui/formatting.h"
#include "ui/modelinputs.h"

namespace cw::ui {

LayerTableModel::LayerTableModel(QObject *parent) : QAbstractTableModel(parent) {}

void LayerTableModel::setLayers(std::vector<cw::LayerInfo> layers)
{
    beginResetModel();
    m_layers = std::move(layers);
    endResetModel();
}

void LayerTableModel::setBlocked(const std::vector<cw::UnsupportedNode> &nodes)
{
    m_blocked.clear();
    for (const cw::UnsupportedNode &n : nodes) {
        QString &text = m_blocked[n.subgraph.empty() ? n.name : n.subgraph];
        text += (text.isEmpty() ? QString() : QStringLiteral("; ")) +
                QStringLiteral("%1 (%2)").arg(QString::fromStdString(n.name), describeBlocking(n));
    }
    if (!m_layers.empty())
        emit dataChanged(index(0, 0), index(rowCount() - 1, ColumnCount - 1), {Qt::ForegroundRole, Qt::ToolTipRole});
}

int LayerTableModel::rowOfLayer(const QString &name) const
{
    const std::string key = name.toStdString();
    for (size_t i = 0; i < m_layers.size(); ++i)
        if (m_layers[i].name == key)
            return int(i);
    return -1;
}

int LayerTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_layers.size());
}

int LayerTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

namespace {
// Sort key of the shape columns: elements per sample, symbolic dimensions counted as 1.
int64_t totalElements(const std::vector<cw::ValueInfo> &values)
{
    int64_t n = 0;
    for (const cw::ValueInfo &v : values) {
        int64_t e = 1;
        for (int64_t d : v.shape)
            e *= d < 0 ? 1 : d;
        n += v.shape.empty() ? 0 : e;
    }
    return n;
}
} // namespace

QVariant LayerTableModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= int(m_layers.size()))
        return {};
    const cw::LayerInfo &l = m_layers[size_t(index.row())];
    const int column = index.column();

    if (role == Qt::DisplayRole) {
        switch (column) {
        case Name: return QString::fromStdString(l.name);
        case Op: return QString::fromStdString(l.opType);
        case Inputs: return formatShapes(l.inputs);
        case Outputs: return formatShapes(l.outputs);
        case Parameters: return l.params ? formatCount(l.params) : QStringLiteral("—");
        case Bytes: return l.bytes ? formatBytes(int64_t(l.bytes)) : QStringLiteral("—");
        }
    } else if (role == SortRole) {
        switch (column) {
        case Name: return QString::fromStdString(l.name);
        case Op: return QString::fromStdString(l.opType);
        case Inputs: return qlonglong(totalElements(l.inputs));
        case Outputs: return qlonglong(totalElements(l.outputs));
        case Parameters: return qlonglong(l.params);
        case Bytes: return qlonglong(l.bytes);
        }
    } else if (role == Qt::TextAlignmentRole) {
        if (column == Parameters || column == Bytes)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        return int(Qt::AlignLeft | Qt::AlignVCenter);
    } else if (role == Qt::ForegroundRole) {
        if ((column == Name || column == Op) && m_blocked.count(l.name))
            return QColor(0xb0, 0x00, 0x20);
    } else if (role == Qt::ToolTipRole) {
        QString tip = QStringLiteral("<b>%1</b> (%2)").arg(QString::fromStdString(l.name).toHtmlEscaped(),
                                                           QString::fromStdString(l.opType).toHtmlEscaped());
        if (!l.weightName.empty())
            tip += tr("<br>weight %1 %2").arg(QString::fromStdString(l.weightName).toHtmlEscaped(), formatShape(l.weightShape));
        if (l.params)
            tip += tr("<br>%1 parameters, %2").arg(formatCount(l.params), formatBytes(int64_t(l.bytes)));
        if (auto blocked = m_blocked.find(l.name); blocked != m_blocked.end())
            tip += tr("<br><span style='color:#b00020'>Cannot run: %1</span>").arg(blocked->second.toHtmlEscaped());
        return tip;
    }
    return {};
}

QVariant LayerTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal)
        return role == Qt::DisplayRole ? QVariant(section + 1) : QVariant();
    if (role == Qt::TextAlignmentRole)
        return int((section == Parameters || section == Bytes ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignVCenter);
    if (role != Qt::DisplayRole)
        return {};
    switch (section) {
    case Name: return tr("Layer");
    case Op: return tr("Op");
    case Inputs: return tr("Input shape");
    case Outputs: return tr("Output shape");
    case Parameters: return tr("Parameters");
    case Bytes: return tr("Bytes");
    }
    return {};
}

} // namespace cw::ui
