// Elementwise ops: values against plain-C++ references over dtypes and shapes (0-d, empty,
// broadcast), numpy/JAX result dtypes and weak types, IEEE special values, integer edge cases,
// bad-input errors, and the jaxprs of a few composite ops.
#include <cmath>
#include <functional>
#include <limits>

#include "testing/testing.h"

using namespace jx;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

Array f32(std::vector<float> v, Shape s) { return array(v, s); }
Array f64(std::vector<double> v) { return array(v); }
Array i32(std::vector<int32_t> v) { return array(v); }
Array u32(std::vector<uint32_t> v) { return array(v); }
Array i64(std::vector<int64_t> v) { return array(v); }
Array bools(std::vector<bool> v) { return array(v); }

std::vector<double> map1(const std::vector<double>& xs, const std::function<double(double)>& f) {
  std::vector<double> out;
  for (double x : xs) out.push_back(f(x));
  return out;
}
std::vector<double> map2(const std::vector<double>& a, const std::vector<double>& b,
                         const std::function<double(double, double)>& f) {
  std::vector<double> out;
  for (size_t i = 0; i < a.size(); ++i) out.push_back(f(a[i], b[i]));
  return out;
}
std::vector<int> ints(const Array& x) { return x.astype(int32).to_vector<int>(); }

}  // namespace

// ---- comparisons, logic, selection ------------------------------------------------------------

TEST_CASE("comparisons: values, bool output, NaN and mixed dtypes") {
  Array a = f32({1, 2, 3, NAN}, {4}), b = f32({3, 2, 1, NAN}, {4});
  CHECK(ints(a == b) == std::vector<int>{0, 1, 0, 0});
  CHECK(ints(a != b) == std::vector<int>{1, 0, 1, 1});
  CHECK(ints(a < b) == std::vector<int>{1, 0, 0, 0});
  CHECK(ints(a <= b) == std::vector<int>{1, 1, 0, 0});
  CHECK(ints(a > b) == std::vector<int>{0, 0, 1, 0});
  CHECK(ints(a >= b) == std::vector<int>{0, 1, 1, 0});
  CHECK((a < b).dtype() == bool_);
  CHECK_FALSE((a < 2.0).weak_type());
  // Mixed dtypes promote first: u32 vs i32 compares as i64 (no wrap-around of -1).
  CHECK(ints(u32({1, 5}) > i32({-1, 7})) == std::vector<int>{1, 0});
  CHECK(ints(i32({1, 2}) == 1.5) == std::vector<int>{0, 0});
  CHECK(ints(i32({1, 2}) < 1.5) == std::vector<int>{1, 0});
  // Broadcasting, 0-d and empty.
  Array m = array({1, 2, 3, 4, 5, 6}, Shape{2, 3});
  Array r = m > array({2, 2, 2}, Shape{3});
  CHECK(r.shape() == Shape{2, 3});
  CHECK(ints(r) == std::vector<int>{0, 0, 1, 1, 1, 1});
  CHECK((Array(1.0) < Array(2.0)).ndim() == 0);
  CHECK(ints(Array(1.0) < Array(2.0)) == std::vector<int>{1});
  CHECK((zeros({0, 3}) == 1.0).shape() == Shape{0, 3});
  CHECK(ints(bools({true, false}) < bools({true, true})) == std::vector<int>{0, 1});
}

TEST_CASE("logical ops: logical on bools, bitwise on integers") {
  Array p = bools({true, true, false, false}), q = bools({true, false, true, false});
  CHECK(ints(p && q) == std::vector<int>{1, 0, 0, 0});
  CHECK(ints(p || q) == std::vector<int>{1, 1, 1, 0});
  CHECK(ints(!p) == std::vector<int>{0, 0, 1, 1});
  CHECK((p && q).dtype() == bool_);
  CHECK(ints(logical_and(i32({12, 5}), i32({10, 3}))) == std::vector<int>{12 & 10, 5 & 3});
  CHECK(ints(logical_or(i32({12, 5}), i32({10, 3}))) == std::vector<int>{12 | 10, 5 | 3});
  CHECK(ints(logical_not(i32({0, 5, -1}))) == std::vector<int>{~0, ~5, ~-1});
  CHECK(logical_not(u32({0})).to_vector<uint32_t>() == std::vector<uint32_t>{0xffffffffu});
  CHECK(ints(p && true) == std::vector<int>{1, 1, 0, 0});
  CHECK_THROWS_WITH_AS(logical_and(f32({1}, {1}), f32({1}, {1})), doctest::Contains("[and]"), DTypeError);
  CHECK_THROWS_WITH_AS(!f32({1}, {1}), doctest::Contains("f32[1]"), DTypeError);
}

