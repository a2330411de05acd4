#include "core/base/format.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>

namespace cw {

uint64_t parseByteSize(const std::string &text)
{
    static const std::map<std::string, double> units = {
        {"", 1},           {"b", 1},         {"k", 0x1p10},    {"kib", 0x1p10}, {"kb", 1e3},      {"m", 0x1p20},
        {"mib", 0x1p20},   {"mb", 1e6},      {"g", 0x1p30},    {"gib", 0x1p30}, {"gb", 1e9},      {"t", 0x1p40},
        {"tib", 0x1p40},   {"tb", 1e12}};
    char *end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || !(v > 0))
        return 0;
    std::string unit(end);
    for (char &c : unit)
        c = char(std::tolower(static_cast<unsigned char>(c)));
    const auto it = units.find(unit);
    if (it == units.end())
        return 0;
    const double bytes = v * it->second;
    return bytes >= 1.8e19 ? std::numeric_limits<uint64_t>::max() : uint64_t(bytes);
}

std::string humanBytes(double bytes)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB"};
    int u = 0;
    while (bytes >= 1024 && u < 3) {
        bytes /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}

} // namespace cw
