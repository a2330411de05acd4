#include "core/lm/gpt_train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <regex>

#include "core/base/error.h"
#include "core/base/parallel.h"
#include "core/lm/corpus.h"
#include "core/lm/model.h"
#include "core/lm/perplexity.h"
#include "core/lm/tokenizer.h"
#include "core/runtime/kernels.h"
#include "core/runtime/ops/common.h"
#include "core/train/train.h"

namespace cw::lm {

namespace gpt {

void layerNormForward(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd, int64_t n,
                      int64_t d, float eps)
{
    for (int64_t i = 0; i < n; ++i) {
        const float *xi = x + i * d;
        double m = 0;
        for (int64_t j = 0; j < d; ++j)
            m += xi[j];
        m /= double(d);
        double v = 0;
        for (int64_t j = 0; j < d; ++j)
            v += (xi[j] - m) * (xi[j] - m);
        const float s = float(1.0 / std::sqrt(v / double(d) + double(eps)));
        for (int64_t j = 0; j < d; ++j)
            y[i * d + j] = (xi[j] - float(m)) * s * w[j] + b[j];
        mean[i] = float(m);
        rstd[i] = s;
    }
}

void layerNormBackward(const float *dy, const float *x, const float *w, const float *mean, const float *rstd,
                       float *dx, float *dw, float *db, int64_t n, int64_t d)
{
    for (int64_t i = 0; i < n; ++i) {
        const float *dyi = dy + i * d, *xi = x + i * d;
        double dnormMean = 0, dnormNormMean = 0;
        for (int64_t j = 0; j < d; ++j) {
            const float norm = (xi[j] - mean[i]) * rstd[i];
            const float dnorm = w[j] * dyi[j];
            dnormMean += dnorm;
            dnormNormMean += double(dnorm) * norm;
        }
        dnormMean /= double(d);
        dnormNormMean /= double(d);
        for (int64_t j = 0; j < d; ++j) {
            const float norm = (xi[j] - mean[i]) * rstd[i];
            const float dnorm = w[j] * dyi[j];
            dw[j] += norm * dyi[j];
            db[j] += dyi[j];
            dx[i * d + j] += (dnorm - float(dnormMean) - norm * float(dnormNormMean)) * rstd[i];
        }
    }
}

void linearForward(const float *x, const float *w, const float *b, float *y, int64_t n, int64_t in, int64_t out)
{
    gemm(false, true, n, out, in, 1.f, x, in, w, in, 0.f, y, out);
    if (b)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < out; ++j)
                y[i * out + j] += b[j];
}

void linearBackward(const float *dy, const float *x, const float *w, float *dx, float *dw, float *db, int64_t n,
                    int64_t in, int64_t out)
{
    if (dx) // dx[n, in] += dy[n, out] W[out, in]
        gemm(false, false, n, in, out, 1.f, dy, out, w, in, 1.f, dx, in);
    if (dw) // dW[out, in] += dy^T[out, n] x[n, in]
        gemm(true, false, out, in, n, 1.f, dy, out, x, in, 1.f, dw, in);
    if (db)
        for (int64_t i = 0; i < n; ++i)
            for (int64_t j = 0; j < out; ++j)
                db[j] += dy[i * out + j];
}

// One (sequence, head) pair's rows: Q, K and V are [T, hd] slices of qkv (row stride 3A), its attention is [T, T]
// and its output [T, hd] (row stride A). Each pair is three or five matrix products over the whole square; the
// causal mask is the softmax giving the later keys weight 0, which also zeroes their gradients.
void attentionForward(const float *qkv, float *out, float *att, int64_t B, int64_t T, int64_t A, int64_t H, int threads)
{
    const int64_t hd = A / H;
    const float scale = 1.f / std::sqrt(float(hd));
    parallelFor(threads, B * H, [&](int64_t bh) {
        ops::GemmThreads single(1);
        const int64_t b = bh / H, h = bh % H;
        const float *q = qkv + b * T * 3 * A + h * hd, *k = q + A, *v = q + 2 * A;
        float *a = att + bh * T * T;
        gemm(false, true, T, T, hd, scale, q, 3 * A, k, 3 * A, 0.f, a, T);
        for (int64_t t = 0; t < T; ++t) {
            float *row = a + t * T;
            const float mx = *std::max_element(row, row + t + 1);
            float sum = 0;
            for (int64_t u = 0; u <= t; ++u) {
                row[u] = std::exp(row[u] - mx);
                sum += row[u];
            }
            const float inv = 1.f / sum;
            for (int64_t u = 0; u <= t; ++u)
                row[u] *= inv;
            std::fill(row + t + 1, row + T, 0.f);
        }
        gemm(false, false, T, hd, T, 1.f, a, T, v, 3 * A, 0.f, out + b * T * A + h * hd, A);
    });
}

void attentionBackward(const float *dout, const float *qkv, const float *att, float *dqkv, int64_t B, int64_t T,
                       int64_t A, int64_t H, int threads)
{
    const int64_t hd = A / H;
    const float scale = 1.f / std::sqrt(float(hd));
    // Each (b, h) adds only to its own head's slices of dqkv.
    parallelFor(threads, B * H, [&](int64_t bh) {
        ops::GemmThreads single(1);
        const int64_t b = bh / H, h = bh % H;
        const float *q = qkv + b * T * 3 * A + h * hd, *k = q + A, *v = q + 2 * A;
        float *dq = dqkv + b * T * 3 * A + h * hd, *dk = dq + A, *dv = dq + 2 * A;
        const float *a = att + bh * T * T, *dO = dout + b * T * A + h * hd;
        // out = a v: d(a) = dout v^T, dv += a^T dout.
        std::vector<float> da(size_t(T * T));
        gemm(false, true, T, T, hd, 1.f, dO, A, v, 3 * A, 0.f, da.data(), T);
        gemm(true, false, T, hd, T, 1.f, a, T, dO, A, 1.f, dv, 3 * A);
        // Through the softmax to the scaled scores (in place): a (da - sum_u a da) scale.
        for (int64_t t = 0; t < T; ++t) {
            const float *ar = a + t * T;
            float *dr = da.data() + t * T;
            float dot = 0;
            for (int64_t u = 0; u <= t; ++u)
                dot += ar[u] * dr[u];
            for (int64_t u = 0; u < T; ++u)
                dr[u] = ar[u] * (dr[u] - dot) * scale;
        }
        // scores = q k^T: dq += d(scores) k, dk += d(scores)^T q.
        gemm(false, false, T, hd, T, 1.f, da.data(), T, k, 3 * A, 1.f, dq, 3 * A);
        gemm(true, false, T, hd, T, 1.f, da.data(), T, q, 3 * A, 1.f, dk, 3 * A);
    });
}

namespace {
constexpr float kGeluS = 0.7978845608028654f; // sqrt(2 / pi)
}

void geluForward(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        y[i] = 0.5f * v * (1.f + std::tanh(kGeluS * (v + 0.044715f * v * v * v)));
    }
}

