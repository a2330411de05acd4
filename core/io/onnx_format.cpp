// ONNX import and export (protobuf, Debian's libonnx).
//
// Import: opsets kMinOpset–kMaxOpset (9–22, runtime/ops.h) of the default domain, and the versions of the other
// domains imported (Model::domainOpsets); whether each node's operator is supported at its opset is
// requireKernels' question (runtime/session.h). Weights come from initializers and from Constant nodes (folded
// into initializers, the node dropped). Every node gets the int attribute "_opset" (the model's ai.onnx
// opset), so kernels whose semantics changed between opsets (Softmax before 13, Resize 10, ...) can tell.
// Export: opset 17, which every runtime of the last years reads. Nodes imported at another opset are rewritten
// into their opset-17 form first (attributes that became inputs, Softmax's old 2-D coercion, ...). A model of a
// later opset with a node that has no opset-17 form (a Reduce whose axes are computed, a Resize with
// half_pixel_symmetric, a blocked QuantizeLinear, ...) is written at its own opset instead, its nodes as they
// are. Attributes starting with '_' are internal and dropped.
#include <onnx/onnx_pb.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>

#include "core/base/atomic_file.h"
#include "core/base/error.h"
#include "core/base/version.h"
#include "core/io/model_io.h"
#include "core/runtime/ops.h"

