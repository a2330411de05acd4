#include "core/train/distill.h"

#include <Eigen/Core>

#include <algorithm>
#include <cmath>

#include "core/base/error.h"
#include "core/base/parallel.h"
#include "core/runtime/session.h"
#include "core/train/init.h"
#include "core/train/train.h"

namespace cw {

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMatrix>;
using Map = Eigen::Map<RowMatrix>;

void requireFloat(const Tensor &t, const char *what)
{
    if (t.dtype() != DType::Float32 || t.rank() < 1)
        throw Error(std::string(what) + " must be a float32 tensor with a batch axis, got " + shapeToString(t.shape()));
}

// Softmax of row / T in double precision.
void softmaxRow(const float *row, int64_t C, double T, std::vector<double> &out)
{
    out.resize(size_t(C));
    double maxValue = -INFINITY;
    for (int64_t c = 0; c < C; ++c)
        maxValue = std::max(maxValue, double(row[c]) / T);
    double sum = 0;
    for (int64_t c = 0; c < C; ++c)
        sum += out[size_t(c)] = std::exp(double(row[c]) / T - maxValue);
    for (double &p : out)
        p /= sum;
}

// A value of `model` named `name`: a value (a node output or a graph input) of that name, else the first output
// of the node of that name. "" when neither exists.
std::string resolveValue(const Model &model, const std::string &name)
{
    for (const ValueInfo &in : model.graph.inputs)
        if (in.name == name)
            return name;
    for (const Node &n : model.graph.nodes)
        for (const std::string &o : n.outputs)
            if (o == name)
                return name;
    for (const Node &n : model.graph.nodes)
        if (n.name == name && !n.outputs.empty())
            return n.outputs[0];
    return {};
}

} // namespace

std::string toString(FeatureLoss loss)
{
    switch (loss) {
    case FeatureLoss::L2:
        return "l2";
    case FeatureLoss::Cosine:
        return "cosine";
    case FeatureLoss::Attention:
        return "attention";
    }
    return "l2";
}

FeatureLoss parseFeatureLoss(const std::string &text)
{
    for (FeatureLoss f : {FeatureLoss::L2, FeatureLoss::Cosine, FeatureLoss::Attention})
        if (toString(f) == text)
            return f;
    throw Error("unknown feature loss '" + text + "' (expected \"l2\", \"cosine\" or \"attention\")");
}