void geluBackward(const float *dy, const float *x, float *dx, int64_t n)
{
    for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const float u = kGeluS * (v + 0.044715f * v * v * v);
        const float th = std::tanh(u);
        const float sech2 = 1.f - th * th;
        dx[i] += dy[i] * (0.5f * (1.f + th) + 0.5f * v * sech2 * kGeluS * (1.f + 3.f * 0.044715f * v * v));
    }
}

void rmsNormForward(const float *x, const float *w, float *y, float *rstd, int64_t n, int64_t d, float eps)
{
    for (int64_t i = 0; i < n; ++i) {
        const float *xi = x + i * d;
        double ss = 0;
        for (int64_t j = 0; j < d; ++j)
            ss += double(xi[j]) * xi[j];
        const float s = 1.f / std::sqrt(float(ss / double(d)) + eps);
        for (int64_t j = 0; j < d; ++j)
            y[i * d + j] = xi[j] * s * w[j];
        rstd[i] = s;
    }
}

// y = x r w with r = (mean(x^2) + eps)^-1/2, dr/dx_k = -r^3 x_k / d: dx = r (w dy - x r^2 mean(w dy x)).
void rmsNormBackward(const float *dy, const float *x, const float *w, const float *rstd, float *dx, float *dw, int64_t n,
                     int64_t d)
{
    for (int64_t i = 0; i < n; ++i) {
        const float *dyi = dy + i * d, *xi = x + i * d;
        const float r = rstd[i];
        double dot = 0;
        for (int64_t j = 0; j < d; ++j)
            dot += double(w[j] * dyi[j]) * xi[j];
        const float c = float(dot / double(d)) * r * r;
        for (int64_t j = 0; j < d; ++j) {
            dw[j] += dyi[j] * xi[j] * r;
            dx[i * d + j] += r * (w[j] * dyi[j] - xi[j] * c);
        }
    }
}

void rotary(float *x, int64_t B, int64_t T, int64_t heads, int64_t hd, double theta, bool halves, bool inverse)
{
    const int64_t half = hd / 2;
    std::vector<float> cs(size_t(T * half)), sn(size_t(T * half));
    for (int64_t i = 0; i < half; ++i) {
        const double freq = std::pow(theta, -2.0 * double(i) / double(hd));
        for (int64_t t = 0; t < T; ++t) {
            cs[size_t(t * half + i)] = float(std::cos(double(t) * freq));
            sn[size_t(t * half + i)] = float(std::sin(double(t) * freq)) * (inverse ? -1.f : 1.f);
        }
    }
    for (int64_t r = 0; r < B * T; ++r) {
        const float *c = &cs[size_t(r % T * half)], *s = &sn[size_t(r % T * half)];
        for (int64_t h = 0; h < heads; ++h) {
            float *v = x + (r * heads + h) * hd;
            for (int64_t i = 0; i < half; ++i) {
                float *x0 = halves ? v + i : v + 2 * i, *x1 = halves ? v + i + half : v + 2 * i + 1;
                const float a0 = *x0, a1 = *x1;
                *x0 = a0 * c[i] - a1 * s[i];
                *x1 = a0 * s[i] + a1 * c[i];
            }
        }
    }
}

void swigluForward(const float *gate, const float *up, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        y[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
}

// silu(g) = g s(g), silu'(g) = s(g) (1 + g (1 - s(g))).
void swigluBackward(const float *dy, const float *gate, const float *up, float *dgate, float *dup, int64_t n)
{
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i], s = 1.f / (1.f + std::exp(-g));
        dup[i] += dy[i] * g * s;
        dgate[i] += dy[i] * up[i] * s * (1.f + g * (1.f - s));
    }
}

void embedForward(const int32_t *tokens, const float *wte, const float *wpe, float *x, int64_t B, int64_t T, int64_t D)
{
    for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t) {
            const float *e = wte + int64_t(tokens[b * T + t]) * D, *p = wpe ? wpe + t * D : nullptr;
            float *o = x + (b * T + t) * D;
            for (int64_t j = 0; j < D; ++j)
                o[j] = p ? e[j] + p[j] : e[j];
        }
}

void embedBackward(const float *dx, const int32_t *tokens, float *dwte, float *dwpe, int64_t B, int64_t T, int64_t D)
{
    for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t) {
            const float *g = dx + (b * T + t) * D;
            float *e = dwte + int64_t(tokens[b * T + t]) * D;
            for (int64_t j = 0; j < D; ++j)
                e[j] += g[j];
            if (dwpe)
                for (int64_t j = 0; j < D; ++j)
                    dwpe[t * D + j] += g[j];
        }
}

} // namespace gpt

