// Input shapes and run conditions: what every GUI job that runs the open model needs from the window.
//
// A model whose inputs declare symbolic dimensions ([batch, 3, height, width]) needs concrete sizes to run.
// The user gives them once per model in the input-shape editor (views/inputshapesdialog); they are kept in
// QSettings under the model file's canonical path, together with the file's size and modification time, so
// reopening the same file restores them and a changed file starts afresh. The jobs receive them as
// cw::symbolSizes (core/analysis/feeds.h): every symbol but the batch one, whose size each job sets (a
// dataset's batches, the latency runs' batch 1 and 64) — the same FeedOptions `cwb --shape SYMBOL=SIZE` makes.
//
// RunInputs travels from the window to the views (Inspect's activation statistics, Sensitivity, Compress) and
// the Evaluate action: the feeds, and why the model cannot run at all (its unsupported nodes), so each view
// disables its run button with that reason as the tooltip, and refuses a run that still lacks a size.
#pragma once

#include <QString>

#include <map>
#include <string>
#include <vector>

#include "core/analysis/feeds.h"
#include "core/graph/graph.h"
#include "core/runtime/session.h"

namespace cw::ui {

using InputShapes = std::map<std::string, cw::Shape>; // graph input name -> its concrete shape

struct RunInputs {
    cw::FeedOptions feeds; // symbol sizes (cw::symbolSizes of the editor's shapes)
    QString blocked;       // why no run is possible ("" when runs are): the model's unsupported nodes

    // What a run of `graph` with these feeds still lacks: "" when nothing, else a message naming the symbols
    // without a size and where to set them (firstFromData: the dataset feeds the first input, which fixes
    // the symbols of its own shape).
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

// The shapes remembered for a model (spec: a path or a demo name); empty when none were saved or the file has
// changed since (size or modification time).
InputShapes loadInputShapes(const QString &spec);
void saveInputShapes(const QString &spec, const InputShapes &shapes);

} // namespace cw::ui
