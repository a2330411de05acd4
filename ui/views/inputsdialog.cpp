#include "ui/views/inputsdialog.h"

#include <QDialogButtonBox>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

#include <cmath>
#include <set>

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

bool isFloat(cw::DType t)
{
    return t == cw::DType::Float32 || t == cw::DType::Float16 || t == cw::DType::BFloat16;
}

} // namespace

QString InputsDialog::initialText(const cw::ValueInfo &input, const std::string &batchSymbol, const ModelInputs &inputs)
{
    auto given = inputs.shapes.find(input.name);
    if (given != inputs.shapes.end())
        return formatDims(given->second);
    if (!input.shapeKnown)
        return {};
    QStringList dims;
    for (size_t d = 0; d < input.shape.size(); ++d) {
        if (input.shape[d] >= 0) {
            dims << QString::number(input.shape[d]);
            continue;
        }
        const std::string name = cw::symbolOf(input, d);
        if (auto same = inputs.sameSize.find(name); same != inputs.sameSize.end())
            dims << QString::fromStdString(same->second);
        else if (auto size = inputs.sizes.find(name); size != inputs.sizes.end())
            dims << QString::number(size->second);
        else
            dims << (name == batchSymbol ? QStringLiteral("1") : QString::fromStdString(name));
    }
    return dims.join(QLatin1Char(','));
}

bool InputsDialog::shapeEditable(const cw::Graph &graph, size_t index)
{
    const cw::ValueInfo &in = graph.inputs.at(index);
    // The first input's rows come from the dataset, which gives the shape a declaration leaves open.
    return hasSymbol(in) || (!in.shapeKnown && index > 0);
}