namespace {

std::string blk(int64_t l, const char *role) { return "blk." + std::to_string(l) + "." + role; }

constexpr int64_t kUnboundedContext = int64_t(1) << 30; // a llama-family checkpoint that names no context

// The llama family's optional biases (besides qwen2's Q / K / V ones) that llama.cpp and the runner add when a
// checkpoint has them: "blk.N.attn_output.bias" and "blk.N.ffn_down.bias" ([dim]), "blk.N.ffn_up.bias" ([ffn]).
bool optionalLlamaBias(const std::string &name, const GptShape &s, const Shape &shape)
{
    static const std::regex re(R"(blk\.\d+\.(attn_output|ffn_up|ffn_down)\.bias)");
    std::smatch m;
    if (s.arch != Arch::Llama || !std::regex_match(name, m, re))
        return false;
    return shape == Shape{m[1] == "ffn_up" ? s.ffn : s.dim};
}

// How a parameter starts: N(0, stddev) (stddev > 0), all ones (norm weights) or zeros (biases).
struct ParameterSpec {
    std::string name;
    Shape shape;
    float stddev = 0;
    bool ones = false;
};

// Every parameter of a GPT of shape `s`, in the order the initialisation draws them.
std::vector<ParameterSpec> parameterSpecs(const GptShape &s)
{
    const int64_t hd = s.headDimension(), A = s.heads * hd; // the attention's width
    if (s.vocab < 2 || s.ctx < 2 || s.dim < 1 || s.layers < 1 || s.heads < 1 || hd < 1 || s.ffn < 1 ||
        (s.headDim <= 0 && s.dim % s.heads) || s.kvHeadCount() < 1 || s.heads % s.kvHeadCount() ||
        (s.arch == Arch::Llama && hd % 2) || (s.arch == Arch::Gpt2 && A != s.dim))
        throw Error("an inconsistent GPT shape");
    const float residual = 0.02f / std::sqrt(2.f * float(s.layers));
    std::vector<ParameterSpec> p{{"token_embd.weight", {s.vocab, s.dim}, 0.02f}};
    if (s.arch == Arch::Llama) {
        const int64_t kv = s.kvHeadCount() * hd;
        for (int64_t l = 0; l < s.layers; ++l) {
            p.push_back({blk(l, "attn_norm.weight"), {s.dim}, 0, true});
            p.push_back({blk(l, "attn_q.weight"), {A, s.dim}, 0.02f});
            p.push_back({blk(l, "attn_k.weight"), {kv, s.dim}, 0.02f});
            p.push_back({blk(l, "attn_v.weight"), {kv, s.dim}, 0.02f});
            if (s.qkvBias) {
                p.push_back({blk(l, "attn_q.bias"), {A}});
                p.push_back({blk(l, "attn_k.bias"), {kv}});
                p.push_back({blk(l, "attn_v.bias"), {kv}});
            }
            p.push_back({blk(l, "attn_output.weight"), {s.dim, A}, residual});
            p.push_back({blk(l, "ffn_norm.weight"), {s.dim}, 0, true});
            p.push_back({blk(l, "ffn_gate.weight"), {s.ffn, s.dim}, 0.02f});
            p.push_back({blk(l, "ffn_up.weight"), {s.ffn, s.dim}, 0.02f});
            p.push_back({blk(l, "ffn_down.weight"), {s.dim, s.ffn}, residual});
        }
        p.push_back({"output_norm.weight", {s.dim}, 0, true});
        return p;
    }
    p.push_back({"position_embd.weight", {s.ctx, s.dim}, 0.01f});
    for (int64_t l = 0; l < s.layers; ++l) {
        p.push_back({blk(l, "attn_norm.weight"), {s.dim}, 0, true});
        p.push_back({blk(l, "attn_norm.bias"), {s.dim}});
        p.push_back({blk(l, "attn_qkv.weight"), {3 * s.dim, s.dim}, 0.02f});
        p.push_back({blk(l, "attn_qkv.bias"), {3 * s.dim}});
        p.push_back({blk(l, "attn_output.weight"), {s.dim, s.dim}, residual});
        p.push_back({blk(l, "attn_output.bias"), {s.dim}});
        p.push_back({blk(l, "ffn_norm.weight"), {s.dim}, 0, true});
        p.push_back({blk(l, "ffn_norm.bias"), {s.dim}});
        p.push_back({blk(l, "ffn_up.weight"), {s.ffn, s.dim}, 0.02f});
        p.push_back({blk(l, "ffn_up.bias"), {s.ffn}});
        p.push_back({blk(l, "ffn_down.weight"), {s.dim, s.ffn}, residual});
        p.push_back({blk(l, "ffn_down.bias"), {s.dim}});
    }
    p.push_back({"output_norm.weight", {s.dim}, 0, true});
    p.push_back({"output_norm.bias", {s.dim}});
    return p;
}

} // namespace

Gpt::Gpt(const GptShape &s, uint64_t seed) : m_shape(s)
{
    std::mt19937_64 rng(seed);
    for (const ParameterSpec &p : parameterSpecs(s)) {
        Tensor t(DType::Float32, p.shape);
        float *v = t.data<float>();
        if (p.stddev > 0) {
            std::normal_distribution<float> dist(0.f, p.stddev);
            for (int64_t i = 0; i < t.numel(); ++i)
                v[i] = dist(rng);
        } else if (p.ones) {
            std::fill(v, v + t.numel(), 1.f);
        }
        m_params[p.name] = std::move(t);
    }
}

