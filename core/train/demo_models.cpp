#include "core/train/demo_models.h"

#include <cmath>
#include <numbers>

#include "core/base/error.h"
#include "core/runtime/session.h"
#include "core/runtime/shape_inference.h"

namespace cw {

namespace {

// Builds nodes and He-initialised weights from a seeded generator (splitmix64 + Box-Muller), so the same
// seed gives the same weights on every platform.
class Builder {
public:
    explicit Builder(uint64_t seed) : m_state(seed * 0x2545F4914F6CDD1DULL + 0x9E3779B97F4A7C15ULL) {}

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

    double uniform()
    {
        uint64_t z = (m_state += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        return (double(z >> 11) + 0.5) / 9007199254740992.0; // (0, 1)
    }

    double normal()
    {
        return std::sqrt(-2.0 * std::log(uniform())) * std::cos(2.0 * std::numbers::pi * uniform());
    }

    std::string he(const std::string &name, Shape shape, int64_t fanIn)
    {
        Tensor t(DType::Float32, std::move(shape));
        const double stddev = std::sqrt(2.0 / double(fanIn));
        for (int64_t i = 0; i < t.numel(); ++i)
            t.f32()[i] = float(normal() * stddev);
        model.graph.initializers[name] = t;
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

    uint64_t m_state;
};

void buildCnn(Builder &b)
{
    std::string x = "input";
    x = b.conv("conv1", x, 1, 32, 3, 1, 1, false);
    x = b.bn("bn1", x, 32);
    x = b.unary("Relu", "relu1", x);
    x = b.maxPool("pool1", x);
    x = b.conv("conv2", x, 32, 64, 3, 1, 1, false);
    x = b.bn("bn2", x, 64);
    x = b.unary("Relu", "relu2", x);
    x = b.maxPool("pool2", x);
    x = b.unary("Flatten", "flatten", x);
    x = b.gemm("fc1", x, 64 * 7 * 7, 128);
    x = b.unary("Relu", "relu3", x);
    b.gemm("fc2", x, 128, 10);
    b.renameLastOutput("logits");
}

void buildResnet(Builder &b)
{
    std::string x = "input";
    x = b.conv("conv1", x, 1, 32, 3, 1, 1, false);
    x = b.bn("bn1", x, 32);
    x = b.unary("Relu", "relu1", x);
    x = b.maxPool("pool1", x);

    // block1: identity shortcut, 32 channels at 14x14.
    std::string y = b.conv("block1.conv1", x, 32, 32, 3, 1, 1, false);
    y = b.bn("block1.bn1", y, 32);
    y = b.unary("Relu", "block1.relu1", y);
    y = b.conv("block1.conv2", y, 32, 32, 3, 1, 1, false);
    y = b.bn("block1.bn2", y, 32);
    y = b.sum("block1.add", y, x);
    x = b.unary("Relu", "block1.relu", y);

    // block2: downsampling to 64 channels at 7x7, projection shortcut.
    y = b.conv("block2.conv1", x, 32, 64, 3, 2, 1, false);
    y = b.bn("block2.bn1", y, 64);
    y = b.unary("Relu", "block2.relu1", y);
    y = b.conv("block2.conv2", y, 64, 64, 3, 1, 1, false);
    y = b.bn("block2.bn2", y, 64);
    std::string s = b.conv("block2.shortcut.conv", x, 32, 64, 1, 2, 0, false);
    s = b.bn("block2.shortcut.bn", s, 64);
    y = b.sum("block2.add", y, s);
    x = b.unary("Relu", "block2.relu", y);

    x = b.unary("GlobalAveragePool", "gap", x);
    x = b.unary("Flatten", "flatten", x);
    b.gemm("fc", x, 64, 10);
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

Model buildDemoModel(const std::string &arch, uint64_t seed)
{
    Builder b(seed);
    if (arch == "cnn")
        buildCnn(b);
    else if (arch == "resnet")
        buildResnet(b);
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
