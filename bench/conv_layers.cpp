// Each Conv of a model timed alone, as the engine's Conv kernel runs it: the layer's weight, bias and attributes on a
// random input of the layer's input shape, one thread, median of N runs, in milliseconds. Sizes the file leaves open
// are 1 unless given as NAME=D,D,... for a graph input (its shape, propagated by shape inference); a layer whose sizes
// still do not fit is listed with the reason. Float16 weights are widened first, as a Session does. Run under
// CW_ONEDNN=0 (im2col and one gemm per image), CW_ONEDNN=1 (oneDNN) or neither (the engine's own choice) to compare the
// paths layer by layer; see bench/conv_layers.sh.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench/interleaved.h"
#include "core/io/model_io.h"
#include "core/runtime/half_floats.h"
#include "core/runtime/ops.h"
#include "core/runtime/shape_inference.h"

using namespace cw;

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s MODEL.onnx [RUNS [NAME=D,D,...]...]\n", argv[0]);
        return 2;
    }
    Model model = loadModel(argv[1]);
    if (std::optional<Model> wide = float32Arithmetic(model)) // float16 weights: in float32, as a Session runs them
        model = std::move(*wide);
    const int runs = argc > 2 ? std::atoi(argv[2]) : 100;
    for (int a = 3; a < argc; ++a) { // NAME=D,D,...: a graph input's shape
        const std::string arg = argv[a];
        const size_t eq = arg.find('=');
        for (ValueInfo &in : model.graph.inputs)
            if (in.name == arg.substr(0, eq)) {
                in.shape.clear();
                for (size_t p = eq; p != std::string::npos; p = arg.find(',', p + 1))
                    in.shape.push_back(std::atoll(arg.c_str() + p + 1));
            }
    }
    if (argc > 3)
        inferShapes(model);
    const std::vector<LayerInfo> layers = model.layers();
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    for (const Node &node : model.graph.nodes) {
        if (node.opType != "Conv" || !node.hasInput(1) || !model.graph.initializers.count(node.inputs[1]))
            continue;
        const auto layer =
            std::find_if(layers.begin(), layers.end(), [&](const LayerInfo &l) { return l.name == node.name; });
        if (layer == layers.end() || layer->inputs.empty())
            continue;
        Shape shape = layer->inputs[0].shape;
        for (int64_t &d : shape)
            d = std::max<int64_t>(d, 1);
        Tensor x(DType::Float32, shape);
        for (int64_t i = 0; i < x.numel(); ++i)
            x.f32()[i] = dist(rng);
        const Tensor &w = model.graph.initializers.at(node.inputs[1]);
        const Tensor *b = node.hasInput(2) ? &model.graph.initializers.at(node.inputs[2]) : nullptr;
        auto run = [&] {
            OpContext ctx{node, {&x, &w, b}, {}, 1};
            ctx.constantInputs = true; // as in a Session: oneDNN packs the weights once, not on every call
            ctx.outputs.resize(1);
            findKernel("Conv")(ctx);
        };
        try {
            run(); // warm-up: oneDNN creates its primitive and packs the weights
        } catch (const std::exception &e) {
            std::printf("%s\t\t\t(%s)\n", node.name.c_str(), e.what());
            continue;
        }
        std::vector<double> ms;
        for (int i = 0; i < runs; ++i) {
            const auto t0 = std::chrono::steady_clock::now();
            run();
            ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
        std::string dims;
        for (size_t i = 0; i < w.shape().size(); ++i)
            dims += (i ? "x" : "") + std::to_string(w.shape()[i]);
        std::printf("%s\t%s\t%lldx%lld\t%.4f\n", node.name.c_str(), dims.c_str(), (long long)shape[shape.size() - 2],
                    (long long)shape.back(), bench::median(ms));
    }
    return 0;
}
