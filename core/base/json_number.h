// Numbers in JSON that may not be finite (a tensor left unchanged has an infinite SQNR, a diverged loss is NaN):
// JSON has neither, so they are written as the strings "inf", "-inf" and "nan" and read back from them.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>

#include "core/base/error.h"

namespace cw {

inline nlohmann::ordered_json jsonNumber(double v)
{
    if (std::isfinite(v))
        return v;
    return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
}

// A number, or one of those strings; cw::Error for any other string.
inline double numberFromJson(const nlohmann::json &v)
{
    if (!v.is_string())
        return v.get<double>();
    const std::string s = v.get<std::string>();
    if (s == "inf" || s == "-inf" || s == "nan")
        return s == "nan" ? std::nan("") : s == "inf" ? INFINITY : -INFINITY;
    throw Error("\"" + s + "\" is not a number");
}

// j[key] as numberFromJson reads it; the error names the key.
inline double numberFromJson(const nlohmann::json &j, const char *key)
{
    try {
        return numberFromJson(j.at(key));
    } catch (const Error &e) {
        throw Error(std::string("\"") + key + "\": " + e.what());
    }
}

} // namespace cw
