// An HDF5 dataset file (root datasets "x" and "y") through loadDataset: types, shapes, labels, preprocessing.
#include "core/io/dataset.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(h5_dataset)
{
    const std::string path = cwfuzz::writeInput(data, size, "data.h5");
    cwfuzz::parse([&] { cw::loadDataset(path); });
    return 0;
}
