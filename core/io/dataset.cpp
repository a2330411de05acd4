// Dataset readers (IDX, NumPy, HDF5) and the preprocessing that turns stored samples into float32 NCHW; image
// folders are handed to core/io/images.
//
// Where the labels come from:
//   IDX    (a directory means its t10k-images-idx3-ubyte[.gz]) the labels file beside the images file: "…images-idx3…" -> "…labels-idx1…", else "-images" ->
//          "-labels" (else "images" -> "labels"). No such file: the dataset has no labels.
//   .npz   arrays "x" and "y" (also accepted: "images"/"features"/"data" and "labels"/"targets");
//          otherwise the first array holds the features and the second the labels; a single array: no labels.
//   .npy   the features; labels from the first sibling that exists of "<stem>_labels.npy",
//          "y<rest>.npy" when the stem is "x<rest>" (x_test.npy -> y_test.npy), and "y.npy".
//   HDF5   root datasets "x" and "y" ("y" optional).
// Labels stored as one-hot / probability rows [N, K] are reduced with argmax; float labels must be integral.
// Labels must be non-negative; whether they are below the model's class count is checked by evaluate().
#include "core/io/dataset.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include <hdf5.h>
#include <zlib.h>

#include "core/base/error.h"
#include "core/base/hdf5lock.h"
#include "core/base/rehearse.h"
#include "core/io/images.h"
#include "core/io/npy.h"

namespace cw {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string &path, const std::string &what)
{
    throw Error("'" + path + "': " + what);
}

bool endsWith(const std::string &s, const std::string &suffix)
{
    return s.size() >= suffix.size() &&
           std::equal(suffix.rbegin(), suffix.rend(), s.rbegin(),
                      [](char a, char b) { return std::tolower((unsigned char)a) == std::tolower((unsigned char)b); });
}

// ---------------------------------------------------------------------------------------------- IDX

struct GzCloser {
    void operator()(gzFile f) const { gzclose(f); }
};
using GzPtr = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

// gzread also reads uncompressed files transparently, so raw and .gz IDX files share one path.
class IdxReader {
public:
    explicit IdxReader(std::string path) : m_path(std::move(path))
    {
        std::error_code ec;
        if (fs::is_directory(m_path, ec))
            fail(m_path, "is a directory, not a file");
        m_fileSize = fs::file_size(m_path, ec);
        if (ec)
            m_fileSize = UINT64_MAX; // not a regular file: only the memory budget bounds it
        m_file.reset(gzopen(m_path.c_str(), "rb"));
        if (!m_file)
            fail(m_path, std::string("cannot open: ") + std::strerror(errno ? errno : ENOENT));
        gzbuffer(m_file.get(), 1 << 17);
        uint8_t magic[4];
        read(magic, 4, "header");
        if (magic[0] != 0 || magic[1] != 0)
            fail(m_path, "not an IDX file (bad magic)");
        m_type = magic[2];
        switch (m_type) {
        case 0x08: m_elem = 1; break; // unsigned byte
        case 0x09: m_elem = 1; break; // signed byte
        case 0x0B: m_elem = 2; break; // int16
        case 0x0C: m_elem = 4; break; // int32
        case 0x0D: m_elem = 4; break; // float32
        case 0x0E: m_elem = 8; break; // float64
        default: fail(m_path, "not an IDX file (unknown type code " + std::to_string(m_type) + ")");
        }
        const int rank = magic[3];
        if (rank < 1)
            fail(m_path, "IDX file with no dimensions");
        for (int i = 0; i < rank; ++i) {
            uint8_t d[4];
            read(d, 4, "header");
            const uint32_t v = uint32_t(d[0]) << 24 | uint32_t(d[1]) << 16 | uint32_t(d[2]) << 8 | d[3];
            if (v > 0x7FFFFFFF)
                fail(m_path, "IDX dimension too large");
            m_shape.push_back(int64_t(v));
        }
    }

    const Shape &shape() const { return m_shape; }
    int typeCode() const { return m_type; }

    // The shape of the first `count` samples, after checking that the file can hold their data (uncompressed:
    // the bytes after the header; gzip: at most 1032 times its size, deflate's largest ratio) and that
    // `outElem`-byte elements fit the memory budget.
    Shape checkedShape(int64_t count, size_t outElem, const char *what) const
    {
        Shape shape = m_shape;
        shape[0] = count;
        int64_t bytes = 0, outBytes = 0;
        try {
            bytes = checkedMul(shapeNumel(shape), m_elem);
            outBytes = checkedMul(shapeNumel(shape), int64_t(outElem));
        } catch (const Error &) {
            fail(m_path, "impossible IDX shape " + shapeToString(m_shape) + " (the file is corrupt)");
        }
        // Empty samples (a dimension 0 after the first) hold nothing to learn or evaluate, and would still cost
        // one step each for a count of up to 2^32.
        if (count > 0 && bytes == 0)
            fail(m_path, "IDX samples of shape " + shapeToString(Shape(m_shape.begin() + 1, m_shape.end())) +
                             " have no elements (the file is corrupt)");
        const uint64_t header = 4 + 4 * m_shape.size();
        const uint64_t available = m_fileSize == UINT64_MAX ? UINT64_MAX
                                   : gzdirect(m_file.get())   ? (m_fileSize > header ? m_fileSize - header : 0)
                                   : m_fileSize >= UINT64_MAX / 1032 ? UINT64_MAX
                                                                      : m_fileSize * 1032;
        if (uint64_t(bytes) > available)
            fail(m_path, std::string("truncated file: the ") + what + " of shape " + shapeToString(shape) + " needs " +
                             std::to_string(bytes) + " bytes, the file holds " +
                             (gzdirect(m_file.get()) ? "only " : "at most ") + std::to_string(available));
        checkMemoryBudget(uint64_t(outBytes), "'" + m_path + "': the " + what + " " + shapeToString(shape));
        return shape;
    }

