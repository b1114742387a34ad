// Special functions: erfc, erf_inv, log_ndtr, ndtr, i0e, i1e against independent references
// (libm's erfc in long double, power series for the Bessel functions, round trips), IEEE
// edge values, derivatives (check_grads, second order in float64, first in float32) and vmap;
// jx::scipy::logsumexp with weights and signs, and multigammaln.
#include <cmath>
#include <limits>
#include <numbers>

#include "testing/check_grads.h"
#include "testing/check_vmap.h"

using namespace jx;
using testing::check_grads;
using testing::uniform;
using testing::values;

namespace {

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

Array f64(std::vector<double> v) { return array(v); }

std::vector<double> map(const std::vector<double>& xs, double (*f)(double)) {
  std::vector<double> out;
  for (double x : xs) out.push_back(f(x));
  return out;
}

// log Phi(x) in long double: log1p(-Q) above 0, log(Q(-x)) below (erfcl keeps its relative
// accuracy far into the tail; long double's range reaches well past x = -100).
double log_ndtr_ref(double x) {
  const long double z = static_cast<long double>(x) / std::sqrt(2.0L);
  if (x > 0) return static_cast<double>(std::log1p(-0.5L * std::erfc(z)));
  return static_cast<double>(std::log(0.5L * std::erfc(-z)));
}

// exp(-|x|) I_nu(x) from the power series sum_k (x/2)^(2k + nu) / (k! (k + nu)!), in long double.
double bessel_ie_ref(double x, int nu) {
  const long double h = std::fabs(static_cast<long double>(x)) / 2;
  long double term = nu == 0 ? 1.0L : h, total = 0;
  for (int k = 0; k < 400; ++k) {
    total += term;
    term *= h * h / ((k + 1.0L) * (k + 1.0L + nu));
  }
  long double r = total * std::exp(-std::fabs(static_cast<long double>(x)));
  return static_cast<double>(nu == 1 && x < 0 ? -r : r);
}

const std::vector<double> kXs = {-25, -12, -8.5, -8, -3, -1, -0.3, 0, 1e-8, 0.4, 1, 2.5, 7.9, 8, 8.1, 15, 30, 60};

}  // namespace

// ---- erfc ---------------------------------------------------------------------------------------

TEST_CASE("erfc: against libm in long double, into the far tail, float32 and float64") {
  std::vector<double> xs = {-6, -2, -0.5, 0, 0.1, 0.5, 1, 2, 5, 10, 20, 26};
  std::vector<double> ref;
  for (double x : xs) ref.push_back(static_cast<double>(std::erfc(static_cast<long double>(x))));
  CHECK_ALLCLOSE_TOL(erfc(f64(xs)), ref, 1e-14, 0);
  CHECK_ALLCLOSE_TOL(erfc(f64(xs).astype(float32)), ref, 2e-6, 1e-30);
  CHECK_ALLCLOSE(erfc(f64({kInf, -kInf, kNaN})), std::vector<double>{0, 2, kNaN});
  // Integers promote to float32.
  CHECK(erfc(array(std::vector<int32_t>{1})).dtype() == float32);
}

// ---- erf_inv ------------------------------------------------------------------------------------

TEST_CASE("erf_inv: known values, round trips through erf and erfc, and its domain edges") {
  // erfinv(0.5) = 0.4769362762044699 (scipy).
  CHECK_ALLCLOSE_TOL(erf_inv(f64({0.5, -0.5, 0})), std::vector<double>({0.4769362762044699, -0.4769362762044699, 0}),
                     1e-14, 1e-15);
  std::vector<double> xs;
  for (int i = -99; i <= 99; ++i) xs.push_back(i / 100.0);
  for (double t : {1e-3, 1e-6, 1e-10, 1e-15}) {
    xs.push_back(1 - t);
    xs.push_back(-(1 - t));
  }
  Array y = erf_inv(f64(xs));
  CHECK_ALLCLOSE_TOL(erf(y), xs, 1e-15, 2e-16);
  // Near +1, compare 1 - x with erfc(y): relative accuracy where 1 - x is tiny.
  auto yv = y.to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    if (xs[i] < 0.9) continue;
    const double r = static_cast<double>(std::erfc(static_cast<long double>(yv[i])));
    CAPTURE(xs[i]);
    CHECK(std::abs(r - (1 - xs[i])) <= 1e-12 * (1 - xs[i]));
  }
  // float32: the round trip within float precision.
  std::vector<double> xs32 = {-0.999, -0.9, -0.5, -0.01, 0.01, 0.3, 0.7, 0.99, 0.9999};
  Array y32 = erf_inv(f64(xs32).astype(float32));
  CHECK(y32.dtype() == float32);
  CHECK_ALLCLOSE_TOL(erf(y32.astype(float64)), xs32, 2e-6, 1e-7);
  CHECK_ALLCLOSE(erf_inv(f64({1, -1, 1.5, -2, kNaN})), std::vector<double>{kInf, -kInf, kNaN, kNaN, kNaN});
  CHECK_ALLCLOSE(erf_inv(f64({1, -1}).astype(float32)), std::vector<double>{kInf, -kInf});
}

