// What this build is: the project version and the git commit it was built from (`git describe --always --dirty`,
// "unknown" outside a checkout), regenerated on every build (core/base/version.cmake). cwb --version, Help →
// About and the provenance of every project variant report them.
#pragma once

#include <string>

namespace cw {

const char *toolVersion(); // "0.1.0"
const char *gitCommit();   // "6d045ae1b2c3" or "6d045ae1b2c3-dirty"
std::string toolDescription(); // "compression-workbench 0.1.0 (6d045ae1b2c3)"

} // namespace cw
