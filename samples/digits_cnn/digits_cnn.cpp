// digits_cnn: a convolutional network with BatchNorm and Dropout, trained with nnlib on the
// 8x8 digits (the same fixed 1437 / 360 split as digits_mlp), images as NHWC [N, 8, 8, 1].
// It shows the stateful side of the module API: BatchNorm's running statistics are explicit
// state that the train step returns next to the loss (value_and_grad with has_aux), Dropout
// draws from an explicit key split off per step (jx::random::split), and testing runs in eval
// mode (running statistics, no dropout). The train step is compiled with jx::jit and takes
// everything that changes -- params, BatchNorm statistics, optimizer state, dropout key -- as
// one donated argument, as `jax.jit(train_step, donate_argnums=0)` would: the new state is
// written into the old state's buffers. At the end the trained parameters and statistics go
// through a safetensors checkpoint (jx::nn::save / jx::nn::load) and the reloaded model is
// evaluated again. It prints the per-epoch loss and test accuracy, the final accuracy, the
// wall time, and exits non-zero below 98%.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>
#include <utility>

#include <jx/jx.h>

#include "../common/digits.h"

using jx::Array;
using jx::Tree;
namespace nn = jx::nn;

namespace {

// A 3x3 "SAME" convolution with nn::Conv2D's parameters (HWIO "w" [3, 3, C, F] and "b" [F]),
// computed as im2col + matmul: the nine shifted copies of the zero-padded input are stacked
// along the channels ([N, H, W, 9C]) and multiplied by w reshaped to [9C, F]. The result is
// nn::Conv2D's; it is here because oneDNN has no optimized kernel for the convolution that the
// gradient with respect to the kernel becomes at these shapes, so jx runs it on its own loop
// kernel, while pad, slice, concatenate and matmul (oneDNN) have fast gradients: im2col is the
// faster choice for these small images. Any struct with init/apply is a module.
struct Conv3x3 {
  int64_t features;
  std::string name() const { return "Conv3x3"; }
  Tree init(const Array& key, const Array& x) const { return nn::Conv2D(features, {3, 3}).init(key, x); }
  Array apply(const Tree& params, const Array& x) const {
    const auto& s = x.shape();  // [N, H, W, C]
    Array xp = jx::pad(x, {{0, 0}, {1, 1}, {1, 1}, {0, 0}});
    std::vector<Array> shifted;
    for (int64_t dy = 0; dy < 3; ++dy) {
      for (int64_t dx = 0; dx < 3; ++dx) {
        shifted.push_back(jx::slice(xp, {0, dy, dx, 0}, {s[0], dy + s[1], dx + s[2], s[3]}));
      }
    }
    Array patches = jx::concatenate(shifted, 3);  // channel index (dy * 3 + dx) * C + c, as HWIO
    Array w = jx::reshape(params["w"].array(), {9 * s[3], features});
    return jx::matmul(patches, w) + params["b"].array();
  }
};

// Everything a training step changes; JX_TREE makes it a tree that jit takes, returns and donates.
struct TrainState {
  Tree params;
  Tree batch_stats;  // BatchNorm's running mean / variance
  Tree opt_state;
  Array key;  // the dropout key, split once per step
};
JX_TREE(TrainState, params, batch_stats, opt_state, key)

}  // namespace

