// Plain-text formatting shared by the command line and the reports (the GUI formats with the user's locale,
// ui/formatting.h).
#pragma once

#include <string>

namespace cw {

std::string humanBytes(double bytes); // "512 B", "431.24 KiB", "1.62 MiB"

} // namespace cw
