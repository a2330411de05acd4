#include "core/runtime/fusion.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <unordered_map>

#include "core/graph/transform.h"
#include "core/runtime/blocked.h"
#include "core/runtime/ops/quant.h"

namespace cw {

namespace {

const char *const kKinds = "_activations";
const char *const kAlpha = "_activation_alpha";
const char *const kBeta = "_activation_beta";
const char *const kPool = "_pool_";
const char *const kTable = "_table";
const char *const kQuantScale = "_quantize_scale";
const char *const kQuantZeroPoint = "_quantize_zero_point";
const char *const kQuantSigned = "_quantize_int8";
const char *const kQuantizedInput = "_quantize_a";
const char *const kDequantizedAdd = "_dequantized_add"; // 1: the Add alone; 2: then a Relu

// The value of a one-element float initializer (float32, float16 or bfloat16), if `name` is one.
bool scalarInitializer(const Graph &g, const std::string &name, float *value, size_t maxRank = 1)
{
    auto it = g.initializers.find(name);
    if (it == g.initializers.end() || !isFloatType(it->second.dtype()) || it->second.numel() != 1 ||
        size_t(it->second.rank()) > maxRank)
        return false;
    *value = it->second.castTo(DType::Float32).f32()[0];
    return true;
}

// Whether applying `a` before rounding to the 16-bit type `type` gives what applying it after does: a 16-bit
// Conv's kernel computes in float32 and rounds its result, so the fused node rounds once, after the activations,
// where the graph rounds after the Conv and again after each activation. Rounding is monotone, so a clip to
// bounds the type holds exactly (Relu, Clip, Max / Min) commutes with it; anything that computes does not.
bool commutesWithRounding(const Activation &a, DType type)
{
    const auto representable = [type](float v) {
        return std::isinf(v) || Tensor::scalar(v).castTo(type).castTo(DType::Float32).f32()[0] == v;
    };
    return a.kind == Activation::Kind::Relu ||
           (a.kind == Activation::Kind::Clip && representable(a.alpha) && representable(a.beta));
}

// What `n`, reading `x` (of rank `rank`) as its data input, is as an Activation; false when it is none of them.
bool activationOf(const Graph &g, const Node &n, const std::string &x, size_t rank, Activation *a)
{
    if (!isDefaultDomain(n.domain) || n.outputs.size() != 1 || n.outputs[0].empty())
        return false;
    const std::string &op = n.opType;
    const float inf = std::numeric_limits<float>::infinity();
    if (op == "Max" || op == "Min") {
        // Max(x, c) = clip(x, c, inf), Min(x, c) = clip(x, -inf, c), c a one-element constant of rank at most
        // x's, so that the output keeps x's shape (tf2onnx writes [[[[c]]]] for a 4-D x).
        if (n.inputs.size() != 2)
            return false;
        const std::string &other = n.inputs[0] == x ? n.inputs[1] : n.inputs[1] == x ? n.inputs[0] : std::string();
        float c = 0.f;
        if (other.empty() || other == x || !scalarInitializer(g, other, &c, rank))
            return false;
        *a = op == "Max" ? Activation{Activation::Kind::Clip, c, inf} : Activation{Activation::Kind::Clip, -inf, c};
        return true;
    }
    if (n.inputs.empty() || n.inputs[0] != x)
        return false;
    for (size_t k = 1; k < n.inputs.size(); ++k)
        if (n.inputs[k] == x)
            return false;
    if (op == "Relu") {
        *a = {Activation::Kind::Relu};
    } else if (op == "LeakyRelu") {
        *a = {Activation::Kind::LeakyRelu, n.attrFloat("alpha", 0.01f)};
    } else if (op == "Clip") {
        // Bounds from inputs 1 and 2 (opset >= 11) or the attributes min / max (earlier opsets).
        float lo = -inf, hi = inf;
        if (n.hasInput(1) && !scalarInitializer(g, n.inputs[1], &lo))
            return false;
        if (n.hasInput(2) && !scalarInitializer(g, n.inputs[2], &hi))
            return false;
        if (!n.hasInput(1) && n.hasAttr("min"))
            lo = n.attrFloat("min", -inf);
        if (!n.hasInput(2) && n.hasAttr("max"))
            hi = n.attrFloat("max", inf);
        *a = {Activation::Kind::Clip, lo, hi};
    } else if (op == "HardSwish") {
        *a = {Activation::Kind::HardSwish};
    } else if (op == "HardSigmoid") {
        *a = {Activation::Kind::HardSigmoid, n.attrFloat("alpha", 0.2f), n.attrFloat("beta", 0.5f)};
    } else if (op == "Sigmoid") {
        *a = {Activation::Kind::Sigmoid};
    } else if (op == "Tanh") {
        *a = {Activation::Kind::Tanh};
    } else {
        return false;
    }
    return n.inputCount() <= (op == "Clip" ? 3 : 1);
}

// Whether `a` never decreases (v <= w implies a(v) <= a(w)): a max pool before it may then run after it.
bool nonDecreasing(const Activation &a)
{
    switch (a.kind) {
    case Activation::Kind::LeakyRelu:
    case Activation::Kind::HardSigmoid: return a.alpha >= 0.f;
    case Activation::Kind::HardSwish: return false;
    default: return true;
    }
}

// The value of a one-element integer initializer of type uint8 / int8 (a zero point), with its type.
bool zeroPointInitializer(const Graph &g, const std::string &name, int32_t *value, DType *type)
{
    auto it = g.initializers.find(name);
    if (it == g.initializers.end() || it->second.numel() != 1 || it->second.rank() > 1)
        return false;
    *type = it->second.dtype();
    if (*type == DType::UInt8)
        *value = it->second.data<uint8_t>()[0];
    else if (*type == DType::Int8)
        *value = it->second.data<int8_t>()[0];
    else
        return false;
    return true;
}

// A QuantizeLinear or DequantizeLinear (`op`) with a one-element initializer scale and zero point: those and the
// integer type. Without a zero point (0), *type stays what the caller set.
bool scalarQuantizer(const Graph &g, const Node &n, const char *op, float *scale, int32_t *zp, DType *type)
{
    *zp = 0;
    return n.opType == op && isDefaultDomain(n.domain) && n.inputs.size() >= 2 && n.outputs.size() == 1 &&
           !n.hasAttr("output_dtype") && !n.hasAttr("saturate") && scalarInitializer(g, n.inputs[1], scale) &&
           *scale > 0.f && (!n.hasInput(2) || zeroPointInitializer(g, n.inputs[2], zp, type));
}

// The node that alone reads `value` (not a graph output, not removed), or nullptr.
Node *soleReader(Graph &g, const std::unordered_map<std::string, std::vector<size_t>> &readers,
                 const std::set<std::string> &outputs, const std::vector<char> &gone, const std::string &value)
{
    auto r = readers.find(value);
    if (outputs.count(value) || r == readers.end() || r->second.size() != 1 || gone[r->second.front()])
        return nullptr;
    return &g.nodes[r->second.front()];
}

// The axes a ReduceMean averages over as LayerNormalization's `axis` (negative), when they are the trailing axes
// of an input of rank `rank` (0: unknown) and the result keeps its dimensions; false otherwise.
bool trailingMean(const Graph &g, const Node &n, size_t rank, int64_t *axis)
{
    if (n.opType != "ReduceMean" || !isDefaultDomain(n.domain) || n.outputs.size() != 1 || n.attrInt("keepdims", 1) != 1)
        return false;
    std::vector<int64_t> axes = n.attrInts("axes");
    if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
        auto it = g.initializers.find(n.inputs[1]);
        if (it == g.initializers.end() || !n.attrInts("axes").empty())
            return false;
        axes = it->second.toInt64Vector();
    }
    if (axes.empty())
        return false;
    for (int64_t &a : axes) {
        if (a >= 0 && rank == 0)
            return false;
        if (a >= 0)
            a -= int64_t(rank);
    }
    std::sort(axes.begin(), axes.end());
    for (size_t k = 0; k < axes.size(); ++k)
        if (axes[k] != -int64_t(axes.size()) + int64_t(k) || (rank && -axes[k] > int64_t(rank)))
            return false;
    *axis = axes.front();
    return true;
}

// The chain of activations that alone read `layer`'s output (of rank `rank`), as far as `allowed` accepts them,
// moved into `layer` (its "_activations" attributes, read back by fusedActivations). Returns the nodes removed.
int absorbActivations(Graph &g, Node &layer, size_t rank,
                      const std::unordered_map<std::string, std::vector<size_t>> &readers,
                      const std::set<std::string> &outputs, std::vector<char> &gone,
                      const std::function<bool(const Activation &)> &allowed)
{
    std::vector<int64_t> kinds = layer.attrInts(kKinds);
    std::vector<float> alpha = layer.attrFloats(kAlpha), beta = layer.attrFloats(kBeta);
    int removed = 0;
    for (;;) {
        const std::string &y = layer.outputs[0];
        auto r = readers.find(y);
        if (outputs.count(y) || r == readers.end() || r->second.size() != 1)
            break;
        const size_t next = r->second.front();
        Activation a;
        if (gone[next] || !activationOf(g, g.nodes[next], y, rank, &a) || !allowed(a))
            break;
        kinds.push_back(int64_t(a.kind));
        alpha.push_back(a.alpha);
        beta.push_back(a.beta);
        layer.outputs[0] = g.nodes[next].outputs[0];
        gone[next] = 1;
        ++removed;
    }
    if (removed) {
        layer.attrs[kKinds] = Attribute::makeInts(kinds);
        layer.attrs[kAlpha] = Attribute::makeFloats(alpha);
        layer.attrs[kBeta] = Attribute::makeFloats(beta);
    }
    return removed;
}

// The layer normalisation exporters write as nine element-wise nodes (PyTorch before opset 17):
//   m = ReduceMean(x), d = x - m, v = ReduceMean(d ^ 2), y = d / Sqrt(v + eps) [* gamma] [+ beta]
// over trailing axes of a float32 x, becomes one LayerNormalization, every value between read only inside the
// pattern and none a graph output; gamma and beta are initializers that broadcast to the normalised shape only.
// The fused node computes the statistics in double: its outputs differ from the chain's by float32 rounding.
// Returns the nodes removed.
int fuseLayerNorms(Graph &g, std::unordered_map<std::string, std::vector<size_t>> &readers,
                   const std::set<std::string> &outputs, std::vector<char> &gone)
{
    const auto onlyReader = [&](const std::string &value) { return soleReader(g, readers, outputs, gone, value); };
    const auto index = [&](const Node *n) { return size_t(n - g.nodes.data()); };
    const auto isOp = [](const Node *n, const char *op, size_t inputs) {
        return n && n->opType == op && isDefaultDomain(n->domain) && n->inputs.size() == inputs &&
               n->outputs.size() == 1;
    };
    // The input of binary `n` other than `value` when that is a float initializer, else "".
    const auto constantBeside = [&](const Node *n, const std::string &value) {
        const std::string &other = n->inputs[0] == value ? n->inputs[1] : n->inputs[0];
        auto it = g.initializers.find(other);
        return n->inputs[0] != n->inputs[1] && it != g.initializers.end() && it->second.dtype() == DType::Float32
                   ? other
                   : std::string();
    };
    int removed = 0;
    for (Node &mean : g.nodes) {
        if (gone[index(&mean)] || mean.inputs.empty())
            continue;
        const std::string x = mean.inputs[0];
        const ValueInfo info = g.valueInfo(x);
        if (info.dtype != DType::Float32)
            continue;
        const size_t rank = info.shapeKnown ? info.shape.size() : 0;
        int64_t axis = 0, axis2 = 0;
        if (!trailingMean(g, mean, rank, &axis))
            continue;
        Node *subtract = onlyReader(mean.outputs[0]);
        if (!isOp(subtract, "Sub", 2) || subtract->inputs[0] != x || subtract->inputs[1] != mean.outputs[0])
            continue;
        // d is read by the square and the division, in either order.
        const std::string d = subtract->outputs[0];
        auto r = readers.find(d);
        if (outputs.count(d) || r == readers.end() || r->second.size() != 2)
            continue;
        Node *square = &g.nodes[r->second[0]], *divide = &g.nodes[r->second[1]];
        if (square->opType == "Div")
            std::swap(square, divide);
        float exponent = 0.f, eps = 0.f;
        if (gone[index(square)] || gone[index(divide)] || !isOp(square, "Pow", 2) || square->inputs[0] != d ||
            !scalarInitializer(g, square->inputs[1], &exponent, 0) || exponent != 2.f)
            continue;
        Node *variance = onlyReader(square->outputs[0]);
        if (!variance || !trailingMean(g, *variance, rank, &axis2) || axis2 != axis || variance->inputs.size() > 2)
            continue;
        Node *addEps = onlyReader(variance->outputs[0]);
        if (!isOp(addEps, "Add", 2) || !scalarInitializer(g, constantBeside(addEps, variance->outputs[0]), &eps, 1) ||
            !(eps >= 0.f))
            continue;
        Node *root = onlyReader(addEps->outputs[0]);
        if (!isOp(root, "Sqrt", 1) || onlyReader(root->outputs[0]) != divide || !isOp(divide, "Div", 2) ||
            divide->inputs[0] != d || divide->inputs[1] != root->outputs[0])
            continue;
        std::vector<Node *> chain{&mean, subtract, square, variance, addEps, root, divide};
        // gamma and beta: initializers of at most the normalised axes (leading ones of size 1 dropped).
        const int64_t normAxes = -axis;
        const auto parameter = [&](const std::string &name) -> std::optional<Tensor> {
            if (name.empty())
                return std::nullopt;
            Tensor t = g.initializers.at(name);
            Shape shape = t.shape();
            while (int64_t(shape.size()) > normAxes && shape.front() == 1)
                shape.erase(shape.begin());
            bool fits = int64_t(shape.size()) <= normAxes;
            for (size_t k = 1; fits && rank && k <= shape.size(); ++k) {
                const int64_t n = shape[shape.size() - k], xn = info.shape[rank - k];
                fits = n == 1 || n == xn || xn < 0;
            }
            return fits ? std::optional<Tensor>(t.reshaped(shape)) : std::nullopt;
        };
        std::string y = divide->outputs[0];
        std::optional<Tensor> gamma, beta;
        if (Node *scale = onlyReader(y); isOp(scale, "Mul", 2) && (gamma = parameter(constantBeside(scale, y)))) {
            chain.push_back(scale);
            y = scale->outputs[0];
            if (Node *shift = onlyReader(y); isOp(shift, "Add", 2) && (beta = parameter(constantBeside(shift, y)))) {
                chain.push_back(shift);
                y = shift->outputs[0];
            }
        }
        // The last node of the chain becomes the LayerNormalization (x is there by then).
        Node &last = *chain.back();
        const std::string base = last.name.empty() ? y : last.name;
        const std::string gammaName = base + "_layernorm_scale", betaName = base + "_layernorm_bias";
        g.initializers[gammaName] = gamma ? *gamma : Tensor::fromFloats({1}, {1.f});
        if (beta)
            g.initializers[betaName] = *beta;
        Node ln;
        ln.name = last.name;
        ln.opType = "LayerNormalization";
        ln.inputs = {x, gammaName};
        if (beta)
            ln.inputs.push_back(betaName);
        ln.outputs = {y};
        ln.attrs["axis"] = Attribute::makeInt(axis);
        ln.attrs["epsilon"] = Attribute::makeFloat(eps);
        ln.attrs["_opset"] = Attribute::makeInt(17);
        for (Node *n : chain)
            gone[index(n)] = 1;
        const size_t at = index(&last);
        last = std::move(ln);
        gone[at] = 0;
        auto &xReaders = readers[x];
        xReaders.erase(std::remove_if(xReaders.begin(), xReaders.end(), [&](size_t i) { return gone[i]; }),
                       xReaders.end());
        xReaders.push_back(at);
        std::sort(xReaders.begin(), xReaders.end());
        removed += int(chain.size()) - 1;
    }
    return removed;
}

// QuantizeLinear → QGemm (com.microsoft), the QuantizeLinear's output read by the QGemm's A alone and its scale
// and zero point the QGemm's a_scale and a_zero_point (one-element initializers, the same values and type): the
// QGemm reads the float values and quantizes them itself (quantizesInput), so that they are not a tensor of their
// own (a wake-word head's run takes microseconds). Returns the nodes removed.
int fuseQuantizedInputs(Graph &g, const std::unordered_map<std::string, std::vector<size_t>> &readers,
                        const std::set<std::string> &outputs, std::vector<char> &gone)
{
    std::unordered_map<std::string, size_t> producer;
    for (size_t i = 0; i < g.nodes.size(); ++i)
        if (!gone[i])
            for (const std::string &o : g.nodes[i].outputs)
                producer[o] = i;
    int removed = 0;
    for (Node &product : g.nodes) {
        if (gone[size_t(&product - g.nodes.data())] || product.domain != "com.microsoft" || product.opType != "QGemm" ||
            product.inputs.size() < 4 || product.inputs[0].empty() || quantizesInput(product))
            continue;
        const auto made = producer.find(product.inputs[0]);
        if (made == producer.end())
            continue;
        Node &q = g.nodes[made->second];
        float qScale = 0.f, aScale = 0.f;
        int32_t qZp = 0, aZp = 0;
        DType qType = DType::UInt8, aType = DType::UInt8;
        if (soleReader(g, readers, outputs, gone, q.outputs[0]) != &product || q.outputs[0] != product.inputs[0] ||
            !scalarQuantizer(g, q, "QuantizeLinear", &qScale, &qZp, &qType) ||
            g.valueInfo(q.inputs[0]).dtype != DType::Float32 || !scalarInitializer(g, product.inputs[1], &aScale) ||
            (product.hasInput(2) && !zeroPointInitializer(g, product.inputs[2], &aZp, &aType)) ||
            std::bit_cast<uint32_t>(aScale) != std::bit_cast<uint32_t>(qScale) || aZp != qZp || aType != qType)
            continue;
        product.inputs[0] = q.inputs[0];
        product.attrs[kQuantizedInput] = Attribute::makeInt(1);
        gone[made->second] = 1;
        ++removed;
    }
    return removed;
}

// The QuantizeLinear after a Concat that fuseQuantizedConcats (below) makes one QLinearConcat: the Concat's only
// reader, with one-element initializer scale and a zero point (QLinearConcat takes the type from it); nullptr
// otherwise.
Node *concatQuantizer(Graph &g, const std::unordered_map<std::string, std::vector<size_t>> &readers,
                      const std::set<std::string> &outputs, const std::vector<char> &gone, const Node &concat,
                      float *scale, int32_t *zp, DType *type)
{
    if (concat.opType != "Concat" || !isDefaultDomain(concat.domain) || concat.outputs.size() != 1 ||
        concat.inputs.empty())
        return nullptr;
    Node *q = soleReader(g, readers, outputs, gone, concat.outputs[0]);
    return q && q->hasInput(2) && scalarQuantizer(g, *q, "QuantizeLinear", scale, zp, type) ? q : nullptr;
}

// QLinearConv / QLinearMatMul / QGemm → DequantizeLinear → activations → [MaxPool] → QuantizeLinear, every
// value between read by the next node only, every scale and zero point a one-element initializer: the float
// stages become a table applied to the product's output (fusedTable), and a MaxPool among them runs on the
// integers after it, which gives the same result when every activation is non-decreasing (so is quantization).
// Returns the nodes removed.
int fuseQuantizedTables(Graph &g, const std::unordered_map<std::string, std::vector<size_t>> &readers,
                        const std::set<std::string> &outputs, std::vector<char> &gone)
{
    const auto onlyReader = [&](const std::string &value) { return soleReader(g, readers, outputs, gone, value); };
    const auto index = [&](const Node *n) { return size_t(n - g.nodes.data()); };
    int removed = 0;
    for (Node &product : g.nodes) {
        // The producer's output zero point is its input 7 (QLinearConv, QLinearMatMul) or 8 (QGemm, requantized
        // when it has a y_scale, input 7).
        const bool qgemm = product.domain == "com.microsoft" && product.opType == "QGemm";
        const size_t zpInput = qgemm ? 8 : 7;
        if (gone[index(&product)] || product.outputs.size() != 1 ||
            !((isDefaultDomain(product.domain) &&
               (product.opType == "QLinearConv" || product.opType == "QLinearMatMul")) ||
              (qgemm && product.hasInput(7))))
            continue;
        DType producedType = DType::UInt8;
        int32_t ignored = 0;
        if (product.hasInput(zpInput) && !zeroPointInitializer(g, product.inputs[zpInput], &ignored, &producedType))
            continue;
        // A table the product has already (a Relu of the QDQ format, fuseQdqProducts) maps its integers first.
        const Tensor *before = fusedTable(product);
        if (before && before->dtype() != producedType)
            continue;
        Node *dq = onlyReader(product.outputs[0]);
        float dqScale = 0.f;
        int32_t dqZp = 0;
        DType dqType = producedType;
        if (!dq || dq->inputs[0] != product.outputs[0] ||
            !scalarQuantizer(g, *dq, "DequantizeLinear", &dqScale, &dqZp, &dqType) || dqType != producedType)
            continue;
        // The activations, an optional MaxPool among them, then the QuantizeLinear. A Max / Min constant may have
        // the rank of the values (1 when that is not known).
        const auto info = g.values.find(dq->outputs[0]);
        const size_t rank = info != g.values.end() && info->second.shapeKnown ? info->second.shape.size() : 1;
        std::vector<Activation> activations;
        std::vector<Node *> chain{dq};
        Node *pool = nullptr, *q = nullptr;
        for (std::string value = dq->outputs[0];;) {
            Node *next = onlyReader(value);
            Activation a;
            if (!next)
                break;
            if (activationOf(g, *next, value, rank, &a)) {
                activations.push_back(a);
            } else if (!pool && next->opType == "MaxPool" && isDefaultDomain(next->domain) &&
                       next->inputs.size() == 1 && (next->outputs.size() == 1 || next->outputs[1].empty())) {
                pool = next;
            } else {
                if (next->inputs[0] == value)
                    q = next;
                break;
            }
            chain.push_back(next);
            value = next->outputs[0];
        }
        float qScale = 0.f;
        int32_t qZp = 0;
        DType qType = DType::UInt8;
        const auto dequantized = [&](int b) {
            if (before)
                b = static_cast<const uint8_t *>(before->rawData())[b];
            float v = quant::dequantize(producedType == DType::UInt8 ? b : int32_t(int8_t(uint8_t(b))), dqScale, dqZp);
            applyActivations(activations, &v, 1);
            return v;
        };
        if (!q || !scalarQuantizer(g, *q, "QuantizeLinear", &qScale, &qZp, &qType)) {
            // No QuantizeLinear after the activations: the float values the chain ends with, by table. But a
            // DequantizeLinear alone before a Concat that becomes a QLinearConcat of the same type stays: the
            // QLinearConcat then reads the integers themselves.
            if (pool || (q && activations.empty() && dq->hasInput(2) &&
                         concatQuantizer(g, readers, outputs, gone, *q, &qScale, &qZp, &qType) && qType == producedType))
                continue;
            Tensor table = Tensor::uninitialized(DType::Float32, {256});
            for (int b = 0; b < 256; ++b)
                table.f32()[b] = dequantized(b);
            product.attrs[kTable] = Attribute::makeTensor(table);
            if (activations.empty() && !before) { // the DequantizeLinear alone: computed rather than looked up
                product.attrs[kQuantScale] = Attribute::makeFloat(dqScale);
                product.attrs[kQuantZeroPoint] = Attribute::makeInt(dqZp);
                product.attrs[kQuantSigned] = Attribute::makeInt(producedType == DType::Int8);
            }
            product.outputs[0] = chain.back()->outputs[0];
            for (Node *n : chain)
                gone[index(n)] = 1;
            removed += int(chain.size());
            continue;
        }
        if (pool && !std::all_of(activations.begin(), activations.end(), nonDecreasing))
            continue;
        Tensor table = Tensor::uninitialized(qType, {256});
        auto *t = static_cast<uint8_t *>(table.rawData());
        const int32_t lo = qType == DType::UInt8 ? 0 : -128, hi = qType == DType::UInt8 ? 255 : 127;
        for (int b = 0; b < 256; ++b)
            t[b] = uint8_t(quant::quantize(dequantized(b), qScale, qZp, lo, hi));
        product.attrs[kTable] = Attribute::makeTensor(table);
        if (pool) { // the pool reads the mapped integers and writes what the QuantizeLinear wrote
            if (auto v = g.values.find(product.outputs[0]); v != g.values.end())
                v->second.dtype = qType;
            pool->inputs[0] = product.outputs[0];
            pool->outputs[0] = q->outputs[0];
        } else {
            product.outputs[0] = q->outputs[0];
        }
        for (Node *n : chain)
            if (n != pool) {
                gone[index(n)] = 1;
                ++removed;
            }
        gone[index(q)] = 1;
        ++removed;
    }
    return removed;
}

// The node that writes each value.
std::unordered_map<std::string, size_t> producersOf(const Graph &g)
{
    std::unordered_map<std::string, size_t> producers;
    for (size_t i = 0; i < g.nodes.size(); ++i)
        for (const std::string &o : g.nodes[i].outputs)
            producers[o] = i;
    return producers;
}

// The DequantizeLinear that wrote `value` and is still in the graph, with a one-element scale and a zero point (which
// names the integers' type), and its parameters; nullptr otherwise.
Node *scalarDequantizer(Graph &g, const std::unordered_map<std::string, size_t> &producers,
                        const std::vector<char> &gone, const std::string &value, float *scale, int32_t *zp, DType *type)
{
    const auto p = producers.find(value);
    Node *dq = p == producers.end() || gone[p->second] ? nullptr : &g.nodes[p->second];
    return dq && dq->hasInput(2) && scalarQuantizer(g, *dq, "DequantizeLinear", scale, zp, type) ? dq : nullptr;
}

// Whether two values have the same shape, by their value infos: known ranks, each dimension the same number or the
// same named symbol.
bool sameShape(const Graph &g, const std::string &a, const std::string &b)
{
    const ValueInfo x = g.valueInfo(a), y = g.valueInfo(b);
    if (!x.shapeKnown || !y.shapeKnown || x.shape.size() != y.shape.size())
        return false;
    for (size_t d = 0; d < x.shape.size(); ++d)
        if (x.shape[d] != y.shape[d] || (x.shape[d] < 0 && (x.dimName(d).empty() || x.dimName(d) != y.dimName(d))))
            return false;
    return true;
}

// The float32 values of a one-element or [n] initializer, or none.
std::optional<std::vector<float>> floatInitializer(const Graph &g, const std::string &name, int64_t n)
{
    const auto it = g.initializers.find(name);
    if (it == g.initializers.end() || it->second.dtype() != DType::Float32 ||
        !(it->second.numel() == 1 || (it->second.rank() == 1 && it->second.dim(0) == n)))
        return std::nullopt;
    return it->second.toFloatVector();
}

// Whether the DequantizeLinear `dq` has no zero point, or one of `type` whose values are all zero.
bool zeroZeroPoints(const Graph &g, const Node &dq, DType type)
{
    if (!dq.hasInput(2))
        return true;
    const auto it = g.initializers.find(dq.inputs[2]);
    if (it == g.initializers.end() || it->second.dtype() != type)
        return false;
    const std::vector<int64_t> v = it->second.toInt64Vector();
    return std::all_of(v.begin(), v.end(), [](int64_t z) { return z == 0; });
}

// DequantizeLinear (x), DequantizeLinear (w), [DequantizeLinear (B)] → Conv / Gemm / MatMul → [Relu / Clip] →
// QuantizeLinear, as the QDQ format writes a quantized layer (onnxruntime's quantize_static): one QLinearConv,
// com.microsoft QGemm or QLinearMatMul writing the QuantizeLinear's output, a Relu or a Clip as a table that clamps
// the integers to the quantized bounds (what QuantizeLinear after it gives, since quantization never decreases).
// x's scale and zero point are one-element initializers; w an int8 initializer with zero zero points and a scale of
// one element or one per output channel (the axis of the outputs: a Conv's first, a Gemm's B's first when
// transposed, else the second); B an int32 initializer with zero zero points whose scale is x_scale · w_scale (per
// channel, in float32), as quantizers write it. B on another scale (the weights quantized again after pruning), or
// a float initializer, is rounded onto that one, which moves a sum by at most half a step of x_scale · w_scale. A
// Gemm with transA, alpha or beta other than 0, 1, 1 stays. The fused node sums the integers exactly where the
// graph sums float products, so an output may differ from the graph's by one step, where a value lies within float32
// rounding of the midpoint between two. A DequantizeLinear that other nodes read too stays for them. Before the
// activations fuse into float layers. Returns the nodes removed.
int fuseQdqProducts(Graph &g, std::unordered_map<std::string, std::vector<size_t>> &readers,
                    const std::set<std::string> &outputs, std::vector<char> &gone)
{
    const std::unordered_map<std::string, size_t> producers = producersOf(g);
    const auto dequantizer = [&](const std::string &value) -> Node * {
        const auto p = producers.find(value);
        Node *n = p == producers.end() || gone[p->second] ? nullptr : &g.nodes[p->second];
        return n && n->opType == "DequantizeLinear" && isDefaultDomain(n->domain) && n->inputs.size() >= 2 &&
                       n->outputs.size() == 1 && !n->hasAttr("block_size")
                   ? n
                   : nullptr;
    };
    int removed = 0;
    for (Node &product : g.nodes) {
        const size_t at = size_t(&product - g.nodes.data());
        const bool conv = product.opType == "Conv", gemm = product.opType == "Gemm";
        const bool matmul = product.opType == "MatMul";
        if (gone[at] || !(conv || gemm || matmul) || !isDefaultDomain(product.domain) || product.outputs.size() != 1 ||
            product.inputs.size() < 2 || (matmul && product.inputs.size() != 2))
            continue;
        if (gemm && (product.attrInt("transA", 0) != 0 || product.attrFloat("alpha", 1.f) != 1.f ||
                     product.attrFloat("beta", 1.f) != 1.f))
            continue;
        float xScale = 0.f;
        int32_t xZp = 0;
        DType xType = DType::UInt8;
        Node *dqx = scalarDequantizer(g, producers, gone, product.inputs[0], &xScale, &xZp, &xType);
        Node *dqw = dequantizer(product.inputs[1]);
        const auto w = dqw ? g.initializers.find(dqw->inputs[0]) : g.initializers.end();
        if (!dqx || w == g.initializers.end() || w->second.dtype() != DType::Int8 ||
            (conv ? w->second.rank() < 3 : w->second.rank() != 2) || !zeroZeroPoints(g, *dqw, DType::Int8))
            continue;
        const int64_t axis = conv || (gemm && product.attrInt("transB", 0) != 0) ? 0 : 1; // of the outputs in w
        const int64_t M = w->second.dim(axis);
        const std::optional<std::vector<float>> wScale = floatInitializer(g, dqw->inputs[1], M);
        if (!wScale || (wScale->size() > 1 && dqw->attrInt("axis", 1) != axis))
            continue;
        // The bias: the integers of a DequantizeLinear on x_scale · w_scale as they are; one on another scale, or a
        // float initializer, on that one (an int32 initializer of its own).
        Node *dqb = product.hasInput(2) ? dequantizer(product.inputs[2]) : nullptr;
        std::string bias;
        std::optional<Tensor> requantizedBias;
        if (product.hasInput(2)) {
            const auto b = g.initializers.find(dqb ? dqb->inputs[0] : product.inputs[2]);
            const std::optional<std::vector<float>> bScale =
                dqb ? floatInitializer(g, dqb->inputs[1], M) : std::vector<float>{1.f};
            if (b == g.initializers.end() || b->second.dtype() != (dqb ? DType::Int32 : DType::Float32) ||
                b->second.rank() != 1 || b->second.numel() != M || !bScale ||
                (dqb && (!zeroZeroPoints(g, *dqb, DType::Int32) ||
                         (bScale->size() > 1 && dqb->attrInt("axis", 1) != 0))))
                continue;
            const auto accumulatorScale = [&](int64_t m) { return xScale * (*wScale)[wScale->size() > 1 ? m : 0]; };
            bool matches = dqb != nullptr;
            for (int64_t m = 0; m < M; ++m)
                matches = matches && (*bScale)[bScale->size() > 1 ? size_t(m) : 0] == accumulatorScale(m);
            if (matches) {
                bias = dqb->inputs[0];
            } else {
                requantizedBias = Tensor(DType::Int32, {M});
                bool fits = true;
                for (int64_t m = 0; m < M && fits; ++m) {
                    const double value = dqb ? double(b->second.data<int32_t>()[m]) : double(b->second.f32()[m]);
                    const double v =
                        value * (*bScale)[bScale->size() > 1 ? size_t(m) : 0] / double(accumulatorScale(m));
                    fits = std::isfinite(v) && std::abs(v) < 2147483647.0;
                    if (fits)
                        requantizedBias->data<int32_t>()[m] = int32_t(std::nearbyint(v));
                }
                if (!fits)
                    continue;
            }
        }
        // A Relu or a Clip (or a Max / Min with a constant) between the product and the QuantizeLinear.
        Node *clip = soleReader(g, readers, outputs, gone, product.outputs[0]);
        Activation bounds;
        const ValueInfo info = g.valueInfo(product.outputs[0]);
        if (!clip || !activationOf(g, *clip, product.outputs[0], info.shapeKnown ? info.shape.size() : 1, &bounds) ||
            (bounds.kind != Activation::Kind::Relu && bounds.kind != Activation::Kind::Clip))
            clip = nullptr;
        const std::string &result = clip ? clip->outputs[0] : product.outputs[0];
        Node *q = soleReader(g, readers, outputs, gone, result);
        float yScale = 0.f;
        int32_t yZp = 0;
        DType yType = DType::UInt8;
        if (!q || q->inputs[0] != result || !scalarQuantizer(g, *q, "QuantizeLinear", &yScale, &yZp, &yType))
            continue;
        if (requantizedBias) {
            bias = (product.name.empty() ? product.outputs[0] : product.name) + "_bias_int32";
            while (g.initializers.count(bias) || g.values.count(bias))
                bias += "_";
            g.initializers[bias] = std::move(*requantizedBias);
        }
        // QLinearConv and QLinearMatMul: x, w, y, [B]; QGemm: x, w, [B], y.
        std::vector<std::string> inputs{dqx->inputs[0], dqx->inputs[1], dqx->inputs[2],
                                        dqw->inputs[0], dqw->inputs[1], dqw->hasInput(2) ? dqw->inputs[2] : ""};
        if (gemm)
            inputs.push_back(bias);
        inputs.push_back(q->inputs[1]);
        inputs.push_back(q->hasInput(2) ? q->inputs[2] : "");
        if (conv && !bias.empty())
            inputs.push_back(bias);
        for (Node *dq : {dqx, dqw, dqb})
            if (dq && !gone[size_t(dq - g.nodes.data())] &&
                soleReader(g, readers, outputs, gone, dq->outputs[0]) == &product) {
                gone[size_t(dq - g.nodes.data())] = 1;
                ++removed;
            }
        // The fused node reads what the DequantizeLinears read: it is their inputs' reader now.
        for (const std::string &in : inputs) {
            if (in.empty())
                continue;
            std::vector<size_t> &r = readers[in];
            r.erase(std::remove_if(r.begin(), r.end(), [&](size_t i) { return gone[i] != 0; }), r.end());
            if (std::find(r.begin(), r.end(), at) == r.end())
                r.push_back(at);
        }
        if (clip) { // on y's grid: the integers clamped to the quantized bounds
            Tensor table = Tensor::uninitialized(yType, {256});
            auto *t = static_cast<uint8_t *>(table.rawData());
            const int32_t lo = yType == DType::UInt8 ? 0 : -128, hi = yType == DType::UInt8 ? 255 : 127;
            for (int b = 0; b < 256; ++b) {
                float v = quant::dequantize(yType == DType::UInt8 ? b : int32_t(int8_t(uint8_t(b))), yScale, yZp);
                applyActivations({bounds}, &v, 1);
                t[b] = uint8_t(quant::quantize(v, yScale, yZp, lo, hi));
            }
            product.attrs[kTable] = Attribute::makeTensor(table);
            gone[size_t(clip - g.nodes.data())] = 1;
            ++removed;
        }
        product.opType = conv ? "QLinearConv" : gemm ? "QGemm" : "QLinearMatMul";
        if (gemm) {
            product.domain = "com.microsoft";
            product.attrs.erase("alpha");
            product.attrs.erase("beta");
        }
        product.inputs = std::move(inputs);
        product.outputs[0] = q->outputs[0];
        gone[size_t(q - g.nodes.data())] = 1;
        ++removed;
    }
    return removed;
}

// DequantizeLinear (a), DequantizeLinear (b) → Add → [Relu] → [QuantizeLinear]: a residual join of a quantized
// network. Every scale and zero point a one-element initializer, a and b of one integer type and of the same shape,
// the Add's result and the Relu's read by the next node only: one com.microsoft QLinearAdd marked as this form
// (dequantizedAdd), which computes the graph's float arithmetic element by element, so its values are the graph's
// bit for bit, with none of the float tensors in between. A DequantizeLinear that other nodes read too stays for
// them. Before the tables (fuseQuantizedTables), so that the products before the join write their integers.
// Returns the nodes removed.
int fuseDequantizedAdds(Graph &g, const std::unordered_map<std::string, std::vector<size_t>> &readers,
                        const std::set<std::string> &outputs, std::vector<char> &gone)
{
    const std::unordered_map<std::string, size_t> producers = producersOf(g);
    int removed = 0;
    for (Node &add : g.nodes) {
        if (gone[size_t(&add - g.nodes.data())] || add.opType != "Add" || !isDefaultDomain(add.domain) ||
            add.inputs.size() != 2 || add.outputs.size() != 1)
            continue;
        float scale = 0.f;
        int32_t zp = 0;
        DType typeA = DType::UInt8, typeB = DType::UInt8;
        Node *a = scalarDequantizer(g, producers, gone, add.inputs[0], &scale, &zp, &typeA);
        Node *b = scalarDequantizer(g, producers, gone, add.inputs[1], &scale, &zp, &typeB);
        if (!a || !b || typeA != typeB || !sameShape(g, a->inputs[0], b->inputs[0]))
            continue;
        std::vector<Node *> chain{&add};
        Node *relu = soleReader(g, readers, outputs, gone, add.outputs[0]);
        if (relu && relu->opType == "Relu" && isDefaultDomain(relu->domain) && relu->outputs.size() == 1)
            chain.push_back(relu);
        else
            relu = nullptr;
        Node *q = soleReader(g, readers, outputs, gone, chain.back()->outputs[0]);
        DType qType = DType::UInt8;
        if (q && q->inputs[0] == chain.back()->outputs[0] &&
            scalarQuantizer(g, *q, "QuantizeLinear", &scale, &zp, &qType))
            chain.push_back(q);
        else
            q = nullptr;
        std::vector<std::string> inputs{a->inputs[0], a->inputs[1], a->inputs[2],
                                        b->inputs[0], b->inputs[1], b->inputs[2]};
        if (q) {
            inputs.push_back(q->inputs[1]);
            inputs.push_back(q->hasInput(2) ? q->inputs[2] : std::string());
        }
        for (Node *dq : {a, b})
            if (size_t i = size_t(dq - g.nodes.data()); !gone[i] && soleReader(g, readers, outputs, gone,
                                                                                  dq->outputs[0]) == &add) {
                gone[i] = 1;
                ++removed;
            }
        add.opType = "QLinearAdd";
        add.domain = "com.microsoft";
        add.inputs = std::move(inputs);
        add.outputs[0] = chain.back()->outputs[0];
        add.attrs[kDequantizedAdd] = Attribute::makeInt(relu ? 2 : 1);
        for (size_t k = 1; k < chain.size(); ++k)
            gone[size_t(chain[k] - g.nodes.data())] = 1;
        removed += int(chain.size()) - 1;
    }
    return removed;
}

// Concat → QuantizeLinear (scalar initializer scale and zero point; the Concat's only reader): one
// com.microsoft QLinearConcat writing the QuantizeLinear's output. An input that a DequantizeLinear of the same
// integer type made (scalar initializers) is read as its integers (requantized by a table if the grids differ);
// the DequantizeLinear goes when it has no other reader. Any other input is float, quantized onto the output's
// grid (the fused form's X_scale and X_zero_point are empty then). What the graph computes, bit for bit, without
// the float concatenation in between.
int fuseQuantizedConcats(Graph &g, const std::unordered_map<std::string, std::vector<size_t>> &readers,
                         const std::set<std::string> &outputs, std::vector<char> &gone)
{
    const std::unordered_map<std::string, size_t> producers = producersOf(g);
    int removed = 0;
    for (Node &concat : g.nodes) {
        float qScale = 0.f;
        int32_t qZp = 0;
        DType qType = DType::UInt8;
        Node *q = gone[size_t(&concat - g.nodes.data())]
                      ? nullptr
                      : concatQuantizer(g, readers, outputs, gone, concat, &qScale, &qZp, &qType);
        if (!q)
            continue;
        std::vector<std::string> inputs{q->inputs[1], q->inputs[2]};
        for (const std::string &x : concat.inputs) {
            float scale = 0.f;
            int32_t zp = 0;
            DType type = DType::Float32;
            const Node *dq = scalarDequantizer(g, producers, gone, x, &scale, &zp, &type);
            if (dq && type == qType) {
                inputs.insert(inputs.end(), dq->inputs.begin(), dq->inputs.end());
                if (soleReader(g, readers, outputs, gone, x) == &concat) {
                    gone[size_t(dq - g.nodes.data())] = 1;
                    ++removed;
                }
            } else {
                inputs.insert(inputs.end(), {x, "", ""});
            }
        }
        concat.opType = "QLinearConcat";
        concat.domain = "com.microsoft";
        concat.inputs = std::move(inputs);
        concat.outputs[0] = q->outputs[0];
        gone[size_t(q - g.nodes.data())] = 1;
        ++removed;
    }
    return removed;
}

template <typename F> void applyEach(float *y, int64_t n, F f)
{
    for (int64_t i = 0; i < n; ++i)
        y[i] = f(y[i]);
}

} // namespace

