#include "ui/projectdocument.h"

#include <QApplication>
#include <QUndoCommand>
#include <QUndoStack>

#include "core/base/error.h"

namespace cw::ui {

// ---- the commands: each changes the document through its store / insert / take functions

// With the records of the datasets it was made from (undo restores the project's list as it was).
class AddVariantCommand : public QUndoCommand {
public:
    AddVariantCommand(ProjectDocument *doc, cw::ProjectVariant variant, std::vector<cw::DatasetRecord> datasets,
                      QUndoCommand *parent)
        : QUndoCommand(parent), m_doc(doc), m_variant(std::move(variant)), m_datasets(std::move(datasets))
    {
        setText(QObject::tr("Add Variant %1").arg(QString::fromStdString(m_variant.variant.name)));
    }
    void redo() override
    {
        m_before = m_doc->m_project->datasets;
        for (const cw::DatasetRecord &r : m_datasets)
            cw::recordDataset(*m_doc->m_project, r);
        m_index = m_doc->insertVariant(-1, m_variant);
    }
    void undo() override
    {
        m_doc->takeVariant(m_index);
        m_doc->m_project->datasets = m_before;
    }

private:
    ProjectDocument *m_doc;
    cw::ProjectVariant m_variant;
    std::vector<cw::DatasetRecord> m_datasets, m_before;
    int m_index = -1;
};

class RemoveVariantCommand : public QUndoCommand {
public:
    RemoveVariantCommand(ProjectDocument *doc, int index) : m_doc(doc), m_index(index)
    {
        setText(QObject::tr("Remove Variant %1").arg(QString::fromStdString(doc->variants()[size_t(index)].variant.name)));
    }
    void redo() override { m_variant = m_doc->takeVariant(m_index); }
    void undo() override { m_doc->insertVariant(m_index, std::move(m_variant)); }

private:
    ProjectDocument *m_doc;
    int m_index;
    cw::ProjectVariant m_variant;
};

class SetAnalysisCommand : public QUndoCommand {
public:
    SetAnalysisCommand(ProjectDocument *doc, std::string key, std::optional<std::string> before,
                       std::optional<std::string> after)
        : m_doc(doc), m_key(std::move(key)), m_before(std::move(before)), m_after(std::move(after))
    {
        setText(QObject::tr("Store %1 Analysis").arg(QString::fromStdString(m_key)));
    }
    void redo() override { m_doc->storeAnalysis(m_key, m_after); }
    void undo() override { m_doc->storeAnalysis(m_key, m_before); }

private:
    ProjectDocument *m_doc;
    std::string m_key;
    std::optional<std::string> m_before, m_after;
};

class ChangeConstraintsCommand : public QUndoCommand {
public:
    ChangeConstraintsCommand(ProjectDocument *doc, cw::Constraints before, cw::Constraints after)
        : m_doc(doc), m_before(before), m_after(after)
    {
        setText(QObject::tr("Change Limits"));
    }
    void redo() override { m_doc->storeConstraints(m_after); }
    void undo() override { m_doc->storeConstraints(m_before); }

private:
    ProjectDocument *m_doc;
    cw::Constraints m_before, m_after;
};

class SetBaseMetricsCommand : public QUndoCommand {
public:
    SetBaseMetricsCommand(ProjectDocument *doc, std::optional<cw::VariantMetrics> before,
                          std::optional<cw::VariantMetrics> after, QUndoCommand *parent = nullptr)
        : QUndoCommand(parent), m_doc(doc), m_before(std::move(before)), m_after(std::move(after))
    {
        setText(QObject::tr("Measure Base Model"));
    }
    void redo() override { m_doc->storeBaseMetrics(m_after); }
    void undo() override { m_doc->storeBaseMetrics(m_before); }

private:
    ProjectDocument *m_doc;
    std::optional<cw::VariantMetrics> m_before, m_after;
};

// ---- the document

ProjectDocument::ProjectDocument(QObject *parent) : QObject(parent), m_undo(new QUndoStack(this))
{
    connect(m_undo, &QUndoStack::cleanChanged, this, [this](bool clean) { emit modifiedChanged(!clean); });
}

ProjectDocument::~ProjectDocument() = default;

QString ProjectDocument::baseSpec() const
{
    return m_project ? QString::fromStdString(m_project->baseSpec) : QString();
}

const std::vector<cw::ProjectVariant> &ProjectDocument::variants() const
{
    static const std::vector<cw::ProjectVariant> none;
    return m_project ? m_project->variants : none;
}

bool ProjectDocument::isModified() const
{
    return !m_undo->isClean();
}

void ProjectDocument::reset(std::optional<cw::Project> project, const QString &fileName)
{
    m_undo->clear(); // the commands refer to the old project; emits cleanChanged (modifiedChanged) if it was not clean
    m_project = std::move(project);
    m_known.clear();
    if (m_project && !fileName.isEmpty())
        for (const cw::ProjectVariant &v : m_project->variants)
            m_known.insert(cw::variantIdentity(v));
    if (m_fileName != fileName) {
        m_fileName = fileName;
        emit fileNameChanged(m_fileName);
    }
    emit projectReset();
}

bool ProjectDocument::save(const QString &path, QString *error, QString *merged)
{
    if (!m_project) {
        *error = tr("No project is open.");
        return false;
    }
    QApplication::setOverrideCursor(Qt::WaitCursor);
    cw::Project written = *m_project;
    std::vector<cw::ProjectVariant> added;
    try {
        if (path == m_fileName) // the file it came from: keep what others added to it meanwhile
            added = cw::saveProjectMerging(written, path.toStdString(), m_known);
        else
            cw::saveProject(written, path.toStdString()); // Save As: the user chose to replace that file
    } catch (const std::exception &e) {
        QApplication::restoreOverrideCursor();
        *error = QString::fromUtf8(e.what());
        return false;
    }
    QApplication::restoreOverrideCursor();
    // The merged variants join this project (after its own, so the undo history's indices still hold).
    m_project->datasets = written.datasets;
    QStringList names;
    for (cw::ProjectVariant &v : added) {
        names << QString::fromStdString(v.variant.name);
        m_project->variants.push_back(std::move(v));
        emit variantAdded(int(m_project->variants.size()) - 1);
    }
    if (merged)
        *merged = names.isEmpty() ? QString()
                                  : tr("%n variant(s) another program added to the file kept: %1", nullptr, int(names.size()))
                                        .arg(names.join(QStringLiteral(", ")));
    m_known.clear();
    for (const cw::ProjectVariant &v : m_project->variants)
        m_known.insert(cw::variantIdentity(v));
    m_undo->setClean();
    if (m_fileName != path) {
        m_fileName = path;
        emit fileNameChanged(path);
    }
    return true;
}

void ProjectDocument::addVariant(cw::ProjectVariant variant, const std::optional<cw::VariantMetrics> &baseMetrics)
{
    if (!m_project)
        return;
    // The data it was measured and trained on, hashed for the report; a dataset that cannot be read any more
    // (moved since the job started) is left out.
    std::vector<cw::DatasetRecord> datasets;
    for (const auto &[role, spec] : {std::pair{"evaluation", variant.provenance.evalData},
                                     std::pair{"training", variant.provenance.trainData}}) {
        if (spec.empty())
            continue;
        try {
            datasets.push_back(cw::datasetRecord(role, spec));
        } catch (const cw::Error &) {
        }
    }
    // One step: the base measured with it and the variant.
    auto *step = new QUndoCommand(QObject::tr("Add Variant %1").arg(QString::fromStdString(variant.variant.name)));
    if (baseMetrics)
        new SetBaseMetricsCommand(this, m_project->baseMetrics, baseMetrics, step);
    new AddVariantCommand(this, std::move(variant), std::move(datasets), step);
    m_undo->push(step);
}

void ProjectDocument::removeVariant(int index)
{
    if (m_project && index >= 0 && index < variantCount())
        m_undo->push(new RemoveVariantCommand(this, index));
}

void ProjectDocument::cacheAnalysis(const QString &key, const QString &json)
{
    if (!m_project)
        return;
    if (json.isEmpty())
        m_project->base.analysis.erase(key.toStdString());
    else
        m_project->base.analysis[key.toStdString()] = json.toStdString();
    emit analysisChanged(key);
}

void ProjectDocument::setAnalysis(const QString &key, const QString &json)
{
    if (!m_project)
        return;
    const std::string k = key.toStdString();
    const auto &analysis = m_project->base.analysis;
    std::optional<std::string> before;
    if (auto it = analysis.find(k); it != analysis.end())
        before = it->second;
    std::optional<std::string> after;
    if (!json.isEmpty())
        after = json.toStdString();
    if (before != after)
        m_undo->push(new SetAnalysisCommand(this, k, before, after));
}

void ProjectDocument::setConstraints(const cw::Constraints &constraints)
{
    if (m_project && !(m_project->constraints == constraints))
        m_undo->push(new ChangeConstraintsCommand(this, m_project->constraints, constraints));
}

int ProjectDocument::insertVariant(int index, cw::ProjectVariant variant)
{
    auto &list = m_project->variants;
    if (index < 0) {
        index = int(cw::addVariant(*m_project, std::move(variant)));
    } else {
        list.insert(list.begin() + index, std::move(variant));
    }
    emit variantAdded(index);
    return index;
}

cw::ProjectVariant ProjectDocument::takeVariant(int index)
{
    auto &list = m_project->variants;
    cw::ProjectVariant v = std::move(list[size_t(index)]);
    list.erase(list.begin() + index);
    emit variantRemoved(index);
    return v;
}

void ProjectDocument::storeAnalysis(const std::string &key, const std::optional<std::string> &json)
{
    if (json)
        m_project->base.analysis[key] = *json;
    else
        m_project->base.analysis.erase(key);
    emit analysisChanged(QString::fromStdString(key));
}

void ProjectDocument::storeConstraints(const cw::Constraints &constraints)
{
    m_project->constraints = constraints;
    emit constraintsChanged();
}

void ProjectDocument::storeBaseMetrics(const std::optional<cw::VariantMetrics> &metrics)
{
    m_project->baseMetrics = metrics;
    emit baseMetricsChanged();
}

} // namespace cw::ui