int64_t Gpt::parameterCount() const
{
    int64_t n = 0;
    for (const auto &[name, t] : m_params)
        n += t.numel();
    return n;
}

Gpt Gpt::fromModel(const LanguageModel &model)
{
    const Config &c = model.config();
    if (!model.loaded())
        throw Error("the language model's weights are not loaded");
    Gpt g;
    GptShape &s = g.m_shape;
    s = {c.vocab, c.contextLength, c.dim, c.layers, c.heads, c.ffn};
    s.arch = c.arch;
    s.normEps = float(c.normEps);
    if (c.arch == Arch::Llama) {
        if (s.ctx <= 0) // rotary positions: no learned limit
            s.ctx = kUnboundedContext;
        s.kvHeads = c.kvHeads;
        s.headDim = c.headDim;
        s.ropeHalves = c.ropeHalves;
        s.ropeTheta = c.ropeTheta;
        for (const LanguageModel::TensorEntry &e : model.tensors())
            s.qkvBias = s.qkvBias || model.llamaName(e.name) == "blk.0.attn_q.bias";
    }
    std::map<std::string, Shape> shapes; // the parameters' names and shapes
    for (ParameterSpec &p : parameterSpecs(g.m_shape))
        shapes[p.name] = std::move(p.shape);
    for (const LanguageModel::TensorEntry &e : model.tensors()) {
        const std::string role = model.llamaName(e.name);
        const Tensor *w = model.loadedWeight(e.name);
        if (!w)
            continue;
        if (!shapes.count(role) && role != "output.weight" && !optionalLlamaBias(role, s, w->shape()))
            throw Error("tensor '" + e.name + "' (" + role + "): training does not cover it");
        if (shapes.count(role) && w->shape() != shapes.at(role))
            throw Error("tensor '" + e.name + "' is " + shapeToString(w->shape()) + ", training needs " +
                        shapeToString(shapes.at(role)));
        g.m_params[role] = w->clone();
    }
    for (const auto &[name, shape] : shapes)
        if (!g.m_params.count(name))
            throw Error("'" + model.path() + "' has no " + name + " (training needs it)");
    return g;
}

Tensor Gpt::logits(const int32_t *tokens, int64_t B, int64_t T, int threads) const
{
    Tensor out;
    loss(tokens, B, T, nullptr, threads, [&](const Tensor &logits, const std::vector<int64_t> &, Tensor *) {
        out = logits;
        return 0.0;
    });
    return out;
}

