// GGUF: the header, metadata and tensor infos (gguf::File::open), then every tensor dequantized.
#include "core/io/gguf.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(gguf)
{
    const std::string path = cwfuzz::writeInput(data, size, "x.gguf");
    cwfuzz::parse([&] {
        const cw::gguf::File f = cw::gguf::File::open(path);
        for (const cw::gguf::TensorInfo &t : f.tensors())
            if (cw::gguf::typeTraits(t.type)->dequantizable)
                f.toFloat(t);
        for (const auto &[key, value] : f.metadata())
            value.summary();
    });
    return 0;
}
