#include "core/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/base/atomic_file.h"
#include "core/base/error.h"
#include "core/base/json_number.h"

namespace cw::safetensors {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uint64_t kMaxHeader = 100u << 20; // the format's own limit

int dtypeBytes(const std::string &d)
{
    static const std::map<std::string, int> sizes = {
        {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1},
        {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}};
    const auto it = sizes.find(d);
    return it == sizes.end() ? 0 : it->second;
}

json readJsonFile(const std::string &path)
{
    std::ifstream in(path);
    if (!in)
        throw Error("cannot open '" + path + "'");
    try {
        return json::parse(in);
    } catch (const json::exception &e) {
        throw Error("'" + path + "' is not valid JSON: " + e.what());
    }
}

} // namespace

void Checkpoint::addFile(const std::string &path)
{
    const int index = int(m_files.size());
    MappedFile f(path);
    auto fail = [&](const std::string &what) { return Error("'" + path + "': " + what); };
    if (f.size() < 8)
        throw fail("not a safetensors file (shorter than its 8-byte header length)");
    uint64_t n;
    std::memcpy(&n, f.data(), 8);
    if (n > kMaxHeader || !f.contains(8, n))
        throw fail("declares a header of " + std::to_string(n) + " bytes, beyond " +
                   (n > kMaxHeader ? std::string("the format's 100 MB limit") : "the end of the file"));
    json header;
    try {
        header = json::parse(reinterpret_cast<const char *>(f.data()) + 8,
                             reinterpret_cast<const char *>(f.data()) + 8 + n);
    } catch (const json::exception &e) {
        throw fail(std::string("its header is not valid JSON: ") + e.what());
    }
    if (!header.is_object())
        throw fail("its header is not a JSON object");
    const uint64_t dataStart = 8 + n;
    const uint64_t dataBytes = f.size() - dataStart;
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == "__metadata__") {
            if (index == 0 && it->is_object())
                for (auto m = it->begin(); m != it->end(); ++m)
                    if (m->is_string())
                        m_metadata[m.key()] = m->get<std::string>();
            continue;
        }
        const json &e = *it;
        TensorInfo t;
        t.name = it.key();
        t.file = index;
        try {
            t.dtype = e.at("dtype").get<std::string>();
            for (const json &d : e.at("shape")) {
                const int64_t v = integerFromJson(d);
                if (v < 0)
                    throw fail("tensor '" + t.name + "' has a negative dimension");
                t.shape.push_back(v);
            }
            const json &off = e.at("data_offsets");
            if (!off.is_array() || off.size() != 2)
                throw fail("tensor '" + t.name + "': data_offsets is not a pair");
            const uint64_t b = integerFromJson<uint64_t>(off[0]), end = integerFromJson<uint64_t>(off[1]);
            if (end < b || end > dataBytes)
                throw fail("tensor '" + t.name + "' (bytes " + std::to_string(b) + " to " + std::to_string(end) +
                           " of the data, which starts at byte " + std::to_string(dataStart) +
                           ") lies beyond the end of the file (" + std::to_string(f.size()) +
                           " bytes): the file is truncated or corrupt");
            t.offset = dataStart + b;
            t.bytes = end - b;
            ranges.emplace_back(b, end);
        } catch (const json::exception &x) {
            throw fail("tensor '" + t.name + "': " + x.what());
        }
        const int size = dtypeBytes(t.dtype);
        if (!size)
            throw fail("tensor '" + t.name + "' has unknown dtype '" + t.dtype + "'");
        try {
            t.numel = shapeNumel(t.shape);
        } catch (const Error &) {
            throw fail("tensor '" + t.name + "': its element count overflows");
        }
        if (uint64_t(t.numel) > t.bytes / uint64_t(size) || uint64_t(t.numel) * uint64_t(size) != t.bytes)
            throw fail("tensor '" + t.name + "' of " + t.dtype + " shape holds " + std::to_string(t.numel) +
                       " values but " + std::to_string(t.bytes) + " bytes");
        if (m_byName.count(t.name))
            throw fail("tensor '" + t.name + "' appears in two shards");
        m_byName[t.name] = m_tensors.size();
        m_tensors.push_back(std::move(t));
    }
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i)
        if (ranges[i].first < ranges[i - 1].second)
            throw fail("two tensors overlap at byte " + std::to_string(dataStart + ranges[i].first));
    m_files.push_back(std::move(f));
}

