// Derivatives of the reduce family (reduce_sum/max/min/prod, argmax/argmin, reduce_and/or,
// cumsum, cumprod) and the ops built on them (mean, var, std, logsumexp, softmax,
// log_softmax, relu, gelu): check_grads (float64 to second order, float32 to first order) and
// hand-computed gradients.
#include <cmath>

#include "core/prims/reduce.h"
#include "transforms/ad.h"
#include "testing/check_grads.h"

using namespace jx;
using jx::testing::check_grads;
using jx::testing::VecFn;

namespace {

Array f64(const Shape& shape, unsigned seed, double lo = -2.0, double hi = 2.0) {
  return jx::testing::uniform(shape, lo, hi, float64, seed);
}
Array f32(const Shape& shape, unsigned seed, double lo = -2.0, double hi = 2.0) {
  return jx::testing::uniform(shape, lo, hi, float32, seed);
}
Array vec(std::vector<double> v) { return array(v); }

// check_grads to second order in float64 and first order in float32 for one shape.
void check_both(const VecFn& f, const Shape& shape, unsigned seed, double lo = -2.0, double hi = 2.0) {
  INFO("shape rank ", shape.size(), ", seed ", seed);
  check_grads(f, {f64(shape, seed, lo, hi)}, 2);
  check_grads(f, {f32(shape, seed, lo, hi)}, 1);
}

Array bind_cum(const Primitive& prim, const Array& x, int64_t axis, bool reverse) {
  return bind1(prim, {x}, Params{{"axis", axis}, {"reverse", reverse}});
}

}  // namespace

// ---- reduce_sum --------------------------------------------------------------------------------

TEST_CASE("reduce_sum: grad of sum is ones") {
  Array x = f64({2, 3}, 1);
  auto g = grad([](const Array& a) { return sum(a); })(x);
  CHECK(g.shape() == Shape{2, 3});
  CHECK(g.dtype() == float64);
  CHECK_ALLCLOSE(g, std::vector<double>(6, 1.0));
  auto g32 = grad([](const Array& a) { return sum(a, {1}).astype(float32)[0]; })(f32({2, 3}, 2));
  CHECK(g32.dtype() == float32);
  CHECK_ALLCLOSE(g32, std::vector<double>{1, 1, 1, 0, 0, 0});
}

TEST_CASE("reduce_sum: check_grads over axes and ranks") {
  check_both([](const std::vector<Array>& a) { return sum(a[0]); }, {}, 3);
  check_both([](const std::vector<Array>& a) { return sum(a[0]); }, {4}, 4);
  check_both([](const std::vector<Array>& a) { return sum(a[0], {0}); }, {3, 2}, 5);
  check_both([](const std::vector<Array>& a) { return sum(a[0], {-1}); }, {2, 3, 2}, 6);
  check_both([](const std::vector<Array>& a) { return sum(a[0], {0, 2}, true); }, {2, 3, 2}, 7);
  // Nonlinear around the sum, so the second-order check sees a non-constant Hessian.
  check_both([](const std::vector<Array>& a) { return sin(sum(a[0] * a[0], {1})); }, {3, 2}, 8);
}

TEST_CASE("reduce_sum: transposes to a broadcast of the cotangent") {
  Array x = f64({2, 3}, 9);
  auto [y, f_vjp] = vjp([](const Array& a) { return sum(a, {0}); }, x);
  auto ct = std::get<0>(f_vjp(vec({1.0, 2.0, 3.0})));
  CHECK(ct.shape() == Shape{2, 3});
  CHECK_ALLCLOSE(ct, std::vector<double>{1, 2, 3, 1, 2, 3});
  // A reduce_sum traced directly (not by a JVP rule) transposes too: the operand's shape comes
  // from the equation.
  auto jp = make_jaxpr([](const Array& a) { return lax::reduce_sum(a, {0, 2}); })(f64({2, 3, 2}, 10));
  auto tj = transpose_jaxpr(jp, {true});
  auto outs = eval_jaxpr(*tj.jaxpr, tj.consts, std::vector<Array>{vec({1.0, -2.0, 4.0})});
  REQUIRE(outs.size() == 1);
  CHECK(outs[0].shape() == Shape{2, 3, 2});
  CHECK_ALLCLOSE(outs[0], std::vector<double>{1, 1, -2, -2, 4, 4, 1, 1, -2, -2, 4, 4});
}

