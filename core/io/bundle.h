// A bundle: one native HDF5 file that holds a JSON document and several models, each model in a group of its own
// laid out exactly like the root of a native .h5 model file (docs/formats.md). The project file (.cwproj,
// core/project/project.h) is a bundle; h5py reads every part of it.
//
//   /                   attributes format (the bundle's kind, e.g. "compression-workbench-project"),
//                       format_version, writer
//   /document           string dataset: the JSON document
//   /models/<key>       one group per model (its "name" attribute holds the unescaped key)
//   /blobs/<key>        one uint8 dataset per blob of bytes (a file kept whole, e.g. a language model's tensors;
//                       its "name" attribute holds the unescaped key)
//
// Writes are atomic (core/base/atomic_file.h); reads are rehearsed in the helper process like every HDF5 read
// of a user's file (core/base/rehearse.h), check sizes before allocating, and normalise each model as
// loadModel() does.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/graph/graph.h"
#include "core/io/model_io.h"

namespace cw {

struct BundleContents {
    std::string format;
    int64_t version = 1;
    std::string document;
    std::vector<std::pair<std::string, const Model *>> models; // key → model (not owned)
    std::vector<std::pair<std::string, const std::string *>> blobs; // key → bytes (not owned)
};
void writeBundle(const BundleContents &contents, const std::string &path);

struct Bundle {
    std::string format;
    int64_t version = 0;
    std::string document;
    std::map<std::string, Model> models;
    std::map<std::string, std::string> blobs;
};
// `format`: the expected root "format" attribute ("" accepts any); `maxVersion`: the newest version this build
// reads. Throws cw::Error for anything else, naming the file and the part at fault (a model's normalisation
// errors name the model: "model 'v3': …"; core/project puts the file in front).
Bundle readBundle(const std::string &path, const std::string &format, int64_t maxVersion,
                  const LoadOptions &options = {});
// The same from bytes in memory (fuzzing); error messages name them `sourceName`.
Bundle readBundleBytes(const std::string &bytes, const std::string &sourceName, const std::string &format,
                       int64_t maxVersion, const LoadOptions &options = {});

} // namespace cw
