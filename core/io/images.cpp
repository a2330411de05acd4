// Image folders: listing, PNG / JPEG decoding, channel conversion, resize and crop (see images.h).
#include "core/io/images.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

#include <png.h>
#include <turbojpeg.h>

#include "core/base/error.h"
#include "core/base/parallel.h"

namespace cw {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string &path, const std::string &what)
{
    throw Error("'" + path + "': " + what);
}

std::string lower(std::string s)
{
    for (char &c : s)
        c = char(std::tolower((unsigned char)c));
    return s;
}

bool isImageName(const fs::path &p)
{
    const std::string ext = lower(p.extension().string());
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

bool hidden(const fs::path &p) { return p.filename().string().starts_with('.'); }

// The entries of `dir` that pass `keep`, sorted by name.
template <typename Keep> std::vector<fs::path> sortedEntries(const fs::path &dir, Keep keep)
{
    std::vector<fs::path> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (!hidden(it->path()) && keep(*it))
            out.push_back(it->path());
    if (ec)
        fail(dir.string(), "cannot list the folder: " + ec.message());
    std::sort(out.begin(), out.end());
    return out;
}

bool isImageFile(const fs::directory_entry &e)
{
    std::error_code ec;
    return e.is_regular_file(ec) && isImageName(e.path());
}

bool isSubFolder(const fs::directory_entry &e)
{
    std::error_code ec;
    return e.is_directory(ec);
}

std::vector<uint8_t> readFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        fail(path, "cannot open the image");
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad())
        fail(path, "cannot read the image");
    return bytes;
}

void checkSize(const std::string &path, int64_t width, int64_t height)
{
    if (width < 1 || height < 1 || width * height > kMaxImagePixels)
        fail(path, "image size " + std::to_string(width) + " x " + std::to_string(height) + " is empty or above " +
                       std::to_string(kMaxImagePixels) + " pixels");
}

// ---------------------------------------------------------------------------------------------- PNG

struct PngInput {
    const uint8_t *data;
    size_t size, pos;
    char error[256];
};

void pngRead(png_structp png, png_bytep out, png_size_t length)
{
    auto *in = static_cast<PngInput *>(png_get_io_ptr(png));
    if (length > in->size - in->pos)
        png_error(png, "truncated file");
    std::memcpy(out, in->data + in->pos, length);
    in->pos += length;
}

void pngError(png_structp png, png_const_charp message)
{
    auto *in = static_cast<PngInput *>(png_get_error_ptr(png));
    std::snprintf(in->error, sizeof in->error, "%s", message);
    png_longjmp(png, 1);
}

void pngWarning(png_structp, png_const_charp) {}

