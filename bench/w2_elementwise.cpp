// W2 (WORKLOADS.md): fused elementwise, jitted tanh(x) * y + exp(-x * x) over x, y f32[16Mi]:
// milliseconds per call and GB/s counting 2 reads + 1 write. Target: at least 0.8 of the
// measured triad bandwidth (bench_limits). --smoke: 64Ki elements.
#include "bench/common.h"
#include "bench/workload_data.h"

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, "W2", 10, [](bench::Report& r, const bench::Options& o) {
    const int64_t n = o.smoke ? (1ll << 16) : (16ll << 20);
    std::vector<float> hx(static_cast<size_t>(n)), hy(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      hx[static_cast<size_t>(i)] = static_cast<float>((i % 1000) - 500) * 0.006f;  // [-3, 3)
      hy[static_cast<size_t>(i)] = static_cast<float>(i % 7) * 0.25f;
    }
    jx::Array x = jx::array(hx, jx::Shape{n}), y = jx::array(hy, jx::Shape{n});
    auto f = jx::jit([](const jx::Array& x, const jx::Array& y) { return jx::tanh(x) * y + jx::exp(-x * x); });
    jx::Array z = f(x, y);  // compile
    auto ms = bench::time_calls([&] { f(x, y).block_until_ready(); }, o, 1, 1e-3);
    std::vector<double> gbs;
    for (double t : ms) gbs.push_back(3.0 * 4.0 * static_cast<double>(n) / (t * 1e-3) / 1e9);
    r.figure("ms", ms);
    r.figure("gbs", gbs);
    r.check("sum", bench::sum64(z));
    r.extra("device", z.device().str());
  });
}
