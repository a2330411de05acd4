// InputShapesDialog: Model → Input Shapes… — the concrete size of every graph input, for models whose inputs
// declare symbolic dimensions ([batch, 3, height, width]).
//
// One row per graph input: its name, dtype, declared shape and, for an input with a symbolic dimension, an
// editable concrete shape ("1,3,640,640"). A row starts from the shape given before, else from the
// declaration with the batch dimension at 1 and each other symbol by name ("1,3,height,width"), to be
// replaced by a size. Inputs whose shape is fixed (or not declared) are shown read-only. Validation runs on
// every edit: each size a whole number of at least 1, the declared rank, the fixed sizes unchanged, one size
// per symbol across inputs (cw::symbolSizes); until every editable row is valid, OK is disabled and the
// message below the table names the input and what is wrong.
#pragma once

#include <QDialog>

#include "core/graph/graph.h"
#include "ui/inputshapes.h"

class QDialogButtonBox;
class QLabel;
class QTableWidget;

namespace cw::ui {

class InputShapesDialog : public QDialog {
    Q_OBJECT
public:
    enum Column { Name, Type, Declared, Shape, ColumnCount };

    InputShapesDialog(const cw::Graph &graph, const InputShapes &shapes, QWidget *parent = nullptr);

    // Why the dialog opened (a run that needs sizes), shown above the table; "" for none.
    void setReason(const QString &text);

    // The shapes of the editable rows; meaningful when error() is empty.
    InputShapes shapes() const { return m_shapes; }
    // What is wrong with the current entries ("" when they are valid).
    QString error() const { return m_error; }
    QTableWidget *table() const { return m_table; }
    QDialogButtonBox *buttons() const { return m_buttons; }

    // The first text a row offers: the given shape, else the declaration with batch 1 and symbols by name.
    static QString initialText(const cw::ValueInfo &input, const std::string &batchSymbol, const InputShapes &shapes);

private:
    void validate();

    cw::Graph m_graph; // inputs only
    QLabel *m_reason = nullptr;
    QTableWidget *m_table = nullptr;
    QLabel *m_message = nullptr;
    QDialogButtonBox *m_buttons = nullptr;
    InputShapes m_shapes;
    QString m_error;
};

} // namespace cw::ui