double distillationLoss(const Tensor &studentLogits, const Tensor &teacherLogits, const std::vector<int64_t> *labels,
                        float temperature, float alpha, Tensor *gradient, DistillLossParts *parts, int64_t *correct)
{
    if (studentLogits.dtype() != DType::Float32 || studentLogits.rank() < 1)
        throw Error("distillation needs a float32 output, the student gives " + shapeToString(studentLogits.shape()));
    if (teacherLogits.dtype() != DType::Float32 || teacherLogits.shape() != studentLogits.shape())
        throw Error("the teacher's output " + shapeToString(teacherLogits.shape()) + " does not match the student's " +
                    shapeToString(studentLogits.shape()));
    // An output other than logits [N, classes] (an embedding map, a mask, a spectrogram) has no classes to soften:
    // the teacher's output itself is the target, by mean squared error, and labels have no part in it.
    if (studentLogits.rank() != 2) {
        if (alpha != 1.f)
            throw Error("the output " + shapeToString(studentLogits.shape()) +
                        " is not logits [N, classes]: distillation matches the teacher's output, with alpha = 1 (the "
                        "teacher as the only target)");
        const double soft = featureLoss(FeatureLoss::L2, studentLogits, teacherLogits, gradient);
        if (correct)
            *correct = -1; // nothing to count
        if (parts) {
            parts->hard = 0;
            parts->soft = soft;
        }
        return soft;
    }
    if (!(temperature > 0.f) || !std::isfinite(temperature))
        throw Error("the distillation temperature must be positive, got " + std::to_string(temperature));
    if (!(alpha >= 0.f && alpha <= 1.f))
        throw Error("the distillation weight alpha must be in [0, 1], got " + std::to_string(alpha));
    if (!labels && alpha != 1.f)
        throw Error("without labels, distillation needs alpha = 1 (the teacher as the only target)");
    const int64_t N = studentLogits.dim(0), C = studentLogits.dim(1);

    // Hard part: the trainer's own cross-entropy (bit for bit the same gradient as plain training at alpha 0).
    Tensor hardGrad;
    double hard = 0;
    int64_t hits = 0;
    if (labels && alpha < 1.f) {
        hard = (1.0 - double(alpha)) * softmaxCrossEntropy(studentLogits, *labels, gradient ? &hardGrad : nullptr, &hits);
        if (gradient && alpha != 0.f) {
            float *g = hardGrad.f32();
            for (int64_t i = 0; i < hardGrad.numel(); ++i)
                g[i] *= 1.f - alpha;
        }
    }
    if (gradient)
        *gradient = hardGrad.isNull() ? Tensor(DType::Float32, studentLogits.shape()) : hardGrad;

    // Soft part: alpha T^2 KL(p_t || p_s); d/dz_s = alpha T (p_s - p_t) / N.
    double soft = 0;
    if (alpha > 0.f) {
        const double T = temperature;
        std::vector<double> ps, pt;
        for (int64_t n = 0; n < N; ++n) {
            const float *zs = studentLogits.f32() + n * C, *zt = teacherLogits.f32() + n * C;
            softmaxRow(zs, C, T, ps);
            softmaxRow(zt, C, T, pt);
            double kl = 0;
            for (int64_t c = 0; c < C; ++c)
                if (pt[size_t(c)] > 0)
                    kl += pt[size_t(c)] * (std::log(pt[size_t(c)]) - std::log(std::max(ps[size_t(c)], 1e-300)));
            soft += kl;
            if (gradient) {
                float *g = gradient->f32() + n * C;
                const double scale = double(alpha) * T / double(N);
                for (int64_t c = 0; c < C; ++c)
                    g[c] += float(scale * (ps[size_t(c)] - pt[size_t(c)]));
            }
        }
        soft *= double(alpha) * T * T / double(std::max<int64_t>(1, N));
    }

    if (!labels || alpha == 1.f) { // the top-1 count: against the labels when there are any, else the teacher
        hits = 0;
        for (int64_t n = 0; n < N; ++n) {
            const float *zs = studentLogits.f32() + n * C;
            const int64_t top = std::max_element(zs, zs + C) - zs;
            if (labels) {
                const int64_t label = (*labels)[size_t(n)];
                if (label < 0 || label >= C)
                    throw Error("label " + std::to_string(label) + " is outside the model's " + std::to_string(C) +
                                " classes");
                hits += top == label;
            } else {
                const float *zt = teacherLogits.f32() + n * C;
                hits += top == std::max_element(zt, zt + C) - zt;
            }
        }
    }
    if (correct)
        *correct = hits;
    if (parts) {
        parts->hard = hard;
        parts->soft = soft;
    }
    return hard + soft;
}