    // The first `count` samples (rows of dim 0) in the file's own dtype (int16 widens to int32, float64
    // narrows to float32).
    Tensor readSamples(int64_t count, const char *what)
    {
        DType type = DType::UInt8;
        switch (m_type) {
        case 0x08: type = DType::UInt8; break;
        case 0x09: type = DType::Int8; break;
        case 0x0B: case 0x0C: type = DType::Int32; break;
        case 0x0D: case 0x0E: type = DType::Float32; break;
        }
        const Shape shape = checkedShape(count, std::max(dtypeSize(type), size_t(m_elem)), what);
        const int64_t n = shapeNumel(shape);
        Tensor out(type, shape);
        if (m_elem == 1) {
            read(out.rawData(), size_t(n), what);
            return out;
        }
        std::vector<uint8_t> raw(size_t(n) * size_t(m_elem));
        read(raw.data(), raw.size(), what);
        const uint8_t *p = raw.data();
        for (int64_t i = 0; i < n; ++i, p += m_elem) {
            switch (m_type) {
            case 0x0B: out.data<int32_t>()[i] = int16_t(uint16_t(p[0] << 8 | p[1])); break;
            case 0x0C: out.data<int32_t>()[i] = int32_t(uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]); break;
            case 0x0D: {
                const uint32_t bits = uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
                std::memcpy(&out.f32()[i], &bits, 4);
                break;
            }
            case 0x0E: {
                uint64_t bits = 0;
                for (int b = 0; b < 8; ++b)
                    bits = bits << 8 | p[b];
                double d;
                std::memcpy(&d, &bits, 8);
                out.f32()[i] = float(d);
                break;
            }
            }
        }
        return out;
    }

    // Unsigned-byte samples converted to float32 times `scale` while decompressing, in chunks that stay in
    // cache: the 60k training images load without a 47 MB uint8 intermediate.
    Tensor readBytesScaled(int64_t count, float scale, const char *what)
    {
        Tensor out(DType::Float32, checkedShape(count, sizeof(float), what));
        const int64_t n = out.numel();
        float *dst = out.f32();
        std::vector<uint8_t> chunk(size_t(1) << 18);
        for (int64_t done = 0; done < n;) {
            const size_t len = size_t(std::min<int64_t>(n - done, int64_t(chunk.size())));
            read(chunk.data(), len, what, done, n);
            for (size_t i = 0; i < len; ++i)
                dst[done + int64_t(i)] = float(chunk[i]) * scale;
            done += int64_t(len);
        }
        return out;
    }

private:
    // `before`: bytes of the same section already read, so a truncation reports the section's totals.
    void read(void *dst, size_t bytes, const char *what, int64_t before = 0, int64_t sectionBytes = 0)
    {
        auto *p = static_cast<uint8_t *>(dst);
        size_t done = 0;
        while (done < bytes) {
            const unsigned chunk = unsigned(std::min<size_t>(bytes - done, size_t(1) << 30));
            const int got = gzread(m_file.get(), p + done, chunk);
            if (got < 0) {
                int code = 0;
                const char *msg = gzerror(m_file.get(), &code);
                fail(m_path, std::string("corrupt or truncated file while reading the ") + what + ": " + (msg ? msg : "zlib error"));
            }
            if (got == 0)
                break;
            done += size_t(got);
        }
        if (done < bytes) {
            int code = 0;
            const char *msg = gzerror(m_file.get(), &code);
            std::string detail = code != Z_OK && msg && *msg ? std::string(" (") + msg + ")" : std::string();
            const int64_t need = sectionBytes > 0 ? sectionBytes : int64_t(bytes);
            fail(m_path, std::string("truncated file: the ") + what + " needs " + std::to_string(need) +
                             " bytes, only " + std::to_string(before + int64_t(done)) + " present" + detail);
        }
    }

    std::string m_path;
    uint64_t m_fileSize = 0;
    GzPtr m_file;
    int m_type = 0;
    int m_elem = 1;
    Shape m_shape;
};

