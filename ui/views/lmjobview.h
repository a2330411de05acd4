// LmJobView: what Evaluate (LmEvaluateView) and Generate (LmGenerateView) share — a view that runs one job at a
// time on the open language model and says in a status line how it went.
//
// A job starts only with a model that has a tokenizer, while no job of the view runs and while the runner is not
// busy elsewhere (setBlockedReason: the other view's job loads the same weights). runningChanged(true) follows
// the start; when the job ends, its own signals first, then the subclass's closing step, the controls,
// runningChanged(false) and finished(ok). A new model or the view's end lets a running job go (cancelled, its
// signals cut off).
#pragma once

#include <QPointer>
#include <QWidget>

#include <functional>

#include "ui/jobs/lmjobs.h"

class QHBoxLayout;
class QLabel;
class QProgressBar;
class QPushButton;

namespace cw::ui {

class LmJobView : public QWidget {
    Q_OBJECT
public:
    explicit LmJobView(QWidget *parent = nullptr);
    ~LmJobView() override;

    // Non-empty while the model's runner is busy elsewhere: the view's run is off with this reason.
    void setBlockedReason(const QString &reason);
    bool isRunning() const { return m_job != nullptr; }
    QString statusText() const;

signals:
    void runningChanged(bool running);
    void finished(bool ok); // the subclass says what ok means

protected:
    // Why a job cannot start now ("" when it can): no model, no tokenizer, or the blocked reason.
    QString whyNot() const;
    // A job asked for: false when none may start; the reason in the status line (`noTokenizer` when that is it).
    bool mayStart(const QString &noTokenizer);
    // Runs `job` (a child of this view) as the view's job, `starting` in the status line. When it has ended,
    // `ended` (on the GUI thread) says whether it went well.
    void runJob(Job *job, const QString &starting, std::function<bool()> ended);
    // The controls of a view that runs a job on a text (Evaluate, Sensitivity): a run button calling `run`, Cancel
    // (and Escape) calling cancelJob(), a progress bar and the status line (m_status), in one row; object names
    // <prefix>Run, <prefix>Cancel, <prefix>Progress, <prefix>Status.
    struct RunControls {
        QPushButton *run = nullptr;
        QPushButton *cancel = nullptr;
        QProgressBar *progress = nullptr;
        QHBoxLayout *row = nullptr;
    };
    RunControls newRunControls(const QString &prefix, const QString &runText, const QString &cancelTip,
                               std::function<void()> run);
    // The grey paragraph at the top of such a view that says what it computes.
    static QLabel *newIntro(const QString &text);
    // mayStart() for a job that reads a text (`spec`, "" when none is chosen: the status asks for one).
    bool mayStartOnText(const QString &spec);
    // Runs a job over a text as runJob() does, `progress` following it and its stage in the status line; a failure
    // or a cancel (`cancelled`) said there. `ok`: whether it produced its result.
    void runTextJob(Job *job, QProgressBar *progress, const QString &cancelled, std::function<bool()> ok);
    // Cancels the running job, "Cancelling…" in the status line.
    void cancelJob();
    // Lets a running job go: cancelled, its signals cut off, deleted when it ends.
    void detachJob();
    Job *currentJob() const { return m_job; }
    void setStatus(const QString &text);
    // The run button, the cancel button and the settings, on or off by isRunning() and whyNot().
    virtual void updateControls() = 0;

    LanguageModelPtr m_model;
    QLabel *m_status = nullptr; // made by the subclass with its controls

private:
    QPointer<Job> m_job;
    QString m_blocked;
};

} // namespace cw::ui
