// nnlib initializers: statistics against the variance-scaling formulas, shapes and dtypes,
// orthogonality, determinism, and errors.
#include <doctest/doctest.h>

#include <cmath>
#include <jx/jx.h>

#include "testing/testing.h"

using namespace jx;
namespace init = jx::nn::init;

namespace {

struct Stats {
  double mean, std, min, max;
};
Stats stats(const Array& a) {
  auto v = a.to_vector<double>();
  double s = 0, s2 = 0, lo = 1e300, hi = -1e300;
  for (double e : v) {
    s += e;
    lo = std::min(lo, e);
    hi = std::max(hi, e);
  }
  double m = s / static_cast<double>(v.size());
  for (double e : v) s2 += (e - m) * (e - m);
  return {m, std::sqrt(s2 / static_cast<double>(v.size())), lo, hi};
}

/// Max |AᵀA - scale² I| over a [rows, cols] matrix given row-major on the host.
double gram_error(const std::vector<double>& a, int64_t rows, int64_t cols, double scale) {
  double err = 0;
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      double s = 0;
      for (int64_t r = 0; r < rows; ++r) s += a[r * cols + i] * a[r * cols + j];
      err = std::max(err, std::abs(s - (i == j ? scale * scale : 0.0)));
    }
  }
  return err;
}

std::vector<double> transpose_host(const std::vector<double>& a, int64_t rows, int64_t cols) {
  std::vector<double> t(a.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[c * rows + r] = a[r * cols + c];
  return t;
}

}  // namespace

TEST_CASE("init variance scaling: std of a large init matches the formula for every named initializer") {
  // Shape [in=400, out=300]: fan_in 400, fan_out 300, fan_avg 350; 120000 samples, so the
  // sample std is within ~0.5% of the true one.
  const Shape shape{400, 300};
  struct Case {
    const char* name;
    init::Initializer f;
    double variance;
    bool uniform;
  };
  std::vector<Case> cases{
      {"glorot_uniform", init::glorot_uniform(), 1.0 / 350, true},
      {"glorot_normal", init::glorot_normal(), 1.0 / 350, false},
      {"xavier_uniform", init::xavier_uniform(), 1.0 / 350, true},
      {"he_uniform", init::he_uniform(), 2.0 / 400, true},
      {"he_normal", init::he_normal(), 2.0 / 400, false},
      {"kaiming_normal", init::kaiming_normal(), 2.0 / 400, false},
      {"lecun_uniform", init::lecun_uniform(), 1.0 / 400, true},
      {"lecun_normal", init::lecun_normal(), 1.0 / 400, false},
  };
  for (auto& c : cases) {
    CAPTURE(c.name);
    Array w = c.f(random::key(1), shape, float32);
    REQUIRE(w.shape() == shape);
    CHECK(w.dtype() == float32);
    Stats s = stats(w);
    double target = std::sqrt(c.variance);
    CHECK(std::abs(s.std / target - 1) < 0.03);
    CHECK(std::abs(s.mean) < 0.03 * target);
    if (c.uniform) {
      // U[-sqrt(3 var), sqrt(3 var)): bounded, and the extremes are reached.
      double limit = std::sqrt(3 * c.variance);
      CHECK(s.max <= limit);
      CHECK(s.min >= -limit);
      CHECK(s.max > 0.99 * limit);
      CHECK(s.min < -0.99 * limit);
    } else {
      // Truncated at 2 stddevs of the underlying normal, whose stddev is target / 0.8796...
      double bound = 2 * target / 0.87962566103423978;
      CHECK(s.max <= bound * (1 + 1e-6));
      CHECK(s.min >= -bound * (1 + 1e-6));
      CHECK(s.max > 0.95 * bound);
    }
  }
}

TEST_CASE("init variance scaling: conv fans use the receptive field, modes and distributions") {
  // HWIO [3, 3, 16, 32]: receptive field 9, fan_in 144, fan_out 288, fan_avg 216.
  const Shape shape{3, 3, 16, 32};
  struct Case {
    double scale;
    const char* mode;
    const char* dist;
    double fan;
  };
  for (auto c : {Case{2, "fan_out", "normal", 288}, Case{1, "fan_in", "uniform", 144},
                 Case{0.5, "fan_avg", "truncated_normal", 216}, Case{3, "fan_in", "normal", 144}}) {
    CAPTURE(c.mode);
    CAPTURE(c.dist);
    // 4 draws of 4608 values: about 18000 samples.
    std::vector<Array> draws;
    auto keys = random::split(random::key(7), 4);
    for (int i = 0; i < 4; ++i) draws.push_back(init::variance_scaling(c.scale, c.mode, c.dist)(keys[i], shape, float32));
    Stats s = stats(stack(draws, 0));
    CHECK(std::abs(s.std / std::sqrt(c.scale / c.fan) - 1) < 0.04);
  }
}

