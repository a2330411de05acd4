// ONNX model bytes: protobuf parsing, the graph checks, shape inference (readOnnxBytes = loadModel in memory),
// and what a compression job does first with a model: its compression form (subgraph weights, dynamic int8
// layers as float) and the layers a recipe plans.
#include "core/compress/recipe.h"
#include "core/io/model_io.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(onnx)
{
    cwfuzz::parse([&] {
        const cw::Model model = cw::readOnnxBytes(std::string(reinterpret_cast<const char *>(data), size), "fuzz.onnx");
        cw::planLayers(cw::Recipe{}, cw::compressionForm(model));
    });
    return 0;
}
