#include "ui/views/inputshapesdialog.h"

#include <QDialogButtonBox>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include "core/base/error.h"
#include "ui/formatting.h"

namespace cw::ui {

namespace {

bool hasSymbol(const cw::ValueInfo &input)
{
    if (!input.shapeKnown)
        return false;
    for (int64_t d : input.shape)
        if (d < 0)
            return true;
    return false;
}

} // namespace

QString InputShapesDialog::initialText(const cw::ValueInfo &input, const std::string &batchSymbol,
                                       const InputShapes &shapes)
{
    auto given = shapes.find(input.name);
    if (given != shapes.end())
        return formatDims(given->second);
    QStringList dims;
    for (size_t d = 0; d < input.shape.size(); ++d) {
        if (input.shape[d] >= 0) {
            dims << QString::number(input.shape[d]);
            continue;
        }
        // The symbol as feeds.h names it: unnamed dimensions are "N" when leading, else "<input>_dim<k>".
        std::string name = input.dimName(d);
        if (name.empty())
            name = d == 0 ? std::string("N") : input.name + "_dim" + std::to_string(d);
        dims << (name == batchSymbol ? QStringLiteral("1") : QString::fromStdString(name));
    }
    return dims.join(QLatin1Char(','));
}

InputShapesDialog::InputShapesDialog(const cw::Graph &graph, const InputShapes &shapes, QWidget *parent)
    : QDialog(parent)
{
    setObjectName(QStringLiteral("inputShapesDialog"));
    setWindowTitle(tr("Input Shapes"));
    m_graph.inputs = graph.inputs;
    const std::string batch = cw::batchSymbol(graph);

    m_reason = new QLabel(this);
    m_reason->setObjectName(QStringLiteral("inputShapesReason"));
    m_reason->setWordWrap(true);
    m_reason->setVisible(false);

    auto *intro = new QLabel(
        tr("Concrete sizes for the inputs' symbolic dimensions, used by every run of this model (evaluation, "
           "activation statistics, sensitivity, compression and its latency) and remembered for this file. The "
           "batch dimension follows each job's batch size."),
        this);
    intro->setWordWrap(true);

    m_table = new QTableWidget(int(graph.inputs.size()), ColumnCount, this);
    m_table->setObjectName(QStringLiteral("inputShapesTable"));
    m_table->setHorizontalHeaderLabels({tr("Input"), tr("Type"), tr("Declared shape"), tr("Shape")});
    m_table->verticalHeader()->setVisible(false);
    m_table->setSelectionMode(QAbstractItemView::NoSelection);
    m_table->setEditTriggers(QAbstractItemView::AllEditTriggers);
    for (int r = 0; r < int(graph.inputs.size()); ++r) {
        const cw::ValueInfo &in = graph.inputs[size_t(r)];
        const bool editable = hasSymbol(in);
        const QString cells[ColumnCount] = {QString::fromStdString(in.name), QString::fromLatin1(cw::dtypeName(in.dtype)),
                                            formatShape(in),
                                            editable ? initialText(in, batch, shapes)
                                            : in.shapeKnown ? tr("fixed") : tr("not declared")};
        for (int c = 0; c < ColumnCount; ++c) {
            auto *item = new QTableWidgetItem(cells[c]);
            if (c != Shape || !editable) {
                item->setFlags(item->flags() & ~Qt::ItemIsEditable);
                if (c == Shape)
                    item->setForeground(palette().brush(QPalette::Disabled, QPalette::Text));
            }
            m_table->setItem(r, c, item);
        }
    }
    m_table->resizeColumnsToContents();
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setMinimumWidth(std::min(900, m_table->horizontalHeader()->length() + 160));
    connect(m_table, &QTableWidget::itemChanged, this, &InputShapesDialog::validate);

    m_message = new QLabel(this);
    m_message->setObjectName(QStringLiteral("inputShapesMessage"));
    m_message->setWordWrap(true);

    m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(m_buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_reason);
    layout->addWidget(intro);
    layout->addWidget(m_table, 1);
    layout->addWidget(m_message);
    layout->addWidget(m_buttons);
    validate();
}

void InputShapesDialog::setReason(const QString &text)
{
    m_reason->setText(QStringLiteral("<b>%1</b>").arg(text.toHtmlEscaped()));
    m_reason->setVisible(!text.isEmpty());
}

void InputShapesDialog::validate()
{
    m_shapes.clear();
    m_error.clear();
    for (int r = 0; r < m_table->rowCount() && m_error.isEmpty(); ++r) {
        const cw::ValueInfo &in = m_graph.inputs[size_t(r)];
        if (!hasSymbol(in))
            continue;
        const QString text = m_table->item(r, Shape)->text();
        cw::Shape shape;
        if (!parseDims(text, shape)) {
            QString bad;
            for (const QString &part : text.split(QLatin1Char(',')))
                if (cw::Shape one; bad.isEmpty() && !parseDims(part, one))
                    bad = part.trimmed();
            // A symbol's name as the row first offered it.
            const bool symbol = initialText(in, {}, {}).split(QLatin1Char(',')).contains(bad);
            m_error = symbol ? tr("%1: replace %2 with its size, a whole number of at least 1.").arg(QString::fromStdString(in.name), bad)
                             : tr("%1: '%2' is not a size; give whole numbers of at least 1, separated by commas.")
                                   .arg(QString::fromStdString(in.name), bad);
            break;
        }
        if (shape.size() != in.shape.size()) {
            m_error = tr("%1: the model declares %2 dimensions, %3.")
                          .arg(QString::fromStdString(in.name))
                          .arg(in.shape.size())
                          .arg(formatShape(in));
            break;
        }
        for (size_t d = 0; d < shape.size() && m_error.isEmpty(); ++d)
            if (in.shape[d] >= 0 && in.shape[d] != shape[d])
                m_error = tr("%1: dimension %2 is fixed at %3 by the model.")
                              .arg(QString::fromStdString(in.name))
                              .arg(d)
                              .arg(in.shape[d]);
        m_shapes[in.name] = shape;
    }
    if (m_error.isEmpty()) {
        try {
            cw::symbolSizes(m_graph, m_shapes); // one size per symbol across inputs
        } catch (const cw::Error &e) {
            m_error = QString::fromUtf8(e.what());
        }
    }
    if (!m_error.isEmpty())
        m_shapes.clear();
    m_message->setText(m_error.isEmpty() ? QString() : QStringLiteral("<span style='color:#b00020'>%1</span>").arg(m_error.toHtmlEscaped()));
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(m_error.isEmpty());
}

} // namespace cw::ui
