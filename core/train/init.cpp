#include "core/train/init.h"

#include <cmath>
#include <numbers>

namespace cw {

SeededNormal::SeededNormal(uint64_t seed) : m_state(seed * 0x2545F4914F6CDD1DULL + 0x9E3779B97F4A7C15ULL) {}

double SeededNormal::uniform()
{
    uint64_t z = (m_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (double(z >> 11) + 0.5) / 9007199254740992.0;
}

double SeededNormal::next()
{
    return std::sqrt(-2.0 * std::log(uniform())) * std::cos(2.0 * std::numbers::pi * uniform());
}

Tensor heNormal(const Shape &shape, int64_t fanIn, SeededNormal &rng)
{
    Tensor t(DType::Float32, shape);
    const double stddev = std::sqrt(2.0 / double(std::max<int64_t>(1, fanIn)));
    for (int64_t i = 0; i < t.numel(); ++i)
        t.f32()[i] = float(rng.next() * stddev);
    return t;
}

int heInitialize(Model &model, uint64_t seed)
{
    SeededNormal rng(seed);
    Graph &g = model.graph;
    auto floatInit = [&](const Node &n, size_t slot) -> Tensor * {
        if (slot >= n.inputs.size() || n.inputs[slot].empty())
            return nullptr;
        auto it = g.initializers.find(n.inputs[slot]);
        return it != g.initializers.end() && it->second.dtype() == DType::Float32 ? &it->second : nullptr;
    };
    auto fill = [](Tensor *t, float value) {
        if (!t)
            return;
        *t = Tensor(DType::Float32, t->shape());
        std::fill(t->f32(), t->f32() + t->numel(), value);
    };
    int layers = 0;
    for (const Node &n : g.nodes) {
        if (n.opType == "BatchNormalization") {
            fill(floatInit(n, 1), 1.f);
            fill(floatInit(n, 2), 0.f);
            fill(floatInit(n, 3), 0.f);
            fill(floatInit(n, 4), 1.f);
            continue;
        }
        if (n.opType != "Conv" && n.opType != "Gemm" && n.opType != "MatMul")
            continue;
        Tensor *w = floatInit(n, 1);
        if (!w || w->rank() < 2)
            continue;
        int64_t fanIn = w->numel() / w->dim(0); // Conv [out, in/group, k...]
        if (n.opType == "MatMul")
            fanIn = w->dim(w->rank() - 2); // [in, out]
        else if (n.opType == "Gemm")
            fanIn = n.attrInt("transB", 0) ? w->dim(1) : w->dim(0);
        *w = heNormal(w->shape(), fanIn, rng);
        if (n.opType != "MatMul")
            fill(floatInit(n, 2), 0.f);
        ++layers;
    }
    return layers;
}

} // namespace cw
