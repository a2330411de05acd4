// Static shape inference: the dtype and shape of every value of a graph, found at load time from one shape
// rule per operator, without running the model (a large model loads in the time it takes to read it).
//
// Dimensions are numbers or symbols. A graph input's unknown dimension is named by the file's dim_param
// ("batch", "height"), else "N" when it is the leading one, else "<input>_dim<k>". Rules carry symbols
// through: a stride-2 convolution of "height" gives "ceil(height/2)", a Concat of "a" and 16 gives "a+16";
// two dimensions with the same symbol are the same size. Where a size cannot be expressed, the rule makes a
// new symbol "<value>_dim<k>". Small integer tensors that hold shapes (Shape → Gather → Concat → Reshape, the
// pattern of every exported model with dynamic sizes) are followed element by element, so a Reshape to a
// computed shape keeps its symbols. A node whose inputs are such small tensors with every element known, or
// small constants, is computed by its kernel (at most 4096 elements in and out), so that its values are known
// after it too: pads built through a Transpose, an If's condition comparing a size with a number.
//
// Concrete sizes exist only per run: the Session computes with the actual inputs. Operators without a rule,
// and values whose inputs are unknown, get the file's value_info when it has one and an unknown shape
// (ValueInfo::shapeKnown = false) otherwise. A contradiction between known sizes (a Conv whose weight expects
// 3 input channels on a 4-channel input, a MatMul of [2, 3] by [4, 5]) throws cw::Error naming the node.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/graph/graph.h"

namespace cw {

// Fills model.graph.values for every value the nodes produce and for the graph inputs, and completes the
// graph outputs' dtypes and shapes. knownValues, when given, receives the elements of the small integer and
// boolean values the nodes produce whose every element is a known number (a size, an If's condition).
void inferShapes(Model &model, std::map<std::string, std::vector<int64_t>> *knownValues = nullptr);

// Op types (domain-qualified outside the default domain, "com.microsoft:QGemm") that have a shape rule.
std::vector<std::string> shapeRuleOps();

} // namespace cw