TEST_CASE("init variance scaling: in_axis and out_axis pick the fan dims") {
  // [200, 50, 10] with in_axis 0, out_axis 1: receptive field 10, fan_in 2000.
  Array w = init::variance_scaling(1, "fan_in", "normal", 0, 1)(random::key(3), {200, 50, 10}, float32);
  CHECK(std::abs(stats(w).std / std::sqrt(1.0 / 2000) - 1) < 0.03);
  // Same shape with the defaults (in -2 = 50, out -1 = 10, rf 200): fan_out 2000 too but fan_in 10000.
  Array w2 = init::variance_scaling(1, "fan_in", "normal")(random::key(3), {200, 50, 10}, float32);
  CHECK(std::abs(stats(w2).std / std::sqrt(1.0 / 10000) - 1) < 0.03);
}

TEST_CASE("init: float64 requests give float64 arrays with the same statistics") {
  Array w = init::he_normal()(random::key(5), {300, 200}, float64);
  CHECK(w.dtype() == float64);
  CHECK(std::abs(stats(w).std / std::sqrt(2.0 / 300) - 1) < 0.03);
}

TEST_CASE("init: zeros, ones, constant, normal, uniform, truncated_normal") {
  Array k = random::key(0);
  Array z = init::zeros(k, {2, 3}, float64);
  CHECK(z.dtype() == float64);
  CHECK(z.shape() == Shape{2, 3});
  CHECK_ALLCLOSE(z, std::vector<double>(6, 0.0));
  CHECK_ALLCLOSE(init::ones(k, {4}), std::vector<double>(4, 1.0));
  CHECK_ALLCLOSE(init::constant(0.25)(k, {3}, float32), std::vector<double>(3, 0.25));
  init::Initializer as_fn = init::zeros;  // zeros/ones convert to Initializer
  CHECK(as_fn(k, {0, 5}, float32).shape() == Shape{0, 5});

  Stats n = stats(init::normal(0.5)(k, {100000}, float32));
  CHECK(std::abs(n.std / 0.5 - 1) < 0.03);
  Stats u = stats(init::uniform(2.0)(k, {100000}, float32));
  CHECK(u.min >= 0);
  CHECK(u.max < 2.0);
  CHECK(std::abs(u.mean - 1.0) < 0.02);
  Stats t = stats(init::truncated_normal(0.1)(k, {100000}, float32));
  CHECK(t.max <= 0.2 * (1 + 1e-6));
  CHECK(t.min >= -0.2 * (1 + 1e-6));
  CHECK(std::abs(t.std / (0.1 * 0.87962566103423978) - 1) < 0.03);
}

