#pragma once
// Inputs shared by the jx workloads and bench/jax/workloads.py (same formulas, so the "check"
// values of the deterministic workloads can be compared between the two systems).

#include <cstdint>
#include <vector>

#include "jx/jx.h"

namespace bench {

/// f32[n, d] in [0, 1): ((i * d + j) % 255) / 255.
inline jx::Array pixels(int64_t n, int64_t d) {
  std::vector<float> v(static_cast<size_t>(n * d));
  for (int64_t i = 0; i < n * d; ++i) v[static_cast<size_t>(i)] = static_cast<float>(static_cast<double>(i % 255) / 255.0);
  return jx::array(v, jx::Shape{n, d});
}

/// int32[n]: i % classes.
inline jx::Array labels(int64_t n, int64_t classes = 10) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<int32_t>(i % classes);
  return jx::array(v, jx::Shape{n});
}

/// Sum of all elements in float64 (a check value).
inline double sum64(const jx::Array& a) {
  double s = 0;
  for (double v : a.to_vector<double>()) s += v;
  return s;
}

/// The plain SGD update of W3 / W7: p - lr * g, leaf by leaf.
inline jx::Tree sgd(const jx::Tree& params, const jx::Tree& grads, double lr = 0.01) {
  return jx::tree_map([lr](const jx::Array& w, const jx::Array& g) { return w - lr * g; }, params, grads);
}

}  // namespace bench
