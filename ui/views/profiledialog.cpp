#include "ui/views/profiledialog.h"

#include <QDialogButtonBox>
#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>

#include "ui/charts/chartexport.h"
#include "ui/formatting.h"

namespace cw::ui {

namespace {

const QColor kBarColor(64, 120, 180);

// The table's columns; a number cell holds its value, unrounded, under kValueRole.
enum Column { NodeColumn, OperatorColumn, MicrosecondsColumn, ShareColumn };
constexpr int kValueRole = Qt::UserRole;

// A number cell that sorts by its value, not its text.
class NumberItem : public QTableWidgetItem {
public:
    NumberItem(double value, const QString &text) : QTableWidgetItem(text)
    {
        setData(kValueRole, value);
        setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    }
    bool operator<(const QTableWidgetItem &other) const override
    {
        return data(kValueRole).toDouble() < other.data(kValueRole).toDouble();
    }
};

} // namespace

ProfileDialog::ProfileDialog(const QString &modelName, const cw::BenchResult &result, QWidget *parent)
    : QDialog(parent), m_summary(new QLabel(this)), m_plot(new QCustomPlot(this)), m_table(new QTableWidget(this))
{
    setWindowTitle(tr("Where the Time Goes — %1").arg(modelName));
    setObjectName(QStringLiteral("profileDialog"));
    double covered = 0;
    for (const cw::NodeTime &n : result.nodes)
        covered += n.ms;
    m_summary->setWordWrap(true);
    m_summary->setText(tr("Batch %1 on %2 thread(s), %3 timed runs: p50 <b>%4 ms</b>, mean %5 ms. The nodes' own "
                          "times add up to %6 of a run; the rest is the session's work between them.")
                           .arg(result.batch)
                           .arg(result.threads)
                           .arg(result.iterations)
                           .arg(formatMs(result.p50Ms), formatMs(result.meanMs),
                                formatPercent(result.meanMs > 0 ? covered / result.meanMs : 0, 0)));

    // The slowest nodes, slowest at the top.
    enableChartExport(m_plot, QStringLiteral("profile"));
    m_plot->setObjectName(QStringLiteral("profilePlot"));
    m_plot->setBackground(palette().base());
    auto *title = new QCPTextElement(m_plot, tr("Slowest nodes, time per run"),
                                     QFont(font().family(), font().pointSize() + 1, QFont::Bold));
    m_plot->plotLayout()->insertRow(0);
    m_plot->plotLayout()->addElement(0, 0, title);
    auto *bars = new QCPBars(m_plot->yAxis, m_plot->xAxis);
    bars->setWidth(0.6);
    bars->setPen(QPen(kBarColor.darker(120)));
    bars->setBrush(kBarColor);
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    const int shown = std::min<int>(kChartNodes, int(result.nodes.size()));
    QVector<double> keys, values;
    double largest = 0;
    for (int i = 0; i < shown; ++i) {
        const cw::NodeTime &n = result.nodes[size_t(i)];
        keys << i + 1;
        values << n.ms * 1000.0;
        largest = std::max(largest, n.ms * 1000.0);
        QString label = QString::fromStdString(n.name.empty() ? n.opType : n.name);
        if (label.size() > 28)
            label = label.left(12) + QStringLiteral("…") + label.right(14);
        ticker->addTick(i + 1, label);
        auto *text = new QCPItemText(m_plot);
        text->setClipToAxisRect(false);
        text->setPositionAlignment(Qt::AlignLeft | Qt::AlignVCenter);
        text->position->setType(QCPItemPosition::ptPlotCoords);
        text->position->setAxes(m_plot->xAxis, m_plot->yAxis);
        text->position->setCoords(n.ms * 1000.0, i + 1);
        text->setPadding(QMargins(4, 0, 0, 0));
        text->setColor(QColor(60, 60, 60));
        text->setText(QStringLiteral("%1  (%2)").arg(QString::fromStdString(n.opType), formatPercent(n.share, 1)));
    }
    bars->setData(keys, values, true);
    m_plot->yAxis->setTicker(ticker);
    m_plot->yAxis->setRangeReversed(true);
    m_plot->yAxis->setRange(0.4, std::max(shown, 1) + 0.6);
    m_plot->yAxis->setTickLength(0, 3);
    m_plot->yAxis->grid()->setVisible(false);
    m_plot->xAxis->setLabel(tr("µs per run"));
    m_plot->xAxis->setRange(0, largest > 0 ? largest * 1.45 : 1); // room for the labels
    m_plot->xAxis->grid()->setPen(QPen(QColor(0, 0, 0, 30), 1, Qt::DotLine));
    m_plot->setMinimumHeight(120 + 18 * std::max(shown, 4));

    // Every node.
    m_table->setObjectName(QStringLiteral("profileTable"));
    m_table->setColumnCount(4);
    m_table->setHorizontalHeaderLabels({tr("Node"), tr("Operator"), tr("µs per run"), tr("Share of a run")});
    m_table->setRowCount(int(result.nodes.size()));
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->verticalHeader()->setVisible(false);
    for (int r = 0; r < m_table->rowCount(); ++r) {
        const cw::NodeTime &n = result.nodes[size_t(r)];
        const double us = n.ms * 1000.0;
        m_table->setItem(r, NodeColumn, new QTableWidgetItem(QString::fromStdString(n.name)));
        m_table->setItem(r, OperatorColumn, new QTableWidgetItem(QString::fromStdString(n.opType)));
        m_table->setItem(r, MicrosecondsColumn, new NumberItem(us, QString::number(us, 'f', us < 10 ? 2 : 1)));
        m_table->setItem(r, ShareColumn, new NumberItem(n.share, formatPercent(n.share, 1)));
    }
    m_table->setToolTip(tr("Double-click a node to inspect its layer"));
    connect(m_table, &QTableWidget::cellDoubleClicked, this,
            [this](int row, int) { emit nodeActivated(m_table->item(row, NodeColumn)->text()); });
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(MicrosecondsColumn, Qt::DescendingOrder);
    m_table->horizontalHeader()->setSectionResizeMode(NodeColumn, QHeaderView::Stretch);
    m_table->resizeColumnsToContents();

    auto *split = new QSplitter(Qt::Vertical, this);
    split->addWidget(m_plot);
    split->addWidget(m_table);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_summary);
    layout->addWidget(split, 1);
    layout->addWidget(buttons);
    resize(760, 720);
}

double ProfileDialog::microseconds(int row) const
{
    return m_table->item(row, MicrosecondsColumn)->data(kValueRole).toDouble();
}

double ProfileDialog::share(int row) const
{
    return m_table->item(row, ShareColumn)->data(kValueRole).toDouble();
}

} // namespace cw::ui
