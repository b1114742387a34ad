#pragma once
// The one thread pool of jx: parallel_for over index ranges for large eager kernels, run on the
// OpenMP runtime that oneDNN uses too, so both share one set of threads.

#include <cstdint>
#include <functional>

namespace jx::cpu {

/// Number of threads used (JX_NUM_THREADS or all cores).
int num_threads();
void set_num_threads(int n);

/// Calls body(begin, end) over [0, n) split into chunks of at least `grain` items, on the pool.
/// Runs inline when n < 2 * grain or only one thread is configured.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

}  // namespace jx::cpu
