#include "ui/rowtable.h"

#include <QHeaderView>
#include <QTableView>

namespace cw::ui {

QTableView *newRowTable(const QString &objectName, QAbstractItemModel *model)
{
    auto *table = new QTableView;
    table->setObjectName(objectName);
    table->setModel(model);
    table->setSelectionBehavior(QAbstractItemView::SelectRows);
    table->setSelectionMode(QAbstractItemView::SingleSelection);
    table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table->verticalHeader()->setVisible(false);
    return table;
}

} // namespace cw::ui
