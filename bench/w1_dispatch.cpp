// W1 (WORKLOADS.md): dispatch of a tiny jitted function, f(x) = x * 2 + 1 with x f32[8]:
// microseconds per call (each sample the mean of up to 1000 calls). Target: jx / JAX <= 0.1.
#include "bench/common.h"
#include "bench/workload_data.h"

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, "W1", 20, [](bench::Report& r, const bench::Options& o) {
    auto f = jx::jit([](const jx::Array& x) { return x * 2.0 + 1.0; });
    jx::Array x = jx::arange(0.0, 8.0, 1.0, jx::float32) * 0.5;
    jx::Array y = f(x);  // compile
    r.figure("us_per_call", bench::time_calls([&] { f(x).block_until_ready(); }, o, o.smoke ? 10 : 1000, 1e-6));
    r.check("sum", bench::sum64(y));
    r.extra("device", y.device().str());
  });
}
