// Image folders as datasets: PNG (libpng) and JPEG (libjpeg-turbo's TurboJPEG API) decoded on demand,
// converted to the model's channel count, resized, centre-cropped and normalised.
//
// Layouts (entries whose names start with '.' are ignored; names are sorted byte-wise, for determinism):
//   labelled    FOLDER/CLASS/IMAGE: one sub-folder per class (the ImageNet layout); a sample's label is the
//               position of its sub-folder's name in sorted order, the names are Dataset::classes. Samples
//               are ordered by class, then by file name. An empty class folder still takes its index.
//   unlabelled  FOLDER/IMAGE: images directly inside, no labels.
//   A folder holding both images and sub-folders is an error (which one was meant is unclear).
// Images are files ending in .png, .jpg or .jpeg (any case); other files are skipped. The format is taken
// from the file's signature, not its name.
//
// One sample, in order:
//   1. decode: 8-bit and 16-bit PNGs (grey, grey + alpha, RGB, RGBA, palette; interlaced too) and baseline /
//      progressive JPEGs (grey or colour). Sample values are used as stored: no gamma or colour-profile
//      conversion. 16-bit samples are mapped onto 0..255 (v * 255 / 65535), so --scale works alike.
//   2. channels to Preprocess::imageChannels: alpha is dropped (not composited), grey is replicated to RGB,
//      RGB becomes grey with the ITU-R BT.601 luma weights 0.299 R + 0.587 G + 0.114 B (PIL's "L").
//   3. resize so that the shorter side is Preprocess::resizeShorter (the longer side scaled by the same factor
//      and rounded to nearest), with PIL's BILINEAR filter: separable, a triangle filter whose support widens
//      by the downscale factor, so downscaling averages every covered pixel (antialiased) and upscaling is
//      plain bilinear with half-pixel centres; weights are normalised at the borders. Horizontal pass first,
//      then vertical, in float with no rounding in between. Only the rows and columns of the crop are
//      computed. An image already at the size is left as is.
//   4. centre crop to imageHeight x imageWidth: the first row is floor((resized height - H) / 2), the first
//      column likewise.
//   5. normalise: value * scale, minus mean, divided by std (per channel), written as [C, H, W] or, with
//      Layout::NHWC, [H, W, C].
// A file that cannot be read, is not a PNG / JPEG, or is corrupt or truncated gives a cw::Error naming it,
// when its row is read. Declared image sizes above kMaxImagePixels are refused before anything is allocated.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/io/dataset.h"

namespace cw {

inline constexpr int64_t kMaxImagePixels = int64_t(1) << 27;

// An image's samples as floats on the 0..255 scale, [height, width, channels] (channels 1 or 3).
struct Image {
    int64_t height = 0, width = 0, channels = 0;
    std::vector<float> pixels;
};

// Decodes a PNG or JPEG file (steps 1; alpha dropped, channels as stored otherwise).
Image decodeImage(const std::string &path);
// Step 2: to 1 or 3 channels.
Image convertChannels(const Image &image, int64_t channels);
// Steps 3 and 4: resize (shorter side to `shorter`) and centre-crop to height x width. A resized image smaller
// than the crop is a cw::Error (never with the default resize, which is at least max(height, width)).
Image resizeCentreCrop(const Image &image, int64_t shorter, int64_t height, int64_t width);

// The folder's file list and labels; the returned Dataset's rows are decoded by its source on demand.
// Needs pre.imageHeight / imageWidth; the rest defaults as described in Preprocess.
Dataset openImageFolder(const std::string &dir, const Preprocess &pre, int64_t limit = 0);

} // namespace cw
