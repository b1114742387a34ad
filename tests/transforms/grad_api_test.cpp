// The autodiff API: grad, value_and_grad, has_aux, jvp, vjp, linearize, jacobians, custom rules,
// checkpoint; caching, composition (higher order, nesting, closures) and errors.
#include <atomic>

#include "testing/check_grads.h"

using namespace jx;

namespace user {
struct Params {
  Array w;
  Array b;
};
JX_TREE(Params, w, b)
}  // namespace user

namespace {
Array f64(std::vector<double> v) { return array(v); }
}  // namespace

TEST_CASE("grad: d/dx sum(x * x) = 2x, and the gradient keeps the dtype") {
  Array x = f64({1.0, -2.0, 3.5});
  auto g = grad([](const Array& a) { return sum(a * a); })(x);
  CHECK(g.dtype() == float64);
  CHECK_ALLCLOSE(g, std::vector<double>{2.0, -4.0, 7.0});
  auto g32 = grad([](const Array& a) { return sum(a * a); })(x.astype(float32));
  CHECK(g32.dtype() == float32);
}

TEST_CASE("grad: argnums select arguments and several give a tuple") {
  auto f = [](const Array& a, const Array& b) { return sum(sin(a) * b); };
  Array a = f64({0.5, 1.0}), b = f64({2.0, -1.0});
  auto gb = grad<1>(f)(a, b);
  CHECK_ALLCLOSE(gb, std::vector<double>{std::sin(0.5), std::sin(1.0)});
  auto [ga, gb2] = grad<0, 1>(f)(a, b);
  CHECK_ALLCLOSE(ga, std::vector<double>{2.0 * std::cos(0.5), -std::cos(1.0)});
  CHECK_ALLCLOSE(gb2, gb);
}

TEST_CASE("grad: trees of parameters get gradients of the same type") {
  user::Params p{array(std::vector<double>{1, 2, 3, 4}, Shape{2, 2}), f64({0.5, -0.5})};
  Array x = array(std::vector<double>{1, -1, 2, 0.5}, Shape{2, 2});
  auto loss = [](const user::Params& q, const Array& xb) { return sum(square(matmul(xb, q.w) + q.b)); };
  user::Params g = grad(loss)(p, x);
  // d/dw sum((xw + b)^2) = x^T 2(xw + b); d/db = sum over rows of 2(xw + b).
  std::vector<double> xv{1, -1, 2, 0.5}, wv{1, 2, 3, 4}, bv{0.5, -0.5};
  double r[2][2];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) r[i][j] = 2 * (xv[i * 2] * wv[j] + xv[i * 2 + 1] * wv[2 + j] + bv[j]);
  CHECK_ALLCLOSE(g.w, std::vector<double>{xv[0] * r[0][0] + xv[2] * r[1][0], xv[0] * r[0][1] + xv[2] * r[1][1],
                                          xv[1] * r[0][0] + xv[3] * r[1][0], xv[1] * r[0][1] + xv[3] * r[1][1]});
  CHECK_ALLCLOSE(g.b, std::vector<double>{r[0][0] + r[1][0], r[0][1] + r[1][1]});

  std::map<std::string, Array> m{{"a", f64({1.0, 2.0})}, {"c", f64({3.0})}};
  auto gm = grad([](const std::map<std::string, Array>& t) { return sum(t.at("a") * t.at("a")) + sum(t.at("c")); })(m);
  CHECK_ALLCLOSE(gm.at("a"), std::vector<double>{2.0, 4.0});
  CHECK_ALLCLOSE(gm.at("c"), std::vector<double>{1.0});
  Tree t{{"x", f64({3.0})}};
  Tree gt = grad([](const Tree& q) { return sum(exp(q["x"].array())); })(t);
  CHECK_ALLCLOSE(gt["x"].array(), std::vector<double>{std::exp(3.0)});
}

TEST_CASE("value_and_grad: value, gradient, and has_aux") {
  auto [v, g] = value_and_grad([](const Array& a) { return sum(exp(a)); })(f64({0.0, 1.0}));
  CHECK_ALLCLOSE(v, std::vector<double>{1.0 + std::exp(1.0)});
  CHECK_ALLCLOSE(g, std::vector<double>{1.0, std::exp(1.0)});
  auto f = [](const Array& a) { return std::pair{sum(a * a), a * 3.0}; };
  auto [va, ga] = value_and_grad(f, has_aux)(f64({1.0, 2.0}));
  CHECK_ALLCLOSE(va.first, std::vector<double>{5.0});
  CHECK_ALLCLOSE(va.second, std::vector<double>{3.0, 6.0});
  CHECK_ALLCLOSE(ga, std::vector<double>{2.0, 4.0});
  auto [g2, aux] = grad(f, has_aux)(f64({1.0, 2.0}));
  CHECK_ALLCLOSE(g2, std::vector<double>{2.0, 4.0});
  CHECK_ALLCLOSE(aux, std::vector<double>{3.0, 6.0});
}

