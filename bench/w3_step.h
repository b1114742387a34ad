#pragma once
// W3's training step, shared by bench_w3_mlp (steady state, memory) and bench_w5_compile (first
// call): MLP 784-1024-1024-10 (relu) as jx::nn::MLP, batch 256, mean softmax cross-entropy with
// integer labels, SGD lr 0.01; value_and_grad and the update in one jitted function whose
// parameter argument is donated. --smoke: 784-32-32-10, batch 8.

#include <utility>

#include "bench/workload_data.h"

namespace bench {

struct W3Setup {
  jx::Array x, y;
  jx::Tree params;
};

inline W3Setup w3_setup(bool smoke) {
  const int64_t batch = smoke ? 8 : 256, hidden = smoke ? 32 : 1024;
  jx::nn::MLP model({hidden, hidden, 10}, jx::nn::relu);
  W3Setup s{pixels(batch, 784), labels(batch), {}};
  s.params = model.init(jx::random::key(0), s.x);
  return s;
}

inline auto w3_step(bool smoke) {
  const int64_t hidden = smoke ? 32 : 1024;
  jx::nn::MLP model({hidden, hidden, 10}, jx::nn::relu);
  auto loss_fn = [model](const jx::Tree& p, const jx::Array& x, const jx::Array& y) {
    return jx::mean(jx::nn::softmax_cross_entropy_with_integer_labels(model.apply(p, x), y));
  };
  return jx::jit(
      [loss_fn](const jx::Tree& p, const jx::Array& x, const jx::Array& y) {
        auto [loss, grads] = jx::value_and_grad(loss_fn)(p, x, y);
        return std::pair{sgd(p, grads), loss};
      },
      {.static_argnums = {}, .donate_argnums = {0}, .name = "w3_step"});
}

}  // namespace bench
