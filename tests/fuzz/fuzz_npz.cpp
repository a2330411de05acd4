// NumPy .npz as a dataset: the zip directory (zip64 too), stored and deflated members, the arrays inside,
// labels and preprocessing (loadDataset).
#include "core/io/dataset.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(npz)
{
    const std::string path = cwfuzz::writeInput(data, size, "data.npz");
    cwfuzz::parse([&] { cw::loadDataset(path); });
    return 0;
}
