// Plain-text formatting shared by the command line and the reports (the GUI formats with the user's locale,
// ui/formatting.h).
#pragma once

#include <cstdint>
#include <string>

namespace cw {

std::string humanBytes(double bytes); // "512 B", "431.24 KiB", "1.62 MiB"
// A size in bytes: a number and a unit, case aside — none or b, k / m / g / t and kib / mib / gib / tib (powers of
// 1024), kb / mb / gb / tb (powers of 1000): "123", "512M", "2.5MiB", "800kB". 0 when the text is no size (or not
// above 0); UINT64_MAX when it is more bytes than 64 bits hold.
uint64_t parseByteSize(const std::string &text);

} // namespace cw