std::string idxLabelsPath(const std::string &images)
{
    const fs::path p(images);
    std::string name = p.filename().string();
    for (const auto &[from, to] : {std::pair<std::string, std::string>{"images-idx3", "labels-idx1"},
                                   {"-images", "-labels"}, {"_images", "_labels"}, {"images", "labels"}}) {
        const size_t at = name.rfind(from);
        if (at != std::string::npos) {
            name.replace(at, from.size(), to);
            return (p.parent_path() / name).string();
        }
    }
    return {};
}

// ---------------------------------------------------------------------------------------------- HDF5

struct H5Id {
    hid_t id = H5I_INVALID_HID;
    herr_t (*close)(hid_t) = nullptr;
    H5Id(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
    ~H5Id()
    {
        if (id >= 0 && close)
            close(id);
    }
    H5Id(const H5Id &) = delete;
    H5Id &operator=(const H5Id &) = delete;
};

// HDF5 prints its error stack to stderr by default; we report errors ourselves.
class H5Quiet {
public:
    H5Quiet()
    {
        H5Eget_auto2(H5E_DEFAULT, &m_func, &m_data);
        H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    }
    ~H5Quiet() { H5Eset_auto2(H5E_DEFAULT, m_func, m_data); }

private:
    H5E_auto2_t m_func = nullptr;
    void *m_data = nullptr;
};

Tensor readH5Dataset(hid_t file, const std::string &name, const std::string &path)
{
    H5Id ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
    if (ds.id < 0)
        fail(path, "cannot open HDF5 dataset '" + name + "'");
    H5Id space(H5Dget_space(ds.id), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.id);
    if (rank < 0)
        fail(path, "cannot read the shape of HDF5 dataset '" + name + "'");
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    H5Sget_simple_extent_dims(space.id, dims.data(), nullptr);
    Shape shape(dims.begin(), dims.end());
    H5Id type(H5Dget_type(ds.id), H5Tclose);
    const H5T_class_t cls = H5Tget_class(type.id);
    DType dtype;
    hid_t memType;
    if (cls == H5T_FLOAT) {
        dtype = DType::Float32;
        memType = H5T_NATIVE_FLOAT;
    } else if (cls == H5T_INTEGER || cls == H5T_ENUM) { // h5py stores bool as an enum over int8
        const size_t size = H5Tget_size(type.id);
        const bool isSigned = cls == H5T_INTEGER && H5Tget_sign(type.id) == H5T_SGN_2;
        if (size == 1) {
            dtype = isSigned ? DType::Int8 : DType::UInt8;
            memType = isSigned ? H5T_NATIVE_INT8 : H5T_NATIVE_UINT8;
        } else {
            dtype = DType::Int64;
            memType = H5T_NATIVE_INT64;
        }
        if (cls == H5T_ENUM) {
            dtype = DType::Int64;
            memType = H5T_NATIVE_INT64;
        }
    } else {
        fail(path, "HDF5 dataset '" + name + "' has an unsupported element type (numbers only)");
    }
    // A corrupt file may declare any shape: the stored bytes (times deflate's largest ratio 1032 when the dataset
    // is filtered) must be able to hold it, and it must fit the memory budget, before anything is allocated.
    int64_t bytes = 0, outBytes = 0;
    try {
        bytes = checkedMul(shapeNumel(shape), int64_t(H5Tget_size(type.id)));
        outBytes = int64_t(shapeByteSize(shape, dtype));
    } catch (const Error &) {
        fail(path, "HDF5 dataset '" + name + "' has an impossible shape " + shapeToString(shape) + " (the file is corrupt)");
    }
    H5Id plist(H5Dget_create_plist(ds.id), H5Pclose);
    const bool filtered = plist.id >= 0 && H5Pget_nfilters(plist.id) > 0;
    const uint64_t stored = H5Dget_storage_size(ds.id);
    if (bytes > 0 && uint64_t(bytes) / (filtered ? 1032 : 1) > stored)
        fail(path, "HDF5 dataset '" + name + "' of shape " + shapeToString(shape) + " needs " + std::to_string(bytes) +
                       " bytes but the file stores only " + std::to_string(stored) + " (the file is truncated or corrupt)");
    // HDF5 converts through a buffer of the file's element type, which may be wider than ours.
    checkMemoryBudget(uint64_t(std::max(outBytes, bytes)),
                      "'" + path + "': HDF5 dataset '" + name + "' " + shapeToString(shape));
    Tensor out(dtype, shape);
    if (out.numel() > 0 && H5Dread(ds.id, memType, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.rawData()) < 0)
        fail(path, "cannot read HDF5 dataset '" + name + "' (corrupt or truncated file?)");
    return out;
}

struct Raw {
    Tensor x;
    Tensor y; // null when there are no labels
    std::string labelsSource;
};

} // namespace