// ---- reduce_max / reduce_min -------------------------------------------------------------------

TEST_CASE("reduce_max: a tie splits the gradient evenly") {
  auto g = grad([](const Array& a) { return max(a); })(vec({1.0, 3.0, 3.0, -1.0}));
  CHECK_ALLCLOSE(g, std::vector<double>{0, 0.5, 0.5, 0});
  auto g3 = grad([](const Array& a) { return sum(max(a, {1})); })(reshape(vec({2.0, 2.0, 2.0, 0.0, 5.0, 1.0}), {2, 3}));
  CHECK_ALLCLOSE(g3, std::vector<double>{1.0 / 3, 1.0 / 3, 1.0 / 3, 0, 1, 0});
}

TEST_CASE("reduce_min: a tie splits the gradient evenly, the minimum alone gets it otherwise") {
  auto g = grad([](const Array& a) { return min(a); })(vec({1.0, -3.0, -3.0, 2.0}));
  CHECK_ALLCLOSE(g, std::vector<double>{0, 0.5, 0.5, 0});
  auto g1 = grad([](const Array& a) { return min(a); })(vec({1.0, -3.0, 0.5}));
  CHECK_ALLCLOSE(g1, std::vector<double>{0, 1, 0});
}

TEST_CASE("reduce_max: check_grads away from ties") {
  check_both([](const std::vector<Array>& a) { return max(a[0]); }, {}, 11);
  check_both([](const std::vector<Array>& a) { return max(a[0]); }, {5}, 12);
  check_both([](const std::vector<Array>& a) { return max(a[0], {1}); }, {3, 4}, 13);
  check_both([](const std::vector<Array>& a) { return max(a[0] * a[0], {0, 2}); }, {2, 3, 2}, 14);
}

TEST_CASE("reduce_min: check_grads away from ties") {
  check_both([](const std::vector<Array>& a) { return min(a[0]); }, {6}, 15);
  check_both([](const std::vector<Array>& a) { return min(a[0], {0}, true); }, {3, 2}, 16);
  check_both([](const std::vector<Array>& a) { return exp(min(a[0], {1})); }, {2, 3}, 17);
}

// ---- reduce_prod -------------------------------------------------------------------------------

TEST_CASE("reduce_prod: gradient is the product of the others, exact at zeros") {
  auto g = grad([](const Array& a) { return prod(a); })(vec({2.0, 3.0, 4.0}));
  CHECK_ALLCLOSE(g, std::vector<double>{12, 8, 6});
  auto g0 = grad([](const Array& a) { return prod(a); })(vec({2.0, 0.0, 3.0}));
  CHECK_ALLCLOSE(g0, std::vector<double>{0, 6, 0});
  auto g00 = grad([](const Array& a) { return prod(a); })(vec({0.0, 5.0, 0.0, 3.0, 2.0}));
  CHECK_ALLCLOSE(g00, std::vector<double>{0, 0, 0, 0, 0});
  // Second derivative at a zero: d2/dx0 dx1 prod(x0, x1, x2) = x2.
  auto h = hessian([](const Array& a) { return prod(a); })(vec({2.0, 0.0, 3.0}));
  CHECK_ALLCLOSE(h, std::vector<double>{0, 3, 0, 3, 0, 2, 0, 2, 0});
}

TEST_CASE("reduce_prod: check_grads over axes, odd and even lengths, with zeros") {
  check_both([](const std::vector<Array>& a) { return prod(a[0]); }, {}, 21);
  check_both([](const std::vector<Array>& a) { return prod(a[0]); }, {5}, 22);
  check_both([](const std::vector<Array>& a) { return prod(a[0], {1}); }, {3, 4}, 23);
  check_both([](const std::vector<Array>& a) { return prod(a[0], {0, 2}); }, {3, 2, 3}, 24);
  check_both([](const std::vector<Array>& a) { return prod(a[0], {-1}, true); }, {2, 7}, 25);
  // A polynomial, so finite differences are exact enough at zeros too.
  check_grads([](const std::vector<Array>& a) { return prod(a[0], {0}); },
              {reshape(vec({0.0, 1.5, 0.0, -2.0, 3.0, 0.5}), {3, 2})}, 2);
}

