#include "ui/views/lmjobview.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QShortcut>

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

LmJobView::RunControls LmJobView::newRunControls(const QString &prefix, const QString &runText,
                                                 const QString &cancelTip, std::function<void()> run)
{
    RunControls c;
    c.run = new QPushButton(runText);
    c.run->setObjectName(prefix + QStringLiteral("Run"));
    connect(c.run, &QPushButton::clicked, this, [run = std::move(run)]() { run(); });
    c.cancel = new QPushButton(tr("Cancel"));
    c.cancel->setObjectName(prefix + QStringLiteral("Cancel"));
    c.cancel->setToolTip(cancelTip);
    connect(c.cancel, &QPushButton::clicked, this, &LmJobView::cancelJob);
    auto *escape = new QShortcut(QKeySequence(Qt::Key_Escape), this, this, &LmJobView::cancelJob);
    escape->setContext(Qt::WidgetWithChildrenShortcut);
    c.progress = new QProgressBar;
    c.progress->setObjectName(prefix + QStringLiteral("Progress"));
    c.progress->setRange(0, 1000);
    c.progress->setValue(0);
    c.progress->setTextVisible(false);
    c.progress->setMaximumWidth(200);
    m_status = new QLabel;
    m_status->setObjectName(prefix + QStringLiteral("Status"));
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);
    c.row = new QHBoxLayout;
    c.row->addWidget(c.run);
    c.row->addWidget(c.cancel);
    c.row->addWidget(c.progress);
    c.row->addWidget(m_status, 1);
    return c;
}

QLabel *LmJobView::newIntro(const QString &text)
{
    auto *intro = new QLabel(text);
    intro->setWordWrap(true);
    intro->setStyleSheet(QStringLiteral("QLabel { color: #666; }"));
    return intro;
}

bool LmJobView::mayStartOnText(const QString &spec)
{
    if (!mayStart(tr("This model carries no tokenizer the workbench can read, so it cannot read text.")))
        return false;
    if (spec.isEmpty()) {
        setStatus(tr("Choose a text first."));
        return false;
    }
    return true;
}

void LmJobView::runTextJob(Job *job, QProgressBar *progress, const QString &cancelled, std::function<bool()> ok)
{
    connect(job, &Job::progress, this, [this, progress](double fraction, const QString &stage) {
        progress->setValue(int(fraction * 1000));
        QString label = stage;
        if (!label.isEmpty())
            label[0] = label[0].toUpper();
        setStatus(label + QStringLiteral("…"));
    });
    connect(job, &Job::failed, this, [this](const QString &error) { setStatus(tr("Failed: %1").arg(error)); });
    connect(job, &Job::cancelled, this, [this, cancelled]() { setStatus(cancelled); });
    runJob(job, tr("Starting…"), [progress, ok = std::move(ok)]() {
        const bool done = ok();
        progress->setValue(done ? 1000 : 0);
        return done;
    });
}

void LmJobView::cancelJob()
{
    if (m_job) {
        m_job->cancel();
        setStatus(tr("Cancelling…"));
    }
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
