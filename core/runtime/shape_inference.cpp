// Shape rules by operator. Each rule reads what is known of its inputs (dtype, symbolic dims, and for small
// integer tensors their symbolic element values) and states its outputs; it never touches tensor data
// beyond small constant integer inputs (axes, pads, shapes). A small node whose inputs are all constants or
// sizes known as numbers is also computed, by its kernel, so that what follows it knows its values.
#include "core/runtime/shape_inference.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "core/base/error.h"
#include "core/runtime/ops.h"

namespace cw {

namespace {

// ---- Symbolic dimensions

// A size or, in a tracked shape tensor, any integer (Reshape's 0 and -1, negative axes).
struct Dim {
    bool k = false;   // a known number
    int64_t n = 0;    // the number, when known
    std::string sym;  // otherwise its symbol ("" = anonymous)

    static Dim of(int64_t v) { return Dim{true, v, {}}; }
    static Dim named(std::string s) { return Dim{false, 0, std::move(s)}; }
    bool known() const { return k; }
    bool is(int64_t v) const { return k && n == v; }
    std::string text() const { return known() ? std::to_string(n) : sym.empty() ? "?" : sym; }
};

bool sameDim(const Dim &a, const Dim &b)
{
    return a.known() ? b.known() && a.n == b.n : !b.known() && !a.sym.empty() && a.sym == b.sym;
}

// True when the text has an operator outside parentheses (it needs them as an operand).
bool compound(const std::string &s)
{
    int depth = 0;
    for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        depth += c == '(';
        depth -= c == ')';
        if (depth == 0 && i > 0 && (c == '+' || c == '-' || c == '*' || c == '/'))
            return true;
    }
    return false;
}

std::string operand(const Dim &d)
{
    const std::string t = d.text();
    return compound(t) ? "(" + t + ")" : t;
}

Dim addDims(const Dim &a, const Dim &b)
{
    if (a.known() && b.known())
        return Dim::of(checkedAdd(a.n, b.n));
    if (b.is(0))
        return a;
    if (a.is(0))
        return b;
    if (a.sym.empty() || (!b.known() && b.sym.empty()))
        return Dim::named({});
    if (b.known() && b.n < 0)
        return Dim::named(a.text() + "-" + std::to_string(-b.n));
    return Dim::named(a.text() + "+" + operand(b));
}

Dim addConst(const Dim &a, int64_t c)
{
    if (a.known())
        return Dim::of(checkedAdd(a.n, c));
    if (c == 0 || a.sym.empty())
        return a;
    return Dim::named(a.text() + (c > 0 ? "+" : "-") + std::to_string(c > 0 ? c : -c));
}

Dim mulDims(const Dim &a, const Dim &b)
{
    if (a.known() && b.known())
        return Dim::of(checkedMul(a.n, b.n));
    if (a.is(0) || b.is(0))
        return Dim::of(0);
    if (a.is(1))
        return b;
    if (b.is(1))
        return a;
    if ((!a.known() && a.sym.empty()) || (!b.known() && b.sym.empty()))
        return Dim::named({});
    return Dim::named(operand(a) + "*" + operand(b));
}

Dim floorDiv(const Dim &a, int64_t k)
{
    if (k == 1)
        return a;
    if (a.known())
        return Dim::of(a.n / k);
    return a.sym.empty() ? a : Dim::named(operand(a) + "/" + std::to_string(k));
}

Dim ceilDiv(const Dim &a, int64_t k)
{
    if (k == 1)
        return a;
    if (a.known())
        return Dim::of(cw::ceilDiv(a.n, k));
    return a.sym.empty() ? a : Dim::named("ceil(" + a.text() + "/" + std::to_string(k) + ")");
}

// floor((a + c) / s) + 1 (ceil when ceilMode): the output size of a sliding window.
Dim windowDim(const Dim &a, int64_t c, int64_t s, bool ceilMode)
{
    if (a.known()) {
        const int64_t span = checkedAdd(a.n, c);
        return Dim::of((ceilMode ? checkedAdd(span, s - 1) / s : span / s) + 1);
    }
    if (s == 1)
        return addConst(a, c + 1);
    if (!ceilMode && c == -1)
        return ceilDiv(a, s);
    if (!ceilMode && c == -s)
        return floorDiv(a, s);
    if (ceilMode && c == 0)
        return addConst(ceilDiv(a, s), 1);
    const Dim inner = addConst(a, c);
    return addConst(ceilMode ? ceilDiv(inner, s) : floorDiv(inner, s), 1);
}

// numpy broadcasting of one dimension.
Dim broadcastDim(const Dim &a, const Dim &b, const std::function<void(const std::string &)> &fail)
{
    if (a.is(1))
        return b;
    if (b.is(1))
        return a;
    if (a.known() && b.known()) {
        if (a.n != b.n)
            fail("cannot broadcast dimensions " + a.text() + " and " + b.text());
        return a;
    }
    if (a.known())
        return a;
    if (b.known())
        return b;
    return a.sym.empty() ? b : a; // two symbols: the same size at run time, or the run fails there
}

// ---- What is known of a value

struct Info {
    bool present = false;
    DType dtype = DType::Float32;
    bool rankKnown = false;
    std::vector<Dim> dims;
    const Tensor *constant = nullptr;       // an initializer or a Constant node's value
    std::optional<std::vector<Dim>> values; // elements of a small integer tensor of rank <= 1

    int rank() const { return int(dims.size()); }
};

Info shaped(DType dtype, std::vector<Dim> dims)
{
    Info i;
    i.present = true;
    i.dtype = dtype;
    i.rankKnown = true;
    i.dims = std::move(dims);
    return i;
}

Info unknownOf(DType dtype)
{
    Info i;
    i.present = true;
    i.dtype = dtype;
    return i;
}

bool isIntegral(DType t) { return t == DType::Int64 || t == DType::Int32; }

constexpr int64_t kMaxTrackedValues = 64;
// A shape input longer than this leaves the output's rank unknown (a file may declare any length; one Dim per
// entry would be allocated).
constexpr int64_t kMaxRank = 1024;

// Integers, or booleans (stored as uint8: an If's condition).
std::optional<std::vector<Dim>> valuesOf(const Tensor &t)
{
    if (t.rank() > 1 || t.numel() > kMaxTrackedValues || !(isIntegral(t.dtype()) || t.dtype() == DType::UInt8))
        return std::nullopt;
    std::vector<Dim> v;
    for (int64_t x : t.toInt64Vector())
        v.push_back(Dim::of(x));
    return v;
}

// Known integer values of an input (all of them known numbers), or nullopt.
std::optional<std::vector<int64_t>> knownInts(const Info &i)
{
    if (!i.values)
        return std::nullopt;
    std::vector<int64_t> out;
    for (const Dim &d : *i.values) {
        if (!d.known())
            return std::nullopt;
        out.push_back(d.n);
    }
    return out;
}

struct Rule {
    const Node &node;
    std::vector<const Info *> in; // one per node input; null for an omitted optional input
    std::vector<Info> out;        // one per node output
    const std::map<std::string, Info> *scope = nullptr; // every value known at this node (for subgraphs)
    std::deque<Tensor> *computed = nullptr;             // where constants computed here are kept (for subgraphs)

    const Info &input(size_t k) const
    {
        static const Info missing;
        return k < in.size() && in[k] ? *in[k] : missing;
    }
    bool has(size_t k) const { return k < in.size() && in[k] && in[k]->present; }
    [[noreturn]] void fail(const std::string &message) const { throw Error(message); }
    int64_t opset() const { return node.attrInt("_opset", 13); }
    // A fresh symbol for dimension k of output o.
    Dim fresh(size_t o, size_t k) const
    {
        return Dim::named((o < node.outputs.size() ? node.outputs[o] : node.name) + "_dim" + std::to_string(k));
    }
    // Axes from the attribute, or from input `k` when the attribute is absent; nullopt when unknown.
    std::optional<std::vector<int64_t>> axes(size_t k, const char *attr = "axes") const
    {
        if (node.hasAttr(attr))
            return node.attrInts(attr);
        if (has(k))
            return knownInts(input(k));
        return std::vector<int64_t>{};
    }
    int normAxis(int64_t axis, int rank) const
    {
        const int64_t a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank)
            fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
        return int(a);
    }
    void setAll(const Info &info)
    {
        for (Info &o : out)
            o = info;
    }
};

using RuleFn = void (*)(Rule &r);

// ---- Rules

void sameAsInput(Rule &r)
{
    Info o = r.input(0);
    o.constant = nullptr;
    if (!o.present)
        o = unknownOf(DType::Float32);
    if (r.node.opType != "Identity" && r.node.opType != "Dropout")
        o.values.reset();
    r.out[0] = o;
    // Dropout's mask, BatchNormalization's running statistics in training mode: shapes left unknown.
}

std::vector<Dim> broadcastAll(const Rule &r, const std::vector<const Info *> &infos, bool *known)
{
    std::vector<Dim> dims;
    *known = true;
    for (const Info *i : infos) {
        if (!i || !i->present)
            continue;
        if (!i->rankKnown) {
            *known = false;
            return {};
        }
        std::vector<Dim> a = i->dims;
        if (a.size() > dims.size())
            dims.insert(dims.begin(), a.size() - dims.size(), Dim::of(1));
        if (dims.size() > a.size())
            a.insert(a.begin(), dims.size() - a.size(), Dim::of(1));
        for (size_t d = 0; d < dims.size(); ++d)
            dims[d] = broadcastDim(dims[d], a[d], [&](const std::string &m) { r.fail(m); });
    }
    return dims;
}

