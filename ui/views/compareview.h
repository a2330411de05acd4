// CompareView (the Compare tab): the project's variants side by side, to decide which one ships.
//
//   - A limits bar: largest file, largest batch-1 latency, largest accuracy drop (each "none" at 0), kept in the
//     project (ProjectDocument::setConstraints, undoable). Beside it the recommended variant and why
//     (core/project/compare.h: the best quality among those that meet the limits).
//   - A chart of quality against a cost chosen above it (file size, latency at batch 1 or 64): one point per
//     measured variant coloured by its verdict, the base model, the Pareto frontier, the recommendation ringed
//     (TradeoffChart). Hovering a point shows its figures; clicking it selects the variant here and in the
//     Compress tab (variantSelected).
//   - The table: per variant its origin and recipe, quality and drop, file size and how many times smaller,
//     latencies, whether it is on the size / latency frontier, and its verdict with the reason; rows tinted by
//     verdict.
//   - Export: the chart as PNG or PDF (vector) and to the clipboard; the table as CSV, or the whole comparison as
//     JSON (the same document `cwb project show --json` prints).
//   - The chart, table and export sit on the "Trade-off" page; "Side by side" (VariantDiffPanel) compares two
//     variants layer by layer, B following the variant selected here.
// Everything is read from the document and redrawn when it changes; the view keeps no copy of the variants.
#pragma once

#include <QWidget>

#include "core/project/compare.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QStandardItemModel;
class QTabWidget;
class QTableView;

namespace cw::ui {

class ProjectDocument;
class TradeoffChart;
class VariantDiffPanel;

class CompareView : public QWidget {
    Q_OBJECT
public:
    enum Column { CName, COrigin, CRecipe, CQuality, CDrop, CFile, COnnx, CSmaller, CBatch1, CBatch64, CMemory,
                  CPeakRss, CPareto, CVerdict, ColumnCount };

    explicit CompareView(ProjectDocument *document, QWidget *parent = nullptr);

    void setCost(cw::Cost cost);
    cw::Cost cost() const;
    // Selects variant `index` (-1: none) in the table and on the chart.
    void selectVariant(int index);
    int selectedVariant() const { return m_selected; }
    const cw::Recommendation &recommendation() const { return m_recommendation; }

    // Writes by extension: the chart as .png / .pdf, the table as .csv / .json. False with the reason in
    // statusText() when it fails.
    bool exportChart(const QString &path);
    bool exportTable(const QString &path);
    void copyChart();
    QString statusText() const;

    TradeoffChart *chart() const { return m_chart; }
    QStandardItemModel *tableModel() const { return m_model; }
    QTableView *table() const { return m_table; }
    QDoubleSpinBox *maxSizeSpin() const { return m_maxSize; }
    QDoubleSpinBox *maxLatencySpin() const { return m_maxLatency; }
    QDoubleSpinBox *maxDropSpin() const { return m_maxDrop; }
    QComboBox *costCombo() const { return m_cost; }
    VariantDiffPanel *diffPanel() const { return m_diff; }
    QTabWidget *pages() const { return m_pages; }
    QLabel *recommendationLabel() const { return m_recommendationLabel; }

signals:
    void variantSelected(int index);

private:
    void refresh();
    void syncLimits();
    void applyLimits(QDoubleSpinBox *changed);
    void setStatus(const QString &text, bool error = false);

    ProjectDocument *m_document;
    cw::Recommendation m_recommendation;
    int m_selected = -1;
    bool m_syncing = false;

    QDoubleSpinBox *m_maxSize = nullptr, *m_maxLatency = nullptr, *m_maxDrop = nullptr;
    QComboBox *m_cost = nullptr;
    QLabel *m_recommendationLabel = nullptr;
    TradeoffChart *m_chart = nullptr;
    QTableView *m_table = nullptr;
    QStandardItemModel *m_model = nullptr;
    QPushButton *m_exportChart = nullptr, *m_copyChart = nullptr, *m_exportTable = nullptr;
    QLabel *m_status = nullptr;
    QTabWidget *m_pages = nullptr;
    VariantDiffPanel *m_diff = nullptr;
};

} // namespace cw::ui
