// per_example_grads: the core of DP-SGD. For a small MLP we compute one gradient per example
// with jx::vmap(jx::grad(loss)), their L2 norms, clip each to a maximum norm, and average
// the clipped gradients; then we do the same with an explicit C++ loop over examples,
// check that both agree, and time them. Last, DP-SGD training: the whole step (per-example
// gradients, clipping, Gaussian noise, an optax-style update) compiled with jx::jit, with the
// params, optimizer state and noise key donated to it, trains the MLP on teacher-labelled data.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <utility>
#include <vector>

#include <jx/jx.h>

using jx::Array;
using jx::Tree;

namespace {

Array normal_array(std::mt19937& gen, const jx::Shape& shape, double scale) {
  std::normal_distribution<float> dist(0.0f, static_cast<float>(scale));
  std::vector<float> v(static_cast<size_t>(jx::shape_size(shape)));
  for (auto& e : v) e = dist(gen);
  return jx::array(v, shape);
}

// Cross-entropy of one example: x f32[64], y an int32 label.
Array loss_one(const Tree& p, const Array& x, const Array& y) {
  Array h = jx::relu(jx::matmul(x, p["w1"].array()) + p["b1"].array());
  Array logits = jx::matmul(h, p["w2"].array()) + p["b2"].array();
  return -jx::log_softmax(logits)[y];
}

// Per-example L2 norms over all parameters: grads have a leading batch axis.
Array per_example_norms(const Tree& grads) {
  Array total;
  for (const Array& g : jx::tree_leaves(grads)) {
    std::vector<int> axes;
    for (int a = 1; a < g.ndim(); ++a) axes.push_back(a);
    Array s = jx::sum(jx::square(g), axes);
    total = total.defined() ? total + s : s;
  }
  return jx::sqrt(total);
}

// Scales each example's gradient to norm <= clip and averages over the batch.
Tree clipped_mean(const Tree& grads, const Array& norms, double clip) {
  Array factor = jx::minimum(1.0, clip / (norms + 1e-12));  // [B]
  return jx::tree_map(
      [&](const Array& g) {
        jx::Shape s(g.ndim(), 1);
        s[0] = g.shape()[0];
        return jx::mean(g * jx::reshape(factor, s), {0});
      },
      grads);
}

// What a DP-SGD step changes: JX_TREE makes it a tree that jit takes, returns and donates.
struct DpState {
  Tree params;
  Tree opt_state;
  Array key;  // for the noise, split once per step
};
JX_TREE(DpState, params, opt_state, key)

template <class F>
double median_ms(F&& f, int reps) {
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main() {
  // 0. One thread unless JX_NUM_THREADS says otherwise: the kernels are small, and on a busy
  //    2-core machine a second worker mostly waits for a core.
  if (std::getenv("JX_NUM_THREADS") == nullptr) jx::set_num_threads(1);

  // 1. A 64-128-10 MLP and a batch of 128 synthetic examples.
  const int batch = 128, in = 64, hidden = 128, classes = 10;
  const double clip = 10.0;
  std::mt19937 gen(0);
  Tree params{{"w1", normal_array(gen, {in, hidden}, 1.0 / std::sqrt(in))},
              {"b1", jx::zeros({hidden})},
              {"w2", normal_array(gen, {hidden, classes}, 1.0 / std::sqrt(hidden))},
              {"b2", jx::zeros({classes})}};
  Array xs = normal_array(gen, {batch, in}, 1.0);
  std::vector<int32_t> labels(batch);
  for (auto& l : labels) l = static_cast<int32_t>(gen() % classes);
  Array ys = jx::array(labels);

  // 2. Per-example gradients in one batched computation: the parameters are shared
  //    (in_axes none), examples and labels are mapped along axis 0.
  auto per_example_grad = jx::vmap(jx::grad(loss_one), {jx::none, 0, 0});
  auto dp_step_vmap = [&] {
    Tree g = per_example_grad(params, xs, ys);
    Array norms = per_example_norms(g);
    return std::pair{clipped_mean(g, norms, clip), norms};
  };

  // 3. The same with an explicit loop over examples.
  auto grad_one = jx::grad(loss_one);
  auto dp_step_loop = [&] {
    std::vector<Tree> gs;
    for (int b = 0; b < batch; ++b) gs.push_back(grad_one(params, xs[b], ys[b]));
    Tree stacked = jx::tree_map([&](const Array& first) { return first; }, gs[0]);
    for (auto& [name, leaf] : stacked.as_dict()) {
      std::vector<Array> parts;
      for (auto& g : gs) parts.push_back(g[name].array());
      leaf = jx::stack(parts);
    }
    Array norms = per_example_norms(stacked);
    return std::pair{clipped_mean(stacked, norms, clip), norms};
  };

  auto [g_vmap, n_vmap] = dp_step_vmap();
  auto [g_loop, n_loop] = dp_step_loop();
  double max_diff = jx::max(jx::abs(n_vmap - n_loop)).item<double>();
  for (auto& [name, leaf] : g_vmap.as_dict()) {
    max_diff = std::max(max_diff, jx::max(jx::abs(leaf.array() - g_loop[name].array())).item<double>());
  }
  auto nv = n_vmap.to_vector<float>();
  int clipped = static_cast<int>(std::count_if(nv.begin(), nv.end(), [&](float n) { return n > clip; }));
  std::printf("per-example gradient norms: min %.3f  median %.3f  max %.3f  (%d of %d clipped to %.1f)\n",
              *std::min_element(nv.begin(), nv.end()), [&] {
                auto s = nv;
                std::nth_element(s.begin(), s.begin() + s.size() / 2, s.end());
                return s[s.size() / 2];
              }(), *std::max_element(nv.begin(), nv.end()), clipped, batch, clip);
  std::printf("vmap vs loop: max |difference| = %.2e\n", max_diff);

  // 4. Timing (eager; medians of 7 runs after the warm-up above).
  double t_vmap = median_ms([&] { jx::block_until_ready(dp_step_vmap().first); }, 7);
  double t_loop = median_ms([&] { jx::block_until_ready(dp_step_loop().first); }, 7);
  std::printf("clipped mean gradient of %d examples: vmap %.2f ms, loop %.2f ms, speed-up %.1fx\n", batch, t_vmap,
              t_loop, t_loop / t_vmap);

  // 5. DP-SGD training. The data: 1024 training and 512 test examples labelled by a random
  //    linear teacher (argmax of x T), so there is something to learn.
  const int n_train = 1024, n_test = 512;
  const double noise_multiplier = 1.0, dp_clip = 1.0;
  Array teacher = normal_array(gen, {in, classes}, 1.0);
  Array train_x = normal_array(gen, {n_train, in}, 1.0), test_x = normal_array(gen, {n_test, in}, 1.0);
  Array train_y = jx::argmax(jx::matmul(train_x, teacher), 1).astype(jx::int32);
  Array test_y = jx::argmax(jx::matmul(test_x, teacher), 1).astype(jx::int32);

  // 6. The step, as a JAX user writes it: per-example gradients clipped to dp_clip, summed, plus
  //    Gaussian noise of std noise_multiplier * dp_clip, divided by the batch size; then the
  //    optimizer. Compiled with jx::jit; the state (params, momentum, noise key) is donated, so
  //    the new state reuses its buffers. The noise key is part of the state, not a capture:
  //    jit would bake a captured key in, and every step would draw the same noise.
  auto opt = jx::optim::sgd(0.05, 0.9);
  auto dp_step = [&](const DpState& s, const Array& x, const Array& y) {
    Tree g = per_example_grad(s.params, x, y);
    Tree mean_clipped = clipped_mean(g, per_example_norms(g), dp_clip);
    const auto b = static_cast<double>(x.shape()[0]);
    Array keys = jx::random::split(s.key, 5);  // keys[0] carries on; one per parameter leaf
    int leaf = 0;
    Tree noisy = jx::tree_map(
        [&](const Array& m) {
          return m + (noise_multiplier * dp_clip / b) * jx::random::normal(keys[++leaf], m.shape());
        },
        mean_clipped);
    auto [updates, opt_state] = opt.update(noisy, s.opt_state, s.params);
    return DpState{jx::optim::apply_updates(s.params, updates), opt_state, keys[0]};
  };
  auto dp_step_jit = jx::jit(dp_step, {.donate_argnums = {0}});
  auto test_metrics = jx::jit([](const Tree& p, const Array& x, const Array& y) {
    Array h = jx::relu(jx::matmul(x, p["w1"].array()) + p["b1"].array());
    Array logits = jx::matmul(h, p["w2"].array()) + p["b2"].array();
    return std::pair{jx::mean(jx::nn::softmax_cross_entropy_with_integer_labels(logits, y)),
                     jx::nn::accuracy(logits, y)};
  });

  // 7. Train for 40 epochs of 8 shuffled batches of 128 (the noise is what makes it private;
  //    the accountant that turns noise_multiplier into (epsilon, delta) is not shown here).
  //    `params` is donated by the first step: state.params is the model from then on.
  DpState state{params, opt.init(params), jx::random::key(0)};
  auto [loss0, acc0] = test_metrics(state.params, test_x, test_y);
  std::printf("\nDP-SGD (clip %.1f, noise multiplier %.1f, sgd momentum 0.9): test loss %.3f, accuracy %.1f%% before\n",
              dp_clip, noise_multiplier, loss0.item<float>(), 100.0 * acc0.item<float>());
  jx::nn::DataLoader<std::pair<Array, Array>> loader({train_x, train_y}, batch, {.shuffle = true, .seed = 1});
  auto t_train = std::chrono::steady_clock::now();
  int steps = 0;
  for (int epoch = 0; epoch < 40; ++epoch) {
    for (auto [x, y] : loader.epoch(epoch)) {
      state = dp_step_jit(state, x, y);
      ++steps;
    }
  }
  double train_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_train).count();
  auto [loss1, acc1] = test_metrics(state.params, test_x, test_y);
  std::printf("after %d compiled steps (%.0f ms in all, the first one compiling): test loss %.3f, accuracy %.1f%%\n",
              steps, train_ms, loss1.item<float>(), 100.0 * acc1.item<float>());

  // 8. The compiled step against the same step run eagerly (medians of 7, on scratch copies of
  //    the state: the compiled one donates it).
  auto [bx, by] = loader.epoch(0).batch(0);
  auto scratch = [&] {  // a * 1: the same values in a fresh buffer
    return DpState{jx::tree_map([](const Array& a) { return a * 1.0f; }, state.params),
                   jx::tree_map([](const Array& a) { return a * 1.0f; }, state.opt_state), jx::random::key(1)};
  };
  std::vector<DpState> copies;
  for (int r = 0; r < 7; ++r) copies.push_back(scratch());
  int next_copy = 0;
  double t_eager = median_ms([&] { jx::block_until_ready(dp_step(state, bx, by).params); }, 7);
  double t_jit = median_ms([&] { jx::block_until_ready(dp_step_jit(copies[next_copy++], bx, by).params); }, 7);
  std::printf("one DP-SGD step on %d examples: eager %.2f ms, jit %.2f ms, speed-up %.1fx\n", batch, t_eager, t_jit,
              t_eager / t_jit);
  return max_diff < 1e-4 && acc1.item<float>() > acc0.item<float>() ? 0 : 1;
}
