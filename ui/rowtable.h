// The read-only table every view shows its rows in (layers, variants, sensitivity, the side-by-side diff): one
// whole row selected at a time, nothing edited in place, no row numbers, rows copied as text (enableRowCopy). Views
// add what is their own (sorting, row height, word wrap) after.
#pragma once

#include <QString>

class QAbstractItemModel;
class QTableView;

namespace cw::ui {

QTableView *newRowTable(const QString &objectName, QAbstractItemModel *model);

// Ctrl+C copies the selected rows, and the context menu's Copy and Copy All the selected rows or every row, as
// tab-separated text with the column titles first, to paste into a spreadsheet or a message (a table's own Ctrl+C
// copies one cell). newRowTable's tables have it; a table made otherwise calls it.
void enableRowCopy(QTableView *table);
// That text: the cells as the table shows them, in its order of rows and columns, hidden ones left out; the selected
// rows, or every row when `all`. Empty when no row is selected and not `all`.
QString rowsAsText(const QTableView *table, bool all);

} // namespace cw::ui
