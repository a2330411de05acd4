// Shared by the language-model tests (test_gguf, test_ggml_quants, test_lm, test_tokenizer, test_gui_lm): where the
// llama.cpp references are, llama.cpp's tokenizer test pairs, and GGUF headers written by hand (for files too large or too
// malformed for the writer).
#pragma once

#include <QFile>
#include <QMap>
#include <QString>

#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/io/gguf.h"
#include "tests/testutil.h"

namespace lmtestutil {

// The references fetched with the real models (tests/tools/fetch_models.py --paths): "llama.cpp-source",
// "llama.cpp-lib", "brown-corpus", and the ONNX models, by name. Empty with *error set when the fetch fails.
inline QMap<QString, QString> referencePaths(QString *error)
{
    QMap<QString, QString> paths;
    const QByteArray out = testutil::runProcess(
        testutil::python(), {testutil::sourcePath("tests/tools/fetch_models.py"), "--paths"}, error, 30 * 60 * 1000);
    if (!error->isEmpty())
        return paths;
    for (const QString &line : QString::fromLocal8Bit(out).split('\n', Qt::SkipEmptyParts)) {
        const QStringList kv = line.split('\t');
        if (kv.size() == 2)
            paths[kv[0]] = kv[1];
    }
    return paths;
}

struct VocabPair {
    std::string text;
    std::vector<int32_t> ids;
};

// llama.cpp's test pairs of a vocabulary file (VOCAB.inp / VOCAB.out, made by its tests/test-tokenizer-0):
// inputs separated by "\n__ggml_vocab_test__\n", one line of ids per input.
inline std::vector<VocabPair> readVocabPairs(const QString &vocab, QString *error)
{
    QFile inp(vocab + ".inp"), out(vocab + ".out");
    if (!inp.open(QIODevice::ReadOnly) || !out.open(QIODevice::ReadOnly)) {
        *error = "cannot read " + vocab + ".inp / .out";
        return {};
    }
    const std::string raw = inp.readAll().toStdString();
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> inputs;
    for (size_t pos = 0; pos < raw.size();) {
        const size_t next = raw.find(sep, pos);
        if (next == std::string::npos) {
            inputs.push_back(raw.substr(pos));
            break;
        }
        inputs.push_back(raw.substr(pos, next - pos));
        pos = next + sep.size();
    }
    const QList<QByteArray> lines = out.readAll().split('\n');
    std::vector<VocabPair> pairs;
    for (size_t i = 0; i < inputs.size(); ++i) {
        if (qsizetype(i) >= lines.size()) {
            *error = QString("%1.out has fewer lines than the %2 inputs").arg(vocab).arg(inputs.size());
            return {};
        }
        VocabPair p{inputs[i], {}};
        for (const QByteArray &id : lines[qsizetype(i)].simplified().split(' '))
            if (!id.isEmpty())
                p.ids.push_back(id.toInt());
        pairs.push_back(std::move(p));
    }
    return pairs;
}

// A GGUF v3 header by hand: metadata (key, type, value bytes as the format stores them) and tensor infos, data
// offsets laid out in order with 32-byte alignment; *dataBytes: the size of the data section it declares.
struct HandTensor {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type;
};
struct HandValue {
    std::string key;
    uint32_t type; // cw::gguf::ValueType
    std::string bytes;
};
inline HandValue handString(const std::string &key, const std::string &value)
{
    const uint64_t n = value.size();
    std::string bytes(reinterpret_cast<const char *>(&n), 8); // appended to, not `+ value`: GCC 12 warned falsely
    bytes += value;                                           // of an overflow (-Wstringop-overflow) there
    return {key, uint32_t(cw::gguf::ValueType::String), std::move(bytes)};
}
inline HandValue handUInt32(const std::string &key, uint32_t value)
{
    return {key, uint32_t(cw::gguf::ValueType::UInt32), std::string(reinterpret_cast<const char *>(&value), 4)};
}
inline std::string handHeader(const std::vector<HandValue> &kv, const std::vector<HandTensor> &ts, uint64_t *dataBytes)
{
    std::string b;
    auto put = [&](auto v) { b.append(reinterpret_cast<const char *>(&v), sizeof v); };
    auto str = [&](const std::string &s) {
        put(uint64_t(s.size()));
        b += s;
    };
    put(uint32_t(0x46554747));
    put(uint32_t(3));
    put(uint64_t(ts.size()));
    put(uint64_t(kv.size()));
    for (const HandValue &v : kv) {
        str(v.key);
        put(v.type);
        b += v.bytes;
    }
    uint64_t offset = 0;
    for (const HandTensor &t : ts) {
        str(t.name);
        put(uint32_t(t.ne.size()));
        uint64_t n = 1;
        for (uint64_t d : t.ne) {
            put(d);
            n *= d;
        }
        put(t.type);
        put(offset);
        const auto *tr = cw::ggml::typeTraits(t.type);
        const uint64_t bytes = tr ? n / uint64_t(tr->blockSize) * uint64_t(tr->blockBytes) : n * 4;
        offset += (bytes + 31) / 32 * 32;
    }
    b.resize((b.size() + 31) / 32 * 32, '\0');
    *dataBytes = offset;
    return b;
}

// The tensors of a llama-2-7B checkpoint (F16 matrices, F32 norms: 6.74 G parameters, 13.5 GB).
inline std::vector<HandTensor> llama7bTensors()
{
    const uint64_t dim = 4096, ff = 11008, vocab = 32000;
    std::vector<HandTensor> ts{{"token_embd.weight", {dim, vocab}, cw::ggml::F16},
                               {"output_norm.weight", {dim}, cw::ggml::F32},
                               {"output.weight", {dim, vocab}, cw::ggml::F16}};
    for (int b = 0; b < 32; ++b) {
        const std::string p = "blk." + std::to_string(b) + ".";
        for (const char *n : {"attn_q", "attn_k", "attn_v", "attn_output"})
            ts.push_back({p + n + ".weight", {dim, dim}, cw::ggml::F16});
        ts.push_back({p + "ffn_gate.weight", {dim, ff}, cw::ggml::F16});
        ts.push_back({p + "ffn_up.weight", {dim, ff}, cw::ggml::F16});
        ts.push_back({p + "ffn_down.weight", {ff, dim}, cw::ggml::F16});
        ts.push_back({p + "attn_norm.weight", {dim}, cw::ggml::F32});
        ts.push_back({p + "ffn_norm.weight", {dim}, cw::ggml::F32});
    }
    return ts;
}

// Writes header + a hole of dataBytes (a sparse file: no blocks on disk). False when it cannot.
inline bool writeSparse(const QString &path, const std::string &header, uint64_t dataBytes)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(header.data(), qint64(header.size())) == qint64(header.size()) &&
           f.resize(qint64(header.size() + dataBytes));
}

