#include "core/project/project.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/base/json_number.h"
#include "core/base/sha256.h"
#include "core/base/version.h"
#include "core/io/bundle.h"
#include "core/io/dataset.h"
#include "resources/demo_data.h"

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

namespace cw {

namespace {

constexpr const char *kBaseKey = "base";

std::string q(const std::string &s)
{
    return "'" + s + "'";
}

std::string cpuModel()
{
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0) {
            const auto colon = line.find(':');
            if (colon != std::string::npos) {
                const auto start = line.find_first_not_of(' ', colon + 1);
                return start == std::string::npos ? std::string() : line.substr(start);
            }
        }
    return "unknown";
}

std::string variantKey(size_t index)
{
    std::string key = std::to_string(index + 1);
    key.insert(key.begin(), 'v'); // not "v" + …: GCC 12 warns about that concatenation (-Wrestrict, a false alarm)
    return key;
}

ojson optionalJson(const std::optional<double> &v)
{
    return v ? ojson(*v) : ojson(nullptr);
}

ojson digestJson(const FileDigest &d)
{
    return {{"path", d.path}, {"bytes", d.bytes}, {"sha256", d.sha256}};
}

FileDigest digestFrom(const nlohmann::json &j)
{
    return {j.at("path").get<std::string>(), integerFromJson(j, "bytes", int64_t(0)), j.at("sha256").get<std::string>()};
}

ojson provenanceJson(const Provenance &p)
{
    return {{"tool", p.tool},       {"date", p.date},   {"machine", p.machine},     {"cores", p.cores},
            {"command", p.command}, {"directory", p.directory}, {"data", p.evalData}, {"train_data", p.trainData}};
}

Provenance provenanceFrom(const nlohmann::json &j)
{
    Provenance p;
    p.tool = j.value("tool", "");
    p.date = j.value("date", "");
    p.machine = j.value("machine", "");
    p.cores = int(std::clamp<int64_t>(integerFromJson(j, "cores", int64_t(0)), 0, 1 << 20));
    p.command = j.value("command", "");
    p.directory = j.value("directory", "");
    p.evalData = j.value("data", "");
    p.trainData = j.value("train_data", "");
    return p;
}

ojson constraintsJson(const Constraints &c)
{
    return {{"max_bytes", c.maxBytes ? ojson(*c.maxBytes) : ojson(nullptr)},
            {"max_latency_ms", optionalJson(c.maxLatencyMs)},
            {"max_drop_points", optionalJson(c.maxDropPoints)}};
}

Constraints constraintsFrom(const nlohmann::json &j)
{
    Constraints c;
    if (j.contains("max_bytes") && !j["max_bytes"].is_null())
        c.maxBytes = integerFromJson(j, "max_bytes", int64_t(0));
    if (j.contains("max_latency_ms") && !j["max_latency_ms"].is_null())
        c.maxLatencyMs = j["max_latency_ms"].get<double>();
    if (j.contains("max_drop_points") && !j["max_drop_points"].is_null())
        c.maxDropPoints = j["max_drop_points"].get<double>();
    return c;
}

// The document of the file (everything but the models).
std::string documentOf(const Project &p, const std::string &projectPath)
{
    ojson base{{"spec", p.baseSpec}, {"file", digestJson(p.baseFile)}, {"embedded", p.embedBase}};
    if (!isDemoModel(p.baseSpec)) {
        std::error_code ec;
        const fs::path dir = fs::absolute(projectPath, ec).parent_path();
        base["relative_path"] = fs::path(p.baseSpec).lexically_relative(dir).generic_string();
    }
    base["metrics"] = p.baseMetrics ? ojson::parse(metricsToJson(*p.baseMetrics)) : ojson(nullptr);
    if (!p.embedBase || isDemoModel(p.baseSpec)) // an embedded base carries its own analyses
        base["analysis"] = p.base.analysis;
    ojson datasets = ojson::array();
    for (const DatasetRecord &d : p.datasets) {
        ojson files = ojson::array();
        for (const FileDigest &f : d.files)
            files.push_back(digestJson(f));
        datasets.push_back({{"role", d.role}, {"spec", d.spec}, {"files", files}});
    }
    ojson variants = ojson::array();
    for (size_t i = 0; i < p.variants.size(); ++i) {
        const ProjectVariant &v = p.variants[i];
        variants.push_back({{"name", v.variant.name},
                            {"model", variantKey(i)},
                            {"origin", v.origin},
                            {"measured", v.variant.measured},
                            {"provenance", provenanceJson(v.provenance)}});
    }
    ojson doc{{"base", base}, {"datasets", datasets}, {"constraints", constraintsJson(p.constraints)},
              {"variants", variants}};
    return doc.dump(2);
}

// The base model of a reopened project whose base is not embedded: from its path, else from its relative path or
// file name beside the project; it must be the same file.
Model locateBase(Project &p, const nlohmann::json &base, const std::string &projectPath, const LoadOptions &options)
{
    std::error_code ec;
    const fs::path dir = fs::absolute(projectPath, ec).parent_path();
    std::vector<fs::path> candidates{p.baseSpec};
    if (base.contains("relative_path"))
        candidates.push_back(dir / base["relative_path"].get<std::string>());
    candidates.push_back(dir / fs::path(p.baseSpec).filename());
    std::string changed; // a file found with other contents
    for (const fs::path &c : candidates) {
        if (!fs::is_regular_file(c, ec))
            continue;
        const FileDigest d = digestFile(c.string());
        if (d.sha256 != p.baseFile.sha256) {
            if (changed.empty())
                changed = c.string() + " (its SHA-256 is " + d.sha256.substr(0, 12) + "…, the project's " +
                          p.baseFile.sha256.substr(0, 12) + "…)";
            continue;
        }
        // Found, perhaps moved with the project: the project now refers to it where it is.
        p.baseSpec = fs::absolute(c, ec).lexically_normal().string();
        p.baseFile.path = p.baseSpec;
        return loadModel(p.baseSpec, options);
    }
    if (!changed.empty())
        throw Error("the base model " + q(p.baseSpec) + " has changed since the project was saved: " + changed +
                    "; restore the original file or save projects with the base embedded");
    throw Error("the base model " + q(p.baseSpec) + " is not there any more (nor beside the project), and the " +
                "project does not embed it; put the file back or save projects with the base embedded");
}

// Deeper nesting than any project document has: refused before parsing, so no recursion over it can exhaust the
// stack (a fuzzed file).
void checkJsonDepth(const std::string &text, int limit)
{
    int depth = 0;
    bool inString = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (inString) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                inString = false;
        } else if (c == '"') {
            inString = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit)
                throw Error("the project document nests deeper than " + std::to_string(limit) + " levels");
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
}

