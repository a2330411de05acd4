#include "ui/views/clusterdialog.h"

#include <QCoreApplication>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QVBoxLayout>

#include <algorithm>

namespace cw::ui {

namespace {
constexpr const char *kFolderKey = "cluster/folder";
constexpr const char *kShardsKey = "cluster/shards";
constexpr const char *kCpusKey = "cluster/cpus";
constexpr const char *kPartitionKey = "cluster/partition";
constexpr const char *kTimeKey = "cluster/time";
constexpr const char *kArrayLimitKey = "cluster/arrayLimit";
constexpr const char *kCwbKey = "cluster/cwb";
} // namespace

ClusterDialog::ClusterDialog(cw::cluster::SweepPlan plan, const QString &project, QWidget *parent)
    : QDialog(parent), m_plan(std::move(plan))
{
    setObjectName(QStringLiteral("clusterDialog"));
    setWindowTitle(tr("Run on Cluster"));
    QSettings s;
    const int items = int(m_plan.items.size());
    // What the plan is, by its kind (core/cluster/sweep.h).
    const QString what = m_plan.kind == "sensitivity"      ? tr("A sensitivity sweep of <b>%1</b>: %n layer(s)", nullptr, items)
                         : m_plan.kind == "lm-sensitivity" ? tr("A sensitivity sweep of <b>%1</b>: %n weight matrix(es)", nullptr, items)
                         : m_plan.kind == "distill"        ? tr("A distillation with <b>%1</b> as the teacher: one student")
                         : m_plan.kind == "lm-matrices"    ? tr("One recipe on <b>%1</b>, by matrix: %n matrix(es)", nullptr, items)
                         : m_plan.kind == "evaluate"       ? tr("An evaluation of <b>%1</b>: %n range(s) of samples", nullptr, items)
                         : m_plan.kind == "lm-perplexity"  ? tr("A perplexity of <b>%1</b>: %n range(s) of chunks", nullptr, items)
                                                           : tr("Compression of <b>%1</b>: %n recipe(s)", nullptr, items);
    auto *intro = new QLabel(tr("%1, each a shard's work item. The folder gets the plan and two Slurm scripts: a job "
                                "array of the shards and a merge job that runs when every shard has succeeded. It "
                                "must be on a filesystem the cluster's nodes share, and the nodes must run this cwb.")
                                 .arg(what.arg(QString::fromStdString(m_plan.modelSpec).toHtmlEscaped())));
    intro->setWordWrap(true);

    m_folder = new QLineEdit(s.value(QLatin1String(kFolderKey)).toString());
    m_folder->setObjectName(QStringLiteral("clusterFolder"));
    m_folder->setPlaceholderText(tr("a folder on the shared filesystem"));
    auto *browse = new QPushButton(tr("Browse…"));
    connect(browse, &QPushButton::clicked, this, [this]() {
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Folder for the sweep"), m_folder->text());
        if (!dir.isEmpty())
            m_folder->setText(dir);
    });
    auto *folderRow = new QHBoxLayout;
    folderRow->addWidget(m_folder, 1);
    folderRow->addWidget(browse);

    m_shards = new QSpinBox;
    m_shards->setObjectName(QStringLiteral("clusterShards"));
    m_shards->setRange(1, std::max(1, items));
    m_shards->setValue(std::clamp(s.value(QLatin1String(kShardsKey), 4).toInt(), 1, std::max(1, items)));
    m_shards->setToolTip(tr("Array tasks; layer i goes to shard i mod N"));
    m_cpus = new QSpinBox;
    m_cpus->setObjectName(QStringLiteral("clusterCpus"));
    m_cpus->setRange(1, 4096);
    m_cpus->setValue(s.value(QLatin1String(kCpusKey), 1).toInt());
    m_cpus->setToolTip(tr("CPUs per task (--cpus-per-task), and the threads each shard computes with"));
    m_partition = new QLineEdit(s.value(QLatin1String(kPartitionKey)).toString());
    m_partition->setObjectName(QStringLiteral("clusterPartition"));
    m_partition->setPlaceholderText(tr("the cluster's default"));
    m_time = new QLineEdit(s.value(QLatin1String(kTimeKey)).toString());
    m_time->setObjectName(QStringLiteral("clusterTime"));
    m_time->setPlaceholderText(tr("the partition's default, e.g. 01:00:00"));
    m_arrayLimit = new QSpinBox;
    m_arrayLimit->setObjectName(QStringLiteral("clusterArrayLimit"));
    m_arrayLimit->setRange(0, 100000);
    m_arrayLimit->setSpecialValueText(tr("no limit"));
    m_arrayLimit->setValue(s.value(QLatin1String(kArrayLimitKey), 0).toInt());
    m_project = new QLineEdit(project);
    m_project->setObjectName(QStringLiteral("clusterProject"));
    m_project->setPlaceholderText(tr("none: the merge writes merged.json (File → Import Results reads the parts)"));
    if (!cw::cluster::mergesIntoProject(m_plan.kind)) { // a measurement: merged.json, or File → Import Results
        m_project->clear();
        m_project->setEnabled(false);
        m_project->setToolTip(tr("An evaluation's merge writes merged.json; it is not stored in a project"));
    }
    const QString beside = QCoreApplication::applicationDirPath() + QStringLiteral("/cwb");
    m_cwb = new QLineEdit(s.value(QLatin1String(kCwbKey), beside).toString());
    m_cwb->setObjectName(QStringLiteral("clusterCwb"));
    m_cwb->setToolTip(tr("The cwb the nodes run, by its absolute path (the same build that wrote the plan)"));

    auto *form = new QFormLayout;
    form->addRow(tr("Folder"), folderRow);
    form->addRow(tr("Shards"), m_shards);
    form->addRow(tr("CPUs per shard"), m_cpus);
    form->addRow(tr("Partition"), m_partition);
    form->addRow(tr("Time limit"), m_time);
    form->addRow(tr("Tasks at once"), m_arrayLimit);
    form->addRow(tr("Merge into project"), m_project);
    form->addRow(tr("cwb on the nodes"), m_cwb);

    m_message = new QLabel;
    m_message->setObjectName(QStringLiteral("clusterMessage"));
    m_message->setWordWrap(true);
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Close);
    m_write = buttons->addButton(tr("Write"), QDialogButtonBox::ActionRole);
    m_write->setObjectName(QStringLiteral("clusterWrite"));
    m_write->setDefault(true);
    connect(m_write, &QPushButton::clicked, this, [this]() { write(); });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(intro);
    layout->addLayout(form);
    layout->addWidget(m_message);
    layout->addWidget(buttons);
    resize(620, sizeHint().height());
}

