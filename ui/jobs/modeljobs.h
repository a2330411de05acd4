// Jobs that read and write model files off the GUI thread: user models can be hundreds of megabytes and
// loading includes shape inference (two runs of the graph).
#pragma once

#include <QMetaType>
#include <QString>

#include <optional>
#include <string>

#include "core/graph/graph.h"
#include "core/project/project.h"
#include "ui/jobs/job.h"

namespace cw::ui {

// Opens what the user chose as a project: a project file (.cwproj, cw::loadProject), or a model (a path, "demo"
// or "demo-resnet") as a new project on it (cw::newProject, which also hashes the file). Operators without a
// kernel do not fail the load (cw::LoadOptions::requireKernels off): the window shows the model and which nodes
// block runs.
class OpenJob : public Job {
    Q_OBJECT
public:
    explicit OpenJob(QString spec, QObject *parent = nullptr);

    QString spec() const { return m_spec; }
    static bool isProjectFile(const QString &path);
    bool start() override;
    // The result after succeeded(); moved out, so it can be taken once.
    cw::Project takeProject() { return std::move(*m_project); }

signals:
    void succeeded();

private:
    QString m_spec;
    std::optional<cw::Project> m_project;
};

// Writes a model with cw::saveModel; the format follows the path's extension (.onnx, .h5).
class SaveModelJob : public Job {
    Q_OBJECT
public:
    SaveModelJob(cw::Model model, QString path, QObject *parent = nullptr);

    QString path() const { return m_path; }
    bool start() override;

signals:
    void succeeded(const QString &path);

private:
    cw::Model m_model;
    QString m_path;
};

} // namespace cw::ui

Q_DECLARE_METATYPE(cw::Model)
