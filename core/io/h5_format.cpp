// The native model format: one HDF5 file (.h5) with the graph as JSON, the weights as native datasets and the
// metadata as string attributes. The layout is documented in docs/formats.md; readers ignore groups they do
// not know, so later versions can add /compression, /results and /variants without breaking old readers.
//
// libhdf5 is thread-safe only when built with --enable-threadsafe (Debian's is, others may not be), so every
// entry point holds one mutex; error printing is switched off per call because that setting is per thread.
#include <hdf5.h>
#include <hdf5_hl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>

#include <nlohmann/json.hpp>

#include "core/base/atomic_file.h"
#include "core/base/error.h"
#include "core/base/json_number.h"
#include "core/base/hdf5lock.h"
#include "core/base/rehearse.h"
#include "core/base/version.h"
#include "core/io/bundle.h"
#include "core/io/model_io.h"

namespace cw {

std::mutex &hdf5Mutex()
{
    static std::mutex m;
    return m;
}

namespace {

constexpr const char *kFormatTag = "compression-workbench-model";
// 2: bit-packed int8 / uint8 initializers; 3: sparse initializers (each written only when such a tensor is present)
constexpr int64_t kFormatVersion = 3;

using json = nlohmann::json;

std::string q(const std::string &s)
{
    return "'" + s + "'";
}

// Owns an hid_t and closes it with the matching H5*close.
class Handle {
public:
    using Closer = herr_t (*)(hid_t);
    Handle() = default;
    Handle(hid_t id, Closer closer) : m_id(id), m_closer(closer) {}
    Handle(const Handle &) = delete;
    Handle &operator=(const Handle &) = delete;
    Handle(Handle &&o) noexcept : m_id(o.m_id), m_closer(o.m_closer) { o.m_id = -1; }
    ~Handle()
    {
        if (m_id >= 0 && m_closer)
            m_closer(m_id);
    }
    hid_t get() const { return m_id; }
    bool valid() const { return m_id >= 0; }
    hid_t release()
    {
        const hid_t id = m_id;
        m_id = -1;
        return id;
    }

private:
    hid_t m_id = -1;
    Closer m_closer = nullptr;
};

// Error context: which file and what is being read or written.
struct Ctx {
    std::string file;
    [[noreturn]] void fail(const std::string &what) const
    {
        throw Error(q(file) + ": " + what);
    }
    hid_t check(hid_t id, const std::string &what) const
    {
        if (id < 0)
            fail(what);
        return id;
    }
    void check(herr_t status, const std::string &what, int) const
    {
        if (status < 0)
            fail(what);
    }
};

// The 16-bit floats as HDF5 float types (built once, like h5py's IEEE_F16LE): float16 is IEEE binary16
// (sign bit 15, exponent bits 10-14 with bias 15, mantissa bits 0-9); bfloat16 the upper half of a float32
// (exponent bits 7-14 with bias 127, mantissa bits 0-6). h5py reads the first as numpy float16 and the second
// as float32 (libhdf5 widens it exactly).
hid_t halfFloatType(DType t)
{
    static const hid_t types[2] = {[] {
                                       hid_t h = H5Tcopy(H5T_IEEE_F32LE);
                                       H5Tset_fields(h, 15, 10, 5, 0, 10);
                                       H5Tset_size(h, 2);
                                       H5Tset_ebias(h, 15);
                                       H5Tlock(h);
                                       return h;
                                   }(),
                                   [] {
                                       hid_t h = H5Tcopy(H5T_IEEE_F32LE);
                                       H5Tset_fields(h, 15, 7, 8, 0, 7);
                                       H5Tset_size(h, 2);
                                       H5Tset_ebias(h, 127);
                                       H5Tlock(h);
                                       return h;
                                   }()};
    return types[t == DType::Float16 ? 0 : 1];
}

// The 16-bit float dtype an HDF5 float type of size 2 stores, if it is one of the two layouts.
bool halfFloatOf(hid_t type, DType *out)
{
    size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
    if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0)
        return false;
    const size_t bias = H5Tget_ebias(type);
    if (spos == 15 && epos == 10 && esize == 5 && mpos == 0 && msize == 10 && bias == 15)
        *out = DType::Float16;
    else if (spos == 15 && epos == 7 && esize == 8 && mpos == 0 && msize == 7 && bias == 127)
        *out = DType::BFloat16;
    else
        return false;
    return true;
}

hid_t nativeType(DType t)
{
    switch (t) {
    case DType::Float32: return H5T_NATIVE_FLOAT;
    case DType::Int8: return H5T_NATIVE_INT8;
    case DType::UInt8: return H5T_NATIVE_UINT8;
    case DType::Int32: return H5T_NATIVE_INT32;
    case DType::Int64: return H5T_NATIVE_INT64;
    case DType::Float16:
    case DType::BFloat16: return halfFloatType(t);
    }
    return H5T_NATIVE_FLOAT;
}

// Dataset names cannot contain '/' and "." is special: escape with %XX (and '%' itself).
std::string escapeName(const std::string &name)
{
    std::string out;
    for (unsigned char c : name) {
        if (c == '/' || c == '%' || (c == '.' && name == ".") || c < 0x20) {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        } else {
            out += char(c);
        }
    }
    return out.empty() ? "%00" : out;
}

std::string unescapeName(const std::string &name)
{
    if (name == "%00")
        return {};
    std::string out;
    for (size_t i = 0; i < name.size(); ++i) {
        if (name[i] == '%' && i + 2 < name.size() && std::isxdigit(static_cast<unsigned char>(name[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(name[i + 2]))) {
            out += char(std::stoi(name.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += name[i];
        }
    }
    return out;
}

// ---- writing -------------------------------------------------------------------------------------------------

// Strings are written fixed-length (stored inline): a variable-length string lives in HDF5's global heap,
// and libhdf5 1.10 crashes on a corrupt global heap instead of returning an error.
Handle fixedStringType(const std::string &value)
{
    Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(t.get(), value.size() + 1);
    H5Tset_strpad(t.get(), H5T_STR_NULLTERM);
    H5Tset_cset(t.get(), H5T_CSET_UTF8);
    return t;
}

Handle vlenStringType()
{
    Handle t(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(t.get(), H5T_VARIABLE);
    H5Tset_cset(t.get(), H5T_CSET_UTF8);
    return t;
}

void writeStringAttr(const Ctx &ctx, hid_t obj, const std::string &key, const std::string &value)
{
    Handle type = fixedStringType(value);
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle attr(ctx.check(H5Acreate2(obj, key.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                          "cannot create attribute " + q(key)),
                H5Aclose);
    ctx.check(H5Awrite(attr.get(), type.get(), value.c_str()), "cannot write attribute " + q(key), 0);
}

void writeIntAttr(const Ctx &ctx, hid_t obj, const std::string &key, int64_t value)
{
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle attr(ctx.check(H5Acreate2(obj, key.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                          "cannot create attribute " + q(key)),
                H5Aclose);
    ctx.check(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), "cannot write attribute " + q(key), 0);
}

void writeStringDataset(const Ctx &ctx, hid_t group, const std::string &key, const std::string &value)
{
    Handle type = fixedStringType(value);
    Handle space(H5Screate(H5S_SCALAR), H5Sclose);
    Handle ds(ctx.check(H5Dcreate2(group, key.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                        "cannot create dataset " + q(key)),
              H5Dclose);
    ctx.check(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, value.c_str()),
              "cannot write dataset " + q(key), 0);
}

Handle createGroup(const Ctx &ctx, hid_t parent, const std::string &name)
{
    return Handle(ctx.check(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                            "cannot create group " + q(name)),
                  H5Gclose);
}

// JSON numbers cannot hold NaN / infinity: those floats are written as strings.
json floatToJson(float v)
{
    if (std::isnan(v))
        return "nan";
    if (std::isinf(v))
        return v > 0 ? "inf" : "-inf";
    return double(v);
}

float floatFromJson(const json &j)
{
    if (j.is_string()) {
        const std::string s = j.get<std::string>();
        if (s == "nan")
            return NAN;
        if (s == "inf")
            return INFINITY;
        if (s == "-inf")
            return -INFINITY;
        throw Error("bad float value " + q(s));
    }
    return float(j.get<double>());
}

json tensorToJson(const Tensor &t)
{
    json j;
    j["dtype"] = dtypeName(t.dtype());
    j["shape"] = t.shape();
    json data = json::array();
    if (isFloatType(t.dtype())) { // 16-bit floats widen exactly, and narrow back exactly on reading
        for (float v : t.toFloatVector())
            data.push_back(floatToJson(v));
    } else {
        for (int64_t v : t.toInt64Vector())
            data.push_back(v);
    }
    j["data"] = std::move(data);
    return j;
}

Tensor tensorFromJson(const json &j)
{
    DType dtype;
    if (!dtypeFromName(j.at("dtype").get<std::string>(), &dtype))
        throw Error("unknown dtype " + q(j.at("dtype").get<std::string>()));
    const Shape shape = integersFromJson(j.at("shape"));
    const json &data = j.at("data");
    if (int64_t(data.size()) != shapeNumel(shape))
        throw Error("tensor attribute has " + std::to_string(data.size()) + " values for shape " + shapeToString(shape));
    std::vector<float> floats;
    std::vector<int64_t> ints;
    for (const json &v : data) {
        if (isFloatType(dtype))
            floats.push_back(floatFromJson(v));
        else
            ints.push_back(integerFromJson(v));
    }
    if (isFloatType(dtype))
        return Tensor::fromFloats(shape, floats).castTo(dtype);
    return Tensor::fromInt64s(shape, ints).castTo(dtype);
}

json graphToJson(const Graph &g);
Graph graphFromJson(const json &j);

json attributeToJson(const Attribute &a)
{
    json j;
    switch (a.kind) {
    case Attribute::Kind::Int: j["int"] = a.i; break;
    case Attribute::Kind::Float: j["float"] = floatToJson(a.f); break;
    case Attribute::Kind::String: j["string"] = a.s; break;
    case Attribute::Kind::Ints: j["ints"] = a.ints; break;
    case Attribute::Kind::Floats: {
        json arr = json::array();
        for (float v : a.floats)
            arr.push_back(floatToJson(v));
        j["floats"] = std::move(arr);
        break;
    }
    case Attribute::Kind::Strings: j["strings"] = a.strings; break;
    case Attribute::Kind::Tensor: j["tensor"] = tensorToJson(a.t); break;
    case Attribute::Kind::Graph: j["graph"] = graphToJson(*a.graph); break;
    }
    return j;
}

Attribute attributeFromJson(const json &j)
{
    if (!j.is_object() || j.size() != 1)
        throw Error("an attribute must be an object with one key (its kind)");
    // Not `const auto &[kind, v] = *j.items().begin()`: that binds to a temporary iterator that is destroyed at
    // the end of the statement. j.begin() points into j, which outlives both references.
    const auto it = j.begin();
    const std::string &kind = it.key();
    const json &v = it.value();
    if (kind == "int")
        return Attribute::makeInt(integerFromJson(v));
    if (kind == "float")
        return Attribute::makeFloat(floatFromJson(v));
    if (kind == "string")
        return Attribute::makeString(v.get<std::string>());
    if (kind == "ints")
        return Attribute::makeInts(integersFromJson(v));
    if (kind == "floats") {
        std::vector<float> f;
        for (const json &x : v)
            f.push_back(floatFromJson(x));
        return Attribute::makeFloats(std::move(f));
    }
    if (kind == "strings") {
        Attribute a;
        a.kind = Attribute::Kind::Strings;
        a.strings = v.get<std::vector<std::string>>();
        return a;
    }
    if (kind == "tensor")
        return Attribute::makeTensor(tensorFromJson(v));
    if (kind == "graph")
        return Attribute::makeGraph(graphFromJson(v));
    throw Error("unknown attribute kind " + q(kind));
}

json valueInfosToJson(const std::vector<ValueInfo> &values)
{
    json arr = json::array();
    for (const ValueInfo &v : values) {
        json j;
        j["name"] = v.name;
        j["dtype"] = dtypeName(v.dtype);
        j["shape"] = v.shapeKnown ? json(v.shape) : json(nullptr);
        if (std::any_of(v.dimNames.begin(), v.dimNames.end(), [](const std::string &n) { return !n.empty(); }))
            j["dim_names"] = v.dimNames;
        arr.push_back(std::move(j));
    }
    return arr;
}

std::vector<ValueInfo> valueInfosFromJson(const json &arr)
{
    std::vector<ValueInfo> out;
    for (const json &j : arr) {
        ValueInfo v;
        v.name = j.at("name").get<std::string>();
        if (!dtypeFromName(j.at("dtype").get<std::string>(), &v.dtype))
            throw Error("unknown dtype " + q(j.at("dtype").get<std::string>()) + " of value " + q(v.name));
        if (j.contains("shape") && !j.at("shape").is_null()) {
            v.shape = integersFromJson(j.at("shape"));
            v.shapeKnown = true;
        }
        if (j.contains("dim_names"))
            v.dimNames = j.at("dim_names").get<std::vector<std::string>>();
        out.push_back(std::move(v));
    }
    return out;
}

json nodesToJson(const std::vector<Node> &nodes)
{
    json arr = json::array();
    for (const Node &n : nodes) {
        json j;
        j["name"] = n.name;
        j["op"] = n.opType;
        if (!n.domain.empty())
            j["domain"] = n.domain;
        j["inputs"] = n.inputs;
        j["outputs"] = n.outputs;
        json attrs = json::object();
        for (const auto &[k, a] : n.attrs)
            attrs[k] = attributeToJson(a);
        j["attrs"] = std::move(attrs);
        arr.push_back(std::move(j));
    }
    return arr;
}

std::vector<Node> nodesFromJson(const json &arr)
{
    std::vector<Node> out;
    for (const json &j : arr) {
        Node n;
        n.name = j.at("name").get<std::string>();
        n.opType = j.at("op").get<std::string>();
        n.domain = j.value("domain", std::string());
        n.inputs = j.at("inputs").get<std::vector<std::string>>();
        n.outputs = j.at("outputs").get<std::vector<std::string>>();
        if (n.outputs.empty())
            throw Error("node " + q(n.name) + " (" + n.opType + ") has no outputs");
        if (j.contains("attrs")) {
            for (const auto &[k, a] : j.at("attrs").items()) {
                try {
                    n.attrs[k] = attributeFromJson(a);
                } catch (const std::exception &e) {
                    throw Error("node " + q(n.name) + ", attribute " + q(k) + ": " + e.what());
                }
            }
        }
        out.push_back(std::move(n));
    }
    return out;
}

// A subgraph (an If branch, a Loop or Scan body) inside a node attribute: its nodes, inputs, outputs and
// initializers (as tensors in JSON; subgraph weights are small).
json graphToJson(const Graph &g)
{
    json inits = json::object();
    for (const auto &[name, t] : g.initializers)
        inits[name] = tensorToJson(t);
    return json{{"name", g.name}, {"nodes", nodesToJson(g.nodes)}, {"inputs", valueInfosToJson(g.inputs)},
                {"outputs", valueInfosToJson(g.outputs)}, {"initializers", inits}};
}

Graph graphFromJson(const json &j)
{
    Graph g;
    g.name = j.value("name", "");
    g.nodes = nodesFromJson(j.at("nodes"));
    g.inputs = valueInfosFromJson(j.at("inputs"));
    g.outputs = valueInfosFromJson(j.at("outputs"));
    for (const auto &[name, t] : j.at("initializers").items())
        g.initializers[name] = tensorFromJson(t);
    return g;
}

// Bits per value when an int8 / uint8 tensor is stored bit-packed: the fewest b < 8 that hold every value
// (two's complement for int8), 0 to store it plainly. Small tensors (zero points, biases) stay plain: the
// attributes cost more than packing saves.
int fitBits(const Tensor &t)
{
    if ((t.dtype() != DType::Int8 && t.dtype() != DType::UInt8) || t.numel() == 0)
        return 0;
    int lo = 0, hi = 0;
    if (t.dtype() == DType::Int8) {
        const int8_t *p = t.data<int8_t>();
        const auto [mn, mx] = std::minmax_element(p, p + t.numel());
        lo = *mn;
        hi = *mx;
    } else {
        hi = *std::max_element(t.data<uint8_t>(), t.data<uint8_t>() + t.numel());
    }
    for (int b = 1; b < 8; ++b) {
        const bool fits = t.dtype() == DType::Int8 ? lo >= -(1 << (b - 1)) && hi <= (1 << (b - 1)) - 1 : hi <= (1 << b) - 1;
        if (fits)
            return b;
    }
    return 0;
}

int packedBits(const Tensor &t)
{
    if ((t.dtype() != DType::Int8 && t.dtype() != DType::UInt8) || t.numel() < 64 || t.rank() == 0)
        return 0;
    return fitBits(t);
}

// Sparse form of a float32 / int8 / uint8 tensor: a bitmask of the nonzero positions plus the nonzero values in
// row-major order. "Zero" means all bits zero, so -0.0 (and NaN) are stored as values and the round trip is bit
// exact. Chosen only when its payload is smaller than the dense (or bit-packed) payload by more than the ~200
// bytes its three extra attributes cost in the object header, so no file grows.
struct SparseForm {
    Tensor values;     // 1-D, the nonzero values
    int valueBits = 0; // int values bit-packed with this many bits (0: plain)
    int64_t bytes = 0; // mask + values
};

bool sparseForm(const Tensor &t, SparseForm *out)
{
    if ((t.dtype() != DType::Float32 && t.dtype() != DType::Int8 && t.dtype() != DType::UInt8) || t.numel() < 64 ||
        t.rank() == 0)
        return false;
    const int64_t n = t.numel(), size = int64_t(dtypeSize(t.dtype()));
    const auto *raw = static_cast<const uint8_t *>(t.rawData());
    int64_t nnz = 0;
    for (int64_t i = 0; i < n; ++i) {
        uint32_t v = 0;
        std::memcpy(&v, raw + i * size, size_t(size));
        nnz += v != 0;
    }
    const int dense = packedBits(t);
    const int64_t denseBytes = dense ? (n * dense + 7) / 8 : n * size;
    // Even with 1-bit values the mask alone bounds what can be saved: skip the copy when it cannot pay.
    if ((n + 7) / 8 + (nnz + 7) / 8 + 256 >= denseBytes)
        return false;
    Tensor values(t.dtype(), Shape{nnz});
    auto *dst = static_cast<uint8_t *>(values.rawData());
    for (int64_t i = 0, k = 0; i < n; ++i) {
        uint32_t v = 0;
        std::memcpy(&v, raw + i * size, size_t(size));
        if (v != 0)
            std::memcpy(dst + (k++) * size, raw + i * size, size_t(size));
    }
    const int bits = fitBits(values);
    const int64_t bytes = (n + 7) / 8 + (bits ? (nnz * bits + 7) / 8 : nnz * size);
    if (bytes + 256 >= denseBytes)
        return false;
    if (out)
        *out = SparseForm{std::move(values), bits, bytes};
    return true;
}

// Value i occupies bits [i*b, i*b + b) of the byte stream, least significant bit first.
std::vector<uint8_t> packBits(const Tensor &t, int bits)
{
    const int64_t n = t.numel();
    std::vector<uint8_t> out(size_t((n * bits + 7) / 8), 0);
    const auto *raw = static_cast<const uint8_t *>(t.rawData());
    const unsigned mask = (1u << bits) - 1;
    for (int64_t i = 0; i < n; ++i) {
        const uint64_t bit = uint64_t(i) * uint64_t(bits);
        const unsigned v = (raw[i] & mask) << (bit % 8);
        out[bit / 8] |= uint8_t(v);
        if ((bit % 8) + unsigned(bits) > 8)
            out[bit / 8 + 1] |= uint8_t(v >> 8);
    }
    return out;
}

void unpackBits(const std::vector<uint8_t> &in, int bits, Tensor &t)
{
    auto *raw = static_cast<uint8_t *>(t.rawData());
    const unsigned mask = (1u << bits) - 1, sign = 1u << (bits - 1);
    const bool isSigned = t.dtype() == DType::Int8;
    for (int64_t i = 0; i < t.numel(); ++i) {
        const uint64_t bit = uint64_t(i) * uint64_t(bits);
        unsigned v = in[bit / 8] >> (bit % 8);
        if ((bit % 8) + unsigned(bits) > 8)
            v |= unsigned(in[bit / 8 + 1]) << (8 - bit % 8);
        v &= mask;
        if (isSigned && (v & sign))
            v |= ~mask; // sign extension; the low byte is the int8 value
        raw[i] = uint8_t(v);
    }
}

void writeInt64sAttr(const Ctx &ctx, hid_t obj, const std::string &key, const std::vector<int64_t> &values)
{
    const hsize_t n = values.size();
    Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    Handle attr(ctx.check(H5Acreate2(obj, key.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                          "cannot create attribute " + q(key)),
                H5Aclose);
    ctx.check(H5Awrite(attr.get(), H5T_NATIVE_INT64, values.data()), "cannot write attribute " + q(key), 0);
}

// The 1-D uint8 dataset that holds a packed or sparse tensor's bytes; the caller adds the attributes.
Handle writeByteDataset(const Ctx &ctx, hid_t group, const std::string &name, const std::vector<uint8_t> &bytes)
{
    const hsize_t n = bytes.size();
    Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    ctx.check(space.get(), "cannot create the dataspace of tensor " + q(name));
    const std::string key = escapeName(name);
    Handle ds(ctx.check(H5Dcreate2(group, key.c_str(), H5T_STD_U8LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                        "cannot create dataset for tensor " + q(name)),
              H5Dclose);
    ctx.check(H5Dwrite(ds.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()),
              "cannot write tensor " + q(name), 0);
    return ds;
}

// A bit-packed tensor: a 1-D uint8 dataset of ceil(numel * bits / 8) bytes with attributes name,
// packed_bits, dtype ("int8" / "uint8") and shape (int64[rank]).
void writePackedTensor(const Ctx &ctx, hid_t group, const std::string &name, const Tensor &t, int bits)
{
    const std::vector<uint8_t> bytes = packBits(t, bits);
    Handle ds = writeByteDataset(ctx, group, name, bytes);
    writeStringAttr(ctx, ds.get(), "name", name);
    writeIntAttr(ctx, ds.get(), "packed_bits", bits);
    writeStringAttr(ctx, ds.get(), "dtype", dtypeName(t.dtype()));
    writeInt64sAttr(ctx, ds.get(), "shape", t.shape());
}

// A sparse tensor: a 1-D uint8 dataset holding the mask (ceil(numel / 8) bytes, bit i least significant bit
// first = element i is nonzero) followed by the nonzero values (little-endian, or bit-packed with value_bits),
// with attributes name, encoding ("sparse"), dtype, shape (int64[rank]), nnz and value_bits (0 = plain).
void writeSparseTensor(const Ctx &ctx, hid_t group, const std::string &name, const Tensor &t, const SparseForm &s)
{
    const int64_t n = t.numel();
    std::vector<uint8_t> bytes(size_t((n + 7) / 8), 0);
    const int64_t size = int64_t(dtypeSize(t.dtype()));
    const auto *raw = static_cast<const uint8_t *>(t.rawData());
    for (int64_t i = 0; i < n; ++i) {
        uint32_t v = 0;
        std::memcpy(&v, raw + i * size, size_t(size));
        if (v != 0)
            bytes[size_t(i / 8)] |= uint8_t(1u << (i % 8));
    }
    if (s.valueBits) {
        const std::vector<uint8_t> packed = packBits(s.values, s.valueBits);
        bytes.insert(bytes.end(), packed.begin(), packed.end());
    } else {
        // Values little-endian like every other dataset (the hosts this builds for are little-endian).
        const auto *v = static_cast<const uint8_t *>(s.values.rawData());
        bytes.insert(bytes.end(), v, v + s.values.numel() * size);
    }
    Handle ds = writeByteDataset(ctx, group, name, bytes);
    writeStringAttr(ctx, ds.get(), "name", name);
    writeStringAttr(ctx, ds.get(), "encoding", "sparse");
    writeStringAttr(ctx, ds.get(), "dtype", dtypeName(t.dtype()));
    writeInt64sAttr(ctx, ds.get(), "shape", t.shape());
    writeIntAttr(ctx, ds.get(), "nnz", s.values.numel());
    writeIntAttr(ctx, ds.get(), "value_bits", s.valueBits);
}

void writeTensor(const Ctx &ctx, hid_t group, const std::string &name, const Tensor &t)
{
    if (SparseForm s; sparseForm(t, &s)) {
        writeSparseTensor(ctx, group, name, t, s);
        return;
    }
    if (const int bits = packedBits(t)) {
        writePackedTensor(ctx, group, name, t, bits);
        return;
    }
    std::vector<hsize_t> dims(t.shape().begin(), t.shape().end());
    Handle space(t.rank() == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(t.rank(), dims.data(), nullptr), H5Sclose);
    ctx.check(space.get(), "cannot create the dataspace of tensor " + q(name));
    // Stored in the file as little-endian, read back into the native type.
    hid_t fileType = H5T_IEEE_F32LE;
    switch (t.dtype()) {
    case DType::Float32: fileType = H5T_IEEE_F32LE; break;
    case DType::Int8: fileType = H5T_STD_I8LE; break;
    case DType::UInt8: fileType = H5T_STD_U8LE; break;
    case DType::Int32: fileType = H5T_STD_I32LE; break;
    case DType::Int64: fileType = H5T_STD_I64LE; break;
    case DType::Float16:
    case DType::BFloat16: fileType = halfFloatType(t.dtype()); break;
    }
    const std::string key = escapeName(name);
    Handle ds(ctx.check(H5Dcreate2(group, key.c_str(), fileType, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                        "cannot create dataset for tensor " + q(name)),
              H5Dclose);
    if (t.numel() > 0)
        ctx.check(H5Dwrite(ds.get(), nativeType(t.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.rawData()),
                  "cannot write tensor " + q(name), 0);
    writeStringAttr(ctx, ds.get(), "name", name);
}

void writeModelTo(const Ctx &ctx, const Handle &file, const Model &model)
{
    writeStringAttr(ctx, file.get(), "format", kFormatTag);
    // Version 2 only when a tensor is bit-packed and 3 only when one is sparse, so files without them stay
    // readable by older readers (which refuse the newer versions instead of misreading them).
    int64_t version = 1;
    for (const auto &[name, t] : model.graph.initializers)
        version = std::max(version, sparseForm(t, nullptr) ? int64_t(3) : packedBits(t) > 0 ? int64_t(2) : int64_t(1));
    writeIntAttr(ctx, file.get(), "format_version", version);
    writeIntAttr(ctx, file.get(), "opset", model.opsetVersion);
    writeStringAttr(ctx, file.get(), "producer", model.producerName);
    writeStringAttr(ctx, file.get(), "writer", std::string("compression-workbench ") + toolVersion());

    const Graph &g = model.graph;
    {
        Handle graph = createGroup(ctx, file.get(), "graph");
        writeStringAttr(ctx, graph.get(), "name", g.name);
        writeStringDataset(ctx, graph.get(), "nodes", nodesToJson(g.nodes).dump());
        writeStringDataset(ctx, graph.get(), "inputs", valueInfosToJson(g.inputs).dump());
        writeStringDataset(ctx, graph.get(), "outputs", valueInfosToJson(g.outputs).dump());
    }
    {
        Handle inits = createGroup(ctx, file.get(), "initializers");
        for (const auto &[name, t] : g.initializers)
            writeTensor(ctx, inits.get(), name, t);
    }
    {
        Handle meta = createGroup(ctx, file.get(), "metadata");
        for (const auto &[k, v] : model.metadata)
            writeStringAttr(ctx, meta.get(), k, v);
    }
    if (!model.analysis.empty()) {
        // One string dataset per result; names are escaped like initializer names.
        Handle analysis = createGroup(ctx, file.get(), "analysis");
        for (const auto &[k, v] : model.analysis) {
            writeStringDataset(ctx, analysis.get(), escapeName(k), v);
            Handle ds(H5Dopen2(analysis.get(), escapeName(k).c_str(), H5P_DEFAULT), H5Dclose);
            writeStringAttr(ctx, ds.get(), "name", k);
        }
    }
}

// HDF5 writes the temporary of an AtomicFile by name; `body` fills the new file (a model, a bundle). A failure is
// checked for a full disk before the file is closed: closing truncates the file to what HDF5 allocated, which
// frees the space again.
void writeFile(const std::string &path, const std::function<void(const Ctx &, const Handle &)> &body)
{
    const Ctx ctx{path};
    AtomicFile out(path);
    Handle file(H5Fcreate(out.tempPath().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    try {
        if (!file.valid())
            ctx.fail("cannot create the file");
        body(ctx, file);
        // Closing writes the metadata HDF5 still caches: its failure must be seen before the rename.
        if (H5Fclose(file.release()) < 0)
            ctx.fail("cannot write the file");
    } catch (const Error &) {
        out.failIfDiskFull(errno);
        throw;
    }
    out.commit();
}

// ---- reading -------------------------------------------------------------------------------------------------

// The size of the file `obj` lies in: the most bytes a dataset or attribute of this format (stored uncompressed)
// can hold. A corrupt file may declare any size or extent; the readers check it against this before allocating,
// so that the time and memory a read takes stay proportional to the file's size.
hsize_t fileSizeOf(const Ctx &ctx, hid_t obj)
{
    hsize_t size = 0;
    Handle fid(H5Iget_file_id(obj), H5Fclose);
    if (!fid.valid() || H5Fget_filesize(fid.get(), &size) < 0)
        ctx.fail("cannot read the size of the file");
    return size;
}

// Reads a string from an attribute or a dataset, variable-length or fixed-length.
std::string readString(const Ctx &ctx, hid_t obj, bool isAttr, const std::string &what)
{
    Handle type(isAttr ? H5Aget_type(obj) : H5Dget_type(obj), H5Tclose);
    if (!type.valid() || H5Tget_class(type.get()) != H5T_STRING)
        ctx.fail(what + " is not a string");
    Handle space(isAttr ? H5Aget_space(obj) : H5Dget_space(obj), H5Sclose);
    if (!space.valid() || H5Sget_simple_extent_npoints(space.get()) != 1)
        ctx.fail(what + " is not a single string");
    if (H5Tis_variable_str(type.get()) > 0) {
        Handle mem = vlenStringType();
        char *ptr = nullptr;
        const herr_t st = isAttr ? H5Aread(obj, mem.get(), &ptr)
                                 : H5Dread(obj, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &ptr);
        if (st < 0)
            ctx.fail("cannot read " + what + " (the file may be truncated or corrupt)");
        std::string s = ptr ? ptr : "";
        H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, &ptr);
        return s;
    }
    const size_t size = H5Tget_size(type.get());
    if (size > fileSizeOf(ctx, obj))
        ctx.fail(what + " claims a string of " + std::to_string(size) + " bytes, more than the whole file " +
                 "(the file is truncated or corrupt)");
    std::string s(size, '\0');
    Handle mem(H5Tcopy(type.get()), H5Tclose);
    const herr_t st = isAttr ? H5Aread(obj, mem.get(), s.data())
                             : H5Dread(obj, mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, s.data());
    if (st < 0)
        ctx.fail("cannot read " + what + " (the file may be truncated or corrupt)");
    s.resize(std::strlen(s.c_str()));
    return s;
}

bool hasAttr(hid_t obj, const std::string &key)
{
    return H5Aexists(obj, key.c_str()) > 0;
}

std::string readStringAttr(const Ctx &ctx, hid_t obj, const std::string &key)
{
    Handle attr(ctx.check(H5Aopen(obj, key.c_str(), H5P_DEFAULT), "cannot open attribute " + q(key)), H5Aclose);
    return readString(ctx, attr.get(), true, "attribute " + q(key));
}

int64_t readIntAttr(const Ctx &ctx, hid_t obj, const std::string &key)
{
    Handle attr(ctx.check(H5Aopen(obj, key.c_str(), H5P_DEFAULT), "cannot open attribute " + q(key)), H5Aclose);
    Handle type(H5Aget_type(attr.get()), H5Tclose);
    if (H5Tget_class(type.get()) != H5T_INTEGER)
        ctx.fail("attribute " + q(key) + " is not an integer");
    int64_t v = 0;
    ctx.check(H5Aread(attr.get(), H5T_NATIVE_INT64, &v), "cannot read attribute " + q(key), 0);
    return v;
}

bool linkExists(hid_t group, const std::string &name)
{
    return H5Lexists(group, name.c_str(), H5P_DEFAULT) > 0;
}

json readJsonDataset(const Ctx &ctx, hid_t group, const std::string &name)
{
    if (!linkExists(group, name))
        ctx.fail("the model has no /graph/" + name);
    Handle ds(ctx.check(H5Dopen2(group, name.c_str(), H5P_DEFAULT), "cannot open /graph/" + name), H5Dclose);
    const std::string text = readString(ctx, ds.get(), false, "/graph/" + name);
    try {
        return json::parse(text);
    } catch (const std::exception &e) {
        ctx.fail("/graph/" + name + " is not valid JSON: " + e.what());
    }
}

std::vector<std::string> childNames(const Ctx &ctx, hid_t group, const std::string &what)
{
    H5G_info_t info;
    ctx.check(H5Gget_info(group, &info), "cannot list " + what, 0);
    std::vector<std::string> names;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
        const ssize_t len = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
        if (len < 0)
            ctx.fail("cannot list " + what);
        std::string name(size_t(len) + 1, '\0');
        H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
        name.resize(size_t(len));
        names.push_back(std::move(name));
    }
    return names;
}

// The logical shape of a packed or sparse tensor (its "shape" attribute) and its element count, checked for
// overflow and against the memory budget (as `dtype`) before the caller allocates anything.
Shape readShapeAttr(const Ctx &ctx, hid_t ds, const std::string &what, DType dtype, double *count)
{
    Shape shape;
    {
        Handle attr(ctx.check(H5Aopen(ds, "shape", H5P_DEFAULT), "cannot open attribute 'shape' of " + what), H5Aclose);
        Handle space(H5Aget_space(attr.get()), H5Sclose);
        const hssize_t n = H5Sget_simple_extent_npoints(space.get());
        if (n < 0 || n > 32)
            ctx.fail(what + " has a bad shape attribute");
        shape.resize(size_t(n));
        if (n > 0)
            ctx.check(H5Aread(attr.get(), H5T_NATIVE_INT64, shape.data()), "cannot read the shape of " + what, 0);
    }
    size_t bytes = 0;
    try {
        bytes = shapeByteSize(shape, dtype);
    } catch (const Error &e) {
        ctx.fail(what + ": " + e.what());
    }
    checkMemoryBudget(bytes, q(ctx.file) + ": " + what + " " + shapeToString(shape));
    *count = double(shapeNumel(shape));
    return shape;
}

// The bytes of a packed or sparse tensor's uint8 dataset (its extent), at most the file's size.
hssize_t storedBytes(const Ctx &ctx, hid_t ds, const std::string &what)
{
    Handle space(H5Dget_space(ds), H5Sclose);
    const hssize_t stored = H5Sget_simple_extent_npoints(space.get());
    if (stored < 0 || hsize_t(stored) > fileSizeOf(ctx, ds))
        ctx.fail(what + " claims " + std::to_string(stored) + " stored bytes, more than the whole file " +
                 "(the file is truncated or corrupt)");
    return stored;
}

Tensor readPackedTensor(const Ctx &ctx, hid_t ds, const std::string &what)
{
    const int64_t bits = readIntAttr(ctx, ds, "packed_bits");
    DType dtype;
    if (!hasAttr(ds, "dtype") || !dtypeFromName(readStringAttr(ctx, ds, "dtype"), &dtype) ||
        (dtype != DType::Int8 && dtype != DType::UInt8) || bits < 1 || bits > 7 || !hasAttr(ds, "shape"))
        ctx.fail(what + " is bit-packed with a bad packed_bits, dtype or shape attribute");
    double count = 0;
    const Shape shape = readShapeAttr(ctx, ds, what, dtype, &count);
    const hssize_t stored = storedBytes(ctx, ds, what);
    if (double(stored) != std::ceil(count * double(bits) / 8.0))
        ctx.fail(what + " holds " + std::to_string(stored) + " packed bytes, not the " +
                 std::to_string(int64_t(std::ceil(count * double(bits) / 8.0))) + " its shape and packed_bits need " +
                 "(the file is truncated or corrupt)");
    std::vector<uint8_t> bytes(static_cast<size_t>(stored));
    if (stored > 0 && H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()) < 0)
        ctx.fail("cannot read " + what + " (the file may be truncated or corrupt)");
    Tensor t(dtype, shape);
    unpackBits(bytes, int(bits), t);
    return t;
}

Tensor readSparseTensor(const Ctx &ctx, hid_t ds, const std::string &what)
{
    DType dtype;
    if (!hasAttr(ds, "dtype") || !dtypeFromName(readStringAttr(ctx, ds, "dtype"), &dtype) ||
        (dtype != DType::Float32 && dtype != DType::Int8 && dtype != DType::UInt8) || !hasAttr(ds, "shape") ||
        !hasAttr(ds, "nnz"))
        ctx.fail(what + " is sparse with a missing or bad dtype, shape or nnz attribute");
    const int64_t valueBits = hasAttr(ds, "value_bits") ? readIntAttr(ctx, ds, "value_bits") : 0;
    const int64_t nnz = readIntAttr(ctx, ds, "nnz");
    if (valueBits < 0 || valueBits > 7 || (valueBits > 0 && dtype == DType::Float32))
        ctx.fail(what + " is sparse with a bad value_bits attribute");
    double count = 0;
    const Shape shape = readShapeAttr(ctx, ds, what, dtype, &count);
    const double size = double(dtypeSize(dtype));
    if (nnz < 0 || double(nnz) > count)
        ctx.fail(what + " has a bad nnz attribute");
    const double maskBytes = std::ceil(count / 8.0);
    const double need = maskBytes + (valueBits ? std::ceil(double(nnz) * double(valueBits) / 8.0) : double(nnz) * size);
    const hssize_t stored = storedBytes(ctx, ds, what);
    if (double(stored) != need)
        ctx.fail(what + " holds " + std::to_string(stored) + " sparse bytes, not the " + std::to_string(int64_t(need)) +
                 " its shape, nnz and value_bits need (the file is truncated or corrupt)");
    std::vector<uint8_t> bytes(static_cast<size_t>(stored));
    if (stored > 0 && H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()) < 0)
        ctx.fail("cannot read " + what + " (the file may be truncated or corrupt)");
    Tensor values(dtype, Shape{nnz});
    const size_t mb = size_t(maskBytes);
    if (valueBits)
        unpackBits(std::vector<uint8_t>(bytes.begin() + mb, bytes.end()), int(valueBits), values);
    else if (nnz > 0)
        std::memcpy(values.rawData(), bytes.data() + mb, size_t(nnz) * size_t(size));
    Tensor t(dtype, shape); // zero-filled
    auto *dst = static_cast<uint8_t *>(t.rawData());
    const auto *src = static_cast<const uint8_t *>(values.rawData());
    int64_t k = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
        if (!(bytes[size_t(i / 8)] >> (i % 8) & 1))
            continue;
        if (k == nnz)
            ctx.fail(what + " has more mask bits set than its nnz attribute (the file is corrupt)");
        std::memcpy(dst + i * int64_t(size), src + (k++) * int64_t(size), size_t(size));
    }
    if (k != nnz)
        ctx.fail(what + " has fewer mask bits set than its nnz attribute (the file is corrupt)");
    return t;
}

Tensor readTensor(const Ctx &ctx, hid_t group, const std::string &key, std::string *name)
{
    Handle ds(ctx.check(H5Dopen2(group, key.c_str(), H5P_DEFAULT), "cannot open /initializers/" + key), H5Dclose);
    *name = hasAttr(ds.get(), "name") ? readStringAttr(ctx, ds.get(), "name") : unescapeName(key);
    const std::string what = "tensor " + q(*name);
    if (hasAttr(ds.get(), "encoding")) {
        const std::string encoding = readStringAttr(ctx, ds.get(), "encoding");
        if (encoding == "sparse")
            return readSparseTensor(ctx, ds.get(), what);
        ctx.fail(what + " uses the encoding " + q(encoding) + ", which this build cannot read (it knows 'sparse'; " +
                 "the file may have been written by a newer release)");
    }
    if (hasAttr(ds.get(), "packed_bits"))
        return readPackedTensor(ctx, ds.get(), what);
    Handle type(H5Dget_type(ds.get()), H5Tclose);
    const H5T_class_t cls = H5Tget_class(type.get());
    const size_t size = H5Tget_size(type.get());
    DType dtype;
    if (cls == H5T_FLOAT && size == 4)
        dtype = DType::Float32;
    else if (cls == H5T_FLOAT && size == 2) {
        if (!halfFloatOf(type.get(), &dtype))
            ctx.fail(what + " has a 16-bit float type that is neither float16 nor bfloat16");
    } else if (cls == H5T_INTEGER) {
        const bool isSigned = H5Tget_sign(type.get()) == H5T_SGN_2;
        if (size == 1)
            dtype = isSigned ? DType::Int8 : DType::UInt8;
        else if (size == 4 && isSigned)
            dtype = DType::Int32;
        else if (size == 8 && isSigned)
            dtype = DType::Int64;
        else
            ctx.fail(what + " has an unsupported integer type (" + std::to_string(size) + " bytes)");
    } else {
        ctx.fail(what + " has an unsupported data type (float32, float16, bfloat16, int8, uint8, int32 and int64 are "
                        "supported)");
    }
    Handle space(H5Dget_space(ds.get()), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    if (rank < 0)
        ctx.fail("cannot read the shape of " + what);
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    if (rank > 0)
        H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    // A corrupt file may claim any shape: check it against the file's size before allocating.
    const hsize_t fileSize = fileSizeOf(ctx, ds.get());
    const Shape shape(dims.begin(), dims.end());
    size_t bytes = 0;
    try {
        bytes = shapeByteSize(shape, dtype);
    } catch (const Error &e) {
        ctx.fail(what + ": " + e.what());
    }
    if (bytes > fileSize)
        ctx.fail(what + " claims " + std::to_string(bytes) + " bytes, more than the whole file " +
                 "(the file is truncated or corrupt)");
    checkMemoryBudget(bytes, q(ctx.file) + ": " + what + " " + shapeToString(shape));
    Tensor t(dtype, shape);
    if (t.numel() > 0 &&
        H5Dread(ds.get(), nativeType(dtype), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.rawData()) < 0)
        ctx.fail("cannot read " + what + " (the file may be truncated or corrupt)");
    return t;
}

Model readModel(hid_t file, const Ctx &ctx)
{
    if (!hasAttr(file, "format") || readStringAttr(ctx, file, "format") != kFormatTag)
        ctx.fail("this HDF5 file is not a Compression Workbench model (its root attribute 'format' is not '" +
                 std::string(kFormatTag) + "')");
    const int64_t version = hasAttr(file, "format_version") ? readIntAttr(ctx, file, "format_version") : 0;
    if (version < 1 || version > kFormatVersion)
        ctx.fail("model format version " + std::to_string(version) + " is not supported (this build reads version " +
                 std::to_string(kFormatVersion) + "; it may have been written by a newer release)");
    Model model;
    model.sourcePath = ctx.file;
    if (hasAttr(file, "opset"))
        model.opsetVersion = readIntAttr(ctx, file, "opset");
    if (hasAttr(file, "producer"))
        model.producerName = readStringAttr(ctx, file, "producer");

    Graph &g = model.graph;
    if (!linkExists(file, "graph"))
        ctx.fail("the model has no /graph group");
    {
        Handle graph(ctx.check(H5Gopen2(file, "graph", H5P_DEFAULT), "cannot open /graph"), H5Gclose);
        if (hasAttr(graph.get(), "name"))
            g.name = readStringAttr(ctx, graph.get(), "name");
        try {
            g.nodes = nodesFromJson(readJsonDataset(ctx, graph.get(), "nodes"));
            g.inputs = valueInfosFromJson(readJsonDataset(ctx, graph.get(), "inputs"));
            g.outputs = valueInfosFromJson(readJsonDataset(ctx, graph.get(), "outputs"));
        } catch (const json::exception &e) {
            ctx.fail(std::string("/graph is malformed: ") + e.what());
        } catch (const Error &e) {
            const std::string msg = e.what();
            if (msg.rfind(q(ctx.file), 0) == 0)
                throw;
            ctx.fail("/graph is malformed: " + msg);
        }
    }
    if (linkExists(file, "initializers")) {
        Handle inits(ctx.check(H5Gopen2(file, "initializers", H5P_DEFAULT), "cannot open /initializers"), H5Gclose);
        for (const std::string &key : childNames(ctx, inits.get(), "/initializers")) {
            std::string name;
            Tensor t = readTensor(ctx, inits.get(), key, &name);
            g.initializers[name] = std::move(t);
        }
    }
    if (linkExists(file, "metadata")) {
        Handle meta(ctx.check(H5Gopen2(file, "metadata", H5P_DEFAULT), "cannot open /metadata"), H5Gclose);
        H5O_info_t info;
        ctx.check(H5Oget_info(meta.get(), &info), "cannot read /metadata", 0);
        for (hsize_t i = 0; i < info.num_attrs; ++i) {
            Handle attr(ctx.check(H5Aopen_by_idx(meta.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT,
                                                 H5P_DEFAULT),
                                  "cannot read /metadata"),
                        H5Aclose);
            const ssize_t len = H5Aget_name(attr.get(), 0, nullptr);
            std::string key(size_t(len) + 1, '\0');
            H5Aget_name(attr.get(), key.size(), key.data());
            key.resize(size_t(len));
            model.metadata[key] = readString(ctx, attr.get(), true, "/metadata attribute " + q(key));
        }
    }
    if (linkExists(file, "analysis")) {
        Handle analysis(ctx.check(H5Gopen2(file, "analysis", H5P_DEFAULT), "cannot open /analysis"), H5Gclose);
        for (const std::string &key : childNames(ctx, analysis.get(), "/analysis")) {
            Handle ds(ctx.check(H5Dopen2(analysis.get(), key.c_str(), H5P_DEFAULT), "cannot open /analysis/" + key),
                      H5Dclose);
            const std::string name = hasAttr(ds.get(), "name") ? readStringAttr(ctx, ds.get(), "name") : unescapeName(key);
            model.analysis[name] = readString(ctx, ds.get(), false, "/analysis/" + key);
        }
    }
    g.ensureUniqueNodeNames();
    return model;
}

void quietErrors()
{
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

bool hasHdf5Signature(const std::string &bytes)
{
    static const char sig[] = "\x89HDF\r\n\x1a\n";
    // The superblock may sit at 0, 512, 1024, 2048, ... (a user block before it).
    for (size_t off = 0; off + 8 <= bytes.size(); off = off ? off * 2 : 512)
        if (std::memcmp(bytes.data() + off, sig, 8) == 0)
            return true;
    return false;
}

// A file the user gave (ctx.file), opened read-only after the checks that give a clear message.
Handle openFile(const Ctx &ctx)
{
    if (FILE *f = std::fopen(ctx.file.c_str(), "rb"))
        std::fclose(f);
    else
        ctx.fail(std::string("cannot open the file: ") + std::strerror(errno));
    if (H5Fis_hdf5(ctx.file.c_str()) <= 0)
        ctx.fail("not an HDF5 file (or the file is truncated or corrupt)");
    Handle file(H5Fopen(ctx.file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file.valid())
        ctx.fail("cannot open the HDF5 file (it may be truncated or corrupt)");
    return file;
}

// Bytes in memory as an HDF5 file. Flags 0: HDF5 copies the buffer, so the const_cast never leads to a write.
Handle openImage(const Ctx &ctx, const std::string &bytes)
{
    if (!hasHdf5Signature(bytes))
        ctx.fail("not an HDF5 file (or the file is truncated or corrupt)");
    Handle file(H5LTopen_file_image(const_cast<char *>(bytes.data()), bytes.size(), 0), H5Fclose);
    if (!file.valid())
        ctx.fail("cannot open the HDF5 image (it may be truncated or corrupt)");
    return file;
}

class H5Format : public ModelFormat {
public:
    int capabilities() const override { return Read | Write; }
    std::string name() const override { return "Compression Workbench HDF5"; }
    std::string nameFilter() const override { return "Compression Workbench models (*.h5 *.hdf5)"; }
    std::string extension() const override { return "h5"; }
    bool supportsFile(const std::string &path) const override
    {
        const std::string ext = fileExtension(path);
        if (ext == "h5" || ext == "hdf5")
            return true;
        std::lock_guard lock(hdf5Mutex());
        quietErrors();
        return H5Fis_hdf5(path.c_str()) > 0;
    }
    Model read(const std::string &path) const override
    {
        // libhdf5 1.10 can crash on a corrupt file: a helper process reads it first (core/base/rehearse.h).
        rehearseRead(RehearsalKind::ModelFile, path, q(path) + ": the HDF5 library crashed reading this file");
        std::lock_guard lock(hdf5Mutex());
        quietErrors();
        const Ctx ctx{path};
        return readModel(openFile(ctx).get(), ctx);
    }
    void write(const Model &model, const std::string &path) const override
    {
        std::lock_guard lock(hdf5Mutex());
        quietErrors();
        writeFile(path, [&](const Ctx &ctx, const Handle &file) { writeModelTo(ctx, file, model); });
    }
};

// ---- bundles (core/io/bundle.h) ---------------------------------------------------------------------------------

constexpr const char *kBundleModels = "models";
constexpr const char *kBundleBlobs = "blobs";

void writeBundleTo(const Ctx &ctx, const Handle &file, const BundleContents &contents)
{
    writeStringAttr(ctx, file.get(), "format", contents.format);
    writeIntAttr(ctx, file.get(), "format_version", contents.version);
    writeStringAttr(ctx, file.get(), "writer", std::string("compression-workbench ") + toolVersion());
    writeStringDataset(ctx, file.get(), "document", contents.document);
    Handle models = createGroup(ctx, file.get(), kBundleModels);
    for (const auto &[key, model] : contents.models) {
        Handle group = createGroup(ctx, models.get(), escapeName(key));
        writeStringAttr(ctx, group.get(), "name", key);
        writeModelTo(ctx, group, *model);
    }
    if (contents.blobs.empty())
        return;
    Handle blobs = createGroup(ctx, file.get(), kBundleBlobs);
    for (const auto &[key, bytes] : contents.blobs) {
        const hsize_t n = bytes->size();
        Handle space(ctx.check(H5Screate_simple(1, &n, nullptr), "cannot create the dataspace of blob " + q(key)),
                     H5Sclose);
        Handle ds(ctx.check(H5Dcreate2(blobs.get(), escapeName(key).c_str(), H5T_STD_U8LE, space.get(), H5P_DEFAULT,
                                       H5P_DEFAULT, H5P_DEFAULT),
                            "cannot create blob " + q(key)),
                  H5Dclose);
        writeStringAttr(ctx, ds.get(), "name", key);
        if (n > 0)
            ctx.check(H5Dwrite(ds.get(), H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes->data()),
                      "cannot write blob " + q(key), 0);
    }
}

Bundle readBundleFrom(hid_t file, const Ctx &ctx, const std::string &format, int64_t maxVersion)
{
    Bundle b;
    if (!hasAttr(file, "format"))
        ctx.fail("this HDF5 file has no root attribute 'format': it is not a " +
                 (format.empty() ? std::string("Compression Workbench file") : q(format)));
    b.format = readStringAttr(ctx, file, "format");
    if (!format.empty() && b.format != format)
        ctx.fail("this HDF5 file is a " + q(b.format) + ", not a " + q(format));
    b.version = hasAttr(file, "format_version") ? readIntAttr(ctx, file, "format_version") : 0;
    if (b.version < 1 || b.version > maxVersion)
        ctx.fail(b.format + " version " + std::to_string(b.version) + " is not supported (this build reads up to " +
                 "version " + std::to_string(maxVersion) + "; it may have been written by a newer release)");
    if (!linkExists(file, "document"))
        ctx.fail("the file has no /document");
    {
        Handle ds(ctx.check(H5Dopen2(file, "document", H5P_DEFAULT), "cannot open /document"), H5Dclose);
        b.document = readString(ctx, ds.get(), false, "/document");
    }
    if (linkExists(file, kBundleBlobs)) {
        Handle blobs(ctx.check(H5Gopen2(file, kBundleBlobs, H5P_DEFAULT), "cannot open /blobs"), H5Gclose);
        for (const std::string &key : childNames(ctx, blobs.get(), "/blobs")) {
            std::string name;
            const Tensor t = readTensor(ctx, blobs.get(), key, &name);
            if (t.dtype() != DType::UInt8 || t.rank() != 1)
                ctx.fail("blob " + q(name) + " is not an array of bytes");
            b.blobs[name].assign(static_cast<const char *>(t.rawData()), size_t(t.numel()));
        }
    }
    if (!linkExists(file, kBundleModels))
        return b;
    Handle models(ctx.check(H5Gopen2(file, kBundleModels, H5P_DEFAULT), "cannot open /models"), H5Gclose);
    for (const std::string &key : childNames(ctx, models.get(), "/models")) {
        Handle group(ctx.check(H5Gopen2(models.get(), key.c_str(), H5P_DEFAULT), "cannot open /models/" + key),
                     H5Gclose);
        const std::string name = hasAttr(group.get(), "name") ? readStringAttr(ctx, group.get(), "name")
                                                               : unescapeName(key);
        try {
            b.models[name] = readModel(group.get(), ctx);
        } catch (const Error &e) {
            const std::string msg = e.what(), prefix = q(ctx.file) + ": ";
            ctx.fail("model " + q(name) + ": " + (msg.rfind(prefix, 0) == 0 ? msg.substr(prefix.size()) : msg));
        }
    }
    return b;
}

} // namespace

std::unique_ptr<ModelFormat> createH5Format()
{
    return std::make_unique<H5Format>();
}

Model parseH5Bytes(const std::string &bytes, const std::string &sourceName)
{
    std::lock_guard lock(hdf5Mutex());
    quietErrors();
    const Ctx ctx{sourceName};
    return readModel(openImage(ctx, bytes).get(), ctx);
}

} // namespace cw

namespace cw {

void writeBundleFile(const BundleContents &contents, const std::string &path)
{
    std::lock_guard lock(hdf5Mutex());
    quietErrors();
    writeFile(path, [&](const Ctx &ctx, const Handle &file) { writeBundleTo(ctx, file, contents); });
}

Bundle parseBundleFile(const std::string &path, const std::string &format, int64_t maxVersion)
{
    std::lock_guard lock(hdf5Mutex());
    quietErrors();
    const Ctx ctx{path};
    return readBundleFrom(openFile(ctx).get(), ctx, format, maxVersion);
}

Bundle parseBundleBytes(const std::string &bytes, const std::string &sourceName, const std::string &format,
                        int64_t maxVersion)
{
    std::lock_guard lock(hdf5Mutex());
    quietErrors();
    const Ctx ctx{sourceName};
    return readBundleFrom(openImage(ctx, bytes).get(), ctx, format, maxVersion);
}

} // namespace cw
