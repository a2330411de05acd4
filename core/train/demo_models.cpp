#include "core/train/demo_models.h"

#include <algorithm>
#include <cmath>

#include "core/base/error.h"
#include "core/runtime/session.h"
#include "core/runtime/shape_inference.h"
#include "core/train/init.h"

namespace cw {

namespace {

// Builds nodes and He-initialised weights from a seeded generator (init.h), so the same seed gives the same
// weights on every platform.
class Builder {
public:
    explicit Builder(uint64_t seed) : m_rng(seed) {}

    Model model;

    std::string conv(const std::string &name, const std::string &x, int64_t in, int64_t out, int64_t k,
                     int64_t stride, int64_t pad, bool bias)
    {
        Node n;
        n.name = name;
        n.opType = "Conv";
        n.inputs = {x, he(name + ".weight", {out, in, k, k}, in * k * k)};
        if (bias)
            n.inputs.push_back(zeros(name + ".bias", {out}));
        n.attrs["kernel_shape"] = Attribute::makeInts({k, k});
        n.attrs["strides"] = Attribute::makeInts({stride, stride});
        n.attrs["pads"] = Attribute::makeInts({pad, pad, pad, pad});
        return add(std::move(n));
    }

    std::string bn(const std::string &name, const std::string &x, int64_t channels)
    {
        Node n;
        n.name = name;
        n.opType = "BatchNormalization";
        n.inputs = {x, fill(name + ".scale", channels, 1.f), fill(name + ".bias", channels, 0.f),
                    fill(name + ".mean", channels, 0.f), fill(name + ".var", channels, 1.f)};
        n.attrs["epsilon"] = Attribute::makeFloat(1e-5f);
        n.attrs["momentum"] = Attribute::makeFloat(0.9f);
        return add(std::move(n));
    }

    std::string gemm(const std::string &name, const std::string &x, int64_t in, int64_t out)
    {
        Node n;
        n.name = name;
        n.opType = "Gemm";
        n.inputs = {x, he(name + ".weight", {out, in}, in), zeros(name + ".bias", {out})};
        n.attrs["transB"] = Attribute::makeInt(1);
        return add(std::move(n));
    }

    std::string unary(const std::string &op, const std::string &name, const std::string &x)
    {
        Node n;
        n.name = name;
        n.opType = op;
        n.inputs = {x};
        if (op == "Flatten")
            n.attrs["axis"] = Attribute::makeInt(1);
        return add(std::move(n));
    }

    std::string maxPool(const std::string &name, const std::string &x)
    {
        Node n;
        n.name = name;
        n.opType = "MaxPool";
        n.inputs = {x};
        n.attrs["kernel_shape"] = Attribute::makeInts({2, 2});
        n.attrs["strides"] = Attribute::makeInts({2, 2});
        return add(std::move(n));
    }

    std::string sum(const std::string &name, const std::string &a, const std::string &b)
    {
        Node n;
        n.name = name;
        n.opType = "Add";
        n.inputs = {a, b};
        return add(std::move(n));
    }

    // Renames the last node's output (the graph output gets a stable, meaningful name).
    void renameLastOutput(const std::string &value) { model.graph.nodes.back().outputs[0] = value; }

private:
    std::string add(Node n)
    {
        n.outputs = {n.name};
        model.graph.nodes.push_back(n);
        return n.name;
    }

    std::string he(const std::string &name, Shape shape, int64_t fanIn)
    {
        model.graph.initializers[name] = heNormal(shape, fanIn, m_rng);
        return name;
    }

    std::string zeros(const std::string &name, Shape shape)
    {
        model.graph.initializers[name] = Tensor(DType::Float32, std::move(shape));
        return name;
    }

    std::string fill(const std::string &name, int64_t n, float value)
    {
        model.graph.initializers[name] = Tensor::fromFloats({n}, std::vector<float>(size_t(n), value));
        return name;
    }

