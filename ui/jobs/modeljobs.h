// Jobs that read and write model files off the GUI thread: user models can be hundreds of megabytes and
// loading includes shape inference (two runs of the graph).
#pragma once

#include <QMetaType>
#include <QString>

#include <optional>
#include <string>

#include "core/graph/graph.h"
#include "ui/jobs/job.h"

namespace cw::ui {

// Loads a model with cw::loadModel. spec: a path, "demo" or "demo-resnet". Operators without a kernel do not
// fail the load (cw::LoadOptions::requireKernels off): the window shows the model and which nodes block runs.
class LoadModelJob : public Job {
    Q_OBJECT
public:
    explicit LoadModelJob(QString spec, QObject *parent = nullptr);

    QString spec() const { return m_spec; }
    const std::optional<cw::Model> &model() const { return m_model; }
    bool start() override;

signals:
    void succeeded(const cw::Model &model);

private:
    QString m_spec;
    std::optional<cw::Model> m_model;
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
