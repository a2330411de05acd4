// IDX (the MNIST layout), raw or gzip, as a dataset (loadDataset; no labels file beside it).
#include "core/io/dataset.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(idx)
{
    const std::string path = cwfuzz::writeInput(data, size, "fuzz-images-idx3-ubyte");
    cwfuzz::parse([&] { cw::loadDataset(path); });
    return 0;
}
