// Work sharing for the engine: the thread count a caller asked for, and parallel loops in which the calling
// thread takes part. Used by the kernels, the statistics and the quantizers alike.
#pragma once

#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>

namespace cw {

// A non-owning reference to a callable, for the loops below: a lambda passed to them is called where it stands,
// where a std::function would copy it to the heap when its captures exceed a few pointers (a kernel's loop body
// usually does). The callable must outlive the call it is passed to, as a temporary argument does.
template <class Signature>
class FunctionRef;
template <class R, class... Args>
class FunctionRef<R(Args...)> {
public:
    template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef> &&
                                                std::is_invocable_r_v<R, F &, Args...>>>
    FunctionRef(F &&f) noexcept // implicit, like std::function
        : m_object(const_cast<void *>(static_cast<const void *>(std::addressof(f)))),
          m_call([](void *object, Args... args) -> R {
              return (*static_cast<std::remove_reference_t<F> *>(object))(std::forward<Args>(args)...);
          })
    {
    }
    R operator()(Args... args) const { return m_call(m_object, std::forward<Args>(args)...); }

private:
    void *m_object;
    R (*m_call)(void *, Args...);
};

// Resolved thread count: requested > 0 wins, otherwise all hardware threads.
int resolveThreads(int requested);

// Runs fn(i) for every i in [0, count) on up to `threads` threads, the calling thread included, and returns
// when all are done. Work is claimed item by item from a shared counter, so a helper thread that the OS
// does not schedule in time (a loaded machine, another job) costs nothing: the caller does its items. An
// OpenMP team instead waits for every member at the closing barrier, which made two-thread runs 10-100x
// slower than one-thread runs on a busy two-core machine. Calls may nest and may come from several threads
// at once. The first exception thrown by fn is rethrown in the caller after all claimed items finish.
void parallelFor(int threads, int64_t count, FunctionRef<void(int64_t)> fn);

// parallelFor over [0, n) cut into ranges of at least `grain` items (about four per thread, for balance):
// fn(begin, end). Runs inline when one thread or one range suffices.
void parallelRanges(int threads, int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn);

} // namespace cw
