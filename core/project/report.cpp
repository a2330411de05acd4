#include "core/project/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/base/format.h"
#include "core/base/version.h"
#include "core/compress/recipe.h"
#include "core/compress/sensitivity.h"
#include "core/project/compare.h"
#include "core/project/diff.h"

namespace cw {

namespace {

std::string esc(const std::string &s)
{
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string fmt(const char *f, double v)
{
    char buf[64];
    std::snprintf(buf, sizeof buf, f, v);
    return buf;
}

std::string msText(double ms)
{
    return ms > 0 ? fmt(ms < 1 ? "%.3f" : "%.2f", ms) : "—";
}

const char *verdictColour(Verdict v)
{
    switch (v) {
    case Verdict::Green: return "#c8e6c9";
    case Verdict::Amber: return "#ffe0b2";
    case Verdict::Red: return "#ffcdd2";
    }
    return "#ffffff";
}

// A cell shaded from white (0) to red (at `full` and beyond).
std::string heatColour(double value, double full)
{
    const double t = std::clamp(full > 0 ? value / full : 0.0, 0.0, 1.0);
    const int g = int(std::lround(255 - t * (255 - 0x53))), b = int(std::lround(255 - t * (255 - 0x50)));
    char buf[16];
    std::snprintf(buf, sizeof buf, "#ff%02x%02x", g, b);
    return buf;
}

// A value and its unit on one line ("446.44&nbsp;KiB"): a narrow column breaks between values, not inside one.
std::string unbroken(const std::string &text)
{
    std::string out;
    for (char c : text)
        out += c == ' ' ? std::string("&nbsp;") : std::string(1, c);
    return out;
}

std::string bytesCell(double bytes)
{
    return bytes > 0 ? unbroken(humanBytes(bytes)) : "—";
}

// Columns as wide as their contents (a table as wide as the page splits words to share the width evenly).
const char *kTable = "<table border=\"1\" cellspacing=\"0\" cellpadding=\"3\">";

struct Row {
    std::vector<std::string> cells;
    std::string colour; // of the whole row, "" for none
};

// `small`: a smaller font, so that wide tables fit the page with their words whole. `widths`: the first columns'
// widths in points (the page is laid out in points), 0 for as wide as their contents: a layer's path, which breaks
// at each '/', on one line where it fits.
std::string table(const std::vector<std::string> &header, const std::vector<Row> &rows, bool small = false,
                  const std::vector<int> &widths = {})
{
    std::string h = kTable;
    auto cell = [&](const char *tag, const std::string &attrs, const std::string &text) {
        return std::string("<") + tag + attrs + ">" + (small ? "<span style=\"font-size: 7pt\">" + text + "</span>" : text) +
               "</" + tag + ">";
    };
    h += "<tr>";
    for (size_t i = 0; i < header.size(); ++i)
        h += cell("th",
                  " bgcolor=\"#eeeeee\" align=\"left\"" +
                      (i < widths.size() && widths[i] > 0 ? " width=\"" + std::to_string(widths[i]) + "\"" : ""),
                  header[i]);
    h += "</tr>\n";
    for (const Row &r : rows) {
        h += "<tr>";
        for (const std::string &c : r.cells)
            h += cell("td", r.colour.empty() ? std::string() : " bgcolor=\"" + r.colour + "\"", c);
        h += "</tr>\n";
    }
    return h + "</table>\n";
}

std::string memoryText(const VariantMetrics &m)
{
    const std::string engine = bytesCell(double(m.memoryBytes));
    return m.peakRssBytes > 0 ? engine + "<br>RSS&nbsp;" + bytesCell(double(m.peakRssBytes)) : engine;
}

std::string qualityText(const Quality &q)
{
    if (q.kind == QualityKind::None)
        return "—";
    return fmt("%.2f%%", q.value * 100) + (q.kind == QualityKind::Accuracy ? "" : " (" + qualityName(q.kind) + ")");
}

// Per-layer settings of a variant's recipe and what became of each layer's weight, measured on the weights as
// stored (core/project/diff.h, the Compare tab's side-by-side page): bytes before and after, zeros, SQNR.
std::string layersSection(const Project &p, size_t index)
{
    const ProjectVariant &v = p.variants[index];
    if (v.origin == "distill" && !v.variant.recipe.prune && !v.variant.recipe.weights)
        return "<p>A distilled student: " + std::to_string(v.variant.model.graph.parameterCount()) +
               " parameters (the base has " + std::to_string(p.base.graph.parameterCount()) + ").</p>\n";
    try {
        std::vector<Row> rows;
        for (const LayerComparison &l : compareLayers(p, -1, int(index))) {
            const LayerSide &after = l.b;
            const std::string sqnr = !after.present ? "absent"
                                     : !after.error ? "reshaped"
                                     : std::isinf(after.error->sqnrDb) ? "exact"
                                                                       : unbroken(fmt("%.1f dB", after.error->sqnrDb));
            rows.push_back({{esc(l.layer), esc(l.op), esc(after.settings), bytesCell(double(l.a.storedBytes)),
                             after.present ? bytesCell(double(after.storedBytes)) : "—",
                             after.present ? fmt("%.0f%%", after.zeroFraction * 100) : "—", sqnr},
                            ""});
        }
        return table({"Layer", "Op", "Settings", "Bytes before", "Bytes after", "Zeros", "Weight SQNR"}, rows, false,
                     {160});
    } catch (const Error &e) {
        return "<p>The per-layer settings cannot be shown: " + esc(e.what()) + "</p>\n";
    }
}

std::string sensitivitySection(const Model &base)
{
    const auto stored = base.analysis.find(kSensitivityKey);
    if (stored == base.analysis.end())
        return {};
    SensitivityResult r;
    try {
        r = sensitivityFromJson(stored->second);
    } catch (const Error &) {
        return {};
    }
    const bool accuracy = r.metric == SensitivityMetric::Accuracy;
    std::string h = "<h2 style=\"page-break-before: always\">Sensitivity</h2>\n<p>Each layer alone pruned or quantized, "
                    "the rest left as it is: the " +
                    std::string(accuracy ? "accuracy drop in points" : "relative output noise") + " on " +
                    std::to_string(r.samples) + " samples of " + esc(r.dataset) +
                    ". Darker cells cost more.</p>\n" + kTable + "<tr><th bgcolor=\"#eeeeee\">Layer</th>";
    for (double ratio : r.options.pruneRatios)
        h += "<th bgcolor=\"#eeeeee\">prune " + fmt("%g", ratio) + "</th>";
    for (int b : r.options.bits)
        h += "<th bgcolor=\"#eeeeee\">" + std::to_string(b) + " bit</th>";
    h += "</tr>\n";
    const double full = accuracy ? 0.05 : 0.1; // 5 points (or 10 % noise) and beyond: the darkest red
    auto cell = [&](const SensitivityTrial &t) {
        const std::string text = accuracy ? fmt("%.2f", t.drop * 100) : fmt("%.3g", t.drop);
        return "<td align=\"right\" bgcolor=\"" + heatColour(t.drop, full) + "\">" + text + "</td>";
    };
    for (const LayerSensitivity &l : r.layers) {
        h += "<tr><td>" + esc(l.name) + "</td>";
        for (const SensitivityTrial &t : l.prune)
            h += cell(t);
        for (const SensitivityTrial &t : l.bits)
            h += cell(t);
        h += "</tr>\n";
    }
    return h + "</table>\n";
}

} // namespace

std::vector<ReportChart> reportCharts()
{
    return {{"size", Cost::FileBytes, 640, 400}, {"latency", Cost::LatencyBatch1, 640, 400}};
}

std::string reportHtml(const Project &p, const std::string &projectName)
{
    const Provenance now = currentProvenance();
    const ProjectComparison comparison = compareProject(p);
    const VariantMetrics &base = comparison.base;
    const Recommendation &rec = comparison.recommendation;
    const QualityKind kind = comparison.kind;
    const Quality baseQ = baseQuality(base, kind);
    auto drop = [&](const VariantMetrics &m) -> std::string {
        const auto d = qualityDrop(base, m);
        return d ? unbroken(fmt("%.2f pt", *d)) : "—";
    };

    std::string h = "<html><head><meta charset=\"utf-8\"><title>Compression report: " + esc(projectName) +
                    "</title></head><body style=\"font-family: sans-serif\">\n";
    h += "<h1>Compression report: " + esc(projectName) + "</h1>\n";
    h += "<p>Base model <b>" + esc(p.baseSpec) + "</b> (" + humanBytes(double(p.baseFile.bytes)) +
         (p.baseFile.sha256.empty() ? std::string(", embedded") : ", SHA-256 " + esc(p.baseFile.sha256.substr(0, 16)) + "…") + "), " +
         std::to_string(p.base.graph.parameterCount()) + " parameters; " + std::to_string(p.variants.size()) +
         " variant" + (p.variants.size() == 1 ? "" : "s") + ". Made " + now.date + " by " + esc(now.tool) + ".</p>\n";

    // ---- 1. summary
    h += "<h2>Summary</h2>\n<p>Limits: " + esc(describeConstraints(p.constraints)) + ".</p>\n";
    if (rec.best >= 0) {
        const ProjectVariant &b = p.variants[size_t(rec.best)];
        const VariantMetrics &m = b.variant.metrics;
        h += "<p style=\"font-size: 14pt\">Recommended: <b>" + esc(b.variant.name) + "</b>, " + esc(rec.reason) +
             ".</p>\n";
        if (p.baseMetrics) {
            std::vector<Row> head{{{"<b>" + (m.fileBytes > 0 && base.fileBytes > 0
                                                 ? fmt("%.2f×", double(base.fileBytes) / double(m.fileBytes))
                                                 : std::string("—")) +
                                        "</b> smaller file",
                                    "<b>" + (speedup(base, m) ? fmt("%.2f×", *speedup(base, m)) : std::string("—")) +
                                        "</b> as fast at batch 1",
                                    "<b>" + drop(m) + "</b> " + qualityName(kind) + " drop"},
                                   "#e3f2fd"}};
            h += table({"Size", "Latency", "Quality"}, head);
        }
    } else {
        h += "<p style=\"font-size: 14pt; color: #c62828\">No variant is recommended: " + esc(rec.reason) + ".</p>\n";
    }
    {
        std::vector<Row> rows;
        for (size_t i = 0; i < p.variants.size(); ++i) {
            const ProjectVariant &v = p.variants[i];
            const Assessment &a = rec.assessments[i];
            rows.push_back({{esc(v.variant.name) + (int(i) == rec.best ? " ★" : ""),
                             "<b>" + verdictName(a.verdict) + "</b>", esc(a.reason),
                             qualityText(variantQuality(v.variant.metrics)), drop(v.variant.metrics),
                             bytesCell(double(v.variant.metrics.fileBytes)),
                             msText(v.variant.metrics.p50Batch1Ms)},
                            verdictColour(a.verdict)});
        }
        h += "<h3>Verdicts</h3>\n" +
             table({"Variant", "Verdict", "Why", "Quality", "Drop", "File", "Batch 1 ms"}, rows);
    }

    // ---- 2. charts
    h += "<h2 style=\"page-break-before: always\">Trade-offs</h2>\n<p>One point per measured variant, coloured by "
         "its verdict; the grey diamond is the base model, the dashed staircase the Pareto frontier (no other "
         "variant is as good and cheaper), the ring the recommended variant.</p>\n";
    for (const ReportChart &c : reportCharts())
        h += "<p><img src=\"chart:" + c.id + "\" width=\"" + std::to_string(c.width) + "\" height=\"" +
             std::to_string(c.height) + "\"></p>\n";

    // ---- 3. variants table
    {
        const std::vector<bool> bySize = comparison.frontier(Cost::FileBytes),
                                byLatency = comparison.frontier(Cost::LatencyBatch1);
        // File: the .h5 file, its ratio, the ONNX export below; latency: batch 1's p50 / p90, batch 64's p50 below.
        const auto fileCell = [](const VariantMetrics &m, const std::string &ratio) {
            return bytesCell(double(m.fileBytes)) + "<br>" + ratio + "<br>ONNX&nbsp;" + bytesCell(double(m.onnxBytes));
        };
        const auto latencyCell = [](const VariantMetrics &m) {
            return msText(m.p50Batch1Ms) + " / " + msText(m.p90Batch1Ms) + "<br>" +
                   unbroken("64: " + (m.batch64Skipped.empty() ? msText(m.p50Batch64Ms) : std::string("—")));
        };
        std::vector<Row> rows;
        if (p.baseMetrics)
            rows.push_back({{"base", "—", qualityText(baseQ), "—", fileCell(base, "1.00×"), latencyCell(base),
                             memoryText(base), "—"},
                            "#f5f5f5"});
        for (size_t i = 0; i < p.variants.size(); ++i) {
            const VariantMetrics &m = p.variants[i].variant.metrics;
            std::string pareto = bySize[i] ? "size" : "";
            if (byLatency[i])
                pareto += pareto.empty() ? "latency" : ", latency";
            const std::string sqnr = m.fidelity.empty() ? ""
                                     : std::isinf(m.fidelity.front().sqnrDb)
                                         ? "<br>SQNR exact"
                                         : "<br>" + unbroken(fmt("SQNR %.1f dB", m.fidelity.front().sqnrDb));
            rows.push_back({{esc(p.variants[i].variant.name), esc(variantSummary(p.variants[i])),
                             qualityText(variantQuality(m)) + sqnr, drop(m),
                             fileCell(m, m.compressionRatio > 0 ? fmt("%.2f× smaller", m.compressionRatio) : "—"),
                             latencyCell(m), memoryText(m), pareto.empty() ? "—" : pareto},
                            ""});
        }
        h += "<h2>Variants</h2>\n<p>File: the variant saved in the native .h5 format (bit-packed integer weights, "
             "sparse weights stored sparse), the size the limits and charts use; below it, ONNX: exported as ONNX "
             "(integer weights one byte each, pruned weights dense). Latency: p50 / p90 in ms at batch 1, and below "
             "it the p50 of a batch of 64, measured on the machine named under Reproducibility. Memory: the peak of a "
             "batch-1 run, measured (the weights as the engine holds them and the most activations alive at once); "
             "below it, RSS: the peak resident memory of a process that loads the saved variant and runs it once at "
             "batch 1 (cwb bench), libraries included. Quality: below it, the SQNR of the first output against the "
             "base on the evaluation data.</p>\n" +
             table({"Variant", "Recipe", "Quality", "Drop", "File", "Latency ms", "Memory", "Pareto"}, rows, true);
    }

    // ---- 4. per-layer settings
    if (!p.variants.empty()) {
        h += "<h2 style=\"page-break-before: always\">Per-layer settings</h2>\n<p>What each recipe does to each "
             "layer, and what became of that layer's weights, measured on the variant as stored: their bytes (a "
             "quantized weight's integers at the bits they use, with its scales), the share of zeros, and the SQNR "
             "against the base's weights with BatchNorm folded (higher is closer; fine-tuning counts).</p>\n";
        for (size_t i = 0; i < p.variants.size(); ++i)
            h += "<h3>" + esc(p.variants[i].variant.name) + "</h3>\n" + layersSection(p, i);
    }

    // ---- 5. sensitivity
    h += sensitivitySection(p.base);

    // ---- 6. reproducibility
    h += "<h2 style=\"page-break-before: always\">Reproducibility</h2>\n";
    h += "<p>Report made by " + esc(now.tool) + " on " + esc(now.machine) + " (" + std::to_string(now.cores) +
         " hardware threads).</p>\n";
    if (!p.datasets.empty()) {
        std::vector<Row> rows;
        for (const DatasetRecord &d : p.datasets)
            for (const FileDigest &f : d.files)
                rows.push_back({{esc(d.role), esc(d.spec), esc(f.path), bytesCell(double(f.bytes)),
                                 // in two halves: 64 digits are wider than the column a page leaves
                                 "<tt>" + esc(f.sha256.substr(0, 32)) + "<br>" + esc(f.sha256.substr(std::min<size_t>(32, f.sha256.size()))) + "</tt>"},
                                ""});
        h += "<h3>Data</h3>\n" + table({"Role", "Dataset", "File", "Size", "SHA-256"}, rows, true);
    }
    for (const ProjectVariant &v : p.variants) {
        const Provenance &pr = v.provenance;
        h += "<h3>" + esc(v.variant.name) + "</h3>\n<p>Made " + esc(pr.date) + " by " + esc(pr.tool) + " on " +
             esc(pr.machine) + " (" + std::to_string(pr.cores) + " threads), in <tt>" + esc(pr.directory) +
             "</tt>:</p>\n<pre style=\"white-space: pre-wrap\">" + esc(pr.command) + "</pre>\n";
        if (v.origin != "distill") // a student's settings are all in its command
            h += "<p>Recipe (the file the command's --recipe names):</p>\n<pre style=\"white-space: pre-wrap\">" +
                 esc(recipeToJson(v.variant.recipe, -1)) + "</pre>\n";
    }
    return h + "</body></html>\n";
}

} // namespace cw
