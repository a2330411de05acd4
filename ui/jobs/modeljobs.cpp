#include "ui/jobs/modeljobs.h"

#include "core/io/model_io.h"

namespace cw::ui {

LoadModelJob::LoadModelJob(QString spec, QObject *parent) : Job(parent), m_spec(std::move(spec))
{
    setTitle(tr("Opening model"));
}

bool LoadModelJob::start()
{
    if (isRunning())
        return false;
    m_model.reset();
    const std::string spec = m_spec.toStdString();
    return startWork([this, spec](const cw::StopToken &stop, const cw::ProgressFn &progress) -> Deliver {
        progress(0.0, "reading");
        // loadModel has no stop checks of its own; a cancel during the read discards the result.
        cw::LoadOptions options;
        options.requireKernels = false;
        auto model = std::make_shared<cw::Model>(cw::loadModel(spec, options));
        stop.throwIfStopped();
        progress(1.0, "done");
        return [this, model]() {
            m_model = *model;
            emit succeeded(*m_model);
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
