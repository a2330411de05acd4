// Progress reporting and cooperative cancellation for long-running core work (evaluate, train, bench).
//
// A job passes a StopToken and a ProgressFn; the core checks the token between batches / layers and throws
// cw::Cancelled when it is set. The progress callback is called from the worker thread; the Qt adapters
// throttle it and forward it as queued signals.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <string>
#include <string_view>

#include "core/base/error.h"

namespace cw {

class StopToken {
public:
    void requestStop() { m_stop.store(true, std::memory_order_relaxed); }
    bool stopRequested() const { return m_stop.load(std::memory_order_relaxed); }
    void throwIfStopped() const
    {
        if (stopRequested())
            throw Cancelled();
    }

private:
    std::atomic<bool> m_stop{false};
};

// fraction in [0, 1]; stage is a short human-readable label ("evaluating", "epoch 2/5").
using ProgressFn = std::function<void(double fraction, std::string_view stage)>;

// A slice [from, to) of the overall progress for one stage of a longer job: the stage's own labels are prefixed
// with `stage` ("measure: latency, batch 1"); an empty stage passes them through.
inline ProgressFn progressSlice(const ProgressFn &progress, double from, double to, const std::string &stage)
{
    if (!progress)
        return {};
    return [progress, from, to, stage](double f, std::string_view sub) {
        const std::string label = sub.empty() ? stage : stage.empty() ? std::string(sub) : stage + ": " + std::string(sub);
        progress(from + (to - from) * std::clamp(f, 0.0, 1.0), label);
    };
}

inline void checkStop(const StopToken *stop)
{
    if (stop)
        stop->throwIfStopped();
}

} // namespace cw