double featureLoss(FeatureLoss kind, const Tensor &student, const Tensor &teacher, Tensor *gradient)
{
    requireFloat(student, "the student's feature");
    requireFloat(teacher, "the teacher's feature");
    const int64_t N = student.dim(0);
    if (kind == FeatureLoss::Attention) {
        if (student.rank() < 3 || teacher.rank() != student.rank() || teacher.dim(0) != N)
            throw Error("attention transfer needs [N, C, spatial...] features of equal rank, got " +
                        shapeToString(student.shape()) + " and " + shapeToString(teacher.shape()));
        for (int a = 2; a < student.rank(); ++a)
            if (student.dim(a) != teacher.dim(a))
                throw Error("attention transfer needs equal spatial sizes, got " + shapeToString(student.shape()) +
                            " and " + shapeToString(teacher.shape()));
        const int64_t Cs = student.dim(1), Ct = teacher.dim(1), P = student.numel() / std::max<int64_t>(1, N * Cs);
        if (gradient)
            *gradient = Tensor(DType::Float32, student.shape());
        // q = Q / |Q| with Q_p = sum_c f_c,p^2; loss = mean over N and P of (q_s - q_t)^2.
        auto map = [&](const float *f, int64_t C, std::vector<double> &q) {
            q.assign(size_t(P), 0.0);
            for (int64_t c = 0; c < C; ++c)
                for (int64_t p = 0; p < P; ++p)
                    q[size_t(p)] += double(f[c * P + p]) * double(f[c * P + p]);
            double norm = 0;
            for (double v : q)
                norm += v * v;
            norm = std::max(std::sqrt(norm), 1e-12);
            for (double &v : q)
                v /= norm;
            return norm;
        };
        double loss = 0;
        std::vector<double> qs, qt, dq(static_cast<size_t>(P));
        for (int64_t n = 0; n < N; ++n) {
            const float *fs = student.f32() + n * Cs * P;
            const double norm = map(fs, Cs, qs);
            map(teacher.f32() + n * Ct * P, Ct, qt);
            double dot = 0;
            for (int64_t p = 0; p < P; ++p) {
                const double d = qs[size_t(p)] - qt[size_t(p)];
                loss += d * d;
                dq[size_t(p)] = 2.0 * d / double(N * P);
                dot += dq[size_t(p)] * qs[size_t(p)];
            }
            if (!gradient)
                continue;
            // dL/dQ = (dq - q (q . dq)) / |Q|; dQ_p / df_c,p = 2 f_c,p.
            float *g = gradient->f32() + n * Cs * P;
            for (int64_t p = 0; p < P; ++p) {
                const double dQ = (dq[size_t(p)] - qs[size_t(p)] * dot) / norm;
                for (int64_t c = 0; c < Cs; ++c)
                    g[c * P + p] = float(2.0 * double(fs[c * P + p]) * dQ);
            }
        }
        return loss / double(std::max<int64_t>(1, N * P));
    }

    if (student.shape() != teacher.shape())
        throw Error("the student's feature " + shapeToString(student.shape()) + " does not match the teacher's " +
                    shapeToString(teacher.shape()));
    const float *s = student.f32(), *t = teacher.f32();
    const int64_t total = student.numel();
    if (gradient)
        *gradient = Tensor(DType::Float32, student.shape());
    if (kind == FeatureLoss::L2) {
        double loss = 0;
        for (int64_t i = 0; i < total; ++i) {
            const double d = double(s[i]) - double(t[i]);
            loss += d * d;
            if (gradient)
                gradient->f32()[i] = float(2.0 * d / double(total));
        }
        return loss / double(std::max<int64_t>(1, total));
    }
    // Cosine: mean over samples of 1 - s.t / (|s| |t|).
    const int64_t D = total / std::max<int64_t>(1, N);
    double loss = 0;
    for (int64_t n = 0; n < N; ++n) {
        const float *a = s + n * D, *b = t + n * D;
        double dot = 0, na = 0, nb = 0;
        for (int64_t i = 0; i < D; ++i) {
            dot += double(a[i]) * b[i];
            na += double(a[i]) * a[i];
            nb += double(b[i]) * b[i];
        }
        na = std::max(std::sqrt(na), 1e-12);
        nb = std::max(std::sqrt(nb), 1e-12);
        const double cosine = dot / (na * nb);
        loss += 1.0 - cosine;
        if (gradient) {
            float *g = gradient->f32() + n * D;
            for (int64_t i = 0; i < D; ++i)
                g[i] = float(-(double(b[i]) / (na * nb) - cosine * double(a[i]) / (na * na)) / double(N));
        }
    }
    return loss / double(std::max<int64_t>(1, N));
}

Tensor FeatureAdapter::forward(const Tensor &x) const
{
    requireFloat(x, "the adapter's input");
    const int64_t N = x.dim(0), in = weight.dim(1), out = weight.dim(0);
    if (x.rank() < 2 || x.dim(1) != in)
        throw Error("the adapter maps " + std::to_string(in) + " channels, the feature is " + shapeToString(x.shape()));
    const int64_t P = x.numel() / (N * in);
    Shape shape = x.shape();
    shape[1] = out;
    Tensor y = Tensor::uninitialized(DType::Float32, shape);
    const ConstMap W(weight.f32(), out, in);
    const Eigen::Map<const Eigen::VectorXf> b(bias.f32(), out);
    for (int64_t n = 0; n < N; ++n) {
        Map Y(y.f32() + n * out * P, out, P);
        Y.noalias() = W * ConstMap(x.f32() + n * in * P, in, P);
        Y.colwise() += b;
    }
    return y;
}

