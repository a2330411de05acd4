// Sweep plans and the documents of sweep parts (core/cluster/sweep.h): strict parsing; an accepted plan survives
// its round trip unchanged, and an accepted part merges (alone) into a result or is refused with cw::Error.
#include <nlohmann/json.hpp>

#include <map>
#include <string>

#include "core/cluster/sweep.h"
#include "tests/fuzz/fuzz.h"

namespace {

// The tensors' bytes are the part bundle's, not its document's: zeros of the size each variant's results record
// (at most 1 MiB each), so that the document itself is what is read.
std::map<std::string, std::string> blobsOf(const std::string &document)
{
    std::map<std::string, std::string> blobs;
    const nlohmann::json doc = nlohmann::json::parse(document, nullptr, false);
    if (!doc.is_object() || !doc.contains("variants") || !doc["variants"].is_array())
        return blobs;
    for (const nlohmann::json &v : doc["variants"]) {
        if (!v.is_object() || !v.contains("encoded") || !v.contains("tensors") || !v["encoded"].is_array() ||
            !v["tensors"].is_array())
            continue;
        for (const nlohmann::json &e : v["encoded"])
            for (const nlohmann::json &t : v["tensors"])
                if (e.is_object() && t.is_object() && e.value("tensor", "") == t.value("name", "?") &&
                    e.contains("blob") && e["blob"].is_string() && t.contains("bytes") &&
                    t["bytes"].is_number_unsigned() && t["bytes"].get<uint64_t>() <= (1u << 20))
                    blobs[e["blob"].get<std::string>()] = std::string(size_t(t["bytes"].get<uint64_t>()), '\0');
    }
    return blobs;
}

} // namespace

CW_FUZZ_TARGET(sweep)
{
    const std::string text(reinterpret_cast<const char *>(data), size);
    cwfuzz::parse([&] {
        const cw::cluster::SweepPlan plan = cw::cluster::planFromJson(text, "plan");
        const std::string saved = cw::cluster::planToJson(plan);
        cwfuzz::require(cw::cluster::planToJson(cw::cluster::planFromJson(saved, "saved")) == saved,
                        "a saved plan reads back unchanged");
    });
    if (!cwfuzz::lastError().empty())
        cwfuzz::parse([&] {
            const cw::cluster::SweepPart part = cw::cluster::partFromJson(text, "part");
            if (part.plan.kind == "sensitivity")
                cw::cluster::mergeSensitivity({{"part", part}});
            else if (part.plan.kind == "lm-sensitivity")
                cw::cluster::mergeLmSensitivity({{"part", part}});
            else if (part.plan.kind == "lm-recipes")
                cw::lmProjectFromParts(part.lmDocument, blobsOf(part.lmDocument), "part");
            else if (part.plan.kind == "evaluate")
                cw::cluster::mergeEvaluation({{"part", part}});
            else if (part.plan.kind == "lm-perplexity")
                cw::cluster::mergePerplexity({{"part", part}});
            else if (part.plan.kind == "lm-matrices") {
                cw::cluster::SweepPart carrying = part; // the merge reads the project the part carries
                carrying.lm = cw::lmProjectFromParts(part.lmDocument, blobsOf(part.lmDocument), "part");
                cw::cluster::mergeLmMatrices({{"part", carrying}});
            }
            else
                cw::cluster::mergeVariants({{"part", part}});
        });
    return 0;
}
