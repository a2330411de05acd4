// Job: the Qt adapter around one piece of long-running core work (evaluate, load, save, later train / prune).
//
// Parameters in, result out, signals for the rest. A subclass packs a copyable parameter struct into a
// Work closure and calls startWork(); the closure runs on QThreadPool::globalInstance(), receives the
// stop token and a progress callback, and returns a "deliver" closure that is run on the job's (GUI)
// thread to store the result and emit the subclass's typed succeeded(...) signal.
//
// Progress is throttled in the worker (at most ~20 updates per second, plus the final one) and forwarded
// as a queued progress() signal. cw::Cancelled becomes cancelled(); any other exception becomes
// failed(message). No exception crosses a thread. Exactly one of succeeded / failed / cancelled is emitted
// per run, followed by finished().
//
// The stop token is shared (std::shared_ptr) between the adapter and the worker. Destroying a running
// job requests a stop and waits for the worker, so the worker never outlives the object it reports to.
//
// Every hand-over between the two threads (the start of the worker, each report it posts) also passes one
// std::mutex, locked by the sender around the hand-over and by the receiver before it reads anything. Qt's
// queued calls and its thread pool order these already, but inside Qt's libraries, which ThreadSanitizer does
// not see (docs/reliability.md); the mutex is an ordering it does see, and costs nothing measurable.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QString>

#include <functional>
#include <memory>

#include "core/base/progress.h"

namespace cw::ui {

class Job : public QObject {
    Q_OBJECT
public:
    // Run on the job's thread once the work has returned normally.
    using Deliver = std::function<void()>;
    // Run on a pool thread. May throw; works on copies of the parameters and touches no member of the job
    // (the returned Deliver closure may, since it runs on the job's thread).
    using Work = std::function<Deliver(const cw::StopToken &stop, const cw::ProgressFn &progress)>;

    explicit Job(QObject *parent = nullptr);
    ~Job() override;

    bool isRunning() const { return m_running; }
    // Short label for the status bar while the job runs ("Evaluating", "Loading model").
    QString title() const { return m_title; }
    // Milliseconds the last (or current) run has taken.
    qint64 elapsedMs() const { return m_elapsed.isValid() ? m_elapsed.elapsed() : 0; }

    // Starts the work on the thread pool; returns false if the job is already running.
    virtual bool start() = 0;

    // Blocks until the worker is done (tests and shutdown only; the GUI never waits on a job).
    void waitForFinished();

public slots:
    // Asks the worker to stop at its next check; cancelled() follows once it has.
    void cancel();

signals:
    void started();
    void progress(double fraction, const QString &stage);
    void failed(const QString &error);
    void cancelled();
    void finished();

protected:
    void setTitle(const QString &title) { m_title = title; }
    // Returns false (and emits nothing) if the job is already running.
    bool startWork(Work work);
    // From the worker: runs fn on the job's thread (a subclass's reports: log lines, per-layer results), after
    // the reports posted before it.
    void post(std::function<void()> fn);

private:
    struct Run;

    QString m_title;
    std::shared_ptr<cw::StopToken> m_stop;
    std::shared_ptr<Run> m_run;
    QElapsedTimer m_elapsed;
    bool m_running = false;
};

// Lowers the calling pool thread's scheduling priority for the duration of a job (restored after, since pool
// threads are reused): on a busy machine the GUI thread then wins the core whenever it wakes up. Long jobs
// (compress, distill) create one at the start of their work.
class NicerThread {
public:
    NicerThread();
    ~NicerThread();
    NicerThread(const NicerThread &) = delete;
    NicerThread &operator=(const NicerThread &) = delete;

private:
    int m_tid = 0;
    int m_old = 0;
    bool m_ok = false;
};

} // namespace cw::ui
