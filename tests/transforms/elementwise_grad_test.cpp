// Derivatives of the elementwise primitives: JVP and transpose rules against finite differences
// (check_grads, second order in float64, first order in float32), hand-computed gradients, and
// JAX's special cases (kinks, ties, singular points, integer-valued primitives).
#include <cmath>
#include <limits>
#include <string>

#include "core/prims/elementwise.h"
#include "transforms/ad.h"
#include "testing/check_grads.h"

using namespace jx;
using testing::check_grads;
using testing::uniform;

namespace {

using Fn = testing::VecFn;
const double kInf = std::numeric_limits<double>::infinity();
const double kPi = 3.14159265358979323846;

// check_grads in float64 (order 2) and float32 (order 1) for a unary op on [lo, hi), over the
// shapes (), (5,) and (2, 3).
void check_unary(const std::function<Array(const Array&)>& op, double lo, double hi) {
  Fn f = [op](const std::vector<Array>& a) { return op(a[0]); };
  unsigned seed = 1;
  for (const Shape& shape : {Shape{}, Shape{5}, Shape{2, 3}}) {
    CAPTURE(shape_str(shape));
    check_grads(f, {uniform(shape, lo, hi, float64, seed)}, 2);
    check_grads(f, {uniform(shape, lo, hi, float32, seed)}, 1);
    ++seed;
  }
}

// check_grads for a binary op with x in [lo_x, hi_x) and y in [lo_y, hi_y): equal shapes, and a
// 0-d operand against a full one on either side (the binary primitives broadcast 0-d operands).
void check_binary(const std::function<Array(const Array&, const Array&)>& op, double lo_x, double hi_x, double lo_y,
                  double hi_y) {
  Fn f = [op](const std::vector<Array>& a) { return op(a[0], a[1]); };
  const std::pair<Shape, Shape> shapes[] = {{{}, {}}, {{4}, {4}}, {{2, 3}, {2, 3}}, {{}, {3}}, {{2, 2}, {}}};
  unsigned seed = 10;
  for (const auto& [sx, sy] : shapes) {
    CAPTURE(shape_str(sx));
    CAPTURE(shape_str(sy));
    check_grads(f, {uniform(sx, lo_x, hi_x, float64, seed), uniform(sy, lo_y, hi_y, float64, seed + 1)}, 2);
    check_grads(f, {uniform(sx, lo_x, hi_x, float32, seed), uniform(sy, lo_y, hi_y, float32, seed + 1)}, 1);
    seed += 2;
  }
}

Array vec(std::vector<double> v, DType dtype = float64) {
  Shape shape{static_cast<int64_t>(v.size())};
  return array(v, shape).astype(dtype);
}
Array s64(double v) { return scalar(v, float64); }

}  // namespace

// ---- linear primitives -----------------------------------------------------------------------

TEST_CASE("add: derivatives match finite differences") {
  check_binary([](const Array& x, const Array& y) { return x + y; }, -2, 2, -2, 2);
}

TEST_CASE("add: gradient of a 0-d operand sums over the broadcast") {
  auto [gx, gy] = grad<0, 1>([](const Array& x, const Array& y) { return sum((x + y) * y); })(s64(2.0), vec({1, 2, 3}));
  CHECK(gx.shape() == Shape{});
  CHECK_ALLCLOSE(gx, std::vector<double>{6.0});               // sum(y)
  CHECK_ALLCLOSE(gy, std::vector<double>{4.0, 6.0, 8.0});     // x + 2y
}

TEST_CASE("sub: derivatives match finite differences") {
  check_binary([](const Array& x, const Array& y) { return x - y; }, -2, 2, -2, 2);
}

TEST_CASE("sub: gradient is +1 and -1") {
  auto [gx, gy] = grad<0, 1>([](const Array& x, const Array& y) { return sum(x - y); })(vec({1, 2}), s64(5.0));
  CHECK_ALLCLOSE(gx, std::vector<double>{1.0, 1.0});
  CHECK_ALLCLOSE(gy, std::vector<double>{-2.0});
}

