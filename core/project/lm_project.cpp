#include "core/project/lm_project.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/base/error.h"
#include "core/base/json_number.h"
#include "core/io/bundle.h"
#include "core/quant/ggml_blocks.h"
#include "resources/demo_data.h"

namespace cw {

namespace {

using ojson = nlohmann::ordered_json;
using nlohmann::json;
namespace fs = std::filesystem;

std::string q(const std::string &s)
{
    return "'" + s + "'";
}

std::string blobKey(size_t variant, const std::string &tensor)
{
    return "v" + std::to_string(variant + 1) + "/" + tensor;
}

ojson speedJson(const lm::SpeedResult &s)
{
    return {{"prompt_tokens", s.promptTokens},
            {"generated_tokens", s.generatedTokens},
            {"prompt_tokens_per_second", s.promptTokensPerSecond},
            {"generation_tokens_per_second", s.generationTokensPerSecond}};
}

lm::SpeedResult speedFrom(const json &s)
{
    lm::SpeedResult r;
    r.promptTokens = integerFromJson(s, "prompt_tokens");
    r.generatedTokens = integerFromJson(s, "generated_tokens");
    r.promptTokensPerSecond = s.at("prompt_tokens_per_second").get<double>();
    r.generationTokensPerSecond = s.at("generation_tokens_per_second").get<double>();
    return r;
}

ojson variantJson(const LmProjectVariant &v, size_t index)
{
    const lm::LmCompressResult &r = *v.result;
    ojson tensors = ojson::array();
    for (const lm::LmTensorResult &t : r.tensors)
        tensors.push_back({{"name", t.name},       {"role", t.role},       {"block", t.block},
                           {"settings", t.settings}, {"type", t.type},     {"changed", t.changed},
                           {"ggml_type", t.ggmlType}, {"params", t.params}, {"zeros", t.zeros},
                           {"bytes", t.bytes},      {"sqnr_db", jsonNumber(t.sqnrDb)}});
    ojson encoded = ojson::array();
    for (const auto &[name, e] : r.encoded) {
        encoded.push_back({{"tensor", name}, {"type", e.type}, {"blob", blobKey(index, name)}});
        if (!e.shape.empty()) // hidden channels removed
            encoded.back()["shape"] = e.shape;
    }
    ojson finetune = nullptr;
    if (r.finetune) {
        ojson loss = ojson::array();
        for (double l : r.finetune->loss)
            loss.push_back(jsonNumber(l));
        finetune = {{"steps", r.finetune->steps},     {"windows", r.finetune->windows},
                    {"window_tokens", r.finetune->windowTokens}, {"distilled", r.finetune->distilled},
                    {"seconds", r.finetune->seconds}, {"loss", loss}};
    }
    const lm::PerplexityResult &p = v.perplexity;
    ojson chunks = ojson::array();
    for (double c : p.chunkPerplexity)
        chunks.push_back(jsonNumber(c));
    return {{"name", v.name},
            {"recipe", ojson::parse(recipeToJson(v.recipe))},
            {"evaluation", v.evaluation},
            {"perplexity",
             {{"perplexity", jsonNumber(p.perplexity)}, {"nll", jsonNumber(p.nll)}, {"scored", p.scored}, {"chunks", p.chunks},
              {"chunk_perplexity", chunks}, {"seconds", p.seconds}, {"tokens_per_second", p.tokensPerSecond}}},
            {"base_perplexity", jsonNumber(v.basePerplexity)},
            {"speed", speedJson(v.speed)},
            {"base_speed", speedJson(v.baseSpeed)},
            {"bytes", r.bytes},
            {"params", r.params},
            {"base_params", r.baseParams},
            {"bits_per_weight", r.bitsPerWeight()},
            {"calibration_tokens", r.calibrationTokens},
            {"finetune", finetune},
            {"tensors", tensors},
            {"encoded", encoded},
            {"provenance", ojson::parse(provenanceToJson(v.provenance))}};
}

ojson documentJson(const LmProject &p)
{
    ojson variants = ojson::array();
    for (size_t i = 0; i < p.variants.size(); ++i)
        variants.push_back(variantJson(p.variants[i], i));
    ojson sensitivity = nullptr;
    if (p.sensitivity)
        sensitivity = {{"text", p.sensitivityText}, {"sweep", ojson::parse(lm::sensitivityToJson(*p.sensitivity))}};
    return {{"base",
             {{"spec", p.baseSpec},
              {"file", {{"path", p.baseFile.path}, {"bytes", p.baseFile.bytes}, {"sha256", p.baseFile.sha256}}}}},
            {"sensitivity", sensitivity},
            {"variants", variants}};
}

LmProjectVariant variantFrom(const json &j, std::map<std::string, std::string> &blobs)
{
    LmProjectVariant v;
    v.name = j.at("name").get<std::string>();
    try {
        v.recipe = recipeFromJson(j.at("recipe").dump());
    } catch (const Error &e) {
        throw Error("the recipe: " + std::string(e.what()));
    }
    v.evaluation = j.at("evaluation").get<std::string>();
    const json &p = j.at("perplexity");
    v.perplexity.perplexity = numberFromJson(p, "perplexity");
    v.perplexity.nll = numberFromJson(p, "nll");
    v.perplexity.scored = integerFromJson(p, "scored");
    v.perplexity.chunks = integerFromJson(p, "chunks");
    for (const json &c : p.at("chunk_perplexity"))
        v.perplexity.chunkPerplexity.push_back(numberFromJson(c));
    v.perplexity.seconds = p.at("seconds").get<double>();
    v.perplexity.tokensPerSecond = p.at("tokens_per_second").get<double>();
    v.basePerplexity = numberFromJson(j, "base_perplexity");
    v.speed = speedFrom(j.at("speed"));
    v.baseSpeed = speedFrom(j.at("base_speed"));
    auto r = std::make_shared<lm::LmCompressResult>();
    r->bytes = integerFromJson<uint64_t>(j, "bytes");
    r->params = integerFromJson(j, "params");
    r->baseParams = j.value("base_params", r->params); // projects before channel pruning: the same
    r->calibrationTokens = integerFromJson(j, "calibration_tokens");
    for (const json &t : j.at("tensors")) {
        lm::LmTensorResult tr;
        tr.name = t.at("name").get<std::string>();
        tr.role = t.at("role").get<std::string>();
        tr.block = integerFromJson<int>(t, "block");
        tr.settings = t.at("settings").get<std::string>();
        tr.type = t.at("type").get<std::string>();
        tr.changed = t.at("changed").get<bool>();
        tr.ggmlType = integerFromJson<uint32_t>(t, "ggml_type");
        tr.params = integerFromJson(t, "params");
        tr.zeros = integerFromJson(t, "zeros");
        tr.bytes = integerFromJson<uint64_t>(t, "bytes");
        tr.sqnrDb = numberFromJson(t, "sqnr_db");
        r->tensors.push_back(std::move(tr));
    }
    for (const json &e : j.at("encoded")) {
        const std::string tensor = e.at("tensor").get<std::string>(), blob = e.at("blob").get<std::string>();
        lm::EncodedTensor et;
        et.type = integerFromJson<uint32_t>(e, "type");
        if (!ggml::typeTraits(et.type))
            throw Error("tensor " + q(tensor) + " has an unknown ggml type " + std::to_string(et.type));
        if (e.contains("shape")) {
            et.shape = integersFromJson(e.at("shape"));
            if (et.shape.empty() || et.shape.size() > 2 ||
                std::any_of(et.shape.begin(), et.shape.end(), [](int64_t d) { return d < 1; }))
                throw Error("tensor " + q(tensor) + " has the shape " + shapeToString(et.shape) + ", not a matrix's or a vector's");
        }
        const auto listed = std::find_if(r->tensors.begin(), r->tensors.end(),
                                         [&](const lm::LmTensorResult &t) { return t.name == tensor; });
        if (listed == r->tensors.end())
            throw Error("the encoded tensor " + q(tensor) + " is not among the variant's tensors");
        const auto it = blobs.find(blob);
        if (it == blobs.end())
            throw Error("the bytes of tensor " + q(tensor) + " (blob " + q(blob) + ") are missing");
        if (it->second.size() != listed->bytes)
            throw Error("tensor " + q(tensor) + " has " + std::to_string(it->second.size()) + " bytes, not the " +
                        std::to_string(listed->bytes) + " its results record");
        et.bytes = std::move(it->second);
        blobs.erase(it);
        r->encoded[tensor] = std::move(et);
    }
    if (!j.at("finetune").is_null()) {
        const json &f = j.at("finetune");
        lm::LmFinetuneResult fr;
        fr.steps = integerFromJson(f, "steps");
        fr.windows = integerFromJson(f, "windows");
        fr.windowTokens = integerFromJson(f, "window_tokens");
        fr.distilled = f.at("distilled").get<bool>();
        fr.seconds = f.at("seconds").get<double>();
        for (const json &l : f.at("loss"))
            fr.loss.push_back(numberFromJson(l));
        r->finetune = std::move(fr);
    }
    v.result = std::move(r);
    v.provenance = provenanceFromJson(j.at("provenance").dump());
    return v;
}

LmProject projectFrom(Bundle bundle, const std::string &source)
{
    try {
        const json doc = json::parse(bundle.document);
        LmProject p;
        const json &base = doc.at("base");
        p.baseSpec = base.at("spec").get<std::string>();
        const json &file = base.at("file");
        p.baseFile = {file.at("path").get<std::string>(), integerFromJson(file, "bytes"),
                      file.at("sha256").get<std::string>()};
        if (!doc.at("sensitivity").is_null()) {
            p.sensitivityText = doc["sensitivity"].at("text").get<std::string>();
            p.sensitivity = lm::sensitivityFromJson(doc["sensitivity"].at("sweep").dump(), source);
        }
        for (const json &v : doc.at("variants")) {
            const std::string name = v.value("name", "?");
            try {
                p.variants.push_back(variantFrom(v, bundle.blobs));
            } catch (const Error &e) {
                throw Error("variant " + q(name) + ": " + e.what());
            } catch (const json::exception &e) {
                throw Error("variant " + q(name) + ": " + e.what());
            }
        }
        return p;
    } catch (const json::exception &e) {
        throw Error(q(source) + ": not a valid language-model project (" + e.what() + ")");
    } catch (const Error &e) {
        const std::string msg = e.what();
        throw Error(msg.rfind(q(source), 0) == 0 ? msg : q(source) + ": " + msg);
    }
}

} // namespace

LmProject newLmProject(const std::string &baseSpec)
{
    LmProject p;
    std::error_code ec;
    p.baseSpec = !demoModelBytes(baseSpec).empty() ? baseSpec : fs::absolute(baseSpec, ec).lexically_normal().string();
    p.baseFile = modelDigest(p.baseSpec);
    return p;
}

bool isLmProjectFile(const std::string &path)
{
    // HDF5 keeps the root group's attributes in its object header, written first; the document and the blobs come
    // after. 64 KiB hold the header of any bundle the writer makes.
    std::ifstream in(path, std::ios::binary);
    std::string head(65536, '\0');
    in.read(head.data(), std::streamsize(head.size()));
    head.resize(size_t(std::max<std::streamsize>(0, in.gcount())));
    return head.rfind("\x89HDF", 0) == 0 && head.find(kLmProjectFormat) != std::string::npos;
}

void requireLmBase(const LmProject &project, const std::string &spec)
{
    const FileDigest d = modelDigest(spec);
    if (d.sha256 != project.baseFile.sha256)
        throw Error("'" + spec + "' is not the project's base model (" + project.baseSpec + ", SHA-256 " +
                    project.baseFile.sha256.substr(0, 12) + "…)");
}

void addLmVariant(LmProject &project, LmProjectVariant variant)
{
    const std::string stem = variant.name.empty() ? "variant" : variant.name;
    std::string name = stem;
    for (int n = 2;; ++n) {
        bool taken = false;
        for (const LmProjectVariant &v : project.variants)
            taken |= v.name == name;
        if (!taken)
            break;
        name = stem + " (" + std::to_string(n) + ")";
    }
    variant.name = name;
    project.variants.push_back(std::move(variant));
}

std::string lmProjectDocument(const LmProject &project)
{
    return documentJson(project).dump(2);
}

std::vector<std::pair<std::string, const std::string *>> lmProjectBlobs(const LmProject &project)
{
    std::vector<std::pair<std::string, const std::string *>> blobs;
    for (size_t i = 0; i < project.variants.size(); ++i)
        for (const auto &[name, e] : project.variants[i].result->encoded)
            blobs.emplace_back(blobKey(i, name), &e.bytes);
    return blobs;
}

LmProject lmProjectFromParts(const std::string &document, std::map<std::string, std::string> blobs,
                             const std::string &source)
{
    Bundle b;
    b.document = document;
    b.blobs = std::move(blobs);
    return projectFrom(std::move(b), source);
}

void saveLmProject(const LmProject &project, const std::string &path)
{
    BundleContents contents;
    contents.format = kLmProjectFormat;
    contents.version = kLmProjectFormatVersion;
    contents.document = lmProjectDocument(project);
    contents.blobs = lmProjectBlobs(project);
    writeBundle(contents, path);
}

LmProject loadLmProject(const std::string &path)
{
    return projectFrom(readBundle(path, kLmProjectFormat, kLmProjectFormatVersion), path);
}

LmProject loadLmProjectBytes(const std::string &bytes, const std::string &sourceName)
{
    return projectFrom(readBundleBytes(bytes, sourceName, kLmProjectFormat, kLmProjectFormatVersion), sourceName);
}

std::string locateLmBase(const LmProject &project, const std::string &projectPath)
{
    if (!demoModelBytes(project.baseSpec).empty()) {
        requireLmBase(project, project.baseSpec);
        return project.baseSpec;
    }
    std::error_code ec;
    const fs::path beside = fs::absolute(projectPath, ec).parent_path() / fs::path(project.baseSpec).filename();
    std::string changed;
    for (const fs::path &c : {fs::path(project.baseSpec), beside}) {
        if (!fs::exists(c, ec))
            continue;
        if (modelDigest(c.string()).sha256 == project.baseFile.sha256)
            return c.string();
        if (changed.empty())
            changed = c.string();
    }
    throw Error(changed.empty() ? "the project's base model " + q(project.baseSpec) + " is gone (looked beside the "
                                      "project too)"
                                : q(changed) + " is not the project's base model any more (its SHA-256 changed)");
}

void updateLmProject(const std::string &path, const std::function<LmProject()> &create,
                     const std::function<void(LmProject &)> &edit)
{
    const ProjectLock lock(path);
    std::error_code ec;
    const bool exists = fs::exists(path, ec);
    if (ec)
        throw Error(q(path) + ": " + ec.message());
    LmProject project = exists ? loadLmProject(path) : create();
    edit(project);
    saveLmProject(project, path);
}

std::string lmProjectToJson(const LmProject &project, int indent)
{
    ojson doc = documentJson(project);
    for (ojson &v : doc["variants"])
        v.erase("encoded");
    return doc.dump(indent);
}

} // namespace cw
