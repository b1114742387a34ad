// W7 (WORKLOADS.md): small CNN training step on x f32[64, 28, 28, 1] (NHWC): conv3x3(32) + relu
// + maxpool2, conv3x3(64) + relu + maxpool2, dense 10 (jx::nn::Sequential, SAME convolutions),
// mean softmax cross-entropy with integer labels, SGD lr 0.01; value_and_grad and the update in
// one jitted function with the parameters donated: milliseconds per step. Target: jx / JAX <= 1.0.
// --smoke: batch 2 of 8x8 images.
#include <utility>

#include "bench/common.h"
#include "bench/workload_data.h"

int main(int argc, char** argv) {
  return bench::run_main(argc, argv, "W7", 10, [](bench::Report& r, const bench::Options& o) {
    const int64_t batch = o.smoke ? 2 : 64, hw = o.smoke ? 8 : 28;
    namespace nn = jx::nn;
    nn::Sequential model{nn::Conv2D(32, {3, 3}), nn::relu, nn::MaxPool({2, 2}),
                         nn::Conv2D(64, {3, 3}), nn::relu, nn::MaxPool({2, 2}),
                         nn::Flatten(),          nn::Linear(10)};
    jx::Array x = jx::reshape(bench::pixels(batch, hw * hw), {batch, hw, hw, 1}), y = bench::labels(batch);
    jx::Tree params = model.init(jx::random::key(0), x);
    auto loss_fn = [model](const jx::Tree& p, const jx::Array& x, const jx::Array& y) {
      return jx::mean(nn::softmax_cross_entropy_with_integer_labels(model.apply(p, x), y));
    };
    auto step = jx::jit(
        [loss_fn](const jx::Tree& p, const jx::Array& x, const jx::Array& y) {
          auto [loss, grads] = jx::value_and_grad(loss_fn)(p, x, y);
          return std::pair{bench::sgd(p, grads), loss};
        },
        {.static_argnums = {}, .donate_argnums = {0}, .name = "w7_step"});
    jx::Array loss;
    auto call = [&] {
      auto [p, l] = step(params, x, y);
      params = std::move(p);
      loss = l.block_until_ready();
      jx::block_until_ready(params);  // the updated parameters too (GPU work is asynchronous)
    };
    call();  // compile
    r.check("loss_first_step", loss.item<float>());
    r.figure("ms_per_step", bench::time_calls(call, o, 1, 1e-3));
    r.extra("device", loss.device().str());
  });
}
