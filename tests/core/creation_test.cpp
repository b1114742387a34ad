// Creation functions: values against plain C++ formulas, dtypes and weak types as numpy/JAX,
// 0-d and empty shapes, staging under make_jaxpr, and bad-input errors.
#include <cmath>

#include "testing/testing.h"

using namespace jx;

namespace {
std::vector<double> filled(int64_t n, double v) { return std::vector<double>(static_cast<size_t>(n), v); }
}  // namespace

TEST_CASE("zeros: shapes and dtypes") {
  for (DType dt : {float32, float64, int32, int64, uint32, bool_}) {
    CAPTURE(dtype_name(dt));
    Array z = zeros({2, 3}, dt);
    CHECK(z.shape() == Shape{2, 3});
    CHECK(z.dtype() == dt);
    CHECK_FALSE(z.weak_type());
    CHECK_ALLCLOSE(z, filled(6, 0));
    Array o = ones({3}, dt);
    CHECK(o.dtype() == dt);
    CHECK_ALLCLOSE(o, filled(3, 1));
  }
  CHECK(zeros({}).shape() == Shape{});
  CHECK_ALLCLOSE(zeros({}), std::vector<double>{0});
  CHECK(ones({0, 4}).shape() == Shape{0, 4});
  CHECK(zeros({2}).dtype() == float32);
  CHECK_THROWS_WITH_AS(zeros({2, -1}), doctest::Contains("[zeros] negative dimension in shape [2,-1]"), ShapeError);
  CHECK_THROWS_WITH_AS(ones({-3}), doctest::Contains("negative dimension"), ShapeError);
}

TEST_CASE("full: dtype defaults to the value's; weak values stay weak as in JAX") {
  Array a = full({2, 2}, 2.5);
  CHECK(a.dtype() == float32);
  CHECK(a.weak_type());
  CHECK_ALLCLOSE(a, filled(4, 2.5));
  Array b = full({3}, 7);
  CHECK(b.dtype() == int32);
  CHECK_ALLCLOSE(b, filled(3, 7));
  Array c = full({3}, 2.5, int32);
  CHECK(c.dtype() == int32);
  CHECK_FALSE(c.weak_type());
  CHECK_ALLCLOSE(c, filled(3, 2));
  Array d = full({2}, scalar(1.25, float64));
  CHECK(d.dtype() == float64);
  CHECK_FALSE(d.weak_type());
  CHECK_ALLCLOSE(d, filled(2, 1.25));
  CHECK_ALLCLOSE(full({2}, 3.0, bool_), std::vector<double>{1, 1});
  CHECK(full({}, 4.0).shape() == Shape{});
  CHECK(full({0}, 4.0).shape() == Shape{0});
  // A non-scalar fill broadcasts, as numpy.
  Array e = full({2, 3}, array({1.f, 2.f, 3.f}));
  CHECK_ALLCLOSE(e, std::vector<double>{1, 2, 3, 1, 2, 3});
  CHECK_THROWS_WITH_AS(full({2, 2}, array({1.f, 2.f, 3.f})), doctest::Contains("cannot broadcast"), ShapeError);
  CHECK_THROWS_WITH_AS(full({-1}, 1.0), doctest::Contains("negative dimension"), ShapeError);
  CHECK_THROWS_AS(full({1}, Array()), ValueError);
}

TEST_CASE("full: a traced fill value stages broadcast_in_dim") {
  auto jp = make_jaxpr([](const Array& v) { return full({2, 3}, v); })(scalar(1.0));
  CHECK(jp.str() ==
        "{ lambda ; a:f32[]. let\n"
        "    b:f32[2,3] = broadcast_in_dim[broadcast_dimensions=() shape=(2, 3)] a\n"
        "  in (b,) }");
  auto jp2 = make_jaxpr([](const Array& v) { return full({2}, v, float64); })(scalar(1.0));
  CHECK(jp2.str().find("convert_element_type[new_dtype=float64 weak_type=False] a") != std::string::npos);
  // Constant fills appear as literals, as JAX's Python scalars.
  auto jp3 = make_jaxpr([](const Array& x) { return x + zeros({3}); })(zeros({3}));
  CHECK(jp3.str().find("broadcast_in_dim[broadcast_dimensions=() shape=(3,)] 0.0:f32[]") != std::string::npos);
}

TEST_CASE("scalar: strongly typed 0-d arrays") {
  Array s = scalar(3.0);
  CHECK(s.shape() == Shape{});
  CHECK(s.dtype() == float32);
  CHECK_FALSE(s.weak_type());
  CHECK(scalar(3.0, int64).dtype() == int64);
  CHECK(scalar(-2.0, int32).item<int>() == -2);
  CHECK(scalar(0.5, float64).item<double>() == 0.5);
}