namespace cw {

namespace {

constexpr int64_t kExportOpset = 17;

// The IR version that introduced an opset (17, 18: 8; 19, 20: 9; 21, 22: 10).
int64_t irVersionFor(int64_t opset) { return opset <= 18 ? 8 : opset <= 20 ? 9 : 10; }

std::string q(const std::string &s)
{
    return "'" + s + "'";
}

const char *onnxTypeName(int type)
{
    switch (type) {
    case onnx::TensorProto::FLOAT: return "float32";
    case onnx::TensorProto::UINT8: return "uint8";
    case onnx::TensorProto::INT8: return "int8";
    case onnx::TensorProto::UINT16: return "uint16";
    case onnx::TensorProto::INT16: return "int16";
    case onnx::TensorProto::INT32: return "int32";
    case onnx::TensorProto::INT64: return "int64";
    case onnx::TensorProto::STRING: return "string";
    case onnx::TensorProto::BOOL: return "bool";
    case onnx::TensorProto::FLOAT16: return "float16";
    case onnx::TensorProto::DOUBLE: return "float64";
    case onnx::TensorProto::UINT32: return "uint32";
    case onnx::TensorProto::UINT64: return "uint64";
    case onnx::TensorProto::BFLOAT16: return "bfloat16";
    default: return "an unknown type";
    }
}

// Value types (graph inputs / outputs); unsupported ones map to float32 and fail later in a kernel if used.
bool dtypeFromOnnx(int type, DType *out)
{
    switch (type) {
    case onnx::TensorProto::FLOAT: *out = DType::Float32; return true;
    case onnx::TensorProto::UINT8: *out = DType::UInt8; return true;
    case onnx::TensorProto::INT8: *out = DType::Int8; return true;
    case onnx::TensorProto::INT32: *out = DType::Int32; return true;
    case onnx::TensorProto::INT64: *out = DType::Int64; return true;
    case onnx::TensorProto::BOOL: *out = DType::UInt8; return true;
    case onnx::TensorProto::DOUBLE: *out = DType::Float32; return true;
    case onnx::TensorProto::FLOAT16: *out = DType::Float16; return true;
    case onnx::TensorProto::BFLOAT16: *out = DType::BFloat16; return true;
    default: return false;
    }
}

int onnxFromDtype(DType type)
{
    switch (type) {
    case DType::Float32: return onnx::TensorProto::FLOAT;
    case DType::Int8: return onnx::TensorProto::INT8;
    case DType::UInt8: return onnx::TensorProto::UINT8;
    case DType::Int32: return onnx::TensorProto::INT32;
    case DType::Int64: return onnx::TensorProto::INT64;
    case DType::Float16: return onnx::TensorProto::FLOAT16;
    case DType::BFloat16: return onnx::TensorProto::BFLOAT16;
    }
    return onnx::TensorProto::UNDEFINED;
}

// Copies n elements of a repeated proto field (or raw little-endian bytes) into the tensor, converting.
template <typename Dst, typename Field> void copyField(const Field &field, Dst *dst, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        dst[i] = static_cast<Dst>(field.Get(int(i)));
}

template <typename Src, typename Dst> void copyRaw(const std::string &raw, Dst *dst, int64_t n)
{
    for (int64_t i = 0; i < n; ++i) {
        Src v;
        std::memcpy(&v, raw.data() + size_t(i) * sizeof(Src), sizeof(Src));
        dst[i] = static_cast<Dst>(v);
    }
}

// what: "tensor 'w'" or "attribute 'value' of node 'c'"; file: for messages.
Tensor tensorFromProto(const onnx::TensorProto &p, const std::string &what, const std::string &file)
{
    const std::string where = what + " in " + q(file);
    if (p.data_location() == onnx::TensorProto::EXTERNAL || p.external_data_size() > 0)
        throw Error(where +
                    " keeps its data in an external file, which is not supported; save the model with "
                    "onnx.save_model(model, path, save_as_external_data=False)");
    if (p.has_segment())
        throw Error(where + " is a segmented tensor, which is not supported");
    Shape shape;
    for (int64_t d : p.dims()) {
        if (d < 0)
            throw Error(where + " has a negative dimension " + std::to_string(d));
        shape.push_back(d);
    }
    const int type = p.data_type();
    DType dtype;
    size_t srcSize = 0;
    switch (type) {
    case onnx::TensorProto::FLOAT: dtype = DType::Float32; srcSize = 4; break;
    case onnx::TensorProto::DOUBLE: dtype = DType::Float32; srcSize = 8; break; // converted to float32
    case onnx::TensorProto::UINT8: dtype = DType::UInt8; srcSize = 1; break;
    case onnx::TensorProto::BOOL: dtype = DType::UInt8; srcSize = 1; break; // stored as 0 / 1 bytes
    case onnx::TensorProto::INT8: dtype = DType::Int8; srcSize = 1; break;
    case onnx::TensorProto::INT32: dtype = DType::Int32; srcSize = 4; break;
    case onnx::TensorProto::INT64: dtype = DType::Int64; srcSize = 8; break;
    // float16 / bfloat16 keep their bit patterns: raw_data holds them as little-endian uint16, the typed form
    // one pattern per int32_data entry.
    case onnx::TensorProto::FLOAT16: dtype = DType::Float16; srcSize = 2; break;
    case onnx::TensorProto::BFLOAT16: dtype = DType::BFloat16; srcSize = 2; break;
    default:
        throw Error(where + " has data type " + onnxTypeName(type) +
                    ", which is not supported (float32, float16, bfloat16, float64, int8, uint8, int32, int64 and "
                    "bool are)");
    }
    // Check the element count against the data present, then against the memory budget, before allocating: a
    // corrupt file may claim any shape.
    int64_t n = 0;
    try {
        n = shapeNumel(shape);
        checkedMul(n, int64_t(std::max(srcSize, dtypeSize(dtype))));
    } catch (const Error &) {
        throw Error(where + " claims an impossible shape " + shapeToString(shape) + " (the file may be truncated or corrupt)");
    }
    if (p.has_raw_data()) {
        if (p.raw_data().size() != size_t(n) * srcSize)
            throw Error(where + " has " + std::to_string(p.raw_data().size()) + " bytes of data, expected " +
                        std::to_string(size_t(n) * srcSize) + " for shape " + shapeToString(shape) +
                        " (the file may be truncated or corrupt)");
    } else {
        int64_t have = 0;
        switch (type) {
        case onnx::TensorProto::FLOAT: have = p.float_data_size(); break;
        case onnx::TensorProto::DOUBLE: have = p.double_data_size(); break;
        case onnx::TensorProto::INT64: have = p.int64_data_size(); break;
        default: have = p.int32_data_size(); break;
        }
        if (have != n)
            throw Error(where + " has " + std::to_string(have) + " values, expected " + std::to_string(n) +
                        " for shape " + shapeToString(shape) + " (the file may be truncated or corrupt)");
    }
    checkMemoryBudget(uint64_t(n) * dtypeSize(dtype), where + ", " + shapeToString(shape));
    Tensor t = Tensor::uninitialized(dtype, shape); // every element is written below
    if (p.has_raw_data()) {
        const std::string &raw = p.raw_data();
        switch (type) {
        case onnx::TensorProto::DOUBLE: copyRaw<double>(raw, t.data<float>(), n); break;
        case onnx::TensorProto::BOOL: copyRaw<uint8_t>(raw, t.data<uint8_t>(), n); break;
        default: std::memcpy(t.rawData(), raw.data(), raw.size()); break;
        }
        if (type == onnx::TensorProto::BOOL)
            for (int64_t i = 0; i < n; ++i)
                t.data<uint8_t>()[i] = t.data<uint8_t>()[i] != 0;
        return t;
    }
    switch (type) {
    case onnx::TensorProto::FLOAT:
        copyField(p.float_data(), t.data<float>(), n);
        break;
    case onnx::TensorProto::DOUBLE:
        copyField(p.double_data(), t.data<float>(), n);
        break;
    case onnx::TensorProto::UINT8:
        copyField(p.int32_data(), t.data<uint8_t>(), n);
        break;
    case onnx::TensorProto::BOOL:
        for (int64_t i = 0; i < n; ++i)
            t.data<uint8_t>()[i] = p.int32_data(int(i)) != 0;
        break;
    case onnx::TensorProto::INT8:
        copyField(p.int32_data(), t.data<int8_t>(), n);
        break;
    case onnx::TensorProto::INT32:
        copyField(p.int32_data(), t.data<int32_t>(), n);
        break;
    case onnx::TensorProto::INT64:
        copyField(p.int64_data(), t.data<int64_t>(), n);
        break;
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::BFLOAT16: {
        auto *bits = static_cast<uint16_t *>(t.rawData());
        for (int64_t i = 0; i < n; ++i) {
            const int32_t v = p.int32_data(int(i));
            if (v < 0 || v > 0xffff)
                throw Error(where + " holds " + std::to_string(v) + " in int32_data, not a 16-bit pattern " +
                            "(the file may be corrupt)");
            bits[i] = uint16_t(v);
        }
        break;
    }
    }
    return t;
}

void tensorToProto(const Tensor &t, const std::string &name, onnx::TensorProto *p)
{
    p->set_name(name);
    p->set_data_type(onnxFromDtype(t.dtype()));
    for (int64_t d : t.shape())
        p->add_dims(d);
    p->set_raw_data(std::string(static_cast<const char *>(t.rawData()), t.byteSize()));
}

ValueInfo valueInfoFromProto(const onnx::ValueInfoProto &v)
{
    ValueInfo info;
    info.name = v.name();
    if (v.has_type() && v.type().has_tensor_type()) {
        const auto &tt = v.type().tensor_type();
        DType d;
        if (dtypeFromOnnx(tt.elem_type(), &d))
            info.dtype = d;
        if (tt.has_shape()) {
            info.shapeKnown = true;
            for (const auto &dim : tt.shape().dim()) {
                // dim_value 0 is what some exporters write for "unknown"; it is treated as such.
                const bool fixed = dim.has_dim_value() && dim.dim_value() > 0;
                info.shape.push_back(fixed ? dim.dim_value() : -1);
                info.dimNames.push_back(!fixed && dim.has_dim_param() ? dim.dim_param() : std::string());
            }
        }
    }
    return info;
}

Graph graphFromProto(onnx::GraphProto &gp, int64_t opset, const std::string &file);

Attribute attributeFromProto(const onnx::AttributeProto &a, const Node &node, int64_t opset, const std::string &file)
{
    const std::string what = "attribute " + q(a.name()) + " of node " + q(node.name) + " (" + node.opType + ")";
    switch (a.type()) {
    case onnx::AttributeProto::INT: return Attribute::makeInt(a.i());
    case onnx::AttributeProto::FLOAT: return Attribute::makeFloat(a.f());
    case onnx::AttributeProto::STRING: return Attribute::makeString(a.s());
    case onnx::AttributeProto::INTS: return Attribute::makeInts({a.ints().begin(), a.ints().end()});
    case onnx::AttributeProto::FLOATS: return Attribute::makeFloats({a.floats().begin(), a.floats().end()});
    case onnx::AttributeProto::STRINGS: {
        Attribute r;
        r.kind = Attribute::Kind::Strings;
        r.strings.assign(a.strings().begin(), a.strings().end());
        return r;
    }
    case onnx::AttributeProto::TENSOR: return Attribute::makeTensor(tensorFromProto(a.t(), what, file));
    case onnx::AttributeProto::GRAPH: {
        onnx::GraphProto sub = a.g(); // subgraphs are small: a copy keeps the attribute intact
        return Attribute::makeGraph(graphFromProto(sub, opset, file));
    }
    case onnx::AttributeProto::GRAPHS:
        throw Error(what + " in " + q(file) + " is a list of subgraphs, which no supported operator takes");
    default:
        throw Error(what + " in " + q(file) + " has an unsupported attribute type");
    }
}

// Constant node -> tensor, for the forms value, value_float(s), value_int(s).
Tensor constantValue(const Node &node, const onnx::NodeProto &p, const std::string &file)
{
    if (node.outputs.size() != 1)
        throw Error("node " + q(node.name) + " (Constant) in " + q(file) + " must have one output");
    for (const auto &a : p.attribute()) {
        const std::string &k = a.name();
        if (k == "value")
            return tensorFromProto(a.t(), "the value of node " + q(node.name) + " (Constant)", file);
        if (k == "value_float")
            return Tensor::scalar(a.f());
        if (k == "value_floats")
            return Tensor::fromFloats({int64_t(a.floats_size())}, {a.floats().begin(), a.floats().end()});
        if (k == "value_int")
            return Tensor::fromInt64s({}, {a.i()});
        if (k == "value_ints")
            return Tensor::fromInt64s({int64_t(a.ints_size())}, {a.ints().begin(), a.ints().end()});
        if (k == "sparse_value" || k == "value_string" || k == "value_strings")
            throw Error("node " + q(node.name) + " (Constant) in " + q(file) + ": attribute " + q(k) +
                        " is not supported");
    }
    throw Error("node " + q(node.name) + " (Constant) in " + q(file) + " has no value");
}

// Reads the model out of mp, releasing each initializer's bytes once it is a Tensor, so a large model
// is held about once in memory, not twice.
Model modelFromProto(onnx::ModelProto &mp, const std::string &file)
{
    Model model;
    model.sourcePath = file;
    model.producerName = mp.producer_name();
    bool haveOpset = false;
    for (const auto &op : mp.opset_import()) {
        if (op.domain().empty() || op.domain() == "ai.onnx") {
            model.opsetVersion = op.version();
            haveOpset = true;
        } else {
            model.domainOpsets[op.domain()] = op.version();
        }
    }
    if (!haveOpset && mp.graph().node_size() > 0)
        throw Error(q(file) + " declares no opset for the default ONNX domain");
    if (haveOpset && (model.opsetVersion < kMinOpset || model.opsetVersion > kMaxOpset))
        throw Error(q(file) + " uses ONNX opset " + std::to_string(model.opsetVersion) +
                    ", outside the supported range " + std::to_string(kMinOpset) + "–" + std::to_string(kMaxOpset));
    for (const auto &kv : mp.metadata_props())
        model.metadata[kv.key()] = kv.value();

    model.graph = graphFromProto(*mp.mutable_graph(), model.opsetVersion, file);
    return model;
}

// A graph or subgraph: Constant nodes become initializers of the graph they are in; every node records the
// model's opset ("_opset").
Graph graphFromProto(onnx::GraphProto &gp, int64_t opset, const std::string &file)
{
    Graph g;
    g.name = gp.name();
    if (gp.sparse_initializer_size() > 0)
        throw Error(q(file) + " has sparse initializers, which are not supported");
    for (auto &init : *gp.mutable_initializer()) {
        g.initializers[init.name()] = tensorFromProto(init, "initializer " + q(init.name()), file);
        std::string().swap(*init.mutable_raw_data()); // frees the bytes (clear() would keep the capacity)
    }

    for (const auto &np : gp.node()) {
        Node node;
        node.name = np.name();
        node.opType = np.op_type();
        node.domain = np.domain() == "ai.onnx" ? std::string() : np.domain();
        node.inputs.assign(np.input().begin(), np.input().end());
        node.outputs.assign(np.output().begin(), np.output().end());
        const std::string label = node.name.empty() ? "<unnamed " + node.opType + ">" : node.name;
        if (node.outputs.empty())
            throw Error("node " + q(label) + " (" + node.opType + ") in " + q(file) + " has no outputs");
        if (node.opType == "Constant" && node.domain.empty()) {
            Node named = node;
            named.name = label;
            g.initializers[node.outputs[0]] = constantValue(named, np, file);
            continue;
        }
        for (const auto &a : np.attribute()) {
            Node named = node;
            named.name = label;
            node.attrs[a.name()] = attributeFromProto(a, named, opset, file);
        }
        node.attrs["_opset"] = Attribute::makeInt(opset);
        g.nodes.push_back(std::move(node));
    }
    for (const auto &in : gp.input())
        if (!g.isInitializer(in.name()))
            g.inputs.push_back(valueInfoFromProto(in));
    for (const auto &out : gp.output())
        g.outputs.push_back(valueInfoFromProto(out));
    for (const auto &v : gp.value_info())
        g.values[v.name()] = valueInfoFromProto(v);
    g.ensureUniqueNodeNames();
    return g;
}


// ---- export --------------------------------------------------------------------------------------------------

void attributeToProto(const std::string &key, const Attribute &a, onnx::AttributeProto *p)
{
    p->set_name(key);
    switch (a.kind) {
    case Attribute::Kind::Int:
        p->set_type(onnx::AttributeProto::INT);
        p->set_i(a.i);
        break;
    case Attribute::Kind::Float:
        p->set_type(onnx::AttributeProto::FLOAT);
        p->set_f(a.f);
        break;
    case Attribute::Kind::String:
        p->set_type(onnx::AttributeProto::STRING);
        p->set_s(a.s);
        break;
    case Attribute::Kind::Ints:
        p->set_type(onnx::AttributeProto::INTS);
        for (int64_t v : a.ints)
            p->add_ints(v);
        break;
    case Attribute::Kind::Floats:
        p->set_type(onnx::AttributeProto::FLOATS);
        for (float v : a.floats)
            p->add_floats(v);
        break;
    case Attribute::Kind::Strings:
        p->set_type(onnx::AttributeProto::STRINGS);
        for (const std::string &v : a.strings)
            p->add_strings(v);
        break;
    case Attribute::Kind::Tensor:
        p->set_type(onnx::AttributeProto::TENSOR);
        tensorToProto(a.t, "", p->mutable_t());
        break;
    case Attribute::Kind::Graph: // written by graphToProto, which knows the model the subgraph belongs to
        break;
    }
}

void valueInfoToProto(const ValueInfo &v, onnx::ValueInfoProto *p)
{
    p->set_name(v.name);
    auto *tt = p->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnxFromDtype(v.dtype));
    if (!v.shapeKnown)
        return;
    auto *shape = tt->mutable_shape();
    for (size_t d = 0; d < v.shape.size(); ++d) {
        auto *dim = shape->add_dim();
        if (v.shape[d] >= 0)
            dim->set_dim_value(v.shape[d]);
        else if (const std::string name = v.dimName(d); !name.empty())
            dim->set_dim_param(name);
        else
            dim->set_dim_param(d == 0 ? "N" : "d" + std::to_string(d));
    }
}

// A node without a form at the opset being written.
class NoOpsetForm : public Error {
public:
    using Error::Error;
};

// Rewrites nodes imported at another opset into their opset-17 form. New initializers and helper nodes get
// names derived from the node's name, so the result is deterministic.
class OpsetConverter {
public:
    // `outer`: the initializers of the enclosing graphs, innermost last, which a subgraph reads by name.
    OpsetConverter(const Model &model, int64_t target, std::map<std::string, Tensor> &initializers,
                   std::vector<const std::map<std::string, Tensor> *> outer = {})
        : m_model(model), m_target(target), m_inits(initializers), m_outer(std::move(outer))
    {
    }

