// Eager elementwise throughput against memory bandwidth.
//
// 1. A STREAM-like triad a = b + s * c over 64 MiB float arrays on all jx threads gives the
//    machine's practical bandwidth (GB/s, 2 reads + 1 write per element).
// 2. Eager jx::tanh(x) * y on 16Mi floats: median of 10 runs after warm-up, in ms and in GB/s
//    counted as the ideal traffic (2 reads + 1 write; the eager version really moves more, since
//    tanh writes an intermediate that mul reads back).
// 3. Prints the ratio triad GB/s / eager GB/s (the target is below 3).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "backends/cpu/thread_pool.h"
#include "jx/jx.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

template <class F>
double median_seconds(F&& f, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    f();
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace

int main() {
  const int threads = jx::cpu::num_threads();

  // 1. triad
  const int64_t n_triad = (64ll << 20) / static_cast<int64_t>(sizeof(float));
  std::vector<float> a(n_triad), b(n_triad, 1.0f), c(n_triad, 2.0f);
  const float s = 3.0f;
  auto triad = [&] {
    float* pa = a.data();
    const float* pb = b.data();
    const float* pc = c.data();
    jx::cpu::parallel_for(n_triad, 1 << 16, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) pa[i] = pb[i] + s * pc[i];
    });
  };
  double t_triad = median_seconds(triad, 3, 10);
  double gbs_triad = 3.0 * n_triad * sizeof(float) / t_triad / 1e9;
  std::printf("threads: %d\n", threads);
  std::printf("triad a = b + s*c, 64 MiB arrays: %.2f ms, %.1f GB/s\n", t_triad * 1e3, gbs_triad);

  // 2. eager tanh(x) * y
  const int64_t n = 16ll << 20;
  std::vector<float> hx(n), hy(n);
  for (int64_t i = 0; i < n; ++i) {
    hx[i] = static_cast<float>((i % 1000) - 500) * 0.006f;  // [-3, 3)
    hy[i] = static_cast<float>(i % 7) * 0.25f;
  }
  jx::Array x = jx::array(hx, jx::Shape{n}), y = jx::array(hy, jx::Shape{n});
  float check = 0.0f;
  auto eager = [&] {
    jx::Array z = jx::tanh(x) * y;
    check += z.data<float>()[n / 3 + 1];
  };
  double t_eager = median_seconds(eager, 3, 10);
  double gbs_eager = 3.0 * n * sizeof(float) / t_eager / 1e9;
  std::printf("eager tanh(x) * y, 16Mi float32: %.2f ms, %.1f GB/s (2 reads + 1 write)\n", t_eager * 1e3,
              gbs_eager);
  std::printf("ratio triad / eager bandwidth: %.2fx (target < 3x)\n", gbs_triad / gbs_eager);
  std::printf("(checksum %g)\n", static_cast<double>(check));
  return 0;
}