std::pair<Tensor, Tensor> readH5Arrays(const std::string &path)
{
    // libhdf5 1.10 can crash on a corrupt file: a helper process reads it first (core/base/rehearse.h).
    rehearseRead(RehearsalKind::Dataset, path, "'" + path + "': the HDF5 library crashed reading this file");
    std::lock_guard lock(hdf5Mutex());
    H5Quiet quiet;
    if (H5Fis_hdf5(path.c_str()) <= 0) {
        if (!fs::exists(path))
            fail(path, "cannot open: no such file");
        fail(path, "not an HDF5 file (or it is truncated)");
    }
    H5Id file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (file.id < 0)
        fail(path, "cannot open HDF5 file");
    if (H5Lexists(file.id, "x", H5P_DEFAULT) <= 0)
        fail(path, "HDF5 file has no dataset 'x' (expected datasets 'x' with the features and 'y' with the labels)");
    Tensor x = readH5Dataset(file.id, "x", path);
    Tensor y;
    if (H5Lexists(file.id, "y", H5P_DEFAULT) > 0)
        y = readH5Dataset(file.id, "y", path);
    return {std::move(x), std::move(y)};
}

namespace {

Raw loadH5(const std::string &path)
{
    Raw raw;
    std::tie(raw.x, raw.y) = readH5Arrays(path);
    if (!raw.y.isNull())
        raw.labelsSource = path + ":y";
    return raw;
}

// ---------------------------------------------------------------------------------------------- NumPy

Raw loadNpz(const std::string &path)
{
    auto arrays = readNpz(path);
    if (arrays.empty())
        fail(path, "the archive holds no arrays");
    auto find = [&](std::initializer_list<const char *> names) -> const Tensor * {
        for (const char *n : names)
            for (const auto &[k, t] : arrays)
                if (k == n)
                    return &t;
        return nullptr;
    };
    Raw raw;
    const Tensor *x = find({"x", "images", "features", "data"});
    const Tensor *y = find({"y", "labels", "targets"});
    if (x) {
        raw.x = *x;
        if (y) {
            raw.y = *y;
            raw.labelsSource = path + ":y";
        }
    } else {
        raw.x = arrays[0].second;
        if (arrays.size() > 1) {
            raw.y = arrays[1].second;
            raw.labelsSource = path + ":" + arrays[1].first;
        }
    }
    return raw;
}

// The labels beside a .npy of features: NAME_labels.npy, y*.npy for x*.npy, or y.npy; "" when there are none.
std::string npyLabelsPath(const std::string &path)
{
    const fs::path p(path);
    const std::string stem = p.stem().string();
    std::vector<fs::path> candidates{p.parent_path() / (stem + "_labels.npy")};
    if (!stem.empty() && (stem[0] == 'x' || stem[0] == 'X'))
        candidates.push_back(p.parent_path() / ("y" + stem.substr(1) + ".npy"));
    if (stem != "y")
        candidates.push_back(p.parent_path() / "y.npy");
    for (const fs::path &c : candidates) {
        std::error_code ec;
        if (fs::is_regular_file(c, ec) && !fs::equivalent(c, p, ec))
            return c.string();
    }
    return {};
}

// The first `limit` samples (0: all) and their labels, without reading the rest of the files.
Raw loadNpy(const std::string &path, int64_t limit)
{
    Raw raw;
    int64_t samples = 0, labelled = 0;
    raw.x = readNpyRows(path, limit, &samples);
    if (const std::string labels = npyLabelsPath(path); !labels.empty()) {
        raw.y = readNpyRows(labels, limit, &labelled);
        raw.labelsSource = labels;
        if (labelled != samples) { // read whole, so that the label count check below names both counts
            raw.x = readNpy(path);
            raw.y = readNpy(labels);
        }
    }
    return raw;
}

// ---------------------------------------------------------------------------------------------- common

std::vector<int64_t> labelsFrom(const Tensor &y, const std::string &source)
{
    std::vector<int64_t> labels;
    if (y.isNull())
        return labels;
    if (y.rank() == 0)
        fail(source, "labels must be an array with one entry per sample, got a scalar");
    int64_t rows = y.dim(0);
    int64_t cols = y.numel() / std::max<int64_t>(rows, 1);
    if (y.rank() > 2)
        fail(source, "labels must have shape [N] (or one-hot [N, K]), got " + shapeToString(y.shape()));
    if (rows > 0 && cols == 0)
        fail(source, "labels of shape " + shapeToString(y.shape()) + " hold no class for each sample (expected [N] or "
                     "one-hot [N, K] with K >= 1)");
    labels.resize(size_t(rows));
    const std::vector<float> f = y.dtype() == DType::Float32 ? y.toFloatVector() : std::vector<float>{};
    const std::vector<int64_t> v = y.dtype() == DType::Float32 ? std::vector<int64_t>{} : y.toInt64Vector();
    for (int64_t i = 0; i < rows; ++i) {
        if (y.rank() == 2 && cols > 1) {
            // One-hot / probability rows: the class is the argmax.
            int64_t best = 0;
            for (int64_t j = 1; j < cols; ++j) {
                const double a = f.empty() ? double(v[size_t(i * cols + j)]) : f[size_t(i * cols + j)];
                const double b = f.empty() ? double(v[size_t(i * cols + best)]) : f[size_t(i * cols + best)];
                if (a > b)
                    best = j;
            }
            labels[size_t(i)] = best;
            continue;
        }
        if (!f.empty()) {
            const float lf = f[size_t(i * cols)];
            if (!std::isfinite(lf) || lf != std::floor(lf))
                fail(source, "label " + std::to_string(lf) + " at index " + std::to_string(i) + " is not an integer class index");
            labels[size_t(i)] = int64_t(lf);
        } else {
            labels[size_t(i)] = v[size_t(i * cols)];
        }
        if (labels[size_t(i)] < 0)
            fail(source, "label " + std::to_string(labels[size_t(i)]) + " at index " + std::to_string(i) +
                             " is out of range (class indices start at 0)");
    }
    return labels;
}

bool isChannelCount(int64_t d) { return d == 1 || d == 3; }

// Converts stored samples to float32 NCHW: integer data scaled, NHWC transposed, mean/std applied per channel.
// Float input is modified in place (the caller hands over a tensor nobody else holds).
Tensor preprocess(const Tensor &x, const Preprocess &pre, const std::string &path)
{
    if (x.rank() < 1)
        fail(path, "features must have a sample dimension, got a scalar");
    Shape shape = x.shape();
    bool nhwc = false;
    if (shape.size() == 4) {
        if (pre.layout == Preprocess::Layout::NHWC)
            nhwc = true;
        else if (pre.layout == Preprocess::Layout::Auto)
            nhwc = isChannelCount(shape[3]) && !isChannelCount(shape[1]);
    } else if (shape.size() == 3) {
        shape = {shape[0], 1, shape[1], shape[2]};
    } else if (pre.layout == Preprocess::Layout::NHWC && shape.size() != 2 && shape.size() != 1) {
        fail(path, "NHWC layout needs rank-4 data, got " + shapeToString(shape));
    }

    if (isHalfType(x.dtype()))
        return preprocess(x.castTo(DType::Float32), pre, path);
    const int64_t n = x.numel();
    Tensor flat = x.dtype() == DType::Float32 ? x : Tensor(DType::Float32, x.shape());
    float *dst = flat.f32();
    const float s = pre.scale;
    switch (x.dtype()) {
    case DType::Float32:
    case DType::Float16:
    case DType::BFloat16: break; // 16-bit floats were widened above
    case DType::UInt8: {
        const uint8_t *src = x.data<uint8_t>();
        for (int64_t i = 0; i < n; ++i)
            dst[i] = float(src[i]) * s;
        break;
    }
    case DType::Int8: {
        const int8_t *src = x.data<int8_t>();
        for (int64_t i = 0; i < n; ++i)
            dst[i] = float(src[i]) * s;
        break;
    }
    case DType::Int32: {
        const int32_t *src = x.data<int32_t>();
        for (int64_t i = 0; i < n; ++i)
            dst[i] = float(src[i]) * s;
        break;
    }
    case DType::Int64: {
        const int64_t *src = x.data<int64_t>();
        for (int64_t i = 0; i < n; ++i)
            dst[i] = float(src[i]) * s;
        break;
    }
    }

    Tensor out;
    if (nhwc) {
        const int64_t N = shape[0], H = shape[1], W = shape[2], C = shape[3];
        out = Tensor(DType::Float32, {N, C, H, W});
        float *o = out.f32();
        for (int64_t b = 0; b < N; ++b) {
            const float *in = dst + b * H * W * C;
            float *ob = o + b * C * H * W;
            for (int64_t hw = 0; hw < H * W; ++hw)
                for (int64_t c = 0; c < C; ++c)
                    ob[c * H * W + hw] = in[hw * C + c];
        }
    } else {
        out = flat.reshaped(shape);
    }

    if (pre.mean.empty() && pre.std.empty())
        return out;
    const int64_t N = out.dim(0);
    const int64_t C = out.rank() >= 2 ? out.dim(1) : 1;
    const int64_t inner = N && C ? out.numel() / (N * C) : 0;
    const std::vector<float> mean = channelValues(pre.mean, C, 0.f, false, path);
    const std::vector<float> stdv = channelValues(pre.std, C, 1.f, true, path);
    float *o = out.f32();
    for (int64_t b = 0; b < N; ++b)
        for (int64_t c = 0; c < C; ++c) {
            const float m = mean[size_t(c)], inv = 1.f / stdv[size_t(c)];
            float *p = o + (b * C + c) * inner;
            for (int64_t i = 0; i < inner; ++i)
                p[i] = (p[i] - m) * inv;
        }
    return out;
}

Tensor firstRows(const Tensor &t, int64_t count)
{
    if (t.isNull() || t.rank() == 0 || count >= t.dim(0))
        return t;
    Dataset d;
    d.x = t;
    return d.batch(0, count);
}

} // namespace

