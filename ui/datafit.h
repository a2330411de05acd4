// Whether a dataset fits the open model, said before a job starts. The Compress and Distill tabs check their
// training data against the model's first input as soon as either changes, so that Fashion-MNIST (the default
// training data) beside an audio model, or a path that names nothing, is named under the field with a way out,
// instead of failing the job after it started. The verdict is the one a job would reach (cw::fittedRows after
// loading the first sample with the run inputs' preprocessing), computed by a job on the thread pool
// (ui/jobs/job.h, whose hand-overs ThreadSanitizer sees): reading a large .npz or .h5 array whole must not freeze the
// window (a .npy array is read only up to its first sample).
#pragma once

#include <QObject>
#include <QPointer>
#include <QString>
#include <QWidget>

#include "core/io/dataset.h"
#include "ui/jobs/job.h"

class QLabel;
class QPushButton;

#include "ui/modelinputs.h"

namespace cw::ui {

// One check on the thread pool (ui/jobs/job.h): loads the first sample of `spec` and fits it to `input`.
class DataFitJob : public Job {
    Q_OBJECT
public:
    DataFitJob(cw::ValueInfo input, std::string spec, cw::Preprocess pre, QObject *parent = nullptr);
    bool start() override;

signals:
    void succeeded(const QString &problem, bool labelled); // "" when the sample fits; whether the data has labels

private:
    cw::ValueInfo m_input;
    std::string m_spec;
    cw::Preprocess m_pre;
};

class DataFitCheck : public QObject {
    Q_OBJECT
public:
    explicit DataFitCheck(QObject *parent = nullptr);

    // Checks `spec` against `graph`'s first input (no model, no input or an empty spec: fits, at once); a check
    // still running is superseded. The problem is cw::Error's text: a file that does not load, samples of another
    // shape. The same question (data, file size and time, input shape, preprocessing) is answered from the last
    // check, or left to the one running.
    void check(const cw::Graph *graph, const QString &spec, const RunInputs &inputs);
    // The last finished check: its spec, and "" when the data fits, else why not.
    QString spec() const { return m_spec; }
    QString problem() const { return m_problem; }
    bool labelled() const { return m_labelled; } // the data has labels (true when the check did not load it)
    bool running() const { return m_job != nullptr; }

signals:
    void checked(); // a check finished (spec() and problem() are its)

private:
    void dropRunning(); // the running check's verdict is no longer wanted; it finishes on its own

    QPointer<DataFitJob> m_job; // the running check
    QString m_pendingSpec, m_spec, m_problem;
    bool m_labelled = true;
    QString m_pendingKey, m_key; // what the running and the last finished check were asked (checkKey)
};

// The verdict under a training-data field: the problem in red, and a button that takes the evaluation data instead.
class DataFitNotice : public QWidget {
    Q_OBJECT
public:
    // Qt::Vertical puts the button under the words (a narrow form), Qt::Horizontal beside them.
    explicit DataFitNotice(Qt::Orientation orientation, QWidget *parent = nullptr);

    DataFitCheck *check() const { return m_check; }
    QLabel *label() const { return m_label; }
    QPushButton *useEvaluationButton() const { return m_useEval; }
    // Shown while the last check found a problem with `spec` and it `applies`; the button while `evalSpec` names
    // other data.
    void showFor(const QString &spec, bool applies, const QString &evalSpec);

signals:
    void useEvaluationData(); // the button was pressed

private:
    DataFitCheck *m_check = nullptr;
    QLabel *m_label = nullptr;
    QPushButton *m_useEval = nullptr;
};

} // namespace cw::ui
