#include "ui/views/graphpanel.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QScrollBar>
#include <QToolTip>

#include <algorithm>
#include <map>

#include "ui/formatting.h"

namespace cw::ui {

namespace {
constexpr int kMargin = 10;
constexpr int kRowHeight = 26;
constexpr int kBoxHeight = 20;
constexpr int kBoxWidth = 270;
constexpr int kLaneWidth = 11;
constexpr int kOpWidth = 84;

// Short op names for the chip; the tooltip has the full one.
QString shortOp(const QString &op)
{
    if (op == QLatin1String("BatchNormalization"))
        return QStringLiteral("BatchNorm");
    if (op == QLatin1String("GlobalAveragePool"))
        return QStringLiteral("GlobalAvg");
    if (op == QLatin1String("ConvTranspose"))
        return QStringLiteral("ConvT");
    return op;
}

QColor opColor(const QString &op)
{
    if (op.startsWith(QLatin1String("Conv")))
        return QColor(52, 101, 164);
    if (op == QLatin1String("Gemm") || op == QLatin1String("MatMul"))
        return QColor(117, 80, 123);
    if (op == QLatin1String("Relu") || op == QLatin1String("Sigmoid") || op == QLatin1String("Tanh") ||
        op == QLatin1String("Softmax") || op == QLatin1String("LeakyRelu") || op == QLatin1String("Gelu") ||
        op == QLatin1String("Clip"))
        return QColor(78, 154, 6);
    if (op == QLatin1String("BatchNormalization") || op.contains(QLatin1String("Norm")))
        return QColor(6, 152, 154);
    if (op == QLatin1String("Add") || op == QLatin1String("Concat") || op == QLatin1String("Mul") ||
        op == QLatin1String("Sum"))
        return QColor(206, 92, 0);
    if (op.contains(QLatin1String("Pool")))
        return QColor(143, 89, 2);
    return QColor(110, 110, 110);
}
} // namespace

class GraphCanvas : public QWidget {
public:
    explicit GraphCanvas(GraphPanel *panel) : QWidget(panel), m_panel(panel)
    {
        setObjectName(QStringLiteral("graphCanvas"));
        setMouseTracking(true);
        setBackgroundRole(QPalette::Base);
        setAutoFillBackground(true);
    }

    void relayout()
    {
        const int w = kMargin * 2 + kBoxWidth + 14 + m_panel->m_lanes * kLaneWidth + kMargin;
        const int h = kMargin * 2 + std::max(1, m_panel->rowCount()) * kRowHeight;
        setFixedSize(w, h);
        // Wide enough for the whole canvas next to a vertical scroll bar (no horizontal scrolling), up to a
        // limit: a U-Net's many long skips would otherwise widen the window past the screen.
        constexpr int kMaxWidth = 480;
        m_panel->setMinimumWidth(std::min(kMaxWidth, w + m_panel->verticalScrollBar()->sizeHint().width() + 2 * m_panel->frameWidth()));
        update();
    }

    QRect boxRect(int row) const { return QRect(kMargin, kMargin + row * kRowHeight + (kRowHeight - kBoxHeight) / 2, kBoxWidth, kBoxHeight); }