TEST_CASE("grad: a second call with the same signature reuses the transformed jaxpr") {
  auto traces = std::make_shared<std::atomic<int>>(0);
  auto g = grad([traces](const Array& a) {
    ++*traces;
    return sum(sin(a));
  });
  g(f64({1.0, 2.0}));
  CHECK(*traces == 1);
  auto r = g(f64({0.0, 3.0}));
  CHECK(*traces == 1);
  CHECK_ALLCLOSE(r, std::vector<double>{1.0, std::cos(3.0)});
  g(f64({1.0, 2.0, 3.0}));  // new shape: traced again
  CHECK(*traces == 2);
  g(array({1.f, 2.f}));  // new dtype: traced again
  CHECK(*traces == 3);
  auto copy = g;  // copies share the cache
  copy(f64({5.0, 6.0}));
  CHECK(*traces == 3);
}

TEST_CASE("jvp, vjp and linearize agree with hand derivatives") {
  auto f = [](const Array& a, const Array& b) { return sin(a) * b; };
  Array a = f64({0.3, 1.2}), b = f64({2.0, -1.0});
  auto [y, t] = jvp(f, std::tuple{a, b}, std::tuple{f64({1.0, 0.0}), f64({0.0, 1.0})});
  CHECK_ALLCLOSE(y, std::vector<double>{std::sin(0.3) * 2.0, -std::sin(1.2)});
  CHECK_ALLCLOSE(t, std::vector<double>{std::cos(0.3) * 2.0, std::sin(1.2)});
  auto [y2, f_vjp] = vjp(f, a, b);
  auto [ca, cb] = f_vjp(f64({1.0, 1.0}));
  CHECK_ALLCLOSE(ca, std::vector<double>{std::cos(0.3) * 2.0, -std::cos(1.2)});
  CHECK_ALLCLOSE(cb, std::vector<double>{std::sin(0.3), std::sin(1.2)});
  auto [y3, f_jvp] = linearize(f, a, b);
  CHECK_ALLCLOSE(f_jvp(f64({1.0, 0.0}), f64({0.0, 1.0})), t);
  CHECK_ALLCLOSE(f_jvp(f64({2.0, 0.0}), f64({0.0, 2.0})), std::vector<double>{std::cos(0.3) * 4.0, std::sin(1.2) * 2.0});
}

TEST_CASE("grad(grad(grad(f))): third derivatives") {
  auto f = [](const Array& x) { return sin(x) * x; };
  auto d1 = grad(f);
  auto d2 = grad(d1);
  auto d3 = grad(d2);
  double x = 0.7;
  // (x sin x)' = sin x + x cos x; '' = 2 cos x - x sin x; ''' = -3 sin x - x cos x
  CHECK_ALLCLOSE(d1(Array(scalar(x, float64))), std::vector<double>{std::sin(x) + x * std::cos(x)});
  CHECK_ALLCLOSE(d2(Array(scalar(x, float64))), std::vector<double>{2 * std::cos(x) - x * std::sin(x)});
  CHECK_ALLCLOSE(d3(Array(scalar(x, float64))), std::vector<double>{-3 * std::sin(x) - x * std::cos(x)});
}

