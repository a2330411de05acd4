// ChannelProfilePlot: one number (or range) per channel of a weight matrix, across all its channels — built for
// language-model matrices of thousands of channels, where a box per channel (ChannelRangePlot) cannot be read.
// Two uses:
//   - setRanges: each output channel's (row's) min and max as a filled band, stepped so a few channels still
//     read as bars; the tensor's range as two dashed lines;
//   - setMagnitudes: each input channel's (column's) largest |w| as a filled profile, the typical channel (the
//     median) as a grey dashed line, the outlier threshold as a red dashed line, and the outlier channels as red
//     markers, the largest few labelled with their index. setHighlighted() rings one channel.
#pragma once

#include <QString>
#include <QWidget>

#include <cstdint>
#include <vector>

class QCustomPlot;
class QCPGraph;
class QCPItemStraightLine;
class QCPItemText;

namespace cw::ui {

class ChannelProfilePlot : public QWidget {
    Q_OBJECT
public:
    static constexpr int kLabelledOutliers = 3;

    explicit ChannelProfilePlot(QWidget *parent = nullptr);

    void setAxisLabels(const QString &x, const QString &y);
    void setRanges(const std::vector<float> &lo, const std::vector<float> &hi);
    void setMagnitudes(const std::vector<float> &absMax, double typical, double threshold,
                       const std::vector<int64_t> &outliers);
    void setHighlighted(int64_t channel); // -1: none
    void clear();

    int channelCount() const { return m_channels; }
    int markedOutliers() const; // outlier markers drawn
    QCustomPlot *plot() const { return m_plot; }

private:
    void resetItems();

    QCustomPlot *m_plot = nullptr;
    QCPGraph *m_upper = nullptr, *m_lower = nullptr; // the band (ranges) or the profile (magnitudes: upper only)
    QCPGraph *m_outliers = nullptr, *m_highlight = nullptr;
    QCPItemStraightLine *m_lineA = nullptr, *m_lineB = nullptr;
    std::vector<QCPItemText *> m_labels;
    std::vector<float> m_values; // the profile's values (for the highlight); empty for ranges
    int m_channels = 0;
};

} // namespace cw::ui