Tensor FeatureAdapter::backward(const Tensor &x, const Tensor &dy, Tensor *dWeight, Tensor *dBias) const
{
    const int64_t N = x.dim(0), in = weight.dim(1), out = weight.dim(0);
    const int64_t P = x.numel() / (N * in);
    Tensor dx = Tensor::uninitialized(DType::Float32, x.shape());
    *dWeight = Tensor(DType::Float32, weight.shape());
    *dBias = Tensor(DType::Float32, bias.shape());
    const ConstMap W(weight.f32(), out, in);
    Map dW(dWeight->f32(), out, in);
    Eigen::Map<Eigen::VectorXf> db(dBias->f32(), out);
    for (int64_t n = 0; n < N; ++n) {
        const ConstMap X(x.f32() + n * in * P, in, P), DY(dy.f32() + n * out * P, out, P);
        dW.noalias() += DY * X.transpose();
        db += DY.rowwise().sum();
        Map(dx.f32() + n * in * P, in, P).noalias() = W.transpose() * DY;
    }
    return dx;
}

void requireStudentFits(const Model &teacher, const Model &student)
{
    const Graph &t = teacher.graph, &s = student.graph;
    if (t.inputs.size() != 1 || t.outputs.empty())
        throw Error("the teacher must have one graph input and an output, it has " + std::to_string(t.inputs.size()) +
                    " inputs and " + std::to_string(t.outputs.size()) + " outputs");
    if (s.inputs.size() != 1 || s.outputs.empty())
        throw Error("the student must have one graph input and an output, it has " + std::to_string(s.inputs.size()) +
                    " inputs and " + std::to_string(s.outputs.size()) + " outputs");
    auto fits = [](const ValueInfo &a, const ValueInfo &b) {
        if (!a.shapeKnown || !b.shapeKnown)
            return true;
        if (a.shape.size() != b.shape.size())
            return false;
        for (size_t i = 1; i < a.shape.size(); ++i) // the batch may be written differently
            if (a.shape[i] > 0 && b.shape[i] > 0 && a.shape[i] != b.shape[i])
                return false;
        return true;
    };
    if (!fits(t.inputs.front(), s.inputs.front()))
        throw Error("the student's input " + shapeToString(s.inputs.front()) + " does not fit the teacher's " +
                    shapeToString(t.inputs.front()));
    if (!fits(t.outputs.front(), s.outputs.front()))
        throw Error("the student's output " + shapeToString(s.outputs.front()) + " does not fit the teacher's " +
                    shapeToString(t.outputs.front()));
}

Distiller::Distiller(const Model &teacher, const Model &student, const Trainer &trainer, const DistillConfig &config,
                     const TrainOptions &options)
    : m_config(config), m_options(options)
{
    if (!(config.temperature > 0.f) || !std::isfinite(config.temperature))
        throw Error("distillation: temperature must be positive, got " + std::to_string(config.temperature));
    if (!(config.alpha >= 0.f && config.alpha <= 1.f))
        throw Error("distillation: alpha must be in [0, 1], got " + std::to_string(config.alpha));
    if (!(config.featureWeight >= 0.f) || !std::isfinite(config.featureWeight))
        throw Error("distillation: the feature weight must be >= 0, got " + std::to_string(config.featureWeight));
    requireStudentFits(teacher, student);
    const ValueInfo &to = teacher.graph.outputs.front();
    m_teacherOutput = to.name;
    m_studentOutput = trainer.outputName();

    for (const std::string &feature : config.features) {
        const size_t eq = feature.find('=');
        const std::string sName = eq == std::string::npos ? feature : feature.substr(0, eq);
        const std::string tName = eq == std::string::npos ? feature : feature.substr(eq + 1);
        Pair pair;
        pair.student = resolveValue(student, sName);
        pair.teacher = resolveValue(teacher, tName);
        if (pair.student.empty())
            throw Error("distillation feature '" + feature + "': the student has no value or node '" + sName + "'");
        if (pair.teacher.empty())
            throw Error("distillation feature '" + feature + "': the teacher has no value or node '" + tName + "'");
        if (!trainer.carriesGradient(pair.student))
            throw Error("distillation feature '" + feature + "': the student's '" + pair.student +
                        "' does not depend on any trainable weight");
        m_pairs.push_back(std::move(pair));
    }
    m_teacherValues = {m_teacherOutput};
    for (const Pair &p : m_pairs)
        m_teacherValues.push_back(p.teacher);
    m_teacher = std::make_unique<Session>(teacher, SessionOptions{resolveThreads(options.threads)});
}