bool hasFusedMaxPool(const Node &node)
{
    static const std::string kernelShape = std::string(kPool) + "kernel_shape"; // asked for every Conv call
    return node.hasAttr(kernelShape);
}

std::string fusedMaxPoolPrefix()
{
    return kPool;
}

std::optional<FusedQuantize> fusedQuantize(const Node &node)
{
    if (!node.hasAttr(kQuantScale))
        return std::nullopt;
    return FusedQuantize{node.attrFloat(kQuantScale, 1.f), int32_t(node.attrInt(kQuantZeroPoint, 0)),
                         node.attrInt(kQuantSigned, 0) ? DType::Int8 : DType::UInt8};
}

std::optional<DequantizedAdd> dequantizedAdd(const Node &node)
{
    const int64_t form = node.attrInt(kDequantizedAdd, 0);
    if (form == 0)
        return std::nullopt;
    return DequantizedAdd{form == 2};
}

bool quantizesInput(const Node &node)
{
    return node.attrInt(kQuantizedInput, 0) != 0;
}

const Tensor *fusedTable(const Node &node)
{
    auto it = node.attrs.find(kTable);
    return it == node.attrs.end() ? nullptr : &it->second.t;
}

std::vector<Activation> fusedActivations(const Node &node)
{
    auto it = node.attrs.find(kKinds);
    if (it == node.attrs.end())
        return {};
    const std::vector<int64_t> kinds = node.attrInts(kKinds);
    const std::vector<float> alpha = node.attrFloats(kAlpha), beta = node.attrFloats(kBeta);
    std::vector<Activation> out;
    for (size_t k = 0; k < kinds.size() && k < alpha.size() && k < beta.size(); ++k)
        out.push_back({Activation::Kind(kinds[k]), alpha[k], beta[k]});
    return out;
}

