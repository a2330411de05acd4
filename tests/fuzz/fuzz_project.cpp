// The project file (.cwproj), read from memory: the bundle's HDF5 layout, the project document's JSON, each
// model in it (the native .h5 reader and the normalisation of loadModel), and the variants' recipes and metrics.
#include "core/project/project.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(project)
{
    cwfuzz::parse([&] { cw::loadProjectBytes(std::string(reinterpret_cast<const char *>(data), size), "fuzz.cwproj"); });
    return 0;
}
