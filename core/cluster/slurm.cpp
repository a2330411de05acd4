#include "core/cluster/slurm.h"

#include <filesystem>

#include "core/base/atomic_file.h"
#include "core/base/error.h"

namespace cw::cluster {

namespace fs = std::filesystem;

SlurmJob slurmJobFiles(const std::string &dir, int shards)
{
    std::error_code ec;
    const fs::path d = fs::absolute(dir, ec).lexically_normal();
    SlurmJob j;
    j.dir = d.string();
    j.plan = (d / "plan.json").string();
    j.shardScript = (d / "shards.sbatch").string();
    j.mergeScript = (d / "merge.sbatch").string();
    for (int s = 0; s < shards; ++s)
        j.parts.push_back((d / ("part-" + std::to_string(s) + ".h5")).string());
    j.merged = (d / "merged.json").string();
    return j;
}

SlurmJob writeSlurmJob(const SweepPlan &plan, const std::string &dir, const SlurmOptions &o)
{
    if (o.shards < 1 || o.shards > int(plan.items.size()))
        throw Error("--shards " + std::to_string(o.shards) + ": the plan has " + std::to_string(plan.items.size()) +
                    " items, so 1.." + std::to_string(plan.items.size()) + " shards");
    if (o.cpus < 1)
        throw Error("--cpus must be at least 1");
    if (!fs::path(o.cwb).is_absolute())
        throw Error("the nodes need cwb by an absolute path, not '" + o.cwb + "'");
    if (!o.project.empty() && !mergesIntoProject(plan.kind))
        throw Error("the merge of an \"" + plan.kind + "\" plan writes its result, not a project: leave --project out");
    const SlurmJob j = slurmJobFiles(dir, o.shards);
    if (j.dir.find_first_of(" \t\n'\"") != std::string::npos)
        throw Error("'" + j.dir + "': Slurm's #SBATCH lines cannot name a folder with spaces or quotes");
    std::error_code ec;
    fs::create_directories(fs::path(j.dir) / "logs", ec);
    if (ec)
        throw Error("cannot create '" + j.dir + "/logs': " + ec.message());
    savePlan(plan, j.plan);

    auto quoted = [](const std::string &s) { return shellQuoted(s); };
    auto header = [&](const std::string &name, const std::string &log) {
        std::string h = "#!/bin/bash\n#SBATCH --job-name=" + name + "\n#SBATCH --ntasks=1\n#SBATCH --output=" + log + "\n";
        if (!o.partition.empty())
            h += "#SBATCH --partition=" + o.partition + "\n";
        if (!o.time.empty())
            h += "#SBATCH --time=" + o.time + "\n";
        return h;
    };
    std::string shards = header("cwb-sweep", j.dir + "/logs/shard-%a.log");
    shards += "#SBATCH --cpus-per-task=" + std::to_string(o.cpus) + "\n";
    shards += "#SBATCH --array=0-" + std::to_string(o.shards - 1) +
              (o.arrayLimit > 0 ? "%" + std::to_string(o.arrayLimit) : std::string()) + "\n";
    shards += "# Shard ${SLURM_ARRAY_TASK_ID} of " + std::to_string(o.shards) + " of the plan beside this script.\n";
    shards += "set -eu\n";
    shards += "exec " + quoted(o.cwb) + " sweep " + quoted(j.plan) + " --shard \"${SLURM_ARRAY_TASK_ID}/" +
              std::to_string(o.shards) + "\" --threads \"${SLURM_CPUS_PER_TASK:-" + std::to_string(o.cpus) +
              "}\" -o " + quoted(j.dir) + "/part-\"${SLURM_ARRAY_TASK_ID}\".h5\n";
    writeFileAtomically(j.shardScript, shards);

    std::string merge = header("cwb-merge", j.dir + "/logs/merge.log");
    merge += "# Runs when every shard has succeeded (submitted with --dependency=afterok on the array).\n";
    merge += "set -eu\n";
    merge += "exec " + quoted(o.cwb) + " merge";
    for (const std::string &p : j.parts)
        merge += " " + quoted(p);
    if (!o.project.empty())
        merge += " --project " + quoted(o.project);
    merge += " -o " + quoted(j.merged) + "\n";
    writeFileAtomically(j.mergeScript, merge);
    fs::permissions(j.shardScript, fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add, ec);
    fs::permissions(j.mergeScript, fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add, ec);
    return j;
}

} // namespace cw::cluster