// A small random-weight language model (llama, qwen2 or gpt2 layout) for the tests that run one.
struct Spec {
    std::string arch = "llama";
    std::string vocabFile = "ggml-vocab-llama-spm.gguf";
    int64_t dim = 64, layers = 2, heads = 4, kvHeads = 2, ffn = 96, ctx = 256;
    int64_t headDim = 0; // llama family: values per head, written as attention.key_length (0: dim / heads)
    bool biases = false;
    uint32_t type = cw::ggml::F32;
};

// Writes a random-weight checkpoint of `spec` with the vocabulary of llama.cpp's test file; returns the
// weights by llama.cpp name (row-major [out, in]).
inline std::map<std::string, cw::Tensor> writeRandomLm(const Spec &s, const std::string &vocabPath, const std::string &out)
{
    const cw::gguf::File vocab = cw::gguf::File::open(vocabPath);
    std::vector<cw::gguf::WriteValue> kv;
    const std::string a = s.arch + ".";
    kv.push_back({"general.architecture", cw::gguf::makeString(s.arch)});
    kv.push_back({"general.name", cw::gguf::makeString("random " + s.arch)});
    kv.push_back({a + "context_length", cw::gguf::makeUInt32(uint32_t(s.ctx))});
    kv.push_back({a + "embedding_length", cw::gguf::makeUInt32(uint32_t(s.dim))});
    kv.push_back({a + "block_count", cw::gguf::makeUInt32(uint32_t(s.layers))});
    kv.push_back({a + "feed_forward_length", cw::gguf::makeUInt32(uint32_t(s.ffn))});
    kv.push_back({a + "attention.head_count", cw::gguf::makeUInt32(uint32_t(s.heads))});
    if (s.arch == "gpt2") {
        kv.push_back({a + "attention.layer_norm_epsilon", cw::gguf::makeFloat32(1e-5f)});
    } else {
        kv.push_back({a + "attention.head_count_kv", cw::gguf::makeUInt32(uint32_t(s.kvHeads))});
        kv.push_back({a + "attention.layer_norm_rms_epsilon", cw::gguf::makeFloat32(1e-6f)});
        kv.push_back({a + "rope.freq_base", cw::gguf::makeFloat32(10000.f)});
        if (s.headDim)
            for (const char *key : {"attention.key_length", "attention.value_length"})
                kv.push_back({a + key, cw::gguf::makeUInt32(uint32_t(s.headDim))});
    }
    for (const auto &[key, value] : vocab.metadata())
        if (key.rfind("tokenizer.", 0) == 0)
            kv.push_back({key, value});
    const int64_t nVocab = int64_t(vocab.require("tokenizer.ggml.tokens").strings.size());
    std::map<std::string, cw::Tensor> w;
    unsigned seed = 1;
    auto matrix = [&](const std::string &name, int64_t rows, int64_t cols) {
        const float a = std::sqrt(3.f / float(cols));
        w[name] = testutil::randomTensor({rows, cols}, seed++, -a, a);
    };
    auto vec = [&](const std::string &name, int64_t n, float lo, float hi) {
        w[name] = testutil::randomTensor({n}, seed++, lo, hi);
    };
    w["token_embd.weight"] = testutil::randomTensor({nVocab, s.dim}, seed++, -1.f, 1.f);
    const int64_t hd = s.headDim ? s.headDim : s.dim / s.heads;
    if (s.arch == "gpt2")
        w["position_embd.weight"] = testutil::randomTensor({s.ctx, s.dim}, seed++, -0.5f, 0.5f);
    for (int64_t b = 0; b < s.layers; ++b) {
        const std::string p = "blk." + std::to_string(b) + ".";
        vec(p + "attn_norm.weight", s.dim, 0.5f, 1.5f);
        vec(p + "ffn_norm.weight", s.dim, 0.5f, 1.5f);
        matrix(p + "attn_output.weight", s.dim, s.heads * hd);
        matrix(p + "ffn_up.weight", s.ffn, s.dim);
        matrix(p + "ffn_down.weight", s.dim, s.ffn);
        if (s.arch == "gpt2") {
            vec(p + "attn_norm.bias", s.dim, -0.1f, 0.1f);
            vec(p + "ffn_norm.bias", s.dim, -0.1f, 0.1f);
            matrix(p + "attn_qkv.weight", 3 * s.dim, s.dim);
            vec(p + "attn_qkv.bias", 3 * s.dim, -0.1f, 0.1f);
            vec(p + "attn_output.bias", s.dim, -0.1f, 0.1f);
            vec(p + "ffn_up.bias", s.ffn, -0.1f, 0.1f);
            vec(p + "ffn_down.bias", s.dim, -0.1f, 0.1f);
        } else {
            matrix(p + "attn_q.weight", s.heads * hd, s.dim);
            matrix(p + "attn_k.weight", s.kvHeads * hd, s.dim);
            matrix(p + "attn_v.weight", s.kvHeads * hd, s.dim);
            matrix(p + "ffn_gate.weight", s.ffn, s.dim);
            if (s.biases) {
                vec(p + "attn_q.bias", s.heads * hd, -0.5f, 0.5f);
                vec(p + "attn_k.bias", s.kvHeads * hd, -0.5f, 0.5f);
                vec(p + "attn_v.bias", s.kvHeads * hd, -0.5f, 0.5f);
            }
        }
    }
    vec("output_norm.weight", s.dim, 0.5f, 1.5f);
    if (s.arch == "gpt2")
        vec("output_norm.bias", s.dim, -0.1f, 0.1f);
    matrix("output.weight", nVocab, s.dim);
    std::vector<cw::gguf::WriteTensor> ts;
    for (const auto &[name, t] : w)
        ts.push_back({name, t, t.shape().size() == 2 ? s.type : uint32_t(cw::ggml::F32)});
    cw::gguf::write(out, kv, ts);
    return w;
}

} // namespace lmtestutil
