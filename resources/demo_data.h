// Bytes of the built-in demo models (native .h5 files trained by `cwb train`, embedded at build time).
#pragma once

#include <string_view>

namespace cw {
// name: "demo" (small CNN), "demo-resnet" or "demo-lm" (the GGUF language model trained by `cwb train-lm`);
// empty when that demo was not built in.
std::string_view demoModelBytes(std::string_view name);
} // namespace cw
