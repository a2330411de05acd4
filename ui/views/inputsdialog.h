// InputsDialog: Model → Inputs… — what every run of the open model feeds its graph inputs: a concrete shape
// for inputs with symbolic dimensions ([batch, 3, height, width]) or no declared shape, and a value for inputs
// whose data matters (silero-vad's sample rate `sr` = 16000) instead of seeded random data.
//
// One row per graph input: its name, dtype, declared shape, the shape, and the data.
//   Shape: editable for an input with a symbolic dimension ("1,3,640,640") or, after the first, one that
//   declares none. A row starts from the shape given before, else from the declaration with the batch
//   dimension at 1 and each other symbol by name ("1,3,height,width"), to be replaced by a size. A symbolic
//   dimension may also name another input's symbol ("2,N,128" for a state [2, state_dim1, 128] whose
//   state_dim1 is the batch N of the first input): it then has that symbol's size in every run
//   (ModelInputs::sameSize). Other inputs show "fixed" / "not declared" read-only.
//   Data: "random" or a number every element takes (cast to the input's type), for every input after the
//   first; the first input takes the dataset's rows ("dataset", read-only).
// Validation runs on every edit: each size a whole number of at least 1, the declared rank, the fixed sizes
// unchanged, one size per symbol across inputs (cw::symbolSizes), a value that is a finite number (a whole
// number for integer and bool inputs); until every row is valid, OK is disabled and the message below the
// table names the input and what is wrong.
#pragma once

#include <QDialog>

#include "core/graph/graph.h"
#include "ui/modelinputs.h"

class QDialogButtonBox;
class QLabel;
class QTableWidget;

namespace cw::ui {

class InputsDialog : public QDialog {
    Q_OBJECT
public:
    enum Column { Name, Type, Declared, Shape, Data, ColumnCount };

    InputsDialog(const cw::Graph &graph, const ModelInputs &inputs, QWidget *parent = nullptr);

    // Why the dialog opened (a run that needs sizes), shown above the table; "" for none.
    void setReason(const QString &text);

    // The entries; meaningful when error() is empty.
    const ModelInputs &inputs() const { return m_inputs; }
    // What is wrong with the current entries ("" when they are valid).
    QString error() const { return m_error; }
    QTableWidget *table() const { return m_table; }
    QDialogButtonBox *buttons() const { return m_buttons; }

    // The first text a row offers: the given shape, else the declaration with its given sizes and symbols of
    // one size, the batch at 1 and other symbols by name.
    static QString initialText(const cw::ValueInfo &input, const std::string &batchSymbol, const ModelInputs &inputs);
    // Whether row `index` of `graph` takes a shape / a value in the editor.
    static bool shapeEditable(const cw::Graph &graph, size_t index);
    static bool valueEditable(const cw::Graph &graph, size_t index) { return index > 0 && index < graph.inputs.size(); }

private:
    void validate();
    QString checkShape(const cw::ValueInfo &in, const QString &text);

    cw::Graph m_graph; // inputs only
    QLabel *m_reason = nullptr;
    QTableWidget *m_table = nullptr;
    QLabel *m_message = nullptr;
    QDialogButtonBox *m_buttons = nullptr;
    ModelInputs m_inputs;
    QString m_error;
};

} // namespace cw::ui
