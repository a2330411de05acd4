// ONNX model bytes: protobuf parsing, the graph checks, shape inference (readOnnxBytes = loadModel in memory),
// what opening a model shows (the layer table, weight statistics with quantized layers' integer weights), and
// what a compression job does first with a model: its compression form (subgraph weights, quantized layers as
// float) and the layers a recipe plans.
#include "core/analysis/stats.h"
#include "core/compress/recipe.h"
#include "core/io/model_io.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(onnx)
{
    cwfuzz::parse([&] {
        const cw::Model model = cw::readOnnxBytes(std::string(reinterpret_cast<const char *>(data), size), "fuzz.onnx");
        model.layers();
        cw::computeLayerStats(model, cw::StatsOptions{1.0, false, 1, {}});
        cw::planLayers(cw::Recipe{}, cw::compressionForm(model));
    });
    return 0;
}
