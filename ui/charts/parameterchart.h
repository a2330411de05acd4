// ParameterChart: a horizontal QCustomPlot bar chart of parameters per layer (layers without parameters
// are left out), layer names on the vertical axis in graph order, top to bottom.
//
// Rows are the rows of LayerTableModel (indices into Model::layers()): clicking a bar emits
// layerClicked(row); setSelectedRow(row) highlights that layer's bar (or none for -1).
#pragma once

#include <QList>
#include <QWidget>

#include <vector>

#include "core/graph/graph.h"

class QCustomPlot;
class QCPBars;
class QCPItemText;

namespace cw::ui {

class ParameterChart : public QWidget {
    Q_OBJECT
public:
    explicit ParameterChart(QWidget *parent = nullptr);

    void setLayers(const std::vector<cw::LayerInfo> &layers);
    void setSelectedRow(int row);
    int selectedRow() const { return m_selectedRow; }

    int barCount() const { return int(m_barRows.size()); }
    int rowForBar(int bar) const { return m_barRows.at(size_t(bar)); }
    int barForRow(int row) const;
    QCustomPlot *plot() const { return m_plot; }

signals:
    void layerClicked(int row);

private:
    void onPlottableClick(int dataIndex);

    QCustomPlot *m_plot = nullptr;
    QCPBars *m_bars = nullptr;
    QList<QCPItemText *> m_labels;
    QCPItemText *m_emptyHint = nullptr;
    std::vector<int> m_barRows; // bar index -> layer row
    int m_selectedRow = -1;
};

} // namespace cw::ui