Distiller::~Distiller() = default;

double Distiller::loss(const Tensor &input, const Trainer &trainer, const std::vector<int64_t> *labels,
                       std::map<std::string, Tensor> *seeds, DistillLossParts *parts, int64_t *correct)
{
    const std::map<std::string, Tensor> teacher =
        m_teacher->run({{m_teacher->model().graph.inputs.front().name, input}}, m_teacherValues);
    const Tensor *studentLogits = trainer.value(m_studentOutput);
    Tensor grad;
    DistillLossParts p;
    distillationLoss(*studentLogits, teacher.at(m_teacherOutput), labels, m_config.temperature, m_config.alpha, &grad,
                     &p, correct);
    seeds->clear();
    (*seeds)[m_studentOutput] = grad;
    const float beta = m_config.featureWeight;
    for (Pair &pair : m_pairs) {
        const Tensor &s = *trainer.value(pair.student), &t = teacher.at(pair.teacher);
        const std::string label = "distillation feature '" + pair.student + "'";
        if (s.dtype() != DType::Float32 || t.dtype() != DType::Float32 || s.rank() < 2 || t.rank() != s.rank() ||
            s.dim(0) != t.dim(0))
            throw Error(label + ": the student's " + shapeToString(s.shape()) + " and the teacher's " +
                        shapeToString(t.shape()) + " cannot be compared");
        if (m_config.featureLoss != FeatureLoss::Attention && !pair.adapter && s.dim(1) != t.dim(1)) {
            // A 1x1 adapter from the student's channels to the teacher's, seeded like the run.
            SeededNormal rng(m_options.seed + 0x5eed + uint64_t(&pair - m_pairs.data()));
            pair.adapter = std::make_unique<FeatureAdapter>();
            pair.adapter->weight = heNormal({t.dim(1), s.dim(1)}, s.dim(1), rng);
            pair.adapter->bias = Tensor(DType::Float32, {t.dim(1)});
        }
        const Tensor a = pair.adapter ? pair.adapter->forward(s) : s;
        Tensor ga;
        double l = 0;
        try {
            l = featureLoss(m_config.featureLoss, a, t, &ga);
        } catch (const Error &e) {
            throw Error(label + ": " + e.what());
        }
        p.feature += double(beta) * l;
        float *g = ga.f32();
        for (int64_t i = 0; i < ga.numel(); ++i)
            g[i] *= beta;
        Tensor gs = pair.adapter ? pair.adapter->backward(s, ga, &pair.dWeight, &pair.dBias) : ga;
        Tensor &seed = (*seeds)[pair.student];
        if (seed.isNull()) {
            seed = gs;
        } else {
            float *d = seed.f32();
            for (int64_t i = 0; i < seed.numel(); ++i)
                d[i] += gs.f32()[i];
        }
    }
    if (parts)
        *parts = p;
    return p.total();
}

void Distiller::step(float lr)
{
    ++m_step;
    const bool adam = m_options.optimizer == Optimizer::Adam;
    for (Pair &pair : m_pairs) {
        if (!pair.adapter || pair.dWeight.isNull())
            continue;
        Tensor *params[2] = {&pair.adapter->weight, &pair.adapter->bias};
        const Tensor *grads[2] = {&pair.dWeight, &pair.dBias};
        for (int k = 0; k < 2; ++k) {
            Tensor &m = pair.state[2 * k], &v = pair.state[2 * k + 1];
            if (m.isNull()) {
                m = Tensor(DType::Float32, params[k]->shape());
                v = Tensor(DType::Float32, params[k]->shape());
            }
            optimizerUpdate(m_options, m_step, lr, 0.f, params[k]->f32(), grads[k]->f32(), m.f32(),
                            adam ? v.f32() : nullptr, params[k]->numel());
        }
    }
}

} // namespace cw
