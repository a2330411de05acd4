#include "ui/views/profiledialog.h"

#include <QDialogButtonBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QThread>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include <algorithm>

#include "ui/charts/chartexport.h"
#include "ui/formatting.h"
#include "ui/rowtable.h"

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

QString summaryText(const cw::BenchResult &result)
{
    double covered = 0;
    for (const cw::NodeTime &n : result.nodes)
        covered += n.ms;
    return ProfileDialog::tr("Batch %1 on %2 thread(s), %3 timed runs: p50 <b>%4 ms</b>, mean %5 ms. The nodes' own "
                             "times add up to %6 of a run; the rest is the session's work between them.")
        .arg(result.batch)
        .arg(result.threads)
        .arg(result.iterations)
        .arg(formatMs(result.p50Ms), formatMs(result.meanMs),
             formatPercent(result.meanMs > 0 ? covered / result.meanMs : 0, 0));
}

} // namespace

ProfileDialog::ProfileDialog(const QString &modelName, const cw::BenchResult &result, QWidget *parent)
    : QDialog(parent), m_batch(new QSpinBox(this)), m_threads(new QSpinBox(this)),
      m_again(new QPushButton(tr("Profile &Again"), this)), m_summary(new QLabel(this)), m_plot(new QCustomPlot(this)),
      m_table(new QTableWidget(this))
{
    setWindowTitle(tr("Where the Time Goes — %1").arg(modelName));
    setObjectName(QStringLiteral("profileDialog"));

    // Another profile of the same model, at another batch or on more threads.
    m_batch->setObjectName(QStringLiteral("profileBatch"));
    m_batch->setRange(1, 4096);
    m_batch->setToolTip(tr("Samples per run (the batch dimension of the inputs)"));
    m_threads->setObjectName(QStringLiteral("profileThreads"));
    m_threads->setRange(1, std::max(1, QThread::idealThreadCount()));
    m_threads->setToolTip(tr("Threads the engine may use"));
    m_again->setObjectName(QStringLiteral("profileAgain"));
    m_again->setDefault(true); // Return in a box profiles again
    m_again->setToolTip(tr("Profile the model again at this batch and number of threads"));
    connect(m_again, &QPushButton::clicked, this,
            [this]() { emit profileRequested(m_batch->value(), m_threads->value()); });
    auto *controls = new QHBoxLayout;
    for (const auto &[text, box] : {std::pair{tr("&Batch:"), m_batch}, std::pair{tr("&Threads:"), m_threads}}) {
        auto *label = new QLabel(text, this);
        label->setBuddy(box);
        controls->addWidget(label);
        controls->addWidget(box);
    }
    controls->addWidget(m_again);
    controls->addStretch(1);
    m_summary->setWordWrap(true);

    enableChartExport(m_plot, QStringLiteral("profile"));
    m_plot->setObjectName(QStringLiteral("profilePlot"));
    m_plot->setBackground(palette().base());
    auto *title = new QCPTextElement(m_plot, tr("Slowest nodes, time per run"),
                                     QFont(font().family(), font().pointSize() + 1, QFont::Bold));
    m_plot->plotLayout()->insertRow(0);
    m_plot->plotLayout()->addElement(0, 0, title);
    m_plot->yAxis->setRangeReversed(true); // the slowest at the top
    m_plot->yAxis->setTickLength(0, 3);
    m_plot->yAxis->grid()->setVisible(false);
    m_plot->xAxis->setLabel(tr("µs per run"));
    m_plot->xAxis->grid()->setPen(QPen(QColor(0, 0, 0, 30), 1, Qt::DotLine));

    m_table->setObjectName(QStringLiteral("profileTable"));
    m_table->setColumnCount(4);
    m_table->setHorizontalHeaderLabels({tr("Node"), tr("Operator"), tr("µs per run"), tr("Share of a run")});
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->verticalHeader()->setVisible(false);
    m_table->setToolTip(tr("Double-click a node to inspect its layer"));
    connect(m_table, &QTableWidget::cellDoubleClicked, this,
            [this](int row, int) { emit nodeActivated(m_table->item(row, NodeColumn)->text()); });
    m_table->horizontalHeader()->setSectionResizeMode(NodeColumn, QHeaderView::Stretch);
    enableRowCopy(m_table);

    auto *split = new QSplitter(Qt::Vertical, this);
    split->addWidget(m_plot);
    split->addWidget(m_table);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto *layout = new QVBoxLayout(this);
    layout->addLayout(controls);
    layout->addWidget(m_summary);
    layout->addWidget(split, 1);
    layout->addWidget(buttons);
    resize(760, 720);
    setResult(result);
}

void ProfileDialog::setResult(const cw::BenchResult &result)
{
    m_result = result;
    m_batch->setValue(int(std::min<int64_t>(result.batch, m_batch->maximum())));
    m_threads->setValue(std::min(result.threads, m_threads->maximum()));
    fillChart();
    fillTable();
    setBusy(false);
}

void ProfileDialog::setBusy(bool busy)
{
    m_batch->setEnabled(!busy);
    m_threads->setEnabled(!busy);
    m_again->setEnabled(!busy);
    m_summary->setText(busy ? tr("Profiling at batch %1 on %2 thread(s)…").arg(m_batch->value()).arg(m_threads->value())
                            : summaryText(m_result));
}

// The slowest nodes as bars, slowest at the top, each labelled with its operator and share of a run.
void ProfileDialog::fillChart()
{
    m_plot->clearPlottables();
    m_plot->clearItems();
    auto *bars = new QCPBars(m_plot->yAxis, m_plot->xAxis);
    bars->setWidth(0.6);
    bars->setPen(QPen(kBarColor.darker(120)));
    bars->setBrush(kBarColor);
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    const std::vector<cw::NodeTime> &nodes = m_result.nodes;
    const int shown = std::min<int>(kChartNodes, int(nodes.size()));
    QVector<double> keys, values;
    double largest = 0;
    for (int i = 0; i < shown; ++i) {
        const cw::NodeTime &n = nodes[size_t(i)];
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
    m_plot->yAxis->setRange(0.4, std::max(shown, 1) + 0.6);
    m_plot->xAxis->setRange(0, largest > 0 ? largest * 1.45 : 1); // room for the labels
    m_plot->setMinimumHeight(120 + 18 * std::max(shown, 4));
    m_plot->replot();
}

// Every node, slowest first; sortable by any column.
void ProfileDialog::fillTable()
{
    m_table->setSortingEnabled(false); // rows filled while sorting would move under the loop
    m_table->setRowCount(int(m_result.nodes.size()));
    for (int r = 0; r < m_table->rowCount(); ++r) {
        const cw::NodeTime &n = m_result.nodes[size_t(r)];
        const double us = n.ms * 1000.0;
        m_table->setItem(r, NodeColumn, new QTableWidgetItem(QString::fromStdString(n.name)));
        m_table->setItem(r, OperatorColumn, new QTableWidgetItem(QString::fromStdString(n.opType)));
        m_table->setItem(r, MicrosecondsColumn, new NumberItem(us, QString::number(us, 'f', us < 10 ? 2 : 1)));
        m_table->setItem(r, ShareColumn, new NumberItem(n.share, formatPercent(n.share, 1)));
    }
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(MicrosecondsColumn, Qt::DescendingOrder);
    m_table->resizeColumnsToContents();
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
