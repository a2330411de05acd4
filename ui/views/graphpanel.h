// GraphPanel: the model's graph at a glance — one row per node in execution order (op type, name, output
// shape), edges between consecutive nodes drawn as the main column, and every edge that skips rows (a
// residual branch rejoining at an Add, a Concat, a shortcut) as an arc on the right in its own lane, so
// the branches stay visible and never overlap.
//
// Rows are the rows of LayerTableModel (indices into Model::layers(), i.e. graph.nodes): clicking a node
// emits layerClicked(row); setSelectedRow(row) highlights it and scrolls it into view.
#pragma once

#include <QScrollArea>
#include <QString>

#include <vector>

#include "core/graph/graph.h"

namespace cw::ui {

class GraphCanvas;

class GraphPanel : public QScrollArea {
    Q_OBJECT
public:
    struct Row {
        QString name, op, shape, tooltip;
        std::vector<int> inputs; // rows of the producers of the node's inputs
        int64_t params = 0;
    };
    struct Arc {
        int from = 0, to = 0, lane = 0;
    };

    explicit GraphPanel(QWidget *parent = nullptr);

    void setModel(const cw::Model *model); // nullptr clears
    void setSelectedRow(int row);
    int selectedRow() const { return m_selected; }

    int rowCount() const { return int(m_rows.size()); }
    const std::vector<Row> &rows() const { return m_rows; }
    const std::vector<Arc> &arcs() const { return m_arcs; }
    int laneCount() const { return m_lanes; }
    // Centre of a row's box in canvas coordinates (tests click there).
    QPoint rowCenter(int row) const;
    QWidget *canvas() const;

signals:
    void layerClicked(int row);

private:
    friend class GraphCanvas;
    std::vector<Row> m_rows;
    std::vector<Arc> m_arcs;
    int m_lanes = 0;
    int m_selected = -1;
    GraphCanvas *m_canvas = nullptr;
};

} // namespace cw::ui
