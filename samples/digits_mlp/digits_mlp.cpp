// digits_mlp: a complete nnlib training run in a few seconds. An MLP (64-256-256-10, relu)
// learns the 8x8 handwritten digits (1437 training / 360 test images, a fixed seeded split):
// jx::nn::MLP for the model, softmax cross-entropy with integer labels, jx::value_and_grad for
// the gradient, jx::optim::adamw with a warm-up + cosine learning-rate schedule, and
// jx::nn::fit driving shuffled minibatches from a jx::nn::DataLoader, printing the train loss
// and the test accuracy after every epoch. fit compiles the training step with jx::jit and
// donates the parameters and optimizer state to it -- what `jax.jit(train_step,
// donate_argnums=0)` does in JAX -- so each step is one compiled program that updates the state
// in place. It prints the final test accuracy and the wall time and exits non-zero below 97%.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <utility>

#include <jx/jx.h>

#include "../common/digits.h"

using jx::Array;
using jx::Tree;

namespace {

// Everything that changes during training: the parameters and the optimizer's state. JX_TREE
// makes it a tree, so jit can take it as an argument, return it, and donate its buffers.
struct TrainState {
  Tree params;
  Tree opt_state;
};
JX_TREE(TrainState, params, opt_state)

}  // namespace

int main() {
  constexpr int kEpochs = 20;
  constexpr int64_t kBatch = 32;
  auto start = std::chrono::steady_clock::now();
  // 0. One thread unless JX_NUM_THREADS says otherwise: these matrices are small (a batch of 32
  //    rows), and on a busy 2-core machine a second OpenMP worker mostly spins and waits.
  if (std::getenv("JX_NUM_THREADS") == nullptr) jx::set_num_threads(1);

  // 1. Load the data: x float32 [N, 64] scaled to [0, 1], y int32 [N] (the shared fixed split).
  digits::Data data = digits::load();
  std::printf("digits: %lld train / %lld test images of 8x8 pixels, 10 classes\n",
              static_cast<long long>(data.train.size()), static_cast<long long>(data.test.size()));

  // 2. Describe the model and initialize its parameters from an explicit key.
  jx::nn::MLP model({256, 256, digits::kClasses}, jx::nn::relu);
  Tree params = model.init(jx::random::key(0), data.train.x);
  std::printf("model: MLP 64-256-256-10 (relu), %lld parameters\n",
              static_cast<long long>(jx::nn::param_count(params)));

  // 3. The loss: mean softmax cross-entropy over the batch, a pure function of the parameters.
  auto loss_fn = [model](const Tree& p, const Array& x, const Array& y) {
    return jx::mean(jx::nn::softmax_cross_entropy_with_integer_labels(model.apply(p, x), y));
  };
  auto loss_and_grad = jx::value_and_grad(loss_fn);

  // 4. The optimizer: AdamW, learning rate warming up to 5e-3 then decaying along a cosine.
  jx::nn::DataLoader<std::pair<Array, Array>> loader({data.train.x, data.train.y}, kBatch,
                                                     {.shuffle = true, .seed = 1});
  const auto steps = static_cast<int64_t>(kEpochs * loader.size());
  auto opt = jx::optim::adamw(jx::optim::warmup_cosine_decay_schedule(0.0, 5e-3, steps / 20, steps, 1e-5),
                              0.9, 0.999, 1e-8, /*weight_decay=*/1e-2);
  TrainState state{params, opt.init(params)};

  // 5. One training step: gradient, optimizer update, new parameters; the loss is the metric, a
  //    0-d array (the step is traced, so it cannot read values with item()). fit compiles it,
  //    as jx::jit(train_step, {.donate_argnums = {0}}), once per batch shape: the 45th batch
  //    of each epoch has 29 images, so there are two executables. The learning-rate schedule
  //    reads the step count from the optimizer state (an array), so jit does not bake it in.
  auto train_step = [&](const TrainState& s, const std::pair<Array, Array>& batch) {
    auto [loss, grads] = loss_and_grad(s.params, batch.first, batch.second);
    auto [updates, opt_state] = opt.update(grads, s.opt_state, s.params);
    TrainState next{jx::optim::apply_updates(s.params, updates), opt_state};
    return std::pair{next, std::map<std::string, Array>{{"loss", loss}}};
  };
  // 6. Evaluation after every epoch: accuracy on the held-out test images, compiled too (the
  //    params are not donated: they are still needed).
  auto accuracy = jx::jit([model](const Tree& p, const Array& x, const Array& y) {
    return jx::nn::accuracy(model.apply(p, x), y);
  });
  auto test_accuracy = [&](const Tree& p) {
    return static_cast<double>(accuracy(p, data.test.x, data.test.y).item<float>());
  };
  auto eval = [&](const TrainState& s) { return jx::nn::Metrics{{"accuracy", test_accuracy(s.params)}}; };

  // 7. Train: fit prints one line per epoch (train loss, test accuracy as val_accuracy). After
  //    the first step `params` is deleted (its buffers were donated): state.params is the model.
  auto history = jx::nn::fit(state, train_step, loader, eval,
                             {.epochs = kEpochs, .progress = jx::nn::Progress::lines, .out = &std::cout});
  std::printf("train step: %s\n", history.jitted ? "compiled with jx::jit, params and optimizer state donated"
                                                 : "eager");

  // 8. Report the final accuracy and the wall time (data loading included).
  double acc = test_accuracy(state.params);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("final test accuracy: %.2f%% (%d/%lld)\n", 100.0 * acc,
              static_cast<int>(acc * static_cast<double>(data.test.size()) + 0.5),
              static_cast<long long>(data.test.size()));
  std::printf("wall time: %.2f s\n", seconds);
  if (acc < 0.97) {
    std::printf("FAILED: test accuracy below 97%%\n");
    return 1;
  }
  return 0;
}
