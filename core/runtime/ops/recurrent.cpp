// Recurrent layers: LSTM, GRU, RNN with ONNX's full semantics.
//
//   X [S, B, I] (layout 0) or [B, S, I] (layout 1); W [D, G·H, I], R [D, G·H, H], B [D, 2·G·H] (optional: Wb then
//   Rb), sequence_lens [B] (optional, int32 / int64, each in [0, S]), initial_h [D, B, H] (layout 1: [B, D, H]),
//   LSTM also initial_c (as initial_h) and P [D, 3·H] (peepholes i, o, f)
//   → Y [S, D, B, H] (layout 1: [B, S, D, H]), Y_h [D, B, H] (layout 1: [B, D, H]), LSTM also Y_c (as Y_h);
//   any output may be omitted.
//   G = 4 for LSTM (gates i, o, f, c), 3 for GRU (z, r, h), 1 for RNN; D = 2 when direction = "bidirectional"
//   (forward, then reverse), else 1 ("forward", "reverse"). hidden_size (optional) must match R.
//
//   LSTM: i = f(Xi + Hi + Pi⊙C'), f = f(Xf + Hf + Pf⊙C') (1 - i with input_forget = 1), c = g(Xc + Hc),
//         C = f⊙C' + i⊙c, o = f(Xo + Ho + Po⊙C), H = o⊙h(C)          (defaults f = Sigmoid, g = h = Tanh)
//   GRU:  z = f(Xz + Hz), r = f(Xr + Hr), h = g(Xh + (r⊙H')·Rhᵀ + Rbh) or, with linear_before_reset = 1,
//         h = g(Xh + r⊙(H'·Rhᵀ + Rbh)); H = (1 - z)⊙h + z⊙H'               (defaults f = Sigmoid, g = Tanh)
//   RNN:  H = f(X·Wᵀ + H'·Rᵀ + Wb + Rb)                                      (default f = Tanh)
//   where X· = Xt·Wᵀ + Wb and H· = H'·Rᵀ + Rb per gate, H' / C' the previous states.
//
// activations: the functions per direction (LSTM f, g, h; GRU f, g; RNN f), names case-insensitive: Relu, Tanh,
// Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus.
// activation_alpha / activation_beta are consumed in order by the functions that take them (onnxruntime's
// reading); missing ones default as the matching ONNX operator does. clip bounds every gate's input to the
// activation to [-clip, clip].
//
// sequence_lens: batch entry b runs steps [0, len_b) (reverse: from len_b - 1 down to 0); Y is zero past its end,
// Y_h / Y_c hold the state after its last step (zero when len_b = 0).
//
// The input projection of all steps is one gemm per direction; each step adds one gemm of the previous hidden
// state (two for GRU without linear_before_reset).
#include <cctype>
#include <cmath>
#include <limits>

#include "core/runtime/fusion.h"
#include "core/runtime/ops/common.h"

namespace cw {
namespace {

using namespace ops;

struct Activation {
    enum class Kind { Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, HardSigmoid, Elu, Softsign, Softplus };
    Kind kind = Kind::Tanh;
    float alpha = 0.f, beta = 0.f;

    float operator()(float x) const
    {
        switch (kind) {
        case Kind::Relu: return x > 0.f ? x : 0.f;
        case Kind::Tanh: return act::tanh(x);
        case Kind::Sigmoid: return act::sigmoid(x);
        case Kind::Affine: return alpha * x + beta;
        case Kind::LeakyRelu: return x >= 0.f ? x : alpha * x;
        case Kind::ThresholdedRelu: return x > alpha ? x : 0.f;
        case Kind::ScaledTanh: return alpha * act::tanh(beta * x);
        case Kind::HardSigmoid: return std::min(1.f, std::max(0.f, alpha * x + beta));
        case Kind::Elu: return x >= 0.f ? x : alpha * (std::exp(x) - 1.f);
        case Kind::Softsign: return x / (1.f + std::fabs(x));
        case Kind::Softplus: return x > 0.f ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
        }
        return x;
    }

