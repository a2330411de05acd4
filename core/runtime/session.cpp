#include "core/runtime/session.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <unordered_map>

#include "core/base/error.h"
#include "core/base/parallel.h"
#include "core/runtime/blocked.h"
#include "core/runtime/fusion.h"
#include "core/runtime/kernels.h"
#include "core/runtime/ops.h"
#include "core/runtime/sparse.h"

namespace cw {

std::string describeNode(const Node &node, const Model &model)
{
    std::string s = "node '" + node.name + "' (" + node.opType + ")";
    if (!model.sourcePath.empty())
        s += " in '" + model.sourcePath + "'";
    return s;
}

namespace {

void collectUnsupported(const Graph &g, const Model &model, const std::string &subgraph,
                        std::vector<UnsupportedNode> &out)
{
    for (const Node &n : g.nodes) {
        for (const Graph *sub : n.subgraphs())
            collectUnsupported(*sub, model, subgraph.empty() ? n.name : subgraph, out);
        const int64_t opset = nodeOpsetVersion(n, model);
        const OpSupport *op = findOpSupport(n.opType, n.domain);
        if (!op || opset < op->minOpset || opset > op->maxOpset)
            out.push_back({n.name, n.opType, isDefaultDomain(n.domain) ? std::string() : n.domain, opset, op, subgraph});
    }
}

} // namespace

std::string UnsupportedNode::describe() const
{
    std::string what = "node '" + name + "' (" + opType;
    if (domain.empty())
        what += " at opset " + std::to_string(opset);
    else
        what += " of domain '" + domain + "' version " + std::to_string(opset);
    if (kernel)
        what += "; supported at " + std::string(domain.empty() ? "opsets " : "versions ") +
                std::to_string(kernel->minOpset) + "–" + std::to_string(kernel->maxOpset);
    return what + ")";
}

std::vector<UnsupportedNode> unsupportedNodes(const Model &model)
{
    std::vector<UnsupportedNode> nodes;
    collectUnsupported(model.graph, model, {}, nodes);
    return nodes;
}

int64_t nodeOpsetVersion(const Node &node, const Model &model)
{
    if (isDefaultDomain(node.domain))
        return node.attrInt("_opset", model.opsetVersion);
    auto it = model.domainOpsets.find(node.domain);
    return it == model.domainOpsets.end() ? 1 : it->second;
}

void runNode(const Node &node, OpContext &ctx, const Model &model)
{
    ctx.outputs.resize(node.outputs.size());
    try {
        findKernel(node.opType, node.domain)(ctx);
    } catch (const Cancelled &) {
        throw;
    } catch (const std::exception &e) {
        throw Error(describeNode(node, model) + ": " + e.what());
    }
}

void requireKernels(const Model &model)
{
    const std::vector<UnsupportedNode> nodes = unsupportedNodes(model);
    if (nodes.empty())
        return;
    const std::string file = model.sourcePath.empty() ? std::string() : " in '" + model.sourcePath + "'";
    if (nodes.size() == 1)
        throw Error(nodes.front().describe() + file + ": the operator is not supported");
    std::string list;
    for (size_t k = 0; k < nodes.size() && k < 5; ++k)
        list += (k ? ", " : "") + nodes[k].describe();
    if (nodes.size() > 5)
        list += " and " + std::to_string(nodes.size() - 5) + " more";
    throw Error(std::to_string(nodes.size()) + " nodes" + file + " use operators that are not supported: " + list);
}

Session::Session(Model model, SessionOptions options)
    : m_model(std::move(model)), m_threads(resolveThreads(options.threads)), m_outerInputs(options.outerInputs)
{
    m_model.graph.ensureUniqueNodeNames();
    m_model.graph.sortTopologically();
    requireKernels(m_model);
    m_options = options;
    m_options.threads = m_threads;
    // CW_FUSE=0 in the environment turns the fusions off (for measurements, docs/performance.md).
    static const bool fusionOff = [] {
        const char *v = std::getenv("CW_FUSE");
        return v && std::string(v) == "0";
    }();
    m_options.fuse = options.fuse && !fusionOff;
    // CW_HALF_FLOATS=declared computes 16-bit models as declared (for comparisons, docs/models.md).
    static const bool declaredHalfFloats = [] {
        const char *v = std::getenv("CW_HALF_FLOATS");
        return v && std::string(v) == "declared";
    }();
    if (m_options.halfFloats == HalfFloats::Float32 && !declaredHalfFloats) {
        if (std::optional<Model> wide = float32Arithmetic(m_model))
            m_float32 = std::make_unique<const Model>(std::move(*wide));
        // The graphs derived from it (the unfused plan, subgraphs) hold no 16-bit arithmetic left to widen.
        m_options.halfFloats = HalfFloats::Declared;
    }
    if (m_options.fuse) {
        int fused = 0;
        Model f = fuseForInference(base(), &fused);
        if (fused > 0) {
            std::set<std::string> kept;
            for (const Node &n : f.graph.nodes)
                kept.insert(n.outputs.begin(), n.outputs.end());
            for (const Node &n : base().graph.nodes)
                for (const std::string &o : n.outputs)
                    if (!o.empty() && !kept.count(o))
                        m_fusedAway.insert(o);
            // Initializers fusion dropped or changed (a weight and bias with BatchNormalization folded in keep
            // their names): asked for or fed by name, they are the graph's own, so the unfused plan serves them.
            for (const auto &entry : base().graph.initializers) {
                auto it = f.graph.initializers.find(entry.first);
                if (it == f.graph.initializers.end() || it->second.rawData() != entry.second.rawData())
                    m_fusedAway.insert(entry.first);
            }
            m_fused = std::make_unique<const Model>(std::move(f));
        }
    }
    const Graph &g = executed().graph;
    // Activations kept blocked between layers (runtime/blocked.h): the element-wise readers, whose inputs are
    // made consistent before their kernel runs, and the values that leave the Session plain when asked for.
    m_blockedReader.resize(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &n = g.nodes[i];
        m_blockedReader[i] = n.hasAttr(blocked::kInputs) && blocked::computesElementwise(n);
        if (blocked::mayLeave(n))
            m_blockedValues.insert(n.outputs[0]);
    }
    // Control flow: a Session per subgraph, whose graph inputs are the subgraph's own followed by the values
    // it reads from this graph.
    m_implicit.resize(g.nodes.size());
    m_subgraphs.resize(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &n = g.nodes[i];
        m_implicit[i] = implicitInputs(n);
        for (const auto &[key, a] : n.attrs) {
            if (a.kind != Attribute::Kind::Graph || !a.graph)
                continue;
            Model sub;
            sub.graph = *a.graph;
            sub.opsetVersion = m_model.opsetVersion;
            sub.domainOpsets = m_model.domainOpsets;
            sub.sourcePath = m_model.sourcePath;
            // What the subgraph reads from this graph: for inference, an initializer here is one there too (the
            // same buffer), so that the subgraph's Session folds what it computes from it once (silero's branches
            // slice their convolution weights, hoisted to the main graph at load, on every run otherwise); a run
            // that feeds such a value by name takes the unfused plan, which passes it in. The rest are inputs fed
            // per run.
            int outerInputs = 0;
            for (const std::string &name : outerNames(sub.graph)) {
                if (auto init = g.initializers.find(name); m_options.fuse && init != g.initializers.end()) {
                    sub.graph.initializers[name] = init->second;
                    m_fusedAway.insert(name);
                    continue;
                }
                ValueInfo v;
                v.name = name;
                sub.graph.inputs.push_back(v);
                ++outerInputs;
            }
            try {
                SessionOptions subOptions = m_options;
                subOptions.outerInputs = outerInputs;
                m_subgraphs[i][key] = std::make_shared<const Session>(std::move(sub), subOptions);
            } catch (const Error &e) {
                throw Error(describeNode(n, m_model) + ", subgraph '" + key + "': " + e.what());
            }
        }
    }
    // Constant folding: a node fed only by initializers (and earlier folded nodes) gives the same result on
    // every run, so it runs once now. A weight-only quantized layer's DequantizeLinear is the case that
    // matters: per call it would cost as much as the layer. Control-flow nodes run their subgraphs per run.
    m_folded.assign(g.nodes.size(), 0);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &n = g.nodes[i];
        bool constant = m_subgraphs[i].empty();
        for (const std::string &in : n.inputs)
            constant = constant && (in.empty() || g.isInitializer(in) || m_foldedValues.count(in));
        if (!constant)
            continue;
        OpContext ctx{n, {}, {}, m_threads};
        for (const std::string &in : n.inputs) {
            if (in.empty())
                ctx.inputs.push_back(nullptr);
            else if (g.isInitializer(in))
                ctx.inputs.push_back(&g.initializers.at(in));
            else
                ctx.inputs.push_back(&m_foldedValues.at(in));
        }
        std::vector<Tensor> plainCopies;
        if (m_blockedReader[i])
            blocked::prepareElementwise(n, ctx.inputs, plainCopies);
        runNode(n, ctx, executed());
        for (size_t o = 0; o < n.outputs.size(); ++o)
            if (!n.outputs[o].empty())
                m_foldedValues[n.outputs[o]] = std::move(ctx.outputs[o]);
        m_folded[i] = 1;
    }
    // Free each intermediate after its last consumer; graph outputs are never freed.
    std::set<std::string> keep;
    for (const ValueInfo &v : g.outputs)
        keep.insert(v.name);
    std::unordered_map<std::string, size_t> last;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        for (const std::string &in : g.nodes[i].inputs)
            if (!in.empty() && !g.isInitializer(in))
                last[in] = i;
        for (const std::string &in : m_implicit[i])
            if (!g.isInitializer(in))
                last[in] = i;
    }
    m_freeAfter.assign(g.nodes.size(), {});
    for (const auto &[name, i] : last)
        if (!keep.count(name))
            m_freeAfter[i].push_back(name);
    // What each node reads that does not change between runs, and what the graph outputs need.
    for (const auto &entry : g.initializers)
        m_constantNames.insert(entry.first);
    for (const auto &entry : m_foldedValues)
        m_constantNames.insert(entry.first);
    m_constantInputs.resize(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i)
        for (const std::string &in : g.nodes[i].inputs) {
            const Tensor *t = nullptr;
            if (auto folded = m_foldedValues.find(in); folded != m_foldedValues.end())
                t = &folded->second;
            else if (auto init = g.initializers.find(in); init != g.initializers.end())
                t = &init->second;
            m_constantInputs[i].push_back(t);
        }
    m_neededForOutputs = neededNodes(keep, [](const std::string &) { return false; });
    // Pruned layers: the CSR form of each sparse-enough constant weight, built once per Session.
    m_sparse.resize(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i)
        m_sparse[i] = sparse::prepare(g.nodes[i], g);
}

