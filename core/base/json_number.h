// Numbers read from JSON documents, which are untrusted (a project, a sweep part, a model's header):
// - numbers that may not be finite (a tensor left unchanged has an infinite SQNR, a diverged loss is NaN): JSON has
//   neither, so they are written as the strings "inf", "-inf" and "nan" and read back from them;
// - integers, which must be JSON integers that fit the type they are read into: nlohmann's get<int64_t>() converts a
//   float such as 1e300 with a cast whose result is undefined.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

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

// A JSON integer that T holds; cw::Error for anything else (a float, a string, a value out of T's range).
template <typename T = int64_t, typename Json>
T integerFromJson(const Json &v)
{
    static_assert(std::is_integral_v<T>);
    if (v.is_number_unsigned()) {
        if (const auto u = v.template get<uint64_t>(); std::in_range<T>(u))
            return T(u);
    } else if (v.is_number_integer()) {
        if (const auto i = v.template get<int64_t>(); std::in_range<T>(i))
            return T(i);
    }
    throw Error("expected an integer" + std::string(v.is_number_integer() ? " in range" : "") + ", got " +
                (v.is_number() ? v.dump() : std::string(v.type_name())));
}

// j[key] as integerFromJson reads it; the error names the key.
template <typename T = int64_t, typename Json>
T integerFromJson(const Json &j, const char *key)
{
    try {
        return integerFromJson<T>(j.at(key));
    } catch (const Error &e) {
        throw Error(std::string("\"") + key + "\": " + e.what());
    }
}

// j[key] as integerFromJson reads it, or `fallback` when j has no key or it is null.
template <typename T, typename Json>
T integerFromJson(const Json &j, const char *key, T fallback)
{
    if (!j.contains(key) || j.at(key).is_null())
        return fallback;
    return integerFromJson<T>(j, key);
}

// An array of them.
template <typename T = int64_t, typename Json>
std::vector<T> integersFromJson(const Json &v)
{
    if (!v.is_array())
        throw Error("expected an array of integers, got " + std::string(v.type_name()));
    std::vector<T> out;
    out.reserve(v.size());
    for (const auto &e : v)
        out.push_back(integerFromJson<T>(e));
    return out;
}

} // namespace cw
