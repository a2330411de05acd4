// A sweep plan (core/cluster/sweep.h) as a Slurm job: a job array whose task I runs `cwb sweep PLAN --shard I/N`,
// and a merge job that starts when every task has succeeded (afterok) and runs `cwb merge` on the parts. Slurm
// schedules and runs everything; the workbench only writes the scripts (and `cwb sweep --slurm --submit` hands
// them to sbatch). Paths are those of a filesystem the nodes share.
//
// The folder holds:
//   plan.json        the plan (a copy)
//   shards.sbatch    the job array: #SBATCH --array=0-(N-1)[%K], --cpus-per-task, --time, --partition
//   merge.sbatch     cwb merge part-*.h5 [--project P] -o merged.json
//   part-I.h5        each task's result, merged.json the merge's
//   logs/            shard-I.log and merge.log (Slurm's output files)
//   jobs.json        the job ids, when submitted ({"shards": "123", "merge": "124"})
#pragma once

#include <string>
#include <vector>

#include "core/cluster/sweep.h"

namespace cw::cluster {

struct SlurmOptions {
    int shards = 4;
    int cpus = 1;             // --cpus-per-task, and the threads each shard computes with
    int arrayLimit = 0;       // at most this many tasks at once (the %K of --array; 0: no limit)
    std::string partition;    // "" : the cluster's default
    std::string time;         // --time ("" : the partition's default), e.g. "01:00:00"
    std::string project;      // the merge adds the result to this project ("" : merged.json only)
    std::string cwb;          // the cwb the nodes run (absolute path)
};

struct SlurmJob {
    std::string dir, plan, shardScript, mergeScript;
    std::vector<std::string> parts; // the part files, by shard
    std::string merged;             // merged.json
};

// The folder's paths for `dir` and `shards` (nothing written).
SlurmJob slurmJobFiles(const std::string &dir, int shards);
// Creates the folder (and logs/) and writes the plan and both scripts. Throws cw::Error for bad options (shards
// outside 1..plan items, cpus < 1, a relative cwb path) or when a file cannot be written.
SlurmJob writeSlurmJob(const SweepPlan &plan, const std::string &dir, const SlurmOptions &options);

} // namespace cw::cluster
