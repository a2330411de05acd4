#include "ui/rowtable.h"

#include <QAction>
#include <QClipboard>
#include <QGuiApplication>
#include <QHeaderView>
#include <QTableView>

#include <algorithm>

namespace cw::ui {

namespace {

void copyRows(const QTableView *table, bool all)
{
    const QString text = rowsAsText(table, all);
    if (!text.isEmpty())
        QGuiApplication::clipboard()->setText(text);
}

} // namespace

QTableView *newRowTable(const QString &objectName, QAbstractItemModel *model)
{
    auto *table = new QTableView;
    table->setObjectName(objectName);
    table->setModel(model);
    table->setSelectionBehavior(QAbstractItemView::SelectRows);
    table->setSelectionMode(QAbstractItemView::SingleSelection);
    table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table->verticalHeader()->setVisible(false);
    enableRowCopy(table);
    return table;
}

void enableRowCopy(QTableView *table)
{
    auto *copy = new QAction(QObject::tr("Copy"), table);
    copy->setShortcut(QKeySequence::Copy); // taken before the view's own Ctrl+C, which copies one cell
    copy->setShortcutContext(Qt::WidgetShortcut);
    QObject::connect(copy, &QAction::triggered, table, [table]() { copyRows(table, false); });
    auto *copyAll = new QAction(QObject::tr("Copy All"), table);
    QObject::connect(copyAll, &QAction::triggered, table, [table]() { copyRows(table, true); });
    table->addActions({copy, copyAll});
    table->setContextMenuPolicy(Qt::ActionsContextMenu);
}

QString rowsAsText(const QTableView *table, bool all)
{
    const QAbstractItemModel *model = table->model();
    if (!model)
        return {};
    const QHeaderView *columnsHeader = table->horizontalHeader(), *rowsHeader = table->verticalHeader();
    QList<int> columns, rows;
    for (int v = 0; v < columnsHeader->count(); ++v)
        if (const int c = columnsHeader->logicalIndex(v); !table->isColumnHidden(c))
            columns << c;
    if (all) {
        for (int v = 0; v < rowsHeader->count(); ++v)
            if (const int r = rowsHeader->logicalIndex(v); !table->isRowHidden(r))
                rows << r;
    } else if (const QItemSelectionModel *selection = table->selectionModel()) {
        for (const QModelIndex &index : selection->selectedRows()) // the tables select whole rows
            if (!table->isRowHidden(index.row()))
                rows << index.row();
        std::sort(rows.begin(), rows.end(),
                  [rowsHeader](int a, int b) { return rowsHeader->visualIndex(a) < rowsHeader->visualIndex(b); });
    }
    if (rows.isEmpty())
        return {};
    // A tab or line break inside a cell would start another cell or row.
    const auto cell = [](QString text) {
        return text.replace(QLatin1Char('\t'), QLatin1Char(' ')).replace(QLatin1Char('\n'), QLatin1Char(' '));
    };
    QStringList lines, fields;
    for (const int c : columns)
        fields << cell(model->headerData(c, Qt::Horizontal).toString());
    lines << fields.join(QLatin1Char('\t'));
    for (const int r : rows) {
        fields.clear();
        for (const int c : columns)
            fields << cell(model->index(r, c).data().toString());
        lines << fields.join(QLatin1Char('\t'));
    }
    return lines.join(QLatin1Char('\n')) + QLatin1Char('\n');
}

} // namespace cw::ui
