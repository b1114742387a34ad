// W4 (WORKLOADS.md): per-example gradients of an MLP 784-128-10 (relu, jx::nn::MLP) over a
// batch of 128, jit(vmap(grad(loss_one_example))) with the parameters unbatched: milliseconds
// per call. Target: jx / JAX <= 1.0. --smoke: 784-16-10, batch 4.
#include <cmath>

#include "bench/common.h"
#include "bench/workload_data.h"

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, "W4", 10, [](bench::Report& r, const bench::Options& o) {
    const int64_t batch = o.smoke ? 4 : 128, hidden = o.smoke ? 16 : 128;
    jx::nn::MLP model({hidden, 10}, jx::nn::relu);
    jx::Array x = bench::pixels(batch, 784), y = bench::labels(batch);
    jx::Tree params = model.init(jx::random::key(0), x);
    // One example: x f32[784], y an int32 scalar.
    auto loss_one = [model](const jx::Tree& p, const jx::Array& x, const jx::Array& y) {
      return jx::nn::softmax_cross_entropy_with_integer_labels(model.apply(p, x), y);
    };
    auto f = jx::jit(jx::vmap(jx::grad(loss_one), {jx::none, 0, 0}));
    jx::Tree g = f(params, x, y);  // compile
    r.figure("ms_per_call", bench::time_calls([&] { jx::block_until_ready(f(params, x, y)); }, o, 1, 1e-3));
    double s = 0;
    for (double v : g["0"]["w"].array().to_vector<double>()) s += std::abs(v);
    r.check("sum_abs_grad_w0", s);
    r.extra("device", g["0"]["w"].array().device().str());
  });
}