Project projectFrom(Bundle bundle, const std::string &path, const LoadOptions &options, bool fromBytes)
{
    Project p;
    try {
        checkJsonDepth(bundle.document, 32);
        const nlohmann::json doc = nlohmann::json::parse(bundle.document);
        const nlohmann::json &base = doc.at("base");
        p.baseSpec = base.at("spec").get<std::string>();
        p.baseFile = digestFrom(base.at("file"));
        p.embedBase = base.value("embedded", false);
        if (base.contains("metrics") && !base["metrics"].is_null())
            p.baseMetrics = metricsFromJson(base["metrics"].dump());
        for (const auto &d : doc.at("datasets")) {
            DatasetRecord r{d.at("role").get<std::string>(), d.at("spec").get<std::string>(), {}};
            for (const auto &f : d.at("files"))
                r.files.push_back(digestFrom(f));
            p.datasets.push_back(std::move(r));
        }
        p.constraints = constraintsFrom(doc.value("constraints", nlohmann::json::object()));

        if (auto it = bundle.models.find(kBaseKey); it != bundle.models.end()) {
            p.base = std::move(it->second);
            bundle.models.erase(it);
        }
        else if (isDemoModel(p.baseSpec))
            p.base = loadModel(p.baseSpec, options);
        else if (fromBytes)
            throw Error("the base model is not embedded");
        else
            p.base = locateBase(p, base, path, options);
        if (base.contains("analysis"))
            p.base.analysis = base["analysis"].get<std::map<std::string, std::string>>();

        for (const auto &v : doc.at("variants")) {
            ProjectVariant pv;
            const std::string name = v.at("name").get<std::string>();
            const std::string key = v.at("model").get<std::string>();
            auto it = bundle.models.find(key);
            if (it == bundle.models.end() || key == kBaseKey)
                throw Error("variant " + q(name) + ": its model /models/" + key + " is missing");
            pv.variant = variantFromModel(std::move(it->second), name);
            bundle.models.erase(it); // each model belongs to one variant
            pv.origin = v.value("origin", "compress");
            pv.provenance = provenanceFrom(v.value("provenance", nlohmann::json::object()));
            p.variants.push_back(std::move(pv));
        }
    } catch (const nlohmann::json::exception &e) {
        throw Error(q(path) + ": the project document is malformed: " + e.what());
    } catch (const Cancelled &) {
        throw;
    } catch (const Error &e) {
        const std::string msg = e.what();
        if (msg.rfind(q(path), 0) == 0)
            throw;
        throw Error(q(path) + ": " + msg);
    }
    return p;
}

} // namespace