// ---- log_ndtr, ndtr -----------------------------------------------------------------------------

TEST_CASE("log_ndtr: against a long-double reference from the upper tail to x = -100") {
  std::vector<double> xs = {-100, -45, -38, -30, -21, -20, -19.9, -15, -10.5, -10, -9.5, -5, -1, -1e-3,
                            0,    1e-3, 0.5, 1,   3,   5,   6,    8,   9,     12,  40};
  std::vector<double> ref;
  for (double x : xs) ref.push_back(log_ndtr_ref(x));
  CHECK_ALLCLOSE_TOL(log_ndtr(f64(xs)), ref, 1e-13, 1e-300);
  // float32 keeps relative accuracy: log_ndtr(-30) is -454.3, log_ndtr(12) is -1.8e-33.
  std::vector<double> xs32 = {-60, -30, -12, -10, -9, -3, 0, 2, 6, 12};
  std::vector<double> ref32;
  for (double x : xs32) ref32.push_back(log_ndtr_ref(x));
  CHECK_ALLCLOSE_TOL(log_ndtr(f64(xs32).astype(float32)), ref32, 2e-6, 1e-40);
  CHECK_ALLCLOSE(log_ndtr(f64({kInf, -kInf, kNaN})), std::vector<double>{0, -kInf, kNaN});
}

TEST_CASE("ndtr: the normal CDF") {
  std::vector<double> xs = {-40, -3, -1, 0, 1, 3};
  std::vector<double> ref;
  for (double x : xs) ref.push_back(static_cast<double>(0.5L * std::erfc(-static_cast<long double>(x) / std::sqrt(2.0L))));
  CHECK_ALLCLOSE_TOL(ndtr(f64(xs)), ref, 1e-14, 0);
}

// ---- i0e, i1e -----------------------------------------------------------------------------------

TEST_CASE("i0e and i1e: against their power series on both sides of the range split at 8") {
  std::vector<double> r0, r1;
  for (double x : kXs) {
    r0.push_back(bessel_ie_ref(x, 0));
    r1.push_back(bessel_ie_ref(x, 1));
  }
  CHECK_ALLCLOSE_TOL(i0e(f64(kXs)), r0, 1e-14, 1e-16);
  CHECK_ALLCLOSE_TOL(i1e(f64(kXs)), r1, 1e-14, 1e-16);
  CHECK_ALLCLOSE_TOL(i0e(f64(kXs).astype(float32)), r0, 3e-6, 1e-7);
  CHECK_ALLCLOSE_TOL(i1e(f64(kXs).astype(float32)), r1, 3e-6, 1e-7);
  // Even and odd; the limits at 0 and infinity.
  CHECK_ALLCLOSE(i0e(f64({0, kInf, -kInf, kNaN})), std::vector<double>{1, 0, 0, kNaN});
  CHECK_ALLCLOSE(i1e(f64({0, kInf, -kInf, kNaN})), std::vector<double>{0, 0, -0.0, kNaN});
}

// ---- derivatives and vmap -----------------------------------------------------------------------