// Transposes the jaxpr of `f` in the inputs marked `linear` and evaluates it: the cotangents of
// the linear inputs for the output cotangent `ct` (non-linear inputs take their values from args).
std::vector<Array> transpose_of(const std::function<Array(std::span<const Array>)>& f, const std::vector<Array>& args,
                                const std::vector<bool>& linear, const Array& ct) {
  std::vector<AbstractValue> avals;
  for (auto& a : args) avals.push_back(a.aval());
  ClosedJaxpr jaxpr = trace_to_jaxpr([&](std::span<const Array> xs) { return std::vector<Array>{f(xs)}; }, avals);
  std::vector<Array> ins;
  for (size_t i = 0; i < args.size(); ++i)
    if (!linear[i]) ins.push_back(args[i]);
  ins.push_back(ct);
  return transpose_jaxpr(jaxpr, linear)(ins);
}

TEST_CASE("add/sub/mul/div/neg: transposes of the linear primitives, 0-d operands unbroadcast") {
  Array v = vec({1, 2, 3}), s = s64(2.0), ct = vec({1, 10, 100});
  auto add_ct = transpose_of([](auto xs) { return bind1(add_p, {xs[0], xs[1]}); }, {s, v}, {true, true}, ct);
  CHECK(add_ct[0].shape() == Shape{});
  CHECK_ALLCLOSE(add_ct[0], std::vector<double>{111});
  CHECK_ALLCLOSE(add_ct[1], std::vector<double>{1, 10, 100});
  auto sub_ct = transpose_of([](auto xs) { return bind1(sub_p, {xs[0], xs[1]}); }, {v, s}, {true, true}, ct);
  CHECK_ALLCLOSE(sub_ct[0], std::vector<double>{1, 10, 100});
  CHECK_ALLCLOSE(sub_ct[1], std::vector<double>{-111});
  // mul linear in a 0-d operand against a full one: the cotangent is summed to 0-d.
  auto mul_ct = transpose_of([](auto xs) { return bind1(mul_p, {xs[0], xs[1]}); }, {s, v}, {true, false}, ct);
  CHECK(mul_ct[0].shape() == Shape{});
  CHECK_ALLCLOSE(mul_ct[0], std::vector<double>{321});
  mul_ct = transpose_of([](auto xs) { return bind1(mul_p, {xs[0], xs[1]}); }, {s, v}, {false, true}, ct);
  CHECK_ALLCLOSE(mul_ct[0], std::vector<double>{2, 20, 200});
  auto div_ct = transpose_of([](auto xs) { return bind1(div_p, {xs[0], xs[1]}); }, {v, s}, {true, false}, ct);
  CHECK_ALLCLOSE(div_ct[0], std::vector<double>{0.5, 5, 50});
  auto neg_ct = transpose_of([](auto xs) { return bind1(neg_p, {xs[0]}); }, {v}, {true}, ct);
  CHECK_ALLCLOSE(neg_ct[0], std::vector<double>{-1, -10, -100});
}

TEST_CASE("neg: derivatives match finite differences") { check_unary([](const Array& x) { return -x; }, -2, 2); }

TEST_CASE("mul: derivatives match finite differences") {
  check_binary([](const Array& x, const Array& y) { return x * y; }, -2, 2, -2, 2);
  // x * x: both operands carry the same tangent.
  check_unary([](const Array& x) { return x * x; }, -2, 2);
}

TEST_CASE("mul: gradients are the other operand") {
  auto [gx, gy] = grad<0, 1>([](const Array& x, const Array& y) { return sum(x * y); })(vec({1, 2, 3}), vec({4, 5, 6}));
  CHECK_ALLCLOSE(gx, std::vector<double>{4, 5, 6});
  CHECK_ALLCLOSE(gy, std::vector<double>{1, 2, 3});
  // Scaling by a 0-d parameter.
  auto gs = grad([](const Array& s) { return sum(s * vec({1, 2, 3})); })(s64(3.0));
  CHECK_ALLCLOSE(gs, std::vector<double>{6.0});
}

