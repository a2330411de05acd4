#include "resources/demo_data.h"

// .incbin keeps a megabyte-sized model out of the compiler's front end: the assembler copies the file.
#define CW_EMBED(symbol, path)                                                                                     \
    asm(".section .rodata\n.balign 64\n.global " #symbol "_begin\n" #symbol "_begin:\n.incbin \"" path            \
        "\"\n.global " #symbol "_end\n" #symbol "_end:\n.previous\n");                                              \
    extern "C" const char symbol##_begin[];                                                                        \
    extern "C" const char symbol##_end[];

#ifdef CW_DEMO_CNN_PATH
CW_EMBED(cw_demo_cnn, CW_DEMO_CNN_PATH)
#endif
#ifdef CW_DEMO_RESNET_PATH
CW_EMBED(cw_demo_resnet, CW_DEMO_RESNET_PATH)
#endif
#ifdef CW_DEMO_LM_PATH
CW_EMBED(cw_demo_lm, CW_DEMO_LM_PATH)
#endif

namespace cw {

std::string_view demoModelBytes(std::string_view name)
{
#ifdef CW_DEMO_CNN_PATH
    if (name == "demo")
        return {cw_demo_cnn_begin, size_t(cw_demo_cnn_end - cw_demo_cnn_begin)};
#endif
#ifdef CW_DEMO_RESNET_PATH
    if (name == "demo-resnet")
        return {cw_demo_resnet_begin, size_t(cw_demo_resnet_end - cw_demo_resnet_begin)};
#endif
#ifdef CW_DEMO_LM_PATH
    if (name == "demo-lm")
        return {cw_demo_lm_begin, size_t(cw_demo_lm_end - cw_demo_lm_begin)};
#endif
    return {};
}

} // namespace cw
