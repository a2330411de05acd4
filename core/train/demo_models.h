// The two demo architectures, built as cw::Model graphs with He-initialised weights.
//
// "cnn" (input "input" [N, 1, 28, 28] → output "logits" [N, 10]):
//   conv1 (Conv 1→32, 3x3, pad 1) → bn1 → relu1 → pool1 (MaxPool 2) →
//   conv2 (Conv 32→64, 3x3, pad 1) → bn2 → relu2 → pool2 (MaxPool 2) → flatten →
//   fc1 (Gemm 3136→128) → relu3 → fc2 (Gemm 128→10)
// "resnet":
//   conv1 (Conv 1→32, 3x3, pad 1) → bn1 → relu1 → pool1 (MaxPool 2, 14x14) →
//   block1: conv1-bn1-relu1-conv2-bn2 + identity → add → relu          (32 channels, 14x14)
//   block2: conv1 (stride 2)-bn1-relu1-conv2-bn2 + shortcut (1x1 conv stride 2 + bn) → add → relu
//                                                                      (64 channels, 7x7)
//   → gap (GlobalAveragePool) → flatten → fc (Gemm 64→10)
// Convolutions followed by BN have no bias (the BN's shift plays that role); Gemm weights are [out, in]
// with transB = 1. BN starts as the identity (scale 1, shift 0, mean 0, variance 1).
//
// Metadata set here: architecture, dataset ("fashion-mnist"), input ("1x28x28 grayscale scaled to [0,1]"),
// classes (the ten Fashion-MNIST class names, comma-separated). The caller that trains the model adds
// "training_command" and "test_accuracy".
//
// Recommended training (demoTrainOptions): Adam, lr 1e-3 with cosine decay over the run, batch 64, 5 epochs,
// weight decay 0, seed 1. Measured with one epoch of that recipe (cosine over that epoch) on the full
// Fashion-MNIST training split, 2 threads on a shared 2-core machine: cnn 89.2% test accuracy (~6 min
// wall, ~2.7 min CPU), resnet 86.4% (~5.5 min wall, ~4 min CPU). Five epochs are expected to put cnn above 90% and
// resnet close to it; the shipped demos record their own command and accuracy in their metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/graph/graph.h"
#include "core/train/train.h"

namespace cw {

// arch: "cnn" or "resnet"; weights are reproducible from the seed. Shapes are inferred (graph.values).
// width multiplies every hidden layer's channel count (at least 1 each; the 10 logits stay): the students of
// distillation (0.25 has about 1/14 of the cnn's parameters).
Model buildDemoModel(const std::string &arch, uint64_t seed, double width = 1.0);
std::vector<std::string> demoArchitectures(); // {"cnn", "resnet"}

// Recommended TrainOptions for an architecture.
TrainOptions demoTrainOptions(const std::string &arch);

// "T-shirt/top", "Trouser", ... in label order.
std::vector<std::string> fashionMnistClassNames();

} // namespace cw