    std::vector<Node> convert(const Node &in)
    {
        Node n = in;
        const int64_t from = n.attrInt("_opset", m_model.opsetVersion);
        std::vector<Node> out;
        // Blocked quantization and output_dtype came with opset 21 (the compression adds them at any opset).
        const bool opset21 = m_target >= 21;
        if (n.domain.empty() && (n.opType == "DequantizeLinear" || n.opType == "QuantizeLinear") &&
            n.attrInt("block_size", 0) > 0 && !opset21)
            return decomposeBlockedDequantize(n);
        if (n.domain.empty() && n.opType == "QuantizeLinear" && n.hasAttr("output_dtype") && !opset21) {
            // Opset 21's output_dtype: at 17 the zero point's type says it.
            if (!n.hasInput(2)) {
                const std::string zp = freshName(n.name + "_zero_point");
                m_inits[zp] = Tensor(n.attrInt("output_dtype", 2) == 3 ? DType::Int8 : DType::UInt8, {});
                setInput(n, 2, zp);
            }
            n.attrs.erase("output_dtype");
        }
        if (!n.domain.empty() || from == m_target) {
            out.push_back(std::move(n));
            return out;
        }
        const std::string &op = n.opType;
        if ((op == "Squeeze" || op == "Unsqueeze") && from < 13 && n.hasAttr("axes")) {
            setInput(n, 1, intsInit(n, "axes", n.attrInts("axes")));
            n.attrs.erase("axes");
        } else if (op == "Split" && from < 13 && n.hasAttr("split")) {
            setInput(n, 1, intsInit(n, "split", n.attrInts("split")));
            n.attrs.erase("split");
        } else if (op == "Split" && from >= 18 && n.hasAttr("num_outputs")) {
            const int64_t parts = n.attrInt("num_outputs", 1);
            const Shape shape = valueShape(n, n.inputs[0]);
            int64_t axis = n.attrInt("axis", 0);
            if (axis < 0)
                axis += int64_t(shape.size());
            const int64_t dim = axis >= 0 && axis < int64_t(shape.size()) ? shape[size_t(axis)] : -1;
            if (dim < 0)
                fail(n, "the size of the split axis is unknown");
            if (dim % parts != 0) {
                const int64_t chunk = (dim + parts - 1) / parts;
                std::vector<int64_t> sizes(size_t(parts), chunk);
                sizes.back() = dim - chunk * (parts - 1);
                setInput(n, 1, intsInit(n, "split", sizes));
            }
            n.attrs.erase("num_outputs");
        } else if (op == "Clip" && from < 11) {
            const float lo = n.attrFloat("min", -INFINITY), hi = n.attrFloat("max", INFINITY);
            n.attrs.erase("min");
            n.attrs.erase("max");
            if (std::isfinite(lo))
                setInput(n, 1, floatInit(n, "min", lo));
            if (std::isfinite(hi))
                setInput(n, 2, floatInit(n, "max", hi));
        } else if (op == "Pad" && from < 11) {
            setInput(n, 1, intsInit(n, "pads", n.attrInts("pads")));
            if (n.attrFloat("value", 0.f) != 0.f)
                setInput(n, 2, floatInit(n, "value", n.attrFloat("value", 0.f)));
            n.attrs.erase("pads");
            n.attrs.erase("value");
        } else if (op == "Pad" && from >= 18 && n.hasInput(3)) {
            fail(n, "the 'axes' input of Pad has no opset-17 form");
        } else if (op == "Slice" && from < 10) {
            const auto starts = n.attrInts("starts"), ends = n.attrInts("ends");
            setInput(n, 1, intsInit(n, "starts", starts));
            setInput(n, 2, intsInit(n, "ends", ends));
            if (n.hasAttr("axes"))
                setInput(n, 3, intsInit(n, "axes", n.attrInts("axes")));
            n.attrs.erase("starts");
            n.attrs.erase("ends");
            n.attrs.erase("axes");
        } else if (op == "ReduceSum" && from < 13 && n.hasAttr("axes")) {
            setInput(n, 1, intsInit(n, "axes", n.attrInts("axes")));
            n.attrs.erase("axes");
        } else if (op == "TopK" && from < 10) {
            setInput(n, 1, intsInit(n, "k", {n.attrInt("k", 1)}));
            n.attrs.erase("k");
        } else if (op.rfind("Reduce", 0) == 0 && op != "ReduceSum" && from >= 18) {
            // Opset 18 moved the axes of every Reduce but ReduceSum (13) from an attribute to an input.
            std::vector<int64_t> axes;
            if (n.hasInput(1)) {
                const Tensor *constantAxes = constant(n.inputs[1]);
                if (!constantAxes)
                    fail(n, "the axes input must be a constant to be written at opset 17");
                axes = constantAxes->toInt64Vector();
            }
            // No axes: reduce everything, or nothing with noop_with_empty_axes (an Identity at 17).
            if (!axes.empty()) {
                n.attrs["axes"] = Attribute::makeInts(axes);
            } else if (n.attrInt("noop_with_empty_axes", 0) != 0) {
                n.opType = "Identity";
                n.attrs.clear();
            }
            n.inputs.resize(1);
            n.attrs.erase("noop_with_empty_axes");
        } else if ((op == "Resize" && from == 10) || op == "Upsample") {
            // Resize-10 (and Upsample-9, the same operator) has (X, scales) and asymmetric coordinates.
            n.opType = "Resize";
            // Its nearest mode truncates when upsampling and rounds up when downsampling (onnxruntime's
            // "simple"), which opset 17 expresses as floor or ceil once the scales are known.
            n.inputs = {n.inputs[0], "", n.inputs.size() > 1 ? n.inputs[1] : ""};
            n.attrs["coordinate_transformation_mode"] = Attribute::makeString("asymmetric");
            if (n.attrString("mode", "nearest") == "nearest") {
                const Tensor *scales = constant(n.inputs[2]);
                if (!scales)
                    fail(n, "nearest Resize-10 needs constant scales to be written at opset 17");
                bool up = false, down = false;
                for (float s : scales->toFloatVector()) {
                    up = up || s > 1.f;
                    down = down || s < 1.f;
                }
                if (up && down)
                    fail(n, "nearest Resize-10 that upsamples one axis and downsamples another has no opset-17 form");
                n.attrs["nearest_mode"] = Attribute::makeString(down ? "ceil" : "floor");
            }
        } else if (op == "Resize" && from >= 18) {
            if (n.attrInt("antialias", 0) != 0 || n.hasAttr("axes") ||
                n.attrString("keep_aspect_ratio_policy", "stretch") != "stretch" ||
                n.attrString("coordinate_transformation_mode", "") == "half_pixel_symmetric")
                fail(n, "antialias, axes, keep_aspect_ratio_policy and half_pixel_symmetric of Resize have no "
                        "opset-17 form");
            n.attrs.erase("antialias");
            n.attrs.erase("keep_aspect_ratio_policy");
        } else if (op == "Dropout" && from < 12) {
            n.attrs.erase("ratio");
        } else if (op == "Cast" && from >= 19) {
            n.attrs.erase("saturate");
        } else if (op == "AveragePool" && from >= 19) {
            if (n.hasAttr("dilations")) {
                for (int64_t d : n.attrInts("dilations"))
                    if (d != 1)
                        fail(n, "dilated AveragePool has no opset-17 form");
                n.attrs.erase("dilations");
            }
        } else if ((op == "Softmax" || op == "LogSoftmax") && from < 13) {
            return convertOldSoftmax(n);
        } else if (op == "Gelu") {
            return decomposeGelu(n);
        }
        out.push_back(std::move(n));
        return out;
    }

private:
    [[noreturn]] void fail(const Node &n, const std::string &why) const
    {
        throw NoOpsetForm("cannot export node " + q(n.name) + " (" + n.opType + ") of opset " +
                    std::to_string(n.attrInt("_opset", m_model.opsetVersion)) + " at opset " +
                    std::to_string(m_target) + ": " + why);
    }

