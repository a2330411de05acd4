#include "core/runtime/ops.h"

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
        return t;
    }();
    return kernels;
}
} // namespace

OpKernel findKernel(const std::string &opType)
{
    auto it = table().find(opType);
    return it == table().end() ? nullptr : it->second;
}

OpKernel findKernel(const std::string &opType, const std::string &domain)
{
    return domain.empty() || domain == "ai.onnx" ? findKernel(opType) : findKernel(domain + ":" + opType);
}

std::vector<std::string> supportedOps()
{
    std::vector<std::string> names;
    for (const auto &[name, kernel] : table())
        names.push_back(name);
    return names;
}

} // namespace cw
