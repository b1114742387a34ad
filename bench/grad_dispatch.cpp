// Eager grad of a tiny function after the first call (cached transformed jaxpr): microseconds
// per call, median of 20 runs of 1000 calls. Target (issue 3): under 20 us.
// (Not one of WORKLOADS.md's W1-W8.) --smoke: two runs of 10 calls.
#include <cstdio>

#include "bench/common.h"
#include "jx/jx.h"

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, "grad_dispatch", 20, [](bench::Report& r, const bench::Options& o) {
    auto f = [](const jx::Array& x) { return jx::sum(jx::sin(x) * x); };
    auto g = jx::grad(f);
    jx::Array x = jx::array({0.1f, 0.2f, 0.3f, 0.4f});
    g(x);  // trace, transform, cache
    auto us = bench::time_calls([&] { g(x).block_until_ready(); }, o, o.smoke ? 10 : 1000, 1e-6);
    auto jp = jx::make_jaxpr(g)(x);
    std::printf("eager grad(sum(sin(x) * x)), x f32[4]: %.2f us per call (median), %zu equations\n",
                bench::median(us), jp.jaxpr->eqns.size());
    r.figure("us_per_call", us);
    r.check("grad0", static_cast<double>(g(x).to_vector<float>()[0]));
  });
}