double Gpt::loss(const int32_t *tokens, int64_t B, int64_t T, std::map<std::string, Tensor> *grads, int threads,
                 const LogitsLoss &logitsLoss) const
{
    const GptShape &s = m_shape;
    if (T < 1 || T > s.ctx)
        throw Error("sequences of " + std::to_string(T) + " tokens for a context of " + std::to_string(s.ctx));
    const bool llama = s.arch == Arch::Llama;
    const int64_t D = s.dim, F = s.ffn, V = s.vocab, L = s.layers, N = B * T, H = s.heads;
    const int64_t hd = s.headDimension(), A = H * hd, KVH = s.kvHeadCount(), KV = KVH * hd, group = H / KVH;
    threads = resolveThreads(threads);
    auto P = [&](const std::string &name) { return m_params.at(name).data<float>(); };
    auto optionalP = [&](const std::string &name) -> const float * {
        const auto it = m_params.find(name);
        return it == m_params.end() ? nullptr : it->second.data<float>();
    };
    // inputs and targets
    std::vector<int32_t> in(size_t(N), 0);
    std::vector<int64_t> target(static_cast<size_t>(N));
    for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t) {
            in[size_t(b * T + t)] = tokens[b * (T + 1) + t];
            target[size_t(b * T + t)] = tokens[b * (T + 1) + t + 1];
        }
    for (int32_t t : in)
        if (t < 0 || t >= V)
            throw Error("token id " + std::to_string(t) + " outside the vocabulary");

    // The normalisations of either architecture (GPT-2's with bias; mean is unused by RMSNorm).
    auto normForward = [&](const float *x, const std::string &w, float *y, float *mean, float *rstd) {
        if (llama)
            gpt::rmsNormForward(x, P(w + ".weight"), y, rstd, N, D, s.normEps);
        else
            gpt::layerNormForward(x, P(w + ".weight"), P(w + ".bias"), y, mean, rstd, N, D, s.normEps);
    };
    auto G = [&](const std::string &name) { return grads->at(name).data<float>(); };
    auto normBackward = [&](const float *dy, const float *x, const std::string &w, const float *mean, const float *rstd,
                            float *dx) {
        if (llama)
            gpt::rmsNormBackward(dy, x, P(w + ".weight"), rstd, dx, G(w + ".weight"), N, D);
        else
            gpt::layerNormBackward(dy, x, P(w + ".weight"), mean, rstd, dx, G(w + ".weight"), G(w + ".bias"), N, D);
    };

    // Forward, keeping what the backward needs. qkv: [N, 3A] for the attention (A = H * hd, GPT-2's D), the llama
    // family's keys and values repeated over their query heads' group, after the rotation.
    struct LayerActs {
        std::vector<float> xin, ln1, mean1, rstd1, qkv, att, attOut, x1, ln2, mean2, rstd2, fc, up, fcAct;
    };
    std::vector<LayerActs> acts(static_cast<size_t>(L));
    std::vector<float> x(static_cast<size_t>(N * D));
    gpt::embedForward(in.data(), P("token_embd.weight"), llama ? nullptr : P("position_embd.weight"), x.data(), B, T, D);
    std::vector<float> tmp(static_cast<size_t>(N * std::max(D, A))), k, v;
    for (int64_t l = 0; l < L; ++l) {
        LayerActs &a = acts[size_t(l)];
        a.xin = x;
        a.ln1.resize(size_t(N * D));
        a.mean1.resize(size_t(N));
        a.rstd1.resize(size_t(N));
        normForward(x.data(), blk(l, "attn_norm"), a.ln1.data(), a.mean1.data(), a.rstd1.data());
        a.qkv.resize(size_t(N * 3 * A));
        if (llama) {
            k.resize(size_t(N * KV));
            v.resize(size_t(N * KV));
            gpt::linearForward(a.ln1.data(), P(blk(l, "attn_q.weight")), optionalP(blk(l, "attn_q.bias")), tmp.data(), N,
                               D, A);
            gpt::linearForward(a.ln1.data(), P(blk(l, "attn_k.weight")), optionalP(blk(l, "attn_k.bias")), k.data(), N,
                               D, KV);
            gpt::linearForward(a.ln1.data(), P(blk(l, "attn_v.weight")), optionalP(blk(l, "attn_v.bias")), v.data(), N,
                               D, KV);
            gpt::rotary(tmp.data(), B, T, H, hd, s.ropeTheta, s.ropeHalves, false);
            gpt::rotary(k.data(), B, T, KVH, hd, s.ropeTheta, s.ropeHalves, false);
            for (int64_t i = 0; i < N; ++i) {
                float *r = &a.qkv[size_t(i * 3 * A)];
                std::copy_n(&tmp[size_t(i * A)], A, r);
                for (int64_t h = 0; h < H; ++h) {
                    std::copy_n(&k[size_t(i * KV + h / group * hd)], hd, r + A + h * hd);
                    std::copy_n(&v[size_t(i * KV + h / group * hd)], hd, r + 2 * A + h * hd);
                }
            }
        } else {
            gpt::linearForward(a.ln1.data(), P(blk(l, "attn_qkv.weight")), P(blk(l, "attn_qkv.bias")), a.qkv.data(), N,
                               D, 3 * D);
        }
        a.att.resize(size_t(B * H * T * T));
        a.attOut.resize(size_t(N * A));
        gpt::attentionForward(a.qkv.data(), a.attOut.data(), a.att.data(), B, T, A, H, threads);
        gpt::linearForward(a.attOut.data(), P(blk(l, "attn_output.weight")), optionalP(blk(l, "attn_output.bias")),
                           tmp.data(), N, A, D);
        for (int64_t i = 0; i < N * D; ++i)
            x[size_t(i)] += tmp[size_t(i)];
        a.x1 = x;
        a.ln2.resize(size_t(N * D));
        a.mean2.resize(size_t(N));
        a.rstd2.resize(size_t(N));
        normForward(x.data(), blk(l, "ffn_norm"), a.ln2.data(), a.mean2.data(), a.rstd2.data());
        a.fc.resize(size_t(N * F));
        a.fcAct.resize(size_t(N * F));
        if (llama) { // fc: the gate
            a.up.resize(size_t(N * F));
            gpt::linearForward(a.ln2.data(), P(blk(l, "ffn_gate.weight")), nullptr, a.fc.data(), N, D, F);
            gpt::linearForward(a.ln2.data(), P(blk(l, "ffn_up.weight")), optionalP(blk(l, "ffn_up.bias")), a.up.data(),
                               N, D, F);
            gpt::swigluForward(a.fc.data(), a.up.data(), a.fcAct.data(), N * F);
        } else {
            gpt::linearForward(a.ln2.data(), P(blk(l, "ffn_up.weight")), P(blk(l, "ffn_up.bias")), a.fc.data(), N, D, F);
            gpt::geluForward(a.fc.data(), a.fcAct.data(), N * F);
        }
        gpt::linearForward(a.fcAct.data(), P(blk(l, "ffn_down.weight")), optionalP(blk(l, "ffn_down.bias")), tmp.data(),
                           N, F, D);
        for (int64_t i = 0; i < N * D; ++i)
            x[size_t(i)] += tmp[size_t(i)];
    }
    std::vector<float> lnf(static_cast<size_t>(N * D)), meanf(static_cast<size_t>(N)), rstdf(static_cast<size_t>(N));
    normForward(x.data(), "output_norm", lnf.data(), meanf.data(), rstdf.data());
    const std::string head = m_params.count("output.weight") ? "output.weight" : "token_embd.weight";
    Tensor logits = Tensor::uninitialized(DType::Float32, {N, V});
    gpt::linearForward(lnf.data(), P(head), nullptr, logits.data<float>(), N, D, V);
    auto lossOf = [&](Tensor *dlogits) {
        return logitsLoss ? logitsLoss(logits, target, dlogits) : softmaxCrossEntropy(logits, target, dlogits);
    };
    if (!grads)
        return lossOf(nullptr);
    Tensor dlogits;
    const double loss = lossOf(&dlogits);
    logits = Tensor();

    // Backward.
    for (const auto &[name, t] : m_params)
        if (!grads->count(name))
            (*grads)[name] = Tensor(DType::Float32, t.shape());
    auto optionalG = [&](const std::string &name) -> float * {
        return m_params.count(name) ? grads->at(name).data<float>() : nullptr;
    };
    std::vector<float> dlnf(size_t(N * D), 0.f), dx(size_t(N * D), 0.f);
    gpt::linearBackward(dlogits.data<float>(), lnf.data(), P(head), dlnf.data(), G(head), nullptr, N, D, V);
    dlogits = Tensor();
    normBackward(dlnf.data(), x.data(), "output_norm", meanf.data(), rstdf.data(), dx.data());
    std::vector<float> dfcAct, dfc, dup, dln(size_t(N * D)), dattOut(size_t(N * A)), dqkv, dq, dk, dv;
    for (int64_t l = L - 1; l >= 0; --l) {
        LayerActs &a = acts[size_t(l)];
        // x2 = x1 + down(act(up(ln2(x1)))), the llama family's act(gate, up) = silu(gate) up
        dfcAct.assign(size_t(N * F), 0.f);
        gpt::linearBackward(dx.data(), a.fcAct.data(), P(blk(l, "ffn_down.weight")), dfcAct.data(),
                            G(blk(l, "ffn_down.weight")), optionalG(blk(l, "ffn_down.bias")), N, F, D);
        dfc.assign(size_t(N * F), 0.f);
        std::fill(dln.begin(), dln.end(), 0.f);
        if (llama) {
            dup.assign(size_t(N * F), 0.f);
            gpt::swigluBackward(dfcAct.data(), a.fc.data(), a.up.data(), dfc.data(), dup.data(), N * F);
            gpt::linearBackward(dfc.data(), a.ln2.data(), P(blk(l, "ffn_gate.weight")), dln.data(),
                                G(blk(l, "ffn_gate.weight")), nullptr, N, D, F);
            gpt::linearBackward(dup.data(), a.ln2.data(), P(blk(l, "ffn_up.weight")), dln.data(),
                                G(blk(l, "ffn_up.weight")), optionalG(blk(l, "ffn_up.bias")), N, D, F);
        } else {
            gpt::geluBackward(dfcAct.data(), a.fc.data(), dfc.data(), N * F);
            gpt::linearBackward(dfc.data(), a.ln2.data(), P(blk(l, "ffn_up.weight")), dln.data(),
                                G(blk(l, "ffn_up.weight")), G(blk(l, "ffn_up.bias")), N, D, F);
        }
        normBackward(dln.data(), a.x1.data(), blk(l, "ffn_norm"), a.mean2.data(), a.rstd2.data(), dx.data());
        // x1 = x + proj(attention(qkv(ln1(x))))
        std::fill(dattOut.begin(), dattOut.end(), 0.f);
        gpt::linearBackward(dx.data(), a.attOut.data(), P(blk(l, "attn_output.weight")), dattOut.data(),
                            G(blk(l, "attn_output.weight")), optionalG(blk(l, "attn_output.bias")), N, A, D);
        dqkv.assign(size_t(N * 3 * A), 0.f);
        gpt::attentionBackward(dattOut.data(), a.qkv.data(), a.att.data(), dqkv.data(), B, T, A, H, threads);
        std::fill(dln.begin(), dln.end(), 0.f);
        if (llama) { // the repeated keys and values sum their query heads' gradients; then the rotation back
            dq.resize(size_t(N * A));
            dk.assign(size_t(N * KV), 0.f);
            dv.assign(size_t(N * KV), 0.f);
            for (int64_t i = 0; i < N; ++i) {
                const float *r = &dqkv[size_t(i * 3 * A)];
                std::copy_n(r, A, &dq[size_t(i * A)]);
                for (int64_t h = 0; h < H; ++h)
                    for (int64_t j = 0; j < hd; ++j) {
                        dk[size_t(i * KV + h / group * hd + j)] += r[A + h * hd + j];
                        dv[size_t(i * KV + h / group * hd + j)] += r[2 * A + h * hd + j];
                    }
            }
            gpt::rotary(dq.data(), B, T, H, hd, s.ropeTheta, s.ropeHalves, true);
            gpt::rotary(dk.data(), B, T, KVH, hd, s.ropeTheta, s.ropeHalves, true);
            gpt::linearBackward(dq.data(), a.ln1.data(), P(blk(l, "attn_q.weight")), dln.data(),
                                G(blk(l, "attn_q.weight")), optionalG(blk(l, "attn_q.bias")), N, D, A);
            gpt::linearBackward(dk.data(), a.ln1.data(), P(blk(l, "attn_k.weight")), dln.data(),
                                G(blk(l, "attn_k.weight")), optionalG(blk(l, "attn_k.bias")), N, D, KV);
            gpt::linearBackward(dv.data(), a.ln1.data(), P(blk(l, "attn_v.weight")), dln.data(),
                                G(blk(l, "attn_v.weight")), optionalG(blk(l, "attn_v.bias")), N, D, KV);
        } else {
            gpt::linearBackward(dqkv.data(), a.ln1.data(), P(blk(l, "attn_qkv.weight")), dln.data(),
                                G(blk(l, "attn_qkv.weight")), G(blk(l, "attn_qkv.bias")), N, D, 3 * D);
        }
        normBackward(dln.data(), a.xin.data(), blk(l, "attn_norm"), a.mean1.data(), a.rstd1.data(), dx.data());
        a = LayerActs();
    }
    gpt::embedBackward(dx.data(), in.data(), G("token_embd.weight"), llama ? nullptr : G("position_embd.weight"), B, T,
                       D);
    return loss;
}