TEST_CASE("div: derivatives match finite differences") {
  check_binary([](const Array& x, const Array& y) { return x / y; }, -2, 2, 0.5, 2);
  check_binary([](const Array& x, const Array& y) { return x / y; }, -2, 2, -2, -0.5);
}

TEST_CASE("div: gradients are 1/y and -x/y^2") {
  auto [gx, gy] = grad<0, 1>([](const Array& x, const Array& y) { return sum(x / y); })(vec({1, 3}), vec({2, 4}));
  CHECK_ALLCLOSE(gx, std::vector<double>{0.5, 0.25});
  CHECK_ALLCLOSE(gy, std::vector<double>{-0.25, -3.0 / 16});
}

TEST_CASE("convert_element_type: float32 <-> float64 converts tangents and cotangents") {
  Fn f = [](const std::vector<Array>& a) { return sin(a[0].astype(float64)) * 2.0; };
  check_grads(f, {uniform({3}, -1, 1, float32, 4)}, 2);
  // float64 -> float32 -> float64: the cotangent comes back as float64.
  Array g64 = grad([](const Array& a) { return sum(exp(a.astype(float32)).astype(float64)); })(vec({0.25, -0.5}));
  CHECK(g64.dtype() == float64);
  const std::vector<double> expected{std::exp(0.25), std::exp(-0.5)};
  CHECK_ALLCLOSE_TOL(g64, expected, 1e-6, 1e-6);

  Array x = vec({0.5, -1.0}, float32);
  Array gx = grad([](const Array& a) { return sum(sin(a.astype(float64))); })(x);
  CHECK(gx.dtype() == float32);
  CHECK_ALLCLOSE(gx, std::vector<double>{std::cos(0.5), std::cos(-1.0)});
}

TEST_CASE("convert_element_type: to an integer type has a zero tangent") {
  // d/dx [int(x) * x] = int(x): the conversion contributes nothing.
  Array x = vec({1.5, -2.25, 3.75});
  Array g = grad([](const Array& a) { return sum(a.astype(int32).astype(float64) * a); })(x);
  CHECK_ALLCLOSE(g, std::vector<double>{1.0, -2.0, 3.0});
  auto [y, t] = jvp([](const Array& a) { return a.astype(int32).astype(float64); }, std::tuple{x},
                    std::tuple{vec({1, 1, 1})});
  CHECK_ALLCLOSE(t, std::vector<double>{0, 0, 0});
}

TEST_CASE("select_n: derivatives match finite differences") {
  Array cond = vec({1, 0, 0, 1}).astype(bool_);
  Fn f = [cond](const std::vector<Array>& a) { return where(cond, a[0] * a[0], sin(a[1])); };
  check_grads(f, {uniform({4}, -2, 2, float64, 1), uniform({4}, -2, 2, float64, 2)}, 2);
  check_grads(f, {uniform({4}, -2, 2, float32, 1), uniform({4}, -2, 2, float32, 2)}, 1);
  // A 0-d predicate.
  Fn g = [](const std::vector<Array>& a) { return lax::select(Array(true), exp(a[0]), a[1]); };
  check_grads(g, {uniform({3}, -1, 1, float64, 3), uniform({3}, -1, 1, float64, 4)}, 2);
  // A predicate computed from the primal (non-differentiable input to select_n).
  Fn h = [](const std::vector<Array>& a) { return where(a[0] > 0.0, a[0] * 3.0, a[0] * a[0]); };
  check_grads(h, {vec({-1.5, -0.5, 0.5, 1.5})}, 2);
}

