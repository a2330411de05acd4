// VariantDiffPanel (the Compare tab's "Side by side" page): two models of the project — the base or any
// variant, A and B — layer by layer (core/project/diff.h): the settings each recipe gave the layer, the weight's
// SQNR against the base, its stored bytes; rows where A and B differ in bold. The selected layer's weight values
// of A and B are drawn as two histograms in the same bins, B over A. Read from the document when shown and
// whenever it changes; no copy of the variants is kept.
#pragma once

#include <QWidget>

#include <vector>

#include "core/project/diff.h"

class QComboBox;
class QLabel;
class QStandardItemModel;
class QTableView;

namespace cw::ui {

class HistogramPlot;
class ProjectDocument;

class VariantDiffPanel : public QWidget {
    Q_OBJECT
public:
    enum Column { CLayer, COp, CSettingsA, CErrorA, CBytesA, CSettingsB, CErrorB, CBytesB, ColumnCount };

    explicit VariantDiffPanel(ProjectDocument *document, QWidget *parent = nullptr);

    // -1: the base; else a variant index. Out-of-range values fall back to the base.
    void setSides(int a, int b);
    int sideA() const;
    int sideB() const;
    // Selects the layer's row and draws its histograms; false when the comparison has no such layer.
    bool selectLayer(const QString &layer);

    const std::vector<cw::LayerComparison> &rows() const { return m_rows; }
    QStandardItemModel *tableModel() const { return m_model; }
    HistogramPlot *histogram() const { return m_histogram; }
    QString summaryText() const;

protected:
    void showEvent(QShowEvent *event) override;

private:
    void fillCombos();
    void refresh();
    void showLayer(int row);

    ProjectDocument *m_document;
    std::vector<cw::LayerComparison> m_rows;
    bool m_stale = true;
    bool m_filling = false;

    QComboBox *m_a = nullptr, *m_b = nullptr;
    QLabel *m_summary = nullptr;
    QTableView *m_table = nullptr;
    QStandardItemModel *m_model = nullptr;
    HistogramPlot *m_histogram = nullptr;
};

} // namespace cw::ui
