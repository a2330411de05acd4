// Datasets for evaluation and training: images (or any feature tensors) with integer class labels.
//
// Readers: IDX (MNIST / Fashion-MNIST layout, gzip or raw, with the labels file beside the images file),
// NumPy .npy / .npz (x and y arrays), HDF5 with "x" and "y" datasets, and folders of PNG / JPEG images
// (core/io/images.h). "fashion-mnist" is the test split of Debian's dataset-fashion-mnist,
// "fashion-mnist:train" the training split.
// Arrays are read whole and returned as float32 [N, C, H, W] (NCHW) after preprocessing, in Dataset::x.
// Image folders are streamed: the Dataset holds a SampleSource that decodes the rows a batch asks for, never
// the whole folder. Either way consumers read rows through size() / sampleShape() / batch() / gather().
// A truncated or malformed file gives a cw::Error naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/base/tensor.h"
#include "core/graph/graph.h"

namespace cw {

struct Preprocess {
    float scale = 1.f / 255.f;  // applied first to raw integer data (uint8 images, pixels 0..255); float data
                                 // is left as is
    std::vector<float> mean;     // per channel (or one value for all), subtracted after scaling
    std::vector<float> std;      // per channel (or one value), divided after subtracting the mean
    // Arrays: the layout of the stored data (Auto: NHWC when the last dimension is 1 or 3 and the second is
    // not); they are always returned as NCHW. Image folders: the layout the model takes, that is of the rows
    // returned (NHWC: rows [H, W, C]; NCHW and Auto: rows [C, H, W]).
    enum class Layout { Auto, NCHW, NHWC } layout = Layout::Auto;
    // Image folders only (core/io/images.h); 0 means unset. fitImageInput fills them from the model's input.
    int64_t imageChannels = 0;        // 1 or 3 (unset: 3)
    int64_t imageHeight = 0;          // the centre crop: the model input's height and width (required)
    int64_t imageWidth = 0;
    int64_t resizeShorter = 0;        // the shorter side before the crop (unset: round(max(H, W) * 256 / 224))
};

// Preprocess::mean or ::std for data of `channels` channels: one value stands for every channel, none gives
// `fallback`. cw::Error naming `path` when the count fits neither, or (`isStd`) a value is zero or not finite.
std::vector<float> channelValues(const std::vector<float> &values, int64_t channels, float fallback, bool isStd,
                                 const std::string &path);

// The normalisation presets, mapped onto Preprocess scale / mean / std (for 8-bit pixels 0..255):
//   Unit       [0, 1]:  scale 1/255
//   Symmetric  [-1, 1]: scale 1/255, mean 0.5, std 0.5
//   ImageNet   scale 1/255, mean 0.485, 0.456, 0.406, std 0.229, 0.224, 0.225 (three channels)
enum class Normalization { Unit, Symmetric, ImageNet };
void setNormalization(Preprocess &pre, Normalization preset);
// "unit", "symmetric", "imagenet" (cw::Error otherwise).
Normalization parseNormalization(const std::string &name);

// Fills the unset image geometry of `pre` (channels, height, width) from a model input's shape (-1: not
// fixed): [N, C, H, W], or [N, H, W, C] when pre.layout is NHWC, or Auto with a last axis of 1 or 3 and a second
// that is neither; [N, H, W] means one channel. Dimensions
// that are not fixed stay unset. Arrays ignore these fields, so callers may apply it to any dataset.
void fitImageInput(Preprocess &pre, const Shape &modelInput);

// Rows decoded on demand (image folders). Immutable after construction and shared by copies of a Dataset;
// read() may be called from several threads at once.
class SampleSource {
public:
    virtual ~SampleSource() = default;
    virtual int64_t size() const = 0;
    virtual Shape sampleShape() const = 0; // one row, without the sample dimension
    // Writes rows `indices[0..count)` one after another into `out` (float32, count * numel(sampleShape())).
    virtual void read(const int64_t *indices, int64_t count, float *out) const = 0;
};

// Cheap to copy: copies share x's buffer and the source; only the labels and class names are copied.
struct Dataset {
    std::string name;
    Tensor x;                              // in-memory rows: float32 [N, C, H, W] (or [N, F] for flat features)
    std::shared_ptr<const SampleSource> source; // streamed rows (when set, x is null)
    std::vector<int64_t> labels;           // N class indices (empty if the source has none)
    std::vector<std::string> classes;      // class names by index, when the source names them (image folders)
    bool channelsLast = false;             // rows [H, W, C] (an image folder read for an NHWC model), else [C, H, W]

