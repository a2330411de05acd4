// The rewrite walks the nodes once in topological order and keeps, per value, whether its float form exists
// and whether a uint8 form exists (with its grid). Float forms of quantized values are materialised lazily,
// by a DequantizeLinear right before the first float consumer, so a chain of integer layers and pooling never
// leaves uint8.
#include "core/compress/qrewrite.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/base/error.h"

namespace cw {

namespace {

Tensor uint8Scalar(uint8_t v)
{
    Tensor t(DType::UInt8, {});
    t.data<uint8_t>()[0] = v;
    return t;
}

int consumerCount(const Graph &g, const std::string &value)
{
    int n = 0;
    for (const Node &node : g.nodes)
        for (const std::string &in : node.inputs)
            n += in == value;
    for (const ValueInfo &o : g.outputs)
        n += o.name == value;
    return n;
}

bool isGraphOutput(const Graph &g, const std::string &value)
{
    return std::any_of(g.outputs.begin(), g.outputs.end(), [&](const ValueInfo &o) { return o.name == value; });
}

} // namespace

std::string whyNotInteger(const Node &node, const Graph &g, const LayerConfig &cfg)
{
    if (!cfg.weights || cfg.skip)
        return "its weights are not quantized";
    if (!cfg.weights->symmetric)
        return "its weights are asymmetric";
    if (node.inputs.size() < 2 || layerWeight(g, node) != node.inputs[1])
        return "its weight is not its second input";
    // QuantizeLinear takes float32 (a float16 model's layers keep float arithmetic behind their weights).
    if (auto in = g.values.find(node.inputs[0]); in != g.values.end() && in->second.dtype != DType::Float32)
        return "its input is not float32";
    const Tensor &w = g.initializers.at(node.inputs[1]);
    if (cfg.weights->granularity == Granularity::Group && w.numel() / w.dim(0) > cfg.weights->groupSize)
        return "its weights are scaled per group (integer kernels scale whole output channels)";
    if (node.hasInput(2) && !g.isInitializer(node.inputs[2]))
        return "its bias is not a constant";
    if (node.opType == "Conv") {
        if (w.rank() != 3 && w.rank() != 4)
            return "it is a " + std::to_string(w.rank() - 2) + "-D convolution (QLinearConv here: 1-D and 2-D)";
        if (node.attrString("auto_pad", "NOTSET") != "NOTSET")
            return "it sets auto_pad (the rewrite keeps explicit pads)";
        return {};
    }
    if (node.opType == "Gemm") {
        if (w.rank() == 2 && node.attrInt("transA", 0) == 0 && node.attrInt("transB", 0) == 1 &&
            node.attrFloat("alpha", 1.f) == 1.f && node.attrFloat("beta", 1.f) == 1.f &&
            (!node.hasInput(2) || g.initializers.at(node.inputs[2]).rank() == 1))
            return {};
        return "QGemm takes transA 0, transB 1, alpha and beta 1 and a 1-D bias";
    }
    return "it is a " + node.opType + " (Conv and Gemm run on integer kernels)";
}

// 1-D convolutions keep float arithmetic unless the recipe asks (layers.NAME.integer): in the audio models of the
// set their inputs (a waveform, a spectrum) span more loudness than an 8-bit grid's 48 dB. On speech-like audio over a 40 dB range, the melspectrogram front end's STFT
// on integer kernels kept 12.7 dB SQNR (55.6 dB with float arithmetic), and silero-vad-16k-op15 with its 1-D
// convolutions so -1.9 dB (23.4 dB); bench/int8_signals.sh, docs/models.md.
bool runsOnIntegerKernels(const Node &node, const Graph &g, const LayerConfig &cfg)
{
    if (cfg.integer == false || !whyNotInteger(node, g, cfg).empty())
        return false;
    const bool oneD = node.opType == "Conv" && g.initializers.at(node.inputs[1]).rank() == 3;
    return !oneD || cfg.integer == true;
}

namespace {

// The value an integer layer's uint8 output stands for: its own output, or that of a Relu that is its sole
// consumer (fused). *relu gets the fused Relu's name.
std::string fusedOutput(const Node &node, const Graph &g, std::string *relu)
{
    const std::string &out = node.outputs[0];
    if (isGraphOutput(g, out))
        return out;
    const std::vector<const Node *> consumers = g.consumers(out);
    if (consumers.size() == 1 && consumers[0]->opType == "Relu" && consumerCount(g, out) == 1) {
        if (relu)
            *relu = consumers[0]->name;
        return consumers[0]->outputs[0];
    }
    return out;
}

} // namespace

std::vector<std::string> activationValuesToCalibrate(const Model &model, const std::vector<LayerPlan> &plan)
{
    const Graph &g = model.graph;
    std::vector<std::string> values;
    auto add = [&](const std::string &v) {
        if (std::find(values.begin(), values.end(), v) == values.end())
            values.push_back(v);
    };
    for (const LayerPlan &p : plan) {
        const Node *node = g.findNode(p.node);
        if (p.config.integer == true) {
            const std::string why = node ? whyNotInteger(*node, g, p.config) : "it is inside an If / Loop / Scan subgraph";
            if (!why.empty())
                throw Error("recipe: layers." + p.node + ".integer: " + p.node + " cannot run on integer kernels: " + why);
        }
        if (!node || !runsOnIntegerKernels(*node, g, p.config))
            continue;
        if (!g.isInitializer(node->inputs[0]))
            add(node->inputs[0]);
        const std::string out = fusedOutput(*node, g, nullptr);
        if (!(node->opType == "Gemm" && isGraphOutput(g, out)))
            add(out);
    }
    return values;
}

int rewriteQuantized(Model &model, const std::vector<LayerPlan> &plan,
                     const std::map<std::string, ActivationRange> &ranges)
{
    Graph &g = model.graph;
    std::map<std::string, const LayerConfig *> configs;
    for (const LayerPlan &p : plan)
        configs[p.node] = &p.config;

    struct QValue {
        std::string q, scale, zp;
        float s = 1.f;
    };
    std::map<std::string, QValue> quant;
    std::set<std::string> floatReady;
    for (const ValueInfo &in : g.inputs)
        floatReady.insert(in.name);
    std::set<std::string> fusedRelus;
    std::vector<Node> nodes;
    std::map<std::string, Tensor> &inits = g.initializers;
    int integerLayers = 0;

    auto uniqueName = [&](const std::string &base) {
        std::string name = base;
        for (int k = 2; inits.count(name) || g.values.count(name) || g.findNode(name); ++k)
            name = base + "_" + std::to_string(k);
        return name;
    };
    auto needFloat = [&](const std::string &v) {
        if (v.empty() || floatReady.count(v) || inits.count(v))
            return;
        auto it = quant.find(v);
        if (it == quant.end())
            return; // produced by a float node not yet seen: the graph order guarantees it already ran
        Node dq;
        dq.name = uniqueName(v + "_dequantize");
        dq.opType = "DequantizeLinear";
        dq.inputs = {it->second.q, it->second.scale, it->second.zp};
        dq.outputs = {v};
        nodes.push_back(dq);
        floatReady.insert(v);
    };
    auto gridValue = [&](const std::string &v, const std::string &qname) {
        auto r = ranges.find(v);
        if (r == ranges.end())
            throw Error("no calibrated range for activation '" + v + "'");
        const ActivationGrid grid = activationGrid(r->second);
        QValue qv;
        qv.q = qname;
        qv.scale = uniqueName(v + "_scale");
        qv.zp = uniqueName(v + "_zero_point");
        qv.s = grid.scale;
        inits[qv.scale] = Tensor::scalar(grid.scale);
        inits[qv.zp] = uint8Scalar(grid.zeroPoint);
        return qv;
    };
    auto needQuant = [&](const std::string &v) -> QValue {
        auto it = quant.find(v);
        if (it != quant.end())
            return it->second;
        needFloat(v);
        QValue qv = gridValue(v, uniqueName(v + "_quantized"));
        Node qn;
        qn.name = uniqueName(v + "_quantize");
        qn.opType = "QuantizeLinear";
        qn.inputs = {v, qv.scale, qv.zp};
        qn.outputs = {qv.q};
        nodes.push_back(qn);
        quant[v] = qv;
        return qv;
    };

    // Weight-only: the float weight becomes integers and a DequantizeLinear producing it under its own name.
    auto dequantizedWeight = [&](const Node &node, const std::string &wName, const QuantSpec &spec) {
        const Tensor &w = inits.at(wName);
        int chAxis = 0, redAxis = 1;
        layerAxes(node, w.shape(), &chAxis, &redAxis);
        const IntegerWeight iw = quantizeWeightInteger(w, spec, chAxis, redAxis);
        const std::string wq = uniqueName(wName + "_quantized"), ws = uniqueName(wName + "_scale"),
                          wz = uniqueName(wName + "_zero_point");
        inits[wq] = iw.q;
        inits[ws] = iw.scale;
        inits[wz] = iw.zeroPoint;
        Node dq;
        dq.name = uniqueName(node.name + "_weight_dequantize");
        dq.opType = "DequantizeLinear";
        dq.inputs = {wq, ws, wz};
        dq.outputs = {wName};
        if (iw.axis >= 0)
            dq.attrs["axis"] = Attribute::makeInt(iw.axis);
        if (iw.blockSize > 0)
            dq.attrs["block_size"] = Attribute::makeInt(iw.blockSize);
        nodes.push_back(dq);
        inits.erase(wName); // now a value, produced by the DequantizeLinear
        floatReady.insert(wName);
    };
    // Layers inside control-flow subgraphs read their weight from this graph: it is dequantized up front and
    // the subgraph stays as it is.
    for (const LayerPlan &p : plan)
        if (p.nested && p.config.weights && !p.config.skip)
            dequantizedWeight(*findLayerNode(g, p.node), p.weight, *p.config.weights);

    std::set<std::string> replaced; // float initializers no longer used
    for (const Node &original : g.nodes) {
        if (fusedRelus.count(original.name))
            continue;
        Node node = original;
        auto cfgIt = configs.find(node.name);
        const LayerConfig *cfg = cfgIt == configs.end() ? nullptr : cfgIt->second;
        const bool quantizedWeights = cfg && cfg->weights && !cfg->skip;
        const bool integer = quantizedWeights && !ranges.empty() && runsOnIntegerKernels(node, g, *cfg);

        if (integer) {
            const std::string wName = node.inputs[1];
            const Tensor &w = inits.at(wName);
            int chAxis = 0, redAxis = 1;
            layerAxes(node, w.shape(), &chAxis, &redAxis);
            QuantSpec spec = *cfg->weights;
            if (spec.granularity == Granularity::Group)
                spec.granularity = Granularity::Channel;
            const IntegerWeight iw = quantizeWeightInteger(w, spec, chAxis, redAxis);
            const int64_t channels = w.dim(0);
            const QValue x = needQuant(node.inputs[0]);
            std::string relu;
            const std::string out = fusedOutput(node, g, &relu);
            const bool floatOut = node.opType == "Gemm" && isGraphOutput(g, out);

            const std::string wq = uniqueName(wName + "_quantized"), ws = uniqueName(wName + "_scale"),
                              wz = uniqueName(wName + "_zero_point");
            inits[wq] = iw.q;
            inits[ws] = iw.scale;
            inits[wz] = iw.zeroPoint;
            // int32 bias in accumulator units: b / (x_scale * w_scale[c])
            Tensor bias(DType::Int32, {channels});
            if (node.hasInput(2)) {
                const Tensor &b = inits.at(node.inputs[2]);
                for (int64_t c = 0; c < channels; ++c) {
                    const float wsc = iw.scale.numel() == 1 ? iw.scale.f32()[0] : iw.scale.f32()[c];
                    const double v = std::nearbyint(double(b.f32()[c]) / (double(x.s) * double(wsc)));
                    bias.data<int32_t>()[c] = int32_t(std::clamp(v, -2147483647.0, 2147483647.0));
                }
                replaced.insert(node.inputs[2]);
            }
            const std::string bq = uniqueName(node.name + "_bias_quantized");
            inits[bq] = bias;
            replaced.insert(wName);

            Node qn;
            qn.name = node.name;
            qn.attrs = node.attrs;
            if (node.opType == "Conv") {
                qn.opType = "QLinearConv";
                QValue y = gridValue(out, uniqueName(out + "_quantized"));
                qn.inputs = {x.q, x.scale, x.zp, wq, ws, wz, y.scale, y.zp, bq};
                qn.outputs = {y.q};
                quant[out] = y;
            } else {
                qn.opType = "QGemm";
                qn.domain = "com.microsoft";
                qn.attrs.erase("beta");
                qn.attrs["transB"] = Attribute::makeInt(1);
                qn.attrs["alpha"] = Attribute::makeFloat(1.f);
                qn.inputs = {x.q, x.scale, x.zp, wq, ws, wz, bq};
                if (floatOut) {
                    qn.outputs = {out};
                    floatReady.insert(out);
                } else {
                    QValue y = gridValue(out, uniqueName(out + "_quantized"));
                    qn.inputs.push_back(y.scale);
                    qn.inputs.push_back(y.zp);
                    qn.outputs = {y.q};
                    quant[out] = y;
                }
            }
            if (!relu.empty())
                fusedRelus.insert(relu);
            nodes.push_back(qn);
            ++integerLayers;
            continue;
        }

        if (quantizedWeights)
            dequantizedWeight(node, layerWeight(g, node), *cfg->weights);

        // Pure data movement runs on uint8 as it is (the grid passes through unchanged).
        const bool passThrough = (node.opType == "MaxPool" || node.opType == "Flatten" || node.opType == "Reshape") &&
                                 node.outputs.size() == 1 && !node.inputs.empty() && quant.count(node.inputs[0]) &&
                                 !floatReady.count(node.inputs[0]);
        if (passThrough) {
            const QValue in = quant.at(node.inputs[0]);
            QValue outQ = in;
            outQ.q = uniqueName(node.outputs[0] + "_quantized");
            node.inputs[0] = in.q;
            const std::string floatOut = node.outputs[0];
            node.outputs[0] = outQ.q;
            quant[floatOut] = outQ;
            nodes.push_back(node);
            continue;
        }

        for (const std::string &in : node.inputs)
            needFloat(in);
        for (const std::string &in : implicitInputs(node)) // what its subgraphs read of this graph
            needFloat(in);
        for (const std::string &o : node.outputs)
            if (!o.empty())
                floatReady.insert(o);
        nodes.push_back(node);
    }
    for (const ValueInfo &o : g.outputs)
        needFloat(o.name);

    g.nodes = std::move(nodes);
    std::set<std::string> used;
    for (const Node &n : g.nodes) {
        used.insert(n.inputs.begin(), n.inputs.end());
        for (const std::string &in : implicitInputs(n))
            used.insert(in);
    }
    for (const std::string &name : replaced)
        if (!used.count(name))
            inits.erase(name);
    return integerLayers;
}

} // namespace cw