    // An initializer of this graph, else (unless this graph defines the name) of an enclosing one; null when
    // the value is not a constant.
    const Tensor *constant(const std::string &name) const
    {
        if (auto it = m_inits.find(name); it != m_inits.end())
            return &it->second;
        if (m_model.graph.producer(name))
            return nullptr;
        for (const ValueInfo &v : m_model.graph.inputs)
            if (v.name == name)
                return nullptr;
        for (auto g = m_outer.rbegin(); g != m_outer.rend(); ++g)
            if (auto it = (*g)->find(name); it != (*g)->end())
                return &it->second;
        return nullptr;
    }

    std::string freshName(const std::string &base)
    {
        std::string name = base;
        for (int k = 1; m_inits.count(name) || m_used.count(name) || m_model.graph.values.count(name); ++k)
            name = base + "_" + std::to_string(k);
        m_used.insert(name);
        return name;
    }

    std::string intsInit(const Node &n, const std::string &what, const std::vector<int64_t> &values)
    {
        const std::string name = freshName(n.name + "_" + what);
        m_inits[name] = Tensor::fromInt64s({int64_t(values.size())}, values);
        return name;
    }

    std::string floatInit(const Node &n, const std::string &what, float value)
    {
        const std::string name = freshName(n.name + "_" + what);
        m_inits[name] = Tensor::scalar(value);
        return name;
    }

