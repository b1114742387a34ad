// W3 (WORKLOADS.md): MLP training step (bench/w3_step.h), whole step jitted with the parameters
// donated: milliseconds per step; also the first call (trace + compile + run) and the peak
// resident memory of the process. Target: jx / JAX <= 1.0.
#include "bench/common.h"
#include "bench/w3_step.h"

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, "W3", 10, [](bench::Report& r, const bench::Options& o) {
    bench::W3Setup s = bench::w3_setup(o.smoke);
    auto step = bench::w3_step(o.smoke);
    jx::Tree params = s.params;
    s.params = jx::Tree();  // donated below: keep no other reference
    jx::Array loss;
    auto call = [&] {
      auto [p, l] = step(params, s.x, s.y);
      params = std::move(p);
      loss = l.block_until_ready();
      jx::block_until_ready(params);  // the updated parameters too (GPU work is asynchronous)
    };
    auto t0 = bench::Clock::now();
    call();
    r.extra("first_call_ms", bench::seconds_since(t0) * 1e3);
    r.check("loss_first_step", loss.item<float>());
    r.figure("ms_per_step", bench::time_calls(call, o, 1, 1e-3));
    call();
    r.check("loss_last_step", loss.item<float>());
    r.extra("peak_rss_mib", bench::peak_rss_mib());
    r.extra("device", loss.device().str());
  });
}
