// The project files (.cwproj), read from memory: the bundle's HDF5 layout, the project document's JSON, each
// model in it (the native .h5 reader and the normalisation of loadModel), and the variants' recipes and metrics;
// or, for a file that names the language-model format near its start (as cw::isLmProjectFile tells them apart), a
// language model's project (core/project/lm_project.h: its variants' encoded tensors, per-tensor results,
// measurements and sensitivity sweep).
#include "core/project/lm_project.h"
#include "core/project/project.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(project)
{
    const std::string bytes(reinterpret_cast<const char *>(data), size);
    if (bytes.substr(0, 65536).find(cw::kLmProjectFormat) != std::string::npos)
        cwfuzz::parse([&] { cw::loadLmProjectBytes(bytes, "fuzz.cwproj"); });
    else
        cwfuzz::parse([&] { cw::loadProjectBytes(bytes, "fuzz.cwproj"); });
    return 0;
}
