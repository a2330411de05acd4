// A project: one base model, the data it was measured on, its analyses, and every variant made from it with its
// recipe, metrics and provenance. It is what the Compare tab charts, what a report is made from, and what a batch
// run on another machine fills (`cwb compress … --project P.cwproj`).
//
// Saved as one .cwproj file, a bundle (core/io/bundle.h; layout in docs/formats.md):
//   /document          the project JSON: base model (spec, size, SHA-256, embedded or not), datasets (spec and
//                      the SHA-256 of each file), the base model's metrics and analyses, the constraints, and
//                      per variant its key, origin and provenance
//   /models/base       the base model, only when embedded
//   /models/v<N>       each variant's model; its recipe and metrics are its Model::analysis "recipe" / "metrics"
//                      (docs/formats.md), as in a variant saved alone
// Saves are atomic: a killed save leaves the previous file whole. A project whose base is not embedded reopens
// by loading the base from its path (or, when that is gone, the same file name beside the project) and refuses a
// base whose SHA-256 differs. Nothing is recomputed on opening: tables, charts and analyses come from the file.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/compress/compress.h"
#include "core/io/model_io.h"
#include "core/project/compare.h"

namespace cw {

struct FileDigest {
    std::string path;
    int64_t bytes = 0;
    std::string sha256;
    bool operator==(const FileDigest &) const = default;
};

// The digest of a file (throws cw::Error naming it when it cannot be read).
FileDigest digestFile(const std::string &path);
// The digest of a model by spec: a built-in demo's bytes (path ""), its file's (the absolute path), or a folder's
// (a Hugging Face checkpoint: the SHA-256 of its files' relative names and hashes, their bytes summed).
FileDigest modelDigest(const std::string &spec);

struct DatasetRecord {
    std::string role; // "evaluation" or "training"
    std::string spec; // as given to loadDataset: a path or "fashion-mnist[:train]"
    std::vector<FileDigest> files; // what it read (datasetFiles)
    bool operator==(const DatasetRecord &) const = default;
};

// Where a variant came from and how to make it again.
struct Provenance {
    std::string tool;    // toolDescription(): version and git commit
    std::string date;    // UTC, ISO 8601 ("2026-11-30T09:12:03Z")
    std::string machine; // CPU model
    int cores = 0;       // hardware threads
    std::string command; // the cwb command that rebuilds the variant
    std::string directory; // the working directory it ran in (relative paths in the command start there)
    std::string evalData, trainData; // dataset specs it was measured / trained on ("" for none)
    bool operator==(const Provenance &) const = default;
};

// A provenance as the project documents store it (JSON), and back (cw::Error or a JSON error for a malformed one).
std::string provenanceToJson(const Provenance &provenance);
Provenance provenanceFromJson(const std::string &text);

// An exclusive lock on a project file for a load-modify-save (flock on a hidden ".NAME.lock" beside it), so that
// batch runs adding to one project at the same time lose nothing. cw::Error when it cannot be taken.
class ProjectLock {
public:
    explicit ProjectLock(const std::string &path);
    ~ProjectLock();
    ProjectLock(const ProjectLock &) = delete;
    ProjectLock &operator=(const ProjectLock &) = delete;

private:
    int m_fd = -1;
};

// An argument as a POSIX shell reads it back: unchanged when it is plain, else in single quotes.
std::string shellQuoted(const std::string &arg);
// `cwb ARGS…` as one command line a POSIX shell reads back (each argument shellQuoted).
std::string cwbCommandLine(const std::vector<std::string> &args);

// Tool, date, machine and working directory of this run; the caller adds the command and the data.
Provenance currentProvenance();

struct ProjectVariant {
    Variant variant;     // name, recipe, model, metrics (measured or not)
    std::string origin;  // "compress", "distill" or "import"
    Provenance provenance;
};

struct Project {
    std::string baseSpec;   // the base model as the user gave it: a path or "demo" / "demo-resnet"
    FileDigest baseFile;    // its file's digest (of the built-in bytes for a demo; path "")
    bool embedBase = false; // keep a copy of the base model in the project file
    Model base;             // its Model::analysis holds the base's analyses (sensitivity, ...)
    std::optional<VariantMetrics> baseMetrics; // the base measured like the variants
    std::vector<DatasetRecord> datasets;
    std::vector<ProjectVariant> variants;
    Constraints constraints; // what the recommendation and the report's verdicts hold the variants to
};

// A project on `baseSpec` (loaded and hashed; the demos are always available and never embedded).
Project newProject(const std::string &baseSpec, const LoadOptions &options = {});

// One line for the variants tables: the recipe's summary (recipeSummary), "distilled" for a student.
std::string variantSummary(const ProjectVariant &variant);

// Throws cw::Error unless `spec` names the project's base model: the same demo, or a file with the same SHA-256.
void requireBase(const Project &project, const std::string &spec);

// Appends a variant; a name already taken gets " (2)", " (3)", … Its recipe and metrics are written into its
// model's analysis so that the model saved alone carries them too. Returns its index.
size_t addVariant(Project &project, ProjectVariant variant);

// The record of a dataset the project's numbers come from: its files (datasetFiles) hashed. Throws cw::Error when
// they cannot be found or read.
DatasetRecord datasetRecord(const std::string &role, const std::string &spec);
// Adds the record; one with the same role and spec replaces the earlier.
void recordDataset(Project &project, DatasetRecord record);

// A variant from a model that carries its recipe and metrics in Model::analysis (a variant saved by compress or
// distill; measured when it has metrics). Throws cw::Error naming `name` for a malformed recipe or metrics.
Variant variantFromModel(Model model, const std::string &name);

// What the comparisons of a project share (the Compare tab, the report, `cwb project show`).
struct ProjectComparison {
    VariantMetrics base;                         // the base's metrics (empty when not measured)
    std::vector<const VariantMetrics *> metrics; // per variant, into the project
    QualityKind kind = QualityKind::None;        // commonQuality
    Recommendation recommendation;               // under the project's constraints
    std::vector<bool> frontier(Cost cost) const { return onFrontier(metrics, cost); }
};
ProjectComparison compareProject(const Project &project);

inline constexpr const char *kProjectFormat = "compression-workbench-project";
inline constexpr int64_t kProjectFormatVersion = 1;
inline constexpr const char *kProjectExtension = "cwproj";

// Atomic (see above), under the project's lock (updateProject). Throws cw::Error naming the file on failure; the
// previous file is then untouched.
void saveProject(const Project &project, const std::string &path);

// What identifies a variant across saves and programs: its origin, provenance, recipe and metrics — not its
// name, which addVariant may have made unique another way.
std::string variantIdentity(const ProjectVariant &variant);

// saveProject for a program that holds a project read from `path` while others may add to the file (a GUI while
// `cwb compress --project` runs): under the lock, the variants of the file on disk beyond those `known` holds
// (the identities the file had when this program read or last wrote it, counted: two identical runs are two
// variants) are added to `project` (addVariant) with the dataset records they need, then the project is written.
// Variants this program removed stay removed. Returns the variants added; a file that does not exist or cannot
// be read any more is simply replaced.
std::vector<ProjectVariant> saveProjectMerging(Project &project, const std::string &path,
                                               const std::multiset<std::string> &known);
// Throws cw::Error naming the file and the part at fault (a variant, the base model's path or hash).
Project loadProject(const std::string &path, const LoadOptions &options = {});
// The same from the file's bytes (fuzzing); the base must be embedded or a demo.
Project loadProjectBytes(const std::string &bytes, const std::string &sourceName, const LoadOptions &options = {});

// Load-modify-save under an exclusive lock (flock on a hidden ".NAME.lock" beside the file), so that batch runs
// adding to one project at the same time lose nothing: `create` makes the project when the file does not exist
// yet, `edit` changes it, and the result is saved atomically.
void updateProject(const std::string &path, const std::function<Project()> &create,
                   const std::function<void(Project &)> &edit, const LoadOptions &options = {});

// The project without its models, as JSON (`cwb project show --json`, the report): base, datasets, constraints,
// and per variant its name, origin, recipe, metrics, provenance and Pareto / verdict marks.
std::string projectToJson(const Project &project, int indent = 2);

} // namespace cw