void Gpt::save(const std::string &path, const std::vector<gguf::WriteValue> &metadata, bool f16) const
{
    const GptShape &s = m_shape;
    if (s.arch == Arch::Llama && s.ropeHalves != s.qkvBias)
        throw Error(s.ropeHalves ? "a llama-family model with split-half rotary pairs is written as qwen2, which has Q / K / V biases"
                                 : "a llama-family model with Q / K / V biases is written as qwen2, whose rotary pairs are split halves");
    const std::string arch = s.arch == Arch::Gpt2 ? "gpt2" : s.ropeHalves ? "qwen2" : "llama", a = arch + ".";
    std::vector<gguf::WriteValue> kv{
        {"general.architecture", gguf::makeString(arch)},
        {a + "embedding_length", gguf::makeUInt32(uint32_t(s.dim))},
        {a + "feed_forward_length", gguf::makeUInt32(uint32_t(s.ffn))},
        {a + "block_count", gguf::makeUInt32(uint32_t(s.layers))},
        {a + "attention.head_count", gguf::makeUInt32(uint32_t(s.heads))},
    };
    if (s.ctx < kUnboundedContext)
        kv.push_back({a + "context_length", gguf::makeUInt32(uint32_t(s.ctx))});
    if (s.arch == Arch::Gpt2) {
        kv.push_back({a + "attention.layer_norm_epsilon", gguf::makeFloat32(s.normEps)});
    } else {
        kv.push_back({a + "attention.head_count_kv", gguf::makeUInt32(uint32_t(s.kvHeadCount()))});
        kv.push_back({a + "attention.layer_norm_rms_epsilon", gguf::makeFloat32(s.normEps)});
        kv.push_back({a + "rope.freq_base", gguf::makeFloat32(float(s.ropeTheta))});
        kv.push_back({a + "rope.dimension_count", gguf::makeUInt32(uint32_t(s.headDimension()))});
        if (s.heads * s.headDimension() != s.dim) // llama.cpp's default is dim / heads
            for (const char *key : {"attention.key_length", "attention.value_length"})
                kv.push_back({a + key, gguf::makeUInt32(uint32_t(s.headDimension()))});
    }
    kv.insert(kv.end(), metadata.begin(), metadata.end());
    std::vector<gguf::WriteTensor> tensors;
    for (const auto &[name, t] : m_params)
        tensors.push_back({name, t, f16 && t.shape().size() == 2 ? uint32_t(ggml::F16) : uint32_t(ggml::F32)});
    gguf::write(path, kv, tensors);
}