    SeededNormal m_rng;
};

// Channel count of a layer at a width multiplier (at least one channel).
int64_t scaled(int64_t channels, double width)
{
    return std::max<int64_t>(1, std::llround(double(channels) * width));
}

void buildCnn(Builder &b, double width)
{
    const int64_t c1 = scaled(32, width), c2 = scaled(64, width), f1 = scaled(128, width);
    std::string x = "input";
    x = b.conv("conv1", x, 1, c1, 3, 1, 1, false);
    x = b.bn("bn1", x, c1);
    x = b.unary("Relu", "relu1", x);
    x = b.maxPool("pool1", x);
    x = b.conv("conv2", x, c1, c2, 3, 1, 1, false);
    x = b.bn("bn2", x, c2);
    x = b.unary("Relu", "relu2", x);
    x = b.maxPool("pool2", x);
    x = b.unary("Flatten", "flatten", x);
    x = b.gemm("fc1", x, c2 * 7 * 7, f1);
    x = b.unary("Relu", "relu3", x);
    b.gemm("fc2", x, f1, 10);
    b.renameLastOutput("logits");
}

void buildResnet(Builder &b, double width)
{
    const int64_t c1 = scaled(32, width), c2 = scaled(64, width);
    std::string x = "input";
    x = b.conv("conv1", x, 1, c1, 3, 1, 1, false);
    x = b.bn("bn1", x, c1);
    x = b.unary("Relu", "relu1", x);
    x = b.maxPool("pool1", x);

    // block1: identity shortcut, 32 channels at 14x14.
    std::string y = b.conv("block1.conv1", x, c1, c1, 3, 1, 1, false);
    y = b.bn("block1.bn1", y, c1);
    y = b.unary("Relu", "block1.relu1", y);
    y = b.conv("block1.conv2", y, c1, c1, 3, 1, 1, false);
    y = b.bn("block1.bn2", y, c1);
    y = b.sum("block1.add", y, x);
    x = b.unary("Relu", "block1.relu", y);

    // block2: downsampling to 64 channels at 7x7, projection shortcut.
    y = b.conv("block2.conv1", x, c1, c2, 3, 2, 1, false);
    y = b.bn("block2.bn1", y, c2);
    y = b.unary("Relu", "block2.relu1", y);
    y = b.conv("block2.conv2", y, c2, c2, 3, 1, 1, false);
    y = b.bn("block2.bn2", y, c2);
    std::string s = b.conv("block2.shortcut.conv", x, c1, c2, 1, 2, 0, false);
    s = b.bn("block2.shortcut.bn", s, c2);
    y = b.sum("block2.add", y, s);
    x = b.unary("Relu", "block2.relu", y);

    x = b.unary("GlobalAveragePool", "gap", x);
    x = b.unary("Flatten", "flatten", x);
    b.gemm("fc", x, c2, 10);
    b.renameLastOutput("logits");
}

} // namespace

std::vector<std::string> demoArchitectures()
{
    return {"cnn", "resnet"};
}

std::vector<std::string> fashionMnistClassNames()
{
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
}

Model buildDemoModel(const std::string &arch, uint64_t seed, double width)
{
    if (!(width > 0.0 && width <= 4.0))
        throw Error("the width multiplier must be in (0, 4], got " + std::to_string(width));
    Builder b(seed);
    if (arch == "cnn")
        buildCnn(b, width);
    else if (arch == "resnet")
        buildResnet(b, width);
    else
        throw Error("unknown demo architecture '" + arch + "' (expected \"cnn\" or \"resnet\")");

    Model &m = b.model;
    m.graph.name = "demo-" + arch;
    m.producerName = "compression-workbench";
    m.sourcePath = "demo-" + arch;
    m.graph.inputs = {ValueInfo{"input", DType::Float32, {-1, 1, 28, 28}, true, {}}};
    m.graph.outputs = {ValueInfo{"logits", DType::Float32, {-1, 10}, true, {}}};
    m.metadata["architecture"] = arch == "cnn"
                                     ? "cnn: conv(32)-bn-relu-maxpool, conv(64)-bn-relu-maxpool, fc(128)-relu, fc(10)"
                                     : "resnet: conv(32)-bn-relu-maxpool, residual block (32), downsampling residual "
                                       "block (64, stride 2), global average pool, fc(10)";
    m.metadata["dataset"] = "fashion-mnist";
    m.metadata["input"] = "1x28x28 grayscale scaled to [0,1]";
    std::string classes;
    for (const std::string &c : fashionMnistClassNames())
        classes += (classes.empty() ? "" : ",") + c;
    m.metadata["classes"] = classes;
    m.metadata["seed"] = std::to_string(seed);
    if (width != 1.0) {
        m.graph.name += "-w" + std::to_string(width).substr(0, 4);
        m.metadata["width"] = std::to_string(width).substr(0, 4);
        m.metadata["architecture"] += " (channels x " + std::to_string(width).substr(0, 4) + ")";
    }
    inferShapes(m);
    return m;
}

TrainOptions demoTrainOptions(const std::string &arch)
{
    if (arch != "cnn" && arch != "resnet")
        throw Error("unknown demo architecture '" + arch + "' (expected \"cnn\" or \"resnet\")");
    TrainOptions o;
    o.epochs = 5;
    o.batchSize = 64;
    o.lr = 1e-3f;
    o.optimizer = Optimizer::Adam;
    o.schedule = LrSchedule::Cosine;
    o.weightDecay = 0.f;
    o.seed = 1;
    return o;
}

} // namespace cw