void applyActivations(const std::vector<Activation> &activations, float *y, int64_t n)
{
    // A chain of activations is applied block by block, so that the block stays in L1 between them.
    constexpr int64_t kBlock = 1024;
    if (activations.size() > 1 && n > kBlock) {
        for (int64_t i = 0; i < n; i += kBlock)
            applyActivations(activations, y + i, std::min(kBlock, n - i));
        return;
    }
    for (const Activation &a : activations) {
        const float alpha = a.alpha, beta = a.beta;
        switch (a.kind) {
        case Activation::Kind::Relu: applyEach(y, n, [](float v) { return act::relu(v); }); break;
        case Activation::Kind::LeakyRelu: applyEach(y, n, [alpha](float v) { return act::leakyRelu(v, alpha); }); break;
        case Activation::Kind::Clip: applyEach(y, n, [alpha, beta](float v) { return act::clip(v, alpha, beta); }); break;
        case Activation::Kind::HardSwish: applyEach(y, n, [](float v) { return act::hardSwish(v); }); break;
        case Activation::Kind::HardSigmoid:
            applyEach(y, n, [alpha, beta](float v) { return act::hardSigmoid(v, alpha, beta); });
            break;
        case Activation::Kind::Sigmoid: applyEach(y, n, [](float v) { return act::sigmoid(v); }); break;
        case Activation::Kind::Tanh: applyEach(y, n, [](float v) { return act::tanh(v); }); break;
        }
    }
}