TEST_CASE("select_n: an int32 predicate routes the gradient to the selected case") {
  Array which = vec({0, 2, 1, 2}).astype(int32);
  auto f = [which](const Array& a, const Array& b, const Array& c) {
    return sum(bind1(select_n_p, {which, a * 1.0, b * 2.0, c * 3.0}));
  };
  Array ones4 = vec({1, 1, 1, 1});
  auto [ga, gb, gc] = grad<0, 1, 2>(f)(ones4, ones4, ones4);
  CHECK_ALLCLOSE(ga, std::vector<double>{1, 0, 0, 0});
  CHECK_ALLCLOSE(gb, std::vector<double>{0, 0, 2, 0});
  CHECK_ALLCLOSE(gc, std::vector<double>{0, 3, 0, 3});
  Fn g = [which](const std::vector<Array>& a) { return bind1(select_n_p, {which, a[0], sin(a[1]), a[2] * a[0]}); };
  check_grads(g, {uniform({4}, -1, 1, float64, 1), uniform({4}, -1, 1, float64, 2), uniform({4}, -1, 1, float64, 3)},
              2);
}

// ---- non-linear binary primitives ------------------------------------------------------------

TEST_CASE("rem: derivatives match finite differences") {
  // mod = rem where the signs agree; x / y stays away from integers (the kinks).
  Fn f = [](const std::vector<Array>& a) { return mod(a[0], a[1]); };
  check_grads(f, {vec({2.3, 5.6, 0.7}), vec({1.0, 1.5, 2.0})}, 2);
  check_grads(f, {vec({2.3, 5.6, 0.7}, float32), vec({1.0, 1.5, 2.0}, float32)}, 1);
  check_grads(f, {s64(7.4), vec({2.0, 3.0})}, 2);
  // d rem(x, y)/dy = -trunc(x / y).
  auto [gx, gy] = grad<0, 1>([](const Array& x, const Array& y) { return sum(mod(x, y)); })(vec({7.5, 2.5}),
                                                                                           vec({2.0, 3.0}));
  CHECK_ALLCLOSE(gx, std::vector<double>{1, 1});
  CHECK_ALLCLOSE(gy, std::vector<double>{-3, 0});
}

TEST_CASE("max: derivatives match finite differences") {
  Fn f = [](const std::vector<Array>& a) { return maximum(a[0], a[1]); };
  check_grads(f, {vec({-1.0, 2.0, 0.5, -3.0}), vec({1.0, -2.0, 0.25, -1.0})}, 2);
  check_grads(f, {vec({-1.0, 2.0, 0.5, -3.0}, float32), vec({1.0, -2.0, 0.25, -1.0}, float32)}, 1);
  check_grads(f, {s64(0.3), vec({1.0, -2.0, 0.25})}, 2);
  check_grads(f, {s64(0.3), s64(-0.4)}, 2);
}

TEST_CASE("max: ties split the gradient evenly, as JAX") {
  // grad(x -> max(x, x)) = 0.5 + 0.5.
  CHECK_ALLCLOSE(grad([](const Array& x) { return maximum(x, x); })(s64(2.0)), std::vector<double>{1.0});
  auto [gx, gy] = grad<0, 1>([](const Array& x, const Array& y) { return sum(maximum(x, y)); })(vec({1, 2, 3}),
                                                                                               vec({1, 5, 0}));
  CHECK_ALLCLOSE(gx, std::vector<double>{0.5, 0, 1});
  CHECK_ALLCLOSE(gy, std::vector<double>{0.5, 1, 0});
  // relu-like clipping at the kink: jnp.maximum(x, 0.0) at 0 gives 0.5.
  CHECK_ALLCLOSE(grad([](const Array& x) { return maximum(x, 0.0); })(s64(0.0)), std::vector<double>{0.5});
}

TEST_CASE("min: derivatives match finite differences") {
  Fn f = [](const std::vector<Array>& a) { return minimum(a[0], a[1]); };
  check_grads(f, {vec({-1.0, 2.0, 0.5, -3.0}), vec({1.0, -2.0, 0.25, -1.0})}, 2);
  check_grads(f, {vec({-1.0, 2.0, 0.5, -3.0}, float32), vec({1.0, -2.0, 0.25, -1.0}, float32)}, 1);
  check_grads(f, {vec({1.0, -2.0, 0.25}), s64(0.3)}, 2);
}

