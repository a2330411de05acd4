#include "core/runtime/session.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <set>
#include <unordered_map>

#include "core/base/error.h"
#include "core/base/parallel.h"
#include "core/runtime/blocked.h"
#include "core/runtime/fusion.h"
#include "core/runtime/kernels.h"
#include "core/runtime/ops.h"
#include "core/runtime/shape_inference.h"
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

namespace {

void runKernel(const OpKernel &kernel, const Node &node, OpContext &ctx, const Model &model)
{
    ctx.outputs.resize(node.outputs.size());
    try {
        kernel(ctx);
    } catch (const Cancelled &) {
        throw;
    } catch (const std::exception &e) {
        throw Error(describeNode(node, model) + ": " + e.what());
    }
}

} // namespace

void runNode(const Node &node, OpContext &ctx, const Model &model)
{
    runKernel(findKernel(node.opType, node.domain), node, ctx, model);
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

void NodeProfile::add(const Node &node, double seconds)
{
    const std::string &key = node.outputs.empty() ? node.name : node.outputs[0];
    std::lock_guard lock(m_mutex);
    auto [it, added] = m_index.try_emplace(key, m_entries.size());
    if (added)
        m_entries.push_back({node.name.empty() ? key : node.name, node.opType});
    m_entries[it->second].seconds += seconds;
}

std::vector<NodeProfile::Entry> NodeProfile::entries() const
{
    std::lock_guard lock(m_mutex);
    return m_entries;
}

void NodeProfile::clear()
{
    std::lock_guard lock(m_mutex);
    m_entries.clear();
    m_index.clear();
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
    }
    // Constant folding: a node fed only by initializers (and earlier folded nodes) gives the same result on
    // every run, so it runs once now. A weight-only quantized layer's DequantizeLinear is the case that
    // matters: per call it would cost as much as the layer. Control-flow nodes run their subgraphs per run. It
    // comes before the subgraphs' Sessions, which take the folded values they read as constants.
    m_folded.assign(g.nodes.size(), 0);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &n = g.nodes[i];
        bool constant = n.subgraphs().empty();
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
            // What the subgraph reads from this graph: for inference, an initializer here, or a value folded here
            // (a weight-only layer's dequantized weight), is an initializer there too (the same buffer), so that the
            // subgraph's Session folds what it computes from it once and packs its weights once (silero's branches
            // slice their convolution weights, hoisted to the main graph at load, on every run otherwise); a run
            // that feeds such a value by name takes the unfused plan, which passes it in. The rest are inputs fed
            // per run.
            const bool ifBranch = n.opType == "If";
            int outerInputs = 0;
            for (const std::string &name : outerNames(sub.graph)) {
                const auto init = g.initializers.find(name);
                auto folded = m_foldedValues.find(name);
                if (folded != m_foldedValues.end() && folded->second.rank() == 5) // may be channel-blocked here
                    folded = m_foldedValues.end();
                if (m_options.fuse && (init != g.initializers.end() || folded != m_foldedValues.end())) {
                    sub.graph.initializers[name] = init != g.initializers.end() ? init->second : folded->second;
                    m_fusedAway.insert(name);
                    continue;
                }
                // An If branch knows the shapes of what it reads (the enclosing graph's, with their symbols), so
                // that it can run batch-parallel on its own (runtime/batch_split.h).
                ValueInfo v;
                v.name = name;
                if (auto known = g.values.find(name); ifBranch && known != g.values.end())
                    v = known->second;
                sub.graph.inputs.push_back(v);
                ++outerInputs;
            }
            if (ifBranch && m_threads > 1) {
                try {
                    inferShapes(sub);
                } catch (const Error &) {
                    sub.graph.values.clear(); // no shapes: the branch runs as a whole
                }
            }
            try {
                SessionOptions subOptions = m_options;
                subOptions.profile = nullptr; // their time is the node's
                subOptions.outerInputs = outerInputs;
                subOptions.splitBatch = ifBranch;
                m_subgraphs[i][key] = std::make_shared<const Session>(std::move(sub), subOptions);
            } catch (const Error &e) {
                throw Error(describeNode(n, m_model) + ", subgraph '" + key + "': " + e.what());
            }
        }
    }
    // The run plan: a slot per value name, each node's kernel, its inputs' slots and constants, and the
    // intermediates to free after it (after their last consumer; graph outputs are never freed).
    const auto slot = [&](const std::string &name) {
        if (name.empty())
            return -1;
        auto [it, added] = m_slotOf.emplace(name, int(m_slotNames.size()));
        if (added)
            m_slotNames.push_back(name);
        return it->second;
    };
    const auto constant = [&](const std::string &name) -> const Tensor * {
        if (auto folded = m_foldedValues.find(name); folded != m_foldedValues.end())
            return &folded->second;
        auto init = g.initializers.find(name);
        return init == g.initializers.end() ? nullptr : &init->second;
    };
    for (const ValueInfo &v : g.inputs)
        m_inputSlots.push_back(slot(v.name));
    std::set<std::string> keep;
    for (const ValueInfo &v : g.outputs) {
        keep.insert(v.name);
        slot(v.name);
    }
    m_steps.resize(g.nodes.size());
    std::unordered_map<int, size_t> last;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &n = g.nodes[i];
        Step &step = m_steps[i];
        step.kernel = findKernel(n.opType, n.domain);
        for (const std::string &in : n.inputs) {
            step.inputs.push_back(slot(in));
            step.constants.push_back(in.empty() ? nullptr : constant(in));
            if (!in.empty() && !g.isInitializer(in))
                last[step.inputs.back()] = i;
        }
        for (const std::string &in : m_implicit[i]) {
            step.implicit.push_back(slot(in));
            step.implicitConstants.push_back(constant(in));
            if (!g.isInitializer(in))
                last[step.implicit.back()] = i;
        }
        for (const std::string &o : n.outputs)
            step.outputs.push_back(slot(o));
    }
    for (const auto &[s, i] : last)
        if (!keep.count(m_slotNames[size_t(s)]))
            m_steps[i].freeAfter.push_back(s);
    m_blockedSlot.assign(m_slotNames.size(), 0);
    for (const Node &n : g.nodes)
        if (blocked::mayLeave(n))
            m_blockedSlot[size_t(m_slotOf.at(n.outputs[0]))] = 1;
    const auto planOf = [&](std::vector<std::string> names) {
        WantedPlan plan;
        plan.needed = neededNodes(std::set<std::string>(names.begin(), names.end()),
                                  [](const std::string &) { return false; });
        for (const std::string &name : names) {
            const auto it = m_slotOf.find(name);
            plan.valueSlots.push_back(it == m_slotOf.end() ? -1 : it->second);
        }
        plan.names = std::move(names);
        return plan;
    };
    std::vector<std::string> outputs;
    for (const ValueInfo &v : g.outputs) {
        outputs.push_back(v.name);
        m_outputsServed = m_outputsServed && !m_fusedAway.count(v.name);
    }
    m_outputsPlan = planOf(std::move(outputs));
    // Pruned layers: the CSR form of each sparse-enough constant weight, built once per Session.
    m_sparse.resize(g.nodes.size());
    for (size_t i = 0; i < g.nodes.size(); ++i)
        m_sparse[i] = sparse::prepare(g.nodes[i], g);
    m_prepared.reset(new PreparedSlot[g.nodes.size()]);
    if (m_threads > 1 && m_options.splitBatch) {
        m_batchRegion = batchRegion(g, constant, m_implicit);
        if (!m_batchRegion.frontier.empty() && m_batchRegion.frontier != m_outputsPlan.names)
            m_frontierPlan = planOf(m_batchRegion.frontier);
        // A specialised copy is a second plan, weights folded and packed again: only where the region leaves
        // nodes out, and not for a single run.
        bool whole = true;
        for (size_t i = 0; i < g.nodes.size(); ++i)
            whole = whole && (m_batchRegion.local[i] || m_folded[i] || !m_outputsPlan.needed[i]);
        if (m_options.specialize && !m_options.runOnce && !whole && specializable(m_model.graph)) {
            const std::string symbol = batchSymbol(m_model.graph);
            for (const ValueInfo &v : m_model.graph.inputs) {
                m_batchDims.emplace_back();
                for (size_t d = 0; d < v.shape.size(); ++d)
                    if (symbolOf(v, d) == symbol)
                        m_batchDims.back().push_back(d);
            }
        }
    }
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