// ---- argmax / argmin / reduce_and / reduce_or ----------------------------------------------------

TEST_CASE("argmax: zero tangent, the gradient flows through the values only") {
  auto f = [](const Array& a) { return sum(a * argmax(a, 0).astype(float64)); };
  auto g = grad(f)(vec({0.5, 3.0, -1.0}));
  CHECK_ALLCLOSE(g, std::vector<double>{1, 1, 1});
  auto [y, t] = jvp([](const Array& a) { return argmin(a, 1); }, std::tuple{f64({2, 3}, 31)}, std::tuple{f64({2, 3}, 32)});
  CHECK(y.dtype() == int32);
  CHECK(t.dtype() == int32);
  CHECK_ALLCLOSE(t, std::vector<double>{0, 0});
}

TEST_CASE("reduce_and: zero tangents, no differentiable output") {
  auto f = [](const Array& a) { return where(all(a > 0.0), a, -a) * any(a > 1.5).astype(float64); };
  check_grads([f](const std::vector<Array>& a) { return f(a[0]); }, {vec({0.5, 2.0, 1.0})}, 2);
  check_grads([f](const std::vector<Array>& a) { return f(a[0]); }, {vec({-0.5, 2.0, 1.0})}, 2);
  // The rule itself: a zero (undefined) tangent for the bool output.
  Array b = array(std::vector<bool>{true, false});
  for (const Primitive* p : {&reduce_and_p, &reduce_or_p}) {
    REQUIRE(p->def().jvp);
    auto ts = p->def().jvp(std::vector<Array>{b}, std::vector<Array>{b}, std::vector<Array>{b},
                           Params{{"axes", std::vector<int64_t>{0}}});
    REQUIRE(ts.size() == 1);
    CHECK_FALSE(ts[0].defined());
  }
}

// ---- cumsum / cumprod ----------------------------------------------------------------------------

TEST_CASE("cumsum: grad of sum(w * cumsum(x)) is the reversed running sum of w") {
  Array w = vec({1.0, 2.0, 3.0, 4.0});
  auto g = grad([w](const Array& a) { return sum(w * cumsum(a, 0)); })(f64({4}, 41));
  CHECK_ALLCLOSE(g, std::vector<double>{10, 9, 7, 4});
  auto gr = grad([w](const Array& a) { return sum(w * bind_cum(cumsum_p, a, 0, true)); })(f64({4}, 42));
  CHECK_ALLCLOSE(gr, std::vector<double>{1, 3, 6, 10});
}

TEST_CASE("cumsum: check_grads over axes and direction") {
  check_both([](const std::vector<Array>& a) { return cumsum(a[0], 0); }, {5}, 43);
  check_both([](const std::vector<Array>& a) { return cumsum(a[0] * a[0], 1); }, {2, 3}, 44);
  check_both([](const std::vector<Array>& a) { return sin(cumsum(a[0], -1)); }, {2, 2, 3}, 45);
  check_both([](const std::vector<Array>& a) { return bind_cum(cumsum_p, a[0], 0, true); }, {4, 2}, 46);
}

TEST_CASE("cumprod: gradient exact at zeros") {
  // sum(cumprod(x)) = x0 + x0 x1 + x0 x1 x2: gradient (1 + x1 + x1 x2, x0 + x0 x2, x0 x1).
  auto g = grad([](const Array& a) { return sum(cumprod(a, 0)); })(vec({2.0, 0.0, 3.0}));
  CHECK_ALLCLOSE(g, std::vector<double>{1, 8, 0});
  auto g2 = grad([](const Array& a) { return sum(cumprod(a, 0)); })(vec({2.0, 0.5, 3.0}));
  CHECK_ALLCLOSE(g2, std::vector<double>{1 + 0.5 + 1.5, 2 + 6, 1});
  // Reverse: sum = x2 + x1 x2 + x0 x1 x2.
  auto gr = grad([](const Array& a) { return sum(bind_cum(cumprod_p, a, 0, true)); })(vec({2.0, 0.0, 3.0}));
  CHECK_ALLCLOSE(gr, std::vector<double>{0, 3 + 6, 1});
}