TEST_CASE("min: ties split the gradient evenly, as JAX") {
  CHECK_ALLCLOSE(grad([](const Array& x) { return minimum(x, x); })(s64(-1.0)), std::vector<double>{1.0});
  auto [gx, gy] = grad<0, 1>([](const Array& x, const Array& y) { return sum(minimum(x, y)); })(vec({1, 2}), s64(1.0));
  CHECK_ALLCLOSE(gx, std::vector<double>{0.5, 0});
  CHECK_ALLCLOSE(gy, std::vector<double>{1.5});  // 0.5 from the tie, 1 where y is the minimum
  // clip at its upper bound.
  CHECK_ALLCLOSE(grad([](const Array& x) { return clip(x, -1.0, 1.0); })(s64(1.0)), std::vector<double>{0.5});
}

TEST_CASE("pow: derivatives match finite differences") {
  check_binary([](const Array& x, const Array& y) { return power(x, y); }, 0.5, 2, -1.5, 1.5);
}

TEST_CASE("pow: gradients at x = 0 and y = 0 follow JAX") {
  auto g = grad<0, 1>([](const Array& x, const Array& y) { return power(x, y); });
  // d/dx x^y = y x^(y-1); d/dy x^y = log(x) x^y.
  auto [gx, gy] = g(s64(2.0), s64(3.0));
  CHECK_ALLCLOSE(gx, std::vector<double>{12.0});
  CHECK_ALLCLOSE(gy, std::vector<double>{8.0 * std::log(2.0)});
  // x = 0: d/dx 0^2 = 0, and d/dy reads log(0) as log(1): 0 (not NaN).
  auto [gx0, gy0] = g(s64(0.0), s64(2.0));
  CHECK_ALLCLOSE(gx0, std::vector<double>{0.0});
  CHECK_ALLCLOSE(gy0, std::vector<double>{0.0});
  // y = 0: d/dx x^0 = 0 even at x = 0 (not 0 * 0^-1 = NaN); d/dy 0^y at y = 0 is log(1) * 1 = 0.
  auto [gx1, gy1] = g(s64(0.0), s64(0.0));
  CHECK_ALLCLOSE(gx1, std::vector<double>{0.0});
  CHECK_ALLCLOSE(gy1, std::vector<double>{0.0});
  // x = 0, y = 1: d/dx = 1 * 0^0 = 1.
  auto [gx2, gy2] = g(s64(0.0), s64(1.0));
  CHECK_ALLCLOSE(gx2, std::vector<double>{1.0});
}

TEST_CASE("atan2: derivatives match finite differences") {
  check_binary([](const Array& x, const Array& y) { return arctan2(x, y); }, -2, 2, 0.5, 2);
  check_binary([](const Array& x, const Array& y) { return arctan2(x, y); }, 0.5, 2, -2, 2);
}

TEST_CASE("atan2: gradient is (y, -x) / (x^2 + y^2)") {
  auto [gx, gy] = grad<0, 1>([](const Array& x, const Array& y) { return arctan2(x, y); })(s64(1.0), s64(2.0));
  CHECK_ALLCLOSE(gx, std::vector<double>{2.0 / 5});
  CHECK_ALLCLOSE(gy, std::vector<double>{-1.0 / 5});
}

// ---- unary primitives ------------------------------------------------------------------------

