// Neural elementwise ops (softmax, log_softmax, relu, gelu): values against formulas evaluated
// in plain double loops, numerical stability at extreme inputs, dtypes, errors, and jaxprs.
#include <cmath>
#include <limits>

#include "testing/testing.h"

using namespace jx;

namespace {

const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Reference softmax / log_softmax along `axis` of a row-major array, in double, computed with a
// max shift (independently of jx).
std::vector<double> ref_softmax(const Shape& shape, const std::vector<double>& x, int axis, bool log_form) {
  int64_t nd = static_cast<int64_t>(shape.size());
  int64_t outer = 1, n = shape[axis], inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= shape[d];
  for (int64_t d = axis + 1; d < nd; ++d) inner *= shape[d];
  std::vector<double> out(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      auto at = [&](int64_t k) { return (o * n + k) * inner + j; };
      double m = -kInf;
      for (int64_t k = 0; k < n; ++k) m = std::max(m, x[at(k)]);
      double s = 0;
      for (int64_t k = 0; k < n; ++k) s += std::exp(x[at(k)] - m);
      for (int64_t k = 0; k < n; ++k) {
        out[at(k)] = log_form ? x[at(k)] - m - std::log(s) : std::exp(x[at(k)] - m) / s;
      }
    }
  }
  return out;
}

double ref_gelu(double x, bool approximate) {
  if (approximate) return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
  return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}

}  // namespace

TEST_CASE("softmax: matches the formula along every axis, dtypes float32 and float64") {
  for (DType dtype : {float32, float64}) {
    Shape shape{3, 4, 5};
    Array x = testing::uniform(shape, -4, 4, dtype, 21);
    auto xv = testing::values(x);
    for (int axis : {0, 1, 2, -1, -3}) {
      int a = axis < 0 ? axis + 3 : axis;
      CAPTURE(dtype_name(dtype));
      CAPTURE(axis);
      Array y = softmax(x, axis);
      CHECK(y.dtype() == dtype);
      CHECK(y.shape() == shape);
      CHECK_ALLCLOSE(y, ref_softmax(shape, xv, a, false));
      Array ly = log_softmax(x, axis);
      CHECK(ly.dtype() == dtype);
      CHECK_ALLCLOSE(ly, ref_softmax(shape, xv, a, true));
    }
  }
}

TEST_CASE("softmax: rows sum to one; default axis is the last") {
  Array x = testing::uniform({6, 7}, -3, 3, float32, 22);
  CHECK_ALLCLOSE(sum(softmax(x), {-1}), std::vector<double>(6, 1.0));
  CHECK_ALLCLOSE(sum(softmax(x, 0), {0}), std::vector<double>(7, 1.0));
  CHECK_ALLCLOSE(softmax(array({1.f, 1.f, 1.f, 1.f})), std::vector<double>(4, 0.25));
  CHECK_ALLCLOSE(softmax(array({0.0, std::log(3.0)})), std::vector<double>{0.25, 0.75});
}

TEST_CASE("softmax: stable for huge inputs; -inf entries get zero weight") {
  Array big = array({1000.f, 1000.f, 990.f});
  double e = std::exp(-10.0);
  CHECK_ALLCLOSE(softmax(big), std::vector<double>{1 / (2 + e), 1 / (2 + e), e / (2 + e)});
  CHECK_ALLCLOSE(log_softmax(big), std::vector<double>{-std::log(2 + e), -std::log(2 + e), -10 - std::log(2 + e)});
  Array neg = array({-1000.f, -1001.f});
  CHECK_ALLCLOSE(log_softmax(neg), std::vector<double>{-std::log1p(std::exp(-1.0)), -1 - std::log1p(std::exp(-1.0))});
  Array masked = array(std::vector<double>{0.0, -kInf, 0.0}, Shape{1, 3});
  CHECK_ALLCLOSE(softmax(masked), std::vector<double>{0.5, 0.0, 0.5});
  CHECK_ALLCLOSE(log_softmax(masked), std::vector<double>{-std::log(2.0), -kInf, -std::log(2.0)});
  // As in JAX, a row with no finite entry has no defined distribution.
  CHECK(std::isnan(softmax(array(std::vector<double>{-kInf, -kInf})).to_vector<double>()[0]));
}

TEST_CASE("softmax: integers become float32; 0-size arrays keep their shape") {
  Array i = array({1, 2, 3});
  CHECK(softmax(i).dtype() == float32);
  CHECK(log_softmax(i).dtype() == float32);
  CHECK_ALLCLOSE(softmax(i), ref_softmax({3}, {1, 2, 3}, 0, false));
  CHECK(softmax(zeros({0, 3})).shape() == Shape{0, 3});
  CHECK(softmax(zeros({2, 0})).shape() == Shape{2, 0});
  CHECK(log_softmax(zeros({2, 0}), 1).shape() == Shape{2, 0});
}

