// The report of a project: what a reviewer reads to sign off a variant without the tool.
//
//   1. Summary: the recommended variant under the project's limits and why, its headline ratios against the base
//      (size ×, latency ×, quality drop), and a red / amber / green verdict per variant with the reason.
//   2. Trade-off charts: quality against file size and against batch-1 latency (the Compare tab's chart).
//   3. The variants table with every measured figure and the Pareto marks.
//   4. Per variant, its per-layer settings (method, ratio, bits, granularity) and what became of each layer's
//      weight, measured on the variant as stored (diff.h): bytes before and after, zeros, SQNR against the base.
//   5. The sensitivity heatmap, when the base model has a stored sweep.
//   6. Reproducibility: tool version and commit, machine, the datasets with the SHA-256 of their files, and per
//      variant its recipe JSON and the cwb command that rebuilds it.
//
// The text is HTML in the subset Qt's QTextDocument lays out (headings, paragraphs, tables with bgcolor cells,
// <pre>), so one document serves the PDF (printed through QTextDocument) and the HTML file. The charts are
// placeholders, <img src="chart:size"> and <img src="chart:latency">, which the front end that renders the report
// fills with its chart (ui/report: vector drawings in the PDF, embedded PNG images in the HTML).
#pragma once

#include <string>
#include <vector>

#include "core/project/project.h"

namespace cw {

struct ReportChart {
    std::string id; // "size", "latency": the placeholder's src is "chart:" + id
    Cost cost;
    int width = 0, height = 0; // in the HTML's pixels
};

// The charts a report places, in order.
std::vector<ReportChart> reportCharts();

// `projectName`: what the title calls the project (its file name).
std::string reportHtml(const Project &project, const std::string &projectName);

} // namespace cw
