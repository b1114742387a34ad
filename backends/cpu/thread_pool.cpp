// jx's thread pool is the OpenMP runtime's: oneDNN (built on OpenMP in Debian) and jx's eager
// kernels then share one set of worker threads. Two pools on two cores fight each other: after
// a parallel region libgomp's workers spin (GOMP_SPINCOUNT, read when libgomp is loaded, before
// any jx code could change it), which halved the throughput of jx's own pool next to oneDNN.

#include "backends/cpu/thread_pool.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>

namespace jx::cpu {

namespace {

int default_threads() {
  if (const char* env = std::getenv("JX_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1, omp_get_max_threads());
}

std::atomic<int>& threads_setting() {
  static std::atomic<int> n{[] {
    int t = default_threads();
    omp_set_num_threads(t);  // oneDNN follows the same setting
    return t;
  }()};
  return n;
}

}  // namespace

int num_threads() { return threads_setting().load(std::memory_order_relaxed); }

void set_num_threads(int n) {
  n = std::max(1, n);
  threads_setting().store(n);
  omp_set_num_threads(n);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& body) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int threads = num_threads();
  if (threads <= 1 || n < 2 * grain || omp_in_parallel()) {
    body(0, n);
    return;
  }
  const int64_t chunks = std::min<int64_t>(n / grain, static_cast<int64_t>(threads) * 4);
  // Kernels never throw inside a parallel region (an exception may not leave it).
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t c = 0; c < chunks; ++c) body(n * c / chunks, n * (c + 1) / chunks);
}

}  // namespace jx::cpu

namespace jx {
void set_num_threads(int n) { cpu::set_num_threads(n); }
}  // namespace jx