    int rowAt(const QPoint &p) const
    {
        for (int r = 0; r < m_panel->rowCount(); ++r)
            if (boxRect(r).contains(p))
                return r;
        return -1;
    }

protected:
    void paintEvent(QPaintEvent *event) override
    {
        QPainter p(this);
        p.setRenderHint(QPainter::Antialiasing);
        const auto &rows = m_panel->m_rows;
        if (rows.empty()) {
            p.setPen(palette().color(QPalette::PlaceholderText));
            p.drawText(rect().adjusted(kMargin, kMargin, -kMargin, -kMargin), Qt::AlignLeft | Qt::AlignTop,
                       tr("No model open"));
            return;
        }
        const QColor edge = palette().color(QPalette::Mid).darker(130);
        // Main column: an edge between consecutive rows.
        p.setPen(QPen(edge, 1.4));
        for (int r = 1; r < int(rows.size()); ++r) {
            const auto &in = rows[size_t(r)].inputs;
            if (std::find(in.begin(), in.end(), r - 1) == in.end())
                continue;
            const QRect a = boxRect(r - 1), b = boxRect(r);
            const int x = a.left() + kOpWidth / 2;
            p.drawLine(x, a.bottom() + 1, x, b.top() - 1);
        }
        // Side branches: arcs on the right, one lane each.
        for (const GraphPanel::Arc &arc : m_panel->m_arcs) {
            const QRect a = boxRect(arc.from), b = boxRect(arc.to);
            const int x = a.right() + 10 + arc.lane * kLaneWidth;
            const int y1 = a.center().y(), y2 = b.center().y();
            QPainterPath path(QPointF(a.right() + 1, y1));
            path.lineTo(x - 4, y1);
            path.quadTo(x, y1, x, y1 + 4);
            path.lineTo(x, y2 - 4);
            path.quadTo(x, y2, x - 4, y2);
            path.lineTo(b.right() + 4, y2);
            const bool selected = arc.from == m_panel->m_selected || arc.to == m_panel->m_selected;
            const QColor c = selected ? palette().color(QPalette::Highlight) : QColor(206, 92, 0, 200);
            p.setPen(QPen(c, selected ? 2.0 : 1.4));
            p.setBrush(Qt::NoBrush);
            p.drawPath(path);
            // Arrow head into the consumer.
            QPolygonF head;
            head << QPointF(b.right() + 1, y2) << QPointF(b.right() + 6, y2 - 3.5) << QPointF(b.right() + 6, y2 + 3.5);
            p.setBrush(c);
            p.setPen(Qt::NoPen);
            p.drawPolygon(head);
        }
        // Boxes.
        QFont bold = font();
        bold.setBold(true);
        QFont small = font();
        small.setPointSizeF(small.pointSizeF() * 0.9);
        for (int r = 0; r < int(rows.size()); ++r) {
            const GraphPanel::Row &row = rows[size_t(r)];
            const QRect box = boxRect(r);
            if (!event->rect().intersects(box.adjusted(-2, -2, 2, 2)))
                continue;
            const bool selected = r == m_panel->m_selected;
            const bool hover = r == m_hover;
            const QColor c = opColor(row.op);
            p.setPen(QPen(selected ? palette().color(QPalette::Highlight) : c.darker(115), selected ? 2.2 : 1));
            p.setBrush(selected ? palette().color(QPalette::Highlight).lighter(185)
                                : hover ? palette().color(QPalette::AlternateBase) : palette().color(QPalette::Base));
            p.drawRoundedRect(box, 4, 4);
            const QRect chip(box.left(), box.top(), kOpWidth, box.height());
            QPainterPath chipPath;
            chipPath.addRoundedRect(chip, 4, 4);
            p.setPen(Qt::NoPen);
            p.setBrush(c);
            p.drawPath(chipPath);
            p.setPen(Qt::white);
            p.setFont(bold);
            p.drawText(chip.adjusted(4, 0, -3, 0), Qt::AlignVCenter | Qt::AlignLeft,
                       QFontMetrics(bold).elidedText(shortOp(row.op), Qt::ElideRight, chip.width() - 7));
            p.setFont(small);
            p.setPen(palette().color(QPalette::Text));
            const QRect text = box.adjusted(kOpWidth + 5, 0, -5, 0);
            const QFontMetrics fm(small);
            const int shapeWidth = std::min(fm.horizontalAdvance(row.shape), text.width() * 11 / 20);
            p.setPen(palette().color(QPalette::PlaceholderText));
            p.drawText(text, Qt::AlignVCenter | Qt::AlignRight, fm.elidedText(row.shape, Qt::ElideRight, shapeWidth));
            p.setPen(palette().color(QPalette::Text));
            p.drawText(text.adjusted(0, 0, -shapeWidth - 6, 0), Qt::AlignVCenter | Qt::AlignLeft,
                       fm.elidedText(row.name, Qt::ElideMiddle, text.width() - shapeWidth - 6));
        }
    }

    void mousePressEvent(QMouseEvent *event) override
    {
        const int r = rowAt(event->position().toPoint());
        if (r >= 0 && event->button() == Qt::LeftButton) {
            m_panel->setSelectedRow(r);
            emit m_panel->layerClicked(r);
        }
    }

    void mouseMoveEvent(QMouseEvent *event) override
    {
        const int r = rowAt(event->position().toPoint());
        if (r != m_hover) {
            m_hover = r;
            setCursor(r >= 0 ? Qt::PointingHandCursor : Qt::ArrowCursor);
            update();
        }
    }

    void leaveEvent(QEvent *) override
    {
        m_hover = -1;
        update();
    }

