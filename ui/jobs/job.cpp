#include "ui/jobs/job.h"

#include <QPointer>
#include <QtConcurrent/QtConcurrentRun>

#include <atomic>
#include <chrono>
#include <exception>
#include <string>

#include "core/base/error.h"

namespace cw::ui {

namespace {
// 20 updates per second are plenty for a progress bar and keep the GUI thread's queue short even when
// the core reports after every tiny batch.
constexpr auto kProgressInterval = std::chrono::milliseconds(50);
} // namespace

Job::Job(QObject *parent) : QObject(parent) {}

Job::~Job()
{
    if (m_stop)
        m_stop->requestStop();
    // The worker captured `this` to post its reports; it must be done before the QObject goes away.
    m_future.waitForFinished();
}

void Job::waitForFinished()
{
    m_future.waitForFinished();
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
    m_future = QtConcurrent::run(QThreadPool::globalInstance(), [this, stop, work = std::move(work)]() {
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
            QMetaObject::invokeMethod(
                this, [this, fraction, label]() { if (m_running) emit progress(fraction, label); },
                Qt::QueuedConnection);
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

        QMetaObject::invokeMethod(
            this,
            [this, deliver = std::move(deliver), error, cancelled]() {
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
            },
            Qt::QueuedConnection);
    });
    return true;
}

} // namespace cw::ui
