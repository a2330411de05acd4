// safetensors: the header (JSON), every tensor's extent, then every float tensor read.
#include "core/io/safetensors.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(safetensors)
{
    const std::string path = cwfuzz::writeInput(data, size, "x.safetensors");
    cwfuzz::parse([&] {
        const cw::safetensors::Checkpoint c = cw::safetensors::Checkpoint::open(path);
        for (const cw::safetensors::TensorInfo &t : c.tensors())
            if (t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16")
                c.toFloat(t);
    });
    return 0;
}
