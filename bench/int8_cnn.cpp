// Builds the demo CNN as a fully int8 graph by hand (docs/formats.md, "Quantized graphs"), independently of
// the compression pipeline, so the int8 kernels can be timed against the fp32 demo:
//   BatchNorm folded; weights int8 symmetric per output channel; activations uint8 with scales from the
//   maximum of each ReLU output over calibration samples (zero point 0, the ReLU fused into the layer);
//   Quantize → QLinearConv → MaxPool → QLinearConv → MaxPool → Flatten → QGemm → QGemm (float logits).
// usage: int8_cnn OUT.h5|OUT.onnx [CALIBRATION_SAMPLES]   (calibration: the first samples of fashion-mnist:train)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/base/error.h"
#include "core/graph/transform.h"
#include "core/io/dataset.h"
#include "core/io/model_io.h"
#include "core/runtime/session.h"
#include "core/runtime/shape_inference.h"

using namespace cw;

namespace {

Tensor scalarU8(uint8_t v)
{
    Tensor t(DType::UInt8, {});
    t.data<uint8_t>()[0] = v;
    return t;
}

struct QWeight {
    Tensor q, scale, zp;
};

// Symmetric per-output-channel int8: scale = max|w| / 127.
QWeight quantizePerChannel(const Tensor &w)
{
    const int64_t M = w.dim(0), K = w.numel() / M;
    QWeight r{Tensor(DType::Int8, w.shape()), Tensor(DType::Float32, {M}), Tensor(DType::Int8, {M})};
    for (int64_t m = 0; m < M; ++m) {
        float amax = 0;
        for (int64_t k = 0; k < K; ++k)
            amax = std::max(amax, std::abs(w.f32()[m * K + k]));
        const float s = amax > 0 ? amax / 127.f : 1.f;
        r.scale.f32()[m] = s;
        for (int64_t k = 0; k < K; ++k)
            r.q.data<int8_t>()[m * K + k] = int8_t(std::clamp(std::nearbyint(w.f32()[m * K + k] / s), -127.f, 127.f));
    }
    return r;
}

Tensor quantizeBias(const Tensor &b, float xScale, const Tensor &wScale)
{
    Tensor q(DType::Int32, b.shape());
    for (int64_t m = 0; m < b.numel(); ++m)
        q.data<int32_t>()[m] = int32_t(std::nearbyint(double(b.f32()[m]) / (double(xScale) * wScale.f32()[m])));
    return q;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s OUT.h5|OUT.onnx [CALIBRATION_SAMPLES]\n", argv[0]);
        return 2;
    }
    try {
        const int64_t samples = argc > 2 ? std::atoll(argv[2]) : 500;
        Model fp = loadModel("demo");
        foldBatchNorm(fp);
        inferShapes(fp);
        const Graph &g = fp.graph;
        auto nodeWithOp = [&](const std::string &op, int index) -> const Node & {
            int seen = 0;
            for (const Node &n : g.nodes)
                if (n.opType == op && seen++ == index)
                    return n;
            throw Error("the demo has no " + op + " #" + std::to_string(index));
        };
        const Node &conv1 = nodeWithOp("Conv", 0), &conv2 = nodeWithOp("Conv", 1);
        const Node &fc1 = nodeWithOp("Gemm", 0), &fc2 = nodeWithOp("Gemm", 1);
        const Node &relu1 = nodeWithOp("Relu", 0), &relu2 = nodeWithOp("Relu", 1), &relu3 = nodeWithOp("Relu", 2);
        if (fc1.attrInt("transB", 0) != 1 || fc2.attrInt("transB", 0) != 1)
            throw Error("the demo's Gemm layers are expected with transB = 1");

        // Activation scales: max of each ReLU output over the calibration samples.
        const Dataset calib = loadDataset("fashion-mnist:train", {}, samples);
        const Session session(fp, SessionOptions{0});
        float max1 = 0, max2 = 0, max3 = 0;
        for (int64_t b = 0; b < calib.size(); b += 100) {
            const auto all = session.runAll({{g.inputs[0].name, calib.batch(b, std::min<int64_t>(100, calib.size() - b))}});
            auto maxOf = [&](const std::string &v) {
                const Tensor &t = all.at(v);
                return *std::max_element(t.f32(), t.f32() + t.numel());
            };
            max1 = std::max(max1, maxOf(relu1.outputs[0]));
            max2 = std::max(max2, maxOf(relu2.outputs[0]));
            max3 = std::max(max3, maxOf(relu3.outputs[0]));
        }
        const float sIn = 1.f / 255.f, s1 = max1 / 255.f, s2 = max2 / 255.f, s3 = max3 / 255.f;
        std::fprintf(stderr, "activation scales: input %.6g, relu1 %.6g, relu2 %.6g, relu3 %.6g\n", sIn, s1, s2, s3);

        Model q;
        q.producerName = "int8_cnn";
        q.sourcePath = argv[1];
        q.metadata = fp.metadata;
        q.metadata["quantization"] = "int8 weights per channel, uint8 activations (max calibration, " +
                                     std::to_string(samples) + " samples), hand-built by bench/int8_cnn.cpp";
        Graph &qg = q.graph;
        qg.name = "demo_int8";
        qg.inputs = g.inputs;
        qg.outputs = {ValueInfo{g.outputs[0].name, DType::Float32, g.outputs[0].shape, g.outputs[0].shapeKnown}};
        auto init = [&](const std::string &name, Tensor t) {
            qg.initializers[name] = std::move(t);
            return name;
        };
        init("zero_u8", scalarU8(0));
        init("s_in", Tensor::scalar(sIn));
        init("s1", Tensor::scalar(s1));
        init("s2", Tensor::scalar(s2));
        init("s3", Tensor::scalar(s3));
        auto add = [&](Node n) { qg.nodes.push_back(std::move(n)); };
        auto layerInputs = [&](const Node &layer, const std::string &x, const std::string &xs, const std::string &ys,
                               bool quantizedOut) {
            const QWeight w = quantizePerChannel(g.initializers.at(layer.inputs[1]));
            const std::string p = layer.name;
            std::vector<std::string> in{x, xs, "zero_u8", init(p + ".weight_q", w.q), init(p + ".weight_scale", w.scale),
                                        init(p + ".weight_zp", w.zp)};
            const Tensor bias = layer.inputs.size() > 2 ? g.initializers.at(layer.inputs[2])
                                                        : Tensor(DType::Float32, {w.scale.numel()});
            const Tensor bq = quantizeBias(bias, qg.initializers.at(xs).f32()[0], w.scale);
            if (layer.opType == "Conv") {
                in.insert(in.end(), {ys, "zero_u8", init(p + ".bias_q", bq)});
            } else {
                in.push_back(init(p + ".bias_q", bq));
                if (quantizedOut)
                    in.insert(in.end(), {ys, "zero_u8"});
            }
            return in;
        };
        Node quant{"input_quantize", "QuantizeLinear", "", {g.inputs[0].name, "s_in", "zero_u8"}, {"input_q"}, {}};
        add(quant);
        Node c1{"conv1", "QLinearConv", "", layerInputs(conv1, "input_q", "s_in", "s1", true), {"conv1_q"}, conv1.attrs};
        add(c1);
        Node p1{"pool1", "MaxPool", "", {"conv1_q"}, {"pool1_q"}, nodeWithOp("MaxPool", 0).attrs};
        add(p1);
        Node c2{"conv2", "QLinearConv", "", layerInputs(conv2, "pool1_q", "s1", "s2", true), {"conv2_q"}, conv2.attrs};
        add(c2);
        Node p2{"pool2", "MaxPool", "", {"conv2_q"}, {"pool2_q"}, nodeWithOp("MaxPool", 1).attrs};
        add(p2);
        Node fl{"flatten", "Flatten", "", {"pool2_q"}, {"flatten_q"}, nodeWithOp("Flatten", 0).attrs};
        add(fl);
        Node f1{"fc1", "QGemm", "com.microsoft", layerInputs(fc1, "flatten_q", "s2", "s3", true), {"fc1_q"}, {}};
        f1.attrs["transB"] = Attribute::makeInt(1);
        add(f1);
        Node f2{"fc2", "QGemm", "com.microsoft", layerInputs(fc2, "fc1_q", "s3", "", false), {g.outputs[0].name}, {}};
        f2.attrs["transB"] = Attribute::makeInt(1);
        add(f2);
        for (Node &n : qg.nodes)
            n.attrs.erase("_opset");
        inferShapes(q);
        saveModel(q, argv[1]);
        std::fprintf(stderr, "wrote %s\n", argv[1]);
    } catch (const std::exception &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