    bool event(QEvent *e) override
    {
        if (e->type() == QEvent::ToolTip) {
            auto *help = static_cast<QHelpEvent *>(e);
            const int r = rowAt(help->pos());
            if (r >= 0)
                QToolTip::showText(help->globalPos(), m_panel->m_rows[size_t(r)].tooltip, this);
            else
                QToolTip::hideText();
            return true;
        }
        return QWidget::event(e);
    }

private:
    GraphPanel *m_panel;
    int m_hover = -1;
};

GraphPanel::GraphPanel(QWidget *parent) : QScrollArea(parent)
{
    setObjectName(QStringLiteral("graphPanel"));
    m_canvas = new GraphCanvas(this);
    setWidget(m_canvas);
    setWidgetResizable(false);
    setAlignment(Qt::AlignLeft | Qt::AlignTop);
    m_canvas->relayout();
}

QWidget *GraphPanel::canvas() const
{
    return m_canvas;
}

QPoint GraphPanel::rowCenter(int row) const
{
    return m_canvas->boxRect(row).center();
}

void GraphPanel::setModel(const cw::Model *model)
{
    m_rows.clear();
    m_arcs.clear();
    m_lanes = 0;
    m_selected = -1;
    if (model) {
        std::map<std::string, cw::LayerInfo> layers; // a weight-only layer's DequantizeLinear has none
        for (cw::LayerInfo &l : model->layers())
            layers[l.name] = std::move(l);
        std::map<std::string, int> producerRow;
        const auto &nodes = model->graph.nodes;
        for (size_t i = 0; i < nodes.size(); ++i) {
            const cw::Node &node = nodes[i];
            Row row;
            row.name = QString::fromStdString(node.name);
            row.op = QString::fromStdString(node.opType);
            if (auto l = layers.find(node.name); l != layers.end()) {
                row.shape = formatShapes(l->second.outputs);
                row.params = l->second.params;
            } else {
                std::vector<cw::ValueInfo> outputs;
                for (const std::string &out : node.outputs)
                    outputs.push_back(model->graph.valueInfo(out));
                row.shape = formatShapes(outputs);
            }
            for (const std::string &in : node.inputs) {
                auto it = producerRow.find(in);
                if (it != producerRow.end() && std::find(row.inputs.begin(), row.inputs.end(), it->second) == row.inputs.end())
                    row.inputs.push_back(it->second);
            }
            QStringList from;
            for (int r : row.inputs)
                from << QString::fromStdString(nodes[size_t(r)].name);
            row.tooltip = tr("<b>%1</b> (%2)<br>output %3<br>parameters %4%5")
                              .arg(row.name.toHtmlEscaped(), row.op, row.shape, formatCount(row.params),
                                   from.isEmpty() ? QString() : tr("<br>inputs from %1").arg(from.join(QStringLiteral(", ")).toHtmlEscaped()));
            for (const std::string &out : node.outputs)
                producerRow[out] = int(i);
            m_rows.push_back(std::move(row));
        }
        // Arcs for every edge that skips rows; lanes greedily, shortest spans innermost.
        for (int r = 0; r < int(m_rows.size()); ++r)
            for (int from : m_rows[size_t(r)].inputs)
                if (from < r - 1)
                    m_arcs.push_back({from, r, 0});
        std::stable_sort(m_arcs.begin(), m_arcs.end(),
                         [](const Arc &a, const Arc &b) { return a.to - a.from < b.to - b.from; });
        std::vector<std::vector<std::pair<int, int>>> lanes;
        for (Arc &arc : m_arcs) {
            size_t lane = 0;
            for (; lane < lanes.size(); ++lane) {
                bool free = true;
                for (const auto &[a, b] : lanes[lane])
                    if (!(arc.to <= a || arc.from >= b)) {
                        free = false;
                        break;
                    }
                if (free)
                    break;
            }
            if (lane == lanes.size())
                lanes.emplace_back();
            lanes[lane].push_back({arc.from, arc.to});
            arc.lane = int(lane);
        }
        m_lanes = int(lanes.size());
    }
    m_canvas->relayout();
}

void GraphPanel::setSelectedRow(int row)
{
    m_selected = row >= 0 && row < rowCount() ? row : -1;
    if (m_selected >= 0) {
        const QRect box = m_canvas->boxRect(m_selected);
        ensureVisible(box.center().x(), box.center().y(), 10, kRowHeight * 2);
    }
    m_canvas->update();
}

} // namespace cw::ui
