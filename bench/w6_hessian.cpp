// W6 (WORKLOADS.md): the Hessian of the Rosenbrock function in 100 dimensions,
// jit(hessian(f)) (hessian = jacfwd(jacrev(f)), forward over reverse): microseconds per call
// (each sample the mean of up to 100 calls). Target: jx / JAX <= 1.0. --smoke: 10 dimensions.
#include "bench/common.h"
#include "bench/workload_data.h"

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, "W6", 20, [](bench::Report& r, const bench::Options& o) {
    const int64_t n = o.smoke ? 10 : 100;
    auto rosenbrock = [n](const jx::Array& x) {
      jx::Array a = jx::slice(x, {0}, {n - 1}), b = jx::slice(x, {1}, {n});
      return jx::sum(100.0 * jx::square(b - a * a) + jx::square(1.0 - a));
    };
    std::vector<float> hx(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) hx[static_cast<size_t>(i)] = static_cast<float>((i % 10) * 0.1 - 0.3);
    jx::Array x = jx::array(hx, jx::Shape{n});
    auto h = jx::jit(jx::hessian(rosenbrock));
    jx::Array hess = h(x);  // compile
    r.figure("us_per_call", bench::time_calls([&] { h(x).block_until_ready(); }, o, o.smoke ? 10 : 100, 1e-6));
    r.check("sum", bench::sum64(hess));
    r.check("h00", hess.to_vector<double>()[0]);
    r.extra("device", hess.device().str());
  });
}
