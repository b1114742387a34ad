// Losses and metrics: values against hand formulas and optax literals,
// gradients, stability at extreme logits, finite-difference gradient checks,
// and the errors for bad shapes/dtypes.
#include <cmath>

#include "testing/check_grads.h"
#include "testing/testing.h"

using namespace jx;

namespace {
// -log softmax(row)[k], written out in plain C++ (stable via the row max).
double ce_ref(const std::vector<double> &row, size_t k) {
  double m = row[0];
  for (double v : row)
    m = std::max(m, v);
  double s = 0;
  for (double v : row)
    s += std::exp(v - m);
  return std::log(s) + m - row[k];
}
} // namespace

TEST_CASE("softmax_cross_entropy_with_integer_labels: per-example values match "
          "the formula and optax") {
  Array logits =
      array({1.0, 2.0, 3.0, 0.5, -1.0, 0.0}, Shape{2, 3}).astype(float64);
  Array labels = array({2, 0}, Shape{2});
  Array loss = nn::softmax_cross_entropy_with_integer_labels(logits, labels);
  CHECK(loss.shape() == Shape{2});
  CHECK(loss.dtype() == float64);
  CHECK_ALLCLOSE(loss, {ce_ref({1, 2, 3}, 2), ce_ref({0.5, -1, 0}, 0)});
  // optax.softmax_cross_entropy_with_integer_labels (jax_enable_x64) on the
  // same inputs.
  CHECK_ALLCLOSE(loss, {0.40760596444438013, 0.6041306053367284});
  SUBCASE("int64 labels and float32 logits") {
    Array l32 = nn::softmax_cross_entropy_with_integer_labels(
        logits.astype(float32), labels.astype(int64));
    CHECK(l32.dtype() == float32);
    CHECK_ALLCLOSE(l32, {0.40760596444438013, 0.6041306053367284});
  }
  SUBCASE("rank-1 logits give a 0-d loss; extra batch axes are kept") {
    Array l0 = nn::softmax_cross_entropy_with_integer_labels(
        array({1.0, 2.0, 3.0}).astype(float64), Array(1).astype(int32));
    CHECK(l0.shape() == Shape{});
    CHECK_ALLCLOSE(l0, std::vector<double>{ce_ref({1, 2, 3}, 1)});
    Array l3 = nn::softmax_cross_entropy_with_integer_labels(
        zeros({2, 4, 5}), zeros({2, 4}, int32));
    CHECK(l3.shape() == Shape{2, 4});
    CHECK_ALLCLOSE(l3, std::vector<double>(8, std::log(5.0)));
  }
}

TEST_CASE("softmax_cross_entropy: soft labels match the formula and optax") {
  Array logits =
      array({1.0, 2.0, 3.0, 0.5, -1.0, 0.0}, Shape{2, 3}).astype(float64);
  Array labels =
      array({0.2, 0.3, 0.5, 1.0, 0.0, 0.0}, Shape{2, 3}).astype(float64);
  Array loss = nn::softmax_cross_entropy(logits, labels);
  double r0 = 0.2 * ce_ref({1, 2, 3}, 0) + 0.3 * ce_ref({1, 2, 3}, 1) +
              0.5 * ce_ref({1, 2, 3}, 2);
  CHECK_ALLCLOSE(loss, {r0, ce_ref({0.5, -1, 0}, 0)});
  CHECK_ALLCLOSE(loss, {1.10760596444438,
                        0.6041306053367284}); // optax.softmax_cross_entropy
}

TEST_CASE(
    "softmax cross entropy: the gradient w.r.t. logits is softmax - onehot") {
  Array logits = testing::uniform({3, 4}, -2.0, 2.0, float64, 7);
  Array labels = array({3, 0, 2}, Shape{3});
  auto lv = testing::values(logits);
  std::vector<double> expected;
  std::vector<int> lab = {3, 0, 2};
  for (int i = 0; i < 3; ++i) {
    double z = 0;
    for (int j = 0; j < 4; ++j)
      z += std::exp(lv[i * 4 + j]);
    for (int j = 0; j < 4; ++j)
      expected.push_back(std::exp(lv[i * 4 + j]) / z -
                         (j == lab[i] ? 1.0 : 0.0));
  }
  Array g_int = grad([&](const Array &x) {
    return sum(nn::softmax_cross_entropy_with_integer_labels(x, labels));
  })(logits);
  CHECK_ALLCLOSE(g_int, expected);
  std::vector<double> onehot(12, 0.0);
  for (int i = 0; i < 3; ++i)
    onehot[i * 4 + lab[i]] = 1.0;
  Array oh = array(onehot, Shape{3, 4}).astype(float64);
  Array g_oh = grad([&](const Array &x) {
    return sum(nn::softmax_cross_entropy(x, oh));
  })(logits);
  CHECK_ALLCLOSE(g_oh, expected);
}