TEST_CASE("init: the same key gives the same values and different keys differ") {
  auto f = init::glorot_uniform();
  auto a = f(random::key(11), {8, 8}, float32).to_vector<float>();
  auto b = f(random::key(11), {8, 8}, float32).to_vector<float>();
  auto c = f(random::key(12), {8, 8}, float32).to_vector<float>();
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("init orthogonal: tall, wide, conv-shaped and scaled matrices are orthonormal") {
  SUBCASE("tall [64, 32]: WᵀW = I") {
    Array w = init::orthogonal()(random::key(0), {64, 32}, float32);
    REQUIRE(w.shape() == Shape{64, 32});
    CHECK(gram_error(w.to_vector<double>(), 64, 32, 1.0) < 1e-5);
  }
  SUBCASE("square [16, 16] float64: WᵀW = I to rounding") {
    Array w = init::orthogonal()(random::key(1), {16, 16}, float64);
    CHECK(w.dtype() == float64);
    CHECK(gram_error(w.to_vector<double>(), 16, 16, 1.0) < 1e-12);
  }
  SUBCASE("wide [8, 40]: W Wᵀ = I") {
    Array w = init::orthogonal()(random::key(2), {8, 40}, float32);
    REQUIRE(w.shape() == Shape{8, 40});
    CHECK(gram_error(transpose_host(w.to_vector<double>(), 8, 40), 40, 8, 1.0) < 1e-5);
  }
  SUBCASE("HWIO [3, 3, 4, 8]: the [36, 8] view has orthonormal columns; scale 2") {
    Array w = init::orthogonal(2.0)(random::key(3), {3, 3, 4, 8}, float32);
    REQUIRE(w.shape() == Shape{3, 3, 4, 8});
    CHECK(gram_error(w.to_vector<double>(), 36, 8, 2.0) < 1e-4);
  }
  SUBCASE("column_axis 0 on [6, 20]: the [20, 6] view (Wᵀ) has orthonormal columns") {
    Array w = init::orthogonal(1.0, 0)(random::key(4), {6, 20}, float32);
    REQUIRE(w.shape() == Shape{6, 20});
    // Columns along axis 0: the matrix [rows = 20, cols = 6] is Wᵀ, with orthonormal columns.
    CHECK(gram_error(transpose_host(w.to_vector<double>(), 6, 20), 20, 6, 1.0) < 1e-5);
  }
  SUBCASE("entries are not trivially structured (a random rotation, not the identity)") {
    auto v = init::orthogonal()(random::key(5), {10, 10}, float32).to_vector<double>();
    int off_diag_nonzero = 0;
    for (int i = 0; i < 10; ++i)
      for (int j = 0; j < 10; ++j) off_diag_nonzero += (i != j && std::abs(v[i * 10 + j]) > 1e-3);
    CHECK(off_diag_nonzero > 50);
  }
}

TEST_CASE("init: errors name the initializer and the bad argument") {
  Array k = random::key(0);
  CHECK_THROWS_WITH_AS(init::glorot_uniform()(k, {5}, float32), doctest::Contains("rank >= 2"), ShapeError);
  CHECK_THROWS_WITH_AS(init::glorot_uniform()(k, {5}, float32), doctest::Contains("[5]"), ShapeError);
  CHECK_THROWS_WITH_AS(init::variance_scaling(1, "fan_sum", "normal"), doctest::Contains("fan_sum"), ValueError);
  CHECK_THROWS_WITH_AS(init::variance_scaling(1, "fan_in", "cauchy"), doctest::Contains("cauchy"), ValueError);
  CHECK_THROWS_WITH_AS(init::he_normal()(k, {3, 3}, int32), doctest::Contains("floating"), DTypeError);
  CHECK_THROWS_WITH_AS(init::orthogonal()(k, {4}, float32), doctest::Contains("[init::orthogonal]"), ShapeError);
  CHECK_THROWS_WITH_AS(init::variance_scaling(1, "fan_in", "normal", 5)(k, {3, 3}, float32),
                       doctest::Contains("axis 5"), ShapeError);
}

TEST_CASE("init: values equal jax.nn.initializers for the same key (threefry draws as JAX)") {
  // Reference values from JAX 0.10 (CPU): jax.nn.initializers.<name>()(jax.random.PRNGKey(0), shape, float32).
  Array k = random::key(0);
  CHECK_ALLCLOSE_TOL(init::glorot_uniform()(k, {3, 4}, float32),
                     (std::vector<double>{0.8289182186126709, 0.886157751083374, -0.31053584814071655, -0.05801473930478096,
                                          0.12940874695777893, -0.6193680763244629, -0.3514512777328491, 0.35084980726242065,
                                          0.45692288875579834, -0.6091626882553101, 0.8987006545066833, -0.8790057897567749}),
                     1e-5, 1e-6);
  CHECK_ALLCLOSE_TOL(init::he_normal()(k, {2, 3}, float32),
                     (std::vector<double>{1.6552032232284546, 1.9494074583053589, -0.4691488444805145, -0.08530155569314957,
                                          0.19099149107933044, -1.0375028848648071}),
                     1e-5, 1e-6);
  // HWIO [2, 2, 1, 3]: fan_in = 2 * 2 * 1.
  CHECK_ALLCLOSE_TOL(init::lecun_normal()(k, {2, 2, 1, 3}, float32),
                     (std::vector<double>{0.8276016116142273, 0.9747037291526794, -0.23457442224025726, -0.04265077784657478,
                                          0.09549574553966522, -0.5187514424324036, -0.26771092414855957, 0.2672174274921417,
                                          0.357908695936203, -0.5074857473373413, 1.0174574851989746, -0.9526008367538452}),
                     1e-5, 1e-6);
  // Orthogonal: JAX's sign-corrected QR and Gram–Schmidt give the same Q for the same draws.
  CHECK_ALLCLOSE_TOL(init::orthogonal()(k, {3, 3}, float32),
                     (std::vector<double>{0.9554101228713989, 0.2941357493400574, 0.02599557861685753, -0.04628981649875641,
                                          0.2361408770084381, -0.9706156253814697, -0.2916313707828522, 0.9261326193809509,
                                          0.23922686278820038}),
                     1e-4, 1e-5);
  CHECK_ALLCLOSE_TOL(init::orthogonal()(k, {2, 4}, float32),
                     (std::vector<double>{0.9220002889633179, -0.24637238681316376, 0.1000564843416214, -0.2814333736896515,
                                          0.31397533416748047, 0.20442357659339905, -0.7088381052017212, 0.5976447463035583}),
                     1e-4, 1e-5);
}
