// per_example_grads: the core of DP-SGD. For a small MLP we compute one gradient per example
// with jx::vmap(jx::grad(loss)), their L2 norms, clip each to a maximum norm, and average
// the clipped gradients; then we do the same with an explicit C++ loop over examples,
// check that both agree, and time them.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
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
  return max_diff < 1e-4 ? 0 : 1;
}
