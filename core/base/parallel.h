// Work sharing for the engine: the thread count a caller asked for, and parallel loops in which the calling
// thread takes part. Used by the kernels, the statistics and the quantizers alike.
#pragma once

#include <cstdint>
#include <functional>

namespace cw {

// Resolved thread count: requested > 0 wins, otherwise all hardware threads.
int resolveThreads(int requested);

// Runs fn(i) for every i in [0, count) on up to `threads` threads, the calling thread included, and returns
// when all are done. Work is claimed item by item from a shared counter, so a helper thread that the OS
// does not schedule in time (a loaded machine, another job) costs nothing: the caller does its items. An
// OpenMP team instead waits for every member at the closing barrier, which made two-thread runs 10-100x
// slower than one-thread runs on a busy two-core machine. Calls may nest and may come from several threads
// at once. The first exception thrown by fn is rethrown in the caller after all claimed items finish.
void parallelFor(int threads, int64_t count, const std::function<void(int64_t)> &fn);

// parallelFor over [0, n) cut into ranges of at least `grain` items (about four per thread, for balance):
// fn(begin, end). Runs inline when one thread or one range suffices.
void parallelRanges(int threads, int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)> &fn);

} // namespace cw
