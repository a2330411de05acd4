// Prunes a model with one setting for every weighted layer and saves it, so `cwb bench` / `cwb eval` can
// measure the pruned file exactly like any other model (bench/prune_latency.sh).
// usage: prune_model MODEL channel|magnitude|nm RATIO OUT.h5 [LAYER...]   (nm: RATIO ignored, 2:4)
// With LAYER names, only those layers are pruned.
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "core/base/error.h"
#include "core/compress/prune.h"
#include "core/io/model_io.h"

using namespace cw;

int main(int argc, char **argv)
{
    if (argc < 5) {
        std::fprintf(stderr, "usage: prune_model MODEL channel|magnitude|nm RATIO OUT.h5 [LAYER...]\n");
        return 2;
    }
    try {
        Model model = loadModel(argv[1]);
        PruneConfig config;
        config.method = parsePruneMethod(argv[2]);
        config.ratio = std::atof(argv[3]);
        const std::set<std::string> only(argv + 5, argv + argc);
        std::vector<LayerPlan> plan;
        for (const LayerInfo &l : model.layers()) {
            if (l.weightName.empty() || l.weightShape.size() < 2 || (!only.empty() && !only.count(l.name)))
                continue;
            LayerPlan p;
            p.node = l.name;
            p.op = l.opType;
            p.weight = l.weightName;
            p.config.prune = config;
            plan.push_back(p);
        }
        const PruneResult r = pruneModel(model, plan);
        for (const PruneReport &l : r.layers)
            std::printf("%-24s params %8lld  zeros %8lld  channels %lld -> %lld\n", l.node.c_str(),
                        (long long)l.params, (long long)l.zeros, (long long)l.channelsBefore,
                        (long long)l.channelsAfter);
        saveModel(model, argv[4]);
    } catch (const Error &e) {
        std::fprintf(stderr, "prune_model: %s\n", e.what());
        return 1;
    }
    return 0;
}
