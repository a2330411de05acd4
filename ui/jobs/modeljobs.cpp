#include "ui/jobs/modeljobs.h"

#include "core/io/model_io.h"

namespace cw::ui {

OpenJob::OpenJob(QString spec, QObject *parent) : Job(parent), m_spec(std::move(spec))
{
    setTitle(isProjectFile(m_spec) ? tr("Opening project") : tr("Opening model"));
}

bool OpenJob::isProjectFile(const QString &path)
{
    return cw::fileExtension(path.toStdString()) == cw::kProjectExtension;
}

bool OpenJob::start()
{
    if (isRunning())
        return false;
    m_project.reset();
    const std::string spec = m_spec.toStdString();
    const bool projectFile = isProjectFile(m_spec);
    return startWork([this, spec, projectFile](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        progress(0.0, "reading");
        // The readers have no stop checks of their own; a cancel during the read discards the result.
        cw::LoadOptions options;
        options.requireKernels = false;
        auto project = std::make_shared<cw::Project>(projectFile ? cw::loadProject(spec, options)
                                                                 : cw::newProject(spec, options));
        stop.throwIfStopped();
        progress(1.0, "done");
        return [this, project]() {
            m_project = std::move(*project);
            emit succeeded();
        };
    });
}

SaveModelJob::SaveModelJob(cw::Model model, QString path, QObject *parent)
    : Job(parent), m_model(std::move(model)), m_path(std::move(path))
{
    setTitle(tr("Exporting"));
}

bool SaveModelJob::start()
{
    if (isRunning())
        return false;
    const cw::Model model = m_model;
    const std::string path = m_path.toStdString();
    const QString qpath = m_path;
    return startWork([this, model, path, qpath](const cw::StopToken &, const cw::ProgressFn &progress) -> Deliver {
        progress(0.0, "writing");
        cw::saveModel(model, path);
        progress(1.0, "done");
        return [this, qpath]() { emit succeeded(qpath); };
    });
}

} // namespace cw::ui