// Element-wise values of two small integer tensors (scalar or 1-D, broadcast).
std::optional<std::vector<Dim>> combineValues(const Info &a, const Info &b, Dim (*f)(const Dim &, const Dim &))
{
    if (!a.values || !b.values)
        return std::nullopt;
    const std::vector<Dim> &x = *a.values, &y = *b.values;
    if (x.size() != y.size() && x.size() != 1 && y.size() != 1)
        return std::nullopt;
    std::vector<Dim> out;
    const size_t n = x.size() == 1 ? y.size() : x.size(); // an empty side broadcasts to empty
    for (size_t i = 0; i < n; ++i)
        out.push_back(f(x[x.size() == 1 ? 0 : i], y[y.size() == 1 ? 0 : i]));
    return out;
}

Dim subDims(const Dim &a, const Dim &b)
{
    if (a.known() && b.known())
        return Dim::of(checkedAdd(a.n, checkedMul(b.n, -1)));
    if (b.known())
        return addConst(a, checkedMul(b.n, -1));
    if (sameDim(a, b))
        return Dim::of(0);
    return a.sym.empty() || b.sym.empty() ? Dim::named({}) : Dim::named(a.text() + "-" + operand(b));
}

Dim divDims(const Dim &a, const Dim &b)
{
    if (b.known() && b.n > 0)
        return floorDiv(a, b.n);
    if (sameDim(a, b))
        return Dim::of(1);
    return a.sym.empty() || b.sym.empty() ? Dim::named({}) : Dim::named(operand(a) + "/" + operand(b));
}

void broadcastOp(Rule &r)
{
    bool known;
    std::vector<const Info *> ins(r.in.begin(), r.in.end());
    std::vector<Dim> dims = broadcastAll(r, ins, &known);
    const std::string &op = r.node.opType;
    const bool comparison = op == "Equal" || op == "Less" || op == "Greater" || op == "LessOrEqual" ||
                            op == "GreaterOrEqual" || op == "And" || op == "Or" || op == "Xor";
    DType dtype = comparison ? DType::UInt8 : op == "Where" ? r.input(1).dtype : r.input(0).dtype;
    Info o = known ? shaped(dtype, dims) : unknownOf(dtype);
    if (known && dims.size() <= 1 && isIntegral(dtype) && r.in.size() == 2) {
        const Info &a = r.input(0), &b = r.input(1);
        if (op == "Add")
            o.values = combineValues(a, b, addDims);
        else if (op == "Sub")
            o.values = combineValues(a, b, subDims);
        else if (op == "Mul")
            o.values = combineValues(a, b, mulDims);
        else if (op == "Div")
            o.values = combineValues(a, b, divDims);
        if (o.values && int64_t(o.values->size()) != (dims.empty() ? 1 : (dims[0].known() ? dims[0].n : -1)))
            o.values.reset();
    }
    r.out[0] = o;
}

DType castTarget(int64_t to)
{
    switch (to) {
    case 1: case 11: return DType::Float32; // double is computed in float32
    case 2: case 9: return DType::UInt8;    // bool is stored as uint8
    case 3: return DType::Int8;
    case 6: return DType::Int32;
    case 7: return DType::Int64;
    case 10: return DType::Float16;
    case 16: return DType::BFloat16;
    default: return DType::Float32; // a type the engine does not store: the Cast kernel refuses it at run time
    }
}

void castOp(Rule &r)
{
    Info o = r.input(0);
    o.constant = nullptr;
    o.dtype = castTarget(r.node.attrInt("to", 1));
    if (!isIntegral(o.dtype))
        o.values.reset();
    r.out[0] = o.present ? o : unknownOf(o.dtype);
}

void castLikeOp(Rule &r)
{
    castOp(r);
    r.out[0].dtype = r.input(1).dtype;
    if (!isIntegral(r.out[0].dtype))
        r.out[0].values.reset();
}

// y (uint8, x's shape), y_scale (float scalar), y_zero_point (uint8 scalar).
void dynamicQuantizeLinearOp(Rule &r)
{
    Info y = r.input(0);
    y.constant = nullptr;
    y.values.reset();
    y.dtype = DType::UInt8;
    r.out[0] = y.present ? y : unknownOf(DType::UInt8);
    if (r.out.size() > 1)
        r.out[1] = shaped(DType::Float32, {});
    if (r.out.size() > 2)
        r.out[2] = shaped(DType::UInt8, {});
}

void shapeOp(Rule &r)
{
    const Info &x = r.input(0);
    if (!x.rankKnown) {
        r.out[0] = unknownOf(DType::Int64);
        return;
    }
    const int rank = x.rank();
    int64_t start = r.node.attrInt("start", 0), end = r.node.attrInt("end", rank);
    start = std::clamp<int64_t>(start < 0 ? start + rank : start, 0, rank);
    end = std::clamp<int64_t>(end < 0 ? end + rank : end, 0, rank);
    std::vector<Dim> v(x.dims.begin() + start, x.dims.begin() + std::max(start, end));
    Info o = shaped(DType::Int64, {Dim::of(int64_t(v.size()))});
    o.values = v;
    r.out[0] = o;
}

void sizeOp(Rule &r)
{
    Info o = shaped(DType::Int64, {});
    const Info &x = r.input(0);
    if (x.rankKnown) {
        Dim n = Dim::of(1);
        for (const Dim &d : x.dims)
            n = mulDims(n, d);
        o.values = std::vector<Dim>{n};
    }
    r.out[0] = o;
}

void constantOp(Rule &r)
{
    // The Session computes the constant; only its shape and dtype are needed here.
    const Node &n = r.node;
    if (n.hasAttr("value")) {
        const Tensor &t = n.attrs.at("value").t;
        std::vector<Dim> dims;
        for (int64_t d : t.shape())
            dims.push_back(Dim::of(d));
        Info o = shaped(t.dtype(), dims);
        o.constant = &t;
        o.values = valuesOf(t);
        r.out[0] = o;
    } else if (n.hasAttr("value_float")) {
        r.out[0] = shaped(DType::Float32, {});
    } else if (n.hasAttr("value_floats")) {
        r.out[0] = shaped(DType::Float32, {Dim::of(int64_t(n.attrFloats("value_floats").size()))});
    } else if (n.hasAttr("value_int")) {
        Info o = shaped(DType::Int64, {});
        o.values = std::vector<Dim>{Dim::of(n.attrInt("value_int", 0))};
        r.out[0] = o;
    } else if (n.hasAttr("value_ints")) {
        const std::vector<int64_t> v = n.attrInts("value_ints");
        Info o = shaped(DType::Int64, {Dim::of(int64_t(v.size()))});
        o.values.emplace();
        for (int64_t x : v)
            o.values->push_back(Dim::of(x));
        r.out[0] = o;
    } else {
        r.out[0] = unknownOf(DType::Float32);
    }
}

void constantOfShapeOp(Rule &r)
{
    DType dtype = DType::Float32;
    if (r.node.hasAttr("value")) {
        const Attribute &value = r.node.attrs.at("value");
        if (value.kind != Attribute::Kind::Tensor || value.t.numel() != 1)
            r.fail("value must be a one-element tensor");
        dtype = value.t.dtype();
    }
    const Info &s = r.input(0);
    if (!s.values) {
        r.out[0] = unknownOf(dtype);
        return;
    }
    Info o = shaped(dtype, *s.values);
    if (o.dims.size() == 1 && isIntegral(dtype) && o.dims[0].known() && o.dims[0].n >= 0 &&
        o.dims[0].n <= kMaxTrackedValues && r.node.hasAttr("value")) {
        const int64_t fill = r.node.attrs.at("value").t.toInt64Vector().at(0);
        o.values = std::vector<Dim>(size_t(o.dims[0].n), Dim::of(fill));
    }
    r.out[0] = o;
}

