// Model file formats behind one small interface (after Tiled's FileFormat).
//
// Each format states its capabilities, a name filter for file dialogs, and reads / writes a Model.
// loadModel() picks the format by content and extension, resolves the built-in demos ("demo",
// "demo-resnet"), normalises the graph (unique node names, topological order, every operator supported unless
// LoadOptions say otherwise) and infers shapes.
// Every failure is a cw::Error whose message names the file (and node / op where one is at fault).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/graph/graph.h"

namespace cw {

class ModelFormat {
public:
    enum Capability { Read = 1, Write = 2 };
    virtual ~ModelFormat() = default;
    virtual int capabilities() const = 0;
    virtual std::string name() const = 0;       // "ONNX", "Compression Workbench HDF5"
    virtual std::string nameFilter() const = 0; // "ONNX models (*.onnx)"
    virtual std::string extension() const = 0;  // "onnx", "h5"
    virtual bool supportsFile(const std::string &path) const = 0;
    virtual Model read(const std::string &path) const = 0;
    virtual void write(const Model &model, const std::string &path) const = 0;
};

// Registered formats: ONNX and the native HDF5 format.
const std::vector<std::unique_ptr<ModelFormat>> &modelFormats();
const ModelFormat *formatForFile(const std::string &path); // by extension, then by content; nullptr if none

struct LoadOptions {
    // false: a model with operators that have no kernel loads anyway, for everything that does not run it
    // (layers, weights, statistics, the graph); cw::unsupportedNodes (runtime/session.h) lists what blocks it
    // and a Session on it throws. The GUI opens models this way; the CLI refuses them at load.
    bool requireKernels = true;
};

// Reads, normalises and shape-infers. spec: a path, "demo" or "demo-resnet".
Model loadModel(const std::string &spec, const LoadOptions &options = {});
// Writes by extension (.onnx, .h5); throws for an unknown extension or a write error.
void saveModel(const Model &model, const std::string &path);

// In-memory variants used for the embedded demos and tests.
Model readOnnxBytes(const std::string &bytes, const std::string &sourceName);
Model readH5Bytes(const std::string &bytes, const std::string &sourceName);

// Lower-case extension of a file name without the dot ("" when there is none): "Model.ONNX" -> "onnx".
std::string fileExtension(const std::string &path);

// Built-in demo models (resources/, compiled in): names and loader.
std::vector<std::string> demoModelNames(); // {"demo", "demo-resnet"}
bool isDemoModel(const std::string &spec);

} // namespace cw
