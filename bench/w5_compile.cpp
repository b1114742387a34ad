// W5 (WORKLOADS.md): compile latency, the first call of W3's jitted step (bench/w3_step.h:
// trace, optimize, compile, run) minus a steady-state call (the median of --iters calls after
// it, 3 by default, after 1 warm-up call) in a fresh process; bench/run.py runs it in several
// processes. Target: jx / JAX <= 0.3.
#include "bench/common.h"
#include "bench/w3_step.h"

int main(int argc, char** argv) {
  return bench::run_main(
      argc, argv, "W5", 3,
      [](bench::Report& r, const bench::Options& o) {
        bench::W3Setup s = bench::w3_setup(o.smoke);
        jx::Tree params = s.params;
        s.params = jx::Tree();
        auto step = bench::w3_step(o.smoke);
        auto call = [&] {
          auto [p, l] = step(params, s.x, s.y);
          params = std::move(p);
          l.block_until_ready();
          jx::block_until_ready(params);  // the updated parameters too (GPU work is asynchronous)
        };
        auto t0 = bench::Clock::now();
        call();
        const double first = bench::seconds_since(t0) * 1e3;
        const double steady = bench::median(bench::time_calls(call, o, 1, 1e-3));
        r.figure("compile_ms", {first - steady});
        r.extra("first_call_ms", first);
        r.extra("steady_ms", steady);
      },
      1);
}