TEST_CASE("jacfwd(jacrev(f)) == jacrev(jacfwd(f)) == hessian(f), and Rosenbrock's Hessian by hand") {
  auto rosen = [](const Array& x) {
    Array a = slice(x, {1}, {x.shape()[0]}), b = slice(x, {0}, {x.shape()[0] - 1});
    return sum(100.0 * square(a - square(b)) + square(1.0 - b));
  };
  Array x = f64({0.5, -0.3, 1.2});
  Array h1 = jacfwd(jacrev(rosen))(x), h2 = jacrev(jacfwd(rosen))(x), h3 = hessian(rosen)(x);
  CHECK(h3.shape() == Shape{3, 3});
  CHECK_ALLCLOSE(h1, h3);
  CHECK_ALLCLOSE(h2, h3);
  // Hand-derived: H[i][i] += 1200 x_i^2 - 400 x_{i+1} + 2 (i < n-1), H[i+1][i+1] += 200,
  // H[i][i+1] = H[i+1][i] = -400 x_i.
  std::vector<double> xs{0.5, -0.3, 1.2}, h(9, 0.0);
  for (int i = 0; i < 2; ++i) {
    h[i * 3 + i] += 1200 * xs[i] * xs[i] - 400 * xs[i + 1] + 2;
    h[(i + 1) * 3 + i + 1] += 200;
    h[i * 3 + i + 1] += -400 * xs[i];
    h[(i + 1) * 3 + i] += -400 * xs[i];
  }
  CHECK_ALLCLOSE(h3, h);
  // Jacobian of a vector function.
  Array j = jacrev([](const Array& v) { return sin(v) * 2.0; })(x);
  CHECK_ALLCLOSE(j, std::vector<double>{2 * std::cos(0.5), 0, 0, 0, 2 * std::cos(-0.3), 0, 0, 0, 2 * std::cos(1.2)});
  CHECK_ALLCLOSE(jacfwd([](const Array& v) { return sin(v) * 2.0; })(x), j);
}

TEST_CASE("grad: no perturbation confusion (d/dx of x * (d/dy of x + y) is 1)") {
  auto outer = [](const Array& x) {
    auto inner = [x](const Array& y) { return x + y; };
    return x * grad(inner)(x);
  };
  CHECK_ALLCLOSE(grad(outer)(Array(scalar(2.0, float64))), std::vector<double>{1.0});
}

TEST_CASE("grad: closures over outer tracers and over concrete constants") {
  // d/dx [ d/dy (x * y^2) at y = 3 ] = d/dx [6x] = 6
  auto outer = [](const Array& x) {
    return grad([x](const Array& y) { return x * y * y; })(Array(scalar(3.0, float64)));
  };
  CHECK_ALLCLOSE(grad(outer)(Array(scalar(1.5, float64))), std::vector<double>{6.0});
  Array w = f64({2.0, -3.0});
  CHECK_ALLCLOSE(grad([w](const Array& x) { return sum(w * x * x); })(f64({1.0, 1.0})), std::vector<double>{4.0, -6.0});
}

TEST_CASE("check_grads: a composite function to second order in float64 and first in float32") {
  testing::VecFn f = [](const std::vector<Array>& a) { return sum(tanh(matmul(a[0], a[1])) * exp(-a[0].astype(a[0].dtype()))); };
  Array a = testing::uniform({2, 3}, -1, 1, float64, 1), b = testing::uniform({3, 3}, -1, 1, float64, 2);
  testing::check_grads(f, {a, b}, 2);
  testing::check_grads(f, {a.astype(float32), b.astype(float32)}, 1);
}

TEST_CASE("custom_jvp: the rule is used, also under grad(grad)") {
  // f(x) = x^3 with a deliberately different rule: tangent 10 * t (so its use is visible).
  auto f = custom_jvp([](const Array& x) { return x * x * x; },
                      [](const std::tuple<Array>& primals, const std::tuple<Array>& tangents) {
                        auto [x] = primals;
                        auto [t] = tangents;
                        return std::pair{x * x * x, t * 10.0 * x};
                      });
  Array x = scalar(2.0, float64);
  CHECK_ALLCLOSE(f(x), std::vector<double>{8.0});
  CHECK_ALLCLOSE(grad(f)(x), std::vector<double>{20.0});
  CHECK_ALLCLOSE(grad(grad(f))(x), std::vector<double>{10.0});
  auto [y, t] = jvp(f, std::tuple{x}, std::tuple{Array(scalar(1.0, float64))});
  CHECK_ALLCLOSE(t, std::vector<double>{20.0});
  // A numerically stable log1p(exp(x)) with its JAX-documented rule.
  auto softplus_c = custom_jvp([](const Array& v) { return log1p(exp(v)); },
                               [](const std::tuple<Array>& p, const std::tuple<Array>& tg) {
                                 auto [v] = p;
                                 auto [tv] = tg;
                                 return std::pair{log1p(exp(v)), tv * sigmoid(v)};
                               });
  CHECK_ALLCLOSE(grad([&](const Array& v) { return sum(softplus_c(v)); })(f64({-1.0, 0.0, 50.0})),
                 std::vector<double>{1 / (1 + std::exp(1.0)), 0.5, 1.0});
}