    // v[k] = f(v[k]) for k < n: the kind chosen once, so that the loop over the common ones vectorises.
    void apply(float *v, int64_t n) const
    {
        switch (kind) {
        case Kind::Tanh:
            for (int64_t k = 0; k < n; ++k)
                v[k] = act::tanh(v[k]);
            break;
        case Kind::Sigmoid:
            for (int64_t k = 0; k < n; ++k)
                v[k] = act::sigmoid(v[k]);
            break;
        default:
            for (int64_t k = 0; k < n; ++k)
                v[k] = (*this)(v[k]);
        }
    }
};

// The functions of every direction, in order (count per direction: 3 LSTM, 2 GRU, 1 RNN).
std::vector<Activation> parseActivations(const OpContext &ctx, const std::vector<std::string> &defaults, int64_t directions)
{
    std::vector<std::string> names;
    auto it = ctx.node.attrs.find("activations");
    if (it != ctx.node.attrs.end()) {
        if (it->second.kind != Attribute::Kind::Strings)
            ctx.fail("activations must be a list of strings");
        names = it->second.strings;
    }
    const size_t perDirection = defaults.size();
    if (names.empty())
        for (int64_t d = 0; d < directions; ++d)
            names.insert(names.end(), defaults.begin(), defaults.end());
    else if (directions == 1 && names.size() == 2 * perDirection)
        names.resize(perDirection); // a forward RNN with the two-entry schema default ("Tanh", "Tanh")
    if (names.size() != perDirection * size_t(directions))
        ctx.fail("activations has " + str(int64_t(names.size())) + " entries, expected " +
                 str(int64_t(perDirection) * directions));
    const std::vector<float> alphas = ctx.node.attrFloats("activation_alpha");
    const std::vector<float> betas = ctx.node.attrFloats("activation_beta");
    size_t nextAlpha = 0, nextBeta = 0;
    struct Known {
        const char *name;
        Activation::Kind kind;
        bool alpha, beta;
        float alphaDefault, betaDefault;
    };
    static const Known known[] = {
        {"relu", Activation::Kind::Relu, false, false, 0.f, 0.f},
        {"tanh", Activation::Kind::Tanh, false, false, 0.f, 0.f},
        {"sigmoid", Activation::Kind::Sigmoid, false, false, 0.f, 0.f},
        {"affine", Activation::Kind::Affine, true, true, 1.f, 0.f},
        {"leakyrelu", Activation::Kind::LeakyRelu, true, false, 0.01f, 0.f},
        {"thresholdedrelu", Activation::Kind::ThresholdedRelu, true, false, 1.f, 0.f},
        {"scaledtanh", Activation::Kind::ScaledTanh, true, true, 1.f, 1.f},
        {"hardsigmoid", Activation::Kind::HardSigmoid, true, true, 0.2f, 0.5f},
        {"elu", Activation::Kind::Elu, true, false, 1.f, 0.f},
        {"softsign", Activation::Kind::Softsign, false, false, 0.f, 0.f},
        {"softplus", Activation::Kind::Softplus, false, false, 0.f, 0.f},
    };
    std::vector<Activation> out;
    for (const std::string &name : names) {
        std::string lower = name;
        for (char &c : lower)
            c = char(std::tolower(static_cast<unsigned char>(c)));
        const Known *k = nullptr;
        for (const Known &candidate : known)
            if (lower == candidate.name)
                k = &candidate;
        if (!k)
            ctx.fail("activation '" + name + "' is not supported");
        Activation a;
        a.kind = k->kind;
        if (k->alpha)
            a.alpha = nextAlpha < alphas.size() ? alphas[nextAlpha++] : k->alphaDefault;
        if (k->beta)
            a.beta = nextBeta < betas.size() ? betas[nextBeta++] : k->betaDefault;
        out.push_back(a);
    }
    return out;
}

enum class Cell { LSTM, GRU, RNN };

// Shapes, attributes and inputs of one node, validated.
struct Recurrence {
    Cell cell;
    int gates = 1;
    int64_t S = 0, B = 0, I = 0, H = 0, D = 1;
    bool layout1 = false, reverseOnly = false;
    float clip = std::numeric_limits<float>::infinity();
    std::vector<Activation> activations;
    std::vector<int64_t> lens;
    const float *x = nullptr, *w = nullptr, *r = nullptr, *bias = nullptr, *peep = nullptr;
    const float *h0 = nullptr, *c0 = nullptr;