void reshapeOp(Rule &r)
{
    const Info &x = r.input(0), &s = r.input(1);
    const DType dtype = x.dtype;
    const std::optional<std::vector<Dim>> &target = s.values;
    if (!target) {
        if (s.rankKnown && s.rank() == 1 && s.dims[0].known() && s.dims[0].n <= kMaxRank) {
            std::vector<Dim> dims;
            for (int64_t k = 0; k < s.dims[0].n; ++k)
                dims.push_back(r.fresh(0, size_t(k)));
            r.out[0] = shaped(dtype, dims);
        } else {
            r.out[0] = unknownOf(dtype);
        }
        return;
    }
    // Known entries can be 0 (copy the input's dimension) and -1 (infer from the element count).
    std::vector<Dim> dims = *target;
    const bool allowZero = r.node.attrInt("allowzero", 0) != 0;
    int inferAt = -1;
    for (size_t k = 0; k < dims.size(); ++k) {
        if (dims[k].known()) {
            const int64_t v = dims[k].n;
            if (v == 0 && !allowZero) {
                if (!x.rankKnown || k >= x.dims.size()) {
                    dims[k] = r.fresh(0, k);
                    continue;
                }
                dims[k] = x.dims[k];
            } else if (v == -1) {
                if (inferAt >= 0)
                    r.fail("the target shape has more than one -1");
                inferAt = int(k);
            } else if (v < -1) {
                r.fail("the target shape has a negative size " + std::to_string(v));
            } else {
                dims[k] = Dim::of(v);
            }
        }
    }
    if (inferAt >= 0) {
        // Cancel the dimensions the input and the other target entries share, then divide what is left.
        Dim inferred = r.fresh(0, size_t(inferAt));
        if (x.rankKnown) {
            std::vector<Dim> num = x.dims, den;
            for (size_t k = 0; k < dims.size(); ++k)
                if (int(k) != inferAt)
                    den.push_back(dims[k]);
            for (auto it = den.begin(); it != den.end();) {
                auto match = std::find_if(num.begin(), num.end(), [&](const Dim &d) { return sameDim(d, *it); });
                if (match != num.end()) {
                    num.erase(match);
                    it = den.erase(it);
                } else {
                    ++it;
                }
            }
            // What is left: (symbols * number) / number.
            Dim symbols = Dim::of(1);
            int64_t top = 1, bottom = 1;
            bool divisible = true;
            for (const Dim &d : num) {
                if (d.known())
                    top = checkedMul(top, d.n);
                else
                    symbols = mulDims(symbols, d);
            }
            for (const Dim &d : den) {
                if (!d.known())
                    divisible = false;
                else
                    bottom = checkedMul(bottom, d.n);
            }
            if (divisible && bottom > 0) {
                if (symbols.known() && top % bottom != 0)
                    r.fail("cannot reshape " + std::to_string(top) + " elements into a multiple of " +
                           std::to_string(bottom));
                if (top % bottom == 0)
                    inferred = mulDims(symbols, Dim::of(top / bottom));
                else if (!symbols.sym.empty())
                    inferred = Dim::named(operand(mulDims(symbols, Dim::of(top))) + "/" + std::to_string(bottom));
            }
        }
        dims[size_t(inferAt)] = inferred;
    }
    Info o = shaped(dtype, dims);
    if (x.values && dims.size() <= 1)
        o.values = x.values;
    r.out[0] = o;
}