bool ClusterDialog::write()
{
    const QString folder = m_folder->text().trimmed();
    if (folder.isEmpty()) {
        m_message->setText(tr("Choose a folder first."));
        return false;
    }
    cw::cluster::SlurmOptions o;
    o.shards = m_shards->value();
    o.cpus = m_cpus->value();
    o.partition = m_partition->text().trimmed().toStdString();
    o.time = m_time->text().trimmed().toStdString();
    o.arrayLimit = m_arrayLimit->value();
    o.project = m_project->text().trimmed().isEmpty()
                    ? std::string()
                    : QDir::cleanPath(QDir::current().absoluteFilePath(m_project->text().trimmed())).toStdString();
    o.cwb = m_cwb->text().trimmed().toStdString();
    try {
        m_job = cw::cluster::writeSlurmJob(m_plan, folder.toStdString(), o);
    } catch (const std::exception &e) {
        m_job.reset();
        m_message->setText(tr("Not written: %1").arg(QString::fromUtf8(e.what())));
        return false;
    }
    QSettings s;
    s.setValue(QLatin1String(kFolderKey), folder);
    s.setValue(QLatin1String(kShardsKey), o.shards);
    s.setValue(QLatin1String(kCpusKey), o.cpus);
    s.setValue(QLatin1String(kPartitionKey), m_partition->text().trimmed());
    s.setValue(QLatin1String(kTimeKey), m_time->text().trimmed());
    s.setValue(QLatin1String(kArrayLimitKey), o.arrayLimit);
    s.setValue(QLatin1String(kCwbKey), m_cwb->text().trimmed());
    const QString dir = QString::fromStdString(m_job->dir);
    m_message->setText(tr("Wrote %1: the plan, shards.sbatch (%2 tasks) and merge.sbatch. Submit them on the "
                          "cluster's login node:\n    ID=$(sbatch --parsable %1/shards.sbatch)\n"
                          "    sbatch --dependency=afterok:$ID %1/merge.sbatch\n"
                          "Follow them with %3 sweep --status %1; File → Import Results reads the parts when they "
                          "are done.")
                           .arg(dir)
                           .arg(o.shards)
                           .arg(QString::fromStdString(o.cwb)));
    return true;
}

QString ClusterDialog::message() const
{
    return m_message->text();
}

} // namespace cw::ui
