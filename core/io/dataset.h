// Datasets for evaluation and training: images (or any feature tensors) with integer class labels.
//
// Readers: IDX (MNIST / Fashion-MNIST layout, gzip or raw, with the labels file beside the images file),
// NumPy .npy / .npz (x and y arrays), HDF5 with "x" and "y" datasets. "fashion-mnist" is the test split of
// Debian's dataset-fashion-mnist, "fashion-mnist:train" the training split.
// Features are returned as float32 [N, C, H, W] (NCHW) after preprocessing. A truncated or malformed file
// gives a cw::Error naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/tensor.h"

namespace cw {

struct Preprocess {
    float scale = 1.f / 255.f;  // applied first to raw integer data (uint8 images); float data is left as is
    std::vector<float> mean;     // per channel (or one value for all), subtracted after scaling
    std::vector<float> std;      // per channel (or one value), divided after subtracting the mean
    enum class Layout { Auto, NCHW, NHWC } layout = Layout::Auto; // layout of the stored data
};

struct Dataset {
    std::string name;
    Tensor x;                     // float32 [N, C, H, W] (or [N, F] for flat features)
    std::vector<int64_t> labels;  // N class indices (empty if the source has none)
    int64_t size() const { return x.isNull() ? 0 : x.dim(0); }
    // Rows [begin, begin + count) as a new tensor (copy).
    Tensor batch(int64_t begin, int64_t count) const;
};

// spec: a path (.gz / idx3-ubyte / .npy / .npz / .h5 / .hdf5) or "fashion-mnist", "fashion-mnist:train".
// limit > 0 keeps only the first `limit` samples.
Dataset loadDataset(const std::string &spec, const Preprocess &pre = {}, int64_t limit = 0);

// Directory holding Debian's Fashion-MNIST files; CW_FASHION_MNIST_DIR overrides it.
std::string fashionMnistDir();

// NumPy .npy: float32, int8, uint8, int32, int64 (little-endian, C order).
Tensor readNpy(const std::string &path);
void writeNpy(const Tensor &tensor, const std::string &path);
// NumPy .npz (stored or deflated zip): name -> array.
std::vector<std::pair<std::string, Tensor>> readNpz(const std::string &path);

} // namespace cw