    static void setInput(Node &n, size_t index, const std::string &name)
    {
        if (n.inputs.size() <= index)
            n.inputs.resize(index + 1);
        n.inputs[index] = name;
    }

    Shape valueShape(const Node &n, const std::string &value) const
    {
        auto it = m_model.graph.values.find(value);
        if (it != m_model.graph.values.end() && it->second.shapeKnown)
            return it->second.shape;
        for (const ValueInfo &v : m_model.graph.inputs)
            if (v.name == value && v.shapeKnown)
                return v.shape;
        auto init = m_inits.find(value);
        if (init != m_inits.end())
            return init->second.shape();
        fail(n, "the shape of its input " + q(value) + " is unknown");
    }

    // Before opset 13, Softmax coerces its input to 2-D at `axis` and normalises each row.
    std::vector<Node> convertOldSoftmax(Node n)
    {
        const int64_t rank = int64_t(valueShape(n, n.inputs[0]).size());
        int64_t axis = n.attrInt("axis", 1);
        if (axis < 0)
            axis += rank;
        if (axis == rank - 1) {
            n.attrs["axis"] = Attribute::makeInt(-1);
            return {n};
        }
        Node flatten, shape, reshape;
        const std::string x = n.inputs[0], y = n.outputs[0];
        flatten.name = freshName(n.name + "_flatten");
        flatten.opType = "Flatten";
        flatten.inputs = {x};
        flatten.outputs = {freshName(n.name + "_2d")};
        flatten.attrs["axis"] = Attribute::makeInt(axis);
        n.inputs = {flatten.outputs[0]};
        n.outputs = {freshName(n.name + "_2d_out")};
        n.attrs["axis"] = Attribute::makeInt(1);
        shape.name = freshName(n.name + "_shape");
        shape.opType = "Shape";
        shape.inputs = {x};
        shape.outputs = {freshName(n.name + "_input_shape")};
        reshape.name = freshName(n.name + "_reshape");
        reshape.opType = "Reshape";
        reshape.inputs = {n.outputs[0], shape.outputs[0]};
        reshape.outputs = {y};
        return {flatten, n, shape, reshape};
    }