TEST_CASE("special functions: JVPs match the closed forms") {
  const double pi = std::numbers::pi;
  Array x = f64({-2.5, -0.7, 0.3, 1.9, 9.5});
  auto tangent = [&](auto f) { return jvp(f, std::tuple{x}, std::tuple{ones_like(x)}).second; };
  auto xv = x.to_vector<double>();
  std::vector<double> d_erfc, d_i0e, d_i1e, d_lnd;
  for (double v : xv) {
    d_erfc.push_back(-2 / std::sqrt(pi) * std::exp(-v * v));
    const double i0 = bessel_ie_ref(v, 0), i1 = bessel_ie_ref(v, 1);
    d_i0e.push_back(i1 - (v > 0 ? 1 : -1) * i0);
    d_i1e.push_back(i0 - i1 * ((v > 0 ? 1 : -1) + 1 / v));
    d_lnd.push_back(std::exp(-v * v / 2 - log_ndtr_ref(v)) / std::sqrt(2 * pi));
  }
  CHECK_ALLCLOSE_TOL(tangent([](const Array& a) { return erfc(a); }), d_erfc, 1e-13, 1e-15);
  CHECK_ALLCLOSE_TOL(tangent([](const Array& a) { return i0e(a); }), d_i0e, 1e-13, 1e-15);
  CHECK_ALLCLOSE_TOL(tangent([](const Array& a) { return i1e(a); }), d_i1e, 1e-13, 1e-15);
  CHECK_ALLCLOSE_TOL(tangent([](const Array& a) { return log_ndtr(a); }), d_lnd, 1e-12, 1e-15);
  // erf_inv' = sqrt(pi)/2 exp(erf_inv^2); i1e'(0) = 1/2.
  Array p = f64({-0.9, 0.2, 0.6});
  Array t = jvp([](const Array& a) { return erf_inv(a); }, std::tuple{p}, std::tuple{ones_like(p)}).second;
  CHECK_ALLCLOSE_TOL(t, values(exp(square(erf_inv(p))) * (std::sqrt(pi) / 2)), 1e-14, 0);
  Array zero = f64({0});
  CHECK_ALLCLOSE(jvp([](const Array& a) { return i1e(a); }, std::tuple{zero}, std::tuple{ones_like(zero)}).second,
                 std::vector<double>{0.5});
  // Deep in the lower tail log_ndtr'(x) approaches -x (and stays finite).
  Array far = f64({-60});
  auto g = jvp([](const Array& a) { return log_ndtr(a); }, std::tuple{far}, std::tuple{ones_like(far)}).second;
  CHECK(std::abs(g.item<double>() - 60.0166) < 1e-3);
}

TEST_CASE("special functions: check_grads to second order in float64 and first order in float32") {
  using Fn = Array (*)(const Array&, const Loc&);
  struct Case {
    const char* name;
    Fn f;
    double lo, hi;
  };
  for (const Case& c : {Case{"erfc", &jx::erfc, -2, 2}, Case{"erf_inv", &erf_inv, -0.9, 0.9},
                        Case{"log_ndtr", &log_ndtr, -25, 10}, Case{"i0e", &i0e, -12, 12},
                        Case{"i1e", &i1e, -12, 12}, Case{"ndtr", &ndtr, -3, 3}}) {
    CAPTURE(c.name);
    testing::VecFn f = [&](const std::vector<Array>& xs) { return c.f(xs[0], Loc::current()); };
    check_grads(f, {uniform({7}, c.lo, c.hi, float64, 5)}, 2);
    check_grads(f, {uniform({7}, c.lo, c.hi, float32, 6)}, 1);
  }
}

TEST_CASE("special functions: vmap equals the loop") {
  using Fn = Array (*)(const Array&, const Loc&);
  for (Fn f : std::initializer_list<Fn>{&jx::erfc, &jx::erf_inv, &jx::log_ndtr, &jx::i0e, &jx::i1e}) {
    testing::check_vmap([&](const std::vector<Array>& xs) { return f(xs[0], Loc::current()); },
                        {uniform({3, 4}, -0.9, 0.9, float64, 7)}, {1});
  }
}

// ---- scipy: logsumexp, multigammaln -------------------------------------------------------------