TEST_CASE("softmax cross entropy: finite at logits of +-1000") {
  Array logits = array({1000.0, -1000.0, 0.0, -1000.0, 1000.0, 1000.0},
                       Shape{2, 3}); // float32
  Array labels = array({1, 0}, Shape{2});
  Array loss = nn::softmax_cross_entropy_with_integer_labels(logits, labels);
  // Row 0: logsumexp = 1000, picked -1000 -> 2000. Row 1: logsumexp = 1000 +
  // log 2, picked -1000.
  CHECK_ALLCLOSE(loss, {2000.0, 2000.0 + std::log(2.0)});
  Array g = grad([&](const Array &x) {
    return sum(nn::softmax_cross_entropy_with_integer_labels(x, labels));
  })(logits);
  CHECK_ALLCLOSE(g, {1.0, -1.0, 0.0, -1.0, 0.5, 0.5});
  Array good = nn::softmax_cross_entropy_with_integer_labels(
      logits, array({0, 1}, Shape{2}));
  CHECK_ALLCLOSE(good, {0.0, std::log(2.0)});
  Array oh = array({0.0, 1.0, 0.0, 1.0, 0.0, 0.0}, Shape{2, 3});
  CHECK_ALLCLOSE(nn::softmax_cross_entropy(logits, oh),
                 {2000.0, 2000.0 + std::log(2.0)});
}

TEST_CASE("softmax cross entropy: derivatives match finite differences (f64)") {
  Array logits = testing::uniform({2, 5}, -3.0, 3.0, float64, 11);
  Array soft = softmax(testing::uniform({2, 5}, -1.0, 1.0, float64, 12));
  Array labels = array({4, 1}, Shape{2});
  testing::check_grads(
      [&](const std::vector<Array> &a) {
        return sum(nn::softmax_cross_entropy_with_integer_labels(a[0], labels));
      },
      {logits}, 2);
  testing::check_grads(
      [](const std::vector<Array> &a) {
        return sum(nn::softmax_cross_entropy(a[0], a[1]));
      },
      {logits, soft}, 2);
}

TEST_CASE("binary_cross_entropy: values match the formula and optax, stable at "
          "+-1000") {
  Array logits = array({0.5, -2.0}).astype(float64);
  Array labels = array({1.0, 0.25}).astype(float64);
  auto sig = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  double r0 = -std::log(sig(0.5));
  double r1 = -0.25 * std::log(sig(-2.0)) - 0.75 * std::log(1.0 - sig(-2.0));
  Array loss = nn::binary_cross_entropy(logits, labels);
  CHECK_ALLCLOSE(loss, {r0, r1});
  // optax.sigmoid_binary_cross_entropy on the same inputs.
  CHECK_ALLCLOSE(loss, {0.4740769841801067, 0.6269280110429726});
  Array big =
      nn::binary_cross_entropy(array({1000.0f, -1000.0f, 1000.0f, -1000.0f}),
                               array({0.0f, 0.0f, 1.0f, 1.0f}));
  CHECK_ALLCLOSE(big, {1000.0, 0.0, 0.0, 1000.0});
  // d/dx = sigmoid(x) - label, finite at the extremes.
  Array g = grad([](const Array &x) {
    return sum(nn::binary_cross_entropy(x, array({0.0f, 0.0f, 1.0f, 1.0f})));
  })(array({1000.0f, -1000.0f, 1000.0f, -1000.0f}));
  CHECK_ALLCLOSE(g, {1.0, 0.0, 0.0, -1.0});
  testing::check_grads(
      [](const std::vector<Array> &a) {
        return sum(nn::binary_cross_entropy(a[0], a[1]));
      },
      {testing::uniform({2, 3}, -4.0, 4.0, float64, 5),
       testing::uniform({2, 3}, 0.0, 1.0, float64, 6)},
      2);
}