FileDigest digestFile(const std::string &path)
{
    std::error_code ec;
    const auto size = fs::file_size(path, ec);
    if (ec)
        throw Error(q(path) + ": " + ec.message());
    return {path, int64_t(size), sha256File(path)};
}

std::string cwbCommandLine(const std::vector<std::string> &args)
{
    std::string line = "cwb";
    for (const std::string &a : args)
        line.append(" ").append(shellQuoted(a));
    return line;
}

ProjectLock::ProjectLock(const std::string &path)
{
    const fs::path target(path);
    const fs::path lockPath = target.parent_path() / ("." + target.filename().string() + ".lock");
    m_fd = ::open(lockPath.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m_fd < 0)
        throw Error(q(lockPath.string()) + ": cannot create the project's lock file: " + std::strerror(errno));
    while (::flock(m_fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            const int err = errno;
            ::close(m_fd);
            throw Error(q(lockPath.string()) + ": cannot lock the project: " + std::strerror(err));
        }
    }
}

ProjectLock::~ProjectLock()
{
    ::close(m_fd);
}

std::string provenanceToJson(const Provenance &p)
{
    return provenanceJson(p).dump();
}

Provenance provenanceFromJson(const std::string &text)
{
    return provenanceFrom(nlohmann::json::parse(text));
}

std::string shellQuoted(const std::string &arg)
{
    const bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](unsigned char c) {
        return std::isalnum(c) || std::strchr("-_./:=,+@%", c);
    });
    if (plain)
        return arg;
    std::string out = "'";
    for (char c : arg)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

Provenance currentProvenance()
{
    Provenance p;
    p.tool = toolDescription();
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    p.date = buf;
    p.machine = cpuModel();
    p.cores = int(std::thread::hardware_concurrency());
    std::error_code ec;
    p.directory = fs::current_path(ec).string();
    return p;
}

FileDigest modelDigest(const std::string &spec)
{
    if (const std::string_view bytes = demoModelBytes(spec); !bytes.empty())
        return {"", int64_t(bytes.size()), sha256Hex(bytes)};
    std::error_code ec;
    const std::string path = fs::absolute(spec, ec).lexically_normal().string();
    if (!fs::is_directory(path, ec))
        return digestFile(path);
    // A folder (a Hugging Face checkpoint): its files, by name relative to it, and their hashes.
    std::vector<std::string> files;
    for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
        if (it->is_regular_file(ec))
            files.push_back(it->path().string());
    if (ec)
        throw Error(q(path) + ": " + ec.message());
    std::sort(files.begin(), files.end());
    FileDigest d{path, 0, {}};
    std::string listing;
    for (const std::string &f : files) {
        const FileDigest one = digestFile(f);
        d.bytes += one.bytes;
        listing.append(fs::path(f).lexically_relative(path).string()).append(" ").append(one.sha256).append("\n");
    }
    d.sha256 = sha256Hex(listing);
    return d;
}

Project newProject(const std::string &baseSpec, const LoadOptions &options)
{
    Project p;
    std::error_code ec;
    p.baseSpec = isDemoModel(baseSpec) ? baseSpec : fs::absolute(baseSpec, ec).lexically_normal().string();
    p.base = loadModel(p.baseSpec, options);
    p.baseFile = modelDigest(p.baseSpec);
    return p;
}

