#include "core/project/diff.h"

#include <map>

#include "core/analysis/stats.h"
#include "core/base/error.h"
#include "core/compress/recipe.h"
#include "core/graph/transform.h"

namespace cw {

namespace {

const Model &modelOf(const Project &p, int which)
{
    if (which < -1 || which >= int(p.variants.size()))
        throw Error("the project has no variant " + std::to_string(which) + " (it has " +
                    std::to_string(p.variants.size()) + ")");
    return which < 0 ? p.base : p.variants[size_t(which)].variant.model;
}

struct LayerWeight {
    Tensor values;       // float
    int64_t storedBytes = 0;
};

// A model's layer weights by layer name: the float values, read from `form` (the model's floatWeightForm, for the
// base with BatchNorm folded), and the bytes the model stores them in.
std::map<std::string, LayerWeight> layerWeights(const Model &model, const Model &form)
{
    std::map<std::string, IntegerLayerWeight> stored;
    for (IntegerLayerWeight &w : integerLayerWeights(model.graph))
        stored.emplace(w.layer, std::move(w));
    const auto bytesOf = [&](const std::string &layer, const std::string &weight, const Tensor &values) {
        if (auto s = stored.find(layer); s != stored.end())
            return storedWeightBytes(model.graph, s->second);
        auto own = model.graph.initializers.find(weight); // a 16-bit weight keeps its size
        return int64_t(own != model.graph.initializers.end() ? own->second.byteSize() : values.byteSize());
    };
    std::map<std::string, LayerWeight> result;
    for (const LayerNode &l : layerNodes(form.graph)) {
        const Tensor &values = form.graph.initializers.at(l.weight);
        result[l.node->name] = {values, bytesOf(l.node->name, l.weight, values)};
    }
    for (const auto &[layer, w] : stored) // integer layers that stay integer (QLinearConv & co.)
        if (!result.count(layer)) {
            const Tensor values = dequantizeLayerWeight(model.graph, w);
            result[layer] = {values, bytesOf(layer, {}, values)};
        }
    return result;
}

// The base as the pipeline sees it: BatchNorm folded into its layers (the folded weights are new buffers, so the
// base's own stay as they are).
Model foldedNorms(Model form)
{
    foldBatchNorm(form);
    return form;
}

std::map<std::string, LayerWeight> weightsOf(const Project &p, int which)
{
    const Model &m = modelOf(p, which);
    return layerWeights(m, which < 0 ? foldedNorms(floatWeightForm(m)) : floatWeightForm(m));
}

// The settings the side's recipe gives each layer of the base.
std::map<std::string, std::string> settingsOf(const Project &p, int which, const Model &baseForm)
{
    std::map<std::string, std::string> out;
    if (which < 0)
        return out;
    const ProjectVariant &v = p.variants[size_t(which)];
    if (v.origin == "distill" && !v.variant.recipe.prune && !v.variant.recipe.weights)
        return out; // a student: no per-layer settings
    try {
        for (const LayerPlan &plan : planLayers(v.variant.recipe, baseForm))
            out[plan.node] = layerSettingsLabel(plan.config);
    } catch (const Error &) {
        // a recipe naming layers the base lacks: no settings to show
    }
    return out;
}

LayerSide side(const std::map<std::string, LayerWeight> &weights, const std::map<std::string, LayerWeight> &reference,
               const std::map<std::string, std::string> &settings, const std::string &layer, const std::string &fallback)
{
    LayerSide s;
    auto w = weights.find(layer);
    if (w == weights.end())
        return s;
    s.present = true;
    auto label = settings.find(layer);
    s.settings = label != settings.end() ? label->second : fallback;
    const Tensor &values = w->second.values;
    s.shape = values.shape();
    s.storedBytes = w->second.storedBytes;
    int64_t zeros = 0;
    for (int64_t i = 0; i < values.numel(); ++i)
        zeros += values.f32()[i] == 0.f;
    s.zeroFraction = values.numel() ? double(zeros) / double(values.numel()) : 0;
    auto r = reference.find(layer);
    if (r != reference.end() && r->second.values.shape() == values.shape())
        s.error = weightError(r->second.values, values);
    return s;
}

} // namespace

std::vector<LayerComparison> compareLayers(const Project &project, int a, int b)
{
    modelOf(project, a); // an index out of range is an error, also -2
    modelOf(project, b);
    // Recipes name the layers of the base's float form (planLayers reads no shapes, so compressionForm's shape
    // inference is not needed); the reference is that form with BatchNorm folded.
    const Model baseForm = floatWeightForm(project.base);
    const std::map<std::string, LayerWeight> reference = layerWeights(project.base, foldedNorms(baseForm));
    const std::map<std::string, LayerWeight> wa = a < 0 ? reference : weightsOf(project, a);
    const std::map<std::string, LayerWeight> wb = b < 0 ? reference : weightsOf(project, b);
    const std::map<std::string, std::string> sa = settingsOf(project, a, baseForm), sb = settingsOf(project, b, baseForm);
    const auto fallback = [&](int which) {
        return which < 0 ? std::string("base") : project.variants[size_t(which)].origin == "distill" ? "student" : "float";
    };
    std::vector<LayerComparison> rows;
    for (const LayerNode &l : layerNodes(baseForm.graph)) {
        LayerComparison row;
        row.layer = l.node->name;
        row.op = l.node->opType;
        row.a = side(wa, reference, sa, row.layer, fallback(a));
        row.b = side(wb, reference, sb, row.layer, fallback(b));
        row.differs = row.a.present != row.b.present || row.a.settings != row.b.settings || row.a.shape != row.b.shape ||
                      row.a.storedBytes != row.b.storedBytes;
        rows.push_back(std::move(row));
    }
    return rows;
}

Tensor layerWeightValues(const Project &project, int which, const std::string &layer)
{
    const std::map<std::string, LayerWeight> weights = weightsOf(project, which);
    auto w = weights.find(layer);
    return w != weights.end() ? w->second.values : Tensor();
}

} // namespace cw