    // Opset 21's blocked DequantizeLinear (group-wise weights) as opset-17 arithmetic on initializers:
    // x [.., D, ..] viewed as [.., G, B, ..], Cast to float, minus the zero point and times the scale, each
    // stored as [.., G, 1, ..] (the same values, so the file stays as small), then reshaped back. The result
    // equals DequantizeLinear's float(q - zp) * scale exactly. A last partial block (B not dividing D) gets
    // its scale and zero point expanded to the full shape.
    std::vector<Node> decomposeBlockedDequantize(const Node &n)
    {
        if (n.opType != "DequantizeLinear")
            fail(n, "a blocked QuantizeLinear has no opset-17 form");
        const std::string x = n.inputs[0], y = n.outputs[0];
        auto scaleIt = m_inits.find(n.inputs.size() > 1 ? n.inputs[1] : std::string());
        if (scaleIt == m_inits.end())
            fail(n, "its scale must be an initializer");
        const Tensor scale = scaleIt->second;
        Tensor zp;
        if (n.hasInput(2)) {
            auto zpIt = m_inits.find(n.inputs[2]);
            if (zpIt == m_inits.end())
                fail(n, "its zero point must be an initializer");
            zp = zpIt->second;
        }
        const Shape shape = valueShape(n, x);
        const int64_t rank = int64_t(shape.size());
        int64_t axis = n.attrInt("axis", 1);
        axis = axis < 0 ? axis + rank : axis;
        const int64_t block = n.attrInt("block_size", 0);
        if (axis < 0 || axis >= rank || scale.rank() != rank)
            fail(n, "its axis or scale shape does not match the input " + shapeToString(shape));
        for (int64_t d : shape)
            if (d < 0)
                fail(n, "its input shape " + shapeToString(shape) + " is not static");
        const int64_t D = shape[size_t(axis)], G = scale.dim(int(axis));
        std::vector<float> zpValues(size_t(scale.numel()), 0.f);
        if (!zp.isNull())
            zpValues = zp.toFloatVector();
        std::vector<Node> out;
        auto add = [&](const std::string &op, std::vector<std::string> inputs, const std::string &output = {}) {
            Node m;
            m.name = freshName(n.name + "_" + op);
            m.opType = op;
            m.inputs = std::move(inputs);
            m.outputs = {output.empty() ? freshName(m.name + "_out") : output};
            out.push_back(m);
            return m.outputs[0];
        };
        std::string value = x;
        Shape paramShape;
        std::vector<float> scaleValues = scale.toFloatVector();
        if (D % block == 0 && G * block == D) {
            Shape blocked;
            for (int64_t d = 0; d < rank; ++d) {
                if (d == axis) {
                    blocked.push_back(G);
                    blocked.push_back(block);
                    paramShape.push_back(G);
                    paramShape.push_back(1);
                } else {
                    blocked.push_back(shape[size_t(d)]);
                    paramShape.push_back(shape[size_t(d)]);
                }
            }
            value = add("Reshape", {x, intsInit(n, "blocked_shape", blocked)});
        } else {
            // Partial last block: one scale and zero point per element.
            paramShape = shape;
            int64_t outer = 1, inner = 1;
            for (int64_t d = 0; d < axis; ++d)
                outer *= shape[size_t(d)];
            for (int64_t d = axis + 1; d < rank; ++d)
                inner *= shape[size_t(d)];
            std::vector<float> s(size_t(shapeNumel(shape))), z(s.size());
            for (int64_t o = 0; o < outer; ++o)
                for (int64_t a = 0; a < D; ++a)
                    for (int64_t j = 0; j < inner; ++j) {
                        const size_t from = size_t((o * G + a / block) * inner + j), to = size_t((o * D + a) * inner + j);
                        s[to] = scaleValues[from];
                        z[to] = zpValues[from];
                    }
            scaleValues = std::move(s);
            zpValues = std::move(z);
        }
        value = add("Cast", {value});
        out.back().attrs["to"] = Attribute::makeInt(onnx::TensorProto::FLOAT);
        const std::string zpName = freshName(n.name + "_zero_point_float");
        m_inits[zpName] = Tensor::fromFloats(paramShape, zpValues);
        const std::string scaleName = freshName(n.name + "_scale_blocked");
        m_inits[scaleName] = Tensor::fromFloats(paramShape, scaleValues);
        value = add("Sub", {value, zpName});
        if (paramShape == shape) {
            add("Mul", {value, scaleName}, y);
        } else {
            value = add("Mul", {value, scaleName});
            add("Reshape", {value, intsInit(n, "shape", shape)}, y);
        }
        return out;
    }