std::string variantSummary(const ProjectVariant &v)
{
    const std::string recipe = recipeSummary(v.variant.recipe);
    if (v.origin != "distill")
        return recipe;
    return v.variant.recipe.prune || v.variant.recipe.weights ? "distilled · " + recipe : "distilled";
}

void requireBase(const Project &project, const std::string &spec)
{
    const bool same = isDemoModel(spec) || isDemoModel(project.baseSpec)
                          ? spec == project.baseSpec
                          : digestFile(spec).sha256 == project.baseFile.sha256;
    if (!same)
        throw Error("the project's base model is " + q(project.baseSpec) + ", not " + q(spec) +
                    " (a project holds the variants of one model)");
}

size_t addVariant(Project &project, ProjectVariant variant)
{
    Variant &v = variant.variant;
    const std::string stem = v.name.empty() ? std::string("variant") : v.name;
    auto taken = [&](const std::string &name) {
        return std::any_of(project.variants.begin(), project.variants.end(),
                           [&](const ProjectVariant &o) { return o.variant.name == name; });
    };
    v.name = stem;
    for (int n = 2; taken(v.name); ++n)
        v.name = stem + " (" + std::to_string(n) + ")";
    v.model.analysis[kRecipeKey] = recipeToJson(v.recipe);
    if (v.measured)
        v.model.analysis[kMetricsKey] = metricsToJson(v.metrics);
    project.variants.push_back(std::move(variant));
    return project.variants.size() - 1;
}

DatasetRecord datasetRecord(const std::string &role, const std::string &spec)
{
    DatasetRecord r{role, spec, {}};
    for (const std::string &f : datasetFiles(spec))
        r.files.push_back(digestFile(f));
    return r;
}

void recordDataset(Project &project, DatasetRecord record)
{
    auto it = std::find_if(project.datasets.begin(), project.datasets.end(), [&](const DatasetRecord &d) {
        return d.role == record.role && d.spec == record.spec;
    });
    if (it != project.datasets.end())
        *it = std::move(record);
    else
        project.datasets.push_back(std::move(record));
}

Variant variantFromModel(Model model, const std::string &name)
{
    Variant v;
    v.name = name;
    v.model = std::move(model);
    const auto &analysis = v.model.analysis;
    try {
        if (auto r = analysis.find(kRecipeKey); r != analysis.end())
            v.recipe = recipeFromJson(r->second);
        if (auto m = analysis.find(kMetricsKey); m != analysis.end()) {
            v.metrics = metricsFromJson(m->second);
            v.measured = true;
        }
    } catch (const Error &e) {
        throw Error("variant " + q(name) + ": " + e.what());
    }
    return v;
}

ProjectComparison compareProject(const Project &project)
{
    ProjectComparison c;
    c.base = project.baseMetrics.value_or(VariantMetrics{});
    for (const ProjectVariant &v : project.variants)
        c.metrics.push_back(&v.variant.metrics);
    c.kind = commonQuality(c.metrics);
    c.recommendation = recommend(c.base, c.metrics, project.constraints);
    return c;
}

namespace {

// The project's lock: flock on a hidden ".NAME.lock" beside the file, held while it lives (closing releases it).
// Every save and every load-modify-save takes it, so concurrent writers take turns.
void writeProject(const Project &project, const std::string &path)
{
    BundleContents contents;
    contents.format = kProjectFormat;
    contents.version = kProjectFormatVersion;
    contents.document = documentOf(project, path);
    if (project.embedBase && !isDemoModel(project.baseSpec))
        contents.models.emplace_back(kBaseKey, &project.base);
    for (size_t i = 0; i < project.variants.size(); ++i)
        contents.models.emplace_back(variantKey(i), &project.variants[i].variant.model);
    writeBundle(contents, path);
}

// The bundle's errors name the file; its models' normalisation errors ("model 'v3': …") get its name in front.
Bundle readProjectBundle(const std::function<Bundle()> &read, const std::string &name)
{
    try {
        return read();
    } catch (const Cancelled &) {
        throw;
    } catch (const Error &e) {
        if (std::string(e.what()).find(q(name)) != std::string::npos)
            throw;
        throw Error(q(name) + ": " + e.what());
    }
}

} // namespace

