#include "core/runtime/ops.h"

#include <algorithm>
#include <cassert>
#include <set>
#include <tuple>

#include "core/base/error.h"

namespace cw {

const Tensor &OpContext::input(int index) const
{
    if (!hasInput(index))
        fail("required input " + std::to_string(index) + " is missing");
    return *inputs[size_t(index)];
}

void OpContext::fail(const std::string &message) const
{
    throw Error(message);
}

namespace {

// ---- float16 / bfloat16 at the kernel boundary ---------------------------------------------------------------
//
// The kernels compute in float32. A node fed float16 or bfloat16 values runs its float32 kernel on widened
// copies of them (exact), and its float32 outputs are rounded back (to nearest even) to the node's float type,
// so the values between nodes are exactly what a float16 graph holds; onnxruntime's CPU provider does the same
// by inserting Casts around its float32-only kernels. The node's float type is that of its first floating
// input: X for most operators, the scale for DequantizeLinear, the branches for Where; Pow(float32 x, float16
// exponent) stays float32. Integer outputs (Shape, ArgMax, QuantizeLinear, ...) are left as they are. A
// float32 node pays one scan of its input dtypes.

// Operators that only move bytes (or convert dtypes themselves) and take the 16-bit floats as they are.
bool takesHalfFloats(const std::string &op)
{
    static const std::set<std::string> ops = {
        "Cast",     "CastLike", "Concat", "ConstantOfShape", "Dropout", "Expand",    "Flatten", "Gather",
        "GatherElements", "Identity", "Reshape", "Shape", "Size", "Slice", "Split", "Squeeze", "Tile",
        "Transpose", "Unsqueeze",
        // Control flow hands its subgraphs' values through as they are.
        "If", "Loop", "Scan"};
    return ops.count(op) != 0;
}

void runWidened(OpContext &ctx, void (*kernel)(OpContext &))
{
    DType floatType = DType::Float32;
    bool floatSeen = false, half = false;
    for (const Tensor *t : ctx.inputs) {
        if (!t)
            continue;
        if (!floatSeen && isFloatType(t->dtype())) {
            floatType = t->dtype();
            floatSeen = true;
        }
        half = half || isHalfType(t->dtype());
    }
    if (!half) {
        kernel(ctx);
        return;
    }
    const std::vector<const Tensor *> given = ctx.inputs;
    std::vector<Tensor> wide(given.size());
    for (size_t i = 0; i < given.size(); ++i) {
        if (given[i] && isHalfType(given[i]->dtype())) {
            wide[i] = given[i]->castTo(DType::Float32);
            ctx.inputs[i] = &wide[i];
        }
    }
    struct Restore { // the caller's input pointers, whether the kernel returns or throws
        OpContext &ctx;
        const std::vector<const Tensor *> &given;
        ~Restore() { ctx.inputs = given; }
    } restore{ctx, given};
    kernel(ctx);
    if (isHalfType(floatType))
        for (Tensor &out : ctx.outputs)
            if (!out.isNull() && out.dtype() == DType::Float32)
                out = out.castTo(floatType);
}

// Registered kernel name -> what findKernel hands out: the kernel itself for operators that take the 16-bit
// floats as they are, the kernel behind runWidened for the rest.
const KernelTable &table()
{
    static const KernelTable kernels = [] {
        KernelTable t;
        registerMathOps(t);
        registerReduceOps(t);
        registerActivationOps(t);
        registerConvOps(t);
        registerPoolOps(t);
        registerShapeOps(t);
        registerRecurrentOps(t);
        registerQuantOps(t);
        registerControlOps(t);
        // Families register plain functions; the wrapper keeps that pointer (small enough for std::function
        // to hold without allocating, so handing a kernel out costs no allocation).
        for (auto &[name, entry] : t) {
            assert(!entry.versions.empty() && std::is_sorted(entry.versions.begin(), entry.versions.end()));
            OpKernel &kernel = entry.kernel;
            using Plain = void (*)(OpContext &);
            const Plain *plain = kernel.target<Plain>();
            assert(plain && "kernels are registered as plain functions");
            if (plain && !takesHalfFloats(name))
                kernel = [k = *plain](OpContext &ctx) { runWidened(ctx, k); };
        }
        return t;
    }();
    return kernels;
}

// Registered name -> domain and operator ("com.microsoft:QGemm" -> "com.microsoft", "QGemm").
std::pair<std::string, std::string> splitName(const std::string &name)
{
    const size_t colon = name.rfind(':');
    return colon == std::string::npos ? std::pair{std::string(), name}
                                      : std::pair{name.substr(0, colon), name.substr(colon + 1)};
}

} // namespace

const std::vector<OpSupport> &opSupport()
{
    static const std::vector<OpSupport> ops = [] {
        std::vector<OpSupport> list;
        for (const auto &[key, entry] : table()) {
            auto [domain, name] = splitName(key);
            // The default domain starts where the importer does; another domain at its first version.
            const int64_t first = entry.versions.front();
            const int64_t min = domain.empty() ? std::max(kMinOpset, first) : first;
            list.push_back({name, domain, min, entry.maxOpset, entry.versions, entry.limits});
        }
        std::stable_sort(list.begin(), list.end(), [](const OpSupport &a, const OpSupport &b) {
            return std::tie(a.domain, a.name) < std::tie(b.domain, b.name);
        });
        return list;
    }();
    return ops;
}

OpKernel findKernel(const std::string &opType)
{
    auto it = table().find(opType);
    return it == table().end() ? nullptr : it->second.kernel;
}

OpKernel findKernel(const std::string &opType, const std::string &domain)
{
    return isDefaultDomain(domain) ? findKernel(opType) : findKernel(domain + ":" + opType);
}

std::vector<std::string> supportedOps()
{
    std::vector<std::string> names;
    for (const auto &[name, entry] : table())
        names.push_back(name);
    return names;
}

const OpSupport *findOpSupport(const std::string &opType, const std::string &domain)
{
    const std::string d = domain == "ai.onnx" ? std::string() : domain;
    for (const OpSupport &op : opSupport())
        if (op.name == opType && op.domain == d)
            return &op;
    return nullptr;
}

} // namespace cw