namespace {

// A MaxPool (2-D, without its indices) that alone reads `producer`'s output becomes part of it: its attributes
// travel as kPool + name, and the producer writes the pool's output. Returns the nodes removed (0 or 1).
int absorbMaxPool(Graph &g, Node &producer, const std::unordered_map<std::string, std::vector<size_t>> &readers,
                  const std::set<std::string> &outputs, std::vector<char> &gone)
{
    const auto r = readers.find(producer.outputs[0]);
    if (r == readers.end() || r->second.size() != 1 || outputs.count(producer.outputs[0]) || gone[r->second.front()])
        return 0;
    Node &pool = g.nodes[r->second.front()];
    if (pool.opType != "MaxPool" || !isDefaultDomain(pool.domain) || pool.inputs.size() != 1 ||
        pool.attrInts("kernel_shape").size() != 2 || (pool.outputs.size() != 1 && !pool.outputs[1].empty()) ||
        pool.outputs[0].empty())
        return 0;
    for (const char *name : {"kernel_shape", "strides", "dilations", "pads", "auto_pad", "ceil_mode"})
        if (auto a = pool.attrs.find(name); a != pool.attrs.end())
            producer.attrs[std::string(kPool) + name] = a->second;
    producer.outputs[0] = pool.outputs[0];
    gone[r->second.front()] = 1;
    return 1;
}

} // namespace

