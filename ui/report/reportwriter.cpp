#include "ui/report/reportwriter.h"

#include <QAbstractTextDocumentLayout>
#include <QBuffer>
#include <QFileInfo>
#include <QPageLayout>
#include <QPainter>
#include <QPdfWriter>
#include <QPicture>
#include <QSaveFile>
#include <QTextCursor>
#include <QTextDocument>
#include <QTextFragment>
#include <QTextObjectInterface>

#include <qcustomplot.h>

#include <map>

#include "core/base/atomic_file.h"
#include "core/base/error.h"
#include "core/project/report.h"
#include "ui/charts/tradeoffchart.h"

namespace cw::ui {

namespace {

// A chart inside the text: a QPicture (vector drawing commands) scaled into the place the layout gives it.
constexpr int kChartObject = QTextFormat::UserObject + 1;
constexpr int kChartIndex = QTextFormat::UserProperty + 1;

class ChartObject : public QObject, public QTextObjectInterface {
    Q_OBJECT
    Q_INTERFACES(QTextObjectInterface)
public:
    // The pictures live here; a chart's text format holds only its index (a QPicture inside a QTextFormat breaks
    // the document's format table: the text after it is no longer drawn).
    int add(QPicture picture, QSizeF size)
    {
        m_charts.push_back({std::move(picture), size});
        return int(m_charts.size()) - 1;
    }
    QSizeF intrinsicSize(QTextDocument *doc, int, const QTextFormat &format) override
    {
        QSizeF size = m_charts.at(size_t(format.intProperty(kChartIndex))).second;
        // No wider than the text column.
        const qreal room = doc->pageSize().width() - 2 * doc->documentMargin();
        if (room > 0 && size.width() > room)
            size *= room / size.width();
        return size;
    }
    void drawObject(QPainter *painter, const QRectF &rect, QTextDocument *, int, const QTextFormat &format) override
    {
        const auto &[picture, size] = m_charts.at(size_t(format.intProperty(kChartIndex)));
        // QPicture::play scales by the device's resolution over 96 dpi on top of the painter's transform, which
        // already maps the text's units to the device: undo that.
        const qreal dpiX = qreal(painter->device()->logicalDpiX()) / 96.0;
        const qreal dpiY = qreal(painter->device()->logicalDpiY()) / 96.0;
        painter->save();
        painter->translate(rect.topLeft());
        painter->scale(rect.width() / size.width() / dpiX, rect.height() / size.height() / dpiY);
        painter->drawPicture(0, 0, picture);
        painter->restore();
    }

private:
    std::vector<std::pair<QPicture, QSizeF>> m_charts;
};

// The chart of `cost` for the project, sized `width` x `height`.
std::unique_ptr<TradeoffChart> makeChart(const cw::Project &project, const cw::ReportChart &spec)
{
    auto chart = std::make_unique<TradeoffChart>();
    // No legend: the report's text says what the marks mean, and replayed at the PDF's resolution the legend's
    // text would be clipped by the item boxes laid out at screen resolution.
    chart->setShowLegend(false);
    chart->resize(spec.width, spec.height);
    chart->plot()->resize(spec.width, spec.height);
    chart->showProject(&project, spec.cost);
    return chart;
}

QPicture chartPicture(const cw::Project &project, const cw::ReportChart &spec)
{
    const auto chart = makeChart(project, spec);
    QPicture picture;
    QCPPainter painter(&picture);
    chart->plot()->toPainter(&painter, spec.width, spec.height);
    painter.end();
    return picture;
}

QByteArray chartPng(const cw::Project &project, const cw::ReportChart &spec)
{
    const auto chart = makeChart(project, spec);
    const QPixmap pixmap = chart->plot()->toPixmap(spec.width, spec.height, 2.0);
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    pixmap.save(&buffer, "PNG");
    return bytes;
}

// Replaces every <img src="chart:ID"> of the laid-out text by a chart object of `handler`.
void insertCharts(QTextDocument &doc, const cw::Project &project, ChartObject &handler)
{
    std::map<QString, cw::ReportChart> specs;
    for (const cw::ReportChart &c : cw::reportCharts())
        specs[QStringLiteral("chart:") + QString::fromStdString(c.id)] = c;
    std::vector<std::pair<int, cw::ReportChart>> found; // position in the text, chart
    for (QTextBlock block = doc.begin(); block.isValid(); block = block.next())
        for (auto it = block.begin(); !it.atEnd(); ++it) {
            const QTextFragment fragment = it.fragment();
            if (!fragment.charFormat().isImageFormat())
                continue;
            const auto spec = specs.find(fragment.charFormat().toImageFormat().name());
            if (spec != specs.end())
                found.emplace_back(fragment.position(), spec->second);
        }
    // Back to front, so the positions before each replacement stay valid.
    for (auto it = found.rbegin(); it != found.rend(); ++it) {
        QTextCharFormat format;
        format.setObjectType(kChartObject);
        format.setProperty(kChartIndex, handler.add(chartPicture(project, it->second),
                                                    QSizeF(it->second.width, it->second.height)));
        QTextCursor cursor(&doc);
        cursor.setPosition(it->first);
        cursor.setPosition(it->first + 1, QTextCursor::KeepAnchor);
        cursor.insertText(QString(QChar::ObjectReplacementCharacter), format);
    }
}

bool writePdf(const cw::Project &project, const QString &html, const QString &path, QString *error)
{
    QPdfWriter writer(path);
    writer.setPageLayout(QPageLayout(QPageSize(QPageSize::A4), QPageLayout::Portrait, QMarginsF(15, 15, 15, 15),
                                     QPageLayout::Millimeter));
    writer.setResolution(300);
    writer.setTitle(QStringLiteral("Compression report"));
    writer.setCreator(QStringLiteral("Compression Workbench"));
    QTextDocument doc;
    QFont font(QStringLiteral("DejaVu Sans"));
    font.setPointSizeF(8.5);
    doc.setDefaultFont(font);
    // Words stay whole (QTextDocument's default also breaks them anywhere, "Memor|y"): table columns are at least
    // as wide as their longest word.
    QTextOption wrap = doc.defaultTextOption();
    wrap.setWrapMode(QTextOption::WordWrap);
    doc.setDefaultTextOption(wrap);
    ChartObject handler;
    doc.documentLayout()->registerHandler(kChartObject, &handler);
    // Laid out in points on the page's printable area; print() scales that to the writer's resolution.
    const QSizeF page = writer.pageLayout().paintRect(QPageLayout::Point).size();
    doc.setHtml(html);
    insertCharts(doc, project, handler);
    doc.setPageSize(page);
    doc.setDocumentMargin(0);
    doc.print(&writer);
    if (!QFileInfo(path).exists() || QFileInfo(path).size() == 0) {
        *error = QObject::tr("could not write the PDF");
        return false;
    }
    return true;
}

bool writeHtml(const cw::Project &project, QString html, const QString &path, QString *error)
{
    for (const cw::ReportChart &c : cw::reportCharts())
        html.replace(QStringLiteral("src=\"chart:%1\"").arg(QString::fromStdString(c.id)),
                     QStringLiteral("src=\"data:image/png;base64,%1\"")
                         .arg(QString::fromLatin1(chartPng(project, c).toBase64())));
    QSaveFile file(path);
    const QByteArray bytes = html.toUtf8();
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
        *error = file.errorString();
        return false;
    }
    return true;
}

} // namespace

bool writeReport(const cw::Project &project, const QString &projectName, const QString &path, QString *error)
{
    const QString suffix = QFileInfo(path).suffix().toLower();
    const QString html = QString::fromStdString(cw::reportHtml(project, projectName.toStdString()));
    bool ok = false;
    if (suffix == QLatin1String("html") || suffix == QLatin1String("htm")) {
        ok = writeHtml(project, html, path, error);
    } else if (suffix == QLatin1String("pdf")) {
        // QPdfWriter writes the file as it goes: into the temporary of an AtomicFile, renamed when complete.
        try {
            cw::AtomicFile out(QFile::encodeName(path).toStdString());
            ok = writePdf(project, html, QFile::decodeName(out.tempPath().c_str()), error);
            if (ok)
                out.commit();
        } catch (const cw::Error &e) {
            *error = QString::fromUtf8(e.what());
            return false;
        }
    } else {
        *error = QObject::tr("a report is written as .pdf or .html, not '%1'").arg(QFileInfo(path).fileName());
        return false;
    }
    if (!ok)
        *error = QObject::tr("could not write %1: %2").arg(path, *error);
    return ok;
}

} // namespace cw::ui

#include "reportwriter.moc"