TEST_CASE("zeros_like: shape, dtype and weakness of the operand") {
  Array x = array({1, 2, 3, 4}, Shape{2, 2});
  Array z = zeros_like(x);
  CHECK(z.shape() == Shape{2, 2});
  CHECK(z.dtype() == int32);
  CHECK_ALLCLOSE(z, filled(4, 0));
  Array o = ones_like(x, float64);
  CHECK(o.dtype() == float64);
  CHECK_ALLCLOSE(o, filled(4, 1));
  Array f = full_like(x, 2.7);
  CHECK(f.dtype() == int32);
  CHECK_ALLCLOSE(f, filled(4, 2));
  CHECK(zeros_like(Array(2.0)).weak_type());
  CHECK_FALSE(zeros_like(Array(2.0), float32).weak_type());
  CHECK(ones_like(zeros({0, 2})).shape() == Shape{0, 2});
  CHECK(zeros_like(scalar(1.0, uint32)).dtype() == uint32);
  // Under tracing zeros_like does not depend on the operand's values.
  auto jp = make_jaxpr([](const Array& a) { return zeros_like(a); })(zeros({2}));
  CHECK(jp.str() ==
        "{ lambda ; a:f32[2]. let\n"
        "    b:f32[2] = broadcast_in_dim[broadcast_dimensions=() shape=(2,)] 0.0:f32[]\n"
        "  in (b,) }");
  CHECK_THROWS_AS(zeros_like(Array()), ValueError);
}

TEST_CASE("arange: numpy length rule and default dtypes") {
  Array a = arange(5);
  CHECK(a.dtype() == int32);
  CHECK_ALLCLOSE(a, std::vector<double>{0, 1, 2, 3, 4});
  CHECK(arange(0).shape() == Shape{0});
  CHECK(arange(-3).shape() == Shape{0});
  Array b = arange(2, 11, 3);
  CHECK(b.dtype() == int32);
  CHECK_ALLCLOSE(b, std::vector<double>{2, 5, 8});
  Array c = arange(0.5, 2.0, 0.5);
  CHECK(c.dtype() == float32);
  CHECK_ALLCLOSE(c, std::vector<double>{0.5, 1.0, 1.5});
  Array d = arange(5, 0, -2);
  CHECK_ALLCLOSE(d, std::vector<double>{5, 3, 1});
  Array e = arange(1, 2, 0.3, float64);
  CHECK(e.dtype() == float64);
  CHECK(e.shape() == Shape{4});  // ceil(1 / 0.3) = 4
  CHECK_ALLCLOSE(e, std::vector<double>{1.0, 1.3, 1.6, 1.9});
  CHECK(arange(3, 1, 1).shape() == Shape{0});
  CHECK(arange(0, 4, 1, int64).dtype() == int64);
  CHECK_THROWS_AS(arange(0, 4, 0), ValueError);
  CHECK_THROWS_AS(arange(0, 4, 1, bool_), DTypeError);
  auto jp = make_jaxpr([]() { return arange(4); })();
  CHECK(jp.str().find("iota[dimension=0 dtype=int32 shape=(4,)]") != std::string::npos);
}

TEST_CASE("linspace: endpoints, spacing and dtypes") {
  Array a = linspace(0, 1, 5);
  CHECK(a.dtype() == float32);
  CHECK_ALLCLOSE(a, std::vector<double>{0, 0.25, 0.5, 0.75, 1});
  Array b = linspace(0, 1, 4, false, float64);
  CHECK(b.dtype() == float64);
  CHECK_ALLCLOSE(b, std::vector<double>{0, 0.25, 0.5, 0.75});
  std::vector<double> ref;
  for (int i = 0; i < 50; ++i) ref.push_back(-3.0 + 10.0 * i / 49.0);
  CHECK_ALLCLOSE(linspace(-3, 7, 50, true, float64), ref);
  CHECK_ALLCLOSE(linspace(2, 5, 1), std::vector<double>{2});
  CHECK(linspace(2, 5, 0).shape() == Shape{0});
  CHECK_ALLCLOSE(linspace(0, 5, 4, true, int32), std::vector<double>{0, 1, 3, 5});  // floor(5/3), floor(10/3)
  CHECK_ALLCLOSE(linspace(3, 0, 4), std::vector<double>{3, 2, 1, 0});
  CHECK_THROWS_AS(linspace(0, 1, -1), ValueError);
}

TEST_CASE("eye: square, rectangular and offset diagonals") {
  auto ref = [](int64_t n, int64_t m, int64_t k) {
    std::vector<double> v;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j) v.push_back(j - i == k ? 1.0 : 0.0);
    return v;
  };
  Array a = eye(3);
  CHECK(a.shape() == Shape{3, 3});
  CHECK(a.dtype() == float32);
  CHECK_ALLCLOSE(a, ref(3, 3, 0));
  for (int64_t k : {-3, -1, 0, 1, 2, 5}) {
    CAPTURE(k);
    CHECK_ALLCLOSE(eye(3, 4, k), ref(3, 4, k));
    CHECK_ALLCLOSE(eye(4, 2, k, int32), ref(4, 2, k));
  }
  CHECK(eye(2, std::nullopt, 0, bool_).dtype() == bool_);
  CHECK(eye(0).shape() == Shape{0, 0});
  CHECK(eye(2, 0).shape() == Shape{2, 0});
  CHECK_THROWS_WITH_AS(eye(-1), doctest::Contains("[eye] negative dimension"), ShapeError);
  CHECK_THROWS_WITH_AS(eye(2, -2), doctest::Contains("negative dimension"), ShapeError);
}
