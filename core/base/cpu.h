// The instruction sets the engine's own kernels choose between at run time. CW_MAX_ISA caps them, as
// ONEDNN_MAX_CPU_ISA caps oneDNN's: "avx2_vnni" leaves out the AVX-512 paths (VNNI dot products on 512 bits, VBMI
// table lookups), "avx2" AVX-VNNI's 256-bit dot products too, and "scalar" the AVX2 paths as well, so that a machine
// with AVX-512 can run the paths of one without it (CTest's test_*_avx2 and test_qops_avx_vnni do). Unset or
// "native": whatever the CPU has. Read once, at the first question; another value throws cw::Error.
#pragma once

namespace cw {

enum class CpuFeature {
    Avx2,       // 256-bit integer shuffles and blends
    Avx512Bw,   // AVX-512 F + BW: 512-bit float and integer arithmetic, narrowing moves
    Avx512Vbmi, // AVX-512 BW + VBMI: 64-byte table lookups
    Avx512Vnni, // AVX-512 BW + VNNI: 8-bit dot products
    AvxVnni,    // AVX-VNNI: the same dot products on 256-bit vectors (Intel since Alder Lake, AMD since Zen 4)
};

bool cpuHas(CpuFeature feature);
// What the CPU has, whatever CW_MAX_ISA says: for the tests that run each form of a kernel directly.
bool cpuHasUncapped(CpuFeature feature);

} // namespace cw