std::string fashionMnistDir()
{
    const char *env = std::getenv("CW_FASHION_MNIST_DIR");
    if (env && *env)
        return env;
    return "/usr/share/datasets/fashion-mnist";
}

std::vector<float> channelValues(const std::vector<float> &values, int64_t channels, float fallback, bool isStd,
                                 const std::string &path)
{
    const char *what = isStd ? "std" : "mean";
    if (values.size() > 1 && int64_t(values.size()) != channels)
        fail(path, std::string("preprocessing ") + what + " has " + std::to_string(values.size()) +
                       " values but the data has " + std::to_string(channels) + " channel(s)");
    for (float v : values)
        if (isStd && (!(v != 0.f) || !std::isfinite(v)))
            fail(path, "preprocessing std must be finite and non-zero");
    if (values.size() > 1)
        return values;
    return std::vector<float>(size_t(channels), values.empty() ? fallback : values[0]);
}

Shape Dataset::sampleShape() const
{
    if (source)
        return source->sampleShape();
    return x.isNull() ? Shape{} : Shape(x.shape().begin() + 1, x.shape().end());
}

Tensor Dataset::batch(int64_t begin, int64_t count) const
{
    const int64_t n = size();
    if (begin < 0 || count < 0 || begin + count > n)
        throw Error("dataset '" + name + "': rows [" + std::to_string(begin) + ", " + std::to_string(begin + count) +
                    ") out of range (" + std::to_string(n) + " samples)");
    if (source) {
        std::vector<int64_t> indices(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i)
            indices[size_t(i)] = begin + i;
        return gather(indices);
    }
    Shape shape = x.shape();
    shape[0] = count;
    Tensor out(x.dtype(), shape);
    const size_t rowBytes = n ? x.byteSize() / size_t(n) : 0;
    if (count)
        std::memcpy(out.rawData(), static_cast<const uint8_t *>(x.rawData()) + size_t(begin) * rowBytes, size_t(count) * rowBytes);
    return out;
}

