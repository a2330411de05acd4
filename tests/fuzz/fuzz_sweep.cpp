// Sweep plans and the documents of sweep parts (core/cluster/sweep.h): strict parsing; an accepted plan survives
// its round trip unchanged, and an accepted part merges (alone) into a result or is refused with cw::Error.
#include "core/cluster/sweep.h"
#include "tests/fuzz/fuzz.h"

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
            else if (part.plan.kind == "lm-recipes") // (the tensors' bytes are the bundle's: none here)
                cw::lmProjectFromParts(part.lmDocument, {}, "part");
            else
                cw::cluster::mergeVariants({{"part", part}});
        });
    return 0;
}