    // Gelu is opset 20: write it with Erf / Tanh, which opset 17 has.
    std::vector<Node> decomposeGelu(const Node &n)
    {
        const std::string x = n.inputs[0], y = n.outputs[0];
        std::vector<Node> out;
        auto add = [&](const std::string &op, std::vector<std::string> inputs) {
            Node m;
            m.name = freshName(n.name + "_" + op);
            m.opType = op;
            m.inputs = std::move(inputs);
            m.outputs = {freshName(m.name + "_out")};
            out.push_back(m);
            return m.outputs[0];
        };
        const std::string half = floatInit(n, "half", 0.5f), one = floatInit(n, "one", 1.f);
        std::string inner;
        if (n.attrString("approximate", "none") == "tanh") {
            const std::string cube = add("Mul", {add("Mul", {x, x}), x});
            const std::string poly = add("Add", {x, add("Mul", {cube, floatInit(n, "c", 0.044715f)})});
            inner = add("Tanh", {add("Mul", {poly, floatInit(n, "k", 0.7978845608028654f)})});
        } else {
            inner = add("Erf", {add("Mul", {x, floatInit(n, "rsqrt2", 0.7071067811865476f)})});
        }
        const std::string halfX = add("Mul", {x, half});
        add("Mul", {halfX, add("Add", {inner, one})});
        out.back().outputs[0] = y;
        return out;
    }