void flattenOp(Rule &r)
{
    const Info &x = r.input(0);
    if (!x.rankKnown) {
        r.out[0] = unknownOf(x.dtype);
        return;
    }
    int64_t axis = r.node.attrInt("axis", 1);
    if (axis < 0)
        axis += x.rank();
    if (axis < 0 || axis > x.rank())
        r.fail("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(x.rank()));
    Dim a = Dim::of(1), b = Dim::of(1);
    for (int d = 0; d < x.rank(); ++d)
        (d < axis ? a : b) = mulDims(d < axis ? a : b, x.dims[size_t(d)]);
    r.out[0] = shaped(x.dtype, {a, b});
}

void transposeOp(Rule &r)
{
    const Info &x = r.input(0);
    if (!x.rankKnown) {
        r.out[0] = unknownOf(x.dtype);
        return;
    }
    std::vector<int64_t> perm = r.node.attrInts("perm");
    if (perm.empty())
        for (int d = x.rank() - 1; d >= 0; --d)
            perm.push_back(d);
    if (int(perm.size()) != x.rank())
        r.fail("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(x.rank()));
    std::vector<Dim> dims;
    for (int64_t p : perm)
        dims.push_back(x.dims[size_t(r.normAxis(p, x.rank()))]);
    r.out[0] = shaped(x.dtype, dims);
}

void squeezeOp(Rule &r)
{
    const Info &x = r.input(0);
    const auto axes = r.axes(1);
    if (!x.rankKnown || !axes) {
        r.out[0] = unknownOf(x.dtype);
        return;
    }
    std::set<int> drop;
    for (int64_t a : *axes)
        drop.insert(r.normAxis(a, x.rank()));
    std::vector<Dim> dims;
    for (int d = 0; d < x.rank(); ++d) {
        const Dim &dim = x.dims[size_t(d)];
        const bool squeeze = axes->empty() ? dim.is(1) : drop.count(d) != 0;
        if (squeeze && dim.known() && dim.n != 1)
            r.fail("cannot squeeze dimension " + std::to_string(d) + " of size " + std::to_string(dim.n));
        if (!squeeze)
            dims.push_back(dim);
    }
    Info o = shaped(x.dtype, dims);
    if (x.values && dims.size() <= 1)
        o.values = x.values;
    r.out[0] = o;
}

void unsqueezeOp(Rule &r)
{
    const Info &x = r.input(0);
    const auto axes = r.axes(1);
    if (!x.rankKnown || !axes) {
        r.out[0] = unknownOf(x.dtype);
        return;
    }
    const int rank = x.rank() + int(axes->size());
    std::set<int> add;
    for (int64_t a : *axes)
        if (!add.insert(r.normAxis(a, rank)).second)
            r.fail("axis " + std::to_string(a) + " is repeated");
    std::vector<Dim> dims;
    size_t next = 0;
    for (int d = 0; d < rank; ++d)
        dims.push_back(add.count(d) ? Dim::of(1) : x.dims[next++]);
    Info o = shaped(x.dtype, dims);
    if (x.values && dims.size() <= 1)
        o.values = x.values;
    r.out[0] = o;
}

void concatOp(Rule &r)
{
    const Info &first = r.input(0);
    int rank = -1;
    for (const Info *i : r.in)
        if (i && i->rankKnown)
            rank = i->rank();
    if (rank < 0) {
        r.out[0] = unknownOf(first.dtype);
        return;
    }
    const int axis = r.normAxis(r.node.attrInt("axis", 0), rank);
    std::vector<Dim> dims;
    bool known = true;
    std::optional<std::vector<Dim>> values = std::vector<Dim>{};
    for (const Info *i : r.in) {
        if (!i || !i->present)
            continue;
        if (!i->rankKnown) {
            known = false;
            break;
        }
        if (i->rank() != rank)
            r.fail("inputs of rank " + std::to_string(rank) + " and " + std::to_string(i->rank()));
        if (dims.empty()) {
            dims = i->dims;
        } else {
            for (int d = 0; d < rank; ++d)
                dims[size_t(d)] = d == axis ? addDims(dims[size_t(d)], i->dims[size_t(d)])
                                            : broadcastDim(dims[size_t(d)], i->dims[size_t(d)],
                                                           [&](const std::string &) {
                                                               r.fail("inputs differ outside the concatenation axis");
                                                           });
        }
        if (values && i->values && rank == 1)
            values->insert(values->end(), i->values->begin(), i->values->end());
        else
            values.reset();
    }
    if (!known) {
        r.out[0] = unknownOf(first.dtype);
        return;
    }
    if (dims[size_t(axis)].sym.empty() && !dims[size_t(axis)].known())
        dims[size_t(axis)] = r.fresh(0, size_t(axis));
    Info o = shaped(first.dtype, dims);
    if (values && rank == 1)
        o.values = values;
    r.out[0] = o;
}

void splitOp(Rule &r)
{
    const Info &x = r.input(0);
    const size_t n = r.out.size();
    if (!x.rankKnown) {
        r.setAll(unknownOf(x.dtype));
        return;
    }
    const int axis = r.normAxis(r.node.attrInt("axis", 0), x.rank());
    std::optional<std::vector<int64_t>> sizes;
    if (r.node.hasAttr("split"))
        sizes = r.node.attrInts("split");
    else if (r.has(1))
        sizes = knownInts(r.input(1));
    const Dim &whole = x.dims[size_t(axis)];
    for (size_t o = 0; o < n; ++o) {
        std::vector<Dim> dims = x.dims;
        if (sizes && sizes->size() == n)
            dims[size_t(axis)] = Dim::of((*sizes)[o]);
        else if (!sizes && whole.known())
            dims[size_t(axis)] = Dim::of(o + 1 < n ? (whole.n + int64_t(n) - 1) / int64_t(n)
                                                   : whole.n - int64_t(n - 1) * ((whole.n + int64_t(n) - 1) / int64_t(n)));
        else if (!sizes && !whole.sym.empty())
            dims[size_t(axis)] = ceilDiv(whole, int64_t(n));
        else
            dims[size_t(axis)] = r.fresh(o, size_t(axis));
        r.out[o] = shaped(x.dtype, dims);
    }
}

// A Slice's first index along a dimension of size dim, clamped as ONNX does.
int64_t sliceStart(int64_t dim, int64_t start, int64_t step)
{
    if (start < 0)
        start += dim;
    return step > 0 ? std::clamp<int64_t>(start, 0, dim) : std::clamp<int64_t>(start, 0, dim - 1);
}

// The number of elements a Slice takes along a dimension of size dim.
int64_t sliceLength(int64_t dim, int64_t start, int64_t end, int64_t step)
{
    const int64_t s = sliceStart(dim, start, step);
    if (end < 0)
        end += dim;
    const int64_t e = step > 0 ? std::clamp<int64_t>(end, 0, dim) : std::clamp<int64_t>(end, -1, dim - 1);
    if (step > 0)
        return e > s ? cw::ceilDiv(e - s, step) : 0;
    return s > e ? cw::ceilDiv(s - e, stepMagnitude(step)) : 0;
}

void sliceOp(Rule &r)
{
    const Info &x = r.input(0);
    std::optional<std::vector<int64_t>> starts, ends, axes, steps;
    if (r.node.hasAttr("starts")) { // before opset 10
        starts = r.node.attrInts("starts");
        ends = r.node.attrInts("ends");
        axes = r.node.attrInts("axes");
        steps = std::vector<int64_t>{};
    } else {
        starts = knownInts(r.input(1));
        ends = knownInts(r.input(2));
        axes = r.has(3) ? knownInts(r.input(3)) : std::vector<int64_t>{};
        steps = r.has(4) ? knownInts(r.input(4)) : std::vector<int64_t>{};
    }
    if (!x.rankKnown) {
        r.out[0] = unknownOf(x.dtype);
        return;
    }
    std::vector<Dim> dims = x.dims;
    if (!starts || !ends || !axes || !steps) {
        // Unknown bounds: the sliced axes get new symbols (all of them when the axes are unknown too).
        for (size_t d = 0; d < dims.size(); ++d)
            if (!axes || axes->empty() || std::count(axes->begin(), axes->end(), int64_t(d)) ||
                std::count(axes->begin(), axes->end(), int64_t(d) - int64_t(dims.size())))
                dims[d] = r.fresh(0, d);
        r.out[0] = shaped(x.dtype, dims);
        return;
    }
    if (axes->empty())
        for (size_t k = 0; k < starts->size(); ++k)
            axes->push_back(int64_t(k));
    if (steps->empty())
        steps = std::vector<int64_t>(starts->size(), 1);
    if (starts->size() != ends->size() || axes->size() != starts->size() || steps->size() != starts->size())
        r.fail("starts, ends, axes and steps differ in length");
    std::optional<std::vector<Dim>> values = x.values;
    for (size_t k = 0; k < axes->size(); ++k) {
        const size_t d = size_t(r.normAxis((*axes)[k], x.rank()));
        const int64_t start = (*starts)[k], end = (*ends)[k], step = (*steps)[k];
        if (step == 0)
            r.fail("slice step 0");
        if (dims[d].known()) {
            const int64_t len = sliceLength(dims[d].n, start, end, step);
            if (values && x.rank() == 1) {
                std::vector<Dim> v;
                const int64_t s = sliceStart(dims[d].n, start, step);
                for (int64_t i = 0; i < len; ++i)
                    v.push_back((*values)[size_t(s + i * step)]);
                values = v;
            }
            dims[d] = Dim::of(len);
        } else if (step == 1 && start >= 0 && end >= std::numeric_limits<int32_t>::max()) {
            dims[d] = addConst(dims[d], -start);
            values.reset();
        } else if (step == 1 && start == 0 && end < 0) {
            dims[d] = addConst(dims[d], end);
            values.reset();
        } else {
            dims[d] = r.fresh(0, d);
            values.reset();
        }
    }
    Info o = shaped(x.dtype, dims);
    if (values && dims.size() == 1)
        o.values = values;
    r.out[0] = o;
}

void gatherOp(Rule &r)
{
    const Info &data = r.input(0), &idx = r.input(1);
    if (!data.rankKnown || !idx.rankKnown) {
        r.out[0] = unknownOf(data.dtype);
        return;
    }
    const int axis = r.normAxis(r.node.attrInt("axis", 0), data.rank());
    std::vector<Dim> dims(data.dims.begin(), data.dims.begin() + axis);
    dims.insert(dims.end(), idx.dims.begin(), idx.dims.end());
    dims.insert(dims.end(), data.dims.begin() + axis + 1, data.dims.end());
    Info o = shaped(data.dtype, dims);
    if (data.values && data.rank() == 1 && dims.size() <= 1) {
        if (const auto at = knownInts(idx)) {
            std::vector<Dim> v;
            const int64_t n = int64_t(data.values->size());
            for (int64_t i : *at) {
                if (i < -n || i >= n)
                    r.fail("index " + std::to_string(i) + " is out of range for " + std::to_string(n) + " values");
                v.push_back((*data.values)[size_t(i < 0 ? i + n : i)]);
            }
            o.values = v;
        }
    }
    r.out[0] = o;
}

void expandOp(Rule &r)
{
    const Info &x = r.input(0), &s = r.input(1);
    if (!x.rankKnown || !s.values) {
        if (s.rankKnown && s.rank() == 1 && s.dims[0].known() && s.dims[0].n <= kMaxRank) {
            std::vector<Dim> dims;
            for (int64_t k = 0; k < s.dims[0].n; ++k)
                dims.push_back(r.fresh(0, size_t(k)));
            r.out[0] = shaped(x.dtype, dims);
        } else {
            r.out[0] = unknownOf(x.dtype);
        }
        return;
    }
    Info target = shaped(x.dtype, *s.values);
    bool known;
    r.out[0] = shaped(x.dtype, broadcastAll(r, {&x, &target}, &known));
}

void tileOp(Rule &r)
{
    const Info &x = r.input(0);
    const auto repeats = r.input(1).values;
    if (!x.rankKnown || !repeats || int(repeats->size()) != x.rank()) {
        r.out[0] = x.rankKnown ? shaped(x.dtype, [&] {
            std::vector<Dim> d;
            for (int k = 0; k < x.rank(); ++k)
                d.push_back(r.fresh(0, size_t(k)));
            return d;
        }())
                               : unknownOf(x.dtype);
        return;
    }
    std::vector<Dim> dims;
    for (int k = 0; k < x.rank(); ++k)
        dims.push_back(mulDims(x.dims[size_t(k)], (*repeats)[size_t(k)]));
    r.out[0] = shaped(x.dtype, dims);
}

// Range's element count from ceil((limit - start) / delta): cw::Error when it is not finite or absurdly large
// (an infinite or NaN delta), 0 when negative.
int64_t rangeCount(const Rule &r, long double count)
{
    if (!(count < 0x1p62))
        r.fail("start, limit and delta give no element count that fits (infinite, NaN or above 2^62)");
    return count <= 0 ? 0 : int64_t(count); // converting below -2^63 would be undefined
}

void rangeOp(Rule &r)
{
    const DType dtype = r.input(0).dtype;
    Dim n = r.fresh(0, 0);
    if (r.input(0).constant && r.input(1).constant && r.input(2).constant) {
        for (int i = 0; i < 3; ++i)
            if (r.input(i).constant->numel() != 1)
                r.fail("start, limit and delta must be scalars");
        const double start = r.input(0).constant->toFloatVector().at(0), limit = r.input(1).constant->toFloatVector().at(0),
                     delta = r.input(2).constant->toFloatVector().at(0);
        if (delta != 0)
            n = Dim::of(rangeCount(r, std::ceil((limit - start) / delta)));
    } else if (const auto s = knownInts(r.input(0)), l = knownInts(r.input(1)), d = knownInts(r.input(2));
               s && l && d && !s->empty() && !l->empty() && !d->empty() && (*d)[0] != 0) {
        // In long double: limit - start of two int64 values overflows int64.
        n = Dim::of(rangeCount(r, std::ceil((static_cast<long double>((*l)[0]) - (*s)[0]) / (*d)[0])));
    }
    r.out[0] = shaped(dtype, {n});
}

void padOp(Rule &r)
{
    const Info &x = r.input(0);
    std::optional<std::vector<int64_t>> pads =
        r.node.hasAttr("pads") ? std::optional(r.node.attrInts("pads")) : knownInts(r.input(1));
    if (!x.rankKnown) {
        r.out[0] = unknownOf(x.dtype);
        return;
    }
    std::vector<int64_t> axes;
    if (r.has(3)) {
        const auto a = knownInts(r.input(3));
        if (!a)
            pads.reset();
        else
            for (int64_t v : *a)
                axes.push_back(r.normAxis(v, x.rank()));
    } else {
        for (int k = 0; k < x.rank(); ++k)
            axes.push_back(k);
    }
    std::vector<Dim> dims = x.dims;
    if (!pads || pads->size() != 2 * axes.size()) {
        for (int64_t a : axes)
            dims[size_t(a)] = r.fresh(0, size_t(a));
    } else {
        for (size_t k = 0; k < axes.size(); ++k)
            dims[size_t(axes[k])] = addConst(dims[size_t(axes[k])], checkedAdd((*pads)[k], (*pads)[k + axes.size()]));
    }
    r.out[0] = shaped(x.dtype, dims);
}

void reduceOp(Rule &r)
{
    const Info &x = r.input(0);
    const bool keep = r.node.attrInt("keepdims", 1) != 0;
    const std::string &op = r.node.opType;
    const bool single = op == "ArgMax" || op == "ArgMin";
    const DType dtype = single ? DType::Int64 : x.dtype;
    std::optional<std::vector<int64_t>> axes =
        single ? std::optional(std::vector<int64_t>{r.node.attrInt("axis", 0)}) : r.axes(1);
    if (!x.rankKnown || !axes) {
        r.out[0] = unknownOf(dtype);
        return;
    }
    if (axes->empty() && r.node.attrInt("noop_with_empty_axes", 0)) {
        r.out[0] = shaped(dtype, x.dims);
        return;
    }
    std::set<int> reduced;
    for (int64_t a : *axes)
        reduced.insert(r.normAxis(a, x.rank()));
    std::vector<Dim> dims;
    for (int d = 0; d < x.rank(); ++d) {
        const bool gone = axes->empty() || reduced.count(d);
        if (!gone)
            dims.push_back(x.dims[size_t(d)]);
        else if (keep)
            dims.push_back(Dim::of(1));
    }
    r.out[0] = shaped(dtype, dims);
}

void gemmOp(Rule &r)
{
    const bool qgemm = r.node.domain == "com.microsoft";
    const Info &a = r.input(0), &b = r.input(qgemm ? 3 : 1);
    // QGemm: A, a_scale, a_zp, B, b_scale, b_zp, C, y_scale, y_zp; a float output without y_scale.
    const DType dtype = !qgemm ? a.dtype : r.has(8) ? r.input(8).dtype : r.has(7) ? DType::UInt8 : DType::Float32;
    if (!a.rankKnown || !b.rankKnown || a.rank() != 2 || b.rank() != 2) {
        if (a.rankKnown && b.rankKnown)
            r.fail("Gemm needs 2-D inputs, got rank " + std::to_string(a.rank()) + " and " + std::to_string(b.rank()));
        r.out[0] = unknownOf(dtype);
        return;
    }
    const bool ta = r.node.attrInt("transA", 0), tb = r.node.attrInt("transB", 0);
    const Dim &m = a.dims[ta ? 1 : 0], &ka = a.dims[ta ? 0 : 1], &kb = b.dims[tb ? 1 : 0], &n = b.dims[tb ? 0 : 1];
    if (ka.known() && kb.known() && ka.n != kb.n)
        r.fail("A has " + ka.text() + " columns, B has " + kb.text() + " rows");
    r.out[0] = shaped(dtype, {m, n});
}

void matMulOp(Rule &r)
{
    const bool q = r.node.opType == "QLinearMatMul";
    const Info &a = r.input(0), &b = r.input(q ? 3 : 1);
    const DType dtype = q ? r.input(7).dtype : r.node.opType == "MatMulInteger" ? DType::Int32 : a.dtype;
    if (!a.rankKnown || !b.rankKnown || a.rank() == 0 || b.rank() == 0) {
        r.out[0] = unknownOf(dtype);
        return;
    }
    std::vector<Dim> x = a.dims, y = b.dims;
    const bool aVec = x.size() == 1, bVec = y.size() == 1;
    if (aVec)
        x.insert(x.begin(), Dim::of(1));
    if (bVec)
        y.push_back(Dim::of(1));
    const Dim &ka = x.back(), &kb = y[y.size() - 2];
    if (ka.known() && kb.known() && ka.n != kb.n)
        r.fail("cannot multiply " + ka.text() + " columns by " + kb.text() + " rows");
    Info batchA = shaped(dtype, std::vector<Dim>(x.begin(), x.end() - 2));
    Info batchB = shaped(dtype, std::vector<Dim>(y.begin(), y.end() - 2));
    bool known;
    std::vector<Dim> dims = broadcastAll(r, {&batchA, &batchB}, &known);
    if (!aVec)
        dims.push_back(x[x.size() - 2]);
    if (!bVec)
        dims.push_back(y.back());
    r.out[0] = shaped(dtype, dims);
}

// Conv, ConvTranspose, QLinearConv, ConvInteger and the pools: spatial sizes from the window arithmetic.
void windowRule(Rule &r, const Info &x)
{
    const std::string &op = r.node.opType;
    const bool qconv = op == "QLinearConv";
    const bool conv = op == "Conv" || op == "ConvTranspose" || op == "ConvInteger" || qconv;
    const bool transposed = op == "ConvTranspose";
    const Info &w = r.input(qconv ? 3 : 1);
    const DType dtype = qconv ? r.input(7).dtype : op == "ConvInteger" ? DType::Int32 : x.dtype;
    if (!x.rankKnown || x.rank() < 3 || (conv && !w.rankKnown)) {
        if (x.rankKnown && x.rank() < 3)
            r.fail("input must be [N, C, spatial...], got rank " + std::to_string(x.rank()));
        r.setAll(unknownOf(dtype));
        return;
    }
    const size_t spatial = size_t(x.rank() - 2);
    std::vector<Dim> dims{x.dims[0], x.dims[1]};
    std::vector<int64_t> kernel = r.node.attrInts("kernel_shape");
    if (conv) {
        if (w.rank() != x.rank())
            r.fail("weight rank " + std::to_string(w.rank()) + " does not match input rank " + std::to_string(x.rank()));
        const int64_t group = r.node.attrInt("group", 1);
        if (group < 1)
            r.fail("group " + std::to_string(group) + " is not positive");
        const Dim &c = x.dims[1];
        if (transposed) {
            if (c.known() && w.dims[0].known() && c.n != w.dims[0].n)
                r.fail("weight expects " + w.dims[0].text() + " input channels, input has " + c.text());
            dims[1] = mulDims(w.dims[1], Dim::of(group));
        } else {
            if (c.known() && w.dims[1].known()) {
                const int64_t expected = checkedMul(w.dims[1].n, group);
                if (c.n != expected)
                    r.fail("weight with group " + std::to_string(group) + " expects " + std::to_string(expected) +
                           " input channels, input has " + c.text());
            }
            dims[1] = w.dims[0];
        }
        if (kernel.empty())
            for (size_t k = 0; k < spatial; ++k) {
                if (!w.dims[2 + k].known()) {
                    r.out[0] = shaped(dtype, std::vector<Dim>(size_t(x.rank()), Dim::named({})));
                    return;
                }
                kernel.push_back(w.dims[2 + k].n);
            }
    } else if (op == "GlobalAveragePool" || op == "GlobalMaxPool" || op == "QLinearGlobalAveragePool") {
        for (size_t k = 0; k < spatial; ++k)
            dims.push_back(Dim::of(1));
        r.out[0] = shaped(dtype, dims);
        return;
    }
    if (kernel.size() != spatial)
        r.fail("kernel_shape has " + std::to_string(kernel.size()) + " values for " + std::to_string(spatial) +
               " spatial dimensions");
    const std::vector<int64_t> strides = r.node.attrInts("strides", std::vector<int64_t>(spatial, 1));
    const std::vector<int64_t> dilations = r.node.attrInts("dilations", std::vector<int64_t>(spatial, 1));
    const std::vector<int64_t> pads = r.node.attrInts("pads", std::vector<int64_t>(spatial * 2, 0));
    if (strides.size() != spatial || dilations.size() != spatial || pads.size() != spatial * 2)
        r.fail("strides / dilations / pads do not match the " + std::to_string(spatial) + "-D input");
    if (std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p < 0; }))
        r.fail("pads must not be negative"); // as ONNX's own shape inference says
    const std::string autoPad = r.node.attrString("auto_pad", "NOTSET");
    const bool ceilMode = r.node.attrInt("ceil_mode", 0) != 0;
    const std::vector<int64_t> outputShape = r.node.attrInts("output_shape");
    const std::vector<int64_t> outputPadding = r.node.attrInts("output_padding", std::vector<int64_t>(spatial, 0));
    for (size_t k = 0; k < spatial; ++k) {
        if (strides[k] < 1 || dilations[k] < 1 || kernel[k] < 1)
            r.fail("kernel_shape, strides and dilations must be positive");
        const Dim &in = x.dims[2 + k];
        // Attributes come from the file: sums and products of them are checked (2^63 - 1 strides or pads).
        const int64_t extent = checkedAdd(checkedMul(dilations[k], kernel[k] - 1), 1);
        const int64_t padded = checkedAdd(pads[k], pads[k + spatial]);
        if (transposed) {
            if (outputShape.size() == spatial)
                dims.push_back(Dim::of(outputShape[k]));
            else if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER")
                dims.push_back(mulDims(in, Dim::of(strides[k])));
            else // s * (in - 1) + output_padding + extent - pads
                dims.push_back(addConst(mulDims(addConst(in, -1), Dim::of(strides[k])),
                                        checkedAdd(checkedAdd(outputPadding.size() == spatial ? outputPadding[k] : 0,
                                                              extent),
                                                   -padded))); // pads are not negative, so neither is padded
            continue;
        }
        Dim o;
        if (autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER")
            o = ceilDiv(in, strides[k]);
        else if (autoPad == "VALID")
            o = windowDim(in, -extent, strides[k], ceilMode);
        else
            o = windowDim(in, checkedAdd(padded, -extent), strides[k], ceilMode);
        if (in.known()) {
            if (o.n < 1)
                r.fail("kernel " + std::to_string(extent) + " does not fit the padded input " + in.text());
            if (ceilMode && autoPad == "NOTSET" && checkedMul(o.n - 1, strides[k]) >= checkedAdd(in.n, pads[k]))
                --o.n; // a last window that would start inside the end padding is dropped
        }
        dims.push_back(o);
    }
    r.out[0] = shaped(dtype, dims);
    for (size_t o = 1; o < r.out.size(); ++o) // MaxPool's Indices
        r.out[o] = shaped(DType::Int64, dims);
}

// com.microsoft's quantized pools with channels_last take and give [N, spatial..., C]: the rule above on the
// channels-first view.
void windowOp(Rule &r)
{
    const Info &x = r.input(0);
    if (r.node.attrInt("channels_last", 0) == 0 || !x.rankKnown || x.rank() < 3) {
        windowRule(r, x);
        return;
    }
    auto move = [](std::vector<Dim> dims, size_t from, size_t to) {
        const Dim d = dims[from];
        dims.erase(dims.begin() + std::ptrdiff_t(from));
        dims.insert(dims.begin() + std::ptrdiff_t(to), d);
        return dims;
    };
    Info first = x;
    first.dims = move(x.dims, x.dims.size() - 1, 1);
    windowRule(r, first);
    if (r.out[0].rankKnown)
        r.out[0].dims = move(r.out[0].dims, 1, r.out[0].dims.size() - 1);
}

// com.microsoft QLinearAdd / QLinearMul: A (input 0) and B (input 3) broadcast.
void qlinearBinaryOp(Rule &r)
{
    bool known;
    const std::vector<Dim> dims =
        broadcastAll(r, {r.in.size() > 0 ? r.in[0] : nullptr, r.in.size() > 3 ? r.in[3] : nullptr}, &known);
    r.out[0] = known ? shaped(r.input(0).dtype, dims) : unknownOf(r.input(0).dtype);
}

// com.microsoft QLinearConcat: Concat's rule over the data inputs 2, 5, 8, ...
void qlinearConcatOp(Rule &r)
{
    Rule data{r.node, {}, {Info()}, r.scope};
    for (size_t k = 2; k < r.in.size(); k += 3)
        data.in.push_back(r.in[k]);
    concatOp(data);
    r.out[0] = data.out[0];
}

void resizeOp(Rule &r)
{
    const Info &x = r.input(0);
    if (!x.rankKnown) {
        r.out[0] = unknownOf(x.dtype);
        return;
    }
    const bool opset10 = r.opset() < 11;
    const Info &scalesIn = r.input(opset10 ? 1 : 2);
    std::vector<int64_t> axes = r.node.attrInts("axes");
    if (axes.empty())
        for (int k = 0; k < x.rank(); ++k)
            axes.push_back(k);
    std::vector<Dim> dims = x.dims;
    if (!opset10 && r.has(3) && r.input(3).values && r.input(3).values->size() == axes.size()) {
        for (size_t k = 0; k < axes.size(); ++k)
            dims[size_t(r.normAxis(axes[k], x.rank()))] = (*r.input(3).values)[k];
    } else if (scalesIn.present && scalesIn.constant && scalesIn.constant->numel() == int64_t(axes.size())) {
        const std::vector<float> scales = scalesIn.constant->toFloatVector();
        for (size_t k = 0; k < axes.size(); ++k) {
            Dim &d = dims[size_t(r.normAxis(axes[k], x.rank()))];
            const float s = scales[k];
            if (!(s > 0) || !std::isfinite(s))
                r.fail("scales must be positive and finite");
            if (d.known()) {
                const double size = std::floor(double(d.n) * double(s));
                if (!(size < 0x1p62))
                    r.fail("the output size " + std::to_string(size) + " is out of range");
                d = Dim::of(int64_t(size));
            }
            else if (s == std::floor(s) && s >= 1)
                d = mulDims(d, Dim::of(int64_t(s)));
            else if (s > 0 && std::floor(1.0 / s) == 1.0 / s)
                d = floorDiv(d, int64_t(1.0 / s));
            else
                d = r.fresh(0, size_t(axes[k]));
        }
    } else {
        for (int64_t a : axes)
            dims[size_t(r.normAxis(a, x.rank()))] = r.fresh(0, size_t(a));
    }
    r.out[0] = shaped(x.dtype, dims);
}

void quantizeLinearOp(Rule &r)
{
    DType dtype = r.has(2) ? r.input(2).dtype : DType::UInt8;
    if (r.node.hasAttr("output_dtype"))
        dtype = r.node.attrInt("output_dtype", 2) == 3 ? DType::Int8 : DType::UInt8;
    Info o = r.input(0);
    o.constant = nullptr;
    o.values.reset();
    o.dtype = dtype;
    r.out[0] = o;
}

void dequantizeLinearOp(Rule &r)
{
    Info o = r.input(0);
    o.constant = nullptr;
    o.values.reset();
    o.dtype = DType::Float32;
    r.out[0] = o;
}

void topKOp(Rule &r)
{
    const Info &x = r.input(0);
    if (!x.rankKnown) {
        r.out[0] = unknownOf(x.dtype);
        if (r.out.size() > 1)
            r.out[1] = unknownOf(DType::Int64);
        return;
    }
    const int axis = r.normAxis(r.node.attrInt("axis", -1), x.rank());
    std::vector<Dim> dims = x.dims;
    const auto k = r.node.hasAttr("k") ? std::optional(std::vector<int64_t>{r.node.attrInt("k", 0)}) : knownInts(r.input(1));
    dims[size_t(axis)] = k && k->size() == 1 ? Dim::of((*k)[0]) : r.fresh(0, size_t(axis));
    r.out[0] = shaped(x.dtype, dims);
    if (r.out.size() > 1)
        r.out[1] = shaped(DType::Int64, dims);
}

void gatherElementsOp(Rule &r)
{
    const Info &idx = r.input(1);
    r.out[0] = idx.rankKnown ? shaped(r.input(0).dtype, idx.dims) : unknownOf(r.input(0).dtype);
}

void layerNormalizationOp(Rule &r)
{
    sameAsInput(r);
    const Info &x = r.input(0);
    if (r.out.size() < 2)
        return;
    // Mean and InvStdDev: the normalised axes (from `axis` on) become 1.
    Info stats = unknownOf(DType::Float32);
    if (x.rankKnown) {
        const int axis = r.normAxis(r.node.attrInt("axis", -1), x.rank());
        std::vector<Dim> dims = x.dims;
        for (size_t d = size_t(axis); d < dims.size(); ++d)
            dims[d] = Dim::of(1);
        stats = shaped(DType::Float32, dims);
    }
    for (size_t o = 1; o < r.out.size(); ++o)
        r.out[o] = stats;
}

// LSTM, GRU, RNN: X [seq, batch, input] (layout 1: [batch, seq, input]); Y [seq, dirs, batch, hidden]
// (layout 1: [batch, seq, dirs, hidden]); Y_h, Y_c [dirs, batch, hidden] (layout 1: [batch, dirs, hidden]).
void recurrentOp(Rule &r)
{
    const Info &x = r.input(0);
    const bool layout1 = r.node.attrInt("layout", 0) != 0;
    const Dim dirs = Dim::of(r.node.attrString("direction", "forward") == "bidirectional" ? 2 : 1);
    Dim hidden = r.node.hasAttr("hidden_size") ? Dim::of(r.node.attrInt("hidden_size", 0)) : r.fresh(0, 3);
    if (hidden.known() && hidden.n < 1)
        r.fail("hidden_size " + std::to_string(hidden.n) + " is not positive");
    if (!x.rankKnown || x.rank() != 3) {
        r.setAll(unknownOf(x.dtype));
        return;
    }
    const Dim &seq = x.dims[layout1 ? 1 : 0], &batch = x.dims[layout1 ? 0 : 1];
    r.out[0] = shaped(x.dtype, layout1 ? std::vector<Dim>{batch, seq, dirs, hidden} : std::vector<Dim>{seq, dirs, batch, hidden});
    for (size_t o = 1; o < r.out.size(); ++o)
        r.out[o] = shaped(x.dtype, layout1 ? std::vector<Dim>{batch, dirs, hidden} : std::vector<Dim>{dirs, batch, hidden});
}

// Einsum: each letter of the equation is one size; the output is the explicit right-hand side, or the
// letters used once in alphabetical order; "..." stands for the broadcast leading dimensions.
void einsumOp(Rule &r)
{
    std::string eq = r.node.attrString("equation", "");
    eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
    const size_t arrow = eq.find("->");
    const std::string lhs = eq.substr(0, arrow);
    std::vector<std::string> terms;
    for (size_t start = 0;;) {
        const size_t comma = lhs.find(',', start);
        terms.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    const DType dtype = r.input(0).dtype;
    if (terms.size() != r.in.size()) {
        r.out[0] = unknownOf(dtype);
        return;
    }
    std::map<char, Dim> size;
    std::map<char, int> count;
    std::vector<Dim> ellipsis;
    for (size_t k = 0; k < terms.size(); ++k) {
        const Info &x = r.input(k);
        if (!x.rankKnown) {
            r.out[0] = unknownOf(dtype);
            return;
        }
        std::string term = terms[k];
        const size_t dots = term.find("...");
        const int letters = int(term.size()) - (dots == std::string::npos ? 0 : 3);
        const int spread = x.rank() - letters;
        if (spread < 0 || (dots == std::string::npos && spread != 0))
            r.fail("operand " + std::to_string(k) + " has rank " + std::to_string(x.rank()) + " for '" + term + "'");
        int d = 0;
        for (size_t c = 0; c < term.size(); ++c) {
            if (term.compare(c, 3, "...") == 0) {
                Info here = shaped(dtype, std::vector<Dim>(x.dims.begin() + d, x.dims.begin() + d + spread));
                Info seen = shaped(dtype, ellipsis);
                bool known;
                ellipsis = broadcastAll(r, {&seen, &here}, &known);
                d += spread;
                c += 2;
                continue;
            }
            const char l = term[c];
            ++count[l];
            auto it = size.find(l);
            if (it == size.end() || it->second.is(1))
                size[l] = x.dims[size_t(d)];
            ++d;
        }
    }
    std::string out;
    if (arrow != std::string::npos) {
        out = eq.substr(arrow + 2);
    } else {
        out = lhs.find("...") != std::string::npos ? "..." : "";
        for (const auto &[l, n] : count)
            if (n == 1 && std::isalpha(static_cast<unsigned char>(l)))
                out += l;
    }
    std::vector<Dim> dims;
    for (size_t c = 0; c < out.size(); ++c) {
        if (out.compare(c, 3, "...") == 0) {
            dims.insert(dims.end(), ellipsis.begin(), ellipsis.end());
            c += 2;
        } else if (size.count(out[c])) {
            dims.push_back(size[out[c]]);
        } else {
            r.fail(std::string("output letter '") + out[c] + "' is in no operand");
        }
    }
    r.out[0] = shaped(dtype, dims);
}

// Control flow (If, Loop, Scan): their subgraphs are inferred in the scope of the node.
void ifOp(Rule &r);
void loopOp(Rule &r);
void scanOp(Rule &r);

const std::map<std::string, RuleFn> &rules()
{
    static const std::map<std::string, RuleFn> table = [] {
        std::map<std::string, RuleFn> t;
        for (const char *op : {"Abs", "Ceil", "Clip", "Dropout", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid",
                               "HardSwish", "Identity", "LeakyRelu", "Log", "LogSoftmax", "Neg", "Reciprocal", "Relu",
                               "Sigmoid", "Softmax", "Sqrt", "Tanh", "BatchNormalization", "Not", "Sign", "Softplus",
                               "Softsign", "Selu", "CumSum", "InstanceNormalization"})
            t[op] = sameAsInput;
        for (const char *op : {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Equal", "Less", "Greater",
                               "LessOrEqual", "GreaterOrEqual", "Where", "And", "Or", "Xor", "Mod", "Sum", "Mean",
                               "PRelu"})
            t[op] = broadcastOp;
        for (const char *op : {"LSTM", "GRU", "RNN"})
            t[op] = recurrentOp;
        t["TopK"] = topKOp;
        t["GatherElements"] = gatherElementsOp;
        t["LayerNormalization"] = layerNormalizationOp;
        t["Einsum"] = einsumOp;
        for (const char *op : {"Conv", "ConvTranspose", "QLinearConv", "MaxPool", "AveragePool", "GlobalAveragePool",
                               "GlobalMaxPool"})
            t[op] = windowOp;
        for (const char *op : {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                               "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin"})
            t[op] = reduceOp;
        t["Cast"] = castOp;
        t["CastLike"] = castLikeOp;
        t["DynamicQuantizeLinear"] = dynamicQuantizeLinearOp;
        t["ConvInteger"] = windowOp;
        t["MatMulInteger"] = matMulOp;
        t["Shape"] = shapeOp;
        t["Size"] = sizeOp;
        t["Constant"] = constantOp;
        t["ConstantOfShape"] = constantOfShapeOp;
        t["Reshape"] = reshapeOp;
        t["Flatten"] = flattenOp;
        t["Transpose"] = transposeOp;
        t["Squeeze"] = squeezeOp;
        t["Unsqueeze"] = unsqueezeOp;
        t["Concat"] = concatOp;
        t["Split"] = splitOp;
        t["Slice"] = sliceOp;
        t["Gather"] = gatherOp;
        t["Expand"] = expandOp;
        t["Tile"] = tileOp;
        t["Range"] = rangeOp;
        t["Pad"] = padOp;
        t["Gemm"] = gemmOp;
        t["If"] = ifOp;
        t["Loop"] = loopOp;
        t["Scan"] = scanOp;
        t["com.microsoft:QGemm"] = gemmOp;
        for (const char *op : {"com.microsoft:QLinearAdd", "com.microsoft:QLinearMul"})
            t[op] = qlinearBinaryOp;
        for (const char *op :
             {"com.microsoft:QLinearLeakyRelu", "com.microsoft:QLinearSigmoid", "com.microsoft:QLinearSoftmax"})
            t[op] = sameAsInput;
        for (const char *op : {"com.microsoft:QLinearAveragePool", "com.microsoft:QLinearGlobalAveragePool"})
            t[op] = windowOp;
        t["com.microsoft:QLinearConcat"] = qlinearConcatOp;
        t["MatMul"] = matMulOp;
        t["QLinearMatMul"] = matMulOp;
        t["Resize"] = resizeOp;
        t["Upsample"] = resizeOp;
        t["QuantizeLinear"] = quantizeLinearOp;
        t["DequantizeLinear"] = dequantizeLinearOp;
        return t;
    }();
    return table;
}

// Names for the unknown dimensions of the graph inputs.
void nameInputDims(ValueInfo &in)
{
    in.dimNames.resize(in.shape.size());
    for (size_t d = 0; d < in.shape.size(); ++d)
        if (in.shape[d] < 0 && in.dimNames[d].empty())
            in.dimNames[d] = d == 0 ? "N" : in.name + "_dim" + std::to_string(d);
}

Info infoOf(const ValueInfo &v)
{
    Info i;
    i.present = true;
    i.dtype = v.dtype;
    i.rankKnown = v.shapeKnown;
    for (size_t d = 0; d < v.shape.size(); ++d)
        i.dims.push_back(v.shape[d] >= 0 ? Dim::of(v.shape[d]) : Dim::named(v.dimName(d)));
    return i;
}

ValueInfo valueInfoOf(const std::string &name, const Info &i)
{
    ValueInfo v;
    v.name = name;
    v.dtype = i.dtype;
    v.shapeKnown = i.rankKnown;
    bool named = false;
    for (const Dim &d : i.dims) {
        v.shape.push_back(d.known() ? d.n : -1);
        v.dimNames.push_back(d.known() ? std::string() : d.sym);
        named = named || (!d.known() && !d.sym.empty());
    }
    if (!named)
        v.dimNames.clear();
    return v;
}

// The largest tensor, in elements, that evaluateConstant reads or writes: shape arithmetic, not weights.
constexpr int64_t kMaxEvaluated = 4096;

// The tensor a small integer or boolean value holds when all its elements are known numbers (a Shape of an
// input whose sizes are known), kept in `computed`; else null.
const Tensor *materialized(const Info &i, std::deque<Tensor> &computed)
{
    const std::optional<std::vector<int64_t>> v = knownInts(i);
    if (!v || !i.rankKnown || i.rank() > 1 || !(isIntegral(i.dtype) || i.dtype == DType::UInt8))
        return nullptr;
    computed.push_back(Tensor::fromInt64s(i.rank() == 0 ? Shape{} : Shape{int64_t(v->size())}, *v).castTo(i.dtype));
    return &computed.back();
}

// Computes a node whose inputs are all small constants, or small integers whose values are known, with its
// kernel, once its rule has given the outputs' shapes, so that the values of what the graph computes from them
// are known to the nodes after it: exporters build a Pad's pads from the Shape of a constant through Reshape,
// Slice and Transpose, which the rules do not follow, and an If's condition by comparing a size with a number.
// A node the kernel refuses keeps what its rule said; the run reports the error.
void evaluateConstant(Rule &r, std::deque<Tensor> &computed)
{
    static const std::set<std::string, std::less<>> kRandom = {"Bernoulli", "Dropout", "Multinomial", "RandomNormal",
                                                                "RandomNormalLike", "RandomUniform",
                                                                "RandomUniformLike"};
    const Node &n = r.node;
    if (n.inputs.empty() || kRandom.count(n.opType))
        return;
    for (const auto &[key, a] : n.attrs)
        if (a.kind == Attribute::Kind::Graph)
            return;
    std::vector<const Tensor *> inputs;
    for (size_t k = 0; k < n.inputs.size(); ++k) {
        if (n.inputs[k].empty()) {
            inputs.push_back(nullptr);
            continue;
        }
        if (!r.has(k))
            return;
        const Tensor *t = r.input(k).constant ? r.input(k).constant : materialized(r.input(k), computed);
        if (!t || t->numel() > kMaxEvaluated)
            return;
        inputs.push_back(t);
    }
    for (const Info &o : r.out) {
        if (!o.present || !o.rankKnown)
            return;
        int64_t numel = 1;
        for (const Dim &d : o.dims) {
            if (!d.known() || d.n < 0 || d.n > kMaxEvaluated)
                return;
            numel *= d.n;
            if (numel > kMaxEvaluated)
                return;
        }
    }
    const OpKernel kernel = findKernel(n.opType, n.domain);
    if (!kernel)
        return;
    OpContext ctx{n, std::move(inputs), {}, 1};
    ctx.outputs.resize(n.outputs.size());
    try {
        kernel(ctx);
    } catch (const std::exception &) {
        return;
    }
    for (size_t o = 0; o < r.out.size(); ++o) {
        const Tensor &t = ctx.outputs[o];
        bool agrees = !t.isNull() && t.dtype() == r.out[o].dtype && t.rank() == r.out[o].rank();
        for (int d = 0; agrees && d < t.rank(); ++d)
            agrees = t.dim(d) == r.out[o].dims[size_t(d)].n;
        if (!agrees) // the rule and the kernel disagree: keep the rule's word
            return;
    }
    for (size_t o = 0; o < r.out.size(); ++o) {
        computed.push_back(std::move(ctx.outputs[o]));
        r.out[o].constant = &computed.back();
        r.out[o].values = valuesOf(computed.back());
    }
}

// Infers the nodes of g in order, reading and extending `known` (every value visible from g: its own and
// those of enclosing graphs); fills *values for the values g's nodes produce when given. fromFile: the
// file's value_info of g.
void inferNodes(const Graph &g, std::map<std::string, Info> &known, const std::map<std::string, ValueInfo> &fromFile,
                std::map<std::string, ValueInfo> *values, const std::string &file, std::deque<Tensor> &computed)
{
    for (const auto &[name, t] : g.initializers) {
        Info i;
        i.present = true;
        i.dtype = t.dtype();
        i.rankKnown = true;
        for (int64_t d : t.shape())
            i.dims.push_back(Dim::of(d));
        i.constant = &t;
        i.values = valuesOf(t);
        known[name] = i;
    }
    for (const Node &node : g.nodes) {
        Rule r{node, {}, std::vector<Info>(node.outputs.size()), &known, &computed};
        for (const std::string &in : node.inputs) {
            auto it = in.empty() ? known.end() : known.find(in);
            r.in.push_back(it == known.end() ? nullptr : &it->second);
        }
        const std::string key = isDefaultDomain(node.domain) ? node.opType
                                                                                 : node.domain + ":" + node.opType;
        auto where = [&] {
            return "node '" + node.name + "' (" + node.opType + ")" + (file.empty() ? std::string() : " in '" + file + "'");
        };
        auto rule = rules().find(key);
        if (rule != rules().end() && !r.out.empty()) {
            try {
                rule->second(r);
            } catch (const Error &e) {
                throw Error(where() + ": " + e.what());
            }
            evaluateConstant(r, computed);
        }
        for (size_t o = 0; o < node.outputs.size(); ++o) {
            const std::string &name = node.outputs[o];
            if (name.empty())
                continue;
            Info info = r.out[o];
            if (!info.present || !info.rankKnown) {
                auto fileInfo = fromFile.find(name);
                if (fileInfo != fromFile.end() && fileInfo->second.shapeKnown) {
                    info = infoOf(fileInfo->second);
                    if (!r.out[o].present)
                        info.dtype = fileInfo->second.dtype;
                } else if (!info.present) {
                    info = unknownOf(r.has(0) ? r.input(0).dtype : DType::Float32);
                }
            }
            for (const Dim &d : info.dims)
                if (d.known() && d.n < 0)
                    throw Error(where() + ": output '" + name + "' would have a negative dimension " + std::to_string(d.n));
            // Anonymous symbols get a name of their own, so equal-looking shapes are not taken as equal.
            for (size_t d = 0; d < info.dims.size(); ++d)
                if (!info.dims[d].known() && info.dims[d].sym.empty())
                    info.dims[d] = Dim::named(name + "_dim" + std::to_string(d));
            if (info.values)
                for (Dim &v : *info.values)
                    if (!v.known() && v.sym.empty())
                        v = Dim::named(name + "_value");
            known[name] = info;
            if (values)
                (*values)[name] = valueInfoOf(name, info);
        }
    }
}

// The outputs of a subgraph run with its formal inputs as given, in an enclosing scope.
std::vector<Info> inferSubgraph(const Graph &g, const Rule &r, const std::vector<Info> &formal)
{
    std::map<std::string, Info> known = *r.scope;
    for (size_t k = 0; k < g.inputs.size(); ++k)
        known[g.inputs[k].name] = k < formal.size() && formal[k].present ? formal[k] : infoOf(g.inputs[k]);
    inferNodes(g, known, g.values, nullptr, {}, *r.computed);
    std::vector<Info> out;
    for (const ValueInfo &v : g.outputs) {
        auto it = known.find(v.name);
        out.push_back(it != known.end() ? it->second : v.shapeKnown ? infoOf(v) : unknownOf(v.dtype));
        out.back().constant = nullptr;
    }
    return out;
}

// What two alternatives have in common: the dims they agree on, new symbols where they differ.
Info merge(const Rule &r, size_t o, const Info &a, const Info &b)
{
    if (!a.rankKnown || !b.rankKnown || a.rank() != b.rank())
        return unknownOf(a.dtype);
    Info m = shaped(a.dtype, a.dims);
    for (size_t d = 0; d < m.dims.size(); ++d)
        if (!sameDim(a.dims[d], b.dims[d]))
            m.dims[d] = r.fresh(o, d);
    return m;
}

void ifOp(Rule &r)
{
    const Graph *thenBranch = r.node.subgraph("then_branch"), *elseBranch = r.node.subgraph("else_branch");
    if (!thenBranch || !elseBranch)
        r.fail("needs then_branch and else_branch");
    const std::vector<Info> a = inferSubgraph(*thenBranch, r, {}), b = inferSubgraph(*elseBranch, r, {});
    if (a.size() != r.out.size() || b.size() != r.out.size())
        r.fail("the branches return " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
               " values for " + std::to_string(r.out.size()) + " outputs");
    // A constant condition picks its branch; otherwise the outputs are what both branches agree on.
    if (const auto cond = knownInts(r.input(0)); cond && cond->size() == 1) {
        for (size_t o = 0; o < r.out.size(); ++o)
            r.out[o] = (*cond)[0] ? a[o] : b[o];
        return;
    }
    for (size_t o = 0; o < r.out.size(); ++o)
        r.out[o] = merge(r, o, a[o], b[o]);
}

void loopOp(Rule &r)
{
    const Graph *body = r.node.subgraph("body");
    if (!body)
        r.fail("needs a body");
    const size_t carried = r.in.size() > 2 ? r.in.size() - 2 : 0;
    std::vector<Info> formal{shaped(DType::Int64, {}), shaped(DType::UInt8, {})};
    for (size_t k = 0; k < carried; ++k)
        formal.push_back(r.input(2 + k));
    const std::vector<Info> out = inferSubgraph(*body, r, formal);
    if (out.size() != r.out.size() + 1)
        r.fail("the body returns " + std::to_string(out.size()) + " values for " + std::to_string(r.out.size()) +
               " outputs and the condition");
    // A loop-carried value keeps the dims the body does not change; the trip count of the scan outputs is a
    // new symbol unless M is a known constant and there is no condition.
    for (size_t k = 0; k < carried && k < r.out.size(); ++k)
        r.out[k] = formal[2 + k].present ? merge(r, k, formal[2 + k], out[1 + k]) : out[1 + k];
    Dim trips = r.fresh(carried, 0);
    if (const auto m = r.has(0) ? knownInts(r.input(0)) : std::nullopt; m && m->size() == 1 && !r.has(1))
        trips = Dim::of((*m)[0]);
    for (size_t k = carried; k < r.out.size(); ++k) {
        const Info &slice = out[1 + k];
        if (!slice.rankKnown) {
            r.out[k] = unknownOf(slice.dtype);
            continue;
        }
        std::vector<Dim> dims{k == carried ? trips : r.fresh(k, 0)};
        dims.insert(dims.end(), slice.dims.begin(), slice.dims.end());
        r.out[k] = shaped(slice.dtype, dims);
    }
}

void scanOp(Rule &r)
{
    const Graph *body = r.node.subgraph("body");
    const int64_t m = r.node.attrInt("num_scan_inputs", -1);
    if (!body || m < 1 || size_t(m) > r.in.size())
        r.fail("needs a body and num_scan_inputs between 1 and the number of inputs");
    const size_t states = r.in.size() - size_t(m);
    const std::vector<int64_t> inAxes = r.node.attrInts("scan_input_axes", std::vector<int64_t>(size_t(m), 0));
    std::vector<Info> formal;
    for (size_t k = 0; k < states; ++k)
        formal.push_back(r.input(k));
    Dim length = r.fresh(states, 0);
    for (size_t k = 0; k < size_t(m); ++k) {
        Info x = r.input(states + k);
        if (x.rankKnown && k < inAxes.size()) {
            const int axis = r.normAxis(inAxes[k], x.rank());
            if (k == 0)
                length = x.dims[size_t(axis)];
            x.dims.erase(x.dims.begin() + axis);
        }
        x.constant = nullptr;
        x.values.reset();
        formal.push_back(x);
    }
    const std::vector<Info> out = inferSubgraph(*body, r, formal);
    const size_t scans = r.out.size() > states ? r.out.size() - states : 0;
    const std::vector<int64_t> outAxes = r.node.attrInts("scan_output_axes", std::vector<int64_t>(scans, 0));
    for (size_t k = 0; k < states && k < r.out.size(); ++k)
        r.out[k] = k < out.size() ? merge(r, k, formal[k], out[k]) : unknownOf(formal[k].dtype);
    for (size_t k = 0; k < scans; ++k) {
        const Info &slice = states + k < out.size() ? out[states + k] : Info{};
        if (!slice.rankKnown || k >= outAxes.size()) {
            r.out[states + k] = unknownOf(slice.dtype);
            continue;
        }
        std::vector<Dim> dims = slice.dims;
        const int axis = r.normAxis(outAxes[k], slice.rank() + 1);
        dims.insert(dims.begin() + axis, length);
        r.out[states + k] = shaped(slice.dtype, dims);
    }
}

} // namespace

std::vector<std::string> shapeRuleOps()
{
    std::vector<std::string> ops;
    for (const auto &[op, fn] : rules())
        ops.push_back(op);
    return ops;
}

void inferShapes(Model &model, std::map<std::string, std::vector<int64_t>> *knownValues)
{
    Graph &g = model.graph;
    const std::map<std::string, ValueInfo> fromFile = g.values; // the file's value_info: used where no rule applies
    std::map<std::string, Info> known;
    for (ValueInfo &in : g.inputs) {
        if (in.shapeKnown)
            nameInputDims(in);
        known[in.name] = infoOf(in);
    }
    g.values.clear();
    std::deque<Tensor> computed; // constants computed on the way; the known values point into it
    inferNodes(g, known, fromFile, &g.values, model.sourcePath, computed);
    if (knownValues)
        for (const Node &n : g.nodes)
            for (const std::string &out : n.outputs)
                if (auto it = known.find(out); !out.empty() && it != known.end())
                    if (std::optional<std::vector<int64_t>> v = knownInts(it->second))
                        (*knownValues)[out] = std::move(*v);
    for (const ValueInfo &in : g.inputs)
        g.values[in.name] = in;
    for (ValueInfo &out : g.outputs) {
        auto it = g.values.find(out.name);
        if (it != g.values.end() && (it->second.shapeKnown || !out.shapeKnown)) {
            out.dtype = it->second.dtype;
            out.shape = it->second.shape;
            out.dimNames = it->second.dimNames;
            out.shapeKnown = it->second.shapeKnown;
        }
    }
}

} // namespace cw