namespace {

// The vectors of one run of execute(), kept per thread from one run to the next: a small model's run takes
// microseconds, and allocating them was a measurable part of it (a vector of a Tensor per value is large enough
// that glibc consolidated its free lists on every run), as was clearing them whole. Between runs every value is
// null and every flag 0: a run lists the slots it sets (`touched`), and only those are cleared after it. A run
// inside a run (an If's branch) takes another.
struct RunScratch {
    std::vector<Tensor> values; // by slot; at least the Session's slots
    std::vector<char> has, wanted;
    std::vector<int> touched;
    std::vector<const Tensor *> inputs; // the context's, from node to node
    std::vector<Tensor> outputs;
};

class RunScratchLease {
public:
    explicit RunScratchLease(size_t slots)
    {
        std::vector<std::unique_ptr<RunScratch>> &pool = idle();
        if (pool.empty()) {
            m_scratch = std::make_unique<RunScratch>();
        } else {
            m_scratch = std::move(pool.back());
            pool.pop_back();
        }
        if (m_scratch->values.size() < slots) {
            m_scratch->values.resize(slots);
            m_scratch->has.resize(slots, 0);
            m_scratch->wanted.resize(slots, 0);
        }
    }
    ~RunScratchLease()
    {
        RunScratch &r = *m_scratch;
        for (const int s : r.touched) { // what the run left (wanted values, a failed run's); a freed value is null
            if (r.has[size_t(s)]) {
                r.values[size_t(s)] = Tensor();
                r.has[size_t(s)] = 0;
            }
            r.wanted[size_t(s)] = 0;
        }
        r.touched.clear();
        r.outputs.clear();
        idle().push_back(std::move(m_scratch));
    }
    RunScratchLease(const RunScratchLease &) = delete;
    RunScratchLease &operator=(const RunScratchLease &) = delete;
    RunScratch *operator->() const { return m_scratch.get(); }

private:
    static std::vector<std::unique_ptr<RunScratch>> &idle()
    {
        thread_local std::vector<std::unique_ptr<RunScratch>> pool;
        return pool;
    }
    std::unique_ptr<RunScratch> m_scratch;
};

} // namespace