int main() {
  constexpr int kEpochs = 15;
  constexpr int64_t kBatch = 32;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // line-buffered, also through a pipe
  auto start = std::chrono::steady_clock::now();
  // 0. One thread unless JX_NUM_THREADS says otherwise (small kernels; on a busy 2-core machine a
  //    second OpenMP worker mostly spins and waits).
  if (std::getenv("JX_NUM_THREADS") == nullptr) jx::set_num_threads(1);

  // 1. Load the shared split and reshape the pixels to NHWC images [N, 8, 8, 1].
  digits::Data data = digits::load();
  Array train_x = jx::reshape(data.train.x, {data.train.size(), 8, 8, 1});
  Array test_x = jx::reshape(data.test.x, {data.test.size(), 8, 8, 1});
  std::printf("digits: %lld train / %lld test images [8, 8, 1], 10 classes\n",
              static_cast<long long>(data.train.size()), static_cast<long long>(data.test.size()));

  // 2. The model. The 3x3 convolutions keep 8x8 ("SAME"), MaxPool halves it: 4 * 4 * 64 features
  //    for Linear. Conv3x3 (above) is nn::Conv2D(features, {3, 3}) computed another way; the
  //    check below runs both on the same parameters.
  nn::Sequential model{Conv3x3{32},         nn::BatchNorm(0.9), nn::relu,
                       Conv3x3{64},         nn::BatchNorm(0.9), nn::relu,
                       nn::MaxPool({2, 2}),    nn::Flatten(),       nn::Dropout(0.3),
                       nn::Linear(digits::kClasses)};

  // 3. Initialize from explicit keys: parameters, and BatchNorm's state (running mean / var).
  Array key = jx::random::key(0);
  Array keys = jx::random::split(key, 2);
  key = keys[0];
  auto [params, state] = model.init_with_state(keys[1], train_x);
  {
    Tree p0 = nn::subtree(params, "0");
    Array a = Conv3x3{32}.apply(p0, test_x), b = nn::Conv2D(32, {3, 3}).apply(p0, test_x);
    std::printf("Conv3x3 vs nn::Conv2D on the test images: max |difference| %.2g\n",
                jx::max(jx::abs(a - b)).item<float>());
  }
  std::printf("model: conv32-bn-relu, conv64-bn-relu, maxpool 2, dropout 0.3, linear 10: %lld parameters\n",
              static_cast<long long>(nn::param_count(params)));

  // 4. The loss in train mode returns BatchNorm's updated statistics as aux.
  auto loss_fn = [model](const Tree& p, const Tree& s, const Array& x, const Array& y, const Array& rng) {
    auto [logits, new_state] = model.apply(p, s, x, {.train = true, .rng = rng});
    return std::pair{jx::mean(nn::softmax_cross_entropy_with_integer_labels(logits, y)), new_state};
  };
  auto loss_and_grad = jx::value_and_grad(loss_fn, jx::has_aux);

  // 5. Eval mode: running statistics, no dropout; compiled, nothing donated.
  auto accuracy = jx::jit([model](const Tree& p, const Tree& s, const Array& x, const Array& y) {
    auto [logits, unused] = model.apply(p, s, x);
    return nn::accuracy(logits, y);
  });
  auto test_accuracy = [&](const Tree& p, const Tree& s) {
    return static_cast<double>(accuracy(p, s, test_x, data.test.y).item<float>());
  };

  // 6. Adam with a warm-up + cosine learning rate over all steps; shuffled minibatches. The
  //    schedule reads the step count from the optimizer state, an array, so jit does not bake it in.
  nn::DataLoader<std::pair<Array, Array>> loader({train_x, data.train.y}, kBatch, {.shuffle = true, .seed = 1});
  const auto steps = static_cast<int64_t>(kEpochs * loader.size());
  auto opt = jx::optim::adam(jx::optim::warmup_cosine_decay_schedule(0.0, 3e-3, steps / 20, steps, 1e-5));

  // 7. The training step, compiled, with the whole state donated: split a fresh dropout key off
  //    the running key, take the gradient, update the params, carry the new BatchNorm state
  //    forward. jit traces it once per batch shape (the last batch of an epoch has 29 images:
  //    two executables); the loss comes back as a 0-d array.
  auto train_step = jx::jit(
      [&](const TrainState& s, const Array& x, const Array& y) {
        Array step_keys = jx::random::split(s.key, 2);
        auto [loss_aux, grads] = loss_and_grad(s.params, s.batch_stats, x, y, step_keys[1]);
        auto [updates, opt_state] = opt.update(grads, s.opt_state, s.params);
        TrainState next{jx::optim::apply_updates(s.params, updates), loss_aux.second, opt_state, step_keys[0]};
        return std::pair{next, loss_aux.first};
      },
      {.donate_argnums = {0}});
  TrainState ts{params, state, opt.init(params), key};  // `params` and `state` are donated by the first step

  // 8. Train.
  for (int epoch = 0; epoch < kEpochs; ++epoch) {
    auto t0 = std::chrono::steady_clock::now();
    double loss_sum = 0;
    int batches = 0;
    for (auto [x, y] : loader.epoch(epoch)) {
      auto [next, loss] = train_step(ts, x, y);
      ts = std::move(next);
      loss_sum += loss.item<float>();
      ++batches;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("epoch %2d/%d  %.2fs%s  train loss %.4f  test accuracy %.4f\n", epoch + 1, kEpochs, seconds,
                epoch == 0 ? " (compiles)" : "", loss_sum / batches, test_accuracy(ts.params, ts.batch_stats));
  }
  double acc = test_accuracy(ts.params, ts.batch_stats);
  double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // 9. Checkpoint: write params and BatchNorm state to a safetensors file, read them back, and
  //    evaluate the reloaded model.
  auto path = std::filesystem::temp_directory_path() / "jx_digits_cnn.safetensors";
  nn::save(Tree{{"params", ts.params}, {"batch_stats", ts.batch_stats}}, path,
           {{"test_accuracy", std::to_string(acc)}});
  Tree loaded = nn::load(path);
  double reloaded_acc = test_accuracy(loaded["params"], loaded["batch_stats"]);
  std::printf("checkpoint: %s, %lld parameters + %lld BatchNorm statistics, %lld bytes\n", path.string().c_str(),
              static_cast<long long>(nn::param_count(ts.params)),
              static_cast<long long>(nn::param_count(ts.batch_stats)),
              static_cast<long long>(std::filesystem::file_size(path)));
  std::printf("reloaded test accuracy: %.2f%%%s\n", 100.0 * reloaded_acc,
              reloaded_acc == acc ? " (same as before saving)" : " (DIFFERS from before saving)");
  std::filesystem::remove(path);

  // 10. Report.
  std::printf("final test accuracy: %.2f%% (%d/%lld)\n", 100.0 * acc,
              static_cast<int>(acc * static_cast<double>(data.test.size()) + 0.5),
              static_cast<long long>(data.test.size()));
  std::printf("wall time: %.2f s (training and evaluation)\n", train_seconds);
  if (acc < 0.98 || reloaded_acc != acc) {
    std::printf("FAILED: %s\n", acc < 0.98 ? "test accuracy below 98%" : "the reloaded checkpoint differs");
    return 1;
  }
  return 0;
}
