#include "ui/views/summarypanel.h"

#include <QMap>
#include <set>

#include "ui/formatting.h"

namespace cw::ui {

SummaryPanel::SummaryPanel(QWidget *parent) : QTextBrowser(parent)
{
    setObjectName(QStringLiteral("summaryPanel"));
    setOpenExternalLinks(false);
    setFrameShape(QFrame::NoFrame);
    document()->setDocumentMargin(10);
    setNotice(tr("No model open"), tr("Use File → Open… or drop an .onnx / .h5 file here."));
}

void SummaryPanel::setModel(const cw::Model *model, const QString &displayName, qint64 fileSize)
{
    m_model = model;
    m_displayName = displayName;
    m_fileSize = fileSize;
    m_evaluation.reset();
    m_noticeTitle.clear();
    m_noticeText.clear();
    render();
}

void SummaryPanel::setEvaluation(const std::optional<EvaluationSummary> &evaluation)
{
    m_evaluation = evaluation;
    render();
}

void SummaryPanel::setNotice(const QString &title, const QString &text)
{
    m_model = nullptr;
    m_evaluation.reset();
    m_noticeTitle = title;
    m_noticeText = text;
    render();
}

namespace {

QString row(const QString &key, const QString &value)
{
    return QStringLiteral("<tr><td style='color:#666; padding-right:14px; white-space:nowrap'>%1</td><td>%2</td></tr>")
        .arg(key.toHtmlEscaped(), value);
}

QString heading(const QString &text)
{
    return QStringLiteral("<h3 style='margin-top:10px; margin-bottom:4px'>%1</h3>").arg(text.toHtmlEscaped());
}

// "test_accuracy" -> "Test accuracy"
QString metadataLabel(const std::string &key)
{
    QString label = QString::fromStdString(key).replace(QLatin1Char('_'), QLatin1Char(' '));
    if (!label.isEmpty())
        label[0] = label[0].toUpper();
    return label;
}

} // namespace

void SummaryPanel::render()
{
    QString html;
    if (!m_model) {
        html = heading(m_noticeTitle) + QStringLiteral("<p>%1</p>").arg(m_noticeText.toHtmlEscaped().replace('\n', "<br>"));
        setHtml(html);
        return;
    }
    const cw::Model &m = *m_model;
    const auto meta = [&m](const char *key) -> QString {
        auto it = m.metadata.find(key);
        return it == m.metadata.end() ? QString() : QString::fromStdString(it->second);
    };
    const QString tableOpen = QStringLiteral("<table cellspacing='0' cellpadding='2'>");
    const QString tableClose = QStringLiteral("</table>");

    // What a reader wants first: which model, how big, and (below) how good.
    html += heading(tr("Model"));
    html += tableOpen;
    html += row(tr("File"), QStringLiteral("<b>%1</b>").arg(m_displayName.toHtmlEscaped()));
    std::set<std::string> shown;
    for (const char *key : {"architecture", "dataset", "accuracy", "test_accuracy"}) {
        QString value = meta(key);
        // Accuracies are stored as fractions ("0.9143"); show them as the percentages users read.
        bool isNumber = false;
        const double fraction = value.toDouble(&isNumber);
        if (isNumber && QString::fromLatin1(key).endsWith(QLatin1String("accuracy")) && fraction >= 0 && fraction <= 1)
            value = formatPercent(fraction);
        if (!value.isEmpty())
            html += row(metadataLabel(key), value.toHtmlEscaped());
        shown.insert(key);
    }
    html += row(tr("Parameters"), QStringLiteral("<b>%1</b>").arg(formatCount(m.graph.parameterCount())));
    html += row(tr("Weights"), formatBytes(int64_t(m.graph.parameterBytes())));
    if (m_fileSize >= 0)
        html += row(tr("File size"), formatBytes(m_fileSize));
    html += row(tr("Operators"), formatCount(int64_t(m.graph.nodes.size())));
    for (const cw::ValueInfo &in : m.graph.inputs)
        html += row(tr("Input"), QStringLiteral("%1 %2 %3")
                                     .arg(QString::fromStdString(in.name).toHtmlEscaped(), formatShape(in),
                                          QString::fromUtf8(cw::dtypeName(in.dtype))));
    for (const cw::ValueInfo &out : m.graph.outputs)
        html += row(tr("Output"), QStringLiteral("%1 %2")
                                      .arg(QString::fromStdString(out.name).toHtmlEscaped(), formatShape(out)));
    html += tableClose;

    if (m_evaluation) {
        const cw::EvalResult &r = m_evaluation->result;
        html += heading(tr("Evaluation"));
        html += tableOpen;
        html += row(tr("Dataset"), m_evaluation->dataset.toHtmlEscaped());
        html += row(tr("Accuracy"), QStringLiteral("<b>%1</b>").arg(formatPercent(r.accuracy)));
        html += row(tr("Top-5"), formatPercent(r.top5));
        html += row(tr("Loss"), displayLocale().toString(r.loss, 'f', 4));
        html += row(tr("Samples"), formatCount(r.samples));
        if (m_evaluation->elapsedMs > 0)
            html += row(tr("Time"), tr("%1 s").arg(displayLocale().toString(m_evaluation->elapsedMs / 1000.0, 'f', 2)));
        html += tableClose;
    }

    html += heading(tr("Details"));
    html += tableOpen;
    if (!m.graph.name.empty())
        html += row(tr("Graph"), QString::fromStdString(m.graph.name).toHtmlEscaped());
    std::set<std::string> opTypes;
    for (const cw::Node &n : m.graph.nodes)
        opTypes.insert(n.opType);
    QStringList ops;
    for (const std::string &op : opTypes)
        ops << QString::fromStdString(op);
    if (!ops.isEmpty())
        html += row(tr("Op types"), ops.join(QStringLiteral(", ")).toHtmlEscaped());
    html += row(tr("Opset"), QString::number(m.opsetVersion));
    if (!m.producerName.empty())
        html += row(tr("Producer"), QString::fromStdString(m.producerName).toHtmlEscaped());
    for (const auto &[key, raw] : m.metadata) {
        if (shown.count(key))
            continue;
        QString value = QString::fromStdString(raw);
        if (key == "classes" && !value.contains(QStringLiteral(", ")))
            value.replace(QLatin1Char(','), QStringLiteral(", ")); // lets the list wrap
        html += row(metadataLabel(key), value.toHtmlEscaped());
    }
    html += tableClose;
    setHtml(html);
}

} // namespace cw::ui