void trainGpt(Gpt &model, const std::vector<int32_t> &train, const std::vector<int32_t> &heldOut,
              const GptTrainOptions &o, const std::function<void(const GptTrainStep &)> &onStep, const StopToken *stop,
              const GptTrainHooks &hooks)
{
    const GptShape &s = model.shape();
    const int64_t T = o.ctx > 0 ? std::min(o.ctx, s.ctx) : s.ctx;
    if (int64_t(train.size()) < T + 2)
        throw Error("the training text has " + std::to_string(train.size()) + " tokens, fewer than a context of " +
                    std::to_string(T + 1));
    std::mt19937_64 rng(o.seed);
    std::uniform_int_distribution<int64_t> start(0, int64_t(train.size()) - T - 1);
    std::map<std::string, Tensor> grads, m, v;
    for (const auto &[name, t] : model.parameters()) {
        m[name] = Tensor(DType::Float32, t.shape());
        v[name] = Tensor(DType::Float32, t.shape());
    }
    // Projected parameters: the optimizer updates the master, the model computes with its projection.
    std::map<std::string, Tensor> master;
    auto project = [&] {
        for (auto &[name, p] : model.parameters()) {
            const auto it = master.find(name);
            if (it != master.end())
                hooks.project(name, it->second, &p);
        }
    };
    if (hooks.project)
        for (auto &[name, p] : model.parameters()) {
            Tensor start = p.clone();
            if (hooks.project(name, start, &p))
                master[name] = std::move(start);
        }
    TrainOptions adam;
    adam.optimizer = Optimizer::Adam;
    adam.adamBeta2 = 0.95f;
    std::vector<int32_t> batch(size_t(o.batch * (T + 1)));
    // Held-out windows: consecutive, fixed.
    const int64_t heldWindows = std::min<int64_t>(o.evalBatches * o.batch, int64_t(heldOut.size()) / (T + 1));
    auto heldOutLoss = [&] {
        double sum = 0;
        int64_t n = 0;
        for (int64_t w = 0; w + o.batch <= heldWindows; w += o.batch, ++n)
            sum += model.loss(heldOut.data() + w * (T + 1), o.batch, T, nullptr, o.threads);
        return n ? sum / double(n) : -1.0;
    };
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t step = 1; step <= o.steps; ++step) {
        checkStop(stop);
        for (int64_t b = 0; b < o.batch; ++b) {
            const int64_t at = start(rng);
            std::copy(train.begin() + at, train.begin() + at + T + 1, batch.begin() + b * (T + 1));
        }
        for (auto &[name, g] : grads)
            std::fill(g.data<float>(), g.data<float>() + g.numel(), 0.f);
        GptTrainStep info;
        info.step = step;
        info.steps = o.steps;
        info.loss = hooks.batchLoss ? hooks.batchLoss(model, batch.data(), o.batch, T, &grads)
                                    : model.loss(batch.data(), o.batch, T, &grads, o.threads);
        // Global gradient-norm clipping.
        double norm2 = 0;
        for (const auto &[name, g] : grads)
            for (int64_t i = 0; i < g.numel(); ++i)
                norm2 += double(g.data<float>()[i]) * g.data<float>()[i];
        const float clipScale = o.clip > 0 && std::sqrt(norm2) > o.clip ? float(o.clip / std::sqrt(norm2)) : 1.f;
        // Linear warm-up, then cosine decay to minLr.
        double lr = o.lr;
        if (step <= o.warmup)
            lr = o.lr * double(step) / double(std::max<int64_t>(o.warmup, 1));
        else
            lr = o.minLr + 0.5 * (o.lr - o.minLr) *
                               (1 + std::cos(M_PI * double(step - o.warmup) / double(std::max<int64_t>(o.steps - o.warmup, 1))));
        info.lr = lr;
        for (auto &[name, p] : model.parameters()) {
            Tensor &g = grads.at(name);
            if (clipScale != 1.f)
                for (int64_t i = 0; i < g.numel(); ++i)
                    g.data<float>()[i] *= clipScale;
            const float decay = p.shape().size() >= 2 ? o.weightDecay : 0.f;
            const auto it = master.find(name);
            float *target = it != master.end() ? it->second.data<float>() : p.data<float>();
            optimizerUpdate(adam, step, float(lr), decay, target, g.data<float>(), m.at(name).data<float>(),
                            v.at(name).data<float>(), p.numel());
        }
        project();
        if ((o.evalEvery > 0 && step % o.evalEvery == 0) || step == o.steps)
            info.heldOutLoss = heldOutLoss();
        info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (onStep)
            onStep(info);
    }
}

} // namespace cw::lm