// libpng reports errors by longjmp: this function keeps only trivially destructible locals between setjmp and
// the calls that may jump, and `image` (owned by the caller) stays valid whatever happens. Returns false with
// in.error set on failure.
bool decodePngInto(PngInput &in, Image &image, std::vector<uint8_t> &raw, int &bitDepth)
{
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &in, pngError, pngWarning);
    if (!png) {
        std::snprintf(in.error, sizeof in.error, "out of memory");
        return false;
    }
    png_infop info = png_create_info_struct(png);
    png_bytep *volatile rows = nullptr;
    if (!info || setjmp(png_jmpbuf(png))) {
        std::free(rows);
        png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
        return false;
    }
    png_set_read_fn(png, &in, pngRead);
    png_read_info(png, info);
    const png_uint_32 width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    if (width < 1 || height < 1 || int64_t(width) * int64_t(height) > kMaxImagePixels)
        png_error(png, "image size is empty or too large");
    const int colorType = png_get_color_type(png, info);
    if (colorType == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (colorType == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    // A palette's tRNS chunk becomes an alpha channel when the palette is expanded: dropped like any alpha.
    if ((colorType & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    const int channels = png_get_channels(png, info);
    bitDepth = png_get_bit_depth(png, info);
    if ((channels != 1 && channels != 3) || (bitDepth != 8 && bitDepth != 16))
        png_error(png, "unsupported pixel format");
    const size_t rowBytes = png_get_rowbytes(png, info);
    raw.resize(rowBytes * height);
    rows = static_cast<png_bytep *>(std::malloc(sizeof(png_bytep) * height));
    if (!rows)
        png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < height; ++y)
        rows[y] = raw.data() + size_t(y) * rowBytes;
    png_read_image(png, rows);
    png_read_end(png, nullptr);
    std::free(rows);
    png_destroy_read_struct(&png, &info, nullptr);
    image.height = height;
    image.width = width;
    image.channels = channels;
    return true;
}

Image decodePng(const std::string &path, const std::vector<uint8_t> &bytes)
{
    PngInput in{bytes.data(), bytes.size(), 0, {}};
    Image image;
    std::vector<uint8_t> raw;
    int bitDepth = 8;
    if (!decodePngInto(in, image, raw, bitDepth))
        fail(path, std::string("corrupt or truncated PNG: ") + in.error);
    const size_t n = size_t(image.height * image.width * image.channels);
    image.pixels.resize(n);
    if (bitDepth == 8) {
        for (size_t i = 0; i < n; ++i)
            image.pixels[i] = float(raw[i]);
    } else { // big-endian 16-bit samples onto 0..255
        for (size_t i = 0; i < n; ++i)
            image.pixels[i] = float(double(raw[2 * i] << 8 | raw[2 * i + 1]) * (255.0 / 65535.0));
    }
    return image;
}

// ---------------------------------------------------------------------------------------------- JPEG

Image decodeJpeg(const std::string &path, const std::vector<uint8_t> &bytes)
{
    std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitDecompress(), tjDestroy);
    if (!tj)
        fail(path, "cannot start the JPEG decoder");
    auto jpegError = [&](const char *what) {
        fail(path, std::string(what) + ": " + tjGetErrorStr2(tj.get()));
    };
    int width = 0, height = 0, subsamp = 0, colorspace = 0;
    // TurboJPEG takes a non-const buffer in its 2.x API but does not write to it.
    auto *data = const_cast<unsigned char *>(bytes.data());
    if (tjDecompressHeader3(tj.get(), data, (unsigned long)bytes.size(), &width, &height, &subsamp, &colorspace) != 0)
        jpegError("corrupt JPEG header");
    checkSize(path, width, height);
    const bool grey = colorspace == TJCS_GRAY;
    Image image;
    image.height = height;
    image.width = width;
    image.channels = grey ? 1 : 3;
    std::vector<uint8_t> raw(size_t(width) * size_t(height) * size_t(image.channels));
    // Warnings (a truncated scan, bad data) make tjDecompress2 return -1 as well: the image would be partly
    // grey, so they count as errors.
    if (tjDecompress2(tj.get(), data, (unsigned long)bytes.size(), raw.data(), width, 0, height,
                      grey ? TJPF_GRAY : TJPF_RGB, 0) != 0)
        jpegError("corrupt or truncated JPEG");
    image.pixels.assign(raw.begin(), raw.end());
    return image;
}

// ---------------------------------------------------------------------------------------------- resize

// PIL's precompute_coeffs for the bilinear (triangle) filter: for output index i in [first, first + count) of
// an axis resized from `in` to `out`, the first input index and the normalised weights.
struct Taps {
    std::vector<int64_t> start, size;
    std::vector<float> weights; // count * width
    int64_t width = 0;
};

Taps bilinearTaps(int64_t in, int64_t out, int64_t first, int64_t count)
{
    const double scale = double(in) / double(out);
    const double filterScale = std::max(scale, 1.0);
    const double support = filterScale; // the triangle's radius is 1 input pixel, widened when downscaling
    Taps t;
    t.width = int64_t(std::ceil(support)) * 2 + 1;
    t.start.resize(size_t(count));
    t.size.resize(size_t(count));
    t.weights.assign(size_t(count * t.width), 0.f);
    for (int64_t k = 0; k < count; ++k) {
        const double center = (double(first + k) + 0.5) * scale;
        const int64_t lo = std::max<int64_t>(int64_t(center - support + 0.5), 0);
        const int64_t hi = std::min<int64_t>(int64_t(center + support + 0.5), in);
        std::vector<double> w(size_t(hi - lo));
        double sum = 0;
        for (int64_t j = lo; j < hi; ++j) {
            const double x = (double(j) - center + 0.5) / filterScale;
            w[size_t(j - lo)] = std::max(0.0, 1.0 - std::abs(x));
            sum += w[size_t(j - lo)];
        }
        t.start[size_t(k)] = lo;
        t.size[size_t(k)] = hi - lo;
        for (int64_t j = 0; j < hi - lo; ++j)
            t.weights[size_t(k * t.width + j)] = float(sum > 0 ? w[size_t(j)] / sum : 0.0);
    }
    return t;
}

// ---------------------------------------------------------------------------------------------- the source

class ImageFolderSource final : public SampleSource {
public:
    ImageFolderSource(std::vector<std::string> files, const Preprocess &pre, std::vector<float> mean,
                      std::vector<float> invStd)
        : m_files(std::move(files)), m_pre(pre), m_mean(std::move(mean)), m_invStd(std::move(invStd))
    {
    }

    int64_t size() const override { return int64_t(m_files.size()); }

    Shape sampleShape() const override
    {
        const int64_t c = m_pre.imageChannels, h = m_pre.imageHeight, w = m_pre.imageWidth;
        return m_pre.layout == Preprocess::Layout::NHWC ? Shape{h, w, c} : Shape{c, h, w};
    }

    void read(const int64_t *indices, int64_t count, float *out) const override
    {
        const int64_t c = m_pre.imageChannels, h = m_pre.imageHeight, w = m_pre.imageWidth;
        const int64_t row = c * h * w;
        parallelFor(resolveThreads(0), count, [&](int64_t i) {
            const std::string &path = m_files[size_t(indices[i])];
            Image image = convertChannels(decodeImage(path), c);
            try {
                image = resizeCentreCrop(image, m_pre.resizeShorter, h, w);
            } catch (const Error &e) {
                fail(path, e.what());
            }
            float *dst = out + i * row;
            const bool nhwc = m_pre.layout == Preprocess::Layout::NHWC;
            for (int64_t p = 0; p < h * w; ++p)
                for (int64_t ch = 0; ch < c; ++ch) {
                    const float v = (image.pixels[size_t(p * c + ch)] * m_pre.scale - m_mean[size_t(ch)]) *
                                    m_invStd[size_t(ch)];
                    dst[nhwc ? p * c + ch : ch * h * w + p] = v;
                }
        });
    }

private:
    std::vector<std::string> m_files;
    Preprocess m_pre;
    std::vector<float> m_mean, m_invStd;
};

} // namespace