TEST_CASE("cumprod: check_grads over axes, lengths and direction, with zeros") {
  check_both([](const std::vector<Array>& a) { return cumprod(a[0], 0); }, {1}, 51);
  check_both([](const std::vector<Array>& a) { return cumprod(a[0], 0); }, {5}, 52);
  check_both([](const std::vector<Array>& a) { return cumprod(a[0], 1); }, {2, 4}, 53);
  check_both([](const std::vector<Array>& a) { return bind_cum(cumprod_p, a[0], 1, true); }, {2, 3}, 54);
  check_grads([](const std::vector<Array>& a) { return cumprod(a[0], 0); },
              {vec({1.5, 0.0, -2.0, 0.0, 0.5, 3.0, 0.7})}, 2);
}

// ---- mean / var / std / logsumexp --------------------------------------------------------------

TEST_CASE("mean: gradient 1/n, check_grads") {
  auto g = grad([](const Array& a) { return mean(a); })(f64({2, 2}, 61));
  CHECK_ALLCLOSE(g, std::vector<double>(4, 0.25));
  check_both([](const std::vector<Array>& a) { return mean(a[0]); }, {}, 62);
  check_both([](const std::vector<Array>& a) { return mean(a[0], {1}); }, {3, 4}, 63);
  check_both([](const std::vector<Array>& a) { return mean(a[0] * a[0], {0, 2}, true); }, {2, 3, 2}, 64);
}

TEST_CASE("var: gradient 2 (x - mean) / (n - ddof), check_grads") {
  auto g = grad([](const Array& a) { return var(a); })(vec({1.0, 2.0, 6.0}));
  CHECK_ALLCLOSE(g, std::vector<double>{2 * (1 - 3.0) / 3, 2 * (2 - 3.0) / 3, 2 * (6 - 3.0) / 3});
  auto g1 = grad([](const Array& a) { return var(a, {}, false, 1); })(vec({1.0, 2.0, 6.0}));
  CHECK_ALLCLOSE(g1, std::vector<double>{-2, -1, 3});
  check_both([](const std::vector<Array>& a) { return var(a[0]); }, {5}, 65);
  check_both([](const std::vector<Array>& a) { return var(a[0], {0}, false, 1); }, {4, 3}, 66);
}

TEST_CASE("std: gradient (x - mean) / (n std), check_grads") {
  auto g = grad([](const Array& a) { return jx::std(a); })(vec({1.0, 3.0}));
  CHECK_ALLCLOSE(g, std::vector<double>{-0.5, 0.5});
  check_both([](const std::vector<Array>& a) { return jx::std(a[0]); }, {6}, 67);
  check_both([](const std::vector<Array>& a) { return jx::std(a[0], {1}, true); }, {3, 4}, 68);
}

TEST_CASE("logsumexp: gradient is softmax, stable for large inputs") {
  Array x = vec({1.0, 2.0, 3.0});
  auto g = grad([](const Array& a) { return logsumexp(a); })(x);
  CHECK_ALLCLOSE(g, softmax(x).to_vector<double>());
  double e1 = std::exp(-2.0), e2 = std::exp(-1.0), z = e1 + e2 + 1;
  CHECK_ALLCLOSE(g, std::vector<double>{e1 / z, e2 / z, 1 / z});
  auto big = grad([](const Array& a) { return logsumexp(a); })(vec({1000.0, 1001.0, 1002.0}));
  CHECK_ALLCLOSE(big, std::vector<double>{e1 / z, e2 / z, 1 / z});
  auto big32 = grad([](const Array& a) { return logsumexp(a); })(array({1000.f, 1001.f, 1002.f}));
  CHECK_ALLCLOSE(big32, std::vector<double>{e1 / z, e2 / z, 1 / z});
  // A row of -inf contributes no gradient and no NaN.
  auto ninf = grad([](const Array& a) { return logsumexp(a); })(vec({-INFINITY, 0.0}));
  CHECK_ALLCLOSE(ninf, std::vector<double>{0, 1});
}

