// The project files (.cwproj), read from memory: the bundle's HDF5 layout, the project document's JSON, each
// model in it (the native .h5 reader and the normalisation of loadModel), and the variants' recipes and metrics;
// and the same bytes as a language model's project (core/project/lm_project.h: its variants' encoded tensors,
// per-tensor results, measurements and sensitivity sweep).
#include "core/project/lm_project.h"
#include "core/project/project.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(project)
{
    const std::string bytes(reinterpret_cast<const char *>(data), size);
    cwfuzz::parse([&] { cw::loadProjectBytes(bytes, "fuzz.cwproj"); });
    cwfuzz::parse([&] { cw::loadLmProjectBytes(bytes, "fuzz.cwproj"); });
    return 0;
}
