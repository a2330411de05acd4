// ONNX model bytes: protobuf parsing, the graph checks, shape inference (readOnnxBytes = loadModel in memory).
#include "core/io/model_io.h"
#include "tests/fuzz/fuzz.h"

CW_FUZZ_TARGET(onnx)
{
    cwfuzz::parse([&] { cw::readOnnxBytes(std::string(reinterpret_cast<const char *>(data), size), "fuzz.onnx"); });
    return 0;
}
