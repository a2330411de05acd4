#include "core/base/version.h"

#include "cw_version.h"

namespace cw {

const char *toolVersion()
{
    return CW_VERSION;
}

const char *gitCommit()
{
    return CW_GIT_COMMIT;
}

std::string toolDescription()
{
    return std::string("compression-workbench ") + CW_VERSION + " (" + CW_GIT_COMMIT + ")";
}

} // namespace cw