namespace {

// Rows [begin, begin + count) of another source.
class RowRange final : public SampleSource {
public:
    RowRange(std::shared_ptr<const SampleSource> source, int64_t begin, int64_t count)
        : m_source(std::move(source)), m_begin(begin), m_count(count)
    {
    }
    int64_t size() const override { return m_count; }
    Shape sampleShape() const override { return m_source->sampleShape(); }
    void read(const int64_t *indices, int64_t count, float *out) const override
    {
        std::vector<int64_t> shifted(indices, indices + count);
        for (int64_t &i : shifted)
            i += m_begin;
        m_source->read(shifted.data(), count, out);
    }

private:
    std::shared_ptr<const SampleSource> m_source;
    int64_t m_begin, m_count;
};

} // namespace

Dataset Dataset::rows(int64_t begin, int64_t count) const
{
    if (begin < 0 || count < 0 || begin + count > size())
        throw Error("dataset '" + name + "': rows [" + std::to_string(begin) + ", " + std::to_string(begin + count) +
                    ") out of range (" + std::to_string(size()) + " samples)");
    Dataset d;
    d.name = name;
    d.classes = classes;
    d.channelsLast = channelsLast;
    if (!labels.empty())
        d.labels.assign(labels.begin() + begin, labels.begin() + begin + count);
    if (source)
        d.source = std::make_shared<RowRange>(source, begin, count);
    else
        d.x = batch(begin, count);
    return d;
}

Tensor Dataset::gather(const std::vector<int64_t> &indices) const
{
    const int64_t n = size();
    for (int64_t i : indices)
        if (i < 0 || i >= n)
            throw Error("dataset '" + name + "': row " + std::to_string(i) + " out of range (" + std::to_string(n) +
                        " samples)");
    Shape shape = sampleShape();
    shape.insert(shape.begin(), int64_t(indices.size()));
    if (source) {
        Tensor out = Tensor::uninitialized(DType::Float32, shape);
        source->read(indices.data(), int64_t(indices.size()), out.f32());
        return out;
    }
    Tensor out = Tensor::uninitialized(x.dtype(), shape);
    const size_t rowBytes = n ? x.byteSize() / size_t(n) : 0;
    const auto *src = static_cast<const uint8_t *>(x.rawData());
    auto *dst = static_cast<uint8_t *>(out.rawData());
    for (size_t i = 0; i < indices.size(); ++i)
        std::memcpy(dst + i * rowBytes, src + size_t(indices[i]) * rowBytes, rowBytes);
    return out;
}

void setNormalization(Preprocess &pre, Normalization preset)
{
    pre.scale = 1.f / 255.f;
    switch (preset) {
    case Normalization::Unit:
        pre.mean.clear();
        pre.std.clear();
        break;
    case Normalization::Symmetric:
        pre.mean = {0.5f};
        pre.std = {0.5f};
        break;
    case Normalization::ImageNet:
        pre.mean = {0.485f, 0.456f, 0.406f};
        pre.std = {0.229f, 0.224f, 0.225f};
        break;
    }
}

Normalization parseNormalization(const std::string &name)
{
    if (name == "unit")
        return Normalization::Unit;
    if (name == "symmetric")
        return Normalization::Symmetric;
    if (name == "imagenet")
        return Normalization::ImageNet;
    throw Error("unknown normalisation '" + name + "' (use unit, symmetric or imagenet)");
}

