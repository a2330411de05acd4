#include "ui/jobs/job.h"

#include <QRunnable>
#include <QThreadPool>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <string>

#ifdef Q_OS_LINUX
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "core/base/error.h"

namespace cw::ui {

namespace {
// 20 updates per second are plenty for a progress bar and keep the GUI thread's queue short even when
// the core reports after every tiny batch.
constexpr auto kProgressInterval = std::chrono::milliseconds(50);

// The hand-over mutex of every job (job.h): held only while a call is queued or a worker is started, and taken
// by the receiver before it reads what it was given. A global one, so the receiving side finds it without
// reading anything the sender wrote.
std::mutex &handOver()
{
    static std::mutex m;
    return m;
}
} // namespace

// One run of the worker: the body, and whether it has returned.
struct Job::Run : QRunnable {
    std::function<void()> body;
    std::mutex mutex;
    std::condition_variable doneChanged;
    bool done = false;

    // The run keeps itself alive until run() returns: the job may start its next run, and drop this one, as soon as
    // the last report has been delivered.
    std::shared_ptr<Run> self;

    void run() override
    {
        { const std::lock_guard lock(handOver()); } // after the starting thread has written everything
        body();
        body = nullptr; // the captures go before anyone is told the run is over
        std::shared_ptr<Run> keep = std::move(self);
        {
            const std::lock_guard lock(mutex);
            done = true;
        }
        doneChanged.notify_all();
    }

    void wait()
    {
        std::unique_lock lock(mutex);
        doneChanged.wait(lock, [this] { return done; });
    }
};

Job::Job(QObject *parent) : QObject(parent) {}

Job::~Job()
{
    if (m_stop)
        m_stop->requestStop();
    // The worker captured `this` to post its reports; it must be done before the QObject goes away.
    waitForFinished();
}

void Job::waitForFinished()
{
    if (m_run)
        m_run->wait();
}

void Job::post(std::function<void()> fn)
{
    const std::lock_guard lock(handOver());
    QMetaObject::invokeMethod(
        this,
        [fn = std::move(fn)]() {
            { const std::lock_guard lock(handOver()); } // after the worker has queued the call
            fn();
        },
        Qt::QueuedConnection);
}

void Job::cancel()
{
    if (m_running && m_stop)
        m_stop->requestStop();
}

bool Job::startWork(Work work)
{
    if (m_running)
        return false;
    m_running = true;
    m_stop = std::make_shared<cw::StopToken>();
    m_elapsed.start();
    emit started();

    std::shared_ptr<cw::StopToken> stop = m_stop;
    const std::lock_guard lock(handOver());
    m_run = std::make_shared<Run>();
    m_run->setAutoDelete(false);
    m_run->self = m_run;
    m_run->body = [this, stop, work = std::move(work)]() {
        using Clock = std::chrono::steady_clock;
        Clock::time_point last{};
        bool first = true;
        const cw::ProgressFn report = [&](double fraction, std::string_view stage) {
            const Clock::time_point now = Clock::now();
            if (!first && fraction < 1.0 && now - last < kProgressInterval)
                return;
            first = false;
            last = now;
            const QString label = QString::fromUtf8(stage.data(), qsizetype(stage.size()));
            post([this, fraction, label]() {
                if (m_running)
                    emit progress(fraction, label);
            });
        };

        Deliver deliver;
        QString error;
        bool cancelled = false;
        try {
            deliver = work(*stop, report);
            // A stop requested after the last check still counts: the user asked for no result.
            if (stop->stopRequested())
                cancelled = true;
        } catch (const cw::Cancelled &) {
            cancelled = true;
        } catch (const std::exception &e) {
            error = QString::fromUtf8(e.what());
            if (error.isEmpty())
                error = QStringLiteral("unknown error");
        } catch (...) {
            error = QStringLiteral("unknown error");
        }

        post([this, deliver = std::move(deliver), error, cancelled]() {
            m_running = false;
            if (cancelled) {
                emit this->cancelled();
            } else if (!error.isEmpty()) {
                emit failed(error);
            } else {
                try {
                    if (deliver)
                        deliver();
                } catch (const std::exception &e) {
                    emit failed(QString::fromUtf8(e.what()));
                }
            }
            emit finished();
        });
    };
    QThreadPool::globalInstance()->start(m_run.get());
    return true;
}

NicerThread::NicerThread()
{
#ifdef Q_OS_LINUX
    m_tid = int(syscall(SYS_gettid));
    errno = 0;
    m_old = getpriority(PRIO_PROCESS, id_t(m_tid));
    if (errno != 0)
        return;
    // Only when the old priority can be restored afterwards (root, or RLIMIT_NICE allows it); otherwise a reused
    // pool thread would get nicer with every job.
    rlimit limit{};
    const bool canRestore = geteuid() == 0 || (getrlimit(RLIMIT_NICE, &limit) == 0 &&
                                               (limit.rlim_cur == RLIM_INFINITY || 20 - int(limit.rlim_cur) <= m_old));
    m_ok = canRestore && setpriority(PRIO_PROCESS, id_t(m_tid), std::min(19, m_old + 5)) == 0;
#endif
}

NicerThread::~NicerThread()
{
#ifdef Q_OS_LINUX
    if (m_ok)
        (void)setpriority(PRIO_PROCESS, id_t(m_tid), m_old);
#endif
}

} // namespace cw::ui
