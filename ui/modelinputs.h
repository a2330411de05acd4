// Model inputs and run conditions: what every GUI job that runs the open model needs from the window.
//
// A model whose inputs declare symbolic dimensions ([batch, 3, height, width]) needs concrete sizes to run, an
// input that declares no shape a whole shape, and an input whose value matters (silero-vad's sample rate `sr`)
// a value rather than random data. The user gives them once per model in the inputs editor
// (views/inputsdialog, Model → Inputs…); they are kept in QSettings under the model file's canonical path,
// together with the file's size and modification time, so reopening the same file restores them and a changed
// file starts afresh. The jobs receive them as cw::FeedOptions (feedOptions below): the sizes of every symbol
// but the batch one, whose size each job sets (a dataset's batches, the latency runs' batch 1 and 64), and the
// values — the same FeedOptions `cwb --shape SYMBOL=SIZE --value NAME=V` makes.
//
// RunInputs travels from the window to the views (Inspect's activation statistics, Sensitivity, Compress) and
// the Evaluate action: the feeds, the dataset's preprocessing, and why the model cannot run at all (its
// unsupported nodes), so each view disables its run button with that reason as the tooltip, and refuses a run
// that still lacks a size.
#pragma once

#include <QString>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/analysis/feeds.h"
#include "core/graph/graph.h"
#include "core/io/dataset.h"
#include "core/runtime/session.h"

namespace cw::ui {

using InputShapes = std::map<std::string, cw::Shape>; // graph input name -> its concrete shape
using InputValues = std::map<std::string, double>;    // graph input name -> the value of all its elements

struct ModelInputs {
    InputShapes shapes; // inputs with symbolic dimensions or no declared shape
    InputValues values; // inputs after the first (which the dataset feeds) fed a constant, not random data
    // A row that names another symbol ("2,N,128" for a state [2, state_dim1, 128]) gives its symbol that
    // symbol's size in every run (FeedOptions::sameSize), and its numbers size the row's other symbols.
    std::map<std::string, std::string> sameSize;
    std::map<std::string, int64_t> sizes;
    bool empty() const { return shapes.empty() && values.empty() && sameSize.empty() && sizes.empty(); }
};

// The feeds the inputs give every job: cw::symbolSizes of the shapes, the sizes, symbols of one size and the
// values. Throws cw::Error when they do not fit the graph (see symbolSizes; two sizes for one symbol; a value
// for an input that is not a graph input after the first).
cw::FeedOptions feedOptions(const cw::Graph &graph, const ModelInputs &inputs);

struct RunInputs {
    cw::FeedOptions feeds;     // feedOptions() of the editor's inputs
    cw::Preprocess preprocess; // how the dataset's rows become the first input (Evaluate dialog)
    QString blocked;           // why no run is possible ("" when runs are): the model's unsupported nodes

    // What a run of `graph` with these feeds still lacks: "" when nothing, else a message naming the symbols
    // without a size and the inputs without a declared or given shape, and where to set them (firstFromData:
    // the dataset feeds the first input, which fixes the symbols of its own shape).
    QString missingSizes(const cw::Graph &graph, bool firstFromData) const;
    // Why a run cannot start: `blocked`, else missingSizes(); "" when it can.
    QString refusal(const cw::Graph &graph, bool firstFromData) const
    {
        return blocked.isEmpty() ? missingSizes(graph, firstFromData) : blocked;
    }
};

// "3 nodes cannot run: Det_0 (Det, opset 17), …" (at most `listed` named, then a count); "" for none.
QString blockedReason(const std::vector<cw::UnsupportedNode> &nodes, int listed = 3);
// "Det, opset 17" / "MyOp, domain com.example version 1" (+ ", supported at 1–12" when a kernel exists for
// other opsets, ", inside 'loop'" for a subgraph's node).
QString describeBlocking(const cw::UnsupportedNode &node);

// "1,3,640,640" and back: sizes of at least 1, separated by commas (spaces allowed); false when malformed or
// empty.
QString formatDims(const cw::Shape &shape);
bool parseDims(const QString &text, cw::Shape &shape);

// "16000", "0.5"; "random" (or "") for none; false for anything else or a value that is not finite.
bool parseValue(const QString &text, std::optional<double> &value);

// The inputs remembered for a model (spec: a path or a demo name); empty when none were saved or the file has
// changed since (size or modification time).
ModelInputs loadModelInputs(const QString &spec);
void saveModelInputs(const QString &spec, const ModelInputs &inputs);

} // namespace cw::ui