Image decodeImage(const std::string &path)
{
    const std::vector<uint8_t> bytes = readFile(path);
    static const uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0)
        return decodePng(path, bytes);
    if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
        return decodeJpeg(path, bytes);
    fail(path, bytes.empty() ? "empty file, not an image" : "not a PNG or JPEG image");
}

Image convertChannels(const Image &image, int64_t channels)
{
    if (image.channels == channels)
        return image;
    Image out;
    out.height = image.height;
    out.width = image.width;
    out.channels = channels;
    const int64_t n = image.height * image.width;
    out.pixels.resize(size_t(n * channels));
    const float *src = image.pixels.data();
    float *dst = out.pixels.data();
    if (image.channels == 1 && channels == 3) {
        for (int64_t p = 0; p < n; ++p)
            dst[3 * p] = dst[3 * p + 1] = dst[3 * p + 2] = src[p];
    } else if (image.channels == 3 && channels == 1) {
        for (int64_t p = 0; p < n; ++p)
            dst[p] = 0.299f * src[3 * p] + 0.587f * src[3 * p + 1] + 0.114f * src[3 * p + 2];
    } else {
        throw Error("images can be converted to 1 or 3 channels, not " + std::to_string(channels));
    }
    return out;
}

Image resizeCentreCrop(const Image &image, int64_t shorter, int64_t height, int64_t width)
{
    const int64_t inH = image.height, inW = image.width, c = image.channels;
    int64_t outH = shorter, outW = shorter;
    if (inH < inW)
        outW = std::max<int64_t>(1, std::llround(double(inW) * double(shorter) / double(inH)));
    else if (inW < inH)
        outH = std::max<int64_t>(1, std::llround(double(inH) * double(shorter) / double(inW)));
    if (outH < height || outW < width)
        throw Error(std::to_string(inH) + " x " + std::to_string(inW) + " image resized to " + std::to_string(outH) +
                    " x " + std::to_string(outW) + " (shorter side " + std::to_string(shorter) +
                    ") is smaller than the crop " + std::to_string(height) + " x " + std::to_string(width));
    const int64_t top = (outH - height) / 2, left = (outW - width) / 2;

    Image out;
    out.height = height;
    out.width = width;
    out.channels = c;
    out.pixels.resize(size_t(height * width * c));
    if (outH == inH && outW == inW) {
        for (int64_t y = 0; y < height; ++y)
            std::memcpy(&out.pixels[size_t(y * width * c)], &image.pixels[size_t(((top + y) * inW + left) * c)],
                        size_t(width * c) * sizeof(float));
        return out;
    }
    const Taps cols = bilinearTaps(inW, outW, left, width);
    const Taps rows = bilinearTaps(inH, outH, top, height);
    // Horizontal pass over the input rows the vertical taps reach.
    const int64_t rowLo = rows.start.front(), rowHi = rows.start.back() + rows.size.back();
    std::vector<float> tmp(size_t((rowHi - rowLo) * width * c));
    for (int64_t y = rowLo; y < rowHi; ++y) {
        const float *src = &image.pixels[size_t(y * inW * c)];
        float *dst = &tmp[size_t((y - rowLo) * width * c)];
        for (int64_t x = 0; x < width; ++x) {
            const float *w = &cols.weights[size_t(x * cols.width)];
            const int64_t s = cols.start[size_t(x)];
            for (int64_t ch = 0; ch < c; ++ch) {
                float acc = 0;
                for (int64_t j = 0; j < cols.size[size_t(x)]; ++j)
                    acc += w[j] * src[(s + j) * c + ch];
                dst[x * c + ch] = acc;
            }
        }
    }
    for (int64_t y = 0; y < height; ++y) {
        const float *w = &rows.weights[size_t(y * rows.width)];
        const int64_t s = rows.start[size_t(y)] - rowLo;
        float *dst = &out.pixels[size_t(y * width * c)];
        for (int64_t i = 0; i < width * c; ++i) {
            float acc = 0;
            for (int64_t j = 0; j < rows.size[size_t(y)]; ++j)
                acc += w[j] * tmp[size_t((s + j) * width * c + i)];
            dst[i] = acc;
        }
    }
    return out;
}