void saveProject(const Project &project, const std::string &path)
{
    const ProjectLock lock(path);
    writeProject(project, path);
}

std::string variantIdentity(const ProjectVariant &v)
{
    const Provenance &p = v.provenance;
    return v.origin + '\n' + p.tool + '\n' + p.date + '\n' + p.machine + '\n' + p.command + '\n' + p.directory + '\n' +
           recipeToJson(v.variant.recipe, -1) + '\n' + (v.variant.measured ? metricsToJson(v.variant.metrics, -1) : "");
}

std::vector<ProjectVariant> saveProjectMerging(Project &project, const std::string &path,
                                               const std::multiset<std::string> &known)
{
    const ProjectLock lock(path);
    std::vector<ProjectVariant> added;
    std::error_code ec;
    if (fs::exists(path, ec)) {
        std::optional<Project> disk;
        try {
            disk = loadProject(path);
        } catch (const Error &) {
            // unreadable now (a moved base, a damaged file): replaced, as saveProject would
        }
        if (disk) {
            std::multiset<std::string> unseen = known;
            for (ProjectVariant &v : disk->variants) {
                if (auto seen = unseen.find(variantIdentity(v)); seen != unseen.end()) {
                    unseen.erase(seen); // there when this program read or wrote the file
                    continue;
                }
                for (const DatasetRecord &d : disk->datasets)
                    if ((d.spec == v.provenance.evalData || d.spec == v.provenance.trainData) &&
                        std::find(project.datasets.begin(), project.datasets.end(), d) == project.datasets.end())
                        project.datasets.push_back(d);
                added.push_back(project.variants[addVariant(project, std::move(v))]);
            }
        }
    }
    writeProject(project, path);
    return added;
}

Project loadProject(const std::string &path, const LoadOptions &options)
{
    return projectFrom(
        readProjectBundle([&] { return readBundle(path, kProjectFormat, kProjectFormatVersion, options); }, path), path,
        options, false);
}

Project loadProjectBytes(const std::string &bytes, const std::string &sourceName, const LoadOptions &options)
{
    return projectFrom(readProjectBundle(
                           [&] {
                               return readBundleBytes(bytes, sourceName, kProjectFormat, kProjectFormatVersion, options);
                           },
                           sourceName),
                       sourceName, options, true);
}

void updateProject(const std::string &path, const std::function<Project()> &create,
                   const std::function<void(Project &)> &edit, const LoadOptions &options)
{
    const ProjectLock lock(path);
    std::error_code ec;
    const bool exists = fs::exists(path, ec);
    if (ec) // never taken for "absent": that would replace the project
        throw Error(q(path) + ": " + ec.message());
    Project project = exists ? loadProject(path, options) : create();
    edit(project);
    writeProject(project, path);
}

std::string projectToJson(const Project &p, int indent)
{
    ojson doc = ojson::parse(documentOf(p, "."));
    doc["base"].erase("relative_path");
    const ProjectComparison c = compareProject(p);
    const Recommendation &rec = c.recommendation;
    const std::vector<bool> bySize = c.frontier(Cost::FileBytes), byLatency = c.frontier(Cost::LatencyBatch1);
    for (size_t i = 0; i < p.variants.size(); ++i) {
        const Variant &v = p.variants[i].variant;
        ojson &j = doc["variants"][i];
        j.erase("model");
        j["recipe"] = ojson::parse(recipeToJson(v.recipe));
        j["metrics"] = v.measured ? ojson::parse(metricsToJson(v.metrics)) : ojson(nullptr);
        const Quality qv = variantQuality(v.metrics);
        j["quality"] = {{"measure", qualityName(qv.kind)},
                        {"value", qv.kind == QualityKind::None ? ojson(nullptr) : ojson(qv.value)}};
        j["pareto"] = {{"size", bool(bySize[i])}, {"latency_batch1", bool(byLatency[i])}};
        j["verdict"] = {{"verdict", verdictName(rec.assessments[i].verdict)}, {"reason", rec.assessments[i].reason}};
    }
    doc["recommendation"] = {{"variant", rec.best >= 0 ? ojson(p.variants[size_t(rec.best)].variant.name) : ojson(nullptr)},
                             {"reason", rec.reason}};
    return doc.dump(indent);
}

} // namespace cw