TEST_CASE("logsumexp: check_grads") {
  check_both([](const std::vector<Array>& a) { return logsumexp(a[0]); }, {}, 71);
  check_both([](const std::vector<Array>& a) { return logsumexp(a[0]); }, {5}, 72);
  check_both([](const std::vector<Array>& a) { return logsumexp(a[0], {1}); }, {3, 4}, 73);
  check_both([](const std::vector<Array>& a) { return logsumexp(a[0], {0, 2}, true); }, {2, 3, 2}, 74);
}

// ---- softmax / log_softmax / relu / gelu -------------------------------------------------------

TEST_CASE("softmax: check_grads, stable gradient for large inputs") {
  check_both([](const std::vector<Array>& a) { return softmax(a[0]); }, {4}, 81);
  check_both([](const std::vector<Array>& a) { return softmax(a[0], 0); }, {3, 2}, 82);
  Array w = vec({0.3, -1.0, 2.0});
  auto f = [w](const Array& a) { return sum(w * softmax(a)); };
  auto g = grad(f)(vec({1.0, 2.0, 3.0}));
  auto big = grad(f)(vec({1001.0, 1002.0, 1003.0}));
  CHECK_ALLCLOSE(big, g.to_vector<double>());
  auto big32 = grad([](const Array& a) { return softmax(a)[2]; })(array({1001.f, 1002.f, 1003.f}));
  auto small32 = grad([](const Array& a) { return softmax(a)[2]; })(array({1.f, 2.f, 3.f}));
  CHECK_ALLCLOSE(big32, small32.to_vector<double>());
}

TEST_CASE("log_softmax: cross-entropy gradient is softmax - onehot, check_grads") {
  Array logits = vec({0.5, -1.0, 2.0, 0.1});
  Array onehot = vec({0.0, 0.0, 1.0, 0.0});
  auto xent = [onehot](const Array& a) { return -sum(onehot * log_softmax(a)); };
  auto g = grad(xent)(logits);
  auto expected = (softmax(logits) - onehot).to_vector<double>();
  CHECK_ALLCLOSE(g, expected);
  auto big = grad(xent)(logits + 5000.0);
  CHECK_ALLCLOSE(big, expected);
  check_both([](const std::vector<Array>& a) { return log_softmax(a[0]); }, {5}, 83);
  check_both([](const std::vector<Array>& a) { return log_softmax(a[0], 0); }, {3, 2}, 84);
}

TEST_CASE("relu: gradient 0 at 0, 1 above, 0 below") {
  auto d = grad([](const Array& a) { return relu(a); });
  CHECK(d(scalar(0.0, float64)).item<double>() == 0.0);
  CHECK(d(scalar(0.0, float32)).item<float>() == 0.0f);
  CHECK(d(scalar(2.0, float64)).item<double>() == 1.0);
  CHECK(d(scalar(-2.0, float64)).item<double>() == 0.0);
  auto g = grad([](const Array& a) { return sum(relu(a)); })(vec({-1.0, 0.0, 0.5}));
  CHECK_ALLCLOSE(g, std::vector<double>{0, 0, 1});
  CHECK(std::isnan(relu(array(std::vector<double>{NAN})).item<double>()));
  // Away from the kink.
  check_grads([](const std::vector<Array>& a) { return relu(a[0]) * a[0]; }, {vec({-1.5, -0.3, 0.4, 1.7})}, 2);
  check_grads([](const std::vector<Array>& a) { return relu(a[0]); }, {array({-1.5f, 0.4f, 1.7f})}, 1);
}

TEST_CASE("gelu: check_grads for the tanh and the erf forms") {
  check_both([](const std::vector<Array>& a) { return gelu(a[0], true); }, {5}, 91);
  check_both([](const std::vector<Array>& a) { return gelu(a[0], false); }, {2, 3}, 92);
  check_both([](const std::vector<Array>& a) { return gelu(a[0], false); }, {}, 93);
  // gelu'(0) = 1/2 in both forms.
  CHECK(std::abs(grad([](const Array& a) { return gelu(a, true); })(scalar(0.0, float64)).item<double>() - 0.5) < 1e-12);
  CHECK(std::abs(grad([](const Array& a) { return gelu(a, false); })(scalar(0.0, float64)).item<double>() - 0.5) < 1e-12);
}