Checkpoint Checkpoint::open(const std::string &path)
{
    Checkpoint c;
    fs::path p(path);
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
        if (fs::exists(p / "model.safetensors.index.json"))
            p /= "model.safetensors.index.json";
        else if (fs::exists(p / "model.safetensors"))
            p /= "model.safetensors";
        else
            throw Error("'" + path + "' holds neither model.safetensors nor model.safetensors.index.json");
    }
    c.m_folder = p.parent_path().string();
    if (p.extension() == ".json") {
        const json index = readJsonFile(p.string());
        if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
            throw Error("'" + p.string() + "' has no \"weight_map\" object");
        std::vector<std::string> shards;
        std::map<std::string, std::string> expected;
        for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
            if (!it->is_string())
                throw Error("'" + p.string() + "': weight_map['" + it.key() + "'] is not a file name");
            const std::string shard = it->get<std::string>();
            if (shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
                throw Error("'" + p.string() + "': shard '" + shard + "' is not a file beside the index");
            if (std::find(shards.begin(), shards.end(), shard) == shards.end())
                shards.push_back(shard);
            expected[it.key()] = shard;
        }
        for (const std::string &s : shards)
            c.addFile((p.parent_path() / s).string());
        for (const auto &[name, shard] : expected) {
            const TensorInfo *t = c.tensor(name);
            if (!t)
                throw Error("'" + p.string() + "' lists tensor '" + name + "' in " + shard + ", which does not hold it");
            if (fs::path(c.m_files[size_t(t->file)].path()).filename() != shard)
                throw Error("'" + p.string() + "' lists tensor '" + name + "' in " + shard + ", but it is in " +
                            fs::path(c.m_files[size_t(t->file)].path()).filename().string());
        }
    } else {
        c.addFile(p.string());
    }
    return c;
}

const TensorInfo *Checkpoint::tensor(const std::string &name) const
{
    const auto it = m_byName.find(name);
    return it == m_byName.end() ? nullptr : &m_tensors[it->second];
}

void Checkpoint::readRows(const TensorInfo &t, int64_t row0, int64_t count, float *dst) const
{
    const int64_t row = t.shape.empty() ? 1 : t.shape.back();
    const int64_t rows = row ? t.numel / row : 0;
    if (row0 < 0 || count < 0 || row0 > rows || count > rows - row0)
        throw Error("rows " + std::to_string(row0) + "+" + std::to_string(count) + " of tensor '" + t.name + "'");
    const uint8_t *src = m_files[size_t(t.file)].data() + t.offset;
    const int64_t n = count * row;
    if (t.dtype == "F32")
        std::memcpy(dst, src + row0 * row * 4, size_t(n) * 4);
    else if (t.dtype == "F16")
        float16ToFloat(reinterpret_cast<const uint16_t *>(src) + row0 * row, dst, n);
    else if (t.dtype == "BF16")
        bfloat16ToFloat(reinterpret_cast<const uint16_t *>(src) + row0 * row, dst, n);
    else
        throw Error("tensor '" + t.name + "' has dtype " + t.dtype + "; the workbench reads F32, F16 and BF16 weights");
}

Tensor Checkpoint::toFloat(const TensorInfo &t) const
{
    Tensor out = Tensor::uninitialized(DType::Float32, t.shape);
    const int64_t row = t.shape.empty() ? 1 : t.shape.back();
    readRows(t, 0, row ? t.numel / row : 0, out.data<float>());
    return out;
}

void write(const std::string &path, const std::vector<std::pair<std::string, Tensor>> &tensors, bool asF16,
           const std::map<std::string, std::string> &metadata)
{
    json header = json::object();
    if (!metadata.empty())
        header["__metadata__"] = metadata;
    uint64_t offset = 0;
    for (const auto &[name, t] : tensors) {
        if (t.dtype() != DType::Float32)
            throw Error("tensor '" + name + "' to write is not float32");
        const uint64_t bytes = uint64_t(t.numel()) * (asF16 ? 2 : 4);
        header[name] = {{"dtype", asF16 ? "F16" : "F32"}, {"shape", t.shape()}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump();
    text.resize((text.size() + 7) / 8 * 8, ' ');
    AtomicFile out(path);
    const uint64_t n = text.size();
    out.write(&n, 8);
    out.write(text);
    std::vector<uint16_t> half;
    for (const auto &[name, t] : tensors) {
        if (asF16) {
            half.resize(size_t(t.numel()));
            floatToFloat16(t.data<float>(), half.data(), t.numel());
            out.write(half.data(), half.size() * 2);
        } else {
            out.write(t.data<float>(), size_t(t.numel()) * 4);
        }
    }
    out.commit();
}

} // namespace cw::safetensors