void fitImageInput(Preprocess &pre, const Shape &modelInput)
{
    auto fill = [](int64_t &field, int64_t dim) {
        if (field == 0 && dim > 0)
            field = dim;
    };
    if (modelInput.size() == 3) {
        fill(pre.imageChannels, 1);
        fill(pre.imageHeight, modelInput[1]);
        fill(pre.imageWidth, modelInput[2]);
    } else if (modelInput.size() == 4) {
        // Auto: channels last when the input's last axis is a channel count and its second is not, as for arrays
        // (a Keras image model [N, 224, 224, 3]); the rows stay [C, H, W] and conformBatch turns them.
        const bool nhwc = pre.layout == Preprocess::Layout::NHWC ||
                          (pre.layout == Preprocess::Layout::Auto && isChannelCount(modelInput[3]) &&
                           !isChannelCount(modelInput[1]));
        fill(pre.imageChannels, modelInput[nhwc ? 3 : 1]);
        fill(pre.imageHeight, modelInput[nhwc ? 1 : 2]);
        fill(pre.imageWidth, modelInput[nhwc ? 2 : 3]);
    }
}

namespace {

// The file a spec names (Fashion-MNIST's images file for "fashion-mnist", the test split's images for an IDX
// folder) or the image folder itself; `name` gets the dataset's name.
std::string datasetPath(const std::string &spec, std::string *name)
{
    std::string path = spec;
    *name = fs::path(spec).filename().string();
    if (spec == "fashion-mnist" || spec == "fashion-mnist:test" || spec == "fashion-mnist:train") {
        const bool train = spec == "fashion-mnist:train";
        path = (fs::path(fashionMnistDir()) / (train ? "train-images-idx3-ubyte.gz" : "t10k-images-idx3-ubyte.gz")).string();
        *name = train ? "fashion-mnist:train" : "fashion-mnist";
        if (!fs::exists(path))
            throw Error("Fashion-MNIST not found: '" + path + "' does not exist (install Debian's dataset-fashion-mnist "
                        "or set CW_FASHION_MNIST_DIR)");
    } else if (spec.rfind("fashion-mnist:", 0) == 0) {
        throw Error("unknown Fashion-MNIST split '" + spec + "' (use fashion-mnist, fashion-mnist:test or fashion-mnist:train)");
    }
    std::error_code ec;
    if (!fs::exists(path, ec))
        fail(path, "cannot open dataset: no such file");
    if (fs::is_directory(path, ec)) {
        // A directory in the MNIST layout stands for its test split, like "fashion-mnist" does; any other
        // directory is a folder of images.
        for (const char *f : {"t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"})
            if (fs::is_regular_file(fs::path(path) / f, ec))
                return (fs::path(path) / f).string();
    }
    return path;
}

Dataset loadDatasetFrom(const std::string &spec, const Preprocess &pre, int64_t limit)
{
    std::string name;
    const std::string path = datasetPath(spec, &name);
    std::error_code ec;
    if (fs::is_directory(path, ec))
        return openImageFolder(path, pre, limit);

    Raw raw;
    if (endsWith(path, ".npz")) {
        raw = loadNpz(path);
    } else if (endsWith(path, ".npy")) {
        raw = loadNpy(path, limit);
    } else if (endsWith(path, ".h5") || endsWith(path, ".hdf5")) {
        raw = loadH5(path);
    } else {
        IdxReader images(path);
        int64_t count = images.shape()[0];
        const std::string labelsPath = idxLabelsPath(path);
        if (!labelsPath.empty() && fs::is_regular_file(labelsPath, ec) && labelsPath != path) {
            IdxReader labels(labelsPath);
            if (labels.shape().size() != 1)
                fail(labelsPath, "labels file must be one-dimensional, got " + shapeToString(labels.shape()));
            if (labels.shape()[0] != count)
                fail(labelsPath, "label count mismatch: " + std::to_string(labels.shape()[0]) + " labels for " +
                                     std::to_string(count) + " images in '" + path + "'");
            if (limit > 0)
                count = std::min(count, limit);
            raw.y = labels.readSamples(count, "labels");
            raw.labelsSource = labelsPath;
        } else if (limit > 0) {
            count = std::min(count, limit);
        }
        raw.x = images.typeCode() == 0x08 ? images.readBytesScaled(count, pre.scale, "image data")
                                          : images.readSamples(count, "image data");
    }
    if (raw.x.rank() < 1)
        fail(path, "features must have a sample dimension, got a scalar");
    if (!raw.y.isNull()) {
        if (raw.y.rank() < 1 || raw.y.dim(0) != raw.x.dim(0))
            fail(raw.labelsSource, "label count mismatch: " + std::to_string(raw.y.rank() ? raw.y.dim(0) : 1) +
                                       " labels for " + std::to_string(raw.x.dim(0)) + " samples in '" + path + "'");
    }
    if (limit > 0) {
        raw.x = firstRows(raw.x, limit);
        raw.y = firstRows(raw.y, limit);
    }

    Dataset data;
    data.name = name;
    data.labels = labelsFrom(raw.y, raw.labelsSource);
    data.x = preprocess(raw.x, pre, path);
    return data;
}

} // namespace

