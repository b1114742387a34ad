// Eager elementwise throughput against memory bandwidth (not one of WORKLOADS.md's W1-W8: the
// eager baseline that W2 compares jit with).
//
// 1. A STREAM-like triad a = b + s * c over 64 MiB float arrays on all jx threads gives the
//    machine's practical bandwidth (GB/s, 2 reads + 1 write per element).
// 2. Eager jx::tanh(x) * y on 16Mi floats: median of 10 runs after warm-up, in ms and in GB/s
//    counted as the ideal traffic (2 reads + 1 write; the eager version really moves more, since
//    tanh writes an intermediate that mul reads back).
// 3. Prints the ratio triad GB/s / eager GB/s (the target is below 3).
// --smoke: 1 MiB arrays, two runs.

#include <vector>

#include "backends/cpu/thread_pool.h"
#include "bench/common.h"
#include "jx/jx.h"

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, "eager_elementwise", 10, [](bench::Report& r, const bench::Options& o) {
    const int threads = jx::cpu::num_threads();

    // 1. triad
    const int64_t n_triad = (o.smoke ? (1ll << 20) : (64ll << 20)) / static_cast<int64_t>(sizeof(float));
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
    auto t_triad = bench::time_calls(triad, o, 1, 1.0);
    double gbs_triad = 3.0 * n_triad * sizeof(float) / bench::median(t_triad) / 1e9;
    std::printf("threads: %d\n", threads);
    std::printf("triad a = b + s*c, %lld MiB arrays: %.2f ms, %.1f GB/s\n",
                static_cast<long long>(n_triad * 4 >> 20), bench::median(t_triad) * 1e3, gbs_triad);

    // 2. eager tanh(x) * y
    const int64_t n = o.smoke ? (1ll << 16) : (16ll << 20);
    std::vector<float> hx(n), hy(n);
    for (int64_t i = 0; i < n; ++i) {
      hx[i] = static_cast<float>((i % 1000) - 500) * 0.006f;  // [-3, 3)
      hy[i] = static_cast<float>(i % 7) * 0.25f;
    }
    jx::Array x = jx::array(hx, jx::Shape{n}), y = jx::array(hy, jx::Shape{n});
    auto eager = [&] {
      jx::Array z = jx::tanh(x) * y;
      z.block_until_ready();  // with JX_PLATFORM=cuda the work is asynchronous
    };
    auto t_eager = bench::time_calls(eager, o, 1, 1.0);
    const float check = (jx::tanh(x) * y)[n / 3 + 1].item<float>();
    double gbs_eager = 3.0 * n * sizeof(float) / bench::median(t_eager) / 1e9;
    std::printf("eager tanh(x) * y, %lld float32: %.2f ms, %.1f GB/s (2 reads + 1 write)\n",
                static_cast<long long>(n), bench::median(t_eager) * 1e3, gbs_eager);
    std::printf("ratio triad / eager bandwidth: %.2fx (target < 3x)\n", gbs_triad / gbs_eager);
    std::printf("(checksum %g)\n", static_cast<double>(check));
    for (double& t : t_triad) t *= 1e3;
    for (double& t : t_eager) t *= 1e3;
    r.figure("triad_ms", t_triad);
    r.figure("eager_ms", t_eager);
    r.extra("triad_gbs", gbs_triad);
    r.extra("eager_gbs", gbs_eager);
    r.extra("threads", threads);
  });
}