std::vector<char> Session::neededNodes(const std::set<std::string> &wanted,
                                       const std::function<bool(const std::string &)> &given) const
{
    const Graph &g = executed().graph;
    std::vector<char> needed(g.nodes.size(), 0);
    std::set<std::string> need = wanted;
    for (size_t i = g.nodes.size(); i-- > 0;) {
        const Node &node = g.nodes[i];
        bool any = false;
        for (const std::string &o : node.outputs)
            any = any || (!o.empty() && need.count(o) && !given(o));
        needed[i] = any;
        if (any) {
            for (const std::string &in : node.inputs)
                if (!in.empty())
                    need.insert(in);
            need.insert(m_implicit[i].begin(), m_implicit[i].end());
        }
    }
    return needed;
}

std::map<std::string, Tensor> Session::execute(const std::map<std::string, Tensor> &feeds,
                                               const std::vector<std::string> &wanted, bool keepAll,
                                               int64_t *peak) const
{
    // Live intermediate buffers (by address, with the number of values holding each) for `peak`.
    std::unordered_map<const void *, std::pair<int, int64_t>> live;
    int64_t liveBytes = 0;
    const auto hold = [&](const Tensor &t) {
        if (!peak || t.isNull() || t.byteSize() == 0)
            return;
        auto &[refs, bytes] = live[t.rawData()];
        if (refs++ == 0) {
            bytes = int64_t(t.byteSize());
            liveBytes += bytes;
            *peak = std::max(*peak, liveBytes);
        }
    };
    const auto release = [&](const Tensor &t) {
        if (!peak || t.isNull() || t.byteSize() == 0)
            return;
        auto it = live.find(t.rawData());
        if (it != live.end() && --it->second.first == 0) {
            liveBytes -= it->second.second;
            live.erase(it);
        }
    };
    const Graph &g = executed().graph;
    // Sets this thread's OpenMP team size, which Eigen's gemm also follows.
    omp_set_num_threads(m_threads);
    std::unordered_map<std::string, Tensor> values;
    values.reserve(g.nodes.size() * 2 + feeds.size());
    for (size_t k = 0; k < g.inputs.size(); ++k) {
        const ValueInfo &in = g.inputs[k];
        auto it = feeds.find(in.name);
        if (it == feeds.end())
            throw Error("no value given for graph input '" + in.name + "'");
        const Tensor &t = it->second;
        if (k + size_t(m_outerInputs) >= g.inputs.size()) { // a value of the enclosing graph
            values[in.name] = t;
            continue;
        }
        if (in.shapeKnown) {
            bool ok = t.rank() == int(in.shape.size());
            for (size_t d = 0; ok && d < in.shape.size(); ++d)
                ok = in.shape[d] < 0 || in.shape[d] == t.shape()[d];
            if (!ok)
                throw Error("graph input '" + in.name + "' expects shape " + shapeToString(in.shape) + ", got " +
                            shapeToString(t.shape()));
        }
        values[in.name] = t.dtype() == in.dtype ? t : t.castTo(in.dtype);
    }
    for (const auto &[name, t] : feeds)
        if (!values.count(name))
            values[name] = t; // extra feeds may override intermediates (used by sensitivity caching)
    std::set<std::string> wantedSet(wanted.begin(), wanted.end());
    // Only nodes the wanted outputs depend on run, and a value given as a feed is not recomputed: a
    // sensitivity trial feeds the cached activations entering a layer and asks for the graph output, so only
    // the network from that layer on runs. One backward pass over the node names, cheap next to any kernel.
    // The common run (the graph inputs in, every graph output out) takes the answer worked out at construction.
    std::vector<char> needed(g.nodes.size(), 1);
    if (!keepAll) {
        const bool plainRun = values.size() == g.inputs.size() && wantedSet.size() == g.outputs.size() &&
                              std::all_of(g.outputs.begin(), g.outputs.end(),
                                          [&](const ValueInfo &v) { return wantedSet.count(v.name) > 0; });
        needed = plainRun ? m_neededForOutputs
                          : neededNodes(wantedSet, [&](const std::string &v) { return values.count(v) > 0; });
    }
    // Inputs that do not change between runs were resolved at construction, unless a feed overrides one.
    const bool constantsFed = std::any_of(feeds.begin(), feeds.end(), [&](const auto &feed) {
        return m_constantNames.count(feed.first) > 0;
    });

    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &node = g.nodes[i];
        bool computed = true;
        for (const std::string &o : node.outputs)
            computed = computed && !o.empty() && values.count(o);
        if (computed || !needed[i] || m_folded[i])
            continue;
        OpContext ctx{node, {}, {}, m_threads};
        ctx.sparse = m_sparse[i].get();
        ctx.constantInputs = true;
        ctx.runOnce = m_options.runOnce;
        ctx.inputs.reserve(node.inputs.size());
        auto lookup = [&](const std::string &in) -> const Tensor * {
            auto v = values.find(in);
            if (v != values.end())
                return &v->second;
            auto folded = m_foldedValues.find(in);
            if (folded != m_foldedValues.end())
                return &folded->second;
            auto init = g.initializers.find(in);
            if (init == g.initializers.end())
                throw Error(describeNode(node, m_model) + ": input '" + in + "' has no value");
            return &init->second;
        };
        for (size_t k = 0; k < node.inputs.size(); ++k) {
            const std::string &in = node.inputs[k];
            const Tensor *constant = constantsFed ? nullptr : m_constantInputs[i][k];
            ctx.inputs.push_back(in.empty() ? nullptr : constant ? constant : lookup(in));
        }
        if (!m_subgraphs[i].empty()) {
            ctx.subgraphs = &m_subgraphs[i];
            for (const std::string &in : m_implicit[i])
                ctx.outerValues[in] = lookup(in);
        }
        std::vector<Tensor> plainCopies;
        if (m_blockedReader[i])
            blocked::prepareElementwise(node, ctx.inputs, plainCopies);
        runNode(node, ctx, executed());
        for (size_t o = 0; o < node.outputs.size(); ++o)
            if (!node.outputs[o].empty()) {
                hold(ctx.outputs[o]);
                values[node.outputs[o]] = std::move(ctx.outputs[o]);
            }
        if (!keepAll)
            for (const std::string &name : m_freeAfter[i])
                if (!wantedSet.count(name))
                    if (auto v = values.find(name); v != values.end()) {
                        release(v->second);
                        values.erase(v);
                    }
    }

    // A value kept blocked between layers leaves plain.
    const auto plain = [&](const std::string &name, const Tensor &t) {
        return t.rank() == 5 && m_blockedValues.count(name) ? blocked::toPlain(t) : t;
    };
    std::map<std::string, Tensor> result;
    if (keepAll) {
        for (auto &[name, t] : values)
            result[name] = plain(name, t);
        for (const auto &[name, t] : m_foldedValues)
            result.emplace(name, plain(name, t)); // a feed that overrides a folded value wins
        for (const auto &[name, t] : g.initializers)
            result[name] = t;
        return result;
    }
    for (const std::string &name : wanted) {
        auto it = values.find(name);
        if (it != values.end()) {
            result[name] = plain(name, it->second);
            continue;
        }
        auto folded = m_foldedValues.find(name);
        if (folded != m_foldedValues.end()) {
            result[name] = plain(name, folded->second);
            continue;
        }
        auto init = g.initializers.find(name);
        if (init == g.initializers.end())
            throw Error("requested output '" + name + "' is not a value of the graph");
        result[name] = init->second;
    }
    return result;
}