TEST_CASE("exp: derivatives match finite differences") { check_unary([](const Array& x) { return exp(x); }, -2, 2); }
TEST_CASE("log: derivatives match finite differences") { check_unary([](const Array& x) { return log(x); }, 0.5, 3); }
TEST_CASE("log1p: derivatives match finite differences") {
  check_unary([](const Array& x) { return log1p(x); }, -0.5, 2);
}
TEST_CASE("expm1: derivatives match finite differences") {
  check_unary([](const Array& x) { return expm1(x); }, -2, 2);
}
TEST_CASE("sin: derivatives match finite differences") { check_unary([](const Array& x) { return sin(x); }, -3, 3); }
TEST_CASE("cos: derivatives match finite differences") { check_unary([](const Array& x) { return cos(x); }, -3, 3); }
TEST_CASE("tan: derivatives match finite differences") { check_unary([](const Array& x) { return tan(x); }, -1, 1); }
TEST_CASE("tanh: derivatives match finite differences") {
  check_unary([](const Array& x) { return tanh(x); }, -2, 2);
}
TEST_CASE("sinh: derivatives match finite differences") {
  check_unary([](const Array& x) { return sinh(x); }, -2, 2);
}
TEST_CASE("cosh: derivatives match finite differences") {
  check_unary([](const Array& x) { return cosh(x); }, -2, 2);
}
TEST_CASE("asin: derivatives match finite differences") {
  check_unary([](const Array& x) { return arcsin(x); }, -0.8, 0.8);
}
TEST_CASE("acos: derivatives match finite differences") {
  check_unary([](const Array& x) { return arccos(x); }, -0.8, 0.8);
}
TEST_CASE("atan: derivatives match finite differences") {
  check_unary([](const Array& x) { return arctan(x); }, -2, 2);
}
TEST_CASE("sqrt: derivatives match finite differences") {
  check_unary([](const Array& x) { return sqrt(x); }, 0.5, 3);
}
TEST_CASE("rsqrt: derivatives match finite differences") {
  check_unary([](const Array& x) { return rsqrt(x); }, 0.5, 3);
}
TEST_CASE("square: derivatives match finite differences") {
  check_unary([](const Array& x) { return square(x); }, -2, 2);
}
TEST_CASE("erf: derivatives match finite differences") { check_unary([](const Array& x) { return erf(x); }, -2, 2); }
TEST_CASE("lgamma: derivatives match finite differences") {
  check_unary([](const Array& x) { return lgamma(x); }, 0.5, 4);
  check_unary([](const Array& x) { return lgamma(x); }, -0.9, -0.1);
}
TEST_CASE("digamma: derivatives match finite differences") {
  check_unary([](const Array& x) { return digamma(x); }, 0.5, 4);
  check_unary([](const Array& x) { return digamma(x); }, 0.05, 0.5);
  check_unary([](const Array& x) { return digamma(x); }, -0.9, -0.1);
  check_unary([](const Array& x) { return digamma(x); }, 10, 50);
}
TEST_CASE("logistic: derivatives match finite differences") {
  check_unary([](const Array& x) { return sigmoid(x); }, -3, 3);
}
TEST_CASE("abs: derivatives match finite differences") {
  Fn f = [](const std::vector<Array>& a) { return abs(a[0]); };
  check_grads(f, {vec({-1.5, -0.3, 0.4, 2.0})}, 2);
  check_grads(f, {vec({-1.5, -0.3, 0.4, 2.0}, float32)}, 1);
  check_grads(f, {s64(-0.7)}, 2);
}
TEST_CASE("integer_pow: derivatives match finite differences") {
  for (int n : {0, 1, 2, 3, -1, -2}) {
    CAPTURE(n);
    check_unary([n](const Array& x) { return lax::integer_pow(x, n); }, 0.5, 2);
  }
  check_unary([](const Array& x) { return lax::integer_pow(x, 3); }, -2, 2);
  check_unary([](const Array& x) { return reciprocal(x); }, -2, -0.5);
}

TEST_CASE("sin: d/dx sum(sin(x)) = cos(x), d2/dx2 sin(x) = -sin(x)") {
  std::vector<double> xs{-2.0, -0.5, 0.0, 1.0, 2.5};
  Array g = grad([](const Array& x) { return sum(sin(x)); })(vec(xs));
  std::vector<double> cosx, neg_sinx;
  for (double v : xs) {
    cosx.push_back(std::cos(v));
    neg_sinx.push_back(-std::sin(v));
  }
  CHECK_ALLCLOSE(g, cosx);
  auto d2 = grad(grad([](const Array& x) { return sin(x); }));
  for (size_t i = 0; i < xs.size(); ++i) CHECK_ALLCLOSE(d2(s64(xs[i])), std::vector<double>{neg_sinx[i]});
}