Model fuseForInference(const Model &model, int *fused)
{
    Model m = model;
    Graph &g = m.graph;
    int removed = foldBatchNorm(m);

    // Who reads each value (implicit reads of control-flow subgraphs included), and which values must stay.
    std::unordered_map<std::string, std::vector<size_t>> readers;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        std::set<std::string> names(g.nodes[i].inputs.begin(), g.nodes[i].inputs.end());
        for (const std::string &in : implicitInputs(g.nodes[i]))
            names.insert(in);
        for (const std::string &name : names)
            if (!name.empty())
                readers[name].push_back(i);
    }
    std::set<std::string> outputs;
    for (const ValueInfo &v : g.outputs)
        outputs.insert(v.name);

    std::vector<char> gone(g.nodes.size(), 0);
    removed += fuseLayerNorms(g, readers, outputs, gone);
    removed += fuseQdqProducts(g, readers, outputs, gone);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        Node &conv = g.nodes[i];
        if (gone[i] || conv.opType != "Conv" || !isDefaultDomain(conv.domain) || conv.outputs.size() != 1)
            continue;
        // A 16-bit Conv rounds its output before the activation reads it: only activations that commute with
        // that rounding fuse there.
        auto info = g.values.find(conv.outputs[0]);
        if (info == g.values.end() || !isFloatType(info->second.dtype))
            continue;
        const DType type = info->second.dtype;
        // The output's rank is the weights' (N, M, spatial... against M, C / group, kernel...).
        const auto weights = g.initializers.find(conv.inputs.size() > 1 ? conv.inputs[1] : std::string());
        const size_t rank = info->second.shapeKnown       ? info->second.shape.size()
                            : weights != g.initializers.end() ? size_t(weights->second.rank())
                                                              : 1;
        removed += absorbActivations(g, conv, rank, readers, outputs, gone, [&](const Activation &a) {
            return type == DType::Float32 || commutesWithRounding(a, type);
        });
        // A MaxPool that is the only reader of a float32 2-D convolution's output (after its activations) is run
        // by the convolution, on a few images at a time while they are in cache.
        const bool depthwise = weights != g.initializers.end() && conv.attrInt("group", 1) > 1 &&
                               weights->second.dim(1) == 1;
        if (type == DType::Float32 && weights != g.initializers.end() && weights->second.rank() == 4 && !depthwise)
            removed += absorbMaxPool(g, conv, readers, outputs, gone);
    }
    // A MaxPool that is the only reader of a 2-D QLinearConv's integers: the convolution pools its sums before
    // requantizing them (a quarter of the requantization for a 2 x 2 pool). Before the tables below, which then
    // apply to the pooled integers, as the graph's nodes after the pool do.
    for (Node &conv : g.nodes) {
        if (gone[size_t(&conv - g.nodes.data())] || conv.opType != "QLinearConv" || !isDefaultDomain(conv.domain) ||
            conv.outputs.size() != 1 || conv.inputs.size() < 4)
            continue;
        const auto weights = g.initializers.find(conv.inputs[3]);
        if (weights != g.initializers.end() && weights->second.rank() == 4)
            removed += absorbMaxPool(g, conv, readers, outputs, gone);
    }
    // The activations after a float32 Gemm or MatMul, applied to the product's output in its kernel.
    for (Node &product : g.nodes) {
        if (gone[size_t(&product - g.nodes.data())] || (product.opType != "Gemm" && product.opType != "MatMul") ||
            !isDefaultDomain(product.domain) || product.outputs.size() != 1)
            continue;
        const ValueInfo info = g.valueInfo(product.outputs[0]);
        if (info.dtype == DType::Float32)
            removed += absorbActivations(g, product, info.shapeKnown ? info.shape.size() : 1, readers, outputs, gone,
                                         [](const Activation &) { return true; });
    }
    // The activations after a float32 layer normalisation (fused above, or the graph's own).
    for (Node &ln : g.nodes) {
        if (gone[size_t(&ln - g.nodes.data())] || ln.opType != "LayerNormalization" || !isDefaultDomain(ln.domain) ||
            (ln.outputs.size() > 1 && !std::all_of(ln.outputs.begin() + 1, ln.outputs.end(),
                                                   [](const std::string &o) { return o.empty(); })))
            continue;
        const ValueInfo info = g.valueInfo(ln.outputs[0]);
        if (info.dtype != DType::Float32)
            continue;
        removed += absorbActivations(g, ln, info.shapeKnown ? info.shape.size() : 1, readers, outputs, gone,
                                     [](const Activation &) { return true; });
        // Then a per-tensor QuantizeLinear, the output's only reader: the rows leave quantized.
        Node *q = soleReader(g, readers, outputs, gone, ln.outputs[0]);
        float scale = 0.f;
        int32_t zp = 0;
        DType type = DType::UInt8;
        if (q && q->inputs[0] == ln.outputs[0] && scalarQuantizer(g, *q, "QuantizeLinear", &scale, &zp, &type)) {
            ln.attrs[kQuantScale] = Attribute::makeFloat(scale);
            ln.attrs[kQuantZeroPoint] = Attribute::makeInt(zp);
            ln.attrs[kQuantSigned] = Attribute::makeInt(type == DType::Int8);
            ln.outputs[0] = q->outputs[0];
            gone[size_t(q - g.nodes.data())] = 1;
            ++removed;
        }
    }
    removed += fuseDequantizedAdds(g, readers, outputs, gone);
    removed += fuseQuantizedTables(g, readers, outputs, gone);
    removed += fuseQuantizedConcats(g, readers, outputs, gone);
    removed += fuseQuantizedInputs(g, readers, outputs, gone);
    std::vector<Node> nodes;
    nodes.reserve(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i)
        if (!gone[i])
            nodes.push_back(std::move(g.nodes[i]));
    g.nodes = std::move(nodes);
    // CW_BLOCKED=0 in the environment keeps every activation plain (for measurements, docs/performance.md).
    static const bool blockedOff = [] {
        const char *v = std::getenv("CW_BLOCKED");
        return v && std::string(v) == "0";
    }();
    if (!blockedOff)
        removed += blocked::markBlockedValues(g);
    if (fused)
        *fused = removed;
    return m;
}

} // namespace cw