std::vector<Tensor> runSubgraph(const Session &session, const std::vector<Tensor> &formal,
                                const std::map<std::string, const Tensor *> &outer)
{
    const Graph &g = session.model().graph;
    std::map<std::string, Tensor> feeds;
    for (size_t k = 0; k < g.inputs.size(); ++k) {
        const std::string &name = g.inputs[k].name;
        if (k < formal.size()) {
            feeds[name] = formal[k];
            continue;
        }
        auto it = outer.find(name);
        if (it == outer.end() || !it->second)
            throw Error("the subgraph reads '" + name + "', which the enclosing graph does not provide");
        feeds[name] = *it->second;
    }
    std::map<std::string, Tensor> out = session.run(feeds);
    std::vector<Tensor> result;
    for (const ValueInfo &v : g.outputs)
        result.push_back(out.at(v.name));
    return result;
}

std::map<std::string, Tensor> Session::run(const std::map<std::string, Tensor> &feeds,
                                           const std::vector<std::string> &outputs) const
{
    std::vector<std::string> wanted = outputs;
    if (wanted.empty())
        for (const ValueInfo &v : m_model.graph.outputs)
            wanted.push_back(v.name);
    if (!m_fusedAway.empty()) {
        bool served = true;
        for (const std::string &name : wanted)
            served = served && !m_fusedAway.count(name);
        for (const auto &feed : feeds)
            served = served && !m_fusedAway.count(feed.first);
        if (!served)
            return unfused().execute(feeds, wanted, false);
    }
    return execute(feeds, wanted, false);
}