std::map<std::string, Tensor> Session::execute(const std::map<std::string, Tensor> &feeds,
                                               const std::vector<std::string> &wanted, bool keepAll,
                                               int64_t *peak, int threads) const
{
    if (threads <= 0)
        threads = m_threads;
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
    omp_set_num_threads(threads);
    // The values of this run by slot; a feed that names no value of the graph is only ever returned.
    const RunScratchLease scratch(m_slotNames.size());
    std::vector<Tensor> &values = scratch->values;
    std::vector<char> &has = scratch->has;
    const auto set = [&](int s, Tensor &&t) {
        values[size_t(s)] = std::move(t);
        if (!has[size_t(s)])
            scratch->touched.push_back(s);
        has[size_t(s)] = 1;
    };
    for (size_t k = 0; k < g.inputs.size(); ++k) {
        const ValueInfo &in = g.inputs[k];
        auto it = feeds.find(in.name);
        if (it == feeds.end())
            throw Error("no value given for graph input '" + in.name + "'");
        const Tensor &t = it->second;
        if (k + size_t(m_outerInputs) >= g.inputs.size()) { // a value of the enclosing graph
            set(m_inputSlots[k], Tensor(t));
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
        set(m_inputSlots[k], t.dtype() == in.dtype ? Tensor(t) : t.castTo(in.dtype));
    }
    // Extra feeds may override intermediates and constants (used by sensitivity caching). Every graph input was
    // found among the feeds, so there are others only when there are more feeds.
    size_t given = g.inputs.size();
    if (feeds.size() > g.inputs.size())
        for (const auto &[name, t] : feeds)
            if (auto it = m_slotOf.find(name); it != m_slotOf.end() && !has[size_t(it->second)]) {
                set(it->second, Tensor(t));
                ++given;
            }
    // The runs of the graph outputs, and of the batch region's frontier (a part of a split batch), take their
    // slots and the nodes they need from construction, recognised without building sets: a small model's whole
    // run takes microseconds, and a part of silero-vad's batch spent 40 us on the lookups.
    const WantedPlan *plan = nullptr;
    for (const WantedPlan *p : {&m_outputsPlan, &m_frontierPlan})
        if (!plan && !p->needed.empty() && wanted == p->names)
            plan = p;
    std::vector<char> &wantedSlot = scratch->wanted;
    const auto want = [&](int s) {
        wantedSlot[size_t(s)] = 1;
        scratch->touched.push_back(s);
    };
    if (plan) {
        for (const int s : plan->valueSlots)
            if (s >= 0)
                want(s);
    } else {
        for (const std::string &name : wanted)
            if (auto it = m_slotOf.find(name); it != m_slotOf.end())
                want(it->second);
    }
    // Only nodes the wanted outputs depend on run, and a value given as a feed is not recomputed: a
    // sensitivity trial feeds the cached activations entering a layer and asks for the graph output, so only
    // the network from that layer on runs. One backward pass over the node names, cheap next to any kernel.
    const bool plainRun = !keepAll && given == g.inputs.size() && plan;
    std::vector<char> neededHere;
    if (keepAll)
        neededHere.assign(g.nodes.size(), 1);
    else if (!plainRun)
        neededHere = neededNodes(std::set<std::string>(wanted.begin(), wanted.end()),
                                 [&](const std::string &v) { return feeds.count(v) > 0; });
    const std::vector<char> &needed = plainRun ? plan->needed : neededHere;
    // An input's value: this run's (computed or fed), else the constant resolved at construction.
    const auto valueOf = [&](int s, const Tensor *constant, const Node &node) -> const Tensor * {
        if (has[size_t(s)])
            return &values[size_t(s)];
        if (!constant)
            throw Error(describeNode(node, m_model) + ": input '" + m_slotNames[size_t(s)] + "' has no value");
        return constant;
    };

    std::vector<const Tensor *> &inputScratch = scratch->inputs;
    std::vector<Tensor> &outputScratch = scratch->outputs;
    for (size_t i = 0; i < g.nodes.size(); ++i) {
        const Node &node = g.nodes[i];
        const Step &step = m_steps[i];
        bool computed = true;
        for (int o : step.outputs)
            computed = computed && o >= 0 && has[size_t(o)];
        if (computed || !needed[i] || m_folded[i])
            continue;
        // The context's vectors keep their storage from node to node.
        OpContext ctx{node, std::move(inputScratch), std::move(outputScratch), threads};
        ctx.slot = &m_prepared[i];
        ctx.constantInputs = true;
        ctx.runOnce = m_options.runOnce;
        ctx.inputs.resize(step.inputs.size());
        for (size_t k = 0; k < step.inputs.size(); ++k) {
            ctx.inputs[k] = step.inputs[k] < 0 ? nullptr : valueOf(step.inputs[k], step.constants[k], node);
            if (k < 64 && ctx.inputs[k] && ctx.inputs[k] == step.constants[k])
                ctx.constantMask |= uint64_t(1) << k;
        }
        // The weight's sparse forms, unless this run feeds the weight anew (the forms are the initializer's).
        ctx.sparse = ctx.constantMask & 2 ? m_sparse[i].get() : nullptr;
        if (!m_subgraphs[i].empty()) {
            ctx.subgraphs = &m_subgraphs[i];
            for (size_t k = 0; k < step.implicit.size(); ++k)
                ctx.outerValues[m_implicit[i][k]] = valueOf(step.implicit[k], step.implicitConstants[k], node);
        }
        std::vector<Tensor> plainCopies;
        if (m_blockedReader[i])
            blocked::prepareElementwise(node, ctx.inputs, plainCopies);
        if (m_options.profile) {
            const auto start = std::chrono::steady_clock::now();
            runKernel(step.kernel, node, ctx, executed());
            const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
            m_options.profile->add(node, took.count());
        } else {
            runKernel(step.kernel, node, ctx, executed());
        }
        for (size_t o = 0; o < step.outputs.size(); ++o)
            if (step.outputs[o] >= 0) {
                hold(ctx.outputs[o]);
                set(step.outputs[o], std::move(ctx.outputs[o]));
            }
        if (!keepAll)
            for (int s : step.freeAfter)
                if (!wantedSlot[size_t(s)] && has[size_t(s)]) {
                    release(values[size_t(s)]);
                    values[size_t(s)] = Tensor();
                    has[size_t(s)] = 0;
                }
        inputScratch = std::move(ctx.inputs);
        inputScratch.clear();
        outputScratch = std::move(ctx.outputs);
        outputScratch.clear();
    }

    // A value kept blocked between layers leaves plain.
    const auto plain = [&](int s, const Tensor &t) {
        return s >= 0 && t.rank() == 5 && m_blockedSlot[size_t(s)] ? blocked::toPlain(t) : t;
    };
    const auto slotOf = [&](const std::string &name) {
        auto it = m_slotOf.find(name);
        return it == m_slotOf.end() ? -1 : it->second;
    };
    std::map<std::string, Tensor> result;
    if (keepAll) {
        for (size_t s = 0; s < m_slotNames.size(); ++s)
            if (has[s])
                result[m_slotNames[s]] = plain(int(s), values[s]);
        for (const auto &[name, t] : feeds)
            result.emplace(name, t);
        for (const auto &[name, t] : m_foldedValues)
            result.emplace(name, plain(slotOf(name), t)); // a feed that overrides a folded value wins
        for (const auto &[name, t] : g.initializers)
            result[name] = t;
        return result;
    }
    for (size_t k = 0; k < wanted.size(); ++k) {
        const std::string &name = wanted[k];
        const int s = plan ? plan->valueSlots[k] : slotOf(name);
        if (s >= 0 && has[size_t(s)]) {
            result[name] = plain(s, values[size_t(s)]);
            continue;
        }
        if (auto feed = feeds.find(name); feed != feeds.end()) {
            result[name] = feed->second;
            continue;
        }
        auto folded = m_foldedValues.find(name);
        if (folded != m_foldedValues.end()) {
            result[name] = plain(s, folded->second);
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
        bool served = outputs.empty() ? m_outputsServed : true;
        if (!outputs.empty())
            for (const std::string &name : wanted)
                served = served && !m_fusedAway.count(name);
        for (const auto &feed : feeds)
            served = served && !m_fusedAway.count(feed.first);
        if (!served)
            return unfused().execute(feeds, wanted, false);
    }
    if (const Session *s = specialized(feeds, wanted))
        return s->run(feeds, wanted);
    std::map<std::string, Tensor> result;
    if (runSplit(feeds, wanted, result))
        return result;
    return execute(feeds, wanted, false);
}

const Session *Session::specialized(const std::map<std::string, Tensor> &feeds,
                                    const std::vector<std::string> &wanted) const
{
    constexpr size_t kMaxSpecialized = 8;
    const Graph &g = m_model.graph;
    if (m_batchDims.empty() || feeds.size() != g.inputs.size() || wanted.size() != g.outputs.size())
        return nullptr;
    for (size_t k = 0; k < wanted.size(); ++k)
        if (wanted[k] != g.outputs[k].name)
            return nullptr;
    // The sizes but the batch's; a split needs two samples.
    std::vector<Shape> shapes, key;
    int64_t batch = -1;
    for (size_t k = 0; k < g.inputs.size(); ++k) {
        auto it = feeds.find(g.inputs[k].name);
        if (it == feeds.end())
            return nullptr;
        shapes.push_back(it->second.shape());
        key.push_back(it->second.shape());
        for (const size_t d : m_batchDims[k])
            if (d < key.back().size()) {
                batch = key.back()[d];
                key.back()[d] = -1;
            }
    }
    if (batch < 2)
        return nullptr;
    std::lock_guard<std::mutex> lock(m_specializedMutex);
    auto it = m_specialized.find(key);
    if (it == m_specialized.end()) {
        if (m_specialized.size() >= kMaxSpecialized)
            return nullptr;
        std::shared_ptr<const Session> session;
        if (std::optional<Model> m = specializeSizes(m_model, shapes)) {
            SessionOptions options = m_options;
            options.specialize = false;
            session = std::make_shared<const Session>(std::move(*m), options);
        }
        it = m_specialized.emplace(key, std::move(session)).first;
    }
    return it->second.get();
}

bool Session::runSplit(const std::map<std::string, Tensor> &feeds, const std::vector<std::string> &wanted,
                       std::map<std::string, Tensor> &result) const
{
    const Graph &g = executed().graph;
    if (m_batchRegion.frontier.empty() || feeds.size() != g.inputs.size() || wanted.size() != g.outputs.size())
        return false;
    for (size_t k = 0; k < wanted.size(); ++k)
        if (wanted[k] != g.outputs[k].name)
            return false;
    // Every batched input has the same number of samples along its batch axis.
    int64_t batch = -1;
    for (size_t k = 0; k < g.inputs.size(); ++k) {
        auto it = feeds.find(g.inputs[k].name);
        const int axis = m_batchRegion.inputAxes[k];
        if (it == feeds.end() || it->second.rank() <= axis)
            return false;
        if (axis < 0)
            continue;
        if (batch >= 0 && it->second.dim(axis) != batch)
            return false;
        batch = it->second.dim(axis);
    }
    const int parts = int(std::min<int64_t>(m_threads, batch));
    if (parts < 2)
        return false;
    // Each part runs the region on one thread; the values leaving it are joined in batch order.
    std::vector<std::map<std::string, Tensor>> partial(static_cast<size_t>(parts));
    parallelFor(parts, parts, [&](int64_t p) {
        std::map<std::string, Tensor> slice;
        for (size_t k = 0; k < g.inputs.size(); ++k) {
            const Tensor &t = feeds.at(g.inputs[k].name);
            const int axis = m_batchRegion.inputAxes[k];
            slice[g.inputs[k].name] = axis < 0 ? t : batchRows(t, axis, batch * p / parts, batch * (p + 1) / parts);
        }
        partial[size_t(p)] = execute(slice, m_batchRegion.frontier, false, nullptr, 1);
    });
    std::map<std::string, Tensor> joined = feeds;
    for (size_t f = 0; f < m_batchRegion.frontier.size(); ++f) {
        const std::string &name = m_batchRegion.frontier[f];
        std::vector<const Tensor *> pieces;
        for (const auto &values : partial)
            pieces.push_back(&values.at(name));
        joined[name] = join(pieces, m_batchRegion.joints[f], batch);
    }
    bool done = true;
    for (const std::string &name : wanted)
        done = done && joined.count(name);
    if (!done) // the rest of the graph on the whole batch
        joined = execute(joined, wanted, false);
    for (const std::string &name : wanted)
        result[name] = joined.at(name);
    return true;
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
