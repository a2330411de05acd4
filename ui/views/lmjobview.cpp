#include "ui/views/lmjobview.h"

#include <QLabel>

namespace cw::ui {

LmJobView::LmJobView(QWidget *parent) : QWidget(parent) {}

LmJobView::~LmJobView()
{
    if (m_job)
        m_job->cancel(); // a child: it waits for its worker when destroyed
}

void LmJobView::setBlockedReason(const QString &reason)
{
    m_blocked = reason;
    updateControls();
}

QString LmJobView::statusText() const
{
    return m_status->text();
}

void LmJobView::setStatus(const QString &text)
{
    m_status->setText(text);
}

QString LmJobView::whyNot() const
{
    if (!m_model)
        return tr("No language model is open");
    if (!m_model->tokenizer())
        return tr("This model carries no tokenizer the workbench can read");
    return m_blocked;
}

bool LmJobView::mayStart(const QString &noTokenizer)
{
    if (!m_model || m_job)
        return false;
    if (!m_model->tokenizer()) {
        setStatus(noTokenizer);
        return false;
    }
    if (!m_blocked.isEmpty()) {
        setStatus(m_blocked);
        return false;
    }
    return true;
}

void LmJobView::runJob(Job *job, const QString &starting, std::function<bool()> ended)
{
    m_job = job;
    connect(job, &Job::finished, this, [this, job, ended = std::move(ended)]() {
        const bool ok = ended();
        if (m_job == job)
            m_job = nullptr;
        job->deleteLater();
        updateControls();
        emit runningChanged(false);
        emit finished(ok);
    });
    job->start();
    setStatus(starting);
    updateControls();
    emit runningChanged(true);
}

void LmJobView::detachJob()
{
    if (!m_job)
        return;
    Job *job = m_job;
    m_job = nullptr;
    disconnect(job, nullptr, this, nullptr); // nothing of it reaches the views of the next model
    connect(job, &Job::finished, job, &QObject::deleteLater);
    job->cancel();
    updateControls();
    emit runningChanged(false);
}

} // namespace cw::ui