    const Model &m_model;
    int64_t m_target; // the opset written
    std::map<std::string, Tensor> &m_inits;
    std::vector<const std::map<std::string, Tensor> *> m_outer;
    std::set<std::string> m_used;
};

// A graph (the model's, or a subgraph of one of its nodes) in its form at opset `target`; `domains` collects
// the operator domains other than the default one; `outer` holds the initializers of the enclosing graphs.
void graphToProto(const Model &model, int64_t target, const Graph &g, onnx::GraphProto *gp,
                  std::set<std::string> &domains, std::vector<const std::map<std::string, Tensor> *> outer = {})
{
    gp->set_name(g.name.empty() ? "graph" : g.name);
    Model scope; // the converter reads value shapes and the opset from the graph being converted
    scope.opsetVersion = model.opsetVersion;
    scope.sourcePath = model.sourcePath;
    if (&g != &model.graph)
        scope.graph = g;
    std::map<std::string, Tensor> inits = g.initializers;
    OpsetConverter converter(&g == &model.graph ? model : scope, target, inits, outer);
    outer.push_back(&inits); // for the subgraphs of this graph's nodes
    std::vector<Node> nodes;
    for (const Node &n : g.nodes)
        for (Node &m : converter.convert(n))
            nodes.push_back(std::move(m));
    for (const Node &n : nodes)
        if (!n.domain.empty() && n.domain != "ai.onnx")
            domains.insert(n.domain);
    for (const Node &n : nodes) {
        auto *np = gp->add_node();
        np->set_name(n.name);
        np->set_op_type(n.opType);
        if (!n.domain.empty())
            np->set_domain(n.domain);
        for (const std::string &in : n.inputs)
            np->add_input(in);
        for (const std::string &out : n.outputs)
            np->add_output(out);
        for (const auto &[key, a] : n.attrs) {
            if (key.empty() || key[0] == '_')
                continue;
            auto *ap = np->add_attribute();
            attributeToProto(key, a, ap);
            if (a.kind == Attribute::Kind::Graph) {
                ap->set_type(onnx::AttributeProto::GRAPH);
                graphToProto(model, target, *a.graph, ap->mutable_g(), domains, outer);
            }
        }
    }
    for (const ValueInfo &v : g.inputs)
        valueInfoToProto(v, gp->add_input());
    for (const auto &[name, t] : inits)
        tensorToProto(t, name, gp->add_initializer());
    for (const ValueInfo &v : g.outputs)
        valueInfoToProto(v, gp->add_output());
}

// The model at opset `target` (throws NoOpsetForm for a node that has no form there).
onnx::ModelProto modelToProto(const Model &model, int64_t target)
{
    onnx::ModelProto mp;
    mp.set_ir_version(irVersionFor(target));
    mp.set_producer_name("compression-workbench");
    mp.set_producer_version(toolVersion());
    auto *opset = mp.add_opset_import();
    opset->set_domain("");
    opset->set_version(target);
    for (const auto &[k, v] : model.metadata) {
        auto *kv = mp.add_metadata_props();
        kv->set_key(k);
        kv->set_value(v);
    }
    std::set<std::string> domains;
    graphToProto(model, target, model.graph, mp.mutable_graph(), domains);
    // Operators of other domains (com.microsoft QGemm in quantized graphs) need their domain imported.
    for (const std::string &domain : domains) {
        auto *custom = mp.add_opset_import();
        custom->set_domain(domain);
        custom->set_version(1);
    }
    return mp;
}

// Opset 17 where every node has a form there, else the model's own opset.
onnx::ModelProto modelToProto(const Model &model)
{
    try {
        return modelToProto(model, kExportOpset);
    } catch (const NoOpsetForm &) {
        if (model.opsetVersion <= kExportOpset)
            throw;
    }
    return modelToProto(model, model.opsetVersion);
}

void checkParsed(const onnx::ModelProto &mp, const std::string &file)
{
    if (!mp.has_graph())
        throw Error(q(file) + " is not a valid ONNX model (it has no graph)");
}

onnx::ModelProto parseProto(const std::string &bytes, const std::string &file)
{
    onnx::ModelProto mp;
    if (bytes.empty())
        throw Error(q(file) + " is empty");
    if (!mp.ParseFromString(bytes))
        throw Error(q(file) + " is not a valid ONNX model (the file is truncated or corrupt)");
    checkParsed(mp, file);
    return mp;
}

// Parses straight from the file: no copy of its bytes is held beside the parsed message.
onnx::ModelProto parseProtoFile(const std::string &path)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw Error("cannot open " + q(path) + ": " + std::strerror(errno));
    struct stat st {};
    const bool empty = ::fstat(fd, &st) == 0 && st.st_size == 0;
    onnx::ModelProto mp;
    const bool parsed = !empty && mp.ParseFromFileDescriptor(fd);
    ::close(fd);
    if (empty)
        throw Error(q(path) + " is empty");
    if (!parsed)
        throw Error(q(path) + " is not a valid ONNX model (the file is truncated or corrupt)");
    checkParsed(mp, path);
    return mp;
}

class OnnxFormat : public ModelFormat {
public:
    int capabilities() const override { return Read | Write; }
    std::string name() const override { return "ONNX"; }
    std::string nameFilter() const override { return "ONNX models (*.onnx)"; }
    std::string extension() const override { return "onnx"; }
    bool supportsFile(const std::string &path) const override
    {
        const std::string ext = fileExtension(path);
        if (ext == "onnx")
            return true;
        // Content sniffing: a ModelProto starts with field 1 (ir_version, varint) = tag byte 0x08.
        std::ifstream in(path, std::ios::binary);
        char first = 0;
        return in.get(first) && first == 0x08;
    }
    Model read(const std::string &path) const override
    {
        onnx::ModelProto mp = parseProtoFile(path);
        return modelFromProto(mp, path);
    }
    void write(const Model &model, const std::string &path) const override
    {
        const onnx::ModelProto mp = modelToProto(model);
        AtomicFile out(path);
        errno = 0;
        if (!mp.SerializeToFileDescriptor(out.fd()))
            out.fail("write error", errno);
        out.commit();
    }
};

} // namespace

// Used by model_io.cpp's registry.
std::unique_ptr<ModelFormat> createOnnxFormat()
{
    return std::make_unique<OnnxFormat>();
}

Model parseOnnxBytes(const std::string &bytes, const std::string &sourceName)
{
    onnx::ModelProto mp = parseProto(bytes, sourceName);
    return modelFromProto(mp, sourceName);
}

} // namespace cw
