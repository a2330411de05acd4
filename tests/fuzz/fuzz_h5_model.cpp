// The native .h5 model format, read from memory (libhdf5 file image): layout, graph JSON, tensors, then
// the same normalisation as loadModel (shape inference).
#include "core/io/model_io.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(h5_model)
{
    cwfuzz::parse([&] { cw::readH5Bytes(std::string(reinterpret_cast<const char *>(data), size), "fuzz.h5"); });
    return 0;
}
