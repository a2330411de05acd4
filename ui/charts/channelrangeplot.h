// ChannelRangePlot: the range of each output channel of a weight, in channel order — why per-channel
// quantization matters. Each channel is a whisker from its min to its max with a box from its 1st to its
// 99th percentile and a tick at its mean. The per-tensor range (the widest channel decides it) is drawn as
// two dashed horizontal lines: channels much narrower than it waste most of a per-tensor grid's levels.
// One channel can be highlighted (the one whose grid the histogram shows).
#pragma once

#include <QWidget>

#include <vector>

class QCustomPlot;
class QCPStatisticalBox;
class QCPItemStraightLine;
class QCPItemText;

namespace cw::ui {

struct ChannelRange {
    double min = 0, p01 = 0, mean = 0, p99 = 0, max = 0;
};

// Ranges of each channel of a [channels][perChannel] gather (NaN / Inf skipped).
std::vector<ChannelRange> computeChannelRanges(const std::vector<std::vector<float>> &channels);

class ChannelRangePlot : public QWidget {
    Q_OBJECT
public:
    explicit ChannelRangePlot(QWidget *parent = nullptr);

    void setChannels(const std::vector<ChannelRange> &channels);
    void clear() { setChannels({}); }
    void setHighlightedChannel(int channel); // -1: none
    int channelCount() const { return int(m_channels.size()); }
    QCustomPlot *plot() const { return m_plot; }

private:
    QCustomPlot *m_plot = nullptr;
    QCPStatisticalBox *m_boxes = nullptr;
    QCPStatisticalBox *m_highlight = nullptr;
    QCPItemStraightLine *m_tensorLo = nullptr, *m_tensorHi = nullptr;
    QCPItemText *m_hint = nullptr;
    std::vector<ChannelRange> m_channels;
    int m_highlighted = -1;
};

} // namespace cw::ui