    int64_t size() const { return source ? source->size() : x.isNull() ? 0 : x.dim(0); }
    Shape sampleShape() const;
    // Rows [begin, begin + count) as a new tensor [count, sampleShape...] (a copy; streamed rows decoded in
    // parallel).
    Tensor batch(int64_t begin, int64_t count) const;
    // Rows `indices` in that order (shuffled training batches).
    Tensor gather(const std::vector<int64_t> &indices) const;
    // Rows [begin, begin + count) as a dataset of their own, with their labels: in-memory rows copied, streamed
    // rows still read on demand from this one's source.
    Dataset rows(int64_t begin, int64_t count) const;
};

// Dataset rows shaped for a graph input. Rows [B, s...] are fed as they are when s is the input's declared sample
// shape (a symbolic size takes any); otherwise, the first of these that fits:
//   - s differs only by axes of size 1: reshaped (features stored [N, 16, 96] for an input [1, 1, 16, 96];
//     Fashion-MNIST read as [N, 1, 28, 28] for an input [N, 28, 28]); a symbolic declared dimension takes the
//     size at the same place among the non-unit sizes;
//   - rows [C, H, W] for an input that declares [N, H, W, C]: transposed to channels last. Arrays are read as
//     NCHW (Preprocess::Layout), and Keras / TensorFlow image models take NHWC; an array stored NHWC comes back
//     as it was stored, even one whose layout the Auto rule guessed wrong;
//   - one of the two sample shapes flat ([784] rows for an input [N, 1, 28, 28], or [1, 28, 28] rows for an
//     input [N, 784]) with the other's element count: reshaped in row-major order.
// Any other batch is returned as it is.
Tensor conformBatch(const ValueInfo &input, const Tensor &batch);
// conformBatch's rows, or cw::Error when they still do not fit the input's declared shape, said in terms of
// samples: "the data's samples are [1, 28, 28], and graph input 'input_1' [N, 76, 32, 1] takes [76, 32, 1] per
// sample". Inference (analysis/feeds.h) and training feed a dataset's rows through it.
Tensor fittedRows(const ValueInfo &input, const Tensor &batch);

// spec: a path (.gz / idx3-ubyte / .npy / .npz / .h5 / .hdf5, a folder of images or an IDX folder) or
// "fashion-mnist", "fashion-mnist:train". limit > 0 keeps only the first `limit` samples.
Dataset loadDataset(const std::string &spec, const Preprocess &pre = {}, int64_t limit = 0);

// The files loadDataset(spec) reads: the data file and the labels file beside it, or every file of an image folder
// (recursively, sorted). Throws cw::Error like loadDataset for a spec that names nothing.
std::vector<std::string> datasetFiles(const std::string &spec);

// Directory holding Debian's Fashion-MNIST files; CW_FASHION_MNIST_DIR overrides it.
std::string fashionMnistDir();

// NumPy .npy: float32, int8, uint8, int32, int64 (little-endian, C order).
Tensor readNpy(const std::string &path);
void writeNpy(const Tensor &tensor, const std::string &path);
// NumPy .npz (stored or deflated zip): name -> array.
std::vector<std::pair<std::string, Tensor>> readNpz(const std::string &path);
// An HDF5 dataset file: its arrays 'x' (required) and 'y' (a null Tensor when absent), as stored.
std::pair<Tensor, Tensor> readH5Arrays(const std::string &path);

} // namespace cw