TEST_CASE("softmax: bad axes are reported with the operand") {
  Array x = zeros({2, 3});
  CHECK_THROWS_WITH_AS(softmax(x, 2), doctest::Contains("[softmax] axis 2 is out of range for f32[2,3]"), ShapeError);
  CHECK_THROWS_WITH_AS(log_softmax(x, -3), doctest::Contains("[log_softmax] axis -3 is out of range for f32[2,3]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(softmax(scalar(1.0)), doctest::Contains("for f32[]"), ShapeError);
  try {
    softmax(x, 5);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("nn_test.cpp:") != std::string::npos);
  }
}

TEST_CASE("relu: max(x, 0) keeping the dtype") {
  CHECK_ALLCLOSE(relu(array({-2.f, -0.5f, 0.f, 0.5f, 3.f})), std::vector<double>{0, 0, 0, 0.5, 3});
  Array i = relu(array({-3, 4}));
  CHECK(i.dtype() == int32);
  CHECK(i.to_vector<int>() == std::vector<int>{0, 4});
  Array d = relu(array(std::vector<double>{-1e-300, 1e-300, -kInf, kInf}));
  CHECK(d.dtype() == float64);
  CHECK_ALLCLOSE(d, std::vector<double>{0, 1e-300, 0, kInf});
  CHECK(std::isnan(relu(array(std::vector<float>{NAN})).item<float>()));
  CHECK(relu(scalar(-2.0)).shape() == Shape{});
  CHECK(relu(zeros({0, 2})).shape() == Shape{0, 2});
  CHECK(relu(array(std::vector<bool>{true, false})).dtype() == int32);
  CHECK_THROWS_AS(relu(Array()), ValueError);
}

TEST_CASE("gelu: tanh approximation and exact erf form against the formulas") {
  std::vector<double> xs{-6, -3, -1.5, -1, -0.25, 0, 0.25, 1, 1.5, 3, 6};
  for (DType dtype : {float32, float64}) {
    Array x = array(xs).astype(dtype);
    for (bool approximate : {true, false}) {
      std::vector<double> ref;
      for (double v : xs) ref.push_back(ref_gelu(v, approximate));
      CAPTURE(dtype_name(dtype));
      CAPTURE(approximate);
      Array y = gelu(x, approximate);
      CHECK(y.dtype() == dtype);
      CHECK_ALLCLOSE(y, ref);
    }
  }
  // Published values: gelu(1) = Phi(1) = 0.8413447460685429; the tanh form gives 0.8411919906082768.
  CHECK_ALLCLOSE(gelu(array(std::vector<double>{1.0}), false), std::vector<double>{0.8413447460685429});
  CHECK_ALLCLOSE(gelu(array(std::vector<double>{1.0})), std::vector<double>{0.8411919906082768});
  CHECK(gelu(array({1, 2})).dtype() == float32);
  CHECK_ALLCLOSE(gelu(array({1, 2}), false), std::vector<double>{ref_gelu(1, false), ref_gelu(2, false)});
  CHECK(gelu(zeros({3, 0})).shape() == Shape{3, 0});
  CHECK_THROWS_AS(gelu(Array()), ValueError);
}

TEST_CASE("nn ops: jaxprs as JAX stages them") {
  Array x = zeros({2, 3});
  auto sm = make_jaxpr([](const Array& a) { return softmax(a); })(x).str();
  CHECK(sm.find("reduce_max[axes=(1,)] a") != std::string::npos);
  CHECK(sm.find("stop_gradient") != std::string::npos);
  CHECK(sm.find("exp") != std::string::npos);
  CHECK(sm.find("reduce_sum[axes=(1,)]") != std::string::npos);
  CHECK(sm.find("div") != std::string::npos);
  auto ls = make_jaxpr([](const Array& a) { return log_softmax(a, 0); })(x).str();
  CHECK(ls.find("reduce_max[axes=(0,)] a") != std::string::npos);
  CHECK(ls.find("log") != std::string::npos);
  // relu is a select rather than max, so its derivative at 0 is 0 (JAX's custom JVP), not 1/2.
  CHECK(make_jaxpr([](const Array& a) { return relu(a); })(x).str() ==
        "{ lambda ; a:f32[2,3]. let\n"
        "    b:bool[2,3] = le a 0.0:f32[]\n"
        "    c:f32[2,3] = broadcast_in_dim[broadcast_dimensions=() shape=(2, 3)] 0.0:f32[]\n"
        "    d:f32[2,3] = select_n b a c\n"
        "  in (d,) }");
  auto ge = make_jaxpr([](const Array& a) { return gelu(a); })(x).str();
  CHECK(ge.find("integer_pow[y=3] a") != std::string::npos);
  CHECK(ge.find("tanh") != std::string::npos);
  CHECK(ge.find("convert_element_type") == std::string::npos);
  auto ge_exact = make_jaxpr([](const Array& a) { return gelu(a, false); })(x).str();
  CHECK(ge_exact.find("erf") != std::string::npos);
  // Traced softmax evaluates like the eager one.
  Array v = array({1.f, 2.f, 3.f});
  auto jp = make_jaxpr([](const Array& a) { return softmax(a); })(v);
  auto outs = eval_jaxpr(*jp.jaxpr, jp.consts, std::vector<Array>{v});
  CHECK_ALLCLOSE(outs[0], ref_softmax({3}, {1, 2, 3}, 0, false));
}