InputsDialog::InputsDialog(const cw::Graph &graph, const ModelInputs &inputs, QWidget *parent) : QDialog(parent)
{
    setObjectName(QStringLiteral("inputsDialog"));
    setWindowTitle(tr("Model Inputs"));
    m_graph.inputs = graph.inputs;
    const std::string batch = cw::batchSymbol(graph);

    m_reason = new QLabel(this);
    m_reason->setObjectName(QStringLiteral("inputsReason"));
    m_reason->setWordWrap(true);
    m_reason->setVisible(false);

    auto *intro = new QLabel(
        tr("What every run of this model (evaluation, activation statistics, sensitivity, compression and its "
           "latency) feeds its inputs, remembered for this file. Shape: concrete sizes for symbolic dimensions; "
           "the batch dimension follows each job's batch size. Data: random, or one value for every element "
           "(a sample rate, a flag); the first input takes the dataset."),
        this);
    intro->setWordWrap(true);

    m_table = new QTableWidget(int(graph.inputs.size()), ColumnCount, this);
    m_table->setObjectName(QStringLiteral("inputsTable"));
    m_table->setHorizontalHeaderLabels({tr("Input"), tr("Type"), tr("Declared shape"), tr("Shape"), tr("Data")});
    m_table->verticalHeader()->setVisible(false);
    m_table->setSelectionMode(QAbstractItemView::NoSelection);
    m_table->setEditTriggers(QAbstractItemView::AllEditTriggers);
    for (int r = 0; r < int(graph.inputs.size()); ++r) {
        const cw::ValueInfo &in = graph.inputs[size_t(r)];
        const bool shapeEdit = shapeEditable(graph, size_t(r)), valueEdit = valueEditable(graph, size_t(r));
        const auto value = inputs.values.find(in.name);
        const QString cells[ColumnCount] = {
            QString::fromStdString(in.name), QString::fromLatin1(cw::dtypeName(in.dtype)), formatShape(in),
            shapeEdit ? initialText(in, batch, inputs) : in.shapeKnown ? tr("fixed") : tr("not declared"),
            !valueEdit                    ? tr("dataset")
            : value != inputs.values.end() ? QString::number(value->second, 'g', 17)
                                           : tr("random")};
        for (int c = 0; c < ColumnCount; ++c) {
            auto *item = new QTableWidgetItem(cells[c]);
            const bool editable = (c == Shape && shapeEdit) || (c == Data && valueEdit);
            if (!editable) {
                item->setFlags(item->flags() & ~Qt::ItemIsEditable);
                if (c == Shape || c == Data)
                    item->setForeground(palette().brush(QPalette::Disabled, QPalette::Text));
            }
            if (c == Data)
                item->setToolTip(valueEdit ? tr("'random' (seeded random data), or a number every element takes")
                                           : tr("The first input takes the dataset's rows (random data when timing)"));
            m_table->setItem(r, c, item);
        }
    }
    m_table->resizeColumnsToContents();
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->setMinimumWidth(std::min(900, m_table->horizontalHeader()->length() + 160));
    connect(m_table, &QTableWidget::itemChanged, this, &InputsDialog::validate);

    m_message = new QLabel(this);
    m_message->setObjectName(QStringLiteral("inputsMessage"));
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

void InputsDialog::setReason(const QString &text)
{
    m_reason->setText(QStringLiteral("<b>%1</b>").arg(text.toHtmlEscaped()));
    m_reason->setVisible(!text.isEmpty());
}

// "" when `text` is a valid shape for `in` (then stored in m_inputs), else what is wrong.
QString InputsDialog::checkShape(const cw::ValueInfo &in, const QString &text)
{
    const QString name = QString::fromStdString(in.name);
    cw::Shape shape;
    // A symbolic dimension that names another symbol: the row gives symbols of one size and sizes.
    std::set<std::string> symbols;
    for (const cw::ValueInfo &v : m_graph.inputs)
        for (size_t d = 0; v.shapeKnown && d < v.shape.size(); ++d)
            if (v.shape[d] < 0)
                symbols.insert(cw::symbolOf(v, d));
    const QStringList parts = text.split(QLatin1Char(','));
    bool named = false;
    for (int d = 0; in.shapeKnown && d < parts.size() && d < int(in.shape.size()); ++d)
        named = named || (in.shape[size_t(d)] < 0 && symbols.count(parts[d].trimmed().toStdString()) &&
                          parts[d].trimmed().toStdString() != cw::symbolOf(in, size_t(d)));
    if (named && parts.size() == int(in.shape.size())) {
        std::map<std::string, std::string> same;
        std::map<std::string, int64_t> sizes;
        const std::string batch = cw::batchSymbol(m_graph);
        for (size_t d = 0; d < in.shape.size(); ++d) {
            const std::string part = parts[int(d)].trimmed().toStdString(), own = cw::symbolOf(in, d);
            cw::Shape one;
            if (in.shape[d] < 0 && symbols.count(part) && part != own)
                same[own] = part;
            else if (!parseDims(parts[int(d)], one))
                return tr("%1: '%2' is not a size or another dimension's name.").arg(name, QString::fromStdString(part));
            else if (in.shape[d] >= 0 && one[0] != in.shape[d])
                return tr("%1: dimension %2 is fixed at %3 by the model.").arg(name).arg(d).arg(in.shape[d]);
            else if (in.shape[d] < 0 && own != batch) // the batch follows each job
                sizes[own] = one[0];
        }
        for (const auto &[symbol, other] : same)
            if (!m_inputs.sameSize.emplace(symbol, other).second && m_inputs.sameSize[symbol] != other)
                return tr("%1: dimension '%2' is given the size of two others.").arg(name, QString::fromStdString(symbol));
        for (const auto &[symbol, size] : sizes)
            if (!m_inputs.sizes.emplace(symbol, size).second && m_inputs.sizes[symbol] != size)
                return tr("%1: dimension '%2' is given two sizes.").arg(name, QString::fromStdString(symbol));
        return {};
    }
    if (!parseDims(text, shape)) {
        QString bad;
        for (const QString &part : text.split(QLatin1Char(',')))
            if (cw::Shape one; bad.isEmpty() && !parseDims(part, one))
                bad = part.trimmed();
        // A symbol's name as the row first offered it.
        const bool symbol = in.shapeKnown && initialText(in, {}, ModelInputs{}).split(QLatin1Char(',')).contains(bad);
        if (symbol)
            return tr("%1: replace %2 with its size, a whole number of at least 1.").arg(name, bad);
        if (!in.shapeKnown && text.trimmed().isEmpty())
            return tr("%1: the model does not declare its shape; give one, e.g. 1,16.").arg(name);
        return tr("%1: '%2' is not a size; give whole numbers of at least 1, separated by commas.").arg(name, bad);
    }
    if (in.shapeKnown) {
        if (shape.size() != in.shape.size())
            return tr("%1: the model declares %2 dimensions, %3.").arg(name).arg(in.shape.size()).arg(formatShape(in));
        for (size_t d = 0; d < shape.size(); ++d)
            if (in.shape[d] >= 0 && in.shape[d] != shape[d])
                return tr("%1: dimension %2 is fixed at %3 by the model.").arg(name).arg(d).arg(in.shape[d]);
    }
    m_inputs.shapes[in.name] = shape;
    return {};
}

void InputsDialog::validate()
{
    m_inputs = {};
    m_error.clear();
    for (int r = 0; r < m_table->rowCount() && m_error.isEmpty(); ++r) {
        const cw::ValueInfo &in = m_graph.inputs[size_t(r)];
        if (shapeEditable(m_graph, size_t(r)))
            m_error = checkShape(in, m_table->item(r, Shape)->text());
        if (!m_error.isEmpty() || !valueEditable(m_graph, size_t(r)))
            continue;
        const QString text = m_table->item(r, Data)->text();
        std::optional<double> value;
        if (!parseValue(text, value))
            m_error = tr("%1: '%2' is not a value; give a number, or 'random'.")
                          .arg(QString::fromStdString(in.name), text.trimmed());
        else if (value && !isFloat(in.dtype) && *value != std::floor(*value))
            m_error = tr("%1 is %2: give a whole number.")
                          .arg(QString::fromStdString(in.name), QString::fromLatin1(cw::dtypeName(in.dtype)));
        else if (value)
            m_inputs.values[in.name] = *value;
    }
    if (m_error.isEmpty()) {
        try {
            feedOptions(m_graph, m_inputs); // one size per symbol across inputs
        } catch (const cw::Error &e) {
            m_error = QString::fromUtf8(e.what());
        }
    }
    if (!m_error.isEmpty())
        m_inputs = {};
    m_message->setText(m_error.isEmpty() ? QString() : QStringLiteral("<span style='color:#b00020'>%1</span>").arg(m_error.toHtmlEscaped()));
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(m_error.isEmpty());
}

} // namespace cw::ui
