// NumPy .npy as a dataset: the header, the payload, dtype conversion and preprocessing (loadDataset).
#include "core/io/dataset.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(npy)
{
    const std::string path = cwfuzz::writeInput(data, size, "x.npy");
    cwfuzz::parse([&] { cw::loadDataset(path); });
    return 0;
}