TEST_CASE("unary: hand-computed gradients") {
  auto g = [](auto op, double x) { return grad([op](const Array& a) { return op(a); })(s64(x)); };
  CHECK_ALLCLOSE(g([](const Array& a) { return exp(a); }, 0.7), std::vector<double>{std::exp(0.7)});
  CHECK_ALLCLOSE(g([](const Array& a) { return log(a); }, 4.0), std::vector<double>{0.25});
  CHECK_ALLCLOSE(g([](const Array& a) { return cos(a); }, 0.3), std::vector<double>{-std::sin(0.3)});
  CHECK_ALLCLOSE(g([](const Array& a) { return tanh(a); }, 0.5),
                 std::vector<double>{1 - std::tanh(0.5) * std::tanh(0.5)});
  double s = 1 / (1 + std::exp(-1.2));
  CHECK_ALLCLOSE(g([](const Array& a) { return sigmoid(a); }, 1.2), std::vector<double>{s * (1 - s)});
  CHECK_ALLCLOSE(g([](const Array& a) { return erf(a); }, 0.0), std::vector<double>{2 / std::sqrt(kPi)});
  CHECK_ALLCLOSE(g([](const Array& a) { return arcsin(a); }, 0.6), std::vector<double>{1 / 0.8});
  CHECK_ALLCLOSE(g([](const Array& a) { return sqrt(a); }, 4.0), std::vector<double>{0.25});
  CHECK_ALLCLOSE(g([](const Array& a) { return rsqrt(a); }, 4.0), std::vector<double>{-1.0 / 16});
  CHECK_ALLCLOSE(g([](const Array& a) { return lax::integer_pow(a, 3); }, 2.0), std::vector<double>{12.0});
  // lgamma' = digamma; digamma(1) = -euler_gamma.
  CHECK_ALLCLOSE(g([](const Array& a) { return lgamma(a); }, 1.0), std::vector<double>{-0.57721566490153286});
}

TEST_CASE("digamma: gradient is trigamma, including the reflection for x < 0.5") {
  auto g = grad([](const Array& a) { return digamma(a); });
  // psi1(1) = pi^2 / 6, psi1(1/2) = pi^2 / 2, psi1(-1/2) = pi^2 / 2 + 4, psi1(10) from the series.
  CHECK_ALLCLOSE_TOL(g(s64(1.0)), std::vector<double>{kPi * kPi / 6}, 1e-10, 0);
  CHECK_ALLCLOSE_TOL(g(s64(0.5)), std::vector<double>{kPi * kPi / 2}, 1e-10, 0);
  CHECK_ALLCLOSE_TOL(g(s64(-0.5)), std::vector<double>{kPi * kPi / 2 + 4}, 1e-10, 0);
  CHECK_ALLCLOSE_TOL(g(s64(10.0)), std::vector<double>{0.10516633568168575}, 1e-10, 0);
  // Integers above 0.5 stay finite in the second derivative (the reflection is not evaluated there).
  double d2 = grad(grad([](const Array& a) { return digamma(a); }))(s64(2.0)).item<double>();
  CHECK(std::isfinite(d2));
  CHECK(d2 == doctest::Approx(-2 * (1.2020569031595942 - 1)).epsilon(1e-8));  // psi2(2) = -2 (zeta(3) - 1)
}

TEST_CASE("sqrt: gradient at 0 is inf, as JAX") {
  CHECK(grad([](const Array& x) { return sqrt(x); })(s64(0.0)).item<double>() == kInf);
}

TEST_CASE("log: gradient at 0 is inf, as JAX") {
  CHECK(grad([](const Array& x) { return log(x); })(s64(0.0)).item<double>() == kInf);
}

TEST_CASE("abs: gradient is sign(x), and 1 at 0 (as JAX)") {
  Array g = grad([](const Array& x) { return sum(abs(x)); })(vec({-2.0, 0.0, 3.0}));
  CHECK_ALLCLOSE(g, std::vector<double>{-1, 1, 1});
}

// ---- integer-valued primitives: zero tangents ----------------------------------------------