    int64_t xRow(int64_t t, int64_t b) const { return layout1 ? b * S + t : t * B + b; }
    int64_t yOffset(int64_t t, int64_t d, int64_t b) const
    {
        return (layout1 ? (b * S + t) * D + d : (t * D + d) * B + b) * H;
    }
    int64_t stateOffset(int64_t d, int64_t b) const { return (layout1 ? b * D + d : d * B + b) * H; }
    Shape yShape() const { return layout1 ? Shape{B, S, D, H} : Shape{S, D, B, H}; }
    Shape stateShape() const { return layout1 ? Shape{B, D, H} : Shape{D, B, H}; }
};

Recurrence readRecurrence(const OpContext &ctx, Cell cell)
{
    Recurrence rc;
    rc.cell = cell;
    rc.gates = cell == Cell::LSTM ? 4 : cell == Cell::GRU ? 3 : 1;
    const std::string direction = ctx.node.attrString("direction", "forward");
    if (direction != "forward" && direction != "reverse" && direction != "bidirectional")
        ctx.fail("direction must be forward, reverse or bidirectional, got '" + direction + "'");
    rc.D = direction == "bidirectional" ? 2 : 1;
    rc.reverseOnly = direction == "reverse";
    const int64_t layout = ctx.node.attrInt("layout", 0);
    if (layout != 0 && layout != 1)
        ctx.fail("layout must be 0 or 1, got " + str(layout));
    rc.layout1 = layout == 1;

    const Tensor &x = ctx.input(0), &w = ctx.input(1), &r = ctx.input(2);
    requireFloat(ctx, x, "X");
    requireFloat(ctx, w, "W");
    requireFloat(ctx, r, "R");
    if (x.rank() != 3)
        ctx.fail("X must be 3-D, got " + shapeToString(x.shape()));
    rc.S = rc.layout1 ? x.dim(1) : x.dim(0);
    rc.B = rc.layout1 ? x.dim(0) : x.dim(1);
    rc.I = x.dim(2);
    if (r.rank() != 3)
        ctx.fail("R must be 3-D, got " + shapeToString(r.shape()));
    rc.H = r.dim(2);
    if (ctx.node.hasAttr("hidden_size") && ctx.node.attrInt("hidden_size", 0) != rc.H)
        ctx.fail("hidden_size " + str(ctx.node.attrInt("hidden_size", 0)) + " does not match R " +
                 shapeToString(r.shape()));
    const int64_t GH = rc.gates * rc.H;
    auto expect = [&](const Tensor &t, const Shape &shape, const char *what) {
        requireFloat(ctx, t, what);
        if (t.shape() != shape)
            ctx.fail(std::string(what) + " must be " + shapeToString(shape) + ", got " + shapeToString(t.shape()));
        return t.f32();
    };
    rc.x = x.f32();
    rc.w = expect(w, {rc.D, GH, rc.I}, "W");
    rc.r = expect(r, {rc.D, GH, rc.H}, "R");
    if (ctx.hasInput(3))
        rc.bias = expect(ctx.input(3), {rc.D, 2 * GH}, "B");
    if (ctx.hasInput(4)) {
        const Tensor &lens = ctx.input(4);
        if (lens.dtype() != DType::Int32 && lens.dtype() != DType::Int64)
            ctx.fail(std::string("sequence_lens must be int32, got ") + dtypeName(lens.dtype()));
        if (lens.shape() != Shape{rc.B})
            ctx.fail("sequence_lens must be " + shapeToString({rc.B}) + ", got " + shapeToString(lens.shape()));
        rc.lens = lens.toInt64Vector();
        for (int64_t len : rc.lens)
            if (len < 0 || len > rc.S)
                ctx.fail("sequence length " + str(len) + " is outside [0, " + str(rc.S) + "]");
    } else {
        rc.lens.assign(size_t(rc.B), rc.S);
    }
    if (ctx.hasInput(5))
        rc.h0 = expect(ctx.input(5), rc.stateShape(), "initial_h");
    if (cell == Cell::LSTM && ctx.hasInput(6))
        rc.c0 = expect(ctx.input(6), rc.stateShape(), "initial_c");
    if (cell == Cell::LSTM && ctx.hasInput(7))
        rc.peep = expect(ctx.input(7), {rc.D, 3 * rc.H}, "P");
    if (ctx.node.hasAttr("clip")) {
        rc.clip = ctx.node.attrFloat("clip", 0.f);
        if (!(rc.clip > 0.f))
            ctx.fail("clip must be positive, got " + std::to_string(rc.clip));
    }
    const std::vector<std::string> defaults = cell == Cell::LSTM  ? std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"}
                                              : cell == Cell::GRU ? std::vector<std::string>{"Sigmoid", "Tanh"}
                                                                  : std::vector<std::string>{"Tanh"};
    rc.activations = parseActivations(ctx, defaults, rc.D);
    return rc;
}

// One direction: fills its slice of Y and the final states.
void runDirection(const OpContext &ctx, const Recurrence &rc, int64_t d, bool reverse, bool inputForget,
                  bool linearBeforeReset, float *y, float *yh, float *yc)
{
    const int64_t S = rc.S, B = rc.B, I = rc.I, H = rc.H, G = rc.gates, GH = G * H;
    const float *w = rc.w + d * GH * I, *r = rc.r + d * GH * H;
    const float *wb = rc.bias ? rc.bias + d * 2 * GH : nullptr, *rb = wb ? wb + GH : nullptr;
    const float *peep = rc.peep ? rc.peep + d * 3 * H : nullptr;
    const Activation *act = rc.activations.data() + d * (rc.cell == Cell::LSTM ? 3 : rc.cell == Cell::GRU ? 2 : 1);
    const float clip = rc.clip;
    auto clipped = [clip](float v) { return v < -clip ? -clip : v > clip ? clip : v; };

    // Input projection of every step: X·Wᵀ + Wb (+ Rb, except for GRU's h gate, where Rb sits inside r⊙(...)).
    Tensor xwT = Tensor::uninitialized(DType::Float32, {S * B, GH});
    float *xw = xwT.f32();
    if (S * B > 0 && I > 0)
        parallelGemm(ctx.threads, false, true, S * B, GH, I, 1.f, rc.x, I, w, I, 0.f, xw, GH);
    else
        std::fill_n(xw, S * B * GH, 0.f);
    if (wb) {
        std::vector<float> b(static_cast<size_t>(GH));
        for (int64_t j = 0; j < GH; ++j)
            b[size_t(j)] = wb[j] + (rc.cell == Cell::GRU && j >= 2 * H ? 0.f : rb[j]);
        for (int64_t row = 0; row < S * B; ++row)
            for (int64_t j = 0; j < GH; ++j)
                xw[row * GH + j] += b[size_t(j)];
    }

    std::vector<float> h(size_t(B * H), 0.f), c(size_t(B * H), 0.f);
    for (int64_t b = 0; b < B; ++b) {
        if (rc.h0)
            std::copy_n(rc.h0 + rc.stateOffset(d, b), H, h.begin() + b * H);
        if (rc.c0)
            std::copy_n(rc.c0 + rc.stateOffset(d, b), H, c.begin() + b * H);
    }
    std::vector<float> hr(size_t(B * GH)), scratch(size_t(B * H)), rh(size_t(B * H)), gates(size_t(5 * H));
    int64_t maxLen = 0;
    for (int64_t len : rc.lens)
        maxLen = std::max(maxLen, len);
    for (int64_t step = 0; step < maxLen; ++step) {
        // H'·Rᵀ for every gate (GRU without linear_before_reset: z and r only; h needs r first).
        const int64_t recurrentCols = rc.cell == Cell::GRU && !linearBeforeReset ? 2 * H : GH;
        parallelGemm(ctx.threads, false, true, B, recurrentCols, H, 1.f, h.data(), H, r, H, 0.f, hr.data(), GH);
        if (rc.cell == Cell::GRU && !linearBeforeReset) {
            for (int64_t b = 0; b < B; ++b) {
                const float *g = xw + rc.xRow(reverse ? std::max<int64_t>(rc.lens[size_t(b)] - 1 - step, 0) : step, b) * GH;
                for (int64_t k = 0; k < H; ++k) {
                    const float rg = act[0](clipped(g[H + k] + hr[size_t(b * GH + H + k)]));
                    scratch[size_t(b * H + k)] = rg * h[size_t(b * H + k)];
                }
            }
            parallelGemm(ctx.threads, false, true, B, H, H, 1.f, scratch.data(), H, r + 2 * H * H, H, 0.f, rh.data(), H);
        }
        for (int64_t b = 0; b < B; ++b) {
            const int64_t len = rc.lens[size_t(b)];
            if (step >= len)
                continue;
            const int64_t t = reverse ? len - 1 - step : step;
            const float *g = xw + rc.xRow(t, b) * GH;
            const float *q = hr.data() + b * GH;
            float *hb = h.data() + b * H, *cb = c.data() + b * H;
            if (rc.cell == Cell::LSTM) {
                // Gate by gate over the H units (the activations applied to whole rows vectorise): the input,
                // forget and cell gates from the previous C, then C, then the output gate, which peeks at the
                // new C.
                float *in = gates.data(), *forget = in + H, *cell = in + 2 * H, *out = in + 3 * H, *hc = in + 4 * H;
                for (int64_t k = 0; k < H; ++k) {
                    in[k] = clipped(g[k] + q[k] + (peep ? peep[k] * cb[k] : 0.f));
                    forget[k] = clipped(g[2 * H + k] + q[2 * H + k] + (peep ? peep[2 * H + k] * cb[k] : 0.f));
                    cell[k] = clipped(g[3 * H + k] + q[3 * H + k]);
                }
                act[0].apply(in, H);
                if (inputForget)
                    for (int64_t k = 0; k < H; ++k)
                        forget[k] = 1.f - in[k];
                else
                    act[0].apply(forget, H);
                act[1].apply(cell, H);
                for (int64_t k = 0; k < H; ++k) {
                    cb[k] = forget[k] * cb[k] + in[k] * cell[k];
                    out[k] = clipped(g[H + k] + q[H + k] + (peep ? peep[H + k] * cb[k] : 0.f));
                    hc[k] = cb[k];
                }
                act[0].apply(out, H);
                act[2].apply(hc, H);
                for (int64_t k = 0; k < H; ++k)
                    hb[k] = out[k] * hc[k];
            } else if (rc.cell == Cell::GRU) {
                for (int64_t k = 0; k < H; ++k) {
                    const float z = act[0](clipped(g[k] + q[k]));
                    float pre;
                    if (linearBeforeReset) {
                        const float rg = act[0](clipped(g[H + k] + q[H + k]));
                        pre = g[2 * H + k] + rg * (q[2 * H + k] + (rb ? rb[2 * H + k] : 0.f));
                    } else {
                        pre = g[2 * H + k] + rh[size_t(b * H + k)] + (rb ? rb[2 * H + k] : 0.f);
                    }
                    const float cand = act[1](clipped(pre));
                    hb[k] = (1.f - z) * cand + z * hb[k];
                }
            } else {
                for (int64_t k = 0; k < H; ++k)
                    hb[k] = act[0](clipped(g[k] + q[k]));
            }
            if (y)
                std::copy_n(hb, H, y + rc.yOffset(t, d, b));
        }
    }
    for (int64_t b = 0; b < B; ++b) {
        const bool empty = rc.lens[size_t(b)] == 0;
        if (yh) {
            float *dst = yh + rc.stateOffset(d, b);
            if (empty)
                std::fill_n(dst, H, 0.f);
            else
                std::copy_n(h.begin() + b * H, H, dst);
        }
        if (yc) {
            float *dst = yc + rc.stateOffset(d, b);
            if (empty)
                std::fill_n(dst, H, 0.f);
            else
                std::copy_n(c.begin() + b * H, H, dst);
        }
    }
}

template <Cell C> void recurrentOp(OpContext &ctx)
{
    const Recurrence rc = readRecurrence(ctx, C);
    bool inputForget = false, linearBeforeReset = false;
    if constexpr (C == Cell::LSTM)
        inputForget = ctx.node.attrInt("input_forget", 0) != 0;
    if constexpr (C == Cell::GRU)
        linearBeforeReset = ctx.node.attrInt("linear_before_reset", 0) != 0;
    auto wanted = [&](size_t o) { return o < ctx.outputs.size() && o < ctx.node.outputs.size() && !ctx.node.outputs[o].empty(); };
    Tensor y, yh, yc;
    if (wanted(0))
        y = Tensor(DType::Float32, rc.yShape()); // zero past each sequence's end
    if (wanted(1))
        yh = Tensor::uninitialized(DType::Float32, rc.stateShape());
    if (C == Cell::LSTM && wanted(2))
        yc = Tensor::uninitialized(DType::Float32, rc.stateShape());
    for (int64_t d = 0; d < rc.D; ++d)
        runDirection(ctx, rc, d, rc.reverseOnly || d == 1, inputForget, linearBeforeReset, y.isNull() ? nullptr : y.f32(),
                     yh.isNull() ? nullptr : yh.f32(), yc.isNull() ? nullptr : yc.f32());
    if (!y.isNull())
        ctx.outputs[0] = std::move(y);
    if (!yh.isNull())
        ctx.outputs[1] = std::move(yh);
    if (!yc.isNull())
        ctx.outputs[2] = std::move(yc);
}

} // namespace

void registerRecurrentOps(KernelTable &table)
{
    table["LSTM"] = {recurrentOp<Cell::LSTM>, {7, 14, 22}};
    table["GRU"] = {recurrentOp<Cell::GRU>, {7, 14, 22}};
    table["RNN"] = {recurrentOp<Cell::RNN>, {7, 14, 22}};
}

} // namespace cw
