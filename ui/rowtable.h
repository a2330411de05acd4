// The read-only table every view shows its rows in (layers, variants, sensitivity, the side-by-side diff): one
// whole row selected at a time, nothing edited in place, no row numbers. Views add what is their own (sorting,
// row height, word wrap) after.
#pragma once

#include <QString>

class QAbstractItemModel;
class QTableView;

namespace cw::ui {

QTableView *newRowTable(const QString &objectName, QAbstractItemModel *model);

} // namespace cw::ui