TEST_CASE("custom_vjp: bwd gives the gradient; jvp of it is refused as in JAX") {
  // Gradient clipping: identity forward, clip the cotangent to [-1, 1].
  auto clip_grad = custom_vjp([](const Array& x) { return x; },
                              [](const Array& x) { return std::pair{x, x}; },
                              [](const Array& res, const Array& ct) { return std::tuple{clip(ct, -1.0, 1.0)}; });
  auto loss = [&](const Array& x) { return sum(clip_grad(x) * 5.0); };
  CHECK_ALLCLOSE(grad(loss)(f64({1.0, 2.0})), std::vector<double>{1.0, 1.0});
  auto loss2 = [&](const Array& x) { return sum(clip_grad(x) * 0.25); };
  CHECK_ALLCLOSE(grad(loss2)(f64({1.0, 2.0})), std::vector<double>{0.25, 0.25});
  CHECK_THROWS_WITH_AS(jvp(clip_grad, std::tuple{f64({1.0})}, std::tuple{f64({1.0})}),
                       doctest::Contains("custom_vjp function is not supported"), Error);
  // Residuals are used: f(x) = sin(x) with bwd reading cos(x) from the forward pass.
  auto mysin = custom_vjp([](const Array& x) { return sin(x); },
                          [](const Array& x) { return std::pair{sin(x), cos(x)}; },
                          [](const Array& c, const Array& ct) { return std::tuple{ct * c}; });
  CHECK_ALLCLOSE(grad([&](const Array& x) { return sum(mysin(x)); })(f64({0.3})), std::vector<double>{std::cos(0.3)});
  CHECK_ALLCLOSE(grad(grad([&](const Array& x) { return sum(mysin(x)); }))(Array(scalar(0.3, float64))),
                 std::vector<double>{-std::sin(0.3)});
}

TEST_CASE("checkpoint: same gradients, fewer saved residuals") {
  auto block = [](const Array& x) { return sin(sin(sin(x))) * x; };
  auto f = [&](const Array& x) { return sum(block(x)); };
  auto fc = [&](const Array& x) { return sum(checkpoint(block)(x)); };
  Array x = f64({0.1, 0.7, -0.4});
  CHECK_ALLCLOSE(grad(fc)(x), grad(f)(x));
  CHECK_ALLCLOSE(grad(grad([&](const Array& v) { return sum(checkpoint(block)(v)); }))(Array(scalar(0.3, float64))),
                 grad(grad([&](const Array& v) { return sum(block(v)); }))(Array(scalar(0.3, float64))));
  auto plain = vjp_jaxprs(make_jaxpr(f)(x), {true}, {true});
  auto remat = vjp_jaxprs(make_jaxpr(fc)(x), {true}, {true});
  CHECK(remat.num_residuals < plain.num_residuals);
  CHECK(make_jaxpr(fc)(x).str().find("checkpoint[") != std::string::npos);
  CHECK_THROWS_WITH_AS(checkpoint(block, "bogus"), doctest::Contains("unknown policy 'bogus'"), ValueError);
  // dots_saveable keeps the matmul result, and still gives the same gradient.
  Array w = testing::uniform({3, 3}, -1, 1, float64, 4);
  auto mlp = [w](const Array& v) { return tanh(matmul(w, v)); };
  auto g1 = grad([&](const Array& v) { return sum(checkpoint(mlp, "dots_saveable")(v)); })(x);
  auto g2 = grad([&](const Array& v) { return sum(mlp(v)); })(x);
  CHECK_ALLCLOSE(g1, g2);
}

TEST_CASE("grad: clear errors for non-scalar outputs, integer inputs and cotangent mismatches") {
  CHECK_THROWS_WITH_AS(grad([](const Array& a) { return a * 2.0; })(f64({1.0, 2.0})),
                       doctest::Contains("must return a scalar (0-d) array, got f64[2]"), ShapeError);
  CHECK_THROWS_WITH_AS(grad([](const Array& a) { return sum(a); })(array({1, 2})),
                       doctest::Contains("argument 0 has a leaf of dtype i32[2]"), DTypeError);
  auto [y, f_vjp] = vjp([](const Array& a) { return a * 2.0; }, f64({1.0, 2.0}));
  CHECK_THROWS_WITH_AS(f_vjp(f64({1.0, 2.0, 3.0})), doctest::Contains("cotangent 0 is f64[3] but the output is f64[2]"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(jvp([](const Array& a) { return a; }, std::tuple{f64({1.0})}, std::tuple{f64({1.0, 2.0})}),
                       doctest::Contains("tangent 0 is f64[2] but its primal is f64[1]"), ShapeError);
  try {
    grad([](const Array& a) { return a * 2.0; })(f64({1.0, 2.0}));
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("grad_api_test.cpp:") != std::string::npos);
  }
  CHECK(trace_depth() == 0);
}