TEST_CASE("scipy::logsumexp: weights, axes, keepdims, signs and infinities") {
  Array a = f64({1, 2, 3, 4});
  Array b = f64({0.5, 2, 0, 1});
  const double ref = std::log(0.5 * std::exp(1) + 2 * std::exp(2) + std::exp(4));
  CHECK_ALLCLOSE(scipy::logsumexp(a, {}, b), std::vector<double>{ref});
  CHECK_ALLCLOSE(scipy::logsumexp(a), std::vector<double>{std::log(std::exp(1) + std::exp(2) + std::exp(3) + std::exp(4))});
  // Stable for large values; per-axis with keepdims; b broadcasts.
  Array m = reshape(f64({1000, 1001, -5, -6}), {2, 2});
  Array r = scipy::logsumexp(m, {1}, f64({1, 3}), true);
  CHECK(r.shape() == Shape{2, 1});
  CHECK_ALLCLOSE(r, std::vector<double>{1001 + std::log(std::exp(-1.0) + 3), -5 + std::log(1 + 3 * std::exp(-1.0))});
  // A zero weight removes even an infinite term; a negative total is NaN without the sign.
  CHECK_ALLCLOSE(scipy::logsumexp(f64({kInf, 0}), {}, f64({0, 1})), std::vector<double>{0});
  Array neg = scipy::logsumexp(f64({0, 1}), {}, f64({1, -1}));
  CHECK(std::isnan(neg.item<double>()));
  auto [v, s] = scipy::logsumexp_with_sign(f64({0, 1}), {}, f64({1, -1}));
  CHECK_ALLCLOSE(v, std::vector<double>{std::log(std::exp(1.0) - 1)});
  CHECK_ALLCLOSE(s, std::vector<double>{-1});
  // All -inf: -inf, not NaN.
  CHECK_ALLCLOSE(scipy::logsumexp(f64({-kInf, -kInf})), std::vector<double>{-kInf});
}

TEST_CASE("scipy::logsumexp: gradient is the weighted softmax, and check_grads") {
  Array a = f64({0.3, -1.2, 2.0}), b = f64({0.5, 1.5, 2.0});
  Array g = grad([&](const Array& x) { return scipy::logsumexp(x, {}, b); })(a);
  Array e = b * exp(a);
  CHECK_ALLCLOSE(g, values(e / sum(e)));
  testing::VecFn f = [](const std::vector<Array>& xs) { return scipy::logsumexp(xs[0], {1}, xs[1]); };
  check_grads(f, {uniform({2, 3}, -2, 2, float64, 1), uniform({2, 3}, 0.5, 2, float64, 2)}, 2);
  check_grads(f, {uniform({2, 3}, -2, 2, float32, 1), uniform({2, 3}, 0.5, 2, float32, 2)}, 1);
}

TEST_CASE("scipy::multigammaln: sums of lgamma, its derivative, and bad input") {
  Array a = f64({2.5, 4.0});
  CHECK_ALLCLOSE(scipy::multigammaln(a, 1), values(lgamma(a)));
  // d = 3: 3/2 log(pi) + lgamma(a) + lgamma(a - 1/2) + lgamma(a - 1).
  std::vector<double> ref;
  for (double v : {2.5, 4.0}) ref.push_back(1.5 * std::log(std::numbers::pi) + std::lgamma(v) + std::lgamma(v - 0.5) + std::lgamma(v - 1));
  CHECK_ALLCLOSE_TOL(scipy::multigammaln(a, 3), ref, 1e-13, 0);
  testing::VecFn f = [](const std::vector<Array>& xs) { return scipy::multigammaln(xs[0], 4); };
  check_grads(f, {uniform({3}, 2.0, 5.0, float64, 3)}, 2);
  CHECK_THROWS_WITH_AS(scipy::multigammaln(a, 0), doctest::Contains("[multigammaln] the dimension d must be >= 1"),
                       ValueError);
}

TEST_CASE("special functions: scipy names and the errors of the primitives") {
  Array x = f64({0.25});
  CHECK_ALLCLOSE(scipy::erfinv(x), values(erf_inv(x)));
  CHECK_ALLCLOSE(scipy::gammaln(x), values(lgamma(x)));
  CHECK_THROWS_WITH_AS(erfc(Array()), doctest::Contains("[erfc]"), ValueError);
  CHECK_THROWS_WITH_AS(bind1(bessel_i0e_p, {array(std::vector<int32_t>{1})}), doctest::Contains("[bessel_i0e] needs a floating-point"),
                       DTypeError);
}

TEST_CASE("special functions: jit equals eager, with gradients") {
  Array x = uniform({3, 5}, -0.9, 0.9, float64, 8);
  auto f = [](const Array& v) {
    return erfc(v) + erf_inv(v) * 2.0 + log_ndtr(v) + i0e(v * 4.0) - i1e(v) + scipy::logsumexp(v, {1}, v * v, true) +
           scipy::multigammaln(v + 3.0, 2);
  };
  CHECK_ALLCLOSE(jit(f)(x), values(f(x)));
  auto s = [&](const Array& v) { return sum(f(v)); };
  CHECK_ALLCLOSE(jit(grad(s))(x), values(grad(s)(x)));
  Array x32 = x.astype(float32);
  CHECK_ALLCLOSE(jit(f)(x32), values(f(x32)));
}