namespace cw::lm {

LanguageModelTrained trainLanguageModel(const LanguageModelTraining &o, const std::string &output,
                                        const std::function<void(const GptTrainStep &)> &onStep,
                                        const ProgressFn &progress, const StopToken *stop)
{
    if (o.trainDocuments.empty() || o.heldOutDocuments.empty())
        throw Error("training a language model needs training and held-out text");
    const auto t0 = std::chrono::steady_clock::now();
    // The vocabulary: GPT-2's pre-tokenizer over the training text, merges learned until vocabSize - 1
    // tokens, then <|endoftext|>.
    if (progress)
        progress(0, "learning the vocabulary");
    std::vector<std::string> words;
    for (const std::string &doc : o.trainDocuments) {
        std::vector<std::string> w = preTokenize(doc, "gpt-2");
        words.insert(words.end(), std::make_move_iterator(w.begin()), std::make_move_iterator(w.end()));
    }
    const BpeVocabulary vocab = trainBpe(words, o.vocabSize - 1);
    words.clear();
    std::vector<std::string> tokens = vocab.tokens;
    std::vector<int64_t> types(tokens.size(), 1); // normal
    const int32_t eot = int32_t(tokens.size());
    tokens.push_back("<|endoftext|>");
    types.push_back(3); // control
    std::vector<gguf::WriteValue> metadata{
        {"general.name", gguf::makeString(o.shape.arch == Arch::Llama ? "demo-lm-llama" : "demo-lm")},
        {"tokenizer.ggml.model", gguf::makeString("gpt2")},
        {"tokenizer.ggml.pre", gguf::makeString("gpt-2")},
        {"tokenizer.ggml.tokens", gguf::makeStringArray(tokens)},
        {"tokenizer.ggml.token_type", gguf::makeInt32Array(types)},
        {"tokenizer.ggml.merges", gguf::makeStringArray(vocab.merges)},
        {"tokenizer.ggml.bos_token_id", gguf::makeUInt32(uint32_t(eot))},
        {"tokenizer.ggml.eos_token_id", gguf::makeUInt32(uint32_t(eot))},
        {"tokenizer.ggml.add_bos_token", gguf::makeBool(true)},
    };
    GptShape shape = o.shape;
    shape.vocab = int64_t(tokens.size());
    Gpt model(shape, o.train.seed);
    // The vocabulary alone as GGUF bytes, to tokenize with (the tokenizer reads GGUF metadata).
    const std::string vocabBytes = gguf::metadataOnly(metadata);
    const Tokenizer tokenizer =
        Tokenizer::fromGguf(gguf::File::open(MappedFile::view("the learned vocabulary", vocabBytes.data(), vocabBytes.size())));
    auto encodeAll = [&](const std::vector<std::string> &docs) {
        std::vector<int32_t> ids;
        for (const std::string &d : docs) {
            checkStop(stop);
            ids.push_back(eot);
            const std::vector<int32_t> e = tokenizer.encode(d, false);
            ids.insert(ids.end(), e.begin(), e.end());
        }
        return ids;
    };
    if (progress)
        progress(0.02, "tokenizing");
    const std::vector<int32_t> train = encodeAll(o.trainDocuments), heldOut = encodeAll(o.heldOutDocuments);
    // The held-out text as `cwb perplexity --text brown:heldout` reads it: documents joined by newlines, BOS first.
    std::string heldOutText;
    for (const std::string &d : o.heldOutDocuments)
        heldOutText += d + "\n";
    const std::vector<int32_t> heldOutForPerplexity = tokenizer.encode(heldOutText, true);

    LanguageModelTrained r;
    r.parameters = model.parameterCount();
    r.trainTokens = int64_t(train.size());
    r.heldOutTokens = int64_t(heldOut.size());
    trainGpt(model, train, heldOut, o.train,
             [&](const GptTrainStep &s) {
                 if (progress)
                     progress(0.05 + 0.9 * double(s.step) / double(s.steps), "training");
                 if (onStep)
                     onStep(s);
             },
             stop);

    // Held-out perplexity as `cwb perplexity` measures it, on the saved file.
    model.save(output, metadata, o.f16);
    if (progress)
        progress(0.95, "held-out perplexity");
    auto saved = LanguageModel::open(output);
    saved->load();
    PerplexityOptions po;
    po.ctx = shape.ctx;
    po.bos = eot;
    po.threads = o.train.threads;
    r.heldOutPerplexity = perplexity(saved, heldOutForPerplexity, po, {}, stop).perplexity;
    saved.reset();
    char ppl[32];
    std::snprintf(ppl, sizeof ppl, "%.4f", r.heldOutPerplexity);
    metadata.push_back({"workbench.training_command", gguf::makeString(o.command)});
    metadata.push_back({"workbench.seed", gguf::makeUInt32(uint32_t(o.train.seed))});
    metadata.push_back({"workbench.corpus", gguf::makeString(o.corpusName)});
    metadata.push_back({"workbench.heldout_perplexity", gguf::makeString(ppl)});
    metadata.push_back({"workbench.heldout_context", gguf::makeUInt32(uint32_t(shape.ctx))});
    model.save(output, metadata, o.f16);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (progress)
        progress(1, "done");
    return r;
}

} // namespace cw::lm
