// ClusterDialog: a planned sweep (core/cluster/sweep.h) written as a Slurm job into a folder the user picks
// (core/cluster/slurm.h): shards, CPUs per shard, partition, time limit, tasks at once, the project the merge job
// adds the result to, and the cwb the nodes run. Write writes the plan and the two scripts and says how to submit
// them (from the cluster's login node: the GUI submits nothing); the settings are remembered. File → Import
// Results brings the parts back into the open project.
#pragma once

#include <QDialog>

#include <optional>

#include "core/cluster/slurm.h"

class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace cw::ui {

class ClusterDialog : public QDialog {
    Q_OBJECT
public:
    // `project`: the open project's file ("" when unsaved: the merge then writes merged.json only).
    ClusterDialog(cw::cluster::SweepPlan plan, const QString &project, QWidget *parent = nullptr);

    // Writes the job with the form's settings. False with the reason in message().
    bool write();
    QString message() const;
    const std::optional<cw::cluster::SlurmJob> &job() const { return m_job; }

    QLineEdit *folderEdit() const { return m_folder; }
    QSpinBox *shardsSpin() const { return m_shards; }
    QSpinBox *cpusSpin() const { return m_cpus; }
    QLineEdit *partitionEdit() const { return m_partition; }
    QLineEdit *timeEdit() const { return m_time; }
    QSpinBox *arrayLimitSpin() const { return m_arrayLimit; }
    QLineEdit *projectEdit() const { return m_project; }
    QLineEdit *cwbEdit() const { return m_cwb; }
    QPushButton *writeButton() const { return m_write; }

private:
    cw::cluster::SweepPlan m_plan;
    std::optional<cw::cluster::SlurmJob> m_job;
    QLineEdit *m_folder = nullptr;
    QSpinBox *m_shards = nullptr;
    QSpinBox *m_cpus = nullptr;
    QLineEdit *m_partition = nullptr;
    QLineEdit *m_time = nullptr;
    QSpinBox *m_arrayLimit = nullptr;
    QLineEdit *m_project = nullptr;
    QLineEdit *m_cwb = nullptr;
    QLabel *m_message = nullptr;
    QPushButton *m_write = nullptr;
};

} // namespace cw::ui