const Session &Session::unfused() const
{
    std::call_once(m_unfusedOnce, [this] {
        SessionOptions options = m_options;
        options.fuse = false;
        m_unfused = std::make_unique<const Session>(base(), options);
    });
    return *m_unfused;
}

Tensor Session::run(const Tensor &input) const
{
    const Graph &g = m_model.graph;
    if (g.inputs.empty() || g.outputs.empty())
        throw Error("model has no graph input or output");
    auto out = run({{g.inputs.front().name, input}}, {g.outputs.front().name});
    return out.begin()->second;
}

std::map<std::string, Tensor> Session::runAll(const std::map<std::string, Tensor> &feeds) const
{
    return m_fused ? unfused().execute(feeds, {}, true) : execute(feeds, {}, true);
}

int64_t Session::constantBytes() const
{
    std::set<const void *> seen; // a folded value may be an initializer itself
    int64_t bytes = 0;
    const auto count = [&](const Tensor &t) {
        if (!t.isNull() && t.byteSize() > 0 && seen.insert(t.rawData()).second)
            bytes += int64_t(t.byteSize());
    };
    for (const auto &[name, t] : executed().graph.initializers)
        count(t);
    for (const auto &[name, t] : m_foldedValues)
        count(t);
    return bytes;
}

int64_t Session::peakIntermediateBytes(const std::map<std::string, Tensor> &feeds) const
{
    std::vector<std::string> wanted;
    for (const ValueInfo &v : m_model.graph.outputs)
        wanted.push_back(v.name);
    int64_t peak = 0;
    execute(feeds, wanted, false, &peak);
    return peak;
}


} // namespace cw
