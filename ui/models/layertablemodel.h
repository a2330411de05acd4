// LayerTableModel: one row per graph node (cw::Model::layers()): name, op, input and output shapes,
// parameter count and parameter bytes. Rows of nodes that block the model from running (no kernel for their
// operator, or a subgraph holding such a node) show their name and op in red, with the reason in the tooltip.
//
// Qt::DisplayRole gives formatted text; SortRole gives the raw value (numbers as qint64) so a
// QSortFilterProxyModel sorts parameters numerically and shapes by element count.
#pragma once

#include <QAbstractTableModel>

#include <map>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/runtime/session.h"

namespace cw::ui {

class LayerTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Name, Op, Inputs, Outputs, Parameters, Bytes, ColumnCount };
    static constexpr int SortRole = Qt::UserRole + 1;

    explicit LayerTableModel(QObject *parent = nullptr);

    void setLayers(std::vector<cw::LayerInfo> layers);
    void clear() { setLayers({}); }
    // The nodes without a kernel (cw::unsupportedNodes): their rows, or those of the control-flow nodes whose
    // subgraphs hold them, are marked. Empty: every node can run.
    void setBlocked(const std::vector<cw::UnsupportedNode> &nodes);
    const std::vector<cw::LayerInfo> &layers() const { return m_layers; }
    const cw::LayerInfo &layer(int row) const { return m_layers[size_t(row)]; }
    // Row of the layer with this name, or -1.
    int rowOfLayer(const QString &name) const;

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    std::vector<cw::LayerInfo> m_layers;
    std::map<std::string, QString> m_blocked; // node name -> "det1 (Det, opset 13)"
};

} // namespace cw::ui
