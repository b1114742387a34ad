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
