#include "ui/charts/chartexport.h"

#include <QApplication>
#include <QClipboard>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMessageBox>
#include <QSettings>
#include <QSvgGenerator>

#include <qcustomplot.h>

#include "core/base/atomic_file.h"
#include "core/base/error.h"

namespace cw::ui {

namespace {
const char kExportDirKey[] = "charts/exportDir";

// The size a chart is written at: as shown, or a default when it is not (a report, a test).
QSize chartSize(const QCustomPlot *plot, QSize fallback)
{
    return plot->isVisible() && plot->width() > 100 && plot->height() > 80 ? plot->size() : fallback;
}
} // namespace

bool saveAtomically(const QString &path, const std::function<bool(const QString &temp)> &write, QString *error)
{
    try {
        cw::AtomicFile out(QFile::encodeName(path).toStdString());
        if (!write(QFile::decodeName(out.tempPath().c_str()))) {
            *error = QObject::tr("could not write %1").arg(path);
            return false;
        }
        out.commit();
    } catch (const cw::Error &e) {
        *error = QString::fromUtf8(e.what());
        return false;
    }
    return true;
}

bool saveChart(QCustomPlot *plot, const QString &path, QString *error)
{
    const QString suffix = QFileInfo(path).suffix().toLower();
    const QSize vector = chartSize(plot, QSize(900, 560));
    if (suffix == QLatin1String("pdf"))
        return saveAtomically(path, [&](const QString &temp) { return plot->savePdf(temp, vector.width(), vector.height()); },
                              error);
    if (suffix == QLatin1String("png")) {
        const QSize size = plot->isVisible() ? vector : QSize(675, 420);
        return saveAtomically(path, [&](const QString &temp) { return plot->savePng(temp, size.width(), size.height(), 2.0); },
                              error);
    }
    if (suffix == QLatin1String("svg"))
        return saveAtomically(path, [&](const QString &temp) {
            QSvgGenerator svg;
            svg.setFileName(temp);
            svg.setSize(vector);
            svg.setViewBox(QRect(QPoint(0, 0), vector));
            svg.setResolution(plot->logicalDpiX()); // fonts in points come out as large as on screen
            svg.setTitle(QFileInfo(path).completeBaseName());
            svg.setDescription(QObject::tr("A chart of Compression Workbench"));
            QCPPainter painter;
            if (!painter.begin(&svg))
                return false;
            plot->toPainter(&painter, vector.width(), vector.height());
            return painter.end();
        }, error);
    *error = QObject::tr("a chart saves as .png, .svg or .pdf, not '%1'").arg(QFileInfo(path).fileName());
    return false;
}

void copyChart(QCustomPlot *plot)
{
    const QSize size = chartSize(plot, QSize(675, 420));
    QApplication::clipboard()->setPixmap(plot->toPixmap(size.width(), size.height(), 2.0));
}

void enableChartExport(QCustomPlot *plot, const QString &baseName)
{
    plot->setContextMenuPolicy(Qt::CustomContextMenu);
    QObject::connect(plot, &QWidget::customContextMenuRequested, plot, [plot, baseName](const QPoint &at) {
        QMenu menu(plot);
        QAction *save = menu.addAction(QObject::tr("Save Chart As…"));
        QAction *copy = menu.addAction(QObject::tr("Copy Chart"));
        QAction *chosen = menu.exec(plot->mapToGlobal(at));
        if (chosen == copy) {
            copyChart(plot);
        } else if (chosen == save) {
            const QString dir = QSettings().value(QLatin1String(kExportDirKey), QDir::homePath()).toString();
            const QString path = QFileDialog::getSaveFileName(
                plot, QObject::tr("Save Chart"), QDir(dir).filePath(baseName + QStringLiteral(".png")),
                QObject::tr("PNG image (*.png);;SVG drawing (*.svg);;PDF document (*.pdf)"));
            if (path.isEmpty())
                return;
            QSettings().setValue(QLatin1String(kExportDirKey), QFileInfo(path).absolutePath());
            QString error;
            if (!saveChart(plot, path, &error))
                QMessageBox::warning(plot, QObject::tr("Save Chart"), error);
        }
    });
}

} // namespace cw::ui