TEST_CASE("where: broadcasting, promotion, 0-d condition and non-bool condition") {
  Array c = bools({true, false, true});
  CHECK_ALLCLOSE(where(c, f32({1, 2, 3}, {3}), f32({10, 20, 30}, {3})), std::vector<double>{1, 20, 3});
  // a scalar branch broadcasts and keeps the array's dtype (weak scalar)
  Array w = where(c, f32({1, 2, 3}, {3}), 0.0);
  CHECK(w.dtype() == float32);
  CHECK_FALSE(w.weak_type());
  CHECK_ALLCLOSE(w, std::vector<double>{1, 0, 3});
  // int32 and float64 promote to float64
  Array m = where(c, i32({1, 2, 3}), f64({0.5, 0.5, 0.5}));
  CHECK(m.dtype() == float64);
  CHECK_ALLCLOSE(m, std::vector<double>{1, 0.5, 3});
  // the condition broadcasts against [2,3]
  Array big = where(c, array({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, Shape{2, 3}), -1.0);
  CHECK(big.shape() == Shape{2, 3});
  CHECK_ALLCLOSE(big, std::vector<double>{1, -1, 3, 4, -1, 6});
  CHECK_ALLCLOSE(where(Array(false), f32({1, 2}, {2}), f32({3, 4}, {2})), std::vector<double>{3, 4});
  CHECK_ALLCLOSE(where(i32({0, 2}), 1.0, 2.0), std::vector<double>{2, 1});
  CHECK(where(zeros({0}, bool_), zeros({0}), 1.0).shape() == Shape{0});
  CHECK_THROWS_WITH_AS(where(c, f32({1, 2}, {2}), 0.0), doctest::Contains("where"), ShapeError);
}

TEST_CASE("lax.select: no broadcasting, bool predicate, select_n order") {
  Array p = bools({true, false});
  CHECK_ALLCLOSE(lax::select(p, f32({1, 2}, {2}), f32({3, 4}, {2})), std::vector<double>{1, 4});
  CHECK_ALLCLOSE(lax::select(Array(true), f32({1, 2}, {2}), f32({3, 4}, {2})), std::vector<double>{1, 2});
  CHECK_THROWS_WITH_AS(lax::select(i32({1, 0}), f32({1, 2}, {2}), f32({3, 4}, {2})),
                       doctest::Contains("predicate must be bool"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::select(p, f32({1, 2}, {2}), array({3.0, 4.0})), doctest::Contains("f64[2]"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::select(p, f32({1, 2}, {2}), f32({1, 2, 3}, {3})), doctest::Contains("same shape"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(lax::select(bools({true, false, true}), f32({1, 2}, {2}), f32({3, 4}, {2})),
                       doctest::Contains("predicate must be 0-d"), ShapeError);
  // select_n with an int32 index and three cases
  Array idx = i32({2, 0, 1});
  Array r = bind1(select_n_p, {idx, f32({1, 2, 3}, {3}), f32({10, 20, 30}, {3}), f32({100, 200, 300}, {3})});
  CHECK_ALLCLOSE(r, std::vector<double>{100, 2, 30});
}

TEST_CASE("maximum/minimum: values, NaN propagation, promotion, bools") {
  Array a = f32({1, 5, NAN, -2}, {4}), b = f32({3, 2, 1, NAN}, {4});
  CHECK_ALLCLOSE(maximum(a, b), std::vector<double>{3, 5, kNaN, kNaN});
  CHECK_ALLCLOSE(minimum(a, b), std::vector<double>{1, 2, kNaN, kNaN});
  CHECK_ALLCLOSE(maximum(i32({-3, 4}), 0), std::vector<double>{0, 4});
  CHECK(maximum(i32({-3, 4}), 0).dtype() == int32);
  CHECK(maximum(i32({-3, 4}), 0.5).dtype() == float32);
  CHECK(minimum(u32({1, 7}), i32({-1, 9})).dtype() == int64);
  CHECK_ALLCLOSE(minimum(u32({1, 7}), i32({-1, 9})), std::vector<double>{-1, 7});
  CHECK(ints(maximum(bools({true, false}), bools({false, false}))) == std::vector<int>{1, 0});
  CHECK_ALLCLOSE(maximum(Array(2.0), Array(3.0)), std::vector<double>{3});
}

// ---- arithmetic -------------------------------------------------------------------------------

TEST_CASE("arithmetic: + - * / over dtypes, shapes and weak scalars") {
  for (DType dt : {int32, int64, uint32, float32, float64}) {
    CAPTURE(dt);
    Array a = array({6.0, 9.0, 4.0, 8.0, 10.0, 12.0}, Shape{2, 3}).astype(dt);
    Array b = array({3.0, 2.0, 1.0}, Shape{3}).astype(dt);
    Array s = a + b;
    CHECK(s.dtype() == dt);
    CHECK(s.shape() == Shape{2, 3});
    CHECK_ALLCLOSE(s, std::vector<double>{9, 11, 5, 11, 12, 13});
    CHECK_ALLCLOSE(a - b, std::vector<double>{3, 7, 3, 5, 8, 11});
    CHECK_ALLCLOSE(a * b, std::vector<double>{18, 18, 4, 24, 20, 12});
    Array q = a / b;
    CHECK(q.dtype() == (is_floating(dt) ? dt : float32));
    CHECK_ALLCLOSE(q, std::vector<double>{2, 4.5, 4, 8.0 / 3, 5, 12});
    CHECK((a * 2).dtype() == dt);
    CHECK_ALLCLOSE(a * 2, std::vector<double>{12, 18, 8, 16, 20, 24});
    CHECK_ALLCLOSE(2 * 0 + a - 1, std::vector<double>{5, 8, 3, 7, 9, 11});
  }
  // 0-d with 0-d, empty with scalar
  Array z = Array(2.0) * Array(3.0);
  CHECK(z.ndim() == 0);
  CHECK(z.weak_type());
  CHECK_ALLCLOSE(z, std::vector<double>{6});
  CHECK((zeros({0, 2}) + 1.0).shape() == Shape{0, 2});
  CHECK((zeros({0, 2}) + zeros({1, 2})).shape() == Shape{0, 2});
  // compound assignment
  Array x = f32({1, 2}, {2});
  x += 1.0;
  x *= 3.0;
  x -= f32({1, 1}, {2});
  x /= 2.0;
  CHECK_ALLCLOSE(x, std::vector<double>{2.5, 4});
  CHECK_ALLCLOSE(-x, std::vector<double>{-2.5, -4});
}

TEST_CASE("arithmetic: bools follow numpy (+ is or, * is and, / is float)") {
  Array p = bools({true, true, false}), q = bools({true, false, false});
  CHECK((p + q).dtype() == bool_);
  CHECK(ints(p + q) == std::vector<int>{1, 1, 0});
  CHECK(ints(p * q) == std::vector<int>{1, 0, 0});
  CHECK((p / q).dtype() == float32);
  CHECK_ALLCLOSE(p / q, std::vector<double>{1, kInf, kNaN});
  CHECK((p + 1).dtype() == int32);
  CHECK_ALLCLOSE(p + 1, std::vector<double>{2, 2, 1});
  CHECK_THROWS_WITH_AS(p - q, doctest::Contains("[sub] needs numeric operands, got bool[3]"), DTypeError);
  CHECK_THROWS_WITH_AS(-p, doctest::Contains("[neg]"), DTypeError);
}

TEST_CASE("arithmetic: integer overflow wraps and division by zero does not trap") {
  const int32_t mn = std::numeric_limits<int32_t>::min(), mx = std::numeric_limits<int32_t>::max();
  CHECK(ints(i32({mx}) + 1) == std::vector<int>{mn});
  CHECK(ints(-i32({mn})) == std::vector<int>{mn});
  CHECK(ints(floor_divide(i32({7, mn, 0}), i32({0, -1, 0}))) == std::vector<int>{0, mn, 0});
  CHECK(ints(mod(i32({7, mn}), i32({0, -1}))) == std::vector<int>{0, 0});
  CHECK(u32({0}).to_vector<uint32_t>()[0] == 0u);
  CHECK((u32({0}) - u32({1})).to_vector<uint32_t>() == std::vector<uint32_t>{0xffffffffu});
  // true division of ints by zero is a float division
  CHECK_ALLCLOSE(i32({1, -1, 0}) / 0, std::vector<double>{kInf, -kInf, kNaN});
}

TEST_CASE("floor_divide/mod: numpy signs for ints and floats") {
  std::vector<double> a = {7, -7, 7, -7, 6, 0, 5}, b = {2, 2, -2, -2, 3, 4, -7};
  auto fd = map2(a, b, [](double x, double y) { return std::floor(x / y); });
  auto md = map2(a, b, [](double x, double y) { return x - std::floor(x / y) * y; });
  for (DType dt : {int32, int64, float32, float64}) {
    CAPTURE(dt);
    Array x = array(a).astype(dt), y = array(b).astype(dt);
    CHECK(floor_divide(x, y).dtype() == dt);
    CHECK_ALLCLOSE(floor_divide(x, y), fd);
    CHECK(mod(x, y).dtype() == dt);
    CHECK_ALLCLOSE(mod(x, y), md);
  }
  CHECK_ALLCLOSE(floor_divide(u32({7, 9}), u32({2, 10})), std::vector<double>{3, 0});
  CHECK_ALLCLOSE(mod(u32({7, 9}), u32({2, 10})), std::vector<double>{1, 9});
  // exact divmod for floats: 1 // 0.1 is 9 (0.1 is slightly above 1/10), as numpy
  CHECK_ALLCLOSE(floor_divide(f64({1.0}), f64({0.1})), std::vector<double>{9});
  CHECK_ALLCLOSE(mod(f64({5.5, -5.5}), 2.0), std::vector<double>{1.5, 0.5});
  CHECK_ALLCLOSE(mod(f32({1}, {1}), 0.0), std::vector<double>{kNaN});
  CHECK(floor_divide(bools({true}), bools({true})).dtype() == int32);
  CHECK(floor_divide(i32({7}), 2).dtype() == int32);
  CHECK_ALLCLOSE(floor_divide(Array(-7), Array(2)), std::vector<double>{-4});
}

TEST_CASE("power: floats, integer powers, promotion") {
  CHECK_ALLCLOSE(power(f32({2, 9, 0.5f}, {3}), f32({3, 0.5f, -1}, {3})), std::vector<double>{8, 3, 2});
  CHECK_ALLCLOSE(pow(f64({-8.0}), 2.0), std::vector<double>{64});
  CHECK_ALLCLOSE(pow(f64({-8.0}), 0.5), std::vector<double>{kNaN});
  Array ip = power(i32({2, 3, -2, 0, 0, 5, 7}), i32({10, 3, 3, 0, 5, 1, -1}));
  CHECK(ip.dtype() == int32);
  CHECK(ints(ip) == std::vector<int>{1024, 27, -8, 1, 0, 5, 0});
  CHECK(power(i32({2}), 0.5).dtype() == float32);
  CHECK(power(u32({3}), u32({4})).to_vector<uint32_t>() == std::vector<uint32_t>{81});
  CHECK(ints(power(i64({3}), 2)) == std::vector<int>{9});
}

TEST_CASE("integer_pow: positive, zero and negative exponents") {
  Array x = f64({2.0, -3.0, 0.5, 0.0});
  CHECK_ALLCLOSE(lax::integer_pow(x, 3), std::vector<double>{8, -27, 0.125, 0});
  CHECK_ALLCLOSE(lax::integer_pow(x, 0), std::vector<double>{1, 1, 1, 1});
  CHECK_ALLCLOSE(lax::integer_pow(x, -2), std::vector<double>{0.25, 1.0 / 9, 4, kInf});
  CHECK(ints(lax::integer_pow(i32({-2, 3}), 5)) == std::vector<int>{-32, 243});
  CHECK_THROWS_WITH_AS(lax::integer_pow(i32({2}), -1), doctest::Contains("negative power"), DTypeError);
  CHECK_THROWS_WITH_AS(lax::integer_pow(bools({true}), 2), doctest::Contains("[integer_pow]"), DTypeError);
  CHECK_ALLCLOSE(reciprocal(f32({2, -4}, {2})), std::vector<double>{0.5, -0.25});
  CHECK(reciprocal(i32({2})).dtype() == float32);
  CHECK_ALLCLOSE(reciprocal(i32({2, 0})), std::vector<double>{0.5, kInf});
  CHECK_ALLCLOSE(square(f32({-3, 1.5f}, {2})), std::vector<double>{9, 2.25});
  CHECK(square(i32({-3})).dtype() == int32);
  CHECK(ints(square(bools({true, false}))) == std::vector<int>{1, 0});
}

// ---- unary ------------------------------------------------------------------------------------

TEST_CASE("transcendentals: values against libm in f32 and f64, ints promote to f32") {
  struct Case {
    const char* name;
    Array (*op)(const Array&, const Loc&);
    double (*ref)(double);
    std::vector<double> xs;
  };
  std::vector<double> wide = {-3.5, -1.25, -0.5, 0.0, 0.3, 1.0, 2.75, 7.0};
  std::vector<double> pos = {0.01, 0.5, 1.0, 2.0, 10.0, 1e4};
  std::vector<double> unit = {-0.99, -0.5, 0.0, 0.25, 0.9};
  std::vector<Case> cases = {
      {"exp", jx::exp, [](double x) { return std::exp(x); }, wide},
      {"log", jx::log, [](double x) { return std::log(x); }, pos},
      {"log1p", jx::log1p, [](double x) { return std::log1p(x); }, {-0.5, -1e-7, 0.0, 1e-7, 3.0}},
      {"expm1", jx::expm1, [](double x) { return std::expm1(x); }, {-2.0, -1e-7, 0.0, 1e-7, 3.0}},
      {"sin", jx::sin, [](double x) { return std::sin(x); }, wide},
      {"cos", jx::cos, [](double x) { return std::cos(x); }, wide},
      {"tan", jx::tan, [](double x) { return std::tan(x); }, {-1.2, -0.3, 0.0, 0.7, 1.4}},
      {"tanh", jx::tanh, [](double x) { return std::tanh(x); }, wide},
      {"sinh", jx::sinh, [](double x) { return std::sinh(x); }, wide},
      {"cosh", jx::cosh, [](double x) { return std::cosh(x); }, wide},
      {"arcsin", jx::arcsin, [](double x) { return std::asin(x); }, unit},
      {"arccos", jx::arccos, [](double x) { return std::acos(x); }, unit},
      {"arctan", jx::arctan, [](double x) { return std::atan(x); }, wide},
      {"sqrt", jx::sqrt, [](double x) { return std::sqrt(x); }, pos},
      {"rsqrt", jx::rsqrt, [](double x) { return 1.0 / std::sqrt(x); }, pos},
      {"erf", jx::erf, [](double x) { return std::erf(x); }, wide},
      {"lgamma", jx::lgamma, [](double x) { return std::lgamma(x); }, {0.1, 0.5, 1.0, 2.5, 10.0, -0.5, -2.5}},
      {"sigmoid", jx::sigmoid, [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, wide},
      {"softplus", jx::softplus, [](double x) { return std::log1p(std::exp(x)); }, wide},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto expected = map1(c.xs, c.ref);
    for (DType dt : {float32, float64}) {
      CAPTURE(dt);
      Array x = array(c.xs).astype(dt);
      Array y = c.op(x, Loc::current());
      CHECK(y.dtype() == dt);
      CHECK(y.shape() == x.shape());
      if (dt == float32) {
        CHECK_ALLCLOSE_TOL(y, expected, 2e-6, 1e-6);
      } else {
        CHECK_ALLCLOSE_TOL(y, expected, 1e-14, 1e-15);
      }
    }
    // 0-d, empty, and [2,3] shapes; a weak scalar stays weak
    Array s = c.op(Array(c.xs[1]), Loc::current());
    CHECK(s.ndim() == 0);
    CHECK(s.weak_type());
    CHECK(c.op(zeros({0, 3}), Loc::current()).shape() == Shape{0, 3});
  }
  Array yi = jx::exp(i32({0, 1}));
  CHECK(yi.dtype() == float32);
  CHECK_ALLCLOSE(yi, std::vector<double>{1, std::exp(1.0)});
  CHECK(jx::sqrt(Array(4)).dtype() == float32);
  CHECK(jx::sqrt(Array(4)).weak_type());
  CHECK(jx::sin(bools({true})).dtype() == float32);
}

TEST_CASE("transcendentals: IEEE special values (NaN, inf, signed zero) on the vector path") {
  // 40 elements so that the specials land inside full vector lanes, not only in the tail
  std::vector<double> xs;
  for (int i = 0; i < 40; ++i) xs.push_back(i % 4 == 0 ? kNaN : (i % 4 == 1 ? kInf : (i % 4 == 2 ? -kInf : 0.5)));
  auto check = [&](Array (*op)(const Array&, const Loc&), double (*ref)(double)) {
    for (DType dt : {float32, float64}) {
      CAPTURE(dt);
      CHECK_ALLCLOSE_TOL(op(array(xs).astype(dt), Loc::current()), map1(xs, ref), 2e-6, 0);
    }
  };
  check(jx::exp, [](double x) { return std::exp(x); });
  check(jx::log, [](double x) { return std::log(x); });
  check(jx::log1p, [](double x) { return std::log1p(x); });
  check(jx::expm1, [](double x) { return std::expm1(x); });
  check(jx::sin, [](double x) { return std::sin(x); });
  check(jx::cos, [](double x) { return std::cos(x); });
  check(jx::tanh, [](double x) { return std::tanh(x); });
  check(jx::erf, [](double x) { return std::erf(x); });
  check(jx::sigmoid, [](double x) { return 1.0 / (1.0 + std::exp(-x)); });
  check(jx::sqrt, [](double x) { return std::sqrt(x); });
  CHECK_ALLCLOSE(jx::log(f32({0, -1, -0.0f}, {3})), std::vector<double>{-kInf, kNaN, -kInf});
  CHECK_ALLCLOSE(jx::exp(f32({-100, 100}, {2})), std::vector<double>{std::exp(-100.0f), kInf});
  CHECK_ALLCLOSE(jx::sigmoid(f32({-200, 200}, {2})), std::vector<double>{0, 1});
  CHECK_ALLCLOSE(jx::softplus(f32({-200, 200}, {2})), std::vector<double>{0, 200});
  CHECK(std::signbit(jx::tanh(f32({-0.0f}, {1})).to_vector<float>()[0]));
}

TEST_CASE("transcendentals: large arrays agree with libm (parallel, vectorized)") {
  Array x = testing::uniform({3, 40000}, -8.0, 8.0, float32, 7);
  auto xs = x.to_vector<float>();
  auto check = [&](const Array& y, float (*ref)(float)) {
    auto got = y.to_vector<float>();
    REQUIRE(got.size() == xs.size());
    size_t bad = 0;
    for (size_t i = 0; i < xs.size(); ++i) {
      float e = ref(xs[i]);
      if (!(std::abs(got[i] - e) <= 1e-6f + 4e-6f * std::abs(e))) ++bad;
    }
    CHECK(bad == 0);
  };
  check(jx::tanh(x), [](float v) { return std::tanh(v); });
  check(jx::exp(x), [](float v) { return std::exp(v); });
  check(jx::sin(x), [](float v) { return std::sin(v); });
  check(jx::sigmoid(x), [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
  check(jx::log(jx::abs(x)), [](float v) { return std::log(std::abs(v)); });
}

TEST_CASE("abs/sign/negative: integer, unsigned and float semantics") {
  CHECK_ALLCLOSE(jx::abs(f32({-1.5f, 0, 2, NAN}, {4})), std::vector<double>{1.5, 0, 2, kNaN});
  CHECK(ints(jx::abs(i32({-3, 4, std::numeric_limits<int32_t>::min()}))) ==
        std::vector<int>{3, 4, std::numeric_limits<int32_t>::min()});
  CHECK(jx::abs(u32({7})).dtype() == uint32);
  CHECK(jx::abs(bools({true})).dtype() == bool_);
  CHECK_ALLCLOSE(sign(f64({-2.0, 0.0, 3.0, kNaN})), std::vector<double>{-1, 0, 1, kNaN});
  CHECK(ints(sign(i32({-7, 0, 9}))) == std::vector<int>{-1, 0, 1});
  CHECK(sign(u32({0, 5})).to_vector<uint32_t>() == std::vector<uint32_t>{0, 1});
  CHECK_THROWS_WITH_AS(sign(bools({true})), doctest::Contains("[sign] needs a numeric operand, got bool[1]"),
                       DTypeError);
  CHECK(negative(u32({1})).to_vector<uint32_t>() == std::vector<uint32_t>{0xffffffffu});
}

TEST_CASE("floor/ceil/round: half to even, ints unchanged") {
  std::vector<double> xs = {-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4, -2.6, kInf, kNaN};
  for (DType dt : {float32, float64}) {
    Array x = array(xs).astype(dt);
    CHECK_ALLCLOSE(jx::floor(x), map1(xs, [](double v) { return std::floor(v); }));
    CHECK_ALLCLOSE(jx::ceil(x), map1(xs, [](double v) { return std::ceil(v); }));
    CHECK_ALLCLOSE(jx::round(x), std::vector<double>{-2, -2, -0.0, 0, 2, 2, 2, -3, kInf, kNaN});
  }
  CHECK(jx::floor(i32({3})).dtype() == int32);
  CHECK(ints(jx::round(i32({3, -4}))) == std::vector<int>{3, -4});
}

TEST_CASE("digamma: known values, reflection and poles") {
  const double euler = 0.57721566490153286;
  std::vector<double> expected = {-euler, 1 - euler, -euler - 2 * std::log(2.0), 2.2517525890667211,
                                  0.03648997397857652, kNaN, kNaN, kInf};
  Array y = digamma(f64({1.0, 2.0, 0.5, 10.0, -0.5, 0.0, -2.0, kInf}));
  CHECK_ALLCLOSE_TOL(y, expected, 1e-12, 1e-12);
  std::vector<double> expected32 = {-euler, -euler - 2 * std::log(2.0)};
  CHECK_ALLCLOSE_TOL(digamma(f32({1.0f, 0.5f}, {2})), expected32, 1e-6, 1e-6);
}

TEST_CASE("logaddexp: stable, infinities, NaN") {
  std::vector<double> a = {0.0, 1000.0, -1000.0, 2.0, -kInf, kInf, kNaN};
  std::vector<double> b = {0.0, 1000.0, -1001.0, -3.0, -kInf, kInf, 1.0};
  std::vector<double> expected = {std::log(2.0), 1000 + std::log(2.0), -1000 + std::log1p(std::exp(-1.0)),
                                  2 + std::log1p(std::exp(-5.0)), -kInf, kInf, kNaN};
  CHECK_ALLCLOSE(logaddexp(array(a), array(b)), expected);
  CHECK(logaddexp(i32({1}), i32({2})).dtype() == float32);
  CHECK_ALLCLOSE(logaddexp(f32({0, 1}, {2}), 0.0), std::vector<double>{std::log(2.0), std::log1p(std::exp(1.0))});
}

TEST_CASE("arctan2: quadrants and promotion") {
  std::vector<double> y = {1, 1, -1, -1, 0, 0}, x = {1, -1, -1, 1, -1, 0};
  CHECK_ALLCLOSE(arctan2(array(y), array(x)), map2(y, x, [](double a, double b) { return std::atan2(a, b); }));
  CHECK(arctan2(i32({1}), i32({1})).dtype() == float32);
}

TEST_CASE("clip/isnan/isfinite: values and dtypes") {
  CHECK_ALLCLOSE(clip(f32({-5, 0.5f, 5, NAN}, {4}), -1.0, 1.0), std::vector<double>{-1, 0.5, 1, kNaN});
  CHECK(clip(i32({-5, 5}), 0, 3).dtype() == int32);
  CHECK(ints(clip(i32({-5, 1, 5}), 0, 3)) == std::vector<int>{0, 1, 3});
  CHECK_ALLCLOSE(clip(f32({0, 10}, {2}), f32({1, 2}, {2}), 5.0), std::vector<double>{1, 5});
  CHECK(ints(isnan(f32({NAN, 1, INFINITY}, {3}))) == std::vector<int>{1, 0, 0});
  CHECK(ints(isfinite(f64({kNaN, 1, kInf, -kInf}))) == std::vector<int>{0, 1, 0, 0});
  CHECK(ints(isnan(i32({1, 2}))) == std::vector<int>{0, 0});
  CHECK(ints(isfinite(i32({1, 2}))) == std::vector<int>{1, 1});
  CHECK(isnan(Array(1)).ndim() == 0);
  CHECK(isfinite(f32({1}, {1})).dtype() == bool_);
}

TEST_CASE("stop_gradient and convert_element_type: identity and conversions") {
  Array x = f32({1, -2}, {2});
  CHECK_ALLCLOSE(lax::stop_gradient(x), std::vector<double>{1, -2});
  CHECK(lax::stop_gradient(i32({3})).dtype() == int32);
  CHECK(ints(lax::convert_element_type(f32({2.7f, -2.7f, NAN}, {3}), int32)) == std::vector<int>{2, -2, 0});
  CHECK(ints(f32({0, 0.5f}, {2}).astype(bool_)) == std::vector<int>{0, 1});
}

// ---- errors and jaxprs ------------------------------------------------------------------------

TEST_CASE("elementwise primitives: lax-level dtype and shape errors") {
  Array a = f32({1, 2}, {2});
  Array b = array({1.0, 2.0});
  CHECK_THROWS_WITH_AS(bind1(add_p, {a, b}), doctest::Contains("[add] operands must have the same dtype, got f32[2] and f64[2]"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(bind1(mul_p, {a, f32({1, 2, 3}, {3})}), doctest::Contains("f32[3]"), ShapeError);
  CHECK_THROWS_WITH_AS(bind1(sin_p, {i32({1})}), doctest::Contains("[sin] needs a floating-point operand, got i32[1]"),
                       DTypeError);
  CHECK_THROWS_WITH_AS(bind1(pow_p, {i32({1}), i32({1})}), doctest::Contains("[pow]"), DTypeError);
  CHECK_THROWS_WITH_AS(bind1(is_finite_p, {i32({1})}), doctest::Contains("[is_finite]"), DTypeError);
  CHECK_THROWS_WITH_AS(bind1(abs_p, {u32({1})}), doctest::Contains("[abs]"), DTypeError);
  CHECK_THROWS_WITH_AS(bind1(select_n_p, {f32({1}, {1}), a, a}), doctest::Contains("bool or int32"), DTypeError);
  CHECK_THROWS_WITH_AS(a + f32({1, 2, 3}, {3}), doctest::Contains("f32[3]"), ShapeError);
  CHECK_THROWS_WITH_AS(jx::exp(Array()), doctest::Contains("undefined"), ValueError);
  try {
    (void)(a * f32({1, 2, 3}, {3}));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("elementwise_test.cpp:") != std::string::npos);
  }
}

TEST_CASE("make_jaxpr: weak literals, promotion and composite ops print as JAX") {
  Array x = f32({1, 2, 3}, {3});
  auto jp = make_jaxpr([](const Array& a) { return a * 2.0; })(x);
  CHECK(jp.str() ==
        "{ lambda ; a:f32[3]. let\n"
        "    b:f32[3] = mul a 2.0:f32[]\n"
        "  in (b,) }");
  CHECK(jp.out_avals()[0].dtype == float32);
  auto jt = make_jaxpr([](const Array& a) { return jx::tanh(a) > 0.5; })(x);
  CHECK(jt.str() ==
        "{ lambda ; a:f32[3]. let\n"
        "    b:f32[3] = tanh a\n"
        "    c:bool[3] = gt b 0.5:f32[]\n"
        "  in (c,) }");
  auto js = make_jaxpr([](const Array& c, const Array& a, const Array& b) { return lax::select(c, a, b); })(
      bools({true, false, true}), x, x);
  CHECK(js.str() ==
        "{ lambda ; a:bool[3] b:f32[3] c:f32[3]. let\n"
        "    d:f32[3] = select_n a c b\n"
        "  in (d,) }");
  auto jl = make_jaxpr([](const Array& a, const Array& b) { return logaddexp(a, b); })(x, x);
  CHECK(jl.str() ==
        "{ lambda ; a:f32[3] b:f32[3]. let\n"
        "    c:f32[3] = max a b\n"
        "    d:f32[3] = sub a b\n"
        "    e:bool[3] = ne d d\n"
        "    f:f32[3] = abs d\n"
        "    g:f32[3] = neg f\n"
        "    h:f32[3] = exp g\n"
        "    i:f32[3] = log1p h\n"
        "    j:f32[3] = add c i\n"
        "    k:f32[3] = add a b\n"
        "    l:f32[3] = select_n e j k\n"
        "  in (l,) }");
  auto jr = make_jaxpr([](const Array& a) {
    Array r = jx::round(a);
    return r + lax::integer_pow(a, 3);
  })(x);
  CHECK(jr.str() ==
        "{ lambda ; a:f32[3]. let\n"
        "    b:f32[3] = round[rounding_method=1] a\n"
        "    c:f32[3] = integer_pow[y=3] a\n"
        "    d:f32[3] = add b c\n"
        "  in (d,) }");
}
