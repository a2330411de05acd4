// NumPy .npy as a dataset: the header, the payload, dtype conversion and preprocessing (loadDataset), whole and up to
// its first sample (the row-limited read a limit or a tab's first-sample check takes).
#include "core/io/dataset.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(npy)
{
    const std::string path = cwfuzz::writeInput(data, size, "x.npy");
    cwfuzz::parse([&] { cw::loadDataset(path); });
    cwfuzz::parse([&] { cw::loadDataset(path, {}, 1); });
    return 0;
}
