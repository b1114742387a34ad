// W8 (WORKLOADS.md): RK4 on the Lorenz system (sigma 10, rho 28, beta 8/3), dt 0.01, 1000 steps
// through jx::lax::scan, state f32[3] starting at (1, 1, 1): microseconds per jitted integration,
// and per jitted gradient of the final x-coordinate with respect to the initial state (each
// sample the mean of up to 10 calls). Target: jx / JAX <= 1.0. --smoke: 10 steps.
// Reports "pending" when jx has no scan yet (transforms/control.h).
#include "bench/common.h"
#include "bench/workload_data.h"

#if __has_include("transforms/control.h")
#include "transforms/control.h"
#define JX_BENCH_HAVE_SCAN 1
#endif

namespace {

#ifdef JX_BENCH_HAVE_SCAN
jx::Array lorenz(const jx::Array& s) {
  jx::Array x = s[0], y = s[1], z = s[2];
  return jx::stack({10.0 * (y - x), x * (28.0 - z) - y, x * y - (8.0 / 3.0) * z});
}

std::pair<jx::Array, jx::NoneType> rk4_step(const jx::Array& s, const jx::NoneType&) {
  const double dt = 0.01;
  jx::Array k1 = lorenz(s);
  jx::Array k2 = lorenz(s + (dt / 2) * k1);
  jx::Array k3 = lorenz(s + (dt / 2) * k2);
  jx::Array k4 = lorenz(s + dt * k3);
  return {s + (dt / 6) * (k1 + 2.0 * k2 + 2.0 * k3 + k4), jx::none};
}
#endif

}  // namespace

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, "W8", 10, [](bench::Report& r, const bench::Options& o) {
#ifdef JX_BENCH_HAVE_SCAN
    const int64_t steps = o.smoke ? 10 : 1000;
    auto integrate = [steps](const jx::Array& s0) { return jx::lax::scan(rk4_step, s0, jx::none, steps).first; };
    auto fi = jx::jit(integrate);
    auto fg = jx::jit(jx::grad([integrate](const jx::Array& s0) { return integrate(s0)[0]; }));
    jx::Array s0 = jx::ones({3});
    jx::Array s1 = fi(s0), g = fg(s0);  // compile
    const int calls = o.smoke ? 2 : 10;
    r.figure("us_per_integration", bench::time_calls([&] { fi(s0).block_until_ready(); }, o, calls, 1e-6));
    r.figure("us_per_gradient", bench::time_calls([&] { fg(s0).block_until_ready(); }, o, calls, 1e-6));
    auto v1 = s1.to_vector<double>(), vg = g.to_vector<double>();
    const char* names[] = {"x", "y", "z"};
    for (int i = 0; i < 3; ++i) r.check(std::string("final_") + names[i], v1[static_cast<size_t>(i)]);
    for (int i = 0; i < 3; ++i)
      r.check(std::string("dfinal_x_d") + names[i] + "0", vg[static_cast<size_t>(i)]);
    r.extra("device", s1.device().str());
#else
    (void)o;
    r.pending("jx::lax::scan has not landed (transforms/control.h)");
#endif
  });
}
