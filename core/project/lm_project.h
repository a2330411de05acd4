// A language model's project: the checkpoint it was made from, its sensitivity sweep, and every compressed variant
// with its recipe, its measurements and its encoded tensors — what the language-model tabs show, saved and reopened
// without recomputing anything, and what `cwb compress LM --project`, `cwb sensitivity LM --project` and `cwb merge
// --project` fill (core/project/project.h is the same for ONNX and native models).
//
// One .cwproj file, a bundle (core/io/bundle.h) of format "compression-workbench-lm-project" (docs/formats.md):
//   /document            JSON: the base (its spec and the SHA-256 of its file), the sensitivity sweep with the
//                        text it was measured on (or null), and per variant its name, recipe, evaluation text,
//                        perplexity and the base's, speed, bytes, parameters, per-tensor results, fine-tuning,
//                        provenance, and the type and blob of each encoded tensor
//   /blobs/v<N>/<tensor> the bytes of variant N's encoded tensor, as a GGUF export stores them
// The base checkpoint is never embedded: a reopened project opens it from its path, or a file of the same name
// beside the project, and refuses one whose SHA-256 differs ("demo-lm" by name). Saves are atomic.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/compress/recipe.h"
#include "core/lm/compress.h"
#include "core/lm/perplexity.h"
#include "core/lm/sensitivity.h"
#include "core/project/project.h"

namespace cw {

struct LmProjectVariant {
    std::string name;
    Recipe recipe;
    std::shared_ptr<const lm::LmCompressResult> result; // its tensors, bytes and encoded tensors
    lm::PerplexityResult perplexity;                    // on `evaluation`
    double basePerplexity = 0;                          // the base's on the same text and chunks
    lm::SpeedResult speed, baseSpeed;                   // lm::variantSpeed of the variant and of the base
    std::string evaluation; // the text spec it was measured on (lm::loadText)
    Provenance provenance;
};

struct LmProject {
    std::string baseSpec; // "demo-lm", or the checkpoint's absolute path
    FileDigest baseFile;  // modelDigest(baseSpec)
    std::optional<lm::SensitivityResult> sensitivity;
    std::string sensitivityText; // the text spec it was measured on
    std::vector<LmProjectVariant> variants;
};

inline constexpr const char *kLmProjectFormat = "compression-workbench-lm-project";
inline constexpr int64_t kLmProjectFormatVersion = 1;

// A project on the checkpoint `baseSpec` (hashed; cw::Error when it cannot be read).
LmProject newLmProject(const std::string &baseSpec);
// Whether the .cwproj file at `path` looks like a language model's project: its root "format" attribute, found by
// its text near the start of the file without reading it as HDF5 (quick, for choosing how to open a file; the
// load checks it); false for anything else.
bool isLmProjectFile(const std::string &path);
// Throws cw::Error unless `spec` names the project's base: the same built-in model, or a file with its SHA-256.
void requireLmBase(const LmProject &project, const std::string &spec);
// Appends a variant; a name already taken gets " (2)", " (3)", …
void addLmVariant(LmProject &project, LmProjectVariant variant);

// Atomic; cw::Error naming the file when it cannot be written (the previous file is then untouched).
void saveLmProject(const LmProject &project, const std::string &path);
// cw::Error naming the file and the part at fault.
LmProject loadLmProject(const std::string &path);
// The same from the file's bytes (fuzzing).
LmProject loadLmProjectBytes(const std::string &bytes, const std::string &sourceName);
// The base checkpoint of a project read from `projectPath`: its spec when that is the file (or the built-in
// model), else the file of the same name beside the project; cw::Error when neither has the recorded SHA-256.
std::string locateLmBase(const LmProject &project, const std::string &projectPath);
// Load-modify-save under the project's lock (updateProject's, for the commands that add to one file at once).
void updateLmProject(const std::string &path, const std::function<LmProject()> &create,
                     const std::function<void(LmProject &)> &edit);
// The project without its tensors' bytes, as JSON (`cwb project show --json`).
std::string lmProjectToJson(const LmProject &project, int indent = 2);

// What saveLmProject writes, for a file that carries a project inside another (a cluster sweep's part,
// core/cluster/sweep.h): the document, the blobs it names (keys → the project's bytes, not copied), and back (the
// blobs are moved into the project). Errors name `source`.
std::string lmProjectDocument(const LmProject &project);
std::vector<std::pair<std::string, const std::string *>> lmProjectBlobs(const LmProject &project);
LmProject lmProjectFromParts(const std::string &document, std::map<std::string, std::string> blobs,
                             const std::string &source);

} // namespace cw
