// Shared helpers for the GUI tests (they link cwui): what several of them do with the window's dialogs.
#pragma once

#include <QString>

#include <optional>

#include "core/cluster/sweep.h"
#include "ui/views/clusterdialog.h"

namespace guitestutil {

// The open Run on Cluster… dialog writes its job into `folder` (with `shards` shards when > 0) for the cwb under
// test, and closes; the plan it wrote. nullopt with the reason in *error when there is no visible dialog, the write
// fails or the plan does not load.
inline std::optional<cw::cluster::SweepPlan> writeClusterJob(cw::ui::ClusterDialog *dialog, const QString &folder,
                                                             QString *error, int shards = 0)
{
    if (!dialog || !dialog->isVisible()) {
        *error = QStringLiteral("no Run on Cluster… dialog is open");
        return std::nullopt;
    }
    dialog->folderEdit()->setText(folder);
    if (shards > 0)
        dialog->shardsSpin()->setValue(shards);
    dialog->cwbEdit()->setText(QStringLiteral(CW_CWB_PATH));
    const bool written = dialog->write();
    *error = written ? QString() : dialog->message();
    dialog->close();
    if (!written)
        return std::nullopt;
    try {
        return cw::cluster::loadPlan((folder + QStringLiteral("/plan.json")).toStdString());
    } catch (const std::exception &e) {
        *error = QString::fromUtf8(e.what());
        return std::nullopt;
    }
}

} // namespace guitestutil
