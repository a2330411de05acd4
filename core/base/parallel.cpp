#include "core/base/parallel.h"

#include <omp.h>

#include <immintrin.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace cw {

int resolveThreads(int requested)
{
    if (requested > 0)
        return requested;
    const unsigned hw = std::thread::hardware_concurrency();
    return hw ? int(hw) : 1;
}

namespace {

struct Job {
    const FunctionRef<void(int64_t)> *fn = nullptr;
    int64_t count = 0;
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    int helpersLeft = 0; // guarded by the pool mutex
    std::mutex errorMutex;
    std::exception_ptr error;

    // Claims and runs items until none are left.
    void work()
    {
        for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < count;
             i = next.fetch_add(1, std::memory_order_relaxed)) {
            try {
                (*fn)(i);
            } catch (...) {
                std::lock_guard lock(errorMutex);
                if (!error)
                    error = std::current_exception();
            }
            done.fetch_add(1, std::memory_order_release);
        }
    }
};

// Persistent helper threads. A job sits in the queue until as many helpers as it asked for have taken it;
// the caller works on it meanwhile and takes it out when it runs out of items.
class Pool {
public:
    static Pool &instance()
    {
        static Pool *pool = new Pool; // never destroyed: helpers may still be parked at exit
        return *pool;
    }

    void run(int threads, int64_t count, const FunctionRef<void(int64_t)> &fn)
    {
        auto job = std::make_shared<Job>();
        job->fn = &fn;
        job->count = count;
        const int helpers = int(std::min<int64_t>(threads - 1, count - 1));
        job->helpersLeft = helpers;
        {
            std::lock_guard lock(m_mutex);
            while (int(m_workers.size()) < std::min(helpers, kMaxWorkers))
                m_workers.emplace_back([this] { workerLoop(); });
            m_jobs.push_back(job);
            m_queued.fetch_add(1, std::memory_order_release);
        }
        if (helpers >= int(m_workers.size()))
            m_wake.notify_all();
        else
            for (int i = 0; i < helpers; ++i)
                m_wake.notify_one();
        job->work();
        {
            std::lock_guard lock(m_mutex);
            for (auto it = m_jobs.begin(); it != m_jobs.end(); ++it)
                if (*it == job) {
                    m_jobs.erase(it);
                    m_queued.fetch_sub(1, std::memory_order_relaxed);
                    break;
                }
        }
        // Only items a helper claimed and is still running remain.
        for (int spin = 0; job->done.load(std::memory_order_acquire) < count; ++spin) {
            if (spin < 2000)
                _mm_pause();
            else
                std::this_thread::yield();
        }
        if (job->error)
            std::rethrow_exception(job->error);
    }

private:
    static constexpr int kMaxWorkers = 63;

    void workerLoop()
    {
        omp_set_num_threads(1); // libraries called from items (oneDNN, Eigen) must not start their own teams
        for (;;) {
            // Consecutive kernels follow each other within microseconds: look for the next job briefly
            // before parking on the condition variable.
            for (int spin = 0; spin < 4000 && m_queued.load(std::memory_order_acquire) == 0; ++spin)
                _mm_pause();
            std::shared_ptr<Job> job;
            {
                std::unique_lock lock(m_mutex);
                m_wake.wait(lock, [this] { return !m_jobs.empty(); });
                job = m_jobs.front();
                if (--job->helpersLeft <= 0) {
                    m_jobs.pop_front();
                    m_queued.fetch_sub(1, std::memory_order_relaxed);
                }
            }
            job->work();
        }
    }

    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<std::shared_ptr<Job>> m_jobs;
    std::atomic<int> m_queued{0};
    std::vector<std::thread> m_workers;
};

} // namespace

void parallelFor(int threads, int64_t count, FunctionRef<void(int64_t)> fn)
{
    if (count <= 0)
        return;
    if (threads <= 1 || count == 1) {
        for (int64_t i = 0; i < count; ++i)
            fn(i);
        return;
    }
    Pool::instance().run(threads, count, fn);
}

void parallelRanges(int threads, int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn)
{
    if (n <= 0)
        return;
    grain = std::max<int64_t>(1, grain);
    const int64_t ranges = std::min<int64_t>(int64_t(std::max(1, threads)) * 4, (n + grain - 1) / grain);
    if (threads <= 1 || ranges <= 1) {
        fn(0, n);
        return;
    }
    const int64_t size = (n + ranges - 1) / ranges;
    parallelFor(threads, ranges, [&](int64_t r) {
        const int64_t begin = r * size;
        fn(begin, std::min(n, begin + size));
    });
}

} // namespace cw
