// ParameterChart: a horizontal QCustomPlot bar chart of parameters per layer (layers without parameters
// are left out), layer names on the vertical axis in graph order, top to bottom.
//
// Rows are the rows of LayerTableModel (indices into Model::layers()): clicking a bar emits
// layerClicked(row); setSelectedRow(row) highlights that layer's bar (or none for -1) and scrolls it into view.
//
// Every bar gets a row of kRowPixels, so names stay readable whatever the model: when there are more bars than
// fit the chart's height (a network of 120 layers), the chart shows a window of them with a scroll bar beside
// it, moved by the mouse wheel too.
#pragma once

#include <QList>
#include <QWidget>

#include <vector>

#include "core/graph/graph.h"

class QCustomPlot;
class QCPBars;
class QCPItemText;
class QScrollBar;

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
    // The first bar shown and how many are shown at once (all of them when they fit).
    int firstShownBar() const;
    int shownBars() const;
    QScrollBar *scrollBar() const { return m_scroll; }

    static constexpr int kRowPixels = 18;

signals:
    void layerClicked(int row);

protected:
    void resizeEvent(QResizeEvent *event) override;

private:
    void onPlottableClick(int dataIndex);
    // Sets the vertical range, the scroll bar and the value labels to the window starting at the scroll bar's
    // value.
    void showWindow();

    QCustomPlot *m_plot = nullptr;
    QScrollBar *m_scroll = nullptr;
    QCPBars *m_bars = nullptr;
    QList<QCPItemText *> m_labels;
    QCPItemText *m_emptyHint = nullptr;
    std::vector<int> m_barRows; // bar index -> layer row
    int m_selectedRow = -1;
};

} // namespace cw::ui
