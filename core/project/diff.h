// Two models of a project side by side, layer by layer: the settings each one's recipe gave the layer, and what
// became of the layer's weight — its shape, stored bytes and its error against the base's weight. The Compare
// tab's side-by-side view reads these.
//
// A side is the base (index -1) or a variant. The error is measured on the weights as they are, not predicted:
// the variant's values (a quantized weight's (q − zero point) × scale, floatWeightForm) against the base's with
// BatchNorm folded (the compression pipeline folds it first, so a folded weight is not an error). Fine-tuning
// and distillation changes count. A layer whose shape changed (channel pruning) or that a side does not have
// gets no error.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/project/project.h"
#include "core/quant/quantize.h"

namespace cw {

struct LayerSide {
    bool present = false;
    std::string settings;            // layerSettingsLabel of its recipe's plan; "base" for the base
    Shape shape;
    int64_t storedBytes = 0;         // the weight's bytes: a quantized one's integers at the bits they use (as
                                     // the native .h5 packs them), scales and zero points; else its own bytes
    double zeroFraction = 0;         // of its weight values
    std::optional<WeightError> error; // against the base's weight
};

struct LayerComparison {
    std::string layer, op;
    LayerSide a, b;
    bool differs = false;            // settings, shape or stored bytes differ
};

// Every layer of the base's compressionForm, in order. a, b: -1 (the base) or variant indices; throws cw::Error
// for an index out of range.
std::vector<LayerComparison> compareLayers(const Project &project, int a, int b);

// The weight values of `layer` in the base (-1) or a variant (float, quantized weights dequantized); an empty
// tensor when that model has no such layer.
Tensor layerWeightValues(const Project &project, int which, const std::string &layer);

} // namespace cw