Dataset openImageFolder(const std::string &dir, const Preprocess &given, int64_t limit)
{
    Preprocess pre = given;
    if (pre.imageChannels == 0)
        pre.imageChannels = 3;
    if (pre.imageChannels != 1 && pre.imageChannels != 3)
        fail(dir, std::string("images give 1 or 3 channels, but the model input read as ") +
                      (pre.layout == Preprocess::Layout::NHWC ? "NHWC" : "NCHW") + " has " +
                      std::to_string(pre.imageChannels) + " (is the layout right?)");
    if (pre.imageHeight < 1 || pre.imageWidth < 1)
        fail(dir, "the image size to crop to is unknown: the model input has no fixed height and width; give "
                  "--image-size (or --shape)");
    if (pre.resizeShorter == 0)
        pre.resizeShorter = std::llround(double(std::max(pre.imageHeight, pre.imageWidth)) * 256.0 / 224.0);
    if (pre.resizeShorter < 1)
        fail(dir, "the size to resize the shorter side to must be positive");
    const std::vector<float> mean = channelValues(pre.mean, pre.imageChannels, 0.f, false, dir);
    std::vector<float> invStd = channelValues(pre.std, pre.imageChannels, 1.f, true, dir);
    for (float &s : invStd)
        s = 1.f / s;

    Dataset data;
    data.channelsLast = pre.layout == Preprocess::Layout::NHWC;
    data.name = fs::path(dir).filename().string();
    if (data.name.empty()) // "dir/"
        data.name = fs::path(dir).parent_path().filename().string();
    std::vector<std::string> files;
    const fs::path root(dir);
    const std::vector<fs::path> direct = sortedEntries(root, isImageFile);
    const std::vector<fs::path> classes = sortedEntries(root, isSubFolder);
    if (!direct.empty() && !classes.empty())
        fail(dir, "holds both images and sub-folders: put the images in one sub-folder per class (labelled) or "
                  "all directly in the folder (unlabelled)");
    for (const fs::path &f : direct)
        files.push_back(f.string());
    for (size_t k = 0; k < classes.size(); ++k) {
        data.classes.push_back(classes[k].filename().string());
        for (const fs::path &f : sortedEntries(classes[k], isImageFile)) {
            files.push_back(f.string());
            data.labels.push_back(int64_t(k));
        }
    }
    if (files.empty())
        fail(dir, "is a folder without .png / .jpg / .jpeg images (directly inside, or in one sub-folder per "
                  "class) and without t10k-images-idx3-ubyte[.gz]");
    if (limit > 0 && int64_t(files.size()) > limit) {
        files.resize(size_t(limit));
        if (!data.labels.empty())
            data.labels.resize(size_t(limit));
    }
    data.source = std::make_shared<ImageFolderSource>(std::move(files), pre, mean, std::move(invStd));
    return data;
}

} // namespace cw
