// HistogramPlot: a QCustomPlot histogram of a tensor's values with the Inspect view's what-if overlays.
//
// Overlays (all optional, drawn over the bars):
//   - the quantization grid: each level as a thin vertical line (only when there are few enough to tell
//     apart, kMaxLevelLines) and the clipping range [lo, hi] as two bold lines;
//   - the pruning threshold: the cut region |w| < t shaded, with the two edges dashed;
//   - the result: a second histogram (the weights after the what-if, in the same bins) as narrower bars in
//     another colour over the original, with a legend naming both; a bar of pruned zeros taller than the rest
//     runs off the top with its count written there;
//   - a notice (e.g. "3 NaN, 1 Inf excluded") in the top-left corner.
// The count axis is linear or logarithmic (bars then start at 0.5 so single counts stay visible).
#pragma once

#include <QString>
#include <QWidget>

#include <vector>

#include "core/analysis/stats.h"

class QCustomPlot;
class QCPBars;
class QCPItemRect;
class QCPItemStraightLine;
class QCPItemText;

namespace cw::ui {

class HistogramPlot : public QWidget {
    Q_OBJECT
public:
    static constexpr int kMaxLevelLines = 64;

    explicit HistogramPlot(QWidget *parent = nullptr);

    void setTitle(const QString &title);
    void setAxisLabels(const QString &x, const QString &y);
    void setHistogram(const cw::Histogram &histogram);
    void clear();
    void setLogScale(bool log);
    bool logScale() const { return m_log; }

    // levels: the grid's representable values (drawn when <= kMaxLevelLines); lo / hi: clipping range.
    void setQuantGrid(const std::vector<double> &levels, double lo, double hi);
    void clearQuantGrid();
    // The weights after the what-if, binned like the histogram (same lo, hi and bin count).
    void setResult(const cw::Histogram &after);
    void clearResult();
    bool resultVisible() const;
    // The legend's names of the two (default: "Weights", "After the what-if").
    void setSeriesNames(const QString &histogram, const QString &result);
    const cw::Histogram &result() const { return m_result; }
    // t > 0 shades (-t, t); t <= 0 removes the shading.
    void setPruneThreshold(double t);
    void setNotice(const QString &text);

    // For tests and screenshots.
    QCustomPlot *plot() const { return m_plot; }
    int levelLineCount() const { return m_levelLinesShown; }
    bool clipLinesVisible() const;
    bool pruneRegionVisible() const;
    double pruneThreshold() const { return m_threshold; }
    QString notice() const;
    const cw::Histogram &histogram() const { return m_histogram; }

private:
    void rescale();
    void updateOverlays();

    QCustomPlot *m_plot = nullptr;
    QCPBars *m_bars = nullptr;
    QCPBars *m_after = nullptr;
    QCPItemText *m_title = nullptr;
    QCPItemText *m_notice = nullptr;
    QCPItemText *m_zeroNote = nullptr; // the pruned weights' count when their bar runs off the top
    QCPItemRect *m_pruneRect = nullptr;
    QCPItemStraightLine *m_pruneLo = nullptr, *m_pruneHi = nullptr;
    QCPItemStraightLine *m_clipLo = nullptr, *m_clipHi = nullptr;
    std::vector<QCPItemStraightLine *> m_levelLines;
    cw::Histogram m_histogram;
    cw::Histogram m_result;
    std::vector<double> m_levels;
    double m_gridLo = 0, m_gridHi = 0;
    bool m_hasGrid = false;
    double m_threshold = 0;
    int m_levelLinesShown = 0;
    bool m_log = false;
};

} // namespace cw::ui
