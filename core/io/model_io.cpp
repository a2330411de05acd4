// Format registry, loadModel / saveModel and the built-in demos.
#include "core/io/model_io.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "core/base/error.h"
#include "core/base/rehearse.h"
#include "core/graph/transform.h"
#include "core/io/bundle.h"
#include "core/runtime/session.h"
#include "core/runtime/shape_inference.h"
#include "resources/demo_data.h"

namespace cw {

// Defined next to each format (onnx_format.cpp, h5_format.cpp); they return the model as stored in the
// file (unique node names, nothing else normalised).
std::unique_ptr<ModelFormat> createOnnxFormat();
std::unique_ptr<ModelFormat> createH5Format();
Model parseOnnxBytes(const std::string &bytes, const std::string &sourceName);
Model parseH5Bytes(const std::string &bytes, const std::string &sourceName);
void writeBundleFile(const BundleContents &contents, const std::string &path);
Bundle parseBundleFile(const std::string &path, const std::string &format, int64_t maxVersion);
Bundle parseBundleBytes(const std::string &bytes, const std::string &sourceName, const std::string &format,
                        int64_t maxVersion);

std::string fileExtension(const std::string &path)
{
    const auto slash = path.find_last_of("/\\");
    const auto dot = path.rfind('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
        return {};
    std::string ext = path.substr(dot + 1);
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext;
}

namespace {

// Rethrows `e` with the file's name in front unless the message names it already.
[[noreturn]] void rethrowNamingFile(const Error &e, const std::string &path)
{
    const std::string quotedPath = "'" + path + "'";
    if (std::string(e.what()).find(quotedPath) != std::string::npos)
        throw e;
    throw Error(quotedPath + ": " + e.what());
}

// Unique names (subgraphs' nodes too), subgraph layer weights in the main graph (hoistSubgraphWeights), a topological order, every
// operator supported (or an error naming the node, op type, opset and file; unless options.requireKernels is
// off) and the static shape of every value. Nothing is executed.
void normalise(Model &model, const LoadOptions &options = {})
{
    model.graph.ensureUniqueNodeNames();
    nameSubgraphNodes(model);
    hoistSubgraphWeights(model);
    try {
        model.graph.sortTopologically();
        if (options.requireKernels)
            requireKernels(model);
        inferShapes(model);
    } catch (const Cancelled &) {
        throw;
    } catch (const Error &e) {
        // Most messages already name the file (describeNode); the rest get it as a prefix.
        rethrowNamingFile(e, model.sourcePath);
    }
}

} // namespace

const std::vector<std::unique_ptr<ModelFormat>> &modelFormats()
{
    static const std::vector<std::unique_ptr<ModelFormat>> formats = [] {
        std::vector<std::unique_ptr<ModelFormat>> f;
        f.push_back(createOnnxFormat());
        f.push_back(createH5Format());
        return f;
    }();
    return formats;
}

const ModelFormat *formatForFile(const std::string &path)
{
    const std::string ext = fileExtension(path);
    for (const auto &f : modelFormats())
        if (!ext.empty() && (ext == f->extension() || (ext == "hdf5" && f->extension() == "h5")))
            return f.get();
    // Unknown extension: sniff the content. HDF5 first, its signature is unambiguous.
    for (auto it = modelFormats().rbegin(); it != modelFormats().rend(); ++it)
        if ((*it)->supportsFile(path))
            return it->get();
    return nullptr;
}

std::vector<std::string> demoModelNames()
{
    return {"demo", "demo-resnet"};
}

bool isDemoModel(const std::string &spec)
{
    const auto names = demoModelNames();
    return std::find(names.begin(), names.end(), spec) != names.end();
}

Model loadModel(const std::string &spec, const LoadOptions &options)
{
    Model model;
    if (isDemoModel(spec)) {
        const std::string_view bytes = demoModelBytes(spec);
        if (bytes.empty())
            throw Error("the demo model '" + spec + "' is not built into this binary");
        model = parseH5Bytes(std::string(bytes), spec);
    } else {
        std::error_code ec;
        if (std::filesystem::is_directory(spec, ec))
            throw Error("'" + spec + "' is a directory, not a model file");
        if (!std::ifstream(spec, std::ios::binary))
            throw Error("cannot open '" + spec + "': no such file or it is not readable");
        const ModelFormat *format = formatForFile(spec);
        if (!format || !(format->capabilities() & ModelFormat::Read))
            throw Error("'" + spec + "' is not a model file this program can read (expected .onnx or .h5)");
        try {
            model = format->read(spec);
        } catch (const Cancelled &) {
            throw;
        } catch (const Error &e) {
            rethrowNamingFile(e, spec);
        }
    }
    model.sourcePath = spec;
    normalise(model, options);
    return model;
}

void saveModel(const Model &model, const std::string &path)
{
    const std::string ext = fileExtension(path);
    for (const auto &f : modelFormats()) {
        if (ext == f->extension() || (ext == "hdf5" && f->extension() == "h5")) {
            if (!(f->capabilities() & ModelFormat::Write))
                break;
            f->write(model, path);
            return;
        }
    }
    throw Error("cannot save '" + path + "': unknown model extension '" + ext + "' (use .onnx or .h5)");
}

Model readOnnxBytes(const std::string &bytes, const std::string &sourceName)
{
    Model model = parseOnnxBytes(bytes, sourceName);
    normalise(model);
    return model;
}

Model readH5Bytes(const std::string &bytes, const std::string &sourceName)
{
    // libhdf5 1.10 can crash on corrupt bytes: a helper process reads them first (core/base/rehearse.h). The
    // built-in demos (parseH5Bytes above) are the program's own bytes and are not rehearsed.
    rehearseReadBytes(RehearsalKind::ModelImage, bytes, sourceName,
                      "'" + sourceName + "': the HDF5 library crashed reading these bytes");
    Model model = parseH5Bytes(bytes, sourceName);
    normalise(model);
    return model;
}

void writeBundle(const BundleContents &contents, const std::string &path)
{
    writeBundleFile(contents, path);
}

namespace {

Bundle normalised(Bundle bundle, const LoadOptions &options)
{
    for (auto &[key, model] : bundle.models) {
        try {
            normalise(model, options);
        } catch (const Cancelled &) {
            throw;
        } catch (const Error &e) {
            throw Error("model '" + key + "': " + e.what());
        }
    }
    return bundle;
}

} // namespace

Bundle readBundle(const std::string &path, const std::string &format, int64_t maxVersion, const LoadOptions &options)
{
    rehearseRead(RehearsalKind::BundleFile, path, "'" + path + "': the HDF5 library crashed reading this file");
    return normalised(parseBundleFile(path, format, maxVersion), options);
}

Bundle readBundleBytes(const std::string &bytes, const std::string &sourceName, const std::string &format,
                       int64_t maxVersion, const LoadOptions &options)
{
    rehearseReadBytes(RehearsalKind::BundleImage, bytes, sourceName,
                      "'" + sourceName + "': the HDF5 library crashed reading these bytes");
    return normalised(parseBundleBytes(bytes, sourceName, format, maxVersion), options);
}

} // namespace cw