TEST_CASE("floor/ceil/round/sign: zero tangents") {
  Array x = vec({0.3, 1.4, -2.6});
  Array ones3 = vec({1, 1, 1});
  for (auto op : {+[](const Array& a) { return floor(a); }, +[](const Array& a) { return ceil(a); },
                  +[](const Array& a) { return round(a); }, +[](const Array& a) { return sign(a); },
                  +[](const Array& a) { return lax::stop_gradient(a); }}) {
    auto [y, t] = jvp(op, std::tuple{x}, std::tuple{ones3});
    CHECK_ALLCLOSE(t, std::vector<double>{0, 0, 0});
    CHECK_ALLCLOSE(grad([op](const Array& a) { return sum(op(a)); })(x), std::vector<double>{0, 0, 0});
  }
  // d/dx [floor(x) x] = floor(x), checked against finite differences away from the jumps.
  Fn f = [](const std::vector<Array>& a) { return floor(a[0]) * a[0] + ceil(a[0]) + round(a[0]) * sign(a[0]); };
  check_grads(f, {x}, 2);
  check_grads(f, {x.astype(float32)}, 1);
  CHECK_ALLCLOSE(grad([](const Array& a) { return sum(floor(a) * a); })(x), std::vector<double>{0, 1, -3});
}

TEST_CASE("stop_gradient: blocks the derivative") {
  Array g = grad([](const Array& x) { return sum(x * lax::stop_gradient(x)); })(vec({2.0, -3.0}));
  CHECK_ALLCLOSE(g, std::vector<double>{2.0, -3.0});
  // d/dx [sin(x) sg(x^2)] = cos(x) x^2.
  Array g2 = grad([](const Array& x) { return sum(sin(x) * lax::stop_gradient(x * x)); })(vec({0.5, -1.0}));
  CHECK_ALLCLOSE(g2, std::vector<double>{std::cos(0.5) * 0.25, std::cos(-1.0)});
}

TEST_CASE("comparisons and logical ops: zero tangents, gradients flow through where") {
  Fn f = [](const std::vector<Array>& a) {
    const Array &x = a[0], &y = a[1];
    Array c = logical_or(logical_and(x < y, x >= 0.0), logical_not(x != y) || (x > 1.5) || (y <= -1.5));
    c = logical_or(c, equal(x, y));
    return where(c, x * y, sin(x) + y);
  };
  Array x = vec({-1.0, 0.5, 1.8, 0.2}), y = vec({0.3, 1.0, -0.2, -1.8});
  check_grads(f, {x, y}, 2);
  check_grads(f, {x.astype(float32), y.astype(float32)}, 1);
  // A function that only compares has a zero derivative.
  auto [out, t] = jvp([](const Array& a) { return (a > 0.0).astype(float64); }, std::tuple{x},
                      std::tuple{vec({1, 1, 1, 1})});
  CHECK_ALLCLOSE(t, std::vector<double>{0, 0, 0, 0});
}

TEST_CASE("is_finite: zero tangent") {
  Fn f = [](const std::vector<Array>& a) { return where(isfinite(a[0]), a[0] * a[0], 0.0); };
  check_grads(f, {vec({0.5, -2.0})}, 2);
  auto [out, t] = jvp([](const Array& a) { return isfinite(a).astype(float64); }, std::tuple{vec({1.0})},
                      std::tuple{vec({1.0})});
  CHECK_ALLCLOSE(t, std::vector<double>{0});
}

// ---- composites and higher order -------------------------------------------------------------

TEST_CASE("elementwise: composite functions and third derivatives") {
  Fn f = [](const std::vector<Array>& a) {
    return softplus(a[0]) * tanh(a[1]) + logaddexp(a[0], a[1]) - exp(-a[0] * a[1]) / (1.0 + square(a[1]));
  };
  check_grads(f, {uniform({2, 3}, -1, 1, float64, 1), uniform({2, 3}, -1, 1, float64, 2)}, 3);
  // d3/dx3 x^4 = 24 x.
  auto d3 = grad(grad(grad([](const Array& x) { return lax::integer_pow(x, 4); })));
  CHECK_ALLCLOSE(d3(s64(1.5)), std::vector<double>{36.0});
}
