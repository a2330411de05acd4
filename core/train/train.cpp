#include "core/train/train.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <numbers>

#include "core/base/error.h"
#include "core/base/parallel.h"
#include "core/quant/quantize.h"
#include "core/runtime/kernels.h"
#include "core/runtime/ops.h"
#include "core/runtime/session.h"
#include "core/train/backward.h"

namespace cw {

namespace {

// gemm() outside a parallel region uses omp_get_max_threads(); pin it to the trainer's thread count for
// the duration of a call so `threads` bounds all the work (and threads = 1 is bit-reproducible).
class OmpThreadsGuard {
public:
    explicit OmpThreadsGuard(int threads) : m_saved(omp_get_max_threads()) { omp_set_num_threads(threads); }
    ~OmpThreadsGuard() { omp_set_num_threads(m_saved); }
    OmpThreadsGuard(const OmpThreadsGuard &) = delete;
    OmpThreadsGuard &operator=(const OmpThreadsGuard &) = delete;

private:
    int m_saved;
};

// Operators whose outputs never carry a gradient (shape computations, constants).
bool stopsGradient(const std::string &opType)
{
    return opType == "Shape" || opType == "Constant" || opType == "ConstantOfShape" || opType == "Size";
}

uint64_t splitMix(uint64_t &state)
{
    uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

} // namespace

Tensor augmentBatch(const Tensor &x, const TrainOptions::Augment &augment, uint64_t &rng, bool channelsLast)
{
    if (x.dtype() != DType::Float32 || x.rank() != 4)
        throw Error(std::string("augmentation needs image batches ") +
                    (channelsLast ? "[N, H, W, C]" : "[N, C, H, W]") + " of float32, got " + shapeToString(x.shape()));
    if (augment.shift < 0)
        throw Error("the augmentation shift must be at least 0 pixels");
    const int64_t N = x.dim(0), C = x.dim(channelsLast ? 3 : 1), H = x.dim(channelsLast ? 1 : 2),
                  W = x.dim(channelsLast ? 2 : 3);
    // The steps from one channel, row and column to the next within a sample.
    const int64_t stepC = channelsLast ? 1 : H * W, stepH = channelsLast ? W * C : W, stepW = channelsLast ? C : 1;
    Tensor y(DType::Float32, x.shape()); // zero-filled
    const uint64_t span = uint64_t(2 * augment.shift + 1);
    for (int64_t n = 0; n < N; ++n) {
        const int64_t dy = int64_t(splitMix(rng) % span) - augment.shift;
        const int64_t dx = int64_t(splitMix(rng) % span) - augment.shift;
        const bool mirror = augment.flip && (splitMix(rng) & 1);
        const float *s = x.f32() + n * C * H * W;
        float *d = y.f32() + n * C * H * W;
        for (int64_t c = 0; c < C; ++c)
            // Output pixel (h, w) takes input (h - dy, w' - dx), w' the mirrored column.
            for (int64_t h = std::max<int64_t>(0, dy); h < std::min(H, H + dy); ++h)
                for (int64_t w = 0; w < W; ++w) {
                    const int64_t sw = (mirror ? W - 1 - w : w) - dx;
                    if (sw >= 0 && sw < W)
                        d[c * stepC + h * stepH + w * stepW] = s[c * stepC + (h - dy) * stepH + sw * stepW];
                }
    }
    return y;
}

namespace {

void addInto(Tensor &acc, const Tensor &g)
{
    if (acc.isNull()) {
        acc = g;
        return;
    }
    // A fresh buffer: the existing one may be a view of another value's gradient.
    Tensor sum(DType::Float32, acc.shape());
    const float *a = acc.f32(), *b = g.f32();
    float *s = sum.f32();
    for (int64_t i = 0; i < sum.numel(); ++i)
        s[i] = a[i] + b[i];
    acc = sum;
}

} // namespace

double softmaxCrossEntropy(const Tensor &logits, const std::vector<int64_t> &labels, Tensor *gradient,
                           int64_t *correct)
{
    if (logits.dtype() != DType::Float32 || logits.rank() != 2)
        throw Error("the loss needs float32 logits [N, classes], got " + shapeToString(logits.shape()));
    const int64_t N = logits.dim(0), C = logits.dim(1);
    if (int64_t(labels.size()) != N)
        throw Error("batch has " + std::to_string(N) + " samples but " + std::to_string(labels.size()) + " labels");
    if (gradient)
        *gradient = Tensor(DType::Float32, logits.shape());
    double loss = 0;
    int64_t hits = 0;
    const float *z = logits.f32();
    for (int64_t n = 0; n < N; ++n) {
        const int64_t label = labels[size_t(n)];
        if (label < 0 || label >= C)
            throw Error("label " + std::to_string(label) + " is outside the model's " + std::to_string(C) + " classes");
        const float *row = z + n * C;
        const int64_t top = std::max_element(row, row + C) - row;
        hits += top == label;
        const double maxValue = row[top];
        double sum = 0;
        for (int64_t c = 0; c < C; ++c)
            sum += std::exp(double(row[c]) - maxValue);
        const double logSum = std::log(sum) + maxValue;
        loss += logSum - row[label];
        if (gradient) {
            float *g = gradient->f32() + n * C;
            for (int64_t c = 0; c < C; ++c)
                g[c] = float((std::exp(double(row[c]) - logSum) - (c == label ? 1.0 : 0.0)) / double(N));
        }
    }
    if (correct)
        *correct = hits;
    return N ? loss / double(N) : 0.0;
}

namespace {

// QAT: x on the uint8 grid of [lo, hi] (the grid the integer graph will use), and that grid's ends.
Tensor fakeQuantizeActivation(const Tensor &x, std::pair<float, float> range, float *lo, float *hi)
{
    const ActivationGrid grid = activationGrid({range.first, range.second});
    *lo = (0.f - float(grid.zeroPoint)) * grid.scale;
    *hi = (255.f - float(grid.zeroPoint)) * grid.scale;
    Tensor y = Tensor::uninitialized(DType::Float32, x.shape());
    const float *p = x.f32();
    float *q = y.f32();
    const float inv = 1.f / grid.scale, zp = float(grid.zeroPoint);
    for (int64_t i = 0; i < x.numel(); ++i)
        q[i] = (std::clamp(std::nearbyint(p[i] * inv) + zp, 0.f, 255.f) - zp) * grid.scale;
    return y;
}

} // namespace

float scheduledLr(const TrainOptions &options, int64_t step, int64_t totalSteps, int epoch)
{
    switch (options.schedule) {
    case LrSchedule::Constant:
        return options.lr;
    case LrSchedule::Cosine:
        if (totalSteps <= 0)
            return options.lr;
        return float(options.lr * 0.5 * (1.0 + std::cos(std::numbers::pi * double(step) / double(totalSteps))));
    case LrSchedule::Step:
        return float(options.lr * std::pow(double(options.stepGamma), double(epoch / std::max(1, options.stepEpochs))));
    }
    return options.lr;
}

Trainer::Trainer(Model &model, const TrainOptions &options, bool inputGradient)
    : m_model(model), m_options(options), m_threads(resolveThreads(options.threads))
{
    Graph &g = m_model.graph;
    if (g.inputs.empty() || g.outputs.empty())
        throw Error("the model has no graph input or output to train");
    g.ensureUniqueNodeNames();
    g.sortTopologically();
    if (g.inputs.size() > 1)
        throw Error("training feeds the dataset to the first graph input, and the model has " +
                    std::to_string(g.inputs.size()) + " inputs ('" + g.inputs[1].name + "' would have no data)");
    m_inputName = g.inputs.front().name;
    m_outputName = g.outputs.front().name;

    // Trainable parameters: float initializers in weight / bias slots.
    for (const Node &n : g.nodes)
        for (int slot : detail::parameterSlots(n.opType)) {
            if (!n.hasInput(slot))
                continue;
            const std::string &name = n.inputs[size_t(slot)];
            auto it = g.initializers.find(name);
            if (it == g.initializers.end() || it->second.dtype() != DType::Float32)
                continue;
            if (m_paramSet.insert(name).second)
                m_params.push_back(name);
        }

    // Values the gradient flows through; every node touching them needs a backward rule.
    if (inputGradient)
        m_needsGrad.insert(m_inputName);
    m_needsGrad.insert(m_paramSet.begin(), m_paramSet.end());
    for (const Node &n : g.nodes) {
        if (!n.domain.empty() && n.domain != "ai.onnx")
            throw Error(describeNode(n, m_model) + ": operator domain '" + n.domain + "' is not supported");
        if (n.opType != "BatchNormalization" && !findKernel(n.opType))
            throw Error(describeNode(n, m_model) + ": operator '" + n.opType + "' is not supported");
        if (stopsGradient(n.opType))
            continue;
        bool flows = false;
        for (const std::string &in : n.inputs)
            flows = flows || (!in.empty() && m_needsGrad.count(in));
        if (!flows)
            continue;
        if (!detail::findBackward(n.opType))
            throw Error(describeNode(n, m_model) + ": training does not support operator '" + n.opType +
                        "' (no backward rule)");
        for (const std::string &o : n.outputs)
            if (!o.empty())
                m_needsGrad.insert(o);
    }
    if (!m_needsGrad.count(m_outputName))
        throw Error("the output '" + m_outputName + "' does not depend on any trainable weight");

    for (const auto &[name, mask] : m_options.masks) {
        auto it = g.initializers.find(name);
        if (it == g.initializers.end())
            throw Error("mask for '" + name + "', which is not an initializer of the model");
        if (mask.shape() != it->second.shape() || mask.dtype() != DType::Float32)
            throw Error("mask for '" + name + "' is " + shapeToString(mask.shape()) + ", the weight is " +
                        shapeToString(it->second.shape()));
    }
}

Tensor Trainer::forward(const Tensor &input, bool updateRunningStats)
{
    OmpThreadsGuard guard(m_threads);
    Graph &g = m_model.graph;
    m_values.clear();
    m_aux.clear();
    const ValueInfo &info = g.inputs.front();
    if (input.dtype() != DType::Float32)
        throw Error("training input must be float32");
    if (info.shapeKnown && input.rank() != int(info.shape.size()))
        throw Error("graph input '" + info.name + "' expects shape " + shapeToString(info.shape) + ", got " +
                    shapeToString(input.shape()));
    m_values[m_inputName] = input;
    m_fakeWeights.clear();
    m_preQuant.clear();
    for (const auto &[name, fq] : m_options.fakeQuantWeights) {
        auto w = g.initializers.find(name);
        if (w == g.initializers.end())
            throw Error("fake quantization of '" + name + "', which is not an initializer of the model");
        m_fakeWeights[name] = quantizeWeightInteger(w->second, fq.spec, fq.channelAxis, fq.reductionAxis).dequantize();
    }
    auto fakeQuantizeOutputs = [&](const Node &node) {
        for (const std::string &o : node.outputs) {
            auto r = m_options.fakeQuantActivations.find(o);
            if (o.empty() || r == m_options.fakeQuantActivations.end())
                continue;
            float lo, hi;
            m_preQuant[o] = m_values.at(o);
            m_values[o] = fakeQuantizeActivation(m_values.at(o), r->second, &lo, &hi);
        }
    };

    if (auto r = m_options.fakeQuantActivations.find(m_inputName); r != m_options.fakeQuantActivations.end()) {
        float lo, hi;
        m_values[m_inputName] = fakeQuantizeActivation(input, r->second, &lo, &hi);
    }

    for (const Node &node : g.nodes) {
        auto lookup = [&](const std::string &name) -> Tensor * {
            if (name.empty())
                return nullptr;
            auto v = m_values.find(name);
            if (v != m_values.end())
                return &v->second;
            auto fq = m_fakeWeights.find(name);
            if (fq != m_fakeWeights.end())
                return &fq->second;
            auto init = g.initializers.find(name);
            if (init != g.initializers.end())
                return &init->second;
            throw Error(describeNode(node, m_model) + ": input '" + name + "' has no value");
        };
        try {
            if (node.opType == "BatchNormalization") {
                if (node.inputCount() != 5)
                    throw Error("needs 5 inputs (x, scale, B, mean, var)");
                Tensor saved;
                Tensor *mean = lookup(node.inputs[3]), *var = lookup(node.inputs[4]);
                Tensor y = detail::batchNormTraining(node, *lookup(node.inputs[0]), *lookup(node.inputs[1]),
                                                     *lookup(node.inputs[2]), *mean, *var, updateRunningStats, &saved,
                                                     m_threads);
                m_aux[node.name] = saved;
                m_values[node.outputs[0]] = y;
                fakeQuantizeOutputs(node);
                continue;
            }
            OpContext ctx{node, {}, {}, m_threads};
            for (const std::string &in : node.inputs)
                ctx.inputs.push_back(lookup(in));
            ctx.outputs.resize(node.outputs.size());
            findKernel(node.opType)(ctx);
            for (size_t o = 0; o < node.outputs.size(); ++o)
                if (!node.outputs[o].empty())
                    m_values[node.outputs[o]] = std::move(ctx.outputs[o]);
            fakeQuantizeOutputs(node);
        } catch (const Cancelled &) {
            throw;
        } catch (const std::exception &e) {
            const std::string prefix = describeNode(node, m_model);
            if (std::string(e.what()).rfind(prefix, 0) == 0)
                throw;
            throw Error(prefix + ": " + e.what());
        }
    }
    auto out = m_values.find(m_outputName);
    if (out == m_values.end())
        throw Error("graph output '" + m_outputName + "' was not computed");
    return out->second;
}

void Trainer::backward(const Tensor &outputGradient)
{
    backward(std::map<std::string, Tensor>{{m_outputName, outputGradient}});
}

const Tensor *Trainer::value(const std::string &name) const
{
    auto it = m_values.find(name);
    return it == m_values.end() ? nullptr : &it->second;
}

void Trainer::backward(const std::map<std::string, Tensor> &valueGradients)
{
    OmpThreadsGuard guard(m_threads);
    Graph &g = m_model.graph;
    m_grads.clear();
    if (!m_values.count(m_outputName))
        throw Error("backward() needs a forward() first");
    for (const auto &[name, gradient] : valueGradients) {
        auto v = m_values.find(name);
        if (v == m_values.end())
            throw Error("a gradient for '" + name + "', which the last forward() did not compute");
        if (gradient.shape() != v->second.shape())
            throw Error("the gradient of '" + name + "' is " + shapeToString(gradient.shape()) +
                        ", the value is " + shapeToString(v->second.shape()));
        if (!m_needsGrad.count(name))
            throw Error("'" + name + "' does not depend on any trainable weight: a gradient there trains nothing");
        m_grads[name] = gradient;
    }

    for (auto it = g.nodes.rbegin(); it != g.nodes.rend(); ++it) {
        const Node &node = *it;
        if (node.outputs.empty() || !m_needsGrad.count(node.outputs[0]) || stopsGradient(node.opType))
            continue;
        auto dy = m_grads.find(node.outputs[0]);
        if (dy == m_grads.end())
            continue; // the output does not reach the loss
        std::vector<const Tensor *> inputs, outputs;
        std::vector<bool> want;
        bool any = false;
        for (const std::string &in : node.inputs) {
            const Tensor *t = nullptr;
            if (!in.empty()) {
                auto v = m_values.find(in);
                auto fq = m_fakeWeights.find(in);
                t = v != m_values.end() ? &v->second : fq != m_fakeWeights.end() ? &fq->second : &g.initializers.at(in);
            }
            inputs.push_back(t);
            const bool w = !in.empty() && m_needsGrad.count(in);
            want.push_back(w);
            any = any || w;
        }
        if (!any)
            continue;
        for (const std::string &o : node.outputs) {
            auto pre = m_preQuant.find(o);
            outputs.push_back(o.empty() ? nullptr : pre != m_preQuant.end() ? &pre->second : &m_values.at(o));
        }
        // Clipped straight-through estimator: the gradient of a fake-quantized output passes inside the grid's
        // range and is zero where the value was clipped.
        Tensor dyMasked = dy->second;
        auto fqa = m_options.fakeQuantActivations.find(node.outputs[0]);
        if (fqa != m_options.fakeQuantActivations.end() && m_preQuant.count(node.outputs[0])) {
            const Tensor &x = m_preQuant.at(node.outputs[0]);
            float lo, hi;
            fakeQuantizeActivation(Tensor(DType::Float32, {1}), fqa->second, &lo, &hi);
            dyMasked = dy->second.clone();
            float *d = dyMasked.f32();
            const float *xv = x.f32();
            for (int64_t i = 0; i < x.numel(); ++i)
                if (xv[i] < lo || xv[i] > hi)
                    d[i] = 0.f;
        }
        auto saved = m_aux.find(node.name);
        detail::BackwardContext ctx{node, inputs, outputs, dyMasked,
                                    saved != m_aux.end() ? &saved->second : nullptr, want, {}, m_threads};
        ctx.inputGrads.resize(inputs.size());
        try {
            detail::findBackward(node.opType)(ctx);
        } catch (const std::exception &e) {
            throw Error(describeNode(node, m_model) + " backward: " + e.what());
        }
        for (size_t i = 0; i < node.inputs.size(); ++i)
            if (want[i] && !ctx.inputGrads[i].isNull())
                addInto(m_grads[node.inputs[i]], ctx.inputGrads[i]);
    }
}

double Trainer::computeGradients(const Tensor &input, const std::vector<int64_t> &labels, int64_t *correct)
{
    const Tensor logits = forward(input);
    Tensor grad;
    const double loss = softmaxCrossEntropy(logits, labels, &grad, correct);
    backward(grad);
    return loss;
}

Tensor Trainer::gradient(const std::string &name) const
{
    auto it = m_grads.find(name);
    return it == m_grads.end() ? Tensor() : it->second;
}

void optimizerUpdate(const TrainOptions &options, int64_t step, float lr, float decay, float *p, const float *grad,
                     float *m, float *v, int64_t n)
{
    if (options.optimizer == Optimizer::Adam) {
        const double b1 = options.adamBeta1, b2 = options.adamBeta2;
        const float correction1 = float(1.0 - std::pow(b1, double(step)));
        const float correction2 = float(1.0 - std::pow(b2, double(step)));
        const float fb1 = float(b1), fb2 = float(b2), eps = options.adamEpsilon;
        // AdamW: the decay shrinks the weight directly instead of joining the gradient that Adam normalises
        // (there, a weight whose gradient is small next to decay * p would move towards zero by about lr at
        // every step).
        const float shrink = 1.f - lr * decay;
        for (int64_t i = 0; i < n; ++i) {
            const float gr = grad[i];
            m[i] = fb1 * m[i] + (1.f - fb1) * gr;
            v[i] = fb2 * v[i] + (1.f - fb2) * gr * gr;
            p[i] = p[i] * shrink - lr * (m[i] / correction1) / (std::sqrt(v[i] / correction2) + eps);
        }
    } else {
        const float mu = options.momentum;
        for (int64_t i = 0; i < n; ++i) {
            const float gr = grad[i] + decay * p[i];
            m[i] = mu * m[i] + gr;
            p[i] -= lr * m[i];
        }
    }
}

void Trainer::step(float lr)
{
    Graph &g = m_model.graph;
    ++m_step;
    const bool adam = m_options.optimizer == Optimizer::Adam;
    for (const std::string &name : m_params) {
        Tensor &w = g.initializers.at(name);
        auto gi = m_grads.find(name);
        if (gi == m_grads.end())
            continue; // not on the path to the loss
        const int64_t n = w.numel();
        Tensor &s1 = m_state1[name];
        if (s1.isNull())
            s1 = Tensor(DType::Float32, w.shape());
        Tensor &s2 = m_state2[name];
        if (adam && s2.isNull())
            s2 = Tensor(DType::Float32, w.shape());
        float *p = w.f32();
        optimizerUpdate(m_options, m_step, lr, w.rank() >= 2 ? m_options.weightDecay : 0.f, p, gi->second.f32(),
                        s1.f32(), adam ? s2.f32() : nullptr, n);
        auto mask = m_options.masks.find(name);
        if (mask != m_options.masks.end()) {
            const float *k = mask->second.f32();
            for (int64_t i = 0; i < n; ++i)
                if (k[i] == 0.f)
                    p[i] = 0.f;
        }
    }
}

TrainResult train(Model &model, const Dataset &data, const TrainOptions &options, const ProgressFn &progress,
                  const StopToken *stop, const EpochFn &onEpoch, const StepFn &onStep)
{
    using Clock = std::chrono::steady_clock;
    const auto start = Clock::now();
    if (options.epochs < 1 || options.batchSize < 1)
        throw Error("training needs at least one epoch and a batch size of at least 1");
    if (!(options.lr > 0.f))
        throw Error("the learning rate must be positive");
    int64_t samples = data.size();
    if (options.limit > 0)
        samples = std::min(samples, options.limit);
    if (samples == 0)
        throw Error("the training dataset '" + data.name + "' is empty");
    const bool labelled = int64_t(data.labels.size()) >= samples;
    if (!labelled && !(options.teacher && options.distill.alpha == 1.f))
        throw Error("the training dataset '" + data.name + "' has no labels (or fewer labels than samples)" +
                    (options.teacher ? std::string(": distillation without labels needs alpha = 1 (the teacher as the "
                                                   "only target)")
                                     : std::string()));
    if (!data.source && data.x.dtype() != DType::Float32)
        throw Error("the training dataset's features must be float32");

    // Train a private copy: the caller's model (and any Model sharing its buffers) stays untouched until
    // the run completes.
    Model work = model.deepCopy();
    Trainer trainer(work, options);
    std::unique_ptr<Distiller> distiller;
    if (options.teacher)
        distiller = std::make_unique<Distiller>(*options.teacher, work, trainer, options.distill, options);
    const int threads = resolveThreads(options.threads);
    OmpThreadsGuard guard(threads);

    // Batches reach the model as inference feeds them (fittedRows, io/dataset.h): reshaped or made channels-last
    // where the first input declares so; data of another shape is refused before the first step.
    const ValueInfo &input = work.graph.inputs.front();
    fittedRows(input, data.batch(0, 1));
    std::vector<int64_t> order(static_cast<size_t>(samples));
    for (int64_t i = 0; i < samples; ++i)
        order[size_t(i)] = i;
    uint64_t rng = options.seed;
    // A stream of its own, so that the shuffling order does not depend on whether batches are augmented.
    uint64_t augmentRng = options.seed ^ 0xA5A5F00DD00DF00DULL;
    if (options.augment.active() && data.sampleShape().size() != 3)
        throw Error("augmentation needs image samples [C, H, W]; the data's samples are " +
                    shapeToString(data.sampleShape()));
    const int64_t batchesPerEpoch = (samples + options.batchSize - 1) / options.batchSize;
    const int64_t totalSteps = batchesPerEpoch * options.epochs;
    TrainResult result;
    int64_t stepIndex = 0;
    for (int epoch = 0; epoch < options.epochs; ++epoch) {
        const auto epochStart = Clock::now();
        if (options.shuffle)
            for (int64_t i = samples - 1; i > 0; --i)
                std::swap(order[size_t(i)], order[size_t(splitMix(rng) % uint64_t(i + 1))]);
        const std::string stage = "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options.epochs);
        double lossSum = 0;
        DistillLossParts partSums;
        int64_t hits = 0, seen = 0;
        bool counted = true; // false when the loss has no top-1 to count (an output matched to a teacher's)
        float lr = options.lr;
        for (int64_t b = 0; b < batchesPerEpoch; ++b) {
            checkStop(stop);
            const int64_t begin = b * options.batchSize;
            const int64_t count = std::min(options.batchSize, samples - begin);
            const std::vector<int64_t> rows(order.begin() + begin, order.begin() + begin + count);
            Tensor x = data.gather(rows);
            if (options.augment.active())
                x = augmentBatch(x, options.augment, augmentRng, data.channelsLast);
            x = conformBatch(input, x);
            std::vector<int64_t> labels;
            if (labelled)
                for (int64_t row : rows)
                    labels.push_back(data.labels[size_t(row)]);
            lr = scheduledLr(options, stepIndex, totalSteps, epoch);
            int64_t correct = 0;
            double loss = 0;
            DistillLossParts parts;
            if (distiller) {
                trainer.forward(x);
                std::map<std::string, Tensor> seeds;
                loss = distiller->loss(x, trainer, labelled ? &labels : nullptr, &seeds, &parts, &correct);
                trainer.backward(seeds);
            } else {
                loss = parts.hard = trainer.computeGradients(x, labels, &correct);
            }
            if (!std::isfinite(loss))
                throw Error("training diverged (loss is " + std::to_string(loss) + " at " + stage +
                            "); try a lower learning rate");
            trainer.step(lr);
            if (distiller)
                distiller->step(lr);
            ++stepIndex;
            lossSum += loss * double(count);
            partSums.hard += parts.hard * double(count);
            partSums.soft += parts.soft * double(count);
            partSums.feature += parts.feature * double(count);
            counted = counted && correct >= 0;
            hits += correct;
            seen += count;
            if (onStep) {
                StepStats st;
                st.step = stepIndex;
                st.steps = totalSteps;
                st.epoch = epoch + 1;
                st.loss = loss;
                st.parts = parts;
                st.lr = lr;
                onStep(st);
            }
            if (progress)
                progress(double(stepIndex) / double(totalSteps), stage);
        }
        EpochStats stats;
        stats.epoch = epoch + 1;
        stats.epochs = options.epochs;
        stats.loss = lossSum / double(seen);
        stats.parts = {partSums.hard / double(seen), partSums.soft / double(seen), partSums.feature / double(seen)};
        stats.accuracy = counted ? double(hits) / double(seen) : std::numeric_limits<double>::quiet_NaN();
        stats.lr = lr;
        stats.samples = seen;
        stats.seconds = std::chrono::duration<double>(Clock::now() - epochStart).count();
        result.epochs.push_back(stats);
        if (onEpoch)
            onEpoch(stats, work);
    }
    // Swap in only now: a run cancelled or failed above leaves the caller's model as it was.
    model.graph.initializers = work.graph.initializers;
    result.steps = stepIndex;
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

} // namespace cw
