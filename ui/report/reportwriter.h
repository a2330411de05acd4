// Renders a project's report (core/project/report.h, which writes its text) to a file, by extension:
//   .pdf   through Qt's own printing: QTextDocument laid out on A4 pages by QPdfWriter, the charts drawn into the
//          page as vector graphics (the trade-off chart recorded as a QPicture, replayed by a text object);
//   .html  one self-contained file: the same text, the charts embedded as PNG images (data: URIs).
// Both use the Compare tab's chart (TradeoffChart), so the report shows what the window shows. Needs a
// QApplication (the charts are widgets); `cwb report` runs the GUI binary headless for this.
#pragma once

#include <QString>

#include "core/project/project.h"

namespace cw::ui {

// Writes atomically (a failed write leaves an older file whole). False with the reason in *error.
bool writeReport(const cw::Project &project, const QString &projectName, const QString &path, QString *error);

} // namespace cw::ui