std::vector<std::string> datasetFiles(const std::string &spec)
{
    std::string name;
    const std::string path = datasetPath(spec, &name);
    std::vector<std::string> files;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
        for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
             !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
            if (it->is_regular_file(ec))
                files.push_back(it->path().string());
        std::sort(files.begin(), files.end());
        return files;
    }
    files.push_back(path);
    const std::string labels = endsWith(path, ".npy") ? npyLabelsPath(path)
                               : endsWith(path, ".npz") || endsWith(path, ".h5") || endsWith(path, ".hdf5")
                                   ? std::string()
                                   : idxLabelsPath(path);
    if (!labels.empty() && labels != path && fs::is_regular_file(labels, ec))
        files.push_back(labels);
    return files;
}

Dataset loadDataset(const std::string &spec, const Preprocess &pre, int64_t limit)
{
    try {
        return loadDatasetFrom(spec, pre, limit);
    } catch (const Cancelled &) {
        throw;
    } catch (const Error &e) {
        // The readers' messages start with the file's name; the rest (an allocation over the memory budget while
        // converting, ...) get the dataset's.
        if (e.what()[0] == '\'' || spec.rfind("fashion-mnist", 0) == 0)
            throw;
        fail(spec, e.what());
    }
}

namespace {

// The sample shape (all but the leading axis) of `declared` and of `have` agree, a symbolic declared size taking any.
bool samplesMatch(const Shape &declared, const Shape &have)
{
    if (declared.size() != have.size())
        return false;
    for (size_t d = 1; d < have.size(); ++d)
        if (declared[d] >= 0 && declared[d] != have[d])
            return false;
    return true;
}

// Rows [B, C, H, W] as [B, H, W, C].
Tensor channelsLast(const Tensor &batch)
{
    const Tensor x = batch.dtype() == DType::Float32 ? batch : batch.castTo(DType::Float32);
    const int64_t B = x.dim(0), C = x.dim(1), HW = x.dim(2) * x.dim(3);
    Tensor y(DType::Float32, {B, x.dim(2), x.dim(3), C});
    for (int64_t b = 0; b < B; ++b) {
        const float *in = x.f32() + b * C * HW;
        float *out = y.f32() + b * C * HW;
        for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < HW; ++i)
                out[i * C + c] = in[c * HW + i];
    }
    return y;
}

} // namespace

Tensor conformBatch(const ValueInfo &input, const Tensor &batch)
{
    if (!input.shapeKnown || input.shape.empty() || batch.rank() < 1)
        return batch;
    const Shape &declared = input.shape;
    const Shape &have = batch.shape();
    if (samplesMatch(declared, have))
        return batch;
    // The non-unit sizes of both sample shapes pair up, a symbolic declared size taking the data's.
    std::vector<int64_t> sizes;
    for (size_t d = 1; d < have.size(); ++d)
        if (have[d] != 1)
            sizes.push_back(have[d]);
    Shape target{have[0]};
    size_t next = 0;
    bool paired = true;
    for (size_t d = 1; paired && d < declared.size(); ++d) {
        if (declared[d] == 1)
            target.push_back(1);
        else if (next == sizes.size() || (declared[d] >= 0 && declared[d] != sizes[next]))
            paired = false;
        else
            target.push_back(sizes[next++]);
    }
    if (paired && next == sizes.size())
        return batch.reshaped(target);
    // Channels last.
    if (have.size() == 4 && declared.size() == 4 && samplesMatch(declared, {have[0], have[2], have[3], have[1]}))
        return channelsLast(batch);
    // One side flat, the other's element count.
    const Shape sample(have.begin() + 1, have.end()), wanted(declared.begin() + 1, declared.end());
    const bool known = std::all_of(wanted.begin(), wanted.end(), [](int64_t d) { return d >= 0; });
    if (known && (sample.size() == 1 || wanted.size() == 1) && shapeNumel(sample) == shapeNumel(wanted)) {
        Shape flat{have[0]};
        flat.insert(flat.end(), wanted.begin(), wanted.end());
        return batch.reshaped(flat);
    }
    return batch;
}

Tensor fittedRows(const ValueInfo &input, const Tensor &batch)
{
    Tensor rows = conformBatch(input, batch);
    if (!input.shapeKnown || samplesMatch(input.shape, rows.shape()))
        return rows;
    const auto sample = [](const Shape &s) { return shapeToString(s.empty() ? s : Shape(s.begin() + 1, s.end())); };
    throw Error("the data's samples are " + sample(batch.shape()) + ", and graph input '" + input.name + "' " +
                shapeToString(input.shape) + " takes " + sample(input.shape) +
                " per sample: choose data whose samples have that shape");
}

} // namespace cw
