#include "core/base/cpu.h"

#include "core/base/error.h"

#include <cpuid.h>
#include <cstdlib>
#include <string>

namespace cw {
namespace {

enum class Level { Scalar, Avx2, AvxVnni, Avx512 };

Level maxLevel()
{
    const char *env = std::getenv("CW_MAX_ISA");
    const std::string v = env ? env : "";
    if (v.empty() || v == "native" || v == "avx512")
        return Level::Avx512;
    if (v == "avx2_vnni")
        return Level::AvxVnni;
    if (v == "avx2")
        return Level::Avx2;
    if (v == "scalar")
        return Level::Scalar;
    throw Error("CW_MAX_ISA: '" + v + "' is none of native, avx512, avx2_vnni, avx2, scalar");
}

// AVX-VNNI is CPUID leaf 7, sub-leaf 1, EAX bit 4. Read directly: clang before 16 has no
// __builtin_cpu_supports("avxvnni"). The OS's saving of the 256-bit registers is already part of "avx2".
bool cpuidAvxVnni()
{
    unsigned a = 0, b = 0, c = 0, d = 0;
    return __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4)) != 0;
}

} // namespace

bool cpuHasUncapped(CpuFeature feature)
{
    static const bool avx2 = __builtin_cpu_supports("avx2");
    static const bool bw = __builtin_cpu_supports("avx512bw");
    static const bool vbmi = bw && __builtin_cpu_supports("avx512vbmi");
    static const bool vnni = bw && __builtin_cpu_supports("avx512vnni");
    static const bool avxVnni = avx2 && cpuidAvxVnni();
    switch (feature) {
    case CpuFeature::Avx2: return avx2;
    case CpuFeature::Avx512Bw: return bw;
    case CpuFeature::Avx512Vbmi: return vbmi;
    case CpuFeature::Avx512Vnni: return vnni;
    case CpuFeature::AvxVnni: return avxVnni;
    }
    return false;
}

bool cpuHas(CpuFeature feature)
{
    static const Level level = maxLevel();
    const Level needs = feature == CpuFeature::Avx2      ? Level::Avx2
                        : feature == CpuFeature::AvxVnni ? Level::AvxVnni
                                                         : Level::Avx512;
    return level >= needs && cpuHasUncapped(feature);
}

} // namespace cw
