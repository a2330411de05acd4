// ProjectDocument: the open project (core/project/project.h) — the base model, its analyses, the variants made
// from it, the limits they are held to — with its file name, modified flag and undo stack (after Tiled's
// Document). The window and the views read the project from here and never keep their own copy of the model or
// the variants; they change it through the edit functions below, each one undoable step (AddVariant with the
// datasets it was made from and, when measured with it, SetBaseMetrics; RemoveVariant, SetAnalysis,
// ChangeConstraints), and follow it through the signals.
//
// Opening a model makes a new, unsaved project on it; File → Save Project writes the .cwproj (atomically and under
// the project's lock, on the GUI thread: a project of the demo saves in well under a second). isModified() is true
// from the first edit after opening or saving until the next save.
#pragma once

#include <QObject>
#include <QString>

#include <optional>
#include <set>
#include <string>

#include "core/project/project.h"

class QUndoStack;

namespace cw::ui {

class ProjectDocument : public QObject {
    Q_OBJECT
public:
    explicit ProjectDocument(QObject *parent = nullptr);
    ~ProjectDocument() override;

    bool hasProject() const { return m_project.has_value(); }
    // Null without a project. The pointers stay valid until the next reset().
    const cw::Project *project() const { return m_project ? &*m_project : nullptr; }
    const cw::Model *base() const { return m_project ? &m_project->base : nullptr; }
    QString baseSpec() const;
    const std::vector<cw::ProjectVariant> &variants() const;
    int variantCount() const { return int(variants().size()); }

    // The .cwproj the project was read from or last saved to; "" for a project never saved.
    QString fileName() const { return m_fileName; }
    bool isModified() const;
    QUndoStack *undoStack() const { return m_undo; }

    // A whole new project (a model or project file opened) or none: the undo history starts again and the
    // project counts as unmodified.
    void reset(std::optional<cw::Project> project, const QString &fileName = {});
    // Writes the project; on success the file name is `path` and the project unmodified. Returns false with the
    // error in *error. Saving to the file the project came from keeps what another program (cwb compress
    // --project) added to it meanwhile (cw::saveProjectMerging): those variants join this project too, and
    // *merged, when given, says so ("" when there were none).
    bool save(const QString &path, QString *error, QString *merged = nullptr);

    // ---- edits (undoable)
    // The name is made unique (cw::addVariant); the datasets of its provenance are recorded (hashed) with it, and
    // `baseMetrics`, when given, replace the base's in the same step.
    void addVariant(cw::ProjectVariant variant, const std::optional<cw::VariantMetrics> &baseMetrics = std::nullopt);
    void removeVariant(int index);
    // A stored analysis of the base model (Model::analysis; "sensitivity", …); an empty text removes it.
    void setAnalysis(const QString &key, const QString &json);
    // The same for a result that only saves work to recompute (the activation histograms Inspect collects on
    // its own): kept with the project when it is saved, but neither an undo step nor a modification.
    void cacheAnalysis(const QString &key, const QString &json);
    void setConstraints(const cw::Constraints &constraints);

signals:
    void projectReset();          // a new project or none: everything changed
    void variantAdded(int index);
    void variantRemoved(int index);
    void analysisChanged(const QString &key);
    void constraintsChanged();
    void baseMetricsChanged();
    void modifiedChanged(bool modified);
    void fileNameChanged(const QString &fileName);

private:
    friend class AddVariantCommand;
    friend class RemoveVariantCommand;
    friend class SetAnalysisCommand;
    friend class ChangeConstraintsCommand;
    friend class SetBaseMetricsCommand;
    // What the commands call.
    int insertVariant(int index, cw::ProjectVariant variant);
    cw::ProjectVariant takeVariant(int index);
    void storeAnalysis(const std::string &key, const std::optional<std::string> &json);
    void storeConstraints(const cw::Constraints &constraints);
    void storeBaseMetrics(const std::optional<cw::VariantMetrics> &metrics);

    std::optional<cw::Project> m_project;
    QString m_fileName;
    std::multiset<std::string> m_known; // identities of the variants m_fileName held when read or last written
    QUndoStack *m_undo = nullptr;
};

} // namespace cw::ui