TEST_CASE("mse: mean of squared differences; squared_error elementwise") {
  Array p = array({1.0, 2.0, 3.0, 4.0}, Shape{2, 2}).astype(float64);
  Array t = array({1.5, 2.0, 1.0, 5.0}, Shape{2, 2}).astype(float64);
  Array m = nn::mse(p, t);
  CHECK(m.shape() == Shape{});
  CHECK_ALLCLOSE(m, std::vector<double>{(0.25 + 0.0 + 4.0 + 1.0) / 4.0});
  CHECK_ALLCLOSE(nn::squared_error(p, t), {0.25, 0.0, 4.0, 1.0});
  Array g = grad([&](const Array &x) { return nn::mse(x, t); })(p);
  CHECK_ALLCLOSE(g, {2 * -0.5 / 4, 0.0, 2 * 2.0 / 4, 2 * -1.0 / 4});
  testing::check_grads(
      [](const std::vector<Array> &a) { return nn::mse(a[0], a[1]); },
      {testing::uniform({3, 2}, -1.0, 1.0, float64, 1),
       testing::uniform({3, 2}, -1.0, 1.0, float64, 2)},
      2);
}

TEST_CASE("accuracy: integer and one-hot labels") {
  Array logits = array(
      {0.1f, 0.9f, 0.0f, 2.0f, 1.0f, 0.0f, 0.0f, 0.0f, 3.0f, 1.0f, 5.0f, 2.0f},
      Shape{4, 3});
  // argmax per row: 1, 0, 2, 1
  Array acc = nn::accuracy(logits, array({1, 0, 0, 2}, Shape{4}));
  CHECK(acc.dtype() == float32);
  CHECK_ALLCLOSE(acc, std::vector<double>{0.5});
  Array onehot =
      array({0.f, 1.f, 0.f, 1.f, 0.f, 0.f, 0.f, 0.f, 1.f, 0.f, 1.f, 0.f},
            Shape{4, 3});
  CHECK_ALLCLOSE(nn::accuracy(logits, onehot), std::vector<double>{1.0});
  CHECK_ALLCLOSE(nn::accuracy(logits, array({2, 2, 1, 0}, Shape{4})),
                 std::vector<double>{0.0});
}

TEST_CASE("losses: vmap over examples matches the batched call") {
  Array logits = testing::uniform({5, 3}, -2.0, 2.0, float32, 3);
  Array labels = array({0, 2, 1, 1, 0}, Shape{5});
  Array batched = nn::softmax_cross_entropy_with_integer_labels(logits, labels);
  Array mapped = vmap([](const Array &x, const Array &y) {
    return nn::softmax_cross_entropy_with_integer_labels(x, y);
  })(logits, labels);
  CHECK_ALLCLOSE(mapped, batched);
}

TEST_CASE("losses: bad shapes and dtypes are reported with the function and "
          "the operands") {
  Array logits = zeros({8, 3});
  CHECK_THROWS_WITH_AS(nn::softmax_cross_entropy(logits, zeros({8, 4})),
                       doctest::Contains("f32[8,4]"), ShapeError);
  CHECK_THROWS_WITH_AS(nn::softmax_cross_entropy(logits, zeros({8, 4})),
                       doctest::Contains("[softmax_cross_entropy]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(
      nn::softmax_cross_entropy_with_integer_labels(logits, zeros({8})),
      doctest::Contains("labels must be integer"), DTypeError);
  CHECK_THROWS_WITH_AS(nn::softmax_cross_entropy_with_integer_labels(
                           logits, zeros({8, 3}, int32)),
                       doctest::Contains("i32[8,3]"), ShapeError);
  CHECK_THROWS_WITH_AS(nn::softmax_cross_entropy_with_integer_labels(
                           zeros({8, 3}, int32), zeros({8}, int32)),
                       doctest::Contains("logits must be floating"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(nn::softmax_cross_entropy_with_integer_labels(
                           zeros({}), zeros({}, int32)),
                       doctest::Contains("class axis"), ShapeError);
  CHECK_THROWS_WITH_AS(nn::mse(zeros({4}), zeros({4, 1})),
                       doctest::Contains("[mse]"), ShapeError);
  CHECK_THROWS_WITH_AS(nn::binary_cross_entropy(zeros({4}), zeros({4}, int32)),
                       doctest::Contains("labels must be floating"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(nn::accuracy(logits, zeros({7}, int32)),
                       doctest::Contains("[accuracy]"), ShapeError);
}
